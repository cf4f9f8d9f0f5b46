//! `costpilot metrics`: import business metrics, and unit cost (EffectiveCost per unit of one).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use costpilot_lake::business::{self, Grain};
use costpilot_lake::{Lake, Scope};
use costpilot_model::money::format_units;

use crate::output::{Format, print_json};

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
        /// Time grain.
        #[arg(long, value_enum, default_value_t = GrainArg::Day)]
        grain: GrainArg,
        /// First instant (RFC 3339 or YYYY-MM-DD, UTC), inclusive.
        #[arg(long)]
        since: Option<String>,
        /// Last instant, exclusive.
        #[arg(long)]
        until: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// A time grain.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum GrainArg {
    /// Hours.
    Hour,
    /// Days.
    Day,
    /// Weeks.
    Week,
    /// Months.
    Month,
}

fn instant(text: &str) -> Result<i64> {
    let full = if text.len() == 10 { format!("{text}T00:00:00Z") } else { text.to_string() };
    costpilot_model::parse_timestamp_micros(&full)
        .map_err(|_| anyhow::anyhow!("'{text}' is not a date (YYYY-MM-DD) or an RFC 3339 time"))
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
            let grain = match grain {
                GrainArg::Hour => Grain::Hour,
                GrainArg::Day => Grain::Day,
                GrainArg::Week => Grain::Week,
                GrainArg::Month => Grain::Month,
            };
            let since = since.as_deref().map(instant).transpose().context("--since")?;
            let until = until.as_deref().map(instant).transpose().context("--until")?;
            let lake = Lake::open(data_dir)?;
            let session = lake.session_scoped(scope).await?;
            let rows = business::unit_cost(&session, &metric, &by, grain, since, until).await?;
            match format {
                Format::Json => print_json(&serde_json::to_value(&rows)?),
                Format::Csv | Format::Table => {
                    let sep = if format == Format::Csv { "," } else { "  " };
                    let mut head = vec!["bucket".to_string()];
                    head.extend(by.iter().cloned());
                    head.extend(
                        ["currency", "effective_cost", metric.as_str(), "unit_cost"].map(String::from),
                    );
                    println!("{}", head.join(sep));
                    for r in rows {
                        let mut line = vec![r.bucket.clone()];
                        line.extend(r.dimensions.iter().map(|d| d.clone().unwrap_or_default()));
                        line.push(r.currency.clone());
                        line.push(format_units(r.effective_cost, 2));
                        line.push(format_units(r.volume, 0));
                        line.push(r.unit_cost.map(|u| format_units(u, 8)).unwrap_or_default());
                        let line: Vec<String> = if format == Format::Csv {
                            line.into_iter()
                                .map(|c| {
                                    if c.contains([',', '"']) {
                                        format!("\"{}\"", c.replace('"', "\"\""))
                                    } else {
                                        c
                                    }
                                })
                                .collect()
                        } else {
                            line
                        };
                        println!("{}", line.join(sep));
                    }
                    Ok(())
                }
            }
        }
    }
}
