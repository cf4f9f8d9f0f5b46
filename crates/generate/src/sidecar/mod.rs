//! The estate's other data: utilisation metrics, inventory, budgets, CMDB and business metrics.

use std::path::{Path, PathBuf};

use crate::error::GenerateError;
use crate::estate::Estate;

/// Writes every side file of the estate into `dir`; returns their paths.
pub fn write_all(estate: &Estate, dir: &Path) -> Result<Vec<PathBuf>, GenerateError> {
    let _ = (estate, dir);
    Ok(Vec::new())
}
