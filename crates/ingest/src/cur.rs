//! AWS CUR 2.0 and legacy CUR readers. (Being written.)

use crate::{BatchReader, IngestError, ReadOptions, SourceFile};

/// Opens a CUR 2.0 or legacy CUR file.
pub fn open(_file: &SourceFile, _opts: &ReadOptions) -> Result<Box<dyn BatchReader>, IngestError> {
    todo!("written by the CUR work")
}
