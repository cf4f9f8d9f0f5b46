//! An AWS Data Exports delivery typed and laid out as AWS documents CUR 2.0
//! (crates/ingest/testdata/aws-export): string-typed rate and reservation-unit columns holding
//! `''` where they do not apply, `data/` and `metadata/` folders, a manifest listing `s3://` data
//! files. Every row must ingest, and every total must equal DuckDB's over the raw files.

mod common;

use std::path::PathBuf;

use common::*;

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
