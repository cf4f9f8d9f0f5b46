//! `costpilot ingest`: read billing exports into the lake in one transaction.
//!
//! Reading and writing run on two threads joined by a channel of one batch: one decodes and
//! normalises batches, the other encodes Parquet, so both cores work and memory stays bounded (a
//! 64K-row batch of the full CUR schema is about 90 MB in memory, so every queued batch counts).
//! Any error aborts the transaction, which leaves the lake exactly as it was. A commit that added
//! or replaced units rebuilds the rollups (see [`costpilot_lake::rollup`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use costpilot_ingest::{Checksums, FileReport, IngestError, ReadOptions, SourceFile, SourceKind};
use costpilot_lake::{Lake, Outcome, SourceRef};
use costpilot_model::money::{format_units, parse_decimal};
use datafusion::arrow::array::RecordBatch;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::output::{Format, print_json, thousands};

/// Arguments of `costpilot ingest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or folders holding billing exports (all files of one delivery belong in one call).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The format: told from the columns by default.
    #[arg(long, default_value = "auto", value_parser = ["auto", "cur2", "cur-legacy", "focus"])]
    source: String,
    /// Fail on the first bad row instead of skipping and counting it.
    #[arg(long)]
    strict: bool,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// What an ingest did, as printed with `--format json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// What was read from each file.
    pub files: Vec<FileReport>,
    /// Rows read from the files.
    pub rows_read: u64,
    /// Rows written to the lake.
    pub rows_kept: u64,
    /// Bad rows skipped.
    pub rows_skipped: u64,
    /// Bad rows skipped, by `column: reason`.
    pub skipped_by_reason: BTreeMap<String, u64>,
    /// Units the commit touched.
    pub units: usize,
    /// Units new to the lake.
    pub units_added: usize,
    /// Units that replaced older ones.
    pub units_replaced: usize,
    /// Units left as they were (same sources).
    pub units_unchanged: usize,
    /// Σ BilledCost per currency, in cents.
    pub billed_cost_by_currency: BTreeMap<String, String>,
    /// Seconds taken.
    pub seconds: f64,
    /// Rows read per second.
    pub rows_per_second: f64,
    /// Megabytes of files read per second.
    pub megabytes_per_second: f64,
    /// True when every file was already ingested, so nothing was read.
    pub unchanged: bool,
}

enum Message {
    Batch(usize, RecordBatch),
    Done(Box<FileReport>),
}

/// Runs the ingest, prints its summary and rebuilds the rollups if units changed.
pub async fn run(data_dir: &Path, args: Args) -> Result<()> {
    let summary = ingest(data_dir, &args.paths, &args.source, args.strict)?;
    report(&summary, args.format)?;
    if summary.units_added + summary.units_replaced > 0 {
        super::rollups::rebuild_after_change(data_dir, args.format == Format::Json).await?;
    }
    Ok(())
}

/// Reads the billing files under `paths` into the lake of `data_dir` in one transaction, with a
/// progress bar on a terminal; `source` is a `--source` value and `strict` fails on a bad row.
/// Files the lake already holds (same checksums) are not read again. Shared by `costpilot ingest`
/// and `costpilot demo`.
pub fn ingest(data_dir: &Path, paths: &[PathBuf], source: &str, strict: bool) -> Result<Summary> {
    let started = Instant::now();
    let kind = SourceKind::parse(source).ok_or_else(|| anyhow!("unknown source '{source}'"))?;
    let files = costpilot_ingest::discover(paths, kind)?;
    if files.is_empty() {
        bail!("no billing files found in {}", list(paths));
    }
    let lake = Lake::open(data_dir)?;
    let mut checksums = Checksums::start(files.iter().map(|f| f.path.clone()).collect());
    // The files are new unless every one was ingested before: the first unknown checksum (in a
    // lake without sources, the first file) decides, and the others follow while the files are
    // read.
    let mut known = Vec::new();
    let manifest = lake.manifest()?;
    let ingested = manifest.ingested();
    if !ingested.is_empty() {
        loop {
            let Some(sum) = checksums.next() else {
                return Ok(unchanged_summary(started.elapsed()));
            };
            let sum = sum?;
            let new = !ingested.contains(sum.as_str());
            known.push(sum);
            if new {
                break;
            }
        }
    }
    let checksums = known.into_iter().map(Ok).chain(checksums);

    let total_bytes: u64 = files.iter().map(|f| f.bytes).sum();
    let progress = Arc::new(AtomicU64::new(0));
    let bar = progress_bar(total_bytes);
    let opts = ReadOptions { strict, progress: progress.clone(), ..ReadOptions::default() };

    let mut tx = lake.begin()?;
    let (sender, receiver) = sync_channel::<Result<Message, IngestError>>(1);
    let reader_files = files.clone();
    let reader = std::thread::spawn(move || {
        for (i, file) in reader_files.iter().enumerate() {
            let mut batches = match costpilot_ingest::open(file, &opts) {
                Ok(r) => r,
                Err(e) => {
                    let _ = sender.send(Err(e));
                    return;
                }
            };
            for batch in batches.by_ref() {
                let message = batch.map(|b| Message::Batch(i, b));
                let failed = message.is_err();
                if sender.send(message).is_err() || failed {
                    return;
                }
            }
            if sender.send(Ok(Message::Done(Box::new(batches.report().clone())))).is_err() {
                return;
            }
        }
    });

    let written = write_all(&files, checksums, &receiver, &mut tx, &bar, &progress);
    // Dropping the receiver unblocks the reader if writing stopped early.
    drop(receiver);
    let joined = reader.join();
    bar.finish_and_clear();
    let reports = match (written, joined) {
        (Ok(done), Ok(())) => done,
        (Err(e), _) => {
            tx.abort();
            return Err(e);
        }
        (Ok(_), Err(_)) => {
            tx.abort();
            bail!("the reader thread failed unexpectedly");
        }
    };
    let commit = tx.commit()?;
    if let Some(why) = &commit.rollups_skipped {
        eprintln!("warning: the ingest computed no rollup parts ({why}); computing them from the lake");
    }
    let count = |o: Outcome| commit.units.iter().filter(|u| u.outcome == o).count();
    let mut totals: BTreeMap<String, i128> = BTreeMap::new();
    for unit in &commit.units {
        for (currency, text) in &unit.billed_cost {
            *totals.entry(currency.clone()).or_insert(0) += parse_decimal(text)?;
        }
    }

    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let mut skipped_by_reason = BTreeMap::new();
    for r in &reports {
        for (reason, n) in &r.skipped_by_reason {
            *skipped_by_reason.entry(reason.clone()).or_insert(0) += n;
        }
    }
    let rows_read: u64 = reports.iter().map(|r| r.rows_read).sum();
    let rows_kept: u64 = reports.iter().map(|r| r.rows_kept).sum();
    let summary = Summary {
        rows_read,
        rows_kept,
        rows_skipped: reports.iter().map(|r| r.rows_skipped()).sum(),
        skipped_by_reason,
        units: commit.units.len(),
        units_added: count(Outcome::Added),
        units_replaced: count(Outcome::Replaced),
        units_unchanged: count(Outcome::Unchanged),
        billed_cost_by_currency: totals.into_iter().map(|(c, v)| (c, format_units(v, 2))).collect(),
        seconds: elapsed,
        rows_per_second: rows_read as f64 / elapsed,
        megabytes_per_second: total_bytes as f64 / 1e6 / elapsed,
        unchanged: false,
        files: reports,
    };
    Ok(summary)
}

/// Files the batches `receiver` brings into `tx`; `checksums` gives each file's checksum, in
/// order, which the file's first batch waits for.
fn write_all(
    files: &[SourceFile],
    mut checksums: impl Iterator<Item = Result<String, IngestError>>,
    receiver: &Receiver<Result<Message, IngestError>>,
    tx: &mut costpilot_lake::Transaction,
    bar: &ProgressBar,
    progress: &AtomicU64,
) -> Result<Vec<FileReport>> {
    let mut sources: Vec<SourceRef> = Vec::with_capacity(files.len());
    let mut reports = Vec::with_capacity(files.len());
    for message in receiver.iter() {
        match message? {
            Message::Batch(i, batch) => {
                while sources.len() <= i {
                    let f = &files[sources.len()];
                    let sha256 =
                        checksums.next().ok_or_else(|| anyhow!("{}: no checksum", f.path.display()))??;
                    sources.push(SourceRef { path: f.path.clone(), sha256, bytes: f.bytes });
                }
                tx.write(batch, &sources[i])?;
                bar.set_position(progress.load(Ordering::Relaxed));
            }
            Message::Done(report) => reports.push(*report),
        }
    }
    if reports.len() != files.len() {
        bail!("reading stopped before every file was read");
    }
    Ok(reports)
}

fn progress_bar(total_bytes: u64) -> ProgressBar {
    // Small ingests finish before a bar would be readable.
    if total_bytes < 16 * 1024 * 1024 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} ingesting [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn unchanged_summary(elapsed: Duration) -> Summary {
    Summary {
        files: Vec::new(),
        rows_read: 0,
        rows_kept: 0,
        rows_skipped: 0,
        skipped_by_reason: BTreeMap::new(),
        units: 0,
        units_added: 0,
        units_replaced: 0,
        units_unchanged: 0,
        billed_cost_by_currency: BTreeMap::new(),
        seconds: elapsed.as_secs_f64(),
        rows_per_second: 0.0,
        megabytes_per_second: 0.0,
        unchanged: true,
    }
}

fn report(summary: &Summary, format: Format) -> Result<()> {
    if format == Format::Json {
        return print_json(summary);
    }
    if summary.unchanged {
        println!("unchanged: every file was already ingested with the same checksum");
        return Ok(());
    }
    let money = summary
        .billed_cost_by_currency
        .iter()
        .map(|(c, v)| format!("{v} {c}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "ingested {} rows from {} file(s) into {} unit(s) ({} added, {} replaced, {} unchanged) · BilledCost {} · {:.2} s · {} rows/s · {:.1} MB/s",
        thousands(summary.rows_kept),
        summary.files.len(),
        summary.units,
        summary.units_added,
        summary.units_replaced,
        summary.units_unchanged,
        if money.is_empty() { "0".to_string() } else { money },
        summary.seconds,
        thousands(summary.rows_per_second as u64),
        summary.megabytes_per_second,
    );
    if summary.rows_skipped > 0 {
        println!("skipped {} bad row(s):", thousands(summary.rows_skipped));
        for (reason, n) in &summary.skipped_by_reason {
            println!("  {n} × {reason}");
        }
        for file in &summary.files {
            for bad in &file.examples {
                let column = bad.column.as_deref().unwrap_or("(whole row)");
                println!(
                    "  e.g. {}: row {}, column '{}': {}",
                    file.path.display(),
                    bad.row,
                    column,
                    bad.reason
                );
            }
        }
    }
    Ok(())
}

fn list(paths: &[PathBuf]) -> String {
    paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
}
