//! The generator's error type.

use std::path::PathBuf;

/// What can go wrong while generating an estate.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// Options no estate can be made from.
    #[error("{0}")]
    Options(String),
    /// The output folder cannot be used.
    #[error("{path}: {reason}")]
    Output {
        /// The folder or file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Building or writing Arrow/Parquet data failed.
    #[error("{path}: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
}

impl GenerateError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}
