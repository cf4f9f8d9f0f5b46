//! Helpers the ingest tests share: writing input files into a temporary folder.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `dir/name`.
pub fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("written");
    path
}

/// Writes `text` gzip-compressed to `dir/name`.
pub fn write_gz(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let mut gz =
        flate2::write::GzEncoder::new(std::fs::File::create(&path).expect("created"), Default::default());
    gz.write_all(text.as_bytes()).expect("compressed");
    gz.finish().expect("finished");
    path
}
