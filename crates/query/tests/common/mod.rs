//! Helpers shared by the lake's tests: lake batches built from a few fields, sources, a folder
//! hash, and the Python interpreter that computes expected values independently.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use costpilot_lake::{Lake, SourceRef};
use costpilot_model::money::parse_decimal;
use costpilot_model::{index_of, lake_schema, money_type, parse_timestamp_micros, tags_type};
use costpilot_query::LakeSession;
use datafusion::arrow::array::{
    Array, ArrayRef, Decimal128Array, MapBuilder, MapFieldNames, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray, new_null_array,
};
use datafusion::arrow::compute::cast;
use sha2::{Digest, Sha256};

/// One billing line, with the fields the tests vary.
#[derive(Debug, Clone)]
pub struct Row {
    pub provider: String,
    pub account: String,
    /// "YYYY-MM" of the billing period.
    pub period: String,
    /// Day of the month the charge starts (it lasts one day).
    pub day: u32,
    pub currency: String,
    /// BilledCost as decimal text.
    pub billed: String,
    /// EffectiveCost as decimal text.
    pub effective: String,
    pub service: String,
    pub invoice: Option<String>,
    pub tags: Option<Vec<(String, String)>>,
}

/// A line of `billed` in `currency` for an AWS-like account; EffectiveCost equals BilledCost.
pub fn row(provider: &str, account: &str, period: &str, currency: &str, billed: &str) -> Row {
    Row {
        provider: provider.into(),
        account: account.into(),
        period: period.into(),
        day: 1,
        currency: currency.into(),
        billed: billed.into(),
        effective: billed.into(),
        service: "Amazon Elastic Compute Cloud".into(),
        invoice: None,
        tags: None,
    }
}

impl Row {
    pub fn day(mut self, day: u32) -> Self {
        self.day = day;
        self
    }
    pub fn effective(mut self, value: &str) -> Self {
        self.effective = value.into();
        self
    }
    pub fn service(mut self, name: &str) -> Self {
        self.service = name.into();
        self
    }
    pub fn invoice(mut self, id: &str) -> Self {
        self.invoice = Some(id.into());
        self
    }
    pub fn tags(mut self, pairs: &[(&str, &str)]) -> Self {
        self.tags = Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        self
    }
}

fn micros(text: &str) -> i64 {
    parse_timestamp_micros(text).unwrap()
}

fn next_month(period: &str) -> String {
    let (y, m) = period.split_once('-').unwrap();
    let (y, m): (i32, u32) = (y.parse().unwrap(), m.parse().unwrap());
    if m == 12 { format!("{}-01", y + 1) } else { format!("{y}-{:02}", m + 1) }
}

fn strings(values: impl IntoIterator<Item = Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(values))
}

fn times(values: impl IntoIterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(values).with_timezone("UTC"))
}

fn money(values: impl IntoIterator<Item = String>) -> ArrayRef {
    let a = Decimal128Array::from_iter_values(values.into_iter().map(|v| parse_decimal(&v).unwrap()));
    Arc::new(a.with_data_type(money_type()))
}

/// A lake batch of `rows`: the fields of [`Row`] plus constant values that a FOCUS 1.2 file needs
/// (categories, names, units); every other column is null.
pub fn batch(rows: &[Row]) -> RecordBatch {
    let schema = lake_schema();
    let n = rows.len();
    let mut columns: Vec<ArrayRef> =
        schema.fields().iter().map(|f| new_null_array(f.data_type(), n)).collect();
    let mut set = |name: &str, a: ArrayRef| columns[index_of(name)] = a;
    let text = |f: &dyn Fn(&Row) -> String| strings(rows.iter().map(|r| Some(f(r))));
    set("ProviderName", text(&|r| r.provider.clone()));
    set("PublisherName", text(&|r| r.provider.clone()));
    set("InvoiceIssuerName", text(&|r| r.provider.clone()));
    set("ServiceProviderName", text(&|r| r.provider.clone()));
    set("HostProviderName", text(&|r| r.provider.clone()));
    set("BillingAccountId", text(&|r| r.account.clone()));
    set("BillingAccountName", text(&|r| format!("Account {}", r.account)));
    set("BillingAccountType", text(&|_| "Billing Account".into()));
    set("SubAccountId", text(&|r| r.account.clone()));
    set("SubAccountName", text(&|r| format!("Account {}", r.account)));
    set("SubAccountType", text(&|_| "Account".into()));
    set("BillingCurrency", text(&|r| r.currency.clone()));
    set("PricingCurrency", text(&|r| r.currency.clone()));
    set("BillingPeriodStart", times(rows.iter().map(|r| micros(&format!("{}-01", r.period)))));
    set("BillingPeriodEnd", times(rows.iter().map(|r| micros(&format!("{}-01", next_month(&r.period))))));
    set("ChargePeriodStart", times(rows.iter().map(|r| micros(&format!("{}-{:02}", r.period, r.day)))));
    set(
        "ChargePeriodEnd",
        times(rows.iter().map(|r| micros(&format!("{}-{:02}", r.period, r.day)) + 86_400_000_000)),
    );
    set("BilledCost", money(rows.iter().map(|r| r.billed.clone())));
    set("EffectiveCost", money(rows.iter().map(|r| r.effective.clone())));
    set("ListCost", money(rows.iter().map(|r| r.billed.clone())));
    set("ContractedCost", money(rows.iter().map(|r| r.billed.clone())));
    set("PricingCurrencyEffectiveCost", money(rows.iter().map(|r| r.effective.clone())));
    set("ChargeCategory", text(&|_| "Usage".into()));
    set("ChargeFrequency", text(&|_| "Usage-Based".into()));
    set("ChargeDescription", text(&|r| format!("{} usage", r.service)));
    set("PricingCategory", text(&|_| "Standard".into()));
    set("ServiceName", text(&|r| r.service.clone()));
    set("ServiceCategory", text(&|_| "Compute".into()));
    set("ServiceSubcategory", text(&|_| "Virtual Machines".into()));
    set("RegionId", text(&|_| "us-east-1".into()));
    set("RegionName", text(&|_| "US East (N. Virginia)".into()));
    set("x_LineItemType", text(&|_| "Usage".into()));
    set("x_SourceFormat", text(&|_| "test".into()));
    set("InvoiceId", strings(rows.iter().map(|r| r.invoice.clone())));
    let names = MapFieldNames { entry: "entries".into(), key: "keys".into(), value: "values".into() };
    let mut tags = MapBuilder::new(Some(names), StringBuilder::new(), StringBuilder::new());
    for r in rows {
        match &r.tags {
            Some(pairs) => {
                for (k, v) in pairs {
                    tags.keys().append_value(k);
                    tags.values().append_value(v);
                }
                tags.append(true).unwrap();
            }
            None => tags.append(false).unwrap(),
        }
    }
    let tags: ArrayRef = Arc::new(tags.finish());
    set("Tags", cast(&tags, &tags_type()).unwrap());
    RecordBatch::try_new(schema, columns).unwrap()
}

/// A source reference whose checksum is derived from `name` (distinct names, distinct sources).
pub fn source(name: &str) -> SourceRef {
    SourceRef { path: PathBuf::from(name), sha256: hex::encode(Sha256::digest(name.as_bytes())), bytes: 1000 }
}

/// Commits `rows` from `source_name` in one transaction.
pub fn ingest(lake: &Lake, source_name: &str, rows: &[Row]) -> costpilot_lake::CommitReport {
    let mut txn = lake.begin().unwrap();
    txn.write(batch(rows), &source(source_name)).unwrap();
    txn.commit().unwrap()
}

/// The single value of a one-row, one-column query, as text.
pub async fn scalar(session: &LakeSession, sql: &str) -> String {
    let result = session.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(result.num_rows(), 1, "{sql}");
    let batch = result.batches.iter().find(|b| b.num_rows() > 0).unwrap();
    value_text(batch.column(0), 0)
}

/// A cell as text (decimals with their 15 places, as Arrow prints them).
pub fn value_text(array: &ArrayRef, row: usize) -> String {
    if array.is_null(row) {
        return "NULL".into();
    }
    datafusion::arrow::util::display::array_value_to_string(array, row).unwrap()
}

/// The EUR payer the SQL tests share: 20.00 (Virtual Machines, day 1) and 1.25 (Storage, day 15)
/// on billing account ea-1 in September 2024, from `azure.csv`.
pub fn ingest_eur_payer(lake: &Lake) {
    ingest(
        lake,
        "azure.csv",
        &[
            row("Microsoft", "ea-1", "2024-09", "EUR", "20.00").day(1).service("Virtual Machines"),
            row("Microsoft", "ea-1", "2024-09", "EUR", "1.25").day(15).service("Storage"),
        ],
    );
}

/// A digest of every path, kind and file content under `dir`: equal digests, identical folders.
pub fn hash_dir(dir: &Path) -> String {
    fn walk(base: &Path, dir: &Path, hasher: &mut Sha256) {
        let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                hasher.update(format!("dir {rel}\n"));
                walk(base, &p, hasher);
            } else {
                hasher.update(format!("file {rel}\n"));
                hasher.update(std::fs::read(&p).unwrap());
            }
        }
    }
    let mut hasher = Sha256::new();
    walk(dir, dir, &mut hasher);
    hex::encode(hasher.finalize())
}

/// The Python interpreter with pyarrow and DuckDB that computes expected values.
pub fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("COSTPILOT_PYTHON") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let fallback = home.join(".cache/costpilot/venv/bin/python");
    assert!(
        fallback.exists(),
        "no Python with pyarrow and DuckDB: run scripts/test (it sets COSTPILOT_PYTHON)"
    );
    fallback
}

/// Runs a Python script with arguments and returns its standard output.
pub fn run_python(script: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(python()).arg("-c").arg(script).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The rows `sql` gives in `session`, each value as [`value_text`] shows it.
pub async fn rows(session: &LakeSession, sql: &str) -> Vec<Vec<String>> {
    let result = session.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    for b in &result.batches {
        for r in 0..b.num_rows() {
            out.push(b.columns().iter().map(|c| value_text(c, r)).collect());
        }
    }
    out
}
