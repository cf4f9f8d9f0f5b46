//! # costpilot-lake
//!
//! The storage of the FOCUS lake: Parquet files of [`costpilot_model::lake_schema`] under
//! `<data-dir>/lake/`, a manifest that is the single source of truth, transactions that replace
//! units atomically, the column-chunk encoder, and vacuum. It may depend only on
//! `costpilot-model`: it runs no query (that is `costpilot-query`) and knows no rules.
//!
//! ## Units and atomic replacement
//! Rows belong to units: (ProviderName, BillingAccountId, month of BillingPeriodStart). A unit is
//! what a re-delivered bill replaces, so two payers never overwrite each other. A
//! [`Transaction`] streams each unit's rows into staging Parquet files; its commit moves them into
//! `data/provider=…/account=…/period=…/` and swaps the manifest once (temporary file, fsync,
//! rename, fsync of the folder). Readers take a snapshot of the manifest, so they see every unit
//! either before or after a commit, never a mix; a crash before the swap leaves the old units in
//! place (and orphan files that [`Lake::vacuum`] deletes). Files of replaced units are retired,
//! not deleted: vacuum (or a later commit) deletes them once older than the retention
//! ([`DEFAULT_RETENTION`], one hour), so a query that started before the commit can finish.
//! A commit whose unit comes from the same source checksums as the manifest records leaves that
//! unit untouched: ingest is idempotent.
//!
//! ## What the manifest says per unit
//! Rows, Σ BilledCost per currency (exact decimal text), the source files and their SHA-256, the
//! watermark (latest ChargePeriodEnd), whether the bill is final (every row has an InvoiceId, i.e.
//! the provider has invoiced the period), and when it was ingested.
//!
//! ## One writer at a time
//! [`Lake::begin`] and [`Lake::vacuum`] take an exclusive lock on `lake/writer.lock` (released
//! when the transaction ends, or by the system when its process dies). A second writer waits up to
//! [`LOCK_WAIT`] (one second) and then gets [`LakeError::Busy`]. Readers never lock.
//!
//! ## Parquet
//! Snappy, row groups of 512 Ki rows (or 128 MiB), files of up to 8 Mi rows, unsorted. Column-chunk
//! min/max statistics on the timestamps and a few dimensions that prune (accounts, currency,
//! service, region, charge category), none on amounts, ids and tags. The caller's thread splits
//! batches by unit; a writer thread encodes, spreading each batch's columns over one thread per
//! core. Memory is bounded: one batch queued, one row group in progress per open file (at most
//! 32 files open, 512 MiB for all row groups in progress).
//!
//! Every column (text, amounts, timestamps, key/value maps) is encoded by the lake's own
//! column-chunk encoder (`chunk.rs`) when the codec is Snappy or none, not by arrow-rs's: arrow-rs hashes and compares every string
//! into the chunk dictionary and allocates a buffer per Decimal128 value, which was the largest
//! share of ingest CPU. Readers may hand text over as Arrow dictionaries, map keys and values
//! included ([`costpilot_model::text_dictionary_type`]); the encoder then maps a batch's distinct values
//! into the chunk once and copies one index per row. The files are ordinary Parquet (dictionary
//! pages, RLE_DICTIONARY or PLAIN data pages, v1 page headers written by the parquet crate) with no
//! page index: without page statistics nothing prunes by page.
//!
//! The encoding (dictionaries, levels of the tag maps, statistics) costs more than the codec.
//! Snappy is the default because ingest speed is the goal and it decompresses faster for queries;
//! Zstd makes smaller files for more CPU (figures in `bench/README.md`). Statistics are kept per
//! column chunk, never per page (page statistics of the many string columns cost more than the
//! rest of encoding), and only where they can prune. The columns of a batch are encoded on all
//! cores, the costliest first.
//!
//! ## Derived parts
//! A transaction can derive small files from the rows it writes (the semantic layer's rollups),
//! committed beside each unit's data files and named in the manifest with it: see `observe`.
//! Storage itself knows nothing of what they hold.
//!
//! ## Test hook
//! `COSTPILOT_FAILPOINT=before-manifest-swap` makes [`Transaction::commit`] abort the process
//! right before the manifest swap, to test crash safety.

mod chunk;
mod error;
mod lake;
pub mod layout;
pub mod manifest;
mod observe;
mod split;
mod transaction;

pub use error::LakeError;
pub use lake::{DEFAULT_RETENTION, LOCK_WAIT, Lake, VacuumReport};
pub use manifest::{FileEntry, Manifest, PartEntry, RetiredFile, SourceRef, UnitEntry};
pub use observe::{ObserveError, Observers, StagedPart, StagedParts, UnitObserver};
pub use transaction::{CommitReport, Outcome, PendingUnit, Transaction, UnitChange, WriteOptions};
