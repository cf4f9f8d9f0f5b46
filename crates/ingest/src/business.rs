//! Business metrics: volumes a cost is divided by (requests, active customers, tokens served), for
//! unit costs.
//!
//! The input is a CSV (plain or gzip, told apart by the first bytes) with a header and the columns
//! `name`, `timestamp` and `value` in any order; every other column is a dimension the volume is
//! broken down by (`application`, `team`, ...), named as the tag rules name their allocation
//! dimensions so the volumes join the cost's `x_<dimension>` columns. A blank dimension cell means
//! the row does not break down by it. `timestamp` is ISO 8601 (`2025-01-01T00:00:00Z`; a time
//! without an offset is UTC) and `value` a decimal number. This is what `costpilot generate`
//! writes as `business-metrics.csv`.
//!
//! Bad input is refused whole with an error naming the file, the 1-based data row and the
//! column; two rows for the same metric, time and dimension values are refused, naming both.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use costpilot_model::money::parse_decimal;
use costpilot_model::{money_type, parse_timestamp_micros};
use datafusion::arrow::array::{
    ArrayRef, Decimal128Builder, MapBuilder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use flate2::read::MultiGzDecoder;

use crate::IngestError;

/// The columns every business-metrics file has; all others are dimensions.
pub const REQUIRED: [&str; 3] = ["name", "timestamp", "value"];

/// One volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// The metric (`requests`).
    pub name: String,
    /// When, in UTC microseconds.
    pub timestamp: i64,
    /// Dimension → value, for the dimensions the row has.
    pub dimensions: BTreeMap<String, String>,
    /// The volume, in units of 10^-15.
    pub value: i128,
}

/// The Arrow schema business metrics are stored in.
pub fn schema() -> SchemaRef {
    let entries = Field::new(
        "entries",
        DataType::Struct(
            vec![Field::new("keys", DataType::Utf8, false), Field::new("values", DataType::Utf8, true)]
                .into(),
        ),
        false,
    );
    Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("timestamp", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("dimensions", DataType::Map(Arc::new(entries), false), false),
        Field::new("value", money_type(), false),
    ]))
}

/// Reads a business-metrics CSV.
pub fn read(path: &Path) -> Result<Vec<Point>, IngestError> {
    let bytes = std::fs::read(path).map_err(|e| IngestError::io(path, e))?;
    let text = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = String::new();
        MultiGzDecoder::new(bytes.as_slice())
            .read_to_string(&mut out)
            .map_err(|e| IngestError::io(path, e))?;
        out
    } else {
        String::from_utf8(bytes).map_err(|e| IngestError::Csv {
            path: path.to_path_buf(),
            line: 1,
            message: format!("not UTF-8 text: {e}"),
        })?
    };
    parse(&text, path)
}

/// Parses business-metrics CSV text (`path` names it in errors).
pub fn parse(text: &str, path: &Path) -> Result<Vec<Point>, IngestError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let csv_error = |e: csv::Error| IngestError::Csv {
        path: path.to_path_buf(),
        line: e.position().map_or(1, |p| p.line()),
        message: e.to_string(),
    };
    let header: Vec<String> = reader.headers().map_err(csv_error)?.iter().map(str::to_string).collect();
    let index = |name: &str| {
        header.iter().position(|h| h == name).ok_or_else(|| IngestError::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            format: "business metrics",
        })
    };
    let (name_at, time_at, value_at) = (index("name")?, index("timestamp")?, index("value")?);
    let dimension_columns: Vec<usize> =
        (0..header.len()).filter(|i| ![name_at, time_at, value_at].contains(i)).collect();
    let mut points = Vec::new();
    let mut seen: HashMap<(String, i64, BTreeMap<String, String>), u64> = HashMap::new();
    for (i, record) in reader.records().enumerate() {
        let row = i as u64 + 1;
        let record = record.map_err(csv_error)?;
        let bad = |column: usize, reason: String| IngestError::BadRow {
            path: path.to_path_buf(),
            row,
            column: header[column].clone(),
            reason,
        };
        let cell = |c: usize| record.get(c).unwrap_or("");
        let name = cell(name_at);
        if name.is_empty() {
            return Err(bad(name_at, "the metric name is blank".into()));
        }
        let timestamp = parse_timestamp_micros(cell(time_at))
            .map_err(|_| bad(time_at, format!("'{}' is not an ISO 8601 time", cell(time_at))))?;
        let value = parse_decimal(cell(value_at)).map_err(|e| bad(value_at, e.to_string()))?;
        let dimensions: BTreeMap<String, String> = dimension_columns
            .iter()
            .filter(|c| !cell(**c).is_empty())
            .map(|c| (header[*c].clone(), cell(*c).to_string()))
            .collect();
        if let Some(first) = seen.insert((name.to_string(), timestamp, dimensions.clone()), row) {
            return Err(bad(
                time_at,
                format!("'{name}' at {} with the same dimensions is already in row {first}", cell(time_at)),
            ));
        }
        points.push(Point { name: name.to_string(), timestamp, dimensions, value });
    }
    Ok(points)
}

/// The points as one batch of [`schema`].
pub fn to_batch(points: &[Point]) -> RecordBatch {
    let mut names = StringBuilder::new();
    let mut times = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut dims = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    let mut values = Decimal128Builder::new().with_data_type(money_type());
    for p in points {
        names.append_value(&p.name);
        times.append_value(p.timestamp);
        for (k, v) in &p.dimensions {
            dims.keys().append_value(k);
            dims.values().append_value(v);
        }
        dims.append(true).expect("keys and values are appended in pairs");
        values.append_value(p.value);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(names.finish()),
        Arc::new(times.finish()),
        Arc::new(dims.finish()),
        Arc::new(values.finish()),
    ];
    RecordBatch::try_new(schema(), columns).expect("columns match the schema")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text, Path::new("m.csv")).unwrap_err().to_string()
    }

    #[test]
    fn reads_the_generated_columns_and_any_dimensions() {
        let text = "name,timestamp,application,value\nrequests,2025-01-01T00:00:00Z,web,120\nrequests,2025-01-01T00:00:00Z,,7.5\n";
        let points = parse(text, Path::new("m.csv")).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].dimensions, BTreeMap::from([("application".to_string(), "web".to_string())]));
        assert_eq!(points[0].timestamp, 1_735_689_600_000_000);
        assert_eq!(points[1].value, 7_500_000_000_000_000);
        assert!(points[1].dimensions.is_empty());
        let batch = to_batch(&points);
        assert_eq!((batch.num_rows(), batch.schema()), (2, schema()));
    }

    #[test]
    fn bad_rows_name_the_row_and_column() {
        assert_eq!(err("name,timestamp\n"), "m.csv: missing required column 'value' for business metrics");
        assert_eq!(
            err("name,timestamp,value\nrequests,yesterday,1\n"),
            "m.csv: row 1, column 'timestamp': 'yesterday' is not an ISO 8601 time"
        );
        assert_eq!(
            err(
                "name,timestamp,value\nrequests,2025-01-01T00:00:00Z,1\nrequests,2025-01-01T00:00:00Z,many\n"
            ),
            "m.csv: row 2, column 'value': 'many' is not a number"
        );
        assert_eq!(
            err(
                "name,timestamp,app,value\nrequests,2025-01-01T00:00:00Z,a,1\nrequests,2025-01-01T00:00:00Z,a,2\n"
            ),
            "m.csv: row 2, column 'timestamp': 'requests' at 2025-01-01T00:00:00Z with the same dimensions is already in row 1"
        );
        assert_eq!(
            err("name,timestamp,value\n,2025-01-01T00:00:00Z,1\n"),
            "m.csv: row 1, column 'name': the metric name is blank"
        );
    }
}
