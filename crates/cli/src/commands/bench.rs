//! `costpilot bench`: the fast-analytics query suite through the semantic layer, warm and in
//! process, with p50 and p95 per query. `bench/run.sh` runs it beside the same suite as plain SQL
//! in costpilot and in DuckDB; this command is the in-process half, where only the query counts.

use std::path::Path;
use std::time::Instant;

use anyhow::{Result, bail};
use costpilot_query::semantic::{self, Dimension, Grain, MAX_PAGE_SIZE, Metric, Page, Request, TimeRange};
use costpilot_query::{Sessions, open_lake};
use serde::Serialize;

use crate::output::{Format, print_json};

/// Arguments of `costpilot bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Timed runs per query, after one warm-up run.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The tag key of the tag queries (an allocation dimension reads the rules' column).
    #[arg(long, default_value = "team")]
    tag: String,
    /// Output format (table or json).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// One query's timings.
#[derive(Debug, Serialize)]
struct Timing {
    name: &'static str,
    /// What answered: `raw` or `rollup:<name>`.
    source: String,
    rows: usize,
    total_rows: u64,
    p50_ms: f64,
    p95_ms: f64,
    runs_ms: Vec<f64>,
}

/// The suite's report.
#[derive(Debug, Serialize)]
struct Report {
    lake_rows: u64,
    runs: usize,
    queries: Vec<Timing>,
    /// Queries answered from a rollup (see `costpilot rollups`); the others read the lake.
    rollup_hits: usize,
    peak_rss_bytes: Option<u64>,
}

/// The suite: what a FinOps dashboard asks first, as semantic-layer requests.
fn suite(tag: &str, anchor: Option<i64>) -> Result<Vec<(&'static str, Request)>> {
    let last = |days: &str| TimeRange::parse(days, anchor).map(Some);
    let page = |size| Some(Page { size, offset: 0 });
    let tag = Dimension::Tag(tag.to_string());
    let all = page(MAX_PAGE_SIZE);
    Ok(vec![
        (
            "daily by account",
            Request {
                group_by: vec![Dimension::ACCOUNT],
                grain: Some(Grain::Day),
                page: all,
                ..Default::default()
            },
        ),
        (
            "monthly by service",
            Request {
                group_by: vec![Dimension::SERVICE],
                grain: Some(Grain::Month),
                page: all,
                ..Default::default()
            },
        ),
        (
            "top 50 resources, last 30 days",
            Request {
                group_by: vec![Dimension::RESOURCE],
                range: last("30d")?,
                top: Some(50),
                page: all,
                ..Default::default()
            },
        ),
        (
            "monthly by normalised tag",
            Request {
                group_by: vec![tag.clone()],
                grain: Some(Grain::Month),
                page: all,
                ..Default::default()
            },
        ),
        (
            "untagged share (by tag, whole range)",
            Request { group_by: vec![tag], page: all, ..Default::default() },
        ),
        (
            "hourly by account x service, last 7 days (first page)",
            Request {
                group_by: vec![Dimension::ACCOUNT, Dimension::SERVICE],
                grain: Some(Grain::Hour),
                range: last("7d")?,
                page: page(1000),
                ..Default::default()
            },
        ),
        (
            "month over month by region",
            Request {
                group_by: vec![Dimension::REGION],
                range: last("30d")?,
                compare: true,
                page: all,
                ..Default::default()
            },
        ),
        (
            "instance-hours by type",
            Request {
                metric: Metric::UsageQuantity,
                group_by: vec![Dimension::INSTANCE_TYPE],
                page: all,
                ..Default::default()
            },
        ),
    ])
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

/// Runs `costpilot bench` over the whole lake (`main` refuses it under --scope: its row count and
/// timings are the whole lake's).
pub async fn run(data_dir: &Path, args: Args) -> Result<()> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let lake = open_lake(data_dir)?;
    let session = lake.session().await?;
    let lake_rows = session.manifest().rows();
    if lake_rows == 0 {
        bail!("the lake holds no rows yet: ingest a bill first (costpilot ingest <file-or-folder>)");
    }
    let anchor = semantic::anchor(&session).await?;
    let mut queries = Vec::new();
    for (name, request) in suite(&args.tag, anchor)? {
        let warm = semantic::run(&session, &request).await?;
        let mut runs_ms = Vec::with_capacity(args.runs);
        for _ in 0..args.runs {
            let started = Instant::now();
            semantic::run(&session, &request).await?;
            runs_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let mut sorted = runs_ms.clone();
        sorted.sort_by(f64::total_cmp);
        queries.push(Timing {
            name,
            source: warm.source.clone(),
            rows: warm.rows.len(),
            total_rows: warm.total_rows,
            p50_ms: percentile(&sorted, 50.0),
            p95_ms: percentile(&sorted, 95.0),
            runs_ms,
        });
    }
    let rollup_hits = queries.iter().filter(|q| q.source != semantic::RAW_SOURCE).count();
    let report = Report { lake_rows, runs: args.runs, queries, rollup_hits, peak_rss_bytes: peak_rss() };
    if args.format == Format::Json {
        return print_json(&serde_json::to_value(&report)?);
    }
    println!(
        "semantic layer, warm, in process: {} lake rows, median and p95 of {} runs after a warm-up",
        report.lake_rows, report.runs
    );
    for q in &report.queries {
        println!(
            "  {:>9.1} ms  {:>9.1} ms  {:>6} rows  {} [{}]",
            q.p50_ms, q.p95_ms, q.rows, q.name, q.source
        );
    }
    println!(
        "rollup hits: {} of {}; peak RSS {:.2} GB",
        report.rollup_hits,
        report.queries.len(),
        report.peak_rss_bytes.unwrap_or(0) as f64 / 1e9
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(percentile(&v, 50.0), 3.0);
        assert_eq!(percentile(&v, 95.0), 5.0);
        assert_eq!(percentile(&[7.0], 95.0), 7.0);
    }
}
