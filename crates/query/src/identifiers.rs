//! Names in SQL resolve without regard to case: `tags`, `billedcost`, `BILLEDCOST` and `BilledCost`
//! all name the column `BilledCost`, and `FOCUS` the table `focus`, while a quoted name
//! (`"BilledCost"`) stays exact, so `"billedcost"` fails as it does in PostgreSQL.
//!
//! DataFusion either folds unquoted names to lower case (which would make every FOCUS column
//! unreachable without quotes) or, as lake sessions configure it, keeps them exactly as written.
//! So before a query is parsed, [`Names::resolve`] respells each unquoted word of its text: a word
//! that names, in any case, exactly one column, table, schema or catalog of the session takes
//! that spelling; any other word takes the spelling of the first quoted word equal to it in any
//! case, else of its own first appearance in the query, so an alias, a CTE or a table alias
//! defined as `AggregatedData` and used as `aggregateddata` are one name (its definition usually
//! comes first, and the output keeps that spelling). Working on the tokens, not on a syntax tree,
//! reaches every place a name can stand (map access, `USING`, window names, `EXCLUDE` lists)
//! without enumerating them. Only the case of letters changes, so keywords and function names,
//! which SQL reads without regard to case, are unaffected when a word is respelt.
//!
//! Two session names equal but for case (none exist today) are ambiguous: a word matching both
//! is left as written and must be spelt exactly.

use std::collections::{HashMap, HashSet};

use datafusion::catalog::information_schema::INFORMATION_SCHEMA;
use datafusion::common::Result as DfResult;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

/// The names a session's queries can use, by their lower-case form.
#[derive(Debug, Default)]
pub(crate) struct Names {
    /// Lower case → the one spelling, or `None` when two spellings differ only in case.
    by_lower: HashMap<String, Option<String>>,
}

impl Names {
    /// Every catalog, schema, table and column name registered in `ctx`, but for the columns of
    /// `information_schema`: their generic lower-case names (`name`, `value`, `description`)
    /// would respell a user's aliases.
    pub(crate) async fn of(ctx: &SessionContext) -> DfResult<Names> {
        let mut names = Names::default();
        for catalog_name in ctx.catalog_names() {
            let Some(catalog) = ctx.catalog(&catalog_name) else { continue };
            names.add(&catalog_name);
            for schema_name in catalog.schema_names() {
                let Some(schema) = catalog.schema(&schema_name) else { continue };
                names.add(&schema_name);
                for table_name in schema.table_names() {
                    names.add(&table_name);
                    if schema_name == INFORMATION_SCHEMA {
                        continue;
                    }
                    if let Some(table) = schema.table(&table_name).await? {
                        for field in table.schema().fields() {
                            names.add(field.name());
                        }
                    }
                }
            }
        }
        Ok(names)
    }

    fn add(&mut self, name: &str) {
        match self.by_lower.get_mut(&name.to_ascii_lowercase()) {
            Some(Some(existing)) if existing != name => {
                self.by_lower.insert(name.to_ascii_lowercase(), None);
            }
            Some(_) => {}
            None => {
                self.by_lower.insert(name.to_ascii_lowercase(), Some(name.to_string()));
            }
        }
    }

    /// `sql` with every unquoted name respelt as the module documentation describes. Text the
    /// tokenizer refuses is returned unchanged, for the parser to report.
    pub(crate) fn resolve(&self, sql: &str, dialect: &dyn Dialect) -> String {
        let Ok(tokens) = Tokenizer::new(dialect, sql).tokenize_with_location() else {
            return sql.to_string();
        };
        let words: Vec<(Location, &str, bool)> = tokens
            .iter()
            .filter_map(|t| match &t.token {
                Token::Word(w) => Some((t.span.start, w.value.as_str(), w.quote_style.is_some())),
                _ => None,
            })
            .collect();
        let exact: HashSet<&str> = words.iter().filter(|w| w.2).map(|w| w.1).collect();
        let mut quoted: HashMap<String, &str> = HashMap::new();
        let mut local: HashMap<String, &str> = HashMap::new();
        for &value in &exact {
            quoted.entry(value.to_ascii_lowercase()).or_insert(value);
        }
        for &(_, value, is_quoted) in &words {
            if !is_quoted {
                let lower = value.to_ascii_lowercase();
                let first = quoted.get(&lower).copied().unwrap_or(value);
                local.entry(lower).or_insert(first);
            }
        }
        let mut respelt: Vec<(Location, &str)> = Vec::new();
        for &(at, value, is_quoted) in &words {
            if is_quoted || exact.contains(value) {
                continue;
            }
            let lower = value.to_ascii_lowercase();
            let target = match self.by_lower.get(&lower) {
                Some(Some(name)) => name.as_str(),
                Some(None) => value,
                None => local.get(&lower).copied().unwrap_or(value),
            };
            if target != value {
                respelt.push((at, target));
            }
        }
        if respelt.is_empty() {
            return sql.to_string();
        }
        let mut out = sql.to_string();
        let offsets = byte_offsets(sql, respelt.iter().map(|(at, _)| *at));
        for ((_, target), offset) in respelt.iter().zip(offsets) {
            // `target` equals the word but for ASCII case, so it has the word's length in bytes.
            out.replace_range(offset..offset + target.len(), target);
        }
        out
    }
}

/// The byte offset in `text` of each (1-based line, 1-based character column) location, in the
/// order given; the tokenizer counts columns in characters and starts a line after each `\n`.
fn byte_offsets(text: &str, locations: impl Iterator<Item = Location>) -> Vec<usize> {
    let mut line_starts = vec![0];
    line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    locations
        .map(|at| {
            let start = line_starts[(at.line as usize).saturating_sub(1).min(line_starts.len() - 1)];
            let skip = (at.column as usize).saturating_sub(1);
            text[start..].char_indices().nth(skip).map(|(i, _)| start + i).unwrap_or(text.len())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::GenericDialect;

    use super::*;

    fn names(list: &[&str]) -> Names {
        let mut names = Names::default();
        list.iter().for_each(|n| names.add(n));
        names
    }

    #[test]
    fn unquoted_names_take_the_session_spelling_and_quoted_names_stay() {
        let n = names(&["focus", "BilledCost", "Tags", "ServiceName"]);
        let sql = "select tags['team'], SUM(billedcost) AS total, \"BILLEDCOST\"\nFROM FOCUS f\n  GROUP BY TAGS['team'] ORDER BY Total";
        assert_eq!(
            n.resolve(sql, &GenericDialect {}),
            "select Tags['team'], SUM(BilledCost) AS total, \"BILLEDCOST\"\nFROM focus f\n  GROUP BY Tags['team'] ORDER BY total"
        );
    }

    #[test]
    fn query_names_take_their_first_or_quoted_spelling() {
        let n = names(&["focus", "BilledCost"]);
        let sql = "WITH Agg AS (SELECT sum(BilledCost) AS \"Cost\" FROM focus) SELECT cost, COST FROM agg";
        assert_eq!(
            n.resolve(sql, &GenericDialect {}),
            "WITH Agg AS (SELECT sum(BilledCost) AS \"Cost\" FROM focus) SELECT Cost, Cost FROM Agg"
        );
    }

    #[test]
    fn an_unquoted_word_spelt_as_a_quoted_name_is_that_name() {
        // As in PostgreSQL, where `billedcost` folds to the alias "billedcost".
        let n = names(&["focus", "BilledCost"]);
        let sql = "SELECT 1 AS \"billedcost\" FROM focus ORDER BY billedcost";
        assert_eq!(
            n.resolve(sql, &GenericDialect {}),
            "SELECT 1 AS \"billedcost\" FROM focus ORDER BY billedcost"
        );
    }

    #[test]
    fn names_equal_but_for_case_are_left_as_written() {
        let n = names(&["Team", "team", "focus"]);
        assert_eq!(
            n.resolve("SELECT TEAM, team FROM Focus", &GenericDialect {}),
            "SELECT TEAM, team FROM focus"
        );
    }

    #[test]
    fn offsets_count_characters_after_multibyte_text() {
        let n = names(&["focus", "ServiceName"]);
        let sql = "SELECT 'é€', servicename -- née\nFROM focus WHERE 'ü' <> SERVICENAME";
        assert_eq!(
            n.resolve(sql, &GenericDialect {}),
            "SELECT 'é€', ServiceName -- née\nFROM focus WHERE 'ü' <> ServiceName"
        );
    }
}
