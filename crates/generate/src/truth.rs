//! truth.json: what the generator knows about the estate it wrote, for tests and benchmarks to
//! check costpilot against.
//!
//! Sums are exact: amounts are added as integers of 10⁻¹⁰ of the currency and written as decimal
//! strings. EffectiveCost and ListCost follow costpilot's documented CUR → FOCUS mapping
//! (docs/mapping.md), so SQL over an ingested estate must reproduce them to the cent.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::estate::Estate;
use crate::lines::{Line, LineKind, Product, SCALE};

/// Billed, effective and list cost of a set of lines, in amount units.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sums {
    /// Line items.
    pub rows: u64,
    /// Σ BilledCost.
    pub billed: i128,
    /// Σ EffectiveCost.
    pub effective: i128,
    /// Σ ListCost.
    pub list: i128,
}

impl Sums {
    fn merge(&mut self, other: &Sums) {
        self.rows += other.rows;
        self.billed += other.billed;
        self.effective += other.effective;
        self.list += other.list;
    }

    fn add(&mut self, line: &Line, row: bool) {
        self.rows += u64::from(row);
        self.billed += i128::from(line.unblended + line.discount);
        self.effective += i128::from(line.effective());
        self.list += i128::from(list_cost(line));
    }

    fn json(&self) -> Value {
        json!({
            "rows": self.rows,
            "billed_cost": decimal(self.billed),
            "effective_cost": decimal(self.effective),
            "list_cost": decimal(self.list),
        })
    }
}

/// ListCost as the mapping defines it.
pub fn list_cost(line: &Line) -> i64 {
    match line.kind {
        LineKind::Usage | LineKind::DiscountedUsage | LineKind::SavingsPlanCoveredUsage => line.public,
        LineKind::SavingsPlanNegation | LineKind::EdpDiscount => 0,
        _ => line.unblended,
    }
}

/// An exact decimal string of an amount in 10⁻¹⁰ units.
pub fn decimal(units: i128) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let a = units.unsigned_abs();
    let scale = SCALE as u128;
    format!("{sign}{}.{:010}", a / scale, a % scale)
}

/// A currency code as a key: copied, not allocated, on the hot path (three ASCII letters order
/// as their text does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Code([u8; 3]);

impl Code {
    fn of(code: &str) -> Self {
        let mut b = [b' '; 3];
        for (slot, c) in b.iter_mut().zip(code.bytes()) {
            *slot = c;
        }
        Self(b)
    }

    fn text(self) -> String {
        String::from_utf8_lossy(&self.0).trim_end().to_string()
    }
}

/// Running sums over every line written.
#[derive(Default)]
pub struct Truth {
    by_period: BTreeMap<(String, Code), Sums>,
    by_account: BTreeMap<usize, Sums>,
    by_service: BTreeMap<(&'static str, Code), Sums>,
    by_team: BTreeMap<(Option<usize>, Code), Sums>,
    by_kind: BTreeMap<(&'static str, Code), Sums>,
    by_day: BTreeMap<(i64, Code), Sums>,
    untagged: BTreeMap<Code, Sums>,
    unowned: BTreeMap<Code, Sums>,
    total: BTreeMap<Code, Sums>,
    resource_effective: BTreeMap<usize, i128>,
}

impl Truth {
    /// Adds lines of `period` (YYYY-MM).
    pub fn observe(&mut self, e: &Estate, products: &[Product], period: &str, lines: &[Line]) {
        let mut in_period: BTreeMap<Code, Sums> = BTreeMap::new();
        for line in lines {
            // FOCUS has no negation rows: its writers fold a negation into the covered row.
            let row = e.options.format == crate::Format::Cur2 || line.kind != LineKind::SavingsPlanNegation;
            let account = &e.accounts[line.account];
            let currency = Code::of(&e.payers[account.payer].currency);
            let res = line.resource.map(|r| &e.resources[r]);
            let owner = match res {
                Some(r) => r.owner,
                None => account.team,
            };
            in_period.entry(currency).or_default().add(line, row);
            self.by_account.entry(line.account).or_default().add(line, row);
            self.by_service
                .entry((products[line.product].product_code, currency))
                .or_default()
                .add(line, row);
            self.by_team.entry((owner, currency)).or_default().add(line, row);
            self.by_kind.entry((line.kind.name(), currency)).or_default().add(line, row);
            let day = line.start_ms.div_euclid(86_400_000);
            self.by_day.entry((day, currency)).or_default().add(line, row);
            self.total.entry(currency).or_default().add(line, row);
            if res.is_none_or(|r| r.tags.is_empty()) {
                self.untagged.entry(currency).or_default().add(line, row);
            }
            if owner.is_none() {
                self.unowned.entry(currency).or_default().add(line, row);
            }
            if let Some(r) = line.resource {
                *self.resource_effective.entry(r).or_default() += i128::from(line.effective());
            }
        }
        for (currency, sums) in in_period {
            self.by_period.entry((period.to_string(), currency)).or_default().merge(&sums);
        }
    }

    /// Σ over everything, per currency.
    pub fn totals(&self) -> BTreeMap<String, Sums> {
        self.total.iter().map(|(c, s)| (c.text(), *s)).collect()
    }

    /// The truth.json document.
    pub fn document(
        &self,
        e: &Estate,
        event_cost: &[i64],
        files: &[crate::WrittenFile],
        root: &std::path::Path,
    ) -> Value {
        let per_currency = |m: &BTreeMap<Code, Sums>| -> Vec<Value> {
            m.iter()
                .map(|(c, s)| {
                    let mut v = s.json();
                    v["currency"] = json!(c.text());
                    if let Some(t) = self.total.get(c) {
                        v["share_of_effective_cost"] = json!(share(s.effective, t.effective));
                    }
                    v
                })
                .collect()
        };
        let currency_of = |a: usize| e.payers[e.accounts[a].payer].currency.clone();
        json!({
            "generator": "costpilot-generate",
            "format_version": 1,
            "options": e.options,
            "rows": self.total.values().map(|s| s.rows).sum::<u64>(),
            "files": files.iter().map(|f| json!({
                "path": f.path.strip_prefix(root).unwrap_or(&f.path).to_string_lossy().replace('\\', "/"),
                "rows": f.rows,
                "billing_period": f.period,
            })).collect::<Vec<_>>(),
            "totals": per_currency(&self.total),
            "periods": self.by_period.iter().map(|((p, c), s)| {
                let mut v = s.json();
                v["billing_period"] = json!(p);
                v["currency"] = json!(c.text());
                v["invoiced"] = json!(crate::lines::periods(e).iter().any(|x| x.label() == *p && x.invoiced));
                v
            }).collect::<Vec<_>>(),
            "by_account": self.by_account.iter().map(|(a, s)| {
                let mut v = s.json();
                v["account_id"] = json!(e.accounts[*a].id);
                v["account_name"] = json!(e.accounts[*a].name);
                v["currency"] = json!(currency_of(*a));
                v
            }).collect::<Vec<_>>(),
            "by_service": self.by_service.iter().map(|((code, c), s)| {
                let mut v = s.json();
                v["product_code"] = json!(code);
                v["currency"] = json!(c.text());
                v
            }).collect::<Vec<_>>(),
            "by_team": self.by_team.iter().map(|((t, c), s)| {
                let mut v = s.json();
                v["team"] = json!(t.map(|t| e.teams[t].name));
                v["currency"] = json!(c.text());
                v
            }).collect::<Vec<_>>(),
            "by_line_item_type": self.by_kind.iter().map(|((k, c), s)| {
                let mut v = s.json();
                v["line_item_type"] = json!(k);
                v["currency"] = json!(c.text());
                v
            }).collect::<Vec<_>>(),
            "by_day": self.by_day.iter().map(|((d, c), s)| {
                let mut v = s.json();
                let day = chrono::DateTime::from_timestamp_millis(d * 86_400_000).expect("in range");
                v["day"] = json!(day.format("%Y-%m-%d").to_string());
                v["currency"] = json!(c.text());
                v
            }).collect::<Vec<_>>(),
            "untagged": per_currency(&self.untagged),
            "unowned": per_currency(&self.unowned),
            "organisation": {
                "business_units": e.business_units,
                "teams": e.teams,
                "applications": e.applications,
                "payers": e.payers,
                "accounts": e.accounts.iter().map(|a| json!({
                    "id": a.id,
                    "name": a.name,
                    "payer_id": e.payers[a.payer].id,
                    "currency": e.payers[a.payer].currency,
                    "team": a.team.map(|t| e.teams[t].name),
                    "business_unit": e.business_units[a.business_unit].name,
                    "environment": a.environment,
                    "region": crate::catalog::REGIONS[a.region].code,
                    "management": a.management,
                    "team_tag_key": a.team_key,
                    "cost_category": a.cost_category,
                    "monthly_growth": a.growth,
                })).collect::<Vec<_>>(),
            },
            "commitments": e.commitments.iter().map(|c| json!({
                "arn": c.arn,
                "payer_id": e.payers[c.payer].id,
                "kind": c.kind,
                "start": hour_text(e, c.start_hour),
                "end": hour_text(e, c.start_hour + c.term_hours),
                "upfront_share": c.upfront_share,
                "hourly_commitment": c.hourly(),
            })).collect::<Vec<_>>(),
            "releases": e.releases.iter().map(|r| json!({
                "application": e.applications[r.application].name,
                "time": hour_text(e, i64::from(r.hour)),
                "factor": r.factor,
            })).collect::<Vec<_>>(),
            "events": e.events.iter().enumerate().map(|(i, ev)| {
                let r = &e.resources[ev.resource];
                json!({
                    "kind": ev.kind,
                    "account_id": e.accounts[r.account].id,
                    "resource_id": r.id,
                    "resource_kind": r.kind,
                    "instance_type": r.instance_type.map(|t| t.name),
                    "start": hour_text(e, i64::from(ev.start_hour)),
                    "end": hour_text(e, i64::from(ev.end_hour)),
                    "lasts_to_end": ev.end_hour == e.hours,
                    "multiplier": ev.multiplier,
                    "currency": currency_of(r.account),
                    "extra_billed_cost": decimal(i128::from(event_cost[i])),
                })
            }).collect::<Vec<_>>(),
            "findings": e.resources.iter().enumerate().filter_map(|(i, r)| {
                let f = r.finding.as_ref()?;
                let mut v = serde_json::to_value(f).expect("serialisable");
                v["resource_id"] = json!(r.id);
                v["resource_kind"] = json!(r.kind);
                v["account_id"] = json!(e.accounts[r.account].id);
                v["currency"] = json!(currency_of(r.account));
                v["instance_type"] = json!(r.instance_type.map(|t| t.name));
                v["effective_cost"] = json!(decimal(self.resource_effective.get(&i).copied().unwrap_or(0)));
                Some(v)
            }).collect::<Vec<_>>(),
        })
    }
}

fn share(part: i128, total: i128) -> f64 {
    if total == 0 { 0.0 } else { part as f64 / total as f64 }
}

fn hour_text(e: &Estate, h: i64) -> String {
    chrono::DateTime::from_timestamp_millis(e.start_ms + h * crate::estate::HOUR_MS)
        .expect("in range")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(decimal(0), "0.0000000000");
        assert_eq!(decimal(12_345_678_901), "1.2345678901");
        assert_eq!(decimal(-5), "-0.0000000005");
    }
}
