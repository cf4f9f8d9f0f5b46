//! Picking rows out of a lake batch so that the arrays its columns share stay shared.
//!
//! The mapper shares arrays between lake columns (x_RawTags has Tags' values and offsets; a column
//! copied from another is the same array) and the writer encodes a leaf that was given exactly an
//! earlier leaf's rows once, checking that by buffer identity before comparing values. arrow's
//! filter copies every column on its own: shared arrays would be copied once per column and then
//! compared value by value. [`SharedFilter`] filters each distinct array once and a map through
//! its keys and values, so the pieces share what the batch shared.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayData, ArrayRef, AsArray, BooleanArray, BooleanBufferBuilder, MapArray, RecordBatch,
    StructArray, new_null_array,
};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer, OffsetBuffer};
use datafusion::arrow::compute::{FilterBuilder, FilterPredicate};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatchOptions;

/// Which buffers an array is made of, children included: arrays with equal identities hold the
/// same values.
type Identity = Vec<usize>;

fn identity_into(data: &ArrayData, out: &mut Identity) {
    out.extend([data.offset(), data.len(), data.buffers().len(), data.child_data().len()]);
    match data.nulls() {
        Some(n) => out.extend([n.buffer().as_ptr() as usize, n.offset(), n.len()]),
        None => out.extend([0, 0, 0]),
    }
    for b in data.buffers() {
        out.extend([b.as_ptr() as usize, b.len()]);
    }
    for child in data.child_data() {
        identity_into(child, out);
    }
}

fn identity(array: &dyn Array) -> Identity {
    let mut out = Vec::new();
    identity_into(&array.to_data(), &mut out);
    out
}

/// The selected rows of a map's entries: their predicate and the new offsets.
struct Entries {
    predicate: FilterPredicate,
    offsets: OffsetBuffer<i32>,
}

/// Filters the columns of one batch by one row mask, each distinct array once.
pub(crate) struct SharedFilter {
    mask: BooleanBuffer,
    rows: FilterPredicate,
    /// Filtered arrays by their identity (and, for map children, that of the map's offsets).
    done: HashMap<Identity, ArrayRef>,
    /// Entry selections by the identity of the map offsets they were made from.
    entries: HashMap<(usize, usize), Entries>,
    /// The all-null arrays given so far, one per type.
    null_arrays: Vec<ArrayRef>,
}

impl SharedFilter {
    /// A filter keeping the rows set in `mask`.
    pub(crate) fn new(mask: BooleanBuffer) -> Self {
        let rows = FilterBuilder::new(&BooleanArray::new(mask.clone(), None)).optimize().build();
        Self { mask, rows, done: HashMap::new(), entries: HashMap::new(), null_arrays: Vec::new() }
    }

    /// The rows of `batch` the mask keeps.
    pub(crate) fn batch(&mut self, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        let columns = batch.columns().iter().map(|c| self.column(c)).collect::<Result<Vec<_>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows.count()));
        RecordBatch::try_new_with_options(batch.schema(), columns, &options)
    }

    fn column(&mut self, array: &ArrayRef) -> Result<ArrayRef, ArrowError> {
        let key = identity(array.as_ref());
        if let Some(done) = self.done.get(&key).filter(|d| d.data_type() == array.data_type()) {
            return Ok(done.clone());
        }
        // A column the bill leaves empty (split cost allocation, capacity reservations) is as
        // empty in every piece: one null array per type stands for all of them.
        let out = if array.null_count() == array.len() {
            self.nulls(array.data_type())
        } else if let Some(map) = array.as_map_opt() {
            self.map(map)?
        } else {
            self.rows.filter(array.as_ref())?
        };
        self.done.insert(key, out.clone());
        Ok(out)
    }

    fn nulls(&mut self, data_type: &DataType) -> ArrayRef {
        let count = self.rows.count();
        match self.null_arrays.iter().find(|a| a.data_type() == data_type) {
            Some(nulls) => nulls.clone(),
            None => {
                let nulls = new_null_array(data_type, count);
                self.null_arrays.push(nulls.clone());
                nulls
            }
        }
    }

    fn map(&mut self, map: &MapArray) -> Result<ArrayRef, ArrowError> {
        let (offsets, entries) = (map.value_offsets(), map.entries());
        let at = (offsets.as_ptr() as usize, offsets.len());
        let selection =
            self.entries.entry(at).or_insert_with(|| select_entries(&self.mask, offsets, entries.len()));
        let mut children = Vec::with_capacity(entries.num_columns());
        for child in entries.columns() {
            let mut key = identity(child.as_ref());
            key.extend([usize::MAX, at.0, at.1]);
            let filtered = match self.done.get(&key).filter(|d| d.data_type() == child.data_type()) {
                Some(done) => done.clone(),
                None => {
                    let filtered = selection.predicate.filter(child.as_ref())?;
                    self.done.insert(key, filtered.clone());
                    filtered
                }
            };
            children.push(filtered);
        }
        let entry_nulls = entries.nulls().map(|n| keep(&selection.predicate, n)).transpose()?;
        let nulls = map.nulls().map(|n| keep(&self.rows, n)).transpose()?;
        let DataType::Map(field, ordered) = map.data_type() else {
            unreachable!("a map array has a map type")
        };
        let entries = StructArray::try_new(entries.fields().clone(), children, entry_nulls)?;
        Ok(Arc::new(MapArray::try_new(field.clone(), selection.offsets.clone(), entries, nulls, *ordered)?))
    }
}

/// The entries of the rows `rows` keeps of a map with `offsets` into `len` entries.
fn select_entries(rows: &BooleanBuffer, offsets: &[i32], len: usize) -> Entries {
    let at = |i: usize| offsets[i] as usize;
    let mut mask = BooleanBufferBuilder::new(len);
    let mut lengths = Vec::with_capacity(rows.count_set_bits());
    for (start, end) in rows.set_slices() {
        mask.append_n(at(start) - mask.len(), false);
        mask.append_n(at(end) - at(start), true);
        lengths.extend((start..end).map(|i| at(i + 1) - at(i)));
    }
    mask.append_n(len - mask.len(), false);
    let predicate = FilterBuilder::new(&BooleanArray::new(mask.finish(), None)).optimize().build();
    Entries { predicate, offsets: OffsetBuffer::from_lengths(lengths) }
}

/// The validity of the rows `predicate` keeps.
fn keep(predicate: &FilterPredicate, nulls: &NullBuffer) -> Result<NullBuffer, ArrowError> {
    let kept = predicate.filter(&BooleanArray::new(nulls.inner().clone(), None))?;
    Ok(NullBuffer::new(kept.as_boolean().values().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, MapBuilder, StringArray, StringBuilder};
    use datafusion::arrow::compute::filter_record_batch;
    use datafusion::arrow::datatypes::{Field, Schema};

    /// A row of a tag map: its pairs, or `None` for a null map.
    type Row<'a> = Option<&'a [(&'a str, Option<&'a str>)]>;

    fn tags(rows: &[Row]) -> MapArray {
        let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        for row in rows {
            match row {
                Some(pairs) => {
                    for (k, v) in *pairs {
                        b.keys().append_value(k);
                        b.values().append_option(*v);
                    }
                    b.append(true).unwrap();
                }
                None => b.append(false).unwrap(),
            }
        }
        b.finish()
    }

    /// A batch whose second column is the first one again and whose third is a map sharing the
    /// second map's values and offsets under other keys, as the mapper's Tags and x_RawTags do, and
    /// whose last two are empty.
    fn batch() -> RecordBatch {
        let numbers: ArrayRef =
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3), Some(4), Some(5), None]));
        let a = tags(&[
            Some(&[("team", Some("a")), ("env", None)]),
            None,
            Some(&[]),
            Some(&[("team", Some("b"))]),
            Some(&[("team", Some("c")), ("env", Some("prod"))]),
            Some(&[("env", Some("dev"))]),
        ]);
        let other_keys: ArrayRef = Arc::new(StringArray::from(
            (0..a.entries().len()).map(|i| format!("raw{i}")).collect::<Vec<_>>(),
        ));
        let entries =
            StructArray::try_new(a.entries().fields().clone(), vec![other_keys, a.values().clone()], None)
                .unwrap();
        let DataType::Map(field, _) = a.data_type() else { unreachable!() };
        let raw = MapArray::try_new(field.clone(), a.offsets().clone(), entries, a.nulls().cloned(), false)
            .unwrap();
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("copy", DataType::Int64, true),
            Field::new("tags", a.data_type().clone(), true),
            Field::new("raw", raw.data_type().clone(), true),
            Field::new("empty", DataType::Int64, true),
            Field::new("also_empty", DataType::Int64, true),
        ]));
        let empty = || Arc::new(Int64Array::from(vec![None::<i64>; 6])) as ArrayRef;
        let columns = vec![numbers.clone(), numbers, Arc::new(a), Arc::new(raw), empty(), empty()];
        RecordBatch::try_new(schema, columns).unwrap()
    }

    #[test]
    fn keeps_the_rows_arrow_keeps_and_what_columns_shared() {
        let full = batch();
        for (from, len) in [(0, 6), (1, 4), (2, 3)] {
            let batch = full.slice(from, len);
            for bits in 0u32..(1 << len) {
                let mask: BooleanBuffer = (0..len).map(|i| bits & (1 << i) != 0).collect();
                let got = SharedFilter::new(mask.clone()).batch(&batch).unwrap();
                let expected = filter_record_batch(&batch, &BooleanArray::new(mask, None)).unwrap();
                assert_eq!(got, expected, "rows {from}..{} mask {bits:b}", from + len);
                assert!(got.column(0).to_data().ptr_eq(&got.column(1).to_data()));
                let (tags, raw) = (got.column(2).as_map(), got.column(3).as_map());
                assert!(tags.values().to_data().ptr_eq(&raw.values().to_data()));
                assert_eq!(tags.offsets().inner().inner().as_ptr(), raw.offsets().inner().inner().as_ptr());
                assert!(got.column(4).to_data().ptr_eq(&got.column(5).to_data()));
            }
        }
    }
}
