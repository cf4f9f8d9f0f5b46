//! The ingest job: billing files into the lake in one transaction.
//!
//! [`ingest`] discovers the files under the paths given, checksums them, reads them, writes their
//! rows through one [`Transaction`] and sums up what it did ([`Summary`]). Reading and writing run
//! on two threads joined by a channel of one batch: one decodes and normalises batches, the other
//! encodes Parquet, so both cores work and memory stays bounded (a batch of the full CUR schema
//! takes tens of megabytes, so every queued batch counts).
//!
//! Any error aborts the transaction, which leaves the lake exactly as it was. So does a delivery
//! that looks wrong as a whole: more bad rows in a unit than [`Options::max_bad_rows`] allows, or
//! a unit that would replace one holding most of its rows or cost with much less (unless
//! [`Options::force`]). Identical files (same checksum) are read once. The command line and a
//! server call the same function; each shows [`Progress`] its own way.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

use costpilot_lake::{Lake, LakeError, Manifest, Outcome, PendingUnit, SourceRef, Transaction};
use costpilot_model::format::thousands;
use costpilot_model::money::{format_units, parse_decimal};
use costpilot_model::progress::{Counting, Progress};
use datafusion::arrow::array::RecordBatch;
use serde::Serialize;

use crate::{Checksums, FileReport, IngestError, ReadOptions, SourceFile, SourceKind};

/// The default of [`Options::max_bad_rows`], in percent: a real export has no bad rows, so a few
/// in a thousand already mean the reading went wrong somewhere.
pub const DEFAULT_MAX_BAD_ROWS: f64 = 0.1;

/// How to ingest.
#[derive(Debug, Clone)]
pub struct Options {
    /// The format of the files ([`SourceKind::Auto`]: told from their columns).
    pub source: SourceKind,
    /// Fail on the first bad row instead of skipping and counting it.
    pub strict: bool,
    /// The largest share of a unit's rows, in percent, that may be bad (skipped) before the
    /// ingest refuses the delivery and leaves the lake as it was.
    pub max_bad_rows: f64,
    /// Replace units even when the new delivery holds less than half of their rows or cost.
    pub force: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { source: SourceKind::Auto, strict: false, max_bad_rows: DEFAULT_MAX_BAD_ROWS, force: false }
    }
}

/// Why an ingest wrote nothing. The lake is as it was in every case.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// No billing file was found under the paths given.
    #[error("no billing files found in {0}")]
    NoFiles(String),
    /// A file could not be read.
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The lake could not be written.
    #[error(transparent)]
    Lake(#[from] LakeError),
    /// The delivery looks wrong as a whole (see [`Options::max_bad_rows`], [`Options::force`]):
    /// what was found, a line each.
    #[error("ingest refused, the lake is unchanged:\n{0}")]
    Refused(String),
    /// The job failed on its own (a thread stopped).
    #[error("{0}")]
    Failed(String),
}

/// A file left unread because an earlier file of the same ingest has the same content.
#[derive(Debug, Serialize)]
pub struct Duplicate {
    /// The file not read.
    pub path: PathBuf,
    /// The file read in its place.
    pub same_as: PathBuf,
}

/// A file under the paths given that the ingest did not read, and why.
#[derive(Debug, Clone, Serialize)]
pub struct PassedOver {
    /// The file.
    pub path: PathBuf,
    /// Why it was not read, and what to do with it instead where something reads it.
    pub reason: String,
}

/// What an ingest did (`costpilot ingest --format json` prints it).
#[derive(Debug, Serialize)]
pub struct Summary {
    /// What was read from each file.
    pub files: Vec<FileReport>,
    /// Rows read from the files.
    pub rows_read: u64,
    /// Rows written to the lake.
    pub rows_kept: u64,
    /// Bad rows skipped.
    pub rows_skipped: u64,
    /// Bad rows skipped, by `column: reason`.
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Values read as nulls in kept rows (columns no cost, key or date depends on), by
    /// `column: reason`.
    pub nulled_by_reason: BTreeMap<String, u64>,
    /// Files not read because an earlier file had the same checksum.
    pub duplicates: Vec<Duplicate>,
    /// Files under the paths given that are not bills (side files, manifests, older
    /// deliveries), with why each was passed over.
    pub passed_over: Vec<PassedOver>,
    /// Units the commit touched.
    pub units: usize,
    /// Units new to the lake.
    pub units_added: usize,
    /// Units that replaced older ones.
    pub units_replaced: usize,
    /// Units left as they were (same sources).
    pub units_unchanged: usize,
    /// Σ BilledCost per currency, in cents.
    pub billed_cost_by_currency: BTreeMap<String, String>,
    /// Seconds taken.
    pub seconds: f64,
    /// Rows written to the lake per second.
    pub rows_per_second: f64,
    /// Megabytes of files read per second.
    pub megabytes_per_second: f64,
    /// True when every file was already ingested, so nothing was read.
    pub unchanged: bool,
    /// Why the commit derived no parts (rollups) for the units it wrote, if it did not; those
    /// rollups stay stale until rebuilt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts_skipped: Option<String>,
}

enum Message {
    Batch(usize, RecordBatch),
    Done(Box<FileReport>),
}

/// Reads the billing files under `paths` into `lake` in one transaction, telling `progress` the
/// bytes read. Files the lake already holds (same checksums, read by the current version of the
/// reading) are not read again. The transaction derives what the lake's observers derive (the
/// rollups, when the lake was opened with them).
pub fn ingest(
    lake: &Lake,
    paths: &[PathBuf],
    options: &Options,
    progress: &dyn Progress,
) -> Result<Summary, JobError> {
    let started = Instant::now();
    let discovery = crate::discover_all(paths, options.source)?;
    let passed_over: Vec<PassedOver> = discovery
        .skipped
        .iter()
        .map(|s| PassedOver { path: s.path.clone(), reason: s.reason.to_string() })
        .collect();
    let files = discovery.files;
    if files.is_empty() {
        return Err(JobError::NoFiles(list(paths)));
    }
    let mut checksums = Checksums::start(files.iter().map(|f| f.path.clone()).collect());
    // The files are new unless every one was ingested before: the first unknown checksum (in a
    // lake without sources, the first file) decides, and the others follow while the files are
    // read.
    let mut known = Vec::new();
    let manifest = lake.manifest()?;
    let ingested = manifest.ingested(Some(crate::READING_VERSION));
    if !ingested.is_empty() {
        loop {
            let Some(sum) = checksums.next() else {
                return Ok(unchanged_summary(started.elapsed(), passed_over));
            };
            let sum = sum?;
            let new = !ingested.contains(sum.as_str());
            known.push(sum);
            if new {
                break;
            }
        }
    }
    let checksums = known.into_iter().map(Ok).chain(checksums);

    let total_bytes: u64 = files.iter().map(|f| f.bytes).sum();
    let read = Arc::new(AtomicU64::new(0));
    progress.start("ingesting", total_bytes, Counting::Bytes);
    let opts = ReadOptions { strict: options.strict, progress: read.clone(), ..ReadOptions::default() };

    let mut tx = lake.begin()?.with_mapping(crate::READING_VERSION);
    let (sender, receiver) = sync_channel::<Result<Message, IngestError>>(1);
    let reader_files = files.clone();
    let reader = std::thread::spawn(move || {
        for (i, file) in reader_files.iter().enumerate() {
            let mut batches = match crate::open(file, &opts) {
                Ok(r) => r,
                Err(e) => {
                    let _ = sender.send(Err(e));
                    return;
                }
            };
            for batch in batches.by_ref() {
                let message = batch.map(|b| Message::Batch(i, b));
                let failed = message.is_err();
                if sender.send(message).is_err() || failed {
                    return;
                }
            }
            if sender.send(Ok(Message::Done(Box::new(batches.report().clone())))).is_err() {
                return;
            }
        }
    });

    let written = write_all(&files, checksums, &receiver, &mut tx, progress, &read);
    // Dropping the receiver unblocks the reader if writing stopped early.
    drop(receiver);
    let joined = reader.join();
    progress.finish();
    let Written { reports, checksums, duplicates } = match (written, joined) {
        (Ok(done), Ok(())) => done,
        (Err(e), _) => {
            tx.abort();
            return Err(e);
        }
        (Ok(_), Err(_)) => {
            tx.abort();
            return Err(JobError::Failed("the reader thread failed unexpectedly".into()));
        }
    };
    if let Err(refusal) = check_delivery(&tx.pending(), &manifest, &reports, &checksums, options) {
        tx.abort();
        return Err(refusal);
    }
    let commit = tx.commit()?;
    let count = |o: Outcome| commit.units.iter().filter(|u| u.outcome == o).count();
    let mut totals: BTreeMap<String, i128> = BTreeMap::new();
    for unit in &commit.units {
        for (currency, text) in &unit.billed_cost {
            *totals.entry(currency.clone()).or_insert(0) +=
                parse_decimal(text).map_err(|e| JobError::Failed(format!("unit {}: {e}", unit.key)))?;
        }
    }

    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let mut skipped_by_reason = BTreeMap::new();
    for r in &reports {
        for (reason, n) in &r.skipped_by_reason {
            *skipped_by_reason.entry(reason.clone()).or_insert(0) += n;
        }
    }
    let mut nulled_by_reason = BTreeMap::new();
    for (reason, n) in reports.iter().flat_map(|r| &r.nulled_by_reason) {
        *nulled_by_reason.entry(reason.clone()).or_insert(0) += n;
    }
    let rows_read: u64 = reports.iter().map(|r| r.rows_read).sum();
    let rows_kept: u64 = reports.iter().map(|r| r.rows_kept).sum();
    let summary = Summary {
        rows_read,
        rows_kept,
        rows_skipped: reports.iter().map(|r| r.rows_skipped()).sum(),
        skipped_by_reason,
        nulled_by_reason,
        duplicates,
        passed_over,
        units: commit.units.len(),
        units_added: count(Outcome::Added),
        units_replaced: count(Outcome::Replaced),
        units_unchanged: count(Outcome::Unchanged),
        billed_cost_by_currency: totals.into_iter().map(|(c, v)| (c, format_units(v, 2))).collect(),
        seconds: elapsed,
        rows_per_second: rows_kept as f64 / elapsed,
        megabytes_per_second: total_bytes as f64 / 1e6 / elapsed,
        unchanged: false,
        parts_skipped: commit.parts_skipped,
        files: reports,
    };
    Ok(summary)
}

/// What [`write_all`] filed.
struct Written {
    /// What reading each file found, duplicates left out.
    reports: Vec<FileReport>,
    /// The checksum of each file that gave rows, by path.
    checksums: HashMap<PathBuf, String>,
    /// Files whose content an earlier file had: their rows were not written.
    duplicates: Vec<Duplicate>,
}

/// Files the batches `receiver` brings into `tx`; `checksums` gives each file's checksum, in
/// order, which the file's first batch waits for. A file with the checksum of an earlier one is
/// the same bill delivered twice (two copies in a folder without a delivery manifest): its rows
/// are not written, so nothing counts twice.
fn write_all(
    files: &[SourceFile],
    mut checksums: impl Iterator<Item = Result<String, IngestError>>,
    receiver: &Receiver<Result<Message, IngestError>>,
    tx: &mut Transaction,
    progress: &dyn Progress,
    read: &AtomicU64,
) -> Result<Written, JobError> {
    let mut sources: Vec<SourceRef> = Vec::with_capacity(files.len());
    let mut first_with: HashMap<String, usize> = HashMap::new();
    let mut copy_of: HashMap<usize, usize> = HashMap::new();
    let mut written = Written { reports: Vec::new(), checksums: HashMap::new(), duplicates: Vec::new() };
    let mut done = 0;
    for message in receiver.iter() {
        match message? {
            Message::Batch(i, batch) => {
                while sources.len() <= i {
                    let n = sources.len();
                    let f = &files[n];
                    let sha256 = checksums
                        .next()
                        .ok_or_else(|| JobError::Failed(format!("{}: no checksum", f.path.display())))??;
                    if let Some(&earlier) = first_with.get(&sha256) {
                        copy_of.insert(n, earlier);
                    } else {
                        first_with.insert(sha256.clone(), n);
                    }
                    written.checksums.insert(f.path.clone(), sha256.clone());
                    sources.push(SourceRef { path: f.path.clone(), sha256, bytes: f.bytes });
                }
                if !copy_of.contains_key(&i) {
                    tx.write(batch, &sources[i])?;
                }
                progress.set(read.load(Ordering::Relaxed));
            }
            Message::Done(report) => {
                match copy_of.get(&done) {
                    Some(&earlier) => written
                        .duplicates
                        .push(Duplicate { path: report.path, same_as: files[earlier].path.clone() }),
                    None => written.reports.push(*report),
                }
                done += 1;
            }
        }
    }
    if done != files.len() {
        return Err(JobError::Failed("reading stopped before every file was read".into()));
    }
    Ok(written)
}

/// Refuses a delivery that looks wrong as a whole, before it replaces anything: a unit with more
/// than `--max-bad-rows` of its rows bad, or, without `--force`, a unit that would replace one of
/// the lake's with less than half of its rows or of its BilledCost in a currency. The error lists
/// what was found; the caller aborts the transaction, so the lake stays as it was.
///
/// A bad row cannot say which unit it belonged to (its account or period may be what is bad), so
/// each file's bad rows are shared among the units it fed in proportion to the rows it gave each;
/// a file that fed no unit (every row bad) counts as a unit of its own.
fn check_delivery(
    pending: &[PendingUnit],
    manifest: &Manifest,
    reports: &[FileReport],
    checksums: &HashMap<PathBuf, String>,
    options: &Options,
) -> Result<(), JobError> {
    let by_sha: HashMap<&str, &FileReport> =
        reports.iter().filter_map(|r| Some((checksums.get(&r.path)?.as_str(), r))).collect();
    let mut refusals = Vec::new();
    let mut check = |what: String, kept: u64, shares: Vec<(&FileReport, f64)>| {
        let bad: f64 = shares.iter().map(|(r, share)| r.rows_skipped() as f64 * share).sum();
        let read = kept as f64 + bad;
        // A share exactly at the limit passes, whatever the rounding of the proportions.
        if bad == 0.0 || bad * 100.0 <= options.max_bad_rows * read * (1.0 + 1e-9) {
            return;
        }
        let mut reasons: BTreeMap<&str, f64> = BTreeMap::new();
        for (r, share) in &shares {
            for (reason, n) in &r.skipped_by_reason {
                *reasons.entry(reason).or_default() += *n as f64 * share;
            }
        }
        let mut text = format!(
            "{} of {} rows ({:.2} %) {what} are bad, more than --max-bad-rows {} %:",
            bad.round(),
            read.round(),
            bad * 100.0 / read,
            options.max_bad_rows
        );
        for (reason, n) in reasons {
            text.push_str(&format!("\n  {} × {reason}", n.round()));
        }
        refusals.push(text);
    };
    for unit in pending {
        let shares = unit
            .sources
            .iter()
            .filter_map(|(sha, rows)| {
                let report = by_sha.get(sha.as_str())?;
                Some((*report, *rows as f64 / report.rows_kept.max(1) as f64))
            })
            .collect();
        check(format!("of unit {}", unit.key), unit.rows, shares);
    }
    let fed: std::collections::HashSet<&str> =
        pending.iter().flat_map(|u| u.sources.keys().map(String::as_str)).collect();
    let unfed =
        reports.iter().filter(|r| checksums.get(&r.path).is_none_or(|sha| !fed.contains(sha.as_str())));
    for report in unfed.filter(|r| r.rows_skipped() > 0) {
        check(format!("of {}", report.path.display()), 0, vec![(report, 1.0)]);
    }
    if !options.force {
        for unit in pending {
            let Some(old) = manifest.unit(&unit.key) else { continue };
            let lost_rows = unit.rows * 2 < old.rows;
            let lost_cost = old.billed_cost.keys().any(|currency| {
                let was = old.billed_cost_units(currency).unwrap_or(0);
                let now = unit.billed_cost.get(currency).copied().unwrap_or(0);
                now.unsigned_abs() * 2 < was.unsigned_abs()
            });
            if lost_rows || lost_cost {
                refusals.push(format!(
                    "unit {} would go from {} rows ({}) to {} rows ({}), losing more than half; \
                     pass --force to replace it anyway",
                    unit.key,
                    thousands(old.rows),
                    money(old.billed_cost.iter().map(|(c, v)| (c.clone(), parse_decimal(v).unwrap_or(0)))),
                    thousands(unit.rows),
                    money(unit.billed_cost.clone()),
                ));
            }
        }
    }
    if refusals.is_empty() {
        return Ok(());
    }
    Err(JobError::Refused(refusals.join("\n")))
}

/// Amounts per currency as "2,589.37 USD, 10.00 EUR" ("0" for none).
fn money(amounts: impl IntoIterator<Item = (String, i128)>) -> String {
    let text: Vec<String> = amounts.into_iter().map(|(c, v)| format!("{} {c}", format_units(v, 2))).collect();
    if text.is_empty() { "0".into() } else { text.join(", ") }
}

fn unchanged_summary(elapsed: Duration, passed_over: Vec<PassedOver>) -> Summary {
    Summary {
        files: Vec::new(),
        rows_read: 0,
        rows_kept: 0,
        rows_skipped: 0,
        skipped_by_reason: BTreeMap::new(),
        nulled_by_reason: BTreeMap::new(),
        duplicates: Vec::new(),
        passed_over,
        units: 0,
        units_added: 0,
        units_replaced: 0,
        units_unchanged: 0,
        billed_cost_by_currency: BTreeMap::new(),
        seconds: elapsed.as_secs_f64(),
        rows_per_second: 0.0,
        megabytes_per_second: 0.0,
        unchanged: true,
        parts_skipped: None,
    }
}

fn list(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}
