//! The optimizer rules every lake session adds to DataFusion's: [`CaseToZip`] and
//! [`TimestampShiftRule`], each replacing a built-in evaluation that is slow on cost data with one
//! that answers the same. Both rewrite expressions where they stand and keep the names the plan's
//! schema gives them.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::prelude::SessionContext;

use crate::casezip::CaseToZip;
use crate::timeshift::TimestampShiftRule;

/// Adds costpilot's optimizer rules to `ctx`.
pub fn register(ctx: &SessionContext) {
    ctx.add_optimizer_rule(Arc::new(CaseToZip));
    ctx.add_optimizer_rule(Arc::new(TimestampShiftRule));
}

/// Rewrites every expression of `plan` bottom-up with `rewrite`, which sees the schema of the
/// plan's single input (plans with none or several inputs are left alone), keeping the name of
/// each top-level expression it changes: the plan's schema names its columns after them.
pub(crate) fn rewrite_expressions(
    plan: LogicalPlan,
    rewrite: impl Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<Transformed<LogicalPlan>> {
    let schema = match plan.inputs().as_slice() {
        [input] => Arc::clone(input.schema()),
        _ => return Ok(Transformed::no(plan)),
    };
    let names = NamePreserver::new(&plan);
    plan.map_expressions(|expr| {
        let name = names.save(&expr);
        let out = expr.transform_up(|e| rewrite(e, &schema))?;
        Ok(if out.transformed { out.update_data(|e| name.restore(e)) } else { out })
    })
}
