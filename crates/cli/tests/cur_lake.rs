//! End to end over AWS CUR: ingest CUR 2.0 and legacy CUR, export FOCUS 1.2 that the FinOps
//! Foundation's validator passes, replace a restated bill, and survive a crash before the manifest
//! swap.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::*;

fn validator() -> PathBuf {
    std::env::var("COSTPILOT_FOCUS_VALIDATE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo_root().join("scripts/focus-validate"))
}

/// Σ line_item_unblended_cost per currency of a CUR 2.0 CSV, computed by DuckDB, in cents.
fn unblended_by_currency(csv: &std::path::Path) -> Vec<(String, String)> {
    duckdb(&format!(
        "SELECT line_item_currency_code, round(sum(CAST(line_item_unblended_cost AS DECIMAL(38,15))), 2)::VARCHAR \
         FROM read_csv('{}', all_varchar = true) GROUP BY 1 ORDER BY 1",
        csv.display()
    ))
    .into_iter()
    .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_str().unwrap().to_string()))
    .collect()
}

#[test]
fn cur2_export_passes_the_focus_validator() {
    for input in ["cur/cur2.csv", "cur/cur2.parquet", "cur/legacy.csv.gz"] {
        let dir = tempfile::tempdir().unwrap();
        ok(dir.path(), &["ingest", testdata(input).to_str().unwrap()]);
        let out = dir.path().join("focus.parquet");
        ok(dir.path(), &["export", "--focus-version", "1.2", "--out", out.to_str().unwrap()]);
        let run = Command::new(validator()).arg(&out).output().expect("run the FOCUS validator");
        let stdout = String::from_utf8_lossy(&run.stdout);
        let last = stdout.lines().last().unwrap_or_default().to_string();
        assert!(
            run.status.success(),
            "{input}: the validator failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(last.contains(" passed, 0 failed"), "{input}: {last}");
        let passed: u64 = last.split(' ').next().unwrap().parse().unwrap();
        assert!(passed > 100, "{input}: only {passed} rules ran: {last}");
    }
}

#[test]
fn billed_cost_equals_unblended_cost_to_the_cent() {
    let dir = tempfile::tempdir().unwrap();
    let csv = testdata("cur/cur2.csv");
    let summary = json(dir.path(), &["ingest", csv.to_str().unwrap()]);
    for (currency, total) in unblended_by_currency(&csv) {
        assert_eq!(
            summary["billed_cost_by_currency"][&currency].as_str(),
            Some(total.as_str()),
            "{currency}"
        );
    }
}

#[test]
fn a_restated_bill_replaces_its_unit_and_a_crash_before_the_swap_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let original = testdata("cur/cur2.csv");
    ok(dir.path(), &["ingest", original.to_str().unwrap()]);
    let total = |dir: &std::path::Path| {
        json(dir, &["query", "--sql", "SELECT BillingCurrency, sum(BilledCost) AS c FROM focus GROUP BY 1"])
            [0]["c"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let before = total(dir.path());

    // A restatement: every unblended cost doubled (written by DuckDB, the independent side).
    let restated = dir.path().join("restated.csv");
    let cols = duckdb(&format!(
        "SELECT column_name FROM (DESCRIBE SELECT * FROM read_csv('{}', all_varchar = true))",
        original.display()
    ));
    let select: Vec<String> = cols
        .iter()
        .map(|c| {
            let c = c[0].as_str().unwrap();
            if c == "line_item_unblended_cost" {
                format!("CAST(CAST({c} AS DECIMAL(38,15)) * 2 AS VARCHAR) AS {c}")
            } else {
                format!("\"{c}\"")
            }
        })
        .collect();
    duckdb(&format!(
        "COPY (SELECT {} FROM read_csv('{}', all_varchar = true)) TO '{}' (HEADER, DELIMITER ',')",
        select.join(", "),
        original.display(),
        restated.display()
    ));

    // A crash right before the manifest swap: the process dies, the old unit stays.
    let lake = dir.path().join("lake");
    let files_before = hash_tree(&lake.join("data"));
    let manifest_before = std::fs::read(lake.join("manifest.json")).ok();
    let crashed = costpilot_env(
        dir.path(),
        &["ingest", restated.to_str().unwrap()],
        &[("COSTPILOT_FAILPOINT", "before-manifest-swap")],
    );
    assert!(!crashed.status.success(), "the failpoint should abort the process");
    assert_eq!(std::fs::read(lake.join("manifest.json")).ok(), manifest_before);
    assert_eq!(total(dir.path()), before);
    for (path, hash) in &files_before {
        assert_eq!(hash_tree(&lake.join("data")).get(path), Some(hash), "{path} changed");
    }

    // The restatement itself replaces the unit.
    let summary = json(dir.path(), &["ingest", restated.to_str().unwrap()]);
    assert_eq!(summary["units_replaced"], 1);
    assert_eq!(summary["units_added"], 0);
    let after = total(dir.path());
    let doubled = unblended_by_currency(&restated);
    assert_eq!(after.parse::<f64>().unwrap(), before.parse::<f64>().unwrap() * 2.0);
    assert_eq!(summary["billed_cost_by_currency"][&doubled[0].0].as_str(), Some(doubled[0].1.as_str()));
    let info = json(dir.path(), &["lake", "info"]);
    assert_eq!(info["units"].as_array().unwrap().len(), 1);

    // Vacuum with no retention removes the crashed run's orphans and the replaced files.
    let vacuum = json(dir.path(), &["lake", "vacuum", "--retention-minutes", "0"]);
    assert!(vacuum["retired_deleted"].as_u64().unwrap() >= 1, "{vacuum}");
    assert!(vacuum["orphans_deleted"].as_u64().unwrap() >= 1, "{vacuum}");
    assert_eq!(total(dir.path()), after);
}

#[test]
fn a_bare_relative_data_dir_works() {
    let dir = tempfile::tempdir().unwrap();
    let csv = testdata("cur/cur2.csv");
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_costpilot"))
            .current_dir(dir.path())
            .args(["--data-dir", "lakedir"])
            .args(args)
            .output()
            .expect("run costpilot");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    run(&["ingest", csv.to_str().unwrap()]);
    let total = run(&["query", "--sql", "SELECT count(*) AS n FROM focus", "--format", "csv"]);
    let expected = duckdb(&format!("SELECT count(*) FROM read_csv('{}', all_varchar = true)", csv.display()));
    assert_eq!(total.lines().nth(1).unwrap(), expected[0][0].to_string());
    assert!(dir.path().join("lakedir/lake").is_dir());
}
