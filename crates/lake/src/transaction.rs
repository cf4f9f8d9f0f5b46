//! Transactions: batches are filed by unit into staging Parquet files, then one commit swaps them
//! into the manifest.
//!
//! [`Transaction::write`] splits each batch by unit on the caller's thread and hands the pieces to
//! a writer thread that encodes Parquet while the caller reads its next batch, so reading and
//! encoding use both cores; the writer thread spreads each batch's columns over one encoding
//! thread per core. The channel between them holds a few batches, each unit has at most one open
//! file whose unflushed row group is capped in bytes, at most [`MAX_OPEN_FILES`] files are open
//! at once and their row groups in progress together stay under a budget: memory stays
//! bounded however large a unit is and however many units a transaction spans.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{Datelike, NaiveDate, Utc};
use costpilot_model::money::decimal_text;
use costpilot_model::{COLUMNS, TextValues, UnitKey, index_of, is_lake_type, lake_schema, names};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBufferBuilder, Decimal128Array, RecordBatch, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::max;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::datatypes::{Decimal128Type, TimestampMicrosecondType};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_writer::{
    ArrowColumnWriter, ArrowLeafColumn, ArrowRowGroupWriterFactory, compute_leaves,
};
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::file::writer::SerializedFileWriter;

use crate::chunk::{ChunkEncoder, ChunkKind};
use crate::error::LakeError;
use crate::layout;
use crate::manifest::{
    FileEntry, Manifest, PartEntry, RetiredFile, SourceRef, UnitEntry, now_text, parse_time,
};
use crate::observe::{ObserveError, StagedPart, StagedParts, UnitObserver};
use crate::split::SharedFilter;

/// At most this many staging files are open at once; the least recently written is closed (and a
/// new file started for its unit if more rows come) when a transaction spans more units.
pub const MAX_OPEN_FILES: usize = 32;

/// Messages waiting for the writer thread, each one unit's pieces of a batch. The writer encodes
/// on every core for most of a batch but alone at its end and at row-group boundaries; batches
/// queued up ahead keep the stages before it busy through those moments. A message keeps its whole
/// batch alive, so each queued batch costs memory; three trade a little memory for a little speed
/// (figures in `bench/README.md`).
const CHANNEL_BATCHES: usize = 3;

/// A batch whose units come in at most this many runs of consecutive rows is split into slices
/// rather than gathered by unit.
const MAX_RUNS: usize = 16;

/// Messages waiting for each observer's thread, which is quicker per batch than the writer (the
/// same pieces as the writer's: they share its buffers).
const OBSERVER_BATCHES: usize = 4;

/// The environment variable naming a failpoint (a test hook, see [`Transaction::commit`]).
pub const FAILPOINT_ENV: &str = "COSTPILOT_FAILPOINT";

/// How data files are encoded.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Parquet compression codec.
    pub compression: Compression,
    /// Rows per row group at most.
    pub row_group_rows: usize,
    /// Bytes an unflushed row group may take before it is flushed early (bounds memory per file).
    pub row_group_bytes: usize,
    /// Rows per data file at most; a larger unit gets several files.
    pub file_rows: u64,
    /// Threads encoding a batch's columns in parallel.
    pub threads: usize,
    /// Bytes the row groups in progress of all open files may hold together before the largest is
    /// flushed early.
    pub memory_budget: usize,
}

impl Default for WriteOptions {
    /// Snappy (see the crate docs for the measurements), row groups of 512 Ki rows or
    /// 128 MiB, files of 8 Mi rows, one encoding thread per core (at most four), 512 MiB for all
    /// row groups in progress.
    fn default() -> Self {
        Self {
            compression: Compression::SNAPPY,
            row_group_rows: 512 * 1024,
            row_group_bytes: 128 << 20,
            file_rows: 8 << 20,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            memory_budget: 512 << 20,
        }
    }
}

impl WriteOptions {
    fn properties(&self) -> WriterProperties {
        let builder = WriterProperties::builder()
            .set_compression(self.compression)
            .set_statistics_enabled(EnabledStatistics::None)
            // Without page statistics nothing prunes by page, and chunk.rs writes no page
            // locations; leaving them out of every column keeps the files uniform.
            .set_offset_index_disabled(true)
            .set_created_by(format!("costpilot {}", env!("CARGO_PKG_VERSION")));
        statistics_columns()
            .fold(builder, |b, name| b.set_column_statistics_enabled(name.into(), EnabledStatistics::Chunk))
            .build()
    }
}

/// The columns whose column chunks carry min/max statistics ([`costpilot_model::ColumnDef::prunes`]).
fn statistics_columns() -> impl Iterator<Item = &'static str> {
    COLUMNS.iter().filter(|c| c.prunes).map(|c| c.name)
}

/// What a commit did to one unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The lake had no such unit.
    Added,
    /// The unit's earlier rows were replaced (its old files are retired).
    Replaced,
    /// The unit came from exactly the sources already recorded, read by the same version of the
    /// reading, so nothing changed.
    Unchanged,
}

/// One unit a transaction touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitChange {
    /// The unit.
    pub key: UnitKey,
    /// Added, replaced or unchanged.
    pub outcome: Outcome,
    /// Rows the transaction wrote for it.
    pub rows: u64,
    /// Σ BilledCost per currency of those rows, exact decimal text.
    pub billed_cost: BTreeMap<String, String>,
}

/// A unit as a transaction has written it so far ([`Transaction::pending`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUnit {
    /// The unit.
    pub key: UnitKey,
    /// Rows written for it.
    pub rows: u64,
    /// Σ BilledCost per currency of those rows, in units of 10^-15.
    pub billed_cost: BTreeMap<String, i128>,
    /// The rows written from each source, by the source's checksum.
    pub sources: BTreeMap<String, u64>,
}

/// What a commit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitReport {
    /// The manifest version after the commit (unchanged if nothing changed).
    pub version: u64,
    /// Every unit the transaction wrote, sorted by key.
    pub units: Vec<UnitChange>,
    /// Retired files past the retention that the commit deleted.
    pub retired_deleted: usize,
    /// Why the units it wrote got no derived parts, if they did not (see `observe`).
    pub parts_skipped: Option<String>,
}

/// Running totals of one unit's rows in a transaction.
#[derive(Debug, Default)]
struct UnitStats {
    rows: u64,
    billed: BTreeMap<String, i128>,
    watermark: Option<i64>,
    missing_invoice: u64,
}

#[derive(Debug)]
struct UnitState {
    key: UnitKey,
    stats: UnitStats,
    sources: BTreeMap<String, SourceRef>,
    /// Rows written from each source, by checksum.
    source_rows: BTreeMap<String, u64>,
}

/// A finished staging file.
#[derive(Debug)]
struct StagedFile {
    unit: usize,
    seq: u32,
    path: PathBuf,
    rows: u64,
    bytes: u64,
}

/// The pieces of one batch that belong to one unit, in order.
type Pieces = (usize, Vec<RecordBatch>);

struct Writer {
    tx: SyncSender<Pieces>,
    thread: JoinHandle<Result<Vec<StagedFile>, LakeError>>,
}

/// The thread of one observer of the units written (see `observe`).
struct ObserverWorker {
    /// Its input; `None` once closed, which starts the staging of its parts.
    tx: Option<SyncSender<Pieces>>,
    thread: JoinHandle<Result<StagedParts, ObserveError>>,
}

/// Shows the observer every piece it receives; when the channel closes, has it stage its parts
/// in `dir`.
fn observe_loop(
    rx: Receiver<Pieces>,
    mut observer: Box<dyn UnitObserver>,
    dir: PathBuf,
    stem: String,
) -> Result<StagedParts, ObserveError> {
    for (unit, pieces) in rx {
        for piece in &pieces {
            observer.observe(unit, piece)?;
        }
    }
    observer.finish(&dir, &stem)
}

/// A write to the lake: batches are filed by unit into staging files; nothing is visible to
/// readers until [`Transaction::commit`]. Dropping it without committing aborts it.
///
/// Only one transaction (or vacuum) runs at a time per lake: [`crate::Lake::begin`] takes an
/// exclusive lock on `lake/writer.lock` and fails with [`LakeError::Busy`] if another process (or
/// another transaction in this one) holds it for longer than [`crate::LOCK_WAIT`]. The lock is released when the
/// transaction commits, aborts or is dropped, and by the operating system if the process dies.
pub struct Transaction {
    root: PathBuf,
    retention: Duration,
    id: String,
    staging: PathBuf,
    units: Vec<UnitState>,
    index: HashMap<UnitKey, usize>,
    writer: Option<Writer>,
    observers: Vec<ObserverWorker>,
    parts_skipped: Option<String>,
    mapping: Option<String>,
    finished: bool,
    // Declared last so it is released after the staging folder is cleaned up in `drop`.
    _lock: File,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction").field("id", &self.id).field("units", &self.units.len()).finish()
    }
}

impl Transaction {
    pub(crate) fn start(
        root: &Path,
        retention: Duration,
        options: &WriteOptions,
        observers: Result<Vec<Box<dyn UnitObserver>>, ObserveError>,
        lock: File,
    ) -> Result<Transaction, LakeError> {
        let now = Utc::now();
        // Unique per process by the counter, across processes by the pid: a later transaction
        // must never reuse a name, since its files would replace files older snapshots read.
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{}-{n}", now.format("%Y%m%dT%H%M%S%3fZ"), std::process::id());
        let staging = root.join(layout::STAGING).join(&id);
        fs::create_dir_all(&staging).map_err(|e| LakeError::io(&staging, e))?;
        let (tx, rx) = sync_channel(CHANNEL_BATCHES);
        let thread_dir = staging.clone();
        let encoding = Encoding {
            schema: lake_schema(),
            props: options.properties(),
            row_group_rows: options.row_group_rows.max(1),
            row_group_bytes: options.row_group_bytes.max(1),
            file_rows: options.file_rows.max(1),
            threads: options.threads.max(1),
            memory_budget: options.memory_budget,
        };
        let thread = std::thread::Builder::new()
            .name("costpilot-lake-writer".into())
            .spawn(move || write_loop(rx, &thread_dir, encoding))
            .map_err(|e| LakeError::io(&staging, e))?;
        let (planned, parts_skipped) = match observers {
            Ok(planned) => (planned, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let mut observers = Vec::with_capacity(planned.len());
        for observer in planned {
            let (tx, rx) = sync_channel(OBSERVER_BATCHES);
            let (dir, stem) = (staging.clone(), id.clone());
            let thread = std::thread::Builder::new()
                .name("costpilot-lake-observer".into())
                .spawn(move || observe_loop(rx, observer, dir, stem))
                .map_err(|e| LakeError::io(&staging, e))?;
            observers.push(ObserverWorker { tx: Some(tx), thread });
        }
        Ok(Transaction {
            root: root.to_path_buf(),
            retention,
            id,
            staging,
            units: Vec::new(),
            index: HashMap::new(),
            writer: Some(Writer { tx, thread }),
            observers,
            parts_skipped,
            mapping: None,
            finished: false,
            _lock: lock,
        })
    }

    /// The transaction's id; its data files are named `<id>-<n>.parquet`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Labels every unit this transaction writes with the version of the reading that produced
    /// its rows ([`UnitEntry::mapping`]). A unit whose sources are ingested again is then
    /// rewritten when its label differs, rather than kept as unchanged.
    pub fn with_mapping(mut self, mapping: impl Into<String>) -> Self {
        self.mapping = Some(mapping.into());
        self
    }

    /// The units written so far, sorted by key, with their rows, Σ BilledCost and sources: what a
    /// caller checks before [`Transaction::commit`] replaces the lake's units with them.
    pub fn pending(&self) -> Vec<PendingUnit> {
        let mut units: Vec<PendingUnit> = self
            .units
            .iter()
            .map(|u| PendingUnit {
                key: u.key.clone(),
                rows: u.stats.rows,
                billed_cost: u.stats.billed.clone(),
                sources: u.source_rows.clone(),
            })
            .collect();
        units.sort_by(|a, b| a.key.cmp(&b.key));
        units
    }

    /// Files a batch of [`costpilot_model::lake_schema`] rows that came from `source`.
    ///
    /// Rows are split by unit (ProviderName, BillingAccountId, the month of BillingPeriodStart)
    /// and streamed into one staging Parquet file per unit. ProviderName, BillingAccountId,
    /// BillingPeriodStart and BillingCurrency must be set on every row (the first three place the
    /// row, the last gives its amounts a currency); a batch with a null in any of them, or not of
    /// the lake schema, is refused whole and the transaction stays as it was.
    pub fn write(&mut self, batch: RecordBatch, source: &SourceRef) -> Result<(), LakeError> {
        check_schema(&batch, source)?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let pieces = split_by_unit(&batch, source)?;
        // Everything that can fail is checked before the transaction changes, so a refused batch
        // leaves it as it was.
        let mut prepared = Vec::with_capacity(pieces.len());
        for (key, piece) in pieces {
            let stats = piece_stats(&piece).ok_or_else(|| overflow(source, &key))?;
            if let Some(&u) = self.index.get(&key) {
                for (c, v) in &stats.billed {
                    let total = self.units[u].stats.billed.get(c).copied().unwrap_or(0);
                    if total.checked_add(*v).is_none() {
                        return Err(overflow(source, &key));
                    }
                }
            }
            prepared.push((key, piece, stats));
        }
        // Each unit's pieces go to the writer together (see `OpenFile::write`).
        let mut routed: Vec<Pieces> = Vec::new();
        for (key, piece, stats) in prepared {
            let unit = match self.index.get(&key) {
                Some(&u) => u,
                None => {
                    self.units.push(UnitState {
                        key: key.clone(),
                        stats: UnitStats::default(),
                        sources: BTreeMap::new(),
                        source_rows: BTreeMap::new(),
                    });
                    self.index.insert(key, self.units.len() - 1);
                    self.units.len() - 1
                }
            };
            let state = &mut self.units[unit];
            *state.source_rows.entry(source.sha256.clone()).or_default() += piece.num_rows() as u64;
            merge_stats(&mut state.stats, stats);
            state.sources.entry(source.sha256.clone()).or_insert_with(|| source.clone());
            match routed.iter_mut().find(|(u, _)| *u == unit) {
                Some((_, pieces)) => pieces.push(piece),
                None => routed.push((unit, vec![piece])),
            }
        }
        for (unit, pieces) in routed {
            self.send_observers(unit, &pieces);
            self.send(unit, pieces)?;
        }
        Ok(())
    }

    /// Hands a unit's pieces of a batch to the observers' threads; if one stopped, its error
    /// becomes the reason the commit has no parts.
    fn send_observers(&mut self, unit: usize, pieces: &[RecordBatch]) {
        if self
            .observers
            .iter()
            .all(|w| w.tx.as_ref().is_some_and(|tx| tx.send((unit, pieces.to_vec())).is_ok()))
        {
            return;
        }
        self.parts_skipped = Some(match self.finish_observers() {
            Err(e) => e.to_string(),
            Ok(_) => "an observer thread stopped unexpectedly".to_string(),
        });
    }

    /// Closes every observer thread's input: each stages its parts from then on, all at once.
    fn close_observers(&mut self) {
        for worker in &mut self.observers {
            worker.tx = None;
        }
    }

    /// Waits for the observer threads; every unit's parts from all of them, or the first error.
    fn finish_observers(&mut self) -> Result<StagedParts, ObserveError> {
        self.close_observers();
        let mut parts: BTreeMap<usize, Vec<StagedPart>> = BTreeMap::new();
        let mut failure = None;
        for ObserverWorker { thread, .. } in std::mem::take(&mut self.observers) {
            match thread.join().unwrap_or_else(|_| Err("an observer thread panicked".into())) {
                Ok(staged) => {
                    for (unit, p) in staged {
                        parts.entry(unit).or_default().extend(p);
                    }
                }
                Err(e) => failure = failure.or(Some(e)),
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(parts.into_iter().collect()),
        }
    }

    fn send(&mut self, unit: usize, pieces: Vec<RecordBatch>) -> Result<(), LakeError> {
        let Some(writer) = self.writer.as_ref() else {
            return Err(LakeError::Parquet {
                path: self.staging.clone(),
                message: "an earlier write of this transaction failed; abort it and start again".into(),
            });
        };
        if writer.tx.send((unit, pieces)).is_ok() {
            return Ok(());
        }
        // The writer thread stopped: it failed, and joining it gives its error.
        match self.finish_writer() {
            Err(e) => Err(e),
            Ok(_) => Err(LakeError::Parquet {
                path: self.staging.clone(),
                message: "the Parquet writer stopped unexpectedly".into(),
            }),
        }
    }

    fn finish_writer(&mut self) -> Result<Vec<StagedFile>, LakeError> {
        let Some(Writer { tx, thread }) = self.writer.take() else {
            return Ok(Vec::new());
        };
        drop(tx);
        match thread.join() {
            Ok(result) => result,
            Err(_) => Err(LakeError::Parquet {
                path: self.staging.clone(),
                message: "the Parquet writer thread panicked".into(),
            }),
        }
    }

    /// Makes the transaction's units visible, atomically.
    ///
    /// For each unit written: if the lake already has it from exactly the same source checksums,
    /// it is left as it is (ingest is idempotent); otherwise the new files are moved into
    /// `data/`, and the unit is added or replaces the old one, whose files become retired. All of
    /// it becomes visible in one manifest swap (temporary file, fsync, rename, fsync of the
    /// folder): a reader sees every unit either old or new. Retired files older than the lake's
    /// retention are deleted after the swap.
    ///
    /// Test hook: with `COSTPILOT_FAILPOINT=before-manifest-swap` in the environment the process
    /// aborts right before the swap, as a crash would, leaving the data files moved but the old
    /// manifest in place.
    pub fn commit(mut self) -> Result<CommitReport, LakeError> {
        if self.writer.is_none() {
            return Err(LakeError::Parquet {
                path: self.staging.clone(),
                message: "a write of this transaction failed, so it cannot be committed".into(),
            });
        }
        // The observers stage their parts while the writer closes its files.
        self.close_observers();
        let staged = self.finish_writer()?;
        let mut parts: HashMap<usize, Vec<StagedPart>> = match self.finish_observers() {
            Ok(parts) => parts.into_iter().collect(),
            Err(e) => {
                self.parts_skipped = Some(e.to_string());
                HashMap::new()
            }
        };
        let mut manifest = Manifest::load(&self.root)?;
        let now = Utc::now();
        let now_s = now_text(now);
        let mut by_unit: BTreeMap<usize, Vec<StagedFile>> = BTreeMap::new();
        for f in staged {
            by_unit.entry(f.unit).or_default().push(f);
        }
        // Expired before this commit retires more: files it retires wait at least one retention.
        let expired = take_expired(&mut manifest, now, self.retention);
        let mut changes = Vec::new();
        let mut changed = false;
        let mut order: Vec<usize> = (0..self.units.len()).collect();
        order.sort_by(|&a, &b| self.units[a].key.cmp(&self.units[b].key));
        for u in order {
            let state = &self.units[u];
            let mut files = by_unit.remove(&u).unwrap_or_default();
            files.sort_by_key(|f| f.seq);
            let billed: BTreeMap<String, String> =
                state.stats.billed.iter().map(|(c, v)| (c.clone(), decimal_text(*v))).collect();
            let same_sources = manifest.unit(&state.key).is_some_and(|old| {
                old.source_checksums().into_iter().eq(state.sources.keys().map(String::as_str))
                    && old.mapping == self.mapping
            });
            let outcome = if same_sources {
                Outcome::Unchanged
            } else {
                let unit_parts = parts.remove(&u).unwrap_or_default();
                let entry = self.install(state, &files, unit_parts, billed.clone(), &now_s)?;
                changed = true;
                match manifest.upsert(entry) {
                    Some(old) => {
                        manifest.retire(
                            old.files.into_iter().chain(old.parts.into_iter().map(|p| p.file)),
                            &now_s,
                        );
                        Outcome::Replaced
                    }
                    None => Outcome::Added,
                }
            };
            changes.push(UnitChange {
                key: state.key.clone(),
                outcome,
                rows: state.stats.rows,
                billed_cost: billed,
            });
        }
        if changed || !expired.is_empty() {
            manifest.version += 1;
            manifest.updated_at = Some(now_s);
            if std::env::var(FAILPOINT_ENV).is_ok_and(|v| v == "before-manifest-swap") {
                std::process::abort();
            }
            manifest.store(&self.root, &self.id)?;
        }
        let retired_deleted = delete_files(&self.root, &expired);
        self.finished = true;
        self.cleanup();
        Ok(CommitReport {
            version: manifest.version,
            units: changes,
            retired_deleted,
            parts_skipped: self.parts_skipped.take(),
        })
    }

    /// Moves a unit's staged files into its data folder and describes the new unit.
    fn install(
        &self,
        state: &UnitState,
        files: &[StagedFile],
        parts: Vec<StagedPart>,
        billed_cost: BTreeMap<String, String>,
        now: &str,
    ) -> Result<UnitEntry, LakeError> {
        let dir_rel = layout::unit_dir(&state.key);
        let dir = layout::resolve(&self.root, &dir_rel);
        layout::create_dir_durable(&dir)?;
        let mut entries = Vec::with_capacity(files.len());
        for f in files {
            let name = format!("{}-{}.parquet", self.id, f.seq);
            let target = dir.join(&name);
            if target.exists() {
                return Err(LakeError::Parquet {
                    path: target,
                    message: "a data file of this name already exists; refusing to overwrite it".into(),
                });
            }
            fs::rename(&f.path, &target).map_err(|e| LakeError::io(&target, e))?;
            entries.push(FileEntry { path: format!("{dir_rel}/{name}"), rows: f.rows, bytes: f.bytes });
        }
        let mut derived = Vec::with_capacity(parts.len());
        for p in parts {
            let target = dir.join(&p.file_name);
            fs::rename(&p.path, &target).map_err(|e| LakeError::io(&target, e))?;
            derived.push(PartEntry {
                name: p.name,
                fingerprint: p.fingerprint,
                file: FileEntry { path: format!("{dir_rel}/{}", p.file_name), rows: p.rows, bytes: p.bytes },
            });
        }
        derived.sort_by(|a, b| a.name.cmp(&b.name));
        layout::sync_dir(&dir)?;
        let stats = &state.stats;
        Ok(UnitEntry {
            key: state.key.clone(),
            files: entries,
            rows: stats.rows,
            billed_cost,
            sources: state.sources.values().cloned().collect(),
            watermark: stats.watermark.map(costpilot_model::time::format_micros),
            is_final: stats.rows > 0 && stats.missing_invoice == 0,
            ingested_at: now.to_string(),
            transaction: self.id.clone(),
            mapping: self.mapping.clone(),
            parts: derived,
        })
    }

    /// Discards everything the transaction wrote; the lake stays exactly as it was.
    pub fn abort(self) {}

    fn cleanup(&mut self) {
        let _ = self.finish_writer();
        let _ = self.finish_observers();
        let _ = fs::remove_dir_all(&self.staging);
        let staging_root = self.root.join(layout::STAGING);
        let _ = fs::remove_dir(&staging_root);
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if !self.finished {
            self.cleanup();
        }
    }
}

/// Removes retired entries older than `retention` from the manifest and returns them.
pub(crate) fn take_expired(
    manifest: &mut Manifest,
    now: chrono::DateTime<Utc>,
    retention: Duration,
) -> Vec<RetiredFile> {
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    let (expired, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut manifest.retired)
        .into_iter()
        .partition(|r| parse_time(&r.retired_at).is_none_or(|t| now - t >= retention));
    manifest.retired = kept;
    expired
}

/// Deletes retired files (already out of the manifest) and their emptied folders; returns how
/// many were deleted. A failure leaves an orphan for vacuum, so it is not an error here.
pub(crate) fn delete_files(root: &Path, files: &[RetiredFile]) -> usize {
    let data = root.join(layout::DATA);
    let mut deleted = 0;
    for f in files {
        let path = layout::resolve(root, &f.path);
        if layout::remove_file_if_present(&path).is_ok() {
            deleted += 1;
            if let Some(dir) = path.parent() {
                layout::prune_empty_dirs(dir, &data);
            }
        }
    }
    deleted
}

fn check_schema(batch: &RecordBatch, source: &SourceRef) -> Result<(), LakeError> {
    let expected = lake_schema();
    let got = batch.schema();
    let bad = |message: String| LakeError::Input { path: source.path.clone(), message };
    if got.fields().len() != expected.fields().len() {
        return Err(bad(format!(
            "the batch has {} columns, the lake schema {}",
            got.fields().len(),
            expected.fields().len()
        )));
    }
    for (g, e) in got.fields().iter().zip(expected.fields()) {
        if g.name() != e.name() || !is_lake_type(e.data_type(), g.data_type()) {
            return Err(bad(format!(
                "the batch does not have the lake schema: column {} {} where the lake has {} {}",
                g.name(),
                g.data_type(),
                e.name(),
                e.data_type()
            )));
        }
    }
    Ok(())
}

/// The first row (1-based) where a required column is null.
fn first_null(array: &dyn Array) -> Option<usize> {
    if array.null_count() == 0 {
        return None;
    }
    (0..array.len()).find(|&i| array.is_null(i)).map(|i| i + 1)
}

/// The month holding `micros`: its start and end (exclusive) in µs and its "YYYY-MM" name.
fn month_bounds(micros: i64) -> Option<(i64, i64, String)> {
    let day = chrono::DateTime::from_timestamp_micros(micros)?.date_naive();
    let start = NaiveDate::from_ymd_opt(day.year(), day.month(), 1)?;
    let end = start.checked_add_months(chrono::Months::new(1))?;
    let micros_of = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_micros());
    Some((micros_of(start)?, micros_of(end)?, format!("{:04}-{:02}", day.year(), day.month())))
}

fn split_by_unit(batch: &RecordBatch, source: &SourceRef) -> Result<Vec<(UnitKey, RecordBatch)>, LakeError> {
    let column = |name: &str| batch.column(index_of(name));
    for name in [
        names::PROVIDER_NAME,
        names::BILLING_ACCOUNT_ID,
        names::BILLING_PERIOD_START,
        names::BILLING_CURRENCY,
    ] {
        if let Some(row) = first_null(column(name).as_ref()) {
            return Err(LakeError::Input {
                path: source.path.clone(),
                message: format!(
                    "row {row} of a batch has no {name}; every lake row needs ProviderName, \
                     BillingAccountId, BillingPeriodStart and BillingCurrency"
                ),
            });
        }
    }
    // check_schema found every text column to be text of either kind.
    let text = |name: &str| TextValues::of(column(name).as_ref()).expect("a lake text column");
    let (provider, account) = (text(names::PROVIDER_NAME), text(names::BILLING_ACCOUNT_ID));
    let start: &TimestampMicrosecondArray = column(names::BILLING_PERIOD_START).as_primitive();

    struct Group<'a> {
        provider: &'a str,
        account: &'a str,
        from: i64,
        to: i64,
        period: String,
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut lookup: HashMap<(&str, &str, i64), usize> = HashMap::new();
    // Runs of consecutive rows of one unit: (group, first row, rows).
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    for i in 0..batch.num_rows() {
        let (p, a, t) = (provider.value(i), account.value(i), start.value(i));
        if let Some(run) = runs.last_mut() {
            let group = &groups[run.0];
            if group.provider == p && group.account == a && t >= group.from && t < group.to {
                run.2 += 1;
                continue;
            }
        }
        let (from, to, period) = month_bounds(t).ok_or_else(|| LakeError::Input {
            path: source.path.clone(),
            message: format!("row {} of a batch has a BillingPeriodStart out of range", i + 1),
        })?;
        let g = *lookup.entry((p, a, from)).or_insert_with(|| {
            groups.push(Group { provider: p, account: a, from, to, period });
            groups.len() - 1
        });
        runs.push((g, i, 1));
    }
    let key = |g: &Group| UnitKey {
        provider: g.provider.to_string(),
        billing_account: g.account.to_string(),
        billing_period: g.period.clone(),
    };
    if groups.len() == 1 {
        return Ok(vec![(key(&groups[0]), batch.clone())]);
    }
    // Bills usually list a unit's rows together: long runs become slices of the batch, which
    // copy nothing, where gathering each unit's rows would copy every column (the tag maps too).
    if runs.len() <= MAX_RUNS {
        return Ok(runs.iter().map(|&(g, from, len)| (key(&groups[g]), batch.slice(from, len))).collect());
    }
    // Otherwise each unit's rows are filtered out of the batch: a filter copies a unit that holds
    // most rows run by run (ranges, not row by row as a gather by index would).
    (0..groups.len())
        .map(|g| {
            let mut mask = BooleanBufferBuilder::new(batch.num_rows());
            for &(of, _, len) in &runs {
                mask.append_n(len, of == g);
            }
            let piece = SharedFilter::new(mask.finish()).batch(batch).map_err(|e| LakeError::Input {
                path: source.path.clone(),
                message: format!("splitting the batch by unit failed: {e}"),
            })?;
            Ok((key(&groups[g]), piece))
        })
        .collect()
}

/// The statistics of one unit's piece of a batch; `None` if its BilledCost sum overflows.
fn piece_stats(piece: &RecordBatch) -> Option<UnitStats> {
    let cost: &Decimal128Array = piece.column(index_of(names::BILLED_COST)).as_primitive::<Decimal128Type>();
    let currency = TextValues::of(piece.column(index_of(names::BILLING_CURRENCY)).as_ref())
        .expect("check_schema found a text column");
    let end = piece.column(index_of(names::CHARGE_PERIOD_END)).as_primitive::<TimestampMicrosecondType>();
    let invoice = piece.column(index_of(names::INVOICE_ID));
    // Sums per currency, found through the current run's currency to avoid a map lookup per row
    // (a piece almost always holds one currency).
    let mut sums: Vec<(&str, i128)> = Vec::new();
    let mut last: usize = usize::MAX;
    for i in 0..piece.num_rows() {
        let c = currency.value(i);
        if last == usize::MAX || sums[last].0 != c {
            last = match sums.iter().position(|(s, _)| *s == c) {
                Some(p) => p,
                None => {
                    sums.push((c, 0));
                    sums.len() - 1
                }
            };
        }
        if cost.is_valid(i) {
            sums[last].1 = sums[last].1.checked_add(cost.value(i))?;
        }
    }
    Some(UnitStats {
        rows: piece.num_rows() as u64,
        billed: sums.into_iter().map(|(c, v)| (c.to_string(), v)).collect(),
        watermark: max(end),
        missing_invoice: invoice.null_count() as u64,
    })
}

/// Adds a piece's statistics to its unit's; the caller has checked the sums do not overflow.
fn merge_stats(total: &mut UnitStats, piece: UnitStats) {
    for (c, v) in piece.billed {
        let t = total.billed.entry(c).or_default();
        *t = t.saturating_add(v);
    }
    total.rows += piece.rows;
    total.watermark = match (total.watermark, piece.watermark) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    total.missing_invoice += piece.missing_invoice;
}

fn overflow(source: &SourceRef, key: &UnitKey) -> LakeError {
    LakeError::Input {
        path: source.path.clone(),
        message: format!("the BilledCost total of unit {key} exceeds the range of a 38-digit decimal"),
    }
}

/// An open staging file of one unit, with its row group in progress.
struct OpenFile {
    seq: u32,
    path: PathBuf,
    writer: SerializedFileWriter<File>,
    factory: ArrowRowGroupWriterFactory,
    /// Per Parquet leaf column, the chunk encoder that writes it, if not arrow-rs's.
    kinds: Vec<Option<ChunkKind>>,
    /// Per Parquet leaf column, the index of its top-level column.
    roots: Vec<usize>,
    /// The column writers of the row group in progress, one per Parquet leaf column.
    columns: Option<Vec<Leaf>>,
    /// Per leaf of the row group in progress, whose chunk it is (see [`Mirror`]).
    mirrors: Vec<Mirror>,
    /// Nanoseconds spent encoding each leaf column so far, to schedule the longest first.
    costs: Option<Vec<u64>>,
    row_groups: usize,
    group_rows: usize,
    rows: u64,
    last_used: u64,
}

fn parquet_err(path: &Path, e: impl std::fmt::Display) -> LakeError {
    LakeError::Parquet { path: path.to_path_buf(), message: e.to_string() }
}

/// How the writer thread encodes.
struct Encoding {
    schema: SchemaRef,
    props: WriterProperties,
    row_group_rows: usize,
    row_group_bytes: usize,
    file_rows: u64,
    /// Threads encoding the columns of a batch in parallel (the writer thread and helpers).
    threads: usize,
    memory_budget: usize,
}

/// Pieces smaller than this are encoded on the writer thread alone: starting helpers would cost
/// more than they save.
const PARALLEL_MIN_ROWS: usize = 8 * 1024;

impl OpenFile {
    fn create(path: PathBuf, seq: u32, enc: &Encoding, clock: u64) -> Result<OpenFile, LakeError> {
        let file = File::create(&path).map_err(|e| LakeError::io(&path, e))?;
        // ArrowWriter embeds the Arrow schema in the file metadata, so readers get the lake's exact
        // types back; its lower-level halves let the columns be encoded in parallel.
        let (writer, factory) = ArrowWriter::try_new(file, enc.schema.clone(), Some(enc.props.clone()))
            .and_then(|w| w.into_serialized_writer())
            .map_err(|e| parquet_err(&path, e))?;
        let descr = writer.schema_descr();
        let roots: Vec<usize> = (0..descr.num_columns()).map(|i| descr.get_column_root_idx(i)).collect();
        let kinds = (0..descr.num_columns())
            .map(|i| {
                let leaf = descr.column(i);
                let field = enc.schema.field(descr.get_column_root_idx(i));
                let statistics = enc.props.statistics_enabled(leaf.path()) != EnabledStatistics::None;
                ChunkKind::of(field.data_type(), &leaf, statistics, enc.props.compression(leaf.path()))
            })
            .collect();
        Ok(OpenFile {
            seq,
            path,
            writer,
            factory,
            kinds,
            roots,
            columns: None,
            mirrors: Vec::new(),
            costs: None,
            row_groups: 0,
            group_rows: 0,
            rows: 0,
            last_used: clock,
        })
    }

    /// Encodes the pieces of one unit from one batch, in order, cutting row groups at the row and
    /// byte limits.
    ///
    /// The pieces are encoded together, each column encoding all of them in turn: a batch of two
    /// interleaved billing accounts comes as a dozen small slices per account, and one slice
    /// alone is too little work to share between encoding threads.
    fn write(&mut self, pieces: &[RecordBatch], enc: &Encoding) -> Result<(), LakeError> {
        let mut pending: VecDeque<RecordBatch> =
            pieces.iter().filter(|p| p.num_rows() > 0).cloned().collect();
        while !pending.is_empty() {
            let first = self.columns.is_none();
            if first {
                self.start_row_group(enc)?;
            }
            // The slices that fit in the row group in progress (one that straddles its end is
            // cut), up to one that parts a mirror from its source: a mirror must see the chunk it
            // copies as it was before that slice, so the slice starts the next run.
            let room = enc.row_group_rows - self.group_rows;
            let mut inputs = Vec::new();
            let mut rows = 0;
            while rows < room
                && let Some(piece) = pending.pop_front()
            {
                let take = (room - rows).min(piece.num_rows());
                let leaves = self.leaf_inputs(&piece.slice(0, take), enc)?;
                let columns = self.columns.as_mut().expect("started above");
                if inputs.is_empty() {
                    follow(columns, &mut self.mirrors, &leaves, first);
                } else if parts(columns, &self.mirrors, &leaves) {
                    pending.push_front(piece);
                    break;
                }
                if take < piece.num_rows() {
                    pending.push_front(piece.slice(take, piece.num_rows() - take));
                }
                inputs.push(leaves);
                rows += take;
            }
            let columns = self.columns.as_mut().expect("started above");
            let threads = if rows >= PARALLEL_MIN_ROWS { enc.threads } else { 1 };
            let costs = self.costs.get_or_insert_with(|| vec![0; columns.len()]);
            encode(columns, &self.mirrors, &inputs, threads, costs)
                .map_err(|e| parquet_err(&self.path, e))?;
            self.group_rows += rows;
            self.rows += rows as u64;
            // A mirror's chunk will be as large as the one it copies.
            let bytes: usize = (0..columns.len())
                .map(|i| match self.mirrors[i] {
                    Mirror::Own => columns[i].estimated_bytes(),
                    Mirror::Of(a) => columns[a].estimated_bytes(),
                })
                .sum();
            if self.group_rows >= enc.row_group_rows || bytes >= enc.row_group_bytes {
                self.flush_row_group()?;
            }
        }
        Ok(())
    }

    /// Opens a row group: a column writer per leaf, every leaf its own.
    fn start_row_group(&mut self, enc: &Encoding) -> Result<(), LakeError> {
        let writers =
            self.factory.create_column_writers(self.row_groups).map_err(|e| parquet_err(&self.path, e))?;
        let descr = self.writer.schema_descr();
        let columns = writers.into_iter().zip(&self.kinds).enumerate().map(|(i, (w, kind))| {
            let leaf = descr.column(i);
            match kind {
                Some(k) => Leaf::Chunk(Box::new(
                    ChunkEncoder::new(leaf.clone(), *k, enc.props.compression(leaf.path()))
                        .with_expected_rows(enc.row_group_rows),
                )),
                None => Leaf::Arrow(Box::new(w)),
            }
        });
        self.columns = Some(columns.collect());
        self.mirrors = vec![Mirror::Own; self.kinds.len()];
        Ok(())
    }

    /// What each leaf column is given of `slice`.
    fn leaf_inputs(&self, slice: &RecordBatch, enc: &Encoding) -> Result<Vec<LeafInput>, LakeError> {
        let mut leaves = Vec::with_capacity(self.kinds.len());
        for (field, array) in enc.schema.fields().iter().zip(slice.columns()) {
            let first = leaves.len();
            if self.kinds[first].is_some() {
                // Chunk encoders take the column itself, once per leaf (a map has two).
                let count = self.roots[first..].iter().take_while(|&&r| r == self.roots[first]).count();
                leaves.extend((0..count).map(|_| LeafInput::Array(array.clone())));
            } else {
                let arrow = compute_leaves(field, array).map_err(|e| parquet_err(&self.path, e))?;
                leaves.extend(arrow.into_iter().map(LeafInput::Arrow));
            }
        }
        Ok(leaves)
    }

    /// Memory held by the row group in progress.
    fn buffered_bytes(&self) -> usize {
        self.columns.as_ref().map_or(0, |c| c.iter().map(Leaf::memory_size).sum())
    }

    fn flush_row_group(&mut self) -> Result<(), LakeError> {
        let Some(mut columns) = self.columns.take() else { return Ok(()) };
        for (b, mirror) in std::mem::take(&mut self.mirrors).into_iter().enumerate() {
            if let Mirror::Of(a) = mirror {
                copy_chunk(&mut columns, a, b);
            }
        }
        let path = &self.path;
        let mut group = self.writer.next_row_group().map_err(|e| parquet_err(path, e))?;
        for column in columns {
            match column {
                Leaf::Arrow(w) => {
                    let chunk = w.close().map_err(|e| parquet_err(path, e))?;
                    chunk.append_to_row_group(&mut group).map_err(|e| parquet_err(path, e))?;
                }
                Leaf::Chunk(c) => c.append_to(&mut group).map_err(|e| parquet_err(path, e))?,
            }
        }
        group.close().map_err(|e| parquet_err(path, e))?;
        self.row_groups += 1;
        self.group_rows = 0;
        Ok(())
    }

    /// Finishes the file (footer written) and starts flushing it to disk on a thread of its own,
    /// so that the next file is written meanwhile; the staged file is ready once that thread
    /// succeeds.
    fn close(mut self, unit: usize) -> Result<Syncing, LakeError> {
        self.flush_row_group()?;
        let file = self.writer.into_inner().map_err(|e| parquet_err(&self.path, e))?;
        let bytes = file.metadata().map_err(|e| LakeError::io(&self.path, e))?.len();
        let staged = StagedFile { unit, seq: self.seq, path: self.path, rows: self.rows, bytes };
        let sync = std::thread::Builder::new()
            .name("lake-fsync".into())
            .spawn(move || file.sync_all())
            .map_err(|e| LakeError::io(&staged.path, e))?;
        Ok(Syncing { staged, sync })
    }
}

/// A staging file being flushed to disk.
struct Syncing {
    staged: StagedFile,
    sync: JoinHandle<std::io::Result<()>>,
}

impl Syncing {
    /// The staged file, once it is on disk.
    fn wait(self) -> Result<StagedFile, LakeError> {
        let path = &self.staged.path;
        match self.sync.join() {
            Ok(synced) => synced.map_err(|e| LakeError::io(path, e))?,
            Err(_) => return Err(LakeError::io(path, std::io::Error::other("the fsync thread panicked"))),
        }
        Ok(self.staged)
    }
}

/// A leaf column of the row group in progress: written by [`ChunkEncoder`], several times faster,
/// or by arrow-rs for what it does not handle (another codec, say).
enum Leaf {
    Arrow(Box<ArrowColumnWriter>),
    Chunk(Box<ChunkEncoder>),
}

/// Whose chunk a leaf of the row group in progress is.
///
/// Lake columns often hold the same rows: x_RawTags shares its values with Tags, a bill without
/// discounts has equal BilledCost, EffectiveCost, ListCost and ContractedCost, and usage has
/// equal consumed and priced quantities. A leaf given, since its row group began, exactly what an
/// earlier leaf that encodes like it was given is not encoded: at the end of the row group its
/// chunk is a copy of that leaf's. When its rows first differ, it takes a copy of that leaf's
/// chunk as it was before the batch and goes on alone. Either way its pages are those it would
/// have written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mirror {
    /// Its own chunk.
    Own,
    /// The chunk of that (earlier, `Own`) leaf.
    Of(usize),
}

/// Makes leaf `to`'s chunk a copy of leaf `from`'s (both chunk leaves).
fn copy_chunk(columns: &mut [Leaf], from: usize, to: usize) {
    if let (Leaf::Chunk(source), Leaf::Chunk(own)) = (&columns[from], &columns[to]) {
        columns[to] = Leaf::Chunk(Box::new(source.copy_as(own.descr().clone())));
    }
}

/// Updates `mirrors` for a batch of `leaves` before it is encoded: on the `first` batch of a row
/// group (every chunk still empty) each chunk leaf looks for an earlier one to mirror; a mirror
/// whose rows differ from its source's in this batch takes a copy of the source's chunk and
/// becomes its own.
fn follow(columns: &mut [Leaf], mirrors: &mut [Mirror], leaves: &[LeafInput], first: bool) {
    for b in 0..columns.len() {
        match mirrors[b] {
            Mirror::Of(a) => {
                if parted(columns, leaves, a, b) {
                    copy_chunk(columns, a, b);
                    mirrors[b] = Mirror::Own;
                }
            }
            Mirror::Own if first => {
                let (Leaf::Chunk(own), LeafInput::Array(rows)) = (&columns[b], &leaves[b]) else { continue };
                let found = (0..b).find(|&a| {
                    mirrors[a] == Mirror::Own
                        && matches!((&columns[a], &leaves[a]), (Leaf::Chunk(chunk), LeafInput::Array(source_rows))
                            if chunk.encodes_like(own) && chunk.same_rows(source_rows, rows))
                });
                if let Some(a) = found {
                    mirrors[b] = Mirror::Of(a);
                }
            }
            Mirror::Own => {}
        }
    }
}

/// Whether a batch of `leaves` parts some mirror from the leaf it copies.
fn parts(columns: &[Leaf], mirrors: &[Mirror], leaves: &[LeafInput]) -> bool {
    mirrors.iter().enumerate().any(|(b, m)| matches!(*m, Mirror::Of(a) if parted(columns, leaves, a, b)))
}

/// Whether leaf `b` is given other rows than leaf `a`, whose chunk it mirrors.
fn parted(columns: &[Leaf], leaves: &[LeafInput], a: usize, b: usize) -> bool {
    match (&columns[a], &leaves[a], &leaves[b]) {
        (Leaf::Chunk(chunk), LeafInput::Array(source_rows), LeafInput::Array(rows)) => {
            !chunk.same_rows(source_rows, rows)
        }
        _ => false,
    }
}

/// What one [`Leaf`] is given of a batch: arrow-rs's leaf with its levels, or the column itself.
enum LeafInput {
    Arrow(ArrowLeafColumn),
    Array(ArrayRef),
}

impl Leaf {
    fn write(&mut self, input: &LeafInput) -> datafusion::parquet::errors::Result<()> {
        match (self, input) {
            (Leaf::Arrow(w), LeafInput::Arrow(l)) => w.write(l),
            (Leaf::Chunk(c), LeafInput::Array(a)) => c.write(a),
            _ => Err(datafusion::parquet::errors::ParquetError::General(
                "a lake column was given to the wrong kind of column writer".into(),
            )),
        }
    }

    fn memory_size(&self) -> usize {
        match self {
            Leaf::Arrow(w) => w.memory_size(),
            Leaf::Chunk(c) => c.memory_size(),
        }
    }

    /// Bytes the column will take in the file, roughly, to cut row groups by size.
    fn estimated_bytes(&self) -> usize {
        match self {
            Leaf::Arrow(w) => w.get_estimated_total_bytes(),
            Leaf::Chunk(c) => c.estimated_bytes(),
        }
    }
}

/// Writes each slice's `leaves[i]`, in order, into `columns[i]` for every leaf whose chunk is its
/// own (`mirrors`), on `threads` threads (the calling one included).
///
/// The columns differ in cost by two orders of magnitude (a tag map against a constant string), so
/// a fixed split leaves one thread idle while the other finishes. Each thread takes the next
/// column from one queue, longest first by what the column has cost so far (`costs`, in
/// nanoseconds, updated here), which keeps both busy until the end of the batch.
fn encode(
    columns: &mut [Leaf],
    mirrors: &[Mirror],
    slices: &[Vec<LeafInput>],
    threads: usize,
    costs: &mut [u64],
) -> datafusion::parquet::errors::Result<()> {
    let mut order: Vec<(usize, &mut Leaf)> =
        columns.iter_mut().enumerate().filter(|(i, _)| mirrors[*i] == Mirror::Own).collect();
    order.sort_by_key(|(i, _)| std::cmp::Reverse(costs[*i]));
    let queue = Mutex::new(order.into_iter());
    let work = || -> datafusion::parquet::errors::Result<Vec<(usize, u64)>> {
        let mut spent = Vec::new();
        loop {
            let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
            let Some((i, column)) = next else { return Ok(spent) };
            let started = Instant::now();
            for leaves in slices {
                column.write(&leaves[i])?;
            }
            spent.push((i, started.elapsed().as_nanos() as u64));
        }
    };
    let results: Vec<_> = if threads <= 1 {
        vec![work()]
    } else {
        std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
            let mut results = vec![work()];
            results.extend(helpers.into_iter().map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(datafusion::parquet::errors::ParquetError::General(
                        "a Parquet encoder thread panicked".into(),
                    ))
                })
            }));
            results
        })
    };
    for result in results {
        for (i, nanos) in result? {
            costs[i] += nanos;
        }
    }
    Ok(())
}

fn write_loop(rx: Receiver<Pieces>, dir: &Path, enc: Encoding) -> Result<Vec<StagedFile>, LakeError> {
    let mut open: HashMap<usize, OpenFile> = HashMap::new();
    let mut next_seq: HashMap<usize, u32> = HashMap::new();
    let mut done = Vec::new();
    let mut clock = 0u64;
    for (unit, pieces) in rx {
        clock += 1;
        let mut pieces = &pieces[..];
        while !pieces.is_empty() {
            if !open.contains_key(&unit) {
                if open.len() >= MAX_OPEN_FILES
                    && let Some(&lru) = open.iter().min_by_key(|(_, f)| f.last_used).map(|(u, _)| u)
                    && let Some(f) = open.remove(&lru)
                {
                    done.push(f.close(lru)?);
                }
                let seq = next_seq.entry(unit).or_default();
                let path = dir.join(format!("u{unit}-{seq}.parquet"));
                open.insert(unit, OpenFile::create(path, *seq, &enc, clock)?);
                *seq += 1;
            }
            let f = open.get_mut(&unit).expect("opened above");
            // The file ends after the piece that brings it to its row limit.
            let mut rows = f.rows;
            let fit = 1 + pieces
                .iter()
                .take_while(|p| {
                    rows += p.num_rows() as u64;
                    rows < enc.file_rows
                })
                .count();
            let (now, later) = pieces.split_at(fit.min(pieces.len()));
            f.write(now, &enc)?;
            f.last_used = clock;
            if f.rows >= enc.file_rows
                && let Some(f) = open.remove(&unit)
            {
                done.push(f.close(unit)?);
            }
            pieces = later;
        }
        // Many open units each with a row group in progress could add up: flush the largest ones
        // until the buffered total is back within the budget.
        loop {
            let sizes = open.iter().map(|(u, f)| (f.buffered_bytes(), *u));
            let (total, largest) = sizes.fold((0, None), |(t, l), (b, u)| (t + b, l.max(Some((b, u)))));
            match largest {
                Some((_, u)) if total > enc.memory_budget => {
                    open.get_mut(&u).expect("listed above").flush_row_group()?;
                }
                _ => break,
            }
        }
    }
    for (unit, f) in open {
        done.push(f.close(unit)?);
    }
    done.into_iter().map(Syncing::wait).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_bound_their_instants() {
        let t = costpilot_model::parse_timestamp_micros("2024-02-29T23:59:59Z").unwrap();
        let (from, to, name) = month_bounds(t).unwrap();
        assert_eq!(name, "2024-02");
        assert_eq!(costpilot_model::time::format_micros(from), "2024-02-01T00:00:00Z");
        assert_eq!(costpilot_model::time::format_micros(to), "2024-03-01T00:00:00Z");
    }
}
