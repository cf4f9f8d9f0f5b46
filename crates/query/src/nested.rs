//! Reading one element of a map or a list without per-row array slices.
//!
//! `Tags` is a `Map<Utf8, Utf8>`, and `map_extract(Tags, 'team')[1]` is how SQL written for both
//! costpilot and DuckDB reads one tag. DataFusion's built-ins answer it row by row: `map_extract`
//! compares keys by slicing a one-element array per map entry, and `array_element` (what `[1]`
//! becomes) copies each element through `MutableArrayData`; both first expand their constant
//! argument to a full column. That was most of such a query, several times the cost of decoding
//! the column (see `bench/README.md`).
//!
//! [`map_extract`] and [`array_element`] replace the built-ins under the same names and aliases
//! (`fastpath`); [`register`] also points the `[i]` syntax, which the SQL planner binds to the built-in
//! `array_element` directly, at the fast one. Each handles arrays with a constant key or index by
//! finding every row's element in place and gathering them with one `take`, and answers exactly
//! as the built-in does:
//! - `map_extract` on string keys (`Utf8`, `LargeUtf8`, `Utf8View`) gives one element per row:
//!   the value of the first entry whose key matches, or null when none does (a null map has no
//!   entries, so its list holds a null too);
//! - `array_element` on a list gives the element at a 1-based index, counting from the end when
//!   negative, or null for a null list or an index out of range (0 included).
//!
//! Everything else (constant maps and lists, keys and indexes from a column, other key types)
//! goes to the built-in unchanged.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, GenericListArray, ListArray, MapArray, OffsetSizeTrait, UInt32Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::FunctionRewrite;
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarUDF};
use datafusion::prelude::SessionContext;

use crate::fastpath::FastPath;

/// Registers [`map_extract`] and [`array_element`] in `ctx`, and the rewrite that sends the `[i]`
/// syntax to the latter.
pub fn register(ctx: &mut SessionContext) -> Result<()> {
    ctx.register_udf(Arc::new(map_extract()))?;
    let element = Arc::new(array_element());
    ctx.register_udf(element.clone())?;
    ctx.register_function_rewrite(Arc::new(ElementRewrite { element }))
}

/// `map_extract` with the fast path for string keys; see the module documentation.
pub fn map_extract() -> ScalarUDF {
    FastPath::udf(datafusion::functions_nested::map_extract::map_extract_udf(), fast_path)
}

/// `array_element` with the fast path for lists and a constant index; see the module documentation.
pub fn array_element() -> ScalarUDF {
    FastPath::udf(datafusion::functions_nested::extract::array_element_udf(), element_fast_path)
}

/// For each map in `map`, the index into the entries of its first key for which `matches` holds.
fn find_with(map: &MapArray, matches: impl Fn(usize) -> bool) -> UInt32Array {
    map.value_offsets()
        .windows(2)
        .map(|w| {
            let (start, end) = (w[0] as usize, w[1] as usize);
            (start..end).find(|&i| matches(i)).and_then(|i| u32::try_from(i).ok())
        })
        .collect()
}

/// For each map, the index of its first key equal to `needle`, for keys of `Utf8` or `LargeUtf8`.
fn find_in_strings<O: OffsetSizeTrait>(map: &MapArray, needle: &[u8]) -> UInt32Array {
    let keys = map.keys().as_string::<O>();
    find_with(map, |i| keys.value(i).as_bytes() == needle)
}

/// The fast path's answer, or `None` when the built-in should answer.
fn fast_path(args: &[ColumnarValue]) -> Result<Option<ArrayRef>> {
    let [ColumnarValue::Array(map), ColumnarValue::Scalar(key)] = args else {
        return Ok(None);
    };
    let Some(map) = map.as_map_opt() else {
        return Ok(None);
    };
    let needle = match key {
        ScalarValue::Utf8(Some(k)) | ScalarValue::LargeUtf8(Some(k)) | ScalarValue::Utf8View(Some(k)) => {
            k.as_bytes()
        }
        _ => return Ok(None),
    };
    if key.data_type() != *map.key_type() || u32::try_from(map.keys().len()).is_err() {
        return Ok(None);
    }
    let indices = match map.key_type() {
        DataType::Utf8 => find_in_strings::<i32>(map, needle),
        DataType::LargeUtf8 => find_in_strings::<i64>(map, needle),
        DataType::Utf8View => {
            let keys = map.keys().as_string_view();
            find_with(map, |i| keys.value(i).as_bytes() == needle)
        }
        _ => return Ok(None),
    };
    let values = take(map.values().as_ref(), &indices, None)?;
    let field = Arc::new(Field::new_list_field(map.value_type().clone(), true));
    let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(1, map.len()));
    Ok(Some(Arc::new(ListArray::try_new(field, offsets, values, None)?)))
}

/// For each list, the position in `list`'s values of its element at 1-based `index` (from the end
/// when negative), or null when the list is null or too short.
fn element_positions<O: OffsetSizeTrait>(list: &GenericListArray<O>, index: i64) -> UInt32Array {
    list.value_offsets()
        .windows(2)
        .enumerate()
        .map(|(row, w)| {
            if list.is_null(row) {
                return None;
            }
            let (start, len) = (w[0].as_usize(), (w[1] - w[0]).as_usize());
            let at = if index < 0 { i64::try_from(len).ok()? + index } else { index - 1 };
            let at = usize::try_from(at).ok().filter(|&at| at < len)?;
            u32::try_from(start + at).ok()
        })
        .collect()
}

/// The fast path's answer for `array_element`, or `None` when the built-in should answer.
fn element_fast_path(args: &[ColumnarValue]) -> Result<Option<ArrayRef>> {
    let [ColumnarValue::Array(list), ColumnarValue::Scalar(ScalarValue::Int64(Some(index)))] = args else {
        return Ok(None);
    };
    let (positions, values) = match list.data_type() {
        DataType::List(_) => {
            let list = list.as_list::<i32>();
            (element_positions(list, *index), list.values())
        }
        DataType::LargeList(_) => {
            let list = list.as_list::<i64>();
            (element_positions(list, *index), list.values())
        }
        _ => return Ok(None),
    };
    if values.data_type().is_null() || u32::try_from(values.len()).is_err() {
        return Ok(None);
    }
    Ok(Some(take(values.as_ref(), &positions, None)?))
}

/// Points calls of the built-in `array_element`, which the SQL planner makes for `list[i]`
/// without looking the name up, at [`array_element`].
#[derive(Debug)]
struct ElementRewrite {
    element: Arc<ScalarUDF>,
}

impl FunctionRewrite for ElementRewrite {
    fn name(&self) -> &str {
        "costpilot_fast_array_element"
    }

    fn rewrite(&self, expr: Expr, _schema: &DFSchema, _config: &ConfigOptions) -> Result<Transformed<Expr>> {
        match expr {
            Expr::ScalarFunction(ScalarFunction { func, args })
                if func.name() == self.element.name() && !FastPath::is_fast(&func, self.element.name()) =>
            {
                Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(
                    self.element.clone(),
                    args,
                ))))
            }
            other => Ok(Transformed::no(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int64Builder, ListBuilder, MapBuilder, StringBuilder};
    use datafusion::arrow::datatypes::FieldRef;
    use datafusion::logical_expr::ScalarFunctionArgs;
    use datafusion::logical_expr::{col, lit};

    use super::*;

    fn invoke(udf: &ScalarUDF, map: ArrayRef, key: ScalarValue) -> ArrayRef {
        let arg_types = [map.data_type().clone(), key.data_type()];
        let coerced = udf.coerce_types(&arg_types).unwrap_or_else(|_| arg_types.to_vec());
        assert_eq!(coerced, arg_types, "no coercion needed");
        let arg_fields: Vec<FieldRef> =
            arg_types.iter().map(|t| Arc::new(Field::new("a", t.clone(), true))).collect();
        let return_field = Arc::new(Field::new("r", udf.return_type(&arg_types).expect("a type"), true));
        let rows = map.len();
        udf.invoke_with_args(ScalarFunctionArgs {
            args: vec![ColumnarValue::Array(map), ColumnarValue::Scalar(key)],
            arg_fields,
            number_rows: rows,
            return_field,
            config_options: Arc::new(ConfigOptions::default()),
        })
        .expect("the function runs")
        .into_array(rows)
        .expect("an array")
    }

    /// Maps of zero to five entries from a small key set, with null maps, null values and a key
    /// repeated within one map (the first entry wins).
    fn sample() -> ArrayRef {
        let mut builder = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        let keys = ["team", "env", "cost-center", "Team", "", "owner"];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for row in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if row % 53 == 0 {
                builder.append(false).expect("a null map");
                continue;
            }
            for entry in 0..(x % 6) {
                let key = keys[((x >> (8 * entry)) % keys.len() as u64) as usize];
                builder.keys().append_value(key);
                if (x >> (3 * entry)).is_multiple_of(11) {
                    builder.values().append_null();
                } else {
                    builder.values().append_value(format!("{key}-{row}-{entry}"));
                }
            }
            builder.append(true).expect("a map");
        }
        Arc::new(builder.finish())
    }

    #[test]
    fn map_extract_agrees_with_the_builtin() {
        let builtin = datafusion::functions_nested::map_extract::map_extract_udf();
        let map = sample();
        // A slice too, so offsets that do not start at zero are covered.
        for map in [map.clone(), map.slice(1_001, 2_345)] {
            for key in ["team", "Team", "", "owner", "absent"] {
                assert!(
                    fast_path(&[map.clone().into(), ScalarValue::from(key).into()]).expect("runs").is_some()
                );
                let expected = invoke(&builtin, map.clone(), ScalarValue::from(key));
                let got = invoke(&map_extract(), map.clone(), ScalarValue::from(key));
                assert_eq!(got.as_ref(), expected.as_ref(), "key {key:?}");
            }
        }
    }

    #[test]
    fn map_extract_known_values() {
        let mut builder = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        type Entries<'a> = &'a [(&'a str, Option<&'a str>)];
        let rows: [Option<Entries>; 5] = [
            Some(&[("env", Some("prod")), ("team", Some("search"))]),
            None,
            Some(&[("env", Some("dev"))]),
            Some(&[("team", None)]),
            Some(&[("team", Some("ads")), ("team", Some("later"))]),
        ];
        for row in rows {
            for (key, value) in row.unwrap_or_default() {
                builder.keys().append_value(key);
                builder.values().append_option(*value);
            }
            builder.append(row.is_some()).expect("a map");
        }
        let out = invoke(&map_extract(), Arc::new(builder.finish()), ScalarValue::from("team"));
        let out = out.as_list::<i32>();
        assert_eq!(out.value_offsets(), &[0, 1, 2, 3, 4, 5]);
        let values: Vec<Option<&str>> = out.values().as_string::<i32>().iter().collect();
        assert_eq!(values, [Some("search"), None, None, None, Some("ads")]);
    }

    #[test]
    fn map_extract_leaves_other_keys_to_the_builtin() {
        let map = sample();
        assert!(
            fast_path(&[map.clone().into(), ScalarValue::Int64(Some(1)).into()]).expect("runs").is_none()
        );
        assert!(fast_path(&[map.clone().into(), ScalarValue::Utf8(None).into()]).expect("runs").is_none());
        assert!(
            fast_path(&[
                map.clone().into(),
                ColumnarValue::Array(Arc::new(datafusion::arrow::array::StringArray::from(vec![
                    "team";
                    5_000
                ])))
            ])
            .expect("runs")
            .is_none()
        );
    }

    /// Lists of zero to six numbers, with null lists and null elements.
    fn lists() -> ArrayRef {
        let mut builder = ListBuilder::new(Int64Builder::new());
        for row in 0..3_000i64 {
            if row % 41 == 0 {
                builder.append_null();
                continue;
            }
            for i in 0..(row % 7) {
                builder.values().append_option(((row + i) % 13 != 0).then_some(row * 10 + i));
            }
            builder.append(true);
        }
        Arc::new(builder.finish())
    }

    #[test]
    fn array_element_agrees_with_the_builtin() {
        let builtin = datafusion::functions_nested::extract::array_element_udf();
        let list = lists();
        for list in [list.clone(), list.slice(77, 1_900)] {
            for index in -8..=8 {
                let index = ScalarValue::Int64(Some(index));
                assert!(
                    element_fast_path(&[list.clone().into(), index.clone().into()]).expect("runs").is_some()
                );
                let expected = invoke(&builtin, list.clone(), index.clone());
                let got = invoke(&array_element(), list.clone(), index.clone());
                assert_eq!(got.as_ref(), expected.as_ref(), "index {index}");
            }
        }
        assert!(
            element_fast_path(&[lists().into(), ScalarValue::Int64(None).into()]).expect("runs").is_none()
        );
    }

    #[test]
    fn array_element_known_values() {
        let mut builder = ListBuilder::new(Int64Builder::new());
        builder.append_value([Some(1), Some(2), Some(3)]);
        builder.append_null();
        builder.append_value([Some(4), None]);
        builder.append_value([]);
        let list: ArrayRef = Arc::new(builder.finish());
        let at = |i: i64| -> Vec<Option<i64>> {
            let out = invoke(&array_element(), list.clone(), ScalarValue::Int64(Some(i)));
            out.as_primitive::<datafusion::arrow::datatypes::Int64Type>().iter().collect()
        };
        assert_eq!(at(1), [Some(1), None, Some(4), None]);
        assert_eq!(at(2), [Some(2), None, None, None]);
        assert_eq!(at(-1), [Some(3), None, None, None]);
        assert_eq!(at(-3), [Some(1), None, None, None]);
        assert_eq!(at(0), [None, None, None, None]);
        assert_eq!(at(4), [None, None, None, None]);
    }

    #[test]
    fn the_index_syntax_is_pointed_at_the_fast_function() {
        let rewrite = ElementRewrite { element: Arc::new(array_element()) };
        let schema = DFSchema::empty();
        let config = ConfigOptions::default();
        let planned = datafusion::functions_nested::expr_fn::array_element(col("l"), lit(1i64));
        let out = rewrite.rewrite(planned, &schema, &config).expect("rewrites");
        assert!(out.transformed);
        let Expr::ScalarFunction(call) = &out.data else { panic!("a call: {}", out.data) };
        assert!(FastPath::is_fast(&call.func, "array_element"));
        assert_eq!(out.data.schema_name().to_string(), "l[Int64(1)]");
        // Once pointed, and for any other function, nothing changes.
        assert!(!rewrite.rewrite(out.data, &schema, &config).expect("runs").transformed);
        let other = datafusion::functions_nested::expr_fn::map_extract(col("m"), lit("k"));
        assert!(!rewrite.rewrite(other, &schema, &config).expect("runs").transformed);
    }

    #[tokio::test]
    async fn sql_reads_tags_through_the_fast_functions() {
        let mut ctx = SessionContext::new();
        register(&mut ctx).expect("registers");
        let sql = "SELECT map_extract(m, 'team')[1] AS a, element_at(m, 'env')[1] AS b, [10, 20, 30][-1] AS c \
                   FROM (SELECT MAP {'team': 'search', 'env': 'prod'} AS m UNION ALL SELECT MAP {'env': 'dev'})";
        let batches = ctx.sql(sql).await.expect("plans").collect().await.expect("runs");
        let text =
            datafusion::arrow::util::pretty::pretty_format_batches(&batches).expect("formats").to_string();
        let mut lines: Vec<&str> = text.lines().skip(3).filter(|l| l.starts_with('|')).collect();
        lines.sort_unstable();
        assert_eq!(lines, ["|        | dev  | 30 |", "| search | prod | 30 |"]);
    }
}
