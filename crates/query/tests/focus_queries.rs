//! The FOCUS 1.2 specification's example queries (testdata/focus-queries) give the same rows in
//! costpilot as in DuckDB over costpilot's own FOCUS 1.2 export of the same lake.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{batch, row, run_python, source, value_text};
use costpilot_lake::Lake;
use costpilot_model::FocusVersion;
use costpilot_query::{LakeSession, Sessions, open_lake};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;

/// The bounds every `?` of the queries is bound to, in order (see the testdata README).
const PARAMS: [&str; 2] = ["TIMESTAMP '2024-09-01 00:00:00'", "TIMESTAMP '2024-11-01 00:00:00'"];

/// The queries kept, by file name (the README lists them and why the others are not).
const QUERIES: [&str; 11] = [
    "billed_cost_and_invoice_alignment",
    "charge_categorization_commitment_purchases",
    "charge_categorization_corrections",
    "charge_categorization_recurring_charges",
    "commit_usage_capacity_reservations",
    "cost_and_usage_attribution",
    "data_granularity",
    "effective_cost",
    "location",
    "resource_usage",
    "service_categorization",
];

fn query_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/focus-queries")
}

/// `batch` with the column `name` replaced by `values` (text, cast to the column's type).
fn with_column(batch: RecordBatch, name: &str, values: Vec<Option<String>>) -> RecordBatch {
    let schema = batch.schema();
    let index = schema.index_of(name).unwrap();
    let text: ArrayRef = Arc::new(StringArray::from(values));
    let mut columns = batch.columns().to_vec();
    columns[index] = cast(&text, schema.field(index).data_type()).unwrap();
    RecordBatch::try_new(schema, columns).unwrap()
}

/// 120 USD lines over September and October 2024 with every column the queries read varied:
/// charge categories and classes, commitment discounts, capacity reservations, resources,
/// SKUs, quantities, regions, zones and tags.
fn lake(dir: &Path) -> Lake {
    let lake = open_lake(dir).unwrap();
    let accounts = ["111", "222", "ea-1"];
    let services = ["Amazon EC2", "Amazon S3", "Amazon RDS", "AWS Lambda"];
    let n = 120;
    let rows: Vec<_> = (0..n)
        .map(|i| {
            let account = accounts[i % 3];
            let provider = if account == "ea-1" { "Microsoft" } else { "AWS" };
            let period = if i % 2 == 0 { "2024-09" } else { "2024-10" };
            let day = 1 + (i * 7 % 30) as u32 + u32::from(period == "2024-10" && i % 11 == 0);
            let billed = format!("{}.{:02}", i * 37 % 100, i * 13 % 100);
            let effective = format!("{}.{:02}", i * 29 % 90, i * 17 % 100);
            let r = row(provider, account, period, "USD", &billed)
                .day(day)
                .effective(&effective)
                .service(services[i % 4])
                .invoice(&format!("INV-{period}-{account}"));
            match i % 4 {
                0 => r.tags(&[("team", "web"), ("env", "prod")]),
                1 => r.tags(&[("team", "data")]),
                2 => r.tags(&[("env", "dev"), ("team", "web")]),
                _ => r,
            }
        })
        .collect();
    let text = |f: &dyn Fn(usize) -> Option<String>| (0..n).map(f).collect::<Vec<_>>();
    let some = |s: &str| Some(s.to_string());
    let category = |i: usize| match i % 10 {
        0 | 5 => "Purchase",
        1 => "Tax",
        _ => "Usage",
    };
    let discount = |i: usize| (i % 5 < 2).then(|| format!("cd-{}", i % 3));
    let mut b = batch(&rows);
    b = with_column(b, "ChargeCategory", text(&|i| some(category(i))));
    b = with_column(b, "ChargeClass", text(&|i| (i % 9 == 0).then(|| "Correction".into())));
    b = with_column(
        b,
        "ChargeFrequency",
        text(&|i| match category(i) {
            "Purchase" if i % 20 == 0 => some("One-Time"),
            "Purchase" => some("Recurring"),
            _ => some("Usage-Based"),
        }),
    );
    b = with_column(b, "CommitmentDiscountId", text(&discount));
    b = with_column(
        b,
        "CommitmentDiscountType",
        text(&|i| {
            discount(i).map(|_| if i % 3 == 0 { "Savings Plan".into() } else { "Reserved Instance".into() })
        }),
    );
    b = with_column(b, "CommitmentDiscountName", text(&|i| discount(i).map(|d| format!("Commitment {d}"))));
    b = with_column(
        b,
        "CommitmentDiscountStatus",
        text(&|i| discount(i).map(|_| if i % 2 == 0 { "Used".into() } else { "Unused".into() })),
    );
    b = with_column(b, "CommitmentDiscountUnit", text(&|i| discount(i).map(|_| "Hours".into())));
    b = with_column(b, "CommitmentDiscountQuantity", text(&|i| discount(i).map(|_| format!("{}.5", i % 4))));
    b = with_column(b, "CapacityReservationId", text(&|i| (i % 6 < 2).then(|| format!("cr-{}", i % 2))));
    b = with_column(
        b,
        "CapacityReservationStatus",
        text(&|i| (i % 6 < 2).then(|| if i % 4 < 2 { "Unused".into() } else { "Used".into() })),
    );
    b = with_column(b, "ResourceId", text(&|i| some(&format!("r-{}", i % 7))));
    b = with_column(b, "SkuId", text(&|i| some(&format!("sku-{}", i % 4))));
    b = with_column(b, "ConsumedQuantity", text(&|i| some(&format!("{}.5", i % 11))));
    b = with_column(b, "ConsumedUnit", text(&|i| some(["Hours", "GB-Mo"][i % 2])));
    b = with_column(b, "PricingQuantity", text(&|i| some(&format!("{}.25", i % 5))));
    b = with_column(b, "PricingUnit", text(&|i| some(["Hours", "GB-Mo"][i % 2])));
    b = with_column(b, "RegionId", text(&|i| some(["us-east-1", "eu-west-1"][i % 2])));
    b = with_column(b, "RegionName", text(&|i| some(["US East (N. Virginia)", "Europe (Ireland)"][i % 2])));
    b = with_column(
        b,
        "AvailabilityZone",
        text(&|i| (i % 3 != 0).then(|| ["us-east-1a", "eu-west-1b"][i % 2].into())),
    );
    b = with_column(b, "ServiceCategory", text(&|i| some(["Compute", "Storage", "Databases"][i % 3])));
    b = with_column(
        b,
        "ServiceSubcategory",
        text(&|i| some(["Virtual Machines", "Object Storage", "Relational Databases"][i % 3])),
    );
    let mut txn = lake.begin().unwrap();
    txn.write(b, &source("focus-queries.parquet")).unwrap();
    txn.commit().unwrap();
    lake
}

/// `sql` with each `?` replaced by the next of [`PARAMS`].
fn bind(sql: &str) -> String {
    let mut params = PARAMS.iter();
    let mut out = String::new();
    for c in sql.chars() {
        match c {
            '?' => out.push_str(params.next().expect("at most two parameters")),
            c => out.push(c),
        }
    }
    out
}

/// A cell as the DuckDB side writes it: decimals without trailing zeros, maps as sorted
/// `{key: value}` lists, NULL for null.
fn cell(array: &ArrayRef, row: usize) -> String {
    if array.is_null(row) {
        return "NULL".into();
    }
    match array.data_type() {
        DataType::Decimal128(..) => {
            let text = value_text(array, row);
            let text = text.trim_end_matches('0').trim_end_matches('.');
            if text == "-0" { "0".into() } else { text.into() }
        }
        DataType::Map(..) => {
            let entries = array.as_map().value(row);
            let keys = cast(entries.column(0), &DataType::Utf8).unwrap();
            let values = cast(entries.column(1), &DataType::Utf8).unwrap();
            let mut pairs: Vec<String> = (0..keys.len())
                .map(|i| format!("{}: {}", keys.as_string::<i32>().value(i), value_text(&values, i)))
                .collect();
            pairs.sort();
            format!("{{{}}}", pairs.join(", "))
        }
        _ => value_text(array, row),
    }
}

async fn costpilot_rows(session: &LakeSession, sql: &str) -> Vec<Vec<String>> {
    let result = session.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out: Vec<Vec<String>> = Vec::new();
    for b in &result.batches {
        for r in 0..b.num_rows() {
            out.push(b.columns().iter().map(|c| cell(c, r)).collect());
        }
    }
    out.sort();
    out
}

const DUCKDB: &str = r#"
import datetime, decimal, json, sys
import duckdb
path, queries = sys.argv[1], json.loads(sys.argv[2])
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
# The export writes Tags as JSON object text; the lake holds a map.
con.execute(f"CREATE VIEW focus_data_table AS SELECT * REPLACE (CAST(CAST(Tags AS JSON) AS MAP(VARCHAR, VARCHAR)) AS Tags) FROM read_parquet('{path}')")
def cell(v):
    if v is None:
        return "NULL"
    if isinstance(v, decimal.Decimal):
        return "0" if v == 0 else format(v.normalize(), "f")
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc)
        return v.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(v, dict):
        return "{" + ", ".join(sorted(f"{k}: {x}" for k, x in v.items())) + "}"
    return str(v)
out = []
for q in queries:
    rows = [[cell(v) for v in r] for r in con.execute(q).fetchall()]
    out.append(sorted(rows))
print(json.dumps(out))
"#;

#[tokio::test]
async fn the_focus_specification_example_queries_match_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let session = lake.session().await.unwrap();
    let export = dir.path().join("focus-1.2.parquet");
    session.export(FocusVersion::V1_2, &export).await.unwrap();

    let mut files: Vec<String> = std::fs::read_dir(query_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".sql").map(str::to_string))
        .collect();
    files.sort();
    assert_eq!(files, QUERIES, "the README lists the queries kept");

    let queries: Vec<String> = QUERIES
        .iter()
        .map(|q| bind(&std::fs::read_to_string(query_dir().join(format!("{q}.sql"))).unwrap()))
        .collect();
    let expected: Vec<Vec<Vec<String>>> = serde_json::from_str(&run_python(
        DUCKDB,
        &[export.to_str().unwrap(), &serde_json::to_string(&queries).unwrap()],
    ))
    .unwrap();
    for ((name, sql), want) in QUERIES.iter().zip(&queries).zip(&expected) {
        let got = costpilot_rows(&session, &sql.replace("focus_data_table", "focus")).await;
        assert!(!want.is_empty(), "{name}: the parameters hit no data");
        assert_eq!(&got, want, "{name}");
    }
}
