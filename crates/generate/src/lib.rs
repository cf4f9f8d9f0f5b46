//! # costpilot-generate
//!
//! A generator of realistic cloud estates, so that every capability of costpilot can be
//! developed, tested, benchmarked and shown on data without anyone's private bill.
//!
//! [`generate`] draws an organisation from a seed — payers (one billing in a non-USD currency),
//! member accounts with business units, teams, applications and environments, resources with
//! tags (and the tag faults of the field), utilisation and waste, Savings Plans and reserved
//! instances, releases and injected anomalies — then writes its bill hour by hour as AWS CUR 2.0
//! (Data Exports) Parquet, with `truth.json` beside it: every knob, exact totals computed the
//! way costpilot's documented CUR → FOCUS mapping computes them, the events with their cost and
//! the waste a recommender should find.
//!
//! The same options give byte-identical output. Memory stays bounded: lines are made one hour at a
//! time and written one row group at a time.
//!
//! It depends only on `costpilot-model`: the estates it writes are input files, read back through
//! `costpilot-ingest` like any real bill.

pub mod catalog;
pub mod cur;
pub mod error;
pub mod estate;
pub mod files;
pub mod focus;
pub mod lines;
pub mod options;
pub mod rng;
pub mod sidecar;
pub mod truth;

use std::path::{Path, PathBuf};
use std::time::Instant;

pub use error::GenerateError;
pub use estate::Estate;
pub use options::{Format, Knobs, Options};

use lines::{Generator, Line, Period, Product};

/// Rows per Parquet file, at most.
pub const ROWS_PER_FILE: usize = 1_000_000;
/// Rows per row group.
pub const ROW_GROUP_ROWS: usize = 131_072;
/// Name of the Data Exports export the CUR files belong to.
pub const EXPORT_NAME: &str = "costpilot-demo";

/// A file the generator wrote.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    /// Where (inside the output folder while generating; see [`Summary::files`]).
    pub path: PathBuf,
    /// Rows in it.
    pub rows: usize,
    /// Billing period, `YYYY-MM`.
    pub period: String,
}

/// Turns line items into a bill format.
pub trait Sink {
    /// A billing period starts.
    fn begin_period(&mut self, e: &Estate, period: &Period) -> Result<(), GenerateError>;
    /// Lines of the open period, in time order.
    fn push(&mut self, e: &Estate, products: &[Product], lines: &[Line]) -> Result<(), GenerateError>;
    /// The open period has no more lines.
    fn end_period(&mut self, e: &Estate, products: &[Product]) -> Result<(), GenerateError>;
    /// Columns of the files it writes.
    fn column_count(&self) -> usize;
    /// Everything is written; the files, in order.
    fn finish(self: Box<Self>) -> Result<Vec<WrittenFile>, GenerateError>;
}

/// Reports progress of a long generation (the CLI draws a bar).
pub trait Progress {
    /// Work begins: `hours` hours of usage to make.
    fn start(&self, hours: u64);
    /// `hours` more hours are done, with `rows` line items in all so far.
    fn advance(&self, hours: u64, rows: u64);
    /// Done.
    fn finish(&self);
}

/// Progress that goes nowhere.
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _: u64) {}
    fn advance(&self, _: u64, _: u64) {}
    fn finish(&self) {}
}

/// What a generation run wrote.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The output folder.
    pub out: PathBuf,
    /// Line items written.
    pub rows: u64,
    /// Data files written (paths inside `out`).
    pub files: Vec<WrittenFile>,
    /// Bytes of the data files.
    pub bytes: u64,
    /// Σ BilledCost per currency, as exact decimal strings.
    pub billed: Vec<(String, String)>,
    /// Seconds taken.
    pub seconds: f64,
}

/// Generates the estate of `options` into the folder `out`.
///
/// Everything is written into a temporary sibling folder first and renamed into place at the end,
/// so a failed or interrupted run leaves nothing half-written. `out` must not exist unless
/// `replace` is set, in which case the old folder is replaced only once the new one is complete.
pub fn generate(
    options: &Options,
    out: &Path,
    replace: bool,
    progress: &dyn Progress,
) -> Result<Summary, GenerateError> {
    options.validate()?;
    let started = Instant::now();
    if out.exists() && (!out.is_dir() || !replace) {
        let reason = if out.is_dir() {
            "already exists; choose another folder or replace it"
        } else {
            "exists and is not a folder"
        };
        return Err(GenerateError::Output { path: out.to_path_buf(), reason: reason.into() });
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| GenerateError::io(&parent, e))?;
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("estate");
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| GenerateError::io(&tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| GenerateError::io(&tmp, e))?;
    let result = write_estate(options, &tmp, progress);
    let (rows, files, billed) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if out.exists() {
        let old = parent.join(format!(".{name}.old-{}", std::process::id()));
        std::fs::rename(out, &old).map_err(|e| GenerateError::io(out, e))?;
        std::fs::rename(&tmp, out).map_err(|e| GenerateError::io(out, e))?;
        std::fs::remove_dir_all(&old).map_err(|e| GenerateError::io(&old, e))?;
    } else {
        std::fs::rename(&tmp, out).map_err(|e| GenerateError::io(out, e))?;
    }
    let files: Vec<WrittenFile> = files
        .into_iter()
        .map(|f| WrittenFile { path: out.join(f.path.strip_prefix(&tmp).unwrap_or(&f.path)), ..f })
        .collect();
    let bytes = files.iter().map(|f| std::fs::metadata(&f.path).map(|m| m.len()).unwrap_or(0)).sum();
    Ok(Summary {
        out: out.to_path_buf(),
        rows,
        files,
        bytes,
        billed,
        seconds: started.elapsed().as_secs_f64(),
    })
}

type Written = (u64, Vec<WrittenFile>, Vec<(String, String)>);

/// Makes the estate's line items hour by hour, in time order, into `sink`; returns the truth of
/// what was written and the extra cost of each injected event.
pub(crate) fn bill(
    estate: &Estate,
    sink: &mut dyn Sink,
    progress: &dyn Progress,
) -> Result<(truth::Truth, Vec<i64>), GenerateError> {
    let mut g = Generator::new(estate);
    let mut truth = truth::Truth::default();
    let mut lines: Vec<Line> = Vec::new();
    let mut made = 0u64;
    progress.start(u64::from(estate.hours));
    for period in lines::periods(estate) {
        sink.begin_period(estate, &period)?;
        let label = period.label();
        for h in period.first_hour..period.end_hour {
            g.hour(h, &period, &mut lines);
            if h % 24 == 23 {
                g.end_of_day(h / 24, &mut lines);
            }
            if h + 1 == period.end_hour {
                g.end_of_period(&period, &mut lines);
            }
            truth.observe(estate, &g.products, &label, &lines);
            sink.push(estate, &g.products, &lines)?;
            made += lines.len() as u64;
            lines.clear();
            progress.advance(1, made);
        }
        sink.end_period(estate, &g.products)?;
    }
    Ok((truth, g.event_cost))
}

fn write_estate(options: &Options, dir: &Path, progress: &dyn Progress) -> Result<Written, GenerateError> {
    let mut estate = estate::build(options);
    estate::remediate(&mut estate)?;
    let mut sink: Box<dyn Sink> = match options.format {
        Format::Cur2 => Box::new(cur::CurSink::new(
            dir,
            EXPORT_NAME,
            options.knobs.discount_form,
            ROWS_PER_FILE,
            ROW_GROUP_ROWS,
        )),
        Format::FocusAzure | Format::FocusGcp => Box::new(focus::FocusSink::new(dir, options.format)),
    };
    let (truth, event_cost) = bill(&estate, sink.as_mut(), progress)?;
    let columns = sink.column_count();
    let files = sink.finish()?;
    let rows = files.iter().map(|f| f.rows as u64).sum();
    let sidecars = sidecar::write_all(&estate, dir)?;
    progress.finish();
    let mut doc = truth.document(&estate, &event_cost, &files, dir);
    doc["columns"] = serde_json::json!(columns);
    doc["budgets"] = serde_json::json!(
        sidecar::budgets::plan(&estate)
            .iter()
            .map(|b| serde_json::json!({
                "business_unit": estate.business_units[b.business_unit].name,
                "currency": "USD",
                "set_to_be_overrun": b.overrun,
                "months": b.months.iter().map(|(m, expected, amount)| serde_json::json!({
                    "month": m,
                    "expected_list_cost": (expected * 100.0).round() / 100.0,
                    "budget": amount,
                })).collect::<Vec<_>>(),
            }))
            .collect::<Vec<_>>()
    );
    doc["sidecars"] = serde_json::json!(
        sidecars
            .iter()
            .map(|p| p.strip_prefix(dir).unwrap_or(p).to_string_lossy().replace('\\', "/"))
            .collect::<Vec<_>>()
    );
    let path = dir.join("truth.json");
    let text = serde_json::to_string_pretty(&doc).expect("a JSON value");
    std::fs::write(&path, text).map_err(|e| GenerateError::io(&path, e))?;
    let billed = truth.totals().iter().map(|(c, s)| (c.clone(), truth::decimal(s.billed))).collect();
    Ok((rows, files, billed))
}
