//! FOCUS 1.0–1.3 reader. (Being written.)

use crate::{BatchReader, IngestError, ReadOptions, SourceFile};

/// Opens a FOCUS file.
pub fn open(_file: &SourceFile, _opts: &ReadOptions) -> Result<Box<dyn BatchReader>, IngestError> {
    todo!("written by the FOCUS work")
}
