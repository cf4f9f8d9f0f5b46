//! A DataFusion built-in with a faster way to answer the calls cost data makes most.
//!
//! [`FastPath`] wraps a built-in scalar function under its own name, aliases, signature, types
//! and column names, so a session that registers it means exactly what DataFusion documents. Each
//! call goes to the fast function first; when it declines (returns `None`: a constant argument, a
//! type it does not handle) the built-in answers. `datetrunc` and `nested` are
//! fast functions; their tests compare both answers.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::Result;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};

/// The answer of a fast function, or `None` when the built-in should give it.
pub type FastFunction = fn(&[ColumnarValue]) -> Result<Option<ArrayRef>>;

/// A built-in scalar function tried after a fast function; see the module documentation.
pub struct FastPath {
    builtin: Arc<ScalarUDF>,
    fast: FastFunction,
}

impl FastPath {
    /// `builtin`, with `fast` tried first, as a [`ScalarUDF`] to register in a session (it
    /// replaces the built-in of the same name).
    pub fn udf(builtin: Arc<ScalarUDF>, fast: FastFunction) -> ScalarUDF {
        ScalarUDF::new_from_impl(FastPath { builtin, fast })
    }

    /// Whether `udf` is a fast path of the built-in named `name`.
    pub fn is_fast(udf: &ScalarUDF, name: &str) -> bool {
        udf.inner().downcast_ref::<FastPath>().is_some_and(|f| f.builtin.name() == name)
    }
}

impl fmt::Debug for FastPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FastPath({})", self.builtin.name())
    }
}

// One fast path per built-in: two are the same function when they wrap the same one.
impl PartialEq for FastPath {
    fn eq(&self, other: &Self) -> bool {
        self.builtin == other.builtin
    }
}

impl Eq for FastPath {}

impl Hash for FastPath {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.builtin.name().hash(state);
    }
}

impl ScalarUDFImpl for FastPath {
    fn name(&self) -> &str {
        self.builtin.name()
    }

    fn aliases(&self) -> &[String] {
        self.builtin.aliases()
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.builtin.schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.builtin.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.builtin.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.builtin.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.builtin.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match (self.fast)(&args.args)? {
            Some(array) => Ok(ColumnarValue::Array(array)),
            None => self.builtin.invoke_with_args(args),
        }
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.builtin.output_ordering(inputs)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.builtin.documentation()
    }
}
