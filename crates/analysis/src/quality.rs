//! The data-quality report, provenance of one resource, and the inputs of allocation and rule
//! suggestions: all computed from one aggregate of the lake.
//!
//! [`observations`] groups the lake's rows by everything the rules read (billing period, currency,
//! account, resource, service, region, charge category, tags, cost categories) with Σ
//! EffectiveCost, Σ BilledCost and the row count. A bill of millions of rows has a few thousand
//! such groups; each is resolved once with [`Resolver::explain`], so the report, the
//! `focus` view's columns and `--explain` share one computation. Every amount is exact (units of
//! 10^-15) and per billing currency: amounts of different currencies are never added.

use std::collections::{BTreeMap, BTreeSet};

use costpilot_model::time::month_of;
use costpilot_rules::{Explanation, Resolver, RowFields, Source, TagRules};
use datafusion::arrow::array::{Array, AsArray, MapArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use serde::Serialize;

use costpilot_query::QueryError;
use costpilot_query::columns::{amount, amounts_named, counts_named, literal, strings_named, times_named};
use costpilot_query::session::{FOCUS_LAKE_TABLE, LakeSession};
use costpilot_rules::allocation::{Allocation, AllocationRules, CostRow, Metric, allocate};
use costpilot_rules::suggest::TagObservation;

/// Lake rows that share every field the rules read.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Billing period, `YYYY-MM`.
    pub period: String,
    /// BillingCurrency.
    pub currency: String,
    /// SubAccountId.
    pub account_id: String,
    /// SubAccountName.
    pub account_name: String,
    /// ResourceId ("" when none).
    pub resource_id: String,
    /// ServiceName.
    pub service: String,
    /// RegionId.
    pub region: String,
    /// ChargeCategory.
    pub charge_category: String,
    /// Tags as stored.
    pub tags: Vec<(String, String)>,
    /// Cost categories as stored.
    pub cost_categories: Vec<(String, String)>,
    /// Rows.
    pub rows: u64,
    /// Σ EffectiveCost.
    pub effective: i128,
    /// Σ BilledCost.
    pub billed: i128,
}

impl Observation {
    /// The fields the resolver reads.
    pub fn fields<'a>(
        &'a self,
        tags: &'a [(&'a str, &'a str)],
        categories: &'a [(&'a str, &'a str)],
    ) -> RowFields<'a> {
        RowFields {
            account_id: &self.account_id,
            account_name: &self.account_name,
            resource_id: &self.resource_id,
            service: &self.service,
            region: &self.region,
            charge_category: &self.charge_category,
            tags,
            cost_categories: categories,
        }
    }

    /// Resolves the observation's dimensions with provenance.
    pub fn explain(&self, resolver: &Resolver) -> Explanation {
        let tags: Vec<(&str, &str)> = self.tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let cats: Vec<(&str, &str)> =
            self.cost_categories.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        resolver.explain(&self.fields(&tags, &cats))
    }
}

/// The lake's rows grouped by everything the rules read; `filter` is an extra SQL condition.
///
/// A typed query, its columns read by name, rather than a semantic request: it groups by whole tag
/// and cost-category maps so that the resolver sees each distinct set of a row's fields once,
/// which is the input of the rules rather than a cost figure the semantic layer reports.
pub async fn observations(
    session: &LakeSession,
    filter: Option<&str>,
) -> Result<Vec<Observation>, QueryError> {
    let filter = filter.map(|f| format!("AND ({f})")).unwrap_or_default();
    let sql = format!(
        "SELECT BillingPeriodStart, BillingCurrency, SubAccountId, SubAccountName, ResourceId, ServiceName, \
           RegionId, ChargeCategory, Tags, x_CostCategories, count(*) AS row_count, \
           sum(EffectiveCost) AS effective, sum(BilledCost) AS billed \
         FROM {FOCUS_LAKE_TABLE} WHERE BillingCurrency IS NOT NULL {filter} \
         GROUP BY BillingPeriodStart, BillingCurrency, SubAccountId, SubAccountName, ResourceId, ServiceName, \
           RegionId, ChargeCategory, Tags, x_CostCategories"
    );
    let result = session.sql(&sql).await?;
    let mut out = Vec::new();
    for batch in &result.batches {
        let period = times_named(batch, "BillingPeriodStart")?;
        let text: Vec<Vec<Option<String>>> = [
            "BillingCurrency",
            "SubAccountId",
            "SubAccountName",
            "ResourceId",
            "ServiceName",
            "RegionId",
            "ChargeCategory",
        ]
        .into_iter()
        .map(|c| strings_named(batch, c))
        .collect::<Result<_, _>>()?;
        let tags = map_entries(batch, "Tags")?;
        let cats = map_entries(batch, "x_CostCategories")?;
        let rows = counts_named(batch, "row_count")?;
        let effective = amounts_named(batch, "effective")?;
        let billed = amounts_named(batch, "billed")?;
        for i in 0..batch.num_rows() {
            let t = |c: usize| text[c][i].clone().unwrap_or_default();
            out.push(Observation {
                period: period[i].map(month_of).unwrap_or_default(),
                currency: t(0),
                account_id: t(1),
                account_name: t(2),
                resource_id: t(3),
                service: t(4),
                region: t(5),
                charge_category: t(6),
                tags: tags[i].clone(),
                cost_categories: cats[i].clone(),
                rows: rows[i],
                effective: effective[i].unwrap_or(0),
                billed: billed[i].unwrap_or(0),
            });
        }
    }
    out.sort_by(|a, b| {
        (&a.currency, &a.period, &a.account_id, &a.resource_id, &a.service, &a.charge_category, &a.tags).cmp(
            &(&b.currency, &b.period, &b.account_id, &b.resource_id, &b.service, &b.charge_category, &b.tags),
        )
    });
    Ok(out)
}

/// The entries of the map column called `name`, per row.
fn map_entries(batch: &RecordBatch, name: &str) -> Result<Vec<Vec<(String, String)>>, QueryError> {
    let col = batch
        .column_by_name(name)
        .ok_or_else(|| QueryError::Query(format!("the result has no column '{name}'")))?;
    let Some(map) = col.as_any().downcast_ref::<MapArray>() else {
        return Ok(vec![Vec::new(); batch.num_rows()]);
    };
    let err = |e: datafusion::arrow::error::ArrowError| QueryError::Query(format!("column '{name}': {e}"));
    let keys = cast(map.keys(), &DataType::Utf8).map_err(err)?;
    let values = cast(map.values(), &DataType::Utf8).map_err(err)?;
    let (keys, values) = (keys.as_string::<i32>(), values.as_string::<i32>());
    let offsets = map.value_offsets();
    Ok((0..map.len())
        .map(|r| {
            if map.is_null(r) {
                return Vec::new();
            }
            (offsets[r] as usize..offsets[r + 1] as usize)
                .filter(|&j| keys.is_valid(j))
                .map(|j| {
                    (
                        keys.value(j).to_string(),
                        if values.is_valid(j) { values.value(j).to_string() } else { String::new() },
                    )
                })
                .collect()
        })
        .collect())
}

/// An amount in one currency.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Amount {
    /// ISO 4217 code.
    pub currency: String,
    /// Exact decimal text of Σ EffectiveCost.
    #[serde(serialize_with = "amount")]
    pub effective_cost: i128,
}

/// A part of a whole, per currency.
#[derive(Debug, Clone, Serialize)]
pub struct Share {
    /// ISO 4217 code.
    pub currency: String,
    /// Σ EffectiveCost of the part.
    #[serde(serialize_with = "amount")]
    pub effective_cost: i128,
    /// Σ EffectiveCost of the whole.
    #[serde(serialize_with = "amount")]
    pub total_effective_cost: i128,
    /// `effective_cost / total_effective_cost`; `None` when the total is zero.
    pub share: Option<f64>,
}

fn share_of(currency: &str, part: i128, total: i128) -> Share {
    Share {
        currency: currency.to_string(),
        effective_cost: part,
        total_effective_cost: total,
        share: (total != 0).then(|| part as f64 / total as f64),
    }
}

/// How much of the cost carries one canonical tag key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyCoverage {
    /// The canonical key.
    pub key: String,
    /// The spellings it has in the data.
    pub spellings: Vec<String>,
    /// Resources carrying it with a value.
    pub resources: u64,
    /// Resources in the lake (rows with a ResourceId).
    pub total_resources: u64,
    /// `resources / total_resources`.
    pub resource_share: Option<f64>,
    /// Cost carrying it with a value, per currency.
    pub cost: Vec<Share>,
}

/// How a dimension is allocated, and by which source.
#[derive(Debug, Clone, Serialize)]
pub struct DimensionCoverage {
    /// The dimension.
    pub dimension: String,
    /// Cost with a value, per currency.
    pub allocated: Vec<Share>,
    /// Cost per source that gave the value, per currency.
    pub by_source: Vec<SourceAmount>,
}

/// Cost one source allocated.
#[derive(Debug, Clone, Serialize)]
pub struct SourceAmount {
    /// The source.
    pub source: Source,
    /// ISO 4217 code.
    pub currency: String,
    /// Σ EffectiveCost.
    #[serde(serialize_with = "amount")]
    pub effective_cost: i128,
}

/// Unallocated cost of one account, service or resource.
#[derive(Debug, Clone, Serialize)]
pub struct Offender {
    /// The account id, service name or resource id.
    pub key: String,
    /// The account name, for accounts; the account id, for resources.
    pub detail: Option<String>,
    /// ISO 4217 code.
    pub currency: String,
    /// Σ EffectiveCost without an owner.
    #[serde(serialize_with = "amount")]
    pub effective_cost: i128,
}

/// One resource that carries more than one value for a canonical key.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    /// ResourceId.
    pub resource_id: String,
    /// SubAccountId.
    pub account_id: String,
    /// The canonical key.
    pub key: String,
    /// The values, sorted.
    pub values: Vec<String>,
    /// Whether two values appear on the same row (else they differ over time).
    pub same_row: bool,
    /// The resource's cost in the lake, per currency.
    pub cost: Vec<Amount>,
}

/// How often a rule fired.
#[derive(Debug, Clone, Serialize)]
pub struct RuleHit {
    /// Its label.
    pub rule: String,
    /// Rows it fired on.
    pub rows: u64,
    /// Cost of those rows, per currency.
    pub cost: Vec<Amount>,
}

/// Allocation of the owner dimension in one billing period of one currency.
#[derive(Debug, Clone, Serialize)]
pub struct PeriodQuality {
    /// `YYYY-MM`.
    pub period: String,
    /// Cost without an owner over all cost.
    pub unallocated: Share,
    /// Change of the unallocated share against the period before, in percentage points.
    pub change_points: Option<f64>,
}

/// The data-quality report.
#[derive(Debug, Clone, Serialize)]
pub struct QualityReport {
    /// The dimension whose absence makes a cost unallocated.
    pub owner_dimension: String,
    /// Rows in the lake.
    pub rows: u64,
    /// Cost without an owner with no rules at all (an exact tag of the owner's name), per currency.
    pub unallocated_without_rules: Vec<Share>,
    /// Cost without an owner under the rules in force, per currency.
    pub unallocated: Vec<Share>,
    /// Per billing period and currency, with the change since the period before.
    pub periods: Vec<PeriodQuality>,
    /// Coverage of every canonical tag key, most covered first.
    pub tag_coverage: Vec<KeyCoverage>,
    /// Allocation of every dimension.
    pub dimensions: Vec<DimensionCoverage>,
    /// Accounts with the most unallocated cost, per currency.
    pub unallocated_by_account: Vec<Offender>,
    /// Services with the most unallocated cost, per currency.
    pub unallocated_by_service: Vec<Offender>,
    /// Resources with the most unallocated cost, per currency.
    pub top_unallocated_resources: Vec<Offender>,
    /// Resources with conflicting values.
    pub conflicts: Vec<Conflict>,
    /// Every rule with its hits, in rule order.
    pub rule_hits: Vec<RuleHit>,
}

type ByCurrency<K> = BTreeMap<(String, K), i128>;

fn top(map: ByCurrency<String>, details: &BTreeMap<String, String>, n: usize) -> Vec<Offender> {
    let mut per: BTreeMap<String, Vec<Offender>> = BTreeMap::new();
    for ((currency, key), cost) in map {
        if cost != 0 {
            per.entry(currency.clone()).or_default().push(Offender {
                detail: details.get(&key).cloned(),
                key,
                currency,
                effective_cost: cost,
            });
        }
    }
    per.into_values()
        .flat_map(|mut v| {
            v.sort_by(|a, b| b.effective_cost.cmp(&a.effective_cost).then(a.key.cmp(&b.key)));
            v.truncate(n);
            v
        })
        .collect()
}

fn amounts_of(map: &BTreeMap<String, i128>) -> Vec<Amount> {
    map.iter().map(|(c, v)| Amount { currency: c.clone(), effective_cost: *v }).collect()
}

/// Computes the report over `observations` with `resolver`; lists hold at most `n` entries per
/// currency.
pub fn report(observations: &[Observation], resolver: &Resolver, n: usize) -> QualityReport {
    let owner_index = resolver.owner_index();
    let owner = resolver.dimensions()[owner_index].clone();
    let bare = {
        let mut rules = TagRules::empty();
        rules.dimensions = resolver.dimensions().to_vec();
        rules.owner_dimension = owner.clone();
        Resolver::new(&rules, None, std::path::Path::new("")).expect("empty rules compile")
    };
    let mut totals: BTreeMap<String, i128> = BTreeMap::new();
    let mut unallocated: BTreeMap<String, i128> = BTreeMap::new();
    let mut unallocated_bare: BTreeMap<String, i128> = BTreeMap::new();
    let mut period_totals: BTreeMap<(String, String), (i128, i128)> = BTreeMap::new();
    let mut key_cost: ByCurrency<String> = BTreeMap::new();
    let mut key_resources: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    let mut spellings: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut dim_cost: BTreeMap<(usize, String), i128> = BTreeMap::new();
    let mut dim_source: BTreeMap<(usize, Source, String), i128> = BTreeMap::new();
    let mut by_account: ByCurrency<String> = BTreeMap::new();
    let mut by_service: ByCurrency<String> = BTreeMap::new();
    let mut by_resource: ByCurrency<String> = BTreeMap::new();
    let mut account_names: BTreeMap<String, String> = BTreeMap::new();
    let mut resource_accounts: BTreeMap<String, String> = BTreeMap::new();
    let mut resources: BTreeSet<&str> = BTreeSet::new();
    let mut values_of: BTreeMap<(&str, String), BTreeSet<String>> = BTreeMap::new();
    let mut same_row: BTreeSet<(&str, String)> = BTreeSet::new();
    let mut resource_cost: BTreeMap<&str, BTreeMap<String, i128>> = BTreeMap::new();
    let mut hits: Vec<(u64, BTreeMap<String, i128>)> = vec![(0, BTreeMap::new()); resolver.rules().len()];
    let mut rows = 0;
    for o in observations {
        let c = &o.currency;
        rows += o.rows;
        *totals.entry(c.clone()).or_default() += o.effective;
        let e = o.explain(resolver);
        let has_owner = e.dimensions[owner_index].value.is_some();
        let p = period_totals.entry((c.clone(), o.period.clone())).or_default();
        p.0 += o.effective;
        if !has_owner {
            p.1 += o.effective;
            *unallocated.entry(c.clone()).or_default() += o.effective;
            *by_account.entry((c.clone(), o.account_id.clone())).or_default() += o.effective;
            *by_service.entry((c.clone(), o.service.clone())).or_default() += o.effective;
            account_names.insert(o.account_id.clone(), o.account_name.clone());
            if !o.resource_id.is_empty() {
                *by_resource.entry((c.clone(), o.resource_id.clone())).or_default() += o.effective;
                resource_accounts.insert(o.resource_id.clone(), o.account_id.clone());
            }
        }
        if o.explain(&bare).dimensions[owner_index].value.is_none() {
            *unallocated_bare.entry(c.clone()).or_default() += o.effective;
        }
        let mut keys_here = BTreeSet::new();
        for t in &e.tags {
            spellings.entry(t.key.clone()).or_default().insert(t.raw_key.clone());
            if let Some(v) = &t.value {
                keys_here.insert(t.key.clone());
                if !o.resource_id.is_empty() {
                    values_of.entry((o.resource_id.as_str(), t.key.clone())).or_default().insert(v.clone());
                }
            }
        }
        for k in keys_here {
            *key_cost.entry((c.clone(), k.clone())).or_default() += o.effective;
            if !o.resource_id.is_empty() {
                key_resources.entry(k).or_default().insert(&o.resource_id);
            }
        }
        for (key, _) in e.conflicts() {
            if !o.resource_id.is_empty() {
                same_row.insert((o.resource_id.as_str(), key));
            }
        }
        if !o.resource_id.is_empty() {
            resources.insert(&o.resource_id);
            resource_accounts.entry(o.resource_id.clone()).or_insert_with(|| o.account_id.clone());
            *resource_cost.entry(&o.resource_id).or_default().entry(c.clone()).or_default() += o.effective;
        }
        for (i, d) in e.dimensions.iter().enumerate() {
            if let (Some(_), Some(source)) = (&d.value, d.source) {
                *dim_cost.entry((i, c.clone())).or_default() += o.effective;
                *dim_source.entry((i, source, c.clone())).or_default() += o.effective;
            }
        }
        for rule in e.fired() {
            hits[rule].0 += o.rows;
            *hits[rule].1.entry(c.clone()).or_default() += o.effective;
        }
    }
    let total_resources = resources.len() as u64;
    let per_currency = |m: &BTreeMap<String, i128>| -> Vec<Share> {
        totals.iter().map(|(c, t)| share_of(c, m.get(c).copied().unwrap_or(0), *t)).collect()
    };
    let mut tag_coverage: Vec<KeyCoverage> = spellings
        .into_iter()
        .map(|(key, raw)| {
            let with = key_resources.get(&key).map_or(0, |s| s.len() as u64);
            let cost = totals
                .iter()
                .map(|(c, t)| share_of(c, key_cost.get(&(c.clone(), key.clone())).copied().unwrap_or(0), *t))
                .collect();
            KeyCoverage {
                spellings: raw.into_iter().collect(),
                resources: with,
                total_resources,
                resource_share: (total_resources > 0).then(|| with as f64 / total_resources as f64),
                cost,
                key,
            }
        })
        .collect();
    tag_coverage.sort_by(|a, b| b.resources.cmp(&a.resources).then(a.key.cmp(&b.key)));
    let dimensions = resolver
        .dimensions()
        .iter()
        .enumerate()
        .map(|(i, d)| DimensionCoverage {
            dimension: d.clone(),
            allocated: totals
                .iter()
                .map(|(c, t)| share_of(c, dim_cost.get(&(i, c.clone())).copied().unwrap_or(0), *t))
                .collect(),
            by_source: dim_source
                .iter()
                .filter(|((j, _, _), _)| *j == i)
                .map(|((_, s, c), v)| SourceAmount { source: *s, currency: c.clone(), effective_cost: *v })
                .collect(),
        })
        .collect();
    let mut periods = Vec::new();
    let mut previous: Option<(String, Option<f64>)> = None;
    for ((currency, period), (total, none)) in period_totals {
        let s = share_of(&currency, none, total);
        let change_points = match &previous {
            Some((c, Some(prev))) if *c == currency => s.share.map(|x| (x - prev) * 100.0),
            _ => None,
        };
        previous = Some((currency, s.share));
        periods.push(PeriodQuality { period, unallocated: s, change_points });
    }
    let conflicts = values_of
        .into_iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|((resource, key), values)| Conflict {
            resource_id: resource.to_string(),
            account_id: resource_accounts.get(resource).cloned().unwrap_or_default(),
            same_row: same_row.contains(&(resource, key.clone())),
            key,
            values: values.into_iter().collect(),
            cost: resource_cost.get(resource).map(amounts_of).unwrap_or_default(),
        })
        .collect();
    let rule_hits = resolver
        .rules()
        .iter()
        .zip(hits)
        .map(|(r, (rows, cost))| RuleHit { rule: r.label.clone(), rows, cost: amounts_of(&cost) })
        .collect();
    QualityReport {
        owner_dimension: owner,
        rows,
        unallocated_without_rules: per_currency(&unallocated_bare),
        unallocated: per_currency(&unallocated),
        periods,
        tag_coverage,
        dimensions,
        unallocated_by_account: top(by_account, &account_names, n),
        unallocated_by_service: top(by_service, &BTreeMap::new(), n),
        top_unallocated_resources: top(by_resource, &resource_accounts, n),
        conflicts,
        rule_hits,
    }
}

/// The provenance of one resource: each distinct combination of its fields, with its cost.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceExplanation {
    /// ResourceId.
    pub resource_id: String,
    /// SubAccountId.
    pub account_id: String,
    /// SubAccountName.
    pub account_name: String,
    /// The tags as stored.
    pub raw_tags: Vec<(String, String)>,
    /// The cost categories as stored.
    pub cost_categories: Vec<(String, String)>,
    /// Billing periods these fields appear in.
    pub periods: Vec<String>,
    /// Rows with these fields.
    pub rows: u64,
    /// Their cost, per currency.
    pub cost: Vec<Amount>,
    /// Every dimension with its provenance.
    pub explanation: Explanation,
}

/// Explains the dimensions of `resource_id`: one entry per distinct set of tags, cost categories
/// and account the resource has in the lake. Empty when the lake has no row with that id.
pub async fn explain_resource(
    session: &LakeSession,
    resource_id: &str,
) -> Result<Vec<ResourceExplanation>, QueryError> {
    let observations = observations(session, Some(&format!("ResourceId = {}", literal(resource_id)))).await?;
    let resolver = session.resolver();
    // Rows of one resource that look alike to the rules and resolve alike are one entry, whatever
    // their period, currency, service or charge category.
    let mut merged: BTreeMap<Vec<String>, ResourceExplanation> = BTreeMap::new();
    for o in observations {
        let explanation = o.explain(resolver);
        let mut key = vec![
            o.account_id.clone(),
            o.account_name.clone(),
            format!("{:?}", o.tags),
            format!("{:?}", o.cost_categories),
        ];
        key.extend(explanation.dimensions.iter().map(|d| format!("{:?}", (&d.value, d.source))));
        let entry = merged.entry(key).or_insert_with(|| ResourceExplanation {
            resource_id: o.resource_id.clone(),
            account_id: o.account_id.clone(),
            account_name: o.account_name.clone(),
            raw_tags: o.tags.clone(),
            cost_categories: o.cost_categories.clone(),
            periods: Vec::new(),
            rows: 0,
            cost: Vec::new(),
            explanation,
        });
        if !entry.periods.contains(&o.period) {
            entry.periods.push(o.period.clone());
            entry.periods.sort();
        }
        entry.rows += o.rows;
        match entry.cost.iter_mut().find(|a| a.currency == o.currency) {
            Some(a) => a.effective_cost += o.effective,
            None => {
                entry.cost.push(Amount { currency: o.currency.clone(), effective_cost: o.effective });
                entry.cost.sort_by(|a, b| a.currency.cmp(&b.currency));
            }
        }
    }
    Ok(merged.into_values().collect())
}

/// The observations as allocation rows of `rules.dimension` and `rules.metric`.
pub fn allocation(
    observations: &[Observation],
    resolver: &Resolver,
    rules: &AllocationRules,
) -> Result<Allocation, QueryError> {
    let Some(d) = resolver.dimensions().iter().position(|x| *x == rules.dimension) else {
        return Err(QueryError::Query(format!(
            "allocation dimension '{}' is not one of the tag rules' dimensions ({})",
            rules.dimension,
            resolver.dimensions().join(", ")
        )));
    };
    let rows: Vec<CostRow> = observations
        .iter()
        .map(|o| CostRow {
            period: o.period.clone(),
            currency: o.currency.clone(),
            account_id: o.account_id.clone(),
            account_name: o.account_name.clone(),
            service: o.service.clone(),
            charge_category: o.charge_category.clone(),
            resource_id: o.resource_id.clone(),
            value: o.explain(resolver).dimensions.swap_remove(d).value,
            cost: match rules.metric {
                Metric::BilledCost => o.billed,
                // The rules refuse every other metric (`ALLOCATED_METRICS`).
                _ => o.effective,
            },
        })
        .collect();
    Ok(allocate(rules, &rows))
}

/// The observations as the suggester reads them.
pub fn tag_observations(observations: &[Observation], resolver: &Resolver) -> Vec<TagObservation> {
    let owner = resolver.owner_index();
    observations
        .iter()
        .map(|o| TagObservation {
            allocated: o.explain(resolver).dimensions[owner].value.is_some(),
            tags: o.tags.clone(),
            currency: o.currency.clone(),
            cost: o.effective,
            rows: o.rows,
            resource_id: o.resource_id.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const UNIT: i128 = 1_000_000_000_000_000;

    fn obs(
        period: &str,
        currency: &str,
        account: &str,
        resource: &str,
        tags: &[(&str, &str)],
        cost: i128,
    ) -> Observation {
        Observation {
            period: period.into(),
            currency: currency.into(),
            account_id: account.into(),
            account_name: format!("{account}-name"),
            resource_id: resource.into(),
            service: "Amazon Elastic Compute Cloud".into(),
            region: "us-east-1".into(),
            charge_category: "Usage".into(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            cost_categories: Vec::new(),
            rows: 10,
            effective: cost * UNIT,
            billed: cost * UNIT,
        }
    }

    #[test]
    fn the_report_counts_coverage_conflicts_hits_and_changes_per_currency() {
        let rules =
            TagRules::parse("version: 1\nkeys:\n  team: [owner-team]\n", Path::new("tags.yaml")).unwrap();
        let resolver = Resolver::new(&rules, None, Path::new("tags.yaml")).unwrap();
        let data = [
            obs("2025-01", "USD", "1", "i-a", &[("team", "payments")], 60),
            obs("2025-02", "USD", "1", "i-a", &[("team", "ledger")], 40),
            obs("2025-01", "USD", "1", "i-b", &[("owner-team", "search"), ("Team", "catalog")], 30),
            obs("2025-01", "USD", "2", "i-c", &[], 20),
            obs("2025-02", "USD", "2", "", &[], 50),
            obs("2025-01", "EUR", "3", "i-d", &[("owner-team", "crm")], 7),
        ];
        let r = report(&data, &resolver, 5);
        let shares = |list: &[Share]| -> Vec<(String, i128, i128)> {
            list.iter()
                .map(|s| (s.currency.clone(), s.effective_cost / UNIT, s.total_effective_cost / UNIT))
                .collect()
        };
        assert_eq!(shares(&r.unallocated), [("EUR".into(), 0, 7), ("USD".into(), 70, 200)]);
        assert_eq!(shares(&r.unallocated_without_rules), [("EUR".into(), 7, 7), ("USD".into(), 70, 200)]);
        let periods: Vec<(String, String, i128, Option<f64>)> = r
            .periods
            .iter()
            .map(|p| {
                (
                    p.period.clone(),
                    p.unallocated.currency.clone(),
                    p.unallocated.effective_cost / UNIT,
                    p.change_points,
                )
            })
            .collect();
        assert_eq!(periods[0], ("2025-01".into(), "EUR".into(), 0, None));
        assert_eq!(periods[1], ("2025-01".into(), "USD".into(), 20, None));
        let (_, _, none, change) = &periods[2];
        assert_eq!(*none, 50);
        assert!((change.unwrap() - (50.0 / 90.0 - 20.0 / 110.0) * 100.0).abs() < 1e-9);
        let team = r.tag_coverage.iter().find(|k| k.key == "team").unwrap();
        assert_eq!((team.resources, team.total_resources), (3, 4));
        assert_eq!(team.spellings, ["Team", "owner-team", "team"]);
        assert_eq!(shares(&team.cost), [("EUR".into(), 7, 7), ("USD".into(), 130, 200)]);
        let conflicts: Vec<(&str, &str, Vec<String>, bool)> = r
            .conflicts
            .iter()
            .map(|c| (c.resource_id.as_str(), c.key.as_str(), c.values.clone(), c.same_row))
            .collect();
        assert_eq!(
            conflicts,
            [
                ("i-a", "team", vec!["ledger".to_string(), "payments".to_string()], false),
                ("i-b", "team", vec!["catalog".to_string(), "search".to_string()], true),
            ]
        );
        let hits: BTreeMap<&str, u64> = r.rule_hits.iter().map(|h| (h.rule.as_str(), h.rows)).collect();
        assert_eq!(hits["keys.team"], 20);
        assert_eq!(hits["keys: matched without regard to case"], 10);
        let accounts: Vec<(&str, &str, i128)> = r
            .unallocated_by_account
            .iter()
            .map(|o| (o.key.as_str(), o.currency.as_str(), o.effective_cost / UNIT))
            .collect();
        assert_eq!(accounts, [("2", "USD", 70)]);
        let resources: Vec<(&str, i128)> =
            r.top_unallocated_resources.iter().map(|o| (o.key.as_str(), o.effective_cost / UNIT)).collect();
        assert_eq!(resources, [("i-c", 20)]);
    }
}
