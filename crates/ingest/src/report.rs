//! What reading a file found: rows read and kept, and the rows skipped with their reasons.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::IngestError;

/// One row that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRow {
    /// The 1-based data row in its file (the header is not counted).
    pub row: u64,
    /// The column as the file names it; `None` when the row as a whole is wrong (a ragged CSV row).
    pub column: Option<String>,
    /// What is wrong.
    pub reason: String,
}

impl BadRow {
    /// The error `--strict` raises for this row.
    pub fn into_error(self, path: &Path) -> IngestError {
        IngestError::BadRow {
            path: path.to_path_buf(),
            row: self.row,
            column: self.column.unwrap_or_else(|| "(whole row)".into()),
            reason: self.reason,
        }
    }

    /// The reason without the offending value, to count rows that fail the same way.
    pub fn kind(&self) -> String {
        let col = self.column.as_deref().unwrap_or("(whole row)");
        let reason = self.reason.split(':').next().unwrap_or(&self.reason);
        format!("{col}: {reason}")
    }
}

/// How many examples of skipped rows a report keeps.
pub const EXAMPLES_KEPT: usize = 20;

/// The outcome of reading one file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// The format it was read as ("cur2", "cur-legacy", "focus").
    pub format: String,
    /// Bytes in the file.
    pub bytes: u64,
    /// Data rows read.
    pub rows_read: u64,
    /// Rows written to the lake.
    pub rows_kept: u64,
    /// Rows skipped, counted by kind of fault ("column: reason").
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// The first skipped rows, with their values, for the user to look at.
    pub examples: Vec<BadRow>,
    /// Values read as nulls because they could not be read, in columns no cost, key or date
    /// depends on (the rows were kept), counted by "column: reason".
    pub nulled_by_reason: BTreeMap<String, u64>,
}

impl FileReport {
    /// Starts an empty report for `path` read as `format`.
    pub fn new(path: &Path, format: &str, bytes: u64) -> Self {
        Self { path: path.to_path_buf(), format: format.to_string(), bytes, ..Self::default() }
    }

    /// Rows skipped in all.
    pub fn rows_skipped(&self) -> u64 {
        self.skipped_by_reason.values().sum()
    }

    /// Records values read as nulls (their rows were kept).
    pub fn null(&mut self, values: impl IntoIterator<Item = BadRow>) {
        for value in values {
            *self.nulled_by_reason.entry(value.kind()).or_default() += 1;
        }
    }

    /// Records skipped rows.
    pub fn skip(&mut self, rows: impl IntoIterator<Item = BadRow>) {
        for bad in rows {
            *self.skipped_by_reason.entry(bad.kind()).or_default() += 1;
            if self.examples.len() < EXAMPLES_KEPT {
                self.examples.push(bad);
            }
        }
    }
}
