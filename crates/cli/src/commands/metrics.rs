//! `costpilot metrics`: import business metrics, and unit cost (EffectiveCost per unit of one).

use std::path::{Path, PathBuf};

use anyhow::Result;
use costpilot_model::money::format_units;
use costpilot_query::business;
use costpilot_query::semantic::Grain;
use costpilot_query::{Scope, Sessions, open_lake};

use crate::output::{Format, csv_field, print_json, terminal_text};

/// Subcommands of `costpilot metrics`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Store the business metrics of a CSV (`name,timestamp,<dimensions...>,value`), replacing
    /// earlier imports of the same metrics.
    Import {
        /// The CSV (plain or gzip).
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// EffectiveCost per unit of a business metric, with both inputs, by time and dimensions.
    UnitCost {
        /// The business metric (`requests`).
        #[arg(long)]
        metric: String,
        /// Allocation dimensions to break down by, comma-separated (`application`).
        #[arg(long, value_delimiter = ',')]
        by: Vec<String>,
        /// Time buckets: hour, day, week or month.
        #[arg(long, default_value = "day")]
        grain: String,
        /// Charges and volumes from: 12h, 30d or 4w counted back from the latest data (or from
        /// --until), a date, or DATE..DATE.
        #[arg(long, value_name = "RANGE")]
        since: Option<String>,
        /// Before this date (exclusive).
        #[arg(long, value_name = "DATE", requires = "since")]
        until: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// Runs a `metrics` subcommand.
pub async fn run(data_dir: &Path, scope: &Scope, command: Command) -> Result<()> {
    match command {
        Command::Import { file, format } => {
            let imported = business::import(data_dir, &file)?;
            if format == Format::Json {
                return print_json(&serde_json::to_value(&imported)?);
            }
            for (name, rows) in &imported.metrics {
                println!("{name}: {rows} rows");
            }
            println!(
                "by {}",
                if imported.dimensions.is_empty() {
                    "(no dimension)".into()
                } else {
                    imported.dimensions.join(", ")
                }
            );
            Ok(())
        }
        Command::UnitCost { metric, by, grain, since, until, format } => {
            let grain: Grain = grain.parse()?;
            let lake = open_lake(data_dir)?;
            let session = lake.session_scoped(scope).await?;
            let range = super::cost::time_range(&session, since.as_deref(), until.as_deref()).await?;
            let rows = costpilot_analysis::unit_cost::unit_cost(&session, &metric, &by, grain, range).await?;
            match format {
                Format::Json => print_json(&serde_json::to_value(&rows)?),
                Format::Csv | Format::Table => {
                    let sep = if format == Format::Csv { "," } else { "  " };
                    let mut head = vec!["bucket".to_string()];
                    head.extend(by.iter().cloned());
                    head.extend(
                        ["currency", "effective_cost", metric.as_str(), "unit_cost"].map(String::from),
                    );
                    // Dimension values come from tags: no formulas in CSV, no escapes on a terminal.
                    let cell = |c: &String| match format {
                        Format::Csv => csv_field(c),
                        _ => terminal_text(c).into_owned(),
                    };
                    println!("{}", head.iter().map(cell).collect::<Vec<_>>().join(sep));
                    for r in rows {
                        let mut line = vec![r.bucket.clone()];
                        line.extend(r.dimensions.iter().map(|d| d.clone().unwrap_or_default()));
                        line.push(r.currency.clone());
                        line.push(format_units(r.effective_cost, 2));
                        line.push(format_units(r.volume, 0));
                        line.push(r.unit_cost.map(|u| format_units(u, 8)).unwrap_or_default());
                        println!("{}", line.iter().map(cell).collect::<Vec<_>>().join(sep));
                    }
                    Ok(())
                }
            }
        }
    }
}
