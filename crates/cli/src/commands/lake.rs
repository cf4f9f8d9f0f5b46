//! `costpilot lake`: what the lake holds, and its upkeep.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, anyhow};
use costpilot_lake::Lake;
use serde::Serialize;

use crate::output::{Format, print_json, thousands};

/// Subcommands of `costpilot lake`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Units (provider, billing account, billing period) with rows, totals per currency, data
    /// watermark and whether the bill is final.
    Info {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Delete files that replaced units no longer use, once older than the retention.
    Vacuum {
        /// Keep retired files younger than this many minutes (readers may still scan them).
        #[arg(long, default_value_t = 60)]
        retention_minutes: u64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Serialize)]
struct UnitInfo {
    provider: String,
    billing_account: String,
    billing_period: String,
    rows: u64,
    billed_cost: BTreeMap<String, String>,
    watermark: Option<String>,
    is_final: bool,
    ingested_at: String,
    sources: usize,
}

#[derive(Debug, Serialize)]
struct Info {
    manifest_version: u64,
    units: Vec<UnitInfo>,
    rows: u64,
    billed_cost: BTreeMap<String, String>,
}

/// Runs a `lake` subcommand.
pub fn run(data_dir: &Path, command: Command) -> Result<()> {
    let lake = Lake::open(data_dir)?;
    match command {
        Command::Info { format } => info(&lake, format),
        Command::Vacuum { retention_minutes, format } => {
            let minutes = retention_minutes.checked_mul(60).ok_or_else(|| anyhow!("retention too large"))?;
            let r = lake.vacuum(Duration::from_secs(minutes))?;
            if format == Format::Json {
                return print_json(&serde_json::json!({
                    "retired_deleted": r.retired_deleted,
                    "orphans_deleted": r.orphans_deleted,
                    "bytes_freed": r.bytes_freed,
                    "retired_kept": r.retired_kept,
                }));
            }
            println!(
                "vacuum: deleted {} retired and {} orphaned file(s), freed {} bytes; kept {} retired file(s) within the retention",
                r.retired_deleted,
                r.orphans_deleted,
                thousands(r.bytes_freed),
                r.retired_kept
            );
            Ok(())
        }
    }
}

fn info(lake: &Lake, format: Format) -> Result<()> {
    let manifest = lake.manifest()?;
    let info = Info {
        manifest_version: manifest.version,
        units: manifest
            .units()
            .iter()
            .map(|u| UnitInfo {
                provider: u.key.provider.clone(),
                billing_account: u.key.billing_account.clone(),
                billing_period: u.key.billing_period.clone(),
                rows: u.rows,
                billed_cost: u.billed_cost.clone(),
                watermark: u.watermark.clone(),
                is_final: u.is_final,
                ingested_at: u.ingested_at.clone(),
                sources: u.sources.len(),
            })
            .collect(),
        rows: manifest.rows(),
        billed_cost: manifest.billed_cost(),
    };
    match format {
        Format::Json => print_json(&info),
        Format::Csv => {
            println!("provider,billing_account,billing_period,currency,billed_cost,rows,watermark,final");
            for u in &info.units {
                for (currency, cost) in &u.billed_cost {
                    println!(
                        "{},{},{},{currency},{cost},{},{},{}",
                        csv_field(&u.provider),
                        csv_field(&u.billing_account),
                        u.billing_period,
                        u.rows,
                        u.watermark.as_deref().unwrap_or(""),
                        u.is_final
                    );
                }
            }
            Ok(())
        }
        Format::Table => {
            if info.units.is_empty() {
                println!("the lake is empty: ingest a billing export with `costpilot ingest <path>`");
                return Ok(());
            }
            let rows: Vec<[String; 7]> = info
                .units
                .iter()
                .map(|u| {
                    let cost = amounts_in_cents(&u.billed_cost);
                    [
                        u.provider.clone(),
                        u.billing_account.clone(),
                        u.billing_period.clone(),
                        thousands(u.rows),
                        cost,
                        u.watermark.clone().unwrap_or_else(|| "-".into()),
                        if u.is_final { "final" } else { "estimated" }.to_string(),
                    ]
                })
                .collect();
            let header = ["provider", "billing account", "period", "rows", "BilledCost", "watermark", "bill"];
            let mut widths = header.map(str::len);
            for r in &rows {
                for (w, cell) in widths.iter_mut().zip(r) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let line = |cells: [&str; 7]| {
                let mut out = String::new();
                for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                    // Counts and money read best right-aligned.
                    if i == 3 || i == 4 {
                        out.push_str(&format!("{cell:>w$}  "));
                    } else {
                        out.push_str(&format!("{cell:<w$}  "));
                    }
                }
                out.trim_end().to_string()
            };
            println!("{}", line(header));
            for r in &rows {
                println!("{}", line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6]].map(String::as_str)));
            }
            let totals = amounts_in_cents(&info.billed_cost);
            println!("total: {} units, {} rows, BilledCost {totals}", info.units.len(), thousands(info.rows));
            Ok(())
        }
    }
}

/// Amounts per currency, each rounded to cents: "10.85 EUR, 20.82 USD".
fn amounts_in_cents(by_currency: &BTreeMap<String, String>) -> String {
    by_currency.iter().map(|(c, v)| format!("{} {c}", cents(v))).collect::<Vec<_>>().join(", ")
}

/// Exact decimal text rounded to cents for display.
fn cents(text: &str) -> String {
    costpilot_model::money::parse_decimal(text)
        .map(|u| costpilot_model::money::format_units(u, 2))
        .unwrap_or_else(|_| text.to_string())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}
