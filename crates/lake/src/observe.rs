//! What a transaction derives from the rows it writes, beside its data files.
//!
//! Storage knows nothing of what is derived: a block above it (the semantic layer's rollups)
//! registers an [`Observers`] on the [`crate::Lake`], which gives each transaction its
//! [`UnitObserver`]s. Each observer runs on a thread of its own, sees every unit's rows as they
//! are written, and, once the data files are written, stages its files per unit; the commit moves
//! them beside the unit's data files and names them in the manifest ([`crate::PartEntry`]).
//! An observer that fails costs the commit nothing but its parts: the report says why
//! ([`crate::CommitReport::parts_skipped`]).

use std::path::{Path, PathBuf};

use datafusion::arrow::array::RecordBatch;

/// Why an observer could not derive its parts.
pub type ObserveError = Box<dyn std::error::Error + Send + Sync>;

/// A file derived from one unit's rows, staged by an observer in the transaction's folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedPart {
    /// What it holds (a rollup's name); unique among a unit's parts.
    pub name: String,
    /// What it was computed with; a reader compares it with the current one to tell it is fresh.
    pub fingerprint: String,
    /// Where it is staged.
    pub path: PathBuf,
    /// Its file name once committed beside the unit's data files.
    pub file_name: String,
    /// Rows in it.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// Each unit's staged parts, by the unit's number in the transaction.
pub type StagedParts = Vec<(usize, Vec<StagedPart>)>;

/// Watches the rows one transaction writes.
pub trait UnitObserver: Send + 'static {
    /// Takes a piece of a batch: rows of unit number `unit` (units are numbered in the order
    /// the transaction first meets them).
    fn observe(&mut self, unit: usize, piece: &RecordBatch) -> Result<(), ObserveError>;

    /// Called once every row is written: stages each unit's parts in `dir`, their names starting
    /// with `stem` (unique to the transaction), and returns them.
    fn finish(self: Box<Self>, dir: &Path, stem: &str) -> Result<StagedParts, ObserveError>;
}

/// Gives each transaction its observers.
pub trait Observers: Send + Sync {
    /// The observers of a transaction on the lake of data directory `data_dir`; an error leaves the
    /// transaction without parts and becomes its report's reason.
    fn for_transaction(&self, data_dir: &Path) -> Result<Vec<Box<dyn UnitObserver>>, ObserveError>;
}
