//! Column chunks of the lake's text, amount, timestamp and key/value columns, encoded without
//! arrow-rs's per-value work.
//!
//! arrow-rs's writer dictionary-encodes a text column by hashing and comparing every value against
//! the chunk's dictionary, and writes each Decimal128 value through a freshly allocated 16-byte
//! buffer, which was the largest share of ingest CPU (see `bench/README.md`). Most lake text
//! arrives as Arrow dictionaries (a batch's few distinct names, repeated), so [`ChunkEncoder`]
//! maps a batch's dictionary into the chunk's once and then copies one index per row: hashing per
//! distinct value, not per row. Plain `Utf8` input is interned value by value, and amounts by
//! their integer value, which is a cheap hash.
//!
//! A chunk is written as Parquet v1 pages: one PLAIN dictionary page and RLE_DICTIONARY data pages,
//! or, when the dictionary outgrows [`DICTIONARY_BYTES`] (resource ids, say), PLAIN data pages as
//! arrow-rs falls back to. A chunk whose first page's values are mostly distinct, or gain new values
//! fast enough to outgrow that limit within the row group (amounts that vary row by row), is PLAIN
//! from the start: hashing them would buy nothing. Definition levels are RLE, as every nullable
//! flat column has them. The
//! chunk's bytes and metadata are spliced into the row group with
//! [`SerializedRowGroupWriter::append_column`], next to the chunks arrow-rs wrote.

use std::collections::HashMap;

use bytes::Bytes;
use costpilot_model::TextValues;
use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Int32Type, TimeUnit, TimestampMicrosecondType};
use datafusion::parquet::basic::{Compression, Encoding, Type as PhysicalType};
use datafusion::parquet::column::page::{CompressedPage, Page, PageWriter};
use datafusion::parquet::column::writer::ColumnCloseResult;
use datafusion::parquet::data_type::ByteArray;
use datafusion::parquet::errors::{ParquetError, Result};
use datafusion::parquet::file::metadata::ColumnChunkMetaData;
use datafusion::parquet::file::statistics::Statistics;
use datafusion::parquet::file::writer::{SerializedPageWriter, SerializedRowGroupWriter, TrackedWrite};
use datafusion::parquet::schema::types::ColumnDescPtr;

/// Rows per data page at most (arrow-rs's default page row limit).
const PAGE_ROWS: usize = 20_000;

/// Bytes of PLAIN values per data page, roughly (arrow-rs's default page size).
const PAGE_BYTES: usize = 1 << 20;

/// A chunk whose distinct values take more than this as a dictionary page stops deduplicating and
/// is written PLAIN (arrow-rs's default dictionary page limit).
pub const DICTIONARY_BYTES: usize = 1 << 20;

/// Rows a chunk sees before it judges whether a dictionary pays (the first page's). It does not
/// when more than half of their values are distinct, nor when the dictionary, growing as it grew
/// over them, would pass [`DICTIONARY_BYTES`] before the chunk ends (amounts and quantities that
/// vary row by row): then most pages would be PLAIN anyway, after hashing every value up to the
/// limit for a dictionary few rows use. Such a chunk is PLAIN from its first page.
const DICTIONARY_SAMPLE: usize = PAGE_ROWS;

/// A fixed-seed hasher: nothing about a file depends on the process that wrote it.
type Hasher = foldhash::fast::FixedState;

/// What a [`ChunkEncoder`] encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkKind {
    /// `Utf8` (or `Utf8View`, or a dictionary of `Utf8`) as BYTE_ARRAY, with chunk min/max
    /// statistics when `statistics` is set.
    Text {
        /// Whether the chunk carries min/max statistics.
        statistics: bool,
    },
    /// `Decimal128` as a 16-byte FIXED_LEN_BYTE_ARRAY, without statistics.
    Decimal,
    /// Microsecond timestamps as INT64, with chunk min/max statistics when `statistics` is set.
    Timestamp {
        /// Whether the chunk carries min/max statistics.
        statistics: bool,
    },
    /// The keys of a map of text to text (the lake's key/value columns), without statistics.
    MapKeys,
    /// The values of a map of text to text, without statistics.
    MapValues,
}

impl ChunkKind {
    /// The encoder for a leaf `descr` of a lake column of `data_type`, if this module handles it:
    /// flat text; decimals stored in 16 bytes, without statistics; microsecond timestamps; both
    /// leaves of a nullable map of text to nullable text, without statistics. Only SNAPPY and no
    /// compression are written here.
    pub fn of(
        data_type: &DataType,
        descr: &ColumnDescPtr,
        statistics: bool,
        compression: Compression,
    ) -> Option<Self> {
        if !matches!(compression, Compression::SNAPPY | Compression::UNCOMPRESSED) {
            return None;
        }
        if let DataType::Map(entries, _) = data_type {
            let DataType::Struct(fields) = entries.data_type() else { return None };
            let text_map = !entries.is_nullable()
                && fields.len() == 2
                && *fields[0].data_type() == DataType::Utf8
                && !fields[0].is_nullable()
                && *fields[1].data_type() == DataType::Utf8
                && fields[1].is_nullable();
            if !text_map || statistics || descr.max_rep_level() != 1 {
                return None;
            }
            // Definition levels: 0 a null map, 1 an empty one, 2 an entry, 3 an entry's value.
            return match (descr.max_def_level(), descr.path().parts().last().map(String::as_str)) {
                (2, Some(name)) if name == fields[0].name() => Some(Self::MapKeys),
                (3, Some(name)) if name == fields[1].name() => Some(Self::MapValues),
                _ => None,
            };
        }
        if descr.max_rep_level() != 0 || descr.max_def_level() != 1 {
            return None;
        }
        match (data_type, descr.physical_type()) {
            (DataType::Utf8, PhysicalType::BYTE_ARRAY) => Some(Self::Text { statistics }),
            (DataType::Decimal128(_, _), PhysicalType::FIXED_LEN_BYTE_ARRAY)
                if descr.type_length() == 16 && !statistics =>
            {
                Some(Self::Decimal)
            }
            (DataType::Timestamp(TimeUnit::Microsecond, _), PhysicalType::INT64) => {
                Some(Self::Timestamp { statistics })
            }
            _ => None,
        }
    }
}

/// Distinct values of a chunk in order of first appearance; `index` finds them while the chunk
/// still deduplicates.
#[derive(Default, Clone)]
struct TextStore {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    index: HashMap<Box<[u8]>, u32, Hasher>,
    /// The entry last interned: consecutive rows often repeat a value, and comparing with it is
    /// cheaper than hashing.
    last: Option<u32>,
    /// The least and greatest entry dropped by [`Store::forget_written`], for the statistics.
    forgotten: Option<(Vec<u8>, Vec<u8>)>,
}

impl TextStore {
    fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }

    fn push(&mut self, value: &[u8]) -> u32 {
        self.bytes.extend_from_slice(value);
        self.ends.push(self.bytes.len());
        (self.ends.len() - 1) as u32
    }

    /// The entry of `value`, trying `hint` (an entry the caller expects) before hashing.
    fn intern_near(&mut self, value: &[u8], hint: Option<u32>, dedup: bool) -> u32 {
        if let Some(h) = hint
            && self.get(h as usize) == value
        {
            return h;
        }
        self.intern(value, dedup)
    }

    /// Drops entries `keep..first`, whose successors move down by `first - keep`.
    fn forget(&mut self, keep: usize, first: usize) {
        let gone = first - keep;
        let forgotten = self.forgotten.take();
        let seed = forgotten.unwrap_or_else(|| (self.get(keep).to_vec(), self.get(keep).to_vec()));
        let bounds = (keep..first).fold(seed, |(mut min, mut max), i| {
            let v = self.get(i);
            if v < min.as_slice() {
                min = v.to_vec();
            } else if v > max.as_slice() {
                max = v.to_vec();
            }
            (min, max)
        });
        self.forgotten = Some(bounds);
        let start = if keep == 0 { 0 } else { self.ends[keep - 1] };
        let cut = self.ends[first - 1] - start;
        self.bytes.drain(start..start + cut);
        self.ends.drain(keep..first);
        self.ends[keep..].iter_mut().for_each(|e| *e -= cut);
        self.last = self.last.and_then(|l| match l as usize {
            l if l < keep => Some(l as u32),
            l if l >= first => Some((l - gone) as u32),
            _ => None,
        });
    }

    fn intern(&mut self, value: &[u8], dedup: bool) -> u32 {
        if let Some(last) = self.last
            && self.get(last as usize) == value
        {
            return last;
        }
        let i = match self.index.get(value) {
            Some(&i) => i,
            None => {
                let i = self.push(value);
                if dedup {
                    self.index.insert(value.into(), i);
                }
                i
            }
        };
        self.last = Some(i);
        i
    }
}

/// A number of fixed width in PLAIN encoding.
trait Plain: Copy + Eq + Ord + std::hash::Hash {
    const WIDTH: usize;
    fn put(self, out: &mut Vec<u8>);
}

// FIXED_LEN_BYTE_ARRAY decimals are big-endian two's complement; INT64 little-endian.
impl Plain for i128 {
    const WIDTH: usize = 16;
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_be_bytes());
    }
}

impl Plain for i64 {
    const WIDTH: usize = 8;
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// Distinct numbers of a chunk in order of first appearance (see [`TextStore`]).
#[derive(Clone)]
struct NumberStore<T> {
    values: Vec<T>,
    index: HashMap<T, u32, Hasher>,
    /// The entry last interned (amounts repeat row after row, zeros above all; so do hours).
    last: Option<(T, u32)>,
    /// The least and greatest value no entry holds any more (dropped by [`Store::forget_written`],
    /// or written PLAIN without one), for the statistics.
    forgotten: Option<(T, T)>,
}

impl<T> Default for NumberStore<T> {
    fn default() -> Self {
        Self { values: Vec::new(), index: HashMap::default(), last: None, forgotten: None }
    }
}

impl<T: Plain> NumberStore<T> {
    fn intern(&mut self, value: T, dedup: bool) -> u32 {
        if let Some((v, i)) = self.last
            && v == value
        {
            return i;
        }
        let i = match self.index.get(&value) {
            Some(&i) => i,
            None => {
                self.values.push(value);
                let i = (self.values.len() - 1) as u32;
                if dedup {
                    self.index.insert(value, i);
                }
                i
            }
        };
        self.last = Some((value, i));
        i
    }

    /// Appends the entry of every valid value to `pending`.
    fn intern_all(&mut self, values: &[T], nulls: Option<&NullBuffer>, dedup: bool, pending: &mut Vec<u32>) {
        match nulls {
            None => pending.extend(values.iter().map(|&v| self.intern(v, dedup))),
            Some(n) => pending.extend(n.valid_indices().map(|i| self.intern(values[i], dedup))),
        }
    }

    /// Appends every valid value to `out` in PLAIN encoding, without entries; with `bounds`,
    /// keeps their least and greatest for the statistics.
    fn put_all(&mut self, values: &[T], nulls: Option<&NullBuffer>, bounds: bool, out: &mut Vec<u8>) {
        out.reserve(values.len() * T::WIDTH);
        match nulls {
            None => values.iter().for_each(|v| v.put(out)),
            Some(n) => n.valid_indices().for_each(|i| values[i].put(out)),
        }
        if bounds {
            let valid = |i: &usize| nulls.is_none_or(|n| n.is_valid(*i));
            self.forgotten =
                (0..values.len()).filter(valid).map(|i| values[i]).fold(self.forgotten, |b, v| match b {
                    None => Some((v, v)),
                    Some((min, max)) => Some((min.min(v), max.max(v))),
                });
        }
    }

    /// Drops entries `keep..first`, whose successors move down by `first - keep`.
    fn forget(&mut self, keep: usize, first: usize) {
        let gone = first - keep;
        let dropped = self.values.drain(keep..first);
        let bounds = dropped.fold(self.forgotten, |b, v| match b {
            None => Some((v, v)),
            Some((min, max)) => Some((min.min(v), max.max(v))),
        });
        self.forgotten = bounds;
        self.last = self.last.and_then(|(v, l)| match l as usize {
            l if l < keep => Some((v, l as u32)),
            l if l >= first => Some((v, (l - gone) as u32)),
            _ => None,
        });
    }

    /// The least and greatest value rows hold: every entry, kept or forgotten, is one.
    fn bounds(&self) -> Option<(T, T)> {
        self.values.iter().fold(self.forgotten, |b, &v| match b {
            None => Some((v, v)),
            Some((min, max)) => Some((min.min(v), max.max(v))),
        })
    }

    fn memory(&self) -> usize {
        (self.values.capacity() + self.index.capacity() * 2) * std::mem::size_of::<T>()
    }
}

#[derive(Clone)]
enum Store {
    Text(TextStore),
    Decimal(NumberStore<i128>),
    Int64(NumberStore<i64>),
}

impl Store {
    fn len(&self) -> usize {
        match self {
            Self::Text(s) => s.ends.len(),
            Self::Decimal(s) => s.values.len(),
            Self::Int64(s) => s.values.len(),
        }
    }

    /// Bytes of value `i` in PLAIN encoding.
    fn plain_len(&self, i: usize) -> usize {
        match self {
            Self::Text(s) => 4 + s.get(i).len(),
            _ => self.width().unwrap_or_default(),
        }
    }

    /// Bytes of every value in PLAIN encoding, for numbers.
    fn width(&self) -> Option<usize> {
        match self {
            Self::Text(_) => None,
            Self::Decimal(_) => Some(i128::WIDTH),
            Self::Int64(_) => Some(i64::WIDTH),
        }
    }

    /// Bytes of all values in PLAIN encoding (the dictionary page).
    fn plain_bytes(&self) -> usize {
        match self {
            Self::Text(s) => s.bytes.len() + 4 * s.ends.len(),
            Self::Decimal(s) => i128::WIDTH * s.values.len(),
            Self::Int64(s) => i64::WIDTH * s.values.len(),
        }
    }

    fn push_plain(&self, i: usize, out: &mut Vec<u8>) {
        match self {
            Self::Text(s) => {
                let v = s.get(i);
                out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                out.extend_from_slice(v);
            }
            Self::Decimal(s) => s.values[i].put(out),
            Self::Int64(s) => s.values[i].put(out),
        }
    }

    /// Drops the entries from `keep` on that no `pending` value names any more, renumbering
    /// `pending`. Once a chunk has stopped deduplicating, every value past the dictionary gets an
    /// entry of its own, so without this the store would hold a copy of the whole chunk.
    fn forget_written(&mut self, keep: usize, pending: &mut [u32]) {
        // Entries are made in row order, so those still pending are the newest.
        let first = pending.iter().map(|&i| i as usize).filter(|&i| i >= keep).min().unwrap_or(self.len());
        if first == keep {
            return;
        }
        for i in pending.iter_mut().filter(|i| **i as usize >= first) {
            *i -= (first - keep) as u32;
        }
        match self {
            Self::Text(s) => s.forget(keep, first),
            Self::Decimal(s) => s.forget(keep, first),
            Self::Int64(s) => s.forget(keep, first),
        }
    }

    fn stop_deduplicating(&mut self) {
        match self {
            Self::Text(s) => s.index = HashMap::default(),
            Self::Decimal(s) => s.index = HashMap::default(),
            Self::Int64(s) => s.index = HashMap::default(),
        }
    }

    fn memory(&self) -> usize {
        match self {
            Self::Text(s) => s.bytes.capacity() + s.ends.capacity() * 8 + s.index.capacity() * 32,
            Self::Decimal(s) => s.memory(),
            Self::Int64(s) => s.memory(),
        }
    }
}

/// One encoded data page, waiting for the chunk's dictionary page to be written before it.
#[derive(Clone)]
struct DataPage {
    buf: Bytes,
    uncompressed: usize,
    /// Level slots in the page (its value count in Parquet terms).
    slots: u32,
    encoding: Encoding,
}

/// One column chunk (a row group's worth of one column) under construction. Rows are encoded into
/// pages as they come, so the chunk holds its distinct values, its finished pages and at most a
/// page of pending rows.
pub struct ChunkEncoder {
    descr: ColumnDescPtr,
    kind: ChunkKind,
    compression: Compression,
    store: Store,
    /// While true, equal values share one store entry (the store is a dictionary).
    dedup: bool,
    /// Rows the chunk is expected to reach (its row group's limit), if known.
    expected_rows: Option<usize>,
    /// Entries the dictionary page holds: all while deduplicating, those before it stopped after.
    dictionary_len: usize,
    /// Store entry of every pending value, in order.
    pending: Vec<u32>,
    /// The pending values themselves in PLAIN encoding, instead of `pending`, once a number
    /// chunk has stopped deduplicating: each value would be an entry of its own.
    direct: Vec<u8>,
    /// The definition level of every pending slot (a row of a flat column, an entry, an empty or
    /// a null map); the slot has a value where it is `max_def`.
    pending_def: Vec<u8>,
    /// Repetition levels of the pending slots of a map leaf (0 where a row starts).
    pending_rep: Vec<u8>,
    /// Rows the pending slots make up.
    pending_rows: usize,
    max_def: u8,
    pages: Vec<DataPage>,
    nulls: u64,
    rows: u64,
    /// Level slots written to pages (the chunk's value count; rows for a flat column).
    slots: u64,
    /// Buffers reused from page to page: fresh large allocations cost page faults.
    scratch: Vec<u8>,
    packed: Vec<u8>,
    snappy: snap::raw::Encoder,
}

impl ChunkEncoder {
    /// An empty chunk of the leaf column `descr`.
    pub fn new(descr: ColumnDescPtr, kind: ChunkKind, compression: Compression) -> Self {
        let store = match kind {
            ChunkKind::Decimal => Store::Decimal(NumberStore::default()),
            ChunkKind::Timestamp { .. } => Store::Int64(NumberStore::default()),
            _ => Store::Text(TextStore::default()),
        };
        let max_def = descr.max_def_level() as u8;
        Self {
            descr,
            kind,
            compression,
            store,
            dedup: true,
            expected_rows: None,
            dictionary_len: 0,
            pending: Vec::new(),
            direct: Vec::new(),
            pending_def: Vec::new(),
            pending_rep: Vec::new(),
            pending_rows: 0,
            max_def,
            pages: Vec::new(),
            nulls: 0,
            rows: 0,
            slots: 0,
            scratch: Vec::new(),
            packed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
        }
    }

    /// Tells the chunk it will likely reach `rows` rows, so that it can judge from its first rows
    /// whether its dictionary would outgrow [`DICTIONARY_BYTES`].
    pub fn with_expected_rows(mut self, rows: usize) -> Self {
        self.expected_rows = Some(rows);
        self
    }

    /// Whether `other`, given the same rows as this chunk, writes the same pages: the same kind,
    /// compression and leaf shape (physical type, width and levels).
    pub fn encodes_like(&self, other: &ChunkEncoder) -> bool {
        let (a, b) = (&self.descr, &other.descr);
        self.kind == other.kind
            && self.compression == other.compression
            && self.expected_rows == other.expected_rows
            && a.physical_type() == b.physical_type()
            && a.type_length() == b.type_length()
            && a.max_def_level() == b.max_def_level()
            && a.max_rep_level() == b.max_rep_level()
    }

    /// Whether `a` and `b` hold the same rows as far as this chunk reads them: the whole array
    /// for a flat column; a map's validity, offsets and this leaf's child (keys or values) for a
    /// map leaf, so that two maps sharing their values share their values' chunk. Arrays that
    /// share their buffers compare at once; others value by value, stopping at the first
    /// difference. Two dictionaries with equal values compare by their keys; should their keys
    /// differ where the values they point at do not, they are called different, which only costs
    /// encoding the leaf on its own.
    pub fn same_rows(&self, a: &ArrayRef, b: &ArrayRef) -> bool {
        if a.len() != b.len() || a.data_type() != b.data_type() {
            return false;
        }
        fn same_data(x: &dyn Array, y: &dyn Array) -> bool {
            let (x, y) = (x.to_data(), y.to_data());
            x.ptr_eq(&y) || x == y
        }
        let same = |x: &dyn Array, y: &dyn Array| {
            // Comparing dictionaries value by value looks each row's value up (columns such as
            // x_PayerAccountId and BillingAccountId are equal dictionaries built apart).
            if let (Some(dx), Some(dy)) = (x.as_any_dictionary_opt(), y.as_any_dictionary_opt())
                && same_data(dx.values().as_ref(), dy.values().as_ref())
            {
                return same_data(dx.keys(), dy.keys());
            }
            same_data(x, y)
        };
        if !self.is_map() {
            return same(a.as_ref(), b.as_ref());
        }
        let (Some(x), Some(y)) = (a.as_map_opt(), b.as_map_opt()) else { return false };
        let (cx, cy) = match self.kind {
            ChunkKind::MapKeys => (x.keys(), y.keys()),
            _ => (x.values(), y.values()),
        };
        x.logical_nulls() == y.logical_nulls()
            && x.value_offsets() == y.value_offsets()
            && same(cx.as_ref(), cy.as_ref())
    }

    /// A copy of this chunk as the chunk of the leaf `descr`, which [`Self::encodes_like`] this one
    /// and was given the same rows: its pages are these pages.
    pub fn copy_as(&self, descr: ColumnDescPtr) -> ChunkEncoder {
        ChunkEncoder {
            descr,
            kind: self.kind,
            compression: self.compression,
            store: self.store.clone(),
            dedup: self.dedup,
            expected_rows: self.expected_rows,
            dictionary_len: self.dictionary_len,
            pending: self.pending.clone(),
            direct: self.direct.clone(),
            pending_def: self.pending_def.clone(),
            pending_rep: self.pending_rep.clone(),
            pending_rows: self.pending_rows,
            max_def: self.max_def,
            pages: self.pages.clone(),
            nulls: self.nulls,
            rows: self.rows,
            slots: self.slots,
            scratch: Vec::new(),
            packed: Vec::new(),
            snappy: snap::raw::Encoder::new(),
        }
    }

    /// The leaf column this chunk writes.
    pub fn descr(&self) -> &ColumnDescPtr {
        &self.descr
    }

    /// Adds the rows of `array`: text as `Utf8`, `Utf8View` or a dictionary of text for a text
    /// chunk, `Decimal128` for a decimal one, the map itself for a map leaf.
    pub fn write(&mut self, array: &ArrayRef) -> Result<()> {
        if self.is_map() {
            self.write_map(array)?;
            return self.flush_pages(PAGE_ROWS);
        }
        let text_dictionary =
            |key: &DataType, value: &DataType| *key == DataType::Int32 && *value == DataType::Utf8;
        match (&self.store, array.data_type()) {
            (Store::Text(_), DataType::Utf8 | DataType::Utf8View)
            | (Store::Decimal(_), DataType::Decimal128(_, _))
            | (Store::Int64(_), DataType::Timestamp(TimeUnit::Microsecond, _)) => {}
            (Store::Text(_), DataType::Dictionary(k, v)) if text_dictionary(k, v) => {}
            (Store::Text(_), DataType::Dictionary(_, _) | DataType::LargeUtf8) => {
                return self.write(&cast(array, &DataType::Utf8)?);
            }
            (_, other) => {
                return Err(ParquetError::General(format!(
                    "column {} cannot be written from an array of type {other}",
                    self.descr.path()
                )));
            }
        }
        let nulls = array.logical_nulls();
        match nulls.as_ref() {
            Some(n) => push_levels(&mut self.pending_def, n.inner()),
            None => self.pending_def.resize(self.pending_def.len() + array.len(), 1),
        }
        self.pending_rows += array.len();
        let null_count = nulls.as_ref().map_or(0, |n| n.null_count());
        self.nulls += null_count as u64;
        self.rows += array.len() as u64;
        let valid_rows: Box<dyn Iterator<Item = usize>> = match nulls.as_ref() {
            Some(n) => Box::new(n.valid_indices()),
            None => Box::new(0..array.len()),
        };
        let (dedup, direct) = (self.dedup, self.direct_width().is_some());
        if !direct {
            self.pending.reserve(array.len() - null_count);
        }
        let bounds = matches!(self.kind, ChunkKind::Timestamp { statistics: true });
        match &mut self.store {
            Store::Text(store) => match array.data_type() {
                DataType::Utf8 => {
                    let a = array.as_string::<i32>();
                    self.pending.extend(valid_rows.map(|i| store.intern(a.value(i).as_bytes(), dedup)));
                }
                DataType::Utf8View => {
                    let a = array.as_string_view();
                    self.pending.extend(valid_rows.map(|i| store.intern(a.value(i).as_bytes(), dedup)));
                }
                _ => {
                    let dict = array.as_dictionary::<Int32Type>();
                    let values = dict.values().as_string::<i32>();
                    // Each distinct value of the batch goes into the store once (deduplicated or
                    // not); rows then only copy its index.
                    let mut remap = vec![u32::MAX; values.len()];
                    let mut index = |k: usize| {
                        if remap[k] == u32::MAX {
                            remap[k] = store.intern(values.value(k).as_bytes(), dedup);
                        }
                        remap[k]
                    };
                    let keys = dict.keys().values();
                    match nulls.as_ref() {
                        None => self.pending.extend(keys.iter().map(|&k| index(k as usize))),
                        Some(n) => self.pending.extend(n.valid_indices().map(|i| index(keys[i] as usize))),
                    }
                }
            },
            Store::Decimal(store) => {
                let values = array.as_primitive::<Decimal128Type>().values();
                match direct {
                    true => store.put_all(values, nulls.as_ref(), bounds, &mut self.direct),
                    false => store.intern_all(values, nulls.as_ref(), dedup, &mut self.pending),
                }
            }
            Store::Int64(store) => {
                let values = array.as_primitive::<TimestampMicrosecondType>().values();
                match direct {
                    true => store.put_all(values, nulls.as_ref(), bounds, &mut self.direct),
                    false => store.intern_all(values, nulls.as_ref(), dedup, &mut self.pending),
                }
            }
        }
        self.limit_dictionary()?;
        self.flush_pages(PAGE_ROWS)
    }

    fn is_map(&self) -> bool {
        matches!(self.kind, ChunkKind::MapKeys | ChunkKind::MapValues)
    }

    /// Adds a map's rows to a map leaf: levels for every row, and the keys or the non-null values
    /// (`Utf8`, or dictionaries of it).
    fn write_map(&mut self, array: &ArrayRef) -> Result<()> {
        let bad = || {
            ParquetError::General(format!(
                "column {} cannot be written from an array of type {}",
                self.descr.path(),
                array.data_type()
            ))
        };
        let map = array.as_map_opt().ok_or_else(bad)?;
        let (leaf, max_def) = match self.kind {
            ChunkKind::MapKeys => (map.keys(), 2),
            _ => (map.values(), 3),
        };
        let text = TextValues::of(leaf.as_ref()).ok_or_else(bad)?;
        let Store::Text(store) = &mut self.store else { return Err(bad()) };
        let leaf_nulls = leaf.logical_nulls();
        let offsets = map.value_offsets();
        // Levels first, a run per row: 0 then 1s for repetition; the entry's definition (a null
        // value is one short of `max_def`); a null or empty map is one slot of its own.
        let entries = |row: usize| match map.is_valid(row) {
            true => offsets[row] as usize..offsets[row + 1] as usize,
            false => 0..0,
        };
        for row in 0..map.len() {
            let range = entries(row);
            if range.is_empty() {
                self.pending_def.push(u8::from(map.is_valid(row)));
                self.pending_rep.push(0);
                continue;
            }
            self.pending_rep.push(0);
            self.pending_rep.resize(self.pending_rep.len() + range.len() - 1, 1);
            match leaf_nulls.as_ref() {
                None => self.pending_def.resize(self.pending_def.len() + range.len(), max_def),
                Some(n) => self.pending_def.extend(range.map(|j| max_def - u8::from(n.is_null(j)))),
            }
        }
        // Then the entries of the non-null values, row after row.
        let dedup = self.dedup;
        let valid = |j: &usize| leaf_nulls.as_ref().is_none_or(|n| n.is_valid(*j));
        match text {
            TextValues::Dictionary(keys, values) => {
                // A dictionary's distinct values go into the store once each.
                let mut remap = vec![u32::MAX; values.len()];
                for row in 0..map.len() {
                    self.pending.extend(entries(row).filter(valid).map(|j| {
                        let k = keys[j] as usize;
                        if remap[k] == u32::MAX {
                            remap[k] = store.intern(values.value(k).as_bytes(), dedup);
                        }
                        remap[k]
                    }));
                }
            }
            TextValues::Plain(values) => {
                // Rows of a bill tend to repeat the previous row's keys in the same order, and
                // often its values: the entry at the same position of the previous row is tried
                // before hashing.
                let mut previous: Vec<u32> = Vec::new();
                for row in 0..map.len() {
                    let range = entries(row);
                    let start = range.start;
                    for j in range.filter(valid) {
                        let at = j - start;
                        let entry =
                            store.intern_near(values.value(j).as_bytes(), previous.get(at).copied(), dedup);
                        match previous.get_mut(at) {
                            Some(p) => *p = entry,
                            None => previous.push(entry),
                        }
                        self.pending.push(entry);
                    }
                }
            }
        }
        self.rows += map.len() as u64;
        self.pending_rows += map.len();
        self.limit_dictionary()
    }

    /// Stops deduplicating once the dictionary passes [`DICTIONARY_BYTES`]: the pages so far
    /// index the dictionary as it is now, later ones are PLAIN.
    fn limit_dictionary(&mut self) -> Result<()> {
        // Before the first page every value is pending, each naming its store entry, so PLAIN
        // pages can still be made of them.
        if self.dedup
            && self.slots == 0
            && self.pending_rows >= DICTIONARY_SAMPLE
            && (self.store.len() * 2 > self.pending.len() || self.outgrows_dictionary())
        {
            self.dedup = false;
            self.store.stop_deduplicating();
            if self.direct_width().is_some() {
                // Every entry is pending (no page is written yet): the values move to `direct`.
                for &i in &self.pending {
                    self.store.push_plain(i as usize, &mut self.direct);
                }
                self.pending.clear();
                self.store.forget_written(0, &mut []);
            }
            return Ok(());
        }
        if self.dedup && self.store.plain_bytes() > DICTIONARY_BYTES {
            self.flush_pages(0)?;
            self.dedup = false;
            self.dictionary_len = self.store.len();
            self.store.stop_deduplicating();
        }
        Ok(())
    }

    /// Whether the dictionary would pass [`DICTIONARY_BYTES`] before the chunk reaches its
    /// expected rows, were it to keep gaining new values as fast as over the second half of the
    /// values pending (all the chunk's so far). Entries are numbered in order of first
    /// appearance, so the first half of the values holds entries up to its greatest.
    fn outgrows_dictionary(&self) -> bool {
        let Some(expected_rows) = self.expected_rows else { return false };
        let (values, entries) = (self.pending.len(), self.store.len());
        if values < 2 || entries == 0 || self.pending_rows == 0 {
            return false;
        }
        let half = values / 2;
        let early = self.pending[..half].iter().max().map_or(0, |&m| m as usize + 1);
        let new_per_value = (entries - early) as f64 / (values - half) as f64;
        let expected_values = expected_rows as f64 * values as f64 / self.pending_rows as f64;
        let projected = entries as f64 + new_per_value * (expected_values - values as f64).max(0.0);
        let bytes_per_entry = self.store.plain_bytes() as f64 / entries as f64;
        projected * bytes_per_entry > DICTIONARY_BYTES as f64
    }

    /// Encodes pending rows into pages while at least `keep_below` rows are pending (all of them
    /// for 0). Pages hold whole rows.
    fn flush_pages(&mut self, keep_below: usize) -> Result<()> {
        let repeated = self.is_map();
        while self.pending_rows > 0 && self.pending_rows >= keep_below {
            let dictionary = self.dedup && self.store.len() > 0;
            let direct = self.direct_width();
            let max_def = self.max_def;
            // PAGE_ROWS rows, or all pending rows when they are fewer than twice that (nothing
            // pending is then left to move to the front); PLAIN values also end a page at about
            // PAGE_BYTES.
            let all = self.pending_rows < 2 * PAGE_ROWS;
            let page_rows = if all { self.pending_rows } else { PAGE_ROWS };
            let (slots, rows, values) = if dictionary && !repeated {
                let rows = page_rows;
                (rows, rows, self.pending_def[..rows].iter().filter(|&&d| d == max_def).count())
            } else if dictionary {
                // All pending slots, or about PAGE_ROWS of them ended at the next row start.
                let reps = &self.pending_rep;
                let mut slots = if all { reps.len() } else { reps.len().min(PAGE_ROWS) };
                slots += reps[slots..].iter().take_while(|&&r| r != 0).count();
                let rows = reps[..slots].iter().filter(|&&r| r == 0).count();
                (slots, rows, self.pending_def[..slots].iter().filter(|&&d| d == max_def).count())
            } else {
                let (mut slot, mut rows, mut values, mut plain_bytes) = (0, 0, 0, 0);
                while slot < self.pending_def.len() {
                    if !repeated || self.pending_rep[slot] == 0 {
                        if rows == page_rows || plain_bytes >= PAGE_BYTES {
                            break;
                        }
                        rows += 1;
                    }
                    if self.pending_def[slot] == max_def {
                        if !dictionary {
                            plain_bytes += match direct {
                                Some(w) => w,
                                None => self.store.plain_len(self.pending[values] as usize),
                            };
                        }
                        values += 1;
                    }
                    slot += 1;
                }
                (slot, rows, values)
            };
            let buf = &mut self.scratch;
            buf.clear();
            if repeated {
                buf.extend_from_slice(&[0; 4]);
                encode_hybrid(&self.pending_rep[..slots], 1, buf);
                let len = (buf.len() - 4) as u32;
                buf[..4].copy_from_slice(&len.to_le_bytes());
            }
            let start = buf.len();
            buf.extend_from_slice(&[0; 4]);
            if values == slots {
                // Every slot holds a value: one run, without scanning the levels again.
                push_varint(buf, (slots as u64) << 1);
                buf.push(max_def);
            } else {
                encode_hybrid(&self.pending_def[..slots], bit_width(u32::from(max_def)), buf);
            }
            let len = (buf.len() - start - 4) as u32;
            buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
            let encoding = if dictionary {
                let width = bit_width(self.store.len().saturating_sub(1) as u32);
                buf.push(width);
                encode_hybrid(&self.pending[..values], width, buf);
                Encoding::RLE_DICTIONARY
            } else if let Some(w) = direct {
                buf.extend_from_slice(&self.direct[..values * w]);
                Encoding::PLAIN
            } else {
                for &i in &self.pending[..values] {
                    self.store.push_plain(i as usize, buf);
                }
                Encoding::PLAIN
            };
            let uncompressed = self.scratch.len();
            let buf = self.compress_scratch()?;
            self.pages.push(DataPage { buf, uncompressed, slots: slots as u32, encoding });
            self.pending_def.drain(..slots);
            if repeated {
                self.pending_rep.drain(..slots);
            }
            self.pending_rows -= rows;
            self.slots += slots as u64;
            match direct {
                Some(w) => drop(self.direct.drain(..values * w)),
                None => {
                    self.pending.drain(..values);
                    if !self.dedup {
                        self.store.forget_written(self.dictionary_len, &mut self.pending);
                    }
                }
            }
        }
        Ok(())
    }

    /// The width of the values in `direct`, when pending values are kept there rather than as
    /// store entries.
    fn direct_width(&self) -> Option<usize> {
        self.store.width().filter(|_| !self.dedup)
    }

    /// The scratch buffer as a page body, compressed.
    fn compress_scratch(&mut self) -> Result<Bytes> {
        match self.compression {
            Compression::SNAPPY => {
                let need = snap::raw::max_compress_len(self.scratch.len());
                // Grown, never shrunk: zeroing it again for every page cost more than compressing.
                if self.packed.len() < need {
                    self.packed.resize(need, 0);
                }
                let n = self
                    .snappy
                    .compress(&self.scratch, &mut self.packed)
                    .map_err(|e| ParquetError::External(Box::new(e)))?;
                Ok(Bytes::copy_from_slice(&self.packed[..n]))
            }
            _ => Ok(Bytes::copy_from_slice(&self.scratch)),
        }
    }

    /// Memory the chunk holds.
    pub fn memory_size(&self) -> usize {
        self.store.memory()
            + self.pending.capacity() * 4
            + self.direct.capacity()
            + self.pending_def.capacity()
            + self.pending_rep.capacity()
            + self.pages.iter().map(|p| p.buf.len()).sum::<usize>()
            + self.scratch.capacity()
            + self.packed.capacity()
    }

    /// Bytes the chunk will take in the file, roughly.
    pub fn estimated_bytes(&self) -> usize {
        let dictionary = if self.dedup { self.store.plain_bytes() } else { 0 };
        let pending = self.pending.len() * 4 + self.direct.len();
        dictionary + self.pages.iter().map(|p| p.buf.len()).sum::<usize>() + pending
    }

    /// Finishes the chunk and splices it into `group`, which must be at this column.
    pub fn append_to<W: std::io::Write + Send>(
        self,
        group: &mut SerializedRowGroupWriter<'_, W>,
    ) -> Result<()> {
        let (bytes, close) = self.finish()?;
        group.append_column(&bytes, close)
    }

    /// The chunk's pages and their metadata.
    pub fn finish(mut self) -> Result<(Bytes, ColumnCloseResult)> {
        self.flush_pages(0)?;
        let rows = self.rows;
        if self.pages.is_empty() {
            // A chunk of no rows still has a data page: empty level sections, no values.
            self.scratch.clear();
            self.scratch.resize(if self.is_map() { 8 } else { 4 }, 0);
            let uncompressed = self.scratch.len();
            let buf = self.compress_scratch()?;
            self.pages.push(DataPage { buf, uncompressed, slots: 0, encoding: Encoding::PLAIN });
        }
        if self.dedup {
            self.dictionary_len = self.store.len();
        }
        let has_dictionary = self.pages.iter().any(|p| p.encoding == Encoding::RLE_DICTIONARY);
        let size: usize = self.pages.iter().map(|p| p.buf.len() + 64).sum();
        let mut sink = TrackedWrite::new(Vec::with_capacity(size + self.store.plain_bytes()));
        let mut writer = SerializedPageWriter::new(&mut sink);
        let (mut compressed, mut uncompressed) = (0i64, 0i64);
        let mut dictionary_offset = None;
        if has_dictionary {
            self.scratch.clear();
            for i in 0..self.dictionary_len {
                self.store.push_plain(i, &mut self.scratch);
            }
            let size = self.scratch.len();
            let buf = self.compress_scratch()?;
            let page = Page::DictionaryPage {
                buf,
                num_values: self.dictionary_len as u32,
                encoding: Encoding::PLAIN,
                is_sorted: false,
            };
            let spec = writer.write_page(CompressedPage::new(page, size))?;
            dictionary_offset = Some(spec.offset as i64);
            compressed += spec.compressed_size as i64;
            uncompressed += spec.uncompressed_size as i64;
        }
        let mut data_offset = None;
        let mut encodings = vec![Encoding::PLAIN, Encoding::RLE];
        for p in std::mem::take(&mut self.pages) {
            if p.encoding == Encoding::RLE_DICTIONARY && !encodings.contains(&p.encoding) {
                encodings.push(p.encoding);
            }
            let page = Page::DataPage {
                buf: p.buf,
                num_values: p.slots,
                encoding: p.encoding,
                def_level_encoding: Encoding::RLE,
                rep_level_encoding: Encoding::RLE,
                statistics: None,
            };
            let spec = writer.write_page(CompressedPage::new(page, p.uncompressed))?;
            data_offset.get_or_insert(spec.offset as i64);
            compressed += spec.compressed_size as i64;
            uncompressed += spec.uncompressed_size as i64;
        }
        writer.close()?;
        let bytes = Bytes::from(sink.into_inner()?);
        let mut meta = ColumnChunkMetaData::builder(self.descr.clone())
            .set_compression(self.compression)
            .set_encodings(encodings)
            .set_num_values(self.slots as i64)
            .set_total_compressed_size(compressed)
            .set_total_uncompressed_size(uncompressed)
            .set_data_page_offset(data_offset.unwrap_or(0))
            .set_dictionary_page_offset(dictionary_offset);
        match (self.kind, &self.store) {
            (ChunkKind::Text { statistics: true }, Store::Text(store)) => {
                meta = meta.set_statistics(text_statistics(store, self.nulls));
            }
            (ChunkKind::Timestamp { statistics: true }, Store::Int64(store)) => {
                let (min, max) = store.bounds().unzip();
                meta = meta.set_statistics(Statistics::int64(min, max, None, Some(self.nulls), false));
            }
            _ => {}
        }
        let close = ColumnCloseResult {
            bytes_written: bytes.len() as u64,
            rows_written: rows,
            metadata: meta.build()?,
            bloom_filter: None,
            column_index: None,
            offset_index: None,
        };
        Ok((bytes, close))
    }
}

/// Min and max of the chunk's values: every store entry, kept or forgotten, is a value some row
/// has.
fn text_statistics(store: &TextStore, nulls: u64) -> Statistics {
    let forgotten = store.forgotten.iter().flat_map(|(min, max)| [min.as_slice(), max.as_slice()]);
    let all = (0..store.ends.len()).map(|i| store.get(i)).chain(forgotten);
    let min = all.clone().min().map(|v| ByteArray::from(v.to_vec()));
    let max = all.max().map(|v| ByteArray::from(v.to_vec()));
    Statistics::byte_array(min, max, None, Some(nulls), false)
}

/// Eight definition levels (1 valid, 0 null) for each byte of a validity bitmap, as the bytes of a
/// little-endian word.
const SPREAD: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut bit = 0;
        while bit < 8 {
            table[byte] |= (((byte >> bit) & 1) as u64) << (8 * bit);
            bit += 1;
        }
        byte += 1;
    }
    table
};

/// Appends one definition level per row of `valid` (1 valid, 0 null), eight rows at a time.
fn push_levels(out: &mut Vec<u8>, valid: &BooleanBuffer) {
    let chunks = valid.inner().bit_chunks(valid.offset(), valid.len());
    out.reserve(valid.len());
    for word in chunks.iter() {
        for byte in word.to_le_bytes() {
            out.extend_from_slice(&SPREAD[usize::from(byte)].to_le_bytes());
        }
    }
    let bits = chunks.remainder_bits();
    out.extend((0..chunks.remainder_len()).map(|j| ((bits >> j) & 1) as u8));
}

/// Bits needed for values up to `max` (at least 1).
fn bit_width(max: u32) -> u8 {
    (32 - max.leading_zeros()).max(1) as u8
}

/// Groups of eight values one bit-packed run holds at most (a one-byte run header, as other
/// writers use).
const MAX_GROUPS: usize = 63;

/// Appends `values` (each below 2^width) in Parquet's RLE / bit-packed hybrid encoding: runs of
/// eight or more equal values as RLE runs, everything else bit-packed in groups of eight (the last
/// group padded with zeros).
fn encode_hybrid<T: Copy + Into<u32> + PartialEq>(values: &[T], width: u8, out: &mut Vec<u8>) {
    let n = values.len();
    let value_bytes = usize::from(width).div_ceil(8);
    let flush_literals = |out: &mut Vec<u8>, start: usize, groups: usize| {
        if groups == 0 {
            return;
        }
        push_varint(out, ((groups as u64) << 1) | 1);
        let w = usize::from(width);
        for g in 0..groups {
            let group = values.get(start + g * 8..).unwrap_or_default();
            // Whole groups of narrow values (levels, most dictionary indices) are packed without
            // bounds checks, up to eight bits in one 64-bit word.
            if let Some(eight) = group.first_chunk::<8>() {
                if w <= 8 {
                    let packed = (0..8).fold(0u64, |acc, j| acc | u64::from(eight[j].into()) << (j * w));
                    out.extend_from_slice(&packed.to_le_bytes()[..w]);
                    continue;
                }
                if w <= 16 {
                    let packed = (0..8).fold(0u128, |acc, j| acc | u128::from(eight[j].into()) << (j * w));
                    out.extend_from_slice(&packed.to_le_bytes()[..w]);
                    continue;
                }
            }
            let at = |j: usize| group.get(j).map_or(0, |&v| u128::from(v.into()));
            if w <= 16 {
                // Eight values of up to 16 bits fill at most 128 bits: pack them at once.
                let packed = (0..8).fold(0u128, |acc, j| acc | at(j) << (j * w));
                out.extend_from_slice(&packed.to_le_bytes()[..w]);
            } else {
                let (mut acc, mut bits) = (0u128, 0);
                for j in 0..8 {
                    acc |= at(j) << bits;
                    bits += w;
                    while bits >= 8 {
                        out.push(acc as u8);
                        acc >>= 8;
                        bits -= 8;
                    }
                }
            }
        }
    };
    let (mut literal_start, mut literal_groups) = (0, 0);
    let mut i = 0;
    while i < n {
        let v = values[i];
        let run = 1 + values[i + 1..].iter().take_while(|&&w| w == v).count();
        if run >= 8 {
            flush_literals(out, literal_start, literal_groups);
            literal_groups = 0;
            push_varint(out, (run as u64) << 1);
            out.extend_from_slice(&v.into().to_le_bytes()[..value_bytes]);
            i += run;
        } else {
            if literal_groups == 0 {
                literal_start = i;
            }
            literal_groups += 1;
            i += 8;
            if literal_groups == MAX_GROUPS {
                flush_literals(out, literal_start, literal_groups);
                literal_groups = 0;
            }
        }
    }
    flush_literals(out, literal_start, literal_groups);
}

fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{
        Decimal128Array, DictionaryArray, Int32Array, MapArray, MapBuilder, MapFieldNames, RecordBatch,
        StringArray, StringBuilder, StringViewArray, StructArray, TimestampMicrosecondArray,
    };
    use datafusion::arrow::compute::{concat, concat_batches};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use datafusion::parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
    use datafusion::parquet::file::metadata::ParquetMetaData;
    use datafusion::parquet::file::properties::WriterProperties;

    use costpilot_model::text_dictionary_type;

    use super::*;

    /// Decodes the hybrid encoding back, as a reader would.
    fn decode_hybrid(mut bytes: &[u8], n: usize, width: u8) -> Vec<u32> {
        let mut out = Vec::new();
        let value_bytes = usize::from(width).div_ceil(8);
        while out.len() < n {
            let (mut header, mut shift) = (0u64, 0);
            loop {
                let b = bytes[0];
                bytes = &bytes[1..];
                header |= u64::from(b & 0x7f) << shift;
                shift += 7;
                if b < 0x80 {
                    break;
                }
            }
            if header & 1 == 0 {
                let mut v = [0u8; 4];
                v[..value_bytes].copy_from_slice(&bytes[..value_bytes]);
                bytes = &bytes[value_bytes..];
                out.extend(std::iter::repeat_n(u32::from_le_bytes(v), (header >> 1) as usize));
            } else {
                let count = (header >> 1) as usize * 8;
                let (mut acc, mut bits) = (0u64, 0u32);
                for _ in 0..count {
                    while bits < u32::from(width) {
                        acc |= u64::from(bytes[0]) << bits;
                        bytes = &bytes[1..];
                        bits += 8;
                    }
                    out.push((acc & ((1u64 << width) - 1)) as u32);
                    acc >>= width;
                    bits -= u32::from(width);
                }
            }
        }
        out.truncate(n);
        out
    }

    #[test]
    fn hybrid_encoding_round_trips_runs_and_literals() {
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for width in [1u8, 2, 3, 7, 8, 9, 13, 16, 17, 24, 31, 32] {
            let max = if width == 32 { u32::MAX } else { (1u32 << width) - 1 };
            for n in [0usize, 1, 7, 8, 9, 63, 64, 65, 511, 512, 513, 5000] {
                // Runs of random length of random values, some long enough for RLE.
                let mut values = Vec::with_capacity(n);
                while values.len() < n {
                    let v = next() & max;
                    let run = [1, 1, 2, 3, 8, 9, 40, 700][next() as usize % 8];
                    values.extend(std::iter::repeat_n(v, run.min(n - values.len())));
                }
                let mut out = Vec::new();
                encode_hybrid(&values, width, &mut out);
                assert_eq!(decode_hybrid(&out, n, width), values, "width {width}, {n} values");
            }
        }
    }

    /// Writes one row group whose columns are encoded by [`ChunkEncoder`]s from `batches`, and
    /// reads it back with arrow-rs's reader.
    fn round_trip(
        fields: Vec<Field>,
        batches: &[Vec<ArrayRef>],
        statistics: bool,
    ) -> (RecordBatch, ParquetMetaData) {
        let schema = Arc::new(Schema::new(fields));
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_offset_index_disabled(true)
            .build();
        let (mut writer, _) = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))
            .unwrap()
            .into_serialized_writer()
            .unwrap();
        let descr = writer.schema_descr();
        let roots: Vec<usize> = (0..descr.num_columns()).map(|i| descr.get_column_root_idx(i)).collect();
        let mut encoders: Vec<ChunkEncoder> = (0..descr.num_columns())
            .map(|i| {
                let leaf = descr.column(i);
                let field = schema.field(roots[i]);
                let kind = ChunkKind::of(field.data_type(), &leaf, statistics, Compression::SNAPPY)
                    .expect("a column chunk.rs encodes");
                ChunkEncoder::new(leaf, kind, Compression::SNAPPY)
            })
            .collect();
        for batch in batches {
            for (leaf, e) in encoders.iter_mut().enumerate() {
                e.write(&batch[roots[leaf]]).unwrap();
            }
        }
        let mut group = writer.next_row_group().unwrap();
        for e in encoders {
            e.append_to(&mut group).unwrap();
        }
        group.close().unwrap();
        let bytes = Bytes::from(writer.into_inner().unwrap());
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let metadata = reader.metadata().as_ref().clone();
        let read: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
        (concat_batches(&schema, &read).unwrap(), metadata)
    }

    /// The column each batch's array should read back as.
    fn expected(batches: &[Vec<ArrayRef>], column: usize, data_type: &DataType) -> ArrayRef {
        let parts: Vec<ArrayRef> = batches.iter().map(|b| cast(&b[column], data_type).unwrap()).collect();
        concat(&parts.iter().map(|a| a.as_ref()).collect::<Vec<_>>()).unwrap()
    }

    fn texts(n: usize, distinct: usize, width: usize, seed: u64) -> Vec<Option<String>> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let v = (x >> 33) as usize;
                (!v.is_multiple_of(11)).then(|| format!("{:0width$}", v % distinct))
            })
            .collect()
    }

    #[test]
    fn text_chunks_read_back_as_written_from_every_input_type() {
        // A dictionary whose values include an empty string and one value no row uses; rows
        // null by key.
        let values = StringArray::from(vec!["beta", "", "alpha", "zzz-unused", "gamma"]);
        let keys: Int32Array =
            (0..30_000).map(|i| (i % 7 != 3).then_some([0, 1, 2, 4, 0, 2][i % 6])).collect();
        let dictionary: ArrayRef = Arc::new(DictionaryArray::new(keys, Arc::new(values)));
        let plain: ArrayRef = Arc::new(StringArray::from(texts(25_000, 300, 6, 1)));
        let view: ArrayRef =
            Arc::new(StringViewArray::from_iter(texts(5_000, 50, 20, 2).iter().map(|v| v.as_deref())));
        let batches = vec![vec![dictionary], vec![plain], vec![view]];
        let (read, metadata) = round_trip(vec![Field::new("t", DataType::Utf8, true)], &batches, true);
        assert_eq!(read.num_rows(), 60_000);
        assert_eq!(read.column(0), &expected(&batches, 0, &DataType::Utf8));
        let chunk = metadata.row_group(0).column(0);
        assert!(chunk.dictionary_page_offset().is_some(), "few distinct values: dictionary-encoded");
        let stats = chunk.statistics().expect("statistics were asked for");
        assert_eq!(stats.min_bytes_opt(), Some(&b""[..]));
        // The dictionary's unused "zzz-unused" is not the maximum: only values rows hold count.
        assert_eq!(stats.max_bytes_opt(), Some(&b"gamma"[..]));
        assert_eq!(stats.null_count_opt(), Some(read.column(0).null_count() as u64));
    }

    #[test]
    fn many_distinct_values_fall_back_to_plain_pages() {
        // A first batch of few distinct values keeps the dictionary; then about 90,000 distinct
        // 24-byte values: the dictionary passes its limit in the third batch, so the chunk has
        // dictionary pages, then PLAIN ones.
        let batches: Vec<Vec<ArrayRef>> = (0..4)
            .map(|b| {
                let distinct = if b == 0 { 100 } else { 10_000_000 };
                vec![Arc::new(StringArray::from(texts(40_000, distinct, 24, 10 + b))) as ArrayRef]
            })
            .collect();
        let (read, metadata) = round_trip(vec![Field::new("id", DataType::Utf8, true)], &batches, true);
        assert_eq!(read.column(0), &expected(&batches, 0, &DataType::Utf8));
        let chunk = metadata.row_group(0).column(0);
        assert!(chunk.dictionary_page_offset().is_some());
        let encodings: Vec<Encoding> = chunk.encodings().collect();
        assert!(encodings.contains(&Encoding::RLE_DICTIONARY) && encodings.contains(&Encoding::PLAIN));
        // Entries of PLAIN pages already written are dropped from the store; their bounds stay.
        let column = read.column(0).as_string::<i32>();
        let stats = chunk.statistics().expect("statistics were asked for");
        assert_eq!(stats.min_bytes_opt(), column.iter().flatten().min().map(str::as_bytes));
        assert_eq!(stats.max_bytes_opt(), column.iter().flatten().max().map(str::as_bytes));
    }

    #[test]
    fn dictionaries_built_apart_are_the_same_rows_when_their_values_and_keys_are() {
        // A lake text column, given dictionaries.
        let schema = Schema::new(vec![Field::new("c", DataType::Utf8, true)]);
        let descr = ArrowSchemaConverter::new().convert(&schema).unwrap().column(0);
        let kind = ChunkKind::of(&DataType::Utf8, &descr, false, Compression::SNAPPY).unwrap();
        let chunk = ChunkEncoder::new(descr, kind, Compression::SNAPPY);
        let dictionary = |keys: Vec<Option<i32>>, values: Vec<&str>| -> ArrayRef {
            Arc::new(DictionaryArray::new(Int32Array::from(keys), Arc::new(StringArray::from(values))))
        };
        let a = dictionary(vec![Some(0), None, Some(1), Some(0)], vec!["111", "222"]);
        assert!(chunk.same_rows(&a, &dictionary(vec![Some(0), None, Some(1), Some(0)], vec!["111", "222"])));
        assert!(!chunk.same_rows(&a, &dictionary(vec![Some(0), None, Some(0), Some(0)], vec!["111", "222"])));
        assert!(
            !chunk.same_rows(&a, &dictionary(vec![Some(0), Some(1), Some(1), Some(0)], vec!["111", "222"]))
        );
        // Other values: compared row by row, so other keys for the same rows still match.
        assert!(chunk.same_rows(&a, &dictionary(vec![Some(1), None, Some(0), Some(1)], vec!["222", "111"])));
        assert!(!chunk.same_rows(&a, &dictionary(vec![Some(1), None, Some(0), Some(0)], vec!["222", "111"])));
    }

    #[test]
    fn mostly_distinct_chunks_are_plain_from_the_first_page_and_hold_little() {
        let leaf = |data_type: DataType| {
            let schema = Schema::new(vec![Field::new("c", data_type.clone(), true)]);
            let descr = ArrowSchemaConverter::new().convert(&schema).unwrap().column(0);
            let kind = ChunkKind::of(&data_type, &descr, false, Compression::SNAPPY).unwrap();
            ChunkEncoder::new(descr, kind, Compression::SNAPPY)
        };
        let t = DataType::Decimal128(38, 15);
        let mut amounts = leaf(t.clone());
        let mut ids = leaf(DataType::Utf8);
        for b in 0..20 {
            let values: Decimal128Array = (0..10_000).map(|i| Some(b * 10_000 + i)).collect();
            amounts.write(&(Arc::new(values.with_data_type(t.clone())) as ArrayRef)).unwrap();
            ids.write(&(Arc::new(StringArray::from(texts(10_000, 1 << 40, 24, b as u64))) as ArrayRef))
                .unwrap();
        }
        // 200,000 values: the stores keep at most about a page of them, not the whole chunk.
        assert!(amounts.store.len() < PAGE_ROWS + 10_000, "{}", amounts.store.len());
        assert!(ids.store.len() < PAGE_ROWS + 10_000, "{}", ids.store.len());
        for encoder in [amounts, ids] {
            let (_, close) = encoder.finish().unwrap();
            assert_eq!(close.rows_written, 200_000);
            assert!(close.metadata.dictionary_page_offset().is_none());
            assert!(!close.metadata.encodings().any(|e| e == Encoding::RLE_DICTIONARY));
        }
    }

    #[test]
    fn chunks_whose_dictionary_would_overflow_are_plain_from_the_first_page() {
        let t = DataType::Decimal128(38, 15);
        let leaf = || {
            let schema = Schema::new(vec![Field::new("c", t.clone(), true)]);
            let descr = ArrowSchemaConverter::new().convert(&schema).unwrap().column(0);
            let kind = ChunkKind::of(&t, &descr, false, Compression::SNAPPY).unwrap();
            ChunkEncoder::new(descr, kind, Compression::SNAPPY).with_expected_rows(500_000)
        };
        // A third of the values new (amounts of usage that varies), and a few thousand values
        // repeating in a cycle: both pass the half-distinct test on their first 30,000 rows. The
        // first would pass the dictionary limit (65,536 entries) by its 200,000th row; the
        // second never gains a value after its first cycle.
        let (mut growing, mut cycling) = (leaf(), leaf());
        for b in 0..10i128 {
            let amounts: Decimal128Array =
                (0..30_000i128).map(|i| Some(if i % 3 == 0 { b * 30_000 + i } else { i % 7 })).collect();
            growing.write(&(Arc::new(amounts.with_data_type(t.clone())) as ArrayRef)).unwrap();
            let prices: Decimal128Array = (0..30_000i128).map(|i| Some(i % 4_000 * 1_000)).collect();
            cycling.write(&(Arc::new(prices.with_data_type(t.clone())) as ArrayRef)).unwrap();
        }
        let (_, growing) = growing.finish().unwrap();
        assert!(growing.metadata.dictionary_page_offset().is_none());
        assert!(!growing.metadata.encodings().any(|e| e == Encoding::RLE_DICTIONARY));
        let (_, cycling) = cycling.finish().unwrap();
        assert!(cycling.metadata.dictionary_page_offset().is_some());
        assert!(cycling.metadata.encodings().any(|e| e == Encoding::RLE_DICTIONARY));
        assert_eq!((growing.rows_written, cycling.rows_written), (300_000, 300_000));
    }

    #[test]
    fn decimal_chunks_read_back_as_written() {
        let t = DataType::Decimal128(38, 15);
        let extreme = 10i128.pow(38) - 1;
        let mut x = 3u64;
        let mut batches = Vec::new();
        for b in 0..3 {
            let values: Decimal128Array = (0..50_000)
                .map(|i| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    let v = (x >> 20) as i128 - (1 << 43);
                    match i % 9 {
                        0 => None,
                        1 => Some(extreme),
                        2 => Some(-extreme),
                        // Few distinct values in the first batch, many after.
                        _ if b == 0 => Some(v % 100 * 1_000_000_000_000),
                        _ => Some(v),
                    }
                })
                .collect();
            batches.push(vec![Arc::new(values.with_data_type(t.clone())) as ArrayRef]);
        }
        // Pages without nulls too.
        let valid: Decimal128Array = (0..50_000).map(|i| Some(i128::from(i % 1000) - 500)).collect();
        batches.push(vec![Arc::new(valid.with_data_type(t.clone())) as ArrayRef]);
        let (read, _) = round_trip(vec![Field::new("cost", t.clone(), true)], &batches, false);
        assert_eq!(read.column(0), &expected(&batches, 0, &t));
    }

    #[test]
    fn timestamps_read_back_as_written_with_their_bounds() {
        let t = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let hour = 3_600_000_000i64;
        let start = 1_735_689_600_000_000i64;
        let mut batches = Vec::new();
        for b in 0..3i64 {
            // Hours repeated by many rows (a dictionary), with nulls; then, in the last batch, a
            // distinct instant per row, all before the first hour (the minimum comes last).
            let values: TimestampMicrosecondArray = (0..60_000i64)
                .map(|i| match (b, i % 13) {
                    (_, 0) => None,
                    (2, _) => Some(start - 1_000 * i),
                    _ => Some(start + (i % 744) * hour + b),
                })
                .collect();
            batches.push(vec![Arc::new(values.with_timezone("UTC")) as ArrayRef]);
        }
        let (read, metadata) = round_trip(vec![Field::new("t", t.clone(), true)], &batches, true);
        assert_eq!(read.column(0), &expected(&batches, 0, &t));
        let column = read.column(0).as_primitive::<TimestampMicrosecondType>();
        let stats = metadata.row_group(0).column(0).statistics().expect("statistics were asked for");
        let Statistics::Int64(stats) = stats else { panic!("INT64 statistics, got {stats:?}") };
        assert_eq!(stats.min_opt().copied(), column.iter().flatten().min());
        assert_eq!(stats.max_opt().copied(), column.iter().flatten().max());
        assert_eq!(stats.null_count_opt(), Some(column.null_count() as u64));
    }

    #[test]
    fn maps_read_back_as_written() {
        // Null maps, empty maps, null values, keys repeated row after row, values repeated and
        // not, and enough entries for several pages and a PLAIN fallback of the values.
        let names = MapFieldNames { entry: "entries".into(), key: "keys".into(), value: "values".into() };
        let mut batches = Vec::new();
        for b in 0..3u64 {
            let mut builder =
                MapBuilder::new(Some(names.clone()), StringBuilder::new(), StringBuilder::new());
            let ids = texts(30_000, 10_000_000, 28, 20 + b);
            for (row, id) in ids.iter().enumerate() {
                match row % 13 {
                    0 => builder.append(false).unwrap(),
                    1 => builder.append(true).unwrap(),
                    _ => {
                        for (k, key) in ["team", "env", "owner", "id"].iter().enumerate().take(1 + row % 4) {
                            builder.keys().append_value(key);
                            match (k, row % 5) {
                                (_, 0) => builder.values().append_null(),
                                (3, _) => builder.values().append_option(id.as_deref()),
                                _ => builder.values().append_value(format!("{key}-{}", row % 7)),
                            }
                        }
                        builder.append(true).unwrap();
                    }
                }
            }
            batches.push(vec![Arc::new(builder.finish()) as ArrayRef]);
        }
        batches.push(vec![dictionary_map(&batches[0][0])]);
        let field = Field::new("tags", batches[0][0].data_type().clone(), true);
        let (read, metadata) = round_trip(vec![field], &batches, false);
        assert_eq!(read.column(0), &expected(&batches, 0, batches[0][0].data_type()));
        let values = metadata.row_group(0).column(1);
        let encodings: Vec<Encoding> = values.encodings().collect();
        assert!(encodings.contains(&Encoding::RLE_DICTIONARY) && encodings.contains(&Encoding::PLAIN));
    }

    /// A map like `plain` (a map of `Utf8`) whose keys and values are dictionaries: keys over a
    /// dictionary with an unused value, values over one holding a null, an empty string and an
    /// unused value, some entries null by key.
    fn dictionary_map(plain: &ArrayRef) -> ArrayRef {
        let plain = plain.as_map();
        let DataType::Map(entries_field, _) = plain.data_type() else { unreachable!() };
        let DataType::Struct(fields) = entries_field.data_type() else { unreachable!() };
        let entries = plain.keys().len() as i32;
        let key_values = StringArray::from(vec!["unused", "team", "env", "owner", "id"]);
        let keys: Int32Array = (0..entries).map(|j| Some(1 + j % 4)).collect();
        let value_values = StringArray::from(vec![Some("a"), None, Some(""), Some("unused"), Some("b")]);
        let values: Int32Array =
            (0..entries).map(|j| (j % 9 != 4).then_some([0, 1, 2, 4][j as usize % 4])).collect();
        let dictionary = |keys: Int32Array, values: StringArray| -> ArrayRef {
            Arc::new(DictionaryArray::new(keys, Arc::new(values)))
        };
        let fields: Vec<Field> =
            fields.iter().map(|f| f.as_ref().clone().with_data_type(text_dictionary_type())).collect();
        let struct_array = StructArray::new(
            fields.clone().into(),
            vec![dictionary(keys, key_values), dictionary(values, value_values)],
            None,
        );
        let entries_field =
            Arc::new(entries_field.as_ref().clone().with_data_type(DataType::Struct(fields.into())));
        let map = MapArray::try_new(
            entries_field,
            plain.offsets().clone(),
            struct_array,
            plain.nulls().cloned(),
            false,
        );
        Arc::new(map.unwrap())
    }

    #[test]
    fn a_chunk_of_nulls_reads_back_as_nulls() {
        let batches = vec![vec![Arc::new(StringArray::new_null(1_000)) as ArrayRef]];
        let (read, metadata) = round_trip(vec![Field::new("t", DataType::Utf8, true)], &batches, true);
        assert_eq!(read.column(0).null_count(), 1_000);
        let stats = metadata.row_group(0).column(0).statistics().unwrap();
        assert_eq!((stats.min_bytes_opt(), stats.null_count_opt()), (None, Some(1_000)));
    }

    #[test]
    fn levels_spread_every_bit_of_a_sliced_bitmap() {
        let bits: BooleanBuffer = (0..300).map(|i| i % 3 != 0 && i % 7 != 2).collect();
        for (offset, len) in [(0, 300), (3, 150), (5, 64), (13, 0), (1, 7), (64, 200)] {
            let slice = bits.slice(offset, len);
            let mut levels = vec![9];
            push_levels(&mut levels, &slice);
            let expected: Vec<u8> = std::iter::once(9).chain(slice.iter().map(u8::from)).collect();
            assert_eq!(levels, expected, "offset {offset}, {len} bits");
        }
    }

    #[test]
    fn bit_widths_cover_the_largest_index() {
        assert_eq!(bit_width(0), 1);
        assert_eq!(bit_width(1), 1);
        assert_eq!(bit_width(2), 2);
        assert_eq!(bit_width(255), 8);
        assert_eq!(bit_width(256), 9);
        assert_eq!(bit_width(u32::MAX), 32);
    }
}
