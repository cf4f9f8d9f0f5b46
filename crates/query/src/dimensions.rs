//! Allocation dimensions as columns of the `focus` view. The rules in force come from
//! [`costpilot_rules::store`].
//!
//! Every [`crate::LakeSession`] compiles the rules once into a [`Resolver`] and shows each
//! dimension as a column `x_<dimension>` of the `focus` view (`x_team`, `x_business_unit`, ...),
//! computed by the SQL function [`DIMENSIONS_FUNCTION`] from the row's account, resource, service,
//! region, charge category, tags and cost categories. Raw tags stay in `Tags` and `x_RawTags`:
//! changing the rules changes the view, never the stored data. The function caches its answer per
//! distinct combination of inputs, so a bill of millions of rows resolves each resource once.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use costpilot_model::names;
use costpilot_rules::{Resolver, RowFields};
use datafusion::arrow::array::{Array, ArrayRef, MapArray, StringBuilder, StructArray};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Result as DfResult, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

use crate::intern::{Interner, LazyCodes};

/// The SQL function resolving a row's dimensions to a struct.
pub const DIMENSIONS_FUNCTION: &str = "costpilot_dimensions";

/// The lake columns the resolver reads, in the function's argument order.
pub const DIMENSION_INPUTS: [&str; 8] = [
    names::SUB_ACCOUNT_ID,
    names::SUB_ACCOUNT_NAME,
    names::RESOURCE_ID,
    names::SERVICE_NAME,
    names::REGION_ID,
    names::CHARGE_CATEGORY,
    names::TAGS,
    names::X_COST_CATEGORIES,
];

/// The `focus` column of an allocation dimension.
pub use costpilot_model::dimensions::allocation_column as column_of;

/// The SQL that selects every dimension column from a relation that has the lake columns, given
/// the name the struct of [`DIMENSIONS_FUNCTION`] has in it.
pub fn dimension_columns(resolver: &Resolver, struct_column: &str) -> Vec<String> {
    resolver.dimensions().iter().map(|d| format!("\"{struct_column}\"['{d}'] AS {}", column_of(d))).collect()
}

/// The call of [`DIMENSIONS_FUNCTION`] over the lake columns.
pub fn dimensions_call() -> String {
    format!("{DIMENSIONS_FUNCTION}({})", DIMENSION_INPUTS.join(", "))
}

/// The SQL function [`DIMENSIONS_FUNCTION`] for `resolver`.
pub fn udf(resolver: Arc<Resolver>) -> ScalarUDF {
    let fields: Fields = resolver.dimensions().iter().map(|d| Field::new(d, DataType::Utf8, true)).collect();
    ScalarUDF::new_from_impl(DimensionsUdf {
        signature: Signature::any(DIMENSION_INPUTS.len(), Volatility::Immutable),
        fields,
        cache: Mutex::new(DimensionCache::new(resolver)),
        recent: Mutex::new(VecDeque::new()),
    })
}

/// Cached answers: the inputs' codes → the code of their dimension values.
type Cache = HashMap<Box<[u32]>, u32, foldhash::fast::FixedState>;

/// Batches whose answer is kept for the next call with the same inputs: one per partition and
/// a few to spare.
const RECENT_BATCHES: usize = 8;

/// The inputs and answer of a recent batch.
type Recent = VecDeque<(Vec<ArrayRef>, ArrayRef)>;

/// Bounds the cache and the strings numbered; past it both start over (each resource costs one
/// resolution again).
const CACHE_LIMIT: usize = 1 << 20;

/// Resolves rows to their dimension values, once per distinct combination of inputs, and numbers
/// each distinct set of values: rows with the same values get the same code. The SQL function
/// and the rollups (which group by the code) share it. Inputs are compared by their strings'
/// numbers ([`Interner`]), so a row costs a lookup of a few integers, not of its text.
pub(crate) struct DimensionCache {
    resolver: Arc<Resolver>,
    strings: Interner,
    cache: Cache,
    codes: HashMap<Arc<[Option<String>]>, u32, foldhash::fast::FixedState>,
    values: Vec<Arc<[Option<String>]>>,
}

/// A map column's rows, their entries coded only when a row needs them.
struct MapRows {
    /// `None` for a column of nulls.
    map: Option<MapArray>,
    keys: LazyCodes,
    values: LazyCodes,
}

impl MapRows {
    fn new(array: &ArrayRef, strings: &mut Interner) -> DfResult<MapRows> {
        if array.data_type() == &DataType::Null {
            return Ok(MapRows { map: None, keys: strings.lazy(array)?, values: strings.lazy(array)? });
        }
        let Some(map) = array.as_any().downcast_ref::<MapArray>() else {
            return exec_err!(
                "{DIMENSIONS_FUNCTION} takes maps for Tags and x_CostCategories, not {}",
                array.data_type()
            );
        };
        let (keys, values) = (strings.lazy(map.keys().as_ref())?, strings.lazy(map.values().as_ref())?);
        Ok(MapRows { map: Some(map.clone()), keys, values })
    }

    /// The entries of a row, `None` for a null map.
    fn entries(&self, row: usize) -> Option<std::ops::Range<usize>> {
        let map = self.map.as_ref().filter(|m| m.is_valid(row))?;
        let offsets = map.value_offsets();
        Some(offsets[row] as usize..offsets[row + 1] as usize)
    }

    /// Whether rows `a` and `b` certainly hold the same entries (see [`LazyCodes::same`]).
    fn same(&self, a: usize, b: usize) -> bool {
        match (self.entries(a), self.entries(b)) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                a.len() == b.len() && a.zip(b).all(|(i, j)| self.keys.same(i, j) && self.values.same(i, j))
            }
            _ => false,
        }
    }

    /// Appends the row's entries to a cache key: their count, then key and value codes (keys
    /// are never null, so a null map and an empty one differ by the count's top bit).
    fn extend_key(&mut self, row: usize, key: &mut Vec<u32>, strings: &mut Interner) {
        let Some(entries) = self.entries(row) else {
            key.push(u32::MAX);
            return;
        };
        key.push(entries.len() as u32);
        for j in entries {
            key.push(self.keys.code(j, strings));
            key.push(self.values.code(j, strings));
        }
    }

    fn pairs(&self, row: usize) -> Vec<(&str, &str)> {
        let entries = self.entries(row).unwrap_or_default();
        entries.filter_map(|j| Some((self.keys.value(j)?, self.values.value(j).unwrap_or("")))).collect()
    }

    /// Gives the codes made back to `strings`.
    fn finish(self, strings: &mut Interner) {
        strings.keep_lazy(self.keys);
        strings.keep_lazy(self.values);
    }
}

impl DimensionCache {
    pub(crate) fn new(resolver: Arc<Resolver>) -> DimensionCache {
        DimensionCache {
            resolver,
            strings: Interner::default(),
            cache: Cache::default(),
            codes: HashMap::default(),
            values: Vec::new(),
        }
    }

    /// The dimensions, in the order of every code's values.
    pub(crate) fn dimensions(&self) -> &[String] {
        self.resolver.dimensions()
    }

    /// The values of a code [`DimensionCache::codes`] gave, one per dimension.
    pub(crate) fn values(&self, code: u32) -> &[Option<String>] {
        &self.values[code as usize]
    }

    /// The strings the codes of [`DimensionCache::codes_of`] number.
    pub(crate) fn strings(&mut self) -> &mut Interner {
        &mut self.strings
    }

    /// The string of a code of [`DimensionCache::strings`].
    pub(crate) fn string(&self, code: u32) -> Option<&str> {
        self.strings.value(code)
    }

    /// Each row's code, from the [`DIMENSION_INPUTS`] columns in that order (text as `Utf8` or a
    /// dictionary, maps with either). Past [`CACHE_LIMIT`] the cache and the strings start over.
    pub(crate) fn codes(&mut self, arrays: &[ArrayRef], rows: usize) -> DfResult<Vec<u32>> {
        let [account, name, resource, service, region, charge, tags, categories] = arrays else {
            return exec_err!(
                "{DIMENSIONS_FUNCTION} takes {} arguments: {}",
                DIMENSION_INPUTS.len(),
                DIMENSION_INPUTS.join(", ")
            );
        };
        if self.cache.len() > CACHE_LIMIT || self.strings.len() > CACHE_LIMIT {
            self.cache.clear();
            self.strings.clear();
        }
        let strings = &mut self.strings;
        let texts = [
            strings.codes(account.as_ref())?,
            strings.codes(name.as_ref())?,
            strings.codes(resource.as_ref())?,
            strings.codes(service.as_ref())?,
            strings.codes(region.as_ref())?,
            strings.codes(charge.as_ref())?,
        ];
        let texts = [&texts[0][..], &texts[1], &texts[2], &texts[3], &texts[4], &texts[5]];
        let mut out = Vec::with_capacity(rows);
        self.codes_of(texts, tags, categories, &mut out)?;
        Ok(out)
    }

    /// Each row's code into `out` (cleared first), from the codes in [`DimensionCache::strings`]
    /// of the six text inputs of [`DIMENSION_INPUTS`] and the two maps. Never clears the strings,
    /// so a caller holding codes keeps them valid.
    pub(crate) fn codes_of(
        &mut self,
        texts: [&[u32]; 6],
        tags: &ArrayRef,
        categories: &ArrayRef,
        out: &mut Vec<u32>,
    ) -> DfResult<()> {
        let rows = texts[0].len();
        let mut tags = MapRows::new(tags, &mut self.strings)?;
        let mut categories = MapRows::new(categories, &mut self.strings)?;
        out.clear();
        let mut key = Vec::with_capacity(64);
        for row in 0..rows {
            // Bills list a resource's lines together: a row often has the row before's inputs,
            // which is found without coding its tags.
            if row > 0
                && texts.iter().all(|t| t[row] == t[row - 1])
                && tags.same(row, row - 1)
                && categories.same(row, row - 1)
            {
                out.push(out[row - 1]);
                continue;
            }
            key.clear();
            key.extend(texts.iter().map(|t| t[row]));
            tags.extend_key(row, &mut key, &mut self.strings);
            categories.extend_key(row, &mut key, &mut self.strings);
            let code = match self.cache.get(key.as_slice()) {
                Some(&code) => code,
                None => {
                    let strings = &self.strings;
                    let text = |i: usize| strings.value(texts[i][row]).unwrap_or("");
                    let (row_tags, row_categories) = (tags.pairs(row), categories.pairs(row));
                    let fields = RowFields {
                        account_id: text(0),
                        account_name: text(1),
                        resource_id: text(2),
                        service: text(3),
                        region: text(4),
                        charge_category: text(5),
                        tags: &row_tags,
                        cost_categories: &row_categories,
                    };
                    let values: Arc<[Option<String>]> = self.resolver.resolve(&fields).into();
                    let next = self.values.len() as u32;
                    let code = *self.codes.entry(values.clone()).or_insert(next);
                    if code == next {
                        self.values.push(values);
                    }
                    self.cache.insert(key.as_slice().into(), code);
                    code
                }
            };
            out.push(code);
        }
        tags.finish(&mut self.strings);
        categories.finish(&mut self.strings);
        Ok(())
    }
}

struct DimensionsUdf {
    signature: Signature,
    fields: Fields,
    cache: Mutex<DimensionCache>,
    recent: Mutex<Recent>,
}

impl fmt::Debug for DimensionsUdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(DIMENSIONS_FUNCTION)
    }
}

// Each session registers its own function; only the same instance is the same function.
impl PartialEq for DimensionsUdf {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for DimensionsUdf {}

impl Hash for DimensionsUdf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        DIMENSIONS_FUNCTION.hash(state);
    }
}

impl ScalarUDFImpl for DimensionsUdf {
    fn name(&self) -> &str {
        DIMENSIONS_FUNCTION
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(DataType::Struct(self.fields.clone()))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        // The planner asks once per dimension column with the same input arrays: answer again
        // from the batches seen last instead of resolving every row once per dimension.
        let recent = self.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, result)) = recent.iter().find(|(inputs, _)| {
            inputs.len() == arrays.len() && inputs.iter().zip(&arrays).all(|(a, b)| Arc::ptr_eq(a, b))
        }) {
            return Ok(ColumnarValue::Array(result.clone()));
        }
        drop(recent);
        let result = self.resolve_batch(&arrays, args.number_rows)?;
        let mut recent = self.recent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Holding the inputs keeps their buffers alive, so pointer equality cannot be a reused
        // address.
        if recent.len() == RECENT_BATCHES {
            recent.pop_front();
        }
        recent.push_back((arrays, result.clone()));
        Ok(ColumnarValue::Array(result))
    }
}

impl DimensionsUdf {
    fn resolve_batch(&self, arrays: &[ArrayRef], rows: usize) -> DfResult<ArrayRef> {
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let codes = cache.codes(arrays, rows)?;
        let mut builders: Vec<StringBuilder> = self.fields.iter().map(|_| StringBuilder::new()).collect();
        for code in codes {
            for (b, v) in builders.iter_mut().zip(cache.values(code)) {
                b.append_option(v.as_deref());
            }
        }
        let columns: Vec<ArrayRef> = builders.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef).collect();
        Ok(Arc::new(StructArray::new(self.fields.clone(), columns, None)))
    }
}
