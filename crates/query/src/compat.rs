//! SQL that FinOps queries written for other engines use, and the functions user SQL may not call.
//!
//! Registered functions ([`register`]):
//! - `strftime(ts, format)` as in DuckDB (C `strftime` specifiers: `%Y %m %d %H %M %S %b %B %a %A
//!   %j %p %I %y %f` (microseconds) `%g` (milliseconds) `%n` (nanoseconds) `%-d`-style unpadded
//!   numbers, `%U %W %w %u %V %G %c %x %X %T %h %z %Z %%`);
//! - `date_format(ts, format)` as in Athena and Trino, with MySQL specifiers (`%Y %m %d %H %i %s`,
//!   `%b` and `%M` for the month's short and full name, `%c %e %k %l` unpadded, `%W %a %j %p %r
//!   %T %f %v %x %y %h %I %S %%`); a letter Trino does not know prints itself, and the ones
//!   Trino refuses (`%D %U %u %V %w %X`) are refused;
//! - `date_diff(unit, a, b)` as in Trino: whole `unit`s from `a` to `b` (negative when `b` is
//!   earlier), for `millisecond`, `second`, `minute`, `hour`, `day`, `week`, `month`, `quarter`
//!   and `year`; a month is whole once the day and time of `a` come round again, a shorter month
//!   counting its last day (2024-01-31 to 2024-02-29 is one month), which is DuckDB's `date_sub`.
//!   DuckDB's own `date_diff` counts boundaries crossed instead; the two agree on timestamps
//!   aligned to the unit, as FOCUS charge periods are.
//!
//! Rewritten before planning ([`rewrite`]): `element_at(m, k)` (Trino: the value, or NULL when the
//! key is missing) and PostgreSQL's `m ->> k` and `m -> k` become `m[k]`, which reads a map by
//! key and a list by 1-based position. Functions of other engines with no counterpart here fail
//! with a message naming costpilot's equivalent, and costpilot's internal functions (the
//! `costpilot_` ones, such as `costpilot_dimensions`, which resolves any row's dimensions whatever
//! the scope) are refused.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Datelike, Months, NaiveDateTime};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Builder, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result as DfResult, exec_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement;
use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Subscript,
    visit_expressions_mut,
};

use crate::error::QueryError;

/// The prefix of costpilot's internal SQL functions, which user SQL may not call.
pub const INTERNAL_PREFIX: &str = "costpilot_";

/// Functions of other engines costpilot does not have, with what to write instead.
const EQUIVALENTS: &[(&str, &str)] = &[
    ("json_extract_scalar", "Tags is a map: read a tag as Tags['team'] (or element_at(Tags, 'team'))"),
    ("json_extract", "Tags is a map: read a tag as Tags['team'] (or element_at(Tags, 'team'))"),
    ("json_extract_path_text", "Tags is a map: read a tag as Tags['team'] (or element_at(Tags, 'team'))"),
    ("json_value", "Tags is a map: read a tag as Tags['team'] (or element_at(Tags, 'team'))"),
    ("format_datetime", "use date_format(ts, '%Y-%m-%d') (MySQL %-specifiers) or strftime(ts, '%Y-%m-%d')"),
    ("date_add", "add an interval: ChargePeriodStart + INTERVAL '1 day'"),
    ("dateadd", "add an interval: ChargePeriodStart + INTERVAL '1 day'"),
    ("timestampadd", "add an interval: ChargePeriodStart + INTERVAL '1 day'"),
    ("datediff", "use date_diff('day', a, b) (Trino argument order: unit, start, end)"),
    ("timestampdiff", "use date_diff('day', a, b) (Trino argument order: unit, start, end)"),
];

/// Registers `strftime`, `date_format` and `date_diff` in `ctx` (`date_format` replaces
/// DataFusion's alias of `to_char`, which takes chrono's specifiers, not Trino's).
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::new_from_impl(FormatTime::new(Specifiers::Strftime)));
    ctx.register_udf(ScalarUDF::new_from_impl(FormatTime::new(Specifiers::MySql)));
    ctx.register_udf(ScalarUDF::new_from_impl(DateDiff::new()));
}

/// Rewrites `statement` as the module documentation describes; `known` says whether a function
/// name is registered in the session. Fails on an internal function or one with an equivalent.
pub(crate) fn rewrite(statement: &mut Statement, known: &dyn Fn(&str) -> bool) -> Result<(), QueryError> {
    let inner = match statement {
        Statement::Statement(s) => s.as_mut(),
        Statement::Explain(e) => return rewrite(&mut e.statement, known),
        _ => return Ok(()),
    };
    let flow = visit_expressions_mut(inner, |expr| {
        match expr {
            Expr::Function(f) => {
                // The unquoted spelling of the last part: a quoted or qualified name calls the
                // same function.
                let name = f
                    .name
                    .0
                    .last()
                    .and_then(|part| part.as_ident())
                    .map(|ident| ident.value.to_ascii_lowercase())
                    .unwrap_or_default();
                if name.starts_with(INTERNAL_PREFIX) {
                    return ControlFlow::Break(internal_refusal(&name));
                }
                if name == "element_at" {
                    match &f.args {
                        FunctionArguments::List(list) => match list.args.as_slice() {
                            [
                                FunctionArg::Unnamed(FunctionArgExpr::Expr(container)),
                                FunctionArg::Unnamed(FunctionArgExpr::Expr(key)),
                            ] => *expr = subscript(container.clone(), key.clone()),
                            _ => {
                                return ControlFlow::Break(
                                    "element_at takes two arguments: a map and a key (or a list and a 1-based position)"
                                        .to_string(),
                                );
                            }
                        },
                        _ => {
                            return ControlFlow::Break(
                                "element_at takes two arguments: a map and a key (or a list and a 1-based position)"
                                    .to_string(),
                            );
                        }
                    }
                } else if !known(&name)
                    && let Some((_, instead)) = EQUIVALENTS.iter().find(|(n, _)| *n == name)
                {
                    return ControlFlow::Break(format!("{name}() is not available in costpilot: {instead}"));
                }
            }
            Expr::BinaryOp { left, op: BinaryOperator::LongArrow | BinaryOperator::Arrow, right } => {
                *expr = subscript((**left).clone(), (**right).clone());
            }
            _ => {}
        }
        ControlFlow::Continue(())
    });
    match flow {
        ControlFlow::Break(message) => Err(QueryError::Query(message)),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn internal_refusal(name: &str) -> String {
    let instead = if name == crate::dimensions::DIMENSIONS_FUNCTION {
        ": read the allocation dimensions as the columns x_<dimension> of focus (x_team, ...)"
    } else {
        ""
    };
    format!("{name}() is internal to costpilot and cannot be called from SQL{instead}")
}

fn subscript(container: Expr, key: Expr) -> Expr {
    Expr::CompoundFieldAccess {
        root: Box::new(container),
        access_chain: vec![AccessExpr::Subscript(Subscript::Index { index: key })],
    }
}

/// The regex crate's limit on a compiled pattern (its default, which DataFusion keeps).
const REGEX_SIZE_LIMIT: usize = 10 << 20;

/// A clear error for a regular expression too big to compile, which DataFusion reports as an
/// internal error or a compile failure naming the regex crate's `CompiledTooBig`.
pub(crate) fn regex_too_big(error: &datafusion::error::DataFusionError) -> Option<QueryError> {
    let text = error.to_string();
    (text.contains("CompiledTooBig") || text.contains("exceeds size limit")).then(|| {
        QueryError::Query(format!(
            "regular expression too large: a pattern may compile to at most {} (the regex size limit); \
             match fewer alternatives, or compare with IN (...) or LIKE instead",
            crate::limits::human_bytes(REGEX_SIZE_LIMIT as u64)
        ))
    })
}

/// Which specifiers a format string uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Specifiers {
    /// DuckDB's `strftime`.
    Strftime,
    /// Trino's `date_format` (MySQL's).
    MySql,
}

impl Specifiers {
    fn function(self) -> &'static str {
        match self {
            Specifiers::Strftime => "strftime",
            Specifiers::MySql => "date_format",
        }
    }

    /// The chrono format for one specifier letter (with its `-` flag), or `None` if refused.
    fn translate(self, flag: bool, letter: char) -> Option<String> {
        let same = |s: &str| Some(s.to_string());
        match self {
            Specifiers::Strftime => match (flag, letter) {
                (true, 'd' | 'm' | 'H' | 'I' | 'M' | 'S' | 'j' | 'y') => Some(format!("%-{letter}")),
                (true, _) => None,
                (
                    false,
                    'Y' | 'm' | 'd' | 'H' | 'M' | 'S' | 'b' | 'B' | 'a' | 'A' | 'j' | 'p' | 'I' | 'y' | 'U'
                    | 'W' | 'w' | 'u' | 'V' | 'G',
                ) => Some(format!("%{letter}")),
                (false, 'f') => same("%6f"),
                (false, 'g') => same("%3f"),
                (false, 'n') => same("%9f"),
                (false, 'c') => same("%Y-%m-%d %H:%M:%S"),
                (false, 'x') => same("%Y-%m-%d"),
                (false, 'X' | 'T') => same("%H:%M:%S"),
                (false, 'h') => same("%b"),
                (false, 'z') => same("+00"),
                (false, 'Z') => same("UTC"),
                (false, '%') => same("%%"),
                _ => None,
            },
            Specifiers::MySql => match letter {
                _ if flag => None,
                'a' | 'b' | 'd' | 'H' | 'I' | 'j' | 'm' | 'p' | 'S' | 'Y' | 'y' => Some(format!("%{letter}")),
                'c' => same("%-m"),
                'e' => same("%-d"),
                'f' => same("%6f"),
                'h' => same("%I"),
                'i' => same("%M"),
                'k' => same("%-H"),
                'l' => same("%-I"),
                'M' => same("%B"),
                'r' => same("%I:%M:%S %p"),
                's' => same("%S"),
                'T' => same("%H:%M:%S"),
                'v' => same("%V"),
                'W' => same("%A"),
                'x' => same("%G"),
                '%' => same("%%"),
                'D' | 'U' | 'u' | 'V' | 'w' | 'X' => None,
                other => Some(other.to_string()),
            },
        }
    }

    /// `format` as chrono format items, or the message naming the first specifier refused.
    fn compile(self, format: &str) -> Result<Vec<Item<'static>>, String> {
        let mut chrono = String::new();
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                chrono.push(c);
                continue;
            }
            let flag = chars.next_if_eq(&'-').is_some();
            let Some(letter) = chars.next() else {
                return Err(format!("{}: the format '{format}' ends with a lone %", self.function()));
            };
            match self.translate(flag, letter) {
                Some(t) => chrono.push_str(&t),
                None => {
                    let flag = if flag { "-" } else { "" };
                    return Err(format!(
                        "{}: %{flag}{letter} in '{format}' is not a specifier it supports",
                        self.function()
                    ));
                }
            }
        }
        let items: Vec<Item<'static>> = StrftimeItems::new(&chrono).map(|i| i.to_owned()).collect();
        if items.iter().any(|i| matches!(i, Item::Error)) {
            return Err(format!("{}: '{format}' is not a valid format", self.function()));
        }
        Ok(items)
    }
}

/// The type a timestamp argument is cast to: microseconds, keeping the time zone (the instant).
fn timestamp_type(arg: &DataType) -> DfResult<DataType> {
    Ok(match arg {
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        DataType::Date32 | DataType::Date64 | DataType::Null => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
        other => return plan_err!("expected a timestamp or a date, got {other}"),
    })
}

fn text_type(function: &str, arg: &DataType) -> DfResult<DataType> {
    match arg {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null => Ok(DataType::Utf8),
        other => plan_err!("{function}: expected text, got {other}"),
    }
}

/// The UTC date and time of each row of a timestamp array (microseconds since the epoch).
fn datetimes(array: &ArrayRef) -> DfResult<Vec<Option<NaiveDateTime>>> {
    let array = cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
    let values = array.as_primitive::<TimestampMicrosecondType>();
    Ok(values.iter().map(|v| v.and_then(DateTime::from_timestamp_micros).map(|d| d.naive_utc())).collect())
}

/// `strftime` or `date_format`: formats timestamps with another engine's specifiers.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FormatTime {
    specifiers: Specifiers,
    signature: Signature,
}

impl FormatTime {
    fn new(specifiers: Specifiers) -> Self {
        Self { specifiers, signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for FormatTime {
    fn name(&self) -> &str {
        self.specifiers.function()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        let name = self.name();
        match arg_types {
            [ts, format] => Ok(vec![
                timestamp_type(ts).map_err(|e| e.context(format!("{name}(timestamp, format)")))?,
                text_type(name, format)?,
            ]),
            _ => plan_err!("{name} takes two arguments: a timestamp and a format"),
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let times = datetimes(&arrays[0])?;
        let formats = cast(&arrays[1], &DataType::Utf8)?;
        let formats = formats.as_string::<i32>();
        let mut compiled: HashMap<&str, Vec<Item<'static>>> = HashMap::new();
        let mut out = StringBuilder::new();
        for (i, time) in times.iter().enumerate() {
            let (Some(time), true) = (time, formats.is_valid(i)) else {
                out.append_null();
                continue;
            };
            let format = formats.value(i);
            if !compiled.contains_key(format) {
                match self.specifiers.compile(format) {
                    Ok(items) => compiled.insert(format, items),
                    Err(message) => return exec_err!("{message}"),
                };
            }
            out.append_value(time.format_with_items(compiled[format].iter()).to_string());
        }
        let array: ArrayRef = Arc::new(out.finish());
        Ok(if scalar {
            ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&array, 0)?)
        } else {
            ColumnarValue::Array(array)
        })
    }
}

/// A unit `date_diff` counts in.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Fixed(i64),
    Months(i64),
}

impl Unit {
    fn parse(text: &str) -> Option<Unit> {
        let lower = text.trim().to_ascii_lowercase();
        Some(match lower.strip_suffix('s').unwrap_or(&lower) {
            "millisecond" => Unit::Fixed(1_000),
            "second" => Unit::Fixed(1_000_000),
            "minute" => Unit::Fixed(60_000_000),
            "hour" => Unit::Fixed(3_600_000_000),
            "day" => Unit::Fixed(86_400_000_000),
            "week" => Unit::Fixed(7 * 86_400_000_000),
            "month" => Unit::Months(1),
            "quarter" => Unit::Months(3),
            "year" => Unit::Months(12),
            _ => return None,
        })
    }
}

/// Whole calendar months from `a` to `b` when `a <= b`.
fn months_between(a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    let mut months = i64::from(b.year() - a.year()) * 12 + i64::from(b.month()) - i64::from(a.month());
    // Adding months to `a` keeps its day when it can and takes the month's last day otherwise.
    let reached = |n: i64| u32::try_from(n).ok().and_then(|n| a.checked_add_months(Months::new(n)));
    while months > 0 && reached(months).is_none_or(|r| r > b) {
        months -= 1;
    }
    months
}

/// Whole `unit`s from `a` to `b`.
fn date_diff(unit: Unit, a: NaiveDateTime, b: NaiveDateTime) -> i64 {
    match unit {
        Unit::Fixed(micros) => (b - a).num_microseconds().unwrap_or(i64::MAX) / micros,
        Unit::Months(per) if a <= b => months_between(a, b) / per,
        Unit::Months(per) => -(months_between(b, a) / per),
    }
}

/// Trino's `date_diff(unit, a, b)`.
#[derive(Debug, PartialEq, Eq, Hash)]
struct DateDiff {
    signature: Signature,
}

impl DateDiff {
    fn new() -> Self {
        Self { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for DateDiff {
    fn name(&self) -> &str {
        "date_diff"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> DfResult<Vec<DataType>> {
        match arg_types {
            [unit, a, b] => {
                let context = "date_diff(unit, start, end)";
                Ok(vec![
                    text_type("date_diff", unit)?,
                    timestamp_type(a).map_err(|e| e.context(context))?,
                    timestamp_type(b).map_err(|e| e.context(context))?,
                ])
            }
            _ => {
                plan_err!("date_diff takes three arguments: a unit ('day', 'month', ...), a start and an end")
            }
        }
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let units = cast(&arrays[0], &DataType::Utf8)?;
        let units = units.as_string::<i32>();
        let starts = datetimes(&arrays[1])?;
        let ends = datetimes(&arrays[2])?;
        let mut out = Int64Builder::with_capacity(starts.len());
        for (i, (a, b)) in starts.iter().zip(&ends).enumerate() {
            let (Some(a), Some(b), true) = (a, b, units.is_valid(i)) else {
                out.append_null();
                continue;
            };
            let Some(unit) = Unit::parse(units.value(i)) else {
                return exec_err!(
                    "date_diff: '{}' is not a unit; use millisecond, second, minute, hour, day, week, month, quarter or year",
                    units.value(i)
                );
            };
            out.append_value(date_diff(unit, *a, *b));
        }
        let array: ArrayRef = Arc::new(out.finish());
        Ok(if scalar {
            ColumnarValue::Scalar(datafusion::common::ScalarValue::try_from_array(&array, 0)?)
        } else {
            ColumnarValue::Array(array)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    #[test]
    fn months_count_whole_months_with_short_months_ending_on_their_last_day() {
        let months = |a: &str, b: &str| date_diff(Unit::Months(1), at(a), at(b));
        assert_eq!(months("2024-01-31 00:00:00", "2024-02-29 00:00:00"), 1);
        assert_eq!(months("2024-02-29 00:00:00", "2024-01-31 00:00:00"), -1);
        assert_eq!(months("2024-03-31 10:00:00", "2024-04-30 09:00:00"), 0);
        assert_eq!(date_diff(Unit::Months(12), at("2020-02-29 00:00:00"), at("2021-02-28 00:00:00")), 1);
        assert_eq!(date_diff(Unit::Months(3), at("2024-01-01 00:00:00"), at("2024-12-20 00:00:00")), 3);
        assert_eq!(
            date_diff(Unit::Fixed(86_400_000_000), at("2024-01-03 01:00:00"), at("2024-01-01 23:00:00")),
            -1
        );
    }

    #[test]
    fn refused_specifiers_are_named() {
        assert_eq!(
            Specifiers::MySql.compile("%Y %D").unwrap_err(),
            "date_format: %D in '%Y %D' is not a specifier it supports"
        );
        assert_eq!(
            Specifiers::Strftime.compile("%e").unwrap_err(),
            "strftime: %e in '%e' is not a specifier it supports"
        );
        assert_eq!(
            Specifiers::Strftime.compile("%Y%").unwrap_err(),
            "strftime: the format '%Y%' ends with a lone %"
        );
    }
}
