//! The rules in force and the only way they change.
//!
//! They live in `<data-dir>/rules/`: `tags.yaml` (tag rules, see [`crate::tags`]), `cmdb.json`
//! (the CMDB, see [`crate::cmdb`]) and `allocation.yaml` (shared-cost pools, see
//! [`crate::allocation`]). [`apply`] checks a new file completely (syntax, unknown fields, cyclic
//! aliases, bad regexes, unknown dimensions) and only then replaces the file in force atomically,
//! keeping every accepted version under `rules/history/`; a refused file leaves the rules in force
//! as they were.

use std::path::{Path, PathBuf};

use costpilot_model::durable::{IoAt, create_dir, write_atomic};
use serde::Serialize;

use crate::allocation::{ALLOCATION_FILE, AllocationRules};
use crate::cmdb::Cmdb;
use crate::error::RulesError;
use crate::resolve::Resolver;
use crate::tags::{TAGS_FILE, TagRules};

/// The folder of the rules in force, inside the data directory.
pub const RULES_DIR: &str = "rules";
/// The CMDB in force, inside [`RULES_DIR`].
pub const CMDB_FILE: &str = "cmdb.json";
/// Where every accepted version is kept, inside [`RULES_DIR`].
pub const HISTORY_DIR: &str = "history";
/// A kind of rules file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RulesKind {
    /// `tags.yaml`.
    Tags,
    /// `cmdb.json` (from a CSV or JSON file).
    Cmdb,
    /// `allocation.yaml`.
    Allocation,
}

impl RulesKind {
    /// The file name in force.
    pub fn file_name(self) -> &'static str {
        match self {
            RulesKind::Tags => TAGS_FILE,
            RulesKind::Cmdb => CMDB_FILE,
            RulesKind::Allocation => ALLOCATION_FILE,
        }
    }
}

/// What [`apply`] put in force.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// The kind of file.
    pub kind: RulesKind,
    /// The file in force.
    pub path: PathBuf,
    /// The copy kept in the history.
    pub history: PathBuf,
    /// The version number (1 for the first file of its kind).
    pub version: u32,
    /// What the file holds, in a few words.
    pub summary: String,
    /// The file in force already had this content: no new version was made.
    pub unchanged: bool,
}

/// The folder of the rules in force.
pub fn rules_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(RULES_DIR)
}

/// The tag rules in force ([`TagRules::empty`] when there is no file).
pub fn tag_rules(data_dir: &Path) -> Result<TagRules, RulesError> {
    let path = rules_dir(data_dir).join(TAGS_FILE);
    if !path.is_file() {
        return Ok(TagRules::empty());
    }
    TagRules::read(&path)
}

/// The CMDB in force, if one was applied.
pub fn cmdb(data_dir: &Path) -> Result<Option<Cmdb>, RulesError> {
    let path = rules_dir(data_dir).join(CMDB_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    Ok(Some(Cmdb::read(&path)?))
}

/// The allocation rules in force, if any were applied.
pub fn allocation_rules(data_dir: &Path) -> Result<Option<AllocationRules>, RulesError> {
    let path = rules_dir(data_dir).join(ALLOCATION_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    Ok(Some(AllocationRules::read(&path)?))
}

/// The tag rules and CMDB in force, compiled.
pub fn resolver(data_dir: &Path) -> Result<Resolver, RulesError> {
    let rules = tag_rules(data_dir)?;
    Resolver::new(&rules, cmdb(data_dir)?, &rules_dir(data_dir).join(TAGS_FILE))
}

/// Checks `source` as a file of `kind` and, if it passes, puts it in force. A refused file changes
/// nothing.
pub fn apply(data_dir: &Path, kind: RulesKind, source: &Path) -> Result<Applied, RulesError> {
    if kind == RulesKind::Cmdb {
        let cmdb = Cmdb::read(source)?;
        let (accounts, resources) = cmdb.counts();
        let summary =
            format!("{accounts} accounts, {resources} resources; columns {}", cmdb.columns().join(", "));
        return put_in_force(data_dir, kind, cmdb.to_json().into_bytes(), summary);
    }
    let text = std::fs::read_to_string(source).map_err(|e| RulesError::file(source, e.to_string()))?;
    apply_text(data_dir, kind, &text, source)
}

/// [`apply`] for tag or allocation rules given as text; `source` names them in errors.
pub fn apply_text(
    data_dir: &Path,
    kind: RulesKind,
    text: &str,
    source: &Path,
) -> Result<Applied, RulesError> {
    let refuse = |message: String| RulesError::file(source, message);
    let summary = match kind {
        RulesKind::Tags => {
            let rules = TagRules::parse(text, source)?;
            Resolver::new(&rules, None, source)?;
            if let Some(alloc) = allocation_rules(data_dir)?
                && !rules.dimensions.contains(&alloc.dimension)
            {
                return Err(refuse(format!(
                    "the allocation rules in force split across '{}', which these rules do not list in dimensions",
                    alloc.dimension
                )));
            }
            format!(
                "{} dimensions, {} key aliases, {} value rules, {} virtual tags, {} account defaults",
                rules.dimensions.len(),
                rules.keys.values().map(Vec::len).sum::<usize>(),
                rules.values.len(),
                rules.virtual_tags.len(),
                rules.defaults.len()
            )
        }
        RulesKind::Allocation => {
            let rules = AllocationRules::parse(text, source)?;
            let tags = tag_rules(data_dir)?;
            if !tags.dimensions.contains(&rules.dimension) {
                return Err(refuse(format!(
                    "dimension '{}' is not one of the tag rules' dimensions ({})",
                    rules.dimension,
                    tags.dimensions.join(", ")
                )));
            }
            format!("{} pools across {}", rules.pools.len(), rules.dimension)
        }
        RulesKind::Cmdb => return Err(refuse("a CMDB is applied from its file".to_string())),
    };
    put_in_force(data_dir, kind, text.as_bytes().to_vec(), summary)
}

/// Writes checked content as the file of `kind` in force, with a copy in the history.
fn put_in_force(
    data_dir: &Path,
    kind: RulesKind,
    bytes: Vec<u8>,
    summary: String,
) -> Result<Applied, RulesError> {
    let dir = rules_dir(data_dir);
    let history_dir = dir.join(HISTORY_DIR);
    create_dir(&history_dir).map_err(io)?;
    let name = kind.file_name();
    let (stem, ext) = name.rsplit_once('.').unwrap_or((name, ""));
    let path = dir.join(name);
    let last = next_version(&history_dir, stem)? - 1;
    let history_of = |v: u32| history_dir.join(format!("{stem}.{v:04}.{ext}"));
    if last > 0 && std::fs::read(&path).is_ok_and(|current| current == bytes) {
        return Ok(Applied {
            kind,
            path,
            history: history_of(last),
            version: last,
            summary,
            unchanged: true,
        });
    }
    let version = last + 1;
    let history = history_of(version);
    write_atomic(&history, &bytes, "apply").map_err(io)?;
    write_atomic(&path, &bytes, "apply").map_err(io)?;
    Ok(Applied { kind, path, history, version, summary, unchanged: false })
}

fn next_version(history: &Path, stem: &str) -> Result<u32, RulesError> {
    let entries = std::fs::read_dir(history).map_err(|e| RulesError::file(history, e.to_string()))?;
    let mut last = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let number =
            name.strip_prefix(stem).and_then(|r| r.strip_prefix('.')).and_then(|r| r.split('.').next());
        if let Some(n) = number.and_then(|n| n.parse::<u32>().ok()) {
            last = last.max(n);
        }
    }
    Ok(last + 1)
}

/// An I/O failure while putting a file in force, as an error about that file.
fn io(e: IoAt) -> RulesError {
    RulesError::file(&e.path, e.source.to_string())
}
