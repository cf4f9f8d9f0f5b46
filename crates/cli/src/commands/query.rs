//! `costpilot query`: SQL over the `focus` table.

use std::path::Path;

use anyhow::Result;
use costpilot_query::Scope;
use costpilot_query::{Sessions, open_lake};

use crate::output::{Format, print_batches};

/// Arguments of `costpilot query`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The SQL to run. FOCUS column names work unquoted, e.g. `SELECT sum(BilledCost) FROM focus`.
    #[arg(long)]
    sql: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Runs the query against a snapshot of the lake and prints the result.
pub async fn run(data_dir: &Path, scope: &Scope, args: Args) -> Result<()> {
    let lake = open_lake(data_dir)?;
    let session = lake.session_scoped(scope).await?;
    let result = session.sql(&args.sql).await?;
    print_batches(&result.schema, &result.batches, args.format)
}
