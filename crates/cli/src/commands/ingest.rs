//! `costpilot ingest`: read billing exports into the lake in one transaction (the job is
//! [`costpilot_ingest::job`]), show its progress and summary, and rebuild the rollups if units
//! changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use costpilot_ingest::SourceKind;
use costpilot_ingest::job::{self, DEFAULT_MAX_BAD_ROWS, Options, PassedOver, Summary};
use costpilot_query::open_lake;

use crate::output::{Bar, Format, print_json, thousands};

/// Arguments of `costpilot ingest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or folders holding billing exports (all files of one delivery belong in one call).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The format: told from the columns by default.
    #[arg(long, default_value = "auto", value_parser = source_kind)]
    source: SourceKind,
    /// Fail on the first bad row instead of skipping and counting it.
    #[arg(long)]
    strict: bool,
    /// The largest share of a unit's rows, in percent, that may be bad (skipped) before the
    /// ingest refuses the delivery and leaves the lake as it was.
    #[arg(long, value_name = "PERCENT", default_value_t = DEFAULT_MAX_BAD_ROWS, value_parser = percent)]
    max_bad_rows: f64,
    /// Replace a unit even when the new delivery holds less than half of its rows or cost.
    #[arg(long)]
    force: bool,
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

fn percent(text: &str) -> Result<f64, String> {
    match text.trim_end_matches('%').parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
        _ => Err(format!("'{text}' is not a percentage from 0 to 100")),
    }
}

fn source_kind(text: &str) -> Result<SourceKind, String> {
    SourceKind::parse(text).ok_or_else(|| format!("'{text}' is not one of auto, cur2, cur-legacy, focus"))
}

/// Examples of skipped rows the table summary prints.
const EXAMPLES_PRINTED: usize = 5;

/// Runs the ingest, prints its summary and rebuilds the rollups if units changed.
pub async fn run(data_dir: &Path, args: Args) -> Result<()> {
    let options = Options {
        source: args.source,
        strict: args.strict,
        max_bad_rows: args.max_bad_rows,
        force: args.force,
    };
    let summary = ingest(data_dir, &args.paths, &options)?;
    report(&summary, args.format)?;
    if summary.units_added + summary.units_replaced > 0 {
        super::rollups::rebuild_after_change(data_dir, args.format == Format::Json).await?;
    }
    Ok(())
}

/// [`job::ingest`] into the lake of `data_dir` (opened with its rollups), with a progress bar on
/// a terminal. Shared by `costpilot ingest` and `costpilot demo`.
pub fn ingest(data_dir: &Path, paths: &[PathBuf], options: &Options) -> Result<Summary> {
    let lake = open_lake(data_dir)?;
    Ok(job::ingest(&lake, paths, options, &Bar::default())?)
}

fn report(summary: &Summary, format: Format) -> Result<()> {
    if let Some(why) = &summary.parts_skipped {
        eprintln!("warning: the ingest computed no rollup parts ({why}); computing them from the lake");
    }
    if format == Format::Json {
        return print_json(summary);
    }
    if summary.unchanged {
        println!("unchanged: every file was already ingested with the same checksum");
        print_passed_over(&summary.passed_over);
        return Ok(());
    }
    let billed = summary
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
        if billed.is_empty() { "0".to_string() } else { billed },
        summary.seconds,
        thousands(summary.rows_per_second as u64),
        summary.megabytes_per_second,
    );
    if summary.rows_skipped > 0 {
        println!("skipped {} bad row(s):", thousands(summary.rows_skipped));
        for (reason, n) in &summary.skipped_by_reason {
            println!("  {n} × {reason}");
        }
        // A few examples say enough; `--format json` has every file's first ones.
        let examples = summary.files.iter().flat_map(|f| f.examples.iter().map(move |bad| (f, bad)));
        for (file, bad) in examples.take(EXAMPLES_PRINTED) {
            let column = bad.column.as_deref().unwrap_or("(whole row)");
            println!("  e.g. {}: row {}, column '{}': {}", file.path.display(), bad.row, column, bad.reason);
        }
    }
    if !summary.nulled_by_reason.is_empty() {
        println!("warning: values that are not numbers, kept as nulls in rows that were kept:");
        for (reason, n) in &summary.nulled_by_reason {
            println!("  {n} × {reason}");
        }
    }
    print_passed_over(&summary.passed_over);
    for duplicate in &summary.duplicates {
        println!(
            "not read: {} has the same content as {}",
            duplicate.path.display(),
            duplicate.same_as.display()
        );
    }
    Ok(())
}

/// Files passed over, a line per reason with the first of them (a real export folder holds many
/// manifests and older deliveries; `--format json` lists every file).
fn print_passed_over(passed_over: &[PassedOver]) {
    let mut by_reason: BTreeMap<&str, Vec<&Path>> = BTreeMap::new();
    for p in passed_over {
        by_reason.entry(p.reason.as_str()).or_default().push(&p.path);
    }
    for (reason, paths) in by_reason {
        match paths.as_slice() {
            [one] => println!("not read: {}: {reason}", one.display()),
            [first, ..] => {
                println!("not read: {} files ({} and others): {reason}", paths.len(), first.display())
            }
            [] => {}
        }
    }
}
