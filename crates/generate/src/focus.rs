//! The FOCUS 1.2 writer for Azure- and Google Cloud-shaped estates.
//!
//! Writes `<out>/focus/<azure|gcp>/BILLING_PERIOD=YYYY-MM/part-0000N.parquet` (Snappy, at most
//! [`crate::ROWS_PER_FILE`] rows a file, row groups of [`crate::ROW_GROUP_ROWS`]) with the FOCUS
//! 1.2 columns in the types costpilot's model gives them ([`costpilot_model::COLUMNS`]: exact
//! decimals for money and quantities, UTC microsecond timestamps, JSON object text for Tags), the two
//! FOCUS 1.3 provider columns, and a few of the provider's own `x_` columns. Names, ids, regions,
//! sizes and services are the provider's ([`provider`]).
//!
//! One line item gives one row, except Savings Plan negations: FOCUS has no negation rows, so each
//! negation is folded into the covered usage row it negates (its BilledCost becomes 0, what the
//! usage costs at the plan's rate stays in EffectiveCost). The amounts are exactly the line's:
//! BilledCost the unblended cost (folded), EffectiveCost [`Line::effective`], ListCost
//! [`crate::truth::list_cost`], so truth.json's sums hold for these files too. Charge columns
//! follow costpilot's CUR → FOCUS mapping (docs/mapping.md), which the FinOps Foundation's
//! validator accepts.
//!
//! Most text columns repeat a few values per account, resource or product, so each row only
//! records the positions of its values in per-column tables, and a batch gathers them with Arrow's
//! `take`.

pub mod provider;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use costpilot_model::{COLUMNS, ColumnKind, FocusVersion, MONEY_PRECISION, MONEY_SCALE};
use datafusion::arrow::array::{
    ArrayRef, Decimal128Array, StringArray, StringBuilder, TimestampMicrosecondArray, UInt32Array,
    new_null_array,
};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::GenerateError;
use crate::estate::Estate;
use crate::files::PartFiles;
use crate::lines::{Line, LineKind, Period, Product};
use crate::{Format, Sink, WrittenFile};
pub use provider::Provider;
use provider::Sku;

/// Amount units (10⁻¹⁰) to stored decimal units (10⁻¹⁵).
const UNITS_TO_DECIMAL: i128 = 100_000;
/// Stored decimal units per 1.
const DECIMAL_ONE: f64 = 1e15;

/// The provider's own `x_` columns the files carry after the FOCUS ones.
fn extension_columns(provider: Provider) -> &'static [&'static str] {
    match provider {
        // Azure's cost exports name the resource group and the meter's category and subcategory.
        Provider::Azure => &["x_ResourceGroupName", "x_SkuMeterCategory", "x_SkuMeterSubcategory"],
        // Google's billing export types each cost: regular, tax, adjustment.
        Provider::Gcp => &["x_CostType"],
    }
}

/// FOCUS columns every row leaves null: the estate has no capacity reservations, and prices have
/// no details beyond the SKU.
const NULL_COLUMNS: &[&str] = &["CapacityReservationId", "CapacityReservationStatus", "SkuPriceDetails"];

/// The Arrow schema of `provider`'s files: the FOCUS 1.2 columns and the two FOCUS 1.3 provider
/// columns in alphabetical order (as the specification lists them), then the provider's `x_`
/// columns. Names and types come from the model, so they cannot drift from what costpilot reads.
pub fn schema(provider: Provider) -> SchemaRef {
    let mut focus: Vec<_> = COLUMNS.iter().filter(|c| c.in_version(FocusVersion::V1_3)).collect();
    focus.sort_by_key(|c| c.name);
    let mut fields: Vec<Field> = focus
        .iter()
        .map(|c| {
            // Key/value columns are JSON object text in FOCUS files (the KeyValueFormat the
            // specification and the validator require); the lake stores them as maps.
            let t = match c.kind {
                ColumnKind::KeyValue => DataType::Utf8,
                _ => c.data_type(),
            };
            Field::new(c.name, t, true)
        })
        .collect();
    fields.extend(extension_columns(provider).iter().map(|n| Field::new(*n, DataType::Utf8, true)));
    Arc::new(Schema::new(fields))
}

/// Writes the estate as FOCUS 1.2 Parquet.
pub struct FocusSink {
    root: PathBuf,
    format: Format,
    provider: Option<Provider>,
    schema: SchemaRef,
    text: Text,
    batch: Rows,
    caches: Caches,
    tags: Option<ArrayRef>,
    parts: PartFiles,
    period: Option<Period>,
    files: Vec<WrittenFile>,
}

impl FocusSink {
    /// A writer into `root` (the estate's output folder) for `format` (FocusAzure or FocusGcp).
    pub fn new(root: &Path, format: Format) -> Self {
        Self::with_limits(root, format, crate::ROWS_PER_FILE, crate::ROW_GROUP_ROWS)
    }

    /// The same with other file and row group sizes (tests use small ones to cut files).
    pub fn with_limits(root: &Path, format: Format, rows_per_file: usize, row_group_rows: usize) -> Self {
        let provider = Provider::of(format);
        let schema = schema(provider.unwrap_or(Provider::Azure));
        Self {
            root: root.to_path_buf(),
            format,
            provider,
            text: Text::new(&schema),
            parts: PartFiles::new(schema.clone(), rows_per_file, row_group_rows),
            schema,
            batch: Rows::default(),
            caches: Caches::default(),
            tags: None,
            period: None,
            files: Vec::new(),
        }
    }

    fn provider(&self) -> Result<Provider, GenerateError> {
        self.provider
            .ok_or_else(|| GenerateError::Options(format!("{:?} is not a FOCUS bill format", self.format)))
    }

    fn data_dir(&self, provider: Provider, period: &Period) -> PathBuf {
        self.root.join("focus").join(provider.folder()).join(format!("BILLING_PERIOD={}", period.label()))
    }

    fn fault(&self, message: String) -> GenerateError {
        GenerateError::Parquet { path: self.root.join("focus"), message }
    }

    /// Appends the row of `line`, whose BilledCost is `billed` (its negation folded in).
    fn row(
        &mut self,
        e: &Estate,
        provider: Provider,
        products: &[Product],
        line: &Line,
        billed: i64,
    ) -> Result<(), GenerateError> {
        let period =
            self.period.as_ref().ok_or_else(|| self.fault("a line came before its period".into()))?;
        let p = &products[line.product];
        let correction = line.start_ms < period.start_ms;
        // Text: three cached groups of columns per row.
        let account = self
            .caches
            .accounts
            .entry(line.account)
            .or_insert_with(|| self.text.intern(account_values(e, provider, period, line.account)))
            .clone();
        let key = match (line.resource, line.commitment) {
            (Some(r), _) => Holder::Resource(r),
            (None, Some(c)) => Holder::Commitment(c),
            _ => Holder::None,
        };
        let holder = match self.caches.holders.get(&key) {
            Some(ids) => ids.clone(),
            None => {
                let ids = self.text.intern(holder_values(e, provider, key));
                self.caches.holders.insert(key, ids.clone());
                ids
            }
        };
        while self.caches.skus.len() <= line.product {
            let next = &products[self.caches.skus.len()];
            self.caches.skus.push(provider::sku(provider, next));
        }
        let charge_key = (line.product, line.kind, line.commitment, correction);
        let charge = match self.caches.charges.get(&charge_key) {
            Some(ids) => ids.clone(),
            None => {
                let sku = &self.caches.skus[line.product];
                let ids = self.text.intern(charge_values(e, provider, p, sku, line, correction));
                self.caches.charges.insert(charge_key, ids.clone());
                ids
            }
        };
        for ids in [&account, &holder, &charge] {
            for (slot, id) in ids.iter() {
                self.text.rows[*slot].push(*id);
            }
        }
        // Amounts and quantities.
        let b = &mut self.batch;
        b.billed.push(money(billed));
        b.effective.push(money(line.effective()));
        b.list.push(money(crate::truth::list_cost(line)));
        let shape = Shape::of(line.kind);
        let contracted = match line.kind {
            // No negotiated price covers committed usage, so it is contracted at the list price.
            LineKind::DiscountedUsage | LineKind::SavingsPlanCoveredUsage => line.public,
            _ => line.unblended,
        };
        b.contracted.push(money(contracted));
        let (pricing, consumed, price) = match shape {
            Shape::Metered => {
                let q = quantity(line.usage);
                (Some(q), Some(q), Some(quantity(p.rate)))
            }
            Shape::Fee => {
                let q = quantity(line.usage);
                (Some(q), Some(q), Some(unit_price(line.unblended, line.usage)))
            }
            Shape::Commitment => {
                // A reservation's fee is its reserved hours times the recurring rate; a plan's
                // fees are one unit each.
                let price = if line.kind == LineKind::RIFee {
                    money(line.c.recurring)
                } else {
                    unit_price(line.unblended, line.usage)
                };
                (Some(quantity(line.usage)), None, Some(price))
            }
            Shape::None => (None, None, None),
        };
        b.pricing_quantity.push(pricing);
        b.consumed_quantity.push(consumed);
        b.list_price.push(price);
        b.contracted_price.push(price);
        let commitment_quantity = match (line.commitment, line.kind) {
            (Some(_), LineKind::DiscountedUsage) => Some(quantity(line.usage)),
            (Some(_), LineKind::RIFee) => Some(quantity(line.c.unused_quantity)),
            (Some(_), LineKind::SavingsPlanCoveredUsage | LineKind::SavingsPlanRecurringFee) => {
                Some(money(line.effective()))
            }
            (Some(_), LineKind::SavingsPlanUpfrontFee) => Some(money(billed)),
            _ => None,
        };
        b.commitment_quantity.push(commitment_quantity);
        b.charge_start.push(line.start_ms * 1000);
        b.charge_end.push(line.end_ms * 1000);
        let tag_row = match line.resource {
            Some(r) if !e.resources[r].tags.is_empty() => r,
            _ => e.resources.len(),
        };
        b.tags.push(tag_row as u32);
        b.len += 1;
        Ok(())
    }

    /// Writes the rows gathered so far as a row group when there are enough (or `all`).
    fn flush(&mut self, e: &Estate, provider: Provider, all: bool) -> Result<(), GenerateError> {
        if self.batch.len == 0 {
            return Ok(());
        }
        if !all && self.batch.len < self.parts.room() {
            return Ok(());
        }
        let period = self.period.clone().ok_or_else(|| self.fault("rows without a period".into()))?;
        let tags = self.tags.get_or_insert_with(|| tag_table(e)).clone();
        let rows = std::mem::take(&mut self.batch);
        let batch = self
            .record_batch(provider, &period, rows, &tags)
            .map_err(|message| GenerateError::Parquet { path: self.data_dir(provider, &period), message })?;
        self.parts.write(batch)
    }

    /// The record batch of `rows`, columns in schema order.
    fn record_batch(
        &mut self,
        provider: Provider,
        period: &Period,
        rows: Rows,
        tags: &ArrayRef,
    ) -> Result<RecordBatch, String> {
        let n = rows.len;
        let mut cols: HashMap<&str, ArrayRef> = HashMap::new();
        let decimal = |v: Vec<i128>| -> Result<ArrayRef, String> {
            let a = Decimal128Array::from(v).with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE);
            a.map(|a| Arc::new(a) as ArrayRef).map_err(|e| e.to_string())
        };
        let optional = |v: Vec<Option<i128>>| -> Result<ArrayRef, String> {
            let a = Decimal128Array::from(v).with_precision_and_scale(MONEY_PRECISION, MONEY_SCALE);
            a.map(|a| Arc::new(a) as ArrayRef).map_err(|e| e.to_string())
        };
        let effective = decimal(rows.effective)?;
        let list_price = optional(rows.list_price)?;
        let contracted_price = optional(rows.contracted_price)?;
        cols.insert("BilledCost", decimal(rows.billed)?);
        cols.insert("EffectiveCost", effective.clone());
        cols.insert("ListCost", decimal(rows.list)?);
        cols.insert("ContractedCost", decimal(rows.contracted)?);
        cols.insert("PricingQuantity", optional(rows.pricing_quantity)?);
        cols.insert("ConsumedQuantity", optional(rows.consumed_quantity)?);
        cols.insert("ListUnitPrice", list_price.clone());
        cols.insert("ContractedUnitPrice", contracted_price.clone());
        cols.insert("CommitmentDiscountQuantity", optional(rows.commitment_quantity)?);
        // Prices are in the billing currency, so the pricing-currency columns repeat them.
        cols.insert("PricingCurrencyEffectiveCost", effective);
        cols.insert("PricingCurrencyListUnitPrice", list_price);
        cols.insert("PricingCurrencyContractedUnitPrice", contracted_price);
        let time =
            |v: Vec<i64>| -> ArrayRef { Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC")) };
        cols.insert("ChargePeriodStart", time(rows.charge_start));
        cols.insert("ChargePeriodEnd", time(rows.charge_end));
        cols.insert("BillingPeriodStart", time(vec![period.start_ms * 1000; n]));
        cols.insert("BillingPeriodEnd", time(vec![period.end_ms * 1000; n]));
        cols.insert("Tags", take(tags, &UInt32Array::from(rows.tags), None).map_err(|e| e.to_string())?);
        let constant = |v: &str| -> ArrayRef { Arc::new(StringArray::from(vec![v; n])) };
        let name = provider.name();
        for column in
            ["ProviderName", "PublisherName", "InvoiceIssuerName", "ServiceProviderName", "HostProviderName"]
        {
            cols.insert(column, constant(name));
        }
        cols.insert("BillingAccountType", constant(provider::billing_account_type(provider)));
        cols.insert("SubAccountType", constant(provider::sub_account_type(provider)));
        for (slot, field) in self.text.fields.iter().enumerate() {
            let ids = std::mem::take(&mut self.text.rows[slot]);
            if ids.is_empty() {
                continue;
            }
            if ids.len() != n {
                return Err(format!("column {field} has {} values for {n} rows", ids.len()));
            }
            cols.insert(field, self.text.gather(slot, ids)?);
        }
        let mut arrays = Vec::with_capacity(self.schema.fields().len());
        for field in self.schema.fields() {
            let array = match cols.remove(field.name().as_str()) {
                Some(a) => a,
                None if NULL_COLUMNS.contains(&field.name().as_str()) => new_null_array(field.data_type(), n),
                None => return Err(format!("column {} was not built", field.name())),
            };
            arrays.push(array);
        }
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| e.to_string())
    }
}

impl Sink for FocusSink {
    fn begin_period(&mut self, _e: &Estate, period: &Period) -> Result<(), GenerateError> {
        self.provider()?;
        self.period = Some(period.clone());
        let dir = self.data_dir(self.provider()?, period);
        self.parts.begin(dir, "part-", ".parquet");
        // InvoiceId is the period's.
        self.caches.accounts.clear();
        Ok(())
    }

    fn push(&mut self, e: &Estate, products: &[Product], lines: &[Line]) -> Result<(), GenerateError> {
        let provider = self.provider()?;
        // FOCUS has no negation rows: each negation folds into the covered row it negates, which
        // sits in the same hour (the generator appends an hour's negations after its usage).
        let key = |l: &Line| (l.account, l.resource, l.product, l.slot, l.start_ms);
        let mut negations: HashMap<_, i64> = HashMap::new();
        for l in lines.iter().filter(|l| l.kind == LineKind::SavingsPlanNegation) {
            *negations.entry(key(l)).or_default() += l.unblended;
        }
        for line in lines {
            let billed = match line.kind {
                LineKind::SavingsPlanNegation => continue,
                LineKind::SavingsPlanCoveredUsage => match negations.remove(&key(line)) {
                    Some(negated) => line.unblended + negated,
                    None => {
                        return Err(self.fault(format!(
                            "covered usage of product {} at {} has no SavingsPlanNegation in its hour",
                            products[line.product].usage_type, line.start_ms
                        )));
                    }
                },
                _ => line.unblended,
            };
            self.row(e, provider, products, line, billed)?;
            if self.batch.len >= self.parts.room() {
                self.flush(e, provider, false)?;
            }
        }
        if let Some(((_, _, product, _, start), _)) = negations.into_iter().next() {
            return Err(self.fault(format!(
                "a SavingsPlanNegation of product {} at {start} has no covered usage in its hour",
                products[product].usage_type
            )));
        }
        Ok(())
    }

    fn end_period(&mut self, e: &Estate, _products: &[Product]) -> Result<(), GenerateError> {
        let provider = self.provider()?;
        self.flush(e, provider, true)?;
        let period_files = self.parts.end()?;
        let period = self.period.take().ok_or_else(|| self.fault("no period is open".into()))?;
        let label = period.label();
        for (path, rows) in period_files {
            self.files.push(WrittenFile { path, rows, period: label.clone() });
        }
        Ok(())
    }

    fn column_count(&self) -> usize {
        self.schema.fields().len()
    }

    fn finish(self: Box<Self>) -> Result<Vec<WrittenFile>, GenerateError> {
        Ok(self.files)
    }
}

/// What a row's prices and quantities look like, by line item type (docs/mapping.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Metered usage: priced and consumed quantity, the catalogue rate as unit price.
    Metered,
    /// A fee without a commitment: one unit priced at the fee.
    Fee,
    /// A commitment's fee: priced, nothing consumed.
    Commitment,
    /// Tax, credits, refunds and discounts: no quantity, no unit price.
    None,
}

impl Shape {
    fn of(kind: LineKind) -> Self {
        match kind {
            LineKind::Usage
            | LineKind::DiscountedUsage
            | LineKind::SavingsPlanCoveredUsage
            | LineKind::SavingsPlanNegation => Self::Metered,
            LineKind::Fee => Self::Fee,
            LineKind::RIFee | LineKind::SavingsPlanRecurringFee | LineKind::SavingsPlanUpfrontFee => {
                Self::Commitment
            }
            LineKind::Tax | LineKind::Credit | LineKind::Refund | LineKind::EdpDiscount => Self::None,
        }
    }
}

/// Who a row's resource columns describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Holder {
    /// A resource of the estate.
    Resource(usize),
    /// A commitment (its purchase and unused rows: FOCUS identifies unused commitment by its id).
    Commitment(usize),
    /// Nothing (account-level charges).
    None,
}

/// Positions of a group's values in the text tables: (column slot, value id).
type Ids = Arc<[(usize, u32)]>;

/// Text values of a group of columns, by column name.
type Values = Vec<(&'static str, Option<String>)>;

/// Cached text of the groups rows share.
#[derive(Default)]
struct Caches {
    accounts: HashMap<usize, Ids>,
    holders: HashMap<Holder, Ids>,
    charges: HashMap<(usize, LineKind, Option<usize>, bool), Ids>,
    skus: Vec<Sku>,
}

/// One column's distinct values, in the order rows first used them, and their ids.
#[derive(Default)]
struct Table {
    values: Vec<Option<String>>,
    ids: HashMap<Option<String>, u32>,
}

/// The text columns: per column, a table of distinct values and the rows' positions in it.
struct Text {
    fields: Vec<&'static str>,
    slot: HashMap<&'static str, usize>,
    tables: Vec<Table>,
    rows: Vec<Vec<u32>>,
}

impl Text {
    fn new(schema: &Schema) -> Self {
        let fields: Vec<&'static str> = schema
            .fields()
            .iter()
            .filter(|f| f.data_type() == &DataType::Utf8)
            .filter_map(|f| {
                let name = f.name().as_str();
                COLUMNS
                    .iter()
                    .map(|c| c.name)
                    .chain(extension_columns(Provider::Azure).iter().copied())
                    .chain(extension_columns(Provider::Gcp).iter().copied())
                    .find(|c| *c == name)
            })
            .collect();
        let slot = fields.iter().enumerate().map(|(i, f)| (*f, i)).collect();
        let n = fields.len();
        Self { fields, slot, tables: (0..n).map(|_| Default::default()).collect(), rows: vec![Vec::new(); n] }
    }

    /// The ids of `values` in their columns' tables (adding new values); columns the schema
    /// lacks (another provider's `x_` columns) are left out.
    fn intern(&mut self, values: Values) -> Ids {
        values
            .into_iter()
            .filter_map(|(name, v)| {
                let slot = *self.slot.get(name)?;
                let Table { values, ids } = &mut self.tables[slot];
                let id = *ids.entry(v.clone()).or_insert_with(|| {
                    values.push(v);
                    (values.len() - 1) as u32
                });
                Some((slot, id))
            })
            .collect()
    }

    fn gather(&self, slot: usize, ids: Vec<u32>) -> Result<ArrayRef, String> {
        let table =
            StringArray::from(self.tables[slot].values.iter().map(|v| v.as_deref()).collect::<Vec<_>>());
        take(&table, &UInt32Array::from(ids), None).map_err(|e| e.to_string())
    }
}

/// Numbers and times of the rows not yet written.
#[derive(Default)]
struct Rows {
    len: usize,
    billed: Vec<i128>,
    effective: Vec<i128>,
    list: Vec<i128>,
    contracted: Vec<i128>,
    pricing_quantity: Vec<Option<i128>>,
    consumed_quantity: Vec<Option<i128>>,
    list_price: Vec<Option<i128>>,
    contracted_price: Vec<Option<i128>>,
    commitment_quantity: Vec<Option<i128>>,
    charge_start: Vec<i64>,
    charge_end: Vec<i64>,
    tags: Vec<u32>,
}

/// An amount in units of 10⁻¹⁰ as a stored decimal: exact.
fn money(units: i64) -> i128 {
    i128::from(units) * UNITS_TO_DECIMAL
}

/// A quantity or rate as a stored decimal, rounded to 15 places. The whole part is converted
/// exactly and only the fraction is scaled, so large quantities keep every digit they have.
fn quantity(x: f64) -> i128 {
    let whole = x.trunc();
    whole as i128 * DECIMAL_ONE as i128 + ((x - whole) * DECIMAL_ONE).round() as i128
}

/// The unit price that gives `cost` for `quantity` units: exact for one unit, else rounded.
fn unit_price(cost: i64, quantity: f64) -> i128 {
    if quantity == 1.0 || quantity == 0.0 {
        money(cost)
    } else {
        (money(cost) as f64 / quantity).round() as i128
    }
}

/// The billing and sub account columns of an account.
fn account_values(e: &Estate, provider: Provider, period: &Period, account: usize) -> Values {
    let a = &e.accounts[account];
    let payer = &e.payers[a.payer];
    vec![
        ("BillingAccountId", Some(provider::billing_account_id(e, provider, a.payer))),
        ("BillingAccountName", Some(payer.name.clone())),
        ("BillingCurrency", Some(payer.currency.clone())),
        ("PricingCurrency", Some(payer.currency.clone())),
        ("SubAccountId", Some(provider::sub_account_id(e, provider, account))),
        ("SubAccountName", Some(a.name.clone())),
        ("InvoiceId", period.invoiced.then(|| provider::invoice_id(e, provider, a.payer, period.start_ms))),
    ]
}

/// The resource columns of a row's resource or commitment.
fn holder_values(e: &Estate, provider: Provider, holder: Holder) -> Values {
    let (id, name, kind, group, zone) = match holder {
        Holder::Resource(r) => match provider::resource(e, provider, r) {
            Some(n) => (Some(n.id), Some(n.name), Some(n.kind), n.group, n.zone),
            None => (None, None, None, None, None),
        },
        Holder::Commitment(c) => {
            let n = provider::commitment(e, provider, c);
            (Some(n.id), Some(n.name), Some(n.resource_type), None, None)
        }
        Holder::None => (None, None, None, None, None),
    };
    vec![
        ("ResourceId", id),
        ("ResourceName", name),
        ("ResourceType", kind.map(str::to_string)),
        ("AvailabilityZone", zone.map(str::to_string)),
        ("x_ResourceGroupName", group),
    ]
}

/// The charge, service, SKU, region and commitment columns of a product billed as a line kind.
fn charge_values(
    e: &Estate,
    provider: Provider,
    p: &Product,
    sku: &Sku,
    line: &Line,
    correction: bool,
) -> Values {
    let kind = line.kind;
    let (category, frequency, pricing, status) = match kind {
        LineKind::Usage => ("Usage", "Usage-Based", Some("Standard"), None),
        LineKind::DiscountedUsage | LineKind::SavingsPlanCoveredUsage | LineKind::SavingsPlanNegation => {
            ("Usage", "Usage-Based", Some("Committed"), Some("Used"))
        }
        // The unused part of a commitment is a Usage row with status Unused (FOCUS requires 0
        // EffectiveCost on Purchase rows, and these fees carry the unused commitment's cost).
        LineKind::SavingsPlanRecurringFee | LineKind::RIFee => {
            ("Usage", "Recurring", Some("Committed"), Some("Unused"))
        }
        LineKind::SavingsPlanUpfrontFee => ("Purchase", "One-Time", Some("Standard"), None),
        // A fee that buys no commitment pays for nothing later, so it stays a Usage charge.
        LineKind::Fee => ("Usage", "One-Time", Some("Standard"), None),
        LineKind::Tax => ("Tax", "One-Time", None, None),
        LineKind::Credit => ("Credit", "One-Time", None, None),
        // A refund does not say what it refunds, so it is an adjustment.
        LineKind::Refund => ("Adjustment", "One-Time", None, None),
        LineKind::EdpDiscount => ("Credit", "Usage-Based", None, None),
    };
    let (service, service_category, subcategory) = sku.service.names(provider);
    let azure = provider == Provider::Azure;
    let currency = &e.payers[p.payer].currency;
    let tax_type = e.payers[p.payer].tax_type;
    let description = match kind {
        LineKind::SavingsPlanRecurringFee if azure => format!("{}, hourly commitment", sku.description),
        LineKind::SavingsPlanRecurringFee => format!("{}, hourly commitment fee", sku.description),
        LineKind::SavingsPlanUpfrontFee => format!("{}, upfront payment", sku.description),
        LineKind::Tax => format!("{tax_type} - {service}"),
        LineKind::Credit if azure => format!("Azure credit offer - {service}"),
        LineKind::Credit => format!("Promotional credit - {service}"),
        LineKind::Refund => format!("Service Level Agreement credit for a {service} service event"),
        LineKind::EdpDiscount if azure => format!("Enterprise Agreement discount - {service}"),
        LineKind::EdpDiscount => format!("Contract discount - {service}"),
        _ => sku.description.clone(),
    };
    let shape = Shape::of(kind);
    let priced = shape != Shape::None;
    let commitment = line.commitment.map(|c| provider::commitment(e, provider, c));
    let commitment_unit = match (&commitment, kind) {
        (Some(_), LineKind::DiscountedUsage | LineKind::RIFee) => Some("Hours".to_string()),
        (
            Some(_),
            LineKind::SavingsPlanCoveredUsage
            | LineKind::SavingsPlanRecurringFee
            | LineKind::SavingsPlanUpfrontFee,
        ) => Some(currency.clone()),
        _ => None,
    };
    let region = p.region.map(|r| provider::region(provider, r));
    let sku_id = sku.id.clone().filter(|_| kind != LineKind::Tax);
    let sku_price_id =
        sku_id.as_ref().filter(|_| priced).map(|id| provider::sku_price_id(provider, id, currency, p.rate));
    let cost_type = match kind {
        LineKind::Tax => "tax",
        LineKind::Refund => "adjustment",
        _ => "regular",
    };
    let s = |v: &str| Some(v.to_string());
    vec![
        ("ChargeCategory", s(category)),
        ("ChargeClass", correction.then(|| "Correction".to_string())),
        ("ChargeFrequency", s(frequency)),
        ("ChargeDescription", Some(description)),
        ("PricingCategory", pricing.map(str::to_string)),
        ("PricingUnit", priced.then(|| sku.unit.to_string())),
        ("ConsumedUnit", matches!(shape, Shape::Metered | Shape::Fee).then(|| sku.unit.to_string())),
        ("CommitmentDiscountId", commitment.as_ref().map(|c| c.id.clone())),
        ("CommitmentDiscountName", commitment.as_ref().map(|c| c.name.clone())),
        ("CommitmentDiscountType", commitment.as_ref().map(|c| c.kind.to_string())),
        ("CommitmentDiscountCategory", commitment.as_ref().map(|c| c.category.to_string())),
        ("CommitmentDiscountStatus", commitment.as_ref().and(status).map(str::to_string)),
        ("CommitmentDiscountUnit", commitment_unit),
        ("ServiceName", s(service)),
        ("ServiceCategory", s(service_category)),
        ("ServiceSubcategory", s(subcategory)),
        ("SkuId", sku_id.clone()),
        ("SkuPriceId", sku_price_id),
        ("SkuMeter", sku.meter.clone().filter(|_| sku_id.is_some())),
        ("RegionId", region.map(|r| r.id.to_string())),
        ("RegionName", region.map(|r| r.name.to_string())),
        ("x_SkuMeterCategory", sku.meter_category.clone().filter(|_| priced)),
        ("x_SkuMeterSubcategory", sku.meter_subcategory.clone().filter(|_| priced)),
        ("x_CostType", s(cost_type)),
    ]
}

/// Every resource's tags as written (keys as-is, in their order) as a JSON object, one per
/// resource, then a null for rows without tags: rows take theirs by index.
fn tag_table(e: &Estate) -> ArrayRef {
    let mut b = StringBuilder::new();
    let mut text = String::new();
    for r in &e.resources {
        if r.tags.is_empty() {
            b.append_null();
            continue;
        }
        text.clear();
        text.push('{');
        for (i, (k, v)) in r.tags.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&serde_json::Value::from(k.as_str()).to_string());
            text.push(':');
            text.push_str(&serde_json::Value::from(v.as_str()).to_string());
        }
        text.push('}');
        b.append_value(&text);
    }
    b.append_null();
    Arc::new(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Options;

    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Decimal128Type;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::fs::File;

    /// Writes a small estate with `sink` the way [`crate::generate`] drives a sink; returns the
    /// files and truth's totals per currency.
    fn write(
        options: &Options,
        dir: &Path,
        rows_per_file: usize,
        group: usize,
    ) -> (Vec<WrittenFile>, std::collections::BTreeMap<String, crate::truth::Sums>) {
        let e = crate::estate::build(options);
        let mut sink: Box<dyn Sink> =
            Box::new(FocusSink::with_limits(dir, options.format, rows_per_file, group));
        let (truth, _) = crate::bill(&e, sink.as_mut(), &crate::Quiet).unwrap();
        (sink.finish().unwrap(), truth.totals())
    }

    fn options(format: Format) -> Options {
        Options { accounts: 6, days: 35, format, ..Options::default() }
    }

    #[test]
    fn sums_match_truth_exactly_and_files_respect_their_limits() {
        for format in [Format::FocusAzure, Format::FocusGcp] {
            let dir = tempfile::tempdir().unwrap();
            let (files, totals) = write(&options(format), dir.path(), 20_000, 4096);
            assert!(files.len() > 2, "{format:?}: the estate should need several files");
            let mut sums: std::collections::BTreeMap<String, [i128; 3]> = Default::default();
            let mut rows = 0u64;
            // Rows of usage a savings plan covered: their negations were folded into them.
            let mut folded = 0u64;
            for f in &files {
                assert!(f.rows <= 20_000);
                let file = File::open(&f.path).unwrap();
                let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
                assert!(reader.metadata().row_groups().iter().all(|g| g.num_rows() <= 4096));
                for batch in reader.build().unwrap() {
                    let batch = batch.unwrap();
                    rows += batch.num_rows() as u64;
                    let currency =
                        batch.column_by_name("BillingCurrency").unwrap().as_string::<i32>().clone();
                    let col =
                        |n: &str| batch.column_by_name(n).unwrap().as_primitive::<Decimal128Type>().clone();
                    let (b, ef, l) = (col("BilledCost"), col("EffectiveCost"), col("ListCost"));
                    let category =
                        batch.column_by_name("CommitmentDiscountCategory").unwrap().as_string::<i32>();
                    let status = batch.column_by_name("CommitmentDiscountStatus").unwrap().as_string::<i32>();
                    for i in 0..batch.num_rows() {
                        if category.is_valid(i) && category.value(i) == "Spend" && status.value(i) == "Used" {
                            assert_eq!(b.value(i), 0, "{format:?}: covered usage is billed through the plan");
                            assert!(ef.value(i) > 0 && l.value(i) > ef.value(i));
                            folded += 1;
                        }
                        let s = sums.entry(currency.value(i).to_string()).or_default();
                        s[0] += b.value(i);
                        s[1] += ef.value(i);
                        s[2] += l.value(i);
                    }
                }
            }
            assert_eq!(rows, totals.values().map(|s| s.rows).sum::<u64>(), "{format:?}: rows");
            assert!(folded > 0, "{format:?}: the estate should have savings plan usage");
            assert_eq!(sums.len(), totals.len());
            for (currency, t) in &totals {
                let s = sums[currency];
                let want = [t.billed, t.effective, t.list].map(|v| v * UNITS_TO_DECIMAL);
                assert_eq!(s, want, "{format:?} {currency}");
            }
        }
    }

    #[test]
    fn the_same_options_give_the_same_bytes() {
        let read = |dir: &Path, files: &[WrittenFile]| -> Vec<(PathBuf, Vec<u8>)> {
            files
                .iter()
                .map(|f| (f.path.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&f.path).unwrap()))
                .collect()
        };
        let o = Options { days: 3, ..options(Format::FocusGcp) };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (fa, _) = write(&o, a.path(), 1_000_000, 131_072);
        let (fb, _) = write(&o, b.path(), 1_000_000, 131_072);
        assert_eq!(read(a.path(), &fa), read(b.path(), &fb));
    }

    #[test]
    fn quantities_are_exact_to_fifteen_places() {
        assert_eq!(quantity(1.0), 1_000_000_000_000_000);
        assert_eq!(quantity(0.0000166667), 16_666_700_000);
        assert_eq!(quantity(123_456_789.5), 123_456_789_500_000_000_000_000);
        assert_eq!(money(-12_345), -1_234_500_000);
        assert_eq!(unit_price(30_000_000_000, 1.0), 3_000_000_000_000_000);
    }

    #[test]
    fn the_schema_is_focus_12_plus_the_provider_columns() {
        let azure = schema(Provider::Azure);
        let names: Vec<&str> = azure.fields().iter().map(|f| f.name().as_str()).collect();
        let focus_12 = COLUMNS.iter().filter(|c| c.in_version(FocusVersion::V1_2)).count();
        assert_eq!(names.len(), focus_12 + 2 + extension_columns(Provider::Azure).len());
        assert!(names.contains(&"ServiceProviderName") && names.contains(&"x_ResourceGroupName"));
        let tags = azure.field_with_name("Tags").unwrap();
        assert_eq!(tags.data_type(), &DataType::Utf8);
        let cost = azure.field_with_name("BilledCost").unwrap();
        assert_eq!(cost.data_type(), &costpilot_model::money_type());
        assert!(!schema(Provider::Gcp).fields().iter().any(|f| f.name() == "x_ResourceGroupName"));
    }
}
