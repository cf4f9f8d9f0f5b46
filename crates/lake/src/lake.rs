//! The lake handle: opening, reading the manifest, starting transactions, replacing derived parts
//! and vacuum.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::error::LakeError;
use crate::layout;
use crate::manifest::{FileEntry, Manifest, PartEntry, now_text};
use crate::observe::{Observers, StagedPart};
use crate::transaction::{Transaction, WriteOptions, delete_files, take_expired};

/// How long files of replaced units are kept for readers of older snapshots before vacuum (or a
/// later commit) deletes them: one hour, far longer than any query over a local lake runs.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(3600);

/// How long [`Lake::begin`] and [`Lake::vacuum`] wait for the writer lock before giving up. Short:
/// it covers a writer that is just finishing (or a child process that inherited the lock for the
/// moment between its fork and exec), not a queue of writers.
pub const LOCK_WAIT: Duration = Duration::from_secs(1);

/// A handle on the lake under `<data-dir>/lake/`.
#[derive(Clone)]
pub struct Lake {
    data_dir: PathBuf,
    root: PathBuf,
    retention: Duration,
    write: WriteOptions,
    observers: Option<Arc<dyn Observers>>,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("root", &self.root)
            .field("retention", &self.retention)
            .field("observed", &self.observers.is_some())
            .finish()
    }
}

/// What vacuum deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VacuumReport {
    /// Retired files past the retention that were deleted.
    pub retired_deleted: usize,
    /// Files no manifest refers to (left by a crashed transaction) that were deleted.
    pub orphans_deleted: usize,
    /// Bytes freed.
    pub bytes_freed: u64,
    /// Retired files still within the retention, kept.
    pub retired_kept: usize,
}

impl Lake {
    /// Opens the lake of a data directory, creating `<data-dir>/lake/` if it is absent.
    pub fn open(data_dir: &Path) -> Result<Lake, LakeError> {
        if data_dir.exists() && !data_dir.is_dir() {
            return Err(LakeError::NotADirectory(data_dir.to_path_buf()));
        }
        let root = data_dir.join("lake");
        if root.exists() && !root.is_dir() {
            return Err(LakeError::NotADirectory(root));
        }
        layout::create_dir_durable(&root)?;
        let lock = root.join(layout::LOCK);
        OpenOptions::new().create(true).append(true).open(&lock).map_err(|e| LakeError::io(&lock, e))?;
        Ok(Lake {
            data_dir: data_dir.to_path_buf(),
            root,
            retention: DEFAULT_RETENTION,
            write: WriteOptions::default(),
            observers: None,
        })
    }

    /// The same lake with another retention for files of replaced units.
    pub fn with_retention(mut self, retention: Duration) -> Lake {
        self.retention = retention;
        self
    }

    /// The same lake with other Parquet encoding options for new data files.
    pub fn with_write_options(mut self, options: WriteOptions) -> Lake {
        self.write = options;
        self
    }

    /// The data directory the lake belongs to (where `fx.csv` and `fx.toml` are looked for).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The lake folder, `<data-dir>/lake`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The committed state of the lake.
    pub fn manifest(&self) -> Result<Manifest, LakeError> {
        Manifest::load(&self.root)
    }

    /// Takes the writer lock, waiting up to [`LOCK_WAIT`] for a holder that is about to let go.
    pub fn lock(&self) -> Result<File, LakeError> {
        let path = self.root.join(layout::LOCK);
        let file =
            OpenOptions::new().create(true).append(true).open(&path).map_err(|e| LakeError::io(&path, e))?;
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(TryLockError::WouldBlock) => return Err(LakeError::Busy(path)),
                Err(TryLockError::Error(e)) => return Err(LakeError::io(path, e)),
            }
        }
    }

    /// Starts the one write transaction the lake allows at a time. If another transaction or
    /// vacuum holds the writer lock, waits up to [`LOCK_WAIT`] and then fails with
    /// [`LakeError::Busy`].
    /// Its transactions get the [`Lake::with_observers`] observers, if any.
    pub fn begin(&self) -> Result<Transaction, LakeError> {
        let lock = self.lock()?;
        let observers = match &self.observers {
            Some(o) => o.for_transaction(&self.data_dir),
            None => Ok(Vec::new()),
        };
        Transaction::start(&self.root, self.retention, &self.write, observers, lock)
    }

    /// This handle, whose transactions derive parts with `observers` (see `observe`).
    pub fn with_observers(mut self, observers: Arc<dyn Observers>) -> Lake {
        self.observers = Some(observers);
        self
    }

    /// Puts parts computed after their units were written (a refresh of stale rollups) in force
    /// in one manifest swap: `parts` pairs a unit's number in `manifest` with parts written in
    /// place in the unit's folder. A part replaces the unit's part of the same name, which is
    /// retired like a data file. The caller holds `lock` ([`Lake::lock`]) and loaded `manifest`
    /// under it; `stem` names the swap's temporary file. Returns the manifest in force after.
    pub fn replace_parts(
        &self,
        _lock: &File,
        mut manifest: Manifest,
        parts: Vec<(usize, Vec<StagedPart>)>,
        stem: &str,
    ) -> Result<Manifest, LakeError> {
        let now = Utc::now();
        let now_s = now_text(now);
        let expired = take_expired(&mut manifest, now, self.retention);
        let mut dirs = BTreeSet::new();
        let mut retired = Vec::new();
        for (i, staged) in parts {
            let unit = &mut manifest.units[i];
            for p in staged {
                let path = format!("{}/{}", layout::unit_dir(&unit.key), p.file_name);
                dirs.insert(p.path.parent().map(Path::to_path_buf).unwrap_or_default());
                if let Some(at) = unit.parts.iter().position(|r| r.name == p.name) {
                    retired.push(unit.parts.remove(at).file);
                }
                unit.parts.push(PartEntry {
                    name: p.name,
                    fingerprint: p.fingerprint,
                    file: FileEntry { path, rows: p.rows, bytes: p.bytes },
                });
            }
            unit.parts.sort_by(|a, b| a.name.cmp(&b.name));
        }
        manifest.retire(retired, &now_s);
        for dir in dirs {
            layout::sync_dir(&dir)?;
        }
        manifest.version += 1;
        manifest.updated_at = Some(now_s);
        manifest.store(&self.root, stem)?;
        delete_files(&self.root, &expired);
        Ok(manifest)
    }

    /// How long files of replaced units (and replaced derived parts) are kept for older readers.
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// Deletes what no reader needs any more: retired files older than `retention`, data files no
    /// manifest refers to and staging folders (both left by transactions that crashed), and the
    /// folders this empties. Takes the writer lock, so it fails with [`LakeError::Busy`] while a
    /// transaction runs (after waiting up to [`LOCK_WAIT`]).
    pub fn vacuum(&self, retention: Duration) -> Result<VacuumReport, LakeError> {
        let _lock = self.lock()?;
        let mut manifest = self.manifest()?;
        let now = Utc::now();
        let expired = take_expired(&mut manifest, now, retention);
        if !expired.is_empty() {
            manifest.version += 1;
            manifest.updated_at = Some(now_text(now));
            manifest.store(&self.root, "vacuum")?;
        }
        let mut report = VacuumReport {
            retired_deleted: delete_files(&self.root, &expired),
            bytes_freed: expired.iter().map(|f| f.bytes).sum(),
            retired_kept: manifest.retired().len(),
            ..Default::default()
        };
        let referenced: BTreeSet<PathBuf> =
            manifest.referenced_paths().map(|p| layout::resolve(&self.root, p)).collect();
        let data = self.root.join(layout::DATA);
        let mut files = Vec::new();
        list_files(&data, &mut files)?;
        for f in files {
            if !referenced.contains(&f) {
                let bytes = fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
                layout::remove_file_if_present(&f)?;
                report.orphans_deleted += 1;
                report.bytes_freed += bytes;
            }
        }
        remove_empty_dirs(&data);
        let staging = self.root.join(layout::STAGING);
        if staging.exists() {
            let mut staged = Vec::new();
            list_files(&staging, &mut staged)?;
            report.orphans_deleted += staged.len();
            report.bytes_freed +=
                staged.iter().filter_map(|f| fs::metadata(f).ok()).map(|m| m.len()).sum::<u64>();
            fs::remove_dir_all(&staging).map_err(|e| LakeError::io(&staging, e))?;
        }
        for entry in fs::read_dir(&self.root).map_err(|e| LakeError::io(&self.root, e))?.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!(".{}.tmp-", layout::MANIFEST)) {
                layout::remove_file_if_present(&entry.path())?;
            }
        }
        Ok(report)
    }
}

/// Every file under `dir` (none if it does not exist).
fn list_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LakeError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LakeError::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| LakeError::io(dir, e))?;
        let path = entry.path();
        if entry.file_type().map_err(|e| LakeError::io(&path, e))?.is_dir() {
            list_files(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// Removes the empty folders below `dir` (keeping `dir`).
fn remove_empty_dirs(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            remove_empty_dirs(&path);
            let _ = fs::remove_dir(&path);
        }
    }
}
