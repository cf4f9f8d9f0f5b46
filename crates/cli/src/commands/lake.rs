//! `costpilot lake`: what the lake holds, and its upkeep.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, anyhow};
use costpilot_analysis::units;
use costpilot_query::{Scope, Sessions, open_lake};
use serde::Serialize;

use crate::output::{Format, csv_field, print_json, terminal_text, thousands};

/// Subcommands of `costpilot lake`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Units (provider, billing account, billing period) with rows, totals per currency, data
    /// watermark and whether the bill is final; under --scope, of the rows in scope only.
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
    /// When the unit was committed; not shown under a scope (a commit of other tenants' rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    ingested_at: Option<String>,
    /// How many source files the unit came from; not shown under a scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    sources: Option<usize>,
    /// True when an older version of the reading wrote the unit: ingesting its sources again
    /// re-derives it (see docs/ingest.md).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    older_reading: bool,
}

/// Whether a unit of the manifest was written by another version of the reading than this one.
fn older_reading(unit: &costpilot_lake::UnitEntry) -> bool {
    unit.mapping.as_deref() != Some(costpilot_ingest::READING_VERSION)
}

#[derive(Debug, Serialize)]
struct Info {
    /// The manifest's version; not shown under a scope (it counts every tenant's commits).
    #[serde(skip_serializing_if = "Option::is_none")]
    manifest_version: Option<u64>,
    /// Whether the figures are of the rows in a scope only (absent when they are the whole lake's).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    scoped: bool,
    units: Vec<UnitInfo>,
    rows: u64,
    billed_cost: BTreeMap<String, String>,
}

/// Runs a `lake` subcommand. `main` refuses `vacuum` under a scope (it deletes every tenant's
/// files); `info` under a scope shows the scope's rows only.
pub async fn run(data_dir: &Path, scope: &Scope, command: Command) -> Result<()> {
    let lake = open_lake(data_dir)?;
    match command {
        Command::Info { format } => {
            let info = match scope.is_all() {
                true => whole_lake(&lake)?,
                false => in_scope(&lake, scope).await?,
            };
            print_info(&info, format)
        }
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

/// What the manifest says of every unit: the operator's view of the whole lake.
fn whole_lake(lake: &costpilot_lake::Lake) -> Result<Info> {
    let manifest = lake.manifest()?;
    Ok(Info {
        manifest_version: Some(manifest.version),
        scoped: false,
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
                ingested_at: Some(u.ingested_at.clone()),
                sources: Some(u.sources.len()),
                older_reading: older_reading(u),
            })
            .collect(),
        rows: manifest.rows(),
        billed_cost: manifest.billed_cost(),
    })
}

/// The units a tenant's rows are in, with the figures of those rows only, read through the scoped
/// `focus` table. A tenant may ask what of its cost the lake holds and how current it is; the
/// manifest's figures would add other tenants' rows and cost, and its source file names and
/// commit times describe their deliveries, so none of them is shown.
async fn in_scope(lake: &costpilot_lake::Lake, scope: &Scope) -> Result<Info> {
    let manifest = lake.manifest()?;
    let session = lake.session_scoped(scope).await?;
    let units: Vec<UnitInfo> = units::units(&session)
        .await?
        .into_iter()
        .map(|u| {
            let older = manifest.units().iter().any(|m| {
                m.key.provider == u.provider
                    && m.key.billing_account == u.billing_account
                    && m.key.billing_period == u.billing_period
                    && older_reading(m)
            });
            UnitInfo {
                provider: u.provider,
                billing_account: u.billing_account,
                billing_period: u.billing_period,
                rows: u.rows,
                billed_cost: u.billed_cost,
                watermark: u.watermark,
                is_final: u.is_final,
                ingested_at: None,
                sources: None,
                older_reading: older,
            }
        })
        .collect();
    let mut totals: BTreeMap<String, i128> = BTreeMap::new();
    for (currency, cost) in units.iter().flat_map(|u| &u.billed_cost) {
        *totals.entry(currency.clone()).or_default() += costpilot_model::money::parse_decimal(cost)?;
    }
    Ok(Info {
        manifest_version: None,
        scoped: true,
        rows: units.iter().map(|u| u.rows).sum(),
        units,
        billed_cost: totals.into_iter().map(|(c, v)| (c, costpilot_model::money::decimal_text(v))).collect(),
    })
}

fn print_info(info: &Info, format: Format) -> Result<()> {
    match format {
        Format::Json => print_json(info),
        Format::Csv => {
            println!("provider,billing_account,billing_period,currency,billed_cost,rows,watermark,final");
            for u in &info.units {
                for (currency, cost) in &u.billed_cost {
                    println!(
                        "{},{},{},{},{cost},{},{},{}",
                        csv_field(&u.provider),
                        csv_field(&u.billing_account),
                        csv_field(&u.billing_period),
                        csv_field(currency),
                        u.rows,
                        u.watermark.as_deref().map(csv_field).unwrap_or_default(),
                        u.is_final
                    );
                }
            }
            Ok(())
        }
        Format::Table => {
            if info.units.is_empty() {
                match info.scoped {
                    true => println!("no rows of the lake are in the scope"),
                    false => {
                        println!("the lake is empty: ingest a billing export with `costpilot ingest <path>`")
                    }
                }
                return Ok(());
            }
            let rows: Vec<[String; 7]> = info
                .units
                .iter()
                .map(|u| {
                    let cost = amounts_in_cents(&u.billed_cost);
                    // Provider and account come from the bill: escaped, like every table cell.
                    [
                        u.provider.clone(),
                        u.billing_account.clone(),
                        u.billing_period.clone(),
                        thousands(u.rows),
                        cost,
                        u.watermark.clone().unwrap_or_else(|| "-".into()),
                        match (u.is_final, u.older_reading) {
                            (true, false) => "final",
                            (false, false) => "estimated",
                            (true, true) => "final *",
                            (false, true) => "estimated *",
                        }
                        .to_string(),
                    ]
                    .map(|c| terminal_text(&c).into_owned())
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
            let older = info.units.iter().filter(|u| u.older_reading).count();
            if older > 0 {
                println!(
                    "* {older} unit(s) written by an older version of the reading: ingest their sources \
                     again to re-derive them"
                );
            }
            let totals = terminal_text(&amounts_in_cents(&info.billed_cost)).into_owned();
            let total = if info.scoped { "total in scope" } else { "total" };
            println!(
                "{total}: {} units, {} rows, BilledCost {totals}",
                info.units.len(),
                thousands(info.rows)
            );
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
