//! The AWS CUR 2.0 (Data Exports) writer.
//!
//! Writes `<out>/cur/<export>/data/BILLING_PERIOD=YYYY-MM/<export>-0000N.snappy.parquet` with the
//! Data Exports column set and types ([`COLUMNS`]: 124 flat columns plus the `product`,
//! `resource_tags`, `cost_category` and `discount` maps), and per period the delivery manifest
//! `<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json` that lists the files.
//!
//! Most string columns repeat a few values per product, account, payer or resource, so each batch
//! gathers them with Arrow's `take` from small per-entity tables instead of copying strings row by
//! row.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, Float64Array, MapArray, MapBuilder, StringArray, StringBuilder,
    TimestampMillisecondArray, UInt32Array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::RecordBatch;

use crate::catalog::REGIONS;
use crate::error::GenerateError;
use crate::estate::{CommitmentKind, Estate, HOUR_MS, ResourceKind};
use crate::files::PartFiles;
use crate::lines::{Line, LineKind, Period, Product, SCALE};
use crate::options::DiscountForm;
use crate::{Sink, WrittenFile};

/// The kinds of CUR column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// UTF-8 string.
    S,
    /// Double.
    D,
    /// Timestamp, milliseconds, UTC.
    T,
    /// map<string, string>.
    MapS,
    /// map<string, double>.
    MapD,
}

impl Col {
    /// The type as a Data Exports manifest names it.
    fn manifest_type(&self) -> &'static str {
        match self {
            Self::S => "string",
            Self::D => "double",
            Self::T => "timestamp",
            Self::MapS => "map<string,string>",
            Self::MapD => "map<string,double>",
        }
    }
}

/// The CUR 2.0 columns and their Data Exports types, in the order the files carry them.
pub const COLUMNS: &[(&str, Col)] = &[
    ("bill_bill_type", Col::S),
    ("bill_billing_entity", Col::S),
    ("bill_billing_period_end_date", Col::T),
    ("bill_billing_period_start_date", Col::T),
    ("bill_invoice_id", Col::S),
    ("bill_invoicing_entity", Col::S),
    ("bill_payer_account_id", Col::S),
    ("bill_payer_account_name", Col::S),
    ("capacity_reservation_capacity_reservation_arn", Col::S),
    ("capacity_reservation_capacity_reservation_status", Col::S),
    ("capacity_reservation_capacity_reservation_type", Col::S),
    ("cost_category", Col::MapS),
    ("discount", Col::MapD),
    ("discount_bundled_discount", Col::D),
    ("discount_total_discount", Col::D),
    ("identity_line_item_id", Col::S),
    ("identity_time_interval", Col::S),
    ("line_item_availability_zone", Col::S),
    ("line_item_blended_cost", Col::D),
    ("line_item_blended_rate", Col::S),
    ("line_item_currency_code", Col::S),
    ("line_item_legal_entity", Col::S),
    ("line_item_line_item_description", Col::S),
    ("line_item_line_item_type", Col::S),
    ("line_item_net_unblended_cost", Col::D),
    ("line_item_net_unblended_rate", Col::S),
    ("line_item_normalization_factor", Col::D),
    ("line_item_normalized_usage_amount", Col::D),
    ("line_item_operation", Col::S),
    ("line_item_product_code", Col::S),
    ("line_item_resource_id", Col::S),
    ("line_item_tax_type", Col::S),
    ("line_item_unblended_cost", Col::D),
    ("line_item_unblended_rate", Col::S),
    ("line_item_usage_account_id", Col::S),
    ("line_item_usage_account_name", Col::S),
    ("line_item_usage_amount", Col::D),
    ("line_item_usage_end_date", Col::T),
    ("line_item_usage_start_date", Col::T),
    ("line_item_usage_type", Col::S),
    ("pricing_currency", Col::S),
    ("pricing_lease_contract_length", Col::S),
    ("pricing_offering_class", Col::S),
    ("pricing_public_on_demand_cost", Col::D),
    ("pricing_public_on_demand_rate", Col::S),
    ("pricing_purchase_option", Col::S),
    ("pricing_rate_code", Col::S),
    ("pricing_rate_id", Col::S),
    ("pricing_term", Col::S),
    ("pricing_unit", Col::S),
    ("product", Col::MapS),
    ("product_comment", Col::S),
    ("product_fee_code", Col::S),
    ("product_fee_description", Col::S),
    ("product_from_location", Col::S),
    ("product_from_location_type", Col::S),
    ("product_from_region_code", Col::S),
    ("product_instance_family", Col::S),
    ("product_instance_type", Col::S),
    ("product_instancesku", Col::S),
    ("product_location", Col::S),
    ("product_location_type", Col::S),
    ("product_operation", Col::S),
    ("product_pricing_unit", Col::S),
    ("product_product_family", Col::S),
    ("product_region_code", Col::S),
    ("product_servicecode", Col::S),
    ("product_sku", Col::S),
    ("product_to_location", Col::S),
    ("product_to_location_type", Col::S),
    ("product_to_region_code", Col::S),
    ("product_usagetype", Col::S),
    ("reservation_amortized_upfront_cost_for_usage", Col::D),
    ("reservation_amortized_upfront_fee_for_billing_period", Col::D),
    ("reservation_availability_zone", Col::S),
    ("reservation_effective_cost", Col::D),
    ("reservation_end_time", Col::S),
    ("reservation_modification_status", Col::S),
    ("reservation_net_amortized_upfront_cost_for_usage", Col::D),
    ("reservation_net_amortized_upfront_fee_for_billing_period", Col::D),
    ("reservation_net_effective_cost", Col::D),
    ("reservation_net_recurring_fee_for_usage", Col::D),
    ("reservation_net_unused_amortized_upfront_fee_for_billing_period", Col::D),
    ("reservation_net_unused_recurring_fee", Col::D),
    ("reservation_net_upfront_value", Col::D),
    ("reservation_normalized_units_per_reservation", Col::S),
    ("reservation_number_of_reservations", Col::S),
    ("reservation_recurring_fee_for_usage", Col::D),
    ("reservation_reservation_a_r_n", Col::S),
    ("reservation_start_time", Col::S),
    ("reservation_subscription_id", Col::S),
    ("reservation_total_reserved_normalized_units", Col::S),
    ("reservation_total_reserved_units", Col::S),
    ("reservation_units_per_reservation", Col::S),
    ("reservation_unused_amortized_upfront_fee_for_billing_period", Col::D),
    ("reservation_unused_normalized_unit_quantity", Col::D),
    ("reservation_unused_quantity", Col::D),
    ("reservation_unused_recurring_fee", Col::D),
    ("reservation_upfront_value", Col::D),
    ("resource_tags", Col::MapS),
    ("savings_plan_amortized_upfront_commitment_for_billing_period", Col::D),
    ("savings_plan_end_time", Col::S),
    ("savings_plan_instance_type_family", Col::S),
    ("savings_plan_net_amortized_upfront_commitment_for_billing_period", Col::D),
    ("savings_plan_net_recurring_commitment_for_billing_period", Col::D),
    ("savings_plan_net_savings_plan_effective_cost", Col::D),
    ("savings_plan_offering_type", Col::S),
    ("savings_plan_payment_option", Col::S),
    ("savings_plan_purchase_term", Col::S),
    ("savings_plan_recurring_commitment_for_billing_period", Col::D),
    ("savings_plan_region", Col::S),
    ("savings_plan_savings_plan_a_r_n", Col::S),
    ("savings_plan_savings_plan_effective_cost", Col::D),
    ("savings_plan_savings_plan_rate", Col::D),
    ("savings_plan_start_time", Col::S),
    ("savings_plan_total_commitment_to_date", Col::D),
    ("savings_plan_used_commitment", Col::D),
    ("split_line_item_actual_usage", Col::D),
    ("split_line_item_net_split_cost", Col::D),
    ("split_line_item_net_unused_cost", Col::D),
    ("split_line_item_parent_resource_id", Col::S),
    ("split_line_item_public_on_demand_split_cost", Col::D),
    ("split_line_item_public_on_demand_unused_cost", Col::D),
    ("split_line_item_reserved_usage", Col::D),
    ("split_line_item_split_cost", Col::D),
    ("split_line_item_split_usage", Col::D),
    ("split_line_item_split_usage_ratio", Col::D),
    ("split_line_item_unused_cost", Col::D),
];

fn map_type(value: DataType) -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "key_value",
            DataType::Struct(
                vec![Field::new("key", DataType::Utf8, false), Field::new("value", value, true)].into(),
            ),
            false,
        )),
        false,
    )
}

/// The Arrow schema of the files.
pub fn schema(form: DiscountForm) -> SchemaRef {
    Arc::new(Schema::new(
        COLUMNS
            .iter()
            .filter(|(name, _)| in_export(name, form))
            .map(|(name, col)| {
                let t = match col {
                    Col::S => DataType::Utf8,
                    Col::D => DataType::Float64,
                    Col::T => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                    Col::MapS => map_type(DataType::Utf8),
                    Col::MapD => map_type(DataType::Float64),
                };
                Field::new(*name, t, true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// The columns AWS leaves out of an export that writes discounts as lines of their own ("manual
/// discount compatibility").
const DISCOUNT_IN_ROWS: [&str; 2] = ["discount", "discount_total_discount"];

/// Whether an export whose discounts take `form` has the column `name`.
pub fn in_export(name: &str, form: DiscountForm) -> bool {
    form == DiscountForm::Rows || !DISCOUNT_IN_ROWS.contains(&name)
}

/// Writes the estate as CUR 2.0 Parquet.
pub struct CurSink {
    root: PathBuf,
    export: String,
    schema: SchemaRef,
    buffer: Vec<Line>,
    files: PartFiles,
    period: Option<Period>,
    written: Vec<WrittenFile>,
}

impl CurSink {
    /// A writer into `root` (the estate's output folder) for the export named `export`.
    pub fn new(
        root: &Path,
        export: &str,
        form: DiscountForm,
        rows_per_file: usize,
        row_group_rows: usize,
    ) -> Self {
        let schema = schema(form);
        Self {
            root: root.to_path_buf(),
            export: export.to_string(),
            files: PartFiles::new(schema.clone(), rows_per_file, row_group_rows),
            schema,
            buffer: Vec::new(),
            period: None,
            written: Vec::new(),
        }
    }

    fn data_dir(&self, period: &Period) -> PathBuf {
        self.root
            .join("cur")
            .join(&self.export)
            .join("data")
            .join(format!("BILLING_PERIOD={}", period.label()))
    }

    fn flush(&mut self, e: &Estate, products: &[Product], all: bool) -> Result<(), GenerateError> {
        while self.buffer.len() >= self.files.room() || (all && !self.buffer.is_empty()) {
            let period = self.period.clone().expect("a period is open");
            let n = self.buffer.len().min(self.files.room());
            let batch = batch(e, products, &period, &self.schema, &self.buffer[..n])
                .map_err(|message| GenerateError::Parquet { path: self.data_dir(&period), message })?;
            self.buffer.drain(..n);
            self.files.write(batch)?;
        }
        Ok(())
    }
}

impl Sink for CurSink {
    fn begin_period(&mut self, _e: &Estate, period: &Period) -> Result<(), GenerateError> {
        self.period = Some(period.clone());
        self.files.begin(self.data_dir(period), &format!("{}-", self.export), ".snappy.parquet");
        Ok(())
    }

    fn push(&mut self, e: &Estate, products: &[Product], lines: &[Line]) -> Result<(), GenerateError> {
        self.buffer.extend_from_slice(lines);
        self.flush(e, products, false)
    }

    fn end_period(&mut self, e: &Estate, products: &[Product]) -> Result<(), GenerateError> {
        self.flush(e, products, true)?;
        let period_files = self.files.end()?;
        let period = self.period.take().expect("a period is open");
        let label = period.label();
        let meta =
            self.root.join("cur").join(&self.export).join("metadata").join(format!("BILLING_PERIOD={label}"));
        std::fs::create_dir_all(&meta).map_err(|err| GenerateError::io(&meta, err))?;
        let data_files: Vec<String> = period_files
            .iter()
            .map(|(p, _)| {
                format!(
                    "s3://costpilot-demo-exports/exports/{}/data/BILLING_PERIOD={label}/{}",
                    self.export,
                    p.file_name().and_then(|n| n.to_str()).unwrap_or_default()
                )
            })
            .collect();
        let instant = |ms: i64| {
            DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        };
        // As AWS Data Exports write it: the columns with their types, the period as instants, the
        // data files as S3 URIs; no row counts.
        let form = e.options.knobs.discount_form;
        let columns: Vec<serde_json::Value> = COLUMNS
            .iter()
            .filter(|(name, _)| in_export(name, form))
            .map(|(name, col)| serde_json::json!({"name": name, "type": col.manifest_type()}))
            .collect();
        let manifest = serde_json::json!({
            "executionId": format!("{:08x}-0000-4000-8000-{:012x}", crate::rng::mix(e.options.seed, period.start_ms as u64) as u32, period.start_ms),
            "exportArn": format!("arn:aws:bcm-data-exports:us-east-1:{}:export/{}", e.payers[0].id, self.export),
            "exportName": self.export,
            "bucket": "costpilot-demo-exports",
            "prefix": "exports",
            "billingPeriod": {"start": instant(period.start_ms), "end": instant(period.end_ms)},
            "columns": columns,
            "dataFiles": data_files,
            "additionalOutputFiles": [],
        });
        let path = meta.join(format!("{}-Manifest.json", self.export));
        let text = serde_json::to_string_pretty(&manifest).expect("a JSON value");
        std::fs::write(&path, text).map_err(|err| GenerateError::io(&path, err))?;
        for (path, rows) in period_files {
            self.written.push(WrittenFile { path, rows, period: label.clone() });
        }
        Ok(())
    }

    fn column_count(&self) -> usize {
        self.schema.fields().len()
    }

    fn finish(self: Box<Self>) -> Result<Vec<WrittenFile>, GenerateError> {
        Ok(self.written)
    }
}

/// The position of a column in [`COLUMNS`].
fn column(name: &str) -> usize {
    static INDEX: std::sync::LazyLock<foldhash::HashMap<&'static str, usize>> =
        std::sync::LazyLock::new(|| COLUMNS.iter().enumerate().map(|(i, (c, _))| (*c, i)).collect());
    *INDEX.get(name).unwrap_or_else(|| panic!("{name} is not a CUR column"))
}

/// Table ids of one key's string values: (column, id).
type Ids = Vec<(usize, u32)>;

/// Ids of the distinct keys of a batch.
type Cache<K> = foldhash::HashMap<K, Ids>;

/// String column values of one key: (column, value).
type Values = Vec<(&'static str, Option<String>)>;

/// A column of strings gathered from a small table.
struct Table {
    values: Vec<Option<String>>,
    index: HashMap<Option<String>, u32>,
}

impl Table {
    fn new() -> Self {
        Self { values: Vec::new(), index: HashMap::new() }
    }

    fn id(&mut self, v: Option<String>) -> u32 {
        if let Some(i) = self.index.get(&v) {
            return *i;
        }
        self.values.push(v.clone());
        let i = (self.values.len() - 1) as u32;
        self.index.insert(v, i);
        i
    }

    fn gather(&self, rows: &[u32]) -> Result<ArrayRef, String> {
        let table = StringArray::from(self.values.iter().map(|v| v.as_deref()).collect::<Vec<_>>());
        take(&table, &UInt32Array::from(rows.to_vec()), None).map_err(|e| e.to_string())
    }
}

fn money(v: i64) -> f64 {
    v as f64 / SCALE
}

fn rate_text(rate: f64) -> String {
    let s = format!("{rate:.10}");
    let s = s.trim_end_matches('0');
    let s = s.strip_suffix('.').unwrap_or(s);
    if s.is_empty() { "0".into() } else { s.to_string() }
}

fn iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).expect("in range").format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

fn line_id(seed: u64, line: &Line) -> String {
    let key = crate::rng::hash4(
        seed,
        line.resource.map_or(u64::MAX - line.product as u64, |r| r as u64),
        (line.kind as u64) << 8 | u64::from(line.slot) | (line.account as u64) << 16,
        line.start_ms as u64 ^ (line.end_ms as u64).rotate_left(17),
    );
    let mut out = String::with_capacity(52);
    let mut h = key;
    for i in 0..52 {
        if i % 12 == 0 {
            h = crate::rng::mix(key, i as u64);
        }
        out.push(BASE32[(h & 31) as usize] as char);
        h >>= 5;
    }
    out
}

/// Builds one record batch of lines in `period`.
fn batch(
    e: &Estate,
    products: &[Product],
    period: &Period,
    schema: &SchemaRef,
    lines: &[Line],
) -> Result<RecordBatch, String> {
    let n = lines.len();
    let seed = e.options.seed;
    let mut cols: HashMap<&'static str, ArrayRef> = HashMap::new();
    // String columns are gathered from per-batch tables of distinct values: each distinct
    // product, account, resource or interval resolves its values to table ids once, and a row
    // only pushes ids.
    let mut strings: Vec<(Table, Vec<u32>)> =
        (0..COLUMNS.len()).map(|_| (Table::new(), Vec::with_capacity(n))).collect();
    let resolve = |values: Values, strings: &mut Vec<(Table, Vec<u32>)>| -> Vec<(usize, u32)> {
        values.into_iter().map(|(name, v)| (column(name), strings[column(name)].0.id(v))).collect()
    };
    let mut product_cache: Cache<(usize, LineKind, Option<usize>)> = Default::default();
    let mut account_cache: Cache<(usize, bool)> = Default::default();
    let mut resource_cache: Cache<(Option<usize>, Option<usize>)> = Default::default();
    let mut interval_cache: Cache<(i64, i64)> = Default::default();
    let mut ids = StringBuilder::with_capacity(n, n * 52);
    let mut d: Vec<Vec<Option<f64>>> = vec![Vec::new(); COLUMNS.len()];
    let set = |name: &str, row: usize, v: f64, d: &mut Vec<Vec<Option<f64>>>| {
        let c = &mut d[column(name)];
        if c.is_empty() {
            c.resize(n, None);
        }
        c[row] = Some(v);
    };
    let mut starts = Vec::with_capacity(n);
    let mut ends = Vec::with_capacity(n);
    let mut tag_rows = Vec::with_capacity(n);
    let mut category_rows = Vec::with_capacity(n);
    for (row, line) in lines.iter().enumerate() {
        let p = &products[line.product];
        let account = &e.accounts[line.account];
        let payer = &e.payers[account.payer];
        let res = line.resource.map(|r| &e.resources[r]);
        let commitment = line.commitment.map(|c| &e.commitments[c]);
        let push = |ids: &[(usize, u32)], strings: &mut Vec<(Table, Vec<u32>)>| {
            for (c, id) in ids {
                strings[*c].1.push(*id);
            }
        };
        let key = (line.product, line.kind, line.commitment);
        let key_ids =
            product_cache.entry(key).or_insert_with(|| resolve(product_values(e, p, line), &mut strings));
        push(key_ids, &mut strings);
        let key = (line.account, line.kind == LineKind::Tax);
        let key_ids = account_cache.entry(key).or_insert_with(|| {
            let invoice = period.invoiced.then(|| {
                format!(
                    "{}{:06}",
                    period.month.format("%Y%m"),
                    crate::rng::mix(payer.id.len() as u64, account.payer as u64 + period.start_ms as u64)
                        % 1_000_000
                )
            });
            let values = vec![
                ("line_item_usage_account_id", Some(account.id.clone())),
                ("line_item_usage_account_name", Some(account.name.clone())),
                ("bill_payer_account_id", Some(payer.id.clone())),
                ("bill_payer_account_name", Some(payer.name.clone())),
                ("bill_invoicing_entity", Some(payer.legal_entity.to_string())),
                ("line_item_legal_entity", Some(payer.legal_entity.to_string())),
                ("line_item_currency_code", Some(payer.currency.clone())),
                ("pricing_currency", Some(payer.currency.clone())),
                ("bill_invoice_id", invoice),
                ("line_item_tax_type", key.1.then(|| payer.tax_type.to_string())),
            ];
            resolve(values, &mut strings)
        });
        push(key_ids, &mut strings);
        // A commitment's fee lines carry its ARN as their resource id, as AWS writes them.
        let arn_of = commitment
            .filter(|_| {
                res.is_none()
                    && matches!(
                        line.kind,
                        LineKind::RIFee | LineKind::SavingsPlanRecurringFee | LineKind::SavingsPlanUpfrontFee
                    )
            })
            .and(line.commitment);
        let key = (line.resource, arn_of);
        let key_ids = resource_cache.entry(key).or_insert_with(|| {
            let values = match res {
                Some(r) => vec![
                    ("line_item_resource_id", Some(r.id.clone())),
                    (
                        "line_item_availability_zone",
                        matches!(
                            r.kind,
                            ResourceKind::Instance
                                | ResourceKind::Volume
                                | ResourceKind::Database
                                | ResourceKind::NatGateway
                        )
                        .then(|| r.zone.to_string()),
                    ),
                ],
                None => vec![
                    ("line_item_resource_id", arn_of.map(|c| e.commitments[c].arn.clone())),
                    ("line_item_availability_zone", None),
                ],
            };
            resolve(values, &mut strings)
        });
        push(key_ids, &mut strings);
        let key = (line.start_ms, line.end_ms);
        let key_ids = interval_cache.entry(key).or_insert_with(|| {
            let text = format!("{}/{}", iso(line.start_ms), iso(line.end_ms));
            resolve(vec![("identity_time_interval", Some(text))], &mut strings)
        });
        push(key_ids, &mut strings);
        ids.append_value(line_id(seed, line));
        starts.push(line.start_ms);
        ends.push(line.end_ms);
        tag_rows.push(line.resource);
        category_rows.push(line.account);

        // Amounts.
        let unblended = money(line.unblended);
        set("line_item_unblended_cost", row, unblended, &mut d);
        set("line_item_blended_cost", row, unblended, &mut d);
        let is_usage = matches!(
            line.kind,
            LineKind::Usage
                | LineKind::DiscountedUsage
                | LineKind::SavingsPlanCoveredUsage
                | LineKind::SavingsPlanNegation
        );
        // The enterprise discount is either a line of its own (EdpDiscount) or inside the line
        // (`discount_total_discount`, the `discount` map, the net cost), never both.
        set("line_item_net_unblended_cost", row, money(line.unblended + line.discount), &mut d);
        if line.discount != 0 {
            set("discount_total_discount", row, money(line.discount), &mut d);
        }
        set("line_item_usage_amount", row, line.usage, &mut d);
        let public = if matches!(line.kind, LineKind::SavingsPlanNegation | LineKind::EdpDiscount) {
            0.0
        } else {
            money(line.public)
        };
        set("pricing_public_on_demand_cost", row, public, &mut d);
        if is_usage
            && p.product_code == "AmazonEC2"
            && let Some(it) = p.instance_type
        {
            let f = it.normalization_factor();
            set("line_item_normalization_factor", row, f, &mut d);
            set("line_item_normalized_usage_amount", row, line.usage * f, &mut d);
        }
        let c = &line.c;
        match line.kind {
            LineKind::DiscountedUsage => {
                for name in ["reservation_effective_cost", "reservation_net_effective_cost"] {
                    set(name, row, money(c.effective), &mut d);
                }
                for name in [
                    "reservation_amortized_upfront_cost_for_usage",
                    "reservation_net_amortized_upfront_cost_for_usage",
                ] {
                    set(name, row, money(c.amortized), &mut d);
                }
                for name in ["reservation_recurring_fee_for_usage", "reservation_net_recurring_fee_for_usage"]
                {
                    set(name, row, money(c.recurring), &mut d);
                }
            }
            LineKind::RIFee => {
                for name in [
                    "reservation_amortized_upfront_fee_for_billing_period",
                    "reservation_net_amortized_upfront_fee_for_billing_period",
                ] {
                    set(name, row, money(c.total), &mut d);
                }
                for name in [
                    "reservation_unused_amortized_upfront_fee_for_billing_period",
                    "reservation_net_unused_amortized_upfront_fee_for_billing_period",
                ] {
                    set(name, row, money(c.unused_amortized), &mut d);
                }
                for name in ["reservation_unused_recurring_fee", "reservation_net_unused_recurring_fee"] {
                    set(name, row, money(c.unused_recurring), &mut d);
                }
                set("reservation_unused_quantity", row, c.unused_quantity, &mut d);
                let factor = p.instance_type.map_or(1.0, |t| t.normalization_factor());
                set("reservation_unused_normalized_unit_quantity", row, c.unused_quantity * factor, &mut d);
                if let Some(cm) = commitment {
                    let upfront =
                        money(c.amortized) * cm.term_hours as f64 * f64::from(reservation_count(cm));
                    set("reservation_upfront_value", row, upfront, &mut d);
                    set("reservation_net_upfront_value", row, upfront, &mut d);
                }
            }
            LineKind::SavingsPlanCoveredUsage => {
                for name in [
                    "savings_plan_savings_plan_effective_cost",
                    "savings_plan_net_savings_plan_effective_cost",
                ] {
                    set(name, row, money(c.effective), &mut d);
                }
                set("savings_plan_savings_plan_rate", row, c.rate, &mut d);
            }
            LineKind::SavingsPlanNegation => {
                set("savings_plan_savings_plan_rate", row, c.rate, &mut d);
            }
            LineKind::SavingsPlanRecurringFee => {
                set("savings_plan_total_commitment_to_date", row, money(c.total), &mut d);
                set("savings_plan_used_commitment", row, money(c.used), &mut d);
                for name in [
                    "savings_plan_amortized_upfront_commitment_for_billing_period",
                    "savings_plan_net_amortized_upfront_commitment_for_billing_period",
                ] {
                    set(name, row, money(c.amortized), &mut d);
                }
                for name in [
                    "savings_plan_recurring_commitment_for_billing_period",
                    "savings_plan_net_recurring_commitment_for_billing_period",
                ] {
                    set(name, row, money(c.recurring), &mut d);
                }
            }
            _ => {}
        }
    }
    for (i, (table, rows)) in strings.iter().enumerate() {
        if !rows.is_empty() {
            cols.insert(COLUMNS[i].0, table.gather(rows)?);
        }
    }
    cols.insert("identity_line_item_id", Arc::new(ids.finish()));
    cols.insert(
        "bill_bill_type",
        Arc::new(lines.iter().map(|l| Some(bill_type(l))).collect::<StringArray>()),
    );
    let period_start = TimestampMillisecondArray::from(vec![period.start_ms; n]).with_timezone("UTC");
    let period_end = TimestampMillisecondArray::from(vec![period.end_ms; n]).with_timezone("UTC");
    cols.insert("bill_billing_period_start_date", Arc::new(period_start));
    cols.insert("bill_billing_period_end_date", Arc::new(period_end));
    cols.insert(
        "line_item_usage_start_date",
        Arc::new(TimestampMillisecondArray::from(starts).with_timezone("UTC")),
    );
    cols.insert(
        "line_item_usage_end_date",
        Arc::new(TimestampMillisecondArray::from(ends).with_timezone("UTC")),
    );
    cols.insert("resource_tags", resource_tags(e, &tag_rows)?);
    cols.insert("cost_category", cost_categories(e, &category_rows)?);
    cols.insert("product", product_maps(products, lines)?);
    cols.insert("discount", discount_maps(lines));
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(COLUMNS.len());
    let constant = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v; n])) };
    let form = e.options.knobs.discount_form;
    for (i, (name, col)) in COLUMNS.iter().enumerate().filter(|(_, (name, _))| in_export(name, form)) {
        let array = match (cols.remove(name), col) {
            (Some(a), _) => a,
            (None, Col::D) if d[i].is_empty() => Arc::new(Float64Array::new_null(n)),
            (None, Col::D) => Arc::new(Float64Array::from(std::mem::take(&mut d[i]))),
            (None, Col::S) => match *name {
                "bill_billing_entity" => constant("AWS"),
                _ => Arc::new(StringArray::from(vec![None::<&str>; n])),
            },
            (None, other) => return Err(format!("column {name} ({other:?}) was not built")),
        };
        let array = match col {
            Col::S if e.options.knobs.empty_text => nulls_as_empty_text(&array),
            _ => array,
        };
        arrays.push(array);
    }
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| e.to_string())
}

/// The bill a line item is invoiced on, as AWS names it: the upfront purchase of a commitment is
/// billed when bought, a refund on a refund bill, everything else on the monthly anniversary bill.
fn bill_type(line: &Line) -> &'static str {
    match line.kind {
        LineKind::Refund => "Refund",
        LineKind::SavingsPlanUpfrontFee => "Purchase",
        LineKind::Fee if line.commitment.is_some() => "Purchase",
        _ => "Anniversary",
    }
}

/// A text column with `''` wherever it had a null. A null written by a builder takes no bytes, so
/// dropping the null mask is enough; anything else is copied value by value.
fn nulls_as_empty_text(array: &ArrayRef) -> ArrayRef {
    let Some(text) = array.as_any().downcast_ref::<StringArray>() else { return array.clone() };
    let Some(nulls) = text.nulls() else { return array.clone() };
    let offsets = text.value_offsets();
    if nulls.null_count() == 0 {
        return array.clone();
    }
    if (0..text.len()).all(|i| nulls.is_valid(i) || offsets[i] == offsets[i + 1]) {
        let (offsets, values, _) = text.clone().into_parts();
        return Arc::new(StringArray::new(offsets, values, None));
    }
    Arc::new(text.iter().map(|v| Some(v.unwrap_or(""))).collect::<StringArray>())
}

fn reservation_count(c: &crate::estate::Commitment) -> u32 {
    match &c.kind {
        CommitmentKind::Reservation { count, .. } => *count,
        CommitmentKind::SavingsPlan { .. } => 1,
    }
}

fn purchase_option(share: f64) -> &'static str {
    if share >= 1.0 {
        "All Upfront"
    } else if share > 0.0 {
        "Partial Upfront"
    } else {
        "No Upfront"
    }
}

/// The string columns that follow from a line's product, type and commitment.
fn product_values(e: &Estate, p: &Product, line: &Line) -> Values {
    let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
    let region = p.region.map(|r| &REGIONS[r]);
    let currency = &e.payers[p.payer].currency;
    let commitment = line.commitment.map(|c| &e.commitments[c]);
    let kind = line.kind;
    let rate = rate_text(p.rate);
    let usage_like = matches!(
        kind,
        LineKind::Usage
            | LineKind::DiscountedUsage
            | LineKind::SavingsPlanCoveredUsage
            | LineKind::SavingsPlanNegation
    );
    let description = match kind {
        LineKind::Usage | LineKind::DiscountedUsage
            if p.instance_type.is_some() && p.product_code == "AmazonEC2" =>
        {
            let it = p.instance_type.expect("checked");
            if kind == LineKind::DiscountedUsage {
                format!("{currency} 0.0 per Linux/UNIX (Amazon VPC), {} reserved instance applied", it.name)
            } else {
                format!("{currency} {rate} per On Demand Linux {} Instance Hour", it.name)
            }
        }
        LineKind::Usage | LineKind::DiscountedUsage => format!(
            "{currency} {rate} per {} for {} in {}",
            p.unit,
            p.usage_type,
            region.map_or("Any", |r| r.location)
        ),
        LineKind::SavingsPlanCoveredUsage => format!(
            "{} per hour for {} covered by Compute Savings Plan",
            rate_text(line.c.rate),
            p.usage_type
        ),
        LineKind::SavingsPlanNegation => format!(
            "SavingsPlanNegation used by AccountId : {} and UsageSku : {}",
            e.accounts[line.account].id, p.sku
        ),
        LineKind::SavingsPlanRecurringFee => {
            format!("{} {}", p.usage_type.replace("ComputeSP:", ""), "Compute Savings Plan recurring fee")
        }
        LineKind::SavingsPlanUpfrontFee => {
            format!("{} Compute Savings Plan upfront fee", p.usage_type.replace("ComputeSP:", ""))
        }
        LineKind::RIFee => format!(
            "{currency} {} hourly fee per {} reserved instance",
            rate_text(line.c.recurring as f64 / SCALE),
            p.instance_type.map_or("", |t| t.name)
        ),
        LineKind::Fee => "AWS Support (Business)".to_string(),
        LineKind::Tax => format!("Tax for product code {}", p.product_code),
        LineKind::Credit => "AWS promotional credit for sandbox accounts".to_string(),
        LineKind::Refund => format!("Refund for {} service event", p.product_code),
        LineKind::EdpDiscount => "Enterprise Program Discount".to_string(),
    };
    let term = match kind {
        LineKind::DiscountedUsage | LineKind::RIFee => Some("Reserved"),
        LineKind::Usage | LineKind::SavingsPlanCoveredUsage | LineKind::SavingsPlanNegation => {
            Some("OnDemand")
        }
        LineKind::SavingsPlanRecurringFee | LineKind::SavingsPlanUpfrontFee => Some("Savings Plan"),
        _ => None,
    };
    let unblended_rate = match kind {
        LineKind::DiscountedUsage => Some("0".to_string()),
        LineKind::SavingsPlanNegation => Some(format!("-{rate}")),
        _ if usage_like => Some(rate.clone()),
        _ => None,
    };
    let mut v: Values = vec![
        ("line_item_line_item_type", Some(kind.name().to_string())),
        ("line_item_line_item_description", Some(description)),
        ("line_item_product_code", Some(p.product_code.to_string())),
        ("line_item_usage_type", some(&p.usage_type)),
        ("line_item_operation", some(p.operation)),
        ("line_item_unblended_rate", unblended_rate.clone()),
        ("line_item_blended_rate", unblended_rate.clone()),
        ("line_item_net_unblended_rate", unblended_rate),
        ("pricing_public_on_demand_rate", usage_like.then(|| rate.clone())),
        ("pricing_term", term.map(str::to_string)),
        ("pricing_unit", some(p.unit)),
        ("pricing_rate_code", usage_like.then(|| format!("{}.JRTCKXETXF.6YS6EN2CT7", p.sku))),
        (
            "pricing_rate_id",
            usage_like.then(|| {
                (crate::rng::mix(7, p.sku.len() as u64 + line.product as u64) % 100_000_000_000).to_string()
            }),
        ),
        ("product_servicecode", Some(p.product_code.to_string())),
        ("product_sku", Some(p.sku.clone())),
        ("product_usagetype", some(&p.usage_type)),
        ("product_operation", some(p.operation)),
        ("product_product_family", some(p.family)),
        ("product_pricing_unit", some(p.unit)),
        ("product_region_code", region.map(|r| r.code.to_string())),
        ("product_location", region.map(|r| r.location.to_string())),
        ("product_location_type", region.map(|_| "AWS Region".to_string())),
        ("product_instance_type", p.instance_type.map(|t| t.name.to_string())),
        ("product_instance_family", p.instance_type.map(|t| t.family.to_string())),
        ("product_instancesku", p.instance_type.map(|_| p.sku.clone())),
    ];
    let transfer = p.product_code == "AWSDataTransfer";
    v.push(("product_from_location", transfer.then(|| region.map_or("", |r| r.location).to_string())));
    v.push(("product_from_location_type", transfer.then(|| "AWS Region".to_string())));
    v.push(("product_from_region_code", transfer.then(|| region.map_or("", |r| r.code).to_string())));
    let internet = p.usage_type.ends_with("DataTransfer-Out-Bytes");
    v.push((
        "product_to_location",
        transfer.then(|| {
            if internet { "External".to_string() } else { region.map_or("", |r| r.location).to_string() }
        }),
    ));
    v.push((
        "product_to_location_type",
        transfer.then(|| if internet { "Other".to_string() } else { "AWS Region".to_string() }),
    ));
    v.push((
        "product_to_region_code",
        (transfer && !internet).then(|| region.map_or("", |r| r.code).to_string()),
    ));
    let (mut ri, mut sp): (Values, Values) = (Vec::new(), Vec::new());
    if let Some(c) = commitment {
        let start = iso(e.start_ms + c.start_hour * HOUR_MS);
        let end = iso(e.start_ms + (c.start_hour + c.term_hours) * HOUR_MS);
        let years = c.term_hours / (365 * 24);
        match &c.kind {
            CommitmentKind::Reservation { count, instance_type, region, .. } => {
                let factor =
                    crate::catalog::instance_type(instance_type).map_or(1.0, |t| t.normalization_factor());
                ri = vec![
                    ("reservation_reservation_a_r_n", Some(c.arn.clone())),
                    ("reservation_start_time", Some(start)),
                    ("reservation_end_time", Some(end)),
                    ("reservation_number_of_reservations", Some(count.to_string())),
                    ("reservation_units_per_reservation", Some("1".into())),
                    ("reservation_total_reserved_units", Some(count.to_string())),
                    ("reservation_normalized_units_per_reservation", Some(rate_text(factor))),
                    (
                        "reservation_total_reserved_normalized_units",
                        Some(rate_text(factor * f64::from(*count))),
                    ),
                    ("reservation_availability_zone", Some(REGIONS[*region].code.to_string())),
                    ("reservation_modification_status", Some("Original".into())),
                    (
                        "reservation_subscription_id",
                        Some(format!(
                            "{}",
                            crate::rng::mix(3, c.arn.len() as u64 + *count as u64) % 10_000_000_000
                        )),
                    ),
                    ("pricing_lease_contract_length", Some(format!("{years}yr"))),
                    ("pricing_offering_class", Some("standard".into())),
                    ("pricing_purchase_option", Some(purchase_option(c.upfront_share).into())),
                ];
            }
            CommitmentKind::SavingsPlan { .. } => {
                sp = vec![
                    ("savings_plan_savings_plan_a_r_n", Some(c.arn.clone())),
                    ("savings_plan_start_time", Some(start)),
                    ("savings_plan_end_time", Some(end)),
                    ("savings_plan_offering_type", Some("ComputeSavingsPlans".into())),
                    ("savings_plan_payment_option", Some(purchase_option(c.upfront_share).into())),
                    ("savings_plan_purchase_term", Some(format!("{years}yr"))),
                    ("savings_plan_region", p.region.map(|r| REGIONS[r].location.to_string())),
                    (
                        "savings_plan_instance_type_family",
                        p.instance_type.map(|t| t.family_prefix().to_string()),
                    ),
                ];
            }
        }
    }
    for name in [
        "reservation_reservation_a_r_n",
        "reservation_start_time",
        "reservation_end_time",
        "reservation_number_of_reservations",
        "reservation_units_per_reservation",
        "reservation_total_reserved_units",
        "reservation_normalized_units_per_reservation",
        "reservation_total_reserved_normalized_units",
        "reservation_availability_zone",
        "reservation_modification_status",
        "reservation_subscription_id",
        "pricing_lease_contract_length",
        "pricing_offering_class",
        "pricing_purchase_option",
        "savings_plan_savings_plan_a_r_n",
        "savings_plan_start_time",
        "savings_plan_end_time",
        "savings_plan_offering_type",
        "savings_plan_payment_option",
        "savings_plan_purchase_term",
        "savings_plan_region",
        "savings_plan_instance_type_family",
    ] {
        let value = ri.iter().chain(sp.iter()).find(|(k, _)| *k == name).and_then(|(_, v)| v.clone());
        v.push((name, value));
    }
    v
}

fn map_builder() -> MapBuilder<StringBuilder, StringBuilder> {
    MapBuilder::new(None, StringBuilder::new(), StringBuilder::new())
}

fn finish_map(mut b: MapBuilder<StringBuilder, StringBuilder>, value: DataType) -> ArrayRef {
    let m = b.finish();
    // MapBuilder names its fields keys/values and makes them nullable; the file type is Data
    // Exports' (key_value, key, value).
    let (_, offsets, entries, nulls, _) = m.into_parts();
    let field = match map_type(value) {
        DataType::Map(f, _) => f,
        _ => unreachable!("map_type returns a map"),
    };
    let entries = datafusion::arrow::array::StructArray::new(
        match field.data_type() {
            DataType::Struct(fields) => fields.clone(),
            _ => unreachable!("a struct"),
        },
        entries.columns().to_vec(),
        None,
    );
    Arc::new(MapArray::new(field, offsets, entries, nulls, false))
}

fn resource_tags(e: &Estate, rows: &[Option<usize>]) -> Result<ArrayRef, String> {
    let mut slots: HashMap<Option<usize>, u32> = HashMap::new();
    let mut order: Vec<Option<usize>> = Vec::new();
    let idx: Vec<u32> = rows
        .iter()
        .map(|r| {
            *slots.entry(*r).or_insert_with(|| {
                order.push(*r);
                (order.len() - 1) as u32
            })
        })
        .collect();
    let mut b = map_builder();
    for r in &order {
        if let Some(r) = r {
            let res = &e.resources[*r];
            for (k, v) in &res.tags {
                b.keys().append_value(format!("user_{k}"));
                b.values().append_value(v);
            }
            if !res.tags.is_empty() && r % 3 == 0 {
                b.keys().append_value("aws_createdBy");
                b.values().append_value(format!("AssumedRole:AROAEXAMPLE{:04}:deploy", res.account));
            }
        }
        b.append(true).map_err(|e| e.to_string())?;
    }
    let table = finish_map(b, DataType::Utf8);
    take(&table, &UInt32Array::from(idx), None).map_err(|e| e.to_string())
}

fn cost_categories(e: &Estate, rows: &[usize]) -> Result<ArrayRef, String> {
    let mut b = map_builder();
    for a in &e.accounts {
        if a.cost_category {
            b.keys().append_value("business_unit");
            b.values().append_value(e.business_units[a.business_unit].name);
        }
        b.append(true).map_err(|e| e.to_string())?;
    }
    let table = finish_map(b, DataType::Utf8);
    take(&table, &UInt32Array::from(rows.iter().map(|r| *r as u32).collect::<Vec<_>>()), None)
        .map_err(|e| e.to_string())
}

fn product_maps(products: &[Product], lines: &[Line]) -> Result<ArrayRef, String> {
    let mut slots: HashMap<usize, u32> = HashMap::new();
    let mut order = Vec::new();
    let idx: Vec<u32> = lines
        .iter()
        .map(|l| {
            *slots.entry(l.product).or_insert_with(|| {
                order.push(l.product);
                (order.len() - 1) as u32
            })
        })
        .collect();
    let mut b = map_builder();
    for p in &order {
        let p = &products[*p];
        let mut entry = |k: &str, v: &str| {
            b.keys().append_value(k);
            b.values().append_value(v);
        };
        entry("product_name", p.service_name);
        entry("servicename", p.service_name);
        if let Some(r) = p.region {
            entry("region", REGIONS[r].code);
        }
        if let Some(it) = p.instance_type {
            entry("vcpu", &it.vcpu.to_string());
            entry("memory", &format!("{} GiB", it.memory_gib));
            entry("physical_processor", it.processor);
            if it.gpus > 0 {
                entry("gpu", &it.gpus.to_string());
                entry("gpu_memory", it.gpu_model);
            }
            if p.product_code == "AmazonEC2" {
                entry("operating_system", "Linux");
                entry("tenancy", "Shared");
                entry("license_model", "No License required");
                entry("current_generation", "Yes");
            }
        }
        if p.usage_type.contains("VolumeUsage") {
            entry("storage_media", "SSD-backed");
            entry("volume_api_name", "gp3");
        }
        b.append(true).map_err(|e| e.to_string())?;
    }
    let table = finish_map(b, DataType::Utf8);
    take(&table, &UInt32Array::from(idx), None).map_err(|e| e.to_string())
}

/// The `discount` column of `lines`: the enterprise discount of each line that has one inside it.
fn discount_maps(lines: &[Line]) -> ArrayRef {
    use datafusion::arrow::array::Float64Builder;
    let mut b = MapBuilder::new(None, StringBuilder::new(), Float64Builder::new());
    for line in lines.iter() {
        if line.discount != 0 {
            b.keys().append_value("edp_discount");
            b.values().append_value(money(line.discount));
        }
        b.append(true).expect("keys and values are balanced");
    }
    let m = b.finish();
    let (_, offsets, entries, nulls, _) = m.into_parts();
    let field = match map_type(DataType::Float64) {
        DataType::Map(f, _) => f,
        _ => unreachable!("map_type returns a map"),
    };
    let fields = match field.data_type() {
        DataType::Struct(fields) => fields.clone(),
        _ => unreachable!("a struct"),
    };
    let entries = datafusion::arrow::array::StructArray::new(fields, entries.columns().to_vec(), None);
    Arc::new(MapArray::new(field, offsets, entries, nulls, false))
}
