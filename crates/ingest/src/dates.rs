//! Checks of a row's dates that parsing alone lets through: a charge that ends before it starts, a
//! year no bill can have (9999, 1960), and a billing period other than the one its delivery folder
//! names. Each would otherwise become a unit of its own in the lake (a `9999-06` bucket in every
//! monthly report), so such a row is bad like any unreadable one.

use std::path::Path;

use chrono::{DateTime, Months, NaiveDate};
use costpilot_model::names;
use costpilot_model::time::format_micros;
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::TimestampMicrosecondType;

/// The first instant a bill may name: AWS billing began in 2006, and no export predates 2000.
const EARLIEST: i64 = 946_684_800_000_000;
/// The first instant past the last year a bill may name (2100-01-01).
const LATEST: i64 = 4_102_444_800_000_000;

/// The billing period a delivery folder names, from the path of one of its files: AWS Data
/// Exports put a period's files under `BILLING_PERIOD=YYYY-MM/`, legacy CUR under
/// `YYYYMMDD-YYYYMMDD/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderPeriod {
    /// The folder's name, for messages.
    pub folder: String,
    /// The period's first instant, UTC microseconds.
    pub start: i64,
    /// The instant after its end.
    pub end: i64,
}

impl FolderPeriod {
    /// The period of the innermost folder of `path` that names one, if any.
    pub fn of(path: &Path) -> Option<Self> {
        path.ancestors().skip(1).filter_map(|dir| dir.file_name()?.to_str()).find_map(Self::parse)
    }

    fn parse(folder: &str) -> Option<Self> {
        let micros = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_micros());
        let (start, end) = if let Some(month) = folder.strip_prefix("BILLING_PERIOD=") {
            let first = NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").ok()?;
            (first, first.checked_add_months(Months::new(1))?)
        } else {
            let (a, b) = folder.split_once('-')?;
            if a.len() != 8 || b.len() != 8 {
                return None;
            }
            (NaiveDate::parse_from_str(a, "%Y%m%d").ok()?, NaiveDate::parse_from_str(b, "%Y%m%d").ok()?)
        };
        Some(Self { folder: folder.to_string(), start: micros(start)?, end: micros(end)? })
    }
}

/// Calls `fault(row, column, reason)` for every row of the lake columns given whose dates cannot
/// be: outside 2000–2099, a charge or billing period that ends before it starts, or (when the file
/// lies in a delivery folder) a BillingPeriodStart outside the folder's period.
pub fn check(
    columns: &[(&'static str, ArrayRef)],
    folder: Option<&FolderPeriod>,
    mut fault: impl FnMut(usize, &'static str, String),
) {
    let column = |name: &str| {
        columns
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, a)| a.as_primitive_opt::<TimestampMicrosecondType>())
    };
    let timestamps = [
        names::CHARGE_PERIOD_START,
        names::CHARGE_PERIOD_END,
        names::BILLING_PERIOD_START,
        names::BILLING_PERIOD_END,
    ];
    for name in timestamps {
        let Some(values) = column(name) else { continue };
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v.filter(|v| !(EARLIEST..LATEST).contains(v)) {
                fault(i, name, format!("{} is outside the years 2000 to 2099", shown(v)));
            }
        }
    }
    let pairs = [
        (names::CHARGE_PERIOD_START, names::CHARGE_PERIOD_END),
        (names::BILLING_PERIOD_START, names::BILLING_PERIOD_END),
    ];
    for (start_name, end_name) in pairs {
        let (Some(start), Some(end)) = (column(start_name), column(end_name)) else { continue };
        for i in 0..start.len().min(end.len()) {
            if start.is_valid(i) && end.is_valid(i) && end.value(i) < start.value(i) {
                let reason =
                    format!("ends ({}) before {start_name} ({})", shown(end.value(i)), shown(start.value(i)));
                fault(i, end_name, reason);
            }
        }
    }
    if let (Some(folder), Some(start)) = (folder, column(names::BILLING_PERIOD_START)) {
        for (i, v) in start.iter().enumerate() {
            if let Some(v) = v.filter(|v| !(folder.start..folder.end).contains(v)) {
                let reason =
                    format!("{} is not in the billing period of its folder {}", shown(v), folder.folder);
                fault(i, names::BILLING_PERIOD_START, reason);
            }
        }
    }
}

fn shown(micros: i64) -> String {
    match DateTime::from_timestamp_micros(micros) {
        Some(_) => format_micros(micros),
        None => format!("{micros} µs"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::TimestampMicrosecondArray;

    use super::*;

    fn ts(text: &str) -> i64 {
        costpilot_model::parse_timestamp_micros(text).unwrap()
    }

    fn array(values: &[&str]) -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from(values.iter().map(|v| ts(v)).collect::<Vec<_>>())
                .with_timezone("UTC"),
        )
    }

    #[test]
    fn folders_name_their_billing_period() {
        let p = FolderPeriod::of(Path::new("x/data/BILLING_PERIOD=2025-01/part-1.parquet")).unwrap();
        assert_eq!(
            (p.folder.as_str(), p.start, p.end),
            ("BILLING_PERIOD=2025-01", ts("2025-01-01"), ts("2025-02-01"))
        );
        let p = FolderPeriod::of(Path::new("cur/r/20241201-20250101/abc/r-1.csv.gz")).unwrap();
        assert_eq!((p.start, p.end), (ts("2024-12-01"), ts("2025-01-01")));
        assert_eq!(FolderPeriod::of(Path::new("bills/2025-01/bill.csv")), None);
        assert_eq!(FolderPeriod::of(Path::new("BILLING_PERIOD=2025-13/bill.csv")), None);
    }

    #[test]
    fn impossible_dates_are_faults_on_their_rows_and_columns() {
        let columns = vec![
            (names::CHARGE_PERIOD_START, array(&["2025-01-01", "9999-01-01", "2025-01-02", "2025-01-01"])),
            (names::CHARGE_PERIOD_END, array(&["2025-01-02", "2025-01-02", "2025-01-01", "2025-01-01"])),
            (names::BILLING_PERIOD_START, array(&["2025-01-01", "2025-01-01", "2025-01-01", "1960-01-01"])),
        ];
        let folder = FolderPeriod::of(Path::new("BILLING_PERIOD=2025-01/a.parquet")).unwrap();
        let mut faults = Vec::new();
        check(&columns, Some(&folder), |i, c, r| faults.push((i, c, r)));
        faults.sort();
        assert_eq!(
            faults,
            vec![
                (
                    1,
                    names::CHARGE_PERIOD_END,
                    "ends (2025-01-02T00:00:00Z) before ChargePeriodStart (9999-01-01T00:00:00Z)".into()
                ),
                (
                    1,
                    names::CHARGE_PERIOD_START,
                    "9999-01-01T00:00:00Z is outside the years 2000 to 2099".into()
                ),
                (
                    2,
                    names::CHARGE_PERIOD_END,
                    "ends (2025-01-01T00:00:00Z) before ChargePeriodStart (2025-01-02T00:00:00Z)".into()
                ),
                (
                    3,
                    names::BILLING_PERIOD_START,
                    "1960-01-01T00:00:00Z is not in the billing period of its folder BILLING_PERIOD=2025-01"
                        .into()
                ),
                (
                    3,
                    names::BILLING_PERIOD_START,
                    "1960-01-01T00:00:00Z is outside the years 2000 to 2099".into()
                ),
            ]
        );
    }
}
