//! Utilisation metrics: CloudWatch datapoints as Arrow batches of one fixed schema ([`schema`]):
//! `resource_id` Utf8, `timestamp` Timestamp(ms, UTC), `metric_name` Utf8, `statistic` Utf8,
//! `value` Float64, `unit` Utf8. Two inputs (documented in `docs/metrics.md`):
//!
//! - **the long CSV** ([`open_csv`]), plain or gzip (told apart by the first bytes, never the
//!   name): a header with the columns `resource_id,timestamp,metric_name,statistic,value,unit` in
//!   any order (other columns are ignored), then one datapoint per row; `timestamp` is ISO 8601
//!   (`2025-01-01T00:00:00Z`; an offset is converted to UTC, a time without one is taken as UTC).
//!   This is what `costpilot generate` writes and what any export script can produce. It is read
//!   as a stream, one batch at a time.
//! - **`aws cloudwatch get-metric-data` output** ([`read_get_metric_data`]): the JSON the CLI
//!   prints, `{"MetricDataResults": [{"Id", "Label", "Timestamps", "Values", "StatusCode"}],
//!   "Messages": []}`. A result names neither its resource nor its statistic, so one of two things
//!   must: the queries file the user passed with `--metric-data-queries file://queries.json` (a
//!   list of MetricDataQuery, or an object with `MetricDataQueries` as `--cli-input-json` takes),
//!   joined on `Id` — resource from the resource dimension (`InstanceId`, `VolumeId`, ...),
//!   metric from `MetricName`, statistic from `Stat`, unit from `Unit`; or, without it, each
//!   query's `Label` set to `resource_id metric_name statistic` (optionally a fourth word, the
//!   unit), which CloudWatch's dynamic labels fill in:
//!   `"Label": "${PROP('Dim.InstanceId')} ${PROP('MetricName')} ${PROP('Stat')}"`.
//!   Where no unit is given, the metric's CloudWatch unit is looked up ([`default_unit`]).
//!
//! Bad input is an error naming the file, row and column: in the CSV the 1-based data row (the
//! header is not counted) and the column's name; in the JSON the 1-based position of the result
//! in `MetricDataResults` and the key (`Values[3]`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use costpilot_model::parse_timestamp_micros;
use datafusion::arrow::array::{
    ArrayRef, Float64Builder, RecordBatch, StringBuilder, TimestampMillisecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use flate2::read::MultiGzDecoder;
use serde::Deserialize;
use serde_json::Value;

use crate::IngestError;
use crate::raw::{Container, DEFAULT_BATCH_ROWS};

/// The columns of the long CSV, in the order the generator writes them.
pub const CSV_COLUMNS: [&str; 6] = ["resource_id", "timestamp", "metric_name", "statistic", "value", "unit"];
/// How errors name the CSV format.
pub const CSV_FORMAT: &str = "the metrics CSV";
/// Dimensions that name the resource a metric is about, most specific first.
pub const RESOURCE_DIMENSIONS: [&str; 10] = [
    "InstanceId",
    "VolumeId",
    "DBInstanceIdentifier",
    "EndpointName",
    "FunctionName",
    "NatGatewayId",
    "BucketName",
    "LoadBalancer",
    "AutoScalingGroupName",
    "ClusterName",
];

/// The schema of every batch the metrics readers return.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("resource_id", DataType::Utf8, false),
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())), false),
        Field::new("metric_name", DataType::Utf8, false),
        Field::new("statistic", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
        Field::new("unit", DataType::Utf8, false),
    ]))
}

/// The CloudWatch unit of a well-known metric (`None`, CloudWatch's word for no unit, otherwise).
pub fn default_unit(metric_name: &str) -> &'static str {
    match metric_name {
        "CPUUtilization"
        | "mem_used_percent"
        | "disk_used_percent"
        | "nvidia_smi_utilization_gpu"
        | "nvidia_smi_utilization_memory"
        | "GPUUtilization"
        | "GPUMemoryUtilization"
        | "MemoryUtilization"
        | "DiskUtilization"
        | "CPUCreditBalance" => "Percent",
        "NetworkIn"
        | "NetworkOut"
        | "DiskReadBytes"
        | "DiskWriteBytes"
        | "VolumeReadBytes"
        | "VolumeWriteBytes"
        | "BytesOutToDestination"
        | "BytesInFromSource"
        | "FreeableMemory" => "Bytes",
        "VolumeReadOps"
        | "VolumeWriteOps"
        | "DiskReadOps"
        | "DiskWriteOps"
        | "NetworkPacketsIn"
        | "NetworkPacketsOut"
        | "Invocations"
        | "Errors"
        | "Throttles"
        | "DatabaseConnections"
        | "ActiveConnectionCount" => "Count",
        "VolumeIdleTime" | "VolumeTotalReadTime" | "VolumeTotalWriteTime" => "Seconds",
        "Duration" | "ModelLatency" => "Milliseconds",
        _ => "None",
    }
}

/// Builders for one batch of the fixed schema.
struct Rows {
    resource: StringBuilder,
    timestamp: TimestampMillisecondBuilder,
    metric: StringBuilder,
    statistic: StringBuilder,
    value: Float64Builder,
    unit: StringBuilder,
    len: usize,
}

impl Rows {
    fn new() -> Self {
        Self {
            resource: StringBuilder::new(),
            timestamp: TimestampMillisecondBuilder::new().with_timezone("UTC"),
            metric: StringBuilder::new(),
            statistic: StringBuilder::new(),
            value: Float64Builder::new(),
            unit: StringBuilder::new(),
            len: 0,
        }
    }

    fn push(&mut self, resource: &str, ms: i64, metric: &str, statistic: &str, value: f64, unit: &str) {
        self.resource.append_value(resource);
        self.timestamp.append_value(ms);
        self.metric.append_value(metric);
        self.statistic.append_value(statistic);
        self.value.append_value(value);
        self.unit.append_value(unit);
        self.len += 1;
    }

    fn finish(&mut self, path: &Path) -> Result<RecordBatch, IngestError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.resource.finish()),
            Arc::new(self.timestamp.finish()),
            Arc::new(self.metric.finish()),
            Arc::new(self.statistic.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.unit.finish()),
        ];
        self.len = 0;
        RecordBatch::try_new(schema(), columns)
            .map_err(|e| IngestError::Internal { path: path.into(), message: e.to_string() })
    }
}

fn bad(path: &Path, row: u64, column: impl Into<String>, reason: impl Into<String>) -> IngestError {
    IngestError::BadRow { path: path.into(), row, column: column.into(), reason: reason.into() }
}

/// Milliseconds of an ISO 8601 timestamp, or why not.
fn parse_ms(text: &str) -> Result<i64, String> {
    parse_timestamp_micros(text)
        .map(|us| us.div_euclid(1000))
        .map_err(|_| format!("not an ISO 8601 timestamp: '{text}'"))
}

/// A finite number, or why not.
fn parse_value(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("not a finite number: '{text}'")),
        Err(_) if text.trim().is_empty() => Err("empty".into()),
        Err(_) => Err(format!("not a number: '{text}'")),
    }
}

/// A stream of batches from the long metrics CSV.
pub struct MetricsCsvReader {
    path: PathBuf,
    reader: csv::Reader<Box<dyn Read + Send>>,
    /// Position of each of [`CSV_COLUMNS`] in the file.
    index: [usize; 6],
    batch_rows: usize,
    next_row: u64,
    record: csv::StringRecord,
    done: bool,
}

/// Opens the long metrics CSV at `path` (plain or gzip) for reading `batch_rows` rows at a time.
pub fn open_csv(path: &Path, batch_rows: usize) -> Result<MetricsCsvReader, IngestError> {
    let container = Container::sniff(path)?;
    if container == Container::Parquet {
        return Err(IngestError::Csv {
            path: path.into(),
            line: 1,
            message: "a Parquet file, not the metrics CSV".into(),
        });
    }
    let file = File::open(path).map_err(|e| IngestError::io(path, e))?;
    let buffered = BufReader::with_capacity(1 << 20, file);
    let text: Box<dyn Read + Send> = if container == Container::CsvGz {
        Box::new(BufReader::with_capacity(1 << 20, MultiGzDecoder::new(buffered)))
    } else {
        Box::new(buffered)
    };
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text);
    let headers = reader.headers().map_err(|e| csv_error(path, &e))?.clone();
    let names: Vec<&str> = headers.iter().map(|h| h.trim_start_matches('\u{feff}').trim()).collect();
    let mut index = [0usize; 6];
    for (k, column) in CSV_COLUMNS.iter().enumerate() {
        index[k] = names.iter().position(|n| n == column).ok_or_else(|| IngestError::MissingColumn {
            path: path.into(),
            column: (*column).into(),
            format: CSV_FORMAT,
        })?;
    }
    Ok(MetricsCsvReader {
        path: path.into(),
        reader,
        index,
        batch_rows: batch_rows.max(1),
        next_row: 1,
        record: csv::StringRecord::new(),
        done: false,
    })
}

fn csv_error(path: &Path, e: &csv::Error) -> IngestError {
    let line = e.position().map_or(0, |p| p.line());
    match e.kind() {
        csv::ErrorKind::Io(io) => IngestError::io(path, std::io::Error::new(io.kind(), io.to_string())),
        _ => IngestError::Csv { path: path.into(), line, message: e.to_string() },
    }
}

impl MetricsCsvReader {
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, IngestError> {
        let mut rows = Rows::new();
        while rows.len < self.batch_rows {
            if !self.reader.read_record(&mut self.record).map_err(|e| csv_error(&self.path, &e))? {
                self.done = true;
                break;
            }
            let row = self.next_row;
            self.next_row += 1;
            let field = |k: usize| self.record.get(self.index[k]).unwrap_or("");
            let text = |k: usize| -> Result<&str, IngestError> {
                let v = field(k).trim();
                if v.is_empty() { Err(bad(&self.path, row, CSV_COLUMNS[k], "empty")) } else { Ok(v) }
            };
            let resource = text(0)?;
            let ms = parse_ms(field(1)).map_err(|r| bad(&self.path, row, CSV_COLUMNS[1], r))?;
            let metric = text(2)?;
            let statistic = text(3)?;
            let value = parse_value(field(4)).map_err(|r| bad(&self.path, row, CSV_COLUMNS[4], r))?;
            let unit = match field(5).trim() {
                "" => default_unit(metric),
                u => u,
            };
            rows.push(resource, ms, metric, statistic, value, unit);
        }
        if rows.len == 0 { Ok(None) } else { rows.finish(&self.path).map(Some) }
    }
}

impl Iterator for MetricsCsvReader {
    type Item = Result<RecordBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_batch() {
            Ok(Some(b)) => Some(Ok(b)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetricDataOutput {
    metric_data_results: Vec<MetricDataResult>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetricDataResult {
    id: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    timestamps: Vec<Value>,
    #[serde(default)]
    values: Vec<Value>,
    #[serde(default)]
    status_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Queries {
    List(Vec<Query>),
    Input {
        #[serde(rename = "MetricDataQueries")]
        metric_data_queries: Vec<Query>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Query {
    id: String,
    #[serde(default)]
    metric_stat: Option<MetricStat>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetricStat {
    metric: MetricId,
    stat: String,
    #[serde(default)]
    unit: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetricId {
    metric_name: String,
    #[serde(default)]
    dimensions: Vec<Dimension>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Dimension {
    name: String,
    value: String,
}

/// What a result is about: resource, metric, statistic, unit.
type Series = (String, String, String, String);

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, IngestError> {
    let file = File::open(path).map_err(|e| IngestError::io(path, e))?;
    serde_json::from_reader(BufReader::with_capacity(1 << 20, file)).map_err(|e| {
        if e.is_io() {
            IngestError::io(path, e.into())
        } else {
            IngestError::Json { path: path.into(), message: e.to_string() }
        }
    })
}

/// Series of the queries in the queries file, by query `Id`.
fn query_series(path: &Path) -> Result<HashMap<String, Series>, IngestError> {
    let queries = match read_json::<Queries>(path)? {
        Queries::List(q) => q,
        Queries::Input { metric_data_queries } => metric_data_queries,
    };
    let mut out = HashMap::new();
    for (i, q) in queries.into_iter().enumerate() {
        // Expressions (no MetricStat) have no single resource; their results need a Label.
        let Some(stat) = q.metric_stat else { continue };
        let dims = &stat.metric.dimensions;
        let resource = RESOURCE_DIMENSIONS
            .iter()
            .find_map(|name| dims.iter().find(|d| d.name == *name))
            .or(if dims.len() == 1 { dims.first() } else { None })
            .ok_or_else(|| {
                let names: Vec<&str> = dims.iter().map(|d| d.name.as_str()).collect();
                bad(
                    path,
                    i as u64 + 1,
                    "MetricStat.Metric.Dimensions",
                    format!("no dimension names a resource (have: {})", names.join(", ")),
                )
            })?;
        let unit = stat.unit.unwrap_or_else(|| default_unit(&stat.metric.metric_name).to_string());
        out.insert(q.id, (resource.value.clone(), stat.metric.metric_name, stat.stat, unit));
    }
    Ok(out)
}

/// The series a `resource_id metric_name statistic [unit]` label names.
fn label_series(label: &str) -> Option<Series> {
    let words: Vec<&str> = label.split_whitespace().collect();
    match words.as_slice() {
        [r, m, s] => Some((r.to_string(), m.to_string(), s.to_string(), default_unit(m).to_string())),
        [r, m, s, u] => Some((r.to_string(), m.to_string(), s.to_string(), u.to_string())),
        _ => None,
    }
}

/// Reads the output of `aws cloudwatch get-metric-data` at `path`, with the queries file it was
/// run with (`queries`), or with each query's Label naming its series.
pub fn read_get_metric_data(path: &Path, queries: Option<&Path>) -> Result<Vec<RecordBatch>, IngestError> {
    let by_id = queries.map(query_series).transpose()?;
    let output: MetricDataOutput = read_json(path)?;
    let mut batches = Vec::new();
    let mut rows = Rows::new();
    for (i, result) in output.metric_data_results.iter().enumerate() {
        let row = i as u64 + 1;
        match result.status_code.as_deref() {
            None | Some("Complete") | Some("PartialData") => {}
            Some(code) => {
                return Err(bad(
                    path,
                    row,
                    "StatusCode",
                    format!("CloudWatch answered {code} for query '{}'", result.id),
                ));
            }
        }
        let series = match (&by_id, result.label.as_deref()) {
            (Some(map), _) if map.contains_key(&result.id) => map[&result.id].clone(),
            (_, Some(label)) if label_series(label).is_some() => label_series(label).expect("checked"),
            (Some(_), _) => {
                let queries = queries.map(|q| q.display().to_string()).unwrap_or_default();
                return Err(bad(
                    path,
                    row,
                    "Id",
                    format!(
                        "no metric query with Id '{}' in {queries}, and its Label does not name the series",
                        result.id
                    ),
                ));
            }
            (None, label) => {
                return Err(bad(
                    path,
                    row,
                    "Label",
                    format!(
                        "expected 'resource_id metric_name statistic', got '{}'; set the query's Label to \
                         \"${{PROP('Dim.InstanceId')}} ${{PROP('MetricName')}} ${{PROP('Stat')}}\" or pass the queries file",
                        label.unwrap_or("")
                    ),
                ));
            }
        };
        if result.timestamps.len() != result.values.len() {
            return Err(bad(
                path,
                row,
                "Values",
                format!("{} values for {} timestamps", result.values.len(), result.timestamps.len()),
            ));
        }
        let (resource, metric, statistic, unit) = series;
        for (k, (t, v)) in result.timestamps.iter().zip(&result.values).enumerate() {
            let ms = match t {
                Value::String(s) => parse_ms(s),
                other => Err(format!("not an ISO 8601 timestamp: '{other}'")),
            }
            .map_err(|r| bad(path, row, format!("Timestamps[{k}]"), r))?;
            let value = match v {
                Value::Number(n) => {
                    n.as_f64().filter(|x| x.is_finite()).ok_or_else(|| format!("not a finite number: '{n}'"))
                }
                other => Err(format!("not a number: '{other}'")),
            }
            .map_err(|r| bad(path, row, format!("Values[{k}]"), r))?;
            rows.push(&resource, ms, &metric, &statistic, value, &unit);
            if rows.len >= DEFAULT_BATCH_ROWS {
                batches.push(rows.finish(path)?);
            }
        }
    }
    if rows.len > 0 || batches.is_empty() {
        batches.push(rows.finish(path)?);
    }
    Ok(batches)
}

/// Reads a metrics file of either kind: JSON (first non-blank byte `{`) as get-metric-data
/// output with the optional queries file, anything else as the long CSV.
pub fn read_all(path: &Path, queries: Option<&Path>) -> Result<Vec<RecordBatch>, IngestError> {
    let mut head = [0u8; 64];
    let n = File::open(path).and_then(|mut f| f.read(&mut head)).map_err(|e| IngestError::io(path, e))?;
    if head[..n].iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        read_get_metric_data(path, queries)
    } else {
        open_csv(path, DEFAULT_BATCH_ROWS)?.collect()
    }
}
