//! Raw readers: a file's rows as Arrow batches under the file's own column names, before any
//! normalisation. CSV (plain or gzip) gives every column as text; Parquet keeps its own types.
//!
//! Normalisers ([`crate::cur`], `focus`) turn these batches into the lake schema with the
//! typed accessors of `convert`.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use costpilot_model::text_dictionary_type;
use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchReader, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use flate2::read::MultiGzDecoder;

use crate::IngestError;
use crate::report::BadRow;

/// Rows per batch the readers aim for.
pub const DEFAULT_BATCH_ROWS: usize = 32 * 1024;

/// The container of a file, found from its first bytes (never from its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// Apache Parquet (`PAR1` magic).
    Parquet,
    /// Gzip-compressed text, taken to be CSV.
    CsvGz,
    /// Plain text, taken to be CSV.
    Csv,
}

impl Container {
    /// Looks at the first bytes of `path`. An empty file is an error, and so is a file named
    /// `.parquet` that does not start as Parquet does: reading either as CSV would only report
    /// a malformed CSV file, which says nothing of what went wrong.
    pub fn sniff(path: &Path) -> Result<Self, IngestError> {
        let mut head = [0u8; 4];
        let mut f = File::open(path).map_err(|e| IngestError::io(path, e))?;
        let n = read_up_to(&mut f, &mut head).map_err(|e| IngestError::io(path, e))?;
        let named_parquet = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
        Ok(match &head[..n] {
            [] => return Err(IngestError::Empty { path: path.into() }),
            [b'P', b'A', b'R', b'1'] => Self::Parquet,
            _ if named_parquet => {
                return Err(IngestError::Parquet {
                    path: path.into(),
                    message: "it is named .parquet but does not start with the Parquet magic bytes PAR1"
                        .into(),
                });
            }
            [0x1f, 0x8b, ..] => Self::CsvGz,
            _ => Self::Csv,
        })
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// One batch of raw rows.
#[derive(Debug)]
pub struct RawBatch {
    /// The rows, under the file's column names.
    pub batch: RecordBatch,
    /// The 1-based data row number of the batch's first row (the header is not counted).
    pub first_row: u64,
    /// Rows dropped while reading because they were malformed as a whole (ragged CSV rows). Their
    /// numbers are not in `batch`.
    pub malformed: Vec<BadRow>,
    /// For each row of `batch`, its 1-based data row number when rows were dropped before it;
    /// empty when the rows are consecutive from `first_row`.
    pub row_numbers: Vec<u64>,
}

impl RawBatch {
    /// The 1-based data row number of row `i` of the batch.
    pub fn row_number(&self, i: usize) -> u64 {
        if self.row_numbers.is_empty() { self.first_row + i as u64 } else { self.row_numbers[i] }
    }
}

/// A raw reader: the file's column names and its batches.
pub struct RawReader {
    path: PathBuf,
    schema: SchemaRef,
    inner: Inner,
    bytes_read: Arc<AtomicU64>,
}

enum Inner {
    Csv(Box<CsvState>),
    Parquet {
        reader: ParquetRecordBatchReader,
        next_row: u64,
        row_group_bytes: Vec<u64>,
        rows_per_group: Vec<u64>,
        group: usize,
        rows_in_group: u64,
    },
}

struct CsvState {
    reader: csv::Reader<Box<dyn Read + Send>>,
    width: usize,
    batch_rows: usize,
    next_row: u64,
    null_word: bool,
    record: csv::StringRecord,
    done: bool,
    /// The text is gzip-compressed: an I/O error while reading it is then corrupt compressed data.
    gzip: bool,
}

struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Options for raw reading.
#[derive(Debug, Clone)]
pub struct RawOptions {
    /// Rows per batch.
    pub batch_rows: usize,
    /// Read the bare word `NULL` in CSV as a null (FOCUS files spell null that way). Empty fields
    /// are always null.
    pub null_word: bool,
    /// A counter the reader adds the file's consumed bytes to, for progress bars.
    pub progress: Arc<AtomicU64>,
    /// Parquet columns whose text, map keys and values included, is read as dictionaries of
    /// `Utf8` ([`costpilot_model::text_dictionary_type`]): a dictionary-encoded column then
    /// decodes to its keys and one copy of its distinct values, instead of a copy of every row's
    /// string; lookups and the lake writer then work once per distinct value.
    pub dictionary_columns: Vec<String>,
}

impl Default for RawOptions {
    fn default() -> Self {
        Self {
            batch_rows: DEFAULT_BATCH_ROWS,
            null_word: true,
            progress: Arc::new(AtomicU64::new(0)),
            dictionary_columns: Vec::new(),
        }
    }
}

/// `data_type` with every `Utf8` in it (inside maps, structs and lists too) as a dictionary.
fn text_as_dictionaries(data_type: &DataType) -> DataType {
    let field = |f: &Field| Arc::new(f.clone().with_data_type(text_as_dictionaries(f.data_type())));
    match data_type {
        DataType::Utf8 => text_dictionary_type(),
        DataType::Map(entries, sorted) => DataType::Map(field(entries), *sorted),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| field(f)).collect()),
        DataType::List(item) => DataType::List(field(item)),
        other => other.clone(),
    }
}

impl RawReader {
    /// Opens `path`, whose container was sniffed as `container`.
    pub fn open(path: &Path, container: Container, opts: &RawOptions) -> Result<Self, IngestError> {
        let bytes_read = opts.progress.clone();
        match container {
            Container::Parquet => Self::open_parquet(path, None, opts),
            Container::Csv | Container::CsvGz => {
                let file = File::open(path).map_err(|e| IngestError::io(path, e))?;
                let counted = CountingReader {
                    inner: BufReader::with_capacity(1 << 20, file),
                    count: bytes_read.clone(),
                };
                let text: Box<dyn Read + Send> = if container == Container::CsvGz {
                    Box::new(BufReader::with_capacity(1 << 20, MultiGzDecoder::new(counted)))
                } else {
                    Box::new(counted)
                };
                let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(text);
                let gzip = container == Container::CsvGz;
                let headers = reader.headers().map_err(|e| csv_error(path, &e, 1, gzip))?.clone();
                let names: Vec<String> =
                    headers.iter().map(|h| h.trim_start_matches('\u{feff}').trim().to_string()).collect();
                if names.iter().all(|n| n.is_empty()) {
                    return Err(IngestError::Csv {
                        path: path.into(),
                        line: 1,
                        message: "the file has no header row".into(),
                    });
                }
                let schema = Arc::new(Schema::new(
                    names.iter().map(|n| Field::new(n, DataType::Utf8, true)).collect::<Vec<_>>(),
                ));
                Ok(Self {
                    path: path.into(),
                    schema,
                    inner: Inner::Csv(Box::new(CsvState {
                        reader,
                        width: names.len(),
                        batch_rows: opts.batch_rows,
                        next_row: 1,
                        null_word: opts.null_word,
                        record: csv::StringRecord::new(),
                        done: false,
                        gzip,
                    })),
                    bytes_read,
                })
            }
        }
    }

    /// Opens a Parquet file reading only the named columns (those the file has); `None` reads all.
    pub fn open_parquet(
        path: &Path,
        columns: Option<&[&str]>,
        opts: &RawOptions,
    ) -> Result<Self, IngestError> {
        let bytes_read = opts.progress.clone();
        let perr = |e: datafusion::parquet::errors::ParquetError| IngestError::Parquet {
            path: path.into(),
            message: e.to_string(),
        };
        let file = File::open(path).map_err(|e| IngestError::io(path, e))?;
        let mut metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(perr)?;
        let named = |names: &[String], f: &Field| names.iter().any(|v| v.eq_ignore_ascii_case(f.name()));
        let as_dictionary = |f: &Field| named(&opts.dictionary_columns, f);
        if metadata.schema().fields().iter().any(|f| as_dictionary(f)) {
            let fields: Vec<Field> = metadata
                .schema()
                .fields()
                .iter()
                .map(|f| {
                    let data_type = if as_dictionary(f) {
                        text_as_dictionaries(f.data_type())
                    } else {
                        f.data_type().clone()
                    };
                    f.as_ref().clone().with_data_type(data_type)
                })
                .collect();
            // The footer is parsed once; only the Arrow types it maps to change.
            let options = ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(fields)));
            metadata = ArrowReaderMetadata::try_new(metadata.metadata().clone(), options).map_err(perr)?;
        }
        let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata);
        let meta = builder.metadata().clone();
        let row_group_bytes = meta.row_groups().iter().map(|g| g.compressed_size().max(0) as u64).collect();
        let rows_per_group = meta.row_groups().iter().map(|g| g.num_rows().max(0) as u64).collect();
        let builder = match columns {
            Some(wanted) => {
                let arrow_schema = builder.schema().clone();
                let roots: Vec<usize> = arrow_schema
                    .fields()
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| wanted.iter().any(|w| w.eq_ignore_ascii_case(f.name())))
                    .map(|(i, _)| i)
                    .collect();
                let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
                builder.with_projection(mask)
            }
            None => builder,
        };
        let reader = builder.with_batch_size(opts.batch_rows).build().map_err(perr)?;
        let schema = reader.schema();
        Ok(Self {
            path: path.into(),
            schema,
            inner: Inner::Parquet {
                reader,
                next_row: 1,
                row_group_bytes,
                rows_per_group,
                group: 0,
                rows_in_group: 0,
            },
            bytes_read,
        })
    }

    /// The file's columns as read (all text for CSV).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The file's column names.
    pub fn column_names(&self) -> Vec<String> {
        self.schema.fields().iter().map(|f| f.name().clone()).collect()
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The error of a CSV reader stopped by `e` after reading up to line `reached`. I/O errors carry
/// no position of their own (a corrupt gzip stream fails mid-line), so they name the line reached.
fn csv_error(path: &Path, e: &csv::Error, reached: u64, gzip: bool) -> IngestError {
    let line = e.position().map_or(reached, |p| p.line()).max(1);
    match e.kind() {
        csv::ErrorKind::Io(io) if gzip => IngestError::Csv {
            path: path.into(),
            line,
            message: format!("corrupt or truncated gzip data after line {reached}: {io}"),
        },
        csv::ErrorKind::Io(io) => IngestError::Csv { path: path.into(), line, message: io.to_string() },
        _ => IngestError::Csv { path: path.into(), line, message: e.to_string() },
    }
}

impl Iterator for RawReader {
    type Item = Result<RawBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Csv(state) => next_csv(&self.path, &self.schema, state),
            Inner::Parquet { reader, next_row, row_group_bytes, rows_per_group, group, rows_in_group } => {
                let batch = match reader.next()? {
                    Ok(b) => b,
                    Err(e) => {
                        return Some(Err(IngestError::Parquet {
                            path: self.path.clone(),
                            message: e.to_string(),
                        }));
                    }
                };
                let first_row = *next_row;
                *next_row += batch.num_rows() as u64;
                // Progress in compressed bytes: a row group counts once its rows are all read.
                *rows_in_group += batch.num_rows() as u64;
                while *group < rows_per_group.len() && *rows_in_group >= rows_per_group[*group] {
                    *rows_in_group -= rows_per_group[*group];
                    self.bytes_read.fetch_add(row_group_bytes[*group], Ordering::Relaxed);
                    *group += 1;
                }
                Some(Ok(RawBatch { batch, first_row, malformed: Vec::new(), row_numbers: Vec::new() }))
            }
        }
    }
}

fn next_csv(path: &Path, schema: &SchemaRef, st: &mut CsvState) -> Option<Result<RawBatch, IngestError>> {
    if st.done {
        return None;
    }
    let mut builders: Vec<StringBuilder> =
        (0..st.width).map(|_| StringBuilder::with_capacity(st.batch_rows, st.batch_rows * 8)).collect();
    let first_row = st.next_row;
    let mut malformed = Vec::new();
    let mut row_numbers = Vec::new();
    let mut kept = 0usize;
    while kept < st.batch_rows {
        // Reading into a StringRecord checks UTF-8 once per record; a record that is not UTF-8 is
        // consumed all the same, so reading goes on with the next one.
        let not_utf8 = match st.reader.read_record(&mut st.record) {
            Ok(false) => {
                st.done = true;
                break;
            }
            Ok(true) => None,
            Err(e) => match e.kind() {
                csv::ErrorKind::Utf8 { err, .. } => Some(err.field()),
                _ => return Some(Err(csv_error(path, &e, st.reader.position().line(), st.gzip))),
            },
        };
        let row = st.next_row;
        st.next_row += 1;
        if let Some(field) = not_utf8 {
            let column = schema.fields().get(field).map(|f| f.name().clone());
            malformed.push(BadRow { row, column, reason: "is not valid UTF-8".into() });
            continue;
        }
        // A blank line at the end of a file is not a row.
        if st.record.len() == 1 && st.record[0].is_empty() && st.width > 1 {
            st.next_row -= 1;
            continue;
        }
        if st.record.len() != st.width {
            malformed.push(BadRow {
                row,
                column: None,
                reason: format!("has {} fields, the header has {}", st.record.len(), st.width),
            });
            continue;
        }
        for (b, s) in builders.iter_mut().zip(st.record.iter()) {
            if s.is_empty() || (st.null_word && s == "NULL") {
                b.append_null();
            } else {
                b.append_value(s);
            }
        }
        if !malformed.is_empty() || !row_numbers.is_empty() {
            if row_numbers.is_empty() {
                row_numbers.extend((0..kept as u64).map(|i| first_row + i));
            }
            row_numbers.push(row);
        }
        kept += 1;
    }
    if kept == 0 && malformed.is_empty() {
        return None;
    }
    let columns: Vec<ArrayRef> = builders.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef).collect();
    let batch = match RecordBatch::try_new(schema.clone(), columns) {
        Ok(b) => b,
        Err(e) => return Some(Err(IngestError::Internal { path: path.into(), message: e.to_string() })),
    };
    Some(Ok(RawBatch { batch, first_row, malformed, row_numbers }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use std::io::Write;

    #[test]
    fn csv_rows_keep_their_numbers_past_a_ragged_row() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.csv");
        let mut f = File::create(&p).unwrap();
        writeln!(f, "a,b\n1,2\n3\n5,NULL\n,7").unwrap();
        f.write_all(b"\xff,8\n9,10\n").unwrap();
        drop(f);
        let mut r = RawReader::open(&p, Container::sniff(&p).unwrap(), &RawOptions::default()).unwrap();
        let b = r.next().unwrap().unwrap();
        assert_eq!(b.batch.num_rows(), 4);
        assert_eq!(b.malformed.len(), 2);
        assert_eq!(b.malformed[0].row, 2);
        assert_eq!(b.malformed[1].row, 5);
        assert_eq!(b.malformed[1].reason, "is not valid UTF-8");
        assert_eq!(b.malformed[1].column.as_deref(), Some("a"));
        assert_eq!(b.row_number(3), 6);
        assert_eq!(b.row_number(0), 1);
        assert_eq!(b.row_number(1), 3);
        assert_eq!(b.row_number(2), 4);
        let a = b.batch.column(0).as_string::<i32>();
        assert_eq!(a.value(0), "1");
        assert!(a.is_null(2));
        assert!(b.batch.column(1).as_string::<i32>().is_null(1));
        assert!(r.next().is_none());
    }
}
