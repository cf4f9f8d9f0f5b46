//! # costpilot
//!
//! The `costpilot` command-line tool. It is deliberately thin: argument parsing, progress bars and
//! output formatting live here; the work is done by the library crates it may all depend on
//! (`costpilot-ingest` reads bills, `costpilot-lake` stores them, `costpilot-query` answers,
//! `costpilot-analysis` explains; see `docs/architecture.md`). `costpilot demo` is the one command
//! that strings several library calls together, as a guided tour of them.

mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use costpilot_query::Scope;

/// costpilot: cloud cost data in one clean FOCUS model, queried with SQL.
#[derive(Debug, Parser)]
#[command(name = "costpilot", version, about, long_about = None)]
struct Cli {
    /// Where the lake and state live.
    #[arg(long, global = true, env = "COSTPILOT_DATA_DIR", default_value = "./.costpilot")]
    data_dir: PathBuf,

    /// Restrict every read to what a caller may see: `account=ID[,ID...]` or
    /// `<dimension>=VALUE[,VALUE...]` (`business_unit=Retail`); repeat to combine (all must hold).
    #[arg(long, global = true, value_name = "KEY=VALUES")]
    scope: Vec<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read billing exports (files or folders) into the lake.
    Ingest(commands::ingest::Args),
    /// Run SQL over the `focus` table.
    Query(commands::query::Args),
    /// Write the lake as a FOCUS file (.parquet or .csv).
    Export(commands::export::Args),
    /// Write a realistic synthetic estate: a CUR 2.0 bill and its truth.json.
    Generate(commands::generate::Args),
    /// Generate a synthetic estate, ingest it and print the Monday briefing: no set-up, no
    /// network. Uses ./.costpilot-demo unless --data-dir or COSTPILOT_DATA_DIR is given.
    Demo(commands::demo::Args),
    /// Put tag rules, a CMDB or allocation rules in force, or show them.
    Rules {
        #[command(subcommand)]
        command: commands::rules::Command,
    },
    /// Data quality: tag coverage, unallocated cost, conflicts, rule hits; --explain one
    /// resource; --suggest rules.
    Quality(commands::quality::Args),
    /// Split shared costs across the allocation dimension by the rules in force.
    Allocate(commands::allocate::Args),
    /// Cost by any dimensions, grain and time range, through the semantic layer.
    Cost(commands::cost::Args),
    /// BilledCost by billing account and invoice per period, estimated or final.
    Invoices(commands::invoices::Args),
    /// Import business metrics; unit cost (EffectiveCost per unit of a metric).
    Metrics {
        #[command(subcommand)]
        command: commands::metrics::Command,
    },
    /// Time the fast-analytics query suite through the semantic layer, warm and in process.
    Bench(commands::bench::Args),
    /// Rebuild the rollups that answer common cost requests, or say whether they are fresh.
    Rollups {
        #[command(subcommand)]
        command: commands::rollups::Command,
    },
    /// Inspect or maintain the lake.
    Lake {
        #[command(subcommand)]
        command: commands::lake::Command,
    },
}

fn main() -> ExitCode {
    restore_sigpipe();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // `costpilot demo` has a data directory of its own unless one is given explicitly.
    let data_dir_given = matches.value_source("data_dir").is_some_and(|s| s != ValueSource::DefaultValue);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async {
        let mut scope = Scope::all();
        for s in &cli.scope {
            scope.add(s)?;
        }
        if !scope.is_all()
            && let Some(refusal) = scope_refusal(&cli.command)
        {
            anyhow::bail!("{refusal}; it is not available under --scope");
        }
        match cli.command {
            Command::Ingest(args) => commands::ingest::run(&cli.data_dir, args).await,
            Command::Query(args) => commands::query::run(&cli.data_dir, &scope, args).await,
            Command::Export(args) => commands::export::run(&cli.data_dir, &scope, args).await,
            Command::Generate(args) => commands::generate::run(args),
            Command::Demo(args) => commands::demo::run(data_dir_given.then_some(&*cli.data_dir), args).await,
            Command::Rules { command } => commands::rules::run(&cli.data_dir, command).await,
            Command::Quality(args) => commands::quality::run(&cli.data_dir, &scope, args).await,
            Command::Allocate(args) => commands::allocate::run(&cli.data_dir, &scope, args).await,
            Command::Cost(args) => commands::cost::run(&cli.data_dir, &scope, args).await,
            Command::Invoices(args) => commands::invoices::run(&cli.data_dir, &scope, args).await,
            Command::Metrics { command } => commands::metrics::run(&cli.data_dir, &scope, command).await,
            Command::Bench(args) => commands::bench::run(&cli.data_dir, args).await,
            Command::Rollups { command } => commands::rollups::run(&cli.data_dir, command).await,
            Command::Lake { command } => commands::lake::run(&cli.data_dir, &scope, command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::from(1)
        }
    }
}

/// Why a command cannot run under `--scope`, or `None` when it can. A scope is a tenant's view:
/// every read shows the tenant's rows only. Commands that write the lake, its rules or its
/// metrics change what other tenants see (ingest replaces whole units, their rows with them), and
/// operator commands describe the whole lake; neither can be cut down to one tenant's rows, so
/// they are refused, in this one place, before anything is opened. `lake info` is a read: it shows
/// the scope's own rows (`commands::lake`).
fn scope_refusal(command: &Command) -> Option<&'static str> {
    use commands::{lake, metrics, rollups, rules};
    Some(match command {
        Command::Ingest(_) => "`ingest` replaces whole units of the lake, other tenants' rows with them",
        Command::Demo(_) => "`demo` builds and shows a lake of its own, every account in it",
        Command::Rules { command: rules::Command::Apply { .. } } => {
            "`rules apply` changes the rules every tenant's rows are resolved by"
        }
        Command::Rules { command: rules::Command::Show { .. } } => {
            "`rules show` prints the rules of every tenant (tag maps, CMDB accounts, allocation pools)"
        }
        Command::Metrics { command: metrics::Command::Import { .. } } => {
            "`metrics import` replaces business metrics every tenant's unit cost is divided by"
        }
        Command::Rollups { command: rollups::Command::Build { .. } } => {
            "`rollups build` computes rollups of the whole lake"
        }
        Command::Rollups { command: rollups::Command::Status { .. } } => {
            "`rollups status` shows the whole lake's rollups and their rows"
        }
        Command::Bench(_) => "`bench` times queries over the whole lake, an operator's measurement",
        Command::Lake { command: lake::Command::Vacuum { .. } } => {
            "`lake vacuum` deletes files of every tenant"
        }
        _ => return None,
    })
}

/// The error and its causes joined with ": ", each cause once: library errors that name their
/// cause in their own text (`file: No such file or directory`) do not print it twice.
fn message(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.is_empty() {
            text = part;
        } else if !text.ends_with(&part) {
            text = format!("{text}: {part}");
        }
    }
    text
}

/// Lets a closed pipe end the process quietly, as it ends `cat` or `grep`, instead of making the
/// next `println!` panic: `costpilot query ... | head` is ordinary use. Rust ignores SIGPIPE at
/// start-up; this puts back the default action.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; `signal` with SIG_DFL
    // only resets the disposition of SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
