//! # costpilot-analysis
//!
//! The analyses costpilot answers with, each over a [`costpilot_query::LakeSession`]: the
//! data-quality report and a resource's provenance ([`quality`]), shared-cost allocation to the
//! cent (`costpilot_rules::allocation`, fed by [`quality`]), invoice reconciliation ([`invoice`]), unit cost against business metrics
//! ([`unit_cost`]), the briefing ([`briefing()`]), and the lake's units as a scoped reader sees them
//! ([`units`]). They ask the semantic layer for their numbers where one metric by dimensions
//! answers (the [briefing](mod@briefing)'s movers, [`unit_cost`]'s cost), and otherwise run a
//! typed query whose result columns they read by name, never by position: where one scan yields
//! several figures, for which the layer would need a request (and so a scan) each, and where the
//! rules need every distinct set of a row's fields (quality). They compute only what SQL cannot
//! (a split, a ratio, a comparison).
//!
//! It may depend on every library block below it (`costpilot-model`, `-rules`, `-lake`,
//! `-ingest`, `-query`); the blocks to come (insight, optimize, agent) build on it.

pub mod briefing;
pub mod invoice;
pub mod quality;
pub mod unit_cost;
pub mod units;

pub use briefing::{Briefing, BriefingOptions, briefing};
