//! End to end over the FinOps Foundation's FOCUS 1.0 sample: ingest, query, lake info, export, and
//! the bad-input contract (a clear error, and the lake left byte-for-byte as it was).

mod common;

use common::*;

const SAMPLE: &str = "focus/focus_1.0_sample_1000.csv";

/// Σ of a cost column per currency, computed by DuckDB over the raw CSV, as cent-rounded text.
fn duckdb_totals(column: &str) -> Vec<(String, String)> {
    let path = testdata(SAMPLE);
    let sql = format!(
        "SELECT BillingCurrency, round(sum(CAST({column} AS DECIMAL(38,15))), 2)::VARCHAR \
         FROM read_csv('{}', all_varchar = true, nullstr = 'NULL') GROUP BY 1 ORDER BY 1",
        path.display()
    );
    duckdb(&sql)
        .into_iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn sample_ingests_every_row_and_totals_match_duckdb_to_the_cent() {
    let dir = tempfile::tempdir().unwrap();
    let summary = json(dir.path(), &["ingest", testdata(SAMPLE).to_str().unwrap()]);
    assert_eq!(summary["rows_read"], 1000);
    assert_eq!(summary["rows_kept"], 1000);
    assert_eq!(summary["rows_skipped"], 0);
    let expected = duckdb_totals("BilledCost");
    assert!(!expected.is_empty());
    for (currency, total) in &expected {
        assert_eq!(summary["billed_cost_by_currency"][currency].as_str(), Some(total.as_str()), "{currency}");
    }

    // The same figures through SQL, with FOCUS names unquoted and both spellings of SUM.
    let rows = json(
        dir.path(),
        &[
            "query",
            "--sql",
            "SELECT BillingCurrency, round(SUM(BilledCost), 2) AS billed, round(sum(EffectiveCost), 2) AS effective, \
             count(*) AS n FROM focus GROUP BY BillingCurrency ORDER BY BillingCurrency",
        ],
    );
    let effective = duckdb_totals("EffectiveCost");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), expected.len());
    for (row, ((currency, billed), (_, eff))) in rows.iter().zip(expected.iter().zip(&effective)) {
        assert_eq!(row["BillingCurrency"].as_str(), Some(currency.as_str()));
        assert_eq!(trim(row["billed"].as_str().unwrap()), trim(billed));
        assert_eq!(trim(row["effective"].as_str().unwrap()), trim(eff));
    }
    let n: u64 = rows.iter().map(|r| r["n"].as_u64().unwrap()).sum();
    assert_eq!(n, 1000);

    // Rows per provider, against DuckDB.
    let by_provider = json(
        dir.path(),
        &[
            "query",
            "--sql",
            "SELECT ProviderName, count(*) AS n FROM focus GROUP BY ProviderName ORDER BY ProviderName",
        ],
    );
    let expected = duckdb(&format!(
        "SELECT ProviderName, count(*) FROM read_csv('{}', all_varchar = true, nullstr = 'NULL') GROUP BY 1 ORDER BY 1",
        testdata(SAMPLE).display()
    ));
    let got: Vec<(String, u64)> = by_provider
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["ProviderName"].as_str().unwrap().to_string(), r["n"].as_u64().unwrap()))
        .collect();
    let want: Vec<(String, u64)> =
        expected.iter().map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_u64().unwrap())).collect();
    assert_eq!(got, want);
    assert_eq!(got.iter().map(|(_, n)| n).sum::<u64>(), 1000);
}

/// "12.30" and "12.3" are the same amount; compare without trailing fractional zeros.
fn trim(s: &str) -> String {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s.to_string() }
}

/// A copy of the sample in `dir` whose data row 3 has a non-numeric BilledCost.
fn sample_with_bad_cost(dir: &std::path::Path) -> std::path::PathBuf {
    let src = std::fs::read_to_string(testdata(SAMPLE)).unwrap();
    let mut lines: Vec<String> = src.lines().map(str::to_string).collect();
    lines[3] = lines[3].replacen(",0.", ",zero.", 1);
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    bad
}

#[test]
fn reingesting_the_same_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sample = testdata(SAMPLE);
    ok(dir.path(), &["ingest", sample.to_str().unwrap()]);
    let before = hash_tree(dir.path());
    let again = json(dir.path(), &["ingest", sample.to_str().unwrap()]);
    assert_eq!(again["unchanged"], true);
    assert_eq!(hash_tree(dir.path()), before);
}

/// A file the lake holds, delivered beside a new one, is read again with it; each unit then records
/// the checksums of both, and either file again changes nothing.
#[test]
fn a_known_file_beside_a_new_one_is_read_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let sample = testdata(SAMPLE);
    let changed = sample_with_bad_cost(files.path());
    ok(dir.path(), &["ingest", sample.to_str().unwrap()]);
    let both = json(dir.path(), &["ingest", sample.to_str().unwrap(), changed.to_str().unwrap()]);
    assert_eq!((both["unchanged"].as_bool(), both["rows_read"].as_u64()), (Some(false), Some(2000)));
    assert_eq!((both["rows_kept"].as_u64(), both["rows_skipped"].as_u64()), (Some(1999), Some(1)));
    let sha =
        |p: &std::path::Path| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(std::fs::read(p).unwrap()));
    let want = std::collections::BTreeSet::from([sha(&sample), sha(&changed)]);
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("lake/manifest.json")).unwrap())
            .unwrap();
    let units = manifest["units"].as_array().unwrap();
    assert!(!units.is_empty());
    for unit in units {
        let got: std::collections::BTreeSet<String> = unit["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["sha256"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(got, want, "{}", unit["key"]);
    }
    let before = hash_tree(dir.path());
    for args in [vec![&changed, &sample], vec![&sample]] {
        let mut argv = vec!["ingest"];
        argv.extend(args.iter().map(|p| p.to_str().unwrap()));
        assert_eq!(json(dir.path(), &argv)["unchanged"], true, "{argv:?}");
    }
    assert_eq!(hash_tree(dir.path()), before);
}

#[test]
fn lake_info_lists_units_with_totals() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["ingest", testdata(SAMPLE).to_str().unwrap()]);
    let info = json(dir.path(), &["lake", "info"]);
    assert_eq!(info["rows"], 1000);
    let units = info["units"].as_array().unwrap();
    // The unit count is the number of distinct (provider, billing account, billing period).
    let expected = duckdb(&format!(
        "SELECT count(*) FROM (SELECT DISTINCT ProviderName, BillingAccountId, strftime(CAST(BillingPeriodStart AS TIMESTAMP), '%Y-%m') \
         FROM read_csv('{}', all_varchar = true, nullstr = 'NULL'))",
        testdata(SAMPLE).display()
    ));
    assert_eq!(units.len() as u64, expected[0][0].as_u64().unwrap());
    let periods: Vec<&str> = units.iter().map(|u| u["billing_period"].as_str().unwrap()).collect();
    assert_eq!(periods.iter().filter(|p| **p == "2024-09").count(), 3, "{periods:?}");
    assert_eq!(periods.iter().filter(|p| **p == "2024-10").count(), 1, "{periods:?}");
    assert!(units.iter().all(|u| u["watermark"].as_str().is_some_and(|w| w.starts_with("2024-"))));
    // The 1.0 sample has no InvoiceId, so no bill is known to be final.
    assert!(units.iter().all(|u| u["is_final"] == false));
    let table = ok(dir.path(), &["lake", "info"]);
    assert!(table.contains("total: "), "{table}");
}

#[test]
fn a_failed_ingest_leaves_the_lake_byte_for_byte_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["ingest", testdata(SAMPLE).to_str().unwrap()]);
    let before = hash_tree(dir.path());

    let bad = sample_with_bad_cost(dir.path());
    let out = costpilot(dir.path(), &["ingest", "--strict", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}: row 3, column 'BilledCost': not a number", bad.display())), "{err}");
    std::fs::remove_file(&bad).unwrap();
    assert_eq!(hash_tree(dir.path()), before);

    // A truncated Parquet file.
    let parquet = dir.path().join("cut.parquet");
    std::fs::write(&parquet, b"PAR1\x15\x00\x15").unwrap();
    let out = costpilot(dir.path(), &["ingest", "--source", "focus", parquet.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}: not a readable Parquet file", parquet.display())), "{err}");
    std::fs::remove_file(&parquet).unwrap();
    assert_eq!(hash_tree(dir.path()), before);
}

#[test]
fn lenient_ingest_skips_and_counts_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let bad = sample_with_bad_cost(dir.path());
    let summary = json(dir.path(), &["ingest", bad.to_str().unwrap()]);
    assert_eq!(summary["rows_read"], 1000);
    assert_eq!(summary["rows_kept"], 999);
    assert_eq!(summary["rows_skipped"], 1);
    let reasons = summary["skipped_by_reason"].as_object().unwrap();
    assert_eq!(reasons.len(), 1);
    assert!(reasons.keys().next().unwrap().starts_with("BilledCost: not a number"), "{reasons:?}");
    let table = ok(dir.path(), &["lake", "info"]);
    assert!(table.contains("999"), "{table}");
}

#[test]
fn export_round_trips_through_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["ingest", testdata(SAMPLE).to_str().unwrap()]);
    for ext in ["parquet", "csv"] {
        let out = dir.path().join(format!("export.{ext}"));
        ok(dir.path(), &["export", "--focus-version", "1.2", "--out", out.to_str().unwrap()]);
        let reader = if ext == "csv" {
            format!("read_csv('{}', all_varchar = true)", out.display())
        } else {
            format!("read_parquet('{}')", out.display())
        };
        let rows = duckdb(&format!(
            "SELECT BillingCurrency, round(sum(CAST(BilledCost AS DECIMAL(38,15))), 2)::VARCHAR, count(*) FROM {reader} GROUP BY 1 ORDER BY 1"
        ));
        let expected = duckdb_totals("BilledCost");
        assert_eq!(rows.len(), expected.len(), "{ext}");
        for (r, (currency, total)) in rows.iter().zip(&expected) {
            assert_eq!(r[0].as_str(), Some(currency.as_str()));
            assert_eq!(r[1].as_str(), Some(total.as_str()));
        }
        assert_eq!(rows.iter().map(|r| r[2].as_u64().unwrap()).sum::<u64>(), 1000);
    }
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["ingest", testdata(SAMPLE).to_str().unwrap()]);
    // The JSON of 1,000 rows is far larger than a pipe holds, so costpilot is still writing when
    // the reader goes away, as with `costpilot query ... | head`.
    let mut child = Command::new(env!("CARGO_BIN_EXE_costpilot"))
        .arg("--data-dir")
        .arg(dir.path())
        .args(["query", "--sql", "SELECT * FROM focus", "--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "no panic, no message");
    assert_eq!(out.status.signal(), Some(13), "ended by SIGPIPE like cat or grep: {:?}", out.status);
}
