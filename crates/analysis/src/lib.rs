//! # costpilot-analysis
//!
//! The analyses costpilot answers with, each over a [`costpilot_query::LakeSession`]: the
//! data-quality report and a resource's provenance ([`quality`]), shared-cost allocation to the
//! cent (`costpilot_rules::allocation`, fed by [`quality`]), invoice reconciliation ([`invoice`]), unit cost against business metrics
//! ([`unit_cost`]), the briefing ([`briefing()`]), and the lake's units as a scoped reader sees them
//! ([`units`]). They ask the semantic layer for their numbers and compute only what it cannot
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
