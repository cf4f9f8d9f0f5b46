//! `--scope` on the commands that are not plain reads of the `focus` table. A lake of three units
//! (two payers, two periods, USD and EUR) from the CUR 2.0 sample and two edited copies:
//!
//! - `lake info` under a scope shows only the units the scope's rows are in, with the rows, Σ
//!   BilledCost per currency, watermark and finality of those rows (equal to DuckDB over the CUR
//!   files, and to the manifest when the scope holds a payer's every account), and nothing of other
//!   tenants: their payer and account ids, currencies and source file names;
//! - commands that write the lake, its rules or metrics, and operator commands over the whole lake
//!   (`ingest`, `demo`, `rules apply`/`show`, `metrics import`, `rollups build`/`status`, `bench`,
//!   `lake vacuum`) are refused under a scope with a message naming the command, and change nothing.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::{Value, json};

/// The account scoped to: it has rows under payer 111111111111 in March and April.
const ACCOUNT: &str = "222222222222";

struct Fixture {
    dir: PathBuf,
    /// The three CUR 2.0 files.
    files: Vec<PathBuf>,
    lake: PathBuf,
}

/// The sample with each `(from, to)` replaced in order, checking each occurs.
fn edited(text: &str, replacements: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (from, to) in replacements {
        assert!(out.contains(from), "{from} is not in the sample");
        out = out.replace(from, to);
    }
    out
}

fn fixture() -> &'static Fixture {
    shared("three-units", |dir| {
        let sample = std::fs::read_to_string(testdata("cur/cur2.csv")).unwrap();
        // March of payer 111111111111, as shipped (invoiced).
        let march = sample.clone();
        // April of the same payer, not invoiced yet.
        let april = edited(
            &sample,
            &[("2025-04-01", "2025-05-01"), ("2025-03-01", "2025-04-01"), ("EUINIE25-0001", "")],
        );
        // Another tenant: its own payer and accounts, billed in EUR.
        let other = edited(
            &sample,
            &[
                ("111111111111", "999999999999"),
                ("222222222222", "444444444444"),
                ("333333333333", "555555555555"),
                (",USD,", ",EUR,"),
            ],
        );
        let mut files = Vec::new();
        for (name, text) in [("march.csv", march), ("april.csv", april), ("other-tenant-secret.csv", other)] {
            let path = dir.join("bills").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            files.push(path);
        }
        let lake = dir.join("lake");
        ok(&lake, &["ingest", dir.join("bills").to_str().unwrap()]);
        Fixture { dir: dir.to_path_buf(), files, lake }
    })
}

/// `costpilot --scope SCOPE ARGS...` on the fixture's lake.
fn scoped(scope: &str, args: &[&str]) -> std::process::Output {
    costpilot(&fixture().lake, &[&["--scope", scope][..], args].concat())
}

fn scoped_ok(scope: &str, args: &[&str]) -> String {
    let out = scoped(scope, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// DuckDB over the three CUR files: per payer, billing period and currency of the rows of
/// `accounts`, the lake info fields of a unit.
fn duck_units(accounts: &[&str]) -> Vec<Value> {
    let f = fixture();
    let files: Vec<String> = f.files.iter().map(|p| format!("'{}'", p.display())).collect();
    let list: Vec<String> = accounts.iter().map(|a| format!("'{a}'")).collect();
    duckdb(&format!(
        "SELECT 'AWS', bill_payer_account_id, left(bill_billing_period_start_date, 7), line_item_currency_code, \
           {}, sum(CAST(line_item_unblended_cost AS DECIMAL(38, 15)))::VARCHAR, \
           strftime(max(CAST(line_item_usage_end_date AS TIMESTAMP)), '%Y-%m-%dT%H:%M:%SZ'), \
           count(*) = count(nullif(bill_invoice_id, '')) \
         FROM read_csv([{}], all_varchar = true) WHERE line_item_usage_account_id IN ({}) \
         GROUP BY ALL ORDER BY 2, 3, 4",
        lake_rows(),
        files.join(", "),
        list.join(", ")
    ))
    .into_iter()
    .map(|r| {
        json!({
            "provider": r[0], "billing_account": r[1], "billing_period": r[2], "rows": r[4],
            "billed_cost": { text(&r[3]): r[5] }, "watermark": r[6], "is_final": r[7],
        })
    })
    .collect()
}

/// A lake info unit with its amounts as units of 10^-15, so `4.16` and `4.160000000000000` agree.
fn normalised(unit: &Value) -> Value {
    let mut u = unit.clone();
    let cost: serde_json::Map<String, Value> = unit["billed_cost"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(c, v)| (c.clone(), json!(units(&text(v)).to_string())))
        .collect();
    u["billed_cost"] = Value::Object(cost);
    u
}

#[test]
fn lake_info_in_a_scope_shows_the_scopes_rows_only() {
    let f = fixture();
    let whole = json(&f.lake, &["lake", "info"]);
    assert_eq!(whole["units"].as_array().unwrap().len(), 3);

    let info: Value = serde_json::from_str(&scoped_ok(
        &format!("account={ACCOUNT}"),
        &["lake", "info", "--format", "json"],
    ))
    .unwrap();
    let want = duck_units(&[ACCOUNT]);
    assert_eq!(want.len(), 2, "{want:?}");
    let got: Vec<Value> = info["units"].as_array().unwrap().iter().map(normalised).collect();
    assert_eq!(got, want.iter().map(normalised).collect::<Vec<_>>());
    assert_eq!(info["scoped"], json!(true));
    let rows: u64 = want.iter().map(|u| u["rows"].as_u64().unwrap()).sum();
    assert_eq!(info["rows"], json!(rows));
    let total: i128 = want.iter().map(|u| units(&text(&u["billed_cost"]["USD"]))).sum();
    assert_eq!(units(&text(&info["billed_cost"]["USD"])), total);
    assert_eq!(info["billed_cost"].as_object().unwrap().len(), 1);
    // March is invoiced, April not; the scope's rows say so as the manifest does of the units.
    assert_eq!(got.iter().map(|u| u["is_final"].clone()).collect::<Vec<_>>(), [json!(true), json!(false)]);

    // What another tenant or the manifest would tell is absent from every format.
    for format in ["table", "csv", "json"] {
        let out = scoped_ok(&format!("account={ACCOUNT}"), &["lake", "info", "--format", format]);
        for secret in [
            "999999999999",
            "444444444444",
            "555555555555",
            "EUR",
            "secret",
            "april.csv",
            "ingested_at",
            "manifest_version",
        ] {
            assert!(!out.contains(secret), "{format}: {secret} in {out}");
        }
    }
    let table = scoped_ok(&format!("account={ACCOUNT}"), &["lake", "info"]);
    let cents = |units: i128| {
        let c = (units + 5_000_000_000_000) / 10_000_000_000_000;
        format!("{}.{:02}", c / 100, c % 100)
    };
    assert_eq!(
        table.lines().last().unwrap(),
        format!("total in scope: 2 units, {rows} rows, BilledCost {} USD", cents(total))
    );

    // A scope of a payer's every account sees its units whole: the manifest's figures.
    let payer_accounts = ["111111111111", "222222222222", "333333333333"];
    let info: Value = serde_json::from_str(&scoped_ok(
        &format!("account={}", payer_accounts.join(",")),
        &["lake", "info", "--format", "json"],
    ))
    .unwrap();
    let manifest: Vec<Value> = whole["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["billing_account"] == json!("111111111111"))
        .map(|u| {
            let mut u = normalised(u);
            let o = u.as_object_mut().unwrap();
            o.remove("ingested_at");
            o.remove("sources");
            u
        })
        .collect();
    assert_eq!(manifest.len(), 2);
    assert_eq!(info["units"].as_array().unwrap().iter().map(normalised).collect::<Vec<_>>(), manifest);
    assert_eq!(
        info["units"].as_array().unwrap().iter().map(normalised).collect::<Vec<_>>(),
        duck_units(&payer_accounts).iter().map(normalised).collect::<Vec<_>>()
    );
}

/// Runs `args` under a scope: it fails with exactly `error: <message>` and leaves the data
/// folder byte for byte as it was.
fn refused(data_dir: &Path, args: &[&str], message: &str) {
    let before = hash_tree(data_dir);
    let out = costpilot(data_dir, &[&["--scope", &format!("account={ACCOUNT}")][..], args].concat());
    assert!(!out.status.success(), "{args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(String::from_utf8_lossy(&out.stderr), format!("error: {message}\n"), "{args:?}");
    assert!(out.stdout.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(hash_tree(data_dir), before, "{args:?} changed the data folder");
}

#[test]
fn writes_and_operator_commands_are_refused_in_a_scope() {
    let f = fixture();
    let bills = f.dir.join("bills");
    let tags = repo_root().join("examples/rules/tags.yaml");
    let metrics = f.dir.join("metrics.csv");
    std::fs::write(&metrics, "name,timestamp,value\nrequests,2025-03-01T00:00:00Z,10\n").unwrap();
    let suffix = "; it is not available under --scope";
    for (args, why) in [
        (
            vec!["ingest", bills.to_str().unwrap()],
            "`ingest` replaces whole units of the lake, other tenants' rows with them",
        ),
        (vec!["demo"], "`demo` builds and shows a lake of its own, every account in it"),
        (
            vec!["rules", "apply", "tags", tags.to_str().unwrap()],
            "`rules apply` changes the rules every tenant's rows are resolved by",
        ),
        (
            vec!["rules", "show"],
            "`rules show` prints the rules of every tenant (tag maps, CMDB accounts, allocation pools)",
        ),
        (
            vec!["metrics", "import", metrics.to_str().unwrap()],
            "`metrics import` replaces business metrics every tenant's unit cost is divided by",
        ),
        (vec!["rollups", "build"], "`rollups build` computes rollups of the whole lake"),
        (vec!["rollups", "status"], "`rollups status` shows the whole lake's rollups and their rows"),
        (
            vec!["bench", "--runs", "1"],
            "`bench` times queries over the whole lake, an operator's measurement",
        ),
        (vec!["lake", "vacuum", "--retention-minutes", "0"], "`lake vacuum` deletes files of every tenant"),
    ] {
        refused(&f.lake, &args, &format!("{why}{suffix}"));
    }
    // A refused ingest into a new folder creates nothing at all.
    let fresh = f.dir.join("fresh");
    let out = costpilot(&fresh, &["--scope", "account=1", "ingest", bills.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(!fresh.exists(), "a refused ingest created {}", fresh.display());

    // The same commands run without a scope: the refusal is the scope's, not the command's.
    let status = json(&f.lake, &["rollups", "status"]);
    assert!(status["rollups"].as_array().is_some_and(|r| !r.is_empty()), "{status}");
}
