//! End to end over business metrics and unit cost: the volumes equal DuckDB over the CSV, the
//! cost per application equals DuckDB over the raw CUR with the shipped rules' application
//! precedence written out in SQL, the quotient is exact, a scope hides what it does not allow, and
//! a bad file stores nothing.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde_json::Value;

#[test]
fn unit_cost_divides_duckdb_cost_by_duckdb_volume() {
    let dir = tempfile::tempdir().unwrap();
    let (estate, data) = (dir.path().join("estate"), dir.path().join("data"));
    let e = estate.to_str().unwrap();
    generate_and_ingest(
        &estate,
        &data,
        &[
            "--accounts",
            "60",
            "--days",
            "40",
            "--start",
            "2025-01-01",
            "--rows-target",
            "200000",
            "--seed",
            "41",
        ],
    );
    apply_shipped_rules(&estate, &data);
    let metrics = format!("{e}/business-metrics.csv");
    let imported = json(&data, &["metrics", "import", &metrics]);
    assert_eq!(imported["dimensions"], serde_json::json!(["application"]));

    let got = json(
        &data,
        &["metrics", "unit-cost", "--metric", "requests", "--by", "application", "--grain", "month"],
    );
    let rows = got.as_array().unwrap();
    assert!(rows.len() > 10, "{got}");

    // The volumes, from the CSV alone.
    let volumes: BTreeMap<(String, String), String> = duckdb(&format!(
        "SELECT strftime(timestamp::TIMESTAMP, '%Y-%m'), application, sum(value)::VARCHAR \
         FROM read_csv('{metrics}') WHERE name = 'requests' GROUP BY 1, 2"
    ))
    .into_iter()
    .map(|r| ((text(&r[0]), text(&r[1])), text(&r[2])))
    .collect();
    // The cost, from the raw CUR: the application as the shipped rules give it (tag, then the
    // CMDB's resource entry, then its account entry, then the resource name), written out in SQL.
    let cmdb = format!("read_csv('{e}/cmdb.csv', all_varchar = true)");
    let costs: BTreeMap<(String, String, String), String> = duckdb(&format!(
        "WITH raw AS (SELECT line_item_currency_code AS currency, \
            strftime(line_item_usage_start_date AT TIME ZONE 'UTC', '%Y-%m') AS month, \
            line_item_usage_account_id AS account, coalesce(line_item_resource_id, '') AS resource, \
            nullif(trim(list_filter(map_entries(resource_tags), lambda x: lower(x.key) = 'user_application')[1].value), '') AS tag, \
            {eff} AS effective FROM read_parquet('{e}/cur/*/data/*/*.parquet')) \
         SELECT currency, month, app, sum(effective)::VARCHAR FROM ( \
           SELECT raw.*, coalesce(tag, r.application, a.application, \
             nullif(regexp_extract(resource, '^arn:aws:(?:rds:[^:]*:[0-9]*:db:|lambda:[^:]*:[0-9]*:function:|sagemaker:[^:]*:[0-9]*:endpoint/)(.+)-[0-9a-f]{{4,6}}$', 1), '')) AS app \
           FROM raw LEFT JOIN {cmdb} r ON r.kind = 'resource' AND r.id = raw.resource \
                    LEFT JOIN {cmdb} a ON a.kind = 'account' AND a.id = raw.account) \
         WHERE app IS NOT NULL GROUP BY 1, 2, 3",
        eff = effective_cost()
    ))
    .into_iter()
    .map(|r| ((text(&r[0]), text(&r[1]), text(&r[2])), text(&r[3])))
    .collect();
    let mut seen = 0;
    for r in rows {
        let month = text(&r["bucket"])[..7].to_string();
        let app = text(&r["dimensions"][0]);
        let currency = text(&r["currency"]);
        let volume = &volumes[&(month.clone(), app.clone())];
        assert_eq!(units(&text(&r["volume"])), units(volume), "{month} {app}");
        let cost = &costs[&(currency.clone(), month.clone(), app.clone())];
        assert_amount(&format!("{currency} {month} {app}"), &r["effective_cost"], cost);
        let quotient = units(&text(&r["effective_cost"])) as f64 / units(volume) as f64;
        let unit = units(&text(&r["unit_cost"])) as f64 / 1e15;
        assert!((unit - quotient).abs() <= 1e-15 * quotient.abs().max(1.0), "{unit} vs {quotient}");
        seen += 1;
    }
    // Every application with both a cost and requests in a month is there.
    let both = costs.keys().filter(|(_, m, a)| volumes.contains_key(&(m.clone(), a.clone()))).count();
    assert_eq!(seen, both);

    // A scope by application shows that application only.
    let app = text(&rows[0]["dimensions"][0]);
    let scoped = json(
        &data,
        &[
            "--scope",
            &format!("application={app}"),
            "metrics",
            "unit-cost",
            "--metric",
            "requests",
            "--by",
            "application",
            "--grain",
            "month",
        ],
    );
    let scoped = scoped.as_array().unwrap();
    assert!(!scoped.is_empty());
    assert!(scoped.iter().all(|r| text(&r["dimensions"][0]) == app), "{scoped:?}");
    let unscoped: Vec<&Value> = rows.iter().filter(|r| text(&r["dimensions"][0]) == app).collect();
    assert_eq!(scoped.len(), unscoped.len());

    // A bad file stores nothing.
    let before = hash_tree(&data.join("metrics"));
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "name,timestamp,application,value\nrequests,2025-01-01T00:00:00Z,web,12\nrequests,2025-01-02,web,lots\n").unwrap();
    let out = costpilot(&data, &["metrics", "import", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("error: {}: row 2, column 'value': 'lots' is not a number\n", bad.display())
    );
    assert_eq!(hash_tree(&data.join("metrics")), before);
}
