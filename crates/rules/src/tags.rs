//! The tag-rules file, `<data-dir>/rules/tags.yaml`: its schema, and the checks a file passes
//! before it is put in force.
//!
//! ```yaml
//! version: 1                  # the schema version; 1 is the only one
//! # The allocation dimensions the rules resolve; each is a column x_<name> of the focus view.
//! dimensions: [team, business_unit, cost_centre, application, environment, owner, criticality]
//! owner_dimension: team       # the dimension that decides whether a cost is allocated
//!
//! # Key aliases: canonical key → the other spellings that mean it. Keys match without regard to
//! # case or surrounding space, so `Team` is `team` without an alias. An alias may name another
//! # canonical key (chains resolve); a cycle is refused.
//! keys:
//!   team: [owner-team, owner_team]
//!   environment: [env, stage]
//!
//! # Value rules for a canonical key, in file order; each trims (unless `trim: false`), then
//! # changes case, then rewrites with a regex, then maps whole values.
//! values:
//!   - key: team
//!     case: lower             # lower | upper | keep (default)
//!   - key: environment
//!     case: lower
//!     map: {production: prod, development: dev}
//!   - key: application
//!     regex: '^app-(.+)$'
//!     replace: '$1'
//!
//! # Virtual tags: a dimension computed from another field when no tag, cost category or CMDB
//! # entry gives one. `from` is account_id, account_name, resource_id, service, region,
//! # charge_category, tag:<key> or dimension:<name>; `match` + `value` (with $1 groups) or `map`.
//! virtual:
//!   - name: business unit of the management accounts
//!     dimension: business_unit
//!     from: account_name
//!     match: '-management$'
//!     value: Platform
//!
//! # Account defaults: the last resort, by account id or by account-name glob (`*` only).
//! defaults:
//!   - account_name: 'log-archive*'
//!     set: {team: platform}
//! ```
//!
//! Precedence per dimension, highest first: an explicit tag, an AWS cost category, the CMDB
//! (a resource entry before an account entry), a virtual tag, an account default. Value rules for
//! the dimension's key apply to the value whichever source gave it, so every source speaks the same
//! canonical values. Raw tags are never changed: the rules are a view over the lake.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{RulesError, locate, parse_yaml};

/// The file name of the tag rules inside `<data-dir>/rules/`.
pub const TAGS_FILE: &str = "tags.yaml";

/// The dimensions a rules file resolves when it does not list its own.
pub use costpilot_model::dimensions::DEFAULT_ALLOCATION_DIMENSIONS as DEFAULT_DIMENSIONS;

/// The fields a virtual tag may read besides tags and dimensions.
pub const VIRTUAL_FIELDS: [&str; 6] =
    ["account_id", "account_name", "resource_id", "service", "region", "charge_category"];

/// The tag-rules file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagRules {
    /// Schema version; must be 1.
    pub version: u32,
    /// The allocation dimensions, in the order columns are shown.
    #[serde(default = "default_dimensions")]
    pub dimensions: Vec<String>,
    /// The dimension whose absence makes a cost unallocated.
    #[serde(default = "default_owner_dimension")]
    pub owner_dimension: String,
    /// Canonical key → aliases.
    #[serde(default)]
    pub keys: BTreeMap<String, Vec<String>>,
    /// Value rules, in order.
    #[serde(default)]
    pub values: Vec<ValueRule>,
    /// Virtual tags, in order.
    #[serde(default, rename = "virtual")]
    pub virtual_tags: Vec<VirtualTag>,
    /// Account defaults, in order.
    #[serde(default)]
    pub defaults: Vec<AccountDefault>,
}

fn default_dimensions() -> Vec<String> {
    DEFAULT_DIMENSIONS.iter().map(|d| d.to_string()).collect()
}

fn default_owner_dimension() -> String {
    "team".to_string()
}

fn yes() -> bool {
    true
}

/// How a value rule changes case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Case {
    /// Lower-case.
    Lower,
    /// Upper-case.
    Upper,
    /// Leave as it is.
    #[default]
    Keep,
}

/// A rule that canonicalises the values of one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueRule {
    /// The canonical key whose values it changes.
    pub key: String,
    /// Trim surrounding white space (default yes).
    #[serde(default = "yes")]
    pub trim: bool,
    /// Change of case.
    #[serde(default)]
    pub case: Case,
    /// A regular expression the value must match for `replace` to apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// The replacement for a match of `regex` (`$1` names a group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replace: Option<String>,
    /// Whole-value replacements, applied last.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub map: BTreeMap<String, String>,
}

/// A dimension computed from another field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualTag {
    /// A label shown in provenance; defaults to `virtual[i]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The dimension it gives.
    pub dimension: String,
    /// The field it reads.
    pub from: String,
    /// A regular expression the field must match.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// The value when `match` matches (`$1` names a group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Field value → dimension value.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub map: BTreeMap<String, String>,
}

/// Dimension values for an account, by id or by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountDefault {
    /// The account id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// A glob over account names (`*` matches any run of characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    /// Dimension → value.
    pub set: BTreeMap<String, String>,
}

/// Where a virtual tag reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// One of [`VIRTUAL_FIELDS`].
    Row(&'static str),
    /// A canonical tag key's canonical value.
    Tag(String),
    /// Another dimension's resolved value.
    Dimension(String),
}

impl Field {
    /// Reads `from:` text.
    pub fn parse(text: &str) -> Option<Field> {
        if let Some(key) = text.strip_prefix("tag:") {
            return (!key.trim().is_empty()).then(|| Field::Tag(fold(key)));
        }
        if let Some(dim) = text.strip_prefix("dimension:") {
            return Some(Field::Dimension(dim.trim().to_string()));
        }
        VIRTUAL_FIELDS.iter().find(|f| **f == text).map(|f| Field::Row(f))
    }
}

/// A key as matching sees it: trimmed and lower-cased.
pub fn fold(key: &str) -> String {
    key.trim().to_lowercase()
}

impl TagRules {
    /// Reads and checks a rules file.
    pub fn read(path: &Path) -> Result<TagRules, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|e| RulesError::file(path, e.to_string()))?;
        TagRules::parse(&text, path)
    }

    /// Parses and checks rules text (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<TagRules, RulesError> {
        let rules: TagRules = parse_yaml(text, path)?;
        rules.check(text, path)?;
        Ok(rules)
    }

    /// Rules that resolve nothing but the default dimensions' exact tags.
    pub fn empty() -> TagRules {
        TagRules {
            version: 1,
            dimensions: default_dimensions(),
            owner_dimension: default_owner_dimension(),
            keys: BTreeMap::new(),
            values: Vec::new(),
            virtual_tags: Vec::new(),
            defaults: Vec::new(),
        }
    }

    /// The rules as YAML text that [`TagRules::parse`] reads back.
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).expect("rules serialise")
    }

    /// The aliases resolved: folded alias → canonical key, chains followed.
    pub fn alias_map(&self) -> BTreeMap<String, String> {
        let direct = self.direct_aliases();
        direct
            .keys()
            .map(|alias| {
                let mut target = &direct[alias];
                while let Some(next) = direct.get(&fold(target)) {
                    target = next;
                }
                (alias.clone(), target.clone())
            })
            .collect()
    }

    fn direct_aliases(&self) -> BTreeMap<String, String> {
        let mut map = BTreeMap::new();
        for (canonical, aliases) in &self.keys {
            for alias in aliases {
                if fold(alias) != fold(canonical) {
                    map.insert(fold(alias), canonical.trim().to_string());
                }
            }
        }
        map
    }

    fn check(&self, text: &str, path: &Path) -> Result<(), RulesError> {
        let at = |needle: &str, message: String| {
            let (line, column) = locate(text, needle, 1);
            RulesError::at(path, line, column, message)
        };
        if self.version != 1 {
            return Err(at("version", format!("version {} is not supported; use version: 1", self.version)));
        }
        let mut seen = BTreeSet::new();
        for d in &self.dimensions {
            if d.is_empty() || !d.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                return Err(at(
                    d,
                    format!(
                        "dimension '{d}': use lower-case letters, digits and '_' (it becomes the column x_{d})"
                    ),
                ));
            }
            if !seen.insert(d.as_str()) {
                return Err(at(d, format!("dimension '{d}' is listed twice")));
            }
        }
        if self.dimensions.is_empty() {
            return Err(at("dimensions", "dimensions: list at least one".to_string()));
        }
        if !seen.contains(self.owner_dimension.as_str()) {
            return Err(at(
                "owner_dimension",
                format!("owner_dimension '{}' is not one of the dimensions", self.owner_dimension),
            ));
        }
        self.check_keys(&at)?;
        for (i, rule) in self.values.iter().enumerate() {
            let here = |m: String| at(&format!("key: {}", rule.key), format!("values[{i}]: {m}"));
            if let Some(re) = &rule.regex {
                regex::Regex::new(re).map_err(|e| here(format!("bad regex '{re}': {}", first_line(&e))))?;
            }
            if rule.replace.is_some() && rule.regex.is_none() {
                return Err(here("replace needs a regex".to_string()));
            }
            if rule.regex.is_some() && rule.replace.is_none() {
                return Err(here("regex needs a replace".to_string()));
            }
        }
        self.check_virtual(&at, &seen)?;
        let (defaults_line, _) = locate(text, "defaults:", 1);
        for (i, d) in self.defaults.iter().enumerate() {
            let needle = d.account.as_deref().or(d.account_name.as_deref()).unwrap_or("defaults");
            let here = |m: String| {
                let (line, column) = locate(text, needle, defaults_line);
                RulesError::at(path, line, column, format!("defaults[{i}]: {m}"))
            };
            if d.account.is_some() == d.account_name.is_some() {
                return Err(here("give exactly one of account and account_name".to_string()));
            }
            if let Some(dim) = d.set.keys().find(|k| !seen.contains(k.as_str())) {
                return Err(here(format!("'{dim}' is not one of the dimensions")));
            }
        }
        Ok(())
    }

    fn check_keys(&self, at: &impl Fn(&str, String) -> RulesError) -> Result<(), RulesError> {
        let mut owner: BTreeMap<String, &str> = BTreeMap::new();
        for (canonical, aliases) in &self.keys {
            for alias in aliases {
                if fold(alias) == fold(canonical) {
                    continue;
                }
                if let Some(other) = owner.insert(fold(alias), canonical) {
                    return Err(at(
                        alias,
                        format!("alias '{alias}' is given for both '{other}' and '{canonical}'"),
                    ));
                }
            }
        }
        let direct = self.direct_aliases();
        for start in direct.keys() {
            let mut path = vec![start.clone()];
            let mut at_key = start.clone();
            while let Some(next) = direct.get(&at_key) {
                let next = fold(next);
                if path.contains(&next) {
                    path.push(next);
                    return Err(at(start, format!("cyclic aliases: {}", path.join(" → "))));
                }
                path.push(next.clone());
                at_key = next;
            }
        }
        Ok(())
    }

    fn check_virtual(
        &self,
        at: &impl Fn(&str, String) -> RulesError,
        dims: &BTreeSet<&str>,
    ) -> Result<(), RulesError> {
        let mut depends: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for (i, v) in self.virtual_tags.iter().enumerate() {
            let here = |m: String| at(&format!("from: {}", v.from), format!("virtual[{i}]: {m}"));
            if !dims.contains(v.dimension.as_str()) {
                return Err(here(format!("'{}' is not one of the dimensions", v.dimension)));
            }
            match Field::parse(&v.from) {
                None => {
                    return Err(here(format!(
                        "from '{}' is not a field; use one of {}, tag:<key> or dimension:<name>",
                        v.from,
                        VIRTUAL_FIELDS.join(", ")
                    )));
                }
                Some(Field::Dimension(d)) if !dims.contains(d.as_str()) => {
                    return Err(here(format!("from '{}': '{d}' is not one of the dimensions", v.from)));
                }
                Some(Field::Dimension(d)) => {
                    depends.entry(v.dimension.as_str()).or_default().insert(d);
                }
                Some(_) => {}
            }
            match (&v.pattern, &v.value, v.map.is_empty()) {
                (Some(re), Some(_), true) => {
                    regex::Regex::new(re)
                        .map_err(|e| here(format!("bad regex '{re}': {}", first_line(&e))))?;
                }
                (None, None, false) => {}
                _ => return Err(here("give either match with value, or map".to_string())),
            }
        }
        for start in depends.keys() {
            let mut path = vec![start.to_string()];
            if let Some((first, cycle)) = find_cycle(&depends, start, &mut path) {
                return Err(at(
                    &format!("dimension: {first}"),
                    format!("virtual tags depend on each other in a cycle: {}", cycle.join(" → ")),
                ));
            }
        }
        Ok(())
    }

    /// The order in which dimensions are resolved: a dimension a virtual tag reads
    /// (`from: dimension:<name>`) comes before the dimension it gives.
    pub fn resolution_order(&self) -> Vec<String> {
        let mut order: Vec<String> = Vec::new();
        let deps = |d: &str| -> Vec<String> {
            self.virtual_tags
                .iter()
                .filter(|v| v.dimension == d)
                .filter_map(|v| match Field::parse(&v.from) {
                    Some(Field::Dimension(x)) => Some(x),
                    _ => None,
                })
                .collect()
        };
        fn visit(d: &str, deps: &dyn Fn(&str) -> Vec<String>, order: &mut Vec<String>) {
            if order.iter().any(|o| o == d) {
                return;
            }
            for x in deps(d) {
                visit(&x, deps, order);
            }
            if !order.iter().any(|o| o == d) {
                order.push(d.to_string());
            }
        }
        for d in &self.dimensions {
            visit(d, &deps, &mut order);
        }
        order
    }
}

fn find_cycle(
    depends: &BTreeMap<&str, BTreeSet<String>>,
    at: &str,
    path: &mut Vec<String>,
) -> Option<(String, Vec<String>)> {
    for next in depends.get(at).into_iter().flatten() {
        if path.first() == Some(next) {
            let mut cycle = path.clone();
            cycle.push(next.clone());
            return Some((path[0].clone(), cycle));
        }
        if path.contains(next) {
            continue;
        }
        path.push(next.clone());
        if let Some(c) = find_cycle(depends, next, path) {
            return Some(c);
        }
        path.pop();
    }
    None
}

fn first_line(e: &regex::Error) -> String {
    e.to_string().lines().last().unwrap_or("").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TagRules, String> {
        TagRules::parse(text, Path::new("tags.yaml")).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_fill_an_almost_empty_file() {
        let r = parse("version: 1\n").unwrap();
        assert_eq!(r, TagRules::empty());
        assert_eq!(parse(&r.to_yaml()).unwrap(), r);
    }

    #[test]
    fn unknown_fields_and_bad_types_name_line_and_column() {
        assert_eq!(
            parse("version: 1\nkeys:\n  team: [Team]\nvalue: []\n").unwrap_err(),
            "tags.yaml:4:1: unknown field `value`, expected one of `version`, `dimensions`, `owner_dimension`, `keys`, `values`, `virtual`, `defaults`"
        );
        assert_eq!(
            parse("version: 1\nvalues:\n  - key: team\n    case: title\n").unwrap_err(),
            "tags.yaml:4:11: values[0].case: unknown variant `title`, expected one of `lower`, `upper`, `keep`"
        );
    }

    #[test]
    fn cyclic_aliases_are_refused() {
        let err =
            parse("version: 1\nkeys:\n  team: [squad]\n  squad: [group]\n  group: [team]\n").unwrap_err();
        assert_eq!(err, "tags.yaml:4:11: cyclic aliases: group → squad → team → group");
    }

    #[test]
    fn chains_resolve_and_case_is_ignored() {
        let r = parse("version: 1\nkeys:\n  team: [squad, Team]\n  squad: [group]\n").unwrap();
        let map = r.alias_map();
        assert_eq!(map.get("group").map(String::as_str), Some("team"));
        assert_eq!(map.get("squad").map(String::as_str), Some("team"));
        assert!(!map.contains_key("team"));
    }

    #[test]
    fn an_alias_of_two_keys_is_refused() {
        let err = parse("version: 1\nkeys:\n  team: [owner]\n  owner_email: [owner]\n").unwrap_err();
        assert_eq!(err, "tags.yaml:3:10: alias 'owner' is given for both 'owner_email' and 'team'");
    }

    #[test]
    fn bad_regexes_and_virtual_tags_are_refused() {
        let err = parse("version: 1\nvalues:\n  - key: team\n    regex: '(x'\n    replace: y\n").unwrap_err();
        assert_eq!(err, "tags.yaml:3:5: values[0]: bad regex '(x': error: unclosed group");
        let err = parse("version: 1\nvirtual:\n  - dimension: team\n    from: account\n    map: {a: b}\n")
            .unwrap_err();
        assert_eq!(
            err,
            "tags.yaml:4:5: virtual[0]: from 'account' is not a field; use one of account_id, account_name, resource_id, service, region, charge_category, tag:<key> or dimension:<name>"
        );
        let err = parse("version: 1\nvirtual:\n  - dimension: team\n    from: account_name\n    match: x\n")
            .unwrap_err();
        assert_eq!(err, "tags.yaml:4:5: virtual[0]: give either match with value, or map");
    }

    #[test]
    fn virtual_cycles_are_refused_and_order_follows_dependencies() {
        let text = "version: 1\nvirtual:\n  - dimension: team\n    from: dimension:owner\n    map: {a: b}\n  - dimension: owner\n    from: dimension:team\n    map: {b: a}\n";
        assert_eq!(
            parse(text).unwrap_err(),
            "tags.yaml:6:5: virtual tags depend on each other in a cycle: owner → team → owner"
        );
        let r =
            parse("version: 1\nvirtual:\n  - dimension: team\n    from: dimension:owner\n    map: {a: b}\n")
                .unwrap();
        let order = r.resolution_order();
        let pos = |d: &str| order.iter().position(|o| o == d).unwrap();
        assert!(pos("owner") < pos("team"));
        assert_eq!(order.len(), DEFAULT_DIMENSIONS.len());
    }

    #[test]
    fn dimensions_and_defaults_are_checked() {
        assert_eq!(
            parse("version: 1\ndimensions: [team, Team]\n").unwrap_err(),
            "tags.yaml:2:20: dimension 'Team': use lower-case letters, digits and '_' (it becomes the column x_Team)"
        );
        assert_eq!(
            parse("version: 1\ndimensions: [team]\nowner_dimension: bu\n").unwrap_err(),
            "tags.yaml:3:1: owner_dimension 'bu' is not one of the dimensions"
        );
        assert_eq!(
            parse("version: 1\ndefaults:\n  - account: '1'\n    set: {squad: x}\n").unwrap_err(),
            "tags.yaml:3:15: defaults[0]: 'squad' is not one of the dimensions"
        );
        assert_eq!(
            parse("version: 2\n").unwrap_err(),
            "tags.yaml:1:1: version 2 is not supported; use version: 1"
        );
    }
}
