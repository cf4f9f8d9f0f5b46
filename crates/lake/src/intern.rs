//! Numbers for text: each distinct string gets a small integer, so code that groups or caches by
//! text compares integers instead of strings. A dictionary column costs one lookup per distinct
//! value of the batch, not one per row.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::arrow::error::ArrowError;
use foldhash::fast::FixedState;

/// Numbers distinct strings from 1; 0 stands for null.
#[derive(Default)]
pub(crate) struct Interner {
    codes: HashMap<Box<str>, u32, FixedState>,
    values: Vec<Box<str>>,
}

impl Interner {
    /// The code of `value`, numbering it if it is new.
    pub(crate) fn code(&mut self, value: &str) -> u32 {
        if let Some(&code) = self.codes.get(value) {
            return code;
        }
        self.values.push(value.into());
        let code = self.values.len() as u32;
        self.codes.insert(value.into(), code);
        code
    }

    /// The string of a code, `None` for 0 (null).
    pub(crate) fn value(&self, code: u32) -> Option<&str> {
        code.checked_sub(1).map(|i| &*self.values[i as usize])
    }

    /// How many strings are numbered.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// Forgets every code.
    pub(crate) fn clear(&mut self) {
        self.codes.clear();
        self.values.clear();
    }

    /// Each element's code: a `Utf8` or `Int32`-keyed dictionary column directly, a null column
    /// as all nulls, any other type cast to `Utf8` first.
    pub(crate) fn codes(&mut self, array: &dyn Array) -> Result<Vec<u32>, ArrowError> {
        let mut out = Vec::with_capacity(array.len());
        self.codes_into(array, &mut out)?;
        Ok(out)
    }

    /// [`Interner::codes`] into `out` (cleared first), so a caller can reuse one buffer.
    pub(crate) fn codes_into(&mut self, array: &dyn Array, out: &mut Vec<u32>) -> Result<(), ArrowError> {
        out.clear();
        if array.data_type() == &DataType::Null {
            out.resize(array.len(), 0);
            return Ok(());
        }
        if let Some(dict) = array.as_dictionary_opt::<Int32Type>()
            && let Some(values) = dict.values().as_string_opt::<i32>()
        {
            let local: Vec<u32> = (0..values.len())
                .map(|k| if values.is_valid(k) { self.code(values.value(k)) } else { 0 })
                .collect();
            let keys = dict.keys();
            match keys.nulls() {
                None => out.extend(keys.values().iter().map(|&k| local[k as usize])),
                Some(_) => out.extend(
                    (0..keys.len()).map(|i| if keys.is_valid(i) { local[keys.value(i) as usize] } else { 0 }),
                ),
            }
            return Ok(());
        }
        if let Some(strings) = array.as_string_opt::<i32>() {
            // Bills repeat a value over neighbouring rows: compare with the row before before
            // hashing.
            let mut last: Option<(&str, u32)> = None;
            for i in 0..strings.len() {
                if strings.is_null(i) {
                    out.push(0);
                    continue;
                }
                let value = strings.value(i);
                let code = match last {
                    Some((v, c)) if v == value => c,
                    _ => self.code(value),
                };
                last = Some((value, code));
                out.push(code);
            }
            return Ok(());
        }
        let plain = cast(array, &DataType::Utf8)?;
        self.codes_into(plain.as_ref(), out)
    }
}
