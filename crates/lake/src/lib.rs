//! # costpilot-lake
//!
//! The FOCUS lake: Parquet files of [`costpilot_model::lake_schema`] under `<data-dir>/lake/`, a
//! manifest that is the single source of truth, and SQL over it through DataFusion.
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
//! Measured on 2 cores, rewriting rows ingested from the CUR 2.0 benchmark data: the encoding
//! (dictionaries, levels of the tag maps, statistics) dominates, not the codec. Zstd level 1 makes
//! files 24 % smaller than Snappy but costs about 10 % more CPU; Snappy is the default because
//! ingest speed is the goal and it decompresses faster for queries. Statistics are kept per column
//! chunk, never per page (page statistics of the many string columns cost more than the rest of
//! encoding), and only where they can prune: min/max of every string column was another fifth of
//! encoding. The columns of a batch are encoded on all cores, the costliest first.
//!
//! ## SQL and the currency guard
//! See [`LakeSession`] (table `focus`, names in any case unless quoted), [`compat`] (DuckDB's
//! `strftime`, Trino's `date_format`, `date_diff` and `element_at`, `Tags->>'team'`; internal
//! functions refused), [`limits`] (memory and time per query), [`guard`] (no sum
//! across currencies), [`fx`] (reporting-currency columns from `fx.csv`) and [`datetrunc`]
//! (`date_trunc` on the lake's UTC timestamps without time-zone arithmetic) and [`nested`]
//! (`map_extract(Tags, 'team')[1]` without per-row array slices); [`optimize`] adds rules
//! that evaluate `CASE WHEN c THEN column ELSE constant END` without filtering the batch
//! ([`casezip`]) and shift timestamps by an interval once per run of equal values ([`timeshift`]).
//!
//! ## Rollups
//! [`rollup`] keeps pre-aggregated Parquet parts beside each unit's data files (daily and hourly
//! sums by account, service, resource and allocation dimension), computed by the transaction
//! that writes the unit and named in the manifest with it; the semantic layer answers a request
//! from the smallest fresh rollup that answers it exactly, and from the lake otherwise.
//!
//! ## Allocation and data quality
//! [`dimensions`] keeps the tag rules, CMDB and allocation rules in force under `<data-dir>/rules/`
//! and makes each allocation dimension a column of the `focus` view. [`quality`] computes the
//! data-quality report and a resource's provenance, [`allocation`] splits shared costs to the cent,
//! and [`suggest`] proposes tag rules from the data.
//!
//! ## Test hook
//! `COSTPILOT_FAILPOINT=before-manifest-swap` makes [`Transaction::commit`] abort the process
//! right before the manifest swap, to test crash safety.

pub mod allocation;
pub mod briefing;
pub mod business;
pub mod casezip;
mod chunk;
mod columns;
pub mod compat;
pub mod datetrunc;
pub mod dimensions;
pub mod error;
pub mod export;
pub mod fastpath;
pub mod fx;
pub mod guard;
mod identifiers;
mod intern;
pub mod invoice;
mod lake;
pub mod layout;
pub mod limits;
pub mod manifest;
pub mod nested;
pub mod optimize;
pub mod quality;
pub mod rollup;
pub mod scope;
pub mod semantic;
pub mod session;
mod split;
pub mod suggest;
pub mod timeshift;
pub mod transaction;
pub mod units;

pub use briefing::{Briefing, BriefingOptions, briefing};
pub use error::LakeError;
pub use export::{ExportFormat, ExportReport, export_columns};
pub use lake::{DEFAULT_RETENTION, LOCK_WAIT, Lake, VacuumReport};
pub use limits::QueryLimits;
pub use manifest::{FileEntry, Manifest, RetiredFile, SourceRef, UnitEntry};
pub use scope::Scope;
pub use session::{FOCUS_LAKE_TABLE, FOCUS_TABLE, LakeSession, QueryResult};
pub use transaction::{CommitReport, Outcome, PendingUnit, Transaction, UnitChange, WriteOptions};
