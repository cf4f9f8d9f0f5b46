//! Rollups: pre-aggregated Parquet tables that answer common semantic-layer requests exactly,
//! without scanning the lake.
//!
//! ## Definitions
//! One registry, [`DEFINITIONS`]: a rollup is a name, a time grain (ChargePeriodStart truncated to
//! the hour or the day, stored in a column still called `ChargePeriodStart`) and the `focus`
//! columns it groups by. `daily_dimensions` also groups by every allocation dimension column
//! (`x_<dimension>`) of the rules in force when it is built. Every rollup holds the same measures:
//! Σ BilledCost, EffectiveCost, ListCost, ContractedCost and ConsumedQuantity as stored (exact
//! decimals, so sums of sums are exact) under the same column names, and the row count
//! ([`ROWS_COLUMN`]). A new rollup is a new entry of [`DEFINITIONS`].
//!
//! ## Build
//! [`build`] runs one `GROUP BY` query per rollup over the `focus` view of an unscoped session and
//! writes `<data-dir>/rollups/<name>.parquet` (temporary file, fsync, rename, fsync of the
//! folder), then `rollups/state.json` ([`State`]) the same way. Builds take `rollups/build.lock`,
//! so two builds never mix their files. `costpilot ingest` (after a commit that changed units),
//! `costpilot rules apply tags|cmdb` and `costpilot rollups build` rebuild them.
//!
//! ## Consistency
//! State records the manifest version and two fingerprints: the live data files of the snapshot
//! the rollups were computed from, and the rules that make the dimension columns (the bytes of
//! `tags.yaml` and `cmdb.json` in force, or their absence). A session registers rollups only when
//! both fingerprints equal its own snapshot's and the rules in force; otherwise the rollups are
//! stale and every request reads the lake. The data fingerprint is of the live files rather than
//! the manifest version, so a vacuum (which bumps the version but changes no row) keeps rollups
//! fresh. The built-in default tag rules (no `tags.yaml`) are fingerprinted as absent: a new
//! release changing those defaults needs `costpilot rollups build`. A build racing a session's
//! start may replace a file between the session's check and its read; the session then reads
//! the newer build (documented limitation: rollup files are not versioned per snapshot).
//!
//! ## Planner
//! [`crate::semantic::run`] routes a request to the smallest registered rollup (fewest rows) that
//! answers it exactly: every column the compiled query reads (dimensions grouped or filtered by,
//! their display names, the metric, BillingCurrency, ChargePeriodStart for a grain or a range)
//! is a column of the rollup; a day rollup answers no grain and day, week or month, an hour rollup
//! every grain; the range's bounds fall on the rollup's grain boundaries (UTC). Raw tags, cost
//! categories, resources and reporting-currency amounts read the lake. Over a rollup the compiled
//! query is the same, reading the rollup's table: `sum` of the stored sums, buckets truncated from
//! the rollup's buckets. The result names its source ([`crate::semantic::CostResult::source`]).
//!
//! ## Scope
//! Under a scope that does not allow everything, a session registers a rollup only if it has
//! every column the scope's predicate needs (SubAccountId for accounts, `x_<dimension>` for
//! dimensions), wrapped in a [`ScopedTable`] whose predicate reads the rollup's own columns; a
//! rollup's `x_<dimension>` value is the one the scope's predicate computes for each of its rows,
//! so the rollup's rows in scope are exactly the sums of the lake's rows in scope.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use costpilot_ingest::rules::{Resolver, TAGS_FILE};
use costpilot_model::names;
use datafusion::catalog::TableProvider;
use datafusion::common::DFSchema;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::dimensions::{self, CMDB_FILE, column_of};
use crate::error::LakeError;
use crate::lake::Lake;
use crate::layout::{create_dir_durable, remove_file_if_present, sync_dir, write_atomic};
use crate::manifest::Manifest;
use crate::scope::{Scope, ScopeKey, ScopedTable};
use crate::semantic::Grain;
use crate::session::{FOCUS_TABLE, parquet_table};
use sha2::{Digest, Sha256};

/// The folder of rollups, inside the data directory.
pub const ROLLUPS_DIR: &str = "rollups";
/// The state of the last build, inside [`ROLLUPS_DIR`].
pub const STATE_FILE: &str = "state.json";
/// The lock builds take, inside [`ROLLUPS_DIR`].
const LOCK_FILE: &str = "build.lock";
/// The column of the number of lake rows a rollup row sums.
pub const ROWS_COLUMN: &str = "x_Rows";
/// The prefix of a rollup's table name in a session (`rollup_daily_accounts`).
pub const TABLE_PREFIX: &str = "rollup_";

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
    /// ChargePeriodStart truncated to this ([`Grain::Hour`] or [`Grain::Day`]).
    pub grain: Grain,
    /// The `focus` columns it groups by (BillingCurrency always among them).
    pub columns: &'static [&'static str],
    /// Also group by every allocation dimension column of the rules in force.
    pub dimensions: bool,
}

impl Definition {
    /// The columns it groups by under `resolver`'s rules, besides ChargePeriodStart.
    pub fn group_columns(&self, resolver: &Resolver) -> Vec<String> {
        let mut out: Vec<String> = self.columns.iter().map(|c| c.to_string()).collect();
        if self.dimensions {
            out.extend(resolver.dimensions().iter().map(|d| column_of(d)));
        }
        out
    }
}

/// Every rollup.
pub const DEFINITIONS: [Definition; 3] = [
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
    },
    Definition {
        name: "daily_dimensions",
        grain: Grain::Day,
        columns: &[names::BILLING_CURRENCY, names::SUB_ACCOUNT_ID, names::SERVICE_NAME],
        dimensions: true,
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
    },
];

/// What one build wrote, per rollup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Built {
    /// The rollup's name.
    pub name: String,
    /// Its grain.
    pub grain: Grain,
    /// Rows in the file.
    pub rows: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// Every column of the file.
    pub columns: Vec<String>,
}

/// `rollups/state.json`: what the rollups were computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// The manifest version of the snapshot.
    pub manifest_version: u64,
    /// Fingerprint of the snapshot's live data files.
    pub data_fingerprint: String,
    /// Fingerprint of `tags.yaml` and `cmdb.json` in force.
    pub rules_fingerprint: String,
    /// When the build finished (RFC 3339).
    pub built_at: String,
    /// The rollups written.
    pub rollups: Vec<Built>,
}

/// Whether the rollups may answer for the current lake and rules.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// True when the state matches the lake's manifest and the rules in force.
    pub fresh: bool,
    /// Why not, when stale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The lake's current manifest version.
    pub manifest_version: u64,
    /// The last build's state, if any.
    pub state: Option<State>,
}

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

/// Fingerprint of a snapshot's live data files (their lake-relative paths, which name the
/// transaction that wrote them).
pub fn data_fingerprint(manifest: &Manifest) -> String {
    let paths: BTreeSet<&str> = manifest.live_files().map(|f| f.path.as_str()).collect();
    let mut h = Fingerprint::new();
    for p in paths {
        h.part(p.as_bytes());
    }
    h.hex()
}

/// Fingerprint of the rules that make the dimension columns: `tags.yaml` and `cmdb.json` in force.
pub fn rules_fingerprint(data_dir: &Path) -> Result<String, LakeError> {
    let dir = dimensions::rules_dir(data_dir);
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
            Err(e) => return Err(LakeError::io(&path, e)),
        }
    }
    Ok(h.hex())
}

/// The folder of rollups.
pub fn rollups_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(ROLLUPS_DIR)
}

/// The file of a rollup.
pub fn rollup_path(data_dir: &Path, name: &str) -> PathBuf {
    rollups_dir(data_dir).join(format!("{name}.parquet"))
}

/// The state of the last build, if there is a readable one.
pub fn read_state(data_dir: &Path) -> Option<State> {
    let bytes = std::fs::read(rollups_dir(data_dir).join(STATE_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Why the state does not hold for `manifest` and the rules in force, or `None` when it does.
fn stale_reason(
    state: Option<&State>,
    data_dir: &Path,
    manifest: &Manifest,
) -> Result<Option<String>, LakeError> {
    let Some(state) = state else {
        return Ok(Some("never built".to_string()));
    };
    if state.data_fingerprint != data_fingerprint(manifest) {
        return Ok(Some(format!(
            "built from manifest version {}, the lake has changed since (version {})",
            state.manifest_version, manifest.version
        )));
    }
    if state.rules_fingerprint != rules_fingerprint(data_dir)? {
        return Ok(Some("the tag rules or CMDB in force changed since the build".to_string()));
    }
    Ok(None)
}

/// Whether the rollups of `lake` are fresh, and what the last build wrote.
pub fn status(lake: &Lake) -> Result<Status, LakeError> {
    let manifest = lake.manifest()?;
    let state = read_state(lake.data_dir());
    let reason = stale_reason(state.as_ref(), lake.data_dir(), &manifest)?;
    Ok(Status { fresh: reason.is_none(), reason, manifest_version: manifest.version, state })
}

/// The `GROUP BY` query of a rollup over the `focus` view.
fn build_sql(def: &Definition, resolver: &Resolver) -> String {
    let quote = |c: &str| format!("\"{}\"", c.replace('"', "\"\""));
    let start = names::CHARGE_PERIOD_START;
    let mut select = vec![format!("date_trunc('{}', {start}) AS {start}", def.grain)];
    let groups = def.group_columns(resolver);
    select.extend(groups.iter().map(|c| quote(c)));
    select.extend(MEASURES.iter().map(|m| format!("sum({m}) AS {m}")));
    select.push(format!("count(*) AS {ROWS_COLUMN}"));
    let keys: Vec<String> = (1..=groups.len() + 1).map(|i| i.to_string()).collect();
    format!("SELECT {} FROM {FOCUS_TABLE} GROUP BY {}", select.join(", "), keys.join(", "))
}

/// Rebuilds every rollup from a snapshot of `lake` and the rules in force, then records the state.
pub async fn build(lake: &Lake) -> Result<State, LakeError> {
    let data_dir = lake.data_dir();
    let dir = rollups_dir(data_dir);
    create_dir_durable(&dir)?;
    let lock_path = dir.join(LOCK_FILE);
    let lock = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&lock_path)
        .map_err(|e| LakeError::io(&lock_path, e))?;
    lock.lock().map_err(|e| LakeError::io(&lock_path, e))?;
    // The rules are fingerprinted before the session compiles them: if they change during the
    // build, the state names the older rules and the rollups are stale, never wrong.
    let rules = rules_fingerprint(data_dir)?;
    let session = lake.session().await?;
    let mut built = Vec::new();
    for def in &DEFINITIONS {
        built.push(build_one(&session, def, data_dir).await?);
    }
    let state = State {
        manifest_version: session.manifest().version,
        data_fingerprint: data_fingerprint(session.manifest()),
        rules_fingerprint: rules,
        built_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        rollups: built,
    };
    let text = serde_json::to_vec_pretty(&state).map_err(|e| LakeError::Query(e.to_string()))?;
    write_atomic(&dir.join(STATE_FILE), &text, &format!("build-{}", std::process::id()))?;
    drop(lock);
    Ok(state)
}

async fn build_one(
    session: &crate::LakeSession,
    def: &Definition,
    data_dir: &Path,
) -> Result<Built, LakeError> {
    let sql = build_sql(def, session.resolver());
    let df = session.context().sql(&sql).await?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let mut stream = df.execute_stream().await?;
    let target = rollup_path(data_dir, def.name);
    let dir = rollups_dir(data_dir);
    let tmp = dir.join(format!(".{}.parquet.tmp-{}", def.name, std::process::id()));
    let result = async {
        let file = File::create(&tmp).map_err(|e| LakeError::io(&tmp, e))?;
        let mut writer = ArrowWriter::try_new(file, schema.clone(), None).map_err(parquet_error)?;
        let mut rows = 0u64;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            rows += batch.num_rows() as u64;
            writer.write(&batch).map_err(parquet_error)?;
        }
        let file = writer.into_inner().map_err(parquet_error)?;
        file.sync_all().map_err(|e| LakeError::io(&tmp, e))?;
        Ok::<u64, LakeError>(rows)
    }
    .await;
    let rows = match result {
        Ok(rows) => rows,
        Err(e) => {
            let _ = remove_file_if_present(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, &target).map_err(|e| LakeError::io(&target, e))?;
    sync_dir(&dir)?;
    let bytes = std::fs::metadata(&target).map_err(|e| LakeError::io(&target, e))?.len();
    Ok(Built {
        name: def.name.to_string(),
        grain: def.grain,
        rows,
        bytes,
        columns: schema.fields().iter().map(|f| f.name().clone()).collect(),
    })
}

fn parquet_error(e: datafusion::parquet::errors::ParquetError) -> LakeError {
    LakeError::Query(format!("rollup file: {e}"))
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

/// Registers the fresh rollups of `data_dir` in `ctx` for a session over `manifest` with `scope`
/// (see the module documentation); none when they are stale. A rollup whose file cannot be read
/// is left out: the lake answers instead.
pub(crate) fn register(
    ctx: &SessionContext,
    data_dir: &Path,
    manifest: &Manifest,
    scope: &Scope,
) -> Result<Vec<RollupTable>, LakeError> {
    let state = read_state(data_dir);
    if stale_reason(state.as_ref(), data_dir, manifest)?.is_some() {
        return Ok(Vec::new());
    }
    let Some(state) = state else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for built in &state.rollups {
        if !DEFINITIONS.iter().any(|d| d.name == built.name && d.grain == built.grain) {
            continue;
        }
        if let Ok(Some(table)) = register_one(ctx, data_dir, built, scope) {
            out.push(table);
        }
    }
    Ok(out)
}

fn register_one(
    ctx: &SessionContext,
    data_dir: &Path,
    built: &Built,
    scope: &Scope,
) -> Result<Option<RollupTable>, LakeError> {
    let path = rollup_path(data_dir, &built.name);
    let file = File::open(&path).map_err(|e| LakeError::io(&path, e))?;
    let schema = ParquetRecordBatchReaderBuilder::try_new(file).map_err(parquet_error)?.schema().clone();
    let columns: BTreeSet<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let Some(predicate) = scope_predicate(scope, &columns) else {
        return Ok(None);
    };
    let mut table = parquet_table(&[path], schema.clone())?;
    if let Some(sql) = predicate {
        let expr = ctx.parse_sql_expr(&sql, &DFSchema::try_from(schema.as_ref().clone())?)?;
        table = Arc::new(ScopedTable::new(table, expr)?) as Arc<dyn TableProvider>;
    }
    let name = format!("{TABLE_PREFIX}{}", built.name);
    ctx.register_table(name.as_str(), table)?;
    Ok(Some(RollupTable {
        name: built.name.clone(),
        table: name,
        grain: built.grain,
        columns,
        rows: built.rows,
    }))
}

/// The sizes of the rollups in a state, by name.
pub fn sizes(state: &State) -> BTreeMap<String, (u64, u64)> {
    state.rollups.iter().map(|b| (b.name.clone(), (b.rows, b.bytes))).collect()
}
