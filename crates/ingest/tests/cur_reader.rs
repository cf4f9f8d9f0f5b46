//! The CUR readers against hand-written fixtures (testdata/cur, written by make_fixtures.py from
//! hand-entered rows): CUR 2.0 CSV and Parquet and legacy CUR CSV.gz must give the FOCUS rows of
//! golden.csv, worked out by hand from docs/mapping.md; the cost invariants are recomputed here from
//! the raw CUR columns; bad input must fail (or be skipped) with exact messages.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use costpilot_ingest::cur::{CurReader, Flavour};
use costpilot_ingest::raw::Container;
use costpilot_ingest::tags::{normalize_cost_category_key, normalize_tag_key};
use costpilot_ingest::{BatchReader, FileReport, IngestError, ReadOptions};
use costpilot_model::money::{format_units, parse_decimal};
use costpilot_model::time::format_micros;
use costpilot_model::{lake_schema, parse_timestamp_micros, with_plain_text};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, TimestampMicrosecondType};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/cur").join(name)
}

fn open(path: &Path, flavour: Flavour, strict: bool) -> Result<CurReader, IngestError> {
    let opts = ReadOptions { strict, batch_rows: 7, ..ReadOptions::default() };
    CurReader::open(path, Container::sniff(path).unwrap(), flavour, &opts)
}

fn read_with(path: &Path, flavour: Flavour, strict: bool) -> Result<(RecordBatch, FileReport), IngestError> {
    let mut reader = open(path, flavour, strict)?;
    let mut batches = Vec::new();
    for batch in reader.by_ref() {
        // Readers may hand text over as dictionaries; compare values in the lake's plain types.
        batches.push(with_plain_text(&batch?).unwrap());
    }
    let batch = concat_batches(&lake_schema(), &batches).unwrap();
    Ok((batch, reader.report().clone()))
}

fn read(path: &Path, flavour: Flavour) -> (RecordBatch, FileReport) {
    read_with(path, flavour, false).unwrap()
}

/// A cell of a lake batch as text for comparison: amounts exact to 15 places, times in RFC 3339,
/// maps as sorted key/value pairs.
#[derive(Debug, PartialEq)]
enum Cell {
    Null,
    Text(String),
    Amount(i128),
    Time(i64),
    Map(BTreeMap<String, String>),
}

fn cell(batch: &RecordBatch, column: &str, row: usize) -> Cell {
    let array = batch.column(batch.schema().index_of(column).unwrap());
    if array.is_null(row) {
        return Cell::Null;
    }
    match array.data_type() {
        DataType::Utf8 => Cell::Text(array.as_string::<i32>().value(row).to_string()),
        DataType::Decimal128(_, _) => Cell::Amount(array.as_primitive::<Decimal128Type>().value(row)),
        DataType::Timestamp(_, _) => Cell::Time(array.as_primitive::<TimestampMicrosecondType>().value(row)),
        DataType::Map(_, _) => {
            let entries = array.as_map().value(row);
            let keys = entries.column(0).as_string::<i32>();
            let values = entries.column(1).as_string::<i32>();
            Cell::Map(
                (0..keys.len()).map(|i| (keys.value(i).to_string(), values.value(i).to_string())).collect(),
            )
        }
        other => panic!("{column} has unexpected type {other}"),
    }
}

/// The golden file's value for a column of the given lake type.
fn expected(text: &str, data_type: &DataType) -> Cell {
    if text.is_empty() {
        return Cell::Null;
    }
    match data_type {
        DataType::Utf8 => Cell::Text(text.to_string()),
        DataType::Decimal128(_, _) => Cell::Amount(parse_decimal(text).unwrap()),
        DataType::Timestamp(_, _) => Cell::Time(parse_timestamp_micros(text).unwrap()),
        DataType::Map(_, _) => Cell::Map(serde_json::from_str(text).unwrap()),
        other => panic!("unexpected type {other}"),
    }
}

fn show(c: &Cell) -> String {
    match c {
        Cell::Null => "null".into(),
        Cell::Text(s) => format!("{s:?}"),
        Cell::Amount(a) => format_units(*a, 15),
        Cell::Time(t) => format_micros(*t),
        Cell::Map(m) => format!("{m:?}"),
    }
}

struct Golden {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn golden() -> Golden {
    let mut r = csv::Reader::from_path(fixture("golden.csv")).unwrap();
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r.records().map(|rec| rec.unwrap().iter().map(String::from).collect()).collect();
    Golden { header, rows }
}

/// Compares every lake column of every row with the golden file, except `skip` columns, and fails
/// listing every difference.
fn assert_matches_golden(batch: &RecordBatch, skip: &[&str]) {
    let golden = golden();
    assert_eq!(batch.num_rows(), golden.rows.len(), "row count");
    let schema = lake_schema();
    let mut diffs = Vec::new();
    for field in schema.fields() {
        let name = field.name().as_str();
        if skip.contains(&name) {
            continue;
        }
        let g =
            golden.header.iter().position(|h| h == name).unwrap_or_else(|| panic!("golden.csv lacks {name}"));
        for (row, want) in golden.rows.iter().enumerate() {
            let want = expected(&want[g], field.data_type());
            let got = cell(batch, name, row);
            if got != want {
                diffs.push(format!("row {} {name}: got {}, want {}", row + 1, show(&got), show(&want)));
            }
        }
    }
    assert!(diffs.is_empty(), "{} differences:\n{}", diffs.len(), diffs.join("\n"));
}

#[test]
fn cur2_csv_gives_the_golden_rows() {
    let (batch, report) = read(&fixture("cur2.csv"), Flavour::Cur2);
    assert_matches_golden(&batch, &[]);
    assert_eq!(
        (report.format.as_str(), report.rows_read, report.rows_kept, report.rows_skipped()),
        ("cur2", 23, 23, 0)
    );
}

#[test]
fn cur2_csv_gz_gives_the_golden_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("part-00001.csv.gz");
    let mut gz =
        flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), flate2::Compression::default());
    gz.write_all(&std::fs::read(fixture("cur2.csv")).unwrap()).unwrap();
    gz.finish().unwrap();
    assert_eq!(Container::sniff(&path).unwrap(), Container::CsvGz);
    let (batch, _) = read(&path, Flavour::Cur2);
    assert_matches_golden(&batch, &[]);
}

#[test]
fn cur2_parquet_gives_the_golden_rows() {
    let (batch, report) = read(&fixture("cur2.parquet"), Flavour::Cur2);
    assert_matches_golden(&batch, &[]);
    assert_eq!((report.rows_read, report.rows_kept), (23, 23));
}

#[test]
fn one_batch_gives_the_golden_rows_too() {
    // The RIFee's Unused row and the folded negation in one batch: as many rows as lines, but not
    // the same rows.
    let path = fixture("cur2.csv");
    let opts = ReadOptions { batch_rows: 1000, ..ReadOptions::default() };
    let reader = CurReader::open(&path, Container::Csv, Flavour::Cur2, &opts).unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| with_plain_text(&b.unwrap()).unwrap()).collect();
    assert_eq!(batches.len(), 1);
    assert_matches_golden(&batches[0], &[]);
}

#[test]
fn legacy_csv_gz_gives_the_same_rows() {
    let path = fixture("legacy.csv.gz");
    assert_eq!(Container::sniff(&path).unwrap(), Container::CsvGz);
    let (batch, report) = read(&path, Flavour::Legacy);
    // Legacy CUR has no account names, spells raw tag keys its own way, and says where it came from.
    assert_matches_golden(&batch, &["BillingAccountName", "SubAccountName", "x_RawTags", "x_SourceFormat"]);
    assert_eq!(report.format, "cur-legacy");
    for row in 0..batch.num_rows() {
        assert_eq!(cell(&batch, "x_SourceFormat", row), Cell::Text("cur-legacy".into()));
        assert_eq!(cell(&batch, "BillingAccountName", row), Cell::Null);
        assert_eq!(cell(&batch, "SubAccountName", row), Cell::Null);
    }
    let want: BTreeMap<String, String> = [
        ("resourceTags/aws:createdBy", "IAMUser:AIDAEXAMPLE:alice"),
        ("resourceTags/user:env", "prod"),
        ("resourceTags/user:team", "web"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(cell(&batch, "x_RawTags", 0), Cell::Map(want));
}

/// The raw CUR 2.0 fixture as text cells by column name.
fn raw_rows() -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(fixture("cur2.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    r.records()
        .map(|rec| header.iter().cloned().zip(rec.unwrap().iter().map(String::from)).collect())
        .collect()
}

fn amount(row: &BTreeMap<String, String>, column: &str) -> i128 {
    let text = row.get(column).map(String::as_str).unwrap_or("");
    if text.is_empty() { 0 } else { parse_decimal(text).unwrap() }
}

fn column_sum(batch: &RecordBatch, column: &str) -> i128 {
    let a = batch.column(batch.schema().index_of(column).unwrap()).as_primitive::<Decimal128Type>();
    a.iter().flatten().sum()
}

fn dollars(text: &str) -> i128 {
    parse_decimal(text).unwrap()
}

#[test]
fn costs_keep_the_documented_invariants() {
    let (batch, _) = read(&fixture("cur2.csv"), Flavour::Cur2);
    let raw = raw_rows();
    let billed = column_sum(&batch, "BilledCost");
    let effective = column_sum(&batch, "EffectiveCost");

    // Σ BilledCost = Σ unblended cost (blended, net and split columns differ in the fixture and
    // must not leak in; the folded negation and the split RI fee bill nothing twice). Hand sum:
    // 848.42668.
    let unblended: i128 = raw.iter().map(|r| amount(r, "line_item_unblended_cost")).sum();
    assert_eq!(billed, unblended);
    assert_eq!(billed, dollars("848.42668"));

    // Σ EffectiveCost by the formula of docs/mapping.md, from the raw columns (the unused parts of
    // the recurring fees, now on their Unused rows, included). Hand sum: 195.54668.
    let formula: i128 = raw
        .iter()
        .map(|r| {
            let arn = !r["reservation_reservation_a_r_n"].is_empty()
                || !r["savings_plan_savings_plan_a_r_n"].is_empty();
            match r["line_item_line_item_type"].as_str() {
                "DiscountedUsage" => amount(r, "reservation_effective_cost"),
                "SavingsPlanCoveredUsage" => amount(r, "savings_plan_savings_plan_effective_cost"),
                "RIFee" => {
                    amount(r, "reservation_unused_amortized_upfront_fee_for_billing_period")
                        + amount(r, "reservation_unused_recurring_fee")
                }
                "SavingsPlanRecurringFee" => {
                    amount(r, "savings_plan_total_commitment_to_date")
                        - amount(r, "savings_plan_used_commitment")
                }
                "SavingsPlanNegation" | "SavingsPlanUpfrontFee" => 0,
                "Fee" if arn => 0,
                _ => amount(r, "line_item_unblended_cost"),
            }
        })
        .sum();
    assert_eq!(effective, formula);
    assert_eq!(effective, dollars("195.54668"));

    // Σ EffectiveCost − Σ BilledCost = upfront amortised into this period − upfront fees billed in it
    // (7.44 + 14.88 − 500.00 − 175.20 = −652.88).
    let amortised: i128 = raw
        .iter()
        .map(|r| {
            amount(r, "reservation_amortized_upfront_fee_for_billing_period")
                + amount(r, "savings_plan_amortized_upfront_commitment_for_billing_period")
        })
        .sum();
    let upfront: i128 = raw
        .iter()
        .filter(|r| {
            let t = r["line_item_line_item_type"].as_str();
            let arn = !r["reservation_reservation_a_r_n"].is_empty()
                || !r["savings_plan_savings_plan_a_r_n"].is_empty();
            t == "SavingsPlanUpfrontFee" || (t == "Fee" && arn)
        })
        .map(|r| amount(r, "line_item_unblended_cost"))
        .sum();
    assert_eq!(effective - billed, amortised - upfront);
    assert_eq!(effective - billed, dollars("-652.88"));

    // The fully used Savings Plan: its covered usage carries the whole commitment and bills 0, its
    // negation is folded away, its recurring fee is a purchase worth nothing in EffectiveCost, and
    // over its usage and recurring lines Σ EffectiveCost − Σ BilledCost is exactly the amortised
    // upfront commitment (37.20 − 22.32 = 14.88).
    let sp = |t: &str, column: &str| -> i128 {
        (0..batch.num_rows())
            .filter(|&i| cell(&batch, "x_LineItemType", i) == Cell::Text(t.into()))
            .map(|i| match cell(&batch, column, i) {
                Cell::Amount(a) => a,
                other => panic!("{other:?}"),
            })
            .sum()
    };
    let total_commitment: i128 = raw.iter().map(|r| amount(r, "savings_plan_total_commitment_to_date")).sum();
    assert_eq!(sp("SavingsPlanCoveredUsage", "EffectiveCost"), total_commitment);
    assert_eq!(sp("SavingsPlanCoveredUsage", "BilledCost"), 0);
    assert_eq!(sp("SavingsPlanRecurringFee", "EffectiveCost"), 0);
    let of_type = |t: &str| {
        (0..batch.num_rows()).filter(|&i| cell(&batch, "x_LineItemType", i) == Cell::Text(t.into())).count()
    };
    assert_eq!(of_type("SavingsPlanNegation"), 0, "the negation folds into its covered row");
    assert_eq!(of_type("SavingsPlanRecurringFee"), 1, "a fully used plan has no Unused row");
    let lines = ["SavingsPlanCoveredUsage", "SavingsPlanNegation", "SavingsPlanRecurringFee"];
    let sp_effective: i128 = lines.iter().map(|t| sp(t, "EffectiveCost")).sum();
    let sp_billed: i128 = lines.iter().map(|t| sp(t, "BilledCost")).sum();
    assert_eq!(sp_effective - sp_billed, dollars("14.88"));
    assert_eq!(
        sp_effective - sp_billed,
        raw.iter()
            .map(|r| amount(r, "savings_plan_amortized_upfront_commitment_for_billing_period"))
            .sum::<i128>()
    );

    // The partly used RI: its RIFee is a recurring purchase of 14.88 and an Unused row of 7.32, so
    // that its Usage rows (15.00 used + 7.32 unused) carry the period's whole commitment: the
    // recurring fee plus the amortised upfront (14.88 + 7.44 = 22.32).
    let ri = "arn:aws:rds:us-east-1:111111111111:ri:orders-ri";
    let of_ri = |category: &str, column: &str| -> i128 {
        (0..batch.num_rows())
            .filter(|&i| {
                cell(&batch, "CommitmentDiscountId", i) == Cell::Text(ri.into())
                    && cell(&batch, "ChargeCategory", i) == Cell::Text(category.into())
            })
            .map(|i| match cell(&batch, column, i) {
                Cell::Amount(a) => a,
                other => panic!("{other:?}"),
            })
            .sum()
    };
    assert_eq!(of_ri("Purchase", "BilledCost"), dollars("14.88"));
    assert_eq!(of_ri("Purchase", "EffectiveCost"), 0);
    assert_eq!(of_ri("Usage", "BilledCost"), 0);
    assert_eq!(of_ri("Usage", "EffectiveCost"), dollars("22.32"));
    let unused: i128 = (0..batch.num_rows())
        .filter(|&i| cell(&batch, "CommitmentDiscountStatus", i) == Cell::Text("Unused".into()))
        .map(|i| match cell(&batch, "EffectiveCost", i) {
            Cell::Amount(a) => a,
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(unused, dollars("7.32"), "the commitment waste of the period");
}

/// Writes the CUR 2.0 fixture without the given columns (and with `edit` applied to each row).
fn rewrite(
    dir: &Path,
    name: &str,
    drop: &[&str],
    edit: impl Fn(usize, &mut BTreeMap<String, String>),
) -> PathBuf {
    let mut r = csv::Reader::from_path(fixture("cur2.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let kept: Vec<&String> = header.iter().filter(|h| !drop.contains(&h.as_str())).collect();
    let path = dir.join(name);
    let mut w = csv::Writer::from_path(&path).unwrap();
    w.write_record(&kept).unwrap();
    for (i, rec) in r.records().enumerate() {
        let mut row: BTreeMap<String, String> =
            header.iter().cloned().zip(rec.unwrap().iter().map(String::from)).collect();
        edit(i + 1, &mut row);
        w.write_record(kept.iter().map(|h| row[h.as_str()].clone())).unwrap();
    }
    w.flush().unwrap();
    path
}

#[test]
fn optional_columns_may_be_missing() {
    let dir = tempfile::tempdir().unwrap();
    // Everything but the required columns and what the commitment lines need.
    let keep = [
        "line_item_line_item_type",
        "line_item_unblended_cost",
        "line_item_usage_start_date",
        "line_item_usage_end_date",
        "bill_billing_period_start_date",
        "bill_payer_account_id",
        "line_item_currency_code",
        "line_item_product_code",
        "reservation_reservation_a_r_n",
        "reservation_effective_cost",
        "reservation_unused_amortized_upfront_fee_for_billing_period",
        "reservation_unused_recurring_fee",
        "savings_plan_savings_plan_a_r_n",
        "savings_plan_savings_plan_effective_cost",
        "savings_plan_total_commitment_to_date",
        "savings_plan_used_commitment",
    ];
    let header: Vec<String> = csv::Reader::from_path(fixture("cur2.csv"))
        .unwrap()
        .headers()
        .unwrap()
        .iter()
        .map(String::from)
        .collect();
    let drop: Vec<&str> = header.iter().map(String::as_str).filter(|h| !keep.contains(h)).collect();
    let path = rewrite(dir.path(), "narrow.csv", &drop, |_, _| {});
    let (batch, report) = read(&path, Flavour::Cur2);
    assert_eq!((report.rows_kept, report.rows_skipped()), (23, 0));
    // Derived: BillingPeriodEnd is a month after the start; ListCost is BilledCost without public
    // prices; the service comes from the product code; nothing FOCUS allows to be null is made up.
    let april = parse_timestamp_micros("2025-04-01T00:00:00Z").unwrap();
    for row in 0..batch.num_rows() {
        assert_eq!(cell(&batch, "BillingPeriodEnd", row), Cell::Time(april));
        assert_eq!(cell(&batch, "ChargeDescription", row), cell(&batch, "x_LineItemType", row));
        for null in [
            "SubAccountId",
            "RegionId",
            "ResourceId",
            "Tags",
            "x_CostCategories",
            "InvoiceId",
            "PricingQuantity",
        ] {
            let commitment = matches!(cell(&batch, "CommitmentDiscountId", row), Cell::Text(_));
            // An Unused row prices its idle commitment, known without the usage amount.
            let unused = cell(&batch, "CommitmentDiscountStatus", row) == Cell::Text("Unused".into());
            if (null == "ResourceId" && commitment) || (null == "PricingQuantity" && unused) {
                continue;
            }
            assert_eq!(cell(&batch, null, row), Cell::Null, "row {} {null}", row + 1);
        }
    }
    assert_eq!(cell(&batch, "ListCost", 0), Cell::Amount(dollars("4.16")));
    assert_eq!(
        cell(&batch, "ListCost", 5),
        Cell::Amount(0),
        "DiscountedUsage without public cost lists at 0 billed"
    );
    assert_eq!(cell(&batch, "EffectiveCost", 5), Cell::Amount(dollars("15")));
    assert_eq!(cell(&batch, "ServiceName", 0), Cell::Text("Amazon Elastic Compute Cloud".into()));
    assert_eq!(cell(&batch, "ServiceName", 20), Cell::Text("Amazon Elastic Compute Cloud".into()));
    assert_eq!(cell(&batch, "InvoiceIssuerName", 0), Cell::Text("AWS".into()));
    assert_eq!(cell(&batch, "PublisherName", 0), Cell::Text("Amazon Web Services, Inc.".into()));
}

#[test]
fn product_attributes_come_from_the_map_when_not_columns() {
    let dir = tempfile::tempdir().unwrap();
    let drop = [
        "product_region_code",
        "product_location",
        "product_instance_type",
        "product_product_family",
        "product_sku",
    ];
    let path = rewrite(dir.path(), "map_only.csv", &drop, |_, _| {});
    let (batch, _) = read(&path, Flavour::Cur2);
    let text = |column: &str, row: usize| match cell(&batch, column, row) {
        Cell::Text(t) => Some(t),
        _ => None,
    };
    // Rows 1 and 2 name their region in the map; row 3's map has none.
    assert_eq!(text("RegionId", 0).as_deref(), Some("us-east-1"));
    assert_eq!(text("RegionName", 0).as_deref(), Some("US East (N. Virginia)"));
    assert_eq!(text("RegionId", 1).as_deref(), Some("us-west-2"));
    assert_eq!(text("RegionName", 1).as_deref(), Some("US West (Oregon)"));
    assert_eq!(text("RegionId", 2), None);
    assert_eq!(text("RegionName", 2), None);
    for row in 0..batch.num_rows() {
        for column in ["x_InstanceType", "x_ProductFamily", "SkuId", "SkuPriceId"] {
            assert_eq!(text(column, row), None, "row {} {column}", row + 1);
        }
    }
    assert_eq!(text("ServiceName", 20).as_deref(), Some("AWS Data Transfer"));
    assert_eq!(
        text("ResourceType", 1).as_deref(),
        None,
        "a bucket name has no type without a product family"
    );
}

#[test]
fn commitment_lines_need_their_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = rewrite(
        dir.path(),
        "no_ri.csv",
        &["reservation_effective_cost", "reservation_unused_recurring_fee"],
        |_, _| {},
    );
    let (batch, report) = read(&path, Flavour::Cur2);
    // 23 lines, 2 skipped, the negation folded; the skipped RIFee gives no Unused row.
    assert_eq!((report.rows_read, report.rows_kept, batch.num_rows()), (23, 20, 20));
    let reasons: Vec<(&str, u64)> = report.skipped_by_reason.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        reasons,
        [
            ("reservation_effective_cost: absent from the file, but DiscountedUsage rows need it", 1),
            ("reservation_unused_recurring_fee: absent from the file, but RIFee rows need it", 1),
        ]
    );
    let err = read_with(&path, Flavour::Cur2, true).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: row 6, column 'reservation_effective_cost': absent from the file, but DiscountedUsage rows need it",
            path.display()
        )
    );
}

#[test]
fn a_missing_required_column_names_file_column_and_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = rewrite(dir.path(), "no_cost.csv", &["line_item_unblended_cost"], |_, _| {});
    let err = read_with(&path, Flavour::Cur2, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: missing required column 'line_item_unblended_cost' for AWS CUR 2.0", path.display())
    );

    // Legacy CUR is told in its own spelling.
    let legacy = dir.path().join("legacy_no_type.csv");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(fixture("legacy.csv.gz")).unwrap()),
        &mut text,
    )
    .unwrap();
    std::fs::write(&legacy, text.replacen("lineItem/LineItemType", "lineItem/Kind", 1)).unwrap();
    let err = read_with(&legacy, Flavour::Legacy, false).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: missing required column 'lineItem/LineItemType' for AWS legacy CUR", legacy.display())
    );
}

#[test]
fn bad_values_are_skipped_and_counted_or_fail_strictly() {
    let dir = tempfile::tempdir().unwrap();
    let path = rewrite(dir.path(), "bad.csv", &[], |row, r| match row {
        3 => *r.get_mut("line_item_unblended_cost").unwrap() = "12,5".into(),
        4 => *r.get_mut("line_item_usage_start_date").unwrap() = "2025-13-01".into(),
        9 => *r.get_mut("line_item_unblended_cost").unwrap() = "n/a".into(),
        12 => *r.get_mut("resource_tags").unwrap() = "{\"user_team\": ".into(),
        _ => {}
    });
    // And a ragged line at the end.
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"li-24,Usage\n").unwrap();
    let (batch, report) = read(&path, Flavour::Cur2);
    // 19 good lines give 20 rows: the RIFee splits, and the negation of the skipped covered row
    // 9 has nothing to fold into, so it stays a row (at the end of the file) with its BilledCost.
    assert_eq!(
        (report.rows_read, report.rows_kept, batch.num_rows(), report.rows_skipped()),
        (24, 20, 20, 5)
    );
    let last = batch.num_rows() - 1;
    assert_eq!(cell(&batch, "x_LineItemType", last), Cell::Text("SavingsPlanNegation".into()));
    assert_eq!(cell(&batch, "BilledCost", last), Cell::Amount(dollars("-59.52")));
    assert_eq!(cell(&batch, "EffectiveCost", last), Cell::Amount(0));
    let reasons: Vec<(&str, u64)> = report.skipped_by_reason.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        reasons,
        [
            ("(whole row): has 2 fields, the header has 74", 1),
            ("line_item_unblended_cost: not a number", 2),
            ("line_item_usage_start_date: bad date", 1),
            ("resource_tags: not a JSON object of text values", 1),
        ]
    );
    let rows: Vec<u64> = report.examples.iter().map(|b| b.row).collect();
    assert_eq!(rows, [3, 4, 9, 12, 24]);
    assert_eq!(
        report.examples[1].reason,
        "bad date: '2025-13-01' is not a date/time (expected ISO 8601, e.g. 2024-09-01T00:00:00Z)"
    );
    assert_eq!(
        report.examples[3].reason,
        "not a JSON object of text values: EOF while parsing a value at line 1 column 13"
    );

    let err = read_with(&path, Flavour::Cur2, true).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: row 3, column 'line_item_unblended_cost': not a number: '12,5' is not a number",
            path.display()
        )
    );
    let only_date = rewrite(dir.path(), "bad_date.csv", &[], |row, r| {
        if row == 4 {
            *r.get_mut("line_item_usage_start_date").unwrap() = "2025-13-01".into();
        }
    });
    let err = read_with(&only_date, Flavour::Cur2, true).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: row 4, column 'line_item_usage_start_date': bad date: '2025-13-01' is not a date/time (expected ISO 8601, e.g. 2024-09-01T00:00:00Z)",
            only_date.display()
        )
    );
}

#[test]
fn a_truncated_parquet_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture("cur2.parquet")).unwrap();
    let path = dir.path().join("truncated.parquet");
    std::fs::File::create(&path).unwrap().write_all(&bytes[..bytes.len() / 2]).unwrap();
    let err = match open(&path, Flavour::Cur2, false) {
        Err(e) => e,
        Ok(_) => panic!("a truncated file opened"),
    };
    assert_eq!(
        err.to_string(),
        format!(
            "{}: not a readable Parquet file: Parquet error: Invalid Parquet file. Corrupt footer",
            path.display()
        )
    );
}

#[test]
fn tag_keys_are_normalised_with_their_aws_spelling() {
    let cases = [
        ("user_team", "team"),
        ("user_cost_center", "cost_center"),
        ("user_user_x", "user_x"),
        ("resourceTags/user:Cost Center", "Cost Center"),
        ("resource_tags_user_team", "team"),
        ("aws_created_by", "aws:createdBy"),
        ("aws_cloudformation_stack_name", "aws:cloudformation:stack-name"),
        ("aws_eks_workload_name", "aws:eks:workload-name"),
        ("aws_not_in_the_table", "aws:not_in_the_table"),
        ("resourceTags/aws:createdBy", "aws:createdBy"),
        ("resource_tags_aws_created_by", "aws:createdBy"),
        ("plain", "plain"),
    ];
    for (raw, want) in cases {
        assert_eq!(normalize_tag_key(raw), want, "{raw}");
    }
    assert_eq!(normalize_cost_category_key("costCategory/Business Unit"), "Business Unit");
    assert_eq!(normalize_cost_category_key("cost_category_team"), "team");
    assert_eq!(normalize_cost_category_key("team"), "team");
}
