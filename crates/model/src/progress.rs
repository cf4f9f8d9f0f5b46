//! How a long job (an ingest, a rollup build) reports its progress, so a library can run it and
//! whoever calls it — the command line with a progress bar, a server with events — shows it.

/// What a job counts its work in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// Bytes of input read.
    Bytes,
    /// Items done (units of the lake, files).
    Items,
}

/// Receives a job's progress. Every method has a default that ignores it.
pub trait Progress: Send + Sync {
    /// The job starts `what` (a few words), with `total` to do, counted as `counting`.
    fn start(&self, what: &str, total: u64, counting: Counting) {
        let _ = (what, total, counting);
    }

    /// `done` of the total is done.
    fn set(&self, done: u64) {
        let _ = done;
    }

    /// The job is over, finished or failed.
    fn finish(&self) {}
}

/// Progress nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {}
