//! `costpilot generate`: write a realistic synthetic estate (a bill and its truth) to a folder.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use costpilot_generate::{Format as BillFormat, Knobs, Options, Progress};
use indicatif::ProgressBar;
use serde::Serialize;

use crate::output::{Format, print_json, progress_bar, thousands};

/// The size, range and seed of an estate, as `generate` and `demo` take them.
#[derive(Debug, clap::Args)]
pub struct EstateArgs {
    /// Member accounts, the payers' management accounts included.
    #[arg(long, default_value_t = 120)]
    accounts: u32,
    /// Days of usage.
    #[arg(long, default_value_t = 90)]
    days: u32,
    /// First day of usage (YYYY-MM-DD).
    #[arg(long, default_value = "2025-01-01")]
    start: NaiveDate,
    /// Seed of every random draw: the same seed and options give byte-identical files.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// About how many line items to write (default: the estate's natural size).
    #[arg(long)]
    rows_target: Option<u64>,
}

impl EstateArgs {
    /// Generator options for these arguments, every other option at its default.
    pub fn options(&self) -> Options {
        Options {
            accounts: self.accounts,
            days: self.days,
            start: self.start,
            seed: self.seed,
            rows_target: self.rows_target,
            ..Options::default()
        }
    }
}

/// Arguments of `costpilot generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder to write the estate into (must not exist, unless --replace).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    estate: EstateArgs,
    /// Bill format.
    #[arg(long = "bill-format", value_enum, default_value_t = BillFormatArg::Cur2)]
    bill_format: BillFormatArg,
    /// A JSON file of knobs (tag faults, growth, commitments, waste, events; see truth.json).
    #[arg(long)]
    knobs: Option<PathBuf>,
    /// Replay mode: a JSON list of remediations applied from their hour on
    /// (`[{"from": "2025-02-15T00:00:00Z", "action": "delete", "resource_id": "i-0…"}, …]`;
    /// actions delete, rightsize, schedule, purchase_savings_plan).
    #[arg(long)]
    remediate: Option<PathBuf>,
    /// Replace the folder if it exists (only once the new estate is complete).
    #[arg(long)]
    replace: bool,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// The bill formats, as the command line spells them.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum BillFormatArg {
    /// AWS CUR 2.0 (Data Exports) Parquet.
    Cur2,
    /// FOCUS 1.2 Parquet of an Azure-shaped estate.
    FocusAzure,
    /// FOCUS 1.2 Parquet of a Google Cloud-shaped estate.
    FocusGcp,
}

impl From<BillFormatArg> for BillFormat {
    fn from(f: BillFormatArg) -> Self {
        match f {
            BillFormatArg::Cur2 => Self::Cur2,
            BillFormatArg::FocusAzure => Self::FocusAzure,
            BillFormatArg::FocusGcp => Self::FocusGcp,
        }
    }
}

/// What a run wrote, as printed with `--format json`.
#[derive(Debug, Serialize)]
struct Summary {
    out: PathBuf,
    rows: u64,
    files: usize,
    bytes: u64,
    billed_cost_by_currency: std::collections::BTreeMap<String, String>,
    seconds: f64,
    rows_per_second: f64,
}

/// Generation progress drawn as a bar of hours.
pub struct GenerateBar(ProgressBar);

impl GenerateBar {
    /// A bar shown when a person is watching a table, hidden otherwise.
    pub fn new(table: bool) -> Self {
        Self(progress_bar(table, "generating [{bar:30}] {pos}/{len} hours {msg} eta {eta}"))
    }
}

impl Progress for GenerateBar {
    fn start(&self, hours: u64) {
        self.0.set_length(hours);
    }
    fn advance(&self, hours: u64, rows: u64) {
        self.0.inc(hours);
        self.0.set_message(format!("{} line items", thousands(rows)));
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// Runs `costpilot generate`.
pub fn run(args: Args) -> Result<()> {
    let knobs = match &args.knobs {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
            serde_json::from_str::<Knobs>(&text)
                .with_context(|| format!("{}: not a valid knobs file", path.display()))?
        }
        None => Knobs::default(),
    };
    let remediations = match &args.remediate {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{}: not a list of remediations", path.display()))?
        }
        None => Vec::new(),
    };
    let options = Options { format: args.bill_format.into(), knobs, remediations, ..args.estate.options() };
    let summary = costpilot_generate::generate(
        &options,
        &args.out,
        args.replace,
        &GenerateBar::new(args.format == Format::Table),
    )?;
    let out = Summary {
        out: summary.out.clone(),
        rows: summary.rows,
        files: summary.files.len(),
        bytes: summary.bytes,
        billed_cost_by_currency: summary.billed.iter().cloned().collect(),
        seconds: summary.seconds,
        rows_per_second: summary.rows as f64 / summary.seconds.max(1e-9),
    };
    match args.format {
        Format::Json => print_json(&out),
        Format::Table | Format::Csv => {
            let billed: Vec<String> =
                out.billed_cost_by_currency.iter().map(|(c, v)| format!("{c} {}", cents(v))).collect();
            println!(
                "generated {} line items in {} files ({:.1} MB) into {} in {:.1} s ({} rows/s); BilledCost {}",
                thousands(out.rows),
                out.files,
                out.bytes as f64 / 1e6,
                out.out.display(),
                out.seconds,
                thousands(out.rows_per_second as u64),
                billed.join(", ")
            );
            Ok(())
        }
    }
}

/// An exact decimal rounded to cents, half away from zero, as ingest prints its totals.
fn cents(v: &str) -> String {
    costpilot_model::money::parse_decimal(v)
        .map(|units| costpilot_model::money::format_units(units, 2))
        .unwrap_or_else(|_| v.to_string())
}
