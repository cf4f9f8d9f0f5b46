//! Parquet part files of one billing period after another, encoded on a thread of their own.
//!
//! Building a batch's columns and encoding it as Parquet each take about half of a generation's
//! time, so the encoding runs beside the building: the sink hands finished batches over a channel
//! of two, which also bounds memory. Errors of the encoding thread surface at the next
//! [`PartFiles::end`].

use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;

use crate::error::GenerateError;

enum Command {
    Open(PathBuf),
    Write(RecordBatch),
    Close,
    Sync(Sender<Result<Vec<(PathBuf, usize)>, GenerateError>>),
}

/// Writes record batches into numbered Parquet files of at most `rows_per_file` rows.
pub struct PartFiles {
    rows_per_file: usize,
    row_group_rows: usize,
    dir: PathBuf,
    prefix: String,
    suffix: String,
    number: usize,
    in_file: Option<usize>,
    commands: Option<SyncSender<Command>>,
    worker: Option<JoinHandle<()>>,
}

impl PartFiles {
    /// Files of `schema`, Snappy-compressed, in row groups of `row_group_rows`.
    pub fn new(schema: SchemaRef, rows_per_file: usize, row_group_rows: usize) -> Self {
        let (tx, rx) = sync_channel(2);
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(row_group_rows.max(1)))
            .set_created_by("costpilot-generate".to_string())
            .build();
        let worker = std::thread::spawn(move || encode(rx, schema, props));
        Self {
            rows_per_file: rows_per_file.max(1),
            row_group_rows: row_group_rows.max(1),
            dir: PathBuf::new(),
            prefix: String::new(),
            suffix: String::new(),
            number: 0,
            in_file: None,
            commands: Some(tx),
            worker: Some(worker),
        }
    }

    /// Starts a period: its files are `dir/<prefix>NNNNN<suffix>`, numbered from 1.
    pub fn begin(&mut self, dir: PathBuf, prefix: &str, suffix: &str) {
        self.dir = dir;
        self.prefix = prefix.to_string();
        self.suffix = suffix.to_string();
        self.number = 0;
    }

    /// Rows the next batch may hold: a row group, and no more than the open file has room for.
    pub fn room(&self) -> usize {
        self.row_group_rows.min(self.rows_per_file - self.in_file.unwrap_or(0))
    }

    /// Writes a batch of at most [`PartFiles::room`] rows, opening a file first if none is open.
    pub fn write(&mut self, batch: RecordBatch) -> Result<(), GenerateError> {
        if self.in_file.is_none() {
            std::fs::create_dir_all(&self.dir).map_err(|e| GenerateError::io(&self.dir, e))?;
            self.number += 1;
            let path = self.dir.join(format!("{}{:05}{}", self.prefix, self.number, self.suffix));
            self.send(Command::Open(path))?;
            self.in_file = Some(0);
        }
        let rows = batch.num_rows();
        self.send(Command::Write(batch))?;
        let in_file = self.in_file.as_mut().expect("opened above");
        *in_file += rows;
        if *in_file >= self.rows_per_file {
            self.send(Command::Close)?;
            self.in_file = None;
        }
        Ok(())
    }

    /// Ends the period: closes the open file and waits for every batch to be written; returns
    /// the period's files with their rows.
    pub fn end(&mut self) -> Result<Vec<(PathBuf, usize)>, GenerateError> {
        if self.in_file.take().is_some() {
            self.send(Command::Close)?;
        }
        let (tx, rx) = channel();
        self.send(Command::Sync(tx))?;
        rx.recv().map_err(|_| self.stopped())?
    }

    fn send(&self, command: Command) -> Result<(), GenerateError> {
        let commands = self.commands.as_ref().expect("open until dropped");
        commands.send(command).map_err(|_| self.stopped())
    }

    fn stopped(&self) -> GenerateError {
        GenerateError::Output { path: self.dir.clone(), reason: "the Parquet encoding thread stopped".into() }
    }
}

impl Drop for PartFiles {
    fn drop(&mut self) {
        self.commands.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// The encoding thread: one open file at a time; the first error is kept and reported at the
/// next sync, and everything in between is dropped.
fn encode(rx: Receiver<Command>, schema: SchemaRef, props: WriterProperties) {
    let mut open: Option<(ArrowWriter<File>, PathBuf, usize)> = None;
    let mut done: Vec<(PathBuf, usize)> = Vec::new();
    let mut failed: Option<GenerateError> = None;
    let fail = |path: &PathBuf, e: &dyn std::fmt::Display| GenerateError::Parquet {
        path: path.clone(),
        message: e.to_string(),
    };
    for command in rx {
        match command {
            Command::Sync(reply) => {
                let result = match failed.take() {
                    Some(e) => Err(e),
                    None => Ok(std::mem::take(&mut done)),
                };
                let _ = reply.send(result);
            }
            _ if failed.is_some() => {}
            Command::Open(path) => {
                match File::create(&path).map_err(|e| GenerateError::io(&path, e)).and_then(|f| {
                    ArrowWriter::try_new(f, schema.clone(), Some(props.clone())).map_err(|e| fail(&path, &e))
                }) {
                    Ok(w) => open = Some((w, path, 0)),
                    Err(e) => failed = Some(e),
                }
            }
            Command::Write(batch) => {
                if let Some((w, path, rows)) = open.as_mut() {
                    // One batch is one row group, as the sinks size them.
                    match w.write(&batch).and_then(|()| w.flush()) {
                        Ok(()) => *rows += batch.num_rows(),
                        Err(e) => failed = Some(fail(path, &e)),
                    }
                }
            }
            Command::Close => {
                if let Some((w, path, rows)) = open.take() {
                    match w.close() {
                        Ok(_) => done.push((path, rows)),
                        Err(e) => failed = Some(fail(&path, &e)),
                    }
                }
            }
        }
    }
}
