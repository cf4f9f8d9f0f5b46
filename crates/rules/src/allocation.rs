//! Shared-cost allocation: rules that split shared charges (the support fee, NAT gateways, a
//! platform account, the untagged remainder) across the values of one allocation dimension
//! (business units by default): evenly, by fixed percentages, or in proportion to each value's
//! direct spend, per billing period and per currency.
//!
//! [`allocate`] is a pure computation over [`CostRow`]s, the metric already summed per period,
//! currency, account, service, charge category, resource and dimension value. Amounts of different
//! currencies are never added: every (period, currency) is allocated on its own.
//!
//! ## The rules file: `<data-dir>/rules/allocation.yaml`
//!
//! ```yaml
//! version: 1                     # required; must be 1
//! dimension: business_unit       # optional, the default: the dimension the pools are split across
//! metric: EffectiveCost          # optional: EffectiveCost (default) or BilledCost
//! pools:                         # in order: a row belongs to the FIRST pool whose select matches it
//!   - name: support              # required, unique
//!     select:                    # every condition given must hold; a list matches any of its items
//!       services: ["AWS Support (Business)"]
//!     method: proportional       # even | fixed | proportional
//!   - name: nat
//!     select:
//!       resource_prefixes: ["nat-"]
//!     method: even
//!     targets: [Retail, Payments, Search]
//!   - name: platform
//!     select:
//!       account_names: ["shared-*", "*-platform"]
//!       charge_categories: [Usage]
//!     method: fixed
//!     percentages: {Retail: 60, Payments: 37.5, Search: 2.5}
//!   - name: untagged
//!     select:
//!       unallocated: true
//!     method: proportional
//! ```
//!
//! Conditions of `select` (at least one; an empty list is refused, it would match nothing):
//!
//! | key                 | the row matches when                                                  |
//! |---------------------|-----------------------------------------------------------------------|
//! | `services`          | its ServiceName is one of these, exactly                              |
//! | `charge_categories` | its ChargeCategory is one of these, exactly                           |
//! | `accounts`          | its SubAccountId is one of these, exactly                             |
//! | `account_names`     | its SubAccountName matches one of these globs (`*` is any text; every |
//! |                     | other character, `?` and `[` included, stands for itself)             |
//! | `resource_prefixes` | its ResourceId starts with one of these                               |
//! | `unallocated`       | `true`: it has no value for `dimension`; `false`: it has one          |
//!
//! Methods:
//!
//! - `even`: every target gets the same share.
//! - `fixed`: each target gets its share of `percentages` (required for `fixed` and refused for
//!   the other methods). Percentages are exact decimals (up to 15 places), none negative, summing
//!   to exactly 100; their keys are the targets (and must be the same set as `targets` when both
//!   are given).
//! - `proportional`: each target is weighed by its direct spend in the same period and currency;
//!   targets whose direct spend is zero or negative get nothing. When no target has positive
//!   direct spend the pool is split evenly, and the split says so in its note.
//!
//! `targets` are the values that share the pool. By default (and for `fixed`, the keys of
//! `percentages`) they are every value with direct spend (nonzero in cents) in that period and
//! currency; when there is none the pool is left unallocated, with a note. A target named in the
//! file needs no spend of its own.
//!
//! Direct spend is the rows in no pool that have a value for the dimension; the rows in no pool
//! without one are unallocated. Errors name the file, line and column; unknown keys are refused.
//! An error found after parsing (a duplicate name, percentages that do not sum to 100) points at
//! the first occurrence of the key concerned at or after the pool's `name:` line.
//!
//! ## Rounding
//!
//! Every sum is converted to cents once, rounded half away from zero: each pool's amount, each
//! value's direct spend, the unallocated rows and the period's total. A pool's cents are split by
//! the largest-remainder method on its magnitude: each share's exact ideal (amount × weight ÷ Σ
//! weights, in integers) is rounded down, then the cents left over go one each to the largest
//! remainders, ties to the value first by name. The shares of a pool therefore sum to its amount
//! to the cent, and a credit (a negative pool) splits as the exact negative of the same charge.
//!
//! Because the amounts are rounded separately, they may differ from the rounded total by a few
//! cents; [`PeriodAllocation::rounding_cents`] holds that difference, so that
//! `total_cents = Σ totals + unallocated_cents + rounding_cents` holds exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::error::locate;
use crate::error::{RulesError, parse_yaml};
use costpilot_model::MONEY_SCALE;
use costpilot_model::money::{MoneyError, format_units, from_f64, parse_decimal};
pub use costpilot_model::vocabulary::Metric;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// The allocation rules file in `<data-dir>/rules/`.
pub const ALLOCATION_FILE: &str = "allocation.yaml";

const DEFAULT_DIMENSION: &str = "business_unit";
/// Units of 10^-15 in a cent.
const UNITS_PER_CENT: i128 = 10i128.pow(MONEY_SCALE as u32 - 2);
/// 1 % in the units of [`Percent`].
const PERCENT_UNIT: i128 = 10i128.pow(MONEY_SCALE as u32);
/// 100 % in the units of [`Percent`].
const HUNDRED_PERCENT: i128 = 100 * PERCENT_UNIT;

/// The allocation rules: which shared charges are split, how, and across which dimension.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationRules {
    /// The schema version; must be 1.
    pub version: u32,
    /// The dimension whose values share the pools.
    #[serde(default = "default_dimension")]
    pub dimension: String,
    /// The cost column the rows sum.
    #[serde(default)]
    pub metric: Metric,
    /// The pools, in order of precedence.
    #[serde(default)]
    pub pools: Vec<Pool>,
}

fn default_dimension() -> String {
    DEFAULT_DIMENSION.to_string()
}

/// The metrics allocation splits (the cost column the caller sums into [`CostRow::cost`]): the
/// amortised EffectiveCost (the default) or the invoiced BilledCost.
pub const ALLOCATED_METRICS: [Metric; 2] = [Metric::EffectiveCost, Metric::BilledCost];

/// A pool of shared cost: the rows it takes and how it is split.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    /// The pool's unique name.
    pub name: String,
    /// The rows the pool takes.
    pub select: Select,
    /// How the pool is split.
    pub method: Method,
    /// The values that share the pool; `None` for every value with direct spend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
    /// Each target's share, for [`Method::Fixed`] only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentages: Option<BTreeMap<String, Percent>>,
}

/// The conditions a row must all meet to belong to a pool; a list matches any of its items.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Select {
    /// ServiceName, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<String>>,
    /// ChargeCategory, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub charge_categories: Option<Vec<String>>,
    /// SubAccountId, exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<Vec<String>>,
    /// SubAccountName, as globs where `*` is any text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_names: Option<Vec<String>>,
    /// Prefixes of ResourceId.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_prefixes: Option<Vec<String>>,
    /// Whether the row has no value for the dimension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unallocated: Option<bool>,
}

/// How a pool is split across its targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// The same share for every target.
    Even,
    /// Fixed percentages.
    Fixed,
    /// In proportion to each target's direct spend.
    Proportional,
}

/// An exact percentage, held in units of 10^-15 percent (read from a YAML number or decimal text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Percent(i128);

impl FromStr for Percent {
    type Err = MoneyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_decimal(text).map(Percent)
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = format_units(self.0, MONEY_SCALE as u32);
        f.write_str(text.trim_end_matches('0').trim_end_matches('.'))
    }
}

impl Serialize for Percent {
    // The nearest double of a decimal with at most 15 significant digits prints back as that
    // decimal, so a file written from the rules reads back the same.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.to_string().parse().expect("decimal text is a number"))
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Percent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a percentage")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Percent, E> {
                Ok(Percent(i128::from(v) * PERCENT_UNIT))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Percent, E> {
                Ok(Percent(i128::from(v) * PERCENT_UNIT))
            }
            // YAML gives decimals as doubles; their shortest text is the decimal written.
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Percent, E> {
                from_f64(v).map(Percent).ok_or_else(|| E::custom(format!("{v} is not a percentage")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Percent, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl AllocationRules {
    /// Parses and validates the rules; errors name the line and column.
    pub fn parse(text: &str, path: &Path) -> Result<AllocationRules, RulesError> {
        let rules: AllocationRules = parse_yaml(text, path)?;
        rules.validate(text, path)?;
        Ok(rules)
    }

    /// Reads and parses a rules file.
    pub fn read(path: &Path) -> Result<AllocationRules, RulesError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| RulesError::file(path, format!("cannot read: {e}")))?;
        Self::parse(&text, path)
    }

    /// The checks YAML types cannot express, located by scanning the text.
    fn validate(&self, text: &str, path: &Path) -> Result<(), RulesError> {
        let at = |needle: &str, from_line: u64, message: String| {
            let (line, column) = locate(text, needle, from_line);
            RulesError::at(path, line, column, message)
        };
        if self.version != 1 {
            return Err(at("version:", 1, format!("version must be 1, not {}", self.version)));
        }
        if !ALLOCATED_METRICS.contains(&self.metric) {
            return Err(at(
                "metric:",
                1,
                format!("metric must be EffectiveCost or BilledCost, not {}", self.metric),
            ));
        }
        let mut names = BTreeSet::new();
        let mut from_line = 1;
        for pool in &self.pools {
            let line = name_line(text, &pool.name, from_line);
            from_line = line + 1;
            let name = &pool.name;
            if !names.insert(name) {
                return Err(at("name:", line, format!("pool '{name}' is defined twice")));
            }
            let s = &pool.select;
            let lists = [
                ("services", &s.services),
                ("charge_categories", &s.charge_categories),
                ("accounts", &s.accounts),
                ("account_names", &s.account_names),
                ("resource_prefixes", &s.resource_prefixes),
            ];
            if s.unallocated.is_none() && lists.iter().all(|(_, list)| list.is_none()) {
                let message = format!("pool '{name}' selects nothing: give at least one condition in select");
                return Err(at("select:", line, message));
            }
            if let Some((key, _)) = lists.iter().find(|(_, list)| list.as_ref().is_some_and(Vec::is_empty)) {
                let message = format!("pool '{name}': select.{key} is empty and would match nothing");
                return Err(at(&format!("{key}:"), line, message));
            }
            if pool.targets.as_ref().is_some_and(Vec::is_empty) {
                let message = format!(
                    "pool '{name}': targets is empty: leave it out to share among every value with \
                     direct spend"
                );
                return Err(at("targets:", line, message));
            }
            let percentages = match (pool.method, &pool.percentages) {
                (Method::Fixed, Some(p)) => p,
                (Method::Fixed, None) => {
                    let message = format!("pool '{name}': method fixed needs percentages");
                    return Err(at("method:", line, message));
                }
                (method, Some(_)) => {
                    let method = format!("{method:?}").to_lowercase();
                    let message =
                        format!("pool '{name}': percentages are only for method fixed, not {method}");
                    return Err(at("percentages:", line, message));
                }
                (_, None) => continue,
            };
            let percentages_line = locate(text, "percentages:", line).0;
            if let Some((key, p)) = percentages.iter().find(|(_, p)| p.0 < 0) {
                let message = format!("pool '{name}': the percentage of {key} is negative ({p})");
                return Err(at(key, percentages_line, message));
            }
            if let Some(targets) = &pool.targets {
                let keys: BTreeSet<&String> = percentages.keys().collect();
                let targets: BTreeSet<&String> = targets.iter().collect();
                if keys != targets {
                    let list =
                        |set: BTreeSet<&String>| set.into_iter().cloned().collect::<Vec<_>>().join(", ");
                    let message = format!(
                        "pool '{name}': percentages name {} but targets are {}",
                        list(keys),
                        list(targets)
                    );
                    return Err(at("percentages:", line, message));
                }
            }
            let sum = Percent(percentages.values().map(|p| p.0).sum());
            if sum.0 != HUNDRED_PERCENT {
                let message = format!("pool '{name}': percentages sum to {sum}, not 100");
                return Err(at("percentages:", line, message));
            }
        }
        Ok(())
    }
}

/// The line of `name:` giving the pool `name` at or after `from_line`; `from_line` when not found,
/// so the next search starts there.
fn name_line(text: &str, name: &str, from_line: u64) -> u64 {
    text.lines()
        .zip(1..)
        .skip(from_line as usize - 1)
        .find(|(line, _)| line.find("name:").is_some_and(|i| line[i..].contains(name)))
        .map_or(from_line, |(_, n)| n)
}

impl Select {
    /// Whether `row` meets every condition given.
    fn matches(&self, row: &CostRow) -> bool {
        fn any(list: &Option<Vec<String>>, test: impl Fn(&str) -> bool) -> bool {
            list.as_ref().is_none_or(|items| items.iter().any(|item| test(item)))
        }
        any(&self.services, |s| s == row.service)
            && any(&self.charge_categories, |c| c == row.charge_category)
            && any(&self.accounts, |a| a == row.account_id)
            && any(&self.account_names, |g| glob(g, &row.account_name))
            && any(&self.resource_prefixes, |p| row.resource_id.starts_with(p))
            && self.unallocated.is_none_or(|u| u == row.value.is_none())
    }
}

/// Whether `text` matches `pattern`, where `*` is any text and every other character is literal.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts: Vec<&str> = pattern.split('*').collect();
    let first = parts.remove(0);
    let Some(mut rest) = text.strip_prefix(first) else { return false };
    let Some(last) = parts.pop() else { return rest.is_empty() };
    // Matching each middle part at its first occurrence leaves the most text for the others.
    for part in parts {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

/// One aggregated cost row: Σ of the metric over lake rows sharing these fields.
#[derive(Debug, Clone)]
pub struct CostRow {
    /// The billing period, `YYYY-MM`.
    pub period: String,
    /// The billing currency.
    pub currency: String,
    /// SubAccountId.
    pub account_id: String,
    /// SubAccountName.
    pub account_name: String,
    /// ServiceName.
    pub service: String,
    /// ChargeCategory.
    pub charge_category: String,
    /// ResourceId, `""` when none.
    pub resource_id: String,
    /// The dimension's value after tag rules; `None` when the row has none.
    pub value: Option<String>,
    /// Σ of the metric in units of 10^-15 ([`MONEY_SCALE`]).
    pub cost: i128,
}

/// The result of [`allocate`]: one allocation per period and currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allocation {
    /// The dimension the pools were split across.
    pub dimension: String,
    /// The cost column allocated.
    pub metric: Metric,
    /// Sorted by (period, currency).
    pub periods: Vec<PeriodAllocation>,
}

/// The allocation of one billing period in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodAllocation {
    /// The billing period, `YYYY-MM`.
    pub period: String,
    /// The currency of every amount.
    pub currency: String,
    /// Σ of every row, rounded once.
    pub total_cents: i64,
    /// Per value, the spend of rows in no pool, sorted by value.
    pub direct: Vec<Share>,
    /// Rows in no pool and without a value, plus the pools that had no target.
    pub unallocated_cents: i64,
    /// The pools that took rows, in the order of the rules.
    pub pools: Vec<PoolSplit>,
    /// Per value, direct spend plus every pool share, sorted by value.
    pub totals: Vec<Share>,
    /// `total_cents` − Σ `totals` − `unallocated_cents`: the cents lost to rounding sums separately.
    pub rounding_cents: i64,
}

/// How one pool was split in one period and currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolSplit {
    /// The pool's name.
    pub name: String,
    /// How it was split.
    pub method: Method,
    /// Σ of its rows, rounded once; Σ `shares` equals it unless it was left unallocated.
    pub amount_cents: i64,
    /// The number of cost rows it took.
    pub rows: usize,
    /// Per target, sorted by value; empty when the pool was left unallocated.
    pub shares: Vec<Share>,
    /// Why the split is not what the method says, when it is not.
    pub note: Option<String>,
}

/// A value's amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Share {
    /// The dimension's value.
    pub value: String,
    /// The amount in cents.
    pub cents: i64,
}

/// Splits the shared pools of `rows` by `rules`, per period and currency.
///
/// Expects rules as [`AllocationRules::parse`] accepts them.
pub fn allocate(rules: &AllocationRules, rows: &[CostRow]) -> Allocation {
    let mut groups: BTreeMap<(&str, &str), Vec<&CostRow>> = BTreeMap::new();
    for row in rows {
        groups.entry((row.period.as_str(), row.currency.as_str())).or_default().push(row);
    }
    let periods = groups
        .into_iter()
        .map(|((period, currency), rows)| allocate_period(rules, period, currency, &rows))
        .collect();
    Allocation { dimension: rules.dimension.clone(), metric: rules.metric, periods }
}

fn allocate_period(
    rules: &AllocationRules,
    period: &str,
    currency: &str,
    rows: &[&CostRow],
) -> PeriodAllocation {
    let mut total = 0i128;
    let mut direct: BTreeMap<&str, i128> = BTreeMap::new();
    let mut unassigned = 0i128;
    let mut pooled = vec![(0i128, 0usize); rules.pools.len()];
    for row in rows {
        total += row.cost;
        match (rules.pools.iter().position(|p| p.select.matches(row)), &row.value) {
            (Some(i), _) => {
                pooled[i].0 += row.cost;
                pooled[i].1 += 1;
            }
            (None, Some(value)) => *direct.entry(value.as_str()).or_default() += row.cost,
            (None, None) => unassigned += row.cost,
        }
    }
    let direct: BTreeMap<&str, i64> =
        direct.into_iter().map(|(value, units)| (value, cents(units))).collect();
    let mut totals: BTreeMap<String, i64> = direct.iter().map(|(&v, &c)| (v.to_string(), c)).collect();
    let total_cents = cents(total);
    let mut unallocated_cents = cents(unassigned);
    let mut pools = Vec::new();
    for (pool, (units, rows)) in rules.pools.iter().zip(pooled).filter(|(_, (_, rows))| *rows > 0) {
        let split = split_pool(pool, cents(units), rows, &direct);
        if split.shares.is_empty() {
            unallocated_cents += split.amount_cents;
        }
        for share in &split.shares {
            *totals.entry(share.value.clone()).or_default() += share.cents;
        }
        pools.push(split);
    }
    let allocated: i64 = totals.values().sum();
    PeriodAllocation {
        period: period.to_string(),
        currency: currency.to_string(),
        total_cents,
        direct: direct.into_iter().map(|(value, cents)| Share { value: value.to_string(), cents }).collect(),
        unallocated_cents,
        pools,
        totals: totals.into_iter().map(|(value, cents)| Share { value, cents }).collect(),
        rounding_cents: total_cents - allocated - unallocated_cents,
    }
}

/// Splits one pool's cents across its targets, weighed by its method.
fn split_pool(pool: &Pool, amount_cents: i64, rows: usize, direct: &BTreeMap<&str, i64>) -> PoolSplit {
    let targets: BTreeSet<&str> = match (&pool.targets, &pool.percentages) {
        (Some(targets), _) => targets.iter().map(String::as_str).collect(),
        (None, Some(percentages)) => percentages.keys().map(String::as_str).collect(),
        (None, None) => direct.iter().filter(|&(_, &c)| c != 0).map(|(&v, _)| v).collect(),
    };
    let mut split = PoolSplit {
        name: pool.name.clone(),
        method: pool.method,
        amount_cents,
        rows,
        shares: Vec::new(),
        note: None,
    };
    if targets.is_empty() {
        split.note = Some("no targets: left unallocated".to_string());
        return split;
    }
    let mut weights: Vec<(&str, i128)> = targets
        .iter()
        .map(|&t| {
            let weight = match pool.method {
                Method::Even => 1,
                Method::Fixed => pool.percentages.as_ref().and_then(|p| p.get(t)).map_or(0, |p| p.0),
                Method::Proportional => direct.get(t).map_or(0, |&c| i128::from(c.max(0))),
            };
            (t, weight)
        })
        .collect();
    if weights.iter().map(|(_, w)| w).sum::<i128>() <= 0 {
        split.note = Some(match pool.method {
            Method::Proportional => "no direct spend to weigh by: split evenly".to_string(),
            _ => "no percentages to weigh by: split evenly".to_string(),
        });
        weights.iter_mut().for_each(|(_, w)| *w = 1);
    }
    split.shares = largest_remainder(amount_cents, &weights);
    split
}

/// Splits `amount` cents by non-negative `weights` (sorted by value, Σ > 0) so the shares sum to
/// it exactly. Works on the magnitude so a negative amount splits as the negative of a positive.
fn largest_remainder(amount: i64, weights: &[(&str, i128)]) -> Vec<Share> {
    let magnitude = i128::from(amount).abs();
    let sum: i128 = weights.iter().map(|(_, w)| w).sum();
    let mut parts: Vec<(usize, i128, i128)> =
        weights.iter().enumerate().map(|(i, (_, w))| (i, magnitude * w / sum, magnitude * w % sum)).collect();
    let leftover = magnitude - parts.iter().map(|&(_, floor, _)| floor).sum::<i128>();
    // A stable sort keeps the weights' value order among equal remainders.
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(parts[i].2));
    for &i in order.iter().take(leftover as usize) {
        parts[i].1 += 1;
    }
    parts
        .into_iter()
        .map(|(i, floor, _)| Share {
            value: weights[i].0.to_string(),
            cents: i64::try_from(floor).expect("a share is at most its pool") * amount.signum(),
        })
        .collect()
}

/// Units of 10^-15 in whole cents, rounded half away from zero.
fn cents(units: i128) -> i64 {
    let rounded = (units.abs() + UNITS_PER_CENT / 2) / UNITS_PER_CENT * units.signum();
    i64::try_from(rounded).expect("an amount beyond 92 quadrillion cannot be a bill")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "allocation.yaml";

    fn rules(yaml: &str) -> AllocationRules {
        AllocationRules::parse(yaml, Path::new(PATH)).unwrap()
    }

    /// The error `yaml` gives, as printed: `file:line:column: message`.
    fn refused(yaml: &str) -> String {
        AllocationRules::parse(yaml, Path::new(PATH)).unwrap_err().to_string()
    }

    /// A row of January 2024 in USD, of `dollars` (decimal text).
    fn row(service: &str, value: Option<&str>, dollars: &str) -> CostRow {
        CostRow {
            period: "2024-01".to_string(),
            currency: "USD".to_string(),
            account_id: "111122223333".to_string(),
            account_name: "retail-prod".to_string(),
            service: service.to_string(),
            charge_category: "Usage".to_string(),
            resource_id: String::new(),
            value: value.map(str::to_string),
            cost: parse_decimal(dollars).unwrap(),
        }
    }

    fn shares(shares: &[Share]) -> Vec<(&str, i64)> {
        shares.iter().map(|s| (s.value.as_str(), s.cents)).collect()
    }

    /// The single period of an allocation.
    fn only(allocation: Allocation) -> PeriodAllocation {
        assert_eq!(allocation.periods.len(), 1);
        allocation.periods.into_iter().next().unwrap()
    }

    const SUPPORT_EVEN: &str = "
version: 1
pools:
  - name: support
    select: {services: [Support]}
    method: even
";

    #[test]
    fn even_split_gives_leftover_cents_to_the_first_values_by_name() {
        let rules = rules(&format!("{SUPPORT_EVEN}    targets: [Gamma, Beta, Alpha]\n"));
        let p = only(allocate(&rules, &[row("Support", None, "100")]));
        assert_eq!(p.pools[0].amount_cents, 10000);
        assert_eq!(shares(&p.pools[0].shares), [("Alpha", 3334), ("Beta", 3333), ("Gamma", 3333)]);
        assert_eq!(shares(&p.totals), shares(&p.pools[0].shares));
        assert_eq!((p.total_cents, p.unallocated_cents, p.rounding_cents), (10000, 0, 0));

        let p = only(allocate(&rules, &[row("Support", None, "0.02")]));
        assert_eq!(shares(&p.pools[0].shares), [("Alpha", 1), ("Beta", 1), ("Gamma", 0)]);
    }

    #[test]
    fn fixed_percentages_give_leftover_cents_to_the_largest_remainder() {
        let rules = rules(
            "
version: 1
pools:
  - name: platform
    select: {account_names: ['*-platform']}
    method: fixed
    percentages: {Retail: 60, Payments: 40}
  - name: tiny
    select: {services: [Tiny]}
    method: fixed
    percentages: {A: 0.1, B: '0.2', C: 99.7}
",
        );
        let platform = CostRow { account_name: "core-platform".to_string(), ..row("EC2", None, "1000.01") };
        let p = only(allocate(&rules, &[platform, row("Tiny", Some("A"), "10")]));
        // Retail's ideal is 60000.6 cents, Payments' 40000.4: the leftover cent goes to Retail.
        assert_eq!(shares(&p.pools[0].shares), [("Payments", 40000), ("Retail", 60001)]);
        assert_eq!(shares(&p.pools[1].shares), [("A", 1), ("B", 2), ("C", 997)]);
        assert_eq!(p.pools[0].note, None);
    }

    #[test]
    fn proportional_weighs_by_direct_spend_and_ignores_negative_spend() {
        let rules = rules(&SUPPORT_EVEN.replace("even", "proportional"));
        let rows = [
            row("EC2", Some("Alpha"), "200"),
            row("EC2", Some("Beta"), "100"),
            row("EC2", Some("Gamma"), "300"),
            row("EC2", Some("Delta"), "-50"),
            row("Support", Some("Gamma"), "100"),
        ];
        let p = only(allocate(&rules, &rows));
        // Weights 20000, 10000, 0, 30000 of 60000: ideals 3333.33, 1666.67, 0, 5000; the leftover
        // cent goes to Beta, whose remainder is the largest although Alpha comes first.
        assert_eq!(
            shares(&p.pools[0].shares),
            [("Alpha", 3333), ("Beta", 1667), ("Delta", 0), ("Gamma", 5000)]
        );
        assert_eq!(p.pools[0].rows, 1);
        assert_eq!(
            shares(&p.direct),
            [("Alpha", 20000), ("Beta", 10000), ("Delta", -5000), ("Gamma", 30000)]
        );
        assert_eq!(
            shares(&p.totals),
            [("Alpha", 23333), ("Beta", 11667), ("Delta", -5000), ("Gamma", 35000)]
        );
        assert_eq!((p.total_cents, p.rounding_cents), (65000, 0));
    }

    #[test]
    fn a_credit_splits_as_the_negative_of_a_charge() {
        let rules = rules(SUPPORT_EVEN);
        let direct = ["Alpha", "Beta", "Gamma"].map(|v| row("EC2", Some(v), "1"));
        let split = |amount: &str| {
            let rows: Vec<CostRow> = direct.iter().cloned().chain([row("Support", None, amount)]).collect();
            only(allocate(&rules, &rows)).pools.remove(0).shares
        };
        assert_eq!(shares(&split("-100")), [("Alpha", -3334), ("Beta", -3333), ("Gamma", -3333)]);
        let charge = split("100");
        let negated: Vec<(&str, i64)> = shares(&charge).into_iter().map(|(v, c)| (v, -c)).collect();
        assert_eq!(shares(&split("-100")), negated);
    }

    #[test]
    fn a_row_belongs_to_the_first_pool_that_selects_it() {
        let rules = rules(
            "
version: 1
pools:
  - name: nat
    select: {resource_prefixes: [nat-]}
    method: even
  - name: network
    select: {services: [VPC]}
    method: even
  - name: never
    select: {charge_categories: [Tax]}
    method: even
",
        );
        let rows = [
            row("EC2", Some("Retail"), "10"),
            CostRow { resource_id: "nat-0abc".to_string(), ..row("VPC", None, "3") },
            CostRow { resource_id: "vpc-0abc".to_string(), ..row("VPC", None, "4") },
        ];
        let p = only(allocate(&rules, &rows));
        let pools: Vec<(&str, i64, usize)> =
            p.pools.iter().map(|s| (s.name.as_str(), s.amount_cents, s.rows)).collect();
        assert_eq!(pools, [("nat", 300, 1), ("network", 400, 1)]);
        assert_eq!(shares(&p.totals), [("Retail", 1700)]);
    }

    #[test]
    fn select_conditions_all_hold_and_a_list_matches_any_item() {
        let select = Select {
            accounts: Some(vec!["111122223333".to_string(), "444455556666".to_string()]),
            account_names: Some(vec!["shared-*".to_string(), "*-platform".to_string()]),
            charge_categories: Some(vec!["Usage".to_string()]),
            ..Select::default()
        };
        let named = |name: &str| CostRow { account_name: name.to_string(), ..row("EC2", None, "1") };
        assert!(select.matches(&named("shared-dev")));
        assert!(select.matches(&named("core-platform")));
        assert!(!select.matches(&named("retail-prod")));
        assert!(!select.matches(&CostRow { charge_category: "Tax".to_string(), ..named("shared-dev") }));
        assert!(!select.matches(&CostRow { account_id: "999".to_string(), ..named("shared-dev") }));
        let tagged = Select { unallocated: Some(false), ..Select::default() };
        assert!(tagged.matches(&row("EC2", Some("Retail"), "1")));
        assert!(!tagged.matches(&row("EC2", None, "1")));
    }

    #[test]
    fn globs_know_only_the_star() {
        for (pattern, text, matches) in [
            ("shared-*", "shared-dev", true),
            ("*-platform", "core-platform", true),
            ("*-platform", "platform", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "axbxbxc", true),
            ("a*a", "a", false),
            ("*", "", true),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("a?c", "abc", false),
            ("a?c", "a?c", true),
            ("[ab]", "[ab]", true),
        ] {
            assert_eq!(glob(pattern, text), matches, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn an_unallocated_pool_takes_the_rows_without_a_value() {
        let rules = rules(
            "
version: 1
pools:
  - name: untagged
    select: {unallocated: true}
    method: proportional
",
        );
        let rows =
            [row("EC2", Some("Retail"), "300"), row("EC2", Some("Payments"), "100"), row("S3", None, "40")];
        let p = only(allocate(&rules, &rows));
        assert_eq!(shares(&p.pools[0].shares), [("Payments", 1000), ("Retail", 3000)]);
        assert_eq!(p.unallocated_cents, 0);
        assert_eq!(shares(&p.totals), [("Payments", 11000), ("Retail", 33000)]);
    }

    #[test]
    fn default_targets_are_the_values_with_direct_spend_in_cents() {
        let rules = rules(SUPPORT_EVEN);
        let rows = [
            row("EC2", Some("Retail"), "10"),
            row("EC2", Some("Payments"), "0.004"),
            row("EC2", Some("Search"), "5"),
            row("EC2", Some("Search"), "-5"),
            row("Support", None, "9"),
        ];
        let p = only(allocate(&rules, &rows));
        assert_eq!(shares(&p.direct), [("Payments", 0), ("Retail", 1000), ("Search", 0)]);
        assert_eq!(shares(&p.pools[0].shares), [("Retail", 900)]);
    }

    #[test]
    fn a_pool_without_targets_is_left_unallocated_with_a_note() {
        let rules = rules(SUPPORT_EVEN);
        let p = only(allocate(&rules, &[row("Support", None, "12.34"), row("EC2", None, "1")]));
        assert_eq!(p.pools[0].amount_cents, 1234);
        assert!(p.pools[0].shares.is_empty());
        assert_eq!(p.pools[0].note.as_deref(), Some("no targets: left unallocated"));
        assert_eq!((p.unallocated_cents, p.rounding_cents), (1334, 0));
        assert!(p.totals.is_empty());
    }

    #[test]
    fn proportional_without_direct_spend_splits_evenly_with_a_note() {
        let rules = rules(&format!("{}    targets: [A, B]\n", SUPPORT_EVEN.replace("even", "proportional")));
        let p = only(allocate(&rules, &[row("EC2", Some("C"), "50"), row("Support", None, "1.01")]));
        assert_eq!(shares(&p.pools[0].shares), [("A", 51), ("B", 50)]);
        assert_eq!(p.pools[0].note.as_deref(), Some("no direct spend to weigh by: split evenly"));
        assert_eq!(shares(&p.totals), [("A", 51), ("B", 50), ("C", 5000)]);
    }

    #[test]
    fn periods_and_currencies_are_allocated_apart() {
        let rules = rules(&SUPPORT_EVEN.replace("even", "proportional"));
        let at = |period: &str, currency: &str, r: CostRow| CostRow {
            period: period.to_string(),
            currency: currency.to_string(),
            ..r
        };
        let rows = [
            at("2024-02", "USD", row("Support", None, "7")),
            at("2024-01", "USD", row("EC2", Some("Payments"), "50")),
            at("2024-01", "EUR", row("Support", None, "10")),
            at("2024-01", "USD", row("Support", None, "20")),
            at("2024-01", "EUR", row("EC2", Some("Retail"), "100")),
            at("2024-02", "USD", row("EC2", Some("Search"), "1")),
        ];
        let a = allocate(&rules, &rows);
        let keys: Vec<(&str, &str, i64)> =
            a.periods.iter().map(|p| (p.period.as_str(), p.currency.as_str(), p.total_cents)).collect();
        assert_eq!(keys, [("2024-01", "EUR", 11000), ("2024-01", "USD", 7000), ("2024-02", "USD", 800)]);
        let splits: Vec<Vec<(&str, i64)>> = a.periods.iter().map(|p| shares(&p.pools[0].shares)).collect();
        assert_eq!(splits, [vec![("Retail", 1000)], vec![("Payments", 2000)], vec![("Search", 700)]]);
    }

    #[test]
    fn sums_round_once_half_away_from_zero_and_the_difference_is_reported() {
        assert_eq!([cents(5_000_000_000_000), cents(4_999_999_999_999)], [1, 0]);
        assert_eq!([cents(-5_000_000_000_000), cents(-4_999_999_999_999)], [-1, 0]);
        let rows = ["A", "B", "C"].map(|v| row("EC2", Some(v), "0.005"));
        let p = only(allocate(&rules("version: 1"), &rows));
        assert_eq!(shares(&p.totals), [("A", 1), ("B", 1), ("C", 1)]);
        assert_eq!((p.total_cents, p.rounding_cents), (2, -1));
    }

    /// A small linear congruential generator: random enough for tests, without a dependency.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    #[test]
    fn random_pools_split_to_the_cent() {
        let mut rng = Lcg(42);
        let values = ["A", "B", "C", "D", "E"];
        for _ in 0..300 {
            let pools: Vec<Pool> = (0..1 + rng.below(4))
                .map(|i| {
                    let method = [Method::Even, Method::Fixed, Method::Proportional][rng.below(3) as usize];
                    let targets: Vec<String> =
                        values.iter().filter(|_| rng.below(2) == 0).map(|v| v.to_string()).collect();
                    let percentages = (method == Method::Fixed).then(|| {
                        let keys = if targets.is_empty() { vec!["A".to_string()] } else { targets.clone() };
                        // Random parts in units of 10^-15 %, the last taking what is left of 100.
                        let mut left = HUNDRED_PERCENT;
                        let mut percentages = BTreeMap::new();
                        for (k, key) in keys.iter().enumerate() {
                            let part = if k + 1 == keys.len() {
                                left
                            } else {
                                left * rng.below(1001) as i128 / 1000
                            };
                            left -= part;
                            percentages.insert(key.clone(), Percent(part));
                        }
                        percentages
                    });
                    let targets = match method {
                        Method::Fixed => None,
                        _ => Some(targets).filter(|t| !t.is_empty()),
                    };
                    let select = Select { services: Some(vec![format!("S{i}")]), ..Select::default() };
                    Pool { name: format!("p{i}"), select, method, targets, percentages }
                })
                .collect();
            let rules = AllocationRules { pools, ..rules("version: 1") };
            let rows: Vec<CostRow> = (0..rng.below(30))
                .map(|_| CostRow {
                    currency: ["USD", "EUR"][rng.below(2) as usize].to_string(),
                    value: (rng.below(4) != 0).then(|| values[rng.below(5) as usize].to_string()),
                    cost: rng.below(2_000_000_000_000_000_000) as i128 - 1_000_000_000_000_000_000,
                    ..row(&format!("S{}", rng.below(6)), None, "0")
                })
                .collect();
            for p in allocate(&rules, &rows).periods {
                for pool in &p.pools {
                    if !pool.shares.is_empty() {
                        assert_eq!(
                            pool.shares.iter().map(|s| s.cents).sum::<i64>(),
                            pool.amount_cents,
                            "{pool:?}"
                        );
                    }
                }
                let totals: i64 = p.totals.iter().map(|s| s.cents).sum();
                assert_eq!(totals + p.unallocated_cents + p.rounding_cents, p.total_cents);
            }
        }
    }

    #[test]
    fn random_weights_split_to_the_cent_and_symmetrically() {
        let mut rng = Lcg(7);
        let names = ["A", "B", "C", "D", "E", "F", "G", "H"];
        for _ in 0..2000 {
            let amount = rng.below(2_000_001) as i64 - 1_000_000;
            let mut weights: Vec<(&str, i128)> =
                names[..1 + rng.below(8) as usize].iter().map(|&n| (n, rng.below(1000) as i128)).collect();
            weights[0].1 += 1;
            let sum: i128 = weights.iter().map(|(_, w)| w).sum();
            let split = largest_remainder(amount, &weights);
            assert_eq!(split.iter().map(|s| s.cents).sum::<i64>(), amount);
            for (share, (_, w)) in split.iter().zip(&weights) {
                // Every share is its ideal rounded down or up.
                let ideal = i128::from(amount.abs()) * w;
                let magnitude = i128::from(share.cents.abs());
                assert!(
                    magnitude * sum <= ideal + sum && magnitude * sum + sum > ideal,
                    "{share:?} of {amount}"
                );
            }
            let negated: Vec<i64> = largest_remainder(-amount, &weights).iter().map(|s| -s.cents).collect();
            assert_eq!(negated, split.iter().map(|s| s.cents).collect::<Vec<_>>());
        }
    }

    #[test]
    fn defaults_and_exact_percentages() {
        let r = rules("version: 1\n");
        assert_eq!(
            (r.dimension.as_str(), r.metric, r.pools.len()),
            ("business_unit", Metric::EffectiveCost, 0)
        );
        let r = rules("version: 1\ndimension: team\nmetric: BilledCost\npools: []\n");
        assert_eq!((r.dimension.as_str(), r.metric), ("team", Metric::BilledCost));
        // 0.1 + 0.2 + 99.7 is 100 exactly, as written, not as doubles add.
        let yaml = "
version: 1
pools:
  - name: fees
    select: {charge_categories: [Tax], unallocated: true}
    method: fixed
    targets: [A, B, C]
    percentages: {A: 0.1, B: 0.2, C: 99.7}
";
        let r = rules(yaml);
        let p = r.pools[0].percentages.as_ref().unwrap();
        assert_eq!(p["A"].to_string(), "0.1");
        assert_eq!(p["C"], "99.7".parse().unwrap());
        assert_eq!(rules(&serde_norway::to_string(&r).unwrap()), r);
    }

    #[test]
    fn the_documented_example_is_valid() {
        let example: String = include_str!("allocation.rs")
            .lines()
            .skip_while(|l| *l != "//! ```yaml")
            .skip(1)
            .take_while(|l| *l != "//! ```")
            .map(|l| format!("{}\n", l.trim_start_matches("//!").strip_prefix(' ').unwrap_or_default()))
            .collect();
        let names: Vec<String> = rules(&example).pools.into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["support", "nat", "platform", "untagged"]);
    }

    #[test]
    fn read_names_the_file_it_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(ALLOCATION_FILE);
        let err = AllocationRules::read(&path).unwrap_err();
        assert_eq!((err.path.as_path(), err.line), (path.as_path(), None));
        assert!(err.message.starts_with("cannot read: "), "{}", err.message);
        std::fs::write(&path, SUPPORT_EVEN).unwrap();
        assert_eq!(AllocationRules::read(&path).unwrap(), rules(SUPPORT_EVEN));
    }

    #[test]
    fn refuses_unknown_fields_where_they_are() {
        let err = refused("version: 1\npools:\n  - name: x\n    selct: {}\n");
        assert_eq!(
            err,
            "allocation.yaml:4:5: pools[0]: unknown field `selct`, expected one of `name`, `select`, \
             `method`, `targets`, `percentages`"
        );
    }

    #[test]
    fn refuses_a_version_other_than_1() {
        assert_eq!(refused("# allocation\nversion: 2\n"), "allocation.yaml:2:1: version must be 1, not 2");
    }

    #[test]
    fn refuses_a_duplicate_pool_name_at_its_second_definition() {
        let yaml = "
version: 1
pools:
  - name: support
    select: {account_names: [support-*]}
    method: even
  - name: support
    select: {services: [Tax]}
    method: even
";
        assert_eq!(refused(yaml), "allocation.yaml:7:5: pool 'support' is defined twice");
    }

    #[test]
    fn refuses_a_pool_that_selects_nothing() {
        let yaml = "version: 1\npools:\n  - name: x\n    select: {}\n    method: even\n";
        assert_eq!(
            refused(yaml),
            "allocation.yaml:4:5: pool 'x' selects nothing: give at least one condition in select"
        );
        let yaml = "version: 1\npools:\n  - name: x\n    select: {services: []}\n    method: even\n";
        assert_eq!(
            refused(yaml),
            "allocation.yaml:4:14: pool 'x': select.services is empty and would match nothing"
        );
    }

    #[test]
    fn refuses_empty_targets() {
        let yaml = format!("{SUPPORT_EVEN}    targets: []\n");
        assert_eq!(
            refused(&yaml),
            "allocation.yaml:7:5: pool 'support': targets is empty: leave it out to share among every value \
             with direct spend"
        );
    }

    #[test]
    fn refuses_fixed_without_percentages_and_percentages_without_fixed() {
        assert_eq!(
            refused(&SUPPORT_EVEN.replace("even", "fixed")),
            "allocation.yaml:6:5: pool 'support': method fixed needs percentages"
        );
        let yaml = format!("{}    percentages: {{A: 100}}\n", SUPPORT_EVEN.replace("even", "proportional"));
        assert_eq!(
            refused(&yaml),
            "allocation.yaml:7:5: pool 'support': percentages are only for method fixed, not proportional"
        );
    }

    const FIXED: &str = "
version: 1
pools:
  - name: other
    select: {services: [Other]}
    method: even
  - name: platform
    select: {services: [Platform]}
    method: fixed
";

    #[test]
    fn refuses_percentages_that_do_not_sum_to_100() {
        let yaml = format!("{FIXED}    percentages: {{Retail: 50, Payments: 40}}\n");
        assert_eq!(refused(&yaml), "allocation.yaml:10:5: pool 'platform': percentages sum to 90, not 100");
        let yaml = format!("{FIXED}    percentages:\n      Retail: 59.5\n      Payments: '40.0'\n");
        assert_eq!(refused(&yaml), "allocation.yaml:10:5: pool 'platform': percentages sum to 99.5, not 100");
    }

    #[test]
    fn refuses_a_negative_percentage() {
        let yaml = format!("{FIXED}    percentages:\n      Retail: 110\n      Payments: -10\n");
        assert_eq!(
            refused(&yaml),
            "allocation.yaml:12:7: pool 'platform': the percentage of Payments is negative (-10)"
        );
    }

    #[test]
    fn refuses_percentages_whose_keys_are_not_the_targets() {
        let yaml =
            format!("{FIXED}    targets: [Retail, Payments]\n    percentages: {{Retail: 60, Ops: 40}}\n");
        assert_eq!(
            refused(&yaml),
            "allocation.yaml:11:5: pool 'platform': percentages name Ops, Retail but targets are Payments, \
             Retail"
        );
    }
}
