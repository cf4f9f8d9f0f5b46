//! `CASE WHEN condition THEN a ELSE b END` over columns and constants, without filtering the batch.
//!
//! Conditional sums (`SUM(CASE WHEN map_extract(Tags, 'team')[1] IS NULL THEN EffectiveCost ELSE 0
//! END)`, "cost this month" next to "cost last month") are the commonest shape of cost SQL.
//! DataFusion evaluates such a `CASE` by filtering the batch, narrowed to the columns the whole
//! expression reads, once for the rows where the condition holds and once for the rest, and then
//! evaluating each branch on its part. When the condition reads the `Tags` map, both filters copy
//! every tag of every row, for a branch that is a plain column.
//!
//! When both branches are columns or constants, evaluating them on every row costs nothing and
//! cannot fail, so [`CaseToZip`] (an optimizer rule) replaces the `CASE` with [`CaseZip`]: the
//! condition is evaluated once and the branches are picked row by row with Arrow's `zip`. A row
//! whose condition is false or null gets the `ELSE` branch (null without one), as `CASE` gives.
//! Everything else (several `WHEN`s, `CASE x WHEN ...`, branches that compute) keeps the built-in.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{ArrayRef, AsArray, Datum};
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::expr::{Case, ScalarFunction};
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use crate::optimize::rewrite_expressions;

/// The rule that turns a `CASE` whose branches are columns or constants into [`CaseZip`].
#[derive(Debug, Default)]
pub struct CaseToZip;

/// The function [`CaseToZip`] calls, shared so every rewritten plan holds the same instance.
static CASE_ZIP: LazyLock<Arc<ScalarUDF>> =
    LazyLock::new(|| Arc::new(ScalarUDF::new_from_impl(CaseZip::new())));

/// Whether evaluating `expr` on every row is free and cannot fail.
fn is_plain(expr: &Expr) -> bool {
    matches!(expr, Expr::Column(_) | Expr::Literal(..))
}

/// `expr` as a [`CaseZip`] call, when it is a `CASE` this rule handles.
fn to_zip(expr: Expr) -> Result<Transformed<Expr>> {
    let Expr::Case(Case { expr: None, when_then_expr, else_expr }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    let [(when, then)] = when_then_expr.as_slice() else {
        return Ok(Transformed::no(expr));
    };
    if !is_plain(then) || !else_expr.as_deref().is_none_or(is_plain) {
        return Ok(Transformed::no(expr));
    }
    let otherwise = else_expr.as_deref().cloned().unwrap_or(Expr::Literal(ScalarValue::Null, None));
    let args = vec![when.as_ref().clone(), then.as_ref().clone(), otherwise];
    Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(CASE_ZIP.clone(), args))))
}

impl OptimizerRule for CaseToZip {
    fn name(&self) -> &str {
        "costpilot_case_to_zip"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(&self, plan: LogicalPlan, _config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        rewrite_expressions(plan, |expr, _| to_zip(expr))
    }
}

/// `CaseZip(condition, a, b)`: `a` where `condition` is true, `b` where it is false or null.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CaseZip {
    signature: Signature,
}

impl Default for CaseZip {
    fn default() -> Self {
        Self::new()
    }
}

impl CaseZip {
    /// The function; [`CaseToZip`] calls it with arguments whose types `CASE` already coerced.
    pub fn new() -> Self {
        Self { signature: Signature::any(3, Volatility::Immutable) }
    }
}

/// The type of the result: the `THEN` branch's, or the `ELSE` branch's when `THEN` is a bare null.
fn result_type(types: &[DataType]) -> DataType {
    match types {
        [_, DataType::Null, other] | [_, other, _] => other.clone(),
        _ => DataType::Null,
    }
}

impl ScalarUDFImpl for CaseZip {
    fn name(&self) -> &str {
        "costpilot_case_zip"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(result_type(arg_types))
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let nullable = args.arg_fields.iter().skip(1).any(|f| f.is_nullable() || f.data_type().is_null());
        Ok(Arc::new(Field::new(self.name(), result_type(&types), nullable)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [condition, then, otherwise] = args.args.as_slice() else {
            return exec_err!("{} takes three arguments", self.name());
        };
        let target = args.return_field.data_type();
        let typed = |value: &ColumnarValue| -> Result<ColumnarValue> {
            match value {
                ColumnarValue::Scalar(s) if s.data_type() != *target && s.is_null() => {
                    Ok(ColumnarValue::Scalar(ScalarValue::try_from(target)?))
                }
                other => Ok(other.clone()),
            }
        };
        let (then, otherwise) = (typed(then)?, typed(otherwise)?);
        let mask = match condition {
            ColumnarValue::Scalar(ScalarValue::Boolean(b)) => {
                return Ok(if *b == Some(true) { then } else { otherwise });
            }
            ColumnarValue::Array(mask) if mask.data_type() == &DataType::Boolean => mask.as_boolean(),
            other => return exec_err!("{}: a condition of type {}", self.name(), other.data_type()),
        };
        let datum = |value: &ColumnarValue| -> Result<Box<dyn Datum>> {
            Ok(match value {
                ColumnarValue::Array(a) => Box::new(a.clone()),
                ColumnarValue::Scalar(s) => Box::new(s.to_scalar()?),
            })
        };
        let out: ArrayRef = zip(mask, datum(&then)?.as_ref(), datum(&otherwise)?.as_ref())?;
        Ok(ColumnarValue::Array(out))
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{BooleanArray, Decimal128Array, Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::Schema;
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::prelude::SessionContext;

    use super::*;

    /// 3,000 rows: a decimal cost (some null), a tag that is often null, a flag that is sometimes
    /// null, and an integer.
    fn table() -> RecordBatch {
        let n = 3_000i64;
        let cost =
            Decimal128Array::from_iter((0..n).map(|i| (i % 17 != 0).then_some(i128::from(i) * 1_234_567)))
                .with_precision_and_scale(38, 6)
                .expect("a decimal type");
        let team = StringArray::from_iter((0..n).map(|i| (i % 3 != 0).then(|| format!("team-{}", i % 5))));
        let flag = BooleanArray::from_iter((0..n).map(|i| (i % 7 != 0).then_some(i % 2 == 0)));
        let units = Int64Array::from_iter_values(0..n);
        let schema = Schema::new(vec![
            Field::new("cost", DataType::Decimal128(38, 6), true),
            Field::new("team", DataType::Utf8, true),
            Field::new("flag", DataType::Boolean, true),
            Field::new("units", DataType::Int64, false),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(cost), Arc::new(team), Arc::new(flag), Arc::new(units)],
        )
        .expect("a batch")
    }

    async fn run(ctx: &SessionContext, sql: &str) -> (String, String) {
        let frame = ctx.sql(sql).await.expect("plans");
        let plan = frame.clone().into_optimized_plan().expect("optimizes").display_indent().to_string();
        let batches = frame.collect().await.expect("runs");
        (pretty_format_batches(&batches).expect("formats").to_string(), plan)
    }

    #[tokio::test]
    async fn answers_as_case_does() {
        let builtin = SessionContext::new();
        let ours = SessionContext::new();
        ours.add_optimizer_rule(Arc::new(CaseToZip));
        for ctx in [&builtin, &ours] {
            ctx.register_batch("t", table()).expect("registers");
        }
        let rewritten = [
            "SELECT team, SUM(CASE WHEN team IS NULL THEN cost ELSE 0 END) FROM t GROUP BY team ORDER BY team",
            "SELECT SUM(CASE WHEN flag THEN cost ELSE 0 END), SUM(CASE WHEN flag THEN cost END) FROM t",
            "SELECT SUM(CASE WHEN NOT flag THEN units ELSE -1 END), COUNT(CASE WHEN flag THEN 1 END) FROM t",
            "SELECT units, CASE WHEN units % 4 = 0 THEN team ELSE 'other' END AS t FROM t ORDER BY units",
            "SELECT units, CASE WHEN flag THEN NULL ELSE cost END AS c FROM t ORDER BY units",
        ];
        let kept = [
            "SELECT SUM(CASE WHEN flag THEN cost * 2 ELSE 0 END) FROM t",
            "SELECT SUM(CASE WHEN flag THEN cost WHEN team IS NULL THEN 1 ELSE 0 END) FROM t",
            "SELECT SUM(CASE units % 3 WHEN 0 THEN cost ELSE 0 END) FROM t",
        ];
        for sql in rewritten.iter().chain(&kept) {
            let (expected, _) = run(&builtin, sql).await;
            let (got, plan) = run(&ours, sql).await;
            assert_eq!(got, expected, "{sql}");
            let zipped = plan.contains("costpilot_case_zip");
            assert_eq!(zipped, rewritten.contains(sql), "{sql}: {plan}");
        }
    }

    #[tokio::test]
    async fn keeps_the_column_names() {
        let ctx = SessionContext::new();
        ctx.add_optimizer_rule(Arc::new(CaseToZip));
        ctx.register_batch("t", table()).expect("registers");
        let (text, plan) = run(&ctx, "SELECT SUM(CASE WHEN flag THEN units ELSE 0 END) FROM t").await;
        assert!(plan.contains("costpilot_case_zip"), "{plan}");
        let header = text.lines().nth(1).expect("a header");
        assert_eq!(header.trim_matches(['|', ' ']), "sum(CASE WHEN t.flag THEN t.units ELSE Int64(0) END)");
        let expected: i64 = (0..3_000).filter(|i| i % 7 != 0 && i % 2 == 0).sum();
        assert_eq!(text.lines().nth(3).expect("a value").trim_matches(['|', ' ']), expected.to_string());
    }

    #[test]
    fn a_constant_condition_picks_a_branch() {
        let team: ArrayRef = Arc::new(StringArray::from(vec![Some("a"), None]));
        let call = |condition: ScalarValue, otherwise: ScalarValue| {
            let args =
                vec![ColumnarValue::Scalar(condition), ColumnarValue::Array(team.clone()), otherwise.into()];
            let arg_fields =
                args.iter().map(|a| Arc::new(Field::new("a", a.data_type(), true)) as FieldRef).collect();
            CaseZip::new()
                .invoke_with_args(ScalarFunctionArgs {
                    args,
                    arg_fields,
                    number_rows: 2,
                    return_field: Arc::new(Field::new("r", DataType::Utf8, true)),
                    config_options: Default::default(),
                })
                .expect("runs")
                .into_array(2)
                .expect("an array")
        };
        let strings =
            |a: ArrayRef| a.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect::<Vec<_>>();
        assert_eq!(strings(call(ScalarValue::Boolean(Some(true)), "x".into())), [Some("a".into()), None]);
        let other = [Some("x".to_string()), Some("x".to_string())];
        assert_eq!(strings(call(ScalarValue::Boolean(Some(false)), "x".into())), other);
        assert_eq!(strings(call(ScalarValue::Boolean(None), "x".into())), other);
        assert_eq!(strings(call(ScalarValue::Boolean(None), ScalarValue::Null)), [None, None]);
    }
}
