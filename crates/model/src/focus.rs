//! The FOCUS columns: names across versions, types, nullability and allowed values.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use datafusion::arrow::error::ArrowError;
use serde::{Deserialize, Serialize};

use crate::money::money_type;
use crate::time::timestamp_type;

/// A FOCUS specification version costpilot reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FocusVersion {
    /// FOCUS 1.0 (June 2024).
    V1_0,
    /// FOCUS 1.1 (November 2024).
    V1_1,
    /// FOCUS 1.2 (May 2025), the version the lake is modelled on.
    V1_2,
    /// FOCUS 1.3, which adds ServiceProviderName and HostProviderName.
    V1_3,
}

impl FocusVersion {
    /// Parses "1.0", "1.1", "1.2" or "1.3".
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "1.0" | "1" => Some(Self::V1_0),
            "1.1" => Some(Self::V1_1),
            "1.2" => Some(Self::V1_2),
            "1.3" => Some(Self::V1_3),
            _ => None,
        }
    }

    /// The version as written in the specification, e.g. "1.2".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_0 => "1.0",
            Self::V1_1 => "1.1",
            Self::V1_2 => "1.2",
            Self::V1_3 => "1.3",
        }
    }
}

/// The value type of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Free or enumerated text.
    String,
    /// An amount of money, stored as an exact decimal (see [`crate::money`]).
    Money,
    /// A non-monetary decimal: a quantity or a ratio, stored like money.
    Decimal,
    /// A UTC instant.
    DateTime,
    /// Key/value pairs: a map of string to string in the lake, a JSON object in FOCUS files.
    KeyValue,
}

/// What a column is for in analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnRole {
    /// Something to group or filter by.
    Dimension,
    /// An amount that may be summed (only within one currency when it is money).
    Metric,
    /// A time bound.
    Time,
    /// Key/value attributes (tags, cost categories).
    Attributes,
}

/// One column of the lake: a FOCUS column or a costpilot `x_` column.
#[derive(Debug, Clone, Copy)]
pub struct ColumnDef {
    /// The canonical name (FOCUS 1.2 spelling, or `x_...`).
    pub name: &'static str,
    /// The value type.
    pub kind: ColumnKind,
    /// What the column is for.
    pub role: ColumnRole,
    /// Whether FOCUS allows nulls in the column.
    pub nullable: bool,
    /// Allowed values for enumerated columns; empty when the column is free.
    pub allowed: &'static [&'static str],
    /// The FOCUS version that introduced the column; `None` for costpilot's `x_` columns.
    pub since: Option<FocusVersion>,
    /// Other names the column has had (earlier or later versions, common spellings).
    pub aliases: &'static [&'static str],
    /// Whether the lake keeps min/max statistics of its column chunks, so filters on it prune row
    /// groups: true for the timestamps and for the dimensions queries filter on that hold few
    /// values per file (the lake's units are provider, billing account and period; a file often
    /// holds one account's rows or one currency). Amounts, ids, descriptions and tags get none:
    /// nothing prunes on them in unsorted files, and their statistics cost a fifth of encoding.
    pub prunes: bool,
}

impl ColumnDef {
    /// True for the provider-detail columns FOCUS lacks (`x_` prefix).
    pub fn is_extension(&self) -> bool {
        self.since.is_none()
    }

    /// True for columns holding an amount of money.
    pub fn is_money(&self) -> bool {
        self.kind == ColumnKind::Money
    }

    /// Whether this column belongs in an export of the given FOCUS version.
    pub fn in_version(&self, version: FocusVersion) -> bool {
        match self.since {
            Some(since) => since <= version,
            None => false,
        }
    }

    /// The Arrow type the lake stores this column as.
    pub fn data_type(&self) -> DataType {
        match self.kind {
            ColumnKind::String => DataType::Utf8,
            ColumnKind::Money | ColumnKind::Decimal => money_type(),
            ColumnKind::DateTime => timestamp_type(),
            ColumnKind::KeyValue => tags_type(),
        }
    }

    /// The Arrow field of this column in the lake schema. Lake fields are nullable even where FOCUS
    /// requires a value, since readers check FOCUS nullability themselves and report the row.
    pub fn field(&self) -> Field {
        Field::new(self.name, self.data_type(), true)
    }
}

/// The Arrow type of key/value columns (Tags, x_CostCategories, x_RawTags): a map of string to string.
pub fn tags_type() -> DataType {
    DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(
                vec![Field::new("keys", DataType::Utf8, false), Field::new("values", DataType::Utf8, true)]
                    .into(),
            ),
            false,
        )),
        false,
    )
}

/// Canonical column names, to refer to columns without typos.
pub mod names {
    #![allow(missing_docs)]
    pub const AVAILABILITY_ZONE: &str = "AvailabilityZone";
    pub const BILLED_COST: &str = "BilledCost";
    pub const BILLING_ACCOUNT_ID: &str = "BillingAccountId";
    pub const BILLING_ACCOUNT_NAME: &str = "BillingAccountName";
    pub const BILLING_ACCOUNT_TYPE: &str = "BillingAccountType";
    pub const BILLING_CURRENCY: &str = "BillingCurrency";
    pub const BILLING_PERIOD_END: &str = "BillingPeriodEnd";
    pub const BILLING_PERIOD_START: &str = "BillingPeriodStart";
    pub const CAPACITY_RESERVATION_ID: &str = "CapacityReservationId";
    pub const CAPACITY_RESERVATION_STATUS: &str = "CapacityReservationStatus";
    pub const CHARGE_CATEGORY: &str = "ChargeCategory";
    pub const CHARGE_CLASS: &str = "ChargeClass";
    pub const CHARGE_DESCRIPTION: &str = "ChargeDescription";
    pub const CHARGE_FREQUENCY: &str = "ChargeFrequency";
    pub const CHARGE_PERIOD_END: &str = "ChargePeriodEnd";
    pub const CHARGE_PERIOD_START: &str = "ChargePeriodStart";
    pub const COMMITMENT_DISCOUNT_CATEGORY: &str = "CommitmentDiscountCategory";
    pub const COMMITMENT_DISCOUNT_ID: &str = "CommitmentDiscountId";
    pub const COMMITMENT_DISCOUNT_NAME: &str = "CommitmentDiscountName";
    pub const COMMITMENT_DISCOUNT_QUANTITY: &str = "CommitmentDiscountQuantity";
    pub const COMMITMENT_DISCOUNT_STATUS: &str = "CommitmentDiscountStatus";
    pub const COMMITMENT_DISCOUNT_TYPE: &str = "CommitmentDiscountType";
    pub const COMMITMENT_DISCOUNT_UNIT: &str = "CommitmentDiscountUnit";
    pub const CONSUMED_QUANTITY: &str = "ConsumedQuantity";
    pub const CONSUMED_UNIT: &str = "ConsumedUnit";
    pub const CONTRACTED_COST: &str = "ContractedCost";
    pub const CONTRACTED_UNIT_PRICE: &str = "ContractedUnitPrice";
    pub const EFFECTIVE_COST: &str = "EffectiveCost";
    pub const INVOICE_ID: &str = "InvoiceId";
    pub const INVOICE_ISSUER_NAME: &str = "InvoiceIssuerName";
    pub const LIST_COST: &str = "ListCost";
    pub const LIST_UNIT_PRICE: &str = "ListUnitPrice";
    pub const PRICING_CATEGORY: &str = "PricingCategory";
    pub const PRICING_CURRENCY: &str = "PricingCurrency";
    pub const PRICING_CURRENCY_CONTRACTED_UNIT_PRICE: &str = "PricingCurrencyContractedUnitPrice";
    pub const PRICING_CURRENCY_EFFECTIVE_COST: &str = "PricingCurrencyEffectiveCost";
    pub const PRICING_CURRENCY_LIST_UNIT_PRICE: &str = "PricingCurrencyListUnitPrice";
    pub const PRICING_QUANTITY: &str = "PricingQuantity";
    pub const PRICING_UNIT: &str = "PricingUnit";
    pub const PROVIDER_NAME: &str = "ProviderName";
    pub const PUBLISHER_NAME: &str = "PublisherName";
    pub const REGION_ID: &str = "RegionId";
    pub const REGION_NAME: &str = "RegionName";
    pub const RESOURCE_ID: &str = "ResourceId";
    pub const RESOURCE_NAME: &str = "ResourceName";
    pub const RESOURCE_TYPE: &str = "ResourceType";
    pub const SERVICE_CATEGORY: &str = "ServiceCategory";
    pub const SERVICE_NAME: &str = "ServiceName";
    pub const SERVICE_SUBCATEGORY: &str = "ServiceSubcategory";
    pub const SKU_ID: &str = "SkuId";
    pub const SKU_METER: &str = "SkuMeter";
    pub const SKU_PRICE_DETAILS: &str = "SkuPriceDetails";
    pub const SKU_PRICE_ID: &str = "SkuPriceId";
    pub const SUB_ACCOUNT_ID: &str = "SubAccountId";
    pub const SUB_ACCOUNT_NAME: &str = "SubAccountName";
    pub const SUB_ACCOUNT_TYPE: &str = "SubAccountType";
    pub const TAGS: &str = "Tags";
    pub const SERVICE_PROVIDER_NAME: &str = "ServiceProviderName";
    pub const HOST_PROVIDER_NAME: &str = "HostProviderName";
    pub const X_USAGE_TYPE: &str = "x_UsageType";
    pub const X_OPERATION: &str = "x_Operation";
    pub const X_INSTANCE_TYPE: &str = "x_InstanceType";
    pub const X_LINE_ITEM_TYPE: &str = "x_LineItemType";
    pub const X_PAYER_ACCOUNT_ID: &str = "x_PayerAccountId";
    pub const X_SERVICE_CODE: &str = "x_ServiceCode";
    pub const X_PRODUCT_FAMILY: &str = "x_ProductFamily";
    pub const X_COST_CATEGORIES: &str = "x_CostCategories";
    pub const X_RAW_TAGS: &str = "x_RawTags";
    pub const X_SPLIT_PARENT_RESOURCE_ID: &str = "x_SplitParentResourceId";
    pub const X_SPLIT_USAGE: &str = "x_SplitUsage";
    pub const X_SPLIT_USAGE_RATIO: &str = "x_SplitUsageRatio";
    pub const X_SPLIT_ACTUAL_USAGE: &str = "x_SplitActualUsage";
    pub const X_SPLIT_RESERVED_USAGE: &str = "x_SplitReservedUsage";
    pub const X_SPLIT_COST: &str = "x_SplitCost";
    pub const X_SPLIT_UNUSED_COST: &str = "x_SplitUnusedCost";
    pub const X_SPLIT_NET_SPLIT_COST: &str = "x_SplitNetSplitCost";
    pub const X_SPLIT_NET_UNUSED_COST: &str = "x_SplitNetUnusedCost";
    pub const X_SPLIT_PUBLIC_ON_DEMAND_SPLIT_COST: &str = "x_SplitPublicOnDemandSplitCost";
    pub const X_SPLIT_PUBLIC_ON_DEMAND_UNUSED_COST: &str = "x_SplitPublicOnDemandUnusedCost";
    pub const X_SOURCE_FORMAT: &str = "x_SourceFormat";
}

use ColumnKind as K;
use ColumnRole as R;
use FocusVersion::*;

const fn focus(
    name: &'static str,
    kind: ColumnKind,
    role: ColumnRole,
    nullable: bool,
    since: FocusVersion,
    allowed: &'static [&'static str],
    aliases: &'static [&'static str],
) -> ColumnDef {
    let prunes = matches!(kind, ColumnKind::DateTime);
    ColumnDef { name, kind, role, nullable, allowed, since: Some(since), aliases, prunes }
}

impl ColumnDef {
    /// This column, with min/max statistics that prune (see [`ColumnDef::prunes`]).
    const fn pruning(self) -> ColumnDef {
        ColumnDef { prunes: true, ..self }
    }
}

const fn ext(name: &'static str, kind: ColumnKind, role: ColumnRole) -> ColumnDef {
    let prunes = matches!(kind, ColumnKind::DateTime);
    ColumnDef { name, kind, role, nullable: true, allowed: &[], since: None, aliases: &[], prunes }
}

/// Allowed ChargeCategory values.
pub const CHARGE_CATEGORIES: &[&str] = &["Usage", "Purchase", "Tax", "Credit", "Adjustment"];
/// Allowed ChargeFrequency values.
pub const CHARGE_FREQUENCIES: &[&str] = &["One-Time", "Recurring", "Usage-Based"];
/// Allowed PricingCategory values.
pub const PRICING_CATEGORIES: &[&str] = &["Standard", "Dynamic", "Committed", "Other"];
/// Allowed ServiceCategory values (FOCUS 1.1 and later).
pub const SERVICE_CATEGORIES: &[&str] = &[
    "AI and Machine Learning",
    "Analytics",
    "Business Applications",
    "Compute",
    "Databases",
    "Developer Tools",
    "Multicloud",
    "Identity",
    "Integration",
    "Internet of Things",
    "Management and Governance",
    "Media",
    "Migration",
    "Mobile",
    "Networking",
    "Security",
    "Storage",
    "Web",
    "Other",
];

/// Every column of the lake, FOCUS columns first (alphabetical, as the specification lists them),
/// then the FOCUS 1.3 provider columns, then costpilot's `x_` columns.
pub const COLUMNS: &[ColumnDef] = &[
    focus("AvailabilityZone", K::String, R::Dimension, true, V1_0, &[], &[]),
    focus("BilledCost", K::Money, R::Metric, false, V1_0, &[], &[]),
    focus("BillingAccountId", K::String, R::Dimension, false, V1_0, &[], &[]).pruning(),
    focus("BillingAccountName", K::String, R::Dimension, true, V1_0, &[], &[]),
    focus("BillingAccountType", K::String, R::Dimension, true, V1_2, &[], &[]),
    focus("BillingCurrency", K::String, R::Dimension, false, V1_0, &[], &[]).pruning(),
    focus("BillingPeriodEnd", K::DateTime, R::Time, false, V1_0, &[], &[]),
    focus("BillingPeriodStart", K::DateTime, R::Time, false, V1_0, &[], &[]),
    focus("CapacityReservationId", K::String, R::Dimension, true, V1_1, &[], &[]),
    focus("CapacityReservationStatus", K::String, R::Dimension, true, V1_1, &["Used", "Unused"], &[]),
    focus("ChargeCategory", K::String, R::Dimension, false, V1_0, CHARGE_CATEGORIES, &["ChargeType"])
        .pruning(),
    focus("ChargeClass", K::String, R::Dimension, true, V1_0, &["Correction"], &[]),
    focus("ChargeDescription", K::String, R::Dimension, true, V1_0, &[], &[]),
    focus("ChargeFrequency", K::String, R::Dimension, true, V1_0, CHARGE_FREQUENCIES, &[]),
    focus("ChargePeriodEnd", K::DateTime, R::Time, false, V1_0, &[], &[]),
    focus("ChargePeriodStart", K::DateTime, R::Time, false, V1_0, &[], &[]),
    focus("CommitmentDiscountCategory", K::String, R::Dimension, true, V1_0, &["Spend", "Usage"], &[]),
    focus("CommitmentDiscountId", K::String, R::Dimension, true, V1_0, &[], &[]),
    focus("CommitmentDiscountName", K::String, R::Dimension, true, V1_0, &[], &[]),
    focus("CommitmentDiscountQuantity", K::Decimal, R::Metric, true, V1_1, &[], &[]),
    focus("CommitmentDiscountStatus", K::String, R::Dimension, true, V1_0, &["Used", "Unused"], &[]),
    focus("CommitmentDiscountType", K::String, R::Dimension, true, V1_0, &[], &[]),
    focus("CommitmentDiscountUnit", K::String, R::Dimension, true, V1_1, &[], &[]),
    focus("ConsumedQuantity", K::Decimal, R::Metric, true, V1_0, &[], &["UsageQuantity"]),
    focus("ConsumedUnit", K::String, R::Dimension, true, V1_0, &[], &["UsageUnit"]),
    focus("ContractedCost", K::Money, R::Metric, false, V1_0, &[], &[]),
    focus("ContractedUnitPrice", K::Money, R::Metric, true, V1_0, &[], &[]),
    focus("EffectiveCost", K::Money, R::Metric, false, V1_0, &[], &["AmortizedCost"]),
    focus("InvoiceId", K::String, R::Dimension, true, V1_2, &[], &[]),
    focus("InvoiceIssuerName", K::String, R::Dimension, false, V1_0, &[], &["InvoiceIssuer"]),
    focus("ListCost", K::Money, R::Metric, false, V1_0, &[], &[]),
    focus("ListUnitPrice", K::Money, R::Metric, true, V1_0, &[], &[]),
    focus("PricingCategory", K::String, R::Dimension, true, V1_0, PRICING_CATEGORIES, &[]),
    focus("PricingCurrency", K::String, R::Dimension, true, V1_2, &[], &[]),
    focus("PricingCurrencyContractedUnitPrice", K::Money, R::Metric, true, V1_2, &[], &[]),
    focus("PricingCurrencyEffectiveCost", K::Money, R::Metric, true, V1_2, &[], &[]),
    focus("PricingCurrencyListUnitPrice", K::Money, R::Metric, true, V1_2, &[], &[]),
    focus("PricingQuantity", K::Decimal, R::Metric, true, V1_0, &[], &[]),
    focus("PricingUnit", K::String, R::Dimension, true, V1_0, &[], &[]),
    focus("ProviderName", K::String, R::Dimension, false, V1_0, &[], &["Provider"]).pruning(),
    focus("PublisherName", K::String, R::Dimension, false, V1_0, &[], &["Publisher"]),
    focus("RegionId", K::String, R::Dimension, true, V1_0, &[], &["Region"]).pruning(),
    focus("RegionName", K::String, R::Dimension, true, V1_0, &[], &[]),
    focus("ResourceId", K::String, R::Dimension, true, V1_0, &[], &[]),
    focus("ResourceName", K::String, R::Dimension, true, V1_0, &[], &[]),
    focus("ResourceType", K::String, R::Dimension, true, V1_0, &[], &[]),
    focus("ServiceCategory", K::String, R::Dimension, false, V1_0, SERVICE_CATEGORIES, &[]).pruning(),
    focus("ServiceName", K::String, R::Dimension, false, V1_0, &[], &[]).pruning(),
    focus("ServiceSubcategory", K::String, R::Dimension, true, V1_1, &[], &[]),
    focus("SkuId", K::String, R::Dimension, true, V1_0, &[], &[]),
    focus("SkuMeter", K::String, R::Dimension, true, V1_1, &[], &[]),
    focus("SkuPriceDetails", K::KeyValue, R::Attributes, true, V1_1, &[], &[]),
    focus("SkuPriceId", K::String, R::Dimension, true, V1_0, &[], &[]),
    focus("SubAccountId", K::String, R::Dimension, true, V1_0, &[], &[]).pruning(),
    focus("SubAccountName", K::String, R::Dimension, true, V1_0, &[], &[]),
    focus("SubAccountType", K::String, R::Dimension, true, V1_2, &[], &[]),
    focus("Tags", K::KeyValue, R::Attributes, true, V1_0, &[], &[]),
    focus("ServiceProviderName", K::String, R::Dimension, true, V1_3, &[], &[]).pruning(),
    focus("HostProviderName", K::String, R::Dimension, true, V1_3, &[], &[]),
    ext("x_UsageType", K::String, R::Dimension),
    ext("x_Operation", K::String, R::Dimension),
    ext("x_InstanceType", K::String, R::Dimension),
    ext("x_LineItemType", K::String, R::Dimension),
    ext("x_PayerAccountId", K::String, R::Dimension),
    ext("x_ServiceCode", K::String, R::Dimension),
    ext("x_ProductFamily", K::String, R::Dimension),
    ext("x_CostCategories", K::KeyValue, R::Attributes),
    ext("x_RawTags", K::KeyValue, R::Attributes),
    ext("x_SplitParentResourceId", K::String, R::Dimension),
    ext("x_SplitUsage", K::Decimal, R::Metric),
    ext("x_SplitUsageRatio", K::Decimal, R::Metric),
    ext("x_SplitActualUsage", K::Decimal, R::Metric),
    ext("x_SplitReservedUsage", K::Decimal, R::Metric),
    ext("x_SplitCost", K::Money, R::Metric),
    ext("x_SplitUnusedCost", K::Money, R::Metric),
    ext("x_SplitNetSplitCost", K::Money, R::Metric),
    ext("x_SplitNetUnusedCost", K::Money, R::Metric),
    ext("x_SplitPublicOnDemandSplitCost", K::Money, R::Metric),
    ext("x_SplitPublicOnDemandUnusedCost", K::Money, R::Metric),
    ext("x_SourceFormat", K::String, R::Dimension),
];

fn by_name() -> &'static HashMap<String, usize> {
    static INDEX: OnceLock<HashMap<String, usize>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut m = HashMap::new();
        for (i, c) in COLUMNS.iter().enumerate() {
            m.insert(c.name.to_ascii_lowercase(), i);
            for a in c.aliases {
                m.insert(a.to_ascii_lowercase(), i);
            }
        }
        m
    })
}

/// Looks a column up by its canonical name or any alias, ignoring ASCII case.
pub fn column(name: &str) -> Option<&'static ColumnDef> {
    by_name().get(&name.trim().to_ascii_lowercase()).map(|&i| &COLUMNS[i])
}

/// The canonical name for a column name of any FOCUS version, or `None` if it is not a column.
pub fn resolve_column_name(name: &str) -> Option<&'static str> {
    column(name).map(|c| c.name)
}

/// The position of a canonical column in [`lake_schema`]. Panics on a name that is not a column,
/// which is a programming error, not bad input.
pub fn index_of(name: &str) -> usize {
    let c = column(name).unwrap_or_else(|| panic!("{name} is not a lake column"));
    by_name()[&c.name.to_ascii_lowercase()]
}

/// The Arrow schema of the lake: every column of [`COLUMNS`], in order.
pub fn lake_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| Arc::new(Schema::new(COLUMNS.iter().map(|c| c.field()).collect::<Vec<_>>())))
        .clone()
}

/// The Arrow type a reader may hand a lake text column in besides `Utf8`: a dictionary of the
/// batch's distinct values. Bills repeat a few names over millions of rows, and the lake writer
/// encodes a dictionary column by its distinct values instead of value by value.
pub fn text_dictionary_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// Whether an array of type `got` may stand for a lake column of type `expected`: the same type,
/// with [`text_dictionary_type`] allowed wherever the lake has text, map keys and values included.
pub fn is_lake_type(expected: &DataType, got: &DataType) -> bool {
    match (expected, got) {
        (DataType::Utf8, got) => *got == DataType::Utf8 || *got == text_dictionary_type(),
        (DataType::Map(expected, _), DataType::Map(got, _)) => {
            match (expected.data_type(), got.data_type()) {
                (DataType::Struct(expected), DataType::Struct(got)) => {
                    expected.len() == got.len()
                        && expected.iter().zip(got.iter()).all(|(e, g)| {
                            e.is_nullable() == g.is_nullable() && is_lake_type(e.data_type(), g.data_type())
                        })
                }
                _ => false,
            }
        }
        _ => got.equals_datatype(expected),
    }
}

/// The rows of a lake text column in either type [`is_lake_type`] accepts, read without copying.
#[derive(Debug, Clone, Copy)]
pub enum TextValues<'a> {
    /// Plain `Utf8`.
    Plain(&'a StringArray),
    /// A dictionary: each row's key into the values.
    Dictionary(&'a [i32], &'a StringArray),
}

impl<'a> TextValues<'a> {
    /// `array` as text, or `None` when it is neither `Utf8` nor [`text_dictionary_type`].
    pub fn of(array: &'a dyn Array) -> Option<Self> {
        match array.as_dictionary_opt::<Int32Type>() {
            Some(d) => d.values().as_string_opt().map(|v| Self::Dictionary(d.keys().values(), v)),
            None => array.as_string_opt().map(Self::Plain),
        }
    }

    /// Row `i`'s text, whatever the null mask says (callers check it).
    pub fn value(&self, i: usize) -> &'a str {
        match self {
            Self::Plain(a) => a.value(i),
            Self::Dictionary(keys, values) => values.value(keys[i] as usize),
        }
    }
}

/// `batch` (lake columns, text possibly as dictionaries) with every column in the exact lake type,
/// for code that wants plain `Utf8` text.
pub fn with_plain_text(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let schema = lake_schema();
    let columns = schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, a)| if a.data_type() == f.data_type() { Ok(a.clone()) } else { cast(a, f.data_type()) })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema, columns)
}

/// The unit the lake replaces atomically: one provider's billing account for one billing period.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UnitKey {
    /// ProviderName, e.g. "AWS".
    pub provider: String,
    /// BillingAccountId, e.g. the AWS payer account.
    pub billing_account: String,
    /// The month of BillingPeriodStart, as "YYYY-MM".
    pub billing_period: String,
}

impl std::fmt::Display for UnitKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.provider, self.billing_account, self.billing_period)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lake_types_allow_text_as_dictionaries_map_entries_included() {
        let map = |key: DataType, value: DataType, value_nullable: bool| {
            let entries = Field::new(
                "e",
                DataType::Struct(
                    vec![Field::new("k", key, false), Field::new("v", value, value_nullable)].into(),
                ),
                false,
            );
            DataType::Map(Arc::new(entries), false)
        };
        let dictionary = text_dictionary_type();
        assert!(is_lake_type(&DataType::Utf8, &dictionary));
        assert!(is_lake_type(&tags_type(), &tags_type()));
        assert!(is_lake_type(&tags_type(), &map(dictionary.clone(), dictionary.clone(), true)));
        assert!(is_lake_type(&tags_type(), &map(DataType::Utf8, dictionary.clone(), true)));
        assert!(!is_lake_type(&tags_type(), &map(dictionary.clone(), DataType::Int32, true)));
        assert!(!is_lake_type(&tags_type(), &map(dictionary.clone(), dictionary.clone(), false)));
        assert!(!is_lake_type(&money_type(), &dictionary));
    }

    #[test]
    fn aliases_resolve_to_canonical_names() {
        assert_eq!(resolve_column_name("billedcost"), Some("BilledCost"));
        assert_eq!(resolve_column_name("ChargeType"), Some("ChargeCategory"));
        assert_eq!(resolve_column_name("AmortizedCost"), Some("EffectiveCost"));
        assert_eq!(resolve_column_name("ServiceProviderName"), Some("ServiceProviderName"));
        assert_eq!(resolve_column_name("NoSuchColumn"), None);
    }

    #[test]
    fn schema_lists_every_column_once() {
        let schema = lake_schema();
        assert_eq!(schema.fields().len(), COLUMNS.len());
        assert_eq!(index_of("BilledCost"), 1);
        assert_eq!(schema.field(index_of("Tags")).data_type(), &tags_type());
        let focus_12 = COLUMNS.iter().filter(|c| c.in_version(FocusVersion::V1_2)).count();
        assert_eq!(focus_12, 57);
    }
}
