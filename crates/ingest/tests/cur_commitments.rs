//! The CUR line items that are not one FOCUS row each, and refunds: a Savings Plan negation folds
//! into the covered usage it negates (a residual row when it has no partner in its file), and a
//! refund is filed under what it refunds. Amounts are checked to the cent against hand sums.

use std::path::{Path, PathBuf};

use costpilot_ingest::ReadOptions;
use costpilot_ingest::cur::{CurReader, Flavour};
use costpilot_ingest::raw::Container;
use costpilot_model::money::parse_decimal;
use costpilot_model::{lake_schema, with_plain_text};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::Decimal128Type;

const HEADER: &str = "bill_bill_type,bill_payer_account_id,bill_billing_period_start_date,\
line_item_usage_account_id,line_item_line_item_type,line_item_usage_start_date,line_item_usage_end_date,\
line_item_product_code,line_item_usage_type,line_item_operation,line_item_resource_id,line_item_usage_amount,\
line_item_currency_code,line_item_unblended_cost,line_item_tax_type,pricing_public_on_demand_cost,\
reservation_reservation_a_r_n,savings_plan_savings_plan_a_r_n,savings_plan_savings_plan_effective_cost";
const SP: &str = "arn:aws:savingsplans::111111111111:savingsplan/sp-1";
const RI: &str = "arn:aws:ec2:us-east-1:111111111111:reserved-instances/ri-1";

/// One CUR 2.0 line of March 2025 for payer 111111111111, in HEADER's columns.
#[allow(clippy::too_many_arguments)]
fn line(
    bill_type: &str,
    line_item_type: &str,
    hour: u32,
    product: &str,
    usage_type: &str,
    resource: &str,
    unblended: &str,
    tax_type: &str,
    ri: &str,
    sp: &str,
    sp_effective: &str,
) -> String {
    let start = format!("2025-03-01T{hour:02}:00:00Z");
    let end = format!("2025-03-01T{:02}:00:00Z", hour + 1);
    let operation = if resource.is_empty() { "" } else { "RunInstances" };
    let amount = if resource.is_empty() { "" } else { "1" };
    let public = if line_item_type == "SavingsPlanCoveredUsage" { unblended } else { "" };
    format!(
        "{bill_type},111111111111,2025-03-01T00:00:00Z,222222222222,{line_item_type},{start},{end},{product},\
         {usage_type},{operation},{resource},{amount},USD,{unblended},{tax_type},{public},{ri},{sp},{sp_effective}"
    )
}

fn covered(hour: u32, resource: &str, on_demand: &str, effective: &str) -> String {
    let t = "SavingsPlanCoveredUsage";
    line(
        "Anniversary",
        t,
        hour,
        "AmazonEC2",
        "USE1-BoxUsage:m5.large",
        resource,
        on_demand,
        "",
        "",
        SP,
        effective,
    )
}

fn negation(hour: u32, resource: &str, amount: &str) -> String {
    let t = "SavingsPlanNegation";
    line("Anniversary", t, hour, "AmazonEC2", "USE1-BoxUsage:m5.large", resource, amount, "", "", SP, "")
}

fn write(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{HEADER}\n{}\n", lines.join("\n"))).unwrap();
    path
}

fn read(path: &Path, batch_rows: usize) -> RecordBatch {
    let opts = ReadOptions { batch_rows, strict: true, ..ReadOptions::default() };
    let reader = CurReader::open(path, Container::Csv, Flavour::Cur2, &opts).unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| with_plain_text(&b.unwrap()).unwrap()).collect();
    concat_batches(&lake_schema(), &batches).unwrap()
}

fn text(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
    let a = batch.column(batch.schema().index_of(column).unwrap());
    a.is_valid(row).then(|| a.as_string::<i32>().value(row).to_string())
}

fn amount(batch: &RecordBatch, column: &str, row: usize) -> i128 {
    let a = batch.column(batch.schema().index_of(column).unwrap()).as_primitive::<Decimal128Type>();
    assert!(a.is_valid(row), "{column} row {row} is null");
    a.value(row)
}

fn sum(batch: &RecordBatch, column: &str) -> i128 {
    (0..batch.num_rows()).map(|r| amount(batch, column, r)).sum()
}

fn dollars(text: &str) -> i128 {
    parse_decimal(text).unwrap()
}

/// (x_LineItemType, ResourceId, BilledCost, EffectiveCost) of every row.
fn summary(batch: &RecordBatch) -> Vec<(String, String, i128, i128)> {
    (0..batch.num_rows())
        .map(|r| {
            (
                text(batch, "x_LineItemType", r).unwrap(),
                text(batch, "ResourceId", r).unwrap_or_default(),
                amount(batch, "BilledCost", r),
                amount(batch, "EffectiveCost", r),
            )
        })
        .collect()
}

#[test]
fn negations_fold_into_their_covered_rows_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    // Two covered hours of two instances, their negations far apart and in other batches.
    let path = write(
        dir.path(),
        "bill.csv",
        &[
            covered(0, "i-a", "0.096", "0.06"),
            covered(0, "i-b", "0.192", "0.12"),
            covered(1, "i-a", "0.096", "0.06"),
            negation(0, "i-b", "-0.192"),
            negation(1, "i-a", "-0.096"),
            negation(0, "i-a", "-0.096"),
        ],
    );
    for batch_rows in [1, 2, 4, 100] {
        let batch = read(&path, batch_rows);
        let want = [
            ("SavingsPlanCoveredUsage".to_string(), "i-a".to_string(), 0, dollars("0.06")),
            ("SavingsPlanCoveredUsage".to_string(), "i-b".to_string(), 0, dollars("0.12")),
            ("SavingsPlanCoveredUsage".to_string(), "i-a".to_string(), 0, dollars("0.06")),
        ];
        assert_eq!(summary(&batch), want, "batches of {batch_rows}");
        // The on-demand amount stays visible where FOCUS keeps it.
        assert_eq!(amount(&batch, "ContractedCost", 1), dollars("0.192"));
        assert_eq!(amount(&batch, "ListCost", 1), dollars("0.192"));
    }
}

#[test]
fn an_unmatched_negation_stays_a_row_and_split_pairs_cancel_over_their_files() {
    let dir = tempfile::tempdir().unwrap();
    // March's covered hour in one file, its negation in another (a restated bill split in parts),
    // plus a pair that is whole in the first file.
    let first = write(
        dir.path(),
        "part-1.csv",
        &[
            covered(0, "i-a", "0.096", "0.06"),
            covered(0, "i-b", "0.192", "0.12"),
            negation(0, "i-b", "-0.192"),
        ],
    );
    let second = write(dir.path(), "part-2.csv", &[negation(0, "i-a", "-0.096")]);
    let one = read(&first, 2);
    assert_eq!(
        summary(&one),
        [
            ("SavingsPlanCoveredUsage".to_string(), "i-a".to_string(), 0, dollars("0.06")),
            ("SavingsPlanCoveredUsage".to_string(), "i-b".to_string(), 0, dollars("0.12")),
            // The residual of i-a's covered row: its on-demand amount, still owed in this file.
            ("SavingsPlanCoveredUsage".to_string(), "i-a".to_string(), dollars("0.096"), 0),
        ]
    );
    assert_eq!(sum(&one, "BilledCost"), dollars("0.096"), "the first file's invoice: 0.096 + 0.192 - 0.192");
    let residual = 2;
    for column in
        ["ListCost", "ContractedCost", "PricingQuantity", "ConsumedQuantity", "CommitmentDiscountQuantity"]
    {
        assert_eq!(amount(&one, column, residual), 0, "{column}");
    }
    assert_eq!(text(&one, "CommitmentDiscountStatus", residual).as_deref(), Some("Used"));

    let two = read(&second, 2);
    assert_eq!(summary(&two), [("SavingsPlanNegation".to_string(), "i-a".to_string(), dollars("-0.096"), 0)]);
    assert_eq!(text(&two, "ChargeCategory", 0).as_deref(), Some("Usage"));
    assert_eq!(text(&two, "CommitmentDiscountId", 0).as_deref(), Some(SP));
    assert_eq!(sum(&one, "BilledCost") + sum(&two, "BilledCost"), 0, "together the files bill what AWS did");
    assert_eq!(sum(&one, "EffectiveCost") + sum(&two, "EffectiveCost"), dollars("0.18"));
}

/// ChargeCategory, ChargeClass, CommitmentDiscountId, BilledCost and EffectiveCost of a row.
type Filed = (Option<String>, Option<String>, Option<String>, i128, i128);

#[test]
fn refunds_are_filed_under_what_they_refund() {
    let dir = tempfile::tempdir().unwrap();
    let refund =
        |bill_type: &str, product: &str, usage_type: &str, tax_type: &str, ri: &str, amount: &str| {
            line(bill_type, "Refund", 0, product, usage_type, "", amount, tax_type, ri, "", "")
        };
    let path = write(
        dir.path(),
        "refunds.csv",
        &[
            // A returned reservation: a negative commitment purchase, out of EffectiveCost as the
            // purchase was.
            refund("Refund", "AmazonEC2", "USE1-HeavyUsage:m5.large", "", RI, "-500.00"),
            // A Marketplace purchase refunded on a purchase bill: filed as the fee it returns is
            // (Usage), its cost was effective and so is the refund.
            refund("Purchase", "prod-abc123", "", "", "", "-40.00"),
            // A Savings Plan fee refund without its ARN: the usage type names the plan.
            refund("Refund", "ComputeSavingsPlans", "ComputeSP:1yrNoUpfront", "", "", "-7.00"),
            refund("Refund", "AmazonEC2", "Tax", "", "", "-1.10"),
            refund("Anniversary", "AmazonS3", "", "VAT", "", "-0.90"),
            refund("Anniversary", "AmazonS3", "USW2-TimedStorage-ByteHrs", "", "", "-2.00"),
            // Nothing says what this was.
            refund("Refund", "AWSSupportBusiness", "", "", "", "-3.00"),
        ],
    );
    let batch = read(&path, 3);
    let rows: Vec<Filed> = (0..batch.num_rows())
        .map(|r| {
            (
                text(&batch, "ChargeCategory", r),
                text(&batch, "ChargeClass", r),
                text(&batch, "CommitmentDiscountId", r),
                amount(&batch, "BilledCost", r),
                amount(&batch, "EffectiveCost", r),
            )
        })
        .collect();
    let s = |v: &str| Some(v.to_string());
    let correction = s("Correction");
    assert_eq!(
        rows,
        [
            (s("Purchase"), correction.clone(), s(RI), dollars("-500.00"), 0),
            (s("Usage"), correction.clone(), None, dollars("-40.00"), dollars("-40.00")),
            (s("Purchase"), correction.clone(), None, dollars("-7.00"), 0),
            (s("Tax"), correction.clone(), None, dollars("-1.10"), dollars("-1.10")),
            (s("Tax"), correction.clone(), None, dollars("-0.90"), dollars("-0.90")),
            (s("Usage"), correction.clone(), None, dollars("-2.00"), dollars("-2.00")),
            (s("Adjustment"), correction, None, dollars("-3.00"), dollars("-3.00")),
        ]
    );
    assert_eq!(sum(&batch, "BilledCost"), dollars("-554.00"));
}
