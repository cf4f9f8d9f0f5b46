//! A monthly budget per business unit, as finance sets them, in `budgets.yaml`.
//!
//! Schema (costpilot budgets, version 1; the file's header repeats it):
//!
//! ```yaml
//! version: 1
//! currency: USD                 # AWS Budgets are kept in USD, whatever a payer is invoiced in
//! budgets:
//!   - name: "Retail monthly"
//!     business_unit: "Retail"   # as truth.json and the CMDB name it
//!     cost_centre: "CC-1000"
//!     period: monthly           # one amount per calendar month
//!     alert_thresholds_percent: [50, 80, 100]   # of the month's amount, on actual spend
//!     forecast_alert_percent: 100                # on the month's forecast spend
//!     notify: ["finops@example.com"]
//!     months:
//!       - month: "2025-01"
//!         amount: 12300.00
//! ```
//!
//! A business unit's spend is that of the resources its teams own (the account's business unit
//! where nobody owns a resource). Amounts come from a rough expected list-price spend per month
//! ([`expected_monthly`]: every resource's on-demand meters at catalogue rates for the hours it
//! lives in the month, without discounts, growth or anomalies), times a margin of 15–40 %, rounded
//! up as people round budgets. One business unit, drawn from the seed, gets [`OVERRUN_FACTOR`] of
//! its expected spend instead: its budget is set to be overrun. [`plan`] tells which.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{create, finish, noise};
use crate::catalog::{self, REGIONS};
use crate::error::GenerateError;
use crate::estate::{Estate, Finding, Resource, ResourceKind};
use crate::lines::periods;
use crate::rng::mix;

/// The file, inside the output folder.
pub const PATH: &str = "budgets.yaml";
/// Alerts at these percentages of a month's amount, on actual spend.
pub const ALERT_THRESHOLDS: [u32; 3] = [50, 80, 100];
/// The overrun business unit's amount as a share of its expected list-price spend: low enough to
/// be overrun after Savings Plans, reservations and the enterprise discount take their share.
pub const OVERRUN_FACTOR: f64 = 0.7;

/// One business unit's budget.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Index into [`Estate::business_units`].
    pub business_unit: usize,
    /// Per calendar month in the range: (`YYYY-MM`, expected list spend, budget amount), USD.
    pub months: Vec<(String, f64, f64)>,
    /// Whether the amount was set below the expected spend, to be overrun.
    pub overrun: bool,
}

/// Average of the bill's daily and weekly usage shapes, for meters that follow them.
const SEASON: f64 = 0.92;

/// Expected on-demand cost of `res` per hour it runs, USD at list prices in its region, in two
/// parts: (fixed, seasonal). The fixed part (instance hours, storage) is the same every hour; the
/// seasonal part (requests, transfer, tokens, logs) is given at the start's level and moves with
/// the account's growth and the application's releases, as the bill's usage does.
pub fn hourly_list_cost_parts(res: &Resource) -> (f64, f64) {
    let uplift = REGIONS[res.region].uplift;
    let s = res.scale;
    let per_month = |gb: f64, rate: f64| gb * rate / 730.0;
    let seasonal = |m: &catalog::Meter| m.base * s * SEASON * m.rate;
    let rate = res.instance_type.map_or(0.0, |t| t.rate);
    let (fixed, moving) = match res.kind {
        ResourceKind::Instance => {
            (rate, if res.internet_facing { seasonal(&catalog::DATA_TRANSFER_OUT) } else { 0.0 })
        }
        ResourceKind::Volume => (per_month(res.size_gb, catalog::EBS_GP3.rate), 0.0),
        ResourceKind::Snapshot => (per_month(res.size_gb, catalog::EBS_SNAPSHOT.rate), 0.0),
        ResourceKind::Bucket => (
            per_month(res.size_gb, catalog::S3_STORAGE.rate),
            seasonal(&catalog::S3_TIER1) + seasonal(&catalog::S3_TIER2),
        ),
        ResourceKind::NatGateway => {
            let idle = if res.finding == Some(Finding::IdleNatGateway) { 0.002 } else { 1.0 };
            (catalog::NAT_HOURS.rate, seasonal(&catalog::NAT_BYTES) * idle)
        }
        ResourceKind::Database => (rate + per_month(res.size_gb, catalog::RDS_STORAGE.rate), 0.0),
        ResourceKind::Function => {
            (0.0, seasonal(&catalog::LAMBDA_COMPUTE) + seasonal(&catalog::LAMBDA_REQUESTS))
        }
        ResourceKind::Endpoint => (rate, 0.0),
        ResourceKind::ModelProfile => (
            0.0,
            res.model.map_or(0.0, |m| {
                let tokens = m.input_tokens * s * SEASON;
                tokens * m.input_rate + tokens * 0.25 * m.output_rate
            }),
        ),
        ResourceKind::AccountServices => {
            (0.0, seasonal(&catalog::CLOUDWATCH_METRICS) + seasonal(&catalog::CLOUDWATCH_LOGS))
        }
    };
    (fixed * uplift, moving * uplift)
}

/// Expected on-demand cost of `res` per hour it runs at the start's level, USD.
pub fn hourly_list_cost(res: &Resource) -> f64 {
    let (fixed, seasonal) = hourly_list_cost_parts(res);
    fixed + seasonal
}

/// Per account (outer) and billing period (inner): the mean of the account's usage growth over
/// the period's covered days, growth compounding daily from 1 at the start, as on the bill.
fn growth_by_period(e: &Estate, periods: &[crate::lines::Period]) -> Vec<Vec<f64>> {
    e.accounts
        .iter()
        .map(|a| {
            let daily = 1.0 + a.growth / 30.0;
            let mut level = 1.0;
            let mut out = Vec::with_capacity(periods.len());
            for p in periods {
                let (first, end) = (p.first_hour / 24, p.end_hour.div_ceil(24));
                let mut sum = 0.0;
                for _ in first..end {
                    sum += level;
                    level *= daily;
                }
                out.push(if end > first { sum / f64::from(end - first) } else { level });
            }
            out
        })
        .collect()
}

/// Per application (outer) and billing period (inner): the mean over the period's hours of the
/// product of the application's release factors so far.
fn releases_by_period(e: &Estate, periods: &[crate::lines::Period]) -> Vec<Vec<f64>> {
    (0..e.applications.len())
        .map(|a| {
            let steps: Vec<(u32, f64)> =
                e.releases.iter().filter(|r| r.application == a).map(|r| (r.hour, r.factor)).collect();
            let mut level = 1.0;
            let mut next = 0;
            periods
                .iter()
                .map(|p| {
                    let mut sum = 0.0;
                    let mut last = p.first_hour;
                    while let Some(&(h, f)) = steps.get(next) {
                        if h >= p.end_hour {
                            break;
                        }
                        let h = h.max(p.first_hour);
                        sum += level * f64::from(h - last);
                        level *= f;
                        last = h;
                        next += 1;
                    }
                    sum += level * f64::from(p.end_hour - last);
                    let hours = p.end_hour - p.first_hour;
                    if hours > 0 { sum / f64::from(hours) } else { level }
                })
                .collect()
        })
        .collect()
}

/// The business unit a resource's spend counts against: its owner's, else its account's.
pub fn business_unit_of(e: &Estate, res: &Resource) -> usize {
    match res.owner {
        Some(t) => e.teams[t].business_unit,
        None => e.accounts[res.account].business_unit,
    }
}

/// Expected list-price spend per business unit (outer) and billing period (inner), USD, each
/// scaled from the hours the range covers to the whole calendar month.
pub fn expected_monthly(e: &Estate) -> Vec<Vec<f64>> {
    let periods = periods(e);
    let growth = growth_by_period(e, &periods);
    let releases = releases_by_period(e, &periods);
    let mut out = vec![vec![0.0; periods.len()]; e.business_units.len()];
    for res in &e.resources {
        let (fixed, seasonal) = hourly_list_cost_parts(res);
        // Office-hours instances run 12 hours on 5 days of 7.
        let duty = if res.office_hours { 60.0 / 168.0 } else { 1.0 };
        let bu = business_unit_of(e, res);
        for (p, period) in periods.iter().enumerate() {
            let covered = period.end_hour - period.first_hour;
            let lived =
                period.end_hour.min(res.end_hour).saturating_sub(period.first_hour.max(res.start_hour));
            if covered > 0 && lived > 0 {
                let share = f64::from(lived) / f64::from(covered);
                let hourly = fixed + seasonal * growth[res.account][p] * releases[res.application][p];
                out[bu][p] += hourly * duty * share * f64::from(period.month_hours());
            }
        }
    }
    out
}

/// Rounds an amount as a person would: to tens below 1 000, to hundreds above; `up` or down.
fn round_amount(x: f64, up: bool) -> f64 {
    let step = if x >= 1000.0 { 100.0 } else { 10.0 };
    let n = x / step;
    // Up never gives nothing; down may, since an overrun budget must stay below its spend.
    if up { (n.ceil() * step).max(step) } else { n.floor() * step }
}

/// Every business unit with spend, its expected spend and its budget per month.
pub fn plan(e: &Estate) -> Vec<Budget> {
    let expected = expected_monthly(e);
    let labels: Vec<String> = periods(e).iter().map(|p| p.label()).collect();
    let with_spend: Vec<usize> =
        (0..e.business_units.len()).filter(|b| expected[*b].iter().any(|x| *x > 0.0)).collect();
    let overrun = (!with_spend.is_empty())
        .then(|| with_spend[(mix(e.options.seed, 0x00B0_D6E7) % with_spend.len() as u64) as usize]);
    with_spend
        .into_iter()
        .map(|b| {
            let over = Some(b) == overrun;
            let margin = 1.15 + 0.25 * noise(e, b as u64, 0xB0D6, 0);
            let months = labels
                .iter()
                .zip(&expected[b])
                .map(|(label, x)| {
                    let amount = if over {
                        round_amount(x * OVERRUN_FACTOR, false)
                    } else {
                        round_amount(x * margin, true)
                    };
                    (label.clone(), *x, amount)
                })
                .collect();
            Budget { business_unit: b, months, overrun: over }
        })
        .collect()
}

/// A YAML double-quoted string.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Writes `budgets.yaml` into `dir`; returns its path.
pub fn write(e: &Estate, dir: &Path) -> Result<PathBuf, GenerateError> {
    let (path, mut w) = create(dir, PATH)?;
    let io = |err| GenerateError::io(dir.join(PATH), err);
    let thresholds: Vec<String> = ALERT_THRESHOLDS.iter().map(u32::to_string).collect();
    writeln!(
        w,
        "# Monthly budgets per business unit (costpilot budgets, version 1).\n\
         # Each budget: name, business_unit, cost_centre, period (monthly), alert_thresholds_percent\n\
         # (of the month's amount, on actual spend), forecast_alert_percent (on forecast spend),\n\
         # notify, and months: one amount per calendar month (YYYY-MM), in `currency`.\n\
         version: 1\n\
         currency: USD\n\
         budgets:"
    )
    .map_err(io)?;
    for b in plan(e) {
        let unit = &e.business_units[b.business_unit];
        writeln!(
            w,
            "  - name: {}\n    business_unit: {}\n    cost_centre: {}\n    period: monthly\n    \
             alert_thresholds_percent: [{}]\n    forecast_alert_percent: 100\n    notify: [{}]\n    months:",
            quoted(&format!("{} monthly", unit.name)),
            quoted(unit.name),
            quoted(&unit.cost_centre),
            thresholds.join(", "),
            quoted("finops@example.com"),
        )
        .map_err(io)?;
        for (label, _, amount) in &b.months {
            writeln!(w, "      - month: {}\n        amount: {amount:.2}", quoted(label)).map_err(io)?;
        }
    }
    finish(&path, w)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_round_like_people_round_them() {
        assert_eq!(round_amount(12_345.6, true), 12_400.0);
        assert_eq!(round_amount(12_345.6, false), 12_300.0);
        assert_eq!(round_amount(123.4, true), 130.0);
        assert_eq!(round_amount(0.4, true), 10.0);
    }

    #[test]
    fn exactly_one_business_unit_is_set_to_be_overrun() {
        let e = crate::estate::build(&crate::Options { accounts: 12, days: 40, ..Default::default() });
        let plan = plan(&e);
        assert!(plan.len() >= 2, "{} budgets", plan.len());
        assert_eq!(plan.iter().filter(|b| b.overrun).count(), 1);
        for b in &plan {
            for (label, expected, amount) in &b.months {
                if b.overrun {
                    assert!(amount <= &(expected * OVERRUN_FACTOR), "{label}: {amount} vs {expected}");
                } else {
                    assert!(amount >= &(expected * 1.15), "{label}: {amount} vs {expected}");
                }
            }
        }
    }
}
