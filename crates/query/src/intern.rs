//! Numbers for text: each distinct string gets a small integer, so code that groups or caches by
//! text compares integers instead of strings. A dictionary column costs one lookup per distinct
//! value its rows use, not one per row, and none for values already looked up in an earlier batch
//! with the same dictionary.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, AsArray, Int32Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::arrow::error::ArrowError;
use foldhash::fast::FixedState;

/// Numbers distinct strings from 1; 0 stands for null.
#[derive(Default)]
pub(crate) struct Interner {
    codes: HashMap<Box<str>, u32, FixedState>,
    values: Vec<Box<str>>,
    /// The codes of recent dictionaries' values, most recent last.
    dictionaries: Vec<DictionaryCodes>,
}

/// Dictionaries whose codes are kept: a Parquet reader hands every batch of a column chunk the
/// chunk's whole dictionary (tens of thousands of resource ids), and a batch holds a few columns.
const KEPT_DICTIONARIES: usize = 32;

/// A code for each value of a dictionary, [`UNKNOWN`] until a row uses it.
struct DictionaryCodes {
    /// The dictionary's values, held so their buffers (which identify them) stay allocated.
    values: StringArray,
    codes: Vec<u32>,
}

const UNKNOWN: u32 = u32::MAX;

impl DictionaryCodes {
    /// The code of value `k`, numbering it in `strings` when no row used it before.
    fn code(&mut self, k: usize, strings: &mut Interner) -> u32 {
        let code = &mut self.codes[k];
        if *code == UNKNOWN {
            *code = if self.values.is_valid(k) { strings.code(self.values.value(k)) } else { 0 };
        }
        *code
    }
}

/// Whether `a` and `b` are the same values: the same slice of the same buffers. (Readers rebuild
/// the array around a chunk's dictionary for every batch, so the arrays differ but the buffers
/// are shared.)
fn same_values(a: &StringArray, b: &StringArray) -> bool {
    a.len() == b.len()
        && a.offsets().inner().inner().as_ptr() == b.offsets().inner().inner().as_ptr()
        && a.values().as_ptr() == b.values().as_ptr()
        && a.values().len() == b.values().len()
        && a.nulls().map(|n| n.buffer().as_ptr()) == b.nulls().map(|n| n.buffer().as_ptr())
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
        self.dictionaries.clear();
    }

    /// The codes kept for dictionary `values`, or new unknown ones; the caller gives them back
    /// with [`Interner::keep`].
    fn dictionary_codes(&mut self, values: &StringArray) -> DictionaryCodes {
        match self.dictionaries.iter().rposition(|d| same_values(&d.values, values)) {
            Some(i) => self.dictionaries.remove(i),
            None => DictionaryCodes { values: values.clone(), codes: vec![UNKNOWN; values.len()] },
        }
    }

    fn keep(&mut self, codes: DictionaryCodes) {
        if self.dictionaries.len() == KEPT_DICTIONARIES {
            self.dictionaries.remove(0);
        }
        self.dictionaries.push(codes);
    }

    /// Codes for the elements of `array` (as [`Interner::codes`] takes it), each made when first
    /// asked for; give them back with [`Interner::keep_lazy`] so a dictionary's codes are kept.
    pub(crate) fn lazy(&mut self, array: &dyn Array) -> Result<LazyCodes, ArrowError> {
        if array.data_type() == &DataType::Null {
            return Ok(LazyCodes(Lazy::Null));
        }
        if let Some(dict) = array.as_dictionary_opt::<Int32Type>()
            && let Some(values) = dict.values().as_string_opt::<i32>()
        {
            let codes = self.dictionary_codes(values);
            return Ok(LazyCodes(Lazy::Dictionary { keys: dict.keys().clone(), codes }));
        }
        if let Some(strings) = array.as_string_opt::<i32>() {
            return Ok(LazyCodes(Lazy::Plain { strings: strings.clone(), last: None }));
        }
        let plain = cast(array, &DataType::Utf8)?;
        Ok(LazyCodes(Lazy::Plain { strings: plain.as_string::<i32>().clone(), last: None }))
    }

    /// Takes back the codes [`Interner::lazy`] gave.
    pub(crate) fn keep_lazy(&mut self, lazy: LazyCodes) {
        if let Lazy::Dictionary { codes, .. } = lazy.0 {
            self.keep(codes);
        }
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
        let mut lazy = self.lazy(array)?;
        lazy.codes_into(array.len(), self, out);
        self.keep_lazy(lazy);
        Ok(())
    }
}

/// The elements of an array, coded on demand (see [`Interner::lazy`]).
pub(crate) struct LazyCodes(Lazy);

enum Lazy {
    Null,
    Dictionary {
        keys: Int32Array,
        codes: DictionaryCodes,
    },
    /// Text, with the element coded last (neighbours often repeat a value).
    Plain {
        strings: StringArray,
        last: Option<(usize, u32)>,
    },
}

impl LazyCodes {
    /// The code of element `i`, numbering its string in `strings` if it is new.
    pub(crate) fn code(&mut self, i: usize, strings: &mut Interner) -> u32 {
        match &mut self.0 {
            Lazy::Null => 0,
            Lazy::Dictionary { keys, codes } => match keys.is_null(i) {
                true => 0,
                false => codes.code(keys.value(i) as usize, strings),
            },
            Lazy::Plain { strings: values, last } => {
                if values.is_null(i) {
                    return 0;
                }
                let value = values.value(i);
                let code = match *last {
                    Some((j, c)) if values.value(j) == value => c,
                    _ => strings.code(value),
                };
                *last = Some((i, code));
                code
            }
        }
    }

    /// The codes of elements `0..len` into `out`: [`LazyCodes::code`] of each, with the common
    /// case (a dictionary without null keys) in one tight loop.
    fn codes_into(&mut self, len: usize, strings: &mut Interner, out: &mut Vec<u32>) {
        match &mut self.0 {
            Lazy::Dictionary { keys, codes } if keys.null_count() == 0 => {
                out.extend(keys.values()[..len].iter().map(|&k| codes.code(k as usize, strings)));
            }
            _ => out.extend((0..len).map(|i| self.code(i, strings))),
        }
    }

    /// The string of element `i`, `None` for null.
    pub(crate) fn value(&self, i: usize) -> Option<&str> {
        match &self.0 {
            Lazy::Null => None,
            Lazy::Dictionary { keys, codes } => {
                let k = keys.is_valid(i).then(|| keys.value(i) as usize)?;
                codes.values.is_valid(k).then(|| codes.values.value(k))
            }
            Lazy::Plain { strings, .. } => strings.is_valid(i).then(|| strings.value(i)),
        }
    }

    /// Whether elements `a` and `b` certainly hold the same string, without coding either: the
    /// same dictionary entry, or equal text. (Two entries of a dictionary may hold equal strings;
    /// they count as different.)
    pub(crate) fn same(&self, a: usize, b: usize) -> bool {
        match &self.0 {
            Lazy::Null => true,
            Lazy::Dictionary { keys, .. } => match (keys.is_valid(a), keys.is_valid(b)) {
                (true, true) => keys.value(a) == keys.value(b),
                (valid_a, valid_b) => !valid_a && !valid_b,
            },
            Lazy::Plain { strings, .. } => match (strings.is_valid(a), strings.is_valid(b)) {
                (true, true) => strings.value(a) == strings.value(b),
                (valid_a, valid_b) => !valid_a && !valid_b,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{DictionaryArray, Int32Array};

    use super::*;

    fn dictionary(values: &StringArray, keys: Vec<Option<i32>>) -> DictionaryArray<Int32Type> {
        DictionaryArray::new(Int32Array::from(keys), Arc::new(values.clone()))
    }

    #[test]
    fn dictionaries_agree_with_plain_text_across_batches() {
        let values = StringArray::from(vec![Some("i-1"), Some("i-2"), None, Some("i-3"), Some("i-2x")]);
        let batches = [
            vec![Some(1), Some(1), None, Some(2), Some(0)],
            vec![Some(3), Some(1), Some(4), None],
            vec![Some(4), Some(0), Some(3)],
        ];
        let mut by_dictionary = Interner::default();
        let mut by_text = Interner::default();
        for keys in batches {
            // A reader hands each batch a new array around the same buffers.
            let copy = StringArray::from(values.to_data());
            let array = dictionary(&copy, keys);
            let plain = cast(&array, &DataType::Utf8).expect("casts");
            assert_eq!(by_dictionary.codes(&array).expect("codes"), by_text.codes(&plain).expect("codes"));
        }
        assert_eq!(by_dictionary.dictionaries.len(), 1, "one dictionary, kept once");
        assert_eq!(by_dictionary.len(), 4);
        // Values no row used are not numbered.
        let mut lazy = Interner::default();
        lazy.codes(&dictionary(&values, vec![Some(3)])).expect("codes");
        assert_eq!(lazy.len(), 1);
        assert_eq!(lazy.value(1), Some("i-3"));
    }

    #[test]
    fn other_dictionaries_and_clearing_start_afresh() {
        let a = StringArray::from(vec!["x", "y"]);
        let b = StringArray::from(vec!["y", "x"]);
        let mut interner = Interner::default();
        assert_eq!(interner.codes(&dictionary(&a, vec![Some(0), Some(1)])).expect("codes"), [1, 2]);
        assert_eq!(interner.codes(&dictionary(&b, vec![Some(0), Some(1)])).expect("codes"), [2, 1]);
        // A slice of a dictionary's values is other values.
        let sliced = a.slice(1, 1);
        assert_eq!(interner.codes(&dictionary(&sliced, vec![Some(0)])).expect("codes"), [2]);
        interner.clear();
        assert_eq!(interner.codes(&dictionary(&a, vec![Some(1)])).expect("codes"), [1]);
        assert_eq!(interner.value(1), Some("y"));
        for n in 0..KEPT_DICTIONARIES + 3 {
            let values = StringArray::from(vec![format!("v{n}")]);
            interner.codes(&dictionary(&values, vec![Some(0)])).expect("codes");
        }
        assert_eq!(interner.dictionaries.len(), KEPT_DICTIONARIES);
    }
}
