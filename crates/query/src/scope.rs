//! Tenant scope: the accounts and allocation-dimension values a caller may see, enforced in one
//! place, the table every query reads.
//!
//! A [`LakeSession`](crate::LakeSession) opened with a [`Scope`] registers the lake's rows as a
//! [`ScopedTable`]: its scans filter every row by the scope before anything else sees them, so the
//! `focus` view, the data-quality report, allocation, exports and every SQL query over the session
//! see only the rows in scope, whatever they ask. No caller applies the scope itself, so none can
//! forget it.
//!
//! The scope's filter runs below everything a caller writes: the table accepts no filter pushed
//! into its scan, and a barrier above the scope's filter stops the optimiser from merging a
//! caller's predicate into it. Otherwise a caller's expression could run on a row outside the scope
//! and print its values in an error (`CAST(SubAccountName AS INT)`). The price is that a scoped
//! session prunes no Parquet row groups by the caller's filters. EXPLAIN is refused in a scope
//! ([`crate::LakeSession::sql`]): plans name the lake's files, and EXPLAIN ANALYZE counts rows read
//! before the scope's filter.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use costpilot_model::names;
use costpilot_rules::Resolver;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, Result as DfResult};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties,
    ReplaceChildrenOptions,
};
use serde::{Deserialize, Serialize};

use crate::columns::literal;
use crate::dimensions;
use crate::error::QueryError;

/// What a caller may see. Every condition given must hold; a set allows any of its values. The
/// default scope allows everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Accounts (SubAccountId) in scope; `None` for every account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<BTreeSet<String>>,
    /// Allocation dimension → the values in scope (`business_unit: [Retail]`), as the tag rules
    /// resolve them. To scope by any other tag, make it a dimension of the rules.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, BTreeSet<String>>,
}

impl Scope {
    /// The scope that allows every row.
    pub fn all() -> Scope {
        Scope::default()
    }

    /// Whether it allows every row.
    pub fn is_all(&self) -> bool {
        self.accounts.is_none() && self.dimensions.is_empty()
    }

    /// Reads `key=value,value` (`account=111122223333,444455556666`, `business_unit=Retail`),
    /// adding to this scope; `account` or `accounts` names SubAccountId, anything else a dimension.
    pub fn add(&mut self, text: &str) -> Result<(), QueryError> {
        let bad = |m: String| QueryError::Scope(m);
        let (key, values) = text
            .split_once('=')
            .ok_or_else(|| bad(format!("scope '{text}': expected key=value[,value...]")))?;
        let values: BTreeSet<String> =
            values.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_string).collect();
        if values.is_empty() {
            return Err(bad(format!("scope '{text}': give at least one value")));
        }
        match key.trim() {
            "account" | "accounts" => match &mut self.accounts {
                Some(a) => a.retain(|x| values.contains(x)),
                None => self.accounts = Some(values),
            },
            dim => match self.dimensions.get_mut(dim) {
                Some(v) => v.retain(|x| values.contains(x)),
                None => {
                    self.dimensions.insert(dim.to_string(), values);
                }
            },
        }
        Ok(())
    }

    /// The SQL predicate over the lake's columns; `None` for the scope that allows everything.
    /// A dimension the rules do not have is an error listing those they have.
    pub fn predicate(&self, resolver: &Resolver) -> Result<Option<String>, QueryError> {
        if let Some(dim) = self.dimensions.keys().find(|d| !resolver.dimensions().contains(d)) {
            return Err(QueryError::Scope(format!(
                "scope: '{dim}' is not an allocation dimension; the rules have {}",
                resolver.dimensions().join(", ")
            )));
        }
        Ok(self
            .predicate_over(|key| {
                Some(match key {
                    ScopeKey::Account => names::SUB_ACCOUNT_ID.to_string(),
                    ScopeKey::Dimension(d) => format!("{}['{d}']", dimensions::dimensions_call()),
                })
            })
            .flatten())
    }

    /// The scope as SQL over any table, given the expression that holds each thing the scope
    /// restricts: `None` when `column` has none for one of them (the table cannot be scoped),
    /// `Some(None)` for the scope that allows everything. The one place a scope becomes SQL.
    pub fn predicate_over(&self, column: impl Fn(ScopeKey) -> Option<String>) -> Option<Option<String>> {
        let list =
            |values: &BTreeSet<String>| values.iter().map(|v| literal(v)).collect::<Vec<_>>().join(", ");
        let condition = |expr: String, values: &BTreeSet<String>| match values.is_empty() {
            true => "FALSE".to_string(),
            false => format!("{expr} IN ({})", list(values)),
        };
        let mut parts = Vec::new();
        for (dim, values) in &self.dimensions {
            parts.push(condition(column(ScopeKey::Dimension(dim))?, values));
        }
        if let Some(accounts) = &self.accounts {
            parts.push(condition(column(ScopeKey::Account)?, accounts));
        }
        Some((!parts.is_empty()).then(|| parts.join(" AND ")))
    }
}

/// What a scope restricts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKey<'a> {
    /// The account (SubAccountId).
    Account,
    /// An allocation dimension.
    Dimension(&'a str),
}

/// The lake's rows, filtered by a scope in every scan.
#[derive(Debug)]
pub struct ScopedTable {
    inner: Arc<dyn TableProvider>,
    predicate: Expr,
    /// Indices of the columns the predicate reads.
    needs: Vec<usize>,
}

impl ScopedTable {
    /// `inner` filtered by `predicate`, a boolean expression over `inner`'s columns.
    pub fn new(inner: Arc<dyn TableProvider>, predicate: Expr) -> DfResult<ScopedTable> {
        let schema = inner.schema();
        let mut needs: Vec<usize> =
            predicate.column_refs().iter().map(|c| schema.index_of(&c.name)).collect::<Result<_, _>>()?;
        needs.sort_unstable();
        needs.dedup();
        Ok(ScopedTable { inner, predicate, needs })
    }
}

#[async_trait]
impl TableProvider for ScopedTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    // A caller's filter never reaches the scan: evaluated beside the scope's, on rows outside it, a
    // filter that fails would print their values in its error.
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Unsupported; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // Read the predicate's columns too; project them away after the filter. The limit is a
        // hint and must not cut rows before the scope filter: it is left to the plan above.
        let wanted = projection.cloned().unwrap_or_else(|| (0..self.inner.schema().fields().len()).collect());
        let mut read = wanted.clone();
        read.extend(self.needs.iter().filter(|i| !wanted.contains(i)));
        let plan = self.inner.scan(state, Some(&read), &[], None).await?;
        let schema = plan.schema();
        let df_schema = DFSchema::try_from(schema.as_ref().clone())?;
        let predicate = state.create_physical_expr(self.predicate.clone(), &df_schema)?;
        let filtered: Arc<dyn ExecutionPlan> =
            Arc::new(ScopeBarrier::new(Arc::new(FilterExec::try_new(predicate, plan)?)));
        if read.len() == wanted.len() {
            return Ok(filtered);
        }
        let columns: Vec<(Arc<dyn PhysicalExpr>, String)> = (0..wanted.len())
            .map(|i| {
                let name = schema.field(i).name().clone();
                (Arc::new(Column::new(&name, i)) as _, name)
            })
            .collect();
        Ok(Arc::new(ProjectionExec::try_new(columns, filtered)?))
    }
}

/// Passes its input's rows through unchanged and lets no filter of the plan above move below it,
/// so the scope's filter has run on every row before any caller's expression sees it.
#[derive(Debug)]
struct ScopeBarrier {
    input: Arc<dyn ExecutionPlan>,
}

impl ScopeBarrier {
    fn new(input: Arc<dyn ExecutionPlan>) -> ScopeBarrier {
        ScopeBarrier { input }
    }
}

impl DisplayAs for ScopeBarrier {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "ScopeBarrier")
    }
}

impl ExecutionPlan for ScopeBarrier {
    fn name(&self) -> &'static str {
        "ScopeBarrier"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(ScopeBarrier::new(children.swap_remove(0))))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> DfResult<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}
