//! Rollup rows computed in memory from lake batches, without SQL: what a transaction does for
//! each unit while it writes the unit's files, and what a refresh does over a unit's files.
//!
//! Every text column a rollup groups by is numbered per distinct value by one interner
//! ([`crate::intern::Interner`]) shared by all rollups and the dimensions' cache (a dictionary
//! column costs one lookup per distinct value, not per row), and the allocation dimensions by the
//! [`DimensionCache`] (one code per distinct set of values, keyed by the inputs' codes). A row's
//! group key is then a few integers: the bucket of ChargePeriodStart and the codes, hashed into
//! each rollup's table of groups, whose measures add up as exact `i128` decimals. The rows a
//! rollup file gets are exactly those of the `GROUP BY` over the `focus` view that
//! [`super`] documents.

use std::collections::HashMap;
use std::sync::Arc;

use costpilot_model::{lake_schema, names};
use costpilot_rules::Resolver;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{
    DataType, Decimal128Type, Field, Schema, SchemaRef, TimestampMicrosecondType,
};
use hashbrown::HashTable;

use super::{Definition, MEASURES, ROWS_COLUMN};
use crate::dimensions::{DIMENSION_INPUTS, DimensionCache, column_of};
use crate::error::QueryError;

fn unexpected(column: &str, got: &DataType) -> QueryError {
    QueryError::Query(format!("rollups: column {column} has type {got}"))
}

/// The groups of one rollup for one unit.
///
/// Most rows find their group without hashing the whole key: the words after the bucket (the
/// "combination" of codes) are numbered once, a row usually has the previous row's combination
/// (bills list a resource's lines together), and each combination keeps its groups in a vector
/// indexed by bucket, since a unit spans a billing period: at most 744 hours or 31 days. The few
/// keys that do not fit (a null bucket, a combination whose buckets would span more than
/// [`MAX_SLOTS`]) go to a hash table of whole keys; a key takes the same path every time.
struct Groups {
    /// Key words per group: bucket (three words: null flag, high and low half), then one code
    /// per text column, then the dimensions' code when the rollup has dimensions.
    width: usize,
    /// The groups' keys, `width` words each, in group order.
    keys: Vec<u32>,
    sums: Vec<[i128; MEASURES.len()]>,
    /// Bit `m` set when measure `m` had a non-null value in the group.
    seen: Vec<u8>,
    rows: Vec<i64>,
    /// The group of the last row added.
    last: Option<usize>,
    /// The combinations seen, and each one's groups by bucket.
    combinations: KeyIndex,
    slots: Vec<Slots>,
    /// The combination of the last row added.
    last_combination: Option<u32>,
    /// Groups found by their whole key (numbers into `keys`).
    others: HashTable<u32>,
}

/// The widest span of buckets one combination keeps in a vector: a month of hours, with room.
const MAX_SLOTS: u64 = 1_024;
/// An empty slot.
const NO_GROUP: u32 = u32::MAX;

/// A combination's groups by bucket: slot `i` holds the group of bucket `first + i`.
#[derive(Default)]
struct Slots {
    first: u64,
    groups: Vec<u32>,
}

impl Slots {
    /// Bucket `bucket`'s slot, made room for; `None` when the span would pass [`MAX_SLOTS`].
    fn slot(&mut self, bucket: u64) -> Option<&mut u32> {
        if self.groups.is_empty() {
            self.first = bucket;
        }
        if bucket < self.first {
            let grow = self.first - bucket;
            if grow + self.groups.len() as u64 > MAX_SLOTS {
                return None;
            }
            self.groups.splice(0..0, std::iter::repeat_n(NO_GROUP, grow as usize));
            self.first = bucket;
        }
        let at = bucket - self.first;
        if at >= MAX_SLOTS {
            return None;
        }
        let at = at as usize;
        if at >= self.groups.len() {
            self.groups.resize(at + 1, NO_GROUP);
        }
        Some(&mut self.groups[at])
    }
}

/// Numbers distinct keys of `width` words from 0, each key stored once.
struct KeyIndex {
    width: usize,
    len: u32,
    table: HashTable<u32>,
    keys: Vec<u32>,
}

impl KeyIndex {
    fn new(width: usize) -> KeyIndex {
        KeyIndex { width, len: 0, table: HashTable::new(), keys: Vec::new() }
    }

    fn key(&self, i: u32) -> &[u32] {
        &self.keys[i as usize * self.width..(i as usize + 1) * self.width]
    }

    /// The number of `key`, numbering it if it is new.
    fn number(&mut self, key: &[u32]) -> u32 {
        if let Some(i) = find_or_insert(&mut self.table, &self.keys, self.width, key, self.len) {
            return i;
        }
        self.keys.extend_from_slice(key);
        self.len += 1;
        self.len - 1
    }
}

impl Groups {
    fn new(width: usize) -> Groups {
        Groups {
            width,
            keys: Vec::new(),
            sums: Vec::new(),
            seen: Vec::new(),
            rows: Vec::new(),
            last: None,
            combinations: KeyIndex::new(width.saturating_sub(3)),
            slots: Vec::new(),
            last_combination: None,
            others: HashTable::new(),
        }
    }

    fn group(&mut self, key: &[u32]) -> usize {
        if let Some(last) = self.last
            && self.key(last) == key
        {
            return last;
        }
        let by_bucket = match key {
            [1, high, low, combination @ ..] => {
                self.by_bucket(u64::from(*high) << 32 | u64::from(*low), combination, key)
            }
            _ => None,
        };
        let g = match by_bucket {
            Some(g) => g,
            None => self.by_key(key),
        };
        self.last = Some(g);
        g
    }

    /// The group of `key` through its combination's slots; `None` when they cannot hold it.
    fn by_bucket(&mut self, bucket: u64, combination: &[u32], key: &[u32]) -> Option<usize> {
        let c = match self.last_combination {
            Some(c) if self.combinations.key(c) == combination => c,
            _ => {
                let c = self.combinations.number(combination);
                if c as usize == self.slots.len() {
                    self.slots.push(Slots::default());
                }
                c
            }
        };
        self.last_combination = Some(c);
        let next = self.rows.len() as u32;
        let slot = self.slots[c as usize].slot(bucket)?;
        if *slot != NO_GROUP {
            return Some(*slot as usize);
        }
        *slot = next;
        Some(self.push(key))
    }

    /// The group of `key` through the table of whole keys.
    fn by_key(&mut self, key: &[u32]) -> usize {
        let next = self.rows.len() as u32;
        match find_or_insert(&mut self.others, &self.keys, self.width, key, next) {
            Some(g) => g as usize,
            None => self.push(key),
        }
    }

    /// A new group of `key`, as the next number.
    fn push(&mut self, key: &[u32]) -> usize {
        self.keys.extend_from_slice(key);
        self.sums.push([0; MEASURES.len()]);
        self.seen.push(0);
        self.rows.push(0);
        self.rows.len() - 1
    }

    /// The groups of a coarser key, summed from these: word `i` of its key is word `map[i]` of
    /// this key, except the bucket, which `rebucket` makes coarser (see [`Rebucket`]).
    fn within(&self, map: &[usize], rebucket: Rebucket) -> Result<Groups, QueryError> {
        let mut out = Groups::new(map.len());
        let mut key = Vec::with_capacity(map.len());
        for g in 0..self.rows.len() {
            let from = self.key(g);
            key.clear();
            key.extend(map.iter().map(|&w| from[w]));
            if key[0] == 1 {
                let bucket = rebucket.apply(u64::from(key[1]) << 32 | u64::from(key[2]));
                key[1..3].copy_from_slice(&[(bucket >> 32) as u32, bucket as u32]);
            }
            let h = out.group(&key);
            for m in 0..MEASURES.len() {
                if self.seen[g] & (1 << m) != 0 {
                    out.sums[h][m] =
                        out.sums[h][m].checked_add(self.sums[g][m]).ok_or_else(|| overflow(m))?;
                }
            }
            out.seen[h] |= self.seen[g];
            out.rows[h] += self.rows[g];
        }
        Ok(out)
    }

    fn key(&self, g: usize) -> &[u32] {
        &self.keys[g * self.width..(g + 1) * self.width]
    }
}

/// In `table`, whose entries number keys of `width` words stored one after another in `keys`,
/// the number of `key`; when it is absent, `None` after entering it as `next` (the caller then
/// appends `key` to `keys`).
fn find_or_insert(
    table: &mut HashTable<u32>,
    keys: &[u32],
    width: usize,
    key: &[u32],
    next: u32,
) -> Option<u32> {
    let hash = hash_key(key);
    let key_of = |i: u32| &keys[i as usize * width..(i as usize + 1) * width];
    if let Some(&i) = table.find(hash, |&i| key_of(i) == key) {
        return Some(i);
    }
    table.insert_unique(hash, next, |&i| hash_key(key_of(i)));
    None
}

/// The hash of a group key: a multiply-rotate step per word, then a final mix so that both the
/// low bits (the bucket) and the top ones (the table's tag byte) depend on every word. Keys are a
/// few small integers, where hashing them as bytes cost more than the rest of the lookup.
fn hash_key(key: &[u32]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = key.len() as u64;
    for &w in key {
        h = (h.rotate_left(26) ^ u64::from(w)).wrapping_mul(K);
    }
    h ^= h >> 32;
    h = h.wrapping_mul(0xd6e8_feb8_6659_fd93);
    h ^ (h >> 32)
}

/// The bucket of a coarser grain that holds a finer grain's bucket: both as in
/// [`super::buckets`], (width, origin) in microseconds.
#[derive(Debug, Clone, Copy)]
struct Rebucket {
    from: (i64, i64),
    to: (i64, i64),
}

impl Rebucket {
    fn apply(self, bucket: u64) -> u64 {
        let start = bucket as i64 * self.from.0 + self.from.1;
        (start - self.to.1).div_euclid(self.to.0) as u64
    }
}

/// One rollup being computed: its definition, text columns (indices into the aggregator's
/// columns) and buckets (width and origin in microseconds, [`super::buckets`]).
struct Spec {
    definition: Definition,
    columns: Vec<usize>,
    step: i64,
    origin: i64,
    /// When summed from another spec's groups ([`Definition::within`]): that spec, where each of
    /// this spec's key words is in its key, and how its buckets become this spec's.
    within: Option<(usize, Vec<usize>, Rebucket)>,
}

/// Computes the rows of some rollups for any number of units from the units' lake batches.
pub(crate) struct Aggregator {
    specs: Vec<Spec>,
    /// Every text column some rollup groups by, then those the dimensions read.
    columns: Vec<&'static str>,
    /// Each column's codes for the batch being added (buffers kept from batch to batch).
    codes: Vec<Vec<u32>>,
    /// Numbers every string (its interner numbers the text columns too) and, when some rollup
    /// has dimensions, resolves them.
    cache: DimensionCache,
    /// Where each of the [`DIMENSION_INPUTS`] text columns is in `columns`, when some rollup
    /// has dimensions.
    dimension_inputs: Option<[usize; 6]>,
    dimension_codes: Vec<u32>,
    /// Per unit (the caller's number), the groups of each spec.
    units: HashMap<usize, Vec<Groups>>,
    measure_types: Vec<(u8, i8)>,
}

impl Aggregator {
    /// An aggregator of `definitions`; `resolver` makes the dimension columns of those that have
    /// them.
    pub(crate) fn new(definitions: &[Definition], resolver: Arc<Resolver>) -> Result<Aggregator, QueryError> {
        let schema = lake_schema();
        let mut measure_types = Vec::new();
        for m in MEASURES {
            match schema.field_with_name(m).map(|f| f.data_type().clone()) {
                Ok(DataType::Decimal128(p, s)) => measure_types.push((p, s)),
                other => {
                    return Err(QueryError::Query(format!(
                        "rollups: measure {m} is {other:?}, not a decimal"
                    )));
                }
            }
        }
        let mut columns: Vec<&'static str> = Vec::new();
        let mut position = |c: &'static str| match columns.iter().position(|n| *n == c) {
            Some(i) => i,
            None => {
                columns.push(c);
                columns.len() - 1
            }
        };
        let mut specs = Vec::new();
        for d in definitions {
            let own: Vec<usize> = d.columns.iter().map(|&c| position(c)).collect();
            let (step, origin) = super::buckets(d.grain)?;
            specs.push(Spec { definition: *d, columns: own, step, origin, within: None });
        }
        for i in 0..specs.len() {
            let Some(name) = specs[i].definition.within else { continue };
            let Some(source) = specs.iter().position(|s| s.definition.name == name) else { continue };
            let (outer, inner) = (&specs[source], &specs[i]);
            // Each of the outer buckets must lie in one inner bucket: the inner width a multiple
            // of the outer one, and the origins a whole number of outer buckets apart.
            let nested = inner.step % outer.step == 0 && (inner.origin - outer.origin) % outer.step == 0;
            // The source must be summed from rows itself: derived groups are made when the parts
            // are written, each on its own (see `finish`).
            if !nested
                || outer.definition.dimensions != inner.definition.dimensions
                || outer.definition.within.is_some()
            {
                continue;
            }
            let rebucket = Rebucket { from: (outer.step, outer.origin), to: (inner.step, inner.origin) };
            let Some(mut words) = inner
                .columns
                .iter()
                .map(|c| outer.columns.iter().position(|o| o == c).map(|p| 3 + p))
                .collect::<Option<Vec<usize>>>()
            else {
                continue;
            };
            let mut map = vec![0, 1, 2];
            map.append(&mut words);
            if inner.definition.dimensions {
                map.push(width(outer) - 1);
            }
            specs[i].within = Some((source, map, rebucket));
        }
        let dimension_inputs = definitions.iter().any(|d| d.dimensions).then(|| {
            let mut at = [0; 6];
            for (a, c) in at.iter_mut().zip(&DIMENSION_INPUTS[..6]) {
                *a = position(c);
            }
            at
        });
        Ok(Aggregator {
            specs,
            codes: vec![Vec::new(); columns.len()],
            columns,
            cache: DimensionCache::new(resolver),
            dimension_inputs,
            dimension_codes: Vec::new(),
            units: HashMap::new(),
            measure_types,
        })
    }

    /// The lake columns a batch must have (by name, in any order; text as `Utf8` or dictionary).
    pub(crate) fn input_columns(&self) -> Vec<&'static str> {
        let mut out = vec![names::CHARGE_PERIOD_START];
        out.extend(MEASURES);
        out.extend(self.columns.iter().copied());
        if self.dimension_inputs.is_some() {
            out.extend(DIMENSION_INPUTS);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Counts `unit` among the units seen even if no row of it comes: [`Aggregator::finish`]
    /// then gives it empty rollups.
    pub(crate) fn unit(&mut self, unit: usize) {
        let specs = &self.specs;
        self.units.entry(unit).or_insert_with(|| new_groups(specs));
    }

    /// Adds a batch of `unit`'s rows.
    pub(crate) fn add(&mut self, unit: usize, batch: &RecordBatch) -> Result<(), QueryError> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| QueryError::Query(format!("rollups: the batch has no column {name}")))
        };
        for (name, out) in self.columns.iter().zip(self.codes.iter_mut()) {
            self.cache
                .strings()
                .codes_into(column(name)?.as_ref(), out)
                .map_err(|e| QueryError::Query(format!("rollups: {name}: {e}")))?;
        }
        if let Some(at) = self.dimension_inputs {
            let texts = at.map(|i| self.codes[i].as_slice());
            let (tags, categories) = (column(DIMENSION_INPUTS[6])?, column(DIMENSION_INPUTS[7])?);
            self.cache.codes_of(texts, tags, categories, &mut self.dimension_codes)?;
        }
        let (codes, dimension_codes) = (&self.codes, &self.dimension_codes);
        let start = column(names::CHARGE_PERIOD_START)?;
        let Some(start) = start.as_primitive_opt::<TimestampMicrosecondType>() else {
            return Err(unexpected(names::CHARGE_PERIOD_START, start.data_type()));
        };
        let measures: Vec<&Decimal128Array> = MEASURES
            .iter()
            .map(|m| {
                let a = column(m)?;
                a.as_primitive_opt::<Decimal128Type>()
                    .ok_or_else(|| QueryError::Query(format!("rollups: measure {m} is {}", a.data_type())))
            })
            .collect::<Result<_, _>>()?;
        let specs = &self.specs;
        let groups = self.units.entry(unit).or_insert_with(|| new_groups(specs));
        let mut key = Vec::new();
        for (spec, groups) in specs.iter().zip(groups.iter_mut()) {
            if spec.within.is_some() {
                continue;
            }
            // Neighbouring rows mostly share their group: a row whose bucket and key columns are
            // the row before's takes its group without building its key.
            let same_keys = |row: usize| {
                spec.columns.iter().all(|&c| codes[c][row] == codes[c][row - 1])
                    && (!spec.definition.dimensions || dimension_codes[row] == dimension_codes[row - 1])
            };
            let mut before: Option<(Option<u64>, usize)> = None;
            for row in 0..rows {
                let bucket = start
                    .is_valid(row)
                    .then(|| (start.value(row) - spec.origin).div_euclid(spec.step) as u64);
                let g = match before {
                    Some((b, g)) if b == bucket && same_keys(row) => g,
                    _ => {
                        key.clear();
                        match bucket {
                            Some(b) => key.extend([1, (b >> 32) as u32, b as u32]),
                            None => key.extend([0, 0, 0]),
                        }
                        key.extend(spec.columns.iter().map(|&c| codes[c][row]));
                        if spec.definition.dimensions {
                            key.push(dimension_codes[row]);
                        }
                        groups.group(&key)
                    }
                };
                before = Some((bucket, g));
                let (sums, seen) = (&mut groups.sums[g], &mut groups.seen[g]);
                for (m, values) in measures.iter().enumerate() {
                    if values.is_valid(row) {
                        sums[m] = sums[m].checked_add(values.value(row)).ok_or_else(|| overflow(m))?;
                        *seen |= 1 << m;
                    }
                }
                groups.rows[g] += 1;
            }
        }
        Ok(())
    }

    /// The units seen and, for each, what `each` makes of the rows of every rollup (in the order
    /// of the definitions): `each(unit, rollup, rows)`. The rollups' rows are built and handed to
    /// `each` on `threads` threads, so writing many units' parts at the end of a transaction
    /// uses every core.
    pub(crate) fn finish<T: Send>(
        mut self,
        threads: usize,
        each: impl Fn(usize, usize, RecordBatch) -> Result<T, QueryError> + Sync,
    ) -> Result<Vec<(usize, Vec<T>)>, QueryError> {
        let mut units: Vec<(usize, Vec<Groups>)> = self.units.drain().collect();
        units.sort_by_key(|(u, _)| *u);
        // Each job is one part, a rollup summed from another's groups included. The largest go
        // first (by the groups they start from), so that no thread is left alone with a large one
        // at the end.
        let source = |s: usize| self.specs[s].within.as_ref().map_or(s, |w| w.0);
        let mut jobs: Vec<(usize, usize)> =
            (0..units.len()).flat_map(|u| (0..self.specs.len()).map(move |s| (u, s))).collect();
        jobs.sort_by_key(|&(u, s)| std::cmp::Reverse(units[u].1[source(s)].rows.len()));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let this = &self;
        let done: Vec<Result<Done<T>, QueryError>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads.clamp(1, jobs.len().max(1)))
                .map(|_| {
                    scope.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(&(u, s)) = jobs.get(j) else { return Ok(out) };
                            let (unit, groups) = &units[u];
                            let spec = &this.specs[s];
                            let batch = match &spec.within {
                                Some((source, map, rebucket)) => {
                                    this.batch(spec, &groups[*source].within(map, *rebucket)?)?
                                }
                                None => this.batch(spec, &groups[s])?,
                            };
                            out.push(((u, s), each(*unit, s, batch)?));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join().unwrap_or_else(|_| Err(QueryError::Query("a rollup thread panicked".into())))
                })
                .collect()
        });
        let mut results: Vec<((usize, usize), T)> = Vec::with_capacity(jobs.len());
        for d in done {
            results.extend(d?);
        }
        results.sort_by_key(|(k, _)| *k);
        let mut out: Vec<(usize, Vec<T>)> = units.iter().map(|(u, _)| (*u, Vec::new())).collect();
        for ((u, _), t) in results {
            out[u].1.push(t);
        }
        Ok(out)
    }

    /// The schema of a rollup's file, as the `GROUP BY` of [`super`] over `focus` makes it.
    pub(crate) fn schema(&self, definition: &Definition) -> SchemaRef {
        let lake = lake_schema();
        let start = lake.field_with_name(names::CHARGE_PERIOD_START).map(|f| f.data_type().clone());
        let mut fields = vec![Field::new(names::CHARGE_PERIOD_START, start.unwrap_or(DataType::Null), true)];
        fields.extend(definition.columns.iter().map(|c| Field::new(*c, DataType::Utf8, true)));
        if definition.dimensions {
            let dims = self.cache.dimensions();
            fields.extend(dims.iter().map(|d| Field::new(column_of(d), DataType::Utf8, true)));
        }
        fields.extend(
            MEASURES
                .iter()
                .zip(&self.measure_types)
                .map(|(m, (p, s))| Field::new(*m, DataType::Decimal128((*p + 10).min(38), *s), true)),
        );
        fields.push(Field::new(ROWS_COLUMN, DataType::Int64, false));
        Arc::new(Schema::new(fields))
    }

    fn batch(&self, spec: &Spec, groups: &Groups) -> Result<RecordBatch, QueryError> {
        let schema = self.schema(&spec.definition);
        // By bucket (nulls first), then in the order the groups came: parts are read by time.
        let mut order: Vec<usize> = (0..groups.rows.len()).collect();
        order.sort_by_key(|&g| {
            let k = groups.key(g);
            (k[0], u64::from(k[1]) << 32 | u64::from(k[2]))
        });
        let mut columns: Vec<ArrayRef> = Vec::new();
        let starts: TimestampMicrosecondArray = order
            .iter()
            .map(|&g| {
                let k = groups.key(g);
                (k[0] == 1)
                    .then(|| ((u64::from(k[1]) << 32 | u64::from(k[2])) as i64) * spec.step + spec.origin)
            })
            .collect();
        columns.push(Arc::new(starts.with_timezone_opt(match schema.field(0).data_type() {
            DataType::Timestamp(_, tz) => tz.clone(),
            _ => None,
        })));
        for i in 0..spec.columns.len() {
            let values: StringArray =
                order.iter().map(|&g| self.cache.string(groups.key(g)[3 + i])).collect();
            columns.push(Arc::new(values));
        }
        if spec.definition.dimensions {
            let cache = &self.cache;
            let at = 3 + spec.columns.len();
            for d in 0..cache.dimensions().len() {
                let values: StringArray =
                    order.iter().map(|&g| cache.values(groups.key(g)[at])[d].as_deref()).collect();
                columns.push(Arc::new(values));
            }
        }
        for (m, (p, s)) in self.measure_types.iter().enumerate() {
            let values: Decimal128Array = order
                .iter()
                .map(|&g| (groups.seen[g] & (1 << m) != 0).then_some(groups.sums[g][m]))
                .collect::<Decimal128Array>()
                .with_precision_and_scale((*p + 10).min(38), *s)
                .map_err(|e| QueryError::Query(format!("rollups: {e}")))?;
            columns.push(Arc::new(values));
        }
        columns.push(Arc::new(order.iter().map(|&g| groups.rows[g]).collect::<Int64Array>()));
        RecordBatch::try_new(schema, columns).map_err(|e| QueryError::Query(format!("rollups: {e}")))
    }
}

/// What one thread of [`Aggregator::finish`] made, by unit and rollup.
type Done<T> = Vec<((usize, usize), T)>;

fn overflow(measure: usize) -> QueryError {
    QueryError::Query(format!("rollups: the sum of {} overflows", MEASURES[measure]))
}

/// Empty groups for each spec.
fn new_groups(specs: &[Spec]) -> Vec<Groups> {
    specs.iter().map(|s| Groups::new(width(s))).collect()
}

fn width(spec: &Spec) -> usize {
    3 + spec.columns.len() + usize::from(spec.definition.dimensions)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Keys of a bucket (sometimes null, sometimes far from the others, negative timestamps
    /// included) and two codes, in runs and at random.
    fn keys() -> Vec<[u32; 5]> {
        let mut x: u64 = 0x853c_49e6_748f_ea9b;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut out = Vec::new();
        for i in 0..20_000u64 {
            let r = next();
            let bucket: u64 = match r % 10 {
                0 => 5_000_000 + r % 3_000,            // wider than MAX_SLOTS
                1 => (-3i64 - (r % 40) as i64) as u64, // before 1970
                _ => 480_000 + (i / 7) % 744 + r % 3,  // runs through a month of hours
            };
            let valid = r % 97 != 0;
            let (a, b) = ((r >> 20) % 5 + 1, (r >> 30) % 3);
            let key = if valid {
                [1, (bucket >> 32) as u32, bucket as u32, a as u32, b as u32]
            } else {
                [0, 0, 0, a as u32, b as u32]
            };
            out.push(key);
            if r % 4 == 0 {
                out.push(key);
            }
        }
        out
    }

    #[test]
    fn groups_number_each_distinct_key_once() {
        let mut groups = Groups::new(5);
        let mut expected: HashMap<[u32; 5], usize> = HashMap::new();
        for key in keys() {
            let g = groups.group(&key);
            let want = *expected.entry(key).or_insert(g);
            assert_eq!(g, want, "{key:?}");
            assert_eq!(groups.key(g), key);
        }
        assert_eq!(groups.rows.len(), expected.len());
        assert!(
            !groups.others.is_empty() && groups.others.len() < expected.len() / 2,
            "{}",
            groups.others.len()
        );
    }

    #[test]
    fn day_buckets_fall_in_the_week_that_starts_on_their_monday() {
        let day = crate::rollup::buckets(crate::semantic::Grain::Day).unwrap();
        let week = crate::rollup::buckets(crate::semantic::Grain::Week).unwrap();
        let rebucket = Rebucket { from: day, to: week };
        let micros = |date: &str| costpilot_model::parse_timestamp_micros(date).unwrap();
        for (date, monday) in [
            ("2024-09-01", "2024-08-26"),
            ("2024-09-02", "2024-09-02"),
            ("2024-09-08", "2024-09-02"),
            ("1970-01-01", "1969-12-29"),
            ("1969-12-28", "1969-12-22"),
        ] {
            let bucket = (micros(date) - day.1).div_euclid(day.0) as u64;
            let start = rebucket.apply(bucket) as i64 * week.0 + week.1;
            assert_eq!(start, micros(monday), "{date}");
        }
    }

    #[test]
    fn slots_grow_both_ways_within_the_span() {
        let mut slots = Slots::default();
        *slots.slot(10_100).expect("room") = 1;
        *slots.slot(10_090).expect("room") = 2;
        *slots.slot(10_120).expect("room") = 3;
        assert_eq!((slots.first, slots.groups.len()), (10_090, 31));
        assert_eq!([slots.groups[0], slots.groups[10], slots.groups[30]], [2, 1, 3]);
        assert!(slots.slot(10_090 + MAX_SLOTS).is_none());
        assert!(slots.slot(10_120 - MAX_SLOTS).is_none());
        assert!(slots.slot(10_090 + MAX_SLOTS - 1).is_some());
        assert_eq!(*slots.slot(10_100).expect("room"), 1);
    }
}
