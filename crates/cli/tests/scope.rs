//! Tenant scope end to end: with the shipped rules and the estate's CMDB in force, a session
//! opened with `--scope business_unit=…` or `--scope account=…` sees exactly the rows of the
//! scope (equal to the unscoped rows filtered, and to DuckDB over the raw CUR), and every way out
//! of the `focus` view we know of either fails with a fixed message or sees only the scope.
//!
//! Two escapes this test found are closed and stay tested: a caller's filter that fails
//! (`CAST(... AS INT)`) would print the values of the row it failed on, so no caller's filter runs
//! below the scope's; and EXPLAIN (file names, rows read before the scope) is refused in a scope.

mod common;

use std::collections::BTreeMap;
use std::process::Output;
use std::sync::OnceLock;

use common::*;
use serde_json::Value;

/// The business unit scoped to.
const BU: &str = "Retail";

/// The estate, with the shipped rules, the estate's CMDB and allocation rules in force in its lake.
fn fixture() -> &'static Estate {
    estate(&two_periods("37"), Rules::Shipped)
}

/// The account scoped to: the one with the most rows outside the business unit.
fn account() -> &'static str {
    static ACCOUNT: OnceLock<String> = OnceLock::new();
    ACCOUNT.get_or_init(|| {
        let top = json(
            &fixture().lake,
            &[
                "query",
                "--sql",
                &format!(
                    "SELECT SubAccountId AS a FROM focus WHERE x_business_unit <> '{BU}' \
                     GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
                ),
            ],
        );
        text(&top[0]["a"])
    })
}

/// `--scope account=<the fixture's account>`.
fn by_account() -> String {
    format!("account={}", account())
}

fn by_bu() -> String {
    format!("business_unit={BU}")
}

/// Runs costpilot on the fixture's lake under `scope`.
fn scoped(scope: &str, args: &[&str]) -> Output {
    let mut all = vec!["--scope", scope];
    all.extend(args);
    costpilot(&fixture().lake, &all)
}

/// Runs a query (under `scope`, if given) and returns its rows as JSON objects.
fn query(scope: Option<&str>, sql: &str) -> Vec<Value> {
    let mut args: Vec<&str> = scope.map(|s| vec!["--scope", s]).unwrap_or_default();
    args.extend(["query", "--format", "json", "--sql", sql]);
    let out = costpilot(&fixture().lake, &args);
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
}

/// Asserts the command fails with exactly `error: <message>`.
fn fails(out: Output, message: &str) {
    assert!(!out.status.success(), "succeeded: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(String::from_utf8_lossy(&out.stderr), format!("error: {message}\n"));
}

/// Per currency: rows and Σ EffectiveCost (exact text).
type Totals = BTreeMap<String, (u64, String)>;

/// Totals of the columns `c`, `n`, `e` of a query's rows.
fn totals(rows: &[Value]) -> Totals {
    rows.iter().map(|r| (text(&r["c"]), (r["n"].as_u64().unwrap(), text(&r["e"])))).collect()
}

/// The totals query over `from` (a table, or a subquery with an alias).
fn probe(from: &str) -> String {
    format!(
        "SELECT BillingCurrency AS c, count(*) AS n, sum(EffectiveCost) AS e FROM {from} GROUP BY 1 ORDER BY 1"
    )
}

fn assert_totals(what: &str, got: &Totals, want: &Totals) {
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "{what}");
    for (currency, (rows, cost)) in want {
        assert_eq!(got[currency].0, *rows, "{what}: {currency} rows");
        assert_amount(&format!("{what}: {currency}"), &Value::String(got[currency].1.clone()), cost);
    }
}

/// DuckDB over the raw CUR rows of the account: per currency, rows and Σ EffectiveCost.
fn duck_account(f: &Estate) -> Totals {
    duckdb(&format!(
        "SELECT line_item_currency_code, count(*), sum({})::VARCHAR \
         FROM read_parquet('{}/cur/*/data/*/*.parquet') WHERE line_item_usage_account_id = '{}' \
         GROUP BY 1 ORDER BY 1",
        effective_cost(),
        f.estate.display(),
        account()
    ))
    .iter()
    .map(|r| (text(&r[0]), (r[1].as_u64().unwrap(), text(&r[2]))))
    .collect()
}

/// What the scope sees: the business unit's rows of the unscoped view, and the account's rows of
/// the raw CUR.
fn expected(f: &Estate, scope: &str) -> Totals {
    if scope == by_bu() {
        totals(&query(None, &probe(&format!("(SELECT * FROM focus WHERE x_business_unit = '{BU}')"))))
    } else {
        duck_account(f)
    }
}

#[test]
fn a_scoped_focus_is_the_unscoped_focus_filtered() {
    let f = fixture();
    for scope in [by_bu(), by_account()] {
        let want = expected(f, &scope);
        assert!(want.values().all(|(rows, _)| *rows > 0), "{scope}: {want:?}");
        let got = totals(&query(Some(&scope), &probe("focus")));
        assert_totals(&scope, &got, &want);
        let rows = |t: &Totals| t.values().map(|(n, _)| n).sum::<u64>();
        assert!(rows(&want) < rows(&totals(&query(None, &probe("focus")))), "{scope} sees every row");
    }
    let values = query(Some(&by_bu()), "SELECT DISTINCT x_business_unit AS v FROM focus");
    assert_eq!(values, vec![serde_json::json!({ "v": BU })]);
    let accounts = query(Some(&by_account()), "SELECT DISTINCT SubAccountId AS a FROM focus");
    assert_eq!(accounts, vec![serde_json::json!({ "a": account() })]);
}

#[test]
fn queries_around_the_view_see_only_the_scope() {
    let f = fixture();
    for scope in [by_bu(), by_account()] {
        let want = expected(f, &scope);
        for from in [
            "focus_lake",
            "datafusion.public.focus_lake",
            "datafusion.public.focus",
            "(SELECT * FROM focus_lake LIMIT 100000000) AS l",
            "(SELECT BillingCurrency, EffectiveCost FROM focus_lake WHERE ChargeCategory = 'Usage' \
              UNION ALL SELECT BillingCurrency, EffectiveCost FROM datafusion.public.focus_lake \
              WHERE ChargeCategory <> 'Usage') AS u",
            "(SELECT * FROM focus_lake WHERE SubAccountId IN (SELECT SubAccountId FROM focus_lake) \
              OR SubAccountId NOT IN (SELECT SubAccountId FROM focus_lake)) AS s",
        ] {
            assert_totals(&format!("{scope}: {from}"), &totals(&query(Some(&scope), &probe(from))), &want);
        }
        // A CTE named like the view shadows it, and still reads the scoped table.
        let cte = format!("WITH focus AS (SELECT * FROM focus_lake) {}", probe("focus"));
        assert_totals(&format!("{scope}: CTE"), &totals(&query(Some(&scope), &cte)), &want);
        // A scalar subquery counts the scope's rows only.
        let rows: u64 = want.values().map(|(n, _)| n).sum();
        let n = query(Some(&scope), "SELECT (SELECT count(*) FROM focus_lake) AS n");
        assert_eq!(n[0]["n"].as_u64(), Some(rows), "{scope}");

        // The catalogue lists table names, and every table with data is the scoped one, the view
        // over it, or a rollup that is scoped itself: its totals are the scope's.
        let tables = query(
            Some(&scope),
            "SELECT table_name AS t, table_type AS k FROM information_schema.tables \
             WHERE table_schema <> 'information_schema' ORDER BY 1",
        );
        let names: Vec<(String, String)> = tables.iter().map(|t| (text(&t["t"]), text(&t["k"]))).collect();
        assert_eq!(
            names[..2],
            [("focus".into(), "VIEW".into()), ("focus_lake".into(), "BASE TABLE".into())],
            "{scope}"
        );
        let rollups: Vec<&str> = names[2..].iter().map(|(t, _)| t.as_str()).collect();
        assert!(rollups.iter().all(|t| t.starts_with("rollup_")), "{scope}: {names:?}");
        assert!(!rollups.is_empty(), "{scope}: no rollup can answer within the scope");
        for table in rollups {
            let sql = format!(
                "SELECT BillingCurrency AS c, CAST(sum(x_Rows) AS BIGINT) AS n, sum(EffectiveCost) AS e FROM {table} GROUP BY 1 ORDER BY 1"
            );
            assert_totals(&format!("{scope}: {table}"), &totals(&query(Some(&scope), &sql)), &want);
        }
    }
}

#[test]
fn files_ddl_dml_and_settings_are_refused() {
    let f = fixture();
    let data = f.lake.join("lake/data");
    let file = parquet_files(&data).swap_remove(0);
    let file = file.to_str().unwrap();
    let out = f.dir.join("out.csv");
    for scope in [by_bu(), by_account()] {
        let refused = [
            (format!("SELECT * FROM '{file}'"), format!("table 'datafusion.public.{file}' not found")),
            (
                format!("SELECT * FROM read_parquet('{file}')"),
                "table function 'read_parquet' not found".into(),
            ),
            (
                format!("SELECT * FROM read_csv('{}/cmdb.csv')", f.estate.display()),
                "table function 'read_csv' not found".into(),
            ),
            (
                format!("CREATE EXTERNAL TABLE x STORED AS PARQUET LOCATION '{}/'", data.display()),
                "DDL not supported: CreateExternalTable".into(),
            ),
            ("CREATE VIEW v AS SELECT * FROM focus_lake".into(), "DDL not supported: CreateView".into()),
            (
                "CREATE TABLE t AS SELECT * FROM focus_lake".into(),
                "DDL not supported: CreateMemoryTable".into(),
            ),
            (
                "INSERT INTO focus_lake SELECT * FROM focus_lake".into(),
                "DML not supported: Insert Into".into(),
            ),
            (format!("COPY (SELECT * FROM focus) TO '{}'", out.display()), "DML not supported: COPY".into()),
            ("SET datafusion.execution.batch_size = 1".into(), "Statement not supported: SetVariable".into()),
            ("DROP TABLE focus_lake".into(), "DDL not supported: DropTable".into()),
            ("PREPARE p AS SELECT * FROM focus_lake".into(), "Statement not supported: Prepare".into()),
            (
                "SELECT 1; DROP TABLE focus_lake".into(),
                "This feature is not implemented: The context currently only supports a single SQL statement"
                    .into(),
            ),
        ];
        for (sql, message) in refused {
            fails(scoped(&scope, &["query", "--sql", &sql]), &message);
        }
        assert!(!out.exists(), "COPY wrote {}", out.display());
    }
}

#[test]
fn export_quality_and_allocate_see_only_the_scope() {
    let f = fixture();
    for (name, scope) in [("bu", by_bu()), ("account", by_account())] {
        let want = expected(f, &scope);
        let file = f.dir.join(format!("export-{name}.parquet"));
        let out = scoped(&scope, &["export", "--out", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let got: Totals = duckdb(&format!(
            "SELECT BillingCurrency, count(*), sum(EffectiveCost)::VARCHAR FROM read_parquet('{}') GROUP BY 1",
            file.display()
        ))
        .iter()
        .map(|r| (text(&r[0]), (r[1].as_u64().unwrap(), text(&r[2]))))
        .collect();
        assert_totals(&format!("{scope}: export"), &got, &want);
    }
    let accounts = duckdb(&format!(
        "SELECT DISTINCT SubAccountId FROM read_parquet('{}')",
        f.dir.join("export-account.parquet").display()
    ));
    assert_eq!(accounts, vec![vec![Value::String(account().to_string())]]);

    let scope = by_account();
    let want = duck_account(f);
    let report = scoped_json(&scope, &["quality"]);
    assert_eq!(report["rows"].as_u64().unwrap(), want.values().map(|(n, _)| n).sum::<u64>());
    let seen = report["unallocated"].as_array().unwrap();
    assert_eq!(seen.len(), want.len(), "{seen:?}");
    for s in seen {
        let currency = text(&s["currency"]);
        assert_amount(&format!("quality {currency}"), &s["total_effective_cost"], &want[&currency].1);
    }
    for o in report["unallocated_by_account"].as_array().unwrap() {
        assert_eq!(text(&o["key"]), account(), "{o}");
    }

    let allocation = scoped_json(&scope, &["allocate"]);
    let per_period = duckdb(&format!(
        "SELECT strftime(bill_billing_period_start_date AT TIME ZONE 'UTC', '%Y-%m'), line_item_currency_code, \
           round(sum({}), 2)::VARCHAR \
         FROM read_parquet('{}/cur/*/data/*/*.parquet') WHERE line_item_usage_account_id = '{}' \
         GROUP BY 1, 2 ORDER BY 1, 2",
        effective_cost(),
        f.estate.display(),
        account()
    ));
    let got: Vec<(String, String, i64)> = allocation["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (text(&p["period"]), text(&p["currency"]), p["total_cents"].as_i64().unwrap()))
        .collect();
    let want: Vec<(String, String, i64)> = per_period
        .iter()
        .map(|r| (text(&r[0]), text(&r[1]), (units(&text(&r[2])) / 10_000_000_000_000) as i64))
        .collect();
    assert_eq!(got, want);
}

fn scoped_json(scope: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let out = scoped(scope, &all);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A caller's filter runs only on rows in scope: a filter that would fail on (and so print) a row
/// outside the scope never sees one. `CASE WHEN <rows outside the scope> THEN CAST(<their columns>
/// AS INT)` counts nothing and fails on nothing.
#[test]
fn a_failing_filter_never_sees_a_row_outside_the_scope() {
    let f = fixture();
    for (scope, outside) in [
        (by_account(), format!("SubAccountId <> '{}'", account())),
        (by_bu(), format!("x_business_unit <> '{BU}'")),
    ] {
        let sql = format!(
            "SELECT count(*) AS n FROM focus WHERE CASE WHEN {outside} THEN \
               CAST(concat('leak|', SubAccountId, '|', SubAccountName, '|', x_business_unit, '|') AS INT) \
             ELSE 1 END = 1"
        );
        let want: u64 = expected(f, &scope).values().map(|(n, _)| n).sum();
        let rows = query(Some(&scope), &sql);
        assert_eq!(rows[0]["n"].as_u64(), Some(want), "{scope}");
        // The same filter fails unscoped: the test would catch a leak.
        let out = costpilot(&f.lake, &["query", "--sql", &sql]);
        assert!(String::from_utf8_lossy(&out.stderr).contains("leak|"), "the probe does not probe");
    }
}

/// EXPLAIN names the lake's files (other tenants' payer accounts) and EXPLAIN ANALYZE counts what
/// a scan read before the scope's filter: neither is available within a scope.
#[test]
fn explain_is_refused_within_a_scope() {
    for scope in [by_bu(), by_account()] {
        for sql in ["EXPLAIN ANALYZE SELECT count(*) FROM focus_lake", "EXPLAIN SELECT count(*) FROM focus"] {
            fails(
                scoped(&scope, &["query", "--sql", sql]),
                "EXPLAIN is not available within a scope: plans name other tenants' files",
            );
        }
    }
    assert!(!query(None, "EXPLAIN SELECT count(*) FROM focus").is_empty());
}
