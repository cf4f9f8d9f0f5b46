//! The errors of queries and of everything that reads the lake. Each names the file or the query
//! it is about.

use std::path::PathBuf;

use costpilot_lake::LakeError;
use datafusion::error::DataFusionError;

/// Why a query, or a read of the lake through one, failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// Storage failed (see [`costpilot_lake::LakeError`]).
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The FX configuration (fx.csv / fx.toml) is invalid.
    #[error("{path}: {message}")]
    Fx {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong, with the line where it applies.
        message: String,
    },
    /// A rules or CMDB file was refused (the rules in force are unchanged).
    #[error(transparent)]
    Rules(#[from] costpilot_rules::RulesError),
    /// An input file (business metrics) could not be read.
    #[error(transparent)]
    Ingest(#[from] costpilot_ingest::IngestError),
    /// A scope names something that does not exist.
    #[error("{0}")]
    Scope(String),
    /// A query would add amounts of different currencies.
    #[error("{0}")]
    CurrencyMix(String),
    /// A query failed to plan or run.
    #[error("{0}")]
    Query(String),
    /// An environment setting (such as a query limit) cannot be read.
    #[error("{0}")]
    Setting(String),
    /// The session's snapshot refers to files that vacuum has since deleted.
    #[error(
        "{0}: this lake snapshot is older than the retention and its files were vacuumed; open a new session"
    )]
    Stale(PathBuf),
    /// An export cannot be written.
    #[error("{path}: {message}")]
    Export {
        /// The export target.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl QueryError {
    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}

/// The message of a DataFusion error without the wrapping DataFusion adds around errors raised by
/// costpilot's own functions (for instance a missing FX rate).
pub fn df_message(e: &DataFusionError) -> String {
    match e.find_root() {
        DataFusionError::Execution(m) | DataFusionError::Plan(m) => m.clone(),
        DataFusionError::External(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

impl From<DataFusionError> for QueryError {
    fn from(e: DataFusionError) -> Self {
        Self::Query(df_message(&e))
    }
}

impl From<costpilot_model::durable::IoAt> for QueryError {
    fn from(e: costpilot_model::durable::IoAt) -> Self {
        Self::Io { path: e.path, source: e.source }
    }
}
