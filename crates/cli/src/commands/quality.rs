//! `costpilot quality`: how well the cost is allocated, why one resource gets its values, and
//! which rules would allocate more.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use costpilot_analysis::quality::{self, QualityReport, ResourceExplanation, Share};
use costpilot_model::money::format_units;
use costpilot_query::Scope;
use costpilot_query::{Sessions, open_lake};
use costpilot_rules::suggest;

use crate::output::{Format, print_json, terminal_text};

/// Arguments of `costpilot quality`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Explain one resource: for each dimension the raw value, every rule that fired and the
    /// final value.
    #[arg(long, value_name = "RESOURCE_ID", conflicts_with = "suggest")]
    explain: Option<String>,
    /// Propose alias and value-map rules from the data, with the cost each would allocate, as a
    /// rules file to review (never applied: accept it with `costpilot rules apply tags FILE`).
    #[arg(long)]
    suggest: bool,
    /// Where --suggest writes the proposed rules (default: print them).
    #[arg(long, requires = "suggest")]
    out: Option<PathBuf>,
    /// Entries per list and currency.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Output format (table or json).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Runs `costpilot quality`.
pub async fn run(data_dir: &Path, scope: &Scope, args: Args) -> Result<()> {
    if args.format == Format::Csv {
        bail!("--format csv is not available for quality; use table or json");
    }
    let lake = open_lake(data_dir)?;
    let session = lake.session_scoped(scope).await?;
    if let Some(id) = &args.explain {
        let found = quality::explain_resource(&session, id).await?;
        if found.is_empty() {
            bail!("no row of the lake has ResourceId '{id}'");
        }
        if args.format == Format::Json {
            return print_json(&serde_json::to_value(&found)?);
        }
        print!("{}", explain_text(&found));
        return Ok(());
    }
    let observations = quality::observations(&session, None).await?;
    let resolver = session.resolver();
    if args.suggest {
        let rules = costpilot_rules::store::tag_rules(data_dir)?;
        let tagged = quality::tag_observations(&observations, resolver);
        let found = suggest::suggest(&rules, resolver, &tagged);
        let yaml = found.to_yaml();
        if let Some(out) = &args.out {
            std::fs::write(out, &yaml).map_err(|e| anyhow::anyhow!("{}: {e}", out.display()))?;
        }
        if args.format == Format::Json {
            return print_json(
                &serde_json::json!({ "suggestions": found.items, "rules": yaml, "written_to": args.out }),
            );
        }
        match &args.out {
            Some(out) => {
                for s in &found.items {
                    let cost: Vec<String> =
                        s.cost.iter().map(|c| format!("{} {}", c.amount, c.currency)).collect();
                    let text = format!(
                        "{:?} {}: {} → {} ({}) {}",
                        s.kind,
                        s.key,
                        s.from.join(", "),
                        s.to,
                        cost.join(", "),
                        s.reason
                    );
                    println!("{}", terminal_text(&text));
                }
                println!(
                    "{} suggestion(s) written to {}; review it, then: costpilot rules apply tags {}",
                    found.items.len(),
                    out.display(),
                    out.display()
                );
            }
            None => print!("{yaml}"),
        }
        return Ok(());
    }
    let report = quality::report(&observations, resolver, args.top);
    if args.format == Format::Json {
        return print_json(&serde_json::to_value(&report)?);
    }
    print!("{}", report_text(&report));
    Ok(())
}

fn money(units: i128) -> String {
    let text = format_units(units, 2);
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{frac}")
}

fn pct(s: Option<f64>) -> String {
    s.map(|x| format!("{:.1} %", x * 100.0)).unwrap_or_else(|| "-".into())
}

fn share_text(s: &Share) -> String {
    format!(
        "{} {} of {} ({})",
        money(s.effective_cost),
        s.currency,
        money(s.total_effective_cost),
        pct(s.share)
    )
}

/// The report for a terminal. Keys, values, resource ids and account names come from tags and
/// bills, so every line goes through [`terminal_text`].
fn report_text(r: &QualityReport) -> String {
    if r.rows == 0 {
        return "the lake holds no rows yet: ingest a bill first (costpilot ingest <file-or-folder>)\n"
            .into();
    }
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&terminal_text(&s));
        out.push('\n');
    };
    line(format!("data quality over {} rows; owner dimension: {}", r.rows, r.owner_dimension));
    line(String::new());
    line("unallocated (no owner), EffectiveCost".into());
    for (bare, now) in r.unallocated_without_rules.iter().zip(&r.unallocated) {
        line(format!(
            "  {}  without rules: {}  with rules: {}",
            now.currency,
            pct(bare.share),
            share_text(now)
        ));
    }
    line(String::new());
    line("by billing period".into());
    for p in &r.periods {
        let change = p.change_points.map(|c| format!("{c:+.1} pts")).unwrap_or_default();
        line(format!("  {} {}  {}  {change}", p.period, p.unallocated.currency, share_text(&p.unallocated)));
    }
    line(String::new());
    line("tag coverage by key (resources; cost per currency)".into());
    for k in &r.tag_coverage {
        let cost: Vec<String> = k.cost.iter().map(|c| format!("{} {}", c.currency, pct(c.share))).collect();
        line(format!(
            "  {:<16} {:>6} of {} resources ({})  cost {}  spelled {}",
            k.key,
            k.resources,
            k.total_resources,
            pct(k.resource_share),
            cost.join(", "),
            k.spellings.join(", ")
        ));
    }
    line(String::new());
    line("dimensions: cost with a value, and its sources".into());
    for d in &r.dimensions {
        let alloc: Vec<String> =
            d.allocated.iter().map(|s| format!("{} {}", s.currency, pct(s.share))).collect();
        let sources: Vec<String> = d
            .by_source
            .iter()
            .map(|s| format!("{} {} {}", s.source.label(), money(s.effective_cost), s.currency))
            .collect();
        line(format!("  {:<16} {}  [{}]", d.dimension, alloc.join(", "), sources.join("; ")));
    }
    for (title, list) in [
        ("unallocated by account", &r.unallocated_by_account),
        ("unallocated by service", &r.unallocated_by_service),
        ("top unallocated resources", &r.top_unallocated_resources),
    ] {
        line(String::new());
        line(title.into());
        for o in list {
            let detail = o.detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default();
            line(format!("  {:>14} {}  {}{detail}", money(o.effective_cost), o.currency, o.key));
        }
    }
    line(String::new());
    line(format!("conflicting values on one resource: {}", r.conflicts.len()));
    for c in r.conflicts.iter().take(20) {
        let when = if c.same_row { "same row" } else { "over time" };
        line(format!("  {} {}: {} ({when})", c.resource_id, c.key, c.values.join(" | ")));
    }
    line(String::new());
    line("rule hits (rows)".into());
    for h in &r.rule_hits {
        let cost: Vec<String> =
            h.cost.iter().map(|c| format!("{} {}", money(c.effective_cost), c.currency)).collect();
        line(format!("  {:>10}  {}  {}", h.rows, h.rule, cost.join(", ")));
    }
    out
}

/// A resource's provenance for a terminal, each line through [`terminal_text`] (see
/// [`report_text`]).
fn explain_text(found: &[ResourceExplanation]) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&terminal_text(&s));
        out.push('\n');
    };
    for (i, r) in found.iter().enumerate() {
        if i > 0 {
            line(String::new());
        }
        let cost: Vec<String> =
            r.cost.iter().map(|c| format!("{} {}", money(c.effective_cost), c.currency)).collect();
        line(format!(
            "{} in account {} ({}), periods {}, {} rows, {}",
            r.resource_id,
            r.account_id,
            r.account_name,
            r.periods.join(", "),
            r.rows,
            cost.join(", ")
        ));
        let tags: Vec<String> = r.raw_tags.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
        line(format!("  raw tags: {}", if tags.is_empty() { "(none)".into() } else { tags.join(", ") }));
        if !r.cost_categories.is_empty() {
            let cc: Vec<String> = r.cost_categories.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            line(format!("  cost categories: {}", cc.join(", ")));
        }
        for d in &r.explanation.dimensions {
            let source = match (d.source, &d.origin) {
                (Some(s), Some(o)) => format!("{} ({o})", s.label()),
                (Some(s), None) => s.label().to_string(),
                _ => "nothing".to_string(),
            };
            line(format!(
                "  {}: {} ← {} from {source}",
                d.dimension,
                d.value.as_deref().map(|v| format!("{v:?}")).unwrap_or_else(|| "(none)".into()),
                d.raw.as_deref().map(|v| format!("{v:?}")).unwrap_or_else(|| "-".into()),
            ));
            for s in &d.steps {
                line(format!("      {}: {} {:?} → {:?}", s.label, s.action, s.from, s.to));
            }
            for (source, value) in &d.shadowed {
                line(format!("      shadowed: {} {value:?}", source.label()));
            }
        }
    }
    out
}
