//! # costpilot-rules
//!
//! The rules that say who owns a cost row, and nothing else: tag rules (key aliases, value rules,
//! virtual tags, account defaults; [`tags`]), the CMDB of accounts and resources ([`cmdb`]), the
//! resolver that turns a row's account, resource, service, region, tags and cost categories into
//! its allocation dimensions with an explanation (`resolve`), shared-cost allocation rules and
//! their to-the-cent split ([`allocation`]), suggested tag rules read off the data ([`suggest`]),
//! and the store of the rules in force under `<data-dir>/rules/` ([`store`]).
//!
//! It may depend only on `costpilot-model`. It reads no bill and runs no query: the blocks above
//! it hand it rows (the lake's `focus` view computes dimension columns through the resolver; the
//! analyses feed allocation and suggestions with sums the semantic layer computed).

pub mod allocation;
pub mod cmdb;
mod error;
mod resolve;
pub mod store;
pub mod suggest;
pub mod tags;

pub use error::{RulesError, parse_yaml};
pub use resolve::{Explanation, Resolved, Resolver, RowFields, RuleInfo, Source, Step};
pub use tags::{DEFAULT_DIMENSIONS, TAGS_FILE, TagRules};
