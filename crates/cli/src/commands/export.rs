//! `costpilot export`: the lake as a FOCUS file.

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use costpilot_model::FocusVersion;
use costpilot_query::Scope;
use costpilot_query::{Sessions, open_lake};

use crate::output::{Format, print_json, thousands};

/// Arguments of `costpilot export`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The FOCUS version to write: 1.0, 1.1, 1.2 or 1.3.
    #[arg(long, default_value = "1.2")]
    focus_version: String,
    /// The file to write; `.parquet` or `.csv` chooses the format.
    #[arg(long)]
    out: PathBuf,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Writes the export and prints what was written.
pub async fn run(data_dir: &Path, scope: &Scope, args: Args) -> Result<()> {
    let version = FocusVersion::parse(&args.focus_version)
        .ok_or_else(|| anyhow!("unknown FOCUS version '{}': use 1.0, 1.1, 1.2 or 1.3", args.focus_version))?;
    let lake = open_lake(data_dir)?;
    let session = lake.session_scoped(scope).await?;
    let report = session.export(version, &args.out).await?;
    match args.format {
        Format::Json => print_json(&serde_json::json!({
            "path": report.path,
            "focus_version": version.as_str(),
            "columns": report.columns,
            "rows": report.rows,
            "bytes": report.bytes,
        })),
        _ => {
            println!(
                "exported {} rows as FOCUS {} to {}",
                thousands(report.rows),
                version.as_str(),
                args.out.display()
            );
            Ok(())
        }
    }
}
