//! Suggested tag rules for `costpilot quality --suggest`: alias and value rules read off the
//! data, each with the cost it would allocate, written as a rules file for a person to review.
//! Nothing is ever applied automatically.
//!
//! The caller aggregates lake rows sharing tags into [`TagObservation`]s. The heuristics run in
//! three rounds, each on the keys and values as the rules of the rounds before leave them (the
//! current rules, then with the suggested aliases, then with the suggested case rules), so nothing
//! a rule already covers is suggested again and value rules see the values aliases bring in:
//!
//! 1. **Aliases by spelling.** Canonical keys that are equal once the separators `-`, `_`, ` `,
//!    `.` and `:` are removed become one key: the dimension among them (which need not occur in
//!    the data), else the spelling carrying the most cost.
//! 2. **Aliases by co-occurrence.** A key that never has a value on the same observation as a
//!    dimension's key, and at least 80 % of whose distinct values (under the dimension's value
//!    rules, then trimmed and lower-cased) are values of that dimension, or whose name holds the
//!    dimension's name as a word (`owner-team`: teams that spell the key their own way tag their
//!    own names, so the values need not overlap), is an alias of the dimension (the best share wins when
//!    several qualify). Dimensions, `aws:` keys and keys aliased in round 1 are left alone.
//! 3. **Case.** A key with values equal after trimming and lower-casing (`Payments`,
//!    ` payments`) gets a rule that trims and lower-cases first.
//! 4. **Value maps.** A value one typo away (optimal string alignment distance 1: one letter
//!    added, dropped, changed, or two neighbours swapped; after case folding, both at least four
//!    characters) from a value of the same key carrying at least five times its cost maps to it.
//!    Values that differ only in digits (`CC-1100`, `CC-1400`) are distinct identifiers, not
//!    typos, and `aws:` keys hold identifiers AWS writes, so neither is mapped. For keys `environment` and `env`, built-in synonyms (`production`,
//!    `prd` → `prod`; `development`, `develop` → `dev`; `stage`, `stg` → `staging`) map to
//!    whichever spelling of the group carries the most cost in the data, so the rules keep the
//!    organisation's own word.
//!
//! A suggestion's cost is, for the owner dimension's key, the cost of unallocated observations
//! carrying one of its keys or values with a non-blank value (the cost it would allocate); for
//! any other key, the cost of every observation carrying one (the cost whose attribution
//! changes). Amounts of different currencies are never added: costs are reported per currency,
//! and where heuristics compare or order costs they compare them currency by currency, the
//! currency with the most rows first.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::resolve::Resolver;
use crate::tags::{Case, TAGS_FILE, TagRules, ValueRule, fold};
use costpilot_model::money::format_units;
use serde::Serialize;

/// Characters that separate the words of a key.
const SEPARATORS: [char; 5] = ['-', '_', ' ', '.', ':'];

/// Keys whose values the environment synonyms apply to.
const ENVIRONMENT_KEYS: [&str; 2] = ["environment", "env"];

/// Spellings of one environment each.
const ENVIRONMENT_SYNONYMS: [&[&str]; 3] =
    [&["prod", "production", "prd"], &["dev", "development", "develop"], &["staging", "stage", "stg"]];

/// One group of lake rows sharing tags (the caller aggregates them with SQL).
#[derive(Debug, Clone)]
pub struct TagObservation {
    /// Raw keys and values as stored.
    pub tags: Vec<(String, String)>,
    /// ISO 4217 code of `cost`.
    pub currency: String,
    /// Σ EffectiveCost in units of 10^-15 ([`costpilot_model::MONEY_SCALE`]).
    pub cost: i128,
    /// The rows aggregated.
    pub rows: u64,
    /// The rows' ResourceId; "" when none.
    pub resource_id: String,
    /// Whether the owner dimension has a value under the current rules.
    pub allocated: bool,
}

/// What a suggestion changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SuggestionKind {
    /// Other spellings of a key (`keys:`).
    Alias,
    /// Trim and lower-case a key's values first (`values:` with `case: lower`).
    ValueCase,
    /// Whole-value replacements (`values:` with `map:`).
    ValueMap,
}

impl SuggestionKind {
    fn label(self) -> &'static str {
        match self {
            SuggestionKind::Alias => "alias",
            SuggestionKind::ValueCase => "value case",
            SuggestionKind::ValueMap => "value map",
        }
    }
}

/// An amount in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrencyCost {
    /// ISO 4217 code.
    pub currency: String,
    /// Exact decimal text with two places, rounded half away from zero.
    pub amount: String,
}

/// One proposed rule with its evidence and what it would change.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    /// What it changes.
    pub kind: SuggestionKind,
    /// The canonical key the rule is for.
    pub key: String,
    /// The alias spellings, or the values that change.
    pub from: Vec<String>,
    /// The canonical key, the canonical value, or "lower" for [`SuggestionKind::ValueCase`].
    pub to: String,
    /// The evidence, in one sentence.
    pub reason: String,
    /// The cost it would allocate (owner dimension) or whose attribution changes (other keys),
    /// per currency, sorted by currency.
    pub cost: Vec<CurrencyCost>,
    /// The rows behind `cost`.
    pub rows: u64,
    /// Distinct resources behind `cost`.
    pub resources: u64,
}

/// Every suggestion, and the rules with all of them merged in.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestions {
    /// Sorted by cost, largest first, then by key.
    pub items: Vec<Suggestion>,
    /// The current rules with every suggestion merged in.
    pub rules: TagRules,
}

/// A suggestion with its cost in currency-rank order, for sorting.
type Ranked = (Vec<i128>, Suggestion);

/// Proposes alias and value rules for what `current` (compiled as `resolver`) leaves unresolved
/// in `observations`.
///
/// # Panics
/// When `current` does not compile, i.e. is not the rules `resolver` was compiled from.
pub fn suggest(current: &TagRules, resolver: &Resolver, observations: &[TagObservation]) -> Suggestions {
    let currencies = rank_currencies(observations);
    let mut rules = current.clone();
    let mut found: Vec<Ranked> = Vec::new();
    let rounds: [fn(&Stage) -> Vec<Ranked>; 3] = [aliases, case_rules, value_maps];
    for (round, heuristic) in rounds.into_iter().enumerate() {
        let compiled;
        let resolver = if round == 0 {
            resolver
        } else {
            compiled = Resolver::new(&rules, None, Path::new(TAGS_FILE))
                .expect("rules that compiled compile again with aliases and value rules added");
            &compiled
        };
        let new = heuristic(&Stage::new(resolver, &currencies, observations));
        for (_, s) in &new {
            merge(&mut rules, s);
        }
        found.extend(new);
    }
    found.sort_by(|(wa, a), (wb, b)| {
        wb.cmp(wa)
            .then_with(|| a.key.cmp(&b.key))
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.to.cmp(&b.to))
            .then_with(|| a.from.cmp(&b.from))
    });
    Suggestions { items: found.into_iter().map(|(_, s)| s).collect(), rules }
}

impl Suggestions {
    /// A complete rules file for review: a comment block listing each suggestion (kind, key,
    /// from → to, reason, cost per currency, rows, resources) and how to accept it, then
    /// [`Suggestions::rules`] as YAML, which [`TagRules::parse`] reads.
    pub fn to_yaml(&self) -> String {
        let mut lines = vec![
            "Tag rules suggested by `costpilot quality --suggest`. Nothing here is in force yet.".to_string(),
            "Review each suggestion, edit or delete the rules you do not want, then accept the file"
                .to_string(),
            "with `costpilot rules apply tags <file>`.".to_string(),
            String::new(),
        ];
        if self.items.is_empty() {
            lines.push("No suggestions: the current rules already cover the data.".to_string());
        }
        for (i, s) in self.items.iter().enumerate() {
            let from: Vec<String> = s.from.iter().map(|f| format!("'{f}'")).collect();
            let to = match s.kind {
                SuggestionKind::ValueCase => "lower case".to_string(),
                _ => format!("'{}'", s.to),
            };
            let effect = if s.key == self.rules.owner_dimension {
                "would allocate"
            } else {
                "changes the attribution of"
            };
            let cost: Vec<String> = s.cost.iter().map(|c| format!("{} {}", c.currency, c.amount)).collect();
            let cost = if cost.is_empty() { "nothing".to_string() } else { cost.join(", ") };
            lines.push(format!("{}. {} for '{}': {} → {to}", i + 1, s.kind.label(), s.key, from.join(", ")));
            lines.push(format!("   {}", s.reason));
            lines.push(format!("   {effect} {cost} ({} rows, {} resources)", s.rows, s.resources));
        }
        let mut out = String::new();
        for line in lines {
            // Tag keys and values may hold line breaks, which would end the comment.
            let line: String = line.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            out.push_str(format!("# {line}").trim_end());
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.rules.to_yaml());
        out
    }
}

/// Currencies by rows, most first, then by code: the order costs are compared in.
fn rank_currencies(observations: &[TagObservation]) -> Vec<String> {
    let mut rows: BTreeMap<&str, u64> = BTreeMap::new();
    for o in observations {
        *rows.entry(&o.currency).or_default() += o.rows;
    }
    let mut ranked: Vec<(&str, u64)> = rows.into_iter().collect();
    ranked.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    ranked.into_iter().map(|(c, _)| c.to_string()).collect()
}

/// Cost, rows and resources of a set of observations.
#[derive(Default)]
struct Tally<'a> {
    cost: BTreeMap<&'a str, i128>,
    rows: u64,
    resources: BTreeSet<&'a str>,
}

impl<'a> Tally<'a> {
    fn add(&mut self, o: &'a TagObservation) {
        *self.cost.entry(&o.currency).or_default() += o.cost;
        self.rows += o.rows;
        if !o.resource_id.is_empty() {
            self.resources.insert(&o.resource_id);
        }
    }
}

/// A tag as one round's rules see it.
struct Tag<'a> {
    /// The canonical key, folded as the resolver looks up value rules.
    key: String,
    raw: &'a str,
    /// The canonical value; `None` when blank.
    value: Option<String>,
}

/// The observations under one round's rules.
struct Stage<'a> {
    resolver: &'a Resolver,
    currencies: &'a [String],
    rows: Vec<(&'a TagObservation, Vec<Tag<'a>>)>,
}

impl<'a> Stage<'a> {
    fn new(resolver: &'a Resolver, currencies: &'a [String], observations: &'a [TagObservation]) -> Self {
        let rows = observations
            .iter()
            .map(|o| {
                let tags = o
                    .tags
                    .iter()
                    .map(|(k, v)| {
                        let key = fold(&resolver.canonical_key(k));
                        let value = resolver.canonical_value(&key, v);
                        Tag { key, raw: v, value }
                    })
                    .collect();
                (o, tags)
            })
            .collect();
        Stage { resolver, currencies, rows }
    }

    fn dimensions(&self) -> &'a [String] {
        self.resolver.dimensions()
    }

    fn is_dimension(&self, key: &str) -> bool {
        self.dimensions().iter().any(|d| d == key)
    }

    fn owner(&self) -> &'a str {
        &self.dimensions()[self.resolver.owner_index()]
    }

    /// A tally's cost in currency-rank order, for comparisons that never add currencies.
    fn weight(&self, tally: &Tally) -> Vec<i128> {
        self.currencies.iter().map(|c| tally.cost.get(c.as_str()).copied().unwrap_or(0)).collect()
    }

    /// Each key with a non-blank value, with the observations carrying it.
    fn by_key(&self) -> BTreeMap<&str, Tally<'a>> {
        let mut out: BTreeMap<&str, Tally<'a>> = BTreeMap::new();
        for (o, tags) in &self.rows {
            let keys: BTreeSet<&str> =
                tags.iter().filter(|t| t.value.is_some()).map(|t| t.key.as_str()).collect();
            for key in keys {
                out.entry(key).or_default().add(o);
            }
        }
        out
    }

    /// Each (key, canonical value), with the observations carrying it.
    fn by_value(&self) -> BTreeMap<(&str, &str), Tally<'a>> {
        let mut out: BTreeMap<(&str, &str), Tally<'a>> = BTreeMap::new();
        for (o, tags) in &self.rows {
            let pairs: BTreeSet<(&str, &str)> =
                tags.iter().filter_map(|t| Some((t.key.as_str(), t.value.as_deref()?))).collect();
            for pair in pairs {
                out.entry(pair).or_default().add(o);
            }
        }
        out
    }

    /// A suggestion with its cost measured over this round's observations.
    fn found(&self, kind: SuggestionKind, key: &str, from: Vec<String>, to: &str, reason: String) -> Ranked {
        let carries = |t: &Tag| match kind {
            SuggestionKind::Alias => {
                from.contains(&t.key) && self.resolver.canonical_value(to, t.raw).is_some()
            }
            SuggestionKind::ValueCase | SuggestionKind::ValueMap => {
                t.key == key && t.value.as_ref().is_some_and(|v| from.contains(v))
            }
        };
        let owner = key == self.owner();
        let mut tally = Tally::default();
        for (o, tags) in &self.rows {
            if !(owner && o.allocated) && tags.iter().any(&carries) {
                tally.add(o);
            }
        }
        let cost = tally
            .cost
            .iter()
            .map(|(c, units)| CurrencyCost { currency: c.to_string(), amount: format_units(*units, 2) })
            .collect();
        let suggestion = Suggestion {
            kind,
            key: key.to_string(),
            from,
            to: to.to_string(),
            reason,
            cost,
            rows: tally.rows,
            resources: tally.resources.len() as u64,
        };
        (self.weight(&tally), suggestion)
    }
}

/// A key without separators, as heuristic 1 compares spellings.
fn squash(key: &str) -> String {
    fold(key).chars().filter(|c| !SEPARATORS.contains(c)).collect()
}

/// Heuristics 1 and 2.
fn aliases(stage: &Stage) -> Vec<Ranked> {
    let keys = stage.by_key();
    let mut found = spelling_aliases(stage, &keys);
    let taken: BTreeSet<String> = found.iter().flat_map(|(_, s)| s.from.iter().cloned()).collect();
    found.extend(co_occurrence_aliases(stage, &keys, &taken));
    found
}

fn spelling_aliases(stage: &Stage, keys: &BTreeMap<&str, Tally>) -> Vec<Ranked> {
    let dimensions = stage.dimensions();
    // A dimension that is itself an alias is covered already; leaving it out also keeps the
    // suggested aliases free of cycles.
    let canonical_dimensions =
        dimensions.iter().filter(|d| stage.resolver.canonical_key(d) == **d).map(String::as_str);
    let mut groups: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for key in canonical_dimensions.chain(keys.keys().copied()) {
        groups.entry(squash(key)).or_default().insert(key);
    }
    groups
        .into_values()
        .filter_map(|members| {
            let to = match dimensions.iter().find(|d| members.contains(d.as_str())) {
                Some(d) => d.as_str(),
                None => members.iter().copied().max_by(|a, b| {
                    stage.weight(&keys[a]).cmp(&stage.weight(&keys[b])).then_with(|| b.cmp(a))
                })?,
            };
            let from: Vec<String> = members
                .iter()
                .filter(|m| **m != to && !stage.is_dimension(m))
                .map(|m| m.to_string())
                .collect();
            let reason = format!("differs from '{to}' only by separators");
            (!from.is_empty()).then(|| stage.found(SuggestionKind::Alias, to, from, to, reason))
        })
        .collect()
}

fn co_occurrence_aliases(
    stage: &Stage,
    keys: &BTreeMap<&str, Tally>,
    taken: &BTreeSet<String>,
) -> Vec<Ranked> {
    let mut together: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut raw_values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (_, tags) in &stage.rows {
        let present: BTreeSet<&str> =
            tags.iter().filter(|t| t.value.is_some()).map(|t| t.key.as_str()).collect();
        for t in tags {
            raw_values.entry(t.key.as_str()).or_default().insert(t.raw);
        }
        for d in present.iter().filter(|d| stage.is_dimension(d)) {
            together.extend(present.iter().map(|k| (*k, *d)));
        }
    }
    // Values are compared folded (trimmed, lower-cased) as well: drift in case and space is
    // heuristic 3's to fix, and must not hide that two keys hold the same names.
    let values_under = |key: &str, dimension: &str| -> BTreeSet<String> {
        let raw = raw_values.get(key).into_iter().flatten();
        raw.filter_map(|v| stage.resolver.canonical_value(dimension, v)).map(|v| fold(&v)).collect()
    };
    let dimension_values: Vec<(&str, BTreeSet<String>)> = stage
        .dimensions()
        .iter()
        .map(|d| (d.as_str(), values_under(d, d)))
        .filter(|(_, values)| !values.is_empty())
        .collect();
    keys.keys()
        .filter(|k| !stage.is_dimension(k) && !k.starts_with("aws:") && !taken.contains(**k))
        .filter_map(|&key| {
            let words: Vec<&str> = key.split(SEPARATORS).collect();
            let named = |d: &str| {
                let d_words: Vec<&str> = d.split(SEPARATORS).collect();
                words.windows(d_words.len()).any(|w| w == d_words)
            };
            // Ranked by (named, share of values); a key named after the dimension qualifies
            // whatever its values, since teams that spell the key differently tag their own names.
            let mut best: Option<(bool, usize, usize, &str)> = None;
            for (d, d_values) in &dimension_values {
                if together.contains(&(key, *d)) {
                    continue;
                }
                let values = values_under(key, d);
                let shared = values.intersection(d_values).count();
                let is_named = named(d);
                let enough = !values.is_empty() && (is_named || shared * 5 >= values.len() * 4);
                let better = |(n, s, t, _): (bool, usize, usize, &str)| {
                    (is_named, shared * t) > (n, s * values.len())
                };
                if enough && best.is_none_or(better) {
                    best = Some((is_named, shared, values.len(), *d));
                }
            }
            let (is_named, shared, total, d) = best?;
            let named = if is_named { format!("its name contains the word '{d}'; ") } else { String::new() };
            let reason = format!(
                "{named}never on the same resource as '{d}'; {shared} of its {total} values are values of '{d}'"
            );
            Some(stage.found(SuggestionKind::Alias, d, vec![key.to_string()], d, reason))
        })
        .collect()
}

/// Heuristic 3.
fn case_rules(stage: &Stage) -> Vec<Ranked> {
    let values = stage.by_value();
    let mut by_key: BTreeMap<&str, BTreeMap<String, Vec<&str>>> = BTreeMap::new();
    for &(key, value) in values.keys() {
        by_key.entry(key).or_default().entry(fold(value)).or_default().push(value);
    }
    by_key
        .into_iter()
        .filter(|(key, _)| !key.starts_with("aws:"))
        .filter_map(|(key, groups)| {
            let example = groups
                .values()
                .filter(|spellings| spellings.len() > 1)
                .max_by_key(|spellings| spellings.iter().map(|v| stage.weight(&values[&(key, *v)])).max())?;
            let mut from: Vec<String> =
                groups.values().flatten().filter(|v| fold(v) != **v).map(|v| v.to_string()).collect();
            from.sort();
            let quoted: Vec<String> = example.iter().map(|v| format!("'{v}'")).collect();
            let reason = format!("{} differ only by case or surrounding space", quoted.join(", "));
            Some(stage.found(SuggestionKind::ValueCase, key, from, "lower", reason))
        })
        .collect()
}

/// A value of one key as heuristic 4 compares it.
struct Candidate<'v> {
    value: &'v str,
    folded: String,
    chars: usize,
    weight: Vec<i128>,
}

/// Heuristic 4.
fn value_maps(stage: &Stage) -> Vec<Ranked> {
    let values = stage.by_value();
    let keys = stage.by_key();
    let mut by_key: BTreeMap<&str, Vec<Candidate>> = BTreeMap::new();
    for (&(key, value), tally) in &values {
        let folded = fold(value);
        let chars = folded.chars().count();
        by_key.entry(key).or_default().push(Candidate { value, folded, chars, weight: stage.weight(tally) });
    }
    let zero = vec![0; stage.currencies.len()];
    let mut found = Vec::new();
    for (key, mut candidates) in by_key.into_iter().filter(|(k, _)| !k.starts_with("aws:")) {
        candidates.sort_by(|a, b| b.weight.cmp(&a.weight).then_with(|| a.value.cmp(b.value)));
        let mut mapped: BTreeSet<&str> = BTreeSet::new();
        let mut targets: BTreeSet<&str> = BTreeSet::new();
        if ENVIRONMENT_KEYS.contains(&key) {
            for group in ENVIRONMENT_SYNONYMS {
                let members: Vec<&str> = candidates
                    .iter()
                    .filter(|c| group.contains(&c.folded.as_str()))
                    .map(|c| c.value)
                    .collect();
                if let [to, from @ ..] = members.as_slice()
                    && !from.is_empty()
                {
                    mapped.extend(from);
                    targets.insert(to);
                    let reason = format!(
                        "built-in synonyms of the environment '{to}', its spelling with the most cost"
                    );
                    let mut from: Vec<String> = from.iter().map(|v| v.to_string()).collect();
                    from.sort();
                    found.push(stage.found(SuggestionKind::ValueMap, key, from, to, reason));
                }
            }
        }
        // Values are visited heaviest first, so every possible target of a value has been seen;
        // a value that maps elsewhere is never a target, which keeps maps free of chains.
        let mut kept: Vec<&Candidate> = Vec::new();
        let mut near: BTreeMap<&str, (Vec<String>, usize)> = BTreeMap::new();
        for c in &candidates {
            if mapped.contains(c.value) {
                continue;
            }
            let five: Vec<i128> = c.weight.iter().map(|x| x.saturating_mul(5)).collect();
            let nearest = (c.chars >= 4 && !targets.contains(c.value))
                .then(|| {
                    // The cheap tests first: a key may have a value per resource.
                    kept.iter()
                        .filter(|w| w.chars >= 4 && w.chars.abs_diff(c.chars) <= 2)
                        .filter(|w| w.weight > zero && w.weight >= five)
                        .filter(|w| digits_masked(&w.folded) != digits_masked(&c.folded))
                        .map(|w| (w.value, strsim::osa_distance(&c.folded, &w.folded)))
                        .filter(|&(_, distance)| distance <= 1)
                        .min_by_key(|&(_, distance)| distance)
                })
                .flatten();
            match nearest {
                Some((w, distance)) => {
                    let entry = near.entry(w).or_default();
                    entry.0.push(c.value.to_string());
                    entry.1 = entry.1.max(distance);
                }
                None => kept.push(c),
            }
        }
        for (w, (mut from, distance)) in near {
            from.sort();
            let share = share(stage, &values[&(key, w)], &keys[key]);
            let reason = format!("within edit distance {distance} of '{w}'{share}");
            found.push(stage.found(SuggestionKind::ValueMap, key, from, w, reason));
        }
    }
    found
}

/// The text with every ASCII digit made `0`: equal for values that differ only in digits.
fn digits_masked(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_digit() { '0' } else { c }).collect()
}

/// " (97% of this key's USD cost)", in the first ranked currency where `part` has cost.
fn share(stage: &Stage, part: &Tally, whole: &Tally) -> String {
    stage
        .currencies
        .iter()
        .find_map(|c| {
            let part = part.cost.get(c.as_str()).copied().filter(|p| *p != 0)?;
            let percent = part.saturating_mul(100).checked_div(*whole.cost.get(c.as_str())?)?;
            Some(format!(" ({percent}% of this key's {c} cost)"))
        })
        .unwrap_or_default()
}

/// Adds one suggestion to `rules`.
fn merge(rules: &mut TagRules, s: &Suggestion) {
    let of_key = |r: &ValueRule| fold(&r.key) == s.key;
    match s.kind {
        SuggestionKind::Alias => {
            let canonical =
                rules.keys.keys().find(|k| fold(k) == s.to).cloned().unwrap_or_else(|| s.to.clone());
            let aliases = rules.keys.entry(canonical).or_default();
            aliases.extend(s.from.iter().cloned());
            aliases.sort();
            aliases.dedup();
        }
        SuggestionKind::ValueCase => {
            let first = rules.values.iter().position(of_key);
            let covered = first.is_some_and(|i| {
                let r = &rules.values[i];
                r.trim && r.case == Case::Lower && r.regex.is_none()
            });
            if !covered {
                let rule = ValueRule {
                    key: s.key.clone(),
                    trim: true,
                    case: Case::Lower,
                    regex: None,
                    replace: None,
                    map: BTreeMap::new(),
                };
                rules.values.insert(first.unwrap_or(rules.values.len()), rule);
            }
        }
        SuggestionKind::ValueMap => {
            // The suggested sources are canonical values, which only the key's last rule sees
            // as they are; a map whose targets include a source would make a chain the
            // single lookup of a map does not follow.
            let last = rules.values.iter().rposition(of_key).filter(|&i| {
                let map = &rules.values[i].map;
                !map.is_empty() && !map.values().any(|t| s.from.contains(t))
            });
            let at = last.unwrap_or_else(|| {
                rules.values.push(ValueRule {
                    key: s.key.clone(),
                    trim: true,
                    case: Case::Keep,
                    regex: None,
                    replace: None,
                    map: BTreeMap::new(),
                });
                rules.values.len() - 1
            });
            let rule = &mut rules.values[at];
            for v in &s.from {
                let v = if rule.trim { v.trim() } else { v };
                rule.map.insert(v.to_string(), s.to.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CENT: i128 = 10_000_000_000_000;

    fn rules(text: &str) -> (TagRules, Resolver) {
        let rules = TagRules::parse(text, Path::new("tags.yaml")).unwrap();
        let resolver = Resolver::new(&rules, None, Path::new("tags.yaml")).unwrap();
        (rules, resolver)
    }

    fn obs(tags: &[(&str, &str)], currency: &str, cents: i128, resource: &str) -> TagObservation {
        TagObservation {
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            currency: currency.to_string(),
            cost: cents * CENT,
            rows: 2,
            resource_id: resource.to_string(),
            allocated: tags.iter().any(|(k, v)| *k == "team" && !v.trim().is_empty()),
        }
    }

    fn cost(s: &Suggestion) -> Vec<(&str, &str)> {
        s.cost.iter().map(|c| (c.currency.as_str(), c.amount.as_str())).collect()
    }

    fn only<'a>(s: &'a Suggestions, kind: SuggestionKind, key: &str) -> &'a Suggestion {
        let hits: Vec<&Suggestion> = s.items.iter().filter(|i| i.kind == kind && i.key == key).collect();
        assert_eq!(hits.len(), 1, "{kind:?} for {key}: {:#?}", s.items);
        hits[0]
    }

    /// A case for every heuristic, each on resources of its own.
    fn estate() -> Vec<TagObservation> {
        vec![
            obs(&[("team", "payments"), ("cost-center", "finance")], "USD", 10_000, "r1"),
            obs(&[("team", "payments"), ("cost_center", "marketing")], "USD", 2_000, "r2"),
            obs(&[("team", "search"), ("CostCenter", "research")], "USD", 500, "r3"),
            obs(&[("team", "search"), ("Business-Unit", "Retail")], "EUR", 700, "r4"),
            obs(&[("owner-team", "payments")], "USD", 750, "r5"),
            obs(&[("owner-team", "search")], "EUR", 225, "r6"),
            obs(&[("owner-team", "search")], "EUR", 100, ""),
            obs(&[("team", "search"), ("squad", "search")], "USD", 50, "r7"),
            obs(&[("team", "search"), ("application", "Checkout")], "USD", 400, "r8"),
            obs(&[("team", "search"), ("application", " checkout")], "USD", 30, "r9"),
            obs(&[("team", "search"), ("application", "checkout")], "USD", 600, "r10"),
            obs(&[("team", "search"), ("business_unit", "payments")], "USD", 97_000, "r11"),
            obs(&[("team", "search"), ("business_unit", "paymnets")], "USD", 3_000, "r12"),
            obs(&[("team", "search"), ("project", "opx")], "USD", 100, "r13"),
            obs(&[("team", "search"), ("project", "ops")], "USD", 1, "r14"),
            obs(&[("team", "search"), ("env", "prod")], "USD", 5_000, "r15"),
            obs(&[("team", "search"), ("env", "production")], "USD", 800, "r16"),
            obs(&[("team", "search"), ("env", "prd")], "USD", 20, "r17"),
            obs(&[("team", "search"), ("env", "development")], "USD", 300, "r18"),
            obs(&[("team", "search"), ("env", "dev")], "USD", 200, "r19"),
            obs(&[("team", "search"), ("env", "stage")], "USD", 10, "r20"),
        ]
    }

    #[test]
    fn separator_spellings_become_one_alias() {
        let (current, resolver) = rules("version: 1\n");
        let s = suggest(&current, &resolver, &estate());
        let cc = only(&s, SuggestionKind::Alias, "cost-center");
        assert_eq!(cc.from, ["cost_center", "costcenter"]);
        assert_eq!(cc.to, "cost-center", "the spelling with the most cost");
        assert_eq!(cc.reason, "differs from 'cost-center' only by separators");
        assert_eq!(cost(cc), [("USD", "25.00")]);
        assert_eq!((cc.rows, cc.resources), (4, 2));
        let bu = only(&s, SuggestionKind::Alias, "business_unit");
        assert_eq!(bu.from, ["business-unit"], "a dimension is the target, even one no tag spells");
        assert_eq!(bu.to, "business_unit");
        assert_eq!(s.rules.keys["cost-center"], ["cost_center", "costcenter"]);
        assert_eq!(s.rules.keys["business_unit"], ["business-unit"]);
    }

    #[test]
    fn a_key_never_beside_a_dimension_but_with_its_values_is_an_alias_costed_per_currency() {
        let (current, resolver) = rules("version: 1\n");
        let mut observations = estate();
        // Allocated by something other than a tag (a CMDB entry, say): nothing left to allocate.
        observations
            .push(TagObservation { allocated: true, ..obs(&[("owner-team", "search")], "USD", 9_999, "r0") });
        let s = suggest(&current, &resolver, &observations);
        let a = only(&s, SuggestionKind::Alias, "team");
        assert_eq!((a.from.as_slice(), a.to.as_str()), (&["owner-team".to_string()][..], "team"));
        assert_eq!(
            a.reason,
            "its name contains the word 'team'; never on the same resource as 'team'; 2 of its 2 values are values of 'team'"
        );
        assert_eq!(cost(a), [("EUR", "3.25"), ("USD", "7.50")]);
        assert_eq!((a.rows, a.resources), (6, 2));
        assert!(!s.items.iter().any(|i| i.from.contains(&"squad".to_string())), "squad sits beside team");
        assert_eq!(s.rules.keys["team"], ["owner-team"]);
    }

    #[test]
    fn case_variants_get_a_lower_case_rule_before_the_keys_other_rules() {
        let (current, resolver) = rules(
            "version: 1\nvalues:\n  - key: application\n    trim: false\n    map: {legacy: checkout}\n",
        );
        let s = suggest(&current, &resolver, &estate());
        let c = only(&s, SuggestionKind::ValueCase, "application");
        assert_eq!(c.from, [" checkout", "Checkout"]);
        assert_eq!(c.to, "lower");
        assert_eq!(c.reason, "' checkout', 'Checkout', 'checkout' differ only by case or surrounding space");
        assert_eq!(cost(c), [("USD", "4.30")]);
        let first = &s.rules.values[0];
        assert_eq!((first.key.as_str(), first.trim, first.case), ("application", true, Case::Lower));
        assert_eq!(s.rules.values[1], current.values[0]);
    }

    #[test]
    fn a_near_spelling_of_a_much_costlier_value_maps_to_it() {
        let (current, resolver) = rules("version: 1\n");
        let s = suggest(&current, &resolver, &estate());
        let m = only(&s, SuggestionKind::ValueMap, "business_unit");
        assert_eq!(m.from, ["paymnets"]);
        assert_eq!(m.to, "payments");
        assert_eq!(m.reason, "within edit distance 1 of 'payments' (97% of this key's USD cost)");
        assert_eq!(cost(m), [("USD", "30.00")]);
        let rule = s.rules.values.iter().find(|r| r.key == "business_unit").unwrap();
        assert_eq!((rule.trim, rule.case), (true, Case::Keep));
        assert_eq!(rule.map, BTreeMap::from([("paymnets".to_string(), "payments".to_string())]));
        assert!(!s.items.iter().any(|i| i.key == "project"), "'ops' and 'opx' are too short to tell apart");
    }

    #[test]
    fn a_key_named_after_a_dimension_is_an_alias_even_with_other_values() {
        let (current, resolver) = rules("version: 1\n");
        let data = [
            obs(&[("team", "payments")], "USD", 9_000, "a"),
            obs(&[("team", "ledger")], "USD", 1_000, "b"),
            obs(&[("owner-team", "Search")], "USD", 400, "c"),
            obs(&[("owner-team", "catalog")], "EUR", 300, "d"),
            obs(&[("team_lead", "ann@example.com"), ("team", "ledger")], "USD", 5, "e"),
        ];
        let s = suggest(&current, &resolver, &data);
        let alias = only(&s, SuggestionKind::Alias, "team");
        assert_eq!(alias.from, ["owner-team"]);
        assert_eq!(
            alias.reason,
            "its name contains the word 'team'; never on the same resource as 'team'; 0 of its 2 values are values of 'team'"
        );
        assert_eq!(cost(alias), [("EUR", "3.00"), ("USD", "4.00")]);
    }

    #[test]
    fn identifiers_are_not_typos() {
        let (current, resolver) = rules("version: 1\n");
        let data = [
            obs(&[("team", "search"), ("cost-center", "CC-1100")], "USD", 9_000, "a"),
            obs(&[("team", "search"), ("cost-center", "CC-1400")], "USD", 100, "b"),
            obs(&[("team", "search"), ("owner", "sre-lead@example.com")], "USD", 9_000, "c"),
            obs(&[("team", "search"), ("owner", "crm-lead@example.com")], "USD", 100, "d"),
            obs(&[("team", "search"), ("aws:createdBy", "Role:Deploy")], "USD", 9_000, "e"),
            obs(&[("team", "search"), ("aws:createdBy", "Role:deploy")], "USD", 100, "f"),
            obs(&[("team", "search"), ("aws:createdBy", "Role:deplox")], "USD", 100, "g"),
        ];
        let s = suggest(&current, &resolver, &data);
        assert!(s.items.is_empty(), "{:#?}", s.items);
    }

    #[test]
    fn environment_synonyms_map_to_the_costliest_spelling() {
        let (current, resolver) = rules("version: 1\n");
        let s = suggest(&current, &resolver, &estate());
        let maps: Vec<(&[String], &str)> =
            s.items.iter().filter(|i| i.key == "env").map(|i| (i.from.as_slice(), i.to.as_str())).collect();
        let prod = ["prd".to_string(), "production".to_string()];
        let dev = ["dev".to_string()];
        assert_eq!(maps, [(&prod[..], "prod"), (&dev[..], "development")]);
        let prod = s.items.iter().find(|i| i.to == "prod").unwrap();
        assert_eq!(
            prod.reason,
            "built-in synonyms of the environment 'prod', its spelling with the most cost"
        );
        assert_eq!(cost(prod), [("USD", "8.20")]);
    }

    #[test]
    fn nothing_the_current_rules_cover_is_suggested() {
        let (current, resolver) = rules(
            "version: 1
keys:
  cost-center: [cost_center, costcenter]
  business_unit: [business-unit]
  team: [owner-team]
values:
  - key: application
    case: lower
  - key: business_unit
    map: {paymnets: payments}
  - key: env
    map: {production: prod, prd: prod, dev: development}
",
        );
        let s = suggest(&current, &resolver, &estate());
        assert!(s.items.is_empty(), "{:#?}", s.items);
        assert_eq!(s.rules, current);
        assert!(s.to_yaml().contains("# No suggestions"));
    }

    #[test]
    fn the_file_reads_back_lists_every_suggestion_and_leaves_nothing_to_suggest() {
        let (current, resolver) =
            rules("version: 1\nvalues:\n  - key: env\n    case: upper\n    map: {X: Y}\n");
        let s = suggest(&current, &resolver, &estate());
        let yaml = s.to_yaml();
        let parsed = TagRules::parse(&yaml, Path::new("suggested.yaml")).unwrap();
        assert_eq!(parsed, s.rules);
        assert!(yaml.contains("`costpilot rules apply tags <file>`"));
        for item in &s.items {
            assert!(yaml.contains(&format!("#    {}\n", item.reason)), "{yaml}");
            assert!(yaml.contains(&format!("for '{}': '{}'", item.key, item.from.join("', '"))), "{yaml}");
        }
        assert!(yaml.contains("#    would allocate EUR 3.25, USD 7.50 (6 rows, 2 resources)\n"), "{yaml}");
        let env = parsed.values.iter().find(|r| r.key == "env").unwrap();
        assert_eq!(env.map.get("PRD").map(String::as_str), Some("PROD"), "added to the existing map");
        let applied = Resolver::new(&parsed, None, Path::new("suggested.yaml")).unwrap();
        let again = suggest(&parsed, &applied, &estate());
        assert!(again.items.is_empty(), "{:#?}", again.items);
    }

    #[test]
    fn order_is_by_cost_then_key_whatever_the_input_order() {
        let (current, resolver) = rules("version: 1\n");
        let s = suggest(&current, &resolver, &estate());
        let mut reversed = estate();
        reversed.reverse();
        let r = suggest(&current, &resolver, &reversed);
        assert_eq!(serde_json::to_string(&s).unwrap(), serde_json::to_string(&r).unwrap());
        let order: Vec<(&str, &str)> = s.items.iter().map(|i| (i.key.as_str(), i.to.as_str())).collect();
        assert_eq!(
            order,
            [
                ("business_unit", "payments"),
                ("cost-center", "cost-center"),
                ("env", "prod"),
                ("team", "team"),
                ("application", "lower"),
                ("env", "development"),
                ("business_unit", "business_unit"),
            ]
        );
    }
}
