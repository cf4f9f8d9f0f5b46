//! End to end over generated FOCUS estates (Azure- and Google Cloud-shaped): the files pass the
//! FinOps Foundation's validator, `costpilot ingest` keeps every row, the lake's sums and DuckDB's
//! sums over the raw files both equal truth.json's, and the same seed writes the same bytes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::Value;

/// The estate every test generates: 35 days from January 1st, so January is invoiced and
/// February is not.
const ESTATE: &[&str] = &["--accounts", "8", "--days", "35", "--start", "2025-01-01"];

fn validator() -> PathBuf {
    std::env::var("COSTPILOT_FOCUS_VALIDATE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("scripts/focus-validate"))
}

/// Generates the estate in `format` into `<dir>/<name>`.
fn generate(dir: &Path, format: &str, name: &str) -> PathBuf {
    let out = dir.join(name);
    let mut args = vec!["generate"];
    args.extend_from_slice(ESTATE);
    args.extend(["--bill-format", format, "--out", out.to_str().unwrap()]);
    ok(dir, &args);
    out
}

/// An exact decimal text (`-12.5`, `3.000000000000000`) in units of 10⁻¹⁵.
fn units(text: &str) -> i128 {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    assert!(frac.len() <= 15, "{text} has more than 15 decimals");
    let v: i128 = format!("{whole}{frac:0<15}").parse().unwrap_or_else(|_| panic!("not a decimal: {text}"));
    if neg { -v } else { v }
}

/// An amount of 10⁻¹⁵ units rounded to cents, half away from zero (as ingest reports it).
fn to_cents(v: i128) -> i128 {
    let cent = 10_000_000_000_000;
    (v + v.signum() * cent / 2) / cent * cent
}

/// Σ BilledCost, EffectiveCost, ListCost and rows per currency, from truth.json's totals.
fn truth_totals(truth: &Value) -> Vec<(String, [i128; 3], u64)> {
    let mut out: Vec<_> = truth["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let sums = ["billed_cost", "effective_cost", "list_cost"].map(|k| units(t[k].as_str().unwrap()));
            (t["currency"].as_str().unwrap().to_string(), sums, t["rows"].as_u64().unwrap())
        })
        .collect();
    out.sort();
    out
}

/// Everything a provider's estate must satisfy; `folder` is its folder under `focus/`, and
/// `provider` the ProviderName its rows carry.
fn check_estate(format: &str, folder: &str, provider: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out = generate(dir.path(), format, "estate");
    let truth: Value = serde_json::from_slice(&std::fs::read(out.join("truth.json")).unwrap()).unwrap();
    let want = truth_totals(&truth);
    assert_eq!(want.len(), 2, "{format}: the estate bills in USD and EUR: {want:?}");
    let rows: u64 = want.iter().map(|(_, _, n)| n).sum();

    // The layout: <out>/focus/<provider>/BILLING_PERIOD=YYYY-MM/part-0000N.parquet.
    let root = out.join("focus").join(folder);
    let files = parquet_files(&root);
    let layout: Vec<String> =
        files.iter().map(|f| f.strip_prefix(&root).unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(
        layout,
        ["BILLING_PERIOD=2025-01/part-00001.parquet", "BILLING_PERIOD=2025-02/part-00001.parquet"],
        "{format}"
    );

    // 1. Every file passes the FinOps Foundation's validator.
    for file in &files {
        let run = Command::new(validator()).arg(file).output().expect("run the FOCUS validator");
        let stdout = String::from_utf8_lossy(&run.stdout);
        let last = stdout.lines().last().unwrap_or_default().to_string();
        assert!(
            run.status.success(),
            "{}: the validator failed:\n{stdout}\n{}",
            file.display(),
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(last.contains(" passed, 0 failed"), "{}: {last}", file.display());
        let passed: u64 = last.split(' ').next().unwrap().parse().unwrap();
        assert!(passed > 100, "{}: only {passed} rules ran: {last}", file.display());
    }

    // 2. Ingest (the format told from the columns) keeps every row, and the lake's sums are
    //    truth's, exactly.
    let summary = json(dir.path(), &["ingest", root.to_str().unwrap()]);
    assert_eq!(summary["rows_read"], rows, "{format}: {summary}");
    assert_eq!(summary["rows_kept"], rows, "{format}: {summary}");
    assert_eq!(summary["rows_skipped"], 0, "{format}: {summary}");
    for f in summary["files"].as_array().unwrap() {
        assert_eq!(f["format"], "focus", "{format}: {f}");
    }
    let lake = json(
        dir.path(),
        &[
            "query",
            "--sql",
            "SELECT BillingCurrency, sum(BilledCost) AS billed, sum(EffectiveCost) AS effective, \
             sum(ListCost) AS list, count(*) AS n FROM focus GROUP BY BillingCurrency ORDER BY BillingCurrency",
        ],
    );
    let got: Vec<(String, [i128; 3], u64)> = lake
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let sums = ["billed", "effective", "list"].map(|k| units(r[k].as_str().unwrap()));
            (r["BillingCurrency"].as_str().unwrap().to_string(), sums, r["n"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(got, want, "{format}: lake sums against truth.json");
    for (currency, sums, _) in &want {
        let billed = summary["billed_cost_by_currency"][currency].as_str().unwrap();
        assert_eq!(units(billed), to_cents(sums[0]), "{format}: ingest's {currency} BilledCost");
    }

    // 3. DuckDB over the raw files (the independent side) gives the same sums.
    let glob = root.join("*").join("*.parquet");
    let raw = duckdb(&format!(
        "SELECT BillingCurrency, sum(BilledCost)::VARCHAR, sum(EffectiveCost)::VARCHAR, sum(ListCost)::VARCHAR, \
         count(*) FROM read_parquet('{}') GROUP BY 1 ORDER BY 1",
        glob.display()
    ));
    let raw: Vec<(String, [i128; 3], u64)> = raw
        .iter()
        .map(|r| {
            let sums = [1, 2, 3].map(|i| units(r[i].as_str().unwrap()));
            (r[0].as_str().unwrap().to_string(), sums, r[4].as_u64().unwrap())
        })
        .collect();
    assert_eq!(raw, want, "{format}: DuckDB sums against truth.json");

    // The rows read as the provider's: its name, its regions, its account ids; an invoice id
    // exactly on the invoiced month's rows.
    let shape = duckdb(&format!(
        "SELECT string_agg(DISTINCT ProviderName, ','), string_agg(DISTINCT RegionId, ',' ORDER BY RegionId), \
         count(*) FILTER (WHERE BillingPeriodStart = TIMESTAMPTZ '2025-01-01 00:00:00+00' AND InvoiceId IS NULL), \
         count(*) FILTER (WHERE BillingPeriodStart = TIMESTAMPTZ '2025-02-01 00:00:00+00' AND InvoiceId IS NOT NULL), \
         bool_and(SubAccountId LIKE '/subscriptions/%'), count(DISTINCT BillingAccountId) \
         FROM read_parquet('{}')",
        glob.display()
    ));
    let shape = &shape[0];
    assert_eq!(shape[0], provider, "{format}");
    let regions = shape[1].as_str().unwrap();
    let known: &[&str] = if folder == "azure" {
        &["australiaeast", "eastus", "germanywestcentral", "westeurope", "westus2"]
    } else {
        &["australia-southeast1", "europe-west1", "europe-west3", "us-east1", "us-west1"]
    };
    assert!(regions.split(',').all(|r| known.contains(&r)), "{format}: regions {regions}");
    assert_eq!(shape[2], 0, "{format}: January is invoiced");
    assert_eq!(shape[3], 0, "{format}: February is not invoiced");
    assert_eq!(shape[4], folder == "azure", "{format}: sub-account ids");
    assert_eq!(shape[5], 2, "{format}: one billing account per payer");
}

#[test]
fn an_azure_estate_validates_ingests_whole_and_sums_to_its_truth() {
    check_estate("focus-azure", "azure", "Microsoft");
}

#[test]
fn a_google_cloud_estate_validates_ingests_whole_and_sums_to_its_truth() {
    check_estate("focus-gcp", "gcp", "Google Cloud");
}

#[test]
fn the_same_seed_writes_byte_identical_files() {
    for format in ["focus-azure", "focus-gcp"] {
        let dir = tempfile::tempdir().unwrap();
        let a = hash_tree(&generate(dir.path(), format, "a"));
        let b = hash_tree(&generate(dir.path(), format, "b"));
        assert!(a.keys().any(|k| k.ends_with(".parquet")), "{format}: {a:?}");
        assert_eq!(a, b, "{format}");
    }
}
