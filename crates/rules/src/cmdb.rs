//! The CMDB (ownership) import: a file that says who owns each account and resource — owner, team,
//! business unit, cost centre, application, environment, criticality, or any other dimension.
//!
//! **CSV** (`.csv`, or gzip-compressed `.csv.gz`; UTF-8, a leading byte-order mark is ignored): a
//! header row, then one row per entry. The columns `kind` (`account` or `resource`, any case) and
//! `id` (the account id or resource id) are required; every other column is a dimension, in any
//! order:
//!
//! ```text
//! kind,id,owner,team,business_unit,cost_centre,application,environment,criticality
//! account,540455323275,genai-lead@example.com,genai,Data & AI,CC-1200,support-assistant,prod,medium
//! resource,i-0abc123,ml-platform-lead@example.com,ml-platform,Data & AI,CC-1200,training-platform,prod,low
//! ```
//!
//! **JSON** (`.json`): an array of objects, or an object `{"entries": [...]}` holding that array
//! (the form costpilot stores). Each object has `kind`, `id` and dimension fields whose values are
//! strings; `null` means no value:
//!
//! ```json
//! {"entries": [{"kind": "account", "id": "540455323275", "team": "genai", "cost_centre": "CC-1200"}]}
//! ```
//!
//! Column and field names are trimmed, lower-cased, and `-`, space and `.` become `_`; then
//! `cost_center` and `costcenter` mean `cost_centre`, `bu` and `businessunit` mean `business_unit`,
//! `env` means `environment`, `app` means `application` and `owner_email` means `owner`. Any other
//! name is a dimension of its own. `account_id` and `resource_id` are refused: write `kind` and
//! `id`. Values are trimmed, and a blank value is no value; a CSV row of blank cells is skipped.
//! Each (kind, id) may be listed once.
//!
//! How values are used: for a cost line, the entry for its resource id is more specific than the
//! entry for its account id, so a resource entry's value wins. CMDB values rank below explicit tags
//! and AWS cost categories, and above virtual tags and account defaults.
//!
//! A bad file is refused whole with a [`RulesError`] naming the file, the row (CSV, 1-based, header
//! not counted) or entry (JSON, 1-based) and the column or field at fault, and the line and column
//! where the file has them (every CSV error and JSON syntax errors).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::RulesError;

/// What a CMDB entry describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CmdbKind {
    /// A cloud account, by account id.
    Account,
    /// One resource, by resource id.
    Resource,
}

impl CmdbKind {
    /// The word for it in files and messages.
    fn name(self) -> &'static str {
        match self {
            CmdbKind::Account => "account",
            CmdbKind::Resource => "resource",
        }
    }
}

/// One CMDB entry: the dimension values it gives one account or resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdbEntry {
    /// Whether `id` is an account id or a resource id.
    pub kind: CmdbKind,
    /// The account id or resource id, trimmed.
    pub id: String,
    /// Dimension name (canonical) → value; blank cells are absent.
    pub values: BTreeMap<String, String>,
    /// Where it came from: 1-based data row for CSV (header not counted), 1-based entry index for JSON.
    pub row: u64,
}

/// A CMDB: entries by account id and by resource id.
#[derive(Debug, Clone, Default)]
pub struct Cmdb {
    path: PathBuf,
    accounts: HashMap<String, CmdbEntry>,
    resources: HashMap<String, CmdbEntry>,
    columns: Vec<String>,
}

const EMPTY_CSV: &str = "empty file: expected a header row with kind and id";
const EMPTY_JSON: &str = "empty file: expected an array of entries or an object with \"entries\"";

impl Cmdb {
    /// Reads a CMDB file: `.csv`, `.csv.gz` or `.json`, told apart by extension.
    pub fn read(path: &Path) -> Result<Cmdb, RulesError> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_ascii_lowercase();
        let io = |e: std::io::Error| RulesError::file(path, e.to_string());
        if name.ends_with(".csv.gz") {
            let mut text = String::new();
            flate2::read::MultiGzDecoder::new(std::fs::File::open(path).map_err(io)?)
                .read_to_string(&mut text)
                .map_err(io)?;
            Cmdb::from_csv(&text, path)
        } else if name.ends_with(".csv") {
            Cmdb::from_csv(&std::fs::read_to_string(path).map_err(io)?, path)
        } else if name.ends_with(".json") {
            Cmdb::from_json(&std::fs::read_to_string(path).map_err(io)?, path)
        } else {
            Err(RulesError::file(path, "unsupported CMDB file: expected a .csv, .csv.gz or .json file"))
        }
    }

    /// Parses CSV text (path is only for messages).
    pub fn from_csv(text: &str, path: &Path) -> Result<Cmdb, RulesError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim().is_empty() {
            return Err(RulesError::file(path, EMPTY_CSV));
        }
        // Flexible, so a short or long row gets this module's message rather than the csv crate's.
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
        // Reading from memory, csv fails only on what `flexible` and `&str` rule out; kept as a
        // file error all the same.
        let csv_error = |e: csv::Error| RulesError::file(path, e.to_string());
        let header = reader.headers().map_err(csv_error)?.clone();
        let raw: Vec<&str> = header.iter().map(str::trim).collect();

        let mut cmdb = Cmdb { path: path.to_path_buf(), ..Cmdb::default() };
        let mut first: HashMap<String, usize> = HashMap::new();
        let mut names = Vec::with_capacity(raw.len());
        for (i, name) in raw.iter().enumerate() {
            let at = |message: String| RulesError::at(path, 1, i as u64 + 1, message);
            let canonical = canonical(name).map_err(|why| at(format!("column '{name}': {why}")))?;
            if let Some(&j) = first.get(&canonical) {
                return Err(at(format!("column '{name}' repeats '{}'", raw[j])));
            }
            first.insert(canonical.clone(), i);
            if canonical != "kind" && canonical != "id" {
                cmdb.columns.push(canonical.clone());
            }
            names.push(canonical);
        }
        let required = |column: &str| {
            first
                .get(column)
                .copied()
                .ok_or_else(|| RulesError::at(path, 1, 1, format!("missing required column '{column}'")))
        };
        let (kind_at, id_at) = (required("kind")?, required("id")?);

        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(csv_error)?;
            let row = i as u64 + 1;
            let line = record.position().map_or(row + 1, |p| p.line());
            // Spreadsheets save rows of empty cells below the data; they say nothing.
            if record.iter().all(|field| field.trim().is_empty()) {
                continue;
            }
            if record.len() != names.len() {
                let column = record.len().min(names.len()) as u64 + 1;
                let message = format!("row {row}: expected {} fields, found {}", names.len(), record.len());
                return Err(RulesError::at(path, line, column, message));
            }
            let at = |column: usize, message: String| {
                RulesError::at(
                    path,
                    line,
                    column as u64 + 1,
                    format!("row {row}, column '{}': {message}", raw[column]),
                )
            };
            let (kind, id) = key(&record[kind_at], &record[id_at]).map_err(|(field, why)| match field {
                Key::Kind => at(kind_at, why),
                Key::Id => at(id_at, why),
            })?;
            let values = (names.iter().zip(&record).enumerate())
                .filter(|(c, _)| *c != kind_at && *c != id_at)
                .filter_map(|(_, (name, v))| Some((name.clone(), present(v)?)))
                .collect();
            let entry = CmdbEntry { kind, id, values, row };
            cmdb.insert(entry).map_err(|(kind, id, prev)| {
                at(id_at, format!("{} {id} is already listed in row {prev}", kind.name()))
            })?;
        }
        Ok(cmdb)
    }

    /// Parses JSON text (path is only for messages).
    pub fn from_json(text: &str, path: &Path) -> Result<Cmdb, RulesError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim().is_empty() {
            return Err(RulesError::file(path, EMPTY_JSON));
        }
        let Document(entries) = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
        let mut cmdb = Cmdb { path: path.to_path_buf(), ..Cmdb::default() };
        for (i, Fields(fields)) in entries.into_iter().enumerate() {
            let row = i as u64 + 1;
            let err = |message: String| RulesError::file(path, format!("entry {row}{message}"));
            let mut first: HashMap<String, String> = HashMap::new();
            let (mut kind, mut id) = (None, None);
            let mut values = BTreeMap::new();
            for (raw, value) in fields {
                let field = raw.trim();
                let name = canonical(field).map_err(|why| err(format!(", field '{field}': {why}")))?;
                if let Some(earlier) = first.get(&name) {
                    return Err(err(format!(", field '{field}' repeats '{earlier}'")));
                }
                let value = match value {
                    Value::Null => None,
                    Value::String(s) => present(&s),
                    other => return Err(err(format!(", field '{field}': expected a string, found {other}"))),
                };
                match name.as_str() {
                    "kind" => kind = Some((field.to_string(), value)),
                    "id" => id = Some((field.to_string(), value)),
                    _ => {
                        if !cmdb.columns.contains(&name) {
                            cmdb.columns.push(name.clone());
                        }
                        if let Some(value) = value {
                            values.insert(name.clone(), value);
                        }
                    }
                }
                first.insert(name, field.to_string());
            }
            let required = |found: Option<(String, Option<String>)>, field: &str| {
                found.ok_or_else(|| err(format!(": missing required field '{field}'")))
            };
            let (kind_field, kind_value) = required(kind, "kind")?;
            let (id_field, id_value) = required(id, "id")?;
            let (kind, id) =
                key(kind_value.as_deref().unwrap_or_default(), id_value.as_deref().unwrap_or_default())
                    .map_err(|(field, why)| match field {
                        Key::Kind => err(format!(", field '{kind_field}': {why}")),
                        Key::Id => err(format!(", field '{id_field}': {why}")),
                    })?;
            cmdb.insert(CmdbEntry { kind, id, values, row }).map_err(|(kind, id, prev)| {
                err(format!(", field '{id_field}': {} {id} is already listed in entry {prev}", kind.name()))
            })?;
        }
        Ok(cmdb)
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entry for an account id.
    pub fn account(&self, id: &str) -> Option<&CmdbEntry> {
        self.accounts.get(id)
    }

    /// The entry for a resource id.
    pub fn resource(&self, id: &str) -> Option<&CmdbEntry> {
        self.resources.get(id)
    }

    /// The dimension columns the file has, canonical names, in file order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Number of account entries and of resource entries.
    pub fn counts(&self) -> (usize, usize) {
        (self.accounts.len(), self.resources.len())
    }

    /// Every entry, accounts first then resources, each sorted by id (deterministic).
    pub fn entries(&self) -> Vec<&CmdbEntry> {
        let mut entries: Vec<&CmdbEntry> = self.accounts.values().chain(self.resources.values()).collect();
        entries.sort_unstable_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
        entries
    }

    /// The JSON `from_json` reads back, pretty-printed, in `entries()` order: the form costpilot stores.
    pub fn to_json(&self) -> String {
        let entries =
            self.entries().into_iter().map(|entry| Stored { entry, columns: &self.columns }).collect();
        serde_json::to_string_pretty(&StoredDocument { entries }).expect("strings and maps always serialize")
    }

    /// Adds an entry; if its (kind, id) is already listed, gives back the kind, id and earlier row.
    fn insert(&mut self, entry: CmdbEntry) -> Result<(), (CmdbKind, String, u64)> {
        let map = match entry.kind {
            CmdbKind::Account => &mut self.accounts,
            CmdbKind::Resource => &mut self.resources,
        };
        match map.entry(entry.id.clone()) {
            Entry::Occupied(earlier) => Err((entry.kind, entry.id, earlier.get().row)),
            Entry::Vacant(slot) => {
                slot.insert(entry);
                Ok(())
            }
        }
    }
}

/// The canonical name of a column or field, or why the name is refused.
fn canonical(raw: &str) -> Result<String, &'static str> {
    let name: String = raw
        .trim()
        .chars()
        .map(|c| if matches!(c, '-' | ' ' | '.') { '_' } else { c })
        .collect::<String>()
        .to_lowercase();
    Ok(match name.as_str() {
        "" => return Err("the name is blank"),
        "account_id" | "resource_id" => return Err("use kind and id"),
        "cost_center" | "costcenter" => "cost_centre".to_string(),
        "bu" | "businessunit" => "business_unit".to_string(),
        "env" => "environment".to_string(),
        "app" => "application".to_string(),
        "owner_email" => "owner".to_string(),
        _ => name,
    })
}

/// A cell or field value, trimmed; blank is no value.
fn present(raw: &str) -> Option<String> {
    let value = raw.trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// Which of the two required fields is at fault.
enum Key {
    Kind,
    Id,
}

/// The kind and id of one row or entry, checked.
fn key(kind: &str, id: &str) -> Result<(CmdbKind, String), (Key, String)> {
    let kind = match kind.trim().to_ascii_lowercase().as_str() {
        "account" => CmdbKind::Account,
        "resource" => CmdbKind::Resource,
        "" => return Err((Key::Kind, "the kind is blank".to_string())),
        _ => return Err((Key::Kind, format!("'{}' is not account or resource", kind.trim()))),
    };
    match id.trim() {
        "" => Err((Key::Id, "the id is blank".to_string())),
        id => Ok((kind, id.to_string())),
    }
}

/// A serde_json error at its line and column, without the " at line L column C" its message ends
/// with (the error prints its own location).
fn json_error(path: &Path, e: &serde_json::Error) -> RulesError {
    let message = e.to_string();
    if e.line() == 0 {
        return RulesError::file(path, message);
    }
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = message.strip_suffix(&suffix).unwrap_or(&message);
    RulesError::at(path, e.line() as u64, e.column() as u64, message)
}

/// The entries of a JSON CMDB: an array of objects, or `{"entries": [...]}`.
struct Document(Vec<Fields>);

/// One JSON entry's fields in file order (serde_json's own map would sort them, losing the column
/// order `columns()` promises).
struct Fields(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DocumentVisitor;
        impl<'de> Visitor<'de> for DocumentVisitor {
            type Value = Document;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of entries or an object with \"entries\"")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Document, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = seq.next_element()? {
                    entries.push(entry);
                }
                Ok(Document(entries))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Document, A::Error> {
                let mut entries = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "entries" {
                        return Err(de::Error::unknown_field(&key, &["entries"]));
                    }
                    if entries.is_some() {
                        return Err(de::Error::duplicate_field("entries"));
                    }
                    entries = Some(map.next_value()?);
                }
                entries.map(Document).ok_or_else(|| de::Error::missing_field("entries"))
            }
        }
        deserializer.deserialize_any(DocumentVisitor)
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an entry object with kind, id and dimension fields")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Vec::new();
                while let Some(field) = map.next_entry()? {
                    fields.push(field);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// The stored JSON form.
#[derive(Serialize)]
struct StoredDocument<'a> {
    entries: Vec<Stored<'a>>,
}

/// One stored entry: kind, id, then every column in column order, `null` where it has no value,
/// so reading it back gives the same columns in the same order.
struct Stored<'a> {
    entry: &'a CmdbEntry,
    columns: &'a [String],
}

impl Serialize for Stored<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.columns.len() + 2))?;
        map.serialize_entry("kind", &self.entry.kind)?;
        map.serialize_entry("id", &self.entry.id)?;
        for column in self.columns {
            map.serialize_entry(column, &self.entry.values.get(column))?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GENERATED: &str = "\
kind,id,owner,team,business_unit,cost_centre,application,environment,criticality
account,540455323275,genai-lead@example.com,genai,Data & AI,CC-1200,support-assistant,prod,medium
resource,i-0abc123,ml-platform-lead@example.com,ml-platform,Data & AI,CC-1200,training-platform,prod,low
";

    fn csv(text: &str) -> Result<Cmdb, RulesError> {
        Cmdb::from_csv(text, Path::new("cmdb.csv"))
    }

    fn json(text: &str) -> Result<Cmdb, RulesError> {
        Cmdb::from_json(text, Path::new("cmdb.json"))
    }

    fn csv_err(text: &str) -> String {
        csv(text).unwrap_err().to_string()
    }

    fn json_err(text: &str) -> String {
        json(text).unwrap_err().to_string()
    }

    #[test]
    fn canonical_names_and_synonyms() {
        let cases = [
            (" Team ", "team"),
            ("Business Unit", "business_unit"),
            ("cost-center", "cost_centre"),
            ("Cost.Center", "cost_centre"),
            ("CostCenter", "cost_centre"),
            ("cost_centre", "cost_centre"),
            ("BU", "business_unit"),
            ("BusinessUnit", "business_unit"),
            ("Env", "environment"),
            ("app", "application"),
            ("Owner Email", "owner"),
            ("Data Classification", "data_classification"),
        ];
        for (raw, want) in cases {
            assert_eq!(canonical(raw), Ok(want.to_string()), "{raw}");
        }
        assert_eq!(canonical("Account ID"), Err("use kind and id"));
        assert_eq!(canonical("resource-id"), Err("use kind and id"));
        assert_eq!(canonical("  "), Err("the name is blank"));
    }

    #[test]
    fn reads_the_generated_csv() {
        let cmdb = csv(GENERATED).unwrap();
        assert_eq!(cmdb.path(), Path::new("cmdb.csv"));
        assert_eq!(
            cmdb.columns(),
            ["owner", "team", "business_unit", "cost_centre", "application", "environment", "criticality"]
        );
        assert_eq!(cmdb.counts(), (1, 1));
        let account = cmdb.account("540455323275").unwrap();
        assert_eq!((account.kind, account.row), (CmdbKind::Account, 1));
        assert_eq!(account.values["business_unit"], "Data & AI");
        assert_eq!(account.values.len(), 7);
        let resource = cmdb.resource("i-0abc123").unwrap();
        assert_eq!((resource.kind, resource.row), (CmdbKind::Resource, 2));
        assert_eq!(resource.values["team"], "ml-platform");
        assert!(cmdb.account("i-0abc123").is_none());
        assert!(cmdb.resource("540455323275").is_none());
    }

    #[test]
    fn csv_trims_canonicalises_and_drops_blanks() {
        let cmdb =
            csv("\u{feff}Kind , ID,Cost Center,BU,Env\n RESOURCE , r-1 , CC-1 ,  ,\nAccount,1,,,\n").unwrap();
        assert_eq!(cmdb.columns(), ["cost_centre", "business_unit", "environment"]);
        let r = cmdb.resource("r-1").unwrap();
        assert_eq!(r.values, BTreeMap::from([("cost_centre".to_string(), "CC-1".to_string())]));
        assert!(cmdb.account("1").unwrap().values.is_empty());
    }

    #[test]
    fn header_and_blank_rows_make_an_empty_cmdb() {
        let cmdb = csv("kind,id,team\n,,\n , \n").unwrap();
        assert_eq!((cmdb.counts(), cmdb.columns()), ((0, 0), &["team".to_string()][..]));
        assert!(cmdb.entries().is_empty());
    }

    #[test]
    fn entries_are_accounts_then_resources_by_id() {
        let cmdb = csv("kind,id\nresource,b\naccount,2\nresource,a\naccount,1\n").unwrap();
        let order: Vec<_> = cmdb.entries().iter().map(|e| (e.kind, e.id.as_str())).collect();
        assert_eq!(
            order,
            [
                (CmdbKind::Account, "1"),
                (CmdbKind::Account, "2"),
                (CmdbKind::Resource, "a"),
                (CmdbKind::Resource, "b")
            ]
        );
    }

    #[test]
    fn csv_round_trips_through_json() {
        let text =
            "kind,id,team,owner\naccount,1,genai,\nresource,r-1,,a@example.com\naccount,0002,ml,b@x.com\n";
        let cmdb = csv(text).unwrap();
        let stored = cmdb.to_json();
        let back = json(&stored).unwrap();
        // The stored form lists entries in `entries()` order, so `row` becomes the entry index.
        let renumbered: Vec<CmdbEntry> =
            (cmdb.entries().into_iter().zip(1..)).map(|(e, row)| CmdbEntry { row, ..e.clone() }).collect();
        assert_eq!(back.entries(), renumbered.iter().collect::<Vec<_>>());
        assert_eq!(back.columns(), cmdb.columns());
        assert_eq!(back.to_json(), stored);
        assert!(
            stored.starts_with(
                "{\n  \"entries\": [\n    {\n      \"kind\": \"account\",\n      \"id\": \"0002\""
            )
        );
    }

    #[test]
    fn json_reads_a_bare_array_with_synonyms_and_nulls() {
        let cmdb =
            json(r#"[{"Kind": "Account", "id": " 1 ", "Cost-Center": "CC-1", "env": null, "team": ""}]"#)
                .unwrap();
        assert_eq!(cmdb.columns(), ["cost_centre", "environment", "team"]);
        let entry = cmdb.account("1").unwrap();
        assert_eq!(entry.row, 1);
        assert_eq!(entry.values, BTreeMap::from([("cost_centre".to_string(), "CC-1".to_string())]));
        assert_eq!(json(r#"{"entries": []}"#).unwrap().counts(), (0, 0));
    }

    #[test]
    fn csv_missing_required_columns() {
        assert_eq!(csv_err("id,team\n"), "cmdb.csv:1:1: missing required column 'kind'");
        assert_eq!(csv_err("kind,team\n"), "cmdb.csv:1:1: missing required column 'id'");
    }

    #[test]
    fn csv_repeated_and_refused_columns() {
        assert_eq!(csv_err("kind,id,team,Team\n"), "cmdb.csv:1:4: column 'Team' repeats 'team'");
        assert_eq!(
            csv_err("kind,id,cost_centre,Cost Center\n"),
            "cmdb.csv:1:4: column 'Cost Center' repeats 'cost_centre'"
        );
        assert_eq!(csv_err("kind,id,Account ID\n"), "cmdb.csv:1:3: column 'Account ID': use kind and id");
        assert_eq!(csv_err("kind,id,,team\n"), "cmdb.csv:1:3: column '': the name is blank");
    }

    #[test]
    fn csv_bad_kind() {
        assert_eq!(
            csv_err("id,kind\n1,account\ni-1,vm\n"),
            "cmdb.csv:3:2: row 2, column 'kind': 'vm' is not account or resource"
        );
        assert_eq!(csv_err("kind,id\n,1\n"), "cmdb.csv:2:1: row 1, column 'kind': the kind is blank");
    }

    #[test]
    fn csv_blank_id() {
        assert_eq!(
            csv_err("kind,id,team\naccount,  ,genai\n"),
            "cmdb.csv:2:2: row 1, column 'id': the id is blank"
        );
    }

    #[test]
    fn csv_repeated_entries() {
        let text = "kind,id\naccount,123\nresource,123\naccount,123\n";
        assert_eq!(csv_err(text), "cmdb.csv:4:2: row 3, column 'id': account 123 is already listed in row 1");
        let text = "kind,id\nresource,i-1\nresource, i-1\n";
        assert_eq!(
            csv_err(text),
            "cmdb.csv:3:2: row 2, column 'id': resource i-1 is already listed in row 1"
        );
    }

    #[test]
    fn csv_wrong_field_count() {
        assert_eq!(csv_err("kind,id,team\naccount,1\n"), "cmdb.csv:2:3: row 1: expected 3 fields, found 2");
        assert_eq!(
            csv_err("kind,id\naccount,1\naccount,2,x\n"),
            "cmdb.csv:3:3: row 2: expected 2 fields, found 3"
        );
    }

    #[test]
    fn csv_lines_follow_quoted_newlines() {
        let text = "kind,id,owner\naccount,1,\"two\nlines\"\nvm,2,x\n";
        assert_eq!(csv_err(text), "cmdb.csv:4:1: row 2, column 'kind': 'vm' is not account or resource");
    }

    #[test]
    fn empty_files() {
        assert_eq!(csv_err(""), "cmdb.csv: empty file: expected a header row with kind and id");
        assert_eq!(csv_err("\u{feff}\n \n"), "cmdb.csv: empty file: expected a header row with kind and id");
        assert_eq!(
            json_err(" \n"),
            "cmdb.json: empty file: expected an array of entries or an object with \"entries\""
        );
    }

    #[test]
    fn json_syntax_errors_name_line_and_column() {
        let err = json("[\n  {\"kind\": \"account\",}\n]").unwrap_err();
        assert_eq!(err.to_string(), "cmdb.json:2:22: trailing comma");
        assert_eq!(json_err("{\"rows\": []}"), "cmdb.json:1:7: unknown field `rows`, expected `entries`");
        assert_eq!(json_err("{}"), "cmdb.json:1:2: missing field `entries`");
        assert_eq!(
            json_err("3"),
            "cmdb.json:1:1: invalid type: integer `3`, \
             expected an array of entries or an object with \"entries\""
        );
        assert_eq!(
            json_err("[\"account\"]"),
            "cmdb.json:1:10: invalid type: string \"account\", \
             expected an entry object with kind, id and dimension fields"
        );
    }

    #[test]
    fn json_entry_errors() {
        let cases = [
            (
                r#"[{"kind": "account", "id": "1", "team": 3}]"#,
                "entry 1, field 'team': expected a string, found 3",
            ),
            (r#"[{"kind": "account", "id": 123}]"#, "entry 1, field 'id': expected a string, found 123"),
            (
                r#"[{"kind": "account", "id": "1"}, {"kind": "vm", "id": "2"}]"#,
                "entry 2, field 'kind': 'vm' is not account or resource",
            ),
            (r#"[{"kind": null, "id": "1"}]"#, "entry 1, field 'kind': the kind is blank"),
            (r#"[{"kind": "resource", "id": " "}]"#, "entry 1, field 'id': the id is blank"),
            (r#"[{"id": "1"}]"#, "entry 1: missing required field 'kind'"),
            (r#"[{"kind": "account"}]"#, "entry 1: missing required field 'id'"),
            (
                r#"[{"kind": "account", "id": "1", "team": "a", "Team": "b"}]"#,
                "entry 1, field 'Team' repeats 'team'",
            ),
            (r#"[{"kind": "account", "account_id": "1"}]"#, "entry 1, field 'account_id': use kind and id"),
            (
                r#"[{"kind": "account", "id": "123"}, {"kind": "Account", "id": "123"}]"#,
                "entry 2, field 'id': account 123 is already listed in entry 1",
            ),
        ];
        for (text, want) in cases {
            let err = json(text).unwrap_err();
            assert_eq!((err.line, err.column), (None, None), "{text}");
            assert_eq!(err.to_string(), format!("cmdb.json: {want}"), "{text}");
        }
    }

    #[test]
    fn reads_csv_gz_csv_and_json_files() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("cmdb.CSV.GZ");
        let mut encoder =
            flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), Default::default());
        encoder.write_all(GENERATED.as_bytes()).unwrap();
        encoder.finish().unwrap();
        let from_gz = Cmdb::read(&gz).unwrap();
        assert_eq!(from_gz.path(), gz);
        assert_eq!(from_gz.entries(), csv(GENERATED).unwrap().entries());

        let stored = dir.path().join("cmdb.json");
        std::fs::write(&stored, from_gz.to_json()).unwrap();
        assert_eq!(Cmdb::read(&stored).unwrap().entries(), from_gz.entries());
    }

    #[test]
    fn read_refuses_other_extensions_and_missing_files() {
        let err = Cmdb::read(Path::new("cmdb.xlsx")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cmdb.xlsx: unsupported CMDB file: expected a .csv, .csv.gz or .json file"
        );
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.csv");
        let err = Cmdb::read(&missing).unwrap_err();
        assert_eq!((err.path.as_path(), err.line), (missing.as_path(), None));
        assert!(err.message.contains("No such file"), "{}", err.message);
    }
}
