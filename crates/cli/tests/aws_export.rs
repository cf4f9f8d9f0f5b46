//! An AWS Data Exports delivery typed and laid out as AWS documents CUR 2.0
//! (crates/ingest/testdata/aws-export): string-typed rate and reservation-unit columns holding
//! `''` where they do not apply, `data/` and `metadata/` folders, a manifest listing `s3://` data
//! files. Every row must ingest, and every total must equal DuckDB's over the raw files.

mod common;

use std::path::PathBuf;

use common::*;
use costpilot_model::money::decimal_text;

const ROWS: u64 = 1564;

fn export() -> PathBuf {
    testdata("aws-export/acme-cur")
}

fn raw_files() -> String {
    format!("{}/data/*/*.parquet", export().display())
}

#[test]
fn every_row_of_an_aws_typed_export_ingests_even_with_strict() {
    for strict in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = export();
        let mut args = vec!["ingest", path.to_str().unwrap()];
        if strict {
            args.push("--strict");
        }
        let summary = json(dir.path(), &args);
        assert_eq!(summary["rows_read"], ROWS, "strict={strict}: {summary}");
        assert_eq!(summary["rows_skipped"], 0, "strict={strict}: {summary}");
        assert_eq!(summary["units_added"], 2, "two payers, one month: {summary}");
        let want = duckdb(&format!(
            "SELECT line_item_currency_code, round(sum({}), 2)::VARCHAR FROM read_parquet('{}') GROUP BY 1 ORDER BY 1",
            d("line_item_unblended_cost"),
            raw_files()
        ));
        assert_eq!(want.len(), 2);
        for row in want {
            let currency = text(&row[0]);
            assert_eq!(summary["billed_cost_by_currency"][&currency], row[1], "{currency}: {summary}");
        }
    }
}

#[test]
fn billed_and_effective_cost_per_currency_and_period_equal_duckdb_over_the_raw_files() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["ingest", export().to_str().unwrap()]);
    let got = json(
        dir.path(),
        &[
            "query",
            "--sql",
            "SELECT BillingCurrency AS c, BillingAccountId AS a, CAST(BillingPeriodStart AS DATE) AS p, \
             sum(BilledCost) AS billed, sum(EffectiveCost) AS effective \
             FROM focus GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        ],
    );
    let want = duckdb(&format!(
        "SELECT line_item_currency_code, bill_payer_account_id, \
         CAST(bill_billing_period_start_date AS DATE)::VARCHAR, \
         sum({})::VARCHAR, sum({})::VARCHAR FROM read_parquet('{}') GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        d("line_item_unblended_cost"),
        effective_cost(),
        raw_files()
    ));
    let got = got.as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g["c"], w[0]);
        assert_eq!(g["a"], w[1]);
        assert_eq!(g["p"], w[2]);
        assert_amount("BilledCost", &g["billed"], &text(&w[3]));
        assert_amount("EffectiveCost", &g["effective"], &text(&w[4]));
    }
}

#[test]
fn a_generated_estate_reads_the_same_with_empty_text_as_with_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let knobs = dir.path().join("knobs.json");
    std::fs::write(&knobs, r#"{"empty_text": true}"#).unwrap();
    let options = ["--accounts", "12", "--days", "10", "--start", "2025-01-25", "--seed", "7"];
    let (nulls, empty) = (dir.path().join("nulls"), dir.path().join("empty"));
    generate_and_ingest(&nulls.join("estate"), &nulls.join("lake"), &options);
    let mut with_knobs = options.to_vec();
    with_knobs.extend(["--knobs", knobs.to_str().unwrap()]);
    generate_and_ingest(&empty.join("estate"), &empty.join("lake"), &with_knobs);

    // The knob's files hold '' where the others hold nulls, in the text-typed number columns too.
    let counts = |estate: &std::path::Path| {
        duckdb(&format!(
            "SELECT count(*) FILTER (WHERE reservation_total_reserved_units = ''), \
             count(*) FILTER (WHERE reservation_total_reserved_units IS NULL), \
             count(*) FILTER (WHERE line_item_unblended_rate = '') \
             FROM read_parquet('{}/cur/**/*.parquet')",
            estate.display()
        ))[0]
            .clone()
    };
    let (n, e) = (counts(&nulls.join("estate")), counts(&empty.join("estate")));
    assert_eq!(n[0], 0);
    assert_eq!(e[1], 0);
    assert_eq!(e[0], n[1], "every null became ''");
    assert!(e[0].as_u64().unwrap() > 1000, "{e:?}");

    let sql = "SELECT BillingCurrency, ChargeCategory, ServiceName, count(*) AS n, sum(BilledCost) AS b, \
               sum(EffectiveCost) AS e, sum(ListCost) AS l, sum(PricingQuantity) AS q \
               FROM focus GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";
    let a = json(&nulls.join("lake"), &["query", "--sql", sql]);
    let b = json(&empty.join("lake"), &["query", "--sql", sql]);
    assert!(a.as_array().unwrap().len() > 10, "{a}");
    assert_eq!(a, b);
}

#[test]
fn a_cur_unit_and_an_aws_focus_export_group_alike_by_service_code_and_meter() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["ingest", testdata("cur/cur2.csv").to_str().unwrap()]);
    // Two rows of AWS's "FOCUS 1.2 with AWS columns" export of another payer, named as AWS names
    // them: the product code in x_ServiceCode, the usage type in SkuMeter and x_UsageType.
    let focus = dir.path().join("aws-focus.csv");
    std::fs::write(
        &focus,
        "BilledCost,EffectiveCost,BillingAccountId,BillingCurrency,BillingPeriodStart,BillingPeriodEnd,\
         ChargeCategory,ChargePeriodStart,ChargePeriodEnd,ProviderName,ServiceName,SkuId,SkuMeter,\
         x_ServiceCode,x_UsageType,x_Operation\n\
         2.08,2.08,999999999999,USD,2025-03-01T00:00:00Z,2025-04-01T00:00:00Z,Usage,2025-03-02T00:00:00Z,\
         2025-03-02T01:00:00Z,AWS,Amazon Elastic Compute Cloud,SKUT3MEDIUM01,USE1-BoxUsage:t3.medium,AmazonEC2,\
         USE1-BoxUsage:t3.medium,RunInstances\n\
         1.00,1.00,999999999999,USD,2025-03-01T00:00:00Z,2025-04-01T00:00:00Z,Usage,2025-03-02T00:00:00Z,\
         2025-03-02T01:00:00Z,AWS,Amazon Simple Storage Service,SKUS3,TimedStorage-ByteHrs,AmazonS3,\
         TimedStorage-ByteHrs,\n",
    )
    .unwrap();
    ok(dir.path(), &["ingest", focus.to_str().unwrap()]);
    let got = json(
        dir.path(),
        &[
            "query",
            "--sql",
            "SELECT x_ServiceCode AS code, SkuMeter AS meter, x_UsageType AS usage_type, \
             count(DISTINCT BillingAccountId) AS payers, count(DISTINCT x_SourceFormat) AS formats \
             FROM focus WHERE SkuMeter = 'USE1-BoxUsage:t3.medium' GROUP BY 1, 2, 3",
        ],
    );
    assert_eq!(
        got,
        serde_json::json!([{
            "code": "AmazonEC2", "meter": "USE1-BoxUsage:t3.medium", "usage_type": "USE1-BoxUsage:t3.medium",
            "payers": 2, "formats": 2
        }])
    );
}

/// One estate written with its enterprise discount as lines of its own and inside the rows: the
/// lake bills the same in both, counts the discount once, and in the rows form shows it as the
/// negotiated saving ListCost − ContractedCost.
#[test]
fn a_discount_as_lines_or_inside_the_rows_bills_the_same_and_counts_once() {
    let dir = tempfile::tempdir().unwrap();
    let knobs = dir.path().join("rows.json");
    std::fs::write(&knobs, r#"{"discount_form": "rows"}"#).unwrap();
    let options = ["--accounts", "12", "--days", "40", "--start", "2025-01-01", "--seed", "11"];
    let (lines, rows) = (dir.path().join("lines"), dir.path().join("rows"));
    generate_and_ingest(&lines.join("estate"), &lines.join("lake"), &options);
    let mut with_knobs = options.to_vec();
    with_knobs.extend(["--knobs", knobs.to_str().unwrap()]);
    generate_and_ingest(&rows.join("estate"), &rows.join("lake"), &with_knobs);

    // The rows form has no discount lines and carries the discount in the rows.
    let raw = |estate: &std::path::Path, sql: &str| {
        let files = format!("read_parquet('{}/cur/**/*.parquet', union_by_name = true)", estate.display());
        duckdb(&sql.replace("FILES", &files))
    };
    let edp_lines = "SELECT count(*) FILTER (WHERE line_item_line_item_type = 'EdpDiscount') FROM FILES";
    assert!(raw(&lines.join("estate"), edp_lines)[0][0].as_u64().unwrap() > 0);
    assert_eq!(raw(&rows.join("estate"), edp_lines)[0][0], 0);
    let discount = raw(
        &rows.join("estate"),
        &format!(
            "SELECT line_item_currency_code, sum({discount})::VARCHAR, sum({unblended} + {discount})::VARCHAR \
             FROM FILES GROUP BY 1 ORDER BY 1",
            discount = d("discount_total_discount"),
            unblended = d("line_item_unblended_cost"),
        ),
    );
    // The USD payer has the enterprise discount; the EUR payer has none.
    assert!(discount.iter().all(|r| units(&text(&r[1])) <= 0), "{discount:?}");
    assert!(discount.iter().any(|r| units(&text(&r[1])) < 0), "{discount:?}");

    let sql = "SELECT BillingCurrency AS c, CAST(BillingPeriodStart AS DATE) AS p, sum(BilledCost) AS b, \
               sum(EffectiveCost) AS e, sum(CASE WHEN ChargeCategory = 'Usage' AND x_LineItemType = 'Usage' \
               THEN ListCost - ContractedCost ELSE 0 END) AS negotiated FROM focus GROUP BY 1, 2 ORDER BY 1, 2";
    let (a, b) = (
        json(&lines.join("lake"), &["query", "--sql", sql]),
        json(&rows.join("lake"), &["query", "--sql", sql]),
    );
    let (a, b) = (a.as_array().unwrap(), b.as_array().unwrap());
    assert_eq!(a.len(), b.len());
    assert!(a.len() >= 4, "two currencies, two periods: {a:?}");
    for (x, y) in a.iter().zip(b) {
        assert_eq!((&x["c"], &x["p"]), (&y["c"], &y["p"]));
        // Per-line rounding of the discount against per-day rounding: far below a cent.
        assert_amount("BilledCost", &x["b"], &text(&y["b"]));
        assert_amount("EffectiveCost", &x["e"], &text(&y["e"]));
        assert_eq!(units(&text(&x["negotiated"])), 0, "no negotiated saving inside lines form rows");
    }
    // Σ BilledCost of the rows form is the invoice: unblended plus the discounts inside the rows.
    let billed: std::collections::BTreeMap<String, i128> = b.iter().fold(Default::default(), |mut m, r| {
        *m.entry(text(&r["c"])).or_default() += units(&text(&r["b"]));
        m
    });
    for r in &discount {
        assert_amount(
            "invoice",
            &serde_json::Value::String(decimal_text(billed[&text(&r[0])])),
            &text(&r[2]),
        );
        let negotiated: i128 =
            b.iter().filter(|x| x["c"] == r[0]).map(|x| units(&text(&x["negotiated"]))).sum();
        assert_amount(
            "negotiated saving",
            &serde_json::Value::String(decimal_text(negotiated)),
            &text(&r[1]).replace('-', ""),
        );
    }
}
