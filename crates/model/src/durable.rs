//! Durable file operations every block that keeps state on disk relies on: a folder created with
//! its parents flushed, and a file replaced atomically. Readers see a file's old or new content,
//! never a mix, and a crash after a call returns keeps what it wrote.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// An I/O error and the path it happened at.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct IoAt {
    /// The file or folder.
    pub path: PathBuf,
    /// What the system said.
    #[source]
    pub source: io::Error,
}

impl IoAt {
    /// `source` at `path`.
    pub fn new(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self { path: path.into(), source }
    }
}

/// Flushes a folder's entries (new, renamed or removed files) to disk.
pub fn sync_dir(dir: &Path) -> Result<(), IoAt> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| IoAt::new(dir, e))
}

/// Creates `dir` and its missing parents, flushing each parent whose entries changed, so a
/// renamed file inside survives a crash.
pub fn create_dir(dir: &Path) -> Result<(), IoAt> {
    // A bare relative name (`lakedir`) has the empty path as its parent: that is the current
    // folder, which exists.
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(IoAt::new(dir, e)),
    }
    match dir.parent() {
        Some(parent) if parent.as_os_str().is_empty() => sync_dir(Path::new("."))?,
        Some(parent) => sync_dir(parent)?,
        None => {}
    }
    Ok(())
}

/// Replaces `target` with `bytes` atomically: a temporary file beside it (named with `tag`) is
/// written and flushed, renamed over the target, and the folder flushed.
pub fn write_atomic(target: &Path, bytes: &[u8], tag: &str) -> Result<(), IoAt> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{tag}"));
    let written = File::create(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(IoAt::new(&tmp, e));
    }
    if let Err(e) = fs::rename(&tmp, target) {
        let _ = fs::remove_file(&tmp);
        return Err(IoAt::new(target, e));
    }
    sync_dir(dir)
}
