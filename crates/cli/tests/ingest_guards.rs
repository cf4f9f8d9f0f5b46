//! A delivery that looks wrong as a whole is refused loudly, and the lake stays byte-for-byte as it
//! was: too many bad rows in a unit, every row bad, a unit that would lose most of its rows or cost.
//! Identical files count once; impossible dates are bad rows; broken files say what is broken.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::*;

const HEADER: &str = "bill_payer_account_id,bill_billing_period_start_date,line_item_line_item_type,\
line_item_usage_start_date,line_item_usage_end_date,line_item_currency_code,line_item_product_code,\
line_item_unblended_cost";

/// A CUR 2.0 CSV of `rows` one-cent-multiple Usage lines of payer 111122223333 in January 2025;
/// the rows numbered in `bad` (1-based) carry "12,5" as their cost.
fn bill(dir: &Path, name: &str, rows: usize, bad: &[usize]) -> PathBuf {
    let mut text = format!("{HEADER}\n");
    for i in 1..=rows {
        let cost =
            if bad.contains(&i) { "\"12,5\"".to_string() } else { format!("{}.{:02}", i % 7, i % 100) };
        let day = 1 + i % 28;
        writeln!(
            text,
            "111122223333,2025-01-01T00:00:00Z,Usage,2025-01-{day:02}T00:00:00Z,2025-01-{day:02}T01:00:00Z,USD,AmazonEC2,{cost}"
        )
        .unwrap();
    }
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

fn fails(data_dir: &Path, args: &[&str]) -> String {
    let out = costpilot(data_dir, args);
    assert!(!out.status.success(), "{args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

fn lake_files(dir: &Path) -> std::collections::BTreeMap<String, String> {
    hash_tree(&dir.join("lake"))
}

/// True when the lake at `dir` holds no data file.
fn no_data(dir: &Path) -> bool {
    let lake = dir.join("lake");
    !lake.exists() || parquet_files(&lake).is_empty()
}

#[test]
fn a_unit_with_more_bad_rows_than_allowed_is_refused_and_the_lake_stays_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let good = bill(dir.path(), "in/good.csv", 400, &[]);
    ok(dir.path(), &["ingest", good.to_str().unwrap()]);
    let before = lake_files(dir.path());

    let restated = bill(dir.path(), "in2/restated.csv", 1000, &[10, 20, 30]);
    let err = fails(dir.path(), &["ingest", restated.to_str().unwrap()]);
    assert_eq!(
        err,
        "error: ingest refused, the lake is unchanged:\n\
         3 of 1000 rows (0.30 %) of unit AWS/111122223333/2025-01 are bad, more than --max-bad-rows 0.1 %:\n  \
         3 × line_item_unblended_cost: not a number"
    );
    assert_eq!(lake_files(dir.path()), before);

    // Allowing 0.5 % takes the delivery, without its three bad rows.
    let summary = json(dir.path(), &["ingest", restated.to_str().unwrap(), "--max-bad-rows", "0.5"]);
    assert_eq!(summary["rows_read"], 1000);
    assert_eq!(summary["rows_kept"], 997);
    assert_eq!(summary["units_replaced"], 1);

    let err = fails(dir.path(), &["ingest", restated.to_str().unwrap(), "--max-bad-rows", "101"]);
    assert!(err.contains("'101' is not a percentage from 0 to 100"), "{err}");
}

#[test]
fn a_file_whose_every_row_is_bad_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let all_bad = bill(dir.path(), "in/bad.csv", 4, &[1, 2, 3, 4]);
    let err = fails(dir.path(), &["ingest", all_bad.to_str().unwrap()]);
    assert_eq!(
        err,
        format!(
            "error: ingest refused, the lake is unchanged:\n\
             4 of 4 rows (100.00 %) of {} are bad, more than --max-bad-rows 0.1 %:\n  \
             4 × line_item_unblended_cost: not a number",
            all_bad.display()
        )
    );
    assert!(no_data(dir.path()));
}

#[test]
fn a_delivery_that_would_lose_most_of_a_unit_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let full = bill(dir.path(), "in/full.csv", 300, &[]);
    ok(dir.path(), &["ingest", full.to_str().unwrap()]);
    let before = lake_files(dir.path());
    let total = |dir: &Path| {
        json(dir, &["query", "--sql", "SELECT sum(BilledCost) AS c, count(*) AS n FROM focus"])[0].clone()
    };
    let full_total = total(dir.path());

    let partial = bill(dir.path(), "in2/partial.csv", 12, &[]);
    let err = fails(dir.path(), &["ingest", partial.to_str().unwrap()]);
    assert_eq!(
        err,
        "error: ingest refused, the lake is unchanged:\n\
         unit AWS/111122223333/2025-01 would go from 300 rows (1051.50 USD) to 12 rows (36.78 USD), \
         losing more than half; pass --force to replace it anyway"
    );
    assert_eq!(lake_files(dir.path()), before);
    assert_eq!(total(dir.path()), full_total);

    ok(dir.path(), &["ingest", partial.to_str().unwrap(), "--force"]);
    assert_eq!(total(dir.path())["n"], 12);
}

#[test]
fn two_copies_of_one_file_count_once() {
    let dir = tempfile::tempdir().unwrap();
    let one = bill(dir.path(), "in/a.csv", 50, &[]);
    std::fs::copy(&one, dir.path().join("in/b.csv")).unwrap();
    let summary = json(dir.path(), &["ingest", dir.path().join("in").to_str().unwrap()]);
    assert_eq!(summary["rows_kept"], 50, "{summary}");
    assert_eq!(summary["duplicates"][0]["path"], dir.path().join("in/b.csv").to_str().unwrap());
    assert_eq!(summary["duplicates"][0]["same_as"], one.to_str().unwrap());
    let single = tempfile::tempdir().unwrap();
    let alone = json(single.path(), &["ingest", one.to_str().unwrap()]);
    assert_eq!(summary["billed_cost_by_currency"], alone["billed_cost_by_currency"]);
}

#[test]
fn impossible_dates_are_bad_rows_even_under_strict() {
    let dir = tempfile::tempdir().unwrap();
    let period = dir.path().join("export/data/BILLING_PERIOD=2025-01");
    std::fs::create_dir_all(&period).unwrap();
    let write = |name: &str, row: &str| {
        let path = period.join(name);
        std::fs::write(&path, format!("{HEADER}\n{row}\n")).unwrap();
        path
    };
    let cases = [
        (
            "ends-first.csv",
            "111122223333,2025-01-01T00:00:00Z,Usage,9999-01-02T00:00:00Z,2025-01-01T00:00:00Z,USD,AmazonEC2,1.00",
            "row 1, column 'ChargePeriodStart': 9999-01-02T00:00:00Z is outside the years 2000 to 2099",
        ),
        (
            "reversed.csv",
            "111122223333,2025-01-01T00:00:00Z,Usage,2025-01-03T00:00:00Z,2025-01-02T00:00:00Z,USD,AmazonEC2,1.00",
            "row 1, column 'ChargePeriodEnd': ends (2025-01-02T00:00:00Z) before ChargePeriodStart (2025-01-03T00:00:00Z)",
        ),
        (
            "far-period.csv",
            "111122223333,9999-06-01T00:00:00Z,Usage,2025-01-03T00:00:00Z,2025-01-03T01:00:00Z,USD,AmazonEC2,1.00",
            "row 1, column 'BillingPeriodStart': 9999-06-01T00:00:00Z is outside the years 2000 to 2099",
        ),
        (
            "other-period.csv",
            "111122223333,2024-12-01T00:00:00Z,Usage,2025-01-03T00:00:00Z,2025-01-03T01:00:00Z,USD,AmazonEC2,1.00",
            "row 1, column 'BillingPeriodStart': 2024-12-01T00:00:00Z is not in the billing period of its folder BILLING_PERIOD=2025-01",
        ),
    ];
    for (name, row, reason) in cases {
        let path = write(name, row);
        let err = fails(dir.path(), &["ingest", "--strict", path.to_str().unwrap()]);
        assert_eq!(err, format!("error: {}: {reason}", path.display()));
        std::fs::remove_file(path).unwrap();
    }
    assert!(no_data(dir.path()));
}

#[test]
fn broken_files_say_what_is_broken() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.parquet");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(
        fails(dir.path(), &["ingest", empty.to_str().unwrap()]),
        format!("error: {}: the file is empty", empty.display())
    );

    let not_parquet = dir.path().join("bill.parquet");
    std::fs::write(&not_parquet, format!("{HEADER}\n")).unwrap();
    assert_eq!(
        fails(dir.path(), &["ingest", not_parquet.to_str().unwrap()]),
        format!(
            "error: {}: not a readable Parquet file: it is named .parquet but does not start with the \
             Parquet magic bytes PAR1",
            not_parquet.display()
        )
    );

    // A gzip stream cut short in the middle of its data.
    let csv = std::fs::read_to_string(bill(dir.path(), "whole.csv", 3000, &[])).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, csv.as_bytes()).unwrap();
    let bytes = gz.finish().unwrap();
    let cut = dir.path().join("cut.csv.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = fails(dir.path(), &["ingest", cut.to_str().unwrap()]);
    let prefix = format!("error: {}: line ", cut.display());
    assert!(err.starts_with(&prefix), "{err}");
    let line: u64 = err[prefix.len()..].split(':').next().unwrap().parse().unwrap();
    assert!(line > 1 && line < 3001, "{err}");
    assert!(
        err.contains(&format!("malformed CSV: corrupt or truncated gzip data after line {line}")),
        "{err}"
    );
    assert!(no_data(dir.path()));
}

#[test]
fn a_unit_written_by_an_older_reading_is_marked_and_rewritten_by_ingesting_its_sources_again() {
    let dir = tempfile::tempdir().unwrap();
    let bill = bill(dir.path(), "in/bill.csv", 20, &[]);
    ok(dir.path(), &["ingest", bill.to_str().unwrap()]);
    assert_eq!(json(dir.path(), &["lake", "info"])["units"][0].get("older_reading"), None);
    assert_eq!(json(dir.path(), &["ingest", bill.to_str().unwrap()])["unchanged"], true);

    // A lake written before units were labelled with the reading's version.
    let path = dir.path().join("lake/manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    manifest["units"][0].as_object_mut().unwrap().remove("mapping").expect("a labelled unit");
    std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
    assert_eq!(json(dir.path(), &["lake", "info"])["units"][0]["older_reading"], true);
    let table = ok(dir.path(), &["lake", "info"]);
    assert!(table.contains("final *") || table.contains("estimated *"), "{table}");
    assert!(
        table.contains("* 1 unit(s) written by an older version of the reading: ingest their sources again"),
        "{table}"
    );

    let again = json(dir.path(), &["ingest", bill.to_str().unwrap()]);
    assert_eq!((again["unchanged"].as_bool(), again["units_replaced"].as_u64()), (Some(false), Some(1)));
    assert_eq!(json(dir.path(), &["lake", "info"])["units"][0].get("older_reading"), None);
}

#[test]
fn a_bad_value_in_a_column_no_cost_depends_on_is_a_warning_and_its_row_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bill.csv");
    let mut csv = format!("{HEADER},reservation_total_reserved_units,split_line_item_split_cost\n");
    for (units, split) in [("8760", "1.5"), ("N/A", ""), ("", "abc"), ("744", "0.25")] {
        writeln!(
            csv,
            "111122223333,2025-01-01T00:00:00Z,Usage,2025-01-02T00:00:00Z,2025-01-02T01:00:00Z,USD,AmazonEC2,1.25,{units},{split}"
        )
        .unwrap();
    }
    std::fs::write(&path, csv).unwrap();
    let summary = json(dir.path(), &["ingest", "--strict", path.to_str().unwrap()]);
    assert_eq!((summary["rows_kept"].as_u64(), summary["rows_skipped"].as_u64()), (Some(4), Some(0)));
    assert_eq!(
        summary["nulled_by_reason"],
        serde_json::json!({
            "reservation_total_reserved_units: not a number": 1,
            "split_line_item_split_cost: not a number": 1,
        })
    );
    let splits = json(
        dir.path(),
        &[
            "query",
            "--sql",
            "SELECT count(x_SplitCost) AS n, sum(x_SplitCost) AS s, sum(BilledCost) AS b FROM focus",
        ],
    );
    assert_eq!(splits[0]["n"], 2);
    assert_eq!(units(&text(&splits[0]["s"])), units("1.75"));
    assert_eq!(units(&text(&splits[0]["b"])), units("5.00"));
}
