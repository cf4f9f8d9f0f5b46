//! The resolver: tag rules and a CMDB compiled into one function from a row's fields to its
//! dimension values, with the provenance of each value.
//!
//! [`Resolver::resolve`] is what the lake's view calls for every distinct combination of fields;
//! [`Resolver::explain`] is the same computation keeping every step, for `costpilot quality
//! --explain` and for rule hit counts. Both run one code path, so what is explained is what is
//! queried.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use regex::Regex;
use serde::Serialize;

use crate::cmdb::Cmdb;
use crate::error::RulesError;
use crate::tags::{Case, Field, TagRules, fold};

/// The fields of one lake row that rules read.
#[derive(Debug, Clone, Copy, Default)]
pub struct RowFields<'a> {
    /// SubAccountId.
    pub account_id: &'a str,
    /// SubAccountName.
    pub account_name: &'a str,
    /// ResourceId ("" when the row has none).
    pub resource_id: &'a str,
    /// ServiceName.
    pub service: &'a str,
    /// RegionId.
    pub region: &'a str,
    /// ChargeCategory.
    pub charge_category: &'a str,
    /// Tags (keys as the lake stores them).
    pub tags: &'a [(&'a str, &'a str)],
    /// x_CostCategories.
    pub cost_categories: &'a [(&'a str, &'a str)],
}

/// Where a dimension's value came from, highest precedence first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A tag on the resource.
    Tag,
    /// An AWS cost category.
    CostCategory,
    /// The CMDB's entry for the resource.
    CmdbResource,
    /// The CMDB's entry for the account.
    CmdbAccount,
    /// A virtual tag.
    Virtual,
    /// An account default.
    AccountDefault,
}

impl Source {
    /// How reports name it.
    pub fn label(self) -> &'static str {
        match self {
            Source::Tag => "tag",
            Source::CostCategory => "cost category",
            Source::CmdbResource => "CMDB resource",
            Source::CmdbAccount => "CMDB account",
            Source::Virtual => "virtual tag",
            Source::AccountDefault => "account default",
        }
    }
}

/// A rule as provenance and hit counts name it.
#[derive(Debug, Clone, Serialize)]
pub struct RuleInfo {
    /// Its index in [`Resolver::rules`].
    pub id: usize,
    /// Where it is in the rules file (`keys.team`, `values[1]`, `virtual[0]`, ...) or which
    /// built-in step it is.
    pub label: String,
}

/// One change a rule made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The rule ([`RuleInfo::id`]).
    pub rule: usize,
    /// The rule's label.
    pub label: String,
    /// What it did, in words.
    pub action: String,
    /// The text before.
    pub from: String,
    /// The text after (empty when the value was dropped).
    pub to: String,
}

/// A tag after key and value rules.
#[derive(Debug, Clone, Serialize)]
pub struct NormalisedTag {
    /// The key as stored.
    pub raw_key: String,
    /// The value as stored.
    pub raw_value: String,
    /// The canonical key.
    pub key: String,
    /// The canonical value; `None` when blank.
    pub value: Option<String>,
    /// Each change, in order.
    pub steps: Vec<Step>,
}

/// One dimension of one row, with its provenance.
#[derive(Debug, Clone, Serialize)]
pub struct Resolved {
    /// The dimension.
    pub dimension: String,
    /// The final value; `None` when nothing gives one.
    pub value: Option<String>,
    /// What gave it.
    pub source: Option<Source>,
    /// The rule that gave it (for virtual tags and account defaults, and the key of a tag or
    /// cost category).
    pub origin: Option<String>,
    /// The value as its source had it.
    pub raw: Option<String>,
    /// Every change from `raw` to `value`, key aliasing of a tag included.
    pub steps: Vec<Step>,
    /// Other candidates that were not used: (source, value), highest precedence first. Tags with
    /// another value for the same key are conflicts.
    pub shadowed: Vec<(Source, String)>,
}

/// Every dimension of a row, with the tags as the rules see them.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The tags after key and value rules.
    pub tags: Vec<NormalisedTag>,
    /// The dimensions, in the rules' order.
    pub dimensions: Vec<Resolved>,
}

impl Explanation {
    /// The rules that fired for the row, each once.
    pub fn fired(&self) -> BTreeSet<usize> {
        let tag_steps = self.tags.iter().flat_map(|t| &t.steps);
        let dim_steps = self.dimensions.iter().flat_map(|d| &d.steps);
        tag_steps.chain(dim_steps).map(|s| s.rule).collect()
    }

    /// Canonical keys that carry more than one distinct value on this row.
    pub fn conflicts(&self) -> Vec<(String, Vec<String>)> {
        let mut by_key: std::collections::BTreeMap<&str, BTreeSet<&str>> = Default::default();
        for t in &self.tags {
            if let Some(v) = &t.value {
                by_key.entry(&t.key).or_default().insert(v);
            }
        }
        by_key
            .into_iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(k, v)| (k.to_string(), v.into_iter().map(str::to_string).collect()))
            .collect()
    }
}

struct ValueRule {
    id: usize,
    trim: bool,
    case: Case,
    regex: Option<(Regex, String)>,
    map: HashMap<String, String>,
}

enum Produce {
    Template(Regex, String),
    Map(HashMap<String, String>),
}

struct VirtualTag {
    id: usize,
    dimension: usize,
    from: Field,
    produce: Produce,
}

enum AccountMatch {
    Id(String),
    Name(Regex),
}

struct AccountDefault {
    id: usize,
    account: AccountMatch,
    set: HashMap<String, String>,
}

/// Tag rules and a CMDB, compiled.
pub struct Resolver {
    dimensions: Vec<String>,
    owner: usize,
    order: Vec<usize>,
    aliases: HashMap<String, (String, usize)>,
    values: HashMap<String, Vec<ValueRule>>,
    virtual_tags: Vec<VirtualTag>,
    defaults: Vec<AccountDefault>,
    cmdb: Option<Cmdb>,
    rules: Vec<RuleInfo>,
    fold_rule: usize,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("dimensions", &self.dimensions)
            .field("rules", &self.rules.len())
            .finish()
    }
}

/// The rule ids of the built-in steps, first in [`Resolver::rules`].
const BUILT_IN: [&str; 1] = ["keys: matched without regard to case"];

impl Resolver {
    /// Compiles checked rules ([`TagRules::parse`]) and an optional CMDB. `path` names the rules
    /// file in errors (only rules built in code, not parsed, can fail here).
    pub fn new(rules: &TagRules, cmdb: Option<Cmdb>, path: &Path) -> Result<Resolver, RulesError> {
        let mut infos: Vec<RuleInfo> = Vec::new();
        let mut add = |label: String| {
            infos.push(RuleInfo { id: infos.len(), label });
            infos.len() - 1
        };
        let fold_rule = add(BUILT_IN[0].to_string());
        let compile =
            |re: &str| Regex::new(re).map_err(|e| RulesError::file(path, format!("bad regex '{re}': {e}")));
        let mut aliases = HashMap::new();
        for (canonical, targets) in &rules.keys {
            let id = add(format!("keys.{canonical}"));
            for alias in targets {
                if fold(alias) != fold(canonical) {
                    aliases.insert(fold(alias), (String::new(), id));
                }
            }
        }
        for (alias, canonical) in rules.alias_map() {
            if let Some(slot) = aliases.get_mut(&alias) {
                slot.0 = canonical;
            }
        }
        let mut values: HashMap<String, Vec<ValueRule>> = HashMap::new();
        for (i, v) in rules.values.iter().enumerate() {
            let id = add(format!("values[{i}] ({})", v.key));
            let regex = match (&v.regex, &v.replace) {
                (Some(re), Some(with)) => Some((compile(re)?, with.clone())),
                _ => None,
            };
            let map = v.map.iter().map(|(a, b)| (a.clone(), b.clone())).collect();
            values.entry(fold(&v.key)).or_default().push(ValueRule {
                id,
                trim: v.trim,
                case: v.case,
                regex,
                map,
            });
        }
        let dim_index = |d: &str| rules.dimensions.iter().position(|x| x == d);
        let mut virtual_tags = Vec::new();
        for (i, v) in rules.virtual_tags.iter().enumerate() {
            let label = match &v.name {
                Some(name) => format!("virtual[{i}] {name}"),
                None => format!("virtual[{i}]"),
            };
            let id = add(label);
            let dimension = dim_index(&v.dimension).ok_or_else(|| {
                RulesError::file(path, format!("'{}' is not one of the dimensions", v.dimension))
            })?;
            let from = Field::parse(&v.from)
                .ok_or_else(|| RulesError::file(path, format!("from '{}' is not a field", v.from)))?;
            let produce = match (&v.pattern, &v.value) {
                (Some(re), Some(value)) => Produce::Template(compile(re)?, value.clone()),
                _ => Produce::Map(v.map.iter().map(|(a, b)| (a.clone(), b.clone())).collect()),
            };
            virtual_tags.push(VirtualTag { id, dimension, from, produce });
        }
        let mut defaults = Vec::new();
        for (i, d) in rules.defaults.iter().enumerate() {
            let (label, account) = match (&d.account, &d.account_name) {
                (Some(id), _) => {
                    (format!("defaults[{i}] account {id}"), AccountMatch::Id(id.trim().to_string()))
                }
                (None, Some(glob)) => {
                    (format!("defaults[{i}] account name {glob}"), AccountMatch::Name(glob_regex(glob)))
                }
                (None, None) => return Err(RulesError::file(path, format!("defaults[{i}]: no account"))),
            };
            let id = add(label);
            defaults.push(AccountDefault { id, account, set: d.set.clone().into_iter().collect() });
        }
        let owner = dim_index(&rules.owner_dimension).ok_or_else(|| {
            RulesError::file(
                path,
                format!("owner_dimension '{}' is not one of the dimensions", rules.owner_dimension),
            )
        })?;
        let order = rules.resolution_order().iter().filter_map(|d| dim_index(d)).collect();
        Ok(Resolver {
            dimensions: rules.dimensions.clone(),
            owner,
            order,
            aliases,
            values,
            virtual_tags,
            defaults,
            cmdb,
            rules: infos,
            fold_rule,
        })
    }

    /// The dimensions, in the rules' order.
    pub fn dimensions(&self) -> &[String] {
        &self.dimensions
    }

    /// The index in [`Resolver::dimensions`] of the dimension that decides allocation.
    pub fn owner_index(&self) -> usize {
        self.owner
    }

    /// Every rule, by id.
    pub fn rules(&self) -> &[RuleInfo] {
        &self.rules
    }

    /// The CMDB in use.
    pub fn cmdb(&self) -> Option<&Cmdb> {
        self.cmdb.as_ref()
    }

    /// The canonical key of a stored key.
    pub fn canonical_key(&self, raw: &str) -> String {
        let folded = fold(raw);
        match self.aliases.get(&folded) {
            Some((canonical, _)) => canonical.clone(),
            None => folded,
        }
    }

    /// The canonical value of a stored value under `key`'s value rules; `None` when blank.
    pub fn canonical_value(&self, key: &str, raw: &str) -> Option<String> {
        self.value(key, raw, None)
    }

    /// Each dimension's value for a row, in [`Resolver::dimensions`] order.
    pub fn resolve(&self, row: &RowFields) -> Vec<Option<String>> {
        self.run(row, false).dimensions.into_iter().map(|d| d.value).collect()
    }

    /// Each dimension's value for a row, with every step that led to it.
    pub fn explain(&self, row: &RowFields) -> Explanation {
        self.run(row, true)
    }

    fn run(&self, row: &RowFields, trace: bool) -> Explanation {
        let tags: Vec<NormalisedTag> = row.tags.iter().map(|(k, v)| self.tag(k, v, trace)).collect();
        let categories: Vec<NormalisedTag> =
            row.cost_categories.iter().map(|(k, v)| self.tag(k, v, trace)).collect();
        let mut dims: Vec<Option<Resolved>> = vec![None; self.dimensions.len()];
        for &d in &self.order {
            let resolved = self.dimension(d, row, &tags, &categories, &dims, trace);
            dims[d] = Some(resolved);
        }
        Explanation {
            tags,
            dimensions: dims.into_iter().map(|d| d.expect("every dimension is in the order")).collect(),
        }
    }

    fn tag(&self, raw_key: &str, raw_value: &str, trace: bool) -> NormalisedTag {
        let mut steps = Vec::new();
        let folded = fold(raw_key);
        let key = match self.aliases.get(&folded) {
            Some((canonical, id)) => {
                if trace {
                    steps.push(self.step(*id, "key alias", raw_key, canonical));
                }
                canonical.clone()
            }
            None => {
                if trace && folded != raw_key {
                    steps.push(self.step(self.fold_rule, "key folded", raw_key, &folded));
                }
                folded
            }
        };
        let value = self.value(&key, raw_value, trace.then_some(&mut steps));
        NormalisedTag { raw_key: raw_key.to_string(), raw_value: raw_value.to_string(), key, value, steps }
    }

    /// Applies the value rules of `key` to `raw`; `None` when the result is blank.
    fn value(&self, key: &str, raw: &str, mut steps: Option<&mut Vec<Step>>) -> Option<String> {
        let mut value = raw.to_string();
        for rule in self.values.get(key).into_iter().flatten() {
            let mut change = |action: &str, next: String, value: &mut String| {
                if next != *value {
                    if let Some(steps) = steps.as_deref_mut() {
                        steps.push(self.step(rule.id, action, value, &next));
                    }
                    *value = next;
                }
            };
            if rule.trim {
                change("trim", value.trim().to_string(), &mut value);
            }
            match rule.case {
                Case::Lower => change("lower-case", value.to_lowercase(), &mut value),
                Case::Upper => change("upper-case", value.to_uppercase(), &mut value),
                Case::Keep => {}
            }
            if let Some((re, with)) = &rule.regex {
                let next = re.replace(&value, with.as_str()).into_owned();
                change("regex", next, &mut value);
            }
            if let Some(next) = rule.map.get(&value) {
                change("value map", next.clone(), &mut value);
            }
        }
        (!value.trim().is_empty()).then_some(value)
    }

    fn step(&self, rule: usize, action: &str, from: &str, to: &str) -> Step {
        Step {
            rule,
            label: self.rules[rule].label.clone(),
            action: action.to_string(),
            from: from.to_string(),
            to: to.to_string(),
        }
    }

    fn dimension(
        &self,
        d: usize,
        row: &RowFields,
        tags: &[NormalisedTag],
        categories: &[NormalisedTag],
        done: &[Option<Resolved>],
        trace: bool,
    ) -> Resolved {
        let name = &self.dimensions[d];
        let mut candidates: Vec<Resolved> = Vec::new();
        // Without a trace the first candidate with a value decides; with one, every candidate is
        // gathered so the explanation shows what the winner shadowed.
        macro_rules! offer {
            ($c:expr) => {{
                let c = $c;
                let decided = c.value.is_some() && !trace;
                candidates.push(c);
                if decided {
                    return self.pick(name, candidates);
                }
            }};
        }
        let from_tag = |t: &NormalisedTag, source: Source| Resolved {
            dimension: name.clone(),
            value: t.value.clone(),
            source: Some(source),
            origin: Some(t.raw_key.clone()),
            raw: Some(t.raw_value.clone()),
            steps: t.steps.clone(),
            shadowed: Vec::new(),
        };
        // A tag spelled exactly as the canonical key wins over its aliases.
        let mut matching: Vec<&NormalisedTag> =
            tags.iter().filter(|t| t.key == *name && t.value.is_some()).collect();
        matching.sort_by_key(|t| t.raw_key != *name);
        for t in matching {
            offer!(from_tag(t, Source::Tag));
        }
        for t in categories.iter().filter(|t| t.key == *name && t.value.is_some()) {
            offer!(from_tag(t, Source::CostCategory));
        }
        if let Some(c) = &self.cmdb {
            let resource = if row.resource_id.is_empty() { None } else { c.resource(row.resource_id) };
            for (source, entry) in
                [(Source::CmdbResource, resource), (Source::CmdbAccount, c.account(row.account_id))]
            {
                let Some(entry) = entry else { continue };
                let Some(raw) = entry.values.get(name.as_str()) else { continue };
                let origin = format!("{} row {}", c.path().display(), entry.row);
                offer!(self.derived(name, source, origin, raw, trace));
            }
        }
        for v in self.virtual_tags.iter().filter(|v| v.dimension == d) {
            let input: Option<String> = match &v.from {
                Field::Row(f) => Some(row_field(row, f).to_string()),
                Field::Tag(k) => tags.iter().find(|t| t.key == *k).and_then(|t| t.value.clone()),
                Field::Dimension(x) => self
                    .dimensions
                    .iter()
                    .position(|n| n == x)
                    .and_then(|i| done[i].as_ref())
                    .and_then(|r| r.value.clone()),
            };
            let Some(input) = input else { continue };
            let produced = match &v.produce {
                Produce::Template(re, template) => re.captures(&input).map(|c| {
                    let mut out = String::new();
                    c.expand(template, &mut out);
                    out
                }),
                Produce::Map(map) => map.get(&input).cloned(),
            };
            if let Some(raw) = produced {
                let mut r = self.derived(name, Source::Virtual, self.rules[v.id].label.clone(), &raw, trace);
                if trace {
                    r.steps.insert(0, self.step(v.id, "virtual tag", &input, &raw));
                }
                offer!(r);
            }
        }
        for a in &self.defaults {
            let hit = match &a.account {
                AccountMatch::Id(id) => id == row.account_id,
                AccountMatch::Name(re) => re.is_match(row.account_name),
            };
            if let (true, Some(raw)) = (hit, a.set.get(name.as_str())) {
                let mut r =
                    self.derived(name, Source::AccountDefault, self.rules[a.id].label.clone(), raw, trace);
                if trace {
                    r.steps.insert(0, self.step(a.id, "account default", row.account_id, raw));
                }
                offer!(r);
            }
        }
        self.pick(name, candidates)
    }

    fn derived(&self, name: &str, source: Source, origin: String, raw: &str, trace: bool) -> Resolved {
        let mut steps = Vec::new();
        let value = self.value(name, raw, trace.then_some(&mut steps));
        Resolved {
            dimension: name.to_string(),
            value,
            source: Some(source),
            origin: Some(origin),
            raw: Some(raw.to_string()),
            steps,
            shadowed: Vec::new(),
        }
    }

    /// The first candidate, with the others as what it shadowed.
    fn pick(&self, name: &str, candidates: Vec<Resolved>) -> Resolved {
        let mut it = candidates.into_iter().filter(|c| c.value.is_some());
        match it.next() {
            Some(mut first) => {
                first.shadowed = it.filter_map(|c| Some((c.source?, c.value?))).collect();
                first
            }
            None => Resolved {
                dimension: name.to_string(),
                value: None,
                source: None,
                origin: None,
                raw: None,
                steps: Vec::new(),
                shadowed: Vec::new(),
            },
        }
    }
}

fn row_field<'a>(row: &RowFields<'a>, field: &str) -> &'a str {
    match field {
        "account_id" => row.account_id,
        "account_name" => row.account_name,
        "resource_id" => row.resource_id,
        "service" => row.service,
        "region" => row.region,
        "charge_category" => row.charge_category,
        _ => "",
    }
}

/// A glob with `*` as the only wildcard, as an anchored regex.
fn glob_regex(glob: &str) -> Regex {
    let parts: Vec<String> = glob.split('*').map(regex::escape).collect();
    Regex::new(&format!("^{}$", parts.join(".*"))).expect("escaped text is a valid regex")
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = r#"
version: 1
keys:
  team: [owner-team]
  environment: [env]
values:
  - key: team
    case: lower
  - key: environment
    case: lower
    map: {production: prod}
virtual:
  - name: bu of management accounts
    dimension: business_unit
    from: account_name
    match: '-management$'
    value: Platform
  - dimension: business_unit
    from: dimension:team
    map: {payments: Payments}
  - dimension: application
    from: resource_id
    match: '^arn:aws:sagemaker:[^:]+:[0-9]+:endpoint/(.+)$'
    value: '$1'
defaults:
  - account_name: 'log-archive*'
    set: {team: platform, environment: Production}
"#;

    fn resolver(cmdb: Option<Cmdb>) -> Resolver {
        let rules = TagRules::parse(RULES, Path::new("tags.yaml")).unwrap();
        Resolver::new(&rules, cmdb, Path::new("tags.yaml")).unwrap()
    }

    fn value<'a>(e: &'a Explanation, d: &str) -> Option<&'a str> {
        e.dimensions.iter().find(|r| r.dimension == d).and_then(|r| r.value.as_deref())
    }

    #[test]
    fn aliases_case_and_value_maps_apply_with_steps() {
        let r = resolver(None);
        let tags = [("Owner-Team", " Payments "), ("ENV", "Production")];
        let row = RowFields { account_id: "1", tags: &tags, ..Default::default() };
        let e = r.explain(&row);
        assert_eq!(value(&e, "team"), Some("payments"));
        assert_eq!(value(&e, "environment"), Some("prod"));
        assert_eq!(value(&e, "business_unit"), Some("Payments"));
        let team = &e.dimensions[0];
        assert_eq!(team.source, Some(Source::Tag));
        assert_eq!(team.raw.as_deref(), Some(" Payments "));
        let actions: Vec<(&str, &str, &str)> =
            team.steps.iter().map(|s| (s.action.as_str(), s.from.as_str(), s.to.as_str())).collect();
        assert_eq!(
            actions,
            [
                ("key alias", "Owner-Team", "team"),
                ("trim", " Payments ", "Payments"),
                ("lower-case", "Payments", "payments")
            ]
        );
        assert_eq!(r.resolve(&row), e.dimensions.iter().map(|d| d.value.clone()).collect::<Vec<_>>());
    }

    #[test]
    fn precedence_is_tag_then_cost_category_then_cmdb_then_virtual_then_default() {
        let cmdb = Cmdb::from_csv(
            "kind,id,team,business_unit,environment\naccount,42,search,Discovery,dev\nresource,i-1,ledger,Finance,\n",
            Path::new("cmdb.csv"),
        )
        .unwrap();
        let r = resolver(Some(cmdb));
        let tags = [("team", "checkout")];
        let cc = [("business_unit", "Retail")];
        let full = RowFields {
            account_id: "42",
            account_name: "log-archive-2",
            resource_id: "i-1",
            tags: &tags,
            cost_categories: &cc,
            ..Default::default()
        };
        let e = r.explain(&full);
        let team = &e.dimensions[0];
        assert_eq!((team.value.as_deref(), team.source), (Some("checkout"), Some(Source::Tag)));
        assert_eq!(
            team.shadowed,
            [
                (Source::CmdbResource, "ledger".to_string()),
                (Source::CmdbAccount, "search".to_string()),
                (Source::AccountDefault, "platform".to_string())
            ]
        );
        let bu = &e.dimensions[1];
        assert_eq!((bu.value.as_deref(), bu.source), (Some("Retail"), Some(Source::CostCategory)));
        let no_tags = RowFields { tags: &[], cost_categories: &[], ..full };
        let e = r.explain(&no_tags);
        assert_eq!(
            (e.dimensions[0].value.as_deref(), e.dimensions[0].source),
            (Some("ledger"), Some(Source::CmdbResource))
        );
        assert_eq!(value(&e, "business_unit"), Some("Finance"));
        let other_resource = RowFields { resource_id: "i-2", ..no_tags };
        let e = r.explain(&other_resource);
        assert_eq!(
            (e.dimensions[0].value.as_deref(), e.dimensions[0].source),
            (Some("search"), Some(Source::CmdbAccount))
        );
        assert_eq!(value(&e, "environment"), Some("dev"));
        let unknown_account = RowFields { account_id: "7", ..other_resource };
        let e = r.explain(&unknown_account);
        assert_eq!(e.dimensions[0].source, Some(Source::AccountDefault));
        assert_eq!(value(&e, "team"), Some("platform"));
        assert_eq!(value(&e, "environment"), Some("prod"), "value rules apply to defaults too");
        assert_eq!(value(&e, "business_unit"), None);
    }

    #[test]
    fn virtual_tags_read_fields_and_other_dimensions() {
        let r = resolver(None);
        let row = RowFields {
            account_name: "example-corp-management",
            resource_id: "arn:aws:sagemaker:us-east-1:123456789012:endpoint/support-assistant",
            ..Default::default()
        };
        let e = r.explain(&row);
        assert_eq!(value(&e, "business_unit"), Some("Platform"));
        assert_eq!(value(&e, "application"), Some("support-assistant"));
        let bu = &e.dimensions[1];
        assert_eq!(bu.origin.as_deref(), Some("virtual[0] bu of management accounts"));
        assert!(e.fired().contains(&bu.steps[0].rule));
    }

    #[test]
    fn conflicting_tags_are_reported_and_the_canonical_spelling_wins() {
        let r = resolver(None);
        let tags = [("owner-team", "ledger"), ("Team", "payments"), ("team", "checkout")];
        let row = RowFields { tags: &tags, ..Default::default() };
        let e = r.explain(&row);
        assert_eq!(value(&e, "team"), Some("checkout"));
        assert_eq!(
            e.conflicts(),
            [("team".to_string(), vec!["checkout".into(), "ledger".into(), "payments".into()])]
        );
    }

    #[test]
    fn blank_values_are_absent() {
        let r = resolver(None);
        let tags = [("team", "  ")];
        let row = RowFields { tags: &tags, ..Default::default() };
        assert_eq!(r.resolve(&row)[0], None);
    }
}
