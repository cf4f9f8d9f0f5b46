//! One module per subcommand.

pub mod allocate;
pub mod demo;
pub mod export;
pub mod generate;
pub mod ingest;
pub mod lake;
pub mod quality;
pub mod query;
pub mod rules;
