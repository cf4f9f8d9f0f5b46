//! `date_trunc` on UTC timestamps by integer arithmetic.
//!
//! Every lake timestamp is `Timestamp(µs, "UTC")`, and grouping by day or month is the commonest
//! thing a cost query does. DataFusion's built-in `date_trunc` treats any timestamp with a time zone
//! as possibly having daylight-saving shifts, so for hour and coarser granularities it converts each
//! value through chrono-tz, which took about half the CPU of a daily group-by over 10 M rows. UTC
//! has no shifts, so hour, day and week are a remainder away and month, quarter and year need one
//! calendar conversion per distinct day (consecutive rows share days, so one is cached).
//!
//! [`udf`] replaces the built-in under the same name and aliases (`fastpath`). It handles arrays of
//! timestamps whose zone is UTC (`UTC`, `Etc/UTC`, `Z`, `+00:00`, `+00`, `+0000`) with a constant
//! granularity of hour or coarser; everything else (scalars, other zones, finer granularities,
//! time types) goes to the built-in unchanged, so the function means exactly what DataFusion
//! documents. (The built-in computes in nanoseconds and so fails before 1677 and after 2262; the
//! fast path answers there too.)

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use datafusion::arrow::datatypes::{
    ArrowTimestampType, DataType, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};

use crate::fastpath::FastPath;

/// Days from 0001-01-01 (chrono's day 1 of the common era is day 0 here) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// `date_trunc` with the fast path for UTC timestamps, to register in a session (it replaces the
/// built-in of the same name); see the module documentation.
pub fn udf() -> ScalarUDF {
    FastPath::udf(datafusion::functions::datetime::date_trunc(), |args| Ok(fast_path(args)))
}

/// A granularity the fast path handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Granularity {
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl Granularity {
    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "hour" => Some(Self::Hour),
            "day" => Some(Self::Day),
            "week" => Some(Self::Week),
            "month" => Some(Self::Month),
            "quarter" => Some(Self::Quarter),
            "year" => Some(Self::Year),
            _ => None,
        }
    }
}

/// Whether `tz` names UTC itself (not a zone that happens to sit at offset 0 part of the year).
fn is_utc(tz: &str) -> bool {
    matches!(tz, "UTC" | "utc" | "Etc/UTC" | "Z" | "+00:00" | "+00" | "+0000" | "-00:00")
}

/// Truncates `value` (in units of which `per_second` make a second) to `granularity`, in UTC.
/// `None` when the result does not fit the type (years before -262,000 or so).
fn truncate(value: i64, per_second: i64, granularity: Granularity, cache: &mut DayCache) -> Option<i64> {
    let per_hour = per_second * 3_600;
    let per_day = per_hour * 24;
    let days = value.div_euclid(per_day);
    let start_of = |day: i64| day.checked_mul(per_day);
    match granularity {
        Granularity::Hour => Some(value - value.rem_euclid(per_hour)),
        Granularity::Day => start_of(days),
        // 1970-01-01 was a Thursday: three days after the Monday that starts its week.
        Granularity::Week => start_of(days - (days + 3).rem_euclid(7)),
        Granularity::Month | Granularity::Quarter | Granularity::Year => {
            start_of(cache.first_day(days, granularity)?)
        }
    }
}

/// The first day of the month, quarter or year of the last day asked for, kept because rows
/// arrive in runs of the same day.
#[derive(Default)]
struct DayCache {
    last: Option<(i64, Granularity, i64)>,
}

impl DayCache {
    fn first_day(&mut self, days: i64, granularity: Granularity) -> Option<i64> {
        if let Some((day, g, first)) = self.last
            && day == days
            && g == granularity
        {
            return Some(first);
        }
        let date = NaiveDate::from_num_days_from_ce_opt(
            i32::try_from(days).ok()?.checked_add(UNIX_EPOCH_DAYS_FROM_CE)?,
        )?;
        let month = match granularity {
            Granularity::Month => date.month(),
            Granularity::Quarter => 1 + 3 * ((date.month() - 1) / 3),
            _ => 1,
        };
        let first = NaiveDate::from_ymd_opt(date.year(), month, 1)?;
        let first = i64::from(first.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE);
        self.last = Some((days, granularity, first));
        Some(first)
    }
}

fn truncate_array<T: ArrowTimestampType>(
    array: &dyn Array,
    per_second: i64,
    granularity: Granularity,
) -> Option<ArrayRef> {
    let array = array.as_primitive::<T>();
    let mut cache = DayCache::default();
    let mut values = Vec::with_capacity(array.len());
    for (i, &v) in array.values().iter().enumerate() {
        if array.is_null(i) {
            values.push(0);
            continue;
        }
        // An out-of-range value goes to the built-in, whose error message names it.
        values.push(truncate(v, per_second, granularity, &mut cache)?);
    }
    let out = PrimitiveArray::<T>::new(values.into(), array.nulls().cloned());
    Some(Arc::new(out.with_timezone_opt(array.timezone().map(Arc::from))))
}

/// The fast path's answer, or `None` when the built-in should answer.
fn fast_path(args: &[ColumnarValue]) -> Option<ArrayRef> {
    let [ColumnarValue::Scalar(granularity), ColumnarValue::Array(array)] = args else {
        return None;
    };
    let granularity = match granularity {
        ScalarValue::Utf8(Some(g)) | ScalarValue::Utf8View(Some(g)) | ScalarValue::LargeUtf8(Some(g)) => {
            Granularity::parse(g)?
        }
        _ => return None,
    };
    let DataType::Timestamp(unit, Some(tz)) = array.data_type() else {
        return None;
    };
    if !is_utc(tz) {
        return None;
    }
    match unit {
        TimeUnit::Second => truncate_array::<TimestampSecondType>(array, 1, granularity),
        TimeUnit::Millisecond => truncate_array::<TimestampMillisecondType>(array, 1_000, granularity),
        TimeUnit::Microsecond => truncate_array::<TimestampMicrosecondType>(array, 1_000_000, granularity),
        TimeUnit::Nanosecond => truncate_array::<TimestampNanosecondType>(array, 1_000_000_000, granularity),
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::TimestampMicrosecondArray;
    use datafusion::arrow::datatypes::Field;
    use datafusion::arrow::datatypes::FieldRef;
    use datafusion::config::ConfigOptions;
    use datafusion::logical_expr::ScalarFunctionArgs;

    use super::*;

    const GRANULARITIES: [&str; 6] = ["hour", "day", "WEEK", "month", "Quarter", "year"];

    fn invoke(udf: &ScalarUDF, granularity: &str, array: ArrayRef) -> ArrayRef {
        let args = vec![ColumnarValue::Scalar(ScalarValue::from(granularity)), ColumnarValue::Array(array)];
        let arg_fields = args
            .iter()
            .map(|a| Arc::new(Field::new("a", a.data_type(), true)) as FieldRef)
            .collect::<Vec<_>>();
        let return_field = Arc::new(Field::new("r", arg_fields[1].data_type().clone(), true));
        let out = udf
            .invoke_with_args(ScalarFunctionArgs {
                args,
                arg_fields,
                number_rows: 0,
                return_field,
                config_options: Arc::new(ConfigOptions::default()),
            })
            .expect("date_trunc runs");
        out.into_array(1).expect("an array")
    }

    /// Timestamps from 1733 to 2207 (the built-in works in nanoseconds, whose range ends in 1677
    /// and 2262), negative ones included, with nulls, in microseconds.
    fn sample() -> Vec<Option<i64>> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let span = 15_000_000_000_000_000i64; // about 475 years of microseconds
        let mut values: Vec<Option<i64>> = (0..20_000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (i % 97 != 0).then(|| (x % (span as u64)) as i64 - span / 2)
            })
            .collect();
        // Edges: the epoch, a leap day, the last microsecond of a year, the first of a quarter.
        values.extend([0, 951_782_400_000_000, 1_735_689_599_999_999, 1_743_465_600_000_000, -1].map(Some));
        values
    }

    #[test]
    fn agrees_with_the_builtin_on_utc_timestamps() {
        let ours = udf();
        let builtin = datafusion::functions::datetime::date_trunc();
        for tz in ["UTC", "+00:00", "Etc/UTC"] {
            let array: ArrayRef = Arc::new(TimestampMicrosecondArray::from(sample()).with_timezone(tz));
            for g in GRANULARITIES {
                // The built-in is the independent reference: it goes through chrono-tz.
                assert!(
                    fast_path(&[ColumnarValue::from(ScalarValue::from(g)), array.clone().into()]).is_some()
                );
                let expected = invoke(&builtin, g, array.clone());
                let got = invoke(&ours, g, array.clone());
                assert_eq!(got.as_ref(), expected.as_ref(), "granularity {g}, zone {tz}");
            }
        }
    }

    #[test]
    fn other_units_agree_too() {
        let seconds: Vec<Option<i64>> = sample().into_iter().map(|v| v.map(|v| v / 1_000_000)).collect();
        let array: ArrayRef = Arc::new(
            datafusion::arrow::array::TimestampSecondArray::from(seconds.clone()).with_timezone("UTC"),
        );
        let nanos: ArrayRef = Arc::new(
            datafusion::arrow::array::TimestampNanosecondArray::from(
                seconds.iter().map(|v| v.map(|s| s * 1_000_000_000 + 123)).collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        );
        let builtin = datafusion::functions::datetime::date_trunc();
        for a in [array, nanos] {
            for g in GRANULARITIES {
                assert_eq!(
                    invoke(&udf(), g, a.clone()).as_ref(),
                    invoke(&builtin, g, a.clone()).as_ref(),
                    "granularity {g} on {}",
                    a.data_type()
                );
            }
        }
    }

    #[test]
    fn other_zones_and_granularities_go_to_the_builtin() {
        let array: ArrayRef =
            Arc::new(TimestampMicrosecondArray::from(sample()).with_timezone("Europe/Paris"));
        let minute: ArrayRef = Arc::new(TimestampMicrosecondArray::from(sample()).with_timezone("UTC"));
        let naive: ArrayRef = Arc::new(TimestampMicrosecondArray::from(sample()));
        assert!(fast_path(&[ScalarValue::from("day").into(), array.clone().into()]).is_none());
        assert!(fast_path(&[ScalarValue::from("minute").into(), minute.clone().into()]).is_none());
        assert!(fast_path(&[ScalarValue::from("day").into(), naive.into()]).is_none());
        let builtin = datafusion::functions::datetime::date_trunc();
        for (g, a) in [("day", array), ("minute", minute)] {
            assert_eq!(invoke(&udf(), g, a.clone()).as_ref(), invoke(&builtin, g, a).as_ref());
        }
    }

    #[test]
    fn known_values() {
        // 2025-03-19T13:45:10.5Z (a Wednesday).
        let t = 1_742_391_910_500_000i64;
        let array: ArrayRef =
            Arc::new(TimestampMicrosecondArray::from(vec![Some(t), None]).with_timezone("UTC"));
        let expect = |g: &str, text: &str| {
            let out = invoke(&udf(), g, array.clone());
            let out = out.as_primitive::<TimestampMicrosecondType>();
            assert_eq!(costpilot_model::time::format_micros(out.value(0)), text, "{g}");
            assert!(out.is_null(1));
        };
        expect("hour", "2025-03-19T13:00:00Z");
        expect("day", "2025-03-19T00:00:00Z");
        expect("week", "2025-03-17T00:00:00Z");
        expect("month", "2025-03-01T00:00:00Z");
        expect("quarter", "2025-01-01T00:00:00Z");
        expect("year", "2025-01-01T00:00:00Z");
    }
}
