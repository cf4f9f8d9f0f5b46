//! # costpilot-ingest
//!
//! Readers for the billing exports clouds deliver, each turning its input into batches of the lake
//! schema ([`costpilot_model::lake_schema`]; a text column may come as a dictionary of its values,
//! [`costpilot_model::text_dictionary_type`], which the lake encodes by distinct value — use
//! [`costpilot_model::with_plain_text`] where plain `Utf8` is wanted):
//!
//! - AWS CUR 2.0 (Data Exports) Parquet and CSV(.gz), and legacy CUR CSV(.gz) — [`cur`];
//! - FOCUS 1.0–1.3 CSV(.gz) and Parquet from any provider — `focus`.
//!
//! [`source::discover`] finds the files under the paths a user names, honours delivery manifests,
//! and tells formats apart by their columns; [`source::discover_all`] also lists the files it
//! passes over (a CMDB, metrics, manifests, ...) with the reason for each. [`open`] reads one file
//! as a stream of lake batches and keeps a [`FileReport`] of rows read, kept and skipped (with
//! reasons). Readers never write: the lake crate stores what they produce, so a failed read leaves
//! stored data untouched. [`business`] and [`metrics`] read business-metric and CloudWatch files.
//!
//! [`job::ingest`] is the ingest workflow (discovery, checksums, reading, one lake transaction,
//! the checks of a delivery as a whole, the summary) that the command line and a server share.
//!
//! It may depend on `costpilot-model`, `costpilot-rules` and `costpilot-lake` (storage) only.

pub mod business;
mod convert;
pub mod cur;
mod dates;
mod error;
mod focus;
pub mod job;
pub mod metrics;
pub mod raw;
mod report;
pub mod source;
pub mod tags;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use datafusion::arrow::array::RecordBatch;

pub use error::IngestError;
pub use report::{BadRow, FileReport};
pub use source::{Checksums, Discovery, SkipReason, Skipped, SourceFile, SourceKind, discover, discover_all};

/// The version of the reading — format detection and the mapping of every format to FOCUS — that
/// the lake records on the units an ingest writes. Change it whenever a reader's output for the
/// same input changes: ingesting the same sources again then rewrites the units an older version
/// wrote instead of keeping them as unchanged.
pub const READING_VERSION: &str = "2";

/// How to read files.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Fail on the first bad row instead of skipping and counting it.
    pub strict: bool,
    /// Rows per batch.
    pub batch_rows: usize,
    /// A counter readers add consumed bytes to, for progress bars.
    pub progress: Arc<AtomicU64>,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self { strict: false, batch_rows: raw::DEFAULT_BATCH_ROWS, progress: Arc::new(AtomicU64::new(0)) }
    }
}

impl ReadOptions {
    /// The raw-reader options these imply (`null_word` as the format needs).
    pub fn raw(&self, null_word: bool) -> raw::RawOptions {
        raw::RawOptions {
            batch_rows: self.batch_rows,
            null_word,
            progress: self.progress.clone(),
            dictionary_columns: Vec::new(),
        }
    }
}

/// A stream of lake batches from one file, with the running report of what was read.
pub trait BatchReader: Iterator<Item = Result<RecordBatch, IngestError>> + Send {
    /// Rows read, kept and skipped so far (complete once the iterator is exhausted).
    fn report(&self) -> &FileReport;
}

/// Opens one discovered file with the reader for its format.
pub fn open(file: &SourceFile, opts: &ReadOptions) -> Result<Box<dyn BatchReader>, IngestError> {
    match file.kind {
        SourceKind::Cur2 | SourceKind::CurLegacy => cur::open(file, opts),
        SourceKind::Focus => focus::open(file, opts),
        SourceKind::Auto => unreachable!("discover resolves every file to a concrete format"),
    }
}
