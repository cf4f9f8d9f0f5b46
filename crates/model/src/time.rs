//! Time: every instant in the lake is UTC, in microseconds.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use datafusion::arrow::datatypes::{DataType, TimeUnit};

/// The Arrow type of FOCUS date/time columns.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Why a text could not be read as a date/time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a date/time (expected ISO 8601, e.g. 2024-09-01T00:00:00Z)")]
pub struct TimeError(pub String);

/// Parses the date/time spellings billing exports use into UTC microseconds since the epoch.
///
/// Accepts RFC 3339 with any offset (`2024-09-01T00:00:00Z`, `...+02:00`, fractions), the same
/// without a zone or with a space instead of `T` (taken as UTC, as FOCUS requires), and a bare
/// date (`2024-09-01`, midnight UTC).
pub fn parse_timestamp_micros(text: &str) -> Result<i64, TimeError> {
    let s = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Ok(dt.timestamp_micros());
    }
    let normalised = s.replacen(' ', "T", 1);
    if let Ok(dt) = DateTime::parse_from_rfc3339(&normalised) {
        return Ok(dt.timestamp_micros());
    }
    let naive = normalised.trim_end_matches('Z');
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Ok(dt.and_utc().timestamp_micros());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp_micros());
    }
    Err(TimeError(text.to_string()))
}

/// Formats UTC microseconds as RFC 3339 with a `Z`, e.g. "2024-09-01T00:00:00Z".
pub fn format_micros(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| micros.to_string())
}

/// The "YYYY-MM" month of a UTC instant, as the lake names billing periods.
pub fn month_of(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros)
        .map(|d| d.format("%Y-%m").to_string())
        .unwrap_or_else(|| "invalid".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_export_spellings() {
        let midnight = 1_725_148_800_000_000; // 2024-09-01T00:00:00Z
        for s in [
            "2024-09-01T00:00:00Z",
            "2024-09-01T00:00:00.000Z",
            "2024-09-01 00:00:00",
            "2024-09-01T02:00:00+02:00",
            "2024-09-01",
            "2024-09-01T00:00Z",
        ] {
            assert_eq!(parse_timestamp_micros(s).unwrap(), midnight, "{s}");
        }
        assert!(parse_timestamp_micros("2024-13-01").is_err());
        assert!(parse_timestamp_micros("yesterday").is_err());
        assert_eq!(format_micros(midnight), "2024-09-01T00:00:00Z");
        assert_eq!(month_of(midnight), "2024-09");
    }
}
