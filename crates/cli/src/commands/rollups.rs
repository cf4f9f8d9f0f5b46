//! `costpilot rollups`: rebuild the rollups or say whether they are fresh (see
//! [`costpilot_lake::rollup`]).

use std::path::Path;

use anyhow::Result;
use costpilot_lake::Lake;
use costpilot_lake::rollup::{self, State};

use crate::output::{Format, print_json, thousands};

/// Subcommands of `costpilot rollups`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Rebuild every rollup from the lake and the rules in force.
    Build {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Say whether the rollups are fresh (they answer) or stale (the lake answers), and their sizes.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// Runs a `rollups` subcommand.
pub async fn run(data_dir: &Path, command: Command) -> Result<()> {
    let lake = Lake::open(data_dir)?;
    match command {
        Command::Build { format } => {
            let state = rollup::build(&lake).await?;
            if format == Format::Json {
                return print_json(&serde_json::to_value(&state)?);
            }
            println!("rollups built from manifest version {}", state.manifest_version);
            print_sizes(&state);
        }
        Command::Status { format } => {
            let status = rollup::status(&lake)?;
            if format == Format::Json {
                return print_json(&serde_json::to_value(&status)?);
            }
            match (&status.reason, &status.state) {
                (None, Some(state)) => {
                    println!(
                        "fresh: built {} from manifest version {}",
                        state.built_at, state.manifest_version
                    );
                    print_sizes(state);
                }
                (reason, state) => {
                    println!(
                        "stale: {}; requests read the lake (costpilot rollups build rebuilds them)",
                        reason.as_deref().unwrap_or("unknown")
                    );
                    if let Some(state) = state {
                        print_sizes(state);
                    }
                }
            }
        }
    }
    Ok(())
}

fn print_sizes(state: &State) {
    for b in &state.rollups {
        println!(
            "  {:<18} {:>5}  {:>12} rows  {:>12} bytes",
            b.name,
            b.grain.name(),
            thousands(b.rows),
            thousands(b.bytes)
        );
    }
}

/// Rebuilds the rollups after the lake or the rules changed, if the lake holds rows; prints one
/// line unless `quiet`. A failed build leaves the rollups stale (the lake answers), so it is
/// reported, not fatal.
pub async fn rebuild_after_change(data_dir: &Path, quiet: bool) -> Result<()> {
    let lake = Lake::open(data_dir)?;
    if lake.manifest()?.rows() == 0 {
        return Ok(());
    }
    match rollup::build(&lake).await {
        Ok(state) if !quiet => {
            let rows: u64 = state.rollups.iter().map(|b| b.rows).sum();
            println!("rollups rebuilt: {} tables, {} rows", state.rollups.len(), thousands(rows));
        }
        Ok(_) => {}
        Err(e) => eprintln!("warning: rollups not rebuilt ({e}); they are stale and the lake answers"),
    }
    Ok(())
}
