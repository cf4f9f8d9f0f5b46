//! The error every rules file gives: the file, the line and column, and what is wrong.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// Why a rules file (tag rules, allocation rules) or a CMDB file was refused. The rules in force
/// stay as they were.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", path.display(), location(*line, *column))]
pub struct RulesError {
    /// The file.
    pub path: PathBuf,
    /// The 1-based line, when the error has one.
    pub line: Option<u64>,
    /// The 1-based column, when the error has one.
    pub column: Option<u64>,
    /// What is wrong, in words a person acts on.
    pub message: String,
}

fn location(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

impl RulesError {
    /// An error at a known line and column.
    pub fn at(path: &Path, line: u64, column: u64, message: impl Into<String>) -> Self {
        Self { path: path.to_path_buf(), line: Some(line), column: Some(column), message: message.into() }
    }

    /// An error about the whole file.
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        Self { path: path.to_path_buf(), line: None, column: None, message: message.into() }
    }
}

/// Parses YAML text into `T`, refusing what `T` does not declare (types use
/// `#[serde(deny_unknown_fields)]`); errors carry the line and column the parser reports.
pub fn parse_yaml<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, RulesError> {
    serde_norway::from_str(text).map_err(|e| {
        let (line, column) = match e.location() {
            Some(l) => (Some(l.line() as u64), Some(l.column() as u64)),
            None => (None, None),
        };
        let message = e.to_string();
        // The error prints its own location first; drop the parser's copy of that same one.
        let own = e.location().map(|l| format!(" at line {} column {}", l.line(), l.column()));
        let message = match own.as_deref().and_then(|suffix| message.strip_suffix(suffix)) {
            Some(stripped) => stripped.to_string(),
            None => message,
        };
        RulesError { path: path.to_path_buf(), line, column, message }
    })
}

/// The 1-based line and column of the first occurrence of `needle` as a YAML key or list item at
/// or after `from_line` (1-based), for errors found after parsing (a bad regex, a cycle). Falls
/// back to the first line.
pub fn locate(text: &str, needle: &str, from_line: u64) -> (u64, u64) {
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        if n < from_line {
            continue;
        }
        if let Some(col) = line.find(needle) {
            return (n, col as u64 + 1);
        }
    }
    (1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        version: u32,
    }

    #[test]
    fn unknown_fields_name_line_and_column() {
        let err = parse_yaml::<Doc>("version: 1\nversoin: 2\n", Path::new("r.yaml")).unwrap_err();
        assert_eq!(err.to_string(), "r.yaml:2:1: unknown field `versoin`, expected `version`");
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let err = parse_yaml::<Doc>("version: [1\n", Path::new("r.yaml")).unwrap_err();
        assert_eq!((err.line, err.column), (Some(1), Some(10)));
    }
}
