//! Reading query results and writing amounts: the helpers every report over the lake shares.

use costpilot_model::{money_type, timestamp_type};
use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Int64Type, TimestampMicrosecondType};
use serde::Serializer;

use crate::error::QueryError;
use costpilot_model::money::decimal_text;

/// The same instant one calendar month later.
pub fn next_month(micros: i64) -> i64 {
    chrono::DateTime::from_timestamp_micros(micros)
        .and_then(|t| t.checked_add_months(chrono::Months::new(1)))
        .map(|t| t.timestamp_micros())
        .unwrap_or(micros)
}

/// A SQL string literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Column `i` of `batch`, cast to `to`.
pub fn column(batch: &RecordBatch, i: usize, to: &DataType) -> Result<ArrayRef, QueryError> {
    cast(batch.column(i), to).map_err(|e| QueryError::Query(format!("column {i}: {e}")))
}

/// Column `i` as text.
pub fn strings(batch: &RecordBatch, i: usize) -> Result<Vec<Option<String>>, QueryError> {
    let a = column(batch, i, &DataType::Utf8)?;
    Ok(a.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect())
}

/// Column `i` as amounts in units of 10^-15.
pub fn amounts(batch: &RecordBatch, i: usize) -> Result<Vec<Option<i128>>, QueryError> {
    let a = column(batch, i, &money_type())?;
    Ok(a.as_primitive::<Decimal128Type>().iter().collect())
}

/// Column `i` as UTC microseconds.
pub fn times(batch: &RecordBatch, i: usize) -> Result<Vec<Option<i64>>, QueryError> {
    let a = column(batch, i, &timestamp_type())?;
    Ok(a.as_primitive::<TimestampMicrosecondType>().iter().collect())
}

/// Column `i` as counts (nulls and negatives as 0).
pub fn counts(batch: &RecordBatch, i: usize) -> Result<Vec<u64>, QueryError> {
    let a = column(batch, i, &DataType::Int64)?;
    Ok(a.as_primitive::<Int64Type>().iter().map(|v| v.unwrap_or(0).max(0) as u64).collect())
}

/// Serialises an amount (units of 10^-15) as exact decimal text.
pub fn amount<S: Serializer>(units: &i128, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&decimal_text(*units))
}

/// Serialises an optional amount as exact decimal text or null.
pub fn opt_amount<S: Serializer>(units: &Option<i128>, s: S) -> Result<S::Ok, S::Error> {
    match units {
        Some(u) => s.serialize_str(&decimal_text(*u)),
        None => s.serialize_none(),
    }
}
