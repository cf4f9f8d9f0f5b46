//! Key/value columns of CUR files: the `product`, `resource_tags` and `cost_category` maps (an Arrow
//! map in Parquet, a JSON object in a CSV cell) and the one-key-per-column form (`resourceTags/user:team`
//! in legacy CUR, `resource_tags_user_team` in a flattened CUR 2.0 export), read row by row without
//! copying text where the source allows.

use std::borrow::Cow;
use std::fmt;

use costpilot_model::text_dictionary_type;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, MapArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type};
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::convert::Text;

/// One row's pairs, in source order; keys and values borrow from the batch where they can.
pub type Pairs<'s> = Vec<(Cow<'s, str>, Cow<'s, str>)>;

enum MapSource {
    /// An Arrow map.
    Map(Box<MapColumn>),
    /// A JSON object per cell.
    Json(StringArray),
}

/// A map column with its keys and values, as dictionaries: CUR readers decode the maps this way
/// (see [`crate::raw::RawOptions::dictionary_columns`]), so that key lookups and the lake writer
/// work once per distinct value. Empty keys and values read as nulls.
struct MapColumn {
    map: MapArray,
    keys: Text,
    values: Text,
}

/// Map keys or values as a dictionary of text, cast to one when stored otherwise.
fn dictionary_text(name: &str, array: &ArrayRef) -> Result<Text, String> {
    let array = match array.data_type() {
        t if *t == text_dictionary_type() => array.clone(),
        _ => cast(array, &text_dictionary_type())
            .map_err(|e| format!("column '{name}' has keys or values that are not text: {e}"))?,
    };
    Ok(Text::from_dictionary(array.as_dictionary::<Int32Type>()))
}

/// The sources of one kind of key/value data in a batch: an optional map column and any number of
/// one-key columns (named by their raw key).
pub struct KeyValues {
    map: Option<(String, MapSource)>,
    flat: Vec<(String, StringArray)>,
}

/// A clean map column (see [`KeyValues::plain_map`]) with its keys.
pub struct PlainMap<'a> {
    /// The map itself.
    pub map: &'a MapArray,
    /// Its keys, a dictionary.
    pub keys: &'a Text,
}

impl KeyValues {
    /// Reads `map` (a map or JSON-text column) and `flat` (`(raw key, column)` pairs). A map
    /// column of another type is an error naming the column.
    pub fn new(map: Option<(&str, &ArrayRef)>, flat: Vec<(String, StringArray)>) -> Result<Self, String> {
        let map = match map {
            None => None,
            Some((name, array)) => Some((name.to_string(), map_source(name, array)?)),
        };
        Ok(Self { map, flat })
    }

    /// True when there is nothing to read.
    pub fn is_empty(&self) -> bool {
        self.map.is_none() && self.flat.is_empty()
    }

    /// The name of the map column, for messages.
    pub fn map_column(&self) -> Option<&str> {
        self.map.as_ref().map(|(n, _)| n.as_str())
    }

    /// A lookup of `keys` in the rows of the map column.
    pub fn finder<'s, 'k>(&'s self, keys: &'k [&'k str]) -> Finder<'s, 'k> {
        // Which of `keys` each distinct map key is, found once per batch.
        let slots = match self.map.as_ref().map(|(_, s)| s) {
            Some(MapSource::Map(m)) => m.keys.distinct().map_or(Vec::new(), |distinct| {
                (0..distinct.len())
                    .map(|v| {
                        distinct
                            .is_valid(v)
                            .then(|| keys.iter().position(|w| *w == distinct.value(v)))
                            .flatten()
                    })
                    .collect()
            }),
            _ => Vec::new(),
        };
        Finder { source: self, keys, slots }
    }

    /// The map column itself when it is the only source and every entry is usable as it is (no
    /// null or empty key or value), so that batches can reuse it instead of copying it row by row.
    pub fn plain_map(&self) -> Option<PlainMap<'_>> {
        let Some((_, MapSource::Map(m))) = &self.map else { return None };
        let usable = m.keys.null_count() == 0 && m.values.null_count() == 0;
        (self.flat.is_empty() && usable).then_some(PlainMap { map: &m.map, keys: &m.keys })
    }

    /// Appends row `i`'s non-empty pairs to `out` (map entries first, then one-key columns). A cell
    /// that is not a JSON object is an error with the reason.
    pub fn row<'s>(&'s self, i: usize, out: &mut Pairs<'s>) -> Result<(), String> {
        if let Some((_, source)) = &self.map {
            match source {
                MapSource::Map(m) => {
                    let MapColumn { map, keys, values } = m.as_ref();
                    if map.is_valid(i) {
                        let offsets = map.value_offsets();
                        for j in offsets[i] as usize..offsets[i + 1] as usize {
                            if let (Some(k), Some(v)) = (keys.value(j), values.value(j)) {
                                out.push((Cow::Borrowed(k), Cow::Borrowed(v)));
                            }
                        }
                    }
                }
                MapSource::Json(text) => {
                    if text.is_valid(i) {
                        let cell = text.value(i).trim();
                        if !cell.is_empty() {
                            let mut de = serde_json::Deserializer::from_str(cell);
                            let pairs = FlatObject::deserialize_into(&mut de, out)
                                .and_then(|()| de.end())
                                .map_err(|e| format!("not a JSON object of text values: {e}"));
                            pairs?;
                        }
                    }
                }
            }
        }
        for (key, column) in &self.flat {
            if column.is_valid(i) {
                let v = column.value(i);
                if !v.is_empty() {
                    out.push((Cow::Borrowed(key.as_str()), Cow::Borrowed(v)));
                }
            }
        }
        Ok(())
    }
}

/// Looks a fixed set of keys up row by row (see [`KeyValues::finder`]).
pub struct Finder<'s, 'k> {
    source: &'s KeyValues,
    keys: &'k [&'k str],
    /// For each distinct key of the map column, its position in `keys`.
    slots: Vec<Option<usize>>,
}

impl<'s> Finder<'s, '_> {
    /// Looks the keys up in row `i` of the map column, filling the still-empty `slots` (one per
    /// key) with non-empty values; `scratch` is room for a parsed JSON cell. A cell that is not a
    /// JSON object is an error.
    pub fn find(
        &self,
        i: usize,
        slots: &mut [Option<Cow<'s, str>>],
        scratch: &mut Pairs<'s>,
    ) -> Result<(), String> {
        match self.source.map.as_ref().map(|(_, s)| s) {
            Some(MapSource::Map(m)) => {
                let MapColumn { map, keys, values } = m.as_ref();
                if map.is_valid(i) {
                    let offsets = map.value_offsets();
                    for j in offsets[i] as usize..offsets[i + 1] as usize {
                        let Some(p) = keys.distinct_index(j).and_then(|k| self.slots[k]) else { continue };
                        if slots[p].is_none()
                            && keys.value(j).is_some()
                            && let Some(v) = values.value(j)
                        {
                            slots[p] = Some(Cow::Borrowed(v));
                        }
                    }
                }
                Ok(())
            }
            Some(MapSource::Json(_)) => {
                scratch.clear();
                self.source.row(i, scratch)?;
                for (k, v) in scratch.drain(..) {
                    if let Some(slot) = self.keys.iter().position(|w| *w == k).map(|p| &mut slots[p])
                        && slot.is_none()
                    {
                        *slot = Some(v);
                    }
                }
                Ok(())
            }
            None => Ok(()),
        }
    }
}

fn map_source(name: &str, array: &ArrayRef) -> Result<MapSource, String> {
    match array.data_type() {
        DataType::Map(_, _) => {
            let map = array.as_map().clone();
            let keys = dictionary_text(name, map.keys())?;
            let values = dictionary_text(name, map.values())?;
            Ok(MapSource::Map(Box::new(MapColumn { map, keys, values })))
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = match array.data_type() {
                DataType::Utf8 => array.clone(),
                _ => cast(array, &DataType::Utf8).map_err(|e| format!("column '{name}': {e}"))?,
            };
            Ok(MapSource::Json(text.as_string::<i32>().clone()))
        }
        other => Err(format!("column '{name}' is {other}, not a map or JSON text")),
    }
}

/// Deserialises a flat JSON object, borrowing keys and values from the input when they have no
/// escapes. Numbers and booleans become their text; null values are left out.
struct FlatObject;

impl FlatObject {
    fn deserialize_into<'de, 's, D: Deserializer<'de>>(de: D, out: &mut Pairs<'s>) -> Result<(), D::Error>
    where
        'de: 's,
    {
        de.deserialize_map(ObjectVisitor { out })
    }
}

struct ObjectVisitor<'o, 's> {
    out: &'o mut Pairs<'s>,
}

impl<'de: 's, 's> Visitor<'de> for ObjectVisitor<'_, 's> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<JsonText<'de>>()? {
            let value: Option<JsonText<'de>> = map.next_value()?;
            if let Some(value) = value
                && !key.0.is_empty()
                && !value.0.is_empty()
            {
                self.out.push((key.0, value.0));
            }
        }
        Ok(())
    }
}

/// A JSON string (borrowed when possible), number or boolean, as text.
struct JsonText<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for JsonText<'de> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        de.deserialize_any(JsonTextVisitor)
    }
}

struct JsonTextVisitor;

impl<'de> Visitor<'de> for JsonTextVisitor {
    type Value = JsonText<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<JsonText<'de>, E> {
        Ok(JsonText(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonText<'de>, E> {
        Ok(JsonText(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<JsonText<'de>, E> {
        Ok(JsonText(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonText<'de>, E> {
        Ok(JsonText(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonText<'de>, E> {
        Ok(JsonText(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonText<'de>, E> {
        Ok(JsonText(Cow::Owned(v.to_string())))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<JsonText<'de>, E> {
        Ok(JsonText(Cow::Owned(v.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn json_cells_borrow_text_and_skip_nulls_and_empties() {
        let cells: ArrayRef = Arc::new(StringArray::from(vec![
            Some(r#"{"user_team":"web","user_empty":"","aws_created_by":"me","n":3,"gone":null}"#),
            None,
            Some("[1]"),
            Some(r#"{"a\"b":"x"}"#),
        ]));
        let kv = KeyValues::new(Some(("resource_tags", &cells)), vec![]).unwrap();
        let mut out = Pairs::new();
        kv.row(0, &mut out).unwrap();
        let got: Vec<(&str, &str)> = out.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
        assert_eq!(got, [("user_team", "web"), ("aws_created_by", "me"), ("n", "3")]);
        assert!(matches!(out[0].0, Cow::Borrowed(_)));
        out.clear();
        kv.row(1, &mut out).unwrap();
        assert!(out.is_empty());
        assert!(kv.row(2, &mut out).unwrap_err().starts_with("not a JSON object"));
        out.clear();
        kv.row(3, &mut out).unwrap();
        assert_eq!(out[0].0, "a\"b");
    }
}
