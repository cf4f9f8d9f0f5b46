//! The currency guard: refuses a query that would add amounts of different currencies.
//!
//! It works on the optimized logical plan. Every output column of every plan node gets a lineage:
//! the money columns (those of [`ColumnKind::Money`](costpilot_model::ColumnKind::Money)) of the
//! lake scans it is computed from, and the scans whose BillingCurrency it is an exact copy of
//! (through aliases, casts, projections, subqueries and group keys). Then, for every aggregate
//! (or aggregate window function) that adds — anything but `count`, `min`, `max`, `first_value`,
//! `last_value`, `nth_value`, `array_agg`, `string_agg`, `approx_distinct`, `grouping`,
//! `bool_and` and `bool_or` — whose argument derives from a money column:
//!
//! - if a group key (partition key, for a window) is a copy of the BillingCurrency of every scan
//!   the money comes from, in every grouping set, each group holds one currency and it is allowed;
//! - otherwise the rows of those scans that pass the filters pushed into the scans are checked at
//!   run time, and if they hold more than one currency the query is refused.
//!
//! Amounts converted by [`to_reporting_currency`](crate::fx::CONVERT_FUNCTION) (the
//! `x_...InReportingCurrency` columns) are no longer money in a billing currency and may be added.
//!
//! The guard is conservative, and documented so: filters that stay above a join or an aggregate
//! are not applied in the run-time check (so a query may be refused although its surviving rows
//! hold one currency: filter on BillingCurrency directly or group by it), a group key computed
//! from BillingCurrency (such as `lower(BillingCurrency)`) does not count as a currency key, a
//! rollup or cube always has a grand-total set, and an aggregate over a column of an outer query
//! (a correlated subquery it cannot trace) is refused outright.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use costpilot_model::{column, names};
use datafusion::arrow::array::AsArray;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, JoinType, Result as DfResult, TableReference};
use datafusion::logical_expr::utils::{conjunction, grouping_set_to_exprlist};
use datafusion::logical_expr::{
    Distinct, Expr, GroupingSet, LogicalPlan, LogicalPlanBuilder, TableSource, WindowFunctionDefinition,
};
use datafusion::prelude::SessionContext;

use crate::error::QueryError;
use crate::fx::CONVERT_FUNCTION;

/// Aggregates that do not add their inputs, so they may run over several currencies.
const NON_ADDING: &[&str] = &[
    "count",
    "min",
    "max",
    "first_value",
    "last_value",
    "nth_value",
    "array_agg",
    "string_agg",
    "approx_distinct",
    "grouping",
    "bool_and",
    "bool_or",
];

/// Aggregates whose result is not an amount even when their input is.
const NOT_AMOUNTS: &[&str] = &["count", "approx_distinct", "grouping", "bool_and", "bool_or"];

/// What a value is computed from.
#[derive(Debug, Clone, Default)]
struct Lineage {
    /// (scan, canonical money column) pairs the value derives from.
    money: BTreeSet<(usize, &'static str)>,
    /// Scans whose BillingCurrency the value is an exact copy of.
    currency_of: BTreeSet<usize>,
    /// Derived from a column of an outer query, which cannot be traced.
    opaque: bool,
}

impl Lineage {
    /// Adds what `other` derives from (a computed value is no copy of a currency column).
    fn absorb(&mut self, other: &Lineage) {
        self.money.extend(other.money.iter().cloned());
        self.opaque |= other.opaque;
    }

    fn derived(self) -> Lineage {
        Lineage { currency_of: BTreeSet::new(), ..self }
    }
}

/// A scan of a table holding BillingCurrency.
struct Scan {
    table: TableReference,
    source: Arc<dyn TableSource>,
    filters: Vec<Expr>,
    /// True for the session's own lake table (whose currencies the manifest knows).
    lake: bool,
}

/// An adding aggregate over money that no currency key separates: checked at run time.
struct Need {
    scans: BTreeSet<usize>,
    money: BTreeSet<&'static str>,
}

#[derive(Default)]
struct Analyzer<'a> {
    lake_table: &'a str,
    scans: Vec<Scan>,
    needs: Vec<Need>,
    refusal: Option<String>,
}

/// What the guard needs to know about the session.
pub(crate) struct GuardContext<'a> {
    /// The name of the table scanning the lake's files.
    pub lake_table: &'a str,
    /// The currencies of the session's snapshot, from the manifest.
    pub lake_currencies: &'a BTreeSet<String>,
    /// The reporting currency, when FX rates are configured.
    pub reporting_currency: Option<&'a str>,
}

/// Refuses `plan` with [`QueryError::CurrencyMix`] if it would add amounts of several currencies.
pub(crate) async fn check(
    ctx: &SessionContext,
    plan: &LogicalPlan,
    guard: &GuardContext<'_>,
) -> Result<(), QueryError> {
    let mut analyzer = Analyzer { lake_table: guard.lake_table, ..Default::default() };
    analyzer.plan(plan).map_err(QueryError::from)?;
    if let Some(refusal) = analyzer.refusal {
        return Err(QueryError::CurrencyMix(refusal));
    }
    let mut seen: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for need in &analyzer.needs {
        let mut currencies = BTreeSet::new();
        for &s in &need.scans {
            let scan = &analyzer.scans[s];
            if scan.lake && guard.lake_currencies.len() <= 1 {
                // The whole snapshot holds at most one currency: no rows can disagree.
                currencies.extend(guard.lake_currencies.iter().cloned());
                continue;
            }
            let found = match seen.get(&s) {
                Some(found) => found.clone(),
                None => {
                    let found = currencies_of(ctx, scan).await?;
                    seen.insert(s, found.clone());
                    found
                }
            };
            currencies.extend(found);
        }
        if currencies.len() > 1 {
            return Err(QueryError::CurrencyMix(message(need, &currencies, guard.reporting_currency)));
        }
    }
    Ok(())
}

fn message(need: &Need, currencies: &BTreeSet<String>, reporting: Option<&str>) -> String {
    let columns: Vec<&str> = need.money.iter().copied().collect();
    let list: Vec<&str> = currencies.iter().map(String::as_str).collect();
    let converted: Vec<String> = columns
        .iter()
        .filter(|c| **c == names::BILLED_COST || **c == names::EFFECTIVE_COST)
        .map(|c| format!("x_{c}InReportingCurrency"))
        .collect();
    let advice = match reporting {
        Some(rc) if !converted.is_empty() => format!(
            "group by BillingCurrency, filter to one currency, or add {} (converted to {rc})",
            converted.join(" and ")
        ),
        _ => "group by BillingCurrency or filter to one currency".to_string(),
    };
    format!("refusing to add {} across currencies ({}): {advice}", columns.join(" and "), list.join(", "))
}

/// The distinct BillingCurrency values among the rows of `scan` that pass its filters.
async fn currencies_of(ctx: &SessionContext, scan: &Scan) -> Result<BTreeSet<String>, QueryError> {
    let currency = Expr::Column(Column::new(Some(scan.table.clone()), names::BILLING_CURRENCY));
    let mut builder = LogicalPlanBuilder::scan(scan.table.clone(), scan.source.clone(), None)?;
    if let Some(predicate) = conjunction(scan.filters.iter().cloned()) {
        builder = builder.filter(predicate)?;
    }
    let plan = builder.aggregate(vec![currency], Vec::<Expr>::new())?.limit(0, Some(16))?.build()?;
    let batches = ctx.execute_logical_plan(plan).await?.collect().await?;
    let mut out = BTreeSet::new();
    for batch in batches {
        let values = cast(batch.column(0), &DataType::Utf8).map_err(|e| QueryError::Query(e.to_string()))?;
        out.extend(values.as_string::<i32>().iter().flatten().map(str::to_string));
    }
    Ok(out)
}

fn money_column(name: &str) -> Option<&'static str> {
    column(name).filter(|c| c.is_money()).map(|c| c.name)
}

fn unalias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(a) => unalias(&a.expr),
        other => other,
    }
}

impl Analyzer<'_> {
    /// The lineage of every output column of `plan`, recording the checks its aggregates need.
    fn plan(&mut self, plan: &LogicalPlan) -> DfResult<Vec<Lineage>> {
        let width = plan.schema().fields().len();
        let out = match plan {
            LogicalPlan::TableScan(scan) => {
                let guarded = scan.source.schema().field_with_name(names::BILLING_CURRENCY).is_ok();
                let id = self.scans.len();
                if guarded {
                    self.scans.push(Scan {
                        table: scan.table_name.clone(),
                        source: scan.source.clone(),
                        filters: scan.filters.clone(),
                        lake: scan.table_name.table() == self.lake_table,
                    });
                }
                scan.projected_schema
                    .fields()
                    .iter()
                    .map(|f| {
                        let mut l = Lineage::default();
                        if guarded {
                            if let Some(m) = money_column(f.name()) {
                                l.money.insert((id, m));
                            }
                            if f.name() == names::BILLING_CURRENCY {
                                l.currency_of.insert(id);
                            }
                        }
                        l
                    })
                    .collect()
            }
            LogicalPlan::Projection(p) => {
                let input = self.plan(&p.input)?;
                let schema = p.input.schema();
                p.expr.iter().map(|e| self.expr(e, schema, &input)).collect::<DfResult<Vec<_>>>()?
            }
            LogicalPlan::Filter(f) => {
                let input = self.plan(&f.input)?;
                self.expr(&f.predicate, f.input.schema(), &input)?;
                input
            }
            LogicalPlan::Aggregate(agg) => {
                let input = self.plan(&agg.input)?;
                let schema = agg.input.schema();
                let sets: Vec<Vec<&Expr>> = match agg.group_expr.as_slice() {
                    [Expr::GroupingSet(GroupingSet::GroupingSets(sets))] => {
                        sets.iter().map(|s| s.iter().collect()).collect()
                    }
                    // A rollup or cube has a grand-total set with no key.
                    [Expr::GroupingSet(_)] => vec![vec![]],
                    keys => vec![keys.iter().collect()],
                };
                let key_sets = sets
                    .iter()
                    .map(|s| s.iter().map(|k| self.expr(k, schema, &input)).collect::<DfResult<Vec<_>>>())
                    .collect::<DfResult<Vec<_>>>()?;
                let mut out = Vec::with_capacity(width);
                for k in grouping_set_to_exprlist(&agg.group_expr)? {
                    out.push(self.expr(k, schema, &input)?);
                }
                if matches!(agg.group_expr.as_slice(), [Expr::GroupingSet(_)]) {
                    out.push(Lineage::default());
                }
                for a in &agg.aggr_expr {
                    let l = match unalias(a) {
                        Expr::AggregateFunction(f) => {
                            let p = &f.params;
                            if let Some(filter) = &p.filter {
                                self.expr(filter, schema, &input)?;
                            }
                            self.aggregate(f.func.name(), &p.args, &key_sets, schema, &input)?
                        }
                        other => self.expr(other, schema, &input)?.derived(),
                    };
                    out.push(l);
                }
                out
            }
            LogicalPlan::Window(w) => {
                let input = self.plan(&w.input)?;
                let schema = w.input.schema();
                let mut out = input.clone();
                for e in &w.window_expr {
                    let l = match unalias(e) {
                        Expr::WindowFunction(wf) => {
                            let keys = wf
                                .params
                                .partition_by
                                .iter()
                                .map(|k| self.expr(k, schema, &input))
                                .collect::<DfResult<Vec<_>>>()?;
                            match &wf.fun {
                                WindowFunctionDefinition::AggregateUDF(f) => {
                                    self.aggregate(f.name(), &wf.params.args, &[keys], schema, &input)?
                                }
                                WindowFunctionDefinition::WindowUDF(_) => {
                                    self.args(&wf.params.args, schema, &input)?
                                }
                            }
                        }
                        other => self.expr(other, schema, &input)?.derived(),
                    };
                    out.push(l);
                }
                out
            }
            LogicalPlan::Join(j) => {
                let left = self.plan(&j.left)?;
                let right = self.plan(&j.right)?;
                for (l, r) in &j.on {
                    self.subqueries(l)?;
                    self.subqueries(r)?;
                }
                if let Some(f) = &j.filter {
                    self.subqueries(f)?;
                }
                match j.join_type {
                    JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full => {
                        left.into_iter().chain(right).collect()
                    }
                    JoinType::LeftSemi | JoinType::LeftAnti => left,
                    JoinType::RightSemi | JoinType::RightAnti => right,
                    JoinType::LeftMark => left.into_iter().chain([Lineage::default()]).collect(),
                    JoinType::RightMark => right.into_iter().chain([Lineage::default()]).collect(),
                }
            }
            LogicalPlan::Union(u) => {
                let mut out: Option<Vec<Lineage>> = None;
                for input in &u.inputs {
                    let lin = self.plan(input)?;
                    out = Some(match out {
                        None => lin,
                        Some(acc) => acc
                            .into_iter()
                            .zip(lin)
                            .map(|(mut a, b)| {
                                a.absorb(&b);
                                // Still a currency key only if it is one in every branch.
                                if a.currency_of.is_empty() || b.currency_of.is_empty() {
                                    a.currency_of.clear();
                                } else {
                                    a.currency_of.extend(b.currency_of);
                                }
                                a
                            })
                            .collect(),
                    });
                }
                out.unwrap_or_default()
            }
            LogicalPlan::Distinct(Distinct::On(on)) => {
                let input = self.plan(&on.input)?;
                let schema = on.input.schema();
                on.select_expr.iter().map(|e| self.expr(e, schema, &input)).collect::<DfResult<Vec<_>>>()?
            }
            LogicalPlan::Distinct(Distinct::All(input)) => self.plan(input)?,
            LogicalPlan::Sort(s) => self.plan(&s.input)?,
            LogicalPlan::Limit(l) => self.plan(&l.input)?,
            LogicalPlan::Repartition(r) => self.plan(&r.input)?,
            LogicalPlan::SubqueryAlias(a) => self.plan(&a.input)?,
            LogicalPlan::Subquery(s) => self.plan(&s.subquery)?,
            LogicalPlan::Analyze(a) => {
                self.plan(&a.input)?;
                vec![Lineage::default(); width]
            }
            // Explaining a query computes no figure.
            LogicalPlan::Explain(_) | LogicalPlan::EmptyRelation(_) | LogicalPlan::Values(_) => {
                vec![Lineage::default(); width]
            }
            other => self.opaque_node(other)?,
        };
        if out.len() == width { Ok(out) } else { self.opaque_node(plan) }
    }

    /// A node the guard does not model: every output column may derive from every input column.
    fn opaque_node(&mut self, plan: &LogicalPlan) -> DfResult<Vec<Lineage>> {
        let mut all = Lineage::default();
        for input in plan.inputs() {
            for l in self.plan(input)? {
                all.absorb(&l);
            }
        }
        for e in plan.expressions() {
            self.subqueries(&e)?;
        }
        Ok(vec![all.derived(); plan.schema().fields().len()])
    }

    /// An aggregate call: records the check it needs and returns its result's lineage.
    fn aggregate(
        &mut self,
        name: &str,
        args: &[Expr],
        key_sets: &[Vec<Lineage>],
        schema: &DFSchema,
        input: &[Lineage],
    ) -> DfResult<Lineage> {
        let arg = self.args(args, schema, input)?;
        let name = name.to_ascii_lowercase();
        if !NON_ADDING.contains(&name.as_str()) {
            if arg.opaque && self.refusal.is_none() {
                self.refusal = Some(format!(
                    "refusing {name}() over a column of an outer query: the currency guard cannot \
                     trace it; rewrite the correlated subquery as a join"
                ));
            }
            if !arg.money.is_empty() {
                let scans: BTreeSet<usize> = arg.money.iter().map(|(s, _)| *s).collect();
                let keyed = key_sets.iter().all(|set| set.iter().any(|k| scans.is_subset(&k.currency_of)));
                if !keyed {
                    self.needs.push(Need { scans, money: arg.money.iter().map(|(_, m)| *m).collect() });
                }
            }
        }
        Ok(if NOT_AMOUNTS.contains(&name.as_str()) { Lineage::default() } else { arg })
    }

    fn args(&mut self, args: &[Expr], schema: &DFSchema, input: &[Lineage]) -> DfResult<Lineage> {
        let mut out = Lineage::default();
        for a in args {
            out.absorb(&self.expr(a, schema, input)?);
        }
        Ok(out)
    }

    /// The lineage of an expression over an input with `schema` and column lineages `input`.
    fn expr(&mut self, e: &Expr, schema: &DFSchema, input: &[Lineage]) -> DfResult<Lineage> {
        match e {
            Expr::Alias(a) => return self.expr(&a.expr, schema, input),
            Expr::Cast(c) => return self.expr(&c.expr, schema, input),
            Expr::TryCast(c) => return self.expr(&c.expr, schema, input),
            Expr::Column(c) => {
                return Ok(schema.maybe_index_of_column(c).map(|i| input[i].clone()).unwrap_or_default());
            }
            _ => {}
        }
        let mut out = Lineage::default();
        let mut failure = None;
        e.apply(|node| {
            Ok(match node {
                Expr::Column(c) => {
                    if let Some(i) = schema.maybe_index_of_column(c) {
                        out.absorb(&input[i]);
                    }
                    TreeNodeRecursion::Continue
                }
                Expr::OuterReferenceColumn(..) => {
                    out.opaque = true;
                    TreeNodeRecursion::Continue
                }
                // Converted amounts are in the reporting currency, no longer in a billing currency.
                Expr::ScalarFunction(f) if f.func.name() == CONVERT_FUNCTION => TreeNodeRecursion::Jump,
                Expr::ScalarSubquery(s) => {
                    match self.plan(&s.subquery) {
                        Ok(lin) => lin.iter().for_each(|l| out.absorb(l)),
                        Err(err) => failure = Some(err),
                    }
                    TreeNodeRecursion::Jump
                }
                Expr::Exists(x) => {
                    if let Err(err) = self.plan(&x.subquery.subquery) {
                        failure = Some(err);
                    }
                    TreeNodeRecursion::Jump
                }
                Expr::InSubquery(x) => {
                    if let Err(err) = self.plan(&x.subquery.subquery) {
                        failure = Some(err);
                    }
                    TreeNodeRecursion::Continue
                }
                Expr::SetComparison(x) => {
                    if let Err(err) = self.plan(&x.subquery.subquery) {
                        failure = Some(err);
                    }
                    TreeNodeRecursion::Continue
                }
                _ => TreeNodeRecursion::Continue,
            })
        })?;
        match failure {
            Some(err) => Err(err),
            None => Ok(out),
        }
    }

    /// Analyzes the subqueries inside an expression whose columns are not traced.
    fn subqueries(&mut self, e: &Expr) -> DfResult<()> {
        self.expr(e, &DFSchema::empty(), &[]).map(|_| ())
    }
}
