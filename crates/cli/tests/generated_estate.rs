//! End to end over a generated estate: the CUR 2.0 the generator writes has the Data Exports
//! schema, its truth.json agrees with DuckDB over the raw files (the independent side) and with
//! SQL over the lake after a normal ingest, the same seed gives the same bytes, bad options leave
//! nothing behind, and the replay mode changes only what a remediation touches.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// Generates an estate into `dir/name` and returns its folder and truth.json.
fn generate(dir: &Path, name: &str, extra: &[&str]) -> (PathBuf, serde_json::Value) {
    let out = dir.join(name);
    let mut args = vec!["generate", "--out", out.to_str().unwrap(), "--accounts", "8", "--days", "40"];
    args.extend(extra);
    ok(dir, &args);
    let truth = serde_json::from_str(&std::fs::read_to_string(out.join("truth.json")).unwrap()).unwrap();
    (out, truth)
}

/// The bill's Parquet files as a DuckDB glob.
fn files(out: &Path) -> String {
    format!("{}/cur/costpilot-demo/data/*/*.parquet", out.display())
}

/// EffectiveCost of a CUR row, written from docs/mapping.md (not from costpilot's code).
const EFFECTIVE: &str = "CASE line_item_line_item_type \
    WHEN 'DiscountedUsage' THEN coalesce(reservation_effective_cost, 0) \
    WHEN 'SavingsPlanCoveredUsage' THEN coalesce(savings_plan_savings_plan_effective_cost, 0) \
    WHEN 'SavingsPlanNegation' THEN 0 WHEN 'SavingsPlanUpfrontFee' THEN 0 \
    WHEN 'SavingsPlanRecurringFee' THEN coalesce(savings_plan_total_commitment_to_date, 0) - coalesce(savings_plan_used_commitment, 0) \
    WHEN 'RIFee' THEN coalesce(reservation_unused_amortized_upfront_fee_for_billing_period, 0) + coalesce(reservation_unused_recurring_fee, 0) \
    ELSE line_item_unblended_cost END";

/// ListCost of a CUR row, from the same table.
const LIST: &str = "CASE WHEN line_item_line_item_type IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage') \
    THEN coalesce(pricing_public_on_demand_cost, line_item_unblended_cost) \
    WHEN line_item_line_item_type IN ('SavingsPlanNegation', 'EdpDiscount') THEN 0 \
    ELSE line_item_unblended_cost END";

/// Rounds a truth.json decimal string to cents, as text.
fn cents(s: &str) -> String {
    let v: f64 = s.parse().unwrap();
    format!("{:.2}", (v * 100.0).round() / 100.0)
}

/// truth.json totals as (currency, rows, billed, effective, list) in cents.
fn truth_totals(truth: &serde_json::Value) -> Vec<(String, u64, String, String, String)> {
    truth["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["currency"].as_str().unwrap().to_string(),
                t["rows"].as_u64().unwrap(),
                cents(t["billed_cost"].as_str().unwrap()),
                cents(t["effective_cost"].as_str().unwrap()),
                cents(t["list_cost"].as_str().unwrap()),
            )
        })
        .collect()
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn generated_cur_has_the_data_exports_schema() {
    let dir = tempfile::tempdir().unwrap();
    let (out, truth) = generate(dir.path(), "estate", &[]);
    let columns = duckdb(&format!(
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('{}', hive_partitioning = false))",
        files(&out)
    ));
    // Discounts are lines of their own by default, so the export has no discount map and no
    // discount_total_discount, as AWS writes it with "manual discount compatibility".
    assert_eq!(columns.len(), 126, "{columns:?}");
    assert_eq!(truth["columns"], 126);
    let type_of = |name: &str| {
        columns
            .iter()
            .find(|c| c[0] == name)
            .map(|c| text(&c[1]))
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    assert_eq!(type_of("line_item_unblended_cost"), "DOUBLE");
    assert_eq!(type_of("line_item_usage_start_date"), "TIMESTAMP WITH TIME ZONE");
    assert_eq!(type_of("resource_tags"), "MAP(VARCHAR, VARCHAR)");
    assert!(columns.iter().all(|c| c[0] != "discount" && c[0] != "discount_total_discount"));
    assert_eq!(type_of("pricing_public_on_demand_rate"), "VARCHAR");
    // Every line item type the mapping documents that a bill of 40 days can hold.
    let kinds = duckdb(&format!(
        "SELECT DISTINCT line_item_line_item_type FROM read_parquet('{}') ORDER BY 1",
        files(&out)
    ));
    let kinds: Vec<String> = kinds.iter().map(|r| text(&r[0])).collect();
    for k in [
        "Credit",
        "DiscountedUsage",
        "EdpDiscount",
        "Fee",
        "RIFee",
        "SavingsPlanCoveredUsage",
        "SavingsPlanNegation",
        "SavingsPlanRecurringFee",
        "SavingsPlanUpfrontFee",
        "Tax",
        "Usage",
    ] {
        assert!(kinds.contains(&k.to_string()), "no {k} rows in {kinds:?}");
    }
}

#[test]
fn truth_agrees_with_duckdb_over_the_files_and_with_sql_over_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let (out, truth) = generate(dir.path(), "estate", &[]);
    let expected = truth_totals(&truth);
    assert_eq!(expected.len(), 2, "a USD and a foreign-currency payer: {expected:?}");

    // The independent side: DuckDB over the raw Parquet.
    let raw = duckdb(&format!(
        "SELECT line_item_currency_code, count(*), \
         round(sum(CAST(line_item_unblended_cost AS DECIMAL(38,12))), 2)::VARCHAR, \
         round(sum(CAST({EFFECTIVE} AS DECIMAL(38,12))), 2)::VARCHAR, \
         round(sum(CAST({LIST} AS DECIMAL(38,12))), 2)::VARCHAR \
         FROM read_parquet('{}') GROUP BY 1 ORDER BY 1",
        files(&out)
    ));
    let raw: Vec<(String, u64, String, String, String)> = raw
        .iter()
        .map(|r| (text(&r[0]), r[1].as_u64().unwrap(), text(&r[2]), text(&r[3]), text(&r[4])))
        .collect();
    assert_eq!(raw, expected);

    // Per billing period too: one invoiced month and one open one.
    let periods = duckdb(&format!(
        "SELECT strftime(bill_billing_period_start_date, '%Y-%m'), line_item_currency_code, \
         round(sum(CAST({EFFECTIVE} AS DECIMAL(38,12))), 2)::VARCHAR, count(bill_invoice_id) = count(*) \
         FROM read_parquet('{}') GROUP BY 1, 2 ORDER BY 1, 2",
        files(&out)
    ));
    let truth_periods: Vec<Vec<serde_json::Value>> = truth["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            vec![
                p["billing_period"].clone(),
                p["currency"].clone(),
                serde_json::Value::String(cents(p["effective_cost"].as_str().unwrap())),
                p["invoiced"].clone(),
            ]
        })
        .collect();
    assert_eq!(periods, truth_periods);
    assert_eq!(truth_periods.len(), 4);

    // costpilot: a normal ingest of the export folder, then SQL.
    let summary = json(dir.path(), &["ingest", out.join("cur").to_str().unwrap()]);
    assert_eq!(summary["rows_skipped"], 0);
    assert_eq!(summary["rows_read"].as_u64().unwrap(), truth["rows"].as_u64().unwrap());
    let lake = json(
        dir.path(),
        &[
            "query",
            "--sql",
            "SELECT BillingCurrency AS c, count(*) AS n, round(sum(BilledCost), 2) AS b, \
             round(sum(EffectiveCost), 2) AS e, round(sum(ListCost), 2) AS l FROM focus GROUP BY 1 ORDER BY 1",
        ],
    );
    let lake: Vec<(String, u64, String, String, String)> = lake
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let money = |v: &serde_json::Value| format!("{:.2}", text(v).parse::<f64>().unwrap());
            (text(&r["c"]), r["n"].as_u64().unwrap(), money(&r["b"]), money(&r["e"]), money(&r["l"]))
        })
        .collect();
    // The lake's row count differs from the CUR's: negations fold, unused commitments split.
    let folded = duckdb(&format!(
        "SELECT line_item_currency_code, {} FROM read_parquet('{}') GROUP BY 1 ORDER BY 1",
        lake_rows(),
        files(&out)
    ));
    let expected: Vec<(String, u64, String, String, String)> = expected
        .into_iter()
        .zip(&folded)
        .map(|((c, _, b, e, l), f)| {
            assert_eq!(c, text(&f[0]));
            (c, f[1].as_u64().unwrap(), b, e, l)
        })
        .collect();
    assert_eq!(lake, expected);

    // The injected events and the waste are named in truth.json with their resources.
    let events = truth["events"].as_array().unwrap();
    assert_eq!(events.len(), 5);
    for e in events {
        let id = e["resource_id"].as_str().unwrap();
        let seen = duckdb(&format!(
            "SELECT count(*) FROM read_parquet('{}') WHERE line_item_resource_id = '{id}'",
            files(&out)
        ));
        assert!(seen[0][0].as_u64().unwrap() > 0, "event resource {id} never billed");
        assert!(cents(e["extra_billed_cost"].as_str().unwrap()).parse::<f64>().unwrap() > 0.0, "{e}");
    }
}

#[test]
fn the_same_seed_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = generate(dir.path(), "a", &["--seed", "7"]);
    let (b, _) = generate(dir.path(), "b", &["--seed", "7"]);
    let (c, _) = generate(dir.path(), "c", &["--seed", "8"]);
    let (ha, hb, hc) = (hash_tree(&a), hash_tree(&b), hash_tree(&c));
    assert!(ha.len() >= 5, "{ha:?}");
    assert_eq!(ha, hb);
    let parquet = |h: &std::collections::BTreeMap<String, String>| {
        h.iter().filter(|(k, _)| k.ends_with(".parquet")).map(|(_, v)| v.clone()).collect::<Vec<_>>()
    };
    assert_ne!(parquet(&ha), parquet(&hc));
}

#[test]
fn bad_options_get_a_one_line_error_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let existing = dir.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    let out = dir.path().join("out");
    let out_s = out.to_str().unwrap();
    let cases: [(Vec<&str>, String); 5] = [
        (vec!["--accounts", "0"], "error: --accounts must be at least 1".into()),
        (vec!["--days", "0"], "error: --days must be at least 1 (the end must come after the start)".into()),
        (vec!["--rows-target", "0"], "error: --rows-target must be at least 1".into()),
        (
            vec!["--out", file.to_str().unwrap()],
            format!("error: {}: exists and is not a folder", file.display()),
        ),
        (
            vec!["--out", existing.to_str().unwrap()],
            format!("error: {}: already exists; choose another folder or replace it", existing.display()),
        ),
    ];
    for (extra, message) in cases {
        let mut args = vec!["generate"];
        if !extra.contains(&"--out") {
            args.extend(["--out", out_s]);
        }
        args.extend(&extra);
        let run = costpilot(dir.path(), &args);
        assert!(!run.status.success(), "{extra:?} succeeded");
        assert_eq!(String::from_utf8_lossy(&run.stderr), format!("{message}\n"), "{extra:?}");
    }
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["a-file", "existing"]);
    assert_eq!(std::fs::read_dir(&existing).unwrap().count(), 0);
}

#[test]
fn a_remediation_replay_changes_only_what_it_touches() {
    let dir = tempfile::tempdir().unwrap();
    let (base, truth) = generate(dir.path(), "base", &[]);
    // Delete a USD instance that runs past day 20 (DuckDB picks it) from day 20 on.
    let idle = text(
        &duckdb(&format!(
            "SELECT line_item_resource_id FROM read_parquet('{}') WHERE line_item_resource_id LIKE 'i-%' \
             AND line_item_currency_code = 'USD' \
             AND line_item_usage_start_date >= TIMESTAMPTZ '2025-01-21 00:00:00+00' \
             GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
            files(&base)
        ))[0][0],
    );
    let plan = dir.path().join("remediations.json");
    std::fs::write(
        &plan,
        format!(r#"[{{"from": "2025-01-21T00:00:00Z", "action": "delete", "resource_id": "{idle}"}}]"#),
    )
    .unwrap();
    let (replay, replay_truth) = generate(dir.path(), "replay", &["--remediate", plan.to_str().unwrap()]);
    let public = |out: &Path, filter: &str| {
        text(
            &duckdb(&format!(
                "SELECT round(sum(CAST(pricing_public_on_demand_cost AS DECIMAL(38,12))), 6)::VARCHAR \
                 FROM read_parquet('{}') WHERE line_item_line_item_type IN \
                 ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage') AND {filter}",
                files(out)
            ))[0][0],
        )
    };
    // On-demand usage of every other resource is untouched: the replay draws the same noise.
    let others =
        format!("coalesce(line_item_resource_id, '') <> '{idle}' AND line_item_resource_id NOT LIKE 'vol-%'");
    assert_eq!(public(&base, &others), public(&replay, &others));
    // The instance stops billing at the remediation and not before.
    let after = format!(
        "line_item_resource_id = '{idle}' AND line_item_usage_start_date >= TIMESTAMPTZ '2025-01-21 00:00:00+00'"
    );
    let before = format!(
        "line_item_resource_id = '{idle}' AND line_item_usage_start_date < TIMESTAMPTZ '2025-01-21 00:00:00+00'"
    );
    assert_ne!(public(&base, &after), "null");
    assert_eq!(public(&replay, &after), "null");
    assert_eq!(public(&base, &before), public(&replay, &before));
    // truth.json records the remediation, and the estate costs less.
    assert_eq!(replay_truth["options"]["remediations"][0]["resource_id"], idle.as_str());
    let usd = |t: &serde_json::Value| {
        t["totals"].as_array().unwrap().iter().find(|x| x["currency"] == "USD").unwrap()["list_cost"]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap()
    };
    assert!(usd(&replay_truth) < usd(&truth));

    // A remediation naming a resource the estate lacks is refused, and nothing is written.
    std::fs::write(
        &plan,
        r#"[{"from": "2025-01-21T00:00:00Z", "action": "delete", "resource_id": "i-0nope"}]"#,
    )
    .unwrap();
    let out = dir.path().join("refused");
    let run = costpilot(
        dir.path(),
        &[
            "generate",
            "--out",
            out.to_str().unwrap(),
            "--accounts",
            "8",
            "--days",
            "40",
            "--remediate",
            plan.to_str().unwrap(),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stderr),
        "error: remediation 1: no resource 'i-0nope' in the estate\n"
    );
    assert!(!out.exists());
}

/// The estate's whole folder ingests like its `cur/` folder alone: the same units and BilledCost,
/// and the summary names each side file it passed over with what reads it instead.
#[test]
fn the_estate_folder_ingests_its_bill_and_lists_the_side_files_it_passes_over() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = generate(dir.path(), "estate", &[]);
    let root = json(&dir.path().join("root"), &["ingest", out.to_str().unwrap()]);
    let cur = json(&dir.path().join("cur"), &["ingest", out.join("cur").to_str().unwrap()]);
    for key in ["rows_kept", "units", "billed_cost_by_currency"] {
        assert_eq!(root[key], cur[key], "{key}");
    }
    let passed_over: Vec<(String, String)> = root["passed_over"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let path = Path::new(p["path"].as_str().unwrap());
            let name = path.strip_prefix(&out).unwrap().to_string_lossy().into_owned();
            (name, p["reason"].as_str().unwrap().to_string())
        })
        .collect();
    let reason = |name: &str| {
        passed_over
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.as_str())
            .unwrap_or_else(|| panic!("{name} not among the files passed over: {passed_over:?}"))
    };
    assert_eq!(reason("cmdb.csv"), "a CMDB export: put it in force with `costpilot rules apply cmdb <file>`");
    assert_eq!(
        reason("business-metrics.csv"),
        "business metrics: import them with `costpilot metrics import <file>`"
    );
    assert!(passed_over.iter().all(|(n, _)| !n.starts_with("cur/costpilot-demo/data/")), "{passed_over:?}");
    assert!(
        cur["passed_over"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| !p["path"].as_str().unwrap().ends_with(".parquet"))
    );
}
