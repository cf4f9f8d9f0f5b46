//! FOCUS exports: columns per version, CSV and Parquet read back independently (pyarrow, DuckDB),
//! and the FinOps Foundation's validator.

mod common;

use std::path::{Path, PathBuf};

use common::{ingest, row, run_python};
use costpilot_lake::Lake;
use costpilot_model::FocusVersion;
use costpilot_query::{ExportFormat, QueryError, Sessions, export_columns, open_lake};

/// USD: 10.10 + 0.000000000000001 + 3 = 13.100000000000001; EUR: 20.25 - 0.5 = 19.75.
/// Every row has an InvoiceId, as a closed month's bill has (the validator wants InvoiceId either
/// on every row or on none).
fn lake(dir: &Path) -> Lake {
    let lake = open_lake(dir).unwrap();
    ingest(
        &lake,
        "aws.parquet",
        &[
            row("AWS", "111", "2024-09", "USD", "10.10")
                .day(1)
                .invoice("INV-1")
                .tags(&[("env", "prod"), ("team", "a \"quoted\" name")]),
            row("AWS", "111", "2024-09", "USD", "0.000000000000001").day(2).invoice("INV-1").tags(&[]),
            row("AWS", "222", "2024-10", "USD", "3").day(5).invoice("INV-9"),
        ],
    );
    ingest(
        &lake,
        "azure.csv",
        &[
            row("Microsoft", "ea-1", "2024-09", "EUR", "20.25")
                .day(1)
                .invoice("E-1")
                .tags(&[("cost-center", "4711")]),
            row("Microsoft", "ea-1", "2024-09", "EUR", "-0.5").day(30).invoice("E-1"),
        ],
    );
    lake
}

fn validator() -> PathBuf {
    match std::env::var_os("COSTPILOT_FOCUS_VALIDATE") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/focus-validate"),
    }
}

#[test]
fn export_columns_follow_the_version_in_focus_order_then_x_columns() {
    let names = |v| export_columns(v).iter().map(|c| c.name).collect::<Vec<_>>();
    let v10 = names(FocusVersion::V1_0);
    let v12 = names(FocusVersion::V1_2);
    let v13 = names(FocusVersion::V1_3);
    assert_eq!(
        &v12[..5],
        ["AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingAccountType"]
    );
    let focus12: Vec<&str> = v12.iter().copied().filter(|n| !n.starts_with("x_")).collect();
    assert_eq!(focus12.len(), 57);
    let mut sorted = focus12.clone();
    sorted.sort();
    assert_eq!(focus12, sorted, "FOCUS lists its columns alphabetically");
    assert!(v12.iter().skip_while(|n| !n.starts_with("x_")).all(|n| n.starts_with("x_")), "x_ columns last");
    for added_later in [
        "BillingAccountType",
        "InvoiceId",
        "PricingCurrency",
        "SubAccountType",
        "SkuMeter",
        "CapacityReservationId",
    ] {
        assert!(!v10.contains(&added_later), "{added_later} is not FOCUS 1.0");
    }
    assert!(!v12.contains(&"ServiceProviderName"));
    let sp = v13.iter().position(|n| *n == "ServiceProviderName").unwrap();
    let sn = v13.iter().position(|n| *n == "ServiceName").unwrap();
    assert_eq!(sp, sn + 1, "1.3 columns take their alphabetical place");
    assert!(v13.contains(&"HostProviderName"));
}

const READ_PARQUET: &str = r#"
import json, sys
from decimal import Decimal
import pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
rows = t.to_pylist()
totals = {}
for r in rows:
    totals[r["BillingCurrency"]] = totals.get(r["BillingCurrency"], Decimal(0)) + r["BilledCost"]
tags = sorted(r["Tags"] for r in rows if r["Tags"] is not None)
print(json.dumps({
    "columns": t.column_names,
    "rows": t.num_rows,
    "billed": str(t.schema.field("BilledCost").type),
    "start": str(t.schema.field("ChargePeriodStart").type),
    "tags_type": str(t.schema.field("Tags").type),
    "totals": {c: str(v) for c, v in sorted(totals.items())},
    "tags": [json.loads(x) for x in tags],
    "first_start": min(r["ChargePeriodStart"] for r in rows).isoformat(),
    "null_invoices": sum(1 for r in rows if r["AvailabilityZone"] is None),
}))
"#;

const READ_CSV: &str = r#"
import csv, json, sys
import duckdb
path = sys.argv[1]
con = duckdb.connect()
totals = con.execute(
    "SELECT BillingCurrency, CAST(sum(CAST(BilledCost AS DECIMAL(38, 15))) AS VARCHAR) "
    "FROM read_csv(?, all_varchar = true, header = true) GROUP BY 1 ORDER BY 1", [path]).fetchall()
with open(path, newline="") as f:
    rows = list(csv.DictReader(f))
header = list(rows[0].keys())
print(json.dumps({
    "columns": header,
    "rows": len(rows),
    "totals": {c: v for c, v in totals},
    "tags": sorted((json.loads(r["Tags"]) for r in rows if r["Tags"] != ""), key=json.dumps),
    "starts": sorted(r["ChargePeriodStart"] for r in rows)[:2],
    "billed": sorted(r["BilledCost"] for r in rows)[:2],
    "empty_zone": sum(1 for r in rows if r["AvailabilityZone"] == ""),
}))
"#;

#[tokio::test]
async fn parquet_and_csv_exports_read_back_with_pyarrow_and_duckdb() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    let expected_columns: Vec<String> =
        export_columns(FocusVersion::V1_2).iter().map(|c| c.name.to_string()).collect();

    let parquet = dir.path().join("focus.parquet");
    let report = session.export(FocusVersion::V1_2, &parquet).await.unwrap();
    assert_eq!((report.format, report.rows), (ExportFormat::Parquet, 5));
    assert_eq!(report.columns, expected_columns);
    assert_eq!(report.billed_cost["USD"], "13.100000000000001");
    let got: serde_json::Value =
        serde_json::from_str(&run_python(READ_PARQUET, &[parquet.to_str().unwrap()])).unwrap();
    assert_eq!(got["columns"], serde_json::json!(expected_columns));
    assert_eq!(got["rows"], 5);
    assert_eq!(got["billed"], "decimal128(38, 15)");
    assert_eq!(got["start"], "timestamp[us, tz=UTC]");
    assert_eq!(got["tags_type"], "string");
    assert_eq!(got["totals"], serde_json::json!({"EUR": "19.750000000000000", "USD": "13.100000000000001"}));
    assert_eq!(
        got["tags"],
        serde_json::json!([{"cost-center": "4711"}, {"env": "prod", "team": "a \"quoted\" name"}, {}])
    );
    assert_eq!(got["first_start"], "2024-09-01T00:00:00+00:00");
    assert_eq!(got["null_invoices"], 5, "an unset column stays null");

    let csv = dir.path().join("focus.csv");
    let report = session.export(FocusVersion::V1_2, &csv).await.unwrap();
    assert_eq!((report.format, report.rows), (ExportFormat::Csv, 5));
    let got: serde_json::Value =
        serde_json::from_str(&run_python(READ_CSV, &[csv.to_str().unwrap()])).unwrap();
    assert_eq!(got["columns"], serde_json::json!(expected_columns));
    assert_eq!(got["rows"], 5);
    assert_eq!(got["totals"], serde_json::json!({"EUR": "19.750000000000000", "USD": "13.100000000000001"}));
    assert_eq!(
        got["tags"],
        serde_json::json!([{"cost-center": "4711"}, {"env": "prod", "team": "a \"quoted\" name"}, {}])
    );
    assert_eq!(got["starts"], serde_json::json!(["2024-09-01T00:00:00Z", "2024-09-01T00:00:00Z"]));
    assert_eq!(got["billed"], serde_json::json!(["-0.500000000000000", "0.000000000000001"]));
    assert_eq!(got["empty_zone"], 5);
}

/// focus-validator 2.2.1 checks InvoiceId-C-004-C ("MUST be null") and InvoiceId-C-005-C ("MUST
/// NOT be null") as two unconditional rules and reports the one that does not hold as failed even
/// though their OR (InvoiceId-C-003-C) passes: every file with an InvoiceId column fails exactly
/// one of them, whatever its values (and a file without the column fails seven rules). That one
/// is tolerated here; any other failed rule fails the test.
const INVOICE_ALTERNATIVES: [&str; 2] = ["InvoiceId-C-004-C", "InvoiceId-C-005-C"];

#[tokio::test]
async fn exports_pass_the_focus_validator() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    for name in ["focus.parquet", "focus.csv"] {
        let out = dir.path().join(name);
        session.export(FocusVersion::V1_2, &out).await.unwrap();
        let run = std::process::Command::new(validator()).arg(&out).output().unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout);
        let report = format!("{name}:\n{stdout}\n{}", String::from_utf8_lossy(&run.stderr));
        assert!(matches!(run.status.code(), Some(0 | 1)), "the validator did not run: {report}");
        let failed: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("FAILED "))
            .map(|l| l.split(' ').next().unwrap_or(""))
            .collect();
        assert!(failed.iter().all(|r| INVOICE_ALTERNATIVES.contains(r)), "{report}");
        assert!(failed.len() <= 1, "one of the InvoiceId alternatives holds: {report}");
        let last = stdout.lines().last().unwrap_or("");
        assert!(last.contains(&format!(" {} failed", failed.len())), "{report}");
        let passed: u32 = last.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
        assert!(passed >= 130, "the validator ran its rules: {report}");
    }
}

#[tokio::test]
async fn an_export_needs_a_known_extension_and_a_failed_one_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let session = lake.session().await.unwrap();
    let err = session.export(FocusVersion::V1_2, &dir.path().join("focus.json")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the export format is taken from the file's extension, which must be .parquet or .csv",
            dir.path().join("focus.json").display()
        )
    );
    let err = session.export(FocusVersion::V1_2, &dir.path().join("missing/focus.csv")).await.unwrap_err();
    assert!(matches!(err, QueryError::Export { .. }), "{err}");

    // A data file damaged after the session opened makes the export fail part-way.
    let manifest = lake.manifest().unwrap();
    let victim = dir.path().join("lake").join(&manifest.units().last().unwrap().files[0].path);
    let mut bytes = std::fs::read(&victim).unwrap();
    // Garble the first page header, keeping the footer readable so the scan starts.
    bytes[4..68].fill(0xFF);
    std::fs::write(&victim, bytes).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let err = session.export(FocusVersion::V1_2, &out_dir.join("focus.parquet")).await.unwrap_err();
    assert!(matches!(err, QueryError::Export { .. }), "{err}");
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0, "no partial or temporary file is left");
}
