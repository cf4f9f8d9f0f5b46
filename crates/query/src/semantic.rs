//! The semantic layer: a typed cost request compiled to SQL, the one way the CLI, the API, agents
//! and MCP tools ask the lake for numbers.
//!
//! ## The request model
//! A [`Request`] names a [`Metric`] (BilledCost, EffectiveCost, ListCost, ContractedCost or
//! UsageQuantity, FOCUS's ConsumedQuantity), the [`Dimension`]s to group by (FOCUS columns such as
//! `service` or `account`, a tag `tag:<key>`, a cost category `cost_category:<name>`, or an
//! allocation dimension of the tag rules such as `team`), [`Filter`]s on dimensions (equals, one
//! of, prefix), a [`TimeRange`] on ChargePeriodStart, a [`Grain`] that buckets ChargePeriodStart
//! by hour, day, week or month, optionally the top N groups with the rest summed as `other`, a
//! comparison with the previous period of the same length, and a [`Page`]. [`compile`] turns it
//! into one SQL query over the `focus` view; [`run`] runs it and reads typed [`CostRow`]s with
//! exact amounts (units of 10^-15).
//!
//! Names are checked before anything runs: an unknown metric, dimension, tag key or cost category
//! is an error that lists the valid names and suggests the closest one. Tag keys are matched as
//! the tag rules canonicalise them (`Team` and `team` are one key; aliases follow the rules); a
//! tag key that is an allocation dimension reads the dimension's column, so every rule (aliases,
//! value maps, CMDB, virtual tags, defaults) applies, while any other key reads the raw values of
//! every stored spelling of the key.
//!
//! ## Scope
//! [`run`] takes a [`LakeSession`], and a session opened with a [`crate::Scope`] only ever sees the
//! rows in scope (see `scope`): the semantic layer cannot widen what a caller sees, and
//! the tag keys it validates against and the anchor of relative ranges ([`anchor`]) are those of
//! the rows in scope too.
//!
//! ## Currency
//! Every result is per billing currency: the compiled query always groups by BillingCurrency, so
//! amounts of different currencies are never added, whatever the request groups by. With FX rates
//! configured (see `fx`), `reporting_currency` asks for BilledCost or EffectiveCost
//! converted into the reporting currency instead, which may be added. Every query goes through
//! [`LakeSession::sql`], so the currency guard checks it as it checks any other query.
//!
//! ## Paging
//! A result is never returned whole when it is large: every request is paged, with
//! [`DEFAULT_PAGE_SIZE`] rows when it names no page and at most [`MAX_PAGE_SIZE`]. Rows come in a
//! fixed order (bucket, currency, the `other` row last, value descending, then the group values),
//! so consecutive pages are disjoint and together hold every row; the result says how many rows
//! there are in all and the offset of the next page.
//!
//! ## Top N and comparison
//! With `top: N`, groups are ranked per currency by the magnitude of their metric over the whole
//! range; in every bucket the top N keep their rows and the rest are summed into one `other` row,
//! so totals are the same as without `top`. With `compare`, every row also has the metric over the
//! previous period (the range moved back by its length): a previous row counts in the bucket it
//! falls into when moved forward by the range's length, so previous totals line up bucket by
//! bucket; the change is absolute and in per cent of the previous magnitude (none when that is 0).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use costpilot_model::dimensions::{self, DIMENSIONS, DimensionDef};
use costpilot_model::names;
use costpilot_model::time::{format_micros, parse_timestamp_micros};
pub use costpilot_model::vocabulary::Metric;
use costpilot_model::vocabulary::UnknownName;
use costpilot_rules::tags::fold;
use datafusion::arrow::array::AsArray;
use serde::{Deserialize, Serialize, Serializer};

use crate::columns::{amount, amounts, counts, literal, opt_amount, strings, times};
use crate::dimensions::column_of;
use crate::error::QueryError;
use crate::rollup::RollupTable;
use crate::session::{FOCUS_TABLE, Hints, LakeSession};

/// Rows per page when a request names no page.
pub const DEFAULT_PAGE_SIZE: usize = 1000;
/// The largest page a request may ask for.
pub const MAX_PAGE_SIZE: usize = 50_000;

const MICROS_PER_HOUR: i64 = 3_600_000_000;
const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// Why a request cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum SemanticError {
    /// The request is invalid: an unknown name, a bad range or page, a missing FX table, ...
    #[error("{0}")]
    Invalid(String),
    /// The lake failed to answer.
    #[error(transparent)]
    Lake(#[from] QueryError),
}

impl From<SemanticError> for QueryError {
    /// For callers that report every failure as a [`QueryError`]: an invalid request becomes a
    /// query error with the same message.
    fn from(e: SemanticError) -> QueryError {
        match e {
            SemanticError::Invalid(message) => QueryError::Query(message),
            SemanticError::Lake(e) => e,
        }
    }
}

fn invalid(message: impl Into<String>) -> SemanticError {
    SemanticError::Invalid(message.into())
}

/// The column of `metric` converted into the reporting currency, for the metrics the FX view has.
fn reporting_column(metric: Metric) -> Option<String> {
    matches!(metric, Metric::BilledCost | Metric::EffectiveCost)
        .then(|| format!("x_{}InReportingCurrency", metric.column()))
}

/// What to group or filter by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Dimension {
    /// A dimension every lake has, from the model's table
    /// ([`costpilot_model::dimensions::DIMENSIONS`]: `provider`, `account`, `service`, ...).
    Column(&'static DimensionDef),
    /// A tag by its canonical key (`tag:<key>`): an allocation dimension's column when the key is
    /// one, else the raw value of the key.
    Tag(String),
    /// An AWS cost category by name (`cost_category:<name>`).
    CostCategory(String),
    /// An allocation dimension of the tag rules by name (`team`, `business_unit`, ...).
    Allocation(String),
}

impl Dimension {
    /// ProviderName.
    pub const PROVIDER: Dimension = Dimension::built_in("provider");
    /// BillingAccountId, shown with BillingAccountName.
    pub const BILLING_ACCOUNT: Dimension = Dimension::built_in("billing_account");
    /// SubAccountId, shown with SubAccountName.
    pub const ACCOUNT: Dimension = Dimension::built_in("account");
    /// ServiceName.
    pub const SERVICE: Dimension = Dimension::built_in("service");
    /// ServiceCategory.
    pub const SERVICE_CATEGORY: Dimension = Dimension::built_in("service_category");
    /// RegionId.
    pub const REGION: Dimension = Dimension::built_in("region");
    /// ResourceId.
    pub const RESOURCE: Dimension = Dimension::built_in("resource");
    /// ChargeCategory.
    pub const CHARGE_CATEGORY: Dimension = Dimension::built_in("charge_category");
    /// BillingCurrency.
    pub const CURRENCY: Dimension = Dimension::built_in("currency");
    /// The instance type of compute usage, x_InstanceType.
    pub const INSTANCE_TYPE: Dimension = Dimension::built_in("instance_type");
    /// The billing period a charge is invoiced in, BillingPeriodStart; its values are instants,
    /// and a filter on it compares instants (`billing_period=2025-01-01`).
    pub const BILLING_PERIOD: Dimension = Dimension::built_in("billing_period");

    /// The dimension of the model's table named `name`; a name not in it fails to compile.
    const fn built_in(name: &str) -> Dimension {
        let mut i = 0;
        while i < DIMENSIONS.len() {
            if DIMENSIONS[i].name.eq_ignore_ascii_case(name) {
                return Dimension::Column(&DIMENSIONS[i]);
            }
            i += 1;
        }
        panic!("not a dimension of the model's table")
    }
}

const TAG_PREFIX: &str = "tag:";
const COST_CATEGORY_PREFIX: &str = "cost_category:";

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dimension::Tag(key) => write!(f, "{TAG_PREFIX}{key}"),
            Dimension::CostCategory(name) => write!(f, "{COST_CATEGORY_PREFIX}{name}"),
            Dimension::Allocation(name) => f.write_str(name),
            Dimension::Column(def) => f.write_str(def.name),
        }
    }
}

impl FromStr for Dimension {
    type Err = SemanticError;

    /// Reads a dimension's name: a built-in one (any case), `tag:<key>`, `cost_category:<name>`,
    /// or else the name of an allocation dimension, which [`compile`] checks against the rules. A
    /// built-in name wins over an allocation dimension of the same name; `tag:<name>` reaches it.
    fn from_str(text: &str) -> Result<Dimension, SemanticError> {
        let text = text.trim();
        let lower = text.to_lowercase();
        if let Some(def) = dimensions::find(&lower) {
            return Ok(Dimension::Column(def));
        }
        let named = |prefix: &str| lower.starts_with(prefix).then(|| text[prefix.len()..].trim().to_string());
        let dimension = if let Some(key) = named(TAG_PREFIX) {
            Dimension::Tag(key)
        } else if let Some(name) = named(COST_CATEGORY_PREFIX) {
            Dimension::CostCategory(name)
        } else {
            Dimension::Allocation(text.to_string())
        };
        match &dimension {
            Dimension::Tag(k) | Dimension::CostCategory(k) | Dimension::Allocation(k) if k.is_empty() => {
                Err(invalid(format!("dimension '{text}' has no name")))
            }
            _ => Ok(dimension),
        }
    }
}

impl TryFrom<String> for Dimension {
    type Error = SemanticError;
    fn try_from(text: String) -> Result<Dimension, SemanticError> {
        text.parse()
    }
}

impl From<Dimension> for String {
    fn from(d: Dimension) -> String {
        d.to_string()
    }
}

/// A condition on a dimension's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Filter {
    /// The value is this (`service=Amazon Simple Storage Service`).
    Equals(Dimension, String),
    /// The value is one of these (`region=us-east-1,eu-west-1`).
    In(Dimension, Vec<String>),
    /// The value starts with this (`team^pay`).
    Prefix(Dimension, String),
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Equals(d, v) => write!(f, "{d}={v}"),
            Filter::In(d, vs) => write!(f, "{d}={}", vs.join(",")),
            Filter::Prefix(d, p) => write!(f, "{d}^{p}"),
        }
    }
}

impl FromStr for Filter {
    type Err = SemanticError;

    /// Reads `dimension=value`, `dimension=value,value,...` (one of) or `dimension^prefix`. A
    /// value holding a comma can only be given as [`Filter::Equals`] built in code.
    fn from_str(text: &str) -> Result<Filter, SemanticError> {
        let bad =
            || invalid(format!("filter '{text}': expected dimension=value[,value...] or dimension^prefix"));
        let at = text.find(['=', '^']).ok_or_else(bad)?;
        let dimension: Dimension = text[..at].parse()?;
        let value = text[at + 1..].trim();
        if text[at..].starts_with('^') {
            return match value.is_empty() {
                true => Err(bad()),
                false => Ok(Filter::Prefix(dimension, value.to_string())),
            };
        }
        let values: Vec<String> =
            value.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_string).collect();
        match values.as_slice() {
            [] => Err(bad()),
            [one] => Ok(Filter::Equals(dimension, one.clone())),
            _ => Ok(Filter::In(dimension, values)),
        }
    }
}

impl TryFrom<String> for Filter {
    type Error = SemanticError;
    fn try_from(text: String) -> Result<Filter, SemanticError> {
        text.parse()
    }
}

impl From<Filter> for String {
    fn from(f: Filter) -> String {
        f.to_string()
    }
}

impl Filter {
    fn dimension(&self) -> &Dimension {
        match self {
            Filter::Equals(d, _) | Filter::In(d, _) | Filter::Prefix(d, _) => d,
        }
    }
}

/// Time buckets of ChargePeriodStart (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grain {
    /// Hours.
    Hour,
    /// Days.
    Day,
    /// ISO weeks, from Monday.
    Week,
    /// Calendar months.
    Month,
}

impl Grain {
    /// Every grain.
    pub const ALL: [Grain; 4] = [Grain::Hour, Grain::Day, Grain::Week, Grain::Month];

    /// Its name, as `date_trunc` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Grain::Hour => "hour",
            Grain::Day => "day",
            Grain::Week => "week",
            Grain::Month => "month",
        }
    }
}

impl fmt::Display for Grain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Grain {
    type Err = SemanticError;
    fn from_str(text: &str) -> Result<Grain, SemanticError> {
        let given = text.trim().to_lowercase();
        Grain::ALL.into_iter().find(|g| g.name() == given).ok_or_else(|| {
            let valid: Vec<String> = Grain::ALL.iter().map(|g| g.name().to_string()).collect();
            unknown("grain", text.trim(), &valid)
        })
    }
}

/// Charges whose ChargePeriodStart is in `[start, end)`, in UTC microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RangeText", into = "RangeText")]
pub struct TimeRange {
    /// The first instant in the range.
    pub start: i64,
    /// The first instant after the range.
    pub end: i64,
}

/// A [`TimeRange`] as RFC 3339 text, as requests and results carry it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RangeText {
    start: String,
    end: String,
}

impl TryFrom<RangeText> for TimeRange {
    type Error = SemanticError;
    fn try_from(t: RangeText) -> Result<TimeRange, SemanticError> {
        TimeRange::new(instant(&t.start)?, instant(&t.end)?)
    }
}

impl From<TimeRange> for RangeText {
    fn from(r: TimeRange) -> RangeText {
        RangeText { start: format_micros(r.start), end: format_micros(r.end) }
    }
}

fn instant(text: &str) -> Result<i64, SemanticError> {
    parse_timestamp_micros(text).map_err(|e| invalid(e.to_string()))
}

impl TimeRange {
    /// `[start, end)`; an error unless `start` is before `end`.
    pub fn new(start: i64, end: i64) -> Result<TimeRange, SemanticError> {
        if start >= end {
            return Err(invalid(format!(
                "empty time range: {} is not before {}",
                format_micros(start),
                format_micros(end)
            )));
        }
        Ok(TimeRange { start, end })
    }

    /// Reads a range relative to `anchor` (see [`anchor`]), never to the wall clock, so the same
    /// lake always gives the same answer:
    ///
    /// - `30d`, `4w`, `12h`: the last days, weeks or hours up to `anchor` rounded up to a whole
    ///   day (hour for `h`), so `7d` is seven whole days of buckets;
    /// - `2025-01-01` (or any RFC 3339 instant): from then up to `anchor`;
    /// - `2025-01-01..2025-02-01`: from the first instant up to, not including, the second.
    pub fn parse(text: &str, anchor: Option<i64>) -> Result<TimeRange, SemanticError> {
        let text = text.trim();
        let anchor = || {
            anchor
                .ok_or_else(|| invalid(format!("'{text}' is relative to the latest data, and there is none")))
        };
        if let Some((from, to)) = text.split_once("..") {
            let end = if to.trim().is_empty() { anchor()? } else { instant(to)? };
            return TimeRange::new(instant(from)?, end);
        }
        let unit = match text.chars().last() {
            Some('h') => Some(MICROS_PER_HOUR),
            Some('d') => Some(MICROS_PER_DAY),
            Some('w') => Some(7 * MICROS_PER_DAY),
            _ => None,
        };
        if let Some(unit) = unit
            && let Ok(n) = text[..text.len() - 1].trim().parse::<i64>()
        {
            if n <= 0 {
                return Err(invalid(format!("time range '{text}': give a positive count")));
            }
            // Whole hours for `h`, whole days otherwise, so the first bucket is not cut short.
            let step = unit.min(MICROS_PER_DAY);
            let end = (anchor()? + step - 1).div_euclid(step) * step;
            let length =
                n.checked_mul(unit).ok_or_else(|| invalid(format!("time range '{text}' is too long")))?;
            return TimeRange::new(end - length, end);
        }
        let start = instant(text).map_err(|_| {
            invalid(format!(
                "time range '{text}': expected a count of hours, days or weeks (12h, 30d, 4w), a date \
                 (2025-01-01) or two dates (2025-01-01..2025-02-01)"
            ))
        })?;
        TimeRange::new(start, anchor()?)
    }

    /// Its length in microseconds.
    pub fn micros(&self) -> i64 {
        self.end - self.start
    }

    /// The range of the same length right before it.
    pub fn previous(&self) -> TimeRange {
        TimeRange { start: self.start - self.micros(), end: self.start }
    }
}

/// Which rows of a result to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Rows per page, 1 to [`MAX_PAGE_SIZE`].
    pub size: usize,
    /// Rows to skip.
    #[serde(default)]
    pub offset: usize,
}

impl Default for Page {
    fn default() -> Self {
        Page { size: DEFAULT_PAGE_SIZE, offset: 0 }
    }
}

/// A question for the lake's numbers; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// What to add up.
    #[serde(default)]
    pub metric: Metric,
    /// Add BilledCost or EffectiveCost converted into the reporting currency (needs FX rates)
    /// instead of per billing currency.
    #[serde(default)]
    pub reporting_currency: bool,
    /// Dimensions to group by, in output order.
    #[serde(default)]
    pub group_by: Vec<Dimension>,
    /// Conditions every row must meet.
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// Charges starting in this range; every charge when `None`.
    #[serde(default)]
    pub range: Option<TimeRange>,
    /// Time buckets; one bucket for the whole range when `None`.
    #[serde(default)]
    pub grain: Option<Grain>,
    /// Keep the top N groups per currency and sum the rest as `other`.
    #[serde(default)]
    pub top: Option<usize>,
    /// Also compute the metric over the previous period of the same length (needs a range).
    #[serde(default)]
    pub compare: bool,
    /// The rows to return; [`Page::default`] when `None`.
    #[serde(default)]
    pub page: Option<Page>,
}

/// What a request's names are checked against and how tag keys are read.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// The allocation dimensions of the tag rules.
    pub dimensions: Vec<String>,
    /// Canonical tag key → the stored spellings of it in the lake.
    pub tag_keys: BTreeMap<String, Vec<String>>,
    /// Cost category names in the lake.
    pub cost_categories: BTreeSet<String>,
    /// The reporting currency, when FX rates are configured.
    pub reporting_currency: Option<String>,
}

impl Catalog {
    /// The catalog of a session for `request`: tag keys and cost categories are read from the
    /// lake only when the request names a tag that is not an allocation dimension, or a cost
    /// category.
    pub async fn load(session: &LakeSession, request: &Request) -> Result<Catalog, QueryError> {
        let resolver = session.resolver();
        let named = || request.group_by.iter().chain(request.filters.iter().map(Filter::dimension));
        let mut catalog = Catalog {
            dimensions: resolver.dimensions().to_vec(),
            reporting_currency: session.reporting_currency().map(str::to_string),
            ..Catalog::default()
        };
        // A tag that is an allocation dimension reads the dimension's column: only other tags need
        // the keys stored in the lake, which takes a scan of every tag map.
        if named().any(|d| matches!(d, Dimension::Tag(k) if catalog.allocation(k).is_none())) {
            for raw in map_keys(session, names::TAGS).await? {
                catalog.tag_keys.entry(resolver.canonical_key(&raw)).or_default().push(raw);
            }
        }
        if named().any(|d| matches!(d, Dimension::CostCategory(_))) {
            catalog.cost_categories =
                map_keys(session, names::X_COST_CATEGORIES).await?.into_iter().collect();
        }
        Ok(catalog)
    }

    /// The SQL of a dimension's value and of its display name (accounts have one).
    fn column(&self, d: &Dimension) -> Result<(String, Option<&'static str>), SemanticError> {
        let plain = |c: &str| Ok((c.to_string(), None));
        match d {
            Dimension::Column(def) => Ok((def.column.to_string(), def.label)),
            Dimension::Allocation(name) => match self.allocation(name) {
                Some(dim) => Ok((ident(&column_of(dim)), None)),
                None => Err(unknown("dimension", name, &self.dimension_names())),
            },
            Dimension::Tag(key) => {
                if let Some(dim) = self.allocation(key) {
                    return Ok((ident(&column_of(dim)), None));
                }
                let canonical = self.tag_keys.get_key_value(key.as_str()).or_else(|| {
                    let folded = fold(key);
                    self.tag_keys.get_key_value(&folded).or_else(|| {
                        self.tag_keys.iter().find(|(_, raws)| raws.iter().any(|r| fold(r) == folded))
                    })
                });
                let Some((_, raws)) = canonical else {
                    let mut valid: BTreeSet<String> = self.tag_keys.keys().cloned().collect();
                    valid.extend(self.dimensions.iter().cloned());
                    return Err(unknown("tag key", key, &valid.into_iter().collect::<Vec<_>>()));
                };
                let reads: Vec<String> =
                    raws.iter().map(|r| format!("{}[{}]", names::TAGS, literal(r))).collect();
                plain(&match reads.as_slice() {
                    [one] => one.clone(),
                    _ => format!("coalesce({})", reads.join(", ")),
                })
            }
            Dimension::CostCategory(name) => {
                if !self.cost_categories.contains(name) {
                    let valid: Vec<String> = self.cost_categories.iter().cloned().collect();
                    return Err(unknown("cost category", name, &valid));
                }
                plain(&format!("{}[{}]", names::X_COST_CATEGORIES, literal(name)))
            }
        }
    }

    /// The plain `focus` columns a dimension reads (its value and display name), or `None` when it
    /// reads into a map (raw tags, cost categories), which no rollup has.
    fn plain_columns(&self, d: &Dimension) -> Option<Vec<String>> {
        let (column, label) = self.column(d).ok()?;
        let unquoted = match column.strip_prefix('"').and_then(|c| c.strip_suffix('"')) {
            Some(inner) => inner.replace("\"\"", "\""),
            None if column.contains('[') || column.contains('(') => return None,
            None => column,
        };
        Some([Some(unquoted), label.map(str::to_string)].into_iter().flatten().collect())
    }

    /// The rules' dimension of this name, matched exactly or else without regard to case.
    fn allocation(&self, name: &str) -> Option<&String> {
        let found = self.dimensions.iter().find(|d| *d == name);
        found.or_else(|| self.dimensions.iter().find(|d| d.eq_ignore_ascii_case(name)))
    }

    /// Every dimension name a request may use.
    fn dimension_names(&self) -> Vec<String> {
        let mut out: Vec<String> = DIMENSIONS.iter().map(|d| d.name.to_string()).collect();
        out.push(format!("{TAG_PREFIX}<key>"));
        out.push(format!("{COST_CATEGORY_PREFIX}<name>"));
        out.extend(self.dimensions.iter().filter(|d| !out.contains(d)).cloned().collect::<Vec<_>>());
        out
    }
}

/// The distinct keys of a map column over the session's rows.
async fn map_keys(session: &LakeSession, column: &str) -> Result<Vec<String>, QueryError> {
    let sql = format!("SELECT DISTINCT k FROM (SELECT unnest(map_keys({column})) AS k FROM {FOCUS_TABLE})");
    let result = session.sql(&sql).await?;
    let mut keys = Vec::new();
    for batch in &result.batches {
        keys.extend(strings(batch, 0)?.into_iter().flatten());
    }
    keys.sort();
    Ok(keys)
}

/// A request as SQL over the `focus` view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledQuery {
    /// The query of the requested page.
    pub sql: String,
    /// The query counting every row of the result, all pages.
    pub count_sql: String,
    /// The columns of `sql`, in order: `g<i>` (the value of the i-th dimension grouped by),
    /// `n<i>` (its display name, for accounts), `bucket` (with a grain), `currency`, `other`
    /// (with top), `value`, `previous` (with compare) and `total_rows`.
    pub columns: Vec<String>,
}

/// A quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A timestamp literal of UTC microseconds.
fn timestamp(micros: i64) -> String {
    format!("arrow_cast({micros}, 'Timestamp(Microsecond, Some(\"UTC\"))')")
}

/// Compiles a request into SQL; every name is checked against `catalog`.
pub fn compile(request: &Request, catalog: &Catalog) -> Result<CompiledQuery, SemanticError> {
    compile_over(request, catalog, FOCUS_TABLE)
}

/// [`compile`] reading `table` instead of `focus`: a rollup's table, whose columns have the
/// `focus` names (amounts already summed, ChargePeriodStart truncated to its grain), so the same
/// query adds up its sums.
fn compile_over(request: &Request, catalog: &Catalog, table: &str) -> Result<CompiledQuery, SemanticError> {
    let page = check(request)?;
    let (metric, currency) = measure(request, catalog)?;
    let filter = conditions(request, catalog)?;
    let start = names::CHARGE_PERIOD_START;
    let compare = request.range.filter(|_| request.compare);

    // `base`: one row per group, bucket and currency, from one scan. With compare the scan reads
    // both periods: `v` holds the current period's amounts, `p` the previous period's, and
    // previous rows are bucketed as if moved forward by the range's length.
    let mut inner = Vec::new();
    let mut group_keys = Vec::new();
    let mut labels = Vec::new();
    for (i, d) in request.group_by.iter().enumerate() {
        let (column, label) = catalog.column(d)?;
        inner.push(format!("{column} AS \"g{i}\""));
        group_keys.push(format!("\"g{i}\""));
        if let Some(label) = label {
            inner.push(format!("{label} AS \"n{i}\""));
            labels.push(format!("\"n{i}\""));
        }
    }
    let mut time_currency = Vec::new();
    if let Some(grain) = request.grain {
        let time = match compare {
            Some(r) => format!(
                "CASE WHEN {start} >= {} THEN {start} ELSE {start} + arrow_cast({}, 'Duration(Microsecond)') END",
                timestamp(r.start),
                r.micros()
            ),
            None => start.to_string(),
        };
        inner.push(format!("date_trunc('{grain}', {time}) AS \"bucket\""));
        time_currency.push("\"bucket\"".to_string());
    }
    inner.push(format!("{currency} AS \"currency\""));
    time_currency.push("\"currency\"".to_string());
    let mut sums = vec!["coalesce(sum(\"v\"), 0) AS \"value\"".to_string()];
    let mut values = vec!["\"value\"".to_string()];
    match compare {
        Some(r) => {
            inner.push(format!("CASE WHEN {start} >= {} THEN {metric} END AS \"v\"", timestamp(r.start)));
            inner.push(format!("CASE WHEN {start} < {} THEN {metric} END AS \"p\"", timestamp(r.start)));
            sums.push("coalesce(sum(\"p\"), 0) AS \"previous\"".to_string());
            values.push("\"previous\"".to_string());
        }
        None => inner.push(format!("{metric} AS \"v\"")),
    }
    let list = |parts: &[&[String]]| parts.concat().join(", ");
    let max_labels: Vec<String> = labels.iter().map(|n| format!("max({n}) AS {n}")).collect();
    let mut ctes = vec![format!(
        "base AS (SELECT {} FROM (SELECT {} FROM {table}{filter}) GROUP BY {})",
        list(&[&group_keys, &time_currency, &max_labels, &sums]),
        inner.join(", "),
        list(&[&group_keys, &time_currency])
    )];
    let mut columns = [group_keys.clone(), labels.clone(), time_currency.clone()].concat();
    let mut order = time_currency.clone();
    let mut last = "base";

    // Top N: rank the groups per currency by the magnitude of their total over every bucket;
    // the groups past N lose their values and are summed into one row per bucket and currency.
    if let Some(n) = request.top {
        let nulls_last: Vec<String> = group_keys.iter().map(|k| format!("{k} NULLS LAST")).collect();
        // Without buckets, base has one row per group and currency already: its value is the
        // total, and a window over every group (a sort of them all) would only copy it.
        ctes.push(match request.grain {
            Some(_) => format!(
                "totals AS (SELECT *, sum(\"value\") OVER (PARTITION BY \"currency\", {}) AS \"group_total\" FROM base)",
                group_keys.join(", ")
            ),
            None => "totals AS (SELECT *, \"value\" AS \"group_total\" FROM base)".to_string(),
        });
        ctes.push(format!(
            "ranked AS (SELECT *, dense_rank() OVER (PARTITION BY \"currency\" ORDER BY abs(\"group_total\") DESC, {}) AS \"rank\" FROM totals)",
            nulls_last.join(", ")
        ));
        let kept: Vec<String> = group_keys
            .iter()
            .chain(&labels)
            .map(|c| format!("CASE WHEN \"rank\" <= {n} THEN {c} END AS {c}"))
            .collect();
        let resummed: Vec<String> = values.iter().map(|v| format!("sum({v}) AS {v}")).collect();
        let other = vec!["\"other\"".to_string()];
        ctes.push(format!(
            "topped AS (SELECT {} FROM (SELECT {}, \"rank\" > {n} AS \"other\" FROM ranked) GROUP BY {})",
            list(&[&group_keys, &time_currency, &other, &max_labels, &resummed]),
            list(&[&kept, &time_currency, &values]),
            list(&[&group_keys, &time_currency, &other])
        ));
        columns.extend(other.clone());
        order.extend(other);
        last = "topped";
    }
    columns.extend(values);
    order.push("\"value\" DESC".to_string());
    order.extend(group_keys.iter().map(|k| format!("{k} NULLS LAST")));
    let with = format!("WITH {}", ctes.join(", "));
    let sql = format!(
        "{with} SELECT {}, count(*) OVER () AS \"total_rows\" FROM {last} ORDER BY {} LIMIT {} OFFSET {}",
        columns.join(", "),
        order.join(", "),
        page.size,
        page.offset
    );
    let count_sql = format!("{with} SELECT count(*) AS \"total_rows\" FROM {last}");
    columns.push("\"total_rows\"".to_string());
    let columns = columns.iter().map(|c| c.trim_matches('"').to_string()).collect();
    Ok(CompiledQuery { sql, count_sql, columns })
}

/// Checks what needs no catalog; returns the page to use.
fn check(request: &Request) -> Result<Page, SemanticError> {
    let page = request.page.unwrap_or_default();
    if page.size == 0 || page.size > MAX_PAGE_SIZE {
        return Err(invalid(format!("page size {} is not between 1 and {MAX_PAGE_SIZE}", page.size)));
    }
    if let Some(top) = request.top {
        if top == 0 {
            return Err(invalid("top must be at least 1"));
        }
        if request.group_by.is_empty() {
            return Err(invalid("top needs a dimension to group by"));
        }
    }
    for (i, d) in request.group_by.iter().enumerate() {
        if request.group_by[..i].contains(d) {
            return Err(invalid(format!("dimension '{d}' is grouped by twice")));
        }
    }
    match request.range {
        Some(range) => {
            TimeRange::new(range.start, range.end)?;
        }
        None if request.compare => return Err(invalid("compare needs a time range")),
        None => {}
    }
    Ok(page)
}

/// The SQL of the amount to add up and of the currency it is in.
fn measure(request: &Request, catalog: &Catalog) -> Result<(String, String), SemanticError> {
    if !request.reporting_currency {
        return Ok((request.metric.column().to_string(), names::BILLING_CURRENCY.to_string()));
    }
    if catalog.reporting_currency.is_none() {
        return Err(invalid(
            "no FX table is configured (fx.csv in the data directory), so amounts cannot be \
             converted into a reporting currency; ask per billing currency",
        ));
    }
    match reporting_column(request.metric) {
        Some(column) => Ok((column, "x_ReportingCurrency".to_string())),
        None => Err(invalid(format!(
            "{} has no reporting-currency column; use billed_cost or effective_cost",
            request.metric
        ))),
    }
}

/// The WHERE clause of the filters and the time range (from the previous period's start with
/// compare), or nothing.
fn conditions(request: &Request, catalog: &Catalog) -> Result<String, SemanticError> {
    let mut out = Vec::new();
    for f in &request.filters {
        let (column, _) = catalog.column(f.dimension())?;
        out.push(match f {
            Filter::Equals(_, v) => format!("{column} = {}", literal(v)),
            Filter::In(_, vs) if vs.is_empty() => {
                return Err(invalid(format!("filter '{f}' lists no value")));
            }
            Filter::In(_, vs) => {
                format!("{column} IN ({})", vs.iter().map(|v| literal(v)).collect::<Vec<_>>().join(", "))
            }
            Filter::Prefix(_, p) => format!("starts_with({column}, {})", literal(p)),
        });
    }
    if let Some(range) = request.range {
        let from = if request.compare { range.previous().start } else { range.start };
        out.push(format!("{} >= {}", names::CHARGE_PERIOD_START, timestamp(from)));
        out.push(format!("{} < {}", names::CHARGE_PERIOD_START, timestamp(range.end)));
    }
    Ok(match out.is_empty() {
        true => String::new(),
        false => format!(" WHERE {}", out.join(" AND ")),
    })
}

/// One row of a result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostRow {
    /// The value of each dimension grouped by, in request order; `None` for rows without one and
    /// for the `other` row.
    pub groups: Vec<Option<String>>,
    /// The display name of each dimension's value where it has one (account names), else `None`.
    pub names: Vec<Option<String>>,
    /// The row sums every group outside the top N.
    pub other: bool,
    /// The start of the time bucket (RFC 3339), with a grain.
    #[serde(serialize_with = "opt_time", skip_serializing_if = "Option::is_none")]
    pub bucket: Option<i64>,
    /// The billing currency (the reporting currency with `reporting_currency`).
    pub currency: String,
    /// Σ metric, exact.
    #[serde(serialize_with = "amount")]
    pub value: i128,
    /// Σ metric over the previous period, with compare.
    #[serde(serialize_with = "opt_amount", skip_serializing_if = "Option::is_none")]
    pub previous: Option<i128>,
    /// `value − previous`, with compare.
    #[serde(serialize_with = "opt_amount", skip_serializing_if = "Option::is_none")]
    pub change: Option<i128>,
    /// The change in per cent of the previous magnitude; `None` when that is 0 or without compare.
    pub change_percent: Option<f64>,
}

fn opt_time<S: Serializer>(micros: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match micros {
        Some(m) => s.serialize_str(&format_micros(*m)),
        None => s.serialize_none(),
    }
}

/// The answer to a request: one page of rows.
#[derive(Debug, Clone, Serialize)]
pub struct CostResult {
    /// The request as run, with the page applied.
    pub request: Request,
    /// The previous period, with compare.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_range: Option<TimeRange>,
    /// The names of the dimensions grouped by, in the order of [`CostRow::groups`].
    pub dimensions: Vec<String>,
    /// This page's rows.
    pub rows: Vec<CostRow>,
    /// Rows in all pages.
    pub total_rows: u64,
    /// The offset of the next page, if there is one.
    pub next_offset: Option<u64>,
    /// The SQL that computed the rows: the evidence behind every figure.
    pub sql: String,
    /// What answered: `raw` (the lake) or `rollup:<name>` (see [`crate::rollup`]).
    pub source: String,
}

/// The source of results read from the lake.
pub const RAW_SOURCE: &str = "raw";

/// Where a request's rows are read from (see [`crate::rollup`] for the rules).
#[derive(Debug, Clone)]
pub enum Route<'a> {
    /// The lake.
    Raw,
    /// One rollup.
    Rollup(&'a RollupTable),
    /// A week rollup for the whole weeks of `spans` (`[start, end)` in UTC microseconds, each
    /// whole weeks) and a day rollup of the same columns for every other day of the range.
    Weeks {
        /// The week rollup.
        weeks: &'a RollupTable,
        /// The day rollup.
        days: &'a RollupTable,
        /// The spans the week rollup answers.
        spans: Vec<(i64, i64)>,
    },
}

impl Route<'_> {
    /// What answers, as [`CostResult::source`] says it.
    pub fn source(&self) -> String {
        match self {
            Route::Raw => RAW_SOURCE.to_string(),
            Route::Rollup(r) => format!("rollup:{}", r.name),
            Route::Weeks { weeks, days, .. } => format!("rollup:{}+{}", weeks.name, days.name),
        }
    }

    /// The table the compiled query reads: `focus`, a rollup's table, or the union of the week
    /// rollup's rows in the spans and the day rollup's rows outside them (their columns are the
    /// same; they are listed by name so that the order of each file's columns does not matter).
    fn table(&self) -> String {
        match self {
            Route::Raw => FOCUS_TABLE.to_string(),
            Route::Rollup(r) => r.table.clone(),
            Route::Weeks { weeks, days, spans } => {
                let columns: Vec<String> = days.columns.iter().map(|c| ident(c)).collect();
                let start = names::CHARGE_PERIOD_START;
                let inside: Vec<String> = spans
                    .iter()
                    .map(|(a, b)| format!("({start} >= {} AND {start} < {})", timestamp(*a), timestamp(*b)))
                    .collect();
                let inside = inside.join(" OR ");
                let columns = columns.join(", ");
                format!(
                    "(SELECT {columns} FROM {} WHERE {inside} UNION ALL SELECT {columns} FROM {} WHERE NOT ({inside})) AS \"rollup\"",
                    weeks.table, days.table
                )
            }
        }
    }
}

/// Whether a rollup of `grain` has every bucket the request needs: its buckets are no coarser
/// than the request's grain and the range's bounds fall on them.
fn buckets_fit(request: &Request, grain: Grain) -> bool {
    let fits = match grain {
        Grain::Hour => true,
        Grain::Day => request.grain != Some(Grain::Hour),
        Grain::Week => matches!(request.grain, None | Some(Grain::Week)),
        Grain::Month => false,
    };
    let Ok((step, origin)) = crate::rollup::buckets(grain) else { return false };
    // With compare the previous period starts a whole number of steps earlier.
    let on_bound = |t: i64| (t - origin).rem_euclid(step) == 0;
    fits && request.range.is_none_or(|range| on_bound(range.start) && on_bound(range.end))
}

/// The whole weeks of the request's range that a week rollup can answer while a day rollup
/// answers the rest, or `None` when there are none. Each period the query tells apart (with
/// compare: the previous one and the current one) has its own whole weeks, so no week rollup
/// row straddles the start of the current period. With a week grain and compare, previous rows
/// move forward by the range's length into the current weeks: only a whole number of weeks keeps
/// a week row in one week.
fn whole_weeks(request: &Request) -> Option<Vec<(i64, i64)>> {
    let range = request.range?;
    let (step, origin) = crate::rollup::buckets(Grain::Week).ok()?;
    match request.grain {
        None => {}
        Some(Grain::Week) if !request.compare || range.micros() % step == 0 => {}
        Some(_) => return None,
    }
    let periods = match request.compare {
        true => vec![range.previous(), range],
        false => vec![range],
    };
    let spans: Vec<(i64, i64)> = periods
        .iter()
        .map(|p| {
            let first = origin + (p.start - origin + step - 1).div_euclid(step) * step;
            let end = origin + (p.end - origin).div_euclid(step) * step;
            (first, end)
        })
        .filter(|(first, end)| first < end)
        .collect();
    (!spans.is_empty()).then_some(spans)
}

/// The route that answers `request` exactly with the fewest rows: the smallest registered rollup
/// that has every column it reads and the buckets it needs (see [`crate::rollup`] for the rule),
/// with a week rollup of the same columns for the whole weeks of its range when the rollup is a
/// day rollup; otherwise the lake.
pub fn plan<'a>(request: &Request, catalog: &Catalog, rollups: &'a [RollupTable]) -> Route<'a> {
    if request.reporting_currency || rollups.is_empty() {
        return Route::Raw;
    }
    let mut needed: BTreeSet<String> =
        [request.metric.column(), names::BILLING_CURRENCY].into_iter().map(str::to_string).collect();
    for d in request.group_by.iter().chain(request.filters.iter().map(Filter::dimension)) {
        match catalog.plain_columns(d) {
            Some(columns) => needed.extend(columns),
            None => return Route::Raw,
        }
    }
    if request.grain.is_some() || request.range.is_some() {
        needed.insert(names::CHARGE_PERIOD_START.to_string());
    }
    let best = rollups
        .iter()
        .filter(|r| needed.iter().all(|c| r.columns.contains(c)))
        .filter(|r| buckets_fit(request, r.grain))
        .min_by_key(|r| (r.rows, r.name.clone()));
    let Some(best) = best else { return Route::Raw };
    if best.grain == Grain::Day
        && let Some(spans) = whole_weeks(request)
        && let Some(weeks) = rollups.iter().find(|w| w.grain == Grain::Week && w.columns == best.columns)
    {
        return Route::Weeks { weeks, days: best, spans };
    }
    Route::Rollup(best)
}

/// Whether the route's rows are nearly all groups of the request already: one rollup, bucketed
/// at the request's grain, every column of whose key the request groups by (a row of it then
/// differs from the others in a group only by the unit it came from).
fn rows_are_groups(request: &Request, catalog: &Catalog, route: &Route) -> bool {
    let Route::Rollup(rollup) = route else { return false };
    if request.grain != Some(rollup.grain) {
        return false;
    }
    let mut grouped: BTreeSet<String> = BTreeSet::from([names::BILLING_CURRENCY.to_string()]);
    for d in &request.group_by {
        grouped.extend(catalog.plain_columns(d).unwrap_or_default());
    }
    rollup.grouped_columns().all(|c| grouped.contains(c))
}

/// The rows whose ChargePeriodEnd says how far usage has reached: usage-based charges, but not a
/// commitment's `Unused` rows, which carry the period of the recurring fee they come from (dated
/// to the end of a month whose usage may not be in yet), as recurring fees and taxes do.
pub const USAGE_REACH: &str = "ChargeFrequency = 'Usage-Based' \
     AND (CommitmentDiscountStatus IS NULL OR CommitmentDiscountStatus <> 'Unused')";

/// The latest ChargePeriodEnd of the rows [`USAGE_REACH`] selects (of any charge when there are
/// none) among the session's rows: what relative time ranges count back from.
pub async fn anchor(session: &LakeSession) -> Result<Option<i64>, QueryError> {
    let sql = format!(
        "SELECT coalesce(max(CASE WHEN {USAGE_REACH} THEN {end} END), max({end})) FROM {FOCUS_TABLE}",
        end = names::CHARGE_PERIOD_END
    );
    let result = session.sql(&sql).await?;
    let batch = result.batches.iter().find(|b| b.num_rows() > 0);
    Ok(match batch {
        Some(b) => times(b, 0)?[0],
        None => None,
    })
}

/// Answers a request over the session's rows (which the session's scope already limits), from the
/// smallest fresh rollup that answers it exactly ([`plan`]) or else from the lake.
pub async fn run(session: &LakeSession, request: &Request) -> Result<CostResult, SemanticError> {
    run_with(session, request, true).await
}

/// [`run`] reading the lake, never a rollup: the reference a rollup's answer must equal.
pub async fn run_raw(session: &LakeSession, request: &Request) -> Result<CostResult, SemanticError> {
    run_with(session, request, false).await
}

/// Every row of the answer to `request` (whose page is ignored), read in pages of
/// [`MAX_PAGE_SIZE`] rows: for an analysis that needs the whole result rather than what a person
/// reads. Nearly every result is one page; each further page runs the query again.
pub async fn run_all(session: &LakeSession, request: &Request) -> Result<Vec<CostRow>, SemanticError> {
    let mut rows = Vec::new();
    let mut offset = 0;
    loop {
        let paged = Request { page: Some(Page { size: MAX_PAGE_SIZE, offset }), ..request.clone() };
        let result = run(session, &paged).await?;
        rows.extend(result.rows);
        match result.next_offset {
            Some(next) => offset = next as usize,
            None => return Ok(rows),
        }
    }
}

async fn run_with(
    session: &LakeSession,
    request: &Request,
    rollups: bool,
) -> Result<CostResult, SemanticError> {
    let catalog = Catalog::load(session, request).await?;
    let route = match rollups {
        true => plan(request, &catalog, session.rollups()),
        false => Route::Raw,
    };
    let compiled = compile_over(request, &catalog, &route.table())?;
    let source = route.source();
    let page = request.page.unwrap_or_default();
    let hints = Hints { rows_are_groups: rows_are_groups(request, &catalog, &route) };
    let result = session.sql_with(&compiled.sql, hints).await?;
    let at = |name: &str| result.schema.index_of(name).map_err(|e| QueryError::Query(e.to_string()));
    let width = request.group_by.len();
    let labelled: Vec<Option<usize>> =
        (0..width).map(|i| result.schema.index_of(&format!("n{i}")).ok()).collect();
    let mut rows = Vec::new();
    let mut total_rows = 0;
    for batch in &result.batches {
        let n = batch.num_rows();
        let groups =
            (0..width).map(|i| strings(batch, at(&format!("g{i}"))?)).collect::<Result<Vec<_>, _>>()?;
        let labels = labelled
            .iter()
            .map(|l| l.map(|i| strings(batch, i)).transpose())
            .collect::<Result<Vec<_>, QueryError>>()?;
        let buckets = match request.grain {
            Some(_) => times(batch, at("bucket")?)?,
            None => vec![None; n],
        };
        let currencies = strings(batch, at("currency")?)?;
        let other = match request.top {
            Some(_) => {
                let column = batch.column(at("other")?);
                let flags = column.as_boolean_opt().ok_or_else(|| {
                    QueryError::Query(format!("column other: expected booleans, got {}", column.data_type()))
                })?;
                (0..n).map(|r| flags.value(r)).collect()
            }
            None => vec![false; n],
        };
        let values = amounts(batch, at("value")?)?;
        let previous = match request.compare {
            true => amounts(batch, at("previous")?)?,
            false => vec![None; n],
        };
        if let Some(&t) = counts(batch, at("total_rows")?)?.first() {
            total_rows = t;
        }
        for r in 0..n {
            let value = values[r].unwrap_or(0);
            let previous = request.compare.then(|| previous[r].unwrap_or(0));
            rows.push(CostRow {
                groups: groups.iter().map(|g| g[r].clone()).collect(),
                names: labels.iter().map(|l| l.as_ref().and_then(|l| l[r].clone())).collect(),
                other: other[r],
                bucket: buckets[r],
                currency: currencies[r].clone().unwrap_or_default(),
                value,
                previous,
                change: previous.map(|p| value - p),
                change_percent: previous
                    .filter(|p| *p != 0)
                    .map(|p| (value - p) as f64 / p.unsigned_abs() as f64 * 100.0),
            });
        }
    }
    if rows.is_empty() && page.offset > 0 {
        // A page past the end has no row to carry the count.
        let counted = session.sql(&compiled.count_sql).await?;
        if let Some(b) = counted.batches.iter().find(|b| b.num_rows() > 0) {
            total_rows = counts(b, 0)?[0];
        }
    }
    let end = (page.offset + rows.len()) as u64;
    Ok(CostResult {
        request: Request { page: Some(page), ..request.clone() },
        previous_range: request.range.filter(|_| request.compare).map(|r| r.previous()),
        dimensions: request.group_by.iter().map(Dimension::to_string).collect(),
        rows,
        total_rows,
        next_offset: (end < total_rows).then_some(end),
        sql: compiled.sql,
        source,
    })
}

/// The error for an unknown name: the closest valid one, if any is close, and the valid names.
fn unknown(kind: &str, given: &str, valid: &[String]) -> SemanticError {
    invalid(UnknownName::new(kind, given, valid.to_vec()).to_string())
}

impl From<UnknownName> for SemanticError {
    fn from(e: UnknownName) -> Self {
        invalid(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollup(name: &str, grain: Grain, columns: &[&str]) -> RollupTable {
        let mut columns: BTreeSet<String> = columns.iter().map(|c| c.to_string()).collect();
        columns.extend(crate::rollup::MEASURES.iter().map(|m| m.to_string()));
        columns.insert(names::CHARGE_PERIOD_START.to_string());
        RollupTable { name: name.into(), table: format!("rollup_{name}"), grain, columns, rows: 10 }
    }

    #[test]
    fn the_billing_period_groups_and_filters_by_billing_period_start() {
        let d: Dimension = "billing_period".parse().unwrap();
        assert_eq!(d, Dimension::BILLING_PERIOD);
        assert_eq!(d.to_string(), "billing_period");
        let request = Request {
            group_by: vec![Dimension::BILLING_PERIOD, Dimension::SERVICE],
            filters: vec!["billing_period=2025-01-01T00:00:00Z,2025-02-01T00:00:00Z".parse().unwrap()],
            ..Request::default()
        };
        let sql = compile(&request, &Catalog::default()).unwrap().sql;
        assert!(sql.contains("BillingPeriodStart AS \"g0\""), "{sql}");
        assert!(
            sql.contains("BillingPeriodStart IN ('2025-01-01T00:00:00Z', '2025-02-01T00:00:00Z')"),
            "{sql}"
        );
    }

    #[test]
    fn no_rollup_has_the_billing_period_so_the_lake_answers() {
        let catalog = Catalog::default();
        let accounts = rollup("daily_accounts", Grain::Day, &[names::BILLING_CURRENCY, names::SERVICE_NAME]);
        let rollups = [accounts];
        let by_service = Request { group_by: vec![Dimension::SERVICE], ..Request::default() };
        assert_eq!(plan(&by_service, &catalog, &rollups).source(), "rollup:daily_accounts");
        let by_period = Request { group_by: vec![Dimension::BILLING_PERIOD], ..by_service.clone() };
        assert_eq!(plan(&by_period, &catalog, &rollups).source(), RAW_SOURCE);
        let filtered = Request {
            filters: vec![Filter::Equals(Dimension::BILLING_PERIOD, "2025-01-01T00:00:00Z".into())],
            ..by_service
        };
        assert_eq!(plan(&filtered, &catalog, &rollups).source(), RAW_SOURCE);
    }
}
