//! `costpilot rules`: put tag rules, a CMDB or allocation rules in force, and show what is. New tag
//! rules or a new CMDB rebuild the rollups (their dimension columns come from them).

use std::path::{Path, PathBuf};

use anyhow::Result;
use costpilot_rules::store::{self, RulesKind};
use serde_json::json;

use crate::output::{Format, print_json};

/// Subcommands of `costpilot rules`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check a file completely and, if it passes, put it in force (a refused file changes nothing).
    Apply {
        /// What the file holds.
        #[arg(value_enum)]
        kind: Kind,
        /// The file: tags.yaml, a CMDB (.csv, .csv.gz or .json) or allocation.yaml.
        file: PathBuf,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Print the rules in force.
    Show {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

/// A kind of rules file.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    /// Tag rules (tags.yaml).
    Tags,
    /// A CMDB export (CSV or JSON).
    Cmdb,
    /// Shared-cost allocation rules (allocation.yaml).
    Allocation,
}

impl From<Kind> for RulesKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Tags => RulesKind::Tags,
            Kind::Cmdb => RulesKind::Cmdb,
            Kind::Allocation => RulesKind::Allocation,
        }
    }
}

/// Runs a `rules` subcommand.
pub async fn run(data_dir: &Path, command: Command) -> Result<()> {
    match command {
        Command::Apply { kind, file, format } => {
            let applied = store::apply(data_dir, kind.into(), &file)?;
            let rebuild = !applied.unchanged && matches!(kind, Kind::Tags | Kind::Cmdb);
            if format == Format::Json {
                print_json(&serde_json::to_value(&applied)?)?;
                if rebuild {
                    super::rollups::rebuild_after_change(data_dir, true).await?;
                }
                return Ok(());
            }
            if applied.unchanged {
                println!(
                    "{} is already in force as version {}; nothing changed",
                    file.display(),
                    applied.version
                );
            } else {
                println!(
                    "in force: {} (version {}, kept as {}): {}",
                    applied.path.display(),
                    applied.version,
                    applied.history.display(),
                    applied.summary
                );
            }
            if rebuild {
                super::rollups::rebuild_after_change(data_dir, false).await?;
            }
            Ok(())
        }
        Command::Show { format } => {
            let rules = store::tag_rules(data_dir)?;
            let cmdb = store::cmdb(data_dir)?;
            let allocation = store::allocation_rules(data_dir)?;
            if format == Format::Json {
                return print_json(&json!({
                    "tags": rules,
                    "cmdb": cmdb.as_ref().map(|c| json!({"path": c.path(), "accounts": c.counts().0, "resources": c.counts().1, "columns": c.columns()})),
                    "allocation": allocation,
                }));
            }
            let dir = store::rules_dir(data_dir);
            println!("# rules in force under {}", dir.display());
            println!(
                "# tags.yaml{}",
                if dir.join(costpilot_rules::TAGS_FILE).is_file() {
                    ""
                } else {
                    " (none applied: built-in defaults)"
                }
            );
            print!("{}", rules.to_yaml());
            match &cmdb {
                Some(c) => println!(
                    "# cmdb.json: {} accounts, {} resources; columns {}",
                    c.counts().0,
                    c.counts().1,
                    c.columns().join(", ")
                ),
                None => println!("# cmdb.json: none applied"),
            }
            match &allocation {
                Some(a) => println!("# allocation.yaml: {} pools across {}", a.pools.len(), a.dimension),
                None => println!("# allocation.yaml: none applied"),
            }
            Ok(())
        }
    }
}
