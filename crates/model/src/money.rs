//! Money: exact decimals, parsed and formatted without floats.
//!
//! Costs are stored as `Decimal128(38, 15)`: fifteen decimals keep every digit real exports carry
//! (the FOCUS sample has fifteen, CUR rounds to ten), and 23 integer digits leave room for any bill.
//! Sums in SQL stay exact; nothing is ever `f32`.

use datafusion::arrow::datatypes::DataType;

/// Total digits of a stored amount.
pub const MONEY_PRECISION: u8 = 38;
/// Decimal places of a stored amount.
pub const MONEY_SCALE: i8 = 15;
const SCALE_FACTOR: i128 = 1_000_000_000_000_000;

/// The Arrow type of money and decimal quantity columns.
pub fn money_type() -> DataType {
    DataType::Decimal128(MONEY_PRECISION, MONEY_SCALE)
}

/// Why a text could not be read as a decimal amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The text is not a number.
    #[error("'{0}' is not a number")]
    NotANumber(String),
    /// The number does not fit 38 digits with 15 decimals.
    #[error("'{0}' is out of range for a 38-digit decimal with 15 places")]
    OutOfRange(String),
}

/// Parses a decimal text exactly (no float round trip) into units of 10^-15.
///
/// Accepts a sign, a fraction, and an exponent (`1.2E-5`, as CUR CSV files print small numbers).
/// Digits beyond the fifteenth decimal are rounded half away from zero.
pub fn parse_decimal(text: &str) -> Result<i128, MoneyError> {
    let s = text.trim();
    let bad = || MoneyError::NotANumber(text.to_string());
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (s, 0),
    };
    let (neg, digits) = match mantissa.as_bytes().first() {
        Some(b'-') => (true, &mantissa[1..]),
        Some(b'+') => (false, &mantissa[1..]),
        _ => (false, mantissa),
    };
    let (int_part, frac_part) = match digits.find('.') {
        Some(i) => (&digits[..i], &digits[i + 1..]),
        None => (digits, ""),
    };
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    // All digits as one integer, with the decimal point `point` places from the right.
    let all = int_part.bytes().chain(frac_part.bytes());
    let shift = MONEY_SCALE as i32 - frac_part.len() as i32 + exp;
    let range = || MoneyError::OutOfRange(text.to_string());
    let mut value: i128 = 0;
    let mut dropped: Vec<u8> = Vec::new();
    let total = int_part.len() + frac_part.len();
    // Digits that fall below 10^-15 are dropped (and used for rounding).
    let keep = if shift >= 0 { total } else { total.saturating_sub((-shift) as usize) };
    for (i, b) in all.enumerate() {
        if i < keep {
            value =
                value.checked_mul(10).and_then(|v| v.checked_add((b - b'0') as i128)).ok_or_else(range)?;
        } else {
            dropped.push(b);
        }
    }
    if shift > 0 {
        for _ in 0..shift {
            value = value.checked_mul(10).ok_or_else(range)?;
        }
    } else if (-shift) as usize > total {
        // Every digit is below the smallest unit; it can only round to zero.
        dropped.clear();
    }
    if dropped.first().is_some_and(|&d| d >= b'5') {
        value = value.checked_add(1).ok_or_else(range)?;
    }
    Ok(if neg { -value } else { value })
}

/// Converts a float (as Parquet CUR stores costs) to units of 10^-15, rounding to nearest.
/// `None` for NaN or infinity.
pub fn from_f64(value: f64) -> Option<i128> {
    if !value.is_finite() {
        return None;
    }
    // Go through the shortest decimal text of the float so 0.1 becomes exactly 0.1, not
    // 0.1000000000000000055.
    parse_decimal(&format!("{value:e}")).ok()
}

/// Converts units of 10^-15 to a float, for statistics where exactness is not needed.
pub fn to_f64(units: i128) -> f64 {
    units as f64 / SCALE_FACTOR as f64
}

/// Formats units of 10^-15 with the given number of decimal places (rounded half away from zero).
pub fn format_units(units: i128, places: u32) -> String {
    let places = places.min(MONEY_SCALE as u32);
    let drop = 10i128.pow(MONEY_SCALE as u32 - places);
    let half = drop / 2;
    let rounded = if units >= 0 { (units + half) / drop } else { (units - half) / drop };
    let neg = rounded < 0;
    let abs = rounded.unsigned_abs();
    let unit = 10u128.pow(places);
    let int = abs / unit;
    let frac = abs % unit;
    let sign = if neg { "-" } else { "" };
    if places == 0 {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac:0width$}", width = places as usize)
    }
}

/// An exact decimal amount (units of 10^-15) as text: 15 places with trailing zeros trimmed, but
/// at least two ("12.50", "0.000001").
pub fn decimal_text(units: i128) -> String {
    let full = format_units(units, 15);
    let (int, frac) = full.split_once('.').unwrap_or((&full, ""));
    let trimmed = frac.trim_end_matches('0');
    let frac = if trimmed.len() < 2 { &frac[..2] } else { trimmed };
    format!("{int}.{frac}")
}

/// A Decimal128 value of any `scale` as exact text (the digits placed by hand beyond the model's
/// 15 places); `trim` drops trailing zeros and a bare point.
pub fn scaled_text(value: i128, scale: i8, trim: bool) -> String {
    let text = if scale >= 0 && scale as i32 <= MONEY_SCALE as i32 {
        let units = value * 10i128.pow((MONEY_SCALE - scale) as u32);
        format_units(units, scale as u32)
    } else {
        // Scales beyond the model's: print the digits with the point placed by hand.
        let neg = value < 0;
        let digits = value.unsigned_abs().to_string();
        let s = scale.max(0) as usize;
        let padded = format!("{digits:0>width$}", width = s + 1);
        let (i, f) = padded.split_at(padded.len() - s);
        format!("{}{i}.{f}", if neg { "-" } else { "" })
    };
    if trim && text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(parse_decimal("0.00000080000").unwrap(), 800_000_000);
        assert_eq!(parse_decimal("2.000000000000000").unwrap(), 2 * SCALE_FACTOR);
        assert_eq!(parse_decimal("-1.5").unwrap(), -1_500_000_000_000_000);
        assert_eq!(parse_decimal("1.2E-5").unwrap(), 12_000_000_000);
        assert_eq!(parse_decimal("3e2").unwrap(), 300 * SCALE_FACTOR);
        assert_eq!(parse_decimal(".5").unwrap(), SCALE_FACTOR / 2);
        assert_eq!(parse_decimal("0.0000000000000015").unwrap(), 2);
        assert_eq!(parse_decimal("0.0000000000000014").unwrap(), 1);
        assert_eq!(parse_decimal("1e-30").unwrap(), 0);
        assert!(matches!(parse_decimal("12a"), Err(MoneyError::NotANumber(_))));
        assert!(matches!(parse_decimal(""), Err(MoneyError::NotANumber(_))));
        assert!(matches!(parse_decimal("-"), Err(MoneyError::NotANumber(_))));
        assert!(matches!(parse_decimal("1e40"), Err(MoneyError::OutOfRange(_))));
    }

    #[test]
    fn floats_round_trip_through_their_shortest_text() {
        assert_eq!(from_f64(0.1), Some(SCALE_FACTOR / 10));
        assert_eq!(from_f64(-2.5e-7), Some(-250_000_000));
        assert_eq!(from_f64(f64::NAN), None);
    }

    #[test]
    fn formats_cents() {
        assert_eq!(format_units(1_234_565_000_000_000_000, 2), "1234.57");
        assert_eq!(format_units(-5_000_000_000_000, 2), "-0.01");
    }

    #[test]
    fn decimal_text_is_exact_and_short() {
        assert_eq!(decimal_text(12_500_000_000_000_000), "12.50");
        assert_eq!(decimal_text(1_000_000_000), "0.000001");
        assert_eq!(decimal_text(-1), "-0.000000000000001");
        assert_eq!(decimal_text(0), "0.00");
        assert_eq!(parse_decimal(&decimal_text(123_456_789_012_345_678)).unwrap(), 123_456_789_012_345_678);
    }

    #[test]
    fn values_of_any_scale_print_exactly_or_trimmed() {
        assert_eq!(scaled_text(1_500_000_000_000_000, 15, false), "1.500000000000000");
        assert_eq!(scaled_text(1_500_000_000_000_000, 15, true), "1.5");
        assert_eq!(scaled_text(-25, 2, true), "-0.25");
        assert_eq!(scaled_text(12_345, 20, false), "0.00000000000000012345");
    }
}
