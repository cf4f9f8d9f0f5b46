//! Date-effective FX rates, for reporting amounts of several currencies in one.
//!
//! Configured by two files in the data directory:
//!
//! - `fx.csv` with the header `date,from_currency,to_currency,rate`: one unit of `from_currency`
//!   is worth `rate` units of `to_currency` from `date` (UTC midnight, `YYYY-MM-DD` or an RFC 3339
//!   instant) until the next date given for the same pair. Rates are exact decimals.
//! - `fx.toml` (optional) with one setting, `reporting_currency = "USD"`. Without it the reporting
//!   currency is the `to_currency` of fx.csv, which must then be the same on every row. Rows whose
//!   `to_currency` is not the reporting currency are not used (there is no chaining or inversion).
//!
//! An amount is converted at the rate in force at its charge's start (ChargePeriodStart); an
//! amount already in the reporting currency is kept as it is. A conversion with no rate in force
//! fails the query with an error naming the currency and the date.

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use costpilot_model::money::{format_units, parse_decimal};
use costpilot_model::time::format_micros;
use costpilot_model::{money_type, parse_timestamp_micros, timestamp_type};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Decimal128Builder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, TimestampMicrosecondType};
use datafusion::common::{Result as DfResult, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::error::QueryError;

/// The FX rates file in the data directory.
pub const FX_CSV: &str = "fx.csv";
/// The FX settings file in the data directory.
pub const FX_TOML: &str = "fx.toml";
/// The SQL function converting an amount to the reporting currency:
/// `to_reporting_currency(amount, currency, at)`.
pub const CONVERT_FUNCTION: &str = "to_reporting_currency";

const SCALE: i128 = 1_000_000_000_000_000;

/// FX rates into one reporting currency.
#[derive(Debug)]
pub struct FxRates {
    path: PathBuf,
    reporting: String,
    /// Per source currency, (effective from in µs, rate in units of 10^-15), sorted by date.
    rates: HashMap<String, Vec<(i64, i128)>>,
}

impl FxRates {
    /// Loads `fx.csv` (and `fx.toml`) from the data directory; `None` when fx.csv is absent.
    pub fn load(data_dir: &Path) -> Result<Option<FxRates>, QueryError> {
        let path = data_dir.join(FX_CSV);
        if !path.exists() {
            return Ok(None);
        }
        let reporting = read_reporting_currency(&data_dir.join(FX_TOML))?;
        let bad = |line: u64, message: String| QueryError::Fx {
            path: path.clone(),
            message: format!("line {line}: {message}"),
        };
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_path(&path)
            .map_err(|e| QueryError::Fx { path: path.clone(), message: e.to_string() })?;
        let headers = reader.headers().map_err(|e| bad(1, e.to_string()))?.clone();
        let expected = ["date", "from_currency", "to_currency", "rate"];
        let position = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
        let mut cols = [0usize; 4];
        for (slot, name) in cols.iter_mut().zip(expected) {
            *slot = position(name)
                .ok_or_else(|| bad(1, format!("missing column {name} (expected {})", expected.join(","))))?;
        }
        let mut rows: Vec<(String, String, i64, i128)> = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                bad(line, e.to_string())
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let field = |i: usize| record.get(cols[i]).unwrap_or("");
            let date = parse_timestamp_micros(field(0)).map_err(|e| bad(line, format!("date: {e}")))?;
            let from = field(1).to_ascii_uppercase();
            let to = field(2).to_ascii_uppercase();
            let code =
                |c: &str| !c.is_empty() && c.len() <= 8 && c.bytes().all(|b| b.is_ascii_alphanumeric());
            if !code(&from) || !code(&to) {
                return Err(bad(
                    line,
                    format!("'{from}' and '{to}' must both be currency codes such as USD"),
                ));
            }
            let rate = parse_decimal(field(3)).map_err(|e| bad(line, format!("rate: {e}")))?;
            if rate <= 0 {
                return Err(bad(line, format!("rate: '{}' is not a positive number", field(3))));
            }
            rows.push((from, to, date, rate));
        }
        let reporting = match reporting {
            Some(r) => r,
            None => {
                let mut targets: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
                targets.sort_unstable();
                targets.dedup();
                match targets.as_slice() {
                    [one] => one.to_string(),
                    [] => return Err(bad(1, "no rates, so no reporting currency".into())),
                    many => {
                        return Err(QueryError::Fx {
                            path: path.clone(),
                            message: format!(
                                "rates into several currencies ({}); name the reporting currency in \
                                 {FX_TOML}: reporting_currency = \"USD\"",
                                many.join(", ")
                            ),
                        });
                    }
                }
            }
        };
        let mut rates: HashMap<String, Vec<(i64, i128)>> = HashMap::new();
        for (from, to, date, rate) in rows {
            if to == reporting && from != reporting {
                rates.entry(from).or_default().push((date, rate));
            }
        }
        for (from, list) in rates.iter_mut() {
            list.sort_by_key(|r| r.0);
            if let Some(w) = list.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(QueryError::Fx {
                    path: path.clone(),
                    message: format!("two rates from {from} to {reporting} on {}", format_micros(w[0].0)),
                });
            }
        }
        Ok(Some(FxRates { path, reporting, rates }))
    }

    /// The currency amounts are converted into.
    pub fn reporting_currency(&self) -> &str {
        &self.reporting
    }

    /// The rate (units of 10^-15) from `currency` in force at `at` (µs), or why there is none.
    fn rate(&self, currency: &str, at: i64) -> Result<i128, String> {
        let missing = || {
            format!(
                "no FX rate from {currency} to {} in force on {} ({}); add a rate dated on or before it",
                self.reporting,
                &format_micros(at)[..10],
                self.path.display()
            )
        };
        let list = self.rates.get(currency).ok_or_else(missing)?;
        let i = list.partition_point(|(from, _)| *from <= at);
        if i == 0 { Err(missing()) } else { Ok(list[i - 1].1) }
    }

    /// Converts an amount (units of 10^-15) of `currency` at instant `at` (µs) exactly, rounding
    /// the 16th decimal half away from zero.
    pub fn convert(&self, units: i128, currency: &str, at: i64) -> Result<i128, String> {
        if currency == self.reporting {
            return Ok(units);
        }
        let rate = self.rate(currency, at)?;
        multiply(units, rate).ok_or_else(|| {
            format!(
                "{} {currency} × {} overflows a 38-digit decimal",
                format_units(units, 2),
                format_units(rate, 15)
            )
        })
    }

    /// The SQL function converting amounts with these rates.
    pub fn udf(self: &Arc<Self>) -> ScalarUDF {
        ScalarUDF::new_from_impl(ConvertUdf {
            rates: self.clone(),
            signature: Signature::any(3, Volatility::Immutable),
        })
    }
}

/// `a × r` for two amounts with 15 decimals, exactly, rounded to 15 decimals.
fn multiply(a: i128, r: i128) -> Option<i128> {
    let negative = (a < 0) != (r < 0);
    let (a, r) = (a.unsigned_abs(), r.unsigned_abs());
    let scale = SCALE as u128;
    // Split a so neither partial product overflows: a = hi·10^15 + lo, and
    // a·r / 10^15 = hi·r + lo·r / 10^15.
    let (hi, lo) = (a / scale, a % scale);
    let whole = hi.checked_mul(r)?;
    let part = lo.checked_mul(r)?;
    let frac = part / scale + u128::from(part % scale >= scale / 2);
    let total = i128::try_from(whole.checked_add(frac)?).ok()?;
    Some(if negative { -total } else { total })
}

fn read_reporting_currency(path: &Path) -> Result<Option<String>, QueryError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(QueryError::io(path, e)),
    };
    let mut found = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = || QueryError::Fx {
            path: path.to_path_buf(),
            message: format!(
                "line {}: expected reporting_currency = \"XXX\" (the only setting), found '{line}'",
                n + 1
            ),
        };
        let (key, value) = line.split_once('=').ok_or_else(bad)?;
        if key.trim() != "reporting_currency" {
            return Err(bad());
        }
        let value = value.trim();
        let code = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphabetic()))
            .ok_or_else(bad)?;
        found = Some(code.to_ascii_uppercase());
    }
    Ok(found)
}

/// `to_reporting_currency(amount, currency, at)`.
struct ConvertUdf {
    rates: Arc<FxRates>,
    signature: Signature,
}

impl fmt::Debug for ConvertUdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConvertUdf").field("reporting", &self.rates.reporting).finish()
    }
}

impl PartialEq for ConvertUdf {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.rates, &other.rates)
    }
}

impl Eq for ConvertUdf {}

impl Hash for ConvertUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.rates) as usize).hash(state);
    }
}

impl ScalarUDFImpl for ConvertUdf {
    fn name(&self) -> &str {
        CONVERT_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(money_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [amount, currency, at] = arrays.as_slice() else {
            return exec_err!("{CONVERT_FUNCTION} takes (amount, currency, date)");
        };
        let amount = cast(amount, &money_type())?;
        let currency = cast(currency, &DataType::Utf8)?;
        let at = cast(at, &timestamp_type())?;
        let amount = amount.as_primitive::<Decimal128Type>();
        let currency = currency.as_string::<i32>();
        let at = at.as_primitive::<TimestampMicrosecondType>();
        let mut out = Decimal128Builder::with_capacity(amount.len());
        for i in 0..amount.len() {
            if amount.is_null(i) || currency.is_null(i) || at.is_null(i) {
                out.append_null();
                continue;
            }
            match self.rates.convert(amount.value(i), currency.value(i), at.value(i)) {
                Ok(v) => out.append_value(v),
                Err(message) => return exec_err!("{message}"),
            }
        }
        let array: ArrayRef = Arc::new(out.finish().with_data_type(money_type()));
        Ok(ColumnarValue::Array(array))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplies_exactly() {
        let u = |s: &str| parse_decimal(s).unwrap();
        assert_eq!(multiply(u("100"), u("1.1")), Some(u("110")));
        assert_eq!(multiply(u("-2.5"), u("0.333333333333333")), Some(u("-0.833333333333333")));
        assert_eq!(multiply(u("0.000000000000001"), u("0.5")), Some(u("0.000000000000001")));
        assert_eq!(multiply(u("123456789.123456789"), u("1.08")), Some(u("133333332.25333333212")));
        assert_eq!(multiply(i128::MAX, u("2")), None);
    }
}
