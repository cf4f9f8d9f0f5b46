//! Where things live under `<data-dir>/lake/`, and the durable file operations the lake relies on.
//!
//! ```text
//! <data-dir>/lake/
//!   manifest.json        the single source of truth: units, their files, retired files
//!   writer.lock          held (flock) by the one transaction or vacuum writing at a time
//!   staging/<txn>/       Parquet files of a transaction in progress
//!   data/provider=<p>/account=<a>/period=<YYYY-MM>/<txn>-<n>.parquet
//! ```
//!
//! Folder names escape every byte outside `[A-Za-z0-9.-]` as `_HH` (hex), so any provider or
//! account id gives a single, portable path segment that needs no URL escaping.

use std::fs;
use std::path::{Path, PathBuf};

use costpilot_model::UnitKey;

use crate::error::LakeError;

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";
/// The writer lock's file name.
pub const LOCK: &str = "writer.lock";
/// The folder of transactions in progress.
pub const STAGING: &str = "staging";
/// The folder of committed data files.
pub const DATA: &str = "data";

/// One path segment for a key value: `[A-Za-z0-9.-]` kept, every other byte as `_HH`.
pub fn escape_segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02X}"));
        }
    }
    // "." and ".." are not usable as folder names.
    if out.is_empty() || out.bytes().all(|b| b == b'.') {
        out = out.replace('.', "_2E");
        if out.is_empty() {
            out.push('_');
        }
    }
    out
}

/// The folder of a unit's data files, relative to the lake root, with `/` separators.
pub fn unit_dir(key: &UnitKey) -> String {
    format!(
        "{DATA}/provider={}/account={}/period={}",
        escape_segment(&key.provider),
        escape_segment(&key.billing_account),
        escape_segment(&key.billing_period)
    )
}

/// Turns a lake-relative path with `/` separators into a path under `root`.
pub fn resolve(root: &Path, relative: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    for part in relative.split('/') {
        p.push(part);
    }
    p
}

pub use costpilot_model::durable::{create_dir as create_dir_durable, sync_dir, write_atomic};

/// Removes a file, treating "already gone" as done.
pub fn remove_file_if_present(path: &Path) -> Result<(), LakeError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LakeError::io(path, e)),
    }
}

/// Removes `dir` and then each parent up to (not including) `stop` while they are empty.
pub fn prune_empty_dirs(dir: &Path, stop: &Path) {
    let mut current = Some(dir);
    while let Some(d) = current {
        if d == stop || !d.starts_with(stop) || fs::remove_dir(d).is_err() {
            break;
        }
        current = d.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_portable_and_distinct() {
        assert_eq!(escape_segment("AWS"), "AWS");
        assert_eq!(escape_segment("123456789012"), "123456789012");
        assert_eq!(escape_segment("Microsoft/ea:12_3"), "Microsoft_2Fea_3A12_5F3");
        assert_eq!(escape_segment(""), "_");
        assert_eq!(escape_segment(".."), "_2E_2E");
        assert_ne!(escape_segment("a_2F"), escape_segment("a/"));
        let key = UnitKey {
            provider: "AWS".into(),
            billing_account: "123".into(),
            billing_period: "2024-09".into(),
        };
        assert_eq!(unit_dir(&key), "data/provider=AWS/account=123/period=2024-09");
    }
}
