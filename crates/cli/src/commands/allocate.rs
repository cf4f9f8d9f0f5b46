//! `costpilot allocate`: shared costs split across the allocation dimension by the rules in
//! force, per billing period and currency, to the cent.

use std::path::Path;

use anyhow::{Result, bail};
use costpilot_analysis::quality;
use costpilot_query::Scope;
use costpilot_query::{Sessions, open_lake};
use costpilot_rules::allocation::Allocation;
use costpilot_rules::store;

use crate::output::{Format, csv_field, print_json, terminal_text};

/// Arguments of `costpilot allocate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Runs `costpilot allocate`.
pub async fn run(data_dir: &Path, scope: &Scope, args: Args) -> Result<()> {
    let Some(rules) = store::allocation_rules(data_dir)? else {
        bail!(
            "no allocation rules in force in {}; apply some with: costpilot rules apply allocation FILE",
            store::rules_dir(data_dir).display()
        );
    };
    let lake = open_lake(data_dir)?;
    let session = lake.session_scoped(scope).await?;
    let observations = quality::observations(&session, None).await?;
    let allocation = quality::allocation(&observations, session.resolver(), &rules)?;
    match args.format {
        Format::Json => print_json(&serde_json::to_value(&allocation)?),
        Format::Csv => {
            print!("{}", csv(&allocation));
            Ok(())
        }
        Format::Table => {
            print!("{}", table(&allocation));
            Ok(())
        }
    }
}

fn cents(c: i64) -> String {
    let sign = if c < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", c.unsigned_abs() / 100, c.unsigned_abs() % 100)
}

/// One line per period, currency, value and part (direct or a pool), then the totals.
fn csv(a: &Allocation) -> String {
    let mut out = format!("period,currency,{},part,amount\n", csv_field(&a.dimension));
    for p in &a.periods {
        let mut line = |value: &str, part: &str, cents_of: i64| {
            out.push_str(&format!(
                "{},{},{},{},{}\n",
                csv_field(&p.period),
                csv_field(&p.currency),
                csv_field(value),
                csv_field(part),
                cents(cents_of)
            ));
        };
        for s in &p.direct {
            line(&s.value, "direct", s.cents);
        }
        for pool in &p.pools {
            for s in &pool.shares {
                line(&s.value, &format!("pool:{}", pool.name), s.cents);
            }
        }
        for s in &p.totals {
            line(&s.value, "total", s.cents);
        }
        line("", "unallocated", p.unallocated_cents);
        line("", "rounding", p.rounding_cents);
    }
    out
}

/// The allocation for a terminal; values come from tags and the CMDB, so they go through
/// [`terminal_text`].
fn table(a: &Allocation) -> String {
    let mut out = String::new();
    let dimension = terminal_text(&a.dimension);
    for p in &a.periods {
        let currency = terminal_text(&p.currency);
        out.push_str(&format!(
            "{} {currency}: {} {currency} across {dimension}\n",
            terminal_text(&p.period),
            cents(p.total_cents),
        ));
        for pool in &p.pools {
            let note = pool.note.as_deref().map(|n| format!(" ({})", terminal_text(n))).unwrap_or_default();
            out.push_str(&format!(
                "  pool {:<24} {:>14}  {:?}{note}\n",
                terminal_text(&pool.name),
                cents(pool.amount_cents),
                pool.method
            ));
        }
        let width =
            p.totals.iter().map(|s| terminal_text(&s.value).chars().count()).max().unwrap_or(0).max(12);
        out.push_str(&format!("  {dimension:<width$} {:>14} {:>14} {:>14}\n", "direct", "shared", "total"));
        for t in &p.totals {
            let direct = p.direct.iter().find(|s| s.value == t.value).map_or(0, |s| s.cents);
            out.push_str(&format!(
                "  {:<width$} {:>14} {:>14} {:>14}\n",
                terminal_text(&t.value),
                cents(direct),
                cents(t.cents - direct),
                cents(t.cents)
            ));
        }
        out.push_str(&format!("  {:<width$} {:>14}\n", "unallocated", cents(p.unallocated_cents)));
        if p.rounding_cents != 0 {
            out.push_str(&format!("  {:<width$} {:>14}\n", "rounding", cents(p.rounding_cents)));
        }
        out.push('\n');
    }
    out
}
