//! # costpilot-model
//!
//! The FOCUS data model every other costpilot block speaks: the FOCUS 1.2 columns with their types,
//! nullability and allowed values; the older (1.0/1.1 and pre-1.0) and newer (1.3) column names that
//! map onto them; the provider-specific `x_` columns costpilot keeps beside them; and exact money
//! and UTC time values.
//!
//! The lake stores exactly [`lake_schema`]. Readers in `costpilot-ingest` produce batches of that
//! schema, the lake writes and queries them, and exports project them back to a FOCUS version.
//!
//! It also holds the vocabulary every block shares, each defined once: the dimensions costs are
//! grouped by ([`dimensions`]), the metrics they are summed as ([`vocabulary`]), which columns
//! prune ([`ColumnDef::prunes`]), how long jobs report progress ([`progress`]), durable file
//! writes ([`durable`]) and how numbers are written ([`money`], [`format`](mod@format)). It depends on no
//! other costpilot crate.

pub mod dimensions;
pub mod durable;
pub mod focus;
pub mod format;
pub mod money;
pub mod progress;
pub mod time;
pub mod vocabulary;

pub use focus::{
    COLUMNS, ColumnDef, ColumnKind, ColumnRole, FocusVersion, TextValues, UnitKey, column, index_of,
    is_lake_type, lake_schema, names, resolve_column_name, tags_type, text_dictionary_type, with_plain_text,
};
pub use money::{MONEY_PRECISION, MONEY_SCALE, MoneyError, money_type};
pub use time::{TimeError, parse_timestamp_micros, timestamp_type};
