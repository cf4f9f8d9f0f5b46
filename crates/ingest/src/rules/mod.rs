//! Tag rules: how raw tags, cost categories, the CMDB and account facts become one value per
//! allocation dimension, with the provenance of every value.
//!
//! [`tags`] is the rules file and its checks, [`resolve`] the compiled [`Resolver`] the lake's view
//! and the quality report share, [`error`] the error every rules file gives.

pub mod error;
pub mod resolve;
pub mod tags;

pub use error::{RulesError, parse_yaml};
pub use resolve::{Explanation, Resolved, Resolver, RowFields, RuleInfo, Source, Step};
pub use tags::{DEFAULT_DIMENSIONS, TAGS_FILE, TagRules};
