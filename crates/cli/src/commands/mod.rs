//! One module per subcommand.

pub mod allocate;
pub mod bench;
pub mod cost;
pub mod demo;
pub mod export;
pub mod generate;
pub mod ingest;
pub mod invoices;
pub mod lake;
pub mod metrics;
pub mod quality;
pub mod query;
pub mod rollups;
pub mod rules;
