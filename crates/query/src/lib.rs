//! # costpilot-query
//!
//! Questions to the lake. It owns the DataFusion session over a snapshot of the lake and the
//! semantic layer that is the one way to ask for numbers; it may depend on `costpilot-model`,
//! `costpilot-rules`, `costpilot-lake` (storage) and `costpilot-ingest` (the business-metrics file
//! format), never on the analyses or the binary.
//!
//! ## Opening a lake
//! [`open_lake`] opens the storage with the [`rollup`]s observing its transactions, and
//! [`Sessions`] adds query sessions to the storage's [`costpilot_lake::Lake`] handle.
//!
//! ## SQL and the currency guard
//! See [`LakeSession`] (table `focus`, names in any case unless quoted), `compat` (DuckDB's
//! `strftime`, Trino's `date_format`, `date_diff` and `element_at`, `Tags->>'team'`; internal
//! functions refused), `limits` (memory and time per query), `guard` (no sum
//! across currencies), `fx` (reporting-currency columns from `fx.csv`) and `datetrunc`
//! (`date_trunc` on the lake's UTC timestamps without time-zone arithmetic) and `nested`
//! (`map_extract(Tags, 'team')[1]` without per-row array slices); `optimize` adds rules
//! that evaluate `CASE WHEN c THEN column ELSE constant END` without filtering the batch
//! (`casezip`) and shift timestamps by an interval once per run of equal values (`timeshift`).
//! [`dimensions`] makes each allocation dimension of the rules in force a column of the `focus`
//! view, `scope` limits a session to what a caller may see, and [`business`] shows imported
//! business metrics as a table.
//!
//! ## The semantic layer and its rollups
//! [`semantic`] turns a request (metric, dimensions, filters, grain, range) into one query, answered
//! from the smallest fresh rollup that answers it exactly and from the lake otherwise. [`rollup`]
//! keeps the pre-aggregated Parquet parts (daily and hourly sums by account, service, resource and
//! allocation dimension) that a transaction derives beside each unit's data files.

pub mod business;
mod casezip;
pub mod columns;
mod compat;
mod datetrunc;
pub mod dimensions;
mod error;
pub mod export;
mod fastpath;
mod fx;
mod guard;
mod handle;
mod identifiers;
mod intern;
mod limits;
mod nested;
mod optimize;
pub mod rollup;
mod scope;
pub mod semantic;
pub mod session;
mod timeshift;

pub use error::QueryError;
pub use export::{ExportFormat, ExportReport, export_columns};
pub use handle::{Sessions, open_lake};
pub use limits::QueryLimits;
pub use scope::Scope;
pub use session::{FOCUS_LAKE_TABLE, FOCUS_TABLE, LakeSession, QueryResult};
