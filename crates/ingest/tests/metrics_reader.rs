//! The metrics readers: the long CSV the generator writes (plain and gzip), the JSON `aws
//! cloudwatch get-metric-data` prints (named by Labels or by the queries file), and the exact
//! errors for bad input.

mod common;

use std::path::Path;

use common::{write, write_gz};

use costpilot_ingest::IngestError;
use costpilot_ingest::metrics::{open_csv, read_all, read_get_metric_data, schema};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Float64Type, TimestampMillisecondType};

/// 2025-01-01T00:00:00Z in ms.
const JAN_1: i64 = 1_735_689_600_000;
const HOUR: i64 = 3_600_000;

/// Every row as (resource, ms, metric, statistic, value, unit).
fn rows(batches: &[RecordBatch]) -> Vec<(String, i64, String, String, f64, String)> {
    let mut out = Vec::new();
    for b in batches {
        assert_eq!(b.schema(), schema());
        let s = |i: usize| b.column(i).as_string::<i32>().clone();
        let (resource, metric, statistic, unit) = (s(0), s(2), s(3), s(5));
        let ts = b.column(1).as_primitive::<TimestampMillisecondType>();
        let value = b.column(4).as_primitive::<Float64Type>();
        for i in 0..b.num_rows() {
            out.push((
                resource.value(i).to_string(),
                ts.value(i),
                metric.value(i).to_string(),
                statistic.value(i).to_string(),
                value.value(i),
                unit.value(i).to_string(),
            ));
        }
    }
    out
}

fn row(r: &str, ms: i64, m: &str, s: &str, v: f64, u: &str) -> (String, i64, String, String, f64, String) {
    (r.into(), ms, m.into(), s.into(), v, u.into())
}

const CSV: &str = "resource_id,timestamp,metric_name,statistic,value,unit
i-0c215498489129554,2025-01-01T00:00:00Z,CPUUtilization,Average,44.64,Percent
i-0c215498489129554,2025-01-01T01:00:00Z,CPUUtilization,Average,41.07,Percent
i-0c215498489129554,2025-01-01T00:00:00Z,CPUUtilization,Maximum,52.90,Percent
i-0c215498489129554,2025-01-01T00:00:00Z,NetworkIn,Average,9436527,Bytes
vol-0a8ffab4c38b72e19,2025-01-01T00:00:00Z,VolumeReadOps,Maximum,0.00,Count
vol-0a8ffab4c38b72e19,2025-01-01T00:00:00Z,VolumeIdleTime,Average,60.00,Seconds
";

fn csv_expected() -> Vec<(String, i64, String, String, f64, String)> {
    vec![
        row("i-0c215498489129554", JAN_1, "CPUUtilization", "Average", 44.64, "Percent"),
        row("i-0c215498489129554", JAN_1 + HOUR, "CPUUtilization", "Average", 41.07, "Percent"),
        row("i-0c215498489129554", JAN_1, "CPUUtilization", "Maximum", 52.9, "Percent"),
        row("i-0c215498489129554", JAN_1, "NetworkIn", "Average", 9_436_527.0, "Bytes"),
        row("vol-0a8ffab4c38b72e19", JAN_1, "VolumeReadOps", "Maximum", 0.0, "Count"),
        row("vol-0a8ffab4c38b72e19", JAN_1, "VolumeIdleTime", "Average", 60.0, "Seconds"),
    ]
}

#[test]
fn the_long_csv_reads_plain_and_gzip_in_batches() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let plain = write(dir.path(), "metrics.csv", CSV);
    let batches: Vec<RecordBatch> =
        open_csv(&plain, 4).expect("opens").collect::<Result<_, _>>().expect("reads");
    assert_eq!(batches.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(), vec![4, 2]);
    assert_eq!(rows(&batches), csv_expected());
    // Gzip is told by its bytes, not its name.
    let gz = write_gz(dir.path(), "cloudwatch-daily.csv.gz", CSV);
    assert_eq!(rows(&read_all(&gz, None).expect("reads")), csv_expected());
    let hidden = write_gz(dir.path(), "metrics-no-suffix", CSV);
    assert_eq!(rows(&read_all(&hidden, None).expect("reads")), csv_expected());
    let timestamps = batches[0].column(1).data_type().clone();
    assert_eq!(timestamps.to_string(), "Timestamp(ms, \"UTC\")");
}

#[test]
fn columns_may_come_in_any_order_with_offsets_and_without_units() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let text = "\u{feff}statistic,value,account,timestamp,resource_id,metric_name,unit
Maximum,97.5,123456789012,2025-01-01T02:00:00+02:00,i-1,CPUUtilization,
Average,3,123456789012,2025-01-01 00:00:00,vol-1,VolumeReadOps,Count
";
    let path = write(dir.path(), "export.csv", text);
    assert_eq!(
        rows(&read_all(&path, None).expect("reads")),
        vec![
            row("i-1", JAN_1, "CPUUtilization", "Maximum", 97.5, "Percent"),
            row("vol-1", JAN_1, "VolumeReadOps", "Average", 3.0, "Count"),
        ]
    );
}

fn error_of(path: &Path) -> String {
    match read_all(path, None) {
        Ok(b) => panic!("{} read {} rows", path.display(), rows(&b).len()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_csv_input_names_file_row_and_column() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let header = "resource_id,timestamp,metric_name,statistic,value,unit\n";
    let good = "i-1,2025-01-01T00:00:00Z,CPUUtilization,Average,1.5,Percent\n";
    let p = write(
        dir.path(),
        "metrics.csv",
        format!("{header}{good}{good}i-1,2025-01-01T00:00:00Z,CPUUtilization,Average,abc,Percent\n"),
    );
    assert_eq!(error_of(&p), format!("{}: row 3, column 'value': not a number: 'abc'", p.display()));

    let p = write(
        dir.path(),
        "time.csv",
        format!("{header}{good}i-1,2025-13-01T00:00:00Z,CPUUtilization,Average,1,Percent\n"),
    );
    assert_eq!(
        error_of(&p),
        format!(
            "{}: row 2, column 'timestamp': not an ISO 8601 timestamp: '2025-13-01T00:00:00Z'",
            p.display()
        )
    );

    let p = write(
        dir.path(),
        "nounit.csv",
        "resource_id,timestamp,metric_name,statistic,value\ni-1,2025-01-01,CPU,Average,1\n",
    );
    assert_eq!(error_of(&p), format!("{}: missing required column 'unit' for the metrics CSV", p.display()));

    let p = write(
        dir.path(),
        "empty-id.csv",
        format!("{header},2025-01-01T00:00:00Z,CPUUtilization,Average,1,Percent\n"),
    );
    assert_eq!(error_of(&p), format!("{}: row 1, column 'resource_id': empty", p.display()));

    let p = write(
        dir.path(),
        "inf.csv",
        format!("{header}i-1,2025-01-01T00:00:00Z,CPUUtilization,Average,inf,Percent\n"),
    );
    assert_eq!(error_of(&p), format!("{}: row 1, column 'value': not a finite number: 'inf'", p.display()));

    // A ragged row is malformed CSV, with its line (the header is line 1).
    let p =
        write(dir.path(), "ragged.csv", format!("{header}{good}i-1,2025-01-01T00:00:00Z,CPUUtilization\n"));
    let e = read_all(&p, None).expect_err("ragged");
    assert!(matches!(e, IngestError::Csv { line: 3, .. }), "{e}");
}

/// What `aws cloudwatch get-metric-data` printed (its timestamps newest first, as it returns them).
const OUTPUT: &str = r#"{
    "MetricDataResults": [
        {
            "Id": "cpu_avg",
            "Label": "i-0abc CPUUtilization Average",
            "Timestamps": ["2025-01-01T01:00:00+00:00", "2025-01-01T00:00:00+00:00"],
            "Values": [12.5, 10.0],
            "StatusCode": "Complete"
        },
        {
            "Id": "reads",
            "Label": "vol-0def VolumeReadOps Maximum",
            "Timestamps": ["2025-01-01T00:00:00+00:00"],
            "Values": [0],
            "StatusCode": "PartialData"
        }
    ],
    "Messages": []
}"#;

#[test]
fn get_metric_data_reads_with_labels_naming_the_series() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let p = write(dir.path(), "out.json", OUTPUT);
    let expected = vec![
        row("i-0abc", JAN_1 + HOUR, "CPUUtilization", "Average", 12.5, "Percent"),
        row("i-0abc", JAN_1, "CPUUtilization", "Average", 10.0, "Percent"),
        row("vol-0def", JAN_1, "VolumeReadOps", "Maximum", 0.0, "Count"),
    ];
    assert_eq!(rows(&read_get_metric_data(&p, None).expect("reads")), expected);
    // read_all tells JSON from CSV by its first byte.
    assert_eq!(rows(&read_all(&p, None).expect("reads")), expected);
}

#[test]
fn get_metric_data_reads_with_the_queries_file() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // Default labels, as CloudWatch makes them when the query sets none.
    let out = r#"{"MetricDataResults": [
        {"Id": "m1", "Label": "CPUUtilization", "Timestamps": ["2025-01-01T00:00:00Z"], "Values": [7.25], "StatusCode": "Complete"},
        {"Id": "m2", "Label": "mem_used_percent", "Timestamps": ["2025-01-01T00:00:00Z"], "Values": [55], "StatusCode": "Complete"}
    ], "Messages": []}"#;
    let p = write(dir.path(), "out.json", out);
    let queries = r#"[
        {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "AWS/EC2", "MetricName": "CPUUtilization",
            "Dimensions": [{"Name": "InstanceId", "Value": "i-0abc"}]}, "Period": 3600, "Stat": "Maximum"}},
        {"Id": "m2", "MetricStat": {"Metric": {"Namespace": "CWAgent", "MetricName": "mem_used_percent",
            "Dimensions": [{"Name": "ImageId", "Value": "ami-1"}, {"Name": "InstanceId", "Value": "i-0abc"},
                           {"Name": "InstanceType", "Value": "m5.large"}]},
            "Period": 86400, "Stat": "Average", "Unit": "Percent"}},
        {"Id": "e1", "Expression": "m1 * 2", "ReturnData": false}
    ]"#;
    let q = write(dir.path(), "queries.json", queries);
    let expected = vec![
        row("i-0abc", JAN_1, "CPUUtilization", "Maximum", 7.25, "Percent"),
        row("i-0abc", JAN_1, "mem_used_percent", "Average", 55.0, "Percent"),
    ];
    assert_eq!(rows(&read_get_metric_data(&p, Some(&q)).expect("reads")), expected);
    // The --cli-input-json form of the same queries.
    let input = write(
        dir.path(),
        "input.json",
        format!("{{\"MetricDataQueries\": {queries}, \"StartTime\": \"2025-01-01T00:00:00Z\"}}"),
    );
    assert_eq!(rows(&read_get_metric_data(&p, Some(&input)).expect("reads")), expected);
    // Without the queries, the default labels name no series.
    let e = read_get_metric_data(&p, None).expect_err("labels name no series").to_string();
    assert!(
        e.starts_with(&format!(
            "{}: row 1, column 'Label': expected 'resource_id metric_name statistic', got 'CPUUtilization'",
            p.display()
        )),
        "{e}"
    );
}

#[test]
fn bad_get_metric_data_names_file_result_and_key() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let one = |ts: &str, vs: &str, status: &str| {
        format!(
            r#"{{"MetricDataResults": [{{"Id": "a", "Label": "i-1 CPUUtilization Average", "Timestamps": ["2025-01-01T00:00:00Z"], "Values": [1], "StatusCode": "Complete"}},
            {{"Id": "b", "Label": "i-1 CPUUtilization Maximum", "Timestamps": {ts}, "Values": {vs}, "StatusCode": "{status}"}}]}}"#
        )
    };
    let p = write(
        dir.path(),
        "v.json",
        one(r#"["2025-01-01T00:00:00Z", "2025-01-01T01:00:00Z"]"#, r#"[1, "x"]"#, "Complete"),
    );
    assert_eq!(
        read_get_metric_data(&p, None).expect_err("a string value").to_string(),
        format!("{}: row 2, column 'Values[1]': not a number: '\"x\"'", p.display())
    );
    let p = write(dir.path(), "t.json", one(r#"["yesterday"]"#, "[1]", "Complete"));
    assert_eq!(
        read_get_metric_data(&p, None).expect_err("a bad time").to_string(),
        format!("{}: row 2, column 'Timestamps[0]': not an ISO 8601 timestamp: 'yesterday'", p.display())
    );
    let p = write(dir.path(), "n.json", one(r#"["2025-01-01T00:00:00Z"]"#, "[1, 2]", "Complete"));
    assert_eq!(
        read_get_metric_data(&p, None).expect_err("counts differ").to_string(),
        format!("{}: row 2, column 'Values': 2 values for 1 timestamps", p.display())
    );
    let p = write(dir.path(), "s.json", one("[]", "[]", "Forbidden"));
    assert_eq!(
        read_get_metric_data(&p, None).expect_err("forbidden").to_string(),
        format!("{}: row 2, column 'StatusCode': CloudWatch answered Forbidden for query 'b'", p.display())
    );
    let p = write(dir.path(), "broken.json", "{\"MetricDataResults\": [");
    let e = read_get_metric_data(&p, None).expect_err("truncated");
    assert!(matches!(e, IngestError::Json { .. }), "{e:?}");
    assert!(e.to_string().starts_with(&format!("{}: malformed JSON: ", p.display())), "{e}");
}
