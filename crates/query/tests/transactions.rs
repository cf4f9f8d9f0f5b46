//! Transactions: units, replacement, idempotence, abort, retirement and vacuum, manifest contents.

mod common;

use std::time::Duration;

use common::{batch, hash_dir, ingest, row, scalar, source};
use costpilot_lake::{LakeError, Manifest, Outcome, WriteOptions};
use costpilot_model::UnitKey;
use costpilot_query::{Sessions, open_lake};

fn key(provider: &str, account: &str, period: &str) -> UnitKey {
    UnitKey { provider: provider.into(), billing_account: account.into(), billing_period: period.into() }
}

#[tokio::test]
async fn a_commit_adds_units_split_by_provider_account_and_month() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap();
    let rows = vec![
        row("AWS", "111", "2024-09", "USD", "10.25").day(3),
        row("AWS", "111", "2024-09", "USD", "4.75").day(30),
        row("AWS", "222", "2024-09", "USD", "1.00"),
        row("AWS", "111", "2024-10", "USD", "2.50"),
        row("Microsoft", "111", "2024-09", "EUR", "7.10"),
    ];
    let report = ingest(&lake, "cur-a.parquet", &rows);
    assert_eq!(report.version, 1);
    let outcomes: Vec<(UnitKey, Outcome, u64)> =
        report.units.iter().map(|u| (u.key.clone(), u.outcome, u.rows)).collect();
    assert_eq!(
        outcomes,
        vec![
            (key("AWS", "111", "2024-09"), Outcome::Added, 2),
            (key("AWS", "111", "2024-10"), Outcome::Added, 1),
            (key("AWS", "222", "2024-09"), Outcome::Added, 1),
            (key("Microsoft", "111", "2024-09"), Outcome::Added, 1),
        ]
    );
    let manifest = lake.manifest().unwrap();
    let unit = manifest.unit(&key("AWS", "111", "2024-09")).unwrap();
    assert_eq!(unit.rows, 2);
    assert_eq!(unit.billed_cost.get("USD").map(String::as_str), Some("15.00"));
    assert_eq!(unit.files.len(), 1);
    assert!(unit.files[0].path.starts_with("data/provider=AWS/account=111/period=2024-09/"));
    assert!(dir.path().join("lake").join(&unit.files[0].path).is_file());
    assert_eq!(manifest.billed_cost().get("EUR").map(String::as_str), Some("7.10"));
    assert_eq!(manifest.billed_cost().get("USD").map(String::as_str), Some("18.50"));

    let session = lake.session().await.unwrap();
    assert_eq!(scalar(&session, "SELECT count(*) FROM focus").await, "5");
    assert_eq!(
        scalar(
            &session,
            "SELECT sum(BilledCost) FROM focus WHERE BillingAccountId = '111' AND BillingCurrency = 'USD'"
        )
        .await,
        "17.500000000000000"
    );
}

#[tokio::test]
async fn the_manifest_records_watermark_final_and_totals_per_currency() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap();
    let rows = vec![
        row("AWS", "111", "2024-09", "USD", "0.000000000000001").day(2).invoice("INV-1"),
        row("AWS", "111", "2024-09", "USD", "99.999999999999999").day(17).invoice("INV-1"),
        row("AWS", "111", "2024-09", "JPY", "-3.5").day(9).invoice("INV-2"),
        row("AWS", "222", "2024-09", "USD", "1").day(28).invoice("INV-3"),
        row("AWS", "222", "2024-09", "USD", "2").day(29),
    ];
    ingest(&lake, "cur.csv", &rows);
    let manifest = lake.manifest().unwrap();
    let a = manifest.unit(&key("AWS", "111", "2024-09")).unwrap();
    // 0.000000000000001 + 99.999999999999999 = 100 exactly; the JPY row stays apart.
    assert_eq!(a.billed_cost.get("USD").map(String::as_str), Some("100.00"));
    assert_eq!(a.billed_cost.get("JPY").map(String::as_str), Some("-3.50"));
    // The latest ChargePeriodEnd: the charge of the 17th ends on the 18th.
    assert_eq!(a.watermark.as_deref(), Some("2024-09-18T00:00:00Z"));
    assert!(a.is_final, "every row has an InvoiceId");
    assert_eq!(a.sources.len(), 1);
    assert_eq!(a.sources[0].sha256, source("cur.csv").sha256);
    let b = manifest.unit(&key("AWS", "222", "2024-09")).unwrap();
    assert!(!b.is_final, "one row has no InvoiceId yet");
    assert_eq!(b.watermark.as_deref(), Some("2024-09-30T00:00:00Z"));
    assert!(chrono::DateTime::parse_from_rfc3339(&b.ingested_at).is_ok());

    let text = std::fs::read_to_string(dir.path().join("lake/manifest.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let unit = &json["units"][0];
    assert_eq!(unit["final"], serde_json::json!(true));
    assert_eq!(unit["billed_cost"]["USD"], serde_json::json!("100.00"));
    assert_eq!(unit["key"]["billing_period"], serde_json::json!("2024-09"));
    let ingested = manifest.ingested(None);
    assert!(manifest.ingested(Some("another reading")).is_empty());
    assert!(ingested.contains(source("cur.csv").sha256.as_str()));
    assert!(!ingested.contains(source("other").sha256.as_str()));
    assert_eq!(ingested.len(), 1);
}

#[tokio::test]
async fn re_ingesting_a_unit_replaces_it_and_leaves_other_payers_alone() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap();
    ingest(
        &lake,
        "payer-1-v1",
        &[row("AWS", "111", "2024-09", "USD", "10"), row("AWS", "111", "2024-09", "USD", "5")],
    );
    ingest(&lake, "payer-2-v1", &[row("AWS", "222", "2024-09", "USD", "100")]);
    // A restatement of payer 1 with one line fewer and a corrected amount.
    let report = ingest(&lake, "payer-1-v2", &[row("AWS", "111", "2024-09", "USD", "12")]);
    assert_eq!(report.units.len(), 1);
    assert_eq!(report.units[0].outcome, Outcome::Replaced);
    let manifest = lake.manifest().unwrap();
    assert_eq!(manifest.version, 3);
    assert_eq!(manifest.unit(&key("AWS", "111", "2024-09")).unwrap().billed_cost["USD"], "12.00");
    assert_eq!(manifest.unit(&key("AWS", "222", "2024-09")).unwrap().billed_cost["USD"], "100.00");
    let session = lake.session().await.unwrap();
    assert_eq!(
        scalar(&session, "SELECT sum(BilledCost) FROM focus").await,
        "112.000000000000000",
        "12 for payer 1 (replaced) + 100 for payer 2 (kept)"
    );
    assert_eq!(scalar(&session, "SELECT count(*) FROM focus").await, "2");
}

#[tokio::test]
async fn committing_the_same_sources_again_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap();
    let rows = vec![row("AWS", "111", "2024-09", "USD", "10"), row("AWS", "111", "2024-10", "USD", "3")];
    ingest(&lake, "cur.parquet", &rows);
    let before = hash_dir(dir.path());
    let report = ingest(&lake, "cur.parquet", &rows);
    assert!(report.units.iter().all(|u| u.outcome == Outcome::Unchanged), "{report:?}");
    assert_eq!(report.version, 1);
    assert_eq!(hash_dir(dir.path()), before, "an idempotent commit leaves the lake byte-for-byte");
}

#[tokio::test]
async fn an_aborted_or_dropped_transaction_leaves_the_lake_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap();
    ingest(&lake, "v1", &[row("AWS", "111", "2024-09", "USD", "10")]);
    let before = hash_dir(dir.path());

    let mut txn = lake.begin().unwrap();
    txn.write(
        batch(&[row("AWS", "111", "2024-09", "USD", "99"), row("AWS", "333", "2024-09", "USD", "1")]),
        &source("v2"),
    )
    .unwrap();
    txn.abort();
    assert_eq!(hash_dir(dir.path()), before);

    {
        let mut txn = lake.begin().unwrap();
        txn.write(batch(&[row("AWS", "111", "2024-09", "USD", "99")]), &source("v3")).unwrap();
    }
    assert_eq!(hash_dir(dir.path()), before, "dropping without commit aborts");
    let session = lake.session().await.unwrap();
    assert_eq!(scalar(&session, "SELECT sum(BilledCost) FROM focus").await, "10.000000000000000");
}

#[tokio::test]
async fn a_refused_batch_names_the_file_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap();
    let good = batch(&[row("AWS", "111", "2024-09", "USD", "1"), row("AWS", "111", "2024-09", "USD", "2")]);
    let mut columns = good.columns().to_vec();
    let account = costpilot_model::index_of("BillingAccountId");
    columns[account] =
        std::sync::Arc::new(datafusion::arrow::array::StringArray::from(vec![Some("111"), None]));
    let bad = datafusion::arrow::array::RecordBatch::try_new(good.schema(), columns).unwrap();
    let mut txn = lake.begin().unwrap();
    let err = txn.write(bad, &source("bad.csv")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad.csv: row 2 of a batch has no BillingAccountId; every lake row needs ProviderName, \
         BillingAccountId, BillingPeriodStart and BillingCurrency"
    );
    let projected = good.project(&[0, 1]).unwrap();
    let err = txn.write(projected, &source("narrow.csv")).unwrap_err();
    assert!(err.to_string().starts_with("narrow.csv: the batch has 2 columns, the lake schema"), "{err}");
    // The transaction is still usable after a refused batch.
    txn.write(good, &source("good.csv")).unwrap();
    let report = txn.commit().unwrap();
    assert_eq!(report.units[0].rows, 2);
}

#[test]
fn one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap();
    let txn = lake.begin().unwrap();
    let err = lake.begin().unwrap_err();
    assert!(matches!(err, LakeError::Busy(_)), "{err}");
    assert!(err.to_string().contains("another costpilot process is writing to this lake"));
    assert!(matches!(lake.vacuum(Duration::ZERO), Err(LakeError::Busy(_))));
    drop(txn);
    lake.begin().unwrap().commit().unwrap();
}

#[test]
fn a_data_dir_that_is_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let err = open_lake(&file).unwrap_err();
    assert_eq!(err.to_string(), format!("{}: the data directory is a file, not a folder", file.display()));
}

/// The files of a one-file unit: its data file and one part per rollup.
const FILES_PER_UNIT: usize = 1 + costpilot_query::rollup::DEFINITIONS.len();

#[tokio::test]
async fn retired_files_survive_until_vacuum_past_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap();
    ingest(&lake, "v1", &[row("AWS", "111", "2024-09", "USD", "10")]);
    let old_file = dir.path().join("lake").join(&lake.manifest().unwrap().units()[0].files[0].path);
    let old_session = lake.session().await.unwrap();
    ingest(&lake, "v2", &[row("AWS", "111", "2024-09", "USD", "20")]);
    let manifest = lake.manifest().unwrap();
    assert_eq!(manifest.retired().len(), FILES_PER_UNIT, "its data file and rollup parts");
    assert!(old_file.is_file(), "a replaced unit's file stays for readers of older snapshots");
    // The older snapshot still reads its own files.
    assert_eq!(scalar(&old_session, "SELECT sum(BilledCost) FROM focus").await, "10.000000000000000");

    let report = lake.vacuum(Duration::from_secs(3600)).unwrap();
    assert_eq!((report.retired_deleted, report.retired_kept), (0, FILES_PER_UNIT));
    assert!(old_file.is_file());

    let report = lake.vacuum(Duration::ZERO).unwrap();
    assert_eq!((report.retired_deleted, report.retired_kept), (FILES_PER_UNIT, 0));
    assert!(!old_file.exists());
    assert!(lake.manifest().unwrap().retired().is_empty());
    // The old snapshot now says it is stale instead of summing what is left.
    let err = old_session.sql("SELECT sum(BilledCost) FROM focus").await.unwrap_err();
    assert!(matches!(err, costpilot_query::QueryError::Stale(_)), "{err}");
    let session = lake.session().await.unwrap();
    assert_eq!(scalar(&session, "SELECT sum(BilledCost) FROM focus").await, "20.000000000000000");
}

#[tokio::test]
async fn later_commits_delete_retired_files_past_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap().with_retention(Duration::ZERO);
    ingest(&lake, "v1", &[row("AWS", "111", "2024-09", "USD", "10")]);
    let first = dir.path().join("lake").join(&lake.manifest().unwrap().units()[0].files[0].path);
    ingest(&lake, "v2", &[row("AWS", "111", "2024-09", "USD", "20")]);
    assert!(first.is_file(), "retired by this commit, deleted only by a later one");
    let report = ingest(&lake, "other", &[row("AWS", "222", "2024-09", "USD", "1")]);
    assert_eq!(report.retired_deleted, FILES_PER_UNIT);
    assert!(!first.exists());
}

#[tokio::test]
async fn large_units_roll_over_files_and_many_units_stay_within_open_file_limits() {
    let dir = tempfile::tempdir().unwrap();
    let options = WriteOptions { row_group_rows: 7, file_rows: 10, ..Default::default() };
    let lake = open_lake(dir.path()).unwrap().with_write_options(options);
    let mut txn = lake.begin().unwrap();
    // 45 accounts (more than the open-file limit), 25 rows each, over 5 batches.
    for b in 0..5 {
        let rows: Vec<_> = (0..45)
            .flat_map(|a| {
                (0..5).map(move |i| {
                    row("AWS", &format!("acct-{a:02}"), "2024-09", "USD", &format!("{}.01", b * 5 + i))
                })
            })
            .collect();
        txn.write(batch(&rows), &source("big")).unwrap();
    }
    let report = txn.commit().unwrap();
    assert_eq!(report.units.len(), 45);
    let manifest = lake.manifest().unwrap();
    for unit in manifest.units() {
        assert_eq!(unit.rows, 25);
        assert_eq!(unit.files.iter().map(|f| f.rows).sum::<u64>(), 25);
        assert!(unit.files.len() >= 3, "25 rows in files of at most 10: {:?}", unit.files);
        // Σ (k + 0.01) for k = 0..25 = 300 + 0.25.
        assert_eq!(unit.billed_cost["USD"], "300.25");
    }
    let session = lake.session().await.unwrap();
    assert_eq!(scalar(&session, "SELECT count(*) FROM focus").await, "1125");
    assert_eq!(scalar(&session, "SELECT sum(BilledCost) FROM focus").await, "13511.250000000000000");
}

#[tokio::test]
async fn vacuum_deletes_orphans_and_staging_left_by_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap();
    ingest(&lake, "v1", &[row("AWS", "111", "2024-09", "USD", "10")]);
    let before = hash_dir(dir.path());
    let orphan_dir = dir.path().join("lake/data/provider=AWS/account=999/period=2024-09");
    std::fs::create_dir_all(&orphan_dir).unwrap();
    std::fs::write(orphan_dir.join("crashed-0.parquet"), b"PAR1").unwrap();
    std::fs::create_dir_all(dir.path().join("lake/staging/crashed")).unwrap();
    std::fs::write(dir.path().join("lake/staging/crashed/u0-0.parquet"), b"PAR1").unwrap();
    let report = lake.vacuum(Duration::from_secs(3600)).unwrap();
    assert_eq!(report.orphans_deleted, 2);
    assert_eq!(hash_dir(dir.path()), before);
}

#[tokio::test]
async fn an_empty_lake_has_an_empty_focus_table() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap();
    assert_eq!(lake.manifest().unwrap().version, 0);
    let session = lake.session().await.unwrap();
    let result =
        session.sql("SELECT ProviderName, sum(BilledCost) FROM focus GROUP BY ProviderName").await.unwrap();
    assert_eq!(result.num_rows(), 0);
    assert_eq!(result.schema.field(0).name(), "ProviderName");
    assert_eq!(scalar(&session, "SELECT count(*) FROM focus").await, "0");
}

/// Runs `script` (pyarrow) with the paths of the manifest's live data files as arguments and
/// parses the JSON it prints.
fn python_over_live_files(
    data_dir: &std::path::Path,
    manifest: &Manifest,
    script: &str,
) -> serde_json::Value {
    let files: Vec<String> = manifest
        .live_files()
        .map(|f| data_dir.join("lake").join(&f.path).to_string_lossy().into_owned())
        .collect();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    serde_json::from_str(&common::run_python(script, &args)).unwrap()
}

const READ_LAKE_FILES: &str = r#"
import json, sys
from decimal import Decimal
import pyarrow.parquet as pq
out = {"rows": 0, "row_groups": [], "sum": Decimal(0), "stats": True, "amount_stats": False}
for path in sys.argv[1:]:
    f = pq.ParquetFile(path)
    out["rows"] += f.metadata.num_rows
    for g in range(f.metadata.num_row_groups):
        rg = f.metadata.row_group(g)
        out["row_groups"].append(rg.num_rows)
        col = rg.column(f.schema_arrow.get_field_index("ChargePeriodStart"))
        out["stats"] = out["stats"] and col.statistics is not None and col.statistics.has_min_max
        col = rg.column(f.schema_arrow.get_field_index("BilledCost"))
        out["amount_stats"] = out["amount_stats"] or (col.statistics is not None and col.statistics.has_min_max)
    out["sum"] += sum(v for v in f.read(columns=["BilledCost"]).column(0).to_pylist() if v is not None)
out["sum"] = str(out["sum"])
print(json.dumps(out))
"#;

#[tokio::test]
async fn columns_encoded_in_parallel_read_back_with_pyarrow() {
    let dir = tempfile::tempdir().unwrap();
    let options = WriteOptions { row_group_rows: 5000, threads: 3, ..Default::default() };
    let lake = open_lake(dir.path()).unwrap().with_write_options(options);
    // 20,000 lines of i/100 for i = 0..20000: Σ = 19999·20000/2/100 = 1,999,900.
    let rows: Vec<_> = (0..20_000)
        .map(|i| row("AWS", "111", "2024-09", "USD", &format!("{}.{:02}", i / 100, i % 100)).day(i % 28 + 1))
        .collect();
    let mut txn = lake.begin().unwrap();
    txn.write(batch(&rows[..12_000]), &source("part-1")).unwrap();
    txn.write(batch(&rows[12_000..]), &source("part-2")).unwrap();
    txn.commit().unwrap();
    let manifest = lake.manifest().unwrap();
    assert_eq!(manifest.units()[0].billed_cost["USD"], "1999900.00");
    let got = python_over_live_files(dir.path(), &manifest, READ_LAKE_FILES);
    assert_eq!(got["rows"], 20_000);
    assert_eq!(got["row_groups"], serde_json::json!([5000, 5000, 5000, 5000]));
    assert_eq!(got["sum"], "1999900.000000000000000");
    assert_eq!(got["stats"], true, "row groups carry min/max statistics of the timestamps");
    assert_eq!(got["amount_stats"], false, "amounts carry no statistics");
    let session = lake.session().await.unwrap();
    assert_eq!(scalar(&session, "SELECT sum(BilledCost) FROM focus").await, "1999900.000000000000000");
}

const COMPARE_AMOUNTS: &str = r#"
import json, sys
import pyarrow.parquet as pq
out = {"rows": 0, "row_groups": 0, "billed": "0", "effective": "0", "list": "0", "differ": 0}
sums = {"billed": 0, "effective": 0, "list": 0}
for path in sys.argv[1:]:
    f = pq.ParquetFile(path)
    out["row_groups"] += f.metadata.num_row_groups
    t = f.read(columns=["BilledCost", "EffectiveCost", "ListCost"])
    b, e, l = (t.column(i).to_pylist() for i in range(3))
    out["rows"] += len(b)
    sums["billed"] += sum(b); sums["effective"] += sum(e); sums["list"] += sum(l)
    out["differ"] += sum(1 for x, y in zip(b, e) if x != y)
for k, v in sums.items():
    out[k] = str(v)
print(json.dumps(out))
"#;

/// Columns with the same rows share one encoding while they do (the writer encodes EffectiveCost
/// once while it equals BilledCost); when they part in the middle of a row group, each column
/// still reads back exactly its own values.
#[tokio::test]
async fn columns_equal_for_a_while_read_back_their_own_values() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap();
    let cents = |i: i64| format!("{}.{:02}", i / 100, i % 100);
    // Three batches of 1,000 lines of i/100 for i = 1..=3000 in one row group: Σ billed =
    // 3000·3001/2/100 = 45,015. In the second batch every seventh line's EffectiveCost is one
    // cent less: 143 lines (i = 1001, 1008, ..., 1995), so Σ effective = 45,015 − 1.43.
    let batches: Vec<Vec<_>> = (0..3)
        .map(|b| {
            (1..=1000)
                .map(|k| {
                    let i = b * 1000 + k;
                    let line = row("AWS", "111", "2024-09", "USD", &cents(i)).day((i % 28 + 1) as u32);
                    if b == 1 && (i - 1001) % 7 == 0 { line.effective(&cents(i - 1)) } else { line }
                })
                .collect()
        })
        .collect();
    let mut txn = lake.begin().unwrap();
    for (n, rows) in batches.iter().enumerate() {
        txn.write(batch(rows), &source(&format!("part-{n}"))).unwrap();
    }
    txn.commit().unwrap();
    let got = python_over_live_files(dir.path(), &lake.manifest().unwrap(), COMPARE_AMOUNTS);
    assert_eq!((got["rows"].as_u64(), got["row_groups"].as_u64()), (Some(3000), Some(1)));
    assert_eq!(got["billed"], "45015.000000000000000");
    assert_eq!(got["list"], "45015.000000000000000");
    assert_eq!(got["effective"], "45013.570000000000000");
    assert_eq!(got["differ"], 143);
    let session = lake.session().await.unwrap();
    assert_eq!(scalar(&session, "SELECT sum(EffectiveCost) FROM focus").await, "45013.570000000000000");
}

const AMOUNTS_IN_FILE_ORDER: &str = r#"
import json, sys
import pyarrow.parquet as pq
out = []
for path in sys.argv[1:]:
    f = pq.ParquetFile(path)
    t = f.read(columns=["BillingAccountId", "BilledCost", "EffectiveCost"])
    out.append({
        "account": t.column(0)[0].as_py(),
        "row_groups": [f.metadata.row_group(g).num_rows for g in range(f.metadata.num_row_groups)],
        "billed": [str(v) for v in t.column(1).to_pylist()],
        "effective": [str(v) for v in t.column(2).to_pylist()],
    })
print(json.dumps(out))
"#;

/// A batch of two accounts in runs reaches the writer as several slices per account, encoded
/// together: row groups and files are still cut at their limits, inside a slice where need be,
/// and a column that stops mirroring another in a later slice keeps exactly its own values.
#[tokio::test]
async fn slices_of_one_unit_encoded_together_keep_their_order_limits_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let options = WriteOptions { row_group_rows: 700, file_rows: 1500, threads: 2, ..Default::default() };
    let lake = open_lake(dir.path()).unwrap().with_write_options(options);
    let cents = |i: usize| format!("{}.{:02}", i / 100, i % 100);
    // Eight runs of 500 lines, accounts 111 and 222 in turn; line i bills i/100. In the third run
    // of 111 (lines 2000..2500) every seventh line's EffectiveCost is one cent less.
    let effective = |i: usize| if (2000..2500).contains(&i) && i.is_multiple_of(7) { i - 1 } else { i };
    let account = |i: usize| ["111", "222"][(i / 500) % 2];
    let rows: Vec<_> = (1..=4000)
        .map(|i| {
            row("AWS", account(i - 1), "2024-09", "USD", &cents(i))
                .day((i % 28 + 1) as u32)
                .effective(&cents(effective(i)))
        })
        .collect();
    let mut txn = lake.begin().unwrap();
    txn.write(batch(&rows), &source("runs")).unwrap();
    txn.commit().unwrap();

    let got = python_over_live_files(dir.path(), &lake.manifest().unwrap(), AMOUNTS_IN_FILE_ORDER);
    let mut files: Vec<&serde_json::Value> = got.as_array().unwrap().iter().collect();
    let first = |f: &serde_json::Value| f["billed"][0].as_str().unwrap().parse::<f64>().unwrap();
    files.sort_by(|a, b| {
        (a["account"].as_str(), first(a)).partial_cmp(&(b["account"].as_str(), first(b))).unwrap()
    });
    let layout: Vec<_> =
        files.iter().map(|f| (f["account"].as_str().unwrap(), f["row_groups"].clone())).collect();
    // Each account's four slices come in one write: the file ends after the slice that brings it
    // to 1,500 rows, row groups at 700 rows.
    let groups = |g: &[u64]| serde_json::json!(g);
    assert_eq!(
        layout,
        [
            ("111", groups(&[700, 700, 100])),
            ("111", groups(&[500])),
            ("222", groups(&[700, 700, 100])),
            ("222", groups(&[500]))
        ]
    );
    for name in ["111", "222"] {
        let column = |c: &str| -> Vec<String> {
            let of = files.iter().filter(|f| f["account"] == name);
            of.flat_map(|f| f[c].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()))
                .collect()
        };
        let lines: Vec<usize> = (1..=4000).filter(|&i| account(i - 1) == name).collect();
        let decimal = |i: usize| format!("{}.{:02}0000000000000", i / 100, i % 100);
        assert_eq!(column("billed"), lines.iter().map(|&i| decimal(i)).collect::<Vec<_>>(), "{name}");
        assert_eq!(
            column("effective"),
            lines.iter().map(|&i| decimal(effective(i))).collect::<Vec<_>>(),
            "{name}"
        );
    }
}

const ROW_GROUPS: &str = r#"
import json, sys
import pyarrow.parquet as pq
print(json.dumps([[pq.ParquetFile(p).metadata.row_group(g).num_rows for g in range(pq.ParquetFile(p).metadata.num_row_groups)] for p in sys.argv[1:]]))
"#;

#[tokio::test]
async fn row_groups_in_progress_are_flushed_early_beyond_the_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    // No budget at all: every row group in progress is flushed after each batch.
    let options = WriteOptions { memory_budget: 0, ..Default::default() };
    let lake = open_lake(dir.path()).unwrap().with_write_options(options);
    let mut txn = lake.begin().unwrap();
    for (account, n) in [("111", 100), ("222", 50), ("111", 30), ("222", 20), ("111", 7)] {
        let rows: Vec<_> = (0..n).map(|_| row("AWS", account, "2024-09", "USD", "1")).collect();
        txn.write(batch(&rows), &source("interleaved")).unwrap();
    }
    txn.commit().unwrap();
    let manifest = lake.manifest().unwrap();
    let got = python_over_live_files(dir.path(), &manifest, ROW_GROUPS);
    assert_eq!(got, serde_json::json!([[100, 30, 7], [50, 20]]));
}

#[tokio::test]
async fn a_transaction_whose_writer_failed_cannot_commit() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap();
    ingest(&lake, "v1", &[row("AWS", "111", "2024-09", "USD", "10")]);
    let before = lake.manifest().unwrap();
    let mut txn = lake.begin().unwrap();
    // The staging folder vanishing makes the writer thread fail to create its file.
    std::fs::remove_dir_all(dir.path().join("lake/staging").join(txn.id())).unwrap();
    let written = txn.write(batch(&[row("AWS", "111", "2024-09", "USD", "99")]), &source("v2"));
    let again = txn.write(batch(&[row("AWS", "111", "2024-09", "USD", "1")]), &source("v2"));
    let err = txn.commit().unwrap_err();
    assert!(err.to_string().contains("staging"), "{err} (writes: {written:?}, {again:?})");
    assert_eq!(lake.manifest().unwrap(), before);
    let session = lake.session().await.unwrap();
    assert_eq!(scalar(&session, "SELECT sum(BilledCost) FROM focus").await, "10.000000000000000");
}

#[tokio::test]
async fn batches_mixing_units_in_runs_or_interleaved_file_every_row_in_its_unit() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap();
    let line = |account: &str, i: usize| {
        let r = row("AWS", account, "2024-09", "USD", &format!("{}.25", i + 1)).day(i as u32 % 28 + 1);
        if i.is_multiple_of(3) { r } else { r.tags(&[("team", &format!("t{}", i % 5)), ("env", "prod")]) }
    };
    // Three runs (sliced, nothing copied), then rows alternating by account (gathered by unit).
    let runs: Vec<_> = (0..30).map(|i| line(["111", "222", "111"][i / 10], i)).collect();
    let alternating: Vec<_> = (30..70).map(|i| line(["111", "222"][i % 2], i)).collect();
    let mut txn = lake.begin().unwrap();
    txn.write(batch(&runs), &source("runs")).unwrap();
    txn.write(batch(&alternating), &source("alternating")).unwrap();
    txn.commit().unwrap();

    let mut want: std::collections::BTreeMap<&str, (usize, f64, Vec<String>)> = Default::default();
    for (i, account) in (0..30)
        .map(|i| (i, ["111", "222", "111"][i / 10]))
        .chain((30..70).map(|i| (i, ["111", "222"][i % 2])))
    {
        let e = want.entry(account).or_default();
        e.0 += 1;
        e.1 += (i + 1) as f64 + 0.25;
        if !i.is_multiple_of(3) {
            e.2.push(format!("t{}", i % 5));
        }
    }
    let session = lake.session().await.unwrap();
    for (account, (rows, sum, mut teams)) in want {
        let sql = format!(
            "SELECT concat(count(*), ' ', sum(BilledCost)) FROM focus WHERE SubAccountId = '{account}'"
        );
        assert_eq!(scalar(&session, &sql).await, format!("{rows} {sum:.15}"), "{account}");
        let sql = format!(
            "SELECT array_to_string(array_agg(Tags['team'] ORDER BY BilledCost), ',') FROM focus \
             WHERE SubAccountId = '{account}' AND Tags['team'] IS NOT NULL"
        );
        teams.sort_by_key(|t| t.clone());
        let got = scalar(&session, &sql).await;
        let mut got_sorted: Vec<&str> = got.split(',').collect();
        got_sorted.sort();
        assert_eq!(got_sorted, teams.iter().map(String::as_str).collect::<Vec<_>>(), "{account}");
    }
}
