//! `costpilot demo`: a realistic synthetic estate, ingested and analysed, in one command.
//!
//! No set-up and no network: the demo generates an estate (AWS CUR 2.0 Parquet and its
//! truth.json) into `<data-dir>/estate`, ingests it into the lake at `<data-dir>` through the same
//! function as `costpilot ingest`, runs every analysis in [`ANALYSES`] over the lake and prints
//! what they found, starting with the Monday briefing.
//!
//! A second run is fast: the estate is reused when its truth.json records the same options, and
//! ingest is skipped when the lake already holds its files. `--fresh` regenerates and re-ingests.
//! The data directory is the demo's own (`./.costpilot-demo` unless `--data-dir` or
//! `COSTPILOT_DATA_DIR` says otherwise): when the estate is (re)generated the demo empties the lake
//! it holds, and refuses to if that lake holds data from anywhere but `<data-dir>/estate`.

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::pin::Pin;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use costpilot_analysis::briefing::{Briefing, BriefingOptions, CurrencyBriefing, Mover, MoverLists};
use costpilot_generate::Options;
use costpilot_model::money::format_units;
use costpilot_query::{LakeSession, Sessions, open_lake};
use costpilot_rules::store::{self, RulesKind};
use serde_json::{Value, json};

use super::generate::GenerateBar;
use super::ingest;
use crate::output::{print_json, terminal_text, thousands};

/// Where the demo keeps its estate and lake unless `--data-dir` or `COSTPILOT_DATA_DIR` is given.
pub const DEFAULT_DATA_DIR: &str = "./.costpilot-demo";

/// The tag rules shipped for generated estates.
const EXAMPLE_TAG_RULES: &str = include_str!("../../../../examples/rules/tags.yaml");
/// The shared-cost allocation rules shipped for generated estates.
const EXAMPLE_ALLOCATION_RULES: &str = include_str!("../../../../examples/rules/allocation.yaml");

/// The folder under the data directory that holds the generated estate.
const ESTATE: &str = "estate";

/// Arguments of `costpilot demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Regenerate the estate and re-ingest it even if the data directory holds one made with the
    /// same options.
    #[arg(long)]
    fresh: bool,
    /// Do not start anything interactive after the briefing. Nothing interactive exists yet, so
    /// today this changes nothing; scripts should pass it so later versions stay non-interactive.
    #[arg(long)]
    no_serve: bool,
    #[command(flatten)]
    estate: super::generate::EstateArgs,
    /// Top movers listed per direction and dimension.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DemoFormat::Table)]
    format: DemoFormat,
}

/// How the demo prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoFormat {
    /// Aligned text for a terminal.
    Table,
    /// One JSON document.
    Json,
}

/// What one analysis found: its JSON and its text for a terminal.
pub struct Section {
    /// The result as JSON.
    pub json: Value,
    /// The result as lines for a terminal.
    pub text: String,
}

/// A running analysis.
type Running<'a> = Pin<Box<dyn Future<Output = Result<Section>> + 'a>>;

/// An analysis the demo runs over the lake.
pub struct Analysis {
    /// Its name: the key of its section in the JSON document.
    pub name: &'static str,
    /// Runs it over a snapshot of the lake.
    pub run: for<'a> fn(&'a LakeSession, &'a Args) -> Running<'a>,
}

/// Every analysis the demo runs, in the order it prints them. A new analysis (anomalies,
/// forecasts, recommendations, ...) plugs in with one entry here.
pub const ANALYSES: &[Analysis] =
    &[Analysis { name: "briefing", run: |s, a| Box::pin(briefing_section(s, a)) }];

/// Runs `costpilot demo`; `data_dir` is the data directory when one was given explicitly.
pub async fn run(data_dir: Option<&Path>, args: Args) -> Result<()> {
    let started = Instant::now();
    let options = args.estate.options();
    options.validate()?;
    let data_dir = data_dir.unwrap_or(Path::new(DEFAULT_DATA_DIR));
    if data_dir.exists() && !data_dir.is_dir() {
        bail!("{}: the data directory is a file, not a folder", data_dir.display());
    }
    let data_dir = std::path::absolute(data_dir).with_context(|| data_dir.display().to_string())?;
    let table = args.format == DemoFormat::Table;
    let say = |line: String| if table { write_out(&format!("{line}\n")) } else { Ok(()) };

    // 1. The estate.
    let estate_dir = data_dir.join(ESTATE);
    let reused = !args.fresh && same_estate(&estate_dir, &options)?;
    let estate = if reused {
        let truth = read_truth(&estate_dir)?;
        let rows = truth["rows"].as_u64().unwrap_or(0);
        say(format!(
            "estate: reusing {} ({} line items, made with the same options; --fresh makes it anew)",
            estate_dir.display(),
            thousands(rows)
        ))?;
        json!({ "path": estate_dir, "reused": true, "rows": rows, "seconds": 0.0 })
    } else {
        refuse_foreign_estate(&estate_dir)?;
        empty_lake(&data_dir, &estate_dir)?;
        let bar = GenerateBar::new(table);
        let summary = costpilot_generate::generate(&options, &estate_dir, true, &bar)?;
        say(format!(
            "estate: generated {} line items in {} files ({:.1} MB) into {} in {:.1} s",
            thousands(summary.rows),
            summary.files.len(),
            summary.bytes as f64 / 1e6,
            estate_dir.display(),
            summary.seconds
        ))?;
        json!({ "path": estate_dir, "reused": false, "rows": summary.rows, "seconds": summary.seconds })
    };

    // 2. The rules: the shipped examples and the estate's CMDB, so owners come from tags, the
    // CMDB and virtual tags as they would in a real set-up (unchanged files make no new version).
    // In force before the ingest, so the rollups it computes group by these rules' dimensions.
    let rules = [
        store::apply_text(
            &data_dir,
            RulesKind::Tags,
            EXAMPLE_TAG_RULES,
            Path::new("examples/rules/tags.yaml"),
        )?,
        store::apply(&data_dir, RulesKind::Cmdb, &estate_dir.join("cmdb.csv"))?,
        store::apply_text(
            &data_dir,
            RulesKind::Allocation,
            EXAMPLE_ALLOCATION_RULES,
            Path::new("examples/rules/allocation.yaml"),
        )?,
    ];
    for r in &rules {
        if !r.unchanged {
            say(format!("rules: {} in force ({})", r.path.display(), r.summary))?;
        }
    }

    // 3. The lake: the same function as `costpilot ingest <data-dir>/estate/cur`, which computes
    // the rollups of the units it writes; parts that other rules or releases left stale are
    // computed after it.
    let cur = estate_dir.join("cur");
    let ingested =
        ingest::ingest(&data_dir, std::slice::from_ref(&cur), &costpilot_ingest::job::Options::default())?;
    if ingested.unchanged {
        say(format!("lake: already holds the estate's files; ingest skipped ({:.2} s)", ingested.seconds))?;
    } else {
        say(format!(
            "lake: ingested {} rows from {} file(s) into {} unit(s) in {:.1} s ({} rows/s)",
            thousands(ingested.rows_kept),
            ingested.files.len(),
            ingested.units,
            ingested.seconds,
            thousands(ingested.rows_per_second as u64)
        ))?;
    }
    super::rollups::rebuild_after_change(&data_dir, true).await?;

    // 4. The analyses.
    let lake = open_lake(&data_dir)?;
    let session = lake.session().await?;
    let mut sections = Vec::with_capacity(ANALYSES.len());
    for analysis in ANALYSES {
        let section = (analysis.run)(&session, &args).await.with_context(|| analysis.name)?;
        sections.push((analysis.name, section));
    }

    // 5. The report. --no-serve: nothing interactive exists yet, so there is nothing to skip.
    let seconds = started.elapsed().as_secs_f64();
    if table {
        let mut text = String::new();
        for (_, s) in &sections {
            text.push('\n');
            text.push_str(&s.text);
        }
        text.push_str(&format!(
            "\ndone in {seconds:.1} s · explore with: costpilot --data-dir {} query --sql \"SELECT ServiceName, sum(EffectiveCost) FROM focus WHERE BillingCurrency = 'USD' GROUP BY 1 ORDER BY 2 DESC\"\n",
            data_dir.display()
        ));
        return write_out(&text);
    }
    let mut doc = json!({
        "data_dir": data_dir,
        "estate": estate,
        "ingest": serde_json::to_value(&ingested)?,
        // Nothing interactive exists yet, with or without --no-serve.
        "served": false,
        "rules": serde_json::to_value(&rules)?,
        "seconds": seconds,
    });
    for (name, s) in sections {
        doc[name] = s.json;
    }
    print_json(&doc)
}

/// Writes to stdout, failing (not panicking) when it is closed.
fn write_out(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).context("writing to stdout")
}

/// True when `dir` holds a complete estate made with `options` (as its truth.json records them).
fn same_estate(dir: &Path, options: &Options) -> Result<bool> {
    if !dir.join("truth.json").is_file() {
        return Ok(false);
    }
    let Ok(truth) = read_truth(dir) else { return Ok(false) };
    let recorded = &truth["options"];
    if *recorded != serde_json::to_value(options)? {
        return Ok(false);
    }
    // Every data file truth.json lists must still be there.
    let files = truth["files"].as_array().map(Vec::as_slice).unwrap_or_default();
    Ok(!files.is_empty() && files.iter().all(|f| f["path"].as_str().is_some_and(|p| dir.join(p).is_file())))
}

fn read_truth(dir: &Path) -> Result<Value> {
    let path = dir.join("truth.json");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    serde_json::from_str(&text).with_context(|| format!("{}: not valid JSON", path.display()))
}

/// Refuses to replace an `estate` folder that the generator did not write.
fn refuse_foreign_estate(dir: &Path) -> Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        bail!("{}: exists and is not a folder; remove it or choose another --data-dir", dir.display());
    }
    let empty = std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(false);
    if !empty && !dir.join("truth.json").is_file() {
        bail!(
            "{}: exists and was not written by costpilot; remove it or choose another --data-dir",
            dir.display()
        );
    }
    Ok(())
}

/// Empties the lake of the data directory before a new estate is made, so it never mixes two
/// estates; refuses if the lake holds anything not ingested from `estate`.
fn empty_lake(data_dir: &Path, estate: &Path) -> Result<()> {
    let root = data_dir.join("lake");
    if !root.exists() {
        return Ok(());
    }
    let manifest = open_lake(data_dir)?.manifest()?;
    let foreign = manifest
        .units()
        .iter()
        .flat_map(|u| u.sources.iter())
        .find(|s| !Path::new(&s.path).starts_with(estate));
    if let Some(source) = foreign {
        bail!(
            "{}: holds data costpilot demo did not make (from {}); choose another --data-dir",
            data_dir.display(),
            Path::new(&source.path).display()
        );
    }
    std::fs::remove_dir_all(&root).with_context(|| root.display().to_string())
}

/// The Monday briefing ([`costpilot_analysis::briefing()`]) as a section.
async fn briefing_section(session: &LakeSession, args: &Args) -> Result<Section> {
    let briefing = costpilot_analysis::briefing(session, BriefingOptions { top: args.top }).await?;
    Ok(Section { json: serde_json::to_value(&briefing)?, text: briefing_text(&briefing) })
}

fn briefing_text(b: &Briefing) -> String {
    let mut out = String::from(
        "MONDAY BRIEFING · EffectiveCost (amortised, after discounts) per billing period, per currency\n",
    );
    if b.currencies.is_empty() {
        out.push_str("\nthe lake holds no costs\n");
    }
    for c in &b.currencies {
        currency_text(&mut out, c);
    }
    out
}

fn currency_text(out: &mut String, c: &CurrencyBriefing) {
    let cur = &c.currency;
    let through = c.data_through.as_deref().map(|t| t.replace('T', " ").replace('Z', " UTC"));
    out.push_str(&format!("\n{cur} · usage through {}\n", through.as_deref().unwrap_or("-")));
    let mut lines: Vec<[String; 3]> = Vec::new();
    if let Some(m) = &c.last_complete {
        let state = if m.invoiced { "complete, invoiced" } else { "complete, not invoiced yet" };
        let vs = match (&m.previous_period, m.previous_effective_cost, m.change) {
            (Some(p), Some(prev), Some(change)) => {
                format!("{}{} vs {p} ({} {cur})", signed(change), pct(m.change_percent), money(prev))
            }
            _ => "no earlier period to compare".to_string(),
        };
        lines.push([format!("{} ({state})", m.period), format!("{} {cur}", money(m.effective_cost)), vs]);
    } else {
        lines.push(["no complete period yet".into(), String::new(), String::new()]);
    }
    if let Some(m) = &c.month_to_date {
        lines.push([
            format!("{} to date ({} of {} days)", m.period, m.days, m.days_in_period),
            format!("{} {cur}", money(m.effective_cost)),
            String::new(),
        ]);
    }
    if let Some(u) = &c.unallocated {
        let share = u.share.map(|s| format!("{:.1} %", s * 100.0)).unwrap_or_else(|| "-".into());
        lines.push([
            format!("unallocated in {} (no owner)", u.period),
            format!("{} {cur}", money(u.effective_cost)),
            format!("{share} of {} {cur}", money(u.total_effective_cost)),
        ]);
    }
    let w0 = lines.iter().map(|l| l[0].chars().count()).max().unwrap_or(0);
    let w1 = lines.iter().map(|l| l[1].chars().count()).max().unwrap_or(0);
    for [a, b, c] in &lines {
        out.push_str(format!("  {a:<w0$}  {b:>w1$}  {c}").trim_end());
        out.push('\n');
    }
    if let Some(m) = &c.movers {
        out.push_str(&format!("\n  top movers, {} vs {} ({cur})\n", m.period, m.previous_period));
        let mut rows: Vec<[String; 6]> = Vec::new();
        let header = ["", "", m.previous_period.as_str(), m.period.as_str(), "change", "%"].map(String::from);
        for (title, lists, label) in [
            ("service", &m.service, label_service as fn(&Mover) -> String),
            ("account", &m.account, label_account),
            ("owner", &m.owner, label_owner),
        ] {
            movers_rows(&mut rows, title, lists, label);
        }
        let mut widths = header.clone().map(|h| h.chars().count());
        for r in &rows {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for r in std::iter::once(&header).chain(&rows) {
            let mut line = String::from("  ");
            for (i, (cell, w)) in r.iter().zip(widths).enumerate() {
                if i < 2 {
                    line.push_str(&format!("{cell:<w$}  "));
                } else {
                    line.push_str(&format!("{cell:>w$}  "));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
}

fn movers_rows(rows: &mut Vec<[String; 6]>, title: &str, lists: &MoverLists, label: fn(&Mover) -> String) {
    let mut first = true;
    let mut title = || if std::mem::take(&mut first) { format!("by {title}") } else { String::new() };
    if lists.up.is_empty() && lists.down.is_empty() {
        rows.push([
            title(),
            "(no change)".into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }
    for (arrow, m) in lists.up.iter().map(|m| ("▲", m)).chain(lists.down.iter().map(|m| ("▼", m))) {
        rows.push([
            title(),
            format!("{arrow} {}", label(m)),
            money(m.previous_effective_cost),
            money(m.effective_cost),
            signed(m.change),
            m.change_percent.map(|p| format!("{p:+.1} %")).unwrap_or_else(|| "new".into()),
        ]);
    }
}

// Names and keys come from the bill: a hostile one must not rewrite the terminal.
fn label_service(m: &Mover) -> String {
    terminal_text(m.key.as_deref().unwrap_or("(no service)")).into_owned()
}

fn label_account(m: &Mover) -> String {
    let label = match (&m.name, &m.key) {
        (Some(name), Some(id)) => format!("{name} ({id})"),
        (None, Some(id)) => id.clone(),
        _ => "(no account)".into(),
    };
    terminal_text(&label).into_owned()
}

fn label_owner(m: &Mover) -> String {
    terminal_text(m.key.as_deref().unwrap_or("(no owner)")).into_owned()
}

/// " (+12.3 %)", or "" without a percentage.
fn pct(p: Option<f64>) -> String {
    p.map(|p| format!(" ({p:+.1} %)")).unwrap_or_default()
}

/// An amount rounded to cents with thousands separators: "31,681.30", "-12.05".
fn money(units: i128) -> String {
    let text = format_units(units, 2);
    let (sign, digits) = text.strip_prefix('-').map(|d| ("-", d)).unwrap_or(("", &text));
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "00"));
    let int: u64 = int.parse().unwrap_or(0);
    format!("{sign}{}.{frac}", thousands(int))
}

/// A change with its sign: "+1,234.50", "-3.00".
fn signed(units: i128) -> String {
    if units > 0 { format!("+{}", money(units)) } else { money(units) }
}

impl std::fmt::Debug for Analysis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}
