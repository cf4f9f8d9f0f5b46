//! Business metrics in the data directory, shown to sessions as a table.
//!
//! `costpilot metrics import FILE` reads a business-metrics CSV
//! ([`costpilot_ingest::business`]) and stores each metric it holds as
//! `<data-dir>/metrics/business/<name>.parquet`, replacing that metric's earlier import
//! atomically; other metrics stay. Sessions show them as the table `business_metrics` (`name`,
//! `timestamp`, `dimensions` map, `value`).
//!
//! A scoped session shows a volume only when it is attributable to what the scope allows: every
//! scoped dimension must be one of the row's dimensions with an allowed value, and an account
//! scope needs an `account` dimension. Company-wide volumes are not shown to a tenant.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use costpilot_ingest::business::{self, Point};
use costpilot_lake::LakeError;
use costpilot_lake::layout::{create_dir_durable, write_atomic};
use datafusion::parquet::arrow::ArrowWriter;
use serde::Serialize;

use crate::error::QueryError;
use crate::scope::{Scope, ScopeKey};

/// The folder of stored business metrics, inside the data directory.
pub const BUSINESS_DIR: &str = "metrics/business";
/// The table sessions show them as.
pub const BUSINESS_TABLE: &str = "business_metrics";

/// The folder of stored business metrics.
pub fn business_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(BUSINESS_DIR)
}

/// What an import stored.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    /// The file read.
    pub source: PathBuf,
    /// Each metric and its rows, in name order.
    pub metrics: Vec<(String, usize)>,
    /// The dimensions the file breaks volumes down by.
    pub dimensions: Vec<String>,
}

/// Reads a business-metrics file and stores each of its metrics, replacing earlier imports of the
/// same metrics. A file with an error stores nothing.
pub fn import(data_dir: &Path, source: &Path) -> Result<Imported, QueryError> {
    let points = business::read(source)?;
    let names: BTreeSet<&str> = points.iter().map(|p| p.name.as_str()).collect();
    let dir = business_dir(data_dir);
    create_dir_durable(&dir)?;
    let mut metrics = Vec::new();
    for name in names {
        if name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(LakeError::Input {
                path: source.to_path_buf(),
                message: format!("metric name '{name}': use no '/', '\\' or leading '.'"),
            }
            .into());
        }
        let mine: Vec<Point> = points.iter().filter(|p| p.name == name).cloned().collect();
        let mut bytes = Vec::new();
        let parquet = |e: datafusion::parquet::errors::ParquetError| {
            QueryError::from(LakeError::Parquet { path: dir.join(name), message: e.to_string() })
        };
        let mut writer = ArrowWriter::try_new(&mut bytes, business::schema(), None).map_err(parquet)?;
        writer.write(&business::to_batch(&mine)).map_err(parquet)?;
        writer.close().map_err(parquet)?;
        write_atomic(&dir.join(format!("{name}.parquet")), &bytes, "import")?;
        metrics.push((name.to_string(), mine.len()));
    }
    let dimensions: BTreeSet<String> = points.iter().flat_map(|p| p.dimensions.keys().cloned()).collect();
    Ok(Imported { source: source.to_path_buf(), metrics, dimensions: dimensions.into_iter().collect() })
}

/// The stored metric files.
pub fn files(data_dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(business_dir(data_dir))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    out.sort();
    out
}

/// The SQL predicate over `business_metrics` for a scope; `None` when it allows everything.
pub fn scope_predicate(scope: &Scope) -> Option<String> {
    scope
        .predicate_over(|key| {
            Some(match key {
                ScopeKey::Account => "dimensions['account']".to_string(),
                ScopeKey::Dimension(d) => format!("dimensions['{d}']"),
            })
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_shows_only_attributable_volumes() {
        let mut scope = Scope::all();
        assert_eq!(scope_predicate(&scope), None);
        scope.add("application=web,api").unwrap();
        scope.add("account=1").unwrap();
        assert_eq!(
            scope_predicate(&scope).as_deref(),
            Some("dimensions['application'] IN ('api', 'web') AND dimensions['account'] IN ('1')")
        );
    }
}
