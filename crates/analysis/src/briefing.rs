//! The Monday briefing: what a FinOps lead wants to know first, computed with SQL over the lake.
//!
//! Everything is per billing currency (amounts of different currencies are never added) and in
//! EffectiveCost (amortised, after discounts), grouped by billing period (BillingPeriodStart):
//!
//! - the total of every billing period, whether it is complete and whether it is invoiced;
//! - the last complete period, with its change against the period right before it (absolute and
//!   in per cent);
//! - the period to date, when the latest period is not complete yet;
//! - the top movers (largest absolute change between those two periods, up and down) by service
//!   (ServiceName), by account (SubAccountId) and by owner: the owner dimension of the tag rules
//!   in force (`team` unless the rules say otherwise; see [`costpilot_query::dimensions`]);
//! - the unallocated share: EffectiveCost the rules give no owner, over all EffectiveCost.
//!
//! A period is complete when the lake holds usage up to its end: the latest ChargePeriodEnd of the
//! rows that date usage ([`costpilot_query::semantic::USAGE_REACH`]) of its currency reaches its
//! BillingPeriodEnd.
//!
//! The movers are semantic requests ([`costpilot_query::semantic`]: Σ EffectiveCost by the
//! dimension and the billing period); the periods' totals are one typed query whose columns are
//! read by name. Either way every figure comes from SQL through [`LakeSession::sql`], so the
//! currency guard checks every query; Rust only picks the periods to compare and orders the
//! movers into up and down lists.

use std::collections::BTreeMap;

use costpilot_model::time::{format_micros, month_of};
use serde::Serialize;

use costpilot_query::QueryError;

use costpilot_query::columns::{
    amount, amounts_named, counts_named, next_month, opt_amount, strings_named, times_named,
};
use costpilot_query::dimensions;
use costpilot_query::semantic::{self, Dimension, Filter, Metric, Request, USAGE_REACH};
use costpilot_query::session::{FOCUS_TABLE, LakeSession};

/// Movers listed per direction and dimension unless told otherwise.
pub const DEFAULT_TOP: usize = 5;

/// What to brief on.
#[derive(Debug, Clone, Copy)]
pub struct BriefingOptions {
    /// Movers listed per direction and dimension.
    pub top: usize,
}

impl Default for BriefingOptions {
    fn default() -> Self {
        Self { top: DEFAULT_TOP }
    }
}

/// The briefing over every billing currency in the lake.
#[derive(Debug, Clone, Serialize)]
pub struct Briefing {
    /// One entry per billing currency, in code order.
    pub currencies: Vec<CurrencyBriefing>,
}

/// The briefing of one billing currency.
#[derive(Debug, Clone, Serialize)]
pub struct CurrencyBriefing {
    /// ISO 4217 code.
    pub currency: String,
    /// The latest ChargePeriodEnd of usage in this currency (RFC 3339), if there is usage.
    pub data_through: Option<String>,
    /// Every billing period, oldest first.
    pub periods: Vec<PeriodTotal>,
    /// The last complete period and its change against the one before.
    pub last_complete: Option<MonthOverMonth>,
    /// The latest period, when it is not complete.
    pub month_to_date: Option<MonthToDate>,
    /// Who moved most between the last complete period and the one before.
    pub movers: Option<Movers>,
    /// EffectiveCost without an owner, in the last complete period (else the period to date).
    pub unallocated: Option<Unallocated>,
}

/// Σ EffectiveCost of one billing period.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodTotal {
    /// The period, `YYYY-MM` of BillingPeriodStart.
    pub period: String,
    /// BillingPeriodStart (RFC 3339).
    pub start: String,
    /// BillingPeriodEnd (RFC 3339).
    pub end: String,
    /// Σ EffectiveCost, exact.
    #[serde(serialize_with = "amount")]
    pub effective_cost: i128,
    /// Σ EffectiveCost of rows without an owner, exact.
    #[serde(serialize_with = "amount")]
    pub unallocated_effective_cost: i128,
    /// Rows.
    pub rows: u64,
    /// The lake holds usage up to the period's end.
    pub complete: bool,
    /// Every row has an invoice id: the provider has invoiced the period.
    pub invoiced: bool,
}

/// A period's total against the period right before it.
#[derive(Debug, Clone, Serialize)]
pub struct MonthOverMonth {
    /// The period, `YYYY-MM`.
    pub period: String,
    /// Its Σ EffectiveCost.
    #[serde(serialize_with = "amount")]
    pub effective_cost: i128,
    /// Whether it is invoiced.
    pub invoiced: bool,
    /// The period before, `YYYY-MM`, when the lake holds it.
    pub previous_period: Option<String>,
    /// Its Σ EffectiveCost.
    #[serde(serialize_with = "opt_amount")]
    pub previous_effective_cost: Option<i128>,
    /// `effective_cost − previous_effective_cost`.
    #[serde(serialize_with = "opt_amount")]
    pub change: Option<i128>,
    /// The change in per cent of the previous total's magnitude; `None` when that is zero.
    pub change_percent: Option<f64>,
}

/// The latest period, not complete yet.
#[derive(Debug, Clone, Serialize)]
pub struct MonthToDate {
    /// The period, `YYYY-MM`.
    pub period: String,
    /// Σ EffectiveCost so far.
    #[serde(serialize_with = "amount")]
    pub effective_cost: i128,
    /// Usage is in up to here (RFC 3339).
    pub through: String,
    /// Whole days from the period's start to `through`.
    pub days: u32,
    /// Days in the period.
    pub days_in_period: u32,
}

/// Top movers by dimension between two periods.
#[derive(Debug, Clone, Serialize)]
pub struct Movers {
    /// The later period, `YYYY-MM`.
    pub period: String,
    /// The earlier period, `YYYY-MM`.
    pub previous_period: String,
    /// By ServiceName.
    pub service: MoverLists,
    /// By SubAccountId (with SubAccountName).
    pub account: MoverLists,
    /// By the owner dimension's value; spend without an owner is the group with no key.
    pub owner: MoverLists,
}

/// The largest rises and falls of one dimension.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MoverLists {
    /// Largest rises first.
    pub up: Vec<Mover>,
    /// Largest falls first.
    pub down: Vec<Mover>,
}

/// One group's change between two periods.
#[derive(Debug, Clone, Serialize)]
pub struct Mover {
    /// The group: the service name, account id or owner; `None` for rows without one.
    pub key: Option<String>,
    /// The account name, for accounts.
    pub name: Option<String>,
    /// Σ EffectiveCost in the later period (0 when absent).
    #[serde(serialize_with = "amount")]
    pub effective_cost: i128,
    /// Σ EffectiveCost in the earlier period (0 when absent).
    #[serde(serialize_with = "amount")]
    pub previous_effective_cost: i128,
    /// `effective_cost − previous_effective_cost`.
    #[serde(serialize_with = "amount")]
    pub change: i128,
    /// The change in per cent of the previous total's magnitude; `None` when that is zero (new).
    pub change_percent: Option<f64>,
}

/// EffectiveCost without an owner in one period.
#[derive(Debug, Clone, Serialize)]
pub struct Unallocated {
    /// The period, `YYYY-MM`.
    pub period: String,
    /// Σ EffectiveCost of rows without an owner.
    #[serde(serialize_with = "amount")]
    pub effective_cost: i128,
    /// Σ EffectiveCost of all rows.
    #[serde(serialize_with = "amount")]
    pub total_effective_cost: i128,
    /// `effective_cost / total_effective_cost`; `None` when the total is zero.
    pub share: Option<f64>,
}

/// Computes the briefing over the session's snapshot of the lake.
pub async fn briefing(session: &LakeSession, options: BriefingOptions) -> Result<Briefing, QueryError> {
    let owner = dimensions::column_of(&owner_dimension(session));
    let rows = period_rows(session, &owner).await?;
    // Per currency: its briefing and the latest ChargePeriodEnd of its usage.
    let mut currencies: Vec<(CurrencyBriefing, Option<i64>)> = Vec::new();
    for row in rows {
        match currencies.last_mut() {
            Some((c, through)) if c.currency == row.currency => {
                c.periods.push(row.total);
                *through = (*through).max(row.usage_through);
            }
            _ => currencies.push((
                CurrencyBriefing {
                    currency: row.currency,
                    data_through: None,
                    periods: vec![row.total],
                    last_complete: None,
                    month_to_date: None,
                    movers: None,
                    unallocated: None,
                },
                row.usage_through,
            )),
        }
    }
    for (c, through) in &mut currencies {
        let through = *through;
        c.data_through = through.map(format_micros);
        let start_of = |p: &PeriodTotal| parse_time(&p.start);
        let end_of = |p: &PeriodTotal| parse_time(&p.end);
        for p in &mut c.periods {
            p.complete = through.is_some_and(|t| end_of(p) <= t);
        }
        let last = c.periods.iter().rposition(|p| p.complete);
        let mut movers_between = None;
        if let Some(i) = last {
            let current = &c.periods[i];
            // The period right before: the one ending where this one starts.
            let previous = c.periods[..i].iter().rev().find(|p| end_of(p) == start_of(current));
            c.last_complete = Some(MonthOverMonth {
                period: current.period.clone(),
                effective_cost: current.effective_cost,
                invoiced: current.invoiced,
                previous_period: previous.map(|p| p.period.clone()),
                previous_effective_cost: previous.map(|p| p.effective_cost),
                change: previous.map(|p| current.effective_cost - p.effective_cost),
                change_percent: previous
                    .and_then(|p| percent(current.effective_cost - p.effective_cost, p.effective_cost)),
            });
            c.unallocated = Some(unallocated_of(current));
            movers_between = previous.map(|p| (current.clone(), p.clone()));
        }
        if let Some(latest) = c.periods.last().filter(|p| !p.complete)
            && let Some(t) = through
        {
            let start = start_of(latest);
            let days = |micros: i64| u32::try_from(micros / 86_400_000_000).unwrap_or(0);
            c.month_to_date = Some(MonthToDate {
                period: latest.period.clone(),
                effective_cost: latest.effective_cost,
                through: format_micros(t),
                days: days(t - start),
                days_in_period: days(end_of(latest) - start),
            });
            if c.unallocated.is_none() {
                c.unallocated = Some(unallocated_of(latest));
            }
        }
        if let Some((current, previous)) = movers_between {
            c.movers = Some(movers(session, &c.currency, &current, &previous, options.top).await?);
        }
    }
    Ok(Briefing { currencies: currencies.into_iter().map(|(c, _)| c).collect() })
}

/// One row of the periods query.
struct PeriodRow {
    currency: String,
    total: PeriodTotal,
    usage_through: Option<i64>,
}

/// The owner dimension of the tag rules in force.
fn owner_dimension(session: &LakeSession) -> String {
    let resolver = session.resolver();
    resolver.dimensions()[resolver.owner_index()].clone()
}

/// Σ EffectiveCost (all and without an owner) per currency and billing period, with the latest usage.
///
/// A typed query rather than semantic requests: it takes six figures of each period (two of them
/// conditional on the row, one a count of invoiced rows) in one scan, where the semantic layer
/// answers one metric per request, and would scan the lake once for each.
async fn period_rows(session: &LakeSession, owner: &str) -> Result<Vec<PeriodRow>, QueryError> {
    let sql = format!(
        "SELECT BillingCurrency AS currency, BillingPeriodStart AS period_start, max(BillingPeriodEnd) AS period_end, \
           sum(EffectiveCost) AS effective, \
           sum(CASE WHEN {owner} IS NULL THEN EffectiveCost ELSE 0 END) AS unallocated, \
           count(*) AS row_count, count(InvoiceId) AS invoiced, \
           max(CASE WHEN {USAGE_REACH} THEN ChargePeriodEnd END) AS usage_through \
         FROM {FOCUS_TABLE} \
         WHERE BillingCurrency IS NOT NULL AND BillingPeriodStart IS NOT NULL \
         GROUP BY BillingCurrency, BillingPeriodStart \
         ORDER BY BillingCurrency, BillingPeriodStart"
    );
    let result = session.sql(&sql).await?;
    let mut out = Vec::new();
    for batch in &result.batches {
        let currency = strings_named(batch, "currency")?;
        let start = times_named(batch, "period_start")?;
        let end = times_named(batch, "period_end")?;
        let effective = amounts_named(batch, "effective")?;
        let unallocated = amounts_named(batch, "unallocated")?;
        let rows = counts_named(batch, "row_count")?;
        let invoiced = counts_named(batch, "invoiced")?;
        let usage = times_named(batch, "usage_through")?;
        for i in 0..batch.num_rows() {
            let (Some(currency), Some(start)) = (currency[i].clone(), start[i]) else { continue };
            // A period without BillingPeriodEnd is taken to last one calendar month.
            let end = end[i].unwrap_or_else(|| next_month(start));
            out.push(PeriodRow {
                currency,
                total: PeriodTotal {
                    period: month_of(start),
                    start: format_micros(start),
                    end: format_micros(end),
                    effective_cost: effective[i].unwrap_or(0),
                    unallocated_effective_cost: unallocated[i].unwrap_or(0),
                    rows: rows[i],
                    complete: false,
                    invoiced: rows[i] > 0 && invoiced[i] == rows[i],
                },
                usage_through: usage[i],
            });
        }
    }
    Ok(out)
}

/// The top movers of `currency` by service, account and owner between two periods: per
/// dimension, one semantic request for Σ EffectiveCost by the dimension and the billing period,
/// over the two periods of the currency.
async fn movers(
    session: &LakeSession,
    currency: &str,
    current: &PeriodTotal,
    previous: &PeriodTotal,
    top: usize,
) -> Result<Movers, QueryError> {
    let owner = owner_dimension(session);
    let mut lists = Vec::with_capacity(3);
    for dimension in [Dimension::SERVICE, Dimension::ACCOUNT, Dimension::Allocation(owner)] {
        let request = Request {
            metric: Metric::EffectiveCost,
            group_by: vec![dimension, Dimension::BILLING_PERIOD],
            filters: vec![
                Filter::Equals(Dimension::CURRENCY, currency.to_string()),
                Filter::In(Dimension::BILLING_PERIOD, vec![current.start.clone(), previous.start.clone()]),
            ],
            ..Request::default()
        };
        let (current_start, previous_start) = (parse_time(&current.start), parse_time(&previous.start));
        // Per group: its name and Σ EffectiveCost in the current and the previous period.
        let mut groups: BTreeMap<Option<String>, (Option<String>, i128, i128)> = BTreeMap::new();
        for row in semantic::run_all(session, &request).await? {
            let group = groups.entry(row.groups[0].clone()).or_default();
            // The name of the group is the greatest over both periods, as one `max` over them.
            group.0 = group.0.take().max(row.names[0].clone());
            let period = row.groups[1].as_deref().map(parse_time);
            if period == Some(current_start) {
                group.1 += row.value;
            } else if period == Some(previous_start) {
                group.2 += row.value;
            }
        }
        let mut all: Vec<Mover> = groups
            .into_iter()
            .map(|(key, (name, cur, prev))| Mover {
                key,
                name,
                effective_cost: cur,
                previous_effective_cost: prev,
                change: cur - prev,
                change_percent: percent(cur - prev, prev),
            })
            .collect();
        // Largest change first, then by group with the group without a value last.
        all.sort_by(|a, b| {
            b.change.cmp(&a.change).then(a.key.is_none().cmp(&b.key.is_none())).then(a.key.cmp(&b.key))
        });
        let down: Vec<Mover> = all.iter().rev().filter(|m| m.change < 0).take(top).cloned().collect();
        let up: Vec<Mover> = all.into_iter().filter(|m| m.change > 0).take(top).collect();
        lists.push(MoverLists { up, down });
    }
    let mut lists = lists.into_iter();
    let mut next = || lists.next().unwrap_or_default();
    Ok(Movers {
        period: current.period.clone(),
        previous_period: previous.period.clone(),
        service: next(),
        account: next(),
        owner: next(),
    })
}

fn unallocated_of(p: &PeriodTotal) -> Unallocated {
    Unallocated {
        period: p.period.clone(),
        effective_cost: p.unallocated_effective_cost,
        total_effective_cost: p.effective_cost,
        share: (p.effective_cost != 0).then(|| p.unallocated_effective_cost as f64 / p.effective_cost as f64),
    }
}

/// `change` in per cent of `|base|`; `None` when `base` is zero.
fn percent(change: i128, base: i128) -> Option<f64> {
    (base != 0).then(|| change as f64 / base.unsigned_abs() as f64 * 100.0)
}

fn parse_time(text: &str) -> i64 {
    costpilot_model::parse_timestamp_micros(text).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_of_the_previous_magnitude() {
        assert_eq!(percent(50, 200), Some(25.0));
        assert_eq!(percent(-50, 200), Some(-25.0));
        assert_eq!(percent(50, -200), Some(25.0));
        assert_eq!(percent(1, 0), None);
    }
}
