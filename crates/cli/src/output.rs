//! Rendering results for people (tables) and programs (CSV, JSON).

use std::borrow::Cow;
use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::ValueEnum;
pub use costpilot_model::format::thousands;
use costpilot_model::money::scaled_text;
use costpilot_query::export::{csv_safe_batch, csv_safe_cell};
use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches;

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for a terminal.
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// A JSON array of objects (one per row) or one JSON document.
    Json,
}

/// Prints a result of `schema` in the chosen format: an empty result is a table or CSV of the
/// header alone, or `[]`. Decimals are printed exactly; in tables trailing zeros after the decimal
/// point are trimmed for legibility. Text that would run as a formula in a spreadsheet is quoted
/// in CSV ([`csv_safe_batch`]), and control characters are escaped in tables ([`terminal_text`]).
pub fn print_batches(schema: &SchemaRef, batches: &[RecordBatch], format: Format) -> Result<()> {
    let empty = [RecordBatch::new_empty(schema.clone())];
    let batches = if batches.is_empty() { &empty[..] } else { batches };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        Format::Table => {
            let readable: Vec<RecordBatch> =
                batches.iter().map(|b| terminal_batch(&trim_decimals(b)?)).collect::<Result<_>>()?;
            writeln!(out, "{}", pretty_format_batches(&readable)?)?;
        }
        Format::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
            for b in batches {
                w.write(&exact_decimals(&csv_safe_batch(b)?)?)?;
            }
        }
        Format::Json => {
            // The writer prints `[]` for no rows itself.
            let mut w = datafusion::arrow::json::ArrayWriter::new(&mut out);
            let converted: Vec<RecordBatch> = batches.iter().map(exact_decimals).collect::<Result<_>>()?;
            let refs: Vec<&RecordBatch> = converted.iter().collect();
            w.write_batches(&refs)?;
            w.finish()?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// A CSV field: [`csv_safe_cell`] (no formulas), quoted when it holds a comma, a quote or a line
/// break. For CSV that commands write by hand rather than from batches.
pub fn csv_field(text: &str) -> String {
    let safe = csv_safe_cell(text);
    if safe.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", safe.replace('"', "\"\""))
    } else {
        safe.into_owned()
    }
}

/// Text as a terminal shows it without obeying it: control characters (C0, DEL, C1, so ANSI and
/// OSC escapes such as `\x1b[31m` or `\x1b]0;title\x07`) and the bidirectional overrides that
/// reorder what is shown are written as visible escapes (`\n`, `\t`, `\r`, `\u{1b}`), so a tag
/// value cannot recolour, retitle or rewrite the terminal or split a table row.
pub fn terminal_text(text: &str) -> Cow<'_, str> {
    let hostile = |c: char| {
        c.is_control()
            || matches!(c, '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(hostile) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if hostile(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The batch as text columns for a table: every cell as the table would show it (nested values
/// such as tag maps included), through [`terminal_text`]; nulls stay null, so they print empty.
fn terminal_batch(batch: &RecordBatch) -> Result<RecordBatch> {
    let options = FormatOptions::default().with_display_error(true);
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, col) in batch.schema().fields().iter().zip(batch.columns()) {
        let formatter = ArrayFormatter::try_new(col.as_ref(), &options)?;
        let text: StringArray = (0..col.len())
            .map(|i| col.is_valid(i).then(|| terminal_text(&formatter.value(i).to_string()).into_owned()))
            .collect();
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        columns.push(Arc::new(text));
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

/// A progress bar on stderr drawn with `template` when a person is watching a table (`table` and
/// stderr a terminal), else a hidden one.
pub fn progress_bar(table: bool, template: &str) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressStyle};
    if !table || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(&format!("{{spinner}} {template}"))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// Prints a serialisable value as pretty JSON.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value).context("encoding JSON")?);
    Ok(())
}

fn exact_decimals(batch: &RecordBatch) -> Result<RecordBatch> {
    map_decimals(batch, |v, scale| scaled_text(v, scale, false))
}

fn trim_decimals(batch: &RecordBatch) -> Result<RecordBatch> {
    map_decimals(batch, |v, scale| scaled_text(v, scale, true))
}

fn map_decimals(batch: &RecordBatch, f: impl Fn(i128, i8) -> String) -> Result<RecordBatch> {
    let schema = batch.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (field, col) in schema.fields().iter().zip(batch.columns()) {
        if let DataType::Decimal128(_, scale) = col.data_type() {
            let d = col.as_primitive::<Decimal128Type>();
            let text: StringArray =
                (0..d.len()).map(|i| d.is_valid(i).then(|| f(d.value(i), *scale))).collect();
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(text));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(col.clone());
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }

    #[test]
    fn terminal_text_escapes_what_a_terminal_would_obey() {
        assert_eq!(terminal_text("web-prod"), "web-prod");
        assert_eq!(terminal_text("\x1b[31mred\x1b]0;title\x07"), "\\u{1b}[31mred\\u{1b}]0;title\\u{7}");
        assert_eq!(terminal_text("a\nb\tc\rd\u{7f}\u{9b}e"), "a\\nb\\tc\\rd\\u{7f}\\u{9b}e");
        assert_eq!(terminal_text("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(terminal_text("Zürich €"), "Zürich €");
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(
            csv_field("=HYPERLINK(\"http://x\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""
        );
        assert_eq!(csv_field("-10.500000000000000"), "-10.500000000000000");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("@x"), "'@x");
    }
}

/// A long job's progress (see [`costpilot_model::progress`]) as a bar on the terminal: bytes with
/// their rate, or items. Jobs too small to read a bar of (under 16 MiB, or a single item) show
/// none, and neither does a job whose output is not a terminal.
#[derive(Default)]
pub struct Bar(std::sync::OnceLock<indicatif::ProgressBar>);

impl costpilot_model::progress::Progress for Bar {
    fn start(&self, what: &str, total: u64, counting: costpilot_model::progress::Counting) {
        use costpilot_model::progress::Counting;
        let (small, counter) = match counting {
            Counting::Bytes => (total < 16 * 1024 * 1024, "{bytes}/{total_bytes} {bytes_per_sec}"),
            Counting::Items => (total < 2, "{pos}/{len}"),
        };
        if small {
            return;
        }
        let bar = progress_bar(true, &format!("{what} [{{bar:30}}] {counter} eta {{eta}}"));
        bar.set_length(total);
        let _ = self.0.set(bar);
    }

    fn set(&self, done: u64) {
        if let Some(bar) = self.0.get() {
            bar.set_position(done);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.0.get() {
            bar.finish_and_clear();
        }
    }
}
