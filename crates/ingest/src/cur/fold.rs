//! The rows of a mapped CUR batch that are not one line item each: a recurring commitment fee
//! splits into its payment (a `Purchase`) and its unused part (a `Usage` row with
//! CommitmentDiscountStatus `Unused`), and each SavingsPlanNegation folds into the covered usage it
//! negates, which then bills 0 (FOCUS 1.2, appendix "Commitment Discount Scenarios").
//!
//! A negation and its covered row share the CUR's own keys (payer, usage account, resource, usage
//! type, operation, usage period, Savings Plan ARN). The [`Ledger`] adds up the unblended cost of
//! both per key over a whole file; keys that do not come to 0 by the end of the file (a negation
//! without its covered row, or a pair split across two files) leave one residual row each, so that
//! Σ BilledCost of a file is still Σ `line_item_unblended_cost`.
//!
//! Batches without such rows pass through untouched; the others are rebuilt with one `take` per
//! column and a patch of the few columns whose values differ.

use std::sync::Arc;

use costpilot_model::{lake_schema, money_type, names as lake};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBufferBuilder, Decimal128Array, DictionaryArray,
    Int32Array, RecordBatch, StringBuilder, UInt32Array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::{cast, concat_batches, filter_record_batch, take};
use datafusion::arrow::datatypes::{DataType, Int32Type};

use super::services::FastMap;

/// The unused part of a commitment's recurring fee on one row of a mapped batch.
#[derive(Debug, Clone, Copy)]
pub(super) struct Unused {
    /// The fee's row.
    pub row: usize,
    /// EffectiveCost of the unused part, in units of 10^-15.
    pub amount: i128,
    /// CommitmentDiscountQuantity of the unused part (hours of a reservation, spend of a Savings
    /// Plan), in units of 10^-15.
    pub quantity: i128,
}

/// Where the row that stands for an open key is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Representative {
    /// Row of the batch being reshaped.
    Pending(usize),
    /// Row of one of the ledger's carried batches.
    Carried(usize, usize),
}

/// One key whose covered and negation rows do not yet cancel.
struct Slot {
    /// Σ unblended cost of its covered and negation rows so far.
    sum: i128,
    /// The first of its rows, which becomes the residual row if the key stays open.
    representative: Representative,
}

/// Σ unblended cost of Savings Plan covered and negation rows per key, over one file.
#[derive(Default)]
pub(crate) struct Ledger {
    open: FastMap<Arc<[u8]>, Slot>,
    /// Keys first seen in the batch being reshaped, with their row there.
    fresh: Vec<(Arc<[u8]>, usize)>,
    /// The representative rows of open keys from earlier batches, one small batch per batch.
    carried: Vec<RecordBatch>,
}

/// What one mapped batch needs changed (rows of the batch).
#[derive(Default)]
pub(super) struct Changes {
    /// SavingsPlanCoveredUsage rows: BilledCost becomes 0.
    pub covered: Vec<usize>,
    /// SavingsPlanNegation rows: dropped (their amount is in the ledger).
    pub negations: Vec<usize>,
    /// Recurring fees with an unused part, in row order: each gains an `Unused` row after it.
    pub unused: Vec<Unused>,
}

impl Changes {
    fn is_empty(&self) -> bool {
        self.covered.is_empty() && self.negations.is_empty() && self.unused.is_empty()
    }
}

impl Ledger {
    /// Books one covered or negation row (`row` of the batch about to be reshaped) under `key`.
    pub(super) fn book(&mut self, key: &[u8], billed: i128, row: usize) {
        if let Some(slot) = self.open.get_mut(key) {
            slot.sum += billed;
            if slot.sum == 0 {
                self.open.remove(key);
            }
        } else if billed != 0 {
            let key: Arc<[u8]> = Arc::from(key);
            self.fresh.push((key.clone(), row));
            self.open.insert(key, Slot { sum: billed, representative: Representative::Pending(row) });
        }
    }

    /// The batch with `changes` applied; keys first booked in it that are still open keep their
    /// row for the end of the file.
    pub(super) fn reshape(&mut self, batch: RecordBatch, changes: &Changes) -> Result<RecordBatch, String> {
        self.carry(&batch)?;
        if changes.is_empty() {
            return Ok(batch);
        }
        let rows = batch.num_rows();
        let mut indices: Vec<u32> = Vec::with_capacity(rows + changes.unused.len());
        let mut unused_at: Vec<(usize, Unused)> = Vec::with_capacity(changes.unused.len());
        let mut covered_at: Vec<usize> = Vec::with_capacity(changes.covered.len());
        let (mut negations, mut unused, mut covered) = (
            changes.negations.iter().peekable(),
            changes.unused.iter().peekable(),
            changes.covered.iter().peekable(),
        );
        for row in 0..rows {
            if negations.next_if(|&&n| n == row).is_some() {
                continue;
            }
            if covered.next_if(|&&c| c == row).is_some() {
                covered_at.push(indices.len());
            }
            indices.push(row as u32);
            if let Some(u) = unused.next_if(|u| u.row == row) {
                unused_at.push((indices.len(), *u));
                indices.push(row as u32);
            }
        }
        // A split row and a dropped negation leave the count as it was: only their absence does.
        let identity = changes.negations.is_empty() && changes.unused.is_empty();
        let schema = batch.schema();
        let mut arrays: Vec<ArrayRef> = if identity {
            batch.columns().to_vec()
        } else if changes.unused.is_empty() {
            // Only drops: a filter copies the kept rows run by run (the tag maps too), cheaper than
            // gathering them one by one.
            let mut keep = BooleanBufferBuilder::new(rows);
            keep.append_n(rows, true);
            for &n in &changes.negations {
                keep.set_bit(n, false);
            }
            let kept = filter_record_batch(&batch, &BooleanArray::new(keep.finish(), None));
            kept.map_err(|e| e.to_string())?.columns().to_vec()
        } else {
            let indices = UInt32Array::from(indices);
            let taken =
                batch.columns().iter().map(|c| take(c, &indices, None)).collect::<Result<Vec<_>, _>>();
            taken.map_err(|e| e.to_string())?
        };
        let index = |name: &str| schema.index_of(name).map_err(|e| e.to_string());
        let zero_billed: Vec<(usize, Option<i128>)> =
            covered_at.iter().chain(unused_at.iter().map(|(p, _)| p)).map(|&p| (p, Some(0))).collect();
        let i = index(lake::BILLED_COST)?;
        arrays[i] = set_amounts(&arrays[i], &zero_billed)?;
        if !unused_at.is_empty() {
            let positions: Vec<usize> = unused_at.iter().map(|(p, _)| *p).collect();
            let units = texts_at(&arrays[index(lake::COMMITMENT_DISCOUNT_UNIT)?], &positions)?;
            let unit_of: Vec<(usize, Option<String>)> = positions.into_iter().zip(units).collect();
            for (name, value) in [
                (lake::CHARGE_CATEGORY, "Usage"),
                (lake::CHARGE_FREQUENCY, "Usage-Based"),
                (lake::PRICING_CATEGORY, "Committed"),
                (lake::COMMITMENT_DISCOUNT_STATUS, "Unused"),
            ] {
                let i = index(name)?;
                let patch: Vec<(usize, Option<&str>)> =
                    unused_at.iter().map(|(p, _)| (*p, Some(value))).collect();
                arrays[i] = set_texts(&arrays[i], &patch)?;
            }
            let i = index(lake::PRICING_UNIT)?;
            let patch: Vec<(usize, Option<&str>)> = unit_of.iter().map(|(p, u)| (*p, u.as_deref())).collect();
            arrays[i] = set_texts(&arrays[i], &patch)?;
            let amounts = |f: &dyn Fn(&Unused) -> Option<i128>| -> Vec<(usize, Option<i128>)> {
                unused_at.iter().map(|(p, u)| (*p, f(u))).collect()
            };
            // Nothing would have been paid at list price for capacity nobody used: the unused
            // commitment is spend without a list equivalent, at the commitment's own (contracted)
            // rate.
            for (name, values) in [
                (lake::EFFECTIVE_COST, amounts(&|u| Some(u.amount))),
                (lake::LIST_COST, amounts(&|_| Some(0))),
                (lake::CONTRACTED_COST, amounts(&|u| Some(u.amount))),
                (lake::PRICING_QUANTITY, amounts(&|u| Some(u.quantity))),
                (lake::COMMITMENT_DISCOUNT_QUANTITY, amounts(&|u| Some(u.quantity))),
                (lake::LIST_UNIT_PRICE, amounts(&|_| Some(0))),
                (
                    lake::CONTRACTED_UNIT_PRICE,
                    amounts(&|u| {
                        (u.quantity != 0)
                            .then(|| super::mapping::divide(u.amount, u.quantity))
                            .filter(|p| *p >= 0)
                    }),
                ),
            ] {
                let i = index(name)?;
                arrays[i] = set_amounts(&arrays[i], &values)?;
            }
        }
        RecordBatch::try_new(schema, arrays).map_err(|e| e.to_string())
    }

    /// Keeps the rows of keys first booked in `batch` that are still open.
    fn carry(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let mut rows: Vec<u32> = Vec::new();
        let next = self.carried.len();
        for (key, row) in self.fresh.drain(..) {
            if let Some(slot) = self.open.get_mut(&key)
                && slot.representative == Representative::Pending(row)
            {
                slot.representative = Representative::Carried(next, rows.len());
                rows.push(row as u32);
            }
        }
        if !rows.is_empty() {
            let indices = UInt32Array::from(rows);
            let columns =
                batch.columns().iter().map(|c| take(c, &indices, None)).collect::<Result<Vec<_>, _>>();
            let columns = columns.map_err(|e| e.to_string())?;
            self.carried.push(RecordBatch::try_new(batch.schema(), columns).map_err(|e| e.to_string())?);
        }
        Ok(())
    }

    /// The residual rows of the keys still open at the end of the file, in the order their first
    /// rows came: each is its first row with BilledCost the key's sum and every other cost and
    /// quantity 0 (as a negation row has), or `None` when every key cancelled.
    pub(crate) fn finish(self) -> Result<Option<RecordBatch>, String> {
        let mut open: Vec<(usize, usize, i128)> = self
            .open
            .values()
            .filter_map(|slot| match slot.representative {
                Representative::Carried(b, r) => Some((b, r, slot.sum)),
                Representative::Pending(_) => None,
            })
            .collect();
        if open.is_empty() {
            return Ok(None);
        }
        open.sort_unstable();
        // Carried batches may type a text column differently (plain or dictionary): all become the
        // lake's own types before they are put together.
        let schema = lake_schema();
        let mut pieces = Vec::with_capacity(self.carried.len());
        for (b, batch) in self.carried.iter().enumerate() {
            let rows: Vec<u32> =
                open.iter().filter(|(ob, _, _)| *ob == b).map(|(_, r, _)| *r as u32).collect();
            if rows.is_empty() {
                continue;
            }
            let indices = UInt32Array::from(rows);
            let mut columns = Vec::with_capacity(batch.num_columns());
            for (column, field) in batch.columns().iter().zip(schema.fields()) {
                let picked = take(column, &indices, None).map_err(|e| e.to_string())?;
                columns.push(cast(&picked, field.data_type()).map_err(|e| e.to_string())?);
            }
            pieces.push(RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?);
        }
        let residual = concat_batches(&schema, &pieces).map_err(|e| e.to_string())?;
        let all = |value: &dyn Fn(i128) -> i128| -> ArrayRef {
            let values: Vec<i128> = open.iter().map(|(_, _, sum)| value(*sum)).collect();
            Arc::new(Decimal128Array::from(values).with_data_type(money_type()))
        };
        let mut arrays = residual.columns().to_vec();
        for (name, values) in [
            (lake::BILLED_COST, all(&|sum| sum)),
            (lake::EFFECTIVE_COST, all(&|_| 0)),
            (lake::LIST_COST, all(&|_| 0)),
            (lake::CONTRACTED_COST, all(&|_| 0)),
            (lake::PRICING_QUANTITY, all(&|_| 0)),
            (lake::CONSUMED_QUANTITY, all(&|_| 0)),
            (lake::COMMITMENT_DISCOUNT_QUANTITY, all(&|_| 0)),
        ] {
            let i = schema.index_of(name).map_err(|e| e.to_string())?;
            arrays[i] = values;
        }
        RecordBatch::try_new(schema, arrays).map(Some).map_err(|e| e.to_string())
    }
}

/// An amount column with the given rows replaced.
fn set_amounts(array: &ArrayRef, patch: &[(usize, Option<i128>)]) -> Result<ArrayRef, String> {
    let decimals =
        array.as_primitive_opt().ok_or_else(|| format!("{} is not an amount", array.data_type()))?;
    let decimals: &Decimal128Array = decimals;
    let mut values = decimals.values().to_vec();
    let mut valid = BooleanBufferBuilder::new(values.len());
    match decimals.nulls() {
        Some(n) => valid.append_buffer(n.inner()),
        None => valid.append_n(values.len(), true),
    }
    for (row, value) in patch {
        values[*row] = value.unwrap_or(0);
        valid.set_bit(*row, value.is_some());
    }
    let nulls = NullBuffer::new(valid.finish());
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    Ok(Arc::new(Decimal128Array::new(values.into(), nulls).with_data_type(array.data_type().clone())))
}

/// A text column (plain or a dictionary) with the given rows replaced; a dictionary stays one,
/// its rows keeping their keys.
fn set_texts(array: &ArrayRef, patch: &[(usize, Option<&str>)]) -> Result<ArrayRef, String> {
    if let Some(dict) = array.as_dictionary_opt::<Int32Type>() {
        let values = dict.values().as_string_opt::<i32>().ok_or("a dictionary of non-text values")?;
        let mut distinct =
            StringBuilder::with_capacity(values.len() + patch.len(), values.value_data().len());
        distinct.extend(values.iter());
        let mut added: Vec<&str> = Vec::new();
        let mut keys = dict.keys().values().to_vec();
        let mut valid = BooleanBufferBuilder::new(keys.len());
        match dict.nulls() {
            Some(n) => valid.append_buffer(n.inner()),
            None => valid.append_n(keys.len(), true),
        }
        for (row, value) in patch {
            valid.set_bit(*row, value.is_some());
            if let Some(v) = value {
                let k = match added.iter().position(|a| a == v) {
                    Some(k) => k,
                    None => {
                        added.push(v);
                        distinct.append_value(v);
                        added.len() - 1
                    }
                };
                keys[*row] = (values.len() + k) as i32;
            }
        }
        let keys = Int32Array::new(keys.into(), Some(NullBuffer::new(valid.finish())));
        return Ok(Arc::new(DictionaryArray::new(keys, Arc::new(distinct.finish()))));
    }
    let text = cast(array, &DataType::Utf8).map_err(|e| e.to_string())?;
    let text = text.as_string::<i32>();
    let mut b = StringBuilder::with_capacity(text.len(), text.value_data().len());
    let mut next = patch.iter().peekable();
    for i in 0..text.len() {
        match next.next_if(|(row, _)| *row == i) {
            Some((_, v)) => b.append_option(*v),
            None => b.append_option(text.is_valid(i).then(|| text.value(i))),
        }
    }
    let plain: ArrayRef = Arc::new(b.finish());
    cast(&plain, array.data_type()).map_err(|e| e.to_string())
}

/// The given rows of a text column (plain or a dictionary), owned.
fn texts_at(array: &ArrayRef, rows: &[usize]) -> Result<Vec<Option<String>>, String> {
    let indices = UInt32Array::from_iter_values(rows.iter().map(|&r| r as u32));
    let picked = take(array, &indices, None).map_err(|e| e.to_string())?;
    let text = cast(&picked, &DataType::Utf8).map_err(|e| e.to_string())?;
    Ok(text.as_string::<i32>().iter().map(|v| v.map(str::to_string)).collect())
}
