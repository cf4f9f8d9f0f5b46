//! `costpilot allocate`: shared costs split across the allocation dimension by the rules in
//! force, per billing period and currency, to the cent.

use std::path::Path;

use anyhow::{Result, bail};
use costpilot_lake::Scope;
use costpilot_lake::allocation::Allocation;
use costpilot_lake::{Lake, dimensions, quality};

use crate::output::{Format, print_json};

/// Arguments of `costpilot allocate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Runs `costpilot allocate`.
pub async fn run(data_dir: &Path, scope: &Scope, args: Args) -> Result<()> {
    let Some(rules) = dimensions::allocation_rules(data_dir)? else {
        bail!(
            "no allocation rules in force in {}; apply some with: costpilot rules apply allocation FILE",
            dimensions::rules_dir(data_dir).display()
        );
    };
    let lake = Lake::open(data_dir)?;
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
    let mut out = format!("period,currency,{},part,amount\n", a.dimension);
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
    };
    for p in &a.periods {
        let mut line = |value: &str, part: &str, cents_of: i64| {
            out.push_str(&format!(
                "{},{},{},{},{}\n",
                p.period,
                p.currency,
                field(value),
                field(part),
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

fn table(a: &Allocation) -> String {
    let mut out = String::new();
    for p in &a.periods {
        out.push_str(&format!(
            "{} {}: {} {} across {}\n",
            p.period,
            p.currency,
            cents(p.total_cents),
            p.currency,
            a.dimension
        ));
        for pool in &p.pools {
            let note = pool.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
            out.push_str(&format!(
                "  pool {:<24} {:>14}  {:?}{note}\n",
                pool.name,
                cents(pool.amount_cents),
                pool.method
            ));
        }
        let width = p.totals.iter().map(|s| s.value.chars().count()).max().unwrap_or(0).max(12);
        out.push_str(&format!(
            "  {:<width$} {:>14} {:>14} {:>14}\n",
            a.dimension, "direct", "shared", "total"
        ));
        for t in &p.totals {
            let direct = p.direct.iter().find(|s| s.value == t.value).map_or(0, |s| s.cents);
            out.push_str(&format!(
                "  {:<width$} {:>14} {:>14} {:>14}\n",
                t.value,
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
