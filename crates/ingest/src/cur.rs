//! AWS Cost and Usage Report readers: CUR 2.0 (Data Exports) Parquet, CSV and CSV.gz, and legacy CUR
//! CSV(.gz), mapped to the lake's FOCUS columns as docs/mapping.md describes.
//!
//! A file may carry any subset of the CUR columns: only [`names::REQUIRED`] must be there. Legacy
//! headers (`lineItem/UnblendedCost`) are read as their CUR 2.0 names (`line_item_unblended_cost`),
//! so both flavours share one mapping. Tags and cost categories come from the `resource_tags` and
//! `cost_category` maps (an Arrow map in Parquet, a JSON object in CSV) and from one-key columns
//! (`resourceTags/user:team`, `resource_tags_user_team`); product attributes from `product_*`
//! columns or the `product` map.

mod fold;
mod keyvalue;
mod mapping;
pub mod names;
pub mod services;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};

use datafusion::arrow::array::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::raw::{Container, RawBatch, RawReader};
use crate::report::{BadRow, FileReport};
use crate::tags::{is_cost_category_column, is_tag_column};
use crate::{BatchReader, IngestError, ReadOptions, SourceFile, SourceKind};

/// The two CUR flavours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// CUR 2.0 from AWS Data Exports (`line_item_unblended_cost` columns, map columns).
    Cur2,
    /// Legacy CUR (`lineItem/UnblendedCost` headers, one column per tag).
    Legacy,
}

impl Flavour {
    /// The `x_SourceFormat` value and report format of files of this flavour.
    pub fn format(self) -> &'static str {
        match self {
            Self::Cur2 => "cur2",
            Self::Legacy => "cur-legacy",
        }
    }

    /// The format as messages name it.
    pub fn display(self) -> &'static str {
        match self {
            Self::Cur2 => "AWS CUR 2.0",
            Self::Legacy => "AWS legacy CUR",
        }
    }
}

/// Opens a CUR 2.0 or legacy CUR file.
pub fn open(file: &SourceFile, opts: &ReadOptions) -> Result<Box<dyn BatchReader>, IngestError> {
    let flavour = if file.kind == SourceKind::CurLegacy { Flavour::Legacy } else { Flavour::Cur2 };
    Ok(Box::new(CurReader::open(&file.path, file.container, flavour, opts)?))
}

/// Reads one CUR file as lake batches.
///
/// Decoding the file and mapping its rows run on two threads of their own, each a batch ahead of
/// its consumer (bounded channels keep memory flat), so that a caller writing the batches out uses
/// a third: on a 2-core machine the decode, the mapping and the caller's work overlap.
pub struct CurReader {
    path: PathBuf,
    mapped: Receiver<Option<Mapped>>,
    report: FileReport,
    done: bool,
}

/// One mapped batch and what reading it found.
struct Mapped {
    /// The lake batch, or the error that ends the file.
    result: Result<RecordBatch, IngestError>,
    /// Data rows read for it.
    rows_read: u64,
    /// Rows skipped, with reasons.
    bad: Vec<BadRow>,
    /// Values read as nulls in kept rows, with reasons.
    nulled: Vec<BadRow>,
}

/// Raw batches decoded ahead of the mapping, and mapped batches ahead of the caller: two each,
/// so that a stage that stalls for a moment (the writer at a row-group boundary) does not stall
/// the others.
const AHEAD: usize = 2;

impl CurReader {
    /// Opens `path` (a `container` file of the given flavour), checking that it has every required
    /// column. Parquet files are read with only the columns the mapping uses.
    pub fn open(
        path: &Path,
        container: Container,
        flavour: Flavour,
        opts: &ReadOptions,
    ) -> Result<Self, IngestError> {
        let bytes = std::fs::metadata(path).map_err(|e| IngestError::io(path, e))?.len();
        let mut raw_opts = opts.raw(false);
        let (raw, plan) = match container {
            Container::Parquet => {
                let columns = parquet_columns(path)?;
                let plan = Plan::new(path, flavour, &columns)?;
                let wanted = plan.projection();
                // Mapped columns and the key/value maps hold a few names repeated over many rows:
                // they stay dictionaries.
                let maps = [&plan.product_map, &plan.tag_map, &plan.cost_category_map];
                raw_opts.dictionary_columns.extend(maps.into_iter().flatten().cloned());
                raw_opts.dictionary_columns.extend(plan.columns.values().cloned());
                (RawReader::open_parquet(path, Some(&wanted), &raw_opts)?, plan)
            }
            Container::Csv | Container::CsvGz => {
                let raw = RawReader::open(path, container, &raw_opts)?;
                let plan = Plan::new(path, flavour, &raw.column_names())?;
                (raw, plan)
            }
        };
        // `None` closes each stream: a stream that breaks off without it lost its thread.
        let (raw_tx, raw_rx) = sync_channel::<Option<Result<RawBatch, IngestError>>>(AHEAD);
        let (mapped_tx, mapped_rx) = sync_channel::<Option<Mapped>>(AHEAD);
        let spawn = |name: &str, work: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(work)
                .map(drop)
                .map_err(|e| IngestError::io(path, e))
        };
        // Each thread stops when its consumer goes away (a send fails) or its input ends.
        spawn(
            "cur-decode",
            Box::new(move || {
                for raw in raw {
                    if raw_tx.send(Some(raw)).is_err() {
                        return;
                    }
                }
                let _ = raw_tx.send(None);
            }),
        )?;
        let strict = opts.strict;
        let stopped = path.to_path_buf();
        spawn(
            "cur-map",
            Box::new(move || {
                let mut ledger = fold::Ledger::default();
                loop {
                    let mapped = match raw_rx.recv() {
                        Ok(None) => break,
                        Err(_) => Mapped::lost(&stopped, "decoding"),
                        Ok(Some(Err(e))) => Mapped::failed(e, 0),
                        Ok(Some(Ok(raw))) => {
                            let rows_read = (raw.batch.num_rows() + raw.malformed.len()) as u64;
                            match mapping::map_batch(&plan, &raw, strict, &mut ledger) {
                                Ok(f) => {
                                    Mapped { result: Ok(f.batch), rows_read, bad: f.bad, nulled: f.nulled }
                                }
                                Err(e) => Mapped::failed(e, rows_read),
                            }
                        }
                    };
                    let last = mapped.result.is_err();
                    if mapped_tx.send(Some(mapped)).is_err() || last {
                        return;
                    }
                }
                // Savings Plan covered and negation rows that did not cancel within the file.
                let residual = match ledger.finish() {
                    Ok(None) => None,
                    Ok(Some(batch)) => Some(Ok(batch)),
                    Err(message) => Some(Err(IngestError::Internal { path: stopped.clone(), message })),
                };
                let residual = residual.map(|result| Mapped {
                    result,
                    rows_read: 0,
                    bad: Vec::new(),
                    nulled: Vec::new(),
                });
                if let Some(mapped) = residual
                    && mapped_tx.send(Some(mapped)).is_err()
                {
                    return;
                }
                let _ = mapped_tx.send(None);
            }),
        )?;
        Ok(Self {
            path: path.to_path_buf(),
            mapped: mapped_rx,
            report: FileReport::new(path, flavour.format(), bytes),
            done: false,
        })
    }
}

impl Mapped {
    /// The error of a stream whose thread died (a bug, not bad input).
    fn lost(path: &Path, stage: &str) -> Self {
        let message = format!("the CUR {stage} thread stopped before the end of the file");
        Self::failed(IngestError::Internal { path: path.into(), message }, 0)
    }

    /// The error that ends the file, after `rows_read` rows.
    fn failed(e: IngestError, rows_read: u64) -> Self {
        Self { result: Err(e), rows_read, bad: Vec::new(), nulled: Vec::new() }
    }
}

fn parquet_columns(path: &Path) -> Result<Vec<String>, IngestError> {
    let file = File::open(path).map_err(|e| IngestError::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| IngestError::Parquet { path: path.into(), message: e.to_string() })?;
    Ok(builder.schema().fields().iter().map(|f| f.name().clone()).collect())
}

impl Iterator for CurReader {
    type Item = Result<RecordBatch, IngestError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let mapped = match self.mapped.recv() {
                Ok(Some(mapped)) => mapped,
                Ok(None) => {
                    self.done = true;
                    break;
                }
                Err(_) => Mapped::lost(&self.path, "mapping"),
            };
            self.report.rows_read += mapped.rows_read;
            self.report.skip(mapped.bad);
            self.report.null(mapped.nulled);
            match mapped.result {
                Ok(batch) => {
                    self.report.rows_kept += batch.num_rows() as u64;
                    if batch.num_rows() > 0 {
                        return Some(Ok(batch));
                    }
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

impl BatchReader for CurReader {
    fn report(&self) -> &FileReport {
        &self.report
    }
}

/// Where the mapping finds each CUR column in one file.
pub(crate) struct Plan {
    path: PathBuf,
    flavour: Flavour,
    /// CUR 2.0 name → the file's column name, for the used columns the file has.
    columns: HashMap<&'static str, String>,
    tag_map: Option<String>,
    tag_columns: Vec<String>,
    cost_category_map: Option<String>,
    cost_category_columns: Vec<String>,
    product_map: Option<String>,
}

impl Plan {
    fn new(path: &Path, flavour: Flavour, file_columns: &[String]) -> Result<Self, IngestError> {
        let known: Vec<&'static str> =
            names::USED.iter().map(|(c, _)| *c).chain(names::SPLIT.iter().map(|(c, _, _)| *c)).collect();
        let mut plan = Self {
            path: path.to_path_buf(),
            flavour,
            columns: HashMap::new(),
            tag_map: None,
            tag_columns: Vec::new(),
            cost_category_map: None,
            cost_category_columns: Vec::new(),
            product_map: None,
        };
        for name in file_columns {
            let lower = name.to_ascii_lowercase();
            let cur2 = match flavour {
                Flavour::Cur2 => Some(lower.clone()),
                // Legacy CUR in Parquet (as Athena reads it) already has snake-case names.
                Flavour::Legacy => names::legacy_to_cur2(name).or_else(|| Some(lower.clone())),
            };
            if let Some(known) =
                cur2.as_deref().and_then(|c| known.iter().copied().find(|k| k.eq_ignore_ascii_case(c)))
            {
                plan.columns.entry(known).or_insert_with(|| name.clone());
            } else if flavour == Flavour::Cur2 && lower == names::TAGS_MAP {
                plan.tag_map = Some(name.clone());
            } else if flavour == Flavour::Cur2 && lower == names::COST_CATEGORY_MAP {
                plan.cost_category_map = Some(name.clone());
            } else if flavour == Flavour::Cur2 && lower == names::PRODUCT_MAP {
                plan.product_map = Some(name.clone());
            } else if is_tag_column(name) {
                plan.tag_columns.push(name.clone());
            } else if is_cost_category_column(name) {
                plan.cost_category_columns.push(name.clone());
            }
        }
        if let Some(missing) = names::REQUIRED.iter().find(|c| !plan.columns.contains_key(*c)) {
            return Err(IngestError::MissingColumn {
                path: path.to_path_buf(),
                column: plan.spelled(missing).to_string(),
                format: flavour.display(),
            });
        }
        Ok(plan)
    }

    /// The file's name for a CUR 2.0 column, if the file has it.
    fn file_name(&self, cur2: &str) -> Option<&str> {
        self.columns.get(cur2).map(String::as_str)
    }

    /// A CUR 2.0 column as this file spells it (or would spell it), for messages.
    fn spelled<'a>(&'a self, cur2: &'a str) -> &'a str {
        match (self.file_name(cur2), self.flavour) {
            (Some(name), _) => name,
            (None, Flavour::Legacy) => names::legacy_spelling(cur2).unwrap_or(cur2),
            (None, Flavour::Cur2) => cur2,
        }
    }

    /// Every file column the mapping reads.
    fn projection(&self) -> Vec<&str> {
        self.columns
            .values()
            .chain(self.tag_columns.iter())
            .chain(self.cost_category_columns.iter())
            .chain(self.tag_map.iter())
            .chain(self.cost_category_map.iter())
            .chain(self.product_map.iter())
            .map(String::as_str)
            .collect()
    }
}
