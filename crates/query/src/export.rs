//! FOCUS exports: the lake's rows as a FOCUS file of a given version.
//!
//! The file has the columns of that FOCUS version (by [`ColumnDef::in_version`]; 1.3 adds
//! ServiceProviderName and HostProviderName) in FOCUS's alphabetical order, then costpilot's `x_`
//! columns. Key/value columns (Tags, SkuPriceDetails, x_CostCategories, x_RawTags) are JSON
//! object text, times are UTC (`2024-09-01T00:00:00Z` in CSV), amounts are exact decimals with 15
//! places, and nulls are empty CSV fields or Parquet nulls. The FX columns of a session are not
//! exported: they depend on local configuration, not on the bill.
//!
//! The file is written to a temporary file beside the target, flushed, and renamed over it, so a
//! failed export leaves no partial file.
//!
//! ## Formulas in CSV
//! Finance opens CSV files in spreadsheets, which run a cell such as `=HYPERLINK(...)` or
//! `@SUM(...)` as a formula, and account names and tag values come from whoever created the
//! account or the resource. So a text cell of a CSV export that starts with `=`, `+`, `-`, `@`, a
//! tab or a carriage return gets a leading `'` (OWASP's rule for CSV injection), which spreadsheets
//! show as text: `=cmd|' /C calc'!A0` is written `'=cmd|' /C calc'!A0`. Numbers stay numbers: amount
//! and count columns are never changed, nor is a text cell that is a plain number (`-12.5`,
//! `+3`, `-1e5`). [`csv_safe_cell`] is the rule; the CLI's `--format csv` applies it too. Parquet
//! exports are written exactly: they are data for programs, not sheets.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use costpilot_model::{COLUMNS, ColumnDef, ColumnKind, FocusVersion, names};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, LargeStringArray, MapArray, RecordBatch, StringArray, StringBuilder,
    StringViewArray,
};
use datafusion::arrow::csv::WriterBuilder;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use datafusion::common::Column;
use datafusion::logical_expr::Expr;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use crate::error::QueryError;
use costpilot_lake::layout;
use costpilot_model::money::decimal_text;

/// The file formats an export can write, chosen by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `.parquet`
    Parquet,
    /// `.csv`
    Csv,
}

impl ExportFormat {
    /// The format a file name asks for, by its extension (case-insensitive).
    pub fn of(path: &Path) -> Option<ExportFormat> {
        let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
        match ext.as_str() {
            "parquet" => Some(ExportFormat::Parquet),
            "csv" => Some(ExportFormat::Csv),
            _ => None,
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportReport {
    /// The file written.
    pub path: PathBuf,
    /// Its format.
    pub format: ExportFormat,
    /// The FOCUS version of its columns.
    pub version: FocusVersion,
    /// The column names, in file order.
    pub columns: Vec<String>,
    /// Rows written.
    pub rows: u64,
    /// The file's size in bytes.
    pub bytes: u64,
    /// Σ BilledCost per currency of the rows written, exact decimal text.
    pub billed_cost: BTreeMap<String, String>,
}

/// The columns of an export of `version`, in file order.
pub fn export_columns(version: FocusVersion) -> Vec<&'static ColumnDef> {
    let mut focus: Vec<&ColumnDef> = COLUMNS.iter().filter(|c| c.in_version(version)).collect();
    focus.sort_by_key(|c| c.name);
    focus.extend(COLUMNS.iter().filter(|c| c.is_extension()));
    focus
}

/// Exports the rows of `table` (the lake columns) to `out`.
pub(crate) async fn export(
    ctx: &SessionContext,
    table: &str,
    version: FocusVersion,
    out: &Path,
) -> Result<ExportReport, QueryError> {
    let fail = |message: String| QueryError::Export { path: out.to_path_buf(), message };
    let format = ExportFormat::of(out).ok_or_else(|| {
        fail("the export format is taken from the file's extension, which must be .parquet or .csv".into())
    })?;
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(fail(format!("the folder {} does not exist", dir.display())));
    }
    let columns = export_columns(version);
    let schema: SchemaRef = Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| {
                let ty = if c.kind == ColumnKind::KeyValue { DataType::Utf8 } else { c.data_type() };
                Field::new(c.name, ty, true)
            })
            .collect::<Vec<_>>(),
    ));
    let select: Vec<Expr> = columns.iter().map(|c| Expr::Column(Column::new_unqualified(c.name))).collect();
    let mut stream = ctx.table(table).await?.select(select)?.execute_stream().await?;

    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let file = File::create(&tmp).map_err(|e| fail(format!("cannot create {}: {e}", tmp.display())))?;
    let mut sink = match format {
        ExportFormat::Parquet => {
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level 1 is valid")))
                .build();
            match ArrowWriter::try_new(BufWriter::new(file), schema.clone(), Some(props)) {
                Ok(w) => Sink::Parquet(Box::new(w)),
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(fail(e.to_string()));
                }
            }
        }
        ExportFormat::Csv => Sink::Csv(Box::new(
            WriterBuilder::new()
                .with_header(true)
                .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%SZ".to_string())
                .build(BufWriter::new(file)),
        )),
    };
    let mut rows = 0u64;
    let mut totals: BTreeMap<String, i128> = BTreeMap::new();
    let written: Result<(), String> = async {
        while let Some(batch) = stream.next().await {
            let batch = batch.map_err(|e| crate::error::df_message(&e))?;
            add_totals(&batch, &schema, &mut totals);
            let arrays: Vec<ArrayRef> = columns
                .iter()
                .zip(batch.columns())
                .map(|(c, a)| if c.kind == ColumnKind::KeyValue { map_to_json(a) } else { a.clone() })
                .collect();
            let mut out_batch = RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())?;
            if format == ExportFormat::Csv {
                out_batch = csv_safe_batch(&out_batch).map_err(|e| e.to_string())?;
            }
            sink.write(&out_batch)?;
            rows += batch.num_rows() as u64;
        }
        sink.finish()
    }
    .await;
    if let Err(message) = written {
        let _ = fs::remove_file(&tmp);
        return Err(fail(message));
    }
    let bytes = fs::metadata(&tmp).map(|m| m.len()).unwrap_or(0);
    if let Err(e) = fs::rename(&tmp, out) {
        let _ = fs::remove_file(&tmp);
        return Err(fail(e.to_string()));
    }
    layout::sync_dir(&dir)?;
    Ok(ExportReport {
        path: out.to_path_buf(),
        format,
        version,
        columns: columns.iter().map(|c| c.name.to_string()).collect(),
        rows,
        bytes,
        billed_cost: totals.into_iter().map(|(c, v)| (c, decimal_text(v))).collect(),
    })
}

enum Sink {
    Parquet(Box<ArrowWriter<BufWriter<File>>>),
    Csv(Box<datafusion::arrow::csv::Writer<BufWriter<File>>>),
}

impl Sink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), String> {
        match self {
            Sink::Parquet(w) => w.write(batch).map_err(|e| e.to_string()),
            Sink::Csv(w) => w.write(batch).map_err(|e| e.to_string()),
        }
    }

    /// Completes the file and flushes it to disk.
    fn finish(self) -> Result<(), String> {
        let buffered = match self {
            Sink::Parquet(w) => w.into_inner().map_err(|e| e.to_string())?,
            Sink::Csv(w) => w.into_inner(),
        };
        let mut file = buffered.into_inner().map_err(|e| e.error().to_string())?;
        file.flush().and_then(|_| file.sync_all()).map_err(|e| e.to_string())
    }
}

fn add_totals(batch: &RecordBatch, schema: &Schema, totals: &mut BTreeMap<String, i128>) {
    let (Ok(cost), Ok(currency)) =
        (schema.index_of(names::BILLED_COST), schema.index_of(names::BILLING_CURRENCY))
    else {
        return;
    };
    let cost = batch.column(cost).as_primitive::<Decimal128Type>();
    let currency = batch.column(currency).as_string::<i32>();
    for i in 0..batch.num_rows() {
        if cost.is_valid(i) && currency.is_valid(i) {
            let t = totals.entry(currency.value(i).to_string()).or_default();
            *t = t.saturating_add(cost.value(i));
        }
    }
}

/// A map column as JSON object text (`{"env":"prod"}`), keys in stored order; a null map is null.
pub fn map_to_json(array: &ArrayRef) -> ArrayRef {
    let Some(map) = array.as_any().downcast_ref::<MapArray>() else {
        return array.clone();
    };
    let keys = map.keys().as_string::<i32>();
    let values: &StringArray = map.values().as_string::<i32>();
    let offsets = map.value_offsets();
    let mut out = StringBuilder::with_capacity(map.len(), map.len() * 16);
    let mut text = String::new();
    for i in 0..map.len() {
        if map.is_null(i) {
            out.append_null();
            continue;
        }
        text.clear();
        text.push('{');
        for j in offsets[i] as usize..offsets[i + 1] as usize {
            if j > offsets[i] as usize {
                text.push(',');
            }
            text.push_str(&serde_json::Value::from(keys.value(j)).to_string());
            text.push(':');
            if values.is_null(j) {
                text.push_str("null");
            } else {
                text.push_str(&serde_json::Value::from(values.value(j)).to_string());
            }
        }
        text.push('}');
        out.append_value(&text);
    }
    Arc::new(out.finish())
}

/// A text cell as a spreadsheet may open it without running it: `'` before text that starts with
/// `=`, `+`, `-`, `@`, a tab or a carriage return, unless the text is a plain number (see the
/// module documentation).
pub fn csv_safe_cell(text: &str) -> Cow<'_, str> {
    match text.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') if !is_plain_number(text) => {
            Cow::Owned(format!("'{text}"))
        }
        _ => Cow::Borrowed(text),
    }
}

/// Whether `text` is a decimal number a spreadsheet reads as a number and nothing else: an
/// optional sign, digits with at most one point, and an optional exponent (`-12.5`, `+3`, `-1e5`).
fn is_plain_number(text: &str) -> bool {
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    !(int.is_empty() && frac.is_empty()) && digits(int) && digits(frac) && exponent_ok
}

/// The batch with every text column's cells through [`csv_safe_cell`] (text in dictionaries too);
/// other columns, amounts and counts among them, are the same arrays.
pub fn csv_safe_batch(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let columns: Vec<ArrayRef> = batch.columns().iter().map(csv_safe_array).collect();
    RecordBatch::try_new(batch.schema(), columns)
}

fn csv_safe_array(array: &ArrayRef) -> ArrayRef {
    fn unsafe_cell(v: Option<&str>) -> bool {
        v.is_some_and(|v| matches!(csv_safe_cell(v), Cow::Owned(_)))
    }
    let safe = |v: Option<&str>| v.map(|v| csv_safe_cell(v).into_owned());
    match array.data_type() {
        DataType::Utf8 if array.as_string::<i32>().iter().any(unsafe_cell) => {
            Arc::new(array.as_string::<i32>().iter().map(safe).collect::<StringArray>())
        }
        DataType::LargeUtf8 if array.as_string::<i64>().iter().any(unsafe_cell) => {
            Arc::new(array.as_string::<i64>().iter().map(safe).collect::<LargeStringArray>())
        }
        DataType::Utf8View if array.as_string_view().iter().any(unsafe_cell) => {
            Arc::new(array.as_string_view().iter().map(safe).collect::<StringViewArray>())
        }
        // A dictionary's rows are its values: neutralising the values covers every row, once.
        DataType::Dictionary(_, _) => {
            let dictionary = array.as_any_dictionary();
            let values = csv_safe_array(dictionary.values());
            if Arc::ptr_eq(&values, dictionary.values()) {
                array.clone()
            } else {
                dictionary.with_values(values)
            }
        }
        _ => array.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{DictionaryArray, Int64Array};
    use datafusion::arrow::datatypes::Int32Type;

    #[test]
    fn formulas_get_a_quote_and_numbers_stay() {
        for (cell, want) in [
            ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("+SUM(1+1)", "'+SUM(1+1)"),
            ("-1+2", "'-1+2"),
            ("@x", "'@x"),
            ("=HYPERLINK(\"http://x\",\"y\")", "'=HYPERLINK(\"http://x\",\"y\")"),
            ("\t=1", "'\t=1"),
            ("\r=1", "'\r=1"),
            ("-", "'-"),
            ("-.", "'-."),
            ("-1e", "'-1e"),
            ("-1.2.3", "'-1.2.3"),
            ("-12.5", "-12.5"),
            ("+3", "+3"),
            ("-1e5", "-1e5"),
            ("-2.5E-3", "-2.5E-3"),
            ("-.5", "-.5"),
            ("web-prod", "web-prod"),
            ("", ""),
            ("{\"team\":\"=x\"}", "{\"team\":\"=x\"}"),
        ] {
            assert_eq!(csv_safe_cell(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn a_batch_changes_only_its_text_cells() {
        let dictionary: DictionaryArray<Int32Type> =
            vec![Some("@a"), None, Some("b"), Some("@a")].into_iter().collect();
        let batch = RecordBatch::try_from_iter([
            (
                "name",
                Arc::new(StringArray::from(vec![Some("=1+1"), None, Some("ok"), Some("-3")])) as ArrayRef,
            ),
            ("n", Arc::new(Int64Array::from(vec![-1, 2, 3, -4])) as ArrayRef),
            ("tag", Arc::new(dictionary) as ArrayRef),
        ])
        .unwrap();
        let safe = csv_safe_batch(&batch).unwrap();
        assert_eq!(safe.schema(), batch.schema());
        let names: Vec<Option<&str>> = safe.column(0).as_string::<i32>().iter().collect();
        assert_eq!(names, [Some("'=1+1"), None, Some("ok"), Some("-3")]);
        assert!(Arc::ptr_eq(safe.column(1), batch.column(1)));
        let tags = safe.column(2).as_dictionary::<Int32Type>();
        let tags: Vec<Option<&str>> = tags.downcast_dict::<StringArray>().unwrap().into_iter().collect();
        assert_eq!(tags, [Some("'@a"), None, Some("b"), Some("'@a")]);
    }
}
