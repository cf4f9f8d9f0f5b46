//! `costpilot cost`: cost by any dimensions, grain and time range, through the semantic layer
//! ([`costpilot_query::semantic`]), per billing currency, with exact amounts.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Result, bail};
use chrono::DateTime;
use costpilot_model::money_type;
use costpilot_model::time::{format_micros, parse_timestamp_micros};
use costpilot_query::LakeSession;
use costpilot_query::semantic::{
    self, CostResult, DEFAULT_PAGE_SIZE, Dimension, Grain, Page, Request, TimeRange,
};
use costpilot_query::{Scope, Sessions, open_lake};
use datafusion::arrow::array::{ArrayRef, Decimal128Array, Float64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};

use crate::output::{Format, print_batches, print_json};

/// Arguments of `costpilot cost`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Dimensions to group by, comma-separated: provider, billing_account, account, service,
    /// service_category, region, resource, charge_category, currency, instance_type, billing_period,
    /// `tag:<key>`, `cost_category:<name>`, or an allocation dimension of the rules (team,
    /// business_unit, ...).
    #[arg(long, value_delimiter = ',', value_name = "DIMENSIONS")]
    by: Vec<String>,
    /// What to add up: billed_cost, effective_cost, list_cost, contracted_cost or usage_quantity
    /// (FOCUS names such as EffectiveCost work too).
    #[arg(long, default_value = "effective_cost")]
    metric: String,
    /// Add amounts converted into the reporting currency of the FX table (billed_cost or
    /// effective_cost) instead of per billing currency.
    #[arg(long)]
    reporting_currency: bool,
    /// Time buckets of ChargePeriodStart: hour, day, week or month.
    #[arg(long)]
    grain: Option<String>,
    /// Charges from: 12h, 30d or 4w counted back from the latest data (or from --until), a date,
    /// or DATE..DATE.
    #[arg(long, value_name = "RANGE")]
    since: Option<String>,
    /// Charges before this date (exclusive).
    #[arg(long, value_name = "DATE", requires = "since")]
    until: Option<String>,
    /// `dimension=value`, `dimension=a,b` (one of) or `dimension^prefix`; repeat: all must hold.
    #[arg(long = "filter", value_name = "FILTER")]
    filters: Vec<String>,
    /// Keep the top N groups per currency and sum the rest as (other).
    #[arg(long, value_name = "N")]
    top: Option<usize>,
    /// Also show the previous period of the same length and the change.
    #[arg(long, requires = "since")]
    compare: bool,
    /// Rows per page.
    #[arg(long, default_value_t = DEFAULT_PAGE_SIZE)]
    page_size: usize,
    /// Rows to skip (the next page starts at the offset a page reports).
    #[arg(long, default_value_t = 0)]
    offset: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// The range `--since` and `--until` give: relative ranges count back from `--until`, else from
/// the latest data the session sees.
pub async fn time_range(
    session: &LakeSession,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Option<TimeRange>> {
    let Some(since) = since else { return Ok(None) };
    let anchor = match until {
        Some(_) if since.contains("..") => bail!("--since {since} gives both ends; drop --until"),
        Some(until) => Some(parse_timestamp_micros(until)?),
        None => semantic::anchor(session).await?,
    };
    Ok(Some(TimeRange::parse(since, anchor)?))
}

/// Runs `costpilot cost`.
pub async fn run(data_dir: &Path, scope: &Scope, args: Args) -> Result<()> {
    let lake = open_lake(data_dir)?;
    let session = lake.session_scoped(scope).await?;
    let range = time_range(&session, args.since.as_deref(), args.until.as_deref()).await?;
    let request = Request {
        metric: args.metric.parse()?,
        reporting_currency: args.reporting_currency,
        group_by: args.by.iter().map(|d| d.parse()).collect::<Result<_, _>>()?,
        filters: args.filters.iter().map(|f| f.parse()).collect::<Result<_, _>>()?,
        range,
        grain: args.grain.as_deref().map(str::parse).transpose()?,
        top: args.top,
        compare: args.compare,
        page: Some(Page { size: args.page_size, offset: args.offset }),
    };
    let result = semantic::run(&session, &request).await?;
    if args.format == Format::Json {
        return print_json(&result);
    }
    let batch = table(&result, args.format == Format::Table)?;
    print_batches(&batch.schema(), &[batch], args.format)?;
    if let Some(next) = result.next_offset {
        eprintln!("rows {}-{next} of {}; next page: --offset {next}", args.offset + 1, result.total_rows);
    }
    Ok(())
}

/// The result as one batch: a column per dimension (and account name), the bucket, the currency
/// and the amounts as exact decimals. `for_people` writes buckets at their grain and cost without
/// a dimension's value as `(none)`; otherwise buckets are RFC 3339 and missing values empty.
fn table(result: &CostResult, for_people: bool) -> Result<RecordBatch> {
    let request = &result.request;
    let rows = &result.rows;
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut text = |name: String, values: Vec<Option<String>>| {
        fields.push(Field::new(name, DataType::Utf8, true));
        columns.push(Arc::new(StringArray::from(values)));
    };
    for (i, d) in request.group_by.iter().enumerate() {
        // The currency column is always there; a currency dimension gets a name of its own.
        let name = if *d == Dimension::CURRENCY { "billing_currency".to_string() } else { d.to_string() };
        let label = |r: &semantic::CostRow| match r.other {
            true => Some("(other)".to_string()),
            false if for_people => Some(r.groups[i].clone().unwrap_or_else(|| "(none)".to_string())),
            false => r.groups[i].clone(),
        };
        text(name.clone(), rows.iter().map(label).collect());
        if matches!(d, Dimension::Column(def) if def.label.is_some()) {
            text(format!("{name}_name"), rows.iter().map(|r| r.names[i].clone()).collect());
        }
    }
    if let Some(grain) = request.grain {
        let bucket = |m: i64| match for_people {
            true => short_bucket(m, grain),
            false => format_micros(m),
        };
        text("bucket".into(), rows.iter().map(|r| r.bucket.map(bucket)).collect());
    }
    text("currency".into(), rows.iter().map(|r| Some(r.currency.clone())).collect());
    let mut amount = |name: &str, values: Vec<Option<i128>>| {
        fields.push(Field::new(name, money_type(), true));
        columns.push(Arc::new(Decimal128Array::from(values).with_data_type(money_type())));
    };
    amount(request.metric.name(), rows.iter().map(|r| Some(r.value)).collect());
    if request.compare {
        amount("previous", rows.iter().map(|r| r.previous).collect());
        amount("change", rows.iter().map(|r| r.change).collect());
        let percent = rows.iter().map(|r| r.change_percent.map(|p| (p * 100.0).round() / 100.0));
        fields.push(Field::new("change_percent", DataType::Float64, true));
        columns.push(Arc::new(percent.collect::<Float64Array>()));
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

/// A bucket's start as a person reads it at its grain: `2025-01`, `2025-01-06`, `2025-01-06 13:00`.
fn short_bucket(micros: i64, grain: Grain) -> String {
    let format = match grain {
        Grain::Month => "%Y-%m",
        Grain::Week | Grain::Day => "%Y-%m-%d",
        Grain::Hour => "%Y-%m-%d %H:00",
    };
    DateTime::from_timestamp_micros(micros)
        .map_or_else(|| micros.to_string(), |d| d.format(format).to_string())
}
