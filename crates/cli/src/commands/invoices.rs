//! `costpilot invoices`: BilledCost by billing account and invoice per billing period, final
//! (invoiced by the provider) or estimated, for reconciling against the provider's invoices.

use std::path::Path;

use anyhow::{Result, bail};
use costpilot_analysis::invoice::{self, InvoiceLine};
use costpilot_model::money::decimal_text;
use costpilot_model::money::format_units;
use costpilot_query::{Scope, Sessions, open_lake};

use crate::output::{Format, csv_field, print_json, terminal_text};

/// Arguments of `costpilot invoices`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this billing period, `YYYY-MM`.
    #[arg(long, value_name = "YYYY-MM")]
    period: Option<String>,
    /// Output format; csv and json carry exact amounts, the table rounds to cents.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Runs `costpilot invoices`.
pub async fn run(data_dir: &Path, scope: &Scope, args: Args) -> Result<()> {
    if let Some(p) = &args.period
        && (p.len() != 7 || chrono::NaiveDate::parse_from_str(&format!("{p}-01"), "%Y-%m-%d").is_err())
    {
        bail!("--period '{p}': expected a month as YYYY-MM, e.g. 2025-01");
    }
    let lake = open_lake(data_dir)?;
    let session = lake.session_scoped(scope).await?;
    let mut lines = invoice::invoices(&session).await?;
    if let Some(p) = &args.period {
        lines.retain(|l| &l.period == p);
    }
    match args.format {
        Format::Json => print_json(&lines),
        Format::Csv => {
            print!("{}", csv(&lines));
            Ok(())
        }
        Format::Table => {
            print!("{}", table(&lines));
            Ok(())
        }
    }
}

const HEADER: [&str; 14] = [
    "period",
    "provider",
    "billing_account_id",
    "billing_account_name",
    "currency",
    "invoice_id",
    "status",
    "rows",
    "billed_cost",
    "usage",
    "purchase",
    "tax",
    "credit",
    "adjustment",
];

/// The fields of a line in [`HEADER`] order, amounts written by `money`.
fn fields(l: &InvoiceLine, money: fn(i128) -> String) -> Vec<String> {
    let c = &l.by_charge_category;
    let mut out = vec![
        l.period.clone(),
        l.provider.clone(),
        l.billing_account_id.clone(),
        l.billing_account_name.clone().unwrap_or_default(),
        l.currency.clone(),
        l.invoice_id.clone().unwrap_or_default(),
        l.status.as_str().to_string(),
        l.rows.to_string(),
    ];
    out.extend([l.billed_cost, c.usage, c.purchase, c.tax, c.credit, c.adjustment].map(money));
    out
}

fn csv(lines: &[InvoiceLine]) -> String {
    let mut out = HEADER.join(",") + "\n";
    for l in lines {
        out.push_str(&fields(l, decimal_text).iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

fn table(lines: &[InvoiceLine]) -> String {
    if lines.is_empty() {
        return "no invoice lines: the lake holds no rows for this scope and period\n".into();
    }
    let cents = |u: i128| format_units(u, 2);
    let mut rows = vec![HEADER.map(str::to_string).to_vec()];
    rows.extend(lines.iter().map(|l| {
        let mut f: Vec<String> = fields(l, cents).iter().map(|f| terminal_text(f).into_owned()).collect();
        if l.invoice_id.is_none() {
            f[5] = "(not invoiced)".into();
        }
        f
    }));
    let widths: Vec<usize> =
        (0..HEADER.len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (v, w))| if c >= 7 { format!("{v:>w$}") } else { format!("{v:<w$}") })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
