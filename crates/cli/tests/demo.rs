//! End to end over `costpilot demo`: the briefing it prints equals an independent DuckDB
//! computation over the raw CUR files it generated (and the generator's truth.json), a second run
//! reuses its data, `--fresh` and new options make it anew, and bad input fails cleanly.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

/// Two complete months (January and February 2025) and eleven days of March.
const SMALL: &[&str] = &["--accounts", "8", "--days", "70", "--start", "2025-01-01", "--seed", "42"];

fn assert_ratio(what: &str, got: &Value, want: f64) {
    let got = got.as_f64().unwrap_or_else(|| panic!("{what}: not a number: {got}"));
    assert!((got - want).abs() <= 1e-9 * want.abs().max(1.0), "{what}: {got} ≠ {want}");
}

/// The raw CUR Parquet files of a demo's estate, as a DuckDB file list.
fn cur_files(data_dir: &Path) -> String {
    format!("read_parquet('{}/estate/cur/*/data/*/*.parquet')", data_dir.display())
}

/// The raw rows with currency, billing period, service, whether they have an owner, and
/// EffectiveCost, as a DuckDB subquery. An owner, as the shipped rules and the estate's CMDB give
/// one: a team tag in any of its spellings, or an account or resource the CMDB lists.
fn rows(data_dir: &Path) -> String {
    let cmdb = format!("read_csv('{}/estate/cmdb.csv', all_varchar = true)", data_dir.display());
    format!(
        "(SELECT line_item_currency_code AS currency, \
           strftime(bill_billing_period_start_date AT TIME ZONE 'UTC', '%Y-%m') AS period, \
           product['servicename'] AS service, \
           coalesce(len(list_filter(map_entries(resource_tags), lambda e: \
             lower(e.key) IN ('user_team', 'user_owner-team') AND trim(coalesce(e.value, '')) <> '')), 0) > 0 \
             OR line_item_usage_account_id IN (SELECT id FROM {cmdb} WHERE kind = 'account') \
             OR coalesce(line_item_resource_id, '') IN (SELECT id FROM {cmdb} WHERE kind = 'resource') \
             AS has_owner, \
           {} AS effective \
         FROM {})",
        effective_cost(),
        cur_files(data_dir)
    )
}

fn currencies(briefing: &Value) -> BTreeMap<String, Value> {
    briefing["currencies"]
        .as_array()
        .expect("currencies")
        .iter()
        .map(|c| (text(&c["currency"]), c.clone()))
        .collect()
}

#[test]
fn the_briefing_equals_duckdb_over_the_raw_cur_and_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let mut args = vec!["demo", "--no-serve"];
    args.extend(SMALL);
    let out = json(&data, &args);
    assert_eq!(out["estate"]["reused"], false);
    assert_eq!(out["ingest"]["unchanged"], false);
    let briefing = currencies(&out["briefing"]);

    // Σ EffectiveCost per currency and billing period: DuckDB over the raw files, truth.json.
    let duck: BTreeMap<(String, String), String> = duckdb(&format!(
        "SELECT currency, period, sum(effective)::VARCHAR FROM {} GROUP BY 1, 2 ORDER BY 1, 2",
        rows(&data)
    ))
    .into_iter()
    .map(|r| ((text(&r[0]), text(&r[1])), text(&r[2])))
    .collect();
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("estate/truth.json")).unwrap()).unwrap();
    let mut truth_periods = BTreeMap::new();
    for p in truth["periods"].as_array().unwrap() {
        truth_periods.insert((text(&p["currency"]), text(&p["billing_period"])), text(&p["effective_cost"]));
    }
    // The independent side agrees with the generator exactly, so it can judge costpilot.
    assert_eq!(duck, truth_periods);
    assert_eq!(briefing.keys().cloned().collect::<Vec<_>>(), vec!["EUR".to_string(), "USD".to_string()]);
    let mut seen = 0;
    for (currency, c) in &briefing {
        let periods: Vec<&Value> = c["periods"].as_array().unwrap().iter().collect();
        assert_eq!(
            periods.iter().map(|p| text(&p["period"])).collect::<Vec<_>>(),
            ["2025-01", "2025-02", "2025-03"],
            "{currency}"
        );
        for p in &periods {
            let key = (currency.clone(), text(&p["period"]));
            assert_amount(&format!("{key:?}"), &p["effective_cost"], &duck[&key]);
            assert_amount(&format!("{key:?} truth"), &p["effective_cost"], &truth_periods[&key]);
            seen += 1;
        }
        assert_eq!(
            periods.iter().map(|p| p["complete"].as_bool().unwrap()).collect::<Vec<_>>(),
            [true, true, false]
        );

        // Month over month: February, the last complete month, against January.
        let feb = units(&duck[&(currency.clone(), "2025-02".to_string())]);
        let jan = units(&duck[&(currency.clone(), "2025-01".to_string())]);
        let mom = &c["last_complete"];
        assert_eq!(mom["period"], "2025-02", "{currency}");
        assert_eq!(mom["previous_period"], "2025-01", "{currency}");
        assert_eq!(mom["invoiced"], true, "{currency}");
        assert_amount(
            &format!("{currency} February"),
            &mom["effective_cost"],
            &duck[&(currency.clone(), "2025-02".into())],
        );
        assert_amount(
            &format!("{currency} January"),
            &mom["previous_effective_cost"],
            &duck[&(currency.clone(), "2025-01".into())],
        );
        let change = &mom["change"];
        let got = units(change.as_str().unwrap());
        assert!((got - (feb - jan)).abs() <= 1_000_000_000, "{currency} change {change} ≠ {}", feb - jan);
        assert_ratio(
            &format!("{currency} change %"),
            &mom["change_percent"],
            (feb - jan) as f64 / jan.abs() as f64 * 100.0,
        );

        // March is partial: month to date.
        let mtd = &c["month_to_date"];
        assert_eq!(mtd["period"], "2025-03");
        assert_eq!(mtd["days"], 11);
        assert_eq!(mtd["days_in_period"], 31);
        assert_eq!(mtd["through"], "2025-03-12T00:00:00Z");
        assert_amount(
            &format!("{currency} March to date"),
            &mtd["effective_cost"],
            &duck[&(currency.clone(), "2025-03".into())],
        );
    }
    assert_eq!(seen, duck.len());

    // The top movers by service, up and down, February against January.
    let changes = duckdb(&format!(
        "SELECT currency, service, \
           (sum(CASE WHEN period = '2025-02' THEN effective ELSE 0 END) \
            - sum(CASE WHEN period = '2025-01' THEN effective ELSE 0 END))::VARCHAR AS change \
         FROM {} WHERE period IN ('2025-01', '2025-02') GROUP BY 1, 2",
        rows(&data)
    ));
    for (currency, c) in &briefing {
        let mut by_service: Vec<(i128, String, String)> = changes
            .iter()
            .filter(|r| text(&r[0]) == *currency)
            .map(|r| (units(&text(&r[2])), text(&r[1]), text(&r[2])))
            .collect();
        by_service.sort();
        let service = &c["movers"]["service"];
        let (_, top_up, up_change) = by_service.last().unwrap();
        assert!(units(up_change) > 0, "{currency}: no service grew");
        assert_eq!(text(&service["up"][0]["key"]), *top_up, "{currency}: top riser");
        assert_amount(&format!("{currency} {top_up}"), &service["up"][0]["change"], up_change);
        let (_, top_down, down_change) = by_service.first().unwrap();
        if units(down_change) < 0 {
            assert_eq!(text(&service["down"][0]["key"]), *top_down, "{currency}: top faller");
            assert_amount(&format!("{currency} {top_down}"), &service["down"][0]["change"], down_change);
        } else {
            assert_eq!(service["down"], Value::Array(vec![]), "{currency}: no service fell");
        }
        for m in service["up"].as_array().unwrap().iter().chain(service["down"].as_array().unwrap()) {
            let key = text(&m["key"]);
            let want = &by_service.iter().find(|(_, s, _)| *s == key).unwrap().2;
            assert_amount(&format!("{currency} {key}"), &m["change"], want);
        }
        for dim in ["account", "owner"] {
            let up = c["movers"][dim]["up"].as_array().unwrap();
            assert!(!up.is_empty() && up.len() <= 5, "{currency} {dim}: {up:?}");
        }
    }

    // The unallocated share of February: EffectiveCost of rows with no owner over all of it.
    let unallocated = duckdb(&format!(
        "SELECT currency, sum(CASE WHEN has_owner THEN 0 ELSE effective END)::VARCHAR, sum(effective)::VARCHAR \
         FROM {} WHERE period = '2025-02' GROUP BY 1 ORDER BY 1",
        rows(&data)
    ));
    assert_eq!(unallocated.len(), briefing.len());
    let mut some_unallocated = 0;
    for r in &unallocated {
        let (currency, none, all) = (text(&r[0]), text(&r[1]), text(&r[2]));
        let u = &briefing[&currency]["unallocated"];
        assert_eq!(u["period"], "2025-02");
        assert_amount(&format!("{currency} unallocated"), &u["effective_cost"], &none);
        assert_amount(&format!("{currency} total"), &u["total_effective_cost"], &all);
        let share = units(&none) as f64 / units(&all) as f64;
        some_unallocated += usize::from(share > 0.0 && share < 0.99);
        assert_ratio(&format!("{currency} unallocated share"), &u["share"], share);
    }
    assert!(some_unallocated > 0, "no currency has both allocated and unallocated spend: {unallocated:?}");
}

/// Runs `costpilot ARGS...` in `cwd` with no data directory given.
fn in_dir(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_costpilot"))
        .args(args)
        .current_dir(cwd)
        .env_remove("COSTPILOT_DATA_DIR")
        .output()
        .expect("run costpilot")
}

fn stdout_ok(out: Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "costpilot {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The briefing part of a table output (without the steps before it and the timing after it).
fn briefing_text(out: &str) -> String {
    let start = out.find("MONDAY BRIEFING").expect("a briefing");
    let end = out.rfind("done in").expect("a last line");
    out[start..end].to_string()
}

fn modified(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn a_second_run_reuses_the_data_and_fresh_or_new_options_make_it_anew() {
    let cwd = tempfile::tempdir().unwrap();
    let small = ["demo", "--no-serve", "--accounts", "4", "--days", "45", "--start", "2025-01-01"];
    let first = stdout_ok(in_dir(cwd.path(), &small), &small);
    // Without --data-dir the demo keeps to its own folder, not the default lake of ./.costpilot.
    let data: PathBuf = cwd.path().join(".costpilot-demo");
    assert!(data.join("estate/truth.json").is_file(), "{first}");
    assert!(data.join("lake/manifest.json").is_file());
    assert!(!cwd.path().join(".costpilot").exists());
    assert!(first.contains("estate: generated "), "{first}");
    assert!(first.contains("lake: ingested "), "{first}");
    assert!(first.contains("MONDAY BRIEFING"), "{first}");
    let truth = data.join("estate/truth.json");
    let (estate_hashes, lake_hashes) = (hash_tree(&data.join("estate")), hash_tree(&data.join("lake")));
    let made = modified(&truth);

    // The second run reuses the estate and the lake, says so, and briefs the same.
    let second = stdout_ok(in_dir(cwd.path(), &small), &small);
    assert!(second.contains("estate: reusing "), "{second}");
    assert!(second.contains("ingest skipped"), "{second}");
    assert_eq!(briefing_text(&second), briefing_text(&first));
    assert_eq!(modified(&truth), made);
    assert_eq!(hash_tree(&data.join("estate")), estate_hashes);
    assert_eq!(hash_tree(&data.join("lake")), lake_hashes);
    let mut with_json = small.to_vec();
    with_json.extend(["--format", "json"]);
    let reused: Value = serde_json::from_str(&stdout_ok(in_dir(cwd.path(), &with_json), &with_json)).unwrap();
    assert_eq!(reused["estate"]["reused"], true);
    assert_eq!(reused["ingest"]["unchanged"], true);

    // --fresh makes the estate and the lake anew; the same options give the same briefing.
    let mut fresh = small.to_vec();
    fresh.push("--fresh");
    let third = stdout_ok(in_dir(cwd.path(), &fresh), &fresh);
    assert!(third.contains("estate: generated "), "{third}");
    assert!(third.contains("lake: ingested "), "{third}");
    assert_ne!(modified(&truth), made);
    assert_eq!(briefing_text(&third), briefing_text(&first));
    assert_eq!(hash_tree(&data.join("estate")), estate_hashes);

    // Other options make another estate, and the lake holds only it: no mixing of two estates.
    let mut other = small.to_vec();
    other.extend(["--seed", "9", "--format", "json"]);
    let out: Value = serde_json::from_str(&stdout_ok(in_dir(cwd.path(), &other), &other)).unwrap();
    assert_eq!(out["estate"]["reused"], false);
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(&truth).unwrap()).unwrap();
    assert_eq!(truth["options"]["seed"], 9);
    let briefing = currencies(&out["briefing"]);
    let mut compared = 0;
    for p in truth["periods"].as_array().unwrap() {
        let c = &briefing[&text(&p["currency"])];
        let ours =
            c["periods"].as_array().unwrap().iter().find(|x| x["period"] == p["billing_period"]).unwrap();
        assert_amount("seed 9", &ours["effective_cost"], &text(&p["effective_cost"]));
        compared += 1;
    }
    let periods: usize = briefing.values().map(|c| c["periods"].as_array().unwrap().len()).sum();
    assert_eq!(periods, compared);
}

/// Every path under `dir`, so a failed run can be shown to leave nothing behind.
fn listing(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = hash_tree(dir).into_keys().collect();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                out.push(format!("{}/", e.path().strip_prefix(dir).unwrap().display()));
                stack.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn fails_with(data_dir: &Path, args: &[&str], message: &str) {
    let out = costpilot(data_dir, args);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert_eq!(String::from_utf8_lossy(&out.stderr), format!("error: {message}\n"), "{args:?}");
    assert!(out.stdout.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn bad_input_fails_with_one_line_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    fails_with(&data, &["demo", "--accounts", "0"], "--accounts must be at least 1");
    fails_with(
        &data,
        &["demo", "--days", "0"],
        "--days must be at least 1 (the end must come after the start)",
    );
    assert!(!data.exists());
    assert!(listing(dir.path()).is_empty());

    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    fails_with(
        &file,
        &["demo", "--accounts", "2", "--days", "3"],
        &format!("{}: the data directory is a file, not a folder", file.display()),
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a folder");
    assert_eq!(listing(dir.path()), ["a-file"]);

    // A data directory holding someone's lake is not the demo's to empty.
    let lake = dir.path().join("real");
    ok(&lake, &["ingest", testdata("cur/cur2.csv").to_str().unwrap()]);
    let before = hash_tree(&lake);
    let out = costpilot(&lake, &["demo", "--accounts", "2", "--days", "3"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("error: {}: holds data costpilot demo did not make", lake.display()))
            && stderr.lines().count() == 1,
        "{stderr}"
    );
    assert_eq!(hash_tree(&lake), before);
    assert!(!lake.join("estate").exists());
}
