//! `costpilot cost` end to end over a generated estate, against DuckDB over the raw CUR 2.0 files:
//! cost by service and month, by account over the last week, top N with `other`, a scoped
//! session, and the error for a misspelt dimension.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use serde_json::Value;

/// The one generated and ingested estate every test of this file reads.
fn fixture() -> &'static Estate {
    estate(&["--accounts", "30", "--days", "40", "--rows-target", "150000", "--seed", "31"], Rules::Bare)
}

/// The data directory of the estate's lake.
fn lake() -> &'static Path {
    &fixture().lake
}

/// The raw bill as a DuckDB relation.
fn cur() -> String {
    format!(
        "read_parquet('{}/cur/costpilot-demo/data/*/*.parquet', hive_partitioning = false)",
        fixture().estate.display()
    )
}

/// (group, bucket, currency) → Σ EffectiveCost as decimal text, from DuckDB rows of that shape.
fn by_key(rows: Vec<Vec<Value>>) -> BTreeMap<(String, String, String), String> {
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    rows.iter().map(|r| ((text(&r[0]), text(&r[1]), text(&r[2])), text(&r[3]))).collect()
}

/// The same map from a `costpilot cost --format json` result with one dimension.
fn result_by_key(result: &Value, bucket_len: usize) -> BTreeMap<(String, String, String), Value> {
    result["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let group = match r["other"].as_bool().unwrap() {
                true => "(other)".to_string(),
                false => r["groups"][0].as_str().unwrap_or("").to_string(),
            };
            let bucket = r["bucket"].as_str().unwrap_or("")[..bucket_len].to_string();
            ((group, bucket, r["currency"].as_str().unwrap().to_string()), r["value"].clone())
        })
        .collect()
}

fn assert_same(
    got: &BTreeMap<(String, String, String), Value>,
    want: &BTreeMap<(String, String, String), String>,
) {
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>());
    for (key, value) in want {
        assert_amount(&format!("{key:?}"), &got[key], value);
    }
}

#[test]
fn cost_by_service_and_month_matches_duckdb_over_the_raw_bill() {
    let result = json(lake(), &["cost", "--by", "service", "--grain", "month"]);
    let want = by_key(duckdb(&format!(
        "SELECT product['servicename'], strftime(line_item_usage_start_date AT TIME ZONE 'UTC', '%Y-%m'), \
           line_item_currency_code, sum({}) FROM {} GROUP BY ALL",
        effective_cost(),
        cur()
    )));
    assert!(want.len() > 20, "two months of many services in two currencies: {want:?}");
    assert_same(&result_by_key(&result, 7), &want);
    assert_eq!(result["total_rows"].as_u64(), Some(want.len() as u64));
    assert_eq!(result["next_offset"], Value::Null);
    assert_eq!(result["request"]["group_by"], serde_json::json!(["service"]));
    assert_eq!(result["request"]["metric"], "effective_cost");
}

#[test]
fn cost_by_account_over_the_last_week_counts_back_from_the_latest_usage() {
    let result = json(lake(), &["cost", "--by", "account", "--grain", "day", "--since", "7d"]);
    // The latest usage ends at midnight; seven whole days before it.
    let range = duckdb(&format!(
        "SELECT strftime(max(line_item_usage_end_date) AT TIME ZONE 'UTC' - INTERVAL 7 DAY, '%Y-%m-%dT%H:%M:%SZ'), \
           strftime(max(line_item_usage_end_date) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') \
         FROM {} WHERE line_item_line_item_type = 'Usage'",
        cur()
    ));
    let (start, end) = (range[0][0].as_str().unwrap(), range[0][1].as_str().unwrap());
    assert_eq!(result["request"]["range"], serde_json::json!({"start": start, "end": end}));
    let want = by_key(duckdb(&format!(
        "SELECT line_item_usage_account_id, strftime(line_item_usage_start_date AT TIME ZONE 'UTC', '%Y-%m-%d'), \
           line_item_currency_code, sum({}) FROM {} \
         WHERE line_item_usage_start_date >= TIMESTAMPTZ '{start}' AND line_item_usage_start_date < TIMESTAMPTZ '{end}' \
         GROUP BY ALL",
        effective_cost(),
        cur()
    )));
    assert_eq!(want.keys().map(|k| &k.1).collect::<std::collections::BTreeSet<_>>().len(), 7, "seven days");
    assert_same(&result_by_key(&result, 10), &want);
    let names = result["rows"].as_array().unwrap().iter().filter(|r| r["names"][0].is_string()).count();
    assert_eq!(names, want.len(), "every account row carries the account's name");
}

#[test]
fn top_three_services_keep_their_rows_and_the_rest_is_other() {
    let all = json(lake(), &["cost", "--by", "service", "--grain", "month"]);
    let top = json(lake(), &["cost", "--by", "service", "--grain", "month", "--top", "3"]);
    let leaders = duckdb(&format!(
        "SELECT line_item_currency_code, product['servicename'] FROM {} GROUP BY 1, 2 \
         QUALIFY row_number() OVER (PARTITION BY line_item_currency_code ORDER BY abs(sum({})) DESC) <= 3",
        cur(),
        effective_cost()
    ));
    let leaders: std::collections::BTreeSet<(String, String)> = leaders
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_str().unwrap().to_string()))
        .collect();
    let mut kept = std::collections::BTreeSet::new();
    let mut totals: BTreeMap<(String, String), i128> = BTreeMap::new();
    for r in top["rows"].as_array().unwrap() {
        let key = (r["bucket"].as_str().unwrap().to_string(), r["currency"].as_str().unwrap().to_string());
        *totals.entry(key).or_default() += units(r["value"].as_str().unwrap());
        if !r["other"].as_bool().unwrap() {
            kept.insert((
                r["currency"].as_str().unwrap().to_string(),
                r["groups"][0].as_str().unwrap().to_string(),
            ));
        }
    }
    assert_eq!(kept, leaders, "the three largest services of each currency over both months");
    let mut all_totals: BTreeMap<(String, String), i128> = BTreeMap::new();
    for r in all["rows"].as_array().unwrap() {
        let key = (r["bucket"].as_str().unwrap().to_string(), r["currency"].as_str().unwrap().to_string());
        *all_totals.entry(key).or_default() += units(r["value"].as_str().unwrap());
    }
    assert_eq!(totals, all_totals, "top N with other adds up exactly to every service");
    let others = top["rows"].as_array().unwrap().iter().filter(|r| r["other"] == true).count();
    assert!(others >= 2, "USD has more than three services in each month");

    let table = ok(lake(), &["cost", "--by", "service", "--grain", "month", "--top", "3"]);
    assert!(table.contains("| (other) "), "{table}");
    assert!(table.contains("| 2025-01 "), "{table}");
}

#[test]
fn a_misspelt_dimension_is_refused_with_the_closest_name() {
    let out = costpilot(lake(), &["cost", "--by", "servce"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: unknown dimension 'servce'; did you mean 'service'? valid: provider, billing_account, account, \
         service, service_category, region, resource, charge_category, currency, instance_type, billing_period, tag:<key>, cost_category:<name>, \
         team, business_unit, cost_centre, application, environment, owner, criticality\n"
    );
}

#[test]
fn a_scoped_caller_sees_only_its_account() {
    let account = duckdb(&format!(
        "SELECT line_item_usage_account_id FROM {} GROUP BY ALL ORDER BY sum({}) DESC LIMIT 1",
        cur(),
        effective_cost()
    ))[0][0]
        .as_str()
        .unwrap()
        .to_string();
    let scope = format!("account={account}");
    let result = json(lake(), &["--scope", &scope, "cost", "--by", "service", "--grain", "month"]);
    let want = by_key(duckdb(&format!(
        "SELECT product['servicename'], strftime(line_item_usage_start_date AT TIME ZONE 'UTC', '%Y-%m'), \
           line_item_currency_code, sum({}) FROM {} WHERE line_item_usage_account_id = '{account}' GROUP BY ALL",
        effective_cost(),
        cur()
    )));
    assert_same(&result_by_key(&result, 7), &want);
    let accounts = json(lake(), &["--scope", &scope, "cost", "--by", "account"]);
    let ids: Vec<&Value> = accounts["rows"].as_array().unwrap().iter().map(|r| &r["groups"][0]).collect();
    assert!(!ids.is_empty() && ids.iter().all(|id| id.as_str() == Some(account.as_str())), "{ids:?}");
}

#[test]
fn pages_and_filters_on_the_command_line() {
    let first = json(lake(), &["cost", "--by", "service,account", "--page-size", "5"]);
    let total = first["total_rows"].as_u64().unwrap();
    assert!(total > 5);
    assert_eq!(first["rows"].as_array().unwrap().len(), 5);
    assert_eq!(first["next_offset"], 5);
    let second = json(lake(), &["cost", "--by", "service,account", "--page-size", "5", "--offset", "5"]);
    assert_ne!(first["rows"][0], second["rows"][0]);
    assert_eq!(second["total_rows"].as_u64(), Some(total));

    let ec2 = json(
        lake(),
        &["cost", "--filter", "service=Amazon Elastic Compute Cloud", "--filter", "currency=USD"],
    );
    let want = duckdb(&format!(
        "SELECT sum({}) FROM {} WHERE product['servicename'] = 'Amazon Elastic Compute Cloud' \
           AND line_item_currency_code = 'USD'",
        effective_cost(),
        cur()
    ));
    assert_eq!(ec2["rows"].as_array().unwrap().len(), 1);
    assert_amount("EC2 in USD", &ec2["rows"][0]["value"], want[0][0].as_str().unwrap());
}

#[test]
fn the_bench_suite_runs_every_query_and_counts_what_the_cost_command_returns() {
    let dir = lake();
    let report = json(dir, &["bench", "--runs", "2"]);
    let queries = report["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 8);
    let from_rollups = queries.iter().filter(|q| q["source"] != "raw").count();
    assert_eq!(report["rollup_hits"].as_u64(), Some(from_rollups as u64));
    assert_eq!(from_rollups, 8, "{report}");

    // The ingest computed every rollup as it wrote: all are fresh and there is nothing to build.
    let status = json(dir, &["rollups", "status"]);
    let rollups = status["rollups"].as_array().unwrap();
    assert_eq!(rollups.len(), 5, "{status}");
    assert!(rollups.iter().all(|r| r["fresh"] == true && r["parts"] == r["units"]), "{status}");
    assert_eq!(json(dir, &["rollups", "build"])["parts_built"], 0);
    let monthly = queries.iter().find(|q| q["name"] == "monthly by service").unwrap();
    let cost = json(dir, &["cost", "--by", "service", "--grain", "month", "--page-size", "50000"]);
    assert_eq!(monthly["total_rows"], cost["total_rows"]);
    for q in queries {
        assert_eq!(q["runs_ms"].as_array().unwrap().len(), 2, "{q}");
        assert!(q["p50_ms"].as_f64().unwrap() <= q["p95_ms"].as_f64().unwrap(), "{q}");
    }
    let out = costpilot(dir, &["bench", "--runs", "0"]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "error: --runs must be at least 1\n");
}
