//! Source discovery: format detection by columns, folder walking, checksums and delivery manifests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use costpilot_ingest::raw::Container;
use costpilot_ingest::source::ManifestLayout;
use costpilot_ingest::{Checksums, IngestError, SourceFile, SourceKind, discover};
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
