//! Source discovery: format detection by columns, folder walking, checksums and delivery manifests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use costpilot_ingest::raw::Container;
use costpilot_ingest::source::ManifestLayout;
use costpilot_ingest::{Checksums, IngestError, SkipReason, SourceFile, SourceKind, discover, discover_all};
use datafusion::arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use datafusion::parquet::arrow::ArrowWriter;

const CUR2: &str = "bill_payer_account_id,line_item_line_item_type,line_item_unblended_cost,line_item_usage_start_date\n\
                    111122223333,Usage,1.5,2024-09-01T00:00:00Z\n";
const LEGACY: &str = "identity/LineItemId,bill/PayerAccountId,lineItem/LineItemType,lineItem/UnblendedCost\n\
                      li-1,111122223333,Usage,1.5\n";
const FOCUS: &str = "BilledCost,EffectiveCost,BillingAccountId,BillingCurrency,ChargePeriodStart\n\
                     1.5,1.5,acct,USD,2024-09-01T00:00:00Z\n";

fn manifests() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/manifests")
}

fn write(path: &Path, content: &[u8]) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    path.to_path_buf()
}

fn gzip(text: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap()
}

fn parquet(columns: Vec<(&str, ArrayRef)>) -> Vec<u8> {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

fn one(path: &Path, kind: SourceKind) -> Result<SourceFile, IngestError> {
    let mut files = discover(&[path.to_path_buf()], kind)?;
    assert_eq!(files.len(), 1, "{files:?}");
    Ok(files.remove(0))
}

/// Paths relative to `root`, with `/` separators, for comparing listings.
fn relative(files: &[SourceFile], root: &Path) -> Vec<String> {
    files.iter().map(|f| f.path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/")).collect()
}

#[test]
fn formats_are_told_by_their_columns_not_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cur2 = one(&write(&d.join("a.txt.data"), CUR2.as_bytes()), SourceKind::Auto).unwrap();
    assert_eq!((cur2.kind, cur2.container), (SourceKind::Cur2, Container::Csv));
    let legacy = one(&write(&d.join("focus.csv.gz"), &gzip(LEGACY)), SourceKind::Auto).unwrap();
    assert_eq!((legacy.kind, legacy.container), (SourceKind::CurLegacy, Container::CsvGz));
    let focus = one(&write(&d.join("cur.csv"), FOCUS.as_bytes()), SourceKind::Auto).unwrap();
    assert_eq!((focus.kind, focus.container), (SourceKind::Focus, Container::Csv));

    // A ".csv" that is really Parquet, with FOCUS columns.
    let bytes = parquet(vec![
        ("BilledCost", Arc::new(Float64Array::from(vec![1.5])) as ArrayRef),
        ("ChargePeriodStart", Arc::new(StringArray::from(vec!["2024-09-01"]))),
        ("x_ServiceCode", Arc::new(StringArray::from(vec!["AmazonEC2"]))),
    ]);
    let pq = one(&write(&d.join("export.csv"), &bytes), SourceKind::Auto).unwrap();
    assert_eq!((pq.kind, pq.container), (SourceKind::Focus, Container::Parquet));
    assert_eq!(pq.bytes, bytes.len() as u64);
}

#[test]
fn an_unknown_csv_is_refused_listing_what_was_seen() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir.path().join("costs.csv"), b"date,amount,team\n2024-09-01,3.5,web\n");
    let err = discover(std::slice::from_ref(&path), SourceKind::Auto).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: cannot tell the format from its columns (saw columns date, amount, team; expected at least 2 of \
             the columns of CUR 2.0 (line_item_line_item_type, line_item_unblended_cost, bill_payer_account_id, \
             ...), legacy CUR (lineItem/LineItemType, lineItem/UnblendedCost, identity/LineItemId, ...) or FOCUS \
             (BilledCost, ChargePeriodStart, BillingAccountId, ...)); pass --source",
            path.display()
        )
    );
    // Named explicitly, the reader is left to say which columns it lacks.
    assert_eq!(one(&path, SourceKind::Focus).unwrap().kind, SourceKind::Focus);
}

#[test]
fn an_explicit_format_the_columns_contradict_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir.path().join("export.csv"), FOCUS.as_bytes());
    let err = discover(std::slice::from_ref(&path), SourceKind::Cur2).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: read as CUR 2.0 but its columns are FOCUS (BilledCost, EffectiveCost, BillingAccountId); pass \
             --source focus or --source auto",
            path.display()
        )
    );
    assert_eq!(one(&path, SourceKind::Focus).unwrap().kind, SourceKind::Focus);
}

#[test]
fn folders_are_walked_in_order_skipping_hidden_and_non_data_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(&d.join("b/2.csv"), FOCUS.as_bytes());
    write(&d.join("b/1.csv.gz"), &gzip(FOCUS));
    write(&d.join("a.csv"), CUR2.as_bytes());
    write(&d.join(".hidden.csv"), b"junk");
    write(&d.join(".git/x.csv"), b"junk");
    write(&d.join("_SUCCESS"), b"");
    write(&d.join("notes.md"), b"# notes\n");
    write(&d.join("create-table.sql"), b"CREATE TABLE x (a int);\n");
    write(&d.join("settings"), b"{\"a\": 1}\n");
    write(
        &d.join("status.parquet"),
        &parquet(vec![("status", Arc::new(StringArray::from(vec!["READY"])) as ArrayRef)]),
    );
    let files = discover(&[d.to_path_buf()], SourceKind::Auto).unwrap();
    assert_eq!(relative(&files, d), ["a.csv", "b/1.csv.gz", "b/2.csv"]);
    assert_eq!(
        files.iter().map(|f| f.kind).collect::<Vec<_>>(),
        [SourceKind::Cur2, SourceKind::Focus, SourceKind::Focus]
    );
    assert!(files.iter().all(|f| f.delivery.is_none()));
    // The same folder twice, or a file inside it again, is read once.
    let again = discover(&[d.to_path_buf(), d.join("b/2.csv"), d.to_path_buf()], SourceKind::Auto).unwrap();
    assert_eq!(relative(&again, d), ["a.csv", "b/1.csv.gz", "b/2.csv"]);
}

#[test]
fn checksums_are_the_sha256_of_the_bytes() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/focus/focus_1.0_sample_1000.csv");
    let f = one(&sample, SourceKind::Auto).unwrap();
    assert_eq!(f.bytes, 755_423);
    assert_eq!(f.kind, SourceKind::Focus);
    // sha256sum of the FinOps Foundation's file, of a file of three bytes and of the first again:
    // in the order given, whichever thread finishes first.
    let dir = tempfile::tempdir().unwrap();
    let abc = write(&dir.path().join("abc.csv"), b"abc");
    let sums: Vec<String> =
        Checksums::start(vec![sample, abc.clone(), sample_copy(&dir)]).map(Result::unwrap).collect();
    assert_eq!(
        sums,
        [
            "e91e5ac7edf01ed2c9d926f37ef7dc1ae2aae97956fea8da6c9ee488b1c2839e",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "e91e5ac7edf01ed2c9d926f37ef7dc1ae2aae97956fea8da6c9ee488b1c2839e",
        ]
    );
    // A file that vanished is named in its checksum's error; the others are still given.
    let gone = dir.path().join("gone.csv");
    let mut sums = Checksums::start(vec![abc.clone(), gone.clone(), abc]);
    assert!(sums.next().unwrap().is_ok());
    let err = sums.next().unwrap().unwrap_err().to_string();
    assert!(err.starts_with(&gone.display().to_string()), "{err}");
    assert_eq!(
        sums.next().unwrap().unwrap(),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert!(sums.next().is_none());
}

/// A copy of the FOCUS sample in `dir`.
fn sample_copy(dir: &tempfile::TempDir) -> PathBuf {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/focus/focus_1.0_sample_1000.csv");
    let copy = dir.path().join("copy.csv");
    std::fs::copy(sample, &copy).unwrap();
    copy
}

#[test]
fn a_zip_archive_is_refused_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir.path().join("report-1.csv.zip"), b"PK\x03\x04rest-of-a-zip");
    let err = discover(std::slice::from_ref(&path), SourceKind::Auto).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: cannot tell the format from its columns (it is a ZIP archive; unzip it and ingest the CSV inside); \
             pass --source",
            path.display()
        )
    );
}

#[test]
fn data_exports_ingest_only_the_current_delivery() {
    let export = manifests().join("data-exports/cur-create-new");
    let current = "data/BILLING_PERIOD=2024-09/20240920T040506Z-9b2f4e61-exec-0920";
    let expected =
        [format!("{current}/cur-create-new-00001.csv.gz"), format!("{current}/cur-create-new-00002.csv.gz")];
    // From the export's root, and from the period's data folder alone (the manifest is found in the
    // sibling metadata folder).
    for start in [export.clone(), export.join("data/BILLING_PERIOD=2024-09")] {
        let files = discover(std::slice::from_ref(&start), SourceKind::Auto).unwrap();
        assert_eq!(relative(&files, &export), expected, "from {}", start.display());
        for f in &files {
            assert_eq!(f.kind, SourceKind::Cur2);
            let d = f.delivery.as_ref().expect("a delivery");
            assert_eq!(d.layout, ManifestLayout::DataExports);
            assert_eq!(d.id.as_deref(), Some("9b2f4e61-exec-0920"));
            assert_eq!(d.billing_period.as_deref(), Some("2024-09"));
            assert_eq!(d.files.len(), 2);
            assert_eq!(
                d.manifest,
                export.join("metadata/BILLING_PERIOD=2024-09/cur-create-new-Manifest.json")
            );
        }
    }
}

#[test]
fn an_overwritten_export_skips_chunks_its_manifest_no_longer_lists() {
    let export = manifests().join("data-exports/cur-overwrite");
    let files = discover(std::slice::from_ref(&export), SourceKind::Auto).unwrap();
    assert_eq!(relative(&files, &export), ["data/BILLING_PERIOD=2024-10/cur-overwrite-00001.snappy.parquet"]);
    assert_eq!((files[0].kind, files[0].container), (SourceKind::Cur2, Container::Parquet));
    assert_eq!(files[0].delivery.as_ref().unwrap().billing_period.as_deref(), Some("2024-10"));

    // Naming the stale chunk itself is refused rather than silently ignored.
    let stale = export.join("data/BILLING_PERIOD=2024-10/cur-overwrite-00002.snappy.parquet");
    let err = discover(std::slice::from_ref(&stale), SourceKind::Auto).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: does not list {}: it is not part of the current delivery c3d4e5f6-exec-1021; name its folder to \
             ingest the current delivery",
            export.join("metadata/BILLING_PERIOD=2024-10/cur-overwrite-Manifest.json").display(),
            stale.display()
        )
    );
}

#[test]
fn legacy_cur_ingests_only_the_assembly_its_period_manifest_names() {
    let report = manifests().join("legacy/cur/my-report");
    let period = report.join("20240901-20241001");
    let asm = "6e2b8f10-93c4-4d7a-b2e5-8a1c4f6d0920";
    for start in [report.clone(), period.join(asm), period.join("0d4a9c7e-5b1f-4c1e-9a51-2f7d3c1b0915")] {
        let files = discover(std::slice::from_ref(&start), SourceKind::Auto).unwrap();
        assert_eq!(
            relative(&files, &period),
            [format!("{asm}/my-report-1.csv.gz"), format!("{asm}/my-report-2.csv.gz")],
            "from {}",
            start.display()
        );
        let d = files[0].delivery.as_ref().unwrap();
        assert_eq!(d.layout, ManifestLayout::LegacyCur);
        assert_eq!(d.id.as_deref(), Some(asm));
        assert_eq!(d.billing_period.as_deref(), Some("2024-09"));
        assert_eq!(d.manifest, period.join("my-report-Manifest.json"));
        assert!(files.iter().all(|f| f.kind == SourceKind::CurLegacy));
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_listed_file_that_is_missing_refuses_the_period() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("my-report");
    copy_tree(&manifests().join("legacy/cur/my-report"), &report);
    let period = report.join("20240901-20241001");
    let asm = "6e2b8f10-93c4-4d7a-b2e5-8a1c4f6d0920";
    std::fs::remove_file(period.join(asm).join("my-report-2.csv.gz")).unwrap();
    let err = discover(std::slice::from_ref(&report), SourceKind::Auto).unwrap_err();
    assert!(matches!(err, IngestError::Manifest { .. }));
    let period = std::fs::canonicalize(&period).unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: lists 2 data file(s) of delivery {asm}; 1 missing from {}: {asm}/my-report-2.csv.gz; refusing to \
             ingest a partial billing period",
            report.join("20240901-20241001/my-report-Manifest.json").display(),
            period.display()
        )
    );

    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("cur-create-new");
    copy_tree(&manifests().join("data-exports/cur-create-new"), &export);
    let current = export.join("data/BILLING_PERIOD=2024-09/20240920T040506Z-9b2f4e61-exec-0920");
    std::fs::remove_file(current.join("cur-create-new-00001.csv.gz")).unwrap();
    let err = discover(&[export.join("data")], SourceKind::Auto).unwrap_err();
    let scope = std::fs::canonicalize(export.join("data/BILLING_PERIOD=2024-09")).unwrap();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: lists 2 data file(s) of delivery 9b2f4e61-exec-0920; 1 missing from {}: \
             20240920T040506Z-9b2f4e61-exec-0920/cur-create-new-00001.csv.gz; refusing to ingest a partial billing \
             period",
            std::fs::canonicalize(
                export.join("metadata/BILLING_PERIOD=2024-09/cur-create-new-Manifest.json")
            )
            .unwrap()
            .display(),
            scope.display()
        )
    );
}

#[test]
fn a_manifest_that_is_not_json_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(&d.join("20240901-20241001/abc/r-1.csv"), LEGACY.as_bytes());
    let manifest = write(&d.join("20240901-20241001/r-Manifest.json"), b"{\"reportKeys\": [");
    let err = discover(&[d.to_path_buf()], SourceKind::Auto).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!("{}: not valid JSON: EOF while parsing", manifest.display())),
        "{err}"
    );
}

/// The side files `costpilot generate` writes beside its bill, with the headers it writes.
const CMDB: &str = "kind,id,owner,team,business_unit,cost_centre,application,environment,criticality\n\
                    account,540455323275,genai-lead@example.com,genai,Data & AI,CC-1200,support-assistant,prod,medium\n";
const BUSINESS: &str =
    "name,timestamp,application,value\nrequests,2025-01-01T00:00:00Z,storefront-web,4705733\n";
const CLOUDWATCH: &str = "resource_id,timestamp,metric_name,statistic,value,unit\n\
                          i-0c215498489129554,2025-01-22T00:00:00Z,CPUUtilization,Average,21.39,Percent\n";

/// A Data Exports export (one current delivery, one older) with a generated estate's side files
/// around it.
fn estate_folder(root: &Path) -> PathBuf {
    let export = root.join("cur/cur-create-new");
    copy_tree(&manifests().join("data-exports/cur-create-new"), &export);
    write(&root.join("cmdb.csv"), CMDB.as_bytes());
    write(&root.join("business-metrics.csv"), BUSINESS.as_bytes());
    write(&root.join("metrics/cloudwatch-daily.csv.gz"), &gzip(CLOUDWATCH));
    write(&root.join("metrics/cloudwatch-hourly.csv.gz"), &gzip(CLOUDWATCH));
    write(&root.join("inventory/describe-instances.json"), b"{\"Reservations\": []}\n");
    write(&root.join("budgets.yaml"), b"# budgets\nbudgets: []\n");
    write(&root.join("truth.json"), b"{\"seed\": 42}\n");
    export
}

#[test]
fn a_generated_estate_reads_its_bill_and_lists_the_side_files_passed_over() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let export = estate_folder(root);
    let current = "cur/cur-create-new/data/BILLING_PERIOD=2024-09/20240920T040506Z-9b2f4e61-exec-0920";
    let found = discover_all(&[root.to_path_buf()], SourceKind::Auto).unwrap();
    assert_eq!(
        relative(&found.files, root),
        [format!("{current}/cur-create-new-00001.csv.gz"), format!("{current}/cur-create-new-00002.csv.gz")]
    );
    assert!(found.files.iter().all(|f| f.kind == SourceKind::Cur2));
    let manifest = export.join("metadata/BILLING_PERIOD=2024-09/cur-create-new-Manifest.json");
    let skipped: Vec<(String, SkipReason)> = found
        .skipped
        .iter()
        .map(|s| (s.path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/"), s.reason.clone()))
        .collect();
    let want: Vec<(String, SkipReason)> = vec![
        ("budgets.yaml".into(), SkipReason::NotData),
        ("business-metrics.csv".into(), SkipReason::BusinessMetrics),
        ("cmdb.csv".into(), SkipReason::Cmdb),
        (
            "cur/cur-create-new/data/BILLING_PERIOD=2024-09/20240915T010203Z-5d1e0c7a-exec-0915/\
             cur-create-new-00001.csv.gz"
                .into(),
            SkipReason::NotInDelivery { manifest: manifest.clone() },
        ),
        (
            "cur/cur-create-new/metadata/BILLING_PERIOD=2024-09/cur-create-new-Manifest.json".into(),
            SkipReason::Manifest,
        ),
        ("inventory/describe-instances.json".into(), SkipReason::Json),
        ("metrics/cloudwatch-daily.csv.gz".into(), SkipReason::UtilisationMetrics),
        ("metrics/cloudwatch-hourly.csv.gz".into(), SkipReason::UtilisationMetrics),
        ("truth.json".into(), SkipReason::Json),
    ];
    assert_eq!(skipped, want);
    // `discover` reads the same files; a format given explicitly passes over the same side files.
    assert_eq!(
        relative(&discover(&[root.to_path_buf()], SourceKind::Auto).unwrap(), root),
        relative(&found.files, root)
    );
    let given = discover_all(&[root.to_path_buf()], SourceKind::Cur2).unwrap();
    assert_eq!(relative(&given.files, root), relative(&found.files, root));
    assert_eq!(given.skipped, found.skipped);
}

#[test]
fn skip_reasons_say_what_the_file_is_and_what_loads_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    estate_folder(root);
    let found = discover_all(&[root.to_path_buf()], SourceKind::Auto).unwrap();
    let line = |name: &str| {
        found.skipped.iter().find(|s| s.path.ends_with(name)).unwrap_or_else(|| panic!("{name}")).to_string()
    };
    let shown = |name: &str, reason: &str| format!("{}: {reason}", root.join(name).display());
    assert_eq!(
        line("cmdb.csv"),
        shown("cmdb.csv", "a CMDB export: put it in force with `costpilot rules apply cmdb <file>`")
    );
    assert_eq!(
        line("business-metrics.csv"),
        shown("business-metrics.csv", "business metrics: import them with `costpilot metrics import <file>`")
    );
    assert_eq!(
        line("cloudwatch-daily.csv.gz"),
        shown(
            "metrics/cloudwatch-daily.csv.gz",
            "CloudWatch utilisation metrics, not a bill (no costpilot command loads them yet)"
        )
    );
    assert_eq!(
        SkipReason::NotABill.to_string(),
        "not a bill: none of the columns of CUR 2.0, legacy CUR or FOCUS"
    );
    assert_eq!(
        SkipReason::NotInDelivery { manifest: PathBuf::from("m-Manifest.json") }.to_string(),
        "not in the current delivery: m-Manifest.json does not list it"
    );
}

#[test]
fn a_table_with_none_of_the_bill_columns_is_passed_over_in_a_folder_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(&d.join("a.csv"), CUR2.as_bytes());
    let costs = write(&d.join("costs.csv"), b"date,amount,team\n2024-09-01,3.5,web\n");
    let owners = write(
        &d.join("owners.parquet"),
        &parquet(vec![
            ("kind", Arc::new(StringArray::from(vec!["account"])) as ArrayRef),
            ("id", Arc::new(StringArray::from(vec!["111122223333"]))),
            ("team", Arc::new(StringArray::from(vec!["web"]))),
        ]),
    );
    write(
        &d.join("status.parquet"),
        &parquet(vec![("status", Arc::new(StringArray::from(vec!["READY"])) as ArrayRef)]),
    );
    let found = discover_all(&[d.to_path_buf()], SourceKind::Auto).unwrap();
    assert_eq!(relative(&found.files, d), ["a.csv"]);
    let reasons: Vec<(&Path, &SkipReason)> =
        found.skipped.iter().map(|s| (s.path.as_path(), &s.reason)).collect();
    let status = d.join("status.parquet");
    assert_eq!(
        reasons,
        [
            (costs.as_path(), &SkipReason::NotABill),
            (owners.as_path(), &SkipReason::Cmdb),
            (status.as_path(), &SkipReason::StatusTable)
        ]
    );
    // Named as an argument, the same file is meant to be a bill, and is refused as before.
    let err = discover_all(&[d.to_path_buf(), costs.clone()], SourceKind::Auto).unwrap_err();
    assert!(matches!(err, IngestError::UnknownFormat { ref path, .. } if *path == costs), "{err}");
    let err = discover_all(std::slice::from_ref(&owners), SourceKind::Auto).unwrap_err();
    assert!(matches!(err, IngestError::UnknownFormat { .. }), "{err}");
}

#[test]
fn a_file_in_a_folder_that_may_be_a_broken_bill_still_fails() {
    // Each fails naming the file, beside a bill that is fine.
    let fails = |name: &str, content: &[u8]| {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("a.csv"), CUR2.as_bytes());
        let path = write(&dir.path().join(name), content);
        let err = discover_all(&[dir.path().to_path_buf()], SourceKind::Auto).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}: ", path.display())), "{name}: {err}");
        err
    };
    // A CUR 2.0 CSV without its header row: its first row is data, not names.
    let headless =
        b"111122223333,Usage,1.5,2024-09-01T00:00:00Z\n222233334444,Usage,2,2024-09-01T00:00:00Z\n";
    assert!(fails("headless.csv", headless).contains("cannot tell the format"));
    // One marker column is not enough to read it, nor to call it no bill.
    assert!(fails("one-marker.csv", b"BilledCost,team\n1.5,web\n").contains("cannot tell the format"));
    // An empty file, as a cut-short download leaves it, and a gzip file cut short.
    assert!(fails("empty.csv", b"").ends_with("the file is empty"));
    fails("cut.csv.gz", &gzip(CUR2)[..12]);

    // A file with a CMDB's columns that a delivery manifest lists is a damaged bill.
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("cur-create-new");
    copy_tree(&manifests().join("data-exports/cur-create-new"), &export);
    let listed = export
        .join("data/BILLING_PERIOD=2024-09/20240920T040506Z-9b2f4e61-exec-0920/cur-create-new-00002.csv.gz");
    std::fs::write(&listed, gzip(CMDB)).unwrap();
    let err = discover_all(std::slice::from_ref(&export), SourceKind::Auto).unwrap_err();
    assert!(matches!(err, IngestError::UnknownFormat { ref path, .. } if *path == listed), "{err}");
}
