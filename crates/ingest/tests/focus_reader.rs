//! The FOCUS reader on the FinOps Foundation's sample (CSV, CSV.gz, Parquet), on files named after
//! FOCUS 1.3 and after older versions, and on bad input. Expected totals come from DuckDB over the
//! raw CSV; expected values of the hand-written files are written out here.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use costpilot_ingest::{FileReport, IngestError, ReadOptions, SourceKind, discover, open};
use costpilot_model::money::{format_units, parse_decimal};
use costpilot_model::{index_of, names, parse_timestamp_micros};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Decimal128Type, TimestampMicrosecondType};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/focus").join(name)
}

fn sample() -> PathBuf {
    testdata("focus_1.0_sample_1000.csv")
}

/// The Python with pyarrow and duckdb that scripts/test provides.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("COSTPILOT_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new("/root/.cache/costpilot/venv/bin/python");
    if venv.exists() {
        return venv.to_path_buf();
    }
    panic!("no Python with pyarrow and duckdb: run scripts/test, which sets COSTPILOT_PYTHON");
}

fn run_python(script: &str, args: &[&Path]) -> String {
    let out = Command::new(python()).arg("-c").arg(script).args(args).output().expect("python runs");
    assert!(out.status.success(), "python failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn read(path: &Path, opts: &ReadOptions) -> Result<(Vec<RecordBatch>, FileReport), IngestError> {
    let files = discover(&[path.to_path_buf()], SourceKind::Auto)?;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].kind, SourceKind::Focus);
    let mut reader = open(&files[0], opts)?;
    let mut batches = Vec::new();
    for b in reader.by_ref() {
        batches.push(b?);
    }
    Ok((batches, reader.report().clone()))
}

fn read_ok(path: &Path) -> (Vec<RecordBatch>, FileReport) {
    read(path, &ReadOptions { batch_rows: 100, ..ReadOptions::default() }).expect("file reads")
}

fn strict() -> ReadOptions {
    ReadOptions { strict: true, ..ReadOptions::default() }
}

fn text(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
    let a = batch.column(index_of(column)).as_string::<i32>();
    a.is_valid(row).then(|| a.value(row).to_string())
}

fn units(batch: &RecordBatch, column: &str, row: usize) -> Option<i128> {
    let a = batch.column(index_of(column)).as_primitive::<Decimal128Type>();
    a.is_valid(row).then(|| a.value(row))
}

fn micros(batch: &RecordBatch, column: &str, row: usize) -> Option<i64> {
    let a = batch.column(index_of(column)).as_primitive::<TimestampMicrosecondType>();
    a.is_valid(row).then(|| a.value(row))
}

/// The pairs of a map cell, in stored order; `None` for a null cell.
fn pairs(batch: &RecordBatch, column: &str, row: usize) -> Option<Vec<(String, Option<String>)>> {
    let map = batch.column(index_of(column)).as_map();
    if map.is_null(row) {
        return None;
    }
    let entry = map.value(row);
    let keys = entry.column(0).as_string::<i32>();
    let values = entry.column(1).as_string::<i32>();
    Some(
        (0..entry.len())
            .map(|i| (keys.value(i).to_string(), values.is_valid(i).then(|| values.value(i).to_string())))
            .collect(),
    )
}

fn concat(batches: &[RecordBatch]) -> RecordBatch {
    // Readers may hand text over as dictionaries; compare values in the lake's plain types.
    let plain: Vec<RecordBatch> =
        batches.iter().map(|b| costpilot_model::with_plain_text(b).expect("lake columns")).collect();
    datafusion::arrow::compute::concat_batches(&costpilot_model::lake_schema(), &plain).expect("same schema")
}

/// Rows, Σ BilledCost and Σ EffectiveCost per (provider, currency), as exact units of 10^-15.
type Totals = BTreeMap<(String, String), (u64, i128, i128)>;

fn totals(batch: &RecordBatch) -> Totals {
    let mut t = Totals::new();
    for i in 0..batch.num_rows() {
        let key =
            (text(batch, names::PROVIDER_NAME, i).unwrap(), text(batch, names::BILLING_CURRENCY, i).unwrap());
        let e = t.entry(key).or_default();
        e.0 += 1;
        e.1 += units(batch, names::BILLED_COST, i).unwrap();
        e.2 += units(batch, names::EFFECTIVE_COST, i).unwrap();
    }
    t
}

/// The same totals computed by DuckDB over the raw CSV, with exact decimals.
fn duckdb_totals(csv: &Path) -> Totals {
    let script = r#"
import duckdb, json, sys
con = duckdb.connect()
rows = con.execute("""
    SELECT ProviderName, BillingCurrency, count(*),
           CAST(sum(CAST(BilledCost AS DECIMAL(38, 15))) AS VARCHAR),
           CAST(sum(CAST(EffectiveCost AS DECIMAL(38, 15))) AS VARCHAR)
    FROM read_csv(?, all_varchar = true, nullstr = 'NULL', header = true)
    GROUP BY ALL ORDER BY ALL""", [sys.argv[1]]).fetchall()
print(json.dumps(rows))
"#;
    let rows: Vec<(String, String, u64, String, String)> =
        serde_json::from_str(&run_python(script, &[csv])).expect("json from duckdb");
    rows.into_iter()
        .map(|(p, c, n, billed, effective)| {
            ((p, c), (n, parse_decimal(&billed).unwrap(), parse_decimal(&effective).unwrap()))
        })
        .collect()
}

fn assert_totals(got: &Totals, expected: &Totals) {
    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (key, (n, billed, effective)) in expected {
        let (gn, gb, ge) = got[key];
        assert_eq!(gn, *n, "{key:?} rows");
        // To the cent, and exactly: both sides sum exact decimals.
        assert_eq!(format_units(gb, 2), format_units(*billed, 2), "{key:?} BilledCost");
        assert_eq!(format_units(ge, 2), format_units(*effective, 2), "{key:?} EffectiveCost");
        assert_eq!(gb, *billed, "{key:?} BilledCost");
        assert_eq!(ge, *effective, "{key:?} EffectiveCost");
    }
}

#[test]
fn the_sample_keeps_every_row_and_matches_duckdb_to_the_cent() {
    let (batches, report) = read_ok(&sample());
    assert!(batches.len() >= 10, "read in batches of 100");
    assert_eq!(report.rows_read, 1000);
    assert_eq!(report.rows_kept, 1000);
    assert_eq!(report.rows_skipped(), 0, "{:?}", report.examples);
    let all = concat(&batches);
    let got = totals(&all);
    let per_provider: BTreeMap<&str, u64> = got.iter().map(|((p, _), v)| (p.as_str(), v.0)).collect();
    assert_eq!(per_provider, BTreeMap::from([("AWS", 942), ("Microsoft", 51), ("Oracle", 7)]));
    assert_totals(&got, &duckdb_totals(&sample()));
}

#[test]
fn the_sample_values_are_read_exactly() {
    let all = concat(&read_ok(&sample()).0);
    // Data row 2: tags in a quoted JSON string, a 15-decimal quantity, a timestamp without zone.
    assert_eq!(
        pairs(&all, names::TAGS, 1),
        Some(vec![
            ("application".into(), Some("BrightLensMatrix".into())),
            ("business_unit".into(), Some("ViennaAI".into())),
            ("environment".into(), Some("dev".into())),
        ])
    );
    assert_eq!(units(&all, names::CONSUMED_QUANTITY, 1), Some(2_007_490_000_000)); // 0.002007490000000
    assert_eq!(units(&all, names::BILLED_COST, 1), Some(16_059_900_000)); // 0.00001605990
    assert_eq!(
        micros(&all, names::CHARGE_PERIOD_START, 1),
        Some(parse_timestamp_micros("2024-09-30T22:00:00Z").unwrap())
    );
    assert_eq!(text(&all, names::SERVICE_NAME, 1).as_deref(), Some("Elastic Load Balancing"));
    // Data row 1: NULL tags stay null, NULL AvailabilityZone is null.
    assert_eq!(pairs(&all, names::TAGS, 0), None);
    assert_eq!(text(&all, names::AVAILABILITY_ZONE, 0), None);
    assert_eq!(units(&all, names::CONSUMED_QUANTITY, 0), Some(2_000_000_000_000_000));

    // The Oracle block-storage row: 15 significant decimals, ContractedCost left empty, the
    // enumeration respelled, the billing period of October.
    let oracle = (0..all.num_rows())
        .find(|&i| text(&all, names::SERVICE_NAME, i).as_deref() == Some("BLOCK_STORAGE"))
        .expect("an Oracle block storage row");
    assert_eq!(text(&all, names::PROVIDER_NAME, oracle).as_deref(), Some("Oracle"));
    assert_eq!(units(&all, names::CONSUMED_QUANTITY, oracle), Some(631_720_430_107_000)); // 0.631720430107000
    assert_eq!(units(&all, names::BILLED_COST, oracle), Some(1_073_924_730_000)); // 0.00107392473
    assert_eq!(units(&all, names::CONTRACTED_COST, oracle), None);
    assert_eq!(text(&all, names::CHARGE_FREQUENCY, oracle).as_deref(), Some("Usage-Based"));

    // A key with a leading space is kept as written.
    let spaced = (0..all.num_rows())
        .filter_map(|i| pairs(&all, names::TAGS, i))
        .find(|p| p.iter().any(|(k, _)| k == " org"))
        .expect("the row with ' org'");
    assert!(spaced.contains(&("org".into(), Some("trey".into()))));

    for i in 0..all.num_rows() {
        assert_eq!(text(&all, names::X_SOURCE_FORMAT, i).as_deref(), Some("focus"));
        assert_eq!(text(&all, names::SERVICE_PROVIDER_NAME, i), text(&all, names::PROVIDER_NAME, i));
        assert_eq!(text(&all, names::HOST_PROVIDER_NAME, i), None);
        assert!(micros(&all, names::BILLING_PERIOD_END, i).is_some());
    }
    // Columns the lake has no place for ("Id") are dropped; there is no column for them to land in.
    assert!(costpilot_model::column("Id").is_none());
}

#[test]
fn the_sample_as_csv_gz_gives_the_same_totals() {
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("focus.csv.gz");
    let mut enc =
        flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::default());
    enc.write_all(&std::fs::read(sample()).unwrap()).unwrap();
    enc.finish().unwrap();
    let (batches, report) = read_ok(&gz);
    assert_eq!(report.rows_kept, 1000);
    assert_totals(&totals(&concat(&batches)), &duckdb_totals(&sample()));
}

/// Writes the sample as two Parquet files with pyarrow: one typed as a FOCUS Parquet export types
/// it (decimals, UTC timestamps, tags as a map), one with float costs and everything else as text.
fn sample_as_parquet(dir: &Path) -> (PathBuf, PathBuf) {
    let typed = dir.join("focus-typed.parquet");
    let plain = dir.join("focus-plain.parquet");
    let script = r#"
import csv, decimal, json, sys
import pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
src, typed_out, plain_out = sys.argv[1:4]
with open(src, newline="") as f:
    rows = list(csv.DictReader(f))
names = list(rows[0].keys())
def col(n):
    return [None if r[n] == "NULL" else r[n] for r in rows]
money = {"BilledCost", "EffectiveCost", "ListCost", "ContractedCost", "ListUnitPrice",
         "ContractedUnitPrice", "ConsumedQuantity", "PricingQuantity"}
dates = {"BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"}
typed, plain = [], []
for n in names:
    v = col(n)
    s = pa.array(v, pa.string())
    if n in money:
        typed.append(pa.array([None if x is None else decimal.Decimal(x) for x in v], pa.decimal128(38, 15)))
        plain.append(pa.array([None if x is None else float(x) for x in v], pa.float64()))
    elif n in dates:
        t = pc.strptime(s, format="%Y-%m-%d %H:%M:%S", unit="us")
        typed.append(pc.assume_timezone(t, "UTC"))
        plain.append(s)
    elif n == "Tags":
        typed.append(pa.array([None if x is None else list(json.loads(x).items()) for x in v],
                              pa.map_(pa.string(), pa.string())))
        plain.append(s)
    else:
        typed.append(s)
        plain.append(s)
pq.write_table(pa.table(typed, names=names), typed_out, row_group_size=300)
pq.write_table(pa.table(plain, names=names), plain_out)
"#;
    run_python(script, &[&sample(), &typed, &plain]);
    (typed, plain)
}

#[test]
fn the_sample_as_parquet_gives_the_same_totals_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let (typed, plain) = sample_as_parquet(dir.path());
    let expected = duckdb_totals(&sample());
    for path in [&typed, &plain] {
        let (batches, report) = read_ok(path);
        assert_eq!(report.rows_read, 1000, "{}", path.display());
        assert_eq!(report.rows_kept, 1000, "{}: {:?}", path.display(), report.examples);
        let all = concat(&batches);
        assert_totals(&totals(&all), &expected);
        assert_eq!(
            pairs(&all, names::TAGS, 1),
            Some(vec![
                ("application".into(), Some("BrightLensMatrix".into())),
                ("business_unit".into(), Some("ViennaAI".into())),
                ("environment".into(), Some("dev".into())),
            ])
        );
        assert_eq!(units(&all, names::CONSUMED_QUANTITY, 1), Some(2_007_490_000_000));
        assert_eq!(
            micros(&all, names::CHARGE_PERIOD_START, 1),
            Some(parse_timestamp_micros("2024-09-30T22:00:00Z").unwrap())
        );
    }
}

#[test]
fn focus_1_3_names_fill_the_deprecated_provider_columns() {
    let (batches, report) = read_ok(&testdata("focus_1.3_names.csv"));
    assert_eq!((report.rows_read, report.rows_kept), (2, 2));
    let b = concat(&batches);
    assert_eq!(text(&b, names::SERVICE_PROVIDER_NAME, 0).as_deref(), Some("Snowflake"));
    assert_eq!(text(&b, names::PROVIDER_NAME, 0).as_deref(), Some("Snowflake"));
    assert_eq!(text(&b, names::PUBLISHER_NAME, 0).as_deref(), Some("Snowflake"));
    assert_eq!(text(&b, names::HOST_PROVIDER_NAME, 0).as_deref(), Some("AWS"));
    assert_eq!(text(&b, names::HOST_PROVIDER_NAME, 1), None);
    assert_eq!(units(&b, names::BILLED_COST, 0), Some(12_345_678_901_234_567));
    assert_eq!(units(&b, names::EFFECTIVE_COST, 0), Some(10_000_000_000_000_001));
    assert_eq!(units(&b, names::BILLED_COST, 1), Some(-1_500_000_000_000_000));
    assert_eq!(text(&b, names::CHARGE_FREQUENCY, 0).as_deref(), Some("Usage-Based"));
    assert_eq!(text(&b, names::BILLING_CURRENCY, 0).as_deref(), Some("EUR"));
    assert_eq!(text(&b, names::X_USAGE_TYPE, 0).as_deref(), Some("Compute-Hours"));
    assert_eq!(
        pairs(&b, names::TAGS, 0),
        Some(vec![
            ("ha".into(), Some("true".into())),
            ("owner".into(), None),
            ("replicas".into(), Some("3".into())),
            ("team".into(), Some("data".into())),
        ])
    );
    assert_eq!(pairs(&b, names::TAGS, 1), Some(vec![]));
}

#[test]
fn old_aliases_map_and_billing_period_end_is_derived() {
    let (batches, report) = read_ok(&testdata("focus_old_aliases.csv"));
    assert_eq!((report.rows_read, report.rows_kept), (2, 2));
    let b = concat(&batches);
    assert_eq!(units(&b, names::EFFECTIVE_COST, 1), Some(150_000_000_000_000)); // AmortizedCost 0.15
    assert_eq!(text(&b, names::CHARGE_CATEGORY, 0).as_deref(), Some("Usage")); // ChargeType
    assert_eq!(units(&b, names::CONSUMED_QUANTITY, 0), Some(24_000_000_000_000_001)); // UsageQuantity
    assert_eq!(text(&b, names::CONSUMED_UNIT, 0).as_deref(), Some("Hours"));
    assert_eq!(text(&b, names::REGION_ID, 0).as_deref(), Some("westeurope"));
    assert_eq!(text(&b, names::INVOICE_ISSUER_NAME, 0).as_deref(), Some("Microsoft"));
    assert_eq!(text(&b, names::PROVIDER_NAME, 1).as_deref(), Some("Microsoft"));
    assert_eq!(text(&b, names::SERVICE_PROVIDER_NAME, 1).as_deref(), Some("Microsoft"));
    assert_eq!(text(&b, names::PUBLISHER_NAME, 1).as_deref(), Some("Contoso"));
    assert_eq!(
        micros(&b, names::BILLING_PERIOD_START, 0),
        Some(parse_timestamp_micros("2024-01-01T00:00:00Z").unwrap())
    );
    assert_eq!(
        micros(&b, names::BILLING_PERIOD_END, 0),
        Some(parse_timestamp_micros("2024-02-01T00:00:00Z").unwrap())
    );
    assert_eq!(
        micros(&b, names::CHARGE_PERIOD_END, 1),
        Some(parse_timestamp_micros("2024-01-31T02:00:00Z").unwrap())
    );
}

const HEADER: &str = "BilledCost,EffectiveCost,BillingAccountId,BillingCurrency,BillingPeriodStart,ChargeCategory,\
                      ChargePeriodStart,ChargePeriodEnd,ProviderName,Tags";
const GOOD: &str = "1.25,1.00,acct,USD,2024-09-01,Usage,2024-09-02T00:00:00Z,2024-09-02T01:00:00Z,AWS,";

fn write_csv(dir: &Path, name: &str, lines: &[&str]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn a_missing_required_column_refuses_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_csv(
        dir.path(),
        "no-effective.csv",
        &[
            "BilledCost,BillingAccountId,BillingCurrency,BillingPeriodStart,ChargeCategory,ChargePeriodStart,ChargePeriodEnd,ProviderName",
            "1,acct,USD,2024-09-01,Usage,2024-09-02,2024-09-03,AWS",
        ],
    );
    let err = read(&path, &ReadOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: missing required column 'EffectiveCost' for FOCUS", path.display())
    );

    let path = write_csv(
        dir.path(),
        "no-provider.csv",
        &[
            "BilledCost,EffectiveCost,BillingAccountId,BillingCurrency,BillingPeriodStart,ChargeCategory,ChargePeriodStart,ChargePeriodEnd",
            "1,1,acct,USD,2024-09-01,Usage,2024-09-02,2024-09-03",
        ],
    );
    let err = read(&path, &ReadOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: missing required column 'ServiceProviderName (or ProviderName)' for FOCUS",
            path.display()
        )
    );
}

#[test]
fn a_non_numeric_cost_names_file_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = "abc,1.00,acct,USD,2024-09-01,Usage,2024-09-02T00:00:00Z,2024-09-02T01:00:00Z,AWS,";
    let path = write_csv(dir.path(), "bad-cost.csv", &[HEADER, GOOD, bad, GOOD]);
    let err = read(&path, &strict()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: row 2, column 'BilledCost': not a number: 'abc' is not a number", path.display())
    );

    let (batches, report) = read(&path, &ReadOptions::default()).unwrap();
    assert_eq!((report.rows_read, report.rows_kept, report.rows_skipped()), (3, 2, 1));
    assert_eq!(report.skipped_by_reason, BTreeMap::from([("BilledCost: not a number".to_string(), 1)]));
    assert_eq!(report.examples[0].row, 2);
    assert_eq!(concat(&batches).num_rows(), 2);
}

#[test]
fn a_bad_date_names_file_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = "1,1,acct,USD,2024-09-01,Usage,2024-13-45T00:00:00Z,2024-09-02T01:00:00Z,AWS,";
    let path = write_csv(dir.path(), "bad-date.csv", &[HEADER, bad, GOOD]);
    let err = read(&path, &strict()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: row 1, column 'ChargePeriodStart': bad date: '2024-13-45T00:00:00Z' is not a date/time \
             (expected ISO 8601, e.g. 2024-09-01T00:00:00Z)",
            path.display()
        )
    );
    let (_, report) = read(&path, &ReadOptions::default()).unwrap();
    assert_eq!(report.skipped_by_reason, BTreeMap::from([("ChargePeriodStart: bad date".to_string(), 1)]));
}

#[test]
fn a_ragged_row_is_skipped_or_fails_in_strict_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_csv(dir.path(), "ragged.csv", &[HEADER, GOOD, "1,2,3", GOOD]);
    let err = read(&path, &strict()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: row 2, column '(whole row)': has 3 fields, the header has 10", path.display())
    );
    let (_, report) = read(&path, &ReadOptions::default()).unwrap();
    assert_eq!((report.rows_read, report.rows_kept), (3, 2));
    assert_eq!(
        report.skipped_by_reason,
        BTreeMap::from([("(whole row): has 3 fields, the header has 10".to_string(), 1)])
    );
}

#[test]
fn nulls_where_focus_requires_values_and_bad_tags_are_row_faults() {
    let dir = tempfile::tempdir().unwrap();
    let null_cost = "NULL,1.00,acct,USD,2024-09-01,Usage,2024-09-02T00:00:00Z,2024-09-02T01:00:00Z,AWS,";
    let null_currency = "1,1.00,acct,,2024-09-01,Usage,2024-09-02T00:00:00Z,2024-09-02T01:00:00Z,AWS,";
    let no_provider = "1,1.00,acct,USD,2024-09-01,Usage,2024-09-02T00:00:00Z,2024-09-02T01:00:00Z,NULL,";
    let bad_tags = "1,1.00,acct,USD,2024-09-01,Usage,2024-09-02T00:00:00Z,2024-09-02T01:00:00Z,AWS,team=web";
    let list_tags =
        r#"1,1.00,acct,USD,2024-09-01,Usage,2024-09-02T00:00:00Z,2024-09-02T01:00:00Z,AWS,"[""a""]""#;
    let path = write_csv(
        dir.path(),
        "nulls.csv",
        &[HEADER, null_cost, null_currency, no_provider, bad_tags, list_tags, GOOD],
    );
    let (batches, report) = read(&path, &ReadOptions::default()).unwrap();
    assert_eq!((report.rows_read, report.rows_kept), (6, 1));
    assert_eq!(
        report.skipped_by_reason,
        BTreeMap::from([
            ("BilledCost: is empty; FOCUS requires a value".to_string(), 1),
            ("BillingCurrency: is empty; FOCUS requires a value".to_string(), 1),
            ("ProviderName: is empty; FOCUS requires a provider name".to_string(), 1),
            ("Tags: not a JSON object".to_string(), 2),
        ])
    );
    assert_eq!(text(&concat(&batches), names::PROVIDER_NAME, 0).as_deref(), Some("AWS"));
    let err = read(&path, &strict()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: row 1, column 'BilledCost': is empty; FOCUS requires a value", path.display())
    );

    let path = write_csv(dir.path(), "tags.csv", &[HEADER, bad_tags]);
    let err = read(&path, &strict()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("{}: row 1, column 'Tags': not a JSON object: team=web (", path.display())),
        "{err}"
    );
}

#[test]
fn a_truncated_parquet_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (typed, _) = sample_as_parquet(dir.path());
    let bytes = std::fs::read(&typed).unwrap();
    let cut = dir.path().join("cut.parquet");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = discover(std::slice::from_ref(&cut), SourceKind::Focus).unwrap_err();
    assert!(matches!(err, IngestError::Parquet { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}: not a readable Parquet file: Parquet error: Invalid Parquet file. Corrupt footer",
            cut.display()
        )
    );
}
