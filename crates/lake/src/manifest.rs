//! The manifest: the lake's committed state, kept in one JSON file that is only ever replaced whole.
//!
//! A unit (provider, billing account, billing period) lists its data files and what is known about
//! its rows: how many, the BilledCost per currency, the sources they came from, the data watermark
//! and whether the bill is final. Files of replaced units are listed as retired until vacuum (or a
//! later commit) deletes them after the retention, so readers of an older snapshot can finish.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use costpilot_model::UnitKey;
use costpilot_model::money::{decimal_text, parse_decimal};
use serde::{Deserialize, Serialize};

use crate::error::LakeError;
use crate::layout;

/// The manifest format this build reads and writes.
pub const FORMAT: u32 = 1;

/// A source file that contributed rows to a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRef {
    /// The file as the user named it.
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, lower-case hex.
    pub sha256: String,
    /// The file's size in bytes.
    pub bytes: u64,
}

/// One committed Parquet data file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The path relative to the lake folder, with `/` separators.
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// A data file no unit refers to any more, kept for readers of older snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetiredFile {
    /// The path relative to the lake folder.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// When the commit that replaced its unit happened (RFC 3339, UTC).
    pub retired_at: String,
}

/// A file derived from one unit's rows (a rollup's rows for the unit): a small Parquet file
/// beside the unit's data files, written by the transaction that wrote the unit (see
/// `observe`) or by a later refresh ([`crate::Lake::replace_parts`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartEntry {
    /// What it holds (a rollup's name).
    pub name: String,
    /// What it was computed with (for a rollup, its definition and the rules in force). A part
    /// whose fingerprint is not the current one is stale.
    pub fingerprint: String,
    /// The file.
    #[serde(flatten)]
    pub file: FileEntry,
}

/// One unit of the lake: a provider's billing account for one billing period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitEntry {
    /// Provider, billing account and "YYYY-MM" billing period.
    pub key: UnitKey,
    /// The data files holding the unit's rows.
    pub files: Vec<FileEntry>,
    /// Rows in the unit.
    pub rows: u64,
    /// Σ BilledCost per BillingCurrency, as exact decimal text (e.g. "1234.5").
    pub billed_cost: BTreeMap<String, String>,
    /// The files the rows came from, sorted by path.
    pub sources: Vec<SourceRef>,
    /// The latest ChargePeriodEnd in the unit (RFC 3339, UTC): how far the data reaches.
    pub watermark: Option<String>,
    /// True when every row carries an InvoiceId: the provider has invoiced the period, so the
    /// bill will not be restated as an estimate again.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// When the unit was committed (RFC 3339, UTC).
    pub ingested_at: String,
    /// The transaction that wrote it.
    pub transaction: String,
    /// The version of the reading (format detection and mapping to FOCUS) that produced its rows,
    /// as the ingest labelled it; `None` in lakes written before units were labelled. A unit
    /// whose label is not the current one is re-derived by ingesting its sources again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<String>,
    /// Its derived parts (rollups), if computed. The key stays `rollups`, as lakes already written
    /// name it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[serde(rename = "rollups")]
    pub parts: Vec<PartEntry>,
}

impl UnitEntry {
    /// The sources' checksums, sorted: equal sets mean the same input.
    pub fn source_checksums(&self) -> BTreeSet<&str> {
        self.sources.iter().map(|s| s.sha256.as_str()).collect()
    }

    /// Σ BilledCost in `currency` in units of 10^-15, if the unit has rows in that currency.
    pub fn billed_cost_units(&self, currency: &str) -> Option<i128> {
        self.billed_cost.get(currency).and_then(|t| parse_decimal(t).ok())
    }
}

/// The committed state of the lake.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The manifest format (see [`FORMAT`]).
    pub format: u32,
    /// Incremented by every commit that changes the lake; 0 for an empty lake.
    pub version: u64,
    /// When this version was written (RFC 3339, UTC); `None` for an empty lake.
    pub updated_at: Option<String>,
    /// The units, sorted by key.
    pub(crate) units: Vec<UnitEntry>,
    /// Files of replaced units awaiting deletion.
    pub(crate) retired: Vec<RetiredFile>,
}

impl Manifest {
    /// Lists `files` as retired at `now` (RFC 3339): kept for older snapshots until vacuum or a
    /// later commit deletes them past the retention.
    pub(crate) fn retire(&mut self, files: impl IntoIterator<Item = FileEntry>, now: &str) {
        self.retired.extend(files.into_iter().map(|f| RetiredFile {
            path: f.path,
            bytes: f.bytes,
            retired_at: now.to_string(),
        }));
    }

    /// Every unit, sorted by provider, billing account and period.
    pub fn units(&self) -> &[UnitEntry] {
        &self.units
    }

    /// Files of replaced units that vacuum has not deleted yet.
    pub fn retired(&self) -> &[RetiredFile] {
        &self.retired
    }

    /// The unit with this key, if the lake has it.
    pub fn unit(&self, key: &UnitKey) -> Option<&UnitEntry> {
        self.units.binary_search_by(|u| u.key.cmp(key)).ok().map(|i| &self.units[i])
    }

    /// The checksums of the sources of every unit written by the reading labelled `mapping`
    /// ([`UnitEntry::mapping`]): a file among them was ingested, and reading it again would change
    /// nothing. A unit written by another version of the reading is left out, so that ingesting
    /// its sources again re-derives it.
    pub fn ingested(&self, mapping: Option<&str>) -> BTreeSet<&str> {
        self.units
            .iter()
            .filter(|u| u.mapping.as_deref() == mapping)
            .flat_map(|u| u.sources.iter().map(|s| s.sha256.as_str()))
            .collect()
    }

    /// Rows in the whole lake.
    pub fn rows(&self) -> u64 {
        self.units.iter().map(|u| u.rows).sum()
    }

    /// Σ BilledCost per currency over all units, as exact decimal text.
    pub fn billed_cost(&self) -> BTreeMap<String, String> {
        let mut sums: BTreeMap<String, i128> = BTreeMap::new();
        for u in &self.units {
            for c in u.billed_cost.keys() {
                let v = u.billed_cost_units(c).unwrap_or(0);
                *sums.entry(c.clone()).or_default() += v;
            }
        }
        sums.into_iter().map(|(c, v)| (c, decimal_text(v))).collect()
    }

    /// Every currency that occurs in the lake.
    pub fn currencies(&self) -> BTreeSet<&str> {
        self.units.iter().flat_map(|u| u.billed_cost.keys().map(String::as_str)).collect()
    }

    /// Every data file the units refer to, relative to the lake folder.
    pub fn live_files(&self) -> impl Iterator<Item = &FileEntry> {
        self.units.iter().flat_map(|u| u.files.iter())
    }

    /// Every file a reader of this snapshot may open: data files, rollup parts and retired files.
    pub fn referenced_paths(&self) -> impl Iterator<Item = &str> {
        self.live_files()
            .chain(self.units.iter().flat_map(|u| u.parts.iter().map(|p| &p.file)))
            .map(|f| f.path.as_str())
            .chain(self.retired.iter().map(|f| f.path.as_str()))
    }

    /// Reads the manifest of the lake at `root`; an absent manifest is an empty lake.
    pub(crate) fn load(root: &Path) -> Result<Manifest, LakeError> {
        let path = root.join(layout::MANIFEST);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Manifest { format: FORMAT, ..Default::default() });
            }
            Err(e) => return Err(LakeError::io(path, e)),
        };
        let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| LakeError::Manifest {
            path: path.clone(),
            message: format!("not a valid lake manifest: {e}"),
        })?;
        if manifest.format != FORMAT {
            return Err(LakeError::Manifest {
                path,
                message: format!(
                    "manifest format {} is not the format {FORMAT} this costpilot reads",
                    manifest.format
                ),
            });
        }
        Ok(manifest)
    }

    /// Writes the manifest over the current one in a single atomic rename.
    pub(crate) fn store(&self, root: &Path, tag: &str) -> Result<(), LakeError> {
        let path = root.join(layout::MANIFEST);
        let mut text = serde_json::to_vec_pretty(self)
            .map_err(|e| LakeError::Manifest { path: path.clone(), message: e.to_string() })?;
        text.push(b'\n');
        Ok(layout::write_atomic(&path, &text, tag)?)
    }

    /// Puts `unit` in place of the unit with the same key (or adds it) and returns the one replaced.
    pub(crate) fn upsert(&mut self, unit: UnitEntry) -> Option<UnitEntry> {
        match self.units.binary_search_by(|u| u.key.cmp(&unit.key)) {
            Ok(i) => Some(std::mem::replace(&mut self.units[i], unit)),
            Err(i) => {
                self.units.insert(i, unit);
                None
            }
        }
    }
}

/// Now, as the manifest writes times.
pub(crate) fn now_text(now: DateTime<Utc>) -> String {
    now.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads a time the manifest wrote.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.with_timezone(&Utc))
}
