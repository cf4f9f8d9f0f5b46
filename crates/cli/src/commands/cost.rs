//! (being written)

use std::path::Path;

use anyhow::Result;
use costpilot_lake::Scope;

/// Arguments.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs the command.
pub async fn run(_data_dir: &Path, _scope: &Scope, _args: Args) -> Result<()> {
    anyhow::bail!("being written")
}
