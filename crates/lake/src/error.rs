//! The storage's errors. Each names the file it is about.

use std::path::PathBuf;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    /// A file system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The data directory exists but is not a folder.
    #[error("{0}: the data directory is a file, not a folder")]
    NotADirectory(PathBuf),
    /// Another writer holds the lake's lock.
    #[error("{0}: another costpilot process is writing to this lake; wait for it to finish and try again")]
    Busy(PathBuf),
    /// The manifest cannot be read or is from an incompatible version.
    #[error("{path}: {message}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A batch given to a transaction cannot be filed in the lake.
    #[error("{path}: {message}")]
    Input {
        /// The source file the batch came from.
        path: PathBuf,
        /// What is wrong (names the row and column where it applies).
        message: String,
    },
    /// Writing or reading a Parquet data file failed.
    #[error("{path}: {message}")]
    Parquet {
        /// The data file.
        path: PathBuf,
        /// The Parquet or Arrow error.
        message: String,
    },
}

impl LakeError {
    /// An I/O error about `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io { path: path.into(), source }
    }
}

impl From<costpilot_model::durable::IoAt> for LakeError {
    fn from(e: costpilot_model::durable::IoAt) -> Self {
        Self::Io { path: e.path, source: e.source }
    }
}
