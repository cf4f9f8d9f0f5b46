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

/// Column `i` of `batch`, cast to `to`: for readers that look the index up by name first.
pub fn column(batch: &RecordBatch, i: usize, to: &DataType) -> Result<ArrayRef, QueryError> {
    cast(batch.column(i), to).map_err(|e| QueryError::Query(format!("column {i}: {e}")))
}

/// Column `i` as text.
pub fn strings(batch: &RecordBatch, i: usize) -> Result<Vec<Option<String>>, QueryError> {
    let a = column(batch, i, &DataType::Utf8)?;
    Ok(a.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect())
}

/// Column `i` as exact amounts (units of 10^-15).
pub fn amounts(batch: &RecordBatch, i: usize) -> Result<Vec<Option<i128>>, QueryError> {
    let a = column(batch, i, &money_type())?;
    Ok(a.as_primitive::<Decimal128Type>().iter().collect())
}

/// Column `i` as UTC microseconds.
pub fn times(batch: &RecordBatch, i: usize) -> Result<Vec<Option<i64>>, QueryError> {
    let a = column(batch, i, &timestamp_type())?;
    Ok(a.as_primitive::<TimestampMicrosecondType>().iter().collect())
}

/// Column `i` as counts (null and negative read as 0).
pub fn counts(batch: &RecordBatch, i: usize) -> Result<Vec<u64>, QueryError> {
    let a = column(batch, i, &DataType::Int64)?;
    Ok(a.as_primitive::<Int64Type>().iter().map(|v| v.unwrap_or(0).max(0) as u64).collect())
}

/// The column of `batch` called `name`, cast to `to`; an error naming the column when the batch
/// has none of that name. Analyses read the columns of their typed queries by name, so a change
/// to a query's SELECT list cannot silently shift which figure lands where.
pub fn column_by_name(batch: &RecordBatch, name: &str, to: &DataType) -> Result<ArrayRef, QueryError> {
    let i = batch.schema().index_of(name).map_err(|_| {
        let found: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
        QueryError::Query(format!("the result has no column '{name}' (it has: {})", found.join(", ")))
    })?;
    cast(batch.column(i), to).map_err(|e| QueryError::Query(format!("column '{name}': {e}")))
}

/// The column called `name` as text.
pub fn strings_named(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>, QueryError> {
    let a = column_by_name(batch, name, &DataType::Utf8)?;
    Ok(a.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect())
}

/// The column called `name` as exact amounts (units of 10^-15).
pub fn amounts_named(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i128>>, QueryError> {
    let a = column_by_name(batch, name, &money_type())?;
    Ok(a.as_primitive::<Decimal128Type>().iter().collect())
}

/// The column called `name` as UTC microseconds.
pub fn times_named(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>, QueryError> {
    let a = column_by_name(batch, name, &timestamp_type())?;
    Ok(a.as_primitive::<TimestampMicrosecondType>().iter().collect())
}

/// The column called `name` as counts (null and negative read as 0).
pub fn counts_named(batch: &RecordBatch, name: &str) -> Result<Vec<u64>, QueryError> {
    let a = column_by_name(batch, name, &DataType::Int64)?;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};

    use super::*;

    #[test]
    fn columns_are_read_by_name_and_a_missing_one_is_named() {
        let batch = RecordBatch::try_from_iter([
            ("currency", Arc::new(StringArray::from(vec!["EUR", "USD"])) as ArrayRef),
            ("row_count", Arc::new(Int64Array::from(vec![Some(3), None])) as ArrayRef),
        ])
        .unwrap();
        assert_eq!(strings_named(&batch, "currency").unwrap(), [Some("EUR".into()), Some("USD".into())]);
        assert_eq!(counts_named(&batch, "row_count").unwrap(), [3, 0]);
        assert_eq!(
            counts_named(&batch, "rows").unwrap_err().to_string(),
            "the result has no column 'rows' (it has: currency, row_count)"
        );
    }
}
