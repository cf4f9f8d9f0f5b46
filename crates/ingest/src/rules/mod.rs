//! Tag rules: how raw tags, cost categories, the CMDB and account facts become one value per
//! allocation dimension, with the provenance of every value.

pub mod error;

pub use error::{RulesError, parse_yaml};
