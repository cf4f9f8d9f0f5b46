//! The lake's units as a session sees them: per unit (provider, billing account, billing period)
//! its rows, Σ BilledCost per currency, watermark and whether it is final, computed from the rows
//! the session's scope lets through rather than from the manifest. The manifest's figures are the
//! whole unit's, other tenants' rows included; `costpilot lake info --scope` shows these instead.

use std::collections::BTreeMap;

use costpilot_model::time::{format_micros, month_of};
use serde::Serialize;

use costpilot_model::money::decimal_text;
use costpilot_query::QueryError;
use costpilot_query::columns::{amounts_named, counts_named, strings_named, times_named};
use costpilot_query::session::{FOCUS_TABLE, LakeSession};

/// One unit's rows in the session's view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnitView {
    /// ProviderName.
    pub provider: String,
    /// BillingAccountId.
    pub billing_account: String,
    /// `YYYY-MM` of BillingPeriodStart.
    pub billing_period: String,
    /// Rows.
    pub rows: u64,
    /// Σ BilledCost per BillingCurrency, exact decimal text.
    pub billed_cost: BTreeMap<String, String>,
    /// The latest ChargePeriodEnd of these rows (RFC 3339, UTC).
    pub watermark: Option<String>,
    /// True when every one of these rows carries an InvoiceId, as the manifest says of a unit.
    #[serde(rename = "final")]
    pub is_final: bool,
}

/// What the rows of one unit add up to while they are read.
#[derive(Default)]
struct Seen {
    rows: u64,
    /// Σ BilledCost per currency in units of 10^-15.
    cost: BTreeMap<String, i128>,
    /// The latest ChargePeriodEnd.
    end: Option<i64>,
    /// Rows with an InvoiceId.
    invoiced: u64,
}

/// The units the session's rows belong to, sorted by provider, billing account and period, with
/// the figures of those rows only. One query through [`LakeSession::sql`], so the
/// scope and the currency guard apply; a typed query with its columns read by name rather than
/// semantic requests, which would scan the lake once for each of its four figures.
pub async fn units(session: &LakeSession) -> Result<Vec<UnitView>, QueryError> {
    let sql = format!(
        "SELECT ProviderName AS provider, BillingAccountId AS account, BillingPeriodStart AS period_start, \
           BillingCurrency AS currency, count(*) AS row_count, sum(BilledCost) AS billed, \
           max(ChargePeriodEnd) AS period_end, count(InvoiceId) AS invoiced \
         FROM {FOCUS_TABLE} GROUP BY 1, 2, 3, 4"
    );
    let result = session.sql(&sql).await?;
    // Several BillingPeriodStart values can fall in one month (a unit's key); the rows of a unit
    // are summed exactly in units of 10^-15 before they become text.
    let mut found: BTreeMap<(String, String, String), Seen> = BTreeMap::new();
    for batch in &result.batches {
        let provider = strings_named(batch, "provider")?;
        let account = strings_named(batch, "account")?;
        let start = times_named(batch, "period_start")?;
        let currency = strings_named(batch, "currency")?;
        let rows = counts_named(batch, "row_count")?;
        let cost = amounts_named(batch, "billed")?;
        let end = times_named(batch, "period_end")?;
        let invoiced = counts_named(batch, "invoiced")?;
        for i in 0..batch.num_rows() {
            let key = (
                provider[i].clone().unwrap_or_default(),
                account[i].clone().unwrap_or_default(),
                start[i].map(month_of).unwrap_or_default(),
            );
            let unit = found.entry(key).or_default();
            unit.rows += rows[i];
            let total = unit.cost.entry(currency[i].clone().unwrap_or_default()).or_default();
            *total = total.saturating_add(cost[i].unwrap_or(0));
            unit.end = unit.end.max(end[i]);
            unit.invoiced += invoiced[i];
        }
    }
    Ok(found
        .into_iter()
        .map(|((provider, billing_account, billing_period), seen)| UnitView {
            provider,
            billing_account,
            billing_period,
            rows: seen.rows,
            billed_cost: seen.cost.into_iter().map(|(c, v)| (c, decimal_text(v))).collect(),
            watermark: seen.end.map(format_micros),
            is_final: seen.invoiced == seen.rows,
        })
        .collect())
}
