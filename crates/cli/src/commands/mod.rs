//! One module per subcommand.

pub mod demo;
pub mod export;
pub mod generate;
pub mod ingest;
pub mod lake;
pub mod query;
