//! The FOCUS 1.2 writer for Azure- and Google Cloud-shaped estates.

use std::path::{Path, PathBuf};

use crate::error::GenerateError;
use crate::estate::Estate;
use crate::lines::{Line, Period, Product};
use crate::{Format, Sink, WrittenFile};

/// Writes the estate as FOCUS 1.2 Parquet.
pub struct FocusSink {
    root: PathBuf,
    format: Format,
}

impl FocusSink {
    /// A writer into `root` for `format` (FocusAzure or FocusGcp).
    pub fn new(root: &Path, format: Format) -> Self {
        Self { root: root.to_path_buf(), format }
    }
}

impl Sink for FocusSink {
    fn begin_period(&mut self, _e: &Estate, _period: &Period) -> Result<(), GenerateError> {
        Err(GenerateError::Options(format!(
            "{:?} output into {} is not written yet",
            self.format,
            self.root.display()
        )))
    }
    fn push(&mut self, _e: &Estate, _products: &[Product], _lines: &[Line]) -> Result<(), GenerateError> {
        Ok(())
    }
    fn end_period(&mut self, _e: &Estate, _products: &[Product]) -> Result<(), GenerateError> {
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Vec<WrittenFile>, GenerateError> {
        Ok(Vec::new())
    }
}
