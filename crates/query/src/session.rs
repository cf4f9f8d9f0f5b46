//! Query sessions: a snapshot of the manifest as DataFusion tables.
//!
//! The table `focus` has every lake column over the snapshot's data files. Unquoted names resolve
//! without regard to case (`SELECT sum(billedcost) FROM FOCUS`), quoted names exactly
//! (see `identifiers`); function names are case-insensitive (`SUM` and `sum`), and
//! functions of DuckDB and Trino work (see `compat`). Each query stays within the
//! session's memory and time limits (see `limits`). The lake columns are in the table `focus_lake`; `focus` is a view over it that adds one
//! column per allocation dimension of the tag rules in force (`x_team`, `x_business_unit`, ...: see
//! [`crate::dimensions`]) and, when FX rates are configured (see `fx`),
//! `x_ReportingCurrency`, `x_BilledCostInReportingCurrency` and `x_EffectiveCostInReportingCurrency`.
//! Columns a query does not read are not computed.
//!
//! When the rollups under `<data-dir>/rollups/` are fresh (see [`crate::rollup`]), each is also a
//! table `rollup_<name>` (under a scope, only those that can be scoped, filtered by it); the
//! semantic layer's planner reads them ([`LakeSession::rollups`]).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use costpilot_model::{FocusVersion, lake_schema, names};
use costpilot_rules::Resolver;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::TableProvider;
use datafusion::common::DFSchema;
use datafusion::datasource::empty::EmptyTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::sql::sqlparser::dialect::dialect_from_str;

use crate::business;
use crate::compat;
use crate::datetrunc;
use crate::dimensions;
use crate::error::QueryError;
use crate::export::{self, ExportReport};
use crate::fx::{CONVERT_FUNCTION, FxRates};
use crate::guard::{self, GuardContext};
use crate::identifiers::Names;
use crate::limits::QueryLimits;
use crate::nested;
use crate::optimize;
use crate::rollup::{self, RollupTable};
use crate::scope::{Scope, ScopedTable};
use costpilot_lake::Lake;
use costpilot_lake::layout;
use costpilot_lake::manifest::Manifest;

/// The table every query reads.
pub const FOCUS_TABLE: &str = "focus";
/// The table of the lake columns alone; `focus` is a view over it.
pub const FOCUS_LAKE_TABLE: &str = "focus_lake";
/// The inner column of the `focus` view holding [`dimensions::DIMENSIONS_FUNCTION`]'s struct.
const DIMENSIONS_STRUCT: &str = "__dimensions";

/// What a caller knows of a query's data that the planner cannot see.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Hints {
    /// The query groups rows that are nearly all distinct groups already (a rollup grouped by
    /// its own key), so aggregating them in two phases only costs.
    pub(crate) rows_are_groups: bool,
}

/// The result of a query: its schema and its rows.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The columns.
    pub schema: SchemaRef,
    /// The rows, in batches.
    pub batches: Vec<RecordBatch>,
}

impl QueryResult {
    /// The number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// A DataFusion session over one snapshot of the lake: later commits do not change what it sees.
pub struct LakeSession {
    ctx: SessionContext,
    manifest: Manifest,
    files: Vec<PathBuf>,
    lake_table: &'static str,
    currencies: BTreeSet<String>,
    fx: Option<Arc<FxRates>>,
    resolver: Arc<Resolver>,
    scoped: bool,
    rollups: Vec<RollupTable>,
    names: Names,
    limits: QueryLimits,
}

impl std::fmt::Debug for LakeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeSession")
            .field("version", &self.manifest.version)
            .field("files", &self.files.len())
            .finish()
    }
}

/// Partitions a query is split into per core, and at most in all.
///
/// DataFusion splits a scan into one byte range of the lake's files per partition, and equal
/// bytes are not equal work: a range rich in `Tags` or decimal pages decodes slower, and with one
/// partition per core the core that drew it finishes alone. Four smaller partitions per core let
/// the runtime keep every core busy to the end; no query of the benchmark suite got slower (figures
/// in `bench/README.md`).
const PARTITIONS_PER_CORE: usize = 4;
const MAX_PARTITIONS: usize = 64;

/// The configuration every lake session uses: `PARTITIONS_PER_CORE` partitions per core, names
/// kept as written (user SQL finds them without regard to case: see `identifiers`).
pub fn session_config() -> SessionConfig {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let partitions = (cores * PARTITIONS_PER_CORE).min(MAX_PARTITIONS);
    let mut config = SessionConfig::new().with_target_partitions(partitions).with_information_schema(true);
    config.options_mut().sql_parser.enable_ident_normalization = false;
    config
}

impl LakeSession {
    pub(crate) async fn open(
        lake: &Lake,
        manifest: Manifest,
        scope: &Scope,
        limits: QueryLimits,
    ) -> Result<LakeSession, QueryError> {
        let mut ctx = SessionContext::new_with_config_rt(session_config(), limits.runtime()?);
        ctx.register_udf(datetrunc::udf());
        compat::register(&ctx);
        nested::register(&mut ctx)?;
        optimize::register(&ctx);
        let files: Vec<PathBuf> =
            manifest.live_files().map(|f| layout::resolve(lake.root(), &f.path)).collect();
        let table = lake_table(&files)?;
        let fx = FxRates::load(lake.data_dir())?.map(Arc::new);
        let rules = rollup::Rules::load(lake.data_dir())?;
        let resolver = rules.resolver.clone();
        ctx.register_udf(dimensions::udf(resolver.clone()));
        let table = match scope.predicate(&resolver)? {
            None => table,
            Some(sql) => {
                let predicate =
                    ctx.parse_sql_expr(&sql, &DFSchema::try_from(lake_schema().as_ref().clone())?)?;
                Arc::new(ScopedTable::new(table, predicate)?)
            }
        };
        ctx.register_table(FOCUS_LAKE_TABLE, table)?;
        let mut extra = Vec::new();
        if let Some(rates) = &fx {
            ctx.register_udf(rates.udf());
            let convert = |c: &str| {
                format!(
                    "{CONVERT_FUNCTION}({c}, BillingCurrency, ChargePeriodStart) AS x_{c}InReportingCurrency"
                )
            };
            extra.push(format!("'{}' AS x_ReportingCurrency", rates.reporting_currency()));
            extra.push(convert(names::BILLED_COST));
            extra.push(convert(names::EFFECTIVE_COST));
        }
        extra.extend(dimensions::dimension_columns(&resolver, DIMENSIONS_STRUCT));
        let lake_columns: Vec<String> =
            lake_schema().fields().iter().map(|f| format!("\"{}\"", f.name())).collect();
        let view = format!(
            "CREATE VIEW {FOCUS_TABLE} AS SELECT {}, {} FROM (SELECT *, {} AS \"{DIMENSIONS_STRUCT}\" FROM {FOCUS_LAKE_TABLE})",
            lake_columns.join(", "),
            extra.join(", "),
            dimensions::dimensions_call()
        );
        ctx.sql(&view).await?;
        let metric_files = business::files(lake.data_dir());
        if !metric_files.is_empty() {
            let schema = costpilot_ingest::business::schema();
            let table = parquet_table(&metric_files, schema.clone())?;
            let table: Arc<dyn TableProvider> = match business::scope_predicate(scope) {
                None => table,
                Some(sql) => {
                    let predicate =
                        ctx.parse_sql_expr(&sql, &DFSchema::try_from(schema.as_ref().clone())?)?;
                    Arc::new(ScopedTable::new(table, predicate)?)
                }
            };
            ctx.register_table(business::BUSINESS_TABLE, table)?;
        }
        let rollups = rollup::register(&ctx, lake.root(), &manifest, &rules.fingerprint, scope)?;
        let lake_table = FOCUS_LAKE_TABLE;
        let currencies = manifest.currencies().into_iter().map(str::to_string).collect();
        let names = Names::of(&ctx).await?;
        Ok(LakeSession {
            ctx,
            manifest,
            files,
            lake_table,
            currencies,
            fx,
            resolver,
            scoped: !scope.is_all(),
            rollups,
            names,
            limits,
        })
    }

    /// The DataFusion context, for callers that build plans themselves. Queries through it bypass
    /// the currency guard; use [`LakeSession::sql`] for anything a person reads.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// The manifest this session is a snapshot of.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The tag rules and CMDB this session's dimension columns use.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// The fresh rollups registered as tables (none when they are stale or absent).
    pub fn rollups(&self) -> &[RollupTable] {
        &self.rollups
    }

    /// The reporting currency, when FX rates are configured.
    pub fn reporting_currency(&self) -> Option<&str> {
        self.fx.as_deref().map(FxRates::reporting_currency)
    }

    /// Runs one read-only SQL query (no DDL, DML or SET) with the currency guard applied: a query
    /// that would add amounts of different currencies fails with [`QueryError::CurrencyMix`].
    ///
    /// Names resolve without regard to case unless quoted (`identifiers`), functions of
    /// other engines work or name their equivalent, internal functions are refused
    /// (`compat`), and the query stays within the session's [`QueryLimits`].
    pub async fn sql(&self, sql: &str) -> Result<QueryResult, QueryError> {
        self.sql_with(sql, Hints::default()).await
    }

    /// [`LakeSession::sql`] with what the caller knows of the query's data (see [`Hints`]).
    pub(crate) async fn sql_with(&self, sql: &str, hints: Hints) -> Result<QueryResult, QueryError> {
        self.check_files()?;
        // Dropping the query's future on time-out stops its streams and the tasks they spawned.
        match tokio::time::timeout(self.limits.timeout, self.run(sql, hints)).await {
            Ok(result) => result,
            Err(_) => Err(self.limits.timed_out()),
        }
    }

    async fn run(&self, sql: &str, hints: Hints) -> Result<QueryResult, QueryError> {
        let state = self.ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        // The tokenizer's dialect is not `Send`: it must be gone before the first await.
        let text = {
            let parser_dialect = dialect_from_str(dialect)
                .ok_or_else(|| QueryError::Query(format!("no SQL dialect {dialect}")))?;
            self.names.resolve(sql, parser_dialect.as_ref())
        };
        let mut statement = state.sql_to_statement(&text, &dialect).map_err(|e| self.failure(e))?;
        let known = |name: &str| {
            state.scalar_functions().contains_key(name)
                || state.aggregate_functions().contains_key(name)
                || state.window_functions().contains_key(name)
        };
        compat::rewrite(&mut statement, &known)?;
        let plan = state.statement_to_plan(statement).await.map_err(|e| self.failure(e))?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)?;
        let df = self.ctx.execute_logical_plan(plan).await.map_err(|e| self.failure(e))?;
        // A plan names the lake's files (and so other tenants' payer accounts), and EXPLAIN
        // ANALYZE counts the rows a scan read before the scope's filter.
        if self.scoped && matches!(df.logical_plan(), LogicalPlan::Explain(_) | LogicalPlan::Analyze(_)) {
            return Err(QueryError::Scope(
                "EXPLAIN is not available within a scope: plans name other tenants' files".into(),
            ));
        }
        let plan = df.clone().into_optimized_plan().map_err(|e| self.failure(e))?;
        let guard = GuardContext {
            lake_table: self.lake_table,
            lake_currencies: &self.currencies,
            reporting_currency: self.reporting_currency(),
        };
        guard::check(&self.ctx, &plan, &guard).await?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let df = match hints.rows_are_groups {
            false => df,
            true => {
                // Each partition's partial aggregate would find as many groups as rows and only
                // add a hash of every row before the final aggregate hashes them again: pass the
                // rows on as they are (DataFusion's own probe decides so only after 100,000 rows
                // per partition, which a rollup's range of a week seldom has).
                let (mut state, plan) = df.into_parts();
                let execution = &mut state.config_mut().options_mut().execution;
                execution.skip_partial_aggregation_probe_rows_threshold = 0;
                execution.skip_partial_aggregation_probe_ratio_threshold = 0.0;
                DataFrame::new(state, plan)
            }
        };
        let batches = df.collect().await.map_err(|e| self.failure(e))?;
        Ok(QueryResult { schema, batches })
    }

    /// A DataFusion error in words a person reads: the memory limit and oversized regular
    /// expressions get their own message.
    fn failure(&self, error: DataFusionError) -> QueryError {
        self.limits.explain(&error).or_else(|| compat::regex_too_big(&error)).unwrap_or_else(|| error.into())
    }

    /// Writes the lake's rows as a FOCUS file of `version` (see [`crate::export`]).
    pub async fn export(
        &self,
        version: FocusVersion,
        out: &std::path::Path,
    ) -> Result<ExportReport, QueryError> {
        self.check_files()?;
        export::export(&self.ctx, self.lake_table, version, out).await
    }

    /// Fails if vacuum has deleted a file of this snapshot: DataFusion would otherwise skip a
    /// missing file silently and return partial sums.
    fn check_files(&self) -> Result<(), QueryError> {
        match self.files.iter().find(|f| !f.is_file()) {
            Some(missing) => Err(QueryError::Stale(missing.clone())),
            None => Ok(()),
        }
    }
}

/// The table over the given Parquet files, with the lake schema (empty when there are none).
fn lake_table(files: &[PathBuf]) -> Result<Arc<dyn TableProvider>, QueryError> {
    parquet_table(files, lake_schema())
}

/// A table over Parquet files of one schema (empty when there are none).
pub(crate) fn parquet_table(
    files: &[PathBuf],
    schema: SchemaRef,
) -> Result<Arc<dyn TableProvider>, QueryError> {
    if files.is_empty() {
        return Ok(Arc::new(EmptyTable::new(schema)));
    }
    let urls =
        files.iter().map(|f| ListingTableUrl::parse(f.to_string_lossy())).collect::<Result<Vec<_>, _>>()?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config =
        ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}
