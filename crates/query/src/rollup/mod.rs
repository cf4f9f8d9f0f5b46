//! Rollups: pre-aggregated Parquet tables that answer common semantic-layer requests exactly,
//! without scanning the lake.
//!
//! ## Definitions
//! One registry, [`DEFINITIONS`]: a rollup is a name, a time grain (ChargePeriodStart truncated to
//! the hour, the day or the week in UTC, weeks starting on Monday as `date_trunc('week')` does,
//! stored in a column still called `ChargePeriodStart`) and the `focus` columns it groups by;
//! `daily_dimensions`, `daily_resources` and `weekly_resources` also group by every allocation
//! dimension column (`x_<dimension>`) of the rules in force. Every rollup holds the
//! same measures: Σ BilledCost, EffectiveCost, ListCost, ContractedCost and ConsumedQuantity as
//! stored (exact decimals, so sums of sums are exact) under the same column names, and the row
//! count ([`ROWS_COLUMN`]). A new rollup is a new entry of [`DEFINITIONS`].
//!
//! ## Parts, kept with their unit
//! A rollup is stored per unit: each unit of the manifest lists its parts
//! ([`costpilot_lake::manifest::PartEntry`]), one small Parquet file per rollup beside the unit's data
//! files, and a rollup's table is the union of its parts. A transaction computes the parts of the
//! units it writes from the batches it already holds in memory (`aggregate.rs`, on a thread of its
//! own, beside the Parquet encoding), and commits them in the same manifest swap as the data:
//! ingest needs no second pass over the lake, a re-delivered unit recomputes only its own parts,
//! and a reader's snapshot names exactly the parts that match its data files. Replaced parts are
//! retired with the unit's files, so a session that opened before a commit keeps reading the parts
//! of its own snapshot.
//!
//! ## Freshness
//! Each part records the fingerprint it was computed with ([`Definition::fingerprint`]): the
//! definition and, for rollups of allocation dimensions, the bytes of `tags.yaml` and
//! `cmdb.json` in force. A session registers a rollup only when every unit has a part with the
//! current fingerprint; otherwise the rollup is stale and requests it would answer read the lake.
//! New rules therefore make only the dimension rollups stale. [`build`] (run by
//! `costpilot rollups build`, and after `costpilot rules apply tags|cmdb` and every ingest)
//! computes the missing and stale parts from the units' files with the same aggregation and
//! commits them under the lake's writer lock. The built-in default tag rules (no `tags.yaml`)
//! are fingerprinted as absent: a release changing them, or a definition, bumps [`FORMAT`].
//!
//! ## Planner
//! [`crate::semantic::run`] routes a request to the smallest registered rollup (fewest rows) that
//! answers it exactly: every column the compiled query reads (dimensions grouped or filtered by,
//! their display names, the metric, BillingCurrency, ChargePeriodStart for a grain or a range)
//! is a column of the rollup; a day rollup answers no grain and day, week or month, an hour rollup
//! every grain, a week rollup no grain and week; the range's bounds fall on the rollup's grain
//! boundaries (UTC). Raw tags, cost categories and reporting-currency amounts read the lake. Over
//! a rollup the compiled query is the same, reading the rollup's table: `sum` of the stored sums,
//! buckets truncated from the rollup's buckets. The result names its source
//! ([`crate::semantic::CostResult::source`]).
//!
//! A range that is not whole weeks ("the last 30 days") still reads a week rollup for the weeks
//! it covers whole: when the chosen day rollup has a week rollup of the same columns, the planner
//! reads the week rollup's rows of those weeks and the day rollup's rows of the days around them
//! (a `UNION ALL` of both tables). Sums of sums are exact, so the answer is the same; a month of
//! `daily_resources` is read as four weeks and a few days, about a fifth of the rows.
//!
//! ## Scope
//! Under a scope that does not allow everything, a session registers a rollup only if it has
//! every column the scope's predicate needs (SubAccountId for accounts, `x_<dimension>` for
//! dimensions), wrapped in a scoped table whose predicate reads the rollup's own columns; a
//! rollup's `x_<dimension>` value is the one the scope's predicate computes for each of its rows,
//! so the rollup's rows in scope are exactly the sums of the lake's rows in scope.

mod aggregate;

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use costpilot_model::names;
use costpilot_model::progress::{Counting, Progress, Quiet};
use costpilot_rules::{Resolver, TAGS_FILE};
use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::DFSchema;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use datafusion::prelude::SessionContext;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub(crate) use aggregate::Aggregator;

use crate::dimensions::column_of;
use crate::error::QueryError;
use crate::scope::{Scope, ScopeKey, ScopedTable};
use crate::semantic::Grain;
use crate::session::parquet_table;
use costpilot_lake::layout;
use costpilot_lake::manifest::{Manifest, PartEntry};
use costpilot_lake::{Lake, LakeError};
use costpilot_lake::{ObserveError, Observers, StagedPart, StagedParts, UnitObserver};
use costpilot_rules::store::{self, CMDB_FILE};

/// Bumped when the parts a definition makes change for the same input (a new measure, a changed
/// key, another file layout): every part computed before is then stale.
pub const FORMAT: u32 = 3;
/// Rows per row group of a part file.
const PART_ROW_GROUP_ROWS: usize = 64 * 1024;
/// The column of the number of lake rows a rollup row sums.
pub const ROWS_COLUMN: &str = "x_Rows";
/// The prefix of a rollup's table name in a session (`rollup_daily_accounts`).
pub const TABLE_PREFIX: &str = "rollup_";
/// The suffix of a part's file name (`<transaction>-<rollup>.rollup.parquet`).
const PART_SUFFIX: &str = ".rollup.parquet";

/// The amounts every rollup adds up, under their `focus` names.
pub const MEASURES: [&str; 5] = [
    names::BILLED_COST,
    names::EFFECTIVE_COST,
    names::LIST_COST,
    names::CONTRACTED_COST,
    names::CONSUMED_QUANTITY,
];

/// One rollup: its name, grain and the columns it groups by.
#[derive(Debug, Clone, Copy)]
pub struct Definition {
    /// Its name, the file's stem.
    pub name: &'static str,
    /// ChargePeriodStart truncated to this ([`Grain::Hour`], [`Grain::Day`] or [`Grain::Week`]).
    pub grain: Grain,
    /// The `focus` columns it groups by (BillingCurrency always among them).
    pub columns: &'static [&'static str],
    /// Also group by every allocation dimension column of the rules in force.
    pub dimensions: bool,
    /// A rollup of the same or a finer grain whose columns include this one's: when both are
    /// computed together, this one is summed from that one's rows instead of from every lake row.
    pub within: Option<&'static str>,
}

impl Definition {
    /// What a part of this rollup computed now would be computed with: the definition itself and,
    /// when it has allocation dimensions, `rules` (the fingerprint of the rules in force, see
    /// [`rules_fingerprint`]).
    pub fn fingerprint(&self, rules: &str) -> String {
        let mut h = Fingerprint::new();
        h.part(&FORMAT.to_le_bytes());
        h.part(self.name.as_bytes());
        h.part(self.grain.name().as_bytes());
        for c in self.columns {
            h.part(c.as_bytes());
        }
        if self.dimensions {
            h.part(rules.as_bytes());
        }
        h.hex()
    }
}

/// The columns of the rollups by resource.
const RESOURCE_COLUMNS: &[&str] = &[
    names::BILLING_CURRENCY,
    names::SUB_ACCOUNT_ID,
    names::SUB_ACCOUNT_NAME,
    names::SERVICE_NAME,
    names::RESOURCE_ID,
];

/// Every rollup.
pub const DEFINITIONS: [Definition; 5] = [
    Definition {
        name: "daily_accounts",
        grain: Grain::Day,
        columns: &[
            names::BILLING_CURRENCY,
            names::PROVIDER_NAME,
            names::BILLING_ACCOUNT_ID,
            names::BILLING_ACCOUNT_NAME,
            names::SUB_ACCOUNT_ID,
            names::SUB_ACCOUNT_NAME,
            names::SERVICE_NAME,
            names::SERVICE_CATEGORY,
            names::REGION_ID,
            names::CHARGE_CATEGORY,
            names::X_INSTANCE_TYPE,
        ],
        dimensions: false,
        within: None,
    },
    Definition {
        name: "daily_dimensions",
        grain: Grain::Day,
        columns: &[names::BILLING_CURRENCY, names::SUB_ACCOUNT_ID, names::SERVICE_NAME],
        dimensions: true,
        within: Some("daily_resources"),
    },
    Definition {
        name: "hourly_accounts",
        grain: Grain::Hour,
        columns: &[
            names::BILLING_CURRENCY,
            names::SUB_ACCOUNT_ID,
            names::SUB_ACCOUNT_NAME,
            names::SERVICE_NAME,
        ],
        dimensions: false,
        within: None,
    },
    Definition {
        name: "daily_resources",
        grain: Grain::Day,
        columns: RESOURCE_COLUMNS,
        dimensions: true,
        within: None,
    },
    // The weeks of `daily_resources`: what a top-N of resources over the last 30 days reads for
    // its whole weeks (see the planner).
    Definition {
        name: "weekly_resources",
        grain: Grain::Week,
        columns: RESOURCE_COLUMNS,
        dimensions: true,
        within: Some("daily_resources"),
    },
];

/// A SHA-256 over length-prefixed parts, so parts cannot run into each other.
struct Fingerprint(Sha256);

impl Fingerprint {
    fn new() -> Fingerprint {
        Fingerprint(Sha256::new())
    }
    fn part(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }
    fn hex(self) -> String {
        hex::encode(self.0.finalize())
    }
}

/// Fingerprint of the rules that make the dimension columns: `tags.yaml` and `cmdb.json` in force.
pub fn rules_fingerprint(data_dir: &Path) -> Result<String, QueryError> {
    let dir = store::rules_dir(data_dir);
    let mut h = Fingerprint::new();
    for name in [TAGS_FILE, CMDB_FILE] {
        let path = dir.join(name);
        h.part(name.as_bytes());
        match std::fs::read(&path) {
            Ok(bytes) => {
                h.part(b"present");
                h.part(&bytes);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => h.part(b"absent"),
            Err(e) => return Err(QueryError::io(&path, e)),
        }
    }
    Ok(h.hex())
}

/// The buckets of a grain a rollup has: their width in microseconds and the start of the bucket
/// that holds 1970-01-01 (`bucket = (t - origin) / width`). Weeks start on Monday, as
/// `date_trunc('week')` starts them; 1970-01-01 was a Thursday.
pub(crate) fn buckets(grain: Grain) -> Result<(i64, i64), QueryError> {
    const DAY: i64 = 86_400_000_000;
    match grain {
        Grain::Hour => Ok((3_600_000_000, 0)),
        Grain::Day => Ok((DAY, 0)),
        Grain::Week => Ok((7 * DAY, -3 * DAY)),
        Grain::Month => Err(QueryError::Query("a rollup's grain is hour, day or week, not month".into())),
    }
}

/// The rules in force for rollups: the compiled resolver and the fingerprint of the files it was
/// compiled from.
pub(crate) struct Rules {
    pub(crate) resolver: Arc<Resolver>,
    pub(crate) fingerprint: String,
}

impl Rules {
    /// Reads the rules in force. The fingerprint is taken before and after compiling, so a rules
    /// change in between is seen and read again rather than paired with the wrong resolver.
    pub(crate) fn load(data_dir: &Path) -> Result<Rules, QueryError> {
        loop {
            let before = rules_fingerprint(data_dir)?;
            let resolver = Arc::new(store::resolver(data_dir)?);
            if rules_fingerprint(data_dir)? == before {
                return Ok(Rules { resolver, fingerprint: before });
            }
        }
    }
}

/// The rollups a transaction computes: every definition, or, when the rules in force cannot be
/// read (a file edited by hand that no longer parses), those without dimensions; the others stay
/// stale until the rules are fixed.
fn for_transaction(data_dir: &Path) -> Result<Vec<Planned>, QueryError> {
    let (definitions, rules) = match Rules::load(data_dir) {
        Ok(rules) => (DEFINITIONS.to_vec(), rules),
        Err(_) => {
            let resolver =
                Arc::new(Resolver::new(&costpilot_rules::TagRules::empty(), None, Path::new(TAGS_FILE))?);
            let plain = DEFINITIONS.iter().filter(|d| !d.dimensions).copied().collect();
            (plain, Rules { resolver, fingerprint: String::new() })
        }
    };
    // Two aggregators, each on a thread of its own: the rollups of allocation dimensions (which
    // resolve every row's dimensions) and the others.
    let (with, without): (Vec<Definition>, Vec<Definition>) = definitions.iter().partition(|d| d.dimensions);
    [without, with]
        .into_iter()
        .filter(|group| !group.is_empty())
        .map(|group| {
            Ok(Planned {
                aggregator: Aggregator::new(&group, rules.resolver.clone())?,
                fingerprints: group.iter().map(|d| d.fingerprint(&rules.fingerprint)).collect(),
                names: group.iter().map(|d| d.name).collect(),
            })
        })
        .collect()
}

/// Rollups a transaction computes on one thread: the aggregator and, in its order, each
/// rollup's fingerprint and name.
struct Planned {
    aggregator: Aggregator,
    fingerprints: Vec<String>,
    names: Vec<&'static str>,
}

impl UnitObserver for Planned {
    fn observe(&mut self, unit: usize, piece: &RecordBatch) -> Result<(), ObserveError> {
        Ok(self.aggregator.add(unit, piece)?)
    }

    /// Writes each unit's parts to `dir`, named `<stem>-<unit>-<rollup>.rollup.parquet`, to be
    /// committed as `<stem>-<rollup>.rollup.parquet`.
    fn finish(self: Box<Self>, dir: &Path, stem: &str) -> Result<StagedParts, ObserveError> {
        let Planned { aggregator, fingerprints, names } = *self;
        // The data files are written by now: both cores are free for the parts.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let parts = aggregator.finish(threads, |unit, r, batch| {
            let mut part = write_part(dir, &format!("{stem}-{unit}"), names[r], &fingerprints[r], &batch)?;
            part.file_name = part_file_name(stem, names[r]);
            Ok(part)
        })?;
        Ok(parts)
    }
}

/// The rollups as observers of the lake's transactions (see [`crate::open_lake`]).
pub struct Rollups;

impl Observers for Rollups {
    fn for_transaction(&self, data_dir: &Path) -> Result<Vec<Box<dyn UnitObserver>>, ObserveError> {
        let planned = for_transaction(data_dir)?;
        Ok(planned.into_iter().map(|p| Box::new(p) as Box<dyn UnitObserver>).collect())
    }
}

/// Writes `batch`, the rows of rollup `name` for one unit, to `dir/<stem>-<name>.rollup.parquet`
/// (fsynced; the caller syncs the folder).
pub(crate) fn write_part(
    dir: &Path,
    stem: &str,
    name: &str,
    fingerprint: &str,
    batch: &RecordBatch,
) -> Result<StagedPart, QueryError> {
    let path = dir.join(part_file_name(stem, name));
    let result = (|| {
        let file = File::create(&path).map_err(|e| QueryError::io(&path, e))?;
        // Rows are sorted by time bucket: small row groups let a range skip the others. Only the
        // bucket's statistics prune; computing every column's cost a fifth of writing a part.
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(PART_ROW_GROUP_ROWS))
            .set_statistics_enabled(EnabledStatistics::None)
            .set_column_statistics_enabled(
                ColumnPath::from(names::CHARGE_PERIOD_START),
                EnabledStatistics::Chunk,
            )
            .build();
        let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(parquet_error)?;
        writer.write(batch).map_err(parquet_error)?;
        let file = writer.into_inner().map_err(parquet_error)?;
        file.sync_all().map_err(|e| QueryError::io(&path, e))?;
        file.metadata().map(|m| m.len()).map_err(|e| QueryError::io(&path, e))
    })();
    match result {
        Ok(bytes) => Ok(StagedPart {
            name: name.to_string(),
            fingerprint: fingerprint.to_string(),
            file_name: part_file_name(stem, name),
            path,
            rows: batch.num_rows() as u64,
            bytes,
        }),
        Err(e) => {
            let _ = layout::remove_file_if_present(&path);
            Err(e)
        }
    }
}

/// The file name of a part of rollup `name` written by transaction (or refresh) `stem`.
pub(crate) fn part_file_name(stem: &str, name: &str) -> String {
    format!("{stem}-{name}{PART_SUFFIX}")
}

fn parquet_error(e: datafusion::parquet::errors::ParquetError) -> QueryError {
    QueryError::Query(format!("rollup file: {e}"))
}

/// One rollup's state in the lake.
#[derive(Debug, Clone, Serialize)]
pub struct RollupStatus {
    /// The rollup's name.
    pub name: String,
    /// Its grain.
    pub grain: Grain,
    /// True when every unit has a current part, so the rollup answers.
    pub fresh: bool,
    /// Why not, when stale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Units with a current part.
    pub parts: usize,
    /// Units in the lake.
    pub units: usize,
    /// Rows of the current parts.
    pub rows: u64,
    /// Bytes of the current parts.
    pub bytes: u64,
}

/// Whether the rollups may answer for the current lake and rules.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// True when every rollup is fresh.
    pub fresh: bool,
    /// The lake's manifest version.
    pub manifest_version: u64,
    /// Each rollup, in the order of [`DEFINITIONS`].
    pub rollups: Vec<RollupStatus>,
}

/// The current part of `definition` in each unit of `manifest` (`None` where missing or stale).
fn current_parts<'a>(
    manifest: &'a Manifest,
    definition: &Definition,
    rules: &str,
) -> Vec<Option<&'a PartEntry>> {
    let fingerprint = definition.fingerprint(rules);
    manifest
        .units()
        .iter()
        .map(|u| u.parts.iter().find(|p| p.name == definition.name && p.fingerprint == fingerprint))
        .collect()
}

fn rollup_status(manifest: &Manifest, definition: &Definition, rules: &str) -> RollupStatus {
    let parts = current_parts(manifest, definition, rules);
    let present: Vec<&PartEntry> = parts.iter().flatten().copied().collect();
    let units = parts.len();
    let missing = units - present.len();
    let reason = if units == 0 {
        Some("the lake is empty".to_string())
    } else if missing == 0 {
        None
    } else {
        let stale = manifest
            .units()
            .iter()
            .zip(&parts)
            .filter(|(u, p)| p.is_none() && u.parts.iter().any(|r| r.name == definition.name))
            .count();
        Some(match stale {
            0 => format!("{missing} of {units} units have no part"),
            n if n == missing => {
                format!("{n} of {units} units have parts computed with other rules or definitions")
            }
            n => format!(
                "{} of {units} units have no part and {n} have parts computed with other rules or definitions",
                missing - n
            ),
        })
    };
    RollupStatus {
        name: definition.name.to_string(),
        grain: definition.grain,
        fresh: reason.is_none(),
        reason,
        parts: present.len(),
        units,
        rows: present.iter().map(|p| p.file.rows).sum(),
        bytes: present.iter().map(|p| p.file.bytes).sum(),
    }
}

/// Whether the rollups of `lake` are fresh, and their sizes.
pub fn status(lake: &Lake) -> Result<Status, QueryError> {
    let manifest = lake.manifest()?;
    let rules = rules_fingerprint(lake.data_dir())?;
    let rollups: Vec<RollupStatus> =
        DEFINITIONS.iter().map(|d| rollup_status(&manifest, d, &rules)).collect();
    Ok(Status { fresh: rollups.iter().all(|r| r.fresh), manifest_version: manifest.version, rollups })
}

/// What [`build`] did.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    /// The manifest version after the build (unchanged when nothing was stale).
    pub manifest_version: u64,
    /// Parts computed, over all rollups.
    pub parts_built: usize,
    /// Lake rows read to compute them.
    pub rows_read: u64,
    /// Seconds taken.
    pub seconds: f64,
    /// Each rollup's state after the build.
    pub rollups: Vec<RollupStatus>,
}

/// Computes every missing or stale part from its unit's data files and the rules in force, and
/// commits them in one manifest swap under the lake's writer lock (so no transaction runs
/// meanwhile). Parts it replaces are retired like data files. Units are spread over one thread
/// per core.
pub async fn build(lake: &Lake) -> Result<BuildReport, QueryError> {
    build_with_progress(lake, &Quiet).await
}

/// [`build`], telling `progress` how many of the units that need parts are done.
pub async fn build_with_progress(lake: &Lake, progress: &dyn Progress) -> Result<BuildReport, QueryError> {
    let started = std::time::Instant::now();
    let lock = lake.lock()?;
    let data_dir = lake.data_dir();
    let rules = Rules::load(data_dir)?;
    let mut manifest = lake.manifest()?;
    // Per unit, the definitions it needs a part of.
    let mut work: Vec<(usize, Vec<Definition>)> = Vec::new();
    for (i, unit) in manifest.units().iter().enumerate() {
        let needed: Vec<Definition> = DEFINITIONS
            .iter()
            .filter(|d| {
                let fingerprint = d.fingerprint(&rules.fingerprint);
                !unit.parts.iter().any(|p| p.name == d.name && p.fingerprint == fingerprint)
            })
            .copied()
            .collect();
        if !needed.is_empty() {
            work.push((i, needed));
        }
    }
    let stem = format!("{}-{}-rollups", Utc::now().format("%Y%m%dT%H%M%S%3fZ"), std::process::id());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(work.len()).max(1);
    let root = lake.root().to_path_buf();
    progress.start("rollups", work.len() as u64, Counting::Items);
    let done = AtomicU64::new(0);
    let results: Vec<Result<BuiltUnit, QueryError>> = std::thread::scope(|s| {
        let chunks: Vec<Vec<&(usize, Vec<Definition>)>> =
            (0..threads).map(|t| work.iter().skip(t).step_by(threads).collect()).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let (manifest, rules, root, stem, done) = (&manifest, &rules, &root, &stem, &done);
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(i, needed)| {
                            let built = build_unit(root, manifest, *i, needed, rules, stem);
                            progress.set(done.fetch_add(1, Ordering::Relaxed) + 1);
                            built
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|_| vec![Err(panicked())])).collect()
    });
    progress.finish();
    let mut built = Vec::new();
    let mut failure = None;
    for r in results {
        match r {
            Ok(b) => built.push(b),
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    if let Some(e) = failure {
        for (_, _, parts) in &built {
            for p in parts {
                let _ = layout::remove_file_if_present(&p.path);
            }
        }
        return Err(e);
    }
    let parts_built = built.iter().map(|(_, _, p)| p.len()).sum();
    let rows_read = built.iter().map(|(_, r, _)| *r).sum();
    if parts_built > 0 {
        let parts = built.into_iter().map(|(i, _, parts)| (i, parts)).collect();
        manifest = lake.replace_parts(&lock, manifest, parts, &stem)?;
    }
    let rollups = DEFINITIONS.iter().map(|d| rollup_status(&manifest, d, &rules.fingerprint)).collect();
    Ok(BuildReport {
        manifest_version: manifest.version,
        parts_built,
        rows_read,
        seconds: started.elapsed().as_secs_f64(),
        rollups,
    })
}

/// A unit's number in the manifest, the lake rows read, and the parts written.
type BuiltUnit = (usize, u64, Vec<StagedPart>);

fn panicked() -> QueryError {
    QueryError::Query("a rollup build thread panicked".to_string())
}

/// Computes `definitions`' parts of unit `i` from its data files, written beside them.
fn build_unit(
    root: &Path,
    manifest: &Manifest,
    i: usize,
    definitions: &[Definition],
    rules: &Rules,
    stem: &str,
) -> Result<BuiltUnit, QueryError> {
    let unit = &manifest.units()[i];
    let mut aggregator = Aggregator::new(definitions, rules.resolver.clone())?;
    // A unit without rows still gets (empty) parts, so its rollups are current.
    aggregator.unit(0);
    let wanted = aggregator.input_columns();
    let mut rows = 0u64;
    for f in &unit.files {
        let path = layout::resolve(root, &f.path);
        let file = File::open(&path).map_err(|e| QueryError::io(&path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_error(&path, e))?;
        let schema = builder.parquet_schema();
        let leaves: Vec<usize> = (0..schema.num_columns())
            .filter(|&c| {
                let top = schema.get_column_root(c).name();
                wanted.contains(&top)
            })
            .collect();
        let mask = ProjectionMask::leaves(schema, leaves);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(64 * 1024)
            .build()
            .map_err(|e| read_error(&path, e))?;
        for batch in reader {
            let batch =
                batch.map_err(|e| LakeError::Parquet { path: path.clone(), message: e.to_string() })?;
            rows += batch.num_rows() as u64;
            aggregator.add(0, &batch)?;
        }
    }
    let dir = layout::resolve(root, &layout::unit_dir(&unit.key));
    let write = |_: usize, r: usize, batch: RecordBatch| {
        let d = &definitions[r];
        write_part(&dir, stem, d.name, &d.fingerprint(&rules.fingerprint), &batch)
    };
    match aggregator.finish(1, write) {
        Ok(mut units) => Ok((i, rows, units.pop().map(|(_, parts)| parts).unwrap_or_default())),
        Err(e) => {
            remove_parts(&dir, stem, definitions);
            Err(e)
        }
    }
}

/// Removes the parts a failed build of one unit may have written.
fn remove_parts(dir: &Path, stem: &str, definitions: &[Definition]) {
    for d in definitions {
        let _ = layout::remove_file_if_present(&dir.join(part_file_name(stem, d.name)));
    }
}

fn read_error(path: &Path, e: datafusion::parquet::errors::ParquetError) -> QueryError {
    LakeError::Parquet { path: path.to_path_buf(), message: e.to_string() }.into()
}

/// A rollup a session registered as a table.
#[derive(Debug, Clone)]
pub struct RollupTable {
    /// The rollup's name.
    pub name: String,
    /// The table's name in the session ([`TABLE_PREFIX`] + name).
    pub table: String,
    /// Its grain.
    pub grain: Grain,
    /// Its columns.
    pub columns: BTreeSet<String>,
    /// Its rows (before any scope).
    pub rows: u64,
}

impl RollupTable {
    /// The columns it groups by besides the time bucket: all but ChargePeriodStart, the
    /// [`MEASURES`] and [`ROWS_COLUMN`].
    pub fn grouped_columns(&self) -> impl Iterator<Item = &str> {
        self.columns
            .iter()
            .map(String::as_str)
            .filter(|c| *c != names::CHARGE_PERIOD_START && *c != ROWS_COLUMN && !MEASURES.contains(c))
    }
}

/// The scope's predicate over a rollup's columns, or `None` when the rollup lacks a column it
/// needs. `Some(None)` for the scope that allows everything.
fn scope_predicate(scope: &Scope, columns: &BTreeSet<String>) -> Option<Option<String>> {
    let quote = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    scope.predicate_over(|key| {
        let column = match key {
            ScopeKey::Account => names::SUB_ACCOUNT_ID.to_string(),
            ScopeKey::Dimension(d) => column_of(d),
        };
        columns.contains(&column).then(|| quote(&column))
    })
}

/// Registers in `ctx` the rollups that are fresh for `manifest` and the rules fingerprinted as
/// `rules`, for a session with `scope` (see the module documentation). A rollup whose parts
/// cannot be read is left out: the lake answers instead.
pub(crate) fn register(
    ctx: &SessionContext,
    root: &Path,
    manifest: &Manifest,
    rules: &str,
    scope: &Scope,
) -> Result<Vec<RollupTable>, QueryError> {
    let mut out = Vec::new();
    if manifest.units().is_empty() {
        return Ok(out);
    }
    for definition in &DEFINITIONS {
        let parts = current_parts(manifest, definition, rules);
        let Some(parts) = parts.into_iter().collect::<Option<Vec<&PartEntry>>>() else {
            continue;
        };
        if let Ok(Some(table)) = register_one(ctx, root, definition, &parts, scope) {
            out.push(table);
        }
    }
    Ok(out)
}

fn register_one(
    ctx: &SessionContext,
    root: &Path,
    definition: &Definition,
    parts: &[&PartEntry],
    scope: &Scope,
) -> Result<Option<RollupTable>, QueryError> {
    let paths: Vec<_> = parts.iter().map(|p| layout::resolve(root, &p.file.path)).collect();
    let first = &paths[0];
    let file = File::open(first).map_err(|e| QueryError::io(first, e))?;
    let schema = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error)?.schema().clone();
    let columns: BTreeSet<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let Some(predicate) = scope_predicate(scope, &columns) else {
        return Ok(None);
    };
    let mut table = parquet_table(&paths, schema.clone())?;
    if let Some(sql) = predicate {
        let expr = ctx.parse_sql_expr(&sql, &DFSchema::try_from(schema.as_ref().clone())?)?;
        table = Arc::new(ScopedTable::new(table, expr)?) as Arc<dyn TableProvider>;
    }
    let name = format!("{TABLE_PREFIX}{}", definition.name);
    ctx.register_table(name.as_str(), table)?;
    Ok(Some(RollupTable {
        name: definition.name.to_string(),
        table: name,
        grain: definition.grain,
        columns,
        rows: parts.iter().map(|p| p.file.rows).sum(),
    }))
}
