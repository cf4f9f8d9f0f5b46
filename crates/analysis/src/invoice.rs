//! The invoice view: what finance reconciles against the provider's invoices.
//!
//! One [`InvoiceLine`] per billing period (BillingPeriodStart), provider, billing account
//! (BillingAccountId, with BillingAccountName), billing currency and invoice (FOCUS InvoiceId):
//! its rows, Σ BilledCost and Σ BilledCost per ChargeCategory (Usage, Purchase, Tax, Credit,
//! Adjustment), so tax and credits show beside the usage they belong to. Rows without an InvoiceId
//! (the provider has not invoiced them yet; AWS leaves `bill_invoice_id` empty until the bill is
//! final) make a line of their own with no invoice id.
//!
//! Each line is **final** or **estimated**, by its unit, the lake's unit of replacement (provider,
//! billing account and billing period):
//!
//! - **final**: the period has ended (BillingPeriodEnd is past) and every row of the unit has an
//!   InvoiceId. The provider has invoiced it, and the amounts are what the invoices say;
//! - **estimated**: rows of the unit have no InvoiceId, or the period is still open. The amounts
//!   may change until the provider invoices the period (a later delivery of the bill replaces the
//!   unit).
//!
//! Every figure comes from one SQL query through [`LakeSession::sql`]: the currency guard checks it
//! and the session's scope applies, so a scoped caller sees the invoice lines of its own rows only.
//! It is a typed query, its columns read by name, rather than semantic requests: a line takes the
//! row count, the latest BillingPeriodEnd and six sums of BilledCost from one scan, where the
//! semantic layer answers one metric per request and would scan the lake once for each.

use std::collections::BTreeSet;

use costpilot_model::time::{format_micros, month_of};
use serde::Serialize;

use costpilot_query::QueryError;
use costpilot_query::columns::{amount, amounts_named, counts_named, next_month, strings_named, times_named};
use costpilot_query::session::{FOCUS_TABLE, LakeSession};

/// Whether an invoice line is what the provider invoiced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InvoiceStatus {
    /// The period has ended and every row of its unit has an InvoiceId.
    Final,
    /// Rows of its unit have no InvoiceId yet, or the period is still open.
    Estimated,
}

impl InvoiceStatus {
    /// `final` or `estimated`.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Final => "final",
            InvoiceStatus::Estimated => "estimated",
        }
    }
}

/// Σ BilledCost per FOCUS ChargeCategory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChargeCategoryCosts {
    /// Usage.
    #[serde(serialize_with = "amount")]
    pub usage: i128,
    /// Purchase (commitments' upfront fees).
    #[serde(serialize_with = "amount")]
    pub purchase: i128,
    /// Tax.
    #[serde(serialize_with = "amount")]
    pub tax: i128,
    /// Credit (credits and discounts).
    #[serde(serialize_with = "amount")]
    pub credit: i128,
    /// Adjustment (refunds and anything else).
    #[serde(serialize_with = "amount")]
    pub adjustment: i128,
}

/// Σ BilledCost of one invoice (or of the rows not invoiced yet) of one billing account and period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceLine {
    /// The billing period, `YYYY-MM` of BillingPeriodStart.
    pub period: String,
    /// BillingPeriodStart (RFC 3339).
    pub period_start: String,
    /// BillingPeriodEnd (RFC 3339); one month after the start where the rows lack it.
    pub period_end: String,
    /// ProviderName.
    pub provider: String,
    /// BillingAccountId.
    pub billing_account_id: String,
    /// BillingAccountName, if the rows have one.
    pub billing_account_name: Option<String>,
    /// BillingCurrency.
    pub currency: String,
    /// InvoiceId; `None` for rows the provider has not invoiced yet.
    pub invoice_id: Option<String>,
    /// Final or estimated.
    pub status: InvoiceStatus,
    /// Rows.
    pub rows: u64,
    /// Σ BilledCost, exact.
    #[serde(serialize_with = "amount")]
    pub billed_cost: i128,
    /// Σ BilledCost per ChargeCategory, exact.
    pub by_charge_category: ChargeCategoryCosts,
}

/// The invoice lines of the session's rows, by period, provider, billing account, currency and
/// invoice id (rows without one last).
pub async fn invoices(session: &LakeSession) -> Result<Vec<InvoiceLine>, QueryError> {
    let by_category =
        |c: &str| format!("sum(CASE WHEN ChargeCategory = '{c}' THEN BilledCost ELSE 0 END) AS \"{c}\"");
    let sql = format!(
        "SELECT BillingPeriodStart AS period_start, max(BillingPeriodEnd) AS period_end, \
           ProviderName AS provider, BillingAccountId AS account, max(BillingAccountName) AS account_name, \
           BillingCurrency AS currency, InvoiceId AS invoice, count(*) AS row_count, \
           sum(BilledCost) AS billed, {}, {}, {}, {}, {} \
         FROM {FOCUS_TABLE} \
         GROUP BY BillingPeriodStart, ProviderName, BillingAccountId, BillingCurrency, InvoiceId \
         ORDER BY BillingPeriodStart, ProviderName, BillingAccountId, BillingCurrency, InvoiceId NULLS LAST",
        by_category("Usage"),
        by_category("Purchase"),
        by_category("Tax"),
        by_category("Credit"),
        by_category("Adjustment"),
    );
    let result = session.sql(&sql).await?;
    let now = chrono::Utc::now().timestamp_micros();
    let mut lines = Vec::new();
    // Units (period start, provider, billing account) that are not final.
    let mut estimated = BTreeSet::new();
    for batch in &result.batches {
        let start = times_named(batch, "period_start")?;
        let end = times_named(batch, "period_end")?;
        let provider = strings_named(batch, "provider")?;
        let account = strings_named(batch, "account")?;
        let account_name = strings_named(batch, "account_name")?;
        let currency = strings_named(batch, "currency")?;
        let invoice = strings_named(batch, "invoice")?;
        let rows = counts_named(batch, "row_count")?;
        let sums: Vec<Vec<Option<i128>>> = ["billed", "Usage", "Purchase", "Tax", "Credit", "Adjustment"]
            .into_iter()
            .map(|c| amounts_named(batch, c))
            .collect::<Result<_, _>>()?;
        for i in 0..batch.num_rows() {
            let start = start[i].unwrap_or_default();
            let end = end[i].unwrap_or_else(|| next_month(start));
            let sum = |c: usize| sums[c][i].unwrap_or(0);
            let line = InvoiceLine {
                period: month_of(start),
                period_start: format_micros(start),
                period_end: format_micros(end),
                provider: provider[i].clone().unwrap_or_default(),
                billing_account_id: account[i].clone().unwrap_or_default(),
                billing_account_name: account_name[i].clone(),
                currency: currency[i].clone().unwrap_or_default(),
                invoice_id: invoice[i].clone(),
                status: InvoiceStatus::Final,
                rows: rows[i],
                billed_cost: sum(0),
                by_charge_category: ChargeCategoryCosts {
                    usage: sum(1),
                    purchase: sum(2),
                    tax: sum(3),
                    credit: sum(4),
                    adjustment: sum(5),
                },
            };
            if line.invoice_id.is_none() || end > now {
                estimated.insert(unit(&line));
            }
            lines.push(line);
        }
    }
    for line in &mut lines {
        if estimated.contains(&unit(line)) {
            line.status = InvoiceStatus::Estimated;
        }
    }
    Ok(lines)
}

/// The lake unit a line belongs to.
fn unit(line: &InvoiceLine) -> (String, String, String) {
    (line.period_start.clone(), line.provider.clone(), line.billing_account_id.clone())
}
