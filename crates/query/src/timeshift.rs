//! `timestamp ± INTERVAL '…'` computed once per distinct timestamp in a run.
//!
//! "This month against last month" compares each row's month with `last - INTERVAL '1 month'`,
//! where `last` comes from a subquery and so is a column, equal on every row. Arrow shifts a zoned
//! timestamp by a calendar interval through a chrono time-zone conversion per row, which dominated
//! such a query (see `bench/README.md`). Cost rows come in runs of equal timestamps (an hour's lines, a constant from
//! a join), so [`TimestampShift`] computes each run's answer once, with Arrow's own function, and
//! copies it along the run: the answer is Arrow's exactly, in every zone.
//!
//! [`TimestampShiftRule`] replaces `timestamp + interval` and `timestamp - interval`, where the
//! interval is a constant of months, days and nanoseconds (what an SQL `INTERVAL` literal is), with
//! a call of [`TimestampShift`]. Anything else keeps the built-in operator.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use datafusion::arrow::compute::kernels::numeric::{add, sub};
use datafusion::arrow::datatypes::{
    ArrowTimestampType, DataType, Field, FieldRef, IntervalMonthDayNano, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ReturnFieldArgs,
    ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use crate::optimize::rewrite_expressions;

/// The rule that sends `timestamp ± constant interval` to [`TimestampShift`].
#[derive(Debug, Default)]
pub struct TimestampShiftRule;

static ADD: LazyLock<Arc<ScalarUDF>> =
    LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(TimestampShift::new(false))));
static SUBTRACT: LazyLock<Arc<ScalarUDF>> =
    LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(TimestampShift::new(true))));

impl OptimizerRule for TimestampShiftRule {
    fn name(&self) -> &str {
        "costpilot_timestamp_shift"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        rewrite_expressions(plan, |expr, schema| {
            let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else {
                return Ok(Transformed::no(expr));
            };
            let function = match op {
                Operator::Plus => &ADD,
                Operator::Minus => &SUBTRACT,
                _ => return Ok(Transformed::no(expr)),
            };
            let constant =
                matches!(right.as_ref(), Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(_)), _));
            if !constant
                || matches!(left.as_ref(), Expr::Literal(..))
                || !matches!(left.get_type(schema)?, DataType::Timestamp(..))
            {
                return Ok(Transformed::no(expr));
            }
            let args = vec![left.as_ref().clone(), right.as_ref().clone()];
            Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(Arc::clone(function), args))))
        })
    }
}

/// `timestamp + interval` (or `-`) with the answer computed once per run of equal timestamps.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TimestampShift {
    subtract: bool,
    signature: Signature,
}

impl TimestampShift {
    /// Adds the interval, or subtracts it when `subtract`.
    pub fn new(subtract: bool) -> Self {
        Self { subtract, signature: Signature::any(2, Volatility::Immutable) }
    }

    /// What the built-in operator gives, errors included.
    fn builtin(&self, timestamps: &ColumnarValue, interval: &ScalarValue) -> Result<ColumnarValue> {
        let interval = interval.to_scalar()?;
        let out = match timestamps {
            ColumnarValue::Array(a) if self.subtract => sub(a, &interval)?,
            ColumnarValue::Array(a) => add(a, &interval)?,
            ColumnarValue::Scalar(s) => {
                let one = s.to_array()?;
                let out = if self.subtract { sub(&one, &interval)? } else { add(&one, &interval)? };
                return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
            }
        };
        Ok(ColumnarValue::Array(out))
    }
}

/// `array` with `shift` applied once per run of equal values; `None` when a shift overflows.
fn shift_runs<T: ArrowTimestampType>(
    array: &dyn Array,
    shift: impl Fn(i64) -> Option<i64>,
) -> Option<ArrayRef> {
    let array = array.as_primitive::<T>();
    let mut last: Option<(i64, i64)> = None;
    let mut values = Vec::with_capacity(array.len());
    for (i, &v) in array.values().iter().enumerate() {
        if array.is_null(i) {
            values.push(0);
            continue;
        }
        let shifted = match last {
            Some((from, to)) if from == v => to,
            _ => {
                let to = shift(v)?;
                last = Some((v, to));
                to
            }
        };
        values.push(shifted);
    }
    let out = PrimitiveArray::<T>::new(values.into(), array.nulls().cloned());
    Some(Arc::new(out.with_timezone_opt(array.timezone().map(Arc::from))))
}

impl TimestampShift {
    /// The fast answer, or `None` when the built-in should give it (scalars, overflow).
    fn fast(&self, timestamps: &ColumnarValue, delta: IntervalMonthDayNano) -> Option<ArrayRef> {
        let ColumnarValue::Array(array) = timestamps else {
            return None;
        };
        let DataType::Timestamp(unit, tz) = array.data_type() else {
            return None;
        };
        // Arrow reads a timestamp without a zone as UTC for this arithmetic.
        let tz: Tz = tz.as_deref().unwrap_or("+00:00").parse().ok()?;
        macro_rules! shift {
            ($t:ty) => {
                shift_runs::<$t>(array, |v| {
                    if self.subtract {
                        <$t>::subtract_month_day_nano(v, delta, tz)
                    } else {
                        <$t>::add_month_day_nano(v, delta, tz)
                    }
                })
            };
        }
        match unit {
            TimeUnit::Second => shift!(TimestampSecondType),
            TimeUnit::Millisecond => shift!(TimestampMillisecondType),
            TimeUnit::Microsecond => shift!(TimestampMicrosecondType),
            TimeUnit::Nanosecond => shift!(TimestampNanosecondType),
        }
    }
}

impl ScalarUDFImpl for TimestampShift {
    fn name(&self) -> &str {
        if self.subtract { "costpilot_timestamp_sub" } else { "costpilot_timestamp_add" }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(t @ DataType::Timestamp(..)) => Ok(t.clone()),
            other => exec_err!("{}: not a timestamp: {other:?}", self.name()),
        }
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let nullable = args.arg_fields.iter().any(|f| f.is_nullable());
        Ok(Arc::new(Field::new(self.name(), self.return_type(&types)?, nullable)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [timestamps, ColumnarValue::Scalar(interval)] = args.args.as_slice() else {
            return exec_err!("{} takes a timestamp and a constant interval", self.name());
        };
        let ScalarValue::IntervalMonthDayNano(Some(delta)) = interval else {
            return self.builtin(timestamps, interval);
        };
        match self.fast(timestamps, *delta) {
            Some(array) => Ok(ColumnarValue::Array(array)),
            None => self.builtin(timestamps, interval),
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{RecordBatch, TimestampMicrosecondArray, TimestampSecondArray};
    use datafusion::arrow::datatypes::Schema;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::prelude::SessionContext;

    use super::*;

    /// Hourly timestamps in runs of three over two years (month ends, leap day and the DST
    /// changes of Europe/Paris included), with nulls, in a UTC and a Paris column, plus a column
    /// of seconds without a zone.
    fn table() -> RecordBatch {
        let start = 1_704_067_200i64; // 2024-01-01T00:00:00Z
        let seconds: Vec<Option<i64>> =
            (0..3 * 24 * 731).map(|i| (i % 101 != 0).then_some(start + (i / 3) * 3_600)).collect();
        let micros: Vec<Option<i64>> = seconds.iter().map(|s| s.map(|s| s * 1_000_000)).collect();
        let utc = TimestampMicrosecondArray::from(micros.clone()).with_timezone("UTC");
        let paris = TimestampMicrosecondArray::from(micros).with_timezone("Europe/Paris");
        let naive = TimestampSecondArray::from(seconds);
        let schema = Schema::new(vec![
            Field::new("utc", utc.data_type().clone(), true),
            Field::new("paris", paris.data_type().clone(), true),
            Field::new("naive", naive.data_type().clone(), true),
        ]);
        RecordBatch::try_new(Arc::new(schema), vec![Arc::new(utc), Arc::new(paris), Arc::new(naive)])
            .expect("a batch")
    }

    /// The answer as a table, or the error, and the optimized plan.
    async fn run(ctx: &SessionContext, sql: &str) -> (Result<String, String>, String) {
        let frame = ctx.sql(sql).await.expect("plans");
        let plan = frame.clone().into_optimized_plan().expect("optimizes").display_indent().to_string();
        let answer = match frame.collect().await {
            Ok(batches) => Ok(pretty_format_batches(&batches).expect("formats").to_string()),
            Err(e) => Err(e.to_string()),
        };
        (answer, plan)
    }

    #[tokio::test]
    async fn answers_as_the_operator_does() {
        let builtin = SessionContext::new();
        let ours = SessionContext::new();
        ours.add_optimizer_rule(Arc::new(TimestampShiftRule));
        for ctx in [&builtin, &ours] {
            ctx.register_batch("t", table()).expect("registers");
        }
        // Whether the built-in answers: shifting Paris times by days or months lands some rows in
        // the hour skipped in March, which Arrow refuses; the fast path must refuse it too.
        let shifted = [
            ("utc - INTERVAL '1 month'", true),
            ("utc + INTERVAL '1 month 3 days 2 hours'", true),
            ("paris + INTERVAL '2 hours'", true),
            ("paris - INTERVAL '1 month'", false),
            ("paris + INTERVAL '13 months 1 day'", false),
            ("naive - INTERVAL '1 year'", true),
            ("date_trunc('month', utc) - INTERVAL '1 month'", true),
            ("utc - INTERVAL '30 days'", true),
        ];
        for (expr, answers) in shifted {
            let sql = format!("SELECT {expr} FROM t");
            let (expected, _) = run(&builtin, &sql).await;
            let (got, plan) = run(&ours, &sql).await;
            assert_eq!(expected.is_ok(), answers, "{expr}: {expected:?}");
            assert_eq!(got, expected, "{expr}");
            assert!(plan.contains("costpilot_timestamp_"), "{expr}: {plan}");
        }
        let (_, plan) = run(&ours, "SELECT utc - utc, utc + INTERVAL '1 month' > utc FROM t").await;
        assert_eq!(plan.matches("costpilot_timestamp_").count(), 1, "{plan}");
    }

    #[test]
    fn overflow_fails_as_the_operator_does() {
        let far = TimestampSecondArray::from(vec![Some(0), Some(i64::MAX / 2)]).with_timezone("UTC");
        let delta = IntervalMonthDayNano::new(1, 0, 0);
        let shift = TimestampShift::new(false);
        let array: ArrayRef = Arc::new(far);
        assert!(shift.fast(&ColumnarValue::Array(array.clone()), delta).is_none());
        let interval = ScalarValue::IntervalMonthDayNano(Some(delta));
        let ours = shift.builtin(&ColumnarValue::Array(array.clone()), &interval).expect_err("overflows");
        let theirs = add(&array, &interval.to_scalar().expect("a scalar")).expect_err("overflows");
        assert!(ours.to_string().contains(&theirs.to_string()), "{ours} / {theirs}");
    }
}
