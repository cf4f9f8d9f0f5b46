//! The FOCUS 1.2 specification's own commitment discount scenarios (testdata/focus-scenarios,
//! copied from the FOCUS_Spec repository at tag v1.2): the CUR 2.0 bill AWS would issue for each
//! must give the scenario's FOCUS rows, row by row and to the cent, and bill what AWS invoices.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use costpilot_ingest::cur::{CurReader, Flavour};
use costpilot_ingest::raw::Container;
use costpilot_ingest::{BatchReader, ReadOptions};
use costpilot_model::money::parse_decimal;
use costpilot_model::{lake_schema, with_plain_text};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::Decimal128Type;

const SP: &str = "arn:aws:savingsplans::111111111111:savingsplan/sp-scenario";
const RESOURCE: &str = "i-0scenario0001";

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/focus-scenarios").join(name)
}

/// costpilot's FOCUS rows for a scenario's CUR bill, read one row per batch so that every row
/// crosses a batch boundary.
fn focus_rows(name: &str) -> RecordBatch {
    let path = scenario(&format!("{name}.cur2.csv"));
    let opts = ReadOptions { batch_rows: 1, ..ReadOptions::default() };
    let mut reader = CurReader::open(&path, Container::Csv, Flavour::Cur2, &opts).unwrap();
    let batches: Vec<RecordBatch> = reader.by_ref().map(|b| with_plain_text(&b.unwrap()).unwrap()).collect();
    assert_eq!(reader.report().rows_skipped(), 0, "{name}: {:?}", reader.report());
    concat_batches(&lake_schema(), &batches).unwrap()
}

/// The scenario's expected rows: column → value, `None` for the scenario's `null`, placeholders
/// replaced by the bill's ids.
fn expected_rows(name: &str) -> Vec<BTreeMap<String, Option<String>>> {
    let mut r = csv::Reader::from_path(scenario(&format!("{name}.csv"))).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| {
                    let v = match v {
                        "null" => None,
                        "<my-commitment-discount-id>" => Some(SP.to_string()),
                        "<my-resource-id>" => Some(RESOURCE.to_string()),
                        v => Some(v.to_string()),
                    };
                    (h.clone(), v)
                })
                .collect()
        })
        .collect()
}

fn text(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
    let a = batch.column(batch.schema().index_of(column).unwrap());
    a.is_valid(row).then(|| a.as_string::<i32>().value(row).to_string())
}

fn amount(batch: &RecordBatch, column: &str, row: usize) -> Option<i128> {
    let a = batch.column(batch.schema().index_of(column).unwrap()).as_primitive::<Decimal128Type>();
    a.is_valid(row).then(|| a.value(row))
}

fn sum(batch: &RecordBatch, column: &str, rows: &[usize]) -> i128 {
    rows.iter().filter_map(|&r| amount(batch, column, r)).sum()
}

/// Σ `line_item_unblended_cost` of a bill: what AWS invoices for it.
fn invoice(name: &str) -> i128 {
    let mut r = csv::Reader::from_path(scenario(&format!("{name}.cur2.csv"))).unwrap();
    let at = r.headers().unwrap().iter().position(|h| h == "line_item_unblended_cost").unwrap();
    r.records().map(|rec| parse_decimal(&rec.unwrap()[at]).unwrap()).sum()
}

const TEXT_COLUMNS: [&str; 7] = [
    "ChargeCategory",
    "ChargeFrequency",
    "PricingCategory",
    "CommitmentDiscountStatus",
    "CommitmentDiscountId",
    "CommitmentDiscountUnit",
    "ResourceId",
];
const AMOUNT_COLUMNS: [&str; 4] =
    ["BilledCost", "EffectiveCost", "ConsumedQuantity", "CommitmentDiscountQuantity"];

/// Checks costpilot's rows of `category` against the scenario's, in order, and returns the rows
/// of other categories.
fn assert_scenario(name: &str, category: &str) -> (RecordBatch, Vec<usize>) {
    let batch = focus_rows(name);
    let want = expected_rows(name);
    let ours: Vec<usize> = (0..batch.num_rows())
        .filter(|&r| text(&batch, "ChargeCategory", r).as_deref() == Some(category))
        .collect();
    assert_eq!(ours.len(), want.len(), "{name}: {category} rows");
    for (row, expected) in ours.iter().zip(&want) {
        for column in TEXT_COLUMNS {
            if let Some(want) = expected.get(column) {
                assert_eq!(&text(&batch, column, *row), want, "{name}, {column}, {category} row {row}");
            }
        }
        for column in AMOUNT_COLUMNS {
            if let Some(want) = expected.get(column) {
                let want = want.as_deref().map(|v| parse_decimal(v).unwrap());
                assert_eq!(amount(&batch, column, *row), want, "{name}, {column}, {category} row {row}");
            }
        }
    }
    // Σ BilledCost is the invoice: covered usage and its negation fold, a split fee bills once.
    let all: Vec<usize> = (0..batch.num_rows()).collect();
    assert_eq!(sum(&batch, "BilledCost", &all), invoice(name), "{name}: Σ BilledCost");
    let others = all.into_iter().filter(|r| !ours.contains(r)).collect();
    (batch, others)
}

/// The one row besides a usage scenario's own: the hour's recurring fee as a `Purchase` that pays
/// $1.00 and is worth nothing in EffectiveCost (its cost reaches the usage and unused rows).
fn assert_only_the_hourly_fee(name: &str, batch: &RecordBatch, others: &[usize]) {
    assert_eq!(others.len(), 1, "{name}: rows besides the scenario's");
    let r = others[0];
    assert_eq!(text(batch, "ChargeCategory", r).as_deref(), Some("Purchase"), "{name}");
    assert_eq!(text(batch, "ChargeFrequency", r).as_deref(), Some("Recurring"), "{name}");
    assert_eq!(text(batch, "PricingCategory", r).as_deref(), Some("Standard"), "{name}");
    assert_eq!(text(batch, "CommitmentDiscountStatus", r), None, "{name}");
    assert_eq!(text(batch, "CommitmentDiscountId", r).as_deref(), Some(SP), "{name}");
    assert_eq!(amount(batch, "BilledCost", r), Some(parse_decimal("1.00").unwrap()), "{name}");
    assert_eq!(amount(batch, "EffectiveCost", r), Some(0), "{name}");
}

#[test]
fn purchase_all_upfront() {
    let (_, others) = assert_scenario("commitment_discount_purchase_scenario_1", "Purchase");
    assert!(others.is_empty());
}

#[test]
fn purchase_no_upfront() {
    let (_, others) = assert_scenario("commitment_discount_purchase_scenario_2", "Purchase");
    assert!(others.is_empty(), "a fully used plan has no Unused rows");
}

#[test]
fn purchase_partial_upfront() {
    let (_, others) = assert_scenario("commitment_discount_purchase_scenario_3", "Purchase");
    assert!(others.is_empty(), "a fully used plan has no Unused rows");
}

#[test]
fn usage_fully_used() {
    let name = "commitment_discount_usage_scenario_1";
    let (batch, others) = assert_scenario(name, "Usage");
    assert_only_the_hourly_fee(name, &batch, &others);
}

#[test]
fn usage_unused() {
    let name = "commitment_discount_usage_scenario_2";
    let (batch, others) = assert_scenario(name, "Usage");
    assert_only_the_hourly_fee(name, &batch, &others);
}

#[test]
fn usage_partly_used() {
    let name = "commitment_discount_usage_scenario_3";
    let (batch, others) = assert_scenario(name, "Usage");
    assert_only_the_hourly_fee(name, &batch, &others);
    // The hour's commitment is all accounted for: 0.75 used + 0.25 unused = the $1.00 paid.
    let usage: Vec<usize> = (0..batch.num_rows()).filter(|r| !others.contains(r)).collect();
    assert_eq!(sum(&batch, "EffectiveCost", &usage), sum(&batch, "BilledCost", &others));
}

#[test]
fn usage_with_overage() {
    let name = "commitment_discount_usage_scenario_4";
    let (batch, others) = assert_scenario(name, "Usage");
    assert_only_the_hourly_fee(name, &batch, &others);
}
