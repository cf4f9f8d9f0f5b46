//! The ingest error type: every message names the file, and the row and column where they apply.

use std::path::PathBuf;

/// Why a source could not be read. Any of these aborts the ingest before the lake is touched.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a readable Parquet file (truncated, corrupt, not Parquet).
    #[error("{}: not a readable Parquet file: {message}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What the Parquet reader said.
        message: String,
    },
    /// The file holds no bytes at all (an interrupted download or sync).
    #[error("{}: the file is empty", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file is not well-formed CSV.
    #[error("{}: line {line}: malformed CSV: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The 1-based line where the reader stopped.
        line: u64,
        /// What the CSV reader said.
        message: String,
    },
    /// The file is not well-formed JSON, or not the JSON document its format expects.
    #[error("{}: malformed JSON: {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What the JSON parser said (with the line and column).
        message: String,
    },
    /// A column the format requires is absent.
    #[error("{}: missing required column '{column}' for {format}", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The required column's name as the format spells it.
        column: String,
        /// The format the file was read as.
        format: &'static str,
    },
    /// One row holds a value that cannot be read (only raised with `--strict`; otherwise the row is
    /// skipped and counted).
    #[error("{}: row {row}, column '{column}': {reason}", path.display())]
    BadRow {
        /// The file.
        path: PathBuf,
        /// The 1-based data row (the header is not counted).
        row: u64,
        /// The column as the file names it.
        column: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// The format of a file could not be recognised from its columns.
    #[error("{}: cannot tell the format from its columns ({detail}); pass --source", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// What was seen.
        detail: String,
    },
    /// The format named with `--source` is not the one the file's columns belong to.
    #[error("{}: read as {given} but its columns are {found} ({evidence}); pass --source {found_flag} or --source auto", path.display())]
    FormatMismatch {
        /// The file.
        path: PathBuf,
        /// The format asked for, as a reader would say it ("CUR 2.0").
        given: &'static str,
        /// The format the columns belong to.
        found: &'static str,
        /// The `--source` value for the format found.
        found_flag: &'static str,
        /// Some of the columns that gave it away.
        evidence: String,
    },
    /// A delivery manifest and the files beside it disagree.
    #[error("{}: {message}", path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What does not match.
        message: String,
    },
    /// Arrow could not assemble a batch (a bug, not bad input).
    #[error("{}: internal error building a batch: {message}", path.display())]
    Internal {
        /// The file being read.
        path: PathBuf,
        /// The Arrow error.
        message: String,
    },
}

impl IngestError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}
