//! Finding source files, telling their formats apart by their columns, and honouring the delivery
//! manifests AWS writes beside its exports.
//!
//! # Discovery
//! [`discover`] walks the folders it is given recursively, in name order. It skips hidden entries
//! (names starting with `.`, or `_` as Spark and Hive mark theirs), JSON and other files that are
//! not data (`.sql`, `.yml`, `.md`, `.txt`, ...), and the `cost_and_usage_data_status` table legacy
//! CUR writes for Athena (a table whose only column is `status`). Each remaining file gets its
//! container from its first bytes and its format from its columns (CSV header, also inside gzip;
//! Parquet schema), never from its name. [`Checksums`] streams each file's SHA-256 on threads of
//! their own, in order, so that an ingest need not wait for them before it starts reading.
//!
//! A format is recognised by at least two of its marker columns ([`CUR2_MARKERS`],
//! [`LEGACY_MARKERS`], [`FOCUS_MARKERS`]; FOCUS names of any version and their old aliases count).
//! With `--source auto` a file that shows none is refused with [`IngestError::UnknownFormat`];
//! with an explicit format, a file whose columns clearly belong to another one is refused with
//! [`IngestError::FormatMismatch`].
//!
//! Found in a folder, a file that is clearly not a bill is passed over instead: the side files a
//! bill comes with (a CMDB export, CloudWatch or business metrics, as `costpilot generate` writes
//! them beside its bill) told by their own columns, and any table whose header names none of the
//! marker columns of any format. [`discover_all`] lists every file passed over with a
//! [`SkipReason`], the JSON, manifests and other files it never read as data too. A file that may
//! be a bill is still refused: a file named as an argument, a file a delivery manifest lists, an
//! empty file, one whose first row is not a header of names (a CSV without its header), or one
//! with a single marker column.
//!
//! # Delivery manifests
//! AWS delivers a billing period many times a month, and both of its layouts carry a manifest
//! naming the files of the current delivery:
//!
//! - AWS Data Exports (CUR 2.0, and FOCUS from AWS):
//!   `<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json` describes the folder
//!   `<export>/data/BILLING_PERIOD=YYYY-MM/`. Its `dataFiles` lists the delivery's files as `s3://`
//!   URIs; `executionId` names the delivery.
//! - Legacy CUR: `<report>/<yyyymmdd-yyyymmdd>/<report>-Manifest.json` describes the period
//!   folder, which holds one `<assemblyId>/` folder per delivery. Its `reportKeys` lists the files
//!   as S3 keys; `assemblyId` names the delivery. Each assembly folder keeps a copy of its own
//!   manifest, which the period's manifest overrides. The overwrite layout (`year=YYYY/month=MM/`)
//!   keeps the manifest beside its files.
//!
//! A manifest governs its folder: from it exactly the listed files are read, and every other data
//! file in it (older deliveries) is skipped. A listed file that is absent refuses the period with
//! [`IngestError::Manifest`], so that a partial period never replaces a complete one; so does
//! naming, as a file argument, a data file the manifest does not list. Neither manifest format
//! records row counts or file sizes (AWS documents the columns, the file list and the period), so
//! the file list is what is checked. Manifests are looked for in the folders walked and, for each
//! data file, where AWS puts them (the sibling `metadata/` folder of a `data/BILLING_PERIOD=`
//! folder, a legacy period or assembly folder), so naming just one period's data folder works too.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;

use costpilot_model::{column, names};
use sha2::{Digest, Sha256};

use crate::raw::{Container, RawOptions, RawReader};
use crate::{IngestError, business, metrics};

/// The format of a billing source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// Tell from the columns.
    Auto,
    /// AWS CUR 2.0 (Data Exports).
    Cur2,
    /// Legacy AWS CUR (`lineItem/UnblendedCost` headers).
    CurLegacy,
    /// FOCUS 1.0–1.3 from any provider.
    Focus,
}

impl SourceKind {
    /// Parses a `--source` value: "auto", "cur2", "cur-legacy" or "focus" (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Self::Auto),
            "cur2" => Some(Self::Cur2),
            "cur-legacy" => Some(Self::CurLegacy),
            "focus" => Some(Self::Focus),
            _ => None,
        }
    }

    /// The `--source` value naming this format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Cur2 => "cur2",
            Self::CurLegacy => "cur-legacy",
            Self::Focus => "focus",
        }
    }

    /// The format's name in messages, e.g. "CUR 2.0".
    pub fn label(self) -> &'static str {
        match self {
            Self::Auto => "any format",
            Self::Cur2 => "CUR 2.0",
            Self::CurLegacy => "legacy CUR",
            Self::Focus => "FOCUS",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One file to ingest, with its resolved format and checksum.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The file.
    pub path: PathBuf,
    /// Its format (never `Auto`).
    pub kind: SourceKind,
    /// Its container (Parquet, CSV, CSV.gz).
    pub container: Container,
    /// Its size in bytes.
    pub bytes: u64,
    /// The delivery it belongs to, when a manifest governs its folder.
    pub delivery: Option<Arc<Delivery>>,
}

/// Which manifest layout a delivery was described by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestLayout {
    /// AWS Data Exports (`dataFiles`, `executionId`).
    DataExports,
    /// Legacy CUR (`reportKeys`, `assemblyId`).
    LegacyCur,
}

/// One delivery of an export, as its manifest describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The manifest file.
    pub manifest: PathBuf,
    /// The manifest's layout.
    pub layout: ManifestLayout,
    /// The delivery's id: the `executionId` or `assemblyId`, when the manifest has one.
    pub id: Option<String>,
    /// The billing period as "YYYY-MM", when the manifest or its folder tells it.
    pub billing_period: Option<String>,
    /// The data files the delivery consists of, as local paths, in the manifest's order.
    pub files: Vec<PathBuf>,
}

/// Columns that mark AWS CUR 2.0 (Data Exports) files.
pub const CUR2_MARKERS: &[&str] = &[
    "line_item_line_item_type",
    "line_item_unblended_cost",
    "bill_payer_account_id",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_usage_account_id",
    "line_item_product_code",
    "bill_billing_period_start_date",
    "identity_line_item_id",
    "identity_time_interval",
];

/// Columns that mark legacy AWS CUR files (compared ignoring case).
pub const LEGACY_MARKERS: &[&str] = &[
    "lineItem/LineItemType",
    "lineItem/UnblendedCost",
    "identity/LineItemId",
    "bill/PayerAccountId",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
    "lineItem/UsageAccountId",
    "lineItem/ProductCode",
    "bill/BillingPeriodStartDate",
    "identity/TimeInterval",
];

/// FOCUS columns that mark FOCUS files, by canonical name (any version's name or alias counts).
pub const FOCUS_MARKERS: &[&str] = &[
    names::BILLED_COST,
    names::CHARGE_PERIOD_START,
    names::BILLING_ACCOUNT_ID,
    names::EFFECTIVE_COST,
    names::CHARGE_PERIOD_END,
    names::BILLING_PERIOD_START,
    names::BILLING_PERIOD_END,
    names::BILLING_CURRENCY,
    names::CHARGE_CATEGORY,
    names::LIST_COST,
    names::CONTRACTED_COST,
];

/// How many marker columns a file needs before it counts as a format.
const MIN_MARKERS: usize = 2;

/// Extensions of plain-text files that are never billing data.
const NOT_DATA: &[&str] = &[
    "json", "sql", "yml", "yaml", "md", "txt", "log", "html", "htm", "xml", "sh", "py", "toml", "ini", "cfg",
    "crc",
];

/// What discovery found under the paths it was given.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// The bill files to read, as [`discover`] returns them.
    pub files: Vec<SourceFile>,
    /// Every other file met (hidden entries aside), in path order, with why it is not read.
    pub skipped: Vec<Skipped>,
}

/// A file discovery met and does not read as a bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The file, as found (under the folder walked, or as named).
    pub path: PathBuf,
    /// Why it is not read.
    pub reason: SkipReason,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// Why discovery does not read a file as a bill. `Display` gives a sentence for the user, saying
/// which command loads the file where one does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    /// A CMDB export (columns `kind` and `id`), read by `costpilot rules apply cmdb`.
    Cmdb,
    /// Business metrics (columns `name`, `timestamp` and `value`), read by `costpilot metrics
    /// import`.
    BusinessMetrics,
    /// CloudWatch utilisation metrics in the long CSV ([`metrics::CSV_COLUMNS`]).
    UtilisationMetrics,
    /// A table whose header names no marker column of CUR 2.0, legacy CUR or FOCUS.
    NotABill,
    /// Legacy CUR's refresh-status table for Athena (a `status` column alone).
    StatusTable,
    /// A delivery manifest: it is read to choose the files of the current delivery.
    Manifest,
    /// A data file of an earlier delivery: the governing manifest does not list it.
    NotInDelivery {
        /// The manifest of the current delivery.
        manifest: PathBuf,
    },
    /// JSON that is not a delivery manifest (inventory, `truth.json`, a Redshift manifest, ...).
    Json,
    /// A file whose extension says it is not data (`.yaml`, `.md`, `.sql`, ...).
    NotData,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cmdb => {
                f.write_str("a CMDB export: put it in force with `costpilot rules apply cmdb <file>`")
            }
            Self::BusinessMetrics => {
                f.write_str("business metrics: import them with `costpilot metrics import <file>`")
            }
            Self::UtilisationMetrics => f.write_str(
                "CloudWatch utilisation metrics, not a bill (no costpilot command loads them yet)",
            ),
            Self::NotABill => f.write_str("not a bill: none of the columns of CUR 2.0, legacy CUR or FOCUS"),
            Self::StatusTable => f.write_str("legacy CUR's refresh-status table, not billing data"),
            Self::Manifest => f.write_str(
                "a delivery manifest: the files of the delivery it names are read, not the manifest",
            ),
            Self::NotInDelivery { manifest } => {
                write!(f, "not in the current delivery: {} does not list it", manifest.display())
            }
            Self::Json => f.write_str("JSON that is not a delivery manifest, not a bill"),
            Self::NotData => f.write_str("not billing data, by its extension"),
        }
    }
}

/// Finds the files under `paths` (files or folders) and resolves their formats: the files of
/// [`discover_all`], without the list of those passed over.
pub fn discover(paths: &[PathBuf], kind: SourceKind) -> Result<Vec<SourceFile>, IngestError> {
    discover_all(paths, kind).map(|d| d.files)
}

/// Finds the files under `paths` (files or folders), resolves their formats, and lists the files
/// it passes over with the reason for each.
///
/// Files come in the order of `paths`, folders walked in name order; the listed files of a
/// manifest that no walked file reached come after. Each file appears once.
pub fn discover_all(paths: &[PathBuf], kind: SourceKind) -> Result<Discovery, IngestError> {
    let mut found = Found::default();
    for p in paths {
        let meta = fs::metadata(p).map_err(|e| IngestError::io(p, e))?;
        if meta.is_dir() {
            walk(p, &mut found)?;
        } else {
            match classify(p)? {
                Class::Data => found.data.push((p.clone(), true)),
                Class::Manifest => found.manifests.push(p.clone()),
                Class::Other => found.skip(p.clone(), SkipReason::Json),
            }
        }
    }

    let deliveries = Deliveries::load(&found)?;
    let mut skipped = std::mem::take(&mut found.skipped);
    for manifest in &found.manifests {
        let reason = if deliveries.manifests.contains(&normalise(manifest)) {
            SkipReason::Manifest
        } else {
            SkipReason::Json
        };
        skipped.push(Skipped { path: manifest.clone(), reason });
    }
    let explicit: HashSet<PathBuf> =
        found.data.iter().filter(|(_, explicit)| *explicit).map(|(file, _)| normalise(file)).collect();

    let mut chosen: Vec<(PathBuf, Option<Arc<Delivery>>)> = Vec::new();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    for (file, explicit) in &found.data {
        let key = normalise(file);
        match deliveries.governing(&key) {
            None => {
                if seen.insert(key) {
                    chosen.push((file.clone(), None));
                }
            }
            Some(g) if g.listed.contains(&key) => {
                if seen.insert(key) {
                    chosen.push((file.clone(), Some(g.delivery.clone())));
                }
            }
            Some(g) if *explicit => {
                let id = g.delivery.id.as_deref().map(|i| format!(" {i}")).unwrap_or_default();
                return Err(IngestError::Manifest {
                    path: g.delivery.manifest.clone(),
                    message: format!(
                        "does not list {}: it is not part of the current delivery{id}; name its folder to \
                         ingest the current delivery",
                        file.display()
                    ),
                });
            }
            Some(g) => skipped.push(Skipped {
                path: file.clone(),
                reason: SkipReason::NotInDelivery { manifest: g.delivery.manifest.clone() },
            }),
        }
    }
    for g in &deliveries.active {
        for file in &g.delivery.files {
            if seen.insert(normalise(file)) {
                chosen.push((file.clone(), Some(g.delivery.clone())));
            }
        }
    }

    let mut files = Vec::with_capacity(chosen.len());
    for (path, delivery) in chosen {
        let container = Container::sniff(&path)?;
        let columns = column_names(&path, container)?;
        let detected = detect(&columns);
        // Only a file found in a folder may be passed over: one named, or listed by a manifest,
        // is meant to be a bill, and a broken bill must fail loudly.
        let may_pass_over = delivery.is_none() && !explicit.contains(&normalise(&path));
        if detected == Detected::Unknown
            && may_pass_over
            && let Some(reason) = not_a_bill(&columns)
        {
            skipped.push(Skipped { path, reason });
            continue;
        }
        let Some(kind) = resolve_kind(kind, detected, &path, &columns)? else {
            skipped.push(Skipped { path, reason: SkipReason::StatusTable });
            continue;
        };
        let bytes = fs::metadata(&path).map_err(|e| IngestError::io(&path, e))?.len();
        files.push(SourceFile { path, kind, container, bytes, delivery });
    }
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    skipped.dedup_by(|a, b| normalise(&a.path) == normalise(&b.path));
    Ok(Discovery { files, skipped })
}

/// Why a table no format claims (fewer than [`MIN_MARKERS`] marker columns) is clearly not a bill,
/// or `None` when it may be one: a side file told by its own columns, or a header of names none
/// of which is a marker column. A first row with a name that does not start with a letter (a
/// date, an amount, an account id) is data, so the file may be a bill without its header.
fn not_a_bill(columns: &[String]) -> Option<SkipReason> {
    let names: Vec<String> =
        columns.iter().map(|c| c.trim_start_matches('\u{feff}').trim().to_lowercase()).collect();
    let has = |column: &str| names.iter().any(|n| n == column);
    if metrics::CSV_COLUMNS.iter().all(|c| has(c)) {
        Some(SkipReason::UtilisationMetrics)
    } else if business::REQUIRED.iter().all(|c| has(c)) {
        Some(SkipReason::BusinessMetrics)
    } else if has("kind") && has("id") {
        Some(SkipReason::Cmdb)
    } else if !names.is_empty()
        && names.iter().all(|n| n.starts_with(char::is_alphabetic))
        && markers(columns).iter().all(|(_, m)| m.is_empty())
    {
        Some(SkipReason::NotABill)
    } else {
        None
    }
}

/// The SHA-256 of each of a list of files, hex, in the list's order, streamed on one thread per
/// core that start at once and stay a few files ahead of the caller.
///
/// The checksums tell an unchanged bill, and record where a unit's rows came from. An ingest into
/// a lake that holds none of them starts reading at once and meets each file's checksum long
/// before it has read the file (hashing runs at a gigabyte a second or more, reading a CUR file at
/// a tenth of that); hashing everything first would leave both cores on it for a third of a second
/// per gigabyte. Dropping the iterator stops the threads after the file each is on.
pub struct Checksums {
    paths: Arc<Vec<PathBuf>>,
    results: Receiver<(usize, Result<String, IngestError>)>,
    ready: BTreeMap<usize, Result<String, IngestError>>,
    next: usize,
}

impl Checksums {
    /// Starts hashing `paths`.
    pub fn start(paths: Vec<PathBuf>) -> Checksums {
        let paths = Arc::new(paths);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(paths.len());
        // A thread waits while as many checksums as there are threads are waiting to be taken, so
        // that hashing stays a few files ahead of the reading: the reader then finds each file
        // still in the page cache, where hashing a large delivery to its end first could have
        // pushed the early files out.
        let (tx, results) = std::sync::mpsc::sync_channel(threads);
        let claimed = Arc::new(AtomicUsize::new(0));
        for _ in 0..threads {
            let (paths, tx, claimed) = (paths.clone(), tx.clone(), claimed.clone());
            let spawned = std::thread::Builder::new().name("checksum".into()).spawn(move || {
                loop {
                    let i = claimed.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = paths.get(i) else { return };
                    if tx.send((i, hash(path))).is_err() {
                        return;
                    }
                }
            });
            // A thread that cannot start leaves its files to the others; with none, `next` says so.
            drop(spawned);
        }
        Checksums { paths, results, ready: BTreeMap::new(), next: 0 }
    }
}

impl Iterator for Checksums {
    type Item = Result<String, IngestError>;

    /// The next file's checksum, waiting for it if need be.
    fn next(&mut self) -> Option<Self::Item> {
        let path = self.paths.get(self.next)?;
        while !self.ready.contains_key(&self.next) {
            match self.results.recv() {
                Ok((i, sum)) => {
                    self.ready.insert(i, sum);
                }
                Err(_) => {
                    self.next += 1;
                    return Some(Err(IngestError::io(
                        path,
                        std::io::Error::other("no checksum thread is left"),
                    )));
                }
            }
        }
        let sum = self.ready.remove(&self.next);
        self.next += 1;
        sum
    }
}

#[derive(Default)]
struct Found {
    /// Data files, and whether each was named as an argument (rather than found in a folder).
    data: Vec<(PathBuf, bool)>,
    /// Manifest files met while walking.
    manifests: Vec<PathBuf>,
    /// Files that are neither, with the reason.
    skipped: Vec<Skipped>,
    /// Folders already walked (canonical), so that a symlink loop or a repeated argument is walked once.
    walked: HashSet<PathBuf>,
}

impl Found {
    fn skip(&mut self, path: PathBuf, reason: SkipReason) {
        self.skipped.push(Skipped { path, reason });
    }
}

enum Class {
    Data,
    Manifest,
    Other,
}

fn walk(dir: &Path, found: &mut Found) -> Result<(), IngestError> {
    let canonical = fs::canonicalize(dir).map_err(|e| IngestError::io(dir, e))?;
    if !found.walked.insert(canonical) {
        return Ok(());
    }
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| IngestError::io(dir, e))? {
        entries.push(entry.map_err(|e| IngestError::io(dir, e))?.path());
    }
    entries.sort();
    for path in entries {
        if is_hidden(&path) {
            continue;
        }
        let meta = fs::metadata(&path).map_err(|e| IngestError::io(&path, e))?;
        if meta.is_dir() {
            walk(&path, found)?;
        } else if meta.is_file() {
            match classify(&path)? {
                Class::Data if !has_extension(&path, NOT_DATA) => found.data.push((path, false)),
                Class::Data => found.skip(path, SkipReason::NotData),
                Class::Manifest => found.manifests.push(path),
                Class::Other => found.skip(path, SkipReason::Json),
            }
        }
    }
    Ok(())
}

fn is_hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.') || n.starts_with('_'))
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

fn is_manifest_name(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.to_ascii_lowercase().ends_with("-manifest.json"))
}

/// Sorts a file into data, manifest or neither, from its name only for manifests and from its
/// first bytes otherwise.
fn classify(path: &Path) -> Result<Class, IngestError> {
    if is_manifest_name(path) {
        return Ok(Class::Manifest);
    }
    let mut head = [0u8; 512];
    let n = {
        let mut f = File::open(path).map_err(|e| IngestError::io(path, e))?;
        let mut n = 0;
        loop {
            match f.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => {
                    n += k;
                    if n == head.len() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(IngestError::io(path, e)),
            }
        }
        n
    };
    let head = &head[..n];
    if head.starts_with(b"PK\x03\x04") {
        return Err(IngestError::UnknownFormat {
            path: path.into(),
            detail: "it is a ZIP archive; unzip it and ingest the CSV inside".into(),
        });
    }
    if head.starts_with(b"PAR1") || head.starts_with(&[0x1f, 0x8b]) {
        return Ok(Class::Data);
    }
    let text = head.strip_prefix("\u{feff}".as_bytes()).unwrap_or(head);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | Some(b'[') => Ok(Class::Other),
        _ => Ok(Class::Data),
    }
}

/// A path made absolute and, where it exists, free of symlinks, so two spellings of one file compare equal.
fn normalise(path: &Path) -> PathBuf {
    fs::canonicalize(path)
        .unwrap_or_else(|_| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// A manifest with the folder it governs and its listed files, normalised for comparison.
struct Governed {
    delivery: Arc<Delivery>,
    scope: PathBuf,
    listed: HashSet<PathBuf>,
}

/// The manifests that govern the files found: only the outermost manifest of a folder counts.
struct Deliveries {
    active: Vec<Governed>,
    /// Every delivery manifest read (normalised), governing or not.
    manifests: HashSet<PathBuf>,
}

impl Deliveries {
    fn load(found: &Found) -> Result<Self, IngestError> {
        let mut candidates: Vec<PathBuf> = found.manifests.clone();
        let mut looked: HashSet<PathBuf> = HashSet::new();
        for (file, _) in &found.data {
            for dir in manifest_folders(file) {
                if looked.insert(normalise(&dir)) {
                    candidates.extend(manifests_in(&dir)?);
                }
            }
        }
        let mut seen = HashSet::new();
        let mut all: Vec<Governed> = Vec::new();
        let mut manifests = HashSet::new();
        for path in candidates {
            let key = normalise(&path);
            if !seen.insert(key.clone()) {
                continue;
            }
            if let Some((delivery, scope)) = read_manifest(&path)? {
                let listed = delivery.files.iter().map(|f| normalise(f)).collect();
                all.push(Governed { delivery: Arc::new(delivery), scope: normalise(&scope), listed });
                manifests.insert(key);
            }
        }
        for (i, a) in all.iter().enumerate() {
            if let Some(b) = all[i + 1..].iter().find(|b| b.scope == a.scope) {
                return Err(IngestError::Manifest {
                    path: a.delivery.manifest.clone(),
                    message: format!(
                        "{} describes the same folder {}; keep one of them",
                        b.delivery.manifest.display(),
                        a.scope.display()
                    ),
                });
            }
        }
        let outer: Vec<bool> = all
            .iter()
            .map(|a| !all.iter().any(|b| b.scope != a.scope && a.scope.starts_with(&b.scope)))
            .collect();
        let active: Vec<Governed> = all.into_iter().zip(outer).filter(|(_, o)| *o).map(|(g, _)| g).collect();
        for g in &active {
            let missing: Vec<&PathBuf> = g.delivery.files.iter().filter(|f| !f.is_file()).collect();
            if !missing.is_empty() {
                let id = g.delivery.id.as_deref().map(|i| format!(" {i}")).unwrap_or_default();
                let names: Vec<String> = missing
                    .iter()
                    .map(|f| f.strip_prefix(&g.scope).unwrap_or(f).display().to_string())
                    .collect();
                return Err(IngestError::Manifest {
                    path: g.delivery.manifest.clone(),
                    message: format!(
                        "lists {} data file(s) of delivery{id}; {} missing from {}: {}; refusing to ingest a \
                         partial billing period",
                        g.delivery.files.len(),
                        missing.len(),
                        g.scope.display(),
                        names.join(", ")
                    ),
                });
            }
        }
        Ok(Self { active, manifests })
    }

    /// The manifest governing a (normalised) file: the one with the outermost folder holding it.
    fn governing(&self, file: &Path) -> Option<&Governed> {
        self.active.iter().find(|g| file.starts_with(&g.scope))
    }
}

/// The folders where AWS would have put the manifest of a data file's delivery.
fn manifest_folders(file: &Path) -> Vec<PathBuf> {
    let file = normalise(file);
    let ancestors: Vec<&Path> = file.ancestors().skip(1).take(4).collect();
    let name = |p: &Path| p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
    let mut out = Vec::new();
    for (i, dir) in ancestors.iter().enumerate() {
        let n = name(dir);
        // Data Exports: <export>/data/BILLING_PERIOD=X/... has its manifest in <export>/metadata/BILLING_PERIOD=X/.
        if n.starts_with("BILLING_PERIOD=")
            && let Some(data) = dir.parent()
            && name(data) == "data"
            && let Some(export) = data.parent()
        {
            out.push(export.join("metadata").join(&n));
        }
        // Legacy CUR: the period folder and an assembly folder directly below it, or month=MM.
        if i <= 1 && (is_legacy_period(&n) || n.starts_with("month=")) {
            out.push(dir.to_path_buf());
            if i == 1 {
                out.push(ancestors[0].to_path_buf());
            }
        }
    }
    out
}

/// True for a legacy CUR period folder name, `yyyymmdd-yyyymmdd`.
fn is_legacy_period(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 17 && b[8] == b'-' && b.iter().enumerate().all(|(i, c)| i == 8 || c.is_ascii_digit())
}

fn manifests_in(dir: &Path) -> Result<Vec<PathBuf>, IngestError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| IngestError::io(dir, e))?.path();
        if !is_hidden(&path) && is_manifest_name(&path) && path.is_file() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Reads a manifest: its delivery and the folder it governs, or `None` for JSON that is not a
/// delivery manifest (such as legacy CUR's `RedshiftManifest.json`).
fn read_manifest(path: &Path) -> Result<Option<(Delivery, PathBuf)>, IngestError> {
    let bad = |message: String| IngestError::Manifest { path: path.into(), message };
    let text = fs::read_to_string(path).map_err(|e| IngestError::io(path, e))?;
    let value: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let Some(obj) = value.as_object() else {
        return Ok(None);
    };
    let (layout, list_key, id_key) = if obj.contains_key("dataFiles") {
        (ManifestLayout::DataExports, "dataFiles", "executionId")
    } else if obj.contains_key("reportKeys") {
        (ManifestLayout::LegacyCur, "reportKeys", "assemblyId")
    } else {
        return Ok(None);
    };
    let keys: Vec<&str> = obj[list_key]
        .as_array()
        .and_then(|a| a.iter().map(|v| v.as_str()).collect())
        .ok_or_else(|| bad(format!("'{list_key}' is not a list of file names")))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let dir_name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let scope = match layout {
        ManifestLayout::DataExports => match dir.parent() {
            Some(meta)
                if dir_name.starts_with("BILLING_PERIOD=")
                    && meta.file_name().is_some_and(|n| n == "metadata") =>
            {
                meta.parent().unwrap_or(Path::new(".")).join("data").join(dir_name)
            }
            _ => dir.to_path_buf(),
        },
        ManifestLayout::LegacyCur => dir.to_path_buf(),
    };
    let billing_period = match layout {
        ManifestLayout::DataExports => dir_name
            .strip_prefix("BILLING_PERIOD=")
            .or_else(|| {
                keys.iter().find_map(|k| k.split('/').find_map(|c| c.strip_prefix("BILLING_PERIOD=")))
            })
            .map(str::to_string),
        ManifestLayout::LegacyCur => obj
            .get("billingPeriod")
            .and_then(|p| p.get("start"))
            .and_then(|s| s.as_str())
            .filter(|s| s.len() >= 6 && s.as_bytes()[..6].iter().all(u8::is_ascii_digit))
            .map(|s| format!("{}-{}", &s[..4], &s[4..6])),
    };
    let files = keys.iter().map(|k| local_path(&scope, k).map_err(&bad)).collect::<Result<Vec<_>, _>>()?;
    let id = obj.get(id_key).and_then(|v| v.as_str()).map(str::to_string);
    Ok(Some((Delivery { manifest: path.to_path_buf(), layout, id, billing_period, files }, scope)))
}

/// Where a listed S3 key lies locally: the part of the key below the governed folder's own name
/// (`BILLING_PERIOD=2024-09`, `20240901-20241001`, an assembly id), placed under that folder.
fn local_path(scope: &Path, key: &str) -> Result<PathBuf, String> {
    let key = match key.strip_prefix("s3://") {
        Some(rest) => rest.split_once('/').map(|(_, k)| k).unwrap_or(""),
        None => key,
    };
    let parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.contains(&"..") {
        return Err(format!("lists '{key}', which climbs out of its folder"));
    }
    let anchor = scope.file_name().and_then(|n| n.to_str());
    let below = match anchor.and_then(|a| parts.iter().rposition(|p| *p == a)) {
        Some(i) => &parts[i + 1..],
        None => &parts[parts.len().saturating_sub(1)..],
    };
    if below.is_empty() {
        return Err(format!("lists '{key}', which names no file"));
    }
    Ok(below.iter().fold(scope.to_path_buf(), |p, c| p.join(c)))
}

/// What a file's columns say about its format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detected {
    /// The columns belong to this format; the marker columns seen, as the file spells them.
    Format(SourceKind, Vec<String>),
    /// The columns show markers of two formats equally.
    Ambiguous(SourceKind, SourceKind),
    /// The columns are legacy CUR's refresh-status table (`status` alone), not billing data.
    Status,
    /// No format has enough marker columns.
    Unknown,
}

/// Tells a file's format from its column names.
pub fn detect(columns: &[String]) -> Detected {
    if columns.len() == 1 && columns[0].eq_ignore_ascii_case("status") {
        return Detected::Status;
    }
    let mut scores = markers(columns);
    scores.sort_by_key(|(_, m)| std::cmp::Reverse(m.len()));
    let [(best, best_markers), (second, second_markers), _] = scores;
    if best_markers.len() < MIN_MARKERS {
        Detected::Unknown
    } else if best_markers.len() == second_markers.len() {
        Detected::Ambiguous(best, second)
    } else {
        Detected::Format(best, best_markers)
    }
}

/// The marker columns of each format among `columns`, as the file spells them.
fn markers(columns: &[String]) -> [(SourceKind, Vec<String>); 3] {
    let marked = |markers: &[&str]| -> Vec<String> {
        columns.iter().filter(|c| markers.iter().any(|m| m.eq_ignore_ascii_case(c))).cloned().collect()
    };
    let focus: Vec<String> = columns
        .iter()
        .filter(|c| column(c).is_some_and(|d| FOCUS_MARKERS.contains(&d.name)))
        .cloned()
        .collect();
    [
        (SourceKind::Cur2, marked(CUR2_MARKERS)),
        (SourceKind::CurLegacy, marked(LEGACY_MARKERS)),
        (SourceKind::Focus, focus),
    ]
}

/// The format to read a file as, `None` to skip it, or why it cannot be read.
fn resolve_kind(
    requested: SourceKind,
    detected: Detected,
    path: &Path,
    columns: &[String],
) -> Result<Option<SourceKind>, IngestError> {
    match (requested, detected) {
        (_, Detected::Status) => Ok(None),
        (SourceKind::Auto, Detected::Format(kind, _)) => Ok(Some(kind)),
        (SourceKind::Auto, Detected::Ambiguous(a, b)) => Err(IngestError::UnknownFormat {
            path: path.into(),
            detail: format!(
                "it has as many {} columns as {} columns: {}",
                a.label(),
                b.label(),
                list_columns(columns)
            ),
        }),
        (SourceKind::Auto, Detected::Unknown) => Err(IngestError::UnknownFormat {
            path: path.into(),
            detail: format!(
                "saw {}; expected at least {MIN_MARKERS} of the columns of CUR 2.0 ({}, ...), legacy CUR ({}, ...) \
                 or FOCUS ({}, ...)",
                list_columns(columns),
                CUR2_MARKERS[..3].join(", "),
                LEGACY_MARKERS[..3].join(", "),
                FOCUS_MARKERS[..3].join(", ")
            ),
        }),
        (given, Detected::Format(found, evidence)) if found != given => Err(IngestError::FormatMismatch {
            path: path.into(),
            given: given.label(),
            found: found.label(),
            found_flag: found.as_str(),
            evidence: evidence.iter().take(3).cloned().collect::<Vec<_>>().join(", "),
        }),
        (given, _) => Ok(Some(given)),
    }
}

fn list_columns(columns: &[String]) -> String {
    const SHOWN: usize = 8;
    match columns.len() {
        0 => "no columns".into(),
        n if n <= SHOWN => format!("columns {}", columns.join(", ")),
        n => format!("columns {}, ... ({n} in all)", columns[..SHOWN].join(", ")),
    }
}

/// The column names of a file: its CSV header or Parquet schema.
pub fn column_names(path: &Path, container: Container) -> Result<Vec<String>, IngestError> {
    let opts = RawOptions { batch_rows: 1, ..RawOptions::default() };
    let reader = match container {
        Container::Parquet => RawReader::open_parquet(path, None, &opts)?,
        Container::Csv | Container::CsvGz => RawReader::open(path, container, &opts)?,
    };
    Ok(reader.column_names())
}

/// Streams a file through SHA-256: its hex digest.
fn hash(path: &Path) -> Result<String, IngestError> {
    let mut f = File::open(path).map_err(|e| IngestError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(IngestError::io(path, e)),
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn kinds_parse_and_print() {
        for k in [SourceKind::Auto, SourceKind::Cur2, SourceKind::CurLegacy, SourceKind::Focus] {
            assert_eq!(SourceKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(SourceKind::parse("CUR2"), Some(SourceKind::Cur2));
        assert_eq!(SourceKind::parse("cur"), None);
    }

    #[test]
    fn formats_are_told_by_marker_columns() {
        let cur2 = cols(&["identity_line_item_id", "line_item_unblended_cost", "product"]);
        assert!(matches!(detect(&cur2), Detected::Format(SourceKind::Cur2, _)));
        let legacy = cols(&["identity/LineItemId", "lineItem/UnblendedCost"]);
        assert!(matches!(detect(&legacy), Detected::Format(SourceKind::CurLegacy, _)));
        let old_focus = cols(&["AmortizedCost", "ChargeType", "Region"]);
        assert!(matches!(detect(&old_focus), Detected::Format(SourceKind::Focus, _)));
        assert_eq!(detect(&cols(&["BilledCost", "team"])), Detected::Unknown);
        assert_eq!(detect(&cols(&["status"])), Detected::Status);
        assert_eq!(
            detect(&cols(&[
                "BilledCost",
                "BillingCurrency",
                "line_item_unblended_cost",
                "bill_payer_account_id"
            ])),
            Detected::Ambiguous(SourceKind::Cur2, SourceKind::Focus)
        );
    }

    #[test]
    fn listed_keys_land_below_the_governed_folder() {
        let scope = Path::new("/x/exp/data/BILLING_PERIOD=2024-09");
        assert_eq!(
            local_path(scope, "s3://bucket/p/exp/data/BILLING_PERIOD=2024-09/exp-00001.csv.gz").unwrap(),
            scope.join("exp-00001.csv.gz")
        );
        let period = Path::new("/x/rep/20240901-20241001");
        assert_eq!(
            local_path(period, "p/rep/20240901-20241001/abc/rep-1.csv.gz").unwrap(),
            period.join("abc").join("rep-1.csv.gz")
        );
        assert_eq!(local_path(period, "elsewhere/rep-1.csv.gz").unwrap(), period.join("rep-1.csv.gz"));
        assert!(local_path(period, "p/../../etc/passwd").is_err());
        assert!(is_legacy_period("20240901-20241001"));
        assert!(!is_legacy_period("2024-09"));
    }
}
