//! `costpilot rollups`: compute the missing or stale rollup parts, or say whether each rollup is
//! fresh (see [`costpilot_query::rollup`]).

use std::path::Path;

use anyhow::Result;
use costpilot_query::open_lake;
use costpilot_query::rollup::{self, RollupStatus};

use crate::output::{Bar, Format, print_json, thousands};

/// Subcommands of `costpilot rollups`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Compute every missing or stale rollup part from the lake and the rules in force (ingest
    /// computes the parts of the units it writes itself).
    Build {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Say whether each rollup is fresh (it answers) or stale (the lake answers), and its size.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// Runs a `rollups` subcommand.
pub async fn run(data_dir: &Path, command: Command) -> Result<()> {
    let lake = open_lake(data_dir)?;
    match command {
        Command::Build { format } => {
            let report = rollup::build_with_progress(&lake, &Bar::default()).await?;
            if format == Format::Json {
                return print_json(&serde_json::to_value(&report)?);
            }
            println!(
                "{} rollup parts computed from {} lake rows in {:.2} s; manifest version {}",
                thousands(report.parts_built as u64),
                thousands(report.rows_read),
                report.seconds,
                report.manifest_version
            );
            print_rollups(&report.rollups);
        }
        Command::Status { format } => {
            let status = rollup::status(&lake)?;
            if format == Format::Json {
                return print_json(&serde_json::to_value(&status)?);
            }
            println!("manifest version {}", status.manifest_version);
            print_rollups(&status.rollups);
            if !status.fresh {
                println!(
                    "stale rollups do not answer: the lake does (costpilot rollups build computes them)"
                );
            }
        }
    }
    Ok(())
}

fn print_rollups(rollups: &[RollupStatus]) {
    for r in rollups {
        let state = match &r.reason {
            None => "fresh".to_string(),
            Some(reason) => format!("stale: {reason}"),
        };
        println!(
            "  {:<18} {:>5}  {:>12} rows  {:>12} bytes  {}",
            r.name,
            r.grain.name(),
            thousands(r.rows),
            thousands(r.bytes),
            state
        );
    }
}

/// Computes the rollup parts the lake lacks after the lake or the rules changed (nothing when
/// they are all current); prints one line unless `quiet` or nothing was computed. A failed build
/// leaves those rollups stale (the lake answers), so it is reported, not fatal.
pub async fn rebuild_after_change(data_dir: &Path, quiet: bool) -> Result<()> {
    let lake = open_lake(data_dir)?;
    if lake.manifest()?.rows() == 0 {
        return Ok(());
    }
    match rollup::build(&lake).await {
        Ok(report) if !quiet && report.parts_built > 0 => {
            println!(
                "rollups: {} parts computed from {} lake rows",
                thousands(report.parts_built as u64),
                thousands(report.rows_read)
            );
        }
        Ok(_) => {}
        Err(e) => eprintln!("warning: rollups not computed ({e}); those stale read the lake"),
    }
    Ok(())
}
