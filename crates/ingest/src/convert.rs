//! Typed access to raw columns, with faults recorded per row, and assembly of lake batches.
//!
//! A normaliser asks a [`Columns`] for the source columns it needs as money, time or text. Values
//! that cannot be read are recorded against their row and column; [`Columns::finish`] then drops
//! those rows (or, with `strict`, fails on the first one) and fills absent lake columns with nulls.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use costpilot_model::money::{MONEY_PRECISION, MONEY_SCALE, parse_decimal};
use costpilot_model::{
    TextValues, is_lake_type, lake_schema, money_type, parse_timestamp_micros, timestamp_type,
};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Decimal128Array, Decimal128Builder, DictionaryArray,
    Float64Array, Int32Array, MapBuilder, MapFieldNames, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray, TimestampMicrosecondBuilder, new_null_array,
};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Schema};

use crate::IngestError;
use crate::raw::RawBatch;
use crate::report::BadRow;

/// Typed, fault-recording access to the columns of one raw batch.
pub struct Columns<'a> {
    raw: &'a RawBatch,
    index: HashMap<String, usize>,
    faults: BTreeMap<usize, BadRow>,
    nulled: Vec<BadRow>,
}

/// A finished batch of lake rows ([`Columns::finish`]).
#[derive(Debug)]
pub struct Finished {
    /// The rows kept.
    pub batch: RecordBatch,
    /// The rows dropped, with what was wrong.
    pub bad: Vec<BadRow>,
    /// Values that could not be read in columns no cost, key or date depends on: kept as nulls,
    /// their rows kept too, and counted as warnings.
    pub nulled: Vec<BadRow>,
}

impl<'a> Columns<'a> {
    /// Wraps a raw batch. Column look-ups ignore ASCII case.
    pub fn new(raw: &'a RawBatch) -> Self {
        let index = raw
            .batch
            .schema()
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name().to_ascii_lowercase(), i))
            .collect();
        Self { raw, index, faults: BTreeMap::new(), nulled: Vec::new() }
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.raw.batch.num_rows()
    }

    /// The named column as the file holds it, if present.
    pub fn get(&self, name: &str) -> Option<&ArrayRef> {
        self.index.get(&name.to_ascii_lowercase()).map(|&i| self.raw.batch.column(i))
    }

    /// The file's spelling of a column name, for messages.
    fn spelled(&self, name: &str) -> String {
        self.index
            .get(&name.to_ascii_lowercase())
            .map(|&i| self.raw.batch.schema().field(i).name().clone())
            .unwrap_or_else(|| name.to_string())
    }

    /// Records that row `i` (0-based in the batch) has a bad value in `column`. The first fault of a
    /// row is the one reported.
    pub fn fault(&mut self, i: usize, column: &str, reason: impl Into<String>) {
        let row = self.raw.row_number(i);
        let column = self.spelled(column);
        self.faults.entry(i).or_insert_with(|| BadRow { row, column: Some(column), reason: reason.into() });
    }

    /// True when row `i` already has a fault.
    pub fn is_faulty(&self, i: usize) -> bool {
        self.faults.contains_key(&i)
    }

    /// The named column as text (any source type is cast), or `None` if absent.
    pub fn string(&mut self, name: &str) -> Option<StringArray> {
        let col = self.get(name)?.clone();
        if let Some(s) = col.as_string_opt::<i32>() {
            return Some(s.clone());
        }
        match cast(&col, &DataType::Utf8) {
            Ok(a) => Some(a.as_string::<i32>().clone()),
            Err(e) => {
                for i in 0..self.len() {
                    if col.is_valid(i) {
                        self.fault(i, name, format!("cannot be read as text: {e}"));
                    }
                }
                Some(StringArray::new_null(self.len()))
            }
        }
    }

    /// The named column as [`Text`] (a dictionary of text stays one; any other type is cast as by
    /// [`Columns::string`]), with empty strings as nulls, or `None` if absent.
    pub fn text(&mut self, name: &str) -> Option<Text> {
        let col = self.get(name)?;
        if let Some(dict) = col.as_dictionary_opt::<Int32Type>()
            && dict.values().data_type() == &DataType::Utf8
        {
            return Some(Text::from_dictionary(dict));
        }
        self.string(name).map(|a| Text::plain(empty_as_null(a)))
    }

    /// The named column as an exact decimal (money or quantity), or `None` if absent. Text that is
    /// not a number is a fault on its row.
    pub fn decimal(&mut self, name: &str) -> Option<Decimal128Array> {
        let col = self.get(name)?.clone();
        if let Some(text) = col.as_string_opt::<i32>() {
            let mut b = Decimal128Builder::with_capacity(text.len());
            for i in 0..text.len() {
                if is_blank(text, i) {
                    b.append_null();
                    continue;
                }
                match parse_decimal(text.value(i)) {
                    Ok(v) => b.append_value(v),
                    Err(e) => {
                        self.fault(i, name, format!("not a number: {e}"));
                        b.append_null();
                    }
                }
            }
            return Some(b.finish().with_data_type(money_type()));
        }
        let target = money_type();
        let source = match col.data_type() {
            DataType::Utf8View | DataType::LargeUtf8 | DataType::Dictionary(_, _) => {
                match cast(&col, &DataType::Utf8) {
                    Ok(text) => {
                        let raw = RawBatch {
                            batch: RecordBatch::try_from_iter([(name, text)]).ok()?,
                            first_row: self.raw.first_row,
                            malformed: Vec::new(),
                            row_numbers: self.raw.row_numbers.clone(),
                        };
                        let mut inner = Columns::new(&raw);
                        let out = inner.decimal(name);
                        for (i, f) in inner.faults {
                            self.faults.entry(i).or_insert(f);
                        }
                        return out;
                    }
                    Err(_) => col,
                }
            }
            _ => col,
        };
        if let Some(floats) = source.as_primitive_opt::<Float64Type>() {
            return Some(self.money_from_floats(name, floats));
        }
        match cast(&source, &target) {
            Ok(a) => {
                // The cast turns values it cannot represent (NaN, infinity, overflow) into nulls.
                let out = a.as_primitive::<datafusion::arrow::datatypes::Decimal128Type>().clone();
                // Nulls are only ever added, so equal counts mean there is nothing to report.
                if out.null_count() != source.null_count() {
                    let source_nulls = source.logical_nulls();
                    for i in 0..out.len() {
                        if out.is_null(i) && source_nulls.as_ref().is_none_or(|n| n.is_valid(i)) {
                            self.fault(i, name, "not a finite number in range".to_string());
                        }
                    }
                }
                Some(out)
            }
            Err(e) => {
                for i in 0..self.len() {
                    if source.is_valid(i) {
                        self.fault(i, name, format!("not a number: {e}"));
                    }
                }
                Some(Decimal128Array::new_null(self.len()).with_data_type(target))
            }
        }
    }

    /// Doubles (CUR Parquet amounts) as money in one pass, rounded as arrow's cast rounds them:
    /// scaled by 10^15 and rounded half away from zero. Values money cannot hold (NaN, infinity,
    /// more than 38 digits) are faults on their rows.
    fn money_from_floats(&mut self, name: &str, floats: &Float64Array) -> Decimal128Array {
        let scale = 10f64.powi(i32::from(MONEY_SCALE));
        let limit = 10u128.pow(u32::from(MONEY_PRECISION));
        let mut unrepresentable = Vec::new();
        let values: Vec<i128> = floats
            .values()
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let scaled = v * scale;
                if scaled.abs() < 9e18 {
                    // Most amounts fit an i64, whose conversion (truncating) is one instruction;
                    // the fraction left over is exact, so rounding half away from zero needs no
                    // call into libm.
                    let whole = scaled as i64;
                    let fraction = scaled - whole as f64;
                    return i128::from(whole + i64::from(fraction >= 0.5) - i64::from(fraction <= -0.5));
                }
                // `as` saturates, so anything beyond i128 fails the precision check too.
                let rounded = scaled.round();
                match rounded as i128 {
                    units if rounded.is_finite() && units.unsigned_abs() < limit => units,
                    _ => {
                        unrepresentable.push(i);
                        0
                    }
                }
            })
            .collect();
        let mut nulls = floats.nulls().cloned();
        let faults: Vec<usize> =
            unrepresentable.into_iter().filter(|&i| nulls.as_ref().is_none_or(|n| n.is_valid(i))).collect();
        if !faults.is_empty() {
            let mut valid = vec![true; floats.len()];
            faults.iter().for_each(|&i| valid[i] = false);
            nulls = NullBuffer::union(nulls.as_ref(), Some(&NullBuffer::from(valid)));
            for i in faults {
                self.fault(i, name, "not a finite number in range".to_string());
            }
        }
        Decimal128Array::new(ScalarBuffer::from(values), nulls).with_data_type(money_type())
    }

    /// The named column as an exact decimal like [`Columns::decimal`], for a column that no cost,
    /// key or date depends on (a quantity of reserved units, split-cost detail): a value that is
    /// not a number is a null and a warning, never a bad row.
    pub fn decimal_or_null(&mut self, name: &str) -> Option<Decimal128Array> {
        let before: std::collections::BTreeSet<usize> = self.faults.keys().copied().collect();
        let out = self.decimal(name)?;
        let spelled = self.spelled(name);
        let new: Vec<usize> = self
            .faults
            .iter()
            .filter(|(i, f)| !before.contains(i) && f.column.as_deref() == Some(spelled.as_str()))
            .map(|(i, _)| *i)
            .collect();
        for i in new {
            if let Some(fault) = self.faults.remove(&i) {
                self.nulled.push(fault);
            }
        }
        Some(out)
    }

    /// The named column as UTC microseconds, or `None` if absent. Text that is not a date/time is a
    /// fault on its row; time without a zone is taken as UTC.
    pub fn timestamp(&mut self, name: &str) -> Option<TimestampMicrosecondArray> {
        let col = self.get(name)?.clone();
        let text = match col.data_type() {
            DataType::Utf8 => Some(col.as_string::<i32>().clone()),
            DataType::Utf8View | DataType::LargeUtf8 | DataType::Dictionary(_, _) => {
                cast(&col, &DataType::Utf8).ok().map(|a| a.as_string::<i32>().clone())
            }
            _ => None,
        };
        if let Some(text) = text {
            let mut b = TimestampMicrosecondBuilder::with_capacity(text.len());
            for i in 0..text.len() {
                if is_blank(&text, i) {
                    b.append_null();
                    continue;
                }
                match parse_timestamp_micros(text.value(i)) {
                    Ok(v) => b.append_value(v),
                    Err(e) => {
                        self.fault(i, name, format!("bad date: {e}"));
                        b.append_null();
                    }
                }
            }
            return Some(b.finish().with_timezone("UTC"));
        }
        match cast(&col, &timestamp_type()) {
            Ok(a) => Some(a.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>().clone()),
            Err(e) => {
                for i in 0..self.len() {
                    if col.is_valid(i) {
                        self.fault(i, name, format!("bad date: {e}"));
                    }
                }
                Some(TimestampMicrosecondArray::new_null(self.len()).with_timezone("UTC"))
            }
        }
    }

    /// Finishes the batch: assembles the lake columns given (by canonical name; absent ones are
    /// null), checks their dates (`check`), then drops faulty rows. With `strict`, the first faulty or malformed row (by row
    /// number) is returned as an error instead.
    pub fn finish(
        mut self,
        path: &Path,
        columns: Vec<(&'static str, ArrayRef)>,
        strict: bool,
    ) -> Result<Finished, IngestError> {
        let len = self.len();
        crate::dates::check(&columns, crate::dates::FolderPeriod::of(path).as_ref(), |i, column, reason| {
            self.fault(i, column, reason)
        });
        let batch = lake_batch(path, columns, len)?;
        let mut bad: Vec<BadRow> = self.raw.malformed.clone();
        let faulty: Vec<usize> = self.faults.keys().copied().collect();
        bad.extend(self.faults.into_values());
        bad.sort_by_key(|b| b.row);
        if strict && let Some(first) = bad.first() {
            return Err(first.clone().into_error(path));
        }
        // A nulled value on a row dropped for another fault is no warning: the row is gone.
        let dropped: std::collections::HashSet<u64> = bad.iter().map(|b| b.row).collect();
        let nulled = self.nulled.into_iter().filter(|n| !dropped.contains(&n.row)).collect();
        if faulty.is_empty() {
            return Ok(Finished { batch, bad, nulled });
        }
        let mut keep = vec![true; len];
        for i in faulty {
            keep[i] = false;
        }
        let kept = filter_record_batch(&batch, &BooleanArray::from(keep))
            .map_err(|e| IngestError::Internal { path: path.into(), message: e.to_string() })?;
        Ok(Finished { batch: kept, bad, nulled })
    }
}

/// True when row `i` of a text column holds no value: null, empty or only spaces. AWS writes `''`
/// for "not applicable" in the many CUR 2.0 columns it types as text but means as numbers or
/// dates (`reservation_total_reserved_units`, the `*_rate` columns, ...), and FOCUS has no empty
/// strings, so an empty cell is a null in every reader, never a value that fails to parse.
fn is_blank(text: &StringArray, i: usize) -> bool {
    text.is_null(i) || text.value(i).trim().is_empty()
}

/// A text column: plain `Utf8`, or a dictionary of `Utf8` as Parquet readers keep dictionary-
/// encoded columns. Rows read through [`Text::value`]; the column passes on to the lake as it is,
/// so repeated names are never copied row by row.
#[derive(Debug, Clone)]
pub struct Text {
    array: ArrayRef,
    /// For a dictionary: its keys (null rows already in `array`'s null mask).
    keys: Option<ScalarBuffer<i32>>,
    /// The plain array, or the dictionary's values.
    values: StringArray,
    /// Null rows (held here so that reading a row needs no call through `dyn Array`).
    nulls: Option<NullBuffer>,
}

impl Text {
    /// A plain text column as it is.
    pub fn plain(array: StringArray) -> Self {
        Self { nulls: array.nulls().cloned(), values: array.clone(), array: Arc::new(array), keys: None }
    }

    /// A dictionary of text, with rows whose value is empty (or null) turned into nulls: FOCUS has
    /// no empty strings.
    pub fn from_dictionary(dict: &DictionaryArray<Int32Type>) -> Self {
        let values = dict.values().as_string::<i32>().clone();
        let absent = |k: i32| values.is_null(k as usize) || values.value_length(k as usize) == 0;
        let dict = if (0..values.len()).any(|k| absent(k as i32)) {
            let keys = dict.keys();
            let filled = BooleanBuffer::collect_bool(keys.len(), |i| !absent(keys.values()[i]));
            let keys = Int32Array::new(keys.values().clone(), Some(null_where_unset(keys.nulls(), filled)));
            DictionaryArray::new(keys, Arc::new(values.clone()))
        } else {
            dict.clone()
        };
        Self {
            keys: Some(dict.keys().values().clone()),
            nulls: dict.nulls().cloned(),
            values,
            array: Arc::new(dict),
        }
    }

    /// Row `i`, or `None` when it is null or empty.
    pub fn value(&self, i: usize) -> Option<&str> {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(i)) {
            return None;
        }
        let v = match &self.keys {
            Some(keys) => TextValues::Dictionary(keys, &self.values),
            None => TextValues::Plain(&self.values),
        }
        .value(i);
        (!v.is_empty()).then_some(v)
    }

    /// For a dictionary, which of its distinct values row `i` has (whatever the null mask says),
    /// so that work on a value can be done once per distinct value; `None` for plain text.
    pub fn distinct_index(&self, i: usize) -> Option<usize> {
        self.keys.as_ref().map(|k| k[i] as usize)
    }

    /// How many distinct values a dictionary has (0 for plain text).
    pub fn distinct_len(&self) -> usize {
        if self.keys.is_some() { self.values.len() } else { 0 }
    }

    /// A dictionary's distinct values (some possibly unused, empty or null); `None` for plain
    /// text.
    pub fn distinct(&self) -> Option<&StringArray> {
        self.keys.as_ref().map(|_| &self.values)
    }

    /// For a dictionary, the same rows over other distinct values (one for each of
    /// [`Self::distinct`]); `None` for plain text.
    pub fn with_distinct(&self, distinct: StringArray) -> Option<ArrayRef> {
        let keys = Int32Array::new(self.keys.clone()?, self.array.nulls().cloned());
        Some(Arc::new(DictionaryArray::new(keys, Arc::new(distinct))))
    }

    /// The column as an Arrow array (a dictionary stays one).
    pub fn array(&self) -> &ArrayRef {
        &self.array
    }

    /// Null rows.
    pub fn null_count(&self) -> usize {
        self.array.null_count()
    }

    /// The column with nulls also where `drop` is set; values are shared, not copied.
    pub fn without(&self, drop: &BooleanBuffer) -> ArrayRef {
        let keep = NullBuffer::new(!drop);
        let nulls = NullBuffer::union(self.array.nulls(), Some(&keep));
        match &self.keys {
            Some(keys) => {
                let keys = Int32Array::new(keys.clone(), nulls);
                Arc::new(DictionaryArray::new(keys, Arc::new(self.values.clone())))
            }
            None => {
                let (offsets, values, _) = self.values.clone().into_parts();
                Arc::new(StringArray::new(offsets, values, nulls))
            }
        }
    }
}

/// A text column with empty strings turned into nulls (FOCUS has no empty strings); zero-copy.
pub fn empty_as_null(array: StringArray) -> StringArray {
    let offsets = array.value_offsets();
    let has_empty = offsets.windows(2).enumerate().any(|(i, w)| w[0] == w[1] && array.is_valid(i));
    if !has_empty {
        return array;
    }
    let filled = BooleanBuffer::collect_bool(array.len(), |i| offsets[i + 1] != offsets[i]);
    let nulls = null_where_unset(array.nulls(), filled);
    let (offsets, values, _) = array.into_parts();
    StringArray::new(offsets, values, Some(nulls))
}

/// `nulls` with a null also wherever `filled` is unset.
fn null_where_unset(nulls: Option<&NullBuffer>, filled: BooleanBuffer) -> NullBuffer {
    NullBuffer::new(match nulls {
        Some(nulls) => nulls.inner() & &filled,
        None => filled,
    })
}

/// Builds a batch of the lake schema from columns named canonically; absent columns are null.
/// Each given array must already have the lake type of its column, or for text
/// [`costpilot_model::text_dictionary_type`] (the batch's field then has that type).
pub fn lake_batch(
    path: &Path,
    columns: Vec<(&'static str, ArrayRef)>,
    len: usize,
) -> Result<RecordBatch, IngestError> {
    let schema = lake_schema();
    let mut by_name: HashMap<&str, ArrayRef> = columns.into_iter().collect();
    let arrays: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| by_name.remove(f.name().as_str()).unwrap_or_else(|| new_null_array(f.data_type(), len)))
        .collect();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(&arrays)
        .map(|(f, a)| {
            if a.data_type() != f.data_type() && is_lake_type(f.data_type(), a.data_type()) {
                f.as_ref().clone().with_data_type(a.data_type().clone())
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    if let Some(extra) = by_name.keys().next() {
        return Err(IngestError::Internal {
            path: path.into(),
            message: format!("{extra} is not a lake column"),
        });
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
        .map_err(|e| IngestError::Internal { path: path.into(), message: e.to_string() })
}

/// A builder for key/value columns (Tags, x_CostCategories, x_RawTags) with the lake's map type.
pub struct KeyValueBuilder {
    inner: MapBuilder<StringBuilder, StringBuilder>,
}

impl Default for KeyValueBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyValueBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        let names = MapFieldNames { entry: "entries".into(), key: "keys".into(), value: "values".into() };
        Self { inner: MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new()) }
    }

    /// Appends one row holding the given pairs (in the given order).
    pub fn append<'k>(&mut self, pairs: impl IntoIterator<Item = (&'k str, Option<&'k str>)>) {
        for (k, v) in pairs {
            self.inner.keys().append_value(k);
            self.inner.values().append_option(v);
        }
        self.inner.append(true).expect("keys and values are appended in pairs");
    }

    /// Appends a null row (no key/value data at all, as opposed to an empty set).
    pub fn append_null(&mut self) {
        self.inner.append(false).expect("keys and values are appended in pairs");
    }

    /// The finished column, typed as [`costpilot_model::tags_type`].
    pub fn finish(&mut self) -> ArrayRef {
        let map = self.inner.finish();
        let target = costpilot_model::tags_type();
        // The builder marks the value field nullable and the map unsorted, as the lake type does;
        // the cast only renames nothing but guarantees the exact field metadata.
        if map.data_type() == &target { Arc::new(map) } else { cast(&map, &target).expect("map types agree") }
    }
}

/// A column of one repeated text value, e.g. ProviderName "AWS", as a one-value dictionary.
pub fn constant_string(value: &str, len: usize) -> ArrayRef {
    let keys = Int32Array::from(vec![0; len]);
    Arc::new(DictionaryArray::new(keys, Arc::new(StringArray::from(vec![value]))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use costpilot_model::index_of;
    use datafusion::arrow::datatypes::{Field, Schema};

    fn raw(cols: Vec<(&str, ArrayRef)>) -> RawBatch {
        let schema = Schema::new(
            cols.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect::<Vec<_>>(),
        );
        let batch =
            RecordBatch::try_new(Arc::new(schema), cols.into_iter().map(|(_, a)| a).collect()).unwrap();
        RawBatch { batch, first_row: 10, malformed: vec![], row_numbers: vec![] }
    }

    #[test]
    fn bad_values_become_row_faults_and_rows_are_dropped() {
        let r = raw(vec![
            ("Cost", Arc::new(StringArray::from(vec![Some("1.5"), Some("abc"), None])) as ArrayRef),
            ("When", Arc::new(StringArray::from(vec![Some("2024-09-01"), Some("2024-09-01"), Some("soon")]))),
        ]);
        let mut c = Columns::new(&r);
        let cost = c.decimal("cost").unwrap();
        let when = c.timestamp("WHEN").unwrap();
        assert_eq!(cost.value(0), 1_500_000_000_000_000);
        let path = Path::new("bill.csv");
        let Finished { batch, bad, nulled } = c
            .finish(
                path,
                vec![("BilledCost", Arc::new(cost) as ArrayRef), ("ChargePeriodStart", Arc::new(when))],
                false,
            )
            .unwrap();
        assert!(nulled.is_empty());
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(bad.len(), 2);
        assert_eq!(bad[0].row, 11);
        assert_eq!(bad[0].column.as_deref(), Some("Cost"));
        assert_eq!(bad[1].row, 12);
        assert!(batch.column(index_of("BillingCurrency")).is_null(0));
    }

    #[test]
    fn a_bad_value_in_a_column_nothing_depends_on_is_a_warning_and_its_row_stays() {
        let r = raw(vec![
            ("Cost", Arc::new(StringArray::from(vec![Some("1.5"), Some("2"), Some("x")])) as ArrayRef),
            ("Units", Arc::new(StringArray::from(vec![Some("N/A"), Some("744"), Some("n/a")]))),
        ]);
        let mut c = Columns::new(&r);
        let units = c.decimal_or_null("units").unwrap();
        let cost = c.decimal("Cost").unwrap();
        assert_eq!(units.iter().collect::<Vec<_>>(), vec![None, Some(744 * 1_000_000_000_000_000), None]);
        let done = c
            .finish(Path::new("bill.csv"), vec![("BilledCost", Arc::new(cost) as ArrayRef)], true)
            .unwrap_err();
        // --strict still fails on the bad cost of row 12, never on a nulled value.
        assert_eq!(done.to_string(), "bill.csv: row 12, column 'Cost': not a number: 'x' is not a number");

        let mut c = Columns::new(&r);
        c.decimal_or_null("Units").unwrap();
        let cost = c.decimal("Cost").unwrap();
        let Finished { batch, bad, nulled } =
            c.finish(Path::new("bill.csv"), vec![("BilledCost", Arc::new(cost) as ArrayRef)], false).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(bad.len(), 1);
        // Row 12's nulled units go with the row; row 10's stay a warning.
        assert_eq!(nulled.len(), 1);
        assert_eq!((nulled[0].row, nulled[0].column.as_deref()), (10, Some("Units")));
        assert_eq!(nulled[0].kind(), "Units: not a number");
    }

    #[test]
    fn empty_and_blank_text_is_null_in_number_and_date_columns_plain_or_dictionary() {
        let units: ArrayRef = Arc::new(StringArray::from(vec![Some(""), Some("744"), Some("  "), None]));
        let dictionary: ArrayRef = Arc::new(
            vec![Some("0.0416"), Some(""), Some(""), Some("0.0416")]
                .into_iter()
                .collect::<DictionaryArray<Int32Type>>(),
        );
        let ends: ArrayRef =
            Arc::new(StringArray::from(vec![Some(""), Some("2027-06-01T00:00:00.000Z"), None, Some(" ")]));
        let r = raw(vec![("units", units), ("rate", dictionary), ("end", ends)]);
        let mut c = Columns::new(&r);
        let units = c.decimal("units").unwrap();
        let rate = c.decimal("rate").unwrap();
        let end = c.timestamp("end").unwrap();
        assert!(!c.is_faulty(0) && !c.is_faulty(1) && !c.is_faulty(2) && !c.is_faulty(3));
        assert_eq!(
            units.iter().collect::<Vec<_>>(),
            vec![None, Some(744 * 1_000_000_000_000_000), None, None]
        );
        assert_eq!(rate.iter().map(|v| v.is_some()).collect::<Vec<_>>(), vec![true, false, false, true]);
        assert_eq!(end.iter().map(|v| v.is_some()).collect::<Vec<_>>(), vec![false, true, false, false]);
    }

    #[test]
    fn strict_fails_on_the_first_bad_row_naming_file_row_and_column() {
        let r = raw(vec![("Cost", Arc::new(StringArray::from(vec![Some("1"), Some("x1")])) as ArrayRef)]);
        let mut c = Columns::new(&r);
        let cost = c.decimal("Cost").unwrap();
        let err = c
            .finish(Path::new("bill.csv"), vec![("BilledCost", Arc::new(cost) as ArrayRef)], true)
            .unwrap_err();
        assert_eq!(err.to_string(), "bill.csv: row 11, column 'Cost': not a number: 'x1' is not a number");
    }

    #[test]
    fn floats_and_other_decimals_convert() {
        let r = raw(vec![(
            "f",
            Arc::new(datafusion::arrow::array::Float64Array::from(vec![
                Some(0.1),
                Some(f64::NAN),
                None,
                Some(f64::INFINITY),
                Some(1e30),
            ])) as ArrayRef,
        )]);
        let mut c = Columns::new(&r);
        let d = c.decimal("f").unwrap();
        assert_eq!(d.value(0), 100_000_000_000_000);
        let faulty: Vec<bool> = (0..5).map(|i| c.is_faulty(i)).collect();
        assert_eq!(
            faulty,
            [false, true, false, true, true],
            "a null is no fault; NaN, infinity and overflow are"
        );
    }

    #[test]
    fn doubles_become_money_exactly_as_arrow_casts_them() {
        let mut x = 7u64;
        let mut values: Vec<Option<f64>> = (0..20_000)
            .map(|i| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
                let magnitude = 10f64.powi((i % 50) - 25);
                (i % 17 != 0).then_some((unit - 0.5) * magnitude)
            })
            .collect();
        values.extend(
            [
                0.0,
                -0.0,
                0.5e-15,
                1.5e-15,
                -2.5e-15,
                0.0416,
                1e23 - 1.0,
                99_999_999_999_999_990_000_000.0,
                1e23,
            ]
            .map(Some),
        );
        values.extend([f64::MIN_POSITIVE, f64::MAX, f64::NEG_INFINITY, 1e200].map(Some));
        let floats = datafusion::arrow::array::Float64Array::from(values);
        let r = raw(vec![("f", Arc::new(floats.clone()) as ArrayRef)]);
        let mut c = Columns::new(&r);
        let ours = c.decimal("f").unwrap();
        let arrows = cast(&floats, &money_type()).unwrap();
        assert_eq!(&ours, arrows.as_primitive::<datafusion::arrow::datatypes::Decimal128Type>());
        let faults = (0..floats.len()).filter(|&i| c.is_faulty(i)).count();
        assert_eq!(faults, ours.null_count() - floats.null_count());
        assert!(faults >= 3, "f64::MAX, -inf and 1e200 at least");
    }

    #[test]
    fn key_values_have_the_lake_type() {
        let mut b = KeyValueBuilder::new();
        b.append([("team", Some("web"))]);
        b.append_null();
        let a = b.finish();
        assert_eq!(a.data_type(), &costpilot_model::tags_type());
        assert_eq!(a.len(), 2);
    }
}
