//! FOCUS 1.0–1.3 reader: CSV, CSV.gz and Parquet exports from any provider (AWS, Azure, GCP, OCI).
//!
//! # Columns
//! Column names of every version map to the lake's through [`costpilot_model::column`]: the 1.0–1.3
//! names and the older aliases (ChargeType, AmortizedCost, UsageQuantity, Provider, ...), ignoring
//! case; where a file has both a name and its alias, the current name wins. Provider `x_` columns
//! are kept when the lake has a column of that name (x_UsageType, x_Operation, x_CostCategories,
//! ...); every other column is dropped. x_SourceFormat is always "focus".
//!
//! The columns in [`REQUIRED_COLUMNS`], and a provider name (ServiceProviderName or ProviderName),
//! must be present or the file is refused with [`IngestError::MissingColumn`]: they are what the
//! lake keys, sums and dates rows by. Every other column may be absent and is then null, except
//! BillingPeriodEnd, which becomes BillingPeriodStart + 1 month (also for a null cell).
//!
//! # Values
//! - Empty fields and the bare word `NULL` are null.
//! - Money and quantities are read as exact decimals (15 places), never through a float.
//! - Date/times are ISO 8601; without a zone they are UTC, as FOCUS requires.
//! - Key/value columns (Tags, SkuPriceDetails, x_CostCategories) are JSON objects in a string, or
//!   Parquet maps. String values are taken as they are, other JSON values keep their JSON text
//!   (`3`, `true`, `{"a":1}`), JSON `null` is a null value; pairs are stored sorted by key, whatever
//!   the source. A cell that is not a JSON object is a fault on its row, naming the column.
//! - Values of enumerated columns (ChargeCategory, ChargeFrequency, ...) that match an allowed
//!   value ignoring case take its spelling (OCI writes "Usage-based"); other values are kept.
//!
//! # Nulls
//! A null in any of [`NOT_NULL_COLUMNS`], or in both provider names, is a fault on its row. ListCost
//! and ContractedCost, though FOCUS does not allow nulls in them either, are kept null: real
//! exports (OCI's) leave ContractedCost empty, and the reader does not invent amounts.
//!
//! # Provider names
//! FOCUS 1.3 replaces ProviderName and PublisherName (deprecated) with ServiceProviderName and
//! adds HostProviderName. Per row, where one side is null or absent:
//! - ServiceProviderName takes ProviderName, and ProviderName takes ServiceProviderName (the same
//!   role under its old and new names);
//! - PublisherName takes ServiceProviderName (1.3 folds the publisher into the service provider);
//! - HostProviderName is only what the file says: a host is never guessed.
//!
//! # Faults
//! Rows with faults are skipped and counted in the [`FileReport`]; with `strict` the first one
//! fails the read, naming file, row and column.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Months};
use costpilot_model::{COLUMNS, ColumnDef, ColumnKind, column, names};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray,
    TimestampMicrosecondBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;

use crate::convert::{Columns, Finished, KeyValueBuilder, constant_string};
use crate::raw::{Container, RawBatch, RawReader};
use crate::{BatchReader, FileReport, IngestError, ReadOptions, SourceFile, SourceKind};

/// The format name in messages and reports.
const FORMAT: &str = "FOCUS";

/// Columns a FOCUS file must have (by canonical name; any version's name or alias will do).
pub const REQUIRED_COLUMNS: &[&str] = &[
    names::BILLED_COST,
    names::EFFECTIVE_COST,
    names::BILLING_ACCOUNT_ID,
    names::BILLING_CURRENCY,
    names::BILLING_PERIOD_START,
    names::CHARGE_CATEGORY,
    names::CHARGE_PERIOD_START,
    names::CHARGE_PERIOD_END,
];

/// Columns in which a null cell is a fault on its row.
pub const NOT_NULL_COLUMNS: &[&str] = REQUIRED_COLUMNS;

/// Opens a FOCUS file.
pub fn open(file: &SourceFile, opts: &ReadOptions) -> Result<Box<dyn BatchReader>, IngestError> {
    let raw_opts = opts.raw(true);
    let raw = match file.container {
        Container::Parquet => {
            let wanted = wanted_columns();
            RawReader::open_parquet(&file.path, Some(&wanted), &raw_opts)?
        }
        Container::Csv | Container::CsvGz => RawReader::open(&file.path, file.container, &raw_opts)?,
    };
    let plan = Plan::new(&file.path, &raw.column_names())?;
    Ok(Box::new(FocusReader {
        raw,
        plan,
        report: FileReport::new(&file.path, SourceKind::Focus.as_str(), file.bytes),
        strict: opts.strict,
        done: false,
    }))
}

/// Every name, alias included, that a lake column may have in a file: what to read from Parquet.
fn wanted_columns() -> Vec<&'static str> {
    COLUMNS
        .iter()
        .filter(|c| c.name != names::X_SOURCE_FORMAT)
        .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
        .collect()
}

struct FocusReader {
    raw: RawReader,
    plan: Plan,
    report: FileReport,
    strict: bool,
    done: bool,
}

impl Iterator for FocusReader {
    type Item = Result<RecordBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let raw = match self.raw.next() {
                None => {
                    self.done = true;
                    return None;
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Some(Ok(raw)) => raw,
            };
            self.report.rows_read += (raw.batch.num_rows() + raw.malformed.len()) as u64;
            match self.plan.convert(&raw, self.raw.path(), self.strict) {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(Finished { batch, bad, nulled }) => {
                    self.report.skip(bad);
                    self.report.null(nulled);
                    self.report.rows_kept += batch.num_rows() as u64;
                    if batch.num_rows() > 0 {
                        return Some(Ok(batch));
                    }
                }
            }
        }
        None
    }
}

impl BatchReader for FocusReader {
    fn report(&self) -> &FileReport {
        &self.report
    }
}

/// Which file column fills each lake column.
struct Plan {
    /// Lake columns present in the file, in lake order, with the file's spelling of each.
    columns: Vec<(&'static ColumnDef, String)>,
}

impl Plan {
    fn new(path: &Path, file_columns: &[String]) -> Result<Self, IngestError> {
        // canonical name -> (file spelling, spelled canonically)
        let mut chosen: HashMap<&'static str, (String, bool)> = HashMap::new();
        for name in file_columns {
            let Some(def) = column(name).filter(|d| d.name != names::X_SOURCE_FORMAT) else {
                continue;
            };
            let exact = def.name.eq_ignore_ascii_case(name.trim());
            match chosen.get(def.name) {
                Some((_, true)) => {}
                Some((_, false)) if !exact => {}
                _ => {
                    chosen.insert(def.name, (name.clone(), exact));
                }
            }
        }
        let missing = |column: &str| IngestError::MissingColumn {
            path: path.into(),
            column: column.to_string(),
            format: FORMAT,
        };
        if let Some(absent) = REQUIRED_COLUMNS.iter().find(|c| !chosen.contains_key(**c)) {
            return Err(missing(absent));
        }
        if !chosen.contains_key(names::SERVICE_PROVIDER_NAME) && !chosen.contains_key(names::PROVIDER_NAME) {
            return Err(missing("ServiceProviderName (or ProviderName)"));
        }
        let columns = COLUMNS
            .iter()
            .filter_map(|def| chosen.remove(def.name).map(|(spelling, _)| (def, spelling)))
            .collect();
        Ok(Self { columns })
    }

    /// The file's spelling of a lake column, if the file has it.
    fn source(&self, canonical: &str) -> Option<&str> {
        self.columns.iter().find(|(d, _)| d.name == canonical).map(|(_, s)| s.as_str())
    }

    fn convert(&self, raw: &RawBatch, path: &Path, strict: bool) -> Result<Finished, IngestError> {
        let mut c = Columns::new(raw);
        let len = c.len();
        let mut out: HashMap<&'static str, ArrayRef> = HashMap::new();
        for (def, src) in &self.columns {
            let array: Option<ArrayRef> = match def.kind {
                ColumnKind::Money | ColumnKind::Decimal => c.decimal(src).map(|a| Arc::new(a) as ArrayRef),
                ColumnKind::DateTime => c.timestamp(src).map(|a| Arc::new(a) as ArrayRef),
                ColumnKind::String => c.string(src).map(|a| Arc::new(respell(a, def.allowed)) as ArrayRef),
                ColumnKind::KeyValue => key_values(&mut c, src),
            };
            if let Some(array) = array {
                out.insert(def.name, array);
            }
        }

        for name in NOT_NULL_COLUMNS {
            if let (Some(src), Some(array)) = (self.source(name), out.get(name)) {
                for i in (0..len).filter(|&i| array.is_null(i)) {
                    c.fault(i, src, "is empty; FOCUS requires a value");
                }
            }
        }

        self.fill_providers(&mut c, &mut out);

        let start = out.get(names::BILLING_PERIOD_START).map(|a| a.as_primitive().clone());
        if let Some(start) = start {
            let end = out.get(names::BILLING_PERIOD_END).map(|a| a.as_primitive().clone());
            out.insert(names::BILLING_PERIOD_END, Arc::new(period_end(&start, end.as_ref())));
        }
        out.insert(names::X_SOURCE_FORMAT, constant_string(SourceKind::Focus.as_str(), len));

        c.finish(path, out.into_iter().collect(), strict)
    }

    /// Fills the provider columns from each other (see the module documentation) and faults rows
    /// left without any provider name.
    fn fill_providers(&self, c: &mut Columns<'_>, out: &mut HashMap<&'static str, ArrayRef>) {
        let text = |name: &str| out.get(name).map(|a| a.as_string::<i32>().clone());
        let provider = text(names::PROVIDER_NAME);
        let service = text(names::SERVICE_PROVIDER_NAME);
        let publisher = text(names::PUBLISHER_NAME);
        let provider_filled = coalesce(provider.as_ref(), service.as_ref());
        let service_filled = coalesce(service.as_ref(), provider.as_ref());
        let publisher_filled = coalesce(publisher.as_ref(), Some(&service_filled));
        let src = self
            .source(names::SERVICE_PROVIDER_NAME)
            .or(self.source(names::PROVIDER_NAME))
            .unwrap_or_default();
        for i in (0..provider_filled.len()).filter(|&i| provider_filled.is_null(i)) {
            c.fault(i, src, "is empty; FOCUS requires a provider name");
        }
        out.insert(names::PROVIDER_NAME, Arc::new(provider_filled));
        out.insert(names::SERVICE_PROVIDER_NAME, Arc::new(service_filled));
        out.insert(names::PUBLISHER_NAME, Arc::new(publisher_filled));
    }
}

/// Row by row, `first` where it has a value, else `second`.
fn coalesce(first: Option<&StringArray>, second: Option<&StringArray>) -> StringArray {
    match (first, second) {
        (Some(a), Some(b)) => a.iter().zip(b.iter()).map(|(x, y)| x.or(y)).collect(),
        (Some(a), None) | (None, Some(a)) => a.clone(),
        (None, None) => StringArray::new_null(0),
    }
}

/// BillingPeriodEnd: the file's value, or BillingPeriodStart + 1 month where it has none.
fn period_end(
    start: &TimestampMicrosecondArray,
    end: Option<&TimestampMicrosecondArray>,
) -> TimestampMicrosecondArray {
    let mut b = TimestampMicrosecondBuilder::with_capacity(start.len());
    for i in 0..start.len() {
        let given = end.filter(|e| e.is_valid(i)).map(|e| e.value(i));
        let derived = || {
            start
                .is_valid(i)
                .then(|| DateTime::from_timestamp_micros(start.value(i)))
                .flatten()
                .and_then(|d| d.checked_add_months(Months::new(1)))
                .map(|d| d.timestamp_micros())
        };
        b.append_option(given.or_else(derived));
    }
    b.finish().with_timezone("UTC")
}

/// Gives values of an enumerated column the allowed spelling they match ignoring case.
fn respell(values: StringArray, allowed: &[&str]) -> StringArray {
    if allowed.is_empty() || values.iter().flatten().all(|v| allowed.contains(&v)) {
        return values;
    }
    values
        .iter()
        .map(|v| v.map(|v| allowed.iter().find(|a| a.eq_ignore_ascii_case(v)).copied().unwrap_or(v)))
        .collect()
}

/// A key/value column: a Parquet map as it is, or JSON objects in text.
fn key_values(c: &mut Columns<'_>, src: &str) -> Option<ArrayRef> {
    let col = c.get(src)?.clone();
    let mut b = KeyValueBuilder::new();
    if let DataType::Map(_, _) = col.data_type() {
        let map = col.as_map();
        let (keys, values) = match (cast(map.keys(), &DataType::Utf8), cast(map.values(), &DataType::Utf8)) {
            (Ok(k), Ok(v)) => (k, v),
            (Err(e), _) | (_, Err(e)) => {
                for i in (0..map.len()).filter(|&i| map.is_valid(i)) {
                    c.fault(i, src, format!("not key/value text: {e}"));
                }
                (0..map.len()).for_each(|_| b.append_null());
                return Some(b.finish());
            }
        };
        let (keys, values) = (keys.as_string::<i32>(), values.as_string::<i32>());
        let offsets = map.value_offsets();
        for i in 0..map.len() {
            if map.is_null(i) {
                b.append_null();
                continue;
            }
            let mut entries: Vec<(&str, Option<&str>)> = (offsets[i] as usize..offsets[i + 1] as usize)
                .map(|j| (keys.value(j), values.is_valid(j).then(|| values.value(j))))
                .collect();
            entries.sort_by_key(|(k, _)| *k);
            b.append(entries);
        }
        return Some(b.finish());
    }
    let text = c.string(src)?;
    for i in 0..text.len() {
        if text.is_null(i) {
            b.append_null();
            continue;
        }
        match json_object(text.value(i)) {
            Ok(pairs) => b.append(pairs.iter().map(|(k, v)| (k.as_str(), v.as_deref()))),
            Err(reason) => {
                c.fault(i, src, reason);
                b.append_null();
            }
        }
    }
    Some(b.finish())
}

/// The pairs of a JSON object; non-string values keep their JSON text, `null` is a null value.
fn json_object(text: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let shown = || {
        let mut s: String = text.chars().take(60).collect();
        if s.len() < text.len() {
            s.push_str("...");
        }
        s
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => Some(s),
                    serde_json::Value::Null => None,
                    other => Some(other.to_string()),
                };
                (k, v)
            })
            .collect()),
        Ok(_) => Err(format!("not a JSON object: {}", shown())),
        Err(e) => Err(format!("not a JSON object: {} ({e})", shown())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_objects_keep_non_string_values_as_json_text() {
        let pairs = json_object(r#"{"team": "web", "n": 3, "ok": true, "x": null, "o": {"a": 1}}"#).unwrap();
        let find = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
        assert_eq!(find("team"), Some(Some("web".into())));
        assert_eq!(find("n"), Some(Some("3".into())));
        assert_eq!(find("ok"), Some(Some("true".into())));
        assert_eq!(find("x"), Some(None));
        assert_eq!(find("o"), Some(Some(r#"{"a":1}"#.into())));
        assert_eq!(json_object("[1]").unwrap_err(), "not a JSON object: [1]");
        assert!(json_object("team=web").unwrap_err().starts_with("not a JSON object: team=web ("));
    }

    #[test]
    fn enumerations_take_the_allowed_spelling() {
        let a = StringArray::from(vec![Some("Usage-based"), None, Some("Other")]);
        let r = respell(a, &["Usage-Based", "One-Time"]);
        assert_eq!(r.value(0), "Usage-Based");
        assert!(r.is_null(1));
        assert_eq!(r.value(2), "Other");
    }

    #[test]
    fn billing_period_end_defaults_to_one_month_later() {
        let jan31 = 1_706_659_200_000_000; // 2024-01-31T00:00:00Z
        let start = TimestampMicrosecondArray::from(vec![Some(jan31), None]);
        let end = period_end(&start, None);
        assert_eq!(end.value(0), 1_709_164_800_000_000); // 2024-02-29T00:00:00Z
        assert!(end.is_null(1));
    }
}
