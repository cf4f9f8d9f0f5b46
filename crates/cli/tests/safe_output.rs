//! Output that is safe to open: a lake whose account names and tag values are spreadsheet
//! formulas and terminal escapes (the CUR 2.0 sample with its names and tags replaced) is queried
//! and exported as CSV, and shown as tables. CSV cells that would run as formulas start with `'`
//! and numbers stay numbers (read back with Python's csv module, sums to the cent against DuckDB
//! over the same CUR file); tables show control characters as escapes while JSON keeps them
//! exactly; empty results are `[]`, a header row, or a header-only table.

mod common;

use std::path::PathBuf;

use common::*;
use serde_json::{Value, json};

/// Account names and tag values an attacker may choose: formulas of every kind OWASP lists, a
/// terminal escape, and a text value that is a plain (negative) number.
const CMD: &str = "=cmd|' /C calc'!A0";
const LINK: &str = "=HYPERLINK(\"http://evil.example/\",\"invoice\")";
const AT: &str = "@SUM(1+1)";
const PLUS: &str = "+SUM(1+1)";
const MINUS: &str = "-1+2";
const TAB: &str = "\t=1+1";
const CR: &str = "\r=1+1";
const ESC: &str = "\x1b[31mred\x1b]0;title\x07";
const NUMBER: &str = "-12.5";

/// `'` before a formula: what a CSV cell of `text` must hold.
fn quoted(text: &str) -> String {
    format!("'{text}")
}

struct Fixture {
    dir: PathBuf,
    /// The hostile CUR 2.0 CSV.
    cur: PathBuf,
    lake: PathBuf,
}

/// The CUR 2.0 sample with `from` replaced by `to` in every cell (`to` CSV-quoted).
fn replace_cell(text: &str, from: &str, to: &str) -> String {
    let replaced = text.replace(&format!(",{from},"), &format!(",{},", csv_cell(to)));
    assert_ne!(replaced, text, "{from} is not a cell of the sample");
    replaced
}

/// The sample's tag `key` with value `from` set to `to`, inside the CSV-quoted JSON of
/// `resource_tags`.
fn replace_tag(text: &str, key: &str, from: &str, to: &str) -> String {
    let json_text = |v: &str| Value::String(v.to_string()).to_string().replace('"', "\"\"");
    let old = format!("\"\"{key}\"\": {}", json_text(from));
    let new = format!("\"\"{key}\"\": {}", json_text(to));
    let replaced = text.replace(&old, &new);
    assert_ne!(replaced, text, "{key}={from} is not a tag of the sample");
    replaced
}

fn fixture() -> &'static Fixture {
    shared("hostile", |dir| {
        let mut text = std::fs::read_to_string(testdata("cur/cur2.csv")).unwrap();
        text = replace_cell(&text, "web-prod", CMD);
        text = replace_cell(&text, "data-prod", LINK);
        text = replace_cell(&text, "Acme Payer", AT);
        text = replace_tag(&text, "user_team", "web", PLUS);
        text = replace_tag(&text, "user_team", "data", MINUS);
        text = replace_tag(&text, "user_team", "ml", TAB);
        text = replace_tag(&text, "user_env", "prod", ESC);
        text = replace_tag(&text, "user_empty", "", NUMBER);
        text = replace_tag(&text, "aws_custom_thing", "x", CR);
        let cur = dir.join("hostile.csv");
        std::fs::write(&cur, text).unwrap();
        let lake = dir.join("lake");
        ok(&lake, &["ingest", cur.to_str().unwrap()]);
        Fixture { dir: dir.to_path_buf(), cur, lake }
    })
}

fn run(args: &[&str]) -> String {
    ok(&fixture().lake, args)
}

/// DuckDB over the hostile CUR file (all columns as text), named `cur` in `sql`.
fn duck(sql: &str) -> Vec<Vec<Value>> {
    let table = format!("read_csv('{}', all_varchar = true)", fixture().cur.display());
    duckdb(&sql.replace("FROM cur", &format!("FROM {table}")))
}

#[test]
fn query_csv_quotes_formulas_and_keeps_numbers() {
    let names = run(&[
        "query",
        "--format",
        "csv",
        "--sql",
        "SELECT DISTINCT SubAccountName AS name FROM focus ORDER BY 1",
    ]);
    assert_eq!(names, format!("name\n{}\n{}\n{}\n", csv_cell(&quoted(LINK)), quoted(CMD), quoted(AT)));
    assert_eq!(
        python_csv(&names),
        [vec!["name".to_string()], vec![quoted(LINK)], vec![quoted(CMD)], vec![quoted(AT)]]
    );

    // Tag values: each formula quoted, the plain number and the amounts (decimals, negative ones
    // included, and a decimal cast to text) as they are. Σ BilledCost per team by hand from the
    // sample: web 4.16 + 0 (Savings Plan covered usage, its negation folded in) + 4.50 + 6.66668 +
    // 0, data 22.50 + 0, ml 7.50.
    let teams = run(&[
        "query",
        "--format",
        "csv",
        "--sql",
        "SELECT Tags['team'] AS team, sum(BilledCost) AS billed, CAST(min(BilledCost) AS VARCHAR) AS low, \
           max(Tags['empty']) AS empty \
         FROM focus WHERE Tags['team'] IS NOT NULL GROUP BY 1 ORDER BY 1",
    ]);
    let want = [
        vec!["team", "billed", "low", "empty"].into_iter().map(String::from).collect::<Vec<_>>(),
        vec![quoted(TAB), "7.500000000000000".into(), "7.500000000000000".into(), String::new()],
        vec![quoted(PLUS), "15.326680000000000".into(), "0.000000000000000".into(), NUMBER.into()],
        vec![quoted(MINUS), "22.500000000000000".into(), "0.000000000000000".into(), String::new()],
    ];
    assert_eq!(python_csv(&teams), want, "{teams}");
    assert!(teams.contains("\n'+SUM(1+1),15.326680000000000,0.000000000000000,-12.5\n"), "{teams}");

    // A carriage return first is a formula lead too; the cell stays one cell.
    let cr = run(&[
        "query",
        "--format",
        "csv",
        "--sql",
        "SELECT DISTINCT Tags['aws:custom_thing'] AS t FROM focus WHERE Tags['aws:custom_thing'] IS NOT NULL",
    ]);
    assert_eq!(cr, format!("t\n\"'{CR}\"\n"));
    assert_eq!(python_csv(&cr), [vec!["t".to_string()], vec![quoted(CR)]]);
}

#[test]
fn cost_and_invoices_csv_quote_formulas_and_keep_amounts() {
    let csv = run(&["cost", "--by", "account", "--metric", "billed_cost", "--format", "csv"]);
    let rows = python_csv(&csv);
    assert_eq!(rows[0], ["account", "account_name", "currency", "billed_cost"]);
    let mut got: Vec<(String, String, String)> =
        rows[1..].iter().map(|r| (r[0].clone(), r[1].clone(), r[3].clone())).collect();
    got.sort();
    let mut want: Vec<(String, String, String)> = duck(
        "SELECT line_item_usage_account_id, any_value(line_item_usage_account_name), \
           sum(CAST(line_item_unblended_cost AS DECIMAL(38, 15)))::VARCHAR FROM cur GROUP BY 1",
    )
    .iter()
    .map(|r| (text(&r[0]), quoted(&text(&r[1])), text(&r[2])))
    .collect();
    want.sort();
    assert_eq!(got, want, "{csv}");

    let csv = run(&["invoices", "--format", "csv"]);
    let rows = python_csv(&csv);
    assert_eq!(rows[0][3], "billing_account_name");
    assert_eq!(rows[0][8], "billed_cost");
    assert!(rows.len() > 1, "{csv}");
    let mut total = 0i128;
    for r in &rows[1..] {
        assert_eq!(r[3], quoted(AT), "{csv}");
        total += units(&r[8]);
    }
    let duck_total = duck("SELECT sum(CAST(line_item_unblended_cost AS DECIMAL(38, 15)))::VARCHAR FROM cur");
    assert_eq!(total, units(&text(&duck_total[0][0])), "{csv}");
}

#[test]
fn export_csv_quotes_formulas_and_keeps_numbers() {
    let f = fixture();
    let out = f.dir.join("focus.csv");
    run(&["export", "--out", out.to_str().unwrap()]);
    let rows = python_csv(&std::fs::read_to_string(&out).unwrap());
    let col = |name: &str| rows[0].iter().position(|c| c == name).unwrap_or_else(|| panic!("no {name}"));
    let (sub, billing, billed, tags) =
        (col("SubAccountName"), col("BillingAccountName"), col("BilledCost"), col("Tags"));
    let data = &rows[1..];
    assert_eq!(data.len(), 23);
    let mut names: Vec<&str> = data.iter().map(|r| r[sub].as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names, [quoted(LINK), quoted(CMD), quoted(AT)]);
    assert!(data.iter().all(|r| r[billing] == quoted(AT)));

    // Every amount is a number as written (15 places), negative ones unquoted; the sum is DuckDB's.
    let want = duck(
        "SELECT sum(CAST(line_item_unblended_cost AS DECIMAL(38, 15)))::VARCHAR, \
           count(*) FILTER (WHERE CAST(line_item_unblended_cost AS DOUBLE) < 0 \
             AND line_item_line_item_type <> 'SavingsPlanNegation') FROM cur",
    );
    let amounts: Vec<&str> = data.iter().map(|r| r[billed].as_str()).collect();
    assert!(amounts.iter().all(|a| a.split_once('.').is_some_and(|(_, f)| f.len() == 15)), "{amounts:?}");
    assert_eq!(amounts.iter().map(|a| units(a)).sum::<i128>(), units(&text(&want[0][0])));
    assert_eq!(amounts.iter().filter(|a| a.starts_with('-')).count() as u64, want[0][1].as_u64().unwrap());
    assert!(amounts.contains(&"-10.000000000000000"), "{amounts:?}");

    // Tags are JSON objects (a cell starting with `{` runs nothing): the values inside are exact.
    let teams: Vec<Value> = data
        .iter()
        .filter(|r| !r[tags].is_empty())
        .map(|r| serde_json::from_str::<Value>(&r[tags]).unwrap()["team"].clone())
        .filter(|t| !t.is_null())
        .collect();
    for value in [PLUS, MINUS, TAB] {
        assert!(teams.contains(&json!(value)), "{value:?} not in {teams:?}");
    }
}

/// The one-column table arrow prints for `header` and `cells`.
fn one_column_table(header: &str, cells: &[&str]) -> String {
    let width = cells.iter().map(|c| c.chars().count()).chain([header.chars().count()]).max().unwrap();
    let rule = format!("+{}+\n", "-".repeat(width + 2));
    let row = |c: &str| format!("| {c}{} |\n", " ".repeat(width - c.chars().count()));
    let mut out = format!("{rule}{}{rule}", row(header));
    for c in cells {
        out.push_str(&row(c));
    }
    out + &rule
}

#[test]
fn tables_escape_control_characters_and_json_keeps_them() {
    let sql = "SELECT DISTINCT Tags['env'] AS env FROM focus WHERE Tags['env'] IS NOT NULL";
    let table = run(&["query", "--sql", sql]);
    assert_eq!(table, one_column_table("env", &["\\u{1b}[31mred\\u{1b}]0;title\\u{7}"]));
    let exact = run(&["query", "--format", "json", "--sql", sql]);
    assert_eq!(serde_json::from_str::<Value>(&exact).unwrap(), json!([{ "env": ESC }]));

    let table = run(&[
        "query",
        "--sql",
        "SELECT Tags['team'] AS team FROM focus WHERE Tags['team'] LIKE '%=1+1' ORDER BY 1",
    ]);
    assert_eq!(table, one_column_table("team", &["\\t=1+1"]));

    // Every table a person reads: no control character but the line breaks between lines.
    let resource = text(
        &json(
            &fixture().lake,
            &["query", "--sql", "SELECT ResourceId AS r FROM focus WHERE Tags['env'] IS NOT NULL LIMIT 1"],
        )[0]["r"],
    );
    for args in [
        vec!["query", "--sql", "SELECT SubAccountName, Tags, x_RawTags FROM focus"],
        vec!["cost", "--by", "tag:env,tag:team,account"],
        vec!["quality"],
        vec!["quality", "--explain", &resource],
        vec!["invoices"],
        vec!["lake", "info"],
    ] {
        let out = run(&args);
        assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{args:?}: {out:?}");
    }
    let cost = run(&["cost", "--by", "tag:env"]);
    assert!(cost.contains("| \\u{1b}[31mred\\u{1b}]0;title\\u{7} |"), "{cost}");
}

#[test]
fn empty_results_print_an_empty_array_or_the_header() {
    let lake = &fixture().lake;
    let sql = "SELECT SubAccountId, BilledCost FROM focus WHERE false";
    assert_eq!(ok(lake, &["query", "--format", "json", "--sql", sql]), "[]\n");
    assert_eq!(ok(lake, &["query", "--format", "csv", "--sql", sql]), "SubAccountId,BilledCost\n");
    assert_eq!(
        ok(lake, &["query", "--sql", sql]),
        "+--------------+------------+\n\
         | SubAccountId | BilledCost |\n\
         +--------------+------------+\n\
         +--------------+------------+\n"
    );

    let nobody = ["cost", "--by", "account", "--filter", "account=000000000000"];
    assert_eq!(
        ok(lake, &[&nobody[..], &["--format", "csv"]].concat()),
        "account,account_name,currency,effective_cost\n"
    );
    assert_eq!(json(lake, &nobody)["rows"], json!([]));

    assert_eq!(ok(lake, &["invoices", "--period", "1999-01", "--format", "json"]), "[]\n");
    assert_eq!(
        ok(lake, &["invoices", "--period", "1999-01", "--format", "csv"]),
        "period,provider,billing_account_id,billing_account_name,currency,invoice_id,status,rows,billed_cost,usage,purchase,tax,credit,adjustment\n"
    );

    // A scope that matches no row: every read is empty, not an error.
    let scoped = |args: &[&str]| ok(lake, &[&["--scope", "account=000000000000"][..], args].concat());
    assert_eq!(scoped(&["query", "--format", "json", "--sql", "SELECT * FROM focus"]), "[]\n");
    assert_eq!(scoped(&["lake", "info"]), "no rows of the lake are in the scope\n");
    assert_eq!(
        serde_json::from_str::<Value>(&scoped(&["lake", "info", "--format", "json"])).unwrap(),
        json!({ "scoped": true, "units": [], "rows": 0, "billed_cost": {} })
    );
}

#[test]
fn unit_cost_csv_quotes_formula_dimension_values() {
    let f = fixture();
    // Business metrics keyed by the same hostile team values as the bill's tags.
    let metrics = f.dir.join("requests.csv");
    std::fs::write(
        &metrics,
        format!(
            "name,timestamp,team,value\nrequests,2025-03-01T00:00:00Z,{},10\nrequests,2025-03-01T00:00:00Z,{},20\n",
            csv_cell(PLUS),
            csv_cell(MINUS)
        ),
    )
    .unwrap();
    run(&["metrics", "import", metrics.to_str().unwrap()]);
    let csv = run(&[
        "metrics",
        "unit-cost",
        "--metric",
        "requests",
        "--by",
        "team",
        "--grain",
        "month",
        "--format",
        "csv",
    ]);
    let rows = python_csv(&csv);
    assert_eq!(rows[0], ["bucket", "team", "currency", "effective_cost", "requests", "unit_cost"]);
    // EffectiveCost per team through the semantic layer, in cents as unit-cost prints it.
    let cost = json(&f.lake, &["cost", "--by", "tag:team", "--grain", "month"]);
    let cents = |team: &str| {
        let row = cost["rows"].as_array().unwrap().iter().find(|r| r["groups"][0] == json!(team)).unwrap();
        let u = units(&text(&row["value"]));
        let c = (u + 5_000_000_000_000) / 10_000_000_000_000;
        format!("{}.{:02}", c / 100, c % 100)
    };
    let got: Vec<(String, String, String)> =
        rows[1..].iter().map(|r| (r[1].clone(), r[3].clone(), r[4].clone())).collect();
    assert_eq!(
        got,
        [(quoted(PLUS), cents(PLUS), "10".to_string()), (quoted(MINUS), cents(MINUS), "20".to_string())],
        "{csv}"
    );
}
