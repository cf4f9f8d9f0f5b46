//! `costpilot invoices` end to end on a generated estate whose last month is partial: January is
//! invoiced (every line item has its payer's invoice id), February is not. The lines equal DuckDB
//! over the raw CUR (BilledCost and ChargeCategory derived from the CUR columns as
//! docs/mapping.md says) and the generator's truth.json; January is final, February estimated;
//! `--period`, CSV and tables agree with JSON; a scope sees the invoice lines of its rows only.

mod common;

use common::*;
use costpilot_model::money::decimal_text;
use serde_json::Value;

const CATEGORIES: [&str; 5] = ["Usage", "Purchase", "Tax", "Credit", "Adjustment"];

fn fixture() -> &'static Estate {
    estate(&two_periods("37"), Rules::Bare)
}

/// DuckDB over the raw CUR: one row per period, payer, payer name, currency and invoice id (null
/// when empty), with rows, Σ BilledCost (`line_item_unblended_cost` on every line item type) and
/// Σ BilledCost per ChargeCategory of the mapping's type table, in the order costpilot lists them.
fn duck_lines(where_: &str) -> Vec<Vec<Value>> {
    let t = "line_item_line_item_type";
    let category = format!(
        "CASE \
           WHEN {t} IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation') \
             THEN 'Usage' \
           WHEN {t} IN ('SavingsPlanUpfrontFee', 'SavingsPlanRecurringFee', 'RIFee') THEN 'Purchase' \
           WHEN {t} = 'Fee' AND (coalesce(reservation_reservation_a_r_n, '') <> '' \
             OR coalesce(savings_plan_savings_plan_a_r_n, '') <> '') THEN 'Purchase' \
           WHEN {t} = 'Fee' THEN 'Usage' \
           WHEN {t} = 'Tax' THEN 'Tax' \
           WHEN {t} = 'Credit' OR {t} LIKE '%Discount' THEN 'Credit' \
           ELSE 'Adjustment' END"
    );
    let billed = d("line_item_unblended_cost");
    let by_category: Vec<String> = CATEGORIES
        .iter()
        .map(|c| format!("sum(CASE WHEN category = '{c}' THEN billed ELSE 0 END)::VARCHAR"))
        .collect();
    duckdb(&format!(
        "SELECT period, account, max(name), currency, invoice, {}, sum(billed)::VARCHAR, {} \
         FROM (SELECT *, strftime(bill_billing_period_start_date AT TIME ZONE 'UTC', '%Y-%m') AS period, \
                 bill_payer_account_id AS account, bill_payer_account_name AS name, \
                 line_item_currency_code AS currency, nullif(bill_invoice_id, '') AS invoice, \
                 {billed} AS billed, {category} AS category \
               FROM read_parquet('{}/cur/*/data/*/*.parquet') WHERE {where_}) \
         GROUP BY period, account, currency, invoice ORDER BY period, account, currency, invoice NULLS LAST",
        lake_rows(),
        by_category.join(", "),
        fixture().estate.display()
    ))
}

/// Asserts costpilot's lines equal DuckDB's rows, field by field.
fn assert_lines(lines: &[Value], duck: &[Vec<Value>]) {
    assert_eq!(lines.len(), duck.len(), "{lines:?}\n{duck:?}");
    for (l, r) in lines.iter().zip(duck) {
        let key = (&l["period"], &l["billing_account_id"], &l["currency"], &l["invoice_id"]);
        assert_eq!(key, (&r[0], &r[1], &r[3], &r[4]));
        assert_eq!(l["billing_account_name"], r[2], "{key:?}");
        assert_eq!(l["provider"], "AWS");
        assert_eq!(l["rows"], r[5], "{key:?}");
        assert_amount(&format!("{key:?} billed"), &l["billed_cost"], &text(&r[6]));
        let mut sum = 0;
        for (i, c) in CATEGORIES.iter().enumerate() {
            let got = &l["by_charge_category"][c];
            assert_amount(&format!("{key:?} {c}"), got, &text(&r[7 + i]));
            sum += units(&text(got));
        }
        assert_eq!(sum, units(&text(&l["billed_cost"])), "{key:?}: categories do not add up");
    }
}

#[test]
fn january_is_final_with_its_invoices_and_february_estimated() {
    let f = fixture();
    let lines = json(&f.lake, &["invoices"]);
    let lines = lines.as_array().unwrap();
    let duck = duck_lines("TRUE");
    assert_lines(lines, &duck);

    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(f.estate.join("truth.json")).unwrap()).unwrap();
    let periods = truth["periods"].as_array().unwrap();
    assert_eq!(periods.len(), 4, "{periods:?}");
    for p in periods {
        let (period, currency) = (text(&p["billing_period"]), text(&p["currency"]));
        let of: Vec<&Value> =
            lines.iter().filter(|l| l["period"] == *period && l["currency"] == *currency).collect();
        let billed: i128 = of.iter().map(|l| units(&text(&l["billed_cost"]))).sum();
        assert_amount(
            &format!("{period} {currency}"),
            &Value::String(decimal_text(billed)),
            &text(&p["billed_cost"]),
        );
        // truth.json counts CUR line items; the lake folds and splits some (docs/mapping.md).
        let lake_rows =
            duck.iter().filter(|r| r[0] == *period && r[3] == *currency).map(|r| r[5].as_u64().unwrap());
        assert_eq!(of.iter().map(|l| l["rows"].as_u64().unwrap()).sum::<u64>(), lake_rows.sum::<u64>());
        let invoiced = p["invoiced"].as_bool().unwrap();
        assert_eq!(invoiced, period == "2025-01", "{p}");
        for l in of {
            match invoiced {
                true => {
                    assert_eq!(l["status"], "final", "{l}");
                    assert!(l["invoice_id"].as_str().is_some_and(|id| id.starts_with("202501")), "{l}");
                }
                false => {
                    assert_eq!(l["status"], "estimated", "{l}");
                    assert_eq!(l["invoice_id"], Value::Null, "{l}");
                }
            }
        }
    }
    // January's tax and credits show beside its usage.
    let january = lines.iter().find(|l| l["period"] == "2025-01" && l["currency"] == "USD").unwrap();
    assert!(units(&text(&january["by_charge_category"]["Tax"])) > 0, "{january}");
    assert!(units(&text(&january["by_charge_category"]["Credit"])) < 0, "{january}");
}

#[test]
fn period_csv_table_and_scope() {
    let f = fixture();
    let february = json(&f.lake, &["invoices", "--period", "2025-02"]);
    let february = february.as_array().unwrap();
    assert_lines(
        february,
        &duck_lines("bill_billing_period_start_date = TIMESTAMPTZ '2025-02-01 00:00:00+00'"),
    );

    let csv = ok(&f.lake, &["invoices", "--period", "2025-02", "--format", "csv"]);
    let mut csv_lines = csv.lines();
    assert_eq!(
        csv_lines.next(),
        Some(
            "period,provider,billing_account_id,billing_account_name,currency,invoice_id,status,rows,billed_cost,\
             usage,purchase,tax,credit,adjustment"
        )
    );
    let want: Vec<String> = february
        .iter()
        .map(|l| {
            let c = &l["by_charge_category"];
            [
                text(&l["period"]),
                text(&l["provider"]),
                text(&l["billing_account_id"]),
                text(&l["billing_account_name"]),
                text(&l["currency"]),
                String::new(),
                text(&l["status"]),
                l["rows"].to_string(),
                text(&l["billed_cost"]),
            ]
            .into_iter()
            .chain(CATEGORIES.iter().map(|k| text(&c[k])))
            .collect::<Vec<_>>()
            .join(",")
        })
        .collect();
    assert_eq!(csv_lines.collect::<Vec<_>>(), want);

    let table = ok(&f.lake, &["invoices"]);
    assert_eq!(table.lines().count(), 5, "{table}");
    assert_eq!(table.matches("(not invoiced)").count(), 2, "{table}");
    assert_eq!(table.matches(" final ").count(), 2, "{table}");

    let out = costpilot(&f.lake, &["invoices", "--period", "2025-2"]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: --period '2025-2': expected a month as YYYY-MM, e.g. 2025-01\n"
    );
    assert_eq!(json(&f.lake, &["invoices", "--period", "2024-12"]), serde_json::json!([]));

    // Under a scope, the lines hold only the account's rows.
    let top = duckdb(&format!(
        "SELECT line_item_usage_account_id FROM read_parquet('{}/cur/*/data/*/*.parquet') \
         GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
        f.estate.display()
    ));
    let account = text(&top[0][0]);
    let scoped = json(&f.lake, &["--scope", &format!("account={account}"), "invoices"]);
    assert_lines(
        scoped.as_array().unwrap(),
        &duck_lines(&format!("line_item_usage_account_id = '{account}'")),
    );
}

#[test]
fn partly_invoiced_units_and_open_periods_are_estimated() {
    let f = fixture();
    let dir = tempfile::tempdir().unwrap();
    // January with the USD payer's tax lines not invoiced yet: that payer's January is estimated,
    // its invoice line too; the EUR payer's stays final.
    let partial = dir.path().join("partial.parquet");
    duckdb(&format!(
        "COPY (SELECT * REPLACE (CASE WHEN line_item_line_item_type = 'Tax' AND line_item_currency_code = 'USD' \
           THEN NULL ELSE bill_invoice_id END AS bill_invoice_id) \
         FROM read_parquet('{}/cur/*/data/BILLING_PERIOD=2025-01/*.parquet')) TO '{}' (FORMAT parquet)",
        f.estate.display(),
        partial.display()
    ));
    let lake = dir.path().join("partial");
    ok(&lake, &["ingest", partial.to_str().unwrap()]);
    let lines = json(&lake, &["invoices"]);
    let got: Vec<(String, Option<&str>, String)> = lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (text(&l["currency"]), l["invoice_id"].as_str().map(|_| "id"), text(&l["status"])))
        .collect();
    let line = |c: &str, id: Option<&'static str>, s: &str| (c.to_string(), id, s.to_string());
    assert_eq!(
        got,
        vec![
            line("USD", Some("id"), "estimated"),
            line("USD", None, "estimated"),
            line("EUR", Some("id"), "final")
        ],
        "{lines}"
    );
    let untaxed = &lines[1];
    assert_eq!(untaxed["billed_cost"], untaxed["by_charge_category"]["Tax"]);

    // A period that has not ended is estimated though the bill carries its invoice ids.
    let start = chrono::Utc::now().format("%Y-%m-01").to_string();
    let open = dir.path().join("open");
    let args =
        ["generate", "--out", open.to_str().unwrap(), "--accounts", "8", "--days", "40", "--start", &start];
    ok(&lake, &[&args[..], &["--rows-target", "5000", "--seed", "37"]].concat());
    let lake = dir.path().join("open-lake");
    ok(&lake, &["ingest", open.join("cur").to_str().unwrap()]);
    let lines = json(&lake, &["invoices", "--period", &start[..7]]);
    let lines = lines.as_array().unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for l in lines {
        assert!(l["invoice_id"].is_string(), "{l}");
        assert_eq!(l["status"], "estimated", "{l}");
    }
}
