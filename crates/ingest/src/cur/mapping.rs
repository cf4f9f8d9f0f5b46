//! The CUR → FOCUS mapping of one batch: each line item type gets its FOCUS charge columns and its
//! BilledCost, EffectiveCost, ListCost and ContractedCost as docs/mapping.md tabulates them.
//!
//! The work is a single pass over typed Arrow arrays: text columns are compared in place, amounts
//! are `i128` units of 10^-15, and per-row strings are only copied into the output builders.
//! Columns that pass through unchanged (BilledCost, the periods, account ids, ...) are reused
//! without copying.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Months};
use costpilot_model::money::{parse_decimal, to_f64};
use costpilot_model::{money_type, names as lake, tags_type};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBufferBuilder, Decimal128Array, Decimal128Builder, MapArray,
    RecordBatch, StringArray, StringBuilder, StructArray, TimestampMicrosecondBuilder,
};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Decimal128Type};

use super::Plan;
use super::keyvalue::{KeyValues, Pairs};
use super::names as n;
use super::services::{FastMap, category_for_name, focus_unit, name_for_code, region_name, resource_type};
use crate::IngestError;
use crate::convert::{Columns, KeyValueBuilder, constant_string};
use crate::raw::RawBatch;
use crate::report::BadRow;
use crate::tags::{normalize_cost_category_key, normalize_tag_key};

/// Units of 10^-15 in one.
const ONE: i128 = 1_000_000_000_000_000;

/// What a row is, from its `line_item_line_item_type` (and, for `Fee`, whether it buys a
/// commitment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Usage,
    DiscountedUsage,
    SpCoveredUsage,
    SpNegation,
    SpUpfrontFee,
    SpRecurringFee,
    /// A `Fee` with a reservation or Savings Plan ARN: the upfront payment for a commitment.
    CommitmentFee,
    /// Any other `Fee` (support plans, Marketplace, domain registrations, ...).
    Fee,
    RiFee,
    Tax,
    Credit,
    Refund,
    /// `EdpDiscount`, `BundledDiscount`, `PrivateRateDiscount`, `SppDiscount`,
    /// `DistributorDiscount` and any other `*Discount`.
    Discount,
    /// A type AWS may add later.
    Unknown,
}

impl Kind {
    /// Every kind, in declaration order (`kind as usize` indexes it).
    const ALL: [Kind; 14] = [
        Self::Usage,
        Self::DiscountedUsage,
        Self::SpCoveredUsage,
        Self::SpNegation,
        Self::SpUpfrontFee,
        Self::SpRecurringFee,
        Self::CommitmentFee,
        Self::Fee,
        Self::RiFee,
        Self::Tax,
        Self::Credit,
        Self::Refund,
        Self::Discount,
        Self::Unknown,
    ];

    fn of(line_item_type: &str, has_commitment_arn: bool) -> Self {
        match line_item_type {
            "Usage" => Self::Usage,
            "DiscountedUsage" => Self::DiscountedUsage,
            "SavingsPlanCoveredUsage" => Self::SpCoveredUsage,
            "SavingsPlanNegation" => Self::SpNegation,
            "SavingsPlanUpfrontFee" => Self::SpUpfrontFee,
            "SavingsPlanRecurringFee" => Self::SpRecurringFee,
            "Fee" if has_commitment_arn => Self::CommitmentFee,
            "Fee" => Self::Fee,
            "RIFee" => Self::RiFee,
            "Tax" => Self::Tax,
            "Credit" => Self::Credit,
            "Refund" => Self::Refund,
            t if t.ends_with("Discount") => Self::Discount,
            _ => Self::Unknown,
        }
    }

    /// The CUR columns a row of this kind cannot be mapped without.
    fn needs(self) -> &'static [&'static str] {
        match self {
            Self::DiscountedUsage => &[n::RI_EFFECTIVE_COST],
            Self::SpCoveredUsage => &[n::SP_EFFECTIVE_COST],
            Self::SpRecurringFee => &[n::SP_TOTAL_COMMITMENT, n::SP_USED_COMMITMENT],
            Self::RiFee => &[n::RI_UNUSED_UPFRONT, n::RI_UNUSED_RECURRING],
            _ => &[],
        }
    }

    fn rule(self) -> &'static Rule {
        match self {
            Self::Usage => &USAGE,
            Self::DiscountedUsage => &DISCOUNTED_USAGE,
            Self::SpCoveredUsage => &SP_COVERED_USAGE,
            Self::SpNegation => &SP_NEGATION,
            Self::SpUpfrontFee | Self::CommitmentFee => &COMMITMENT_PURCHASE,
            Self::SpRecurringFee | Self::RiFee => &UNUSED_COMMITMENT,
            Self::Fee => &FEE,
            Self::Tax => &TAX,
            Self::Credit => &CREDIT,
            Self::Refund | Self::Unknown => &ADJUSTMENT,
            Self::Discount => &DISCOUNT,
        }
    }
}

/// Where EffectiveCost comes from.
#[derive(Debug, Clone, Copy)]
enum Effective {
    Billed,
    Zero,
    /// `reservation_effective_cost`.
    Reservation,
    /// `savings_plan_savings_plan_effective_cost`.
    SavingsPlan,
    /// `reservation_unused_amortized_upfront_fee_for_billing_period + reservation_unused_recurring_fee`
    /// on RIFee, `savings_plan_total_commitment_to_date - savings_plan_used_commitment` on
    /// SavingsPlanRecurringFee.
    UnusedCommitment,
}

/// Where ListCost and ContractedCost come from.
#[derive(Debug, Clone, Copy)]
enum Amount {
    Billed,
    Zero,
    /// `pricing_public_on_demand_cost`, or BilledCost where that is empty or absent.
    PublicOnDemand,
}

/// Which quantities a row has.
#[derive(Debug, Clone, Copy)]
enum Quantities {
    /// PricingQuantity and ConsumedQuantity are the usage amount.
    Consumed,
    /// PricingQuantity is the usage amount; nothing is consumed (purchases, unused commitment).
    Priced,
    /// Both are 0: the row only moves cost (a Savings Plan negation).
    Zero,
    /// Neither applies (tax, credits, refunds, discounts).
    None,
}

/// The FOCUS columns one kind of line item gets.
struct Rule {
    charge_category: &'static str,
    charge_frequency: &'static str,
    pricing_category: Option<&'static str>,
    /// CommitmentDiscountStatus, set only when the row names its commitment.
    status: Option<&'static str>,
    effective: Effective,
    list: Amount,
    contracted: Amount,
    quantities: Quantities,
}

const USAGE: Rule = Rule {
    charge_category: "Usage",
    charge_frequency: "Usage-Based",
    pricing_category: Some("Standard"),
    status: None,
    effective: Effective::Billed,
    list: Amount::PublicOnDemand,
    contracted: Amount::Billed,
    quantities: Quantities::Consumed,
};
const DISCOUNTED_USAGE: Rule = Rule {
    charge_category: "Usage",
    charge_frequency: "Usage-Based",
    pricing_category: Some("Committed"),
    status: Some("Used"),
    effective: Effective::Reservation,
    list: Amount::PublicOnDemand,
    contracted: Amount::PublicOnDemand,
    quantities: Quantities::Consumed,
};
const SP_COVERED_USAGE: Rule = Rule {
    charge_category: "Usage",
    charge_frequency: "Usage-Based",
    pricing_category: Some("Committed"),
    status: Some("Used"),
    effective: Effective::SavingsPlan,
    list: Amount::PublicOnDemand,
    contracted: Amount::Billed,
    quantities: Quantities::Consumed,
};
const SP_NEGATION: Rule = Rule {
    charge_category: "Usage",
    charge_frequency: "Usage-Based",
    pricing_category: Some("Committed"),
    status: Some("Used"),
    effective: Effective::Zero,
    list: Amount::Zero,
    contracted: Amount::Zero,
    quantities: Quantities::Zero,
};
const COMMITMENT_PURCHASE: Rule = Rule {
    charge_category: "Purchase",
    charge_frequency: "One-Time",
    pricing_category: Some("Standard"),
    status: None,
    effective: Effective::Zero,
    list: Amount::Billed,
    contracted: Amount::Billed,
    quantities: Quantities::Priced,
};
const UNUSED_COMMITMENT: Rule = Rule {
    charge_category: "Usage",
    charge_frequency: "Recurring",
    pricing_category: Some("Committed"),
    status: Some("Unused"),
    effective: Effective::UnusedCommitment,
    list: Amount::Billed,
    contracted: Amount::Billed,
    quantities: Quantities::Priced,
};
const FEE: Rule = Rule {
    charge_category: "Usage",
    charge_frequency: "One-Time",
    pricing_category: Some("Standard"),
    status: None,
    effective: Effective::Billed,
    list: Amount::Billed,
    contracted: Amount::Billed,
    quantities: Quantities::Consumed,
};
const TAX: Rule = Rule {
    charge_category: "Tax",
    charge_frequency: "One-Time",
    pricing_category: None,
    status: None,
    effective: Effective::Billed,
    list: Amount::Billed,
    contracted: Amount::Billed,
    quantities: Quantities::None,
};
const CREDIT: Rule = Rule {
    charge_category: "Credit",
    charge_frequency: "One-Time",
    pricing_category: None,
    status: None,
    effective: Effective::Billed,
    list: Amount::Billed,
    contracted: Amount::Billed,
    quantities: Quantities::None,
};
const ADJUSTMENT: Rule = Rule {
    charge_category: "Adjustment",
    charge_frequency: "One-Time",
    pricing_category: None,
    status: None,
    effective: Effective::Billed,
    list: Amount::Billed,
    contracted: Amount::Billed,
    quantities: Quantities::None,
};
const DISCOUNT: Rule = Rule {
    charge_category: "Credit",
    charge_frequency: "Usage-Based",
    pricing_category: None,
    status: None,
    effective: Effective::Billed,
    list: Amount::Zero,
    contracted: Amount::Billed,
    quantities: Quantities::None,
};

/// The commitment a row names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Commitment {
    Reservation,
    SavingsPlan,
}

impl Commitment {
    fn discount_type(self) -> &'static str {
        match self {
            Self::Reservation => "Reserved Instance",
            Self::SavingsPlan => "Savings Plan",
        }
    }
    fn category(self) -> &'static str {
        match self {
            Self::Reservation => "Usage",
            Self::SavingsPlan => "Spend",
        }
    }
}

/// Product attributes read from a `product_*` column or, failing that, the `product` map.
const PRODUCT_ATTRS: [(&str, &str); 8] = [
    (n::SERVICE_NAME, "servicename"),
    (n::PRODUCT_NAME, "product_name"),
    (n::REGION_CODE, "region_code"),
    (n::REGION, "region"),
    (n::LOCATION, "location"),
    (n::INSTANCE_TYPE, "instance_type"),
    (n::PRODUCT_FAMILY, "product_family"),
    (n::SKU, "sku"),
];
const A_SERVICE: usize = 0;
const A_PRODUCT_NAME: usize = 1;
const A_REGION_CODE: usize = 2;
const A_REGION: usize = 3;
const A_LOCATION: usize = 4;
const A_INSTANCE_TYPE: usize = 5;
const A_FAMILY: usize = 6;
const A_SKU: usize = 7;

/// The publisher when the file does not name one.
const AWS_ENTITY: &str = "Amazon Web Services, Inc.";

/// InvoiceIssuerName: "AWS" (the ProviderName) when an Amazon entity issues the invoice, whichever
/// regional entity it is; FOCUS reads an issuer other than the provider as a third party collecting
/// the payment, whose charges must then bill 0. Any other issuer is kept as named.
fn invoice_issuer(entity: Option<&str>) -> &str {
    let amazon = |e: &str| {
        let lower = e.trim_start().as_bytes();
        lower.len() >= 3
            && (lower[..3].eq_ignore_ascii_case(b"aws")
                || lower.len() >= 6 && lower[..6].eq_ignore_ascii_case(b"amazon"))
    };
    match entity {
        Some(e) if !amazon(e) => e,
        _ => "AWS",
    }
}

/// Maps one raw batch of a CUR file to a lake batch; rows with faults are dropped and returned (or,
/// with `strict`, the first one is the error).
pub(crate) fn map_batch(
    plan: &Plan,
    raw: &RawBatch,
    strict: bool,
) -> Result<(RecordBatch, Vec<BadRow>), IngestError> {
    let mut c = Columns::new(raw);
    let rows = c.len();
    let internal = |message: String| IngestError::Internal { path: plan.path.clone(), message };

    let text =
        |c: &mut Columns, name: &str| plan.file_name(name).and_then(|f| c.string(f)).map(empty_as_null);
    let money = |c: &mut Columns, name: &str| plan.file_name(name).and_then(|f| c.decimal(f));
    let time = |c: &mut Columns, name: &str| plan.file_name(name).and_then(|f| c.timestamp(f));
    let lenient = |c: &Columns, name: &str| plan.file_name(name).and_then(|f| c.get(f)).map(lenient_decimal);

    let line_type = text(&mut c, n::LINE_ITEM_TYPE);
    let unblended = money(&mut c, n::UNBLENDED_COST);
    let usage_start = time(&mut c, n::USAGE_START);
    let usage_end = time(&mut c, n::USAGE_END);
    let period_start = time(&mut c, n::BILLING_PERIOD_START);
    let period_end = time(&mut c, n::BILLING_PERIOD_END);
    let payer = text(&mut c, n::PAYER_ACCOUNT_ID);
    let currency = text(&mut c, n::CURRENCY_CODE);
    let product_code = text(&mut c, n::PRODUCT_CODE);
    let usage_amount = money(&mut c, n::USAGE_AMOUNT);
    let usage_type = text(&mut c, n::USAGE_TYPE);
    let resource_id = text(&mut c, n::RESOURCE_ID);
    let description = text(&mut c, n::DESCRIPTION);
    let legal_entity = text(&mut c, n::LEGAL_ENTITY);
    let invoicing_entity = text(&mut c, n::INVOICING_ENTITY);
    let public_cost = money(&mut c, n::PUBLIC_ON_DEMAND_COST);
    let public_rate = lenient(&c, n::PUBLIC_ON_DEMAND_RATE);
    let unblended_rate = lenient(&c, n::UNBLENDED_RATE);
    let pricing_unit = text(&mut c, n::PRICING_UNIT);
    let pricing_term = text(&mut c, n::PRICING_TERM);
    let rate_code = text(&mut c, n::RATE_CODE);
    let sp_arn = text(&mut c, n::SP_ARN);
    let sp_effective = money(&mut c, n::SP_EFFECTIVE_COST);
    let sp_total = money(&mut c, n::SP_TOTAL_COMMITMENT);
    let sp_used = money(&mut c, n::SP_USED_COMMITMENT);
    let ri_arn = text(&mut c, n::RI_ARN);
    let ri_effective = money(&mut c, n::RI_EFFECTIVE_COST);
    let ri_unused_upfront = money(&mut c, n::RI_UNUSED_UPFRONT);
    let ri_unused_recurring = money(&mut c, n::RI_UNUSED_RECURRING);
    let ri_unused_quantity = money(&mut c, n::RI_UNUSED_QUANTITY);
    let ri_total_units = money(&mut c, n::RI_TOTAL_RESERVED_UNITS);
    let attr_columns: Vec<Option<StringArray>> =
        PRODUCT_ATTRS.iter().map(|(col, _)| text(&mut c, col)).collect();

    let key_values = |map: Option<&String>, flat: &[String]| {
        let map = map.and_then(|m| c.get(m).map(|a| (m.as_str(), a)));
        let flat =
            flat.iter().filter_map(|f| c.get(f).and_then(text_array).map(|a| (f.clone(), a))).collect();
        KeyValues::new(map, flat).map_err(internal)
    };
    let tags = key_values(plan.tag_map.as_ref(), &plan.tag_columns)?;
    let cost_categories = key_values(plan.cost_category_map.as_ref(), &plan.cost_category_columns)?;
    let product = key_values(plan.product_map.as_ref(), &[])?;

    // A product attribute is a `product_*` column or a key of the `product` map, never both (CUR 2.0
    // moves every attribute of its static schema out of the map), so the source is chosen per file.
    let map_attrs: Vec<usize> = if product.is_empty() {
        Vec::new()
    } else {
        (0..PRODUCT_ATTRS.len()).filter(|&a| attr_columns[a].is_none()).collect()
    };
    let map_keys: Vec<&str> = map_attrs.iter().map(|&a| PRODUCT_ATTRS[a].1).collect();
    let from_map = |attr: usize| map_attrs.contains(&attr);
    // Whether the file can cost each kind of row (see `Kind::needs`), decided once.
    let missing_need = |kind: Kind| kind.needs().iter().copied().find(|need| plan.file_name(need).is_none());
    let missing: Vec<Option<&str>> = Kind::ALL.iter().map(|&k| missing_need(k)).collect();

    let mut units: FastMap<&str, Option<Cow<str>>> = FastMap::default();
    if let Some(u) = &pricing_unit {
        for v in u.iter().flatten() {
            if !units.contains_key(v) {
                units.insert(v, focus_unit(v));
            }
        }
    }

    // Tags straight from a clean Parquet map are built column-wise; anything else row by row.
    let fast_tags = tags.plain_map().and_then(tag_columns_from_map);
    let fast_cost_categories = cost_categories.plain_map().and_then(cost_categories_from_map);

    let mut out = Outputs::new(rows);
    let mut built = Built::new(rows, from_map(A_INSTANCE_TYPE), from_map(A_FAMILY), from_map(A_SKU));
    let region_from_map = attr_columns[A_REGION_CODE].is_none() && !map_keys.is_empty();
    let mut region_ids = region_from_map.then(|| StringBuilder::with_capacity(rows, rows * 10));
    let mut tax = BooleanBufferBuilder::new(rows);
    let mut no_price = BooleanBufferBuilder::new(rows);
    let mut resource_fallback: Vec<(usize, &str)> = Vec::new();
    let mut pairs: Pairs = Vec::new();
    let mut tag_keys: Vec<Cow<str>> = Vec::new();
    let mut found: Vec<Option<Cow<str>>> = vec![None; map_keys.len()];
    let mut attrs: [Option<Cow<str>>; PRODUCT_ATTRS.len()] = Default::default();
    let mut period_end_cache = PeriodEnd::default();

    for i in 0..rows {
        let type_text = at(&line_type, i);
        let ri = at(&ri_arn, i);
        let sp = at(&sp_arn, i);
        let kind = match type_text {
            Some(t) => Kind::of(t, ri.is_some() || sp.is_some()),
            None => {
                c.fault(i, plan.spelled(n::LINE_ITEM_TYPE), "empty: every line item needs a type");
                Kind::Unknown
            }
        };
        let rule = kind.rule();
        if let Some(need) = missing[kind as usize] {
            let why = format!("absent from the file, but {} rows need it", type_text.unwrap_or_default());
            c.fault(i, plan.spelled(need), why);
        }
        let billed = match num(&unblended, i) {
            Some(v) => v,
            None => {
                if !c.is_faulty(i) {
                    c.fault(i, plan.spelled(n::UNBLENDED_COST), "empty: BilledCost needs a value");
                }
                0
            }
        };
        for (array, column, what) in [
            (&usage_start, n::USAGE_START, "ChargePeriodStart"),
            (&usage_end, n::USAGE_END, "ChargePeriodEnd"),
            (&period_start, n::BILLING_PERIOD_START, "BillingPeriodStart"),
        ] {
            if array.as_ref().is_some_and(|a| a.is_null(i)) && !c.is_faulty(i) {
                c.fault(i, plan.spelled(column), format!("empty: {what} needs a value"));
            }
        }
        for (array, column, what) in [
            (&payer, n::PAYER_ACCOUNT_ID, "BillingAccountId"),
            (&currency, n::CURRENCY_CODE, "BillingCurrency"),
        ] {
            if at(array, i).is_none() && !c.is_faulty(i) {
                c.fault(i, plan.spelled(column), format!("empty: {what} needs a value"));
            }
        }

        // Product attributes.
        for (slot, column) in attrs.iter_mut().zip(&attr_columns) {
            *slot = column.as_ref().and_then(|col| value(col, i)).map(Cow::Borrowed);
        }
        if !map_keys.is_empty() {
            found.iter_mut().for_each(|f| *f = None);
            if let Err(reason) = product.find(i, &map_keys, &mut found, &mut pairs) {
                c.fault(i, product.map_column().unwrap_or(n::PRODUCT_MAP), reason);
            }
            for (&a, value) in map_attrs.iter().zip(found.iter_mut()) {
                attrs[a] = value.take();
            }
        }

        // Service.
        let code = at(&product_code, i);
        let service = attrs[A_SERVICE]
            .as_deref()
            .or_else(|| code.and_then(name_for_code))
            .or(attrs[A_PRODUCT_NAME].as_deref())
            .or(code);
        match service {
            Some(name) => {
                let (category, subcategory) = category_for_name(name);
                out.service_name.append_value(name);
                out.service_category.append_value(category);
                out.service_subcategory.append_value(subcategory);
            }
            None => {
                if !c.is_faulty(i) {
                    c.fault(
                        i,
                        plan.spelled(n::PRODUCT_CODE),
                        "empty: ServiceName needs a product code or service name",
                    );
                }
                out.service_name.append_null();
                out.service_category.append_null();
                out.service_subcategory.append_null();
            }
        }

        // Charge columns.
        let start = usage_start.as_ref().filter(|a| a.is_valid(i)).map(|a| a.value(i));
        let bp_start = period_start.as_ref().filter(|a| a.is_valid(i)).map(|a| a.value(i));
        let correction = matches!((start, bp_start), (Some(s), Some(b)) if s < b);
        out.charge_class.append_option(correction.then_some("Correction"));
        out.charge_category.append_value(rule.charge_category);
        out.charge_frequency.append_value(rule.charge_frequency);
        let spot = kind == Kind::Usage
            && (at(&pricing_term, i) == Some("Spot")
                || at(&usage_type, i).is_some_and(|u| u.contains("SpotUsage")));
        out.pricing_category.append_option(if spot { Some("Dynamic") } else { rule.pricing_category });

        // Commitment.
        let commitment = match kind {
            Kind::Usage | Kind::Fee => None,
            Kind::DiscountedUsage | Kind::RiFee => ri.map(|a| (a, Commitment::Reservation)),
            Kind::SpCoveredUsage | Kind::SpNegation | Kind::SpUpfrontFee | Kind::SpRecurringFee => {
                sp.map(|a| (a, Commitment::SavingsPlan))
            }
            _ => ri.map(|a| (a, Commitment::Reservation)).or(sp.map(|a| (a, Commitment::SavingsPlan))),
        };
        match commitment {
            Some((arn, k)) => {
                out.cd_id.append_value(arn);
                out.cd_type.append_value(k.discount_type());
                out.cd_category.append_value(k.category());
                out.cd_status.append_option(rule.status);
            }
            None => {
                out.cd_id.append_null();
                out.cd_type.append_null();
                out.cd_category.append_null();
                out.cd_status.append_null();
            }
        }

        // Costs.
        let zero_if_null = |a: &Option<Decimal128Array>| num(a, i).unwrap_or(0);
        let effective = match rule.effective {
            Effective::Billed => billed,
            Effective::Zero => 0,
            Effective::Reservation => zero_if_null(&ri_effective),
            Effective::SavingsPlan => zero_if_null(&sp_effective),
            Effective::UnusedCommitment if kind == Kind::RiFee => {
                zero_if_null(&ri_unused_upfront) + zero_if_null(&ri_unused_recurring)
            }
            Effective::UnusedCommitment => zero_if_null(&sp_total) - zero_if_null(&sp_used),
        };
        let amount = |a: Amount| match a {
            Amount::Billed => billed,
            Amount::Zero => 0,
            Amount::PublicOnDemand => num(&public_cost, i).unwrap_or(billed),
        };
        let list = amount(rule.list);
        let contracted = amount(rule.contracted);
        out.effective.append_value(effective);
        out.list.append_value(list);
        out.contracted.append_value(contracted);

        // Quantities and units.
        let usage = num(&usage_amount, i);
        let (priced, consumed) = match rule.quantities {
            Quantities::Consumed => (usage, usage),
            Quantities::Priced => (usage, None),
            Quantities::Zero => (Some(0), Some(0)),
            Quantities::None => (None, None),
        };
        let unit = priced.map(|_| {
            at(&pricing_unit, i).and_then(|u| units.get(u).and_then(|v| v.as_deref())).unwrap_or(match kind {
                Kind::RiFee | Kind::SpRecurringFee | Kind::DiscountedUsage => "Hours",
                _ => "Units",
            })
        });
        out.pricing_quantity.append_option(priced);
        out.pricing_unit.append_option(unit);
        out.consumed_quantity.append_option(consumed);
        out.consumed_unit.append_option(consumed.and(unit));
        // A negative unblended rate (a negation) prices nothing; the public rate stands in for it.
        let contracted_rate = match rule.contracted {
            Amount::PublicOnDemand => num(&public_rate, i),
            _ => num(&unblended_rate, i).filter(|r| *r >= 0).or(num(&public_rate, i)),
        };
        out.list_unit_price.append_option(priced.and_then(|q| unit_price(num(&public_rate, i), q, list)));
        out.contracted_unit_price
            .append_option(priced.and_then(|q| unit_price(contracted_rate, q, contracted)));

        // CommitmentDiscountQuantity / Unit (usage and purchase rows that name their commitment).
        let cd_quantity = match (commitment, rule.charge_category) {
            (Some((_, Commitment::SavingsPlan)), "Purchase") => Some(billed),
            (Some((_, Commitment::SavingsPlan)), "Usage") => Some(effective),
            (Some((_, Commitment::Reservation)), "Purchase") => num(&ri_total_units, i).or(usage),
            (Some((_, Commitment::Reservation)), "Usage") if rule.status == Some("Unused") => {
                num(&ri_unused_quantity, i)
            }
            (Some((_, Commitment::Reservation)), "Usage") => usage,
            _ => None,
        };
        out.cd_quantity.append_option(cd_quantity);
        out.cd_unit.append_option(cd_quantity.and(commitment).map(|(_, k)| match k {
            Commitment::SavingsPlan => at(&currency, i).unwrap_or_default(),
            Commitment::Reservation => "Hours",
        }));

        // Resource: commitment rows without a resource are about the commitment itself.
        let mut resource = at(&resource_id, i);
        if resource.is_none()
            && let Some((arn, _)) =
                commitment.filter(|_| rule.charge_category == "Purchase" || rule.status == Some("Unused"))
        {
            resource_fallback.push((i, arn));
            resource = Some(arn);
        }
        out.resource_type
            .append_option(resource.and_then(|r| resource_type(r).or(attrs[A_FAMILY].as_deref())));

        // Region.
        let region = attrs[A_REGION_CODE].as_deref().or(attrs[A_REGION].as_deref());
        if let Some(b) = region_ids.as_mut() {
            b.append_option(region);
        }
        out.region_name
            .append_option(region.map(|r| region_name(r).or(attrs[A_LOCATION].as_deref()).unwrap_or(r)));

        // SKU (never on tax); a price id only under a SKU, as FOCUS gives each price one SKU.
        let is_tax = kind == Kind::Tax;
        tax.append(is_tax);
        no_price.append(is_tax || attrs[A_SKU].is_none());
        built.push(&attrs, is_tax);

        // BillingPeriodEnd: the file's, else start + 1 month.
        match period_end
            .as_ref()
            .filter(|a| a.is_valid(i))
            .map(|a| a.value(i))
            .or_else(|| bp_start.and_then(|s| period_end_cache.after(s)))
        {
            Some(end) => out.period_end.append_value(end),
            None => out.period_end.append_null(),
        }

        // Tags and cost categories.
        if fast_tags.is_none() {
            pairs.clear();
            if let Err(reason) = tags.row(i, &mut pairs) {
                c.fault(i, tags.map_column().unwrap_or(n::TAGS_MAP), reason);
            }
            append_tags(&mut out, &pairs, &mut tag_keys);
        }
        if fast_cost_categories.is_none() {
            pairs.clear();
            if let Err(reason) = cost_categories.row(i, &mut pairs) {
                c.fault(i, cost_categories.map_column().unwrap_or(n::COST_CATEGORY_MAP), reason);
            }
            if pairs.is_empty() {
                out.cost_categories.append_null();
            } else {
                out.cost_categories
                    .append(pairs.iter().map(|(k, v)| (normalize_cost_category_key(k), Some(v.as_ref()))));
            }
        }
    }

    let mut columns = out.finish(fast_tags, fast_cost_categories);
    let mut pass = |name: &'static str, array: Option<ArrayRef>| {
        if let Some(a) = array {
            columns.push((name, a));
        }
    };
    let arc = |a: Option<StringArray>| a.map(|a| Arc::new(a) as ArrayRef);
    let tax = tax.finish();
    let no_price = no_price.finish();

    // Columns derived from one source column reuse it, changing at most its nulls.
    let (instance_type, family, sku) = built.finish();
    pass(lake::X_INSTANCE_TYPE, instance_type.or_else(|| arc(attr_columns[A_INSTANCE_TYPE].clone())));
    pass(lake::X_PRODUCT_FAMILY, family.or_else(|| arc(attr_columns[A_FAMILY].clone())));
    pass(lake::SKU_ID, sku.or_else(|| attr_columns[A_SKU].as_ref().map(|a| without(a, &tax))));
    pass(lake::SKU_PRICE_ID, rate_code.as_ref().map(|a| without(a, &no_price)));
    pass(
        lake::REGION_ID,
        region_ids
            .map(|mut b| Arc::new(b.finish()) as ArrayRef)
            .or_else(|| arc(attr_columns[A_REGION_CODE].clone())),
    );
    pass(lake::RESOURCE_ID, Some(with_rows(resource_id.as_ref(), rows, &resource_fallback)));
    pass(
        lake::CHARGE_DESCRIPTION,
        Some(coalesce(description.as_ref(), rows, |i| at(&usage_type, i).or(at(&line_type, i)))),
    );
    pass(lake::PUBLISHER_NAME, Some(coalesce(legal_entity.as_ref(), rows, |_| Some(AWS_ENTITY))));
    pass(lake::INVOICE_ISSUER_NAME, Some(invoice_issuers(invoicing_entity.as_ref(), rows)));

    pass(lake::BILLED_COST, unblended.map(|a| Arc::new(a) as ArrayRef));
    pass(lake::CHARGE_PERIOD_START, usage_start.map(|a| Arc::new(a) as ArrayRef));
    pass(lake::CHARGE_PERIOD_END, usage_end.map(|a| Arc::new(a) as ArrayRef));
    pass(lake::BILLING_PERIOD_START, period_start.map(|a| Arc::new(a) as ArrayRef));
    pass(lake::BILLING_ACCOUNT_ID, arc(payer.clone()));
    pass(lake::X_PAYER_ACCOUNT_ID, arc(payer));
    pass(lake::BILLING_CURRENCY, arc(currency));
    pass(lake::X_PRODUCT_CODE, arc(product_code));
    pass(lake::X_USAGE_TYPE, arc(usage_type));
    pass(lake::X_LINE_ITEM_TYPE, arc(line_type));
    for (lake_name, cur2) in [
        (lake::BILLING_ACCOUNT_NAME, n::PAYER_ACCOUNT_NAME),
        (lake::SUB_ACCOUNT_ID, n::USAGE_ACCOUNT_ID),
        (lake::SUB_ACCOUNT_NAME, n::USAGE_ACCOUNT_NAME),
        (lake::AVAILABILITY_ZONE, n::AVAILABILITY_ZONE),
        (lake::INVOICE_ID, n::INVOICE_ID),
        (lake::X_OPERATION, n::OPERATION),
    ] {
        pass(lake_name, arc(text(&mut c, cur2)));
    }
    for (cur2, _, lake_name) in n::SPLIT {
        let array = if *lake_name == lake::X_SPLIT_PARENT_RESOURCE_ID {
            arc(text(&mut c, cur2))
        } else {
            money(&mut c, cur2).map(|a| Arc::new(a) as ArrayRef)
        };
        pass(lake_name, array);
    }
    for name in [lake::PROVIDER_NAME, lake::SERVICE_PROVIDER_NAME, lake::HOST_PROVIDER_NAME] {
        columns.push((name, constant_string("AWS", rows)));
    }
    columns.push((lake::X_SOURCE_FORMAT, constant_string(plan.flavour.format(), rows)));
    c.finish(&plan.path, columns, strict)
}

/// Product attribute columns built row by row when they come from the `product` map (a `product_*`
/// column is reused as it is instead).
struct Built {
    instance_type: Option<StringBuilder>,
    family: Option<StringBuilder>,
    sku: Option<StringBuilder>,
}

impl Built {
    fn new(rows: usize, instance_type: bool, family: bool, sku: bool) -> Self {
        let b = |on: bool| on.then(|| StringBuilder::with_capacity(rows, rows * 16));
        Self { instance_type: b(instance_type), family: b(family), sku: b(sku) }
    }

    fn push(&mut self, attrs: &[Option<Cow<str>>], is_tax: bool) {
        if let Some(b) = self.instance_type.as_mut() {
            b.append_option(attrs[A_INSTANCE_TYPE].as_deref());
        }
        if let Some(b) = self.family.as_mut() {
            b.append_option(attrs[A_FAMILY].as_deref());
        }
        if let Some(b) = self.sku.as_mut() {
            b.append_option(attrs[A_SKU].as_deref().filter(|_| !is_tax));
        }
    }

    fn finish(self) -> (Option<ArrayRef>, Option<ArrayRef>, Option<ArrayRef>) {
        let f = |b: Option<StringBuilder>| b.map(|mut b| Arc::new(b.finish()) as ArrayRef);
        (f(self.instance_type), f(self.family), f(self.sku))
    }
}

/// `array` with nulls where `drop` is set; the values are shared, not copied.
fn without(array: &StringArray, drop: &BooleanBuffer) -> ArrayRef {
    let keep = NullBuffer::new(!drop);
    let nulls = NullBuffer::union(array.nulls(), Some(&keep));
    let (offsets, values, _) = array.clone().into_parts();
    Arc::new(StringArray::new(offsets, values, nulls))
}

/// `primary`, with `extra` values filling some of its null rows (given in row order); the primary
/// array itself when there are none.
fn with_rows(primary: Option<&StringArray>, rows: usize, extra: &[(usize, &str)]) -> ArrayRef {
    if extra.is_empty() {
        return match primary {
            Some(a) => Arc::new(a.clone()),
            None => Arc::new(StringArray::new_null(rows)),
        };
    }
    let mut b =
        StringBuilder::with_capacity(rows, primary.map_or(0, |a| a.value_data().len()) + extra.len() * 64);
    let mut next = extra.iter().peekable();
    for i in 0..rows {
        match next.peek() {
            Some((row, v)) if *row == i => {
                b.append_value(v);
                next.next();
            }
            _ => b.append_option(primary.and_then(|a| value(a, i))),
        }
    }
    Arc::new(b.finish())
}

/// `primary` where it has a value, else `fallback(row)`; the primary array itself when it has no
/// nulls.
fn coalesce<'a>(
    primary: Option<&'a StringArray>,
    rows: usize,
    fallback: impl Fn(usize) -> Option<&'a str>,
) -> ArrayRef {
    if let Some(a) = primary
        && a.null_count() == 0
    {
        return Arc::new(a.clone());
    }
    let mut b = StringBuilder::with_capacity(rows, rows * 24);
    for i in 0..rows {
        b.append_option(primary.and_then(|a| value(a, i)).or_else(|| fallback(i)));
    }
    Arc::new(b.finish())
}

/// InvoiceIssuerName for every row: one constant column in the usual case of a bill from AWS.
fn invoice_issuers(entities: Option<&StringArray>, rows: usize) -> ArrayRef {
    let Some(entities) = entities else { return constant_string("AWS", rows) };
    if (0..rows).all(|i| invoice_issuer(value(entities, i)) == "AWS") {
        return constant_string("AWS", rows);
    }
    Arc::new((0..rows).map(|i| Some(invoice_issuer(value(entities, i)))).collect::<StringArray>())
}

/// Tags and x_RawTags from a map whose entries are all usable (see `KeyValues::plain_map`): the
/// raw map is x_RawTags as it is, Tags is the same map with normalised keys. Rows without tags are
/// null in both. `None` when two keys of a row normalise alike (the row-by-row path handles it).
fn tag_columns_from_map(map: &MapArray) -> Option<(ArrayRef, ArrayRef)> {
    let keys = map.keys().as_string::<i32>();
    let offsets = map.value_offsets();
    let mut normalised = StringBuilder::with_capacity(keys.len(), keys.value_data().len());
    for i in 0..map.len() {
        let (from, to) = (offsets[i] as usize, offsets[i + 1] as usize);
        for j in from..to {
            let key = normalize_tag_key(keys.value(j));
            let row_keys = &normalised.offsets_slice()[from..];
            let values = normalised.values_slice();
            let clash = row_keys.windows(2).any(|w| values[w[0] as usize..w[1] as usize] == *key.as_bytes());
            if clash {
                return None;
            }
            normalised.append_value(key);
        }
    }
    let raw = relabel(map, None)?;
    let tags = relabel(map, Some(Arc::new(normalised.finish())))?;
    Some((tags, raw))
}

/// x_CostCategories from a map whose entries are all usable: the map as it is, with rows without
/// categories null.
fn cost_categories_from_map(map: &MapArray) -> Option<ArrayRef> {
    let keys = map.keys().as_string::<i32>();
    let plain =
        (0..keys.len()).all(|j| normalize_cost_category_key(keys.value(j)).len() == keys.value(j).len());
    if plain { relabel(map, None) } else { None }
}

/// `map` with the lake's map type (its field names), optionally new keys, and rows without entries
/// made null; values and offsets are shared, not copied.
fn relabel(map: &MapArray, keys: Option<ArrayRef>) -> Option<ArrayRef> {
    let DataType::Map(entries_field, _) = tags_type() else { return None };
    let DataType::Struct(fields) = entries_field.data_type() else { return None };
    let keys = keys.unwrap_or_else(|| map.keys().clone());
    let values = map.values().clone();
    if keys.data_type() != &DataType::Utf8 || values.data_type() != &DataType::Utf8 {
        return None;
    }
    let entries = StructArray::try_new(fields.clone(), vec![keys, values], None).ok()?;
    let offsets = map.value_offsets();
    let present: BooleanBuffer =
        (0..map.len()).map(|i| map.is_valid(i) && offsets[i + 1] > offsets[i]).collect();
    let relabelled = MapArray::try_new(
        entries_field,
        map.offsets().clone(),
        entries,
        Some(NullBuffer::new(present)),
        false,
    );
    relabelled.ok().map(|m| Arc::new(m) as ArrayRef)
}

/// The output columns built row by row.
struct Outputs {
    charge_category: StringBuilder,
    charge_class: StringBuilder,
    charge_frequency: StringBuilder,
    pricing_category: StringBuilder,
    cd_id: StringBuilder,
    cd_type: StringBuilder,
    cd_category: StringBuilder,
    cd_status: StringBuilder,
    cd_quantity: Decimal128Builder,
    cd_unit: StringBuilder,
    effective: Decimal128Builder,
    list: Decimal128Builder,
    contracted: Decimal128Builder,
    list_unit_price: Decimal128Builder,
    contracted_unit_price: Decimal128Builder,
    pricing_quantity: Decimal128Builder,
    pricing_unit: StringBuilder,
    consumed_quantity: Decimal128Builder,
    consumed_unit: StringBuilder,
    service_name: StringBuilder,
    service_category: StringBuilder,
    service_subcategory: StringBuilder,
    resource_type: StringBuilder,
    region_name: StringBuilder,
    period_end: TimestampMicrosecondBuilder,
    tags: KeyValueBuilder,
    raw_tags: KeyValueBuilder,
    cost_categories: KeyValueBuilder,
}

impl Outputs {
    fn new(rows: usize) -> Self {
        let s = |bytes: usize| StringBuilder::with_capacity(rows, rows * bytes);
        let d = || Decimal128Builder::with_capacity(rows);
        Self {
            charge_category: s(8),
            charge_class: s(1),
            charge_frequency: s(11),
            pricing_category: s(9),
            cd_id: s(16),
            cd_type: s(8),
            cd_category: s(4),
            cd_status: s(4),
            cd_quantity: d(),
            cd_unit: s(2),
            effective: d(),
            list: d(),
            contracted: d(),
            list_unit_price: d(),
            contracted_unit_price: d(),
            pricing_quantity: d(),
            pricing_unit: s(8),
            consumed_quantity: d(),
            consumed_unit: s(8),
            service_name: s(32),
            service_category: s(12),
            service_subcategory: s(18),
            resource_type: s(10),
            region_name: s(24),
            period_end: TimestampMicrosecondBuilder::with_capacity(rows),
            tags: KeyValueBuilder::new(),
            raw_tags: KeyValueBuilder::new(),
            cost_categories: KeyValueBuilder::new(),
        }
    }

    fn finish(
        mut self,
        fast_tags: Option<(ArrayRef, ArrayRef)>,
        fast_cost_categories: Option<ArrayRef>,
    ) -> Vec<(&'static str, ArrayRef)> {
        let s = |b: &mut StringBuilder| Arc::new(b.finish()) as ArrayRef;
        let d = |b: &mut Decimal128Builder| -> ArrayRef { Arc::new(b.finish().with_data_type(money_type())) };
        let (tags, raw_tags) = fast_tags.unwrap_or_else(|| (self.tags.finish(), self.raw_tags.finish()));
        let cost_categories = fast_cost_categories.unwrap_or_else(|| self.cost_categories.finish());
        vec![
            (lake::CHARGE_CATEGORY, s(&mut self.charge_category)),
            (lake::CHARGE_CLASS, s(&mut self.charge_class)),
            (lake::CHARGE_FREQUENCY, s(&mut self.charge_frequency)),
            (lake::PRICING_CATEGORY, s(&mut self.pricing_category)),
            (lake::COMMITMENT_DISCOUNT_ID, s(&mut self.cd_id)),
            (lake::COMMITMENT_DISCOUNT_TYPE, s(&mut self.cd_type)),
            (lake::COMMITMENT_DISCOUNT_CATEGORY, s(&mut self.cd_category)),
            (lake::COMMITMENT_DISCOUNT_STATUS, s(&mut self.cd_status)),
            (lake::COMMITMENT_DISCOUNT_QUANTITY, d(&mut self.cd_quantity)),
            (lake::COMMITMENT_DISCOUNT_UNIT, s(&mut self.cd_unit)),
            (lake::EFFECTIVE_COST, d(&mut self.effective)),
            (lake::LIST_COST, d(&mut self.list)),
            (lake::CONTRACTED_COST, d(&mut self.contracted)),
            (lake::LIST_UNIT_PRICE, d(&mut self.list_unit_price)),
            (lake::CONTRACTED_UNIT_PRICE, d(&mut self.contracted_unit_price)),
            (lake::PRICING_QUANTITY, d(&mut self.pricing_quantity)),
            (lake::PRICING_UNIT, s(&mut self.pricing_unit)),
            (lake::CONSUMED_QUANTITY, d(&mut self.consumed_quantity)),
            (lake::CONSUMED_UNIT, s(&mut self.consumed_unit)),
            (lake::SERVICE_NAME, s(&mut self.service_name)),
            (lake::SERVICE_CATEGORY, s(&mut self.service_category)),
            (lake::SERVICE_SUBCATEGORY, s(&mut self.service_subcategory)),
            (lake::RESOURCE_TYPE, s(&mut self.resource_type)),
            (lake::REGION_NAME, s(&mut self.region_name)),
            (lake::BILLING_PERIOD_END, Arc::new(self.period_end.finish().with_timezone("UTC"))),
            (lake::TAGS, tags),
            (lake::X_RAW_TAGS, raw_tags),
            (lake::X_COST_CATEGORIES, cost_categories),
        ]
    }
}

/// Appends one row's tags: normalised keys to Tags (the first of two raw keys that normalise alike
/// wins), raw keys to x_RawTags. A row without tags gets nulls.
fn append_tags<'s>(out: &mut Outputs, pairs: &Pairs<'s>, normalised: &mut Vec<Cow<'s, str>>) {
    if pairs.is_empty() {
        out.tags.append_null();
        out.raw_tags.append_null();
        return;
    }
    normalised.clear();
    normalised.extend(pairs.iter().map(|(k, _)| match k {
        Cow::Borrowed(k) => normalize_tag_key(k),
        Cow::Owned(k) => Cow::Owned(normalize_tag_key(k).into_owned()),
    }));
    out.tags.append(normalised.iter().enumerate().filter_map(|(j, key)| {
        let first = !normalised[..j].iter().any(|earlier| earlier == key);
        first.then(|| (key.as_ref(), Some(pairs[j].1.as_ref())))
    }));
    out.raw_tags.append(pairs.iter().enumerate().filter_map(|(j, (key, value))| {
        let first = !pairs[..j].iter().any(|(earlier, _)| earlier == key);
        first.then(|| (key.as_ref(), Some(value.as_ref())))
    }));
}

/// The unit price that, times `quantity`, gives `cost` as FOCUS requires: the file's rate when it
/// does (within the validator's tolerance), else the cost divided by the quantity. `None` when no
/// non-negative price fits.
fn unit_price(rate: Option<i128>, quantity: i128, cost: i128) -> Option<i128> {
    let fits = |price: i128| {
        let (p, q, c) = (to_f64(price), to_f64(quantity), to_f64(cost));
        (p * q - c).abs() <= 1e-9 * c.abs().max(1.0)
    };
    if let Some(r) = rate.filter(|&r| r >= 0 && fits(r)) {
        return Some(r);
    }
    if quantity == 0 {
        return None;
    }
    let derived = divide(cost, quantity);
    (derived >= 0).then_some(derived)
}

/// `a / b` in units of 10^-15, rounded half away from zero.
fn divide(a: i128, b: i128) -> i128 {
    match a.checked_mul(ONE) {
        Some(scaled) => {
            let (q, r) = (scaled / b, scaled % b);
            if 2 * r.abs() >= b.abs() { q + (scaled.signum() * b.signum()) } else { q }
        }
        None => ((to_f64(a) / to_f64(b)) * ONE as f64).round() as i128,
    }
}

/// The month after a billing period start, remembered for the next row (a file holds one period).
#[derive(Default, Clone, Copy)]
struct PeriodEnd {
    last: Option<(i64, i64)>,
}

impl PeriodEnd {
    fn after(&mut self, start: i64) -> Option<i64> {
        if let Some((s, e)) = self.last
            && s == start
        {
            return Some(e);
        }
        let end =
            DateTime::from_timestamp_micros(start)?.checked_add_months(Months::new(1))?.timestamp_micros();
        self.last = Some((start, end));
        Some(end)
    }
}

/// Row `i` of a text column, or `None` when the column is absent or the cell null or empty.
fn at(array: &Option<StringArray>, i: usize) -> Option<&str> {
    array.as_ref().and_then(|a| value(a, i))
}

/// Row `i` of a text array, or `None` when the cell is null or empty.
fn value(array: &StringArray, i: usize) -> Option<&str> {
    array.is_valid(i).then(|| array.value(i)).filter(|v| !v.is_empty())
}

/// Row `i` of an amount column, or `None` when the column is absent or the cell null.
fn num(array: &Option<Decimal128Array>, i: usize) -> Option<i128> {
    array.as_ref().filter(|a| a.is_valid(i)).map(|a| a.value(i))
}

/// A text column with empty strings turned into nulls (FOCUS has no empty strings); zero-copy.
fn empty_as_null(array: StringArray) -> StringArray {
    let offsets = array.value_offsets();
    let has_empty = (0..array.len()).any(|i| array.is_valid(i) && offsets[i] == offsets[i + 1]);
    if !has_empty {
        return array;
    }
    let mut valid = BooleanBufferBuilder::new(array.len());
    for i in 0..array.len() {
        valid.append(array.is_valid(i) && offsets[i] != offsets[i + 1]);
    }
    let (offsets, values, _) = array.into_parts();
    StringArray::new(offsets, values, Some(NullBuffer::new(valid.finish())))
}

/// Any column as text, or `None` when it cannot be cast.
fn text_array(array: &ArrayRef) -> Option<StringArray> {
    match array.data_type() {
        DataType::Utf8 => Some(array.as_string::<i32>().clone()),
        _ => cast(array, &DataType::Utf8).ok().map(|a| a.as_string::<i32>().clone()).map(empty_as_null),
    }
}

/// A plain decimal (`-0.0416`, `3`) in units of 10^-15, or `None` for anything else (exponents,
/// more than 15 decimals, signs, spaces), which [`parse_decimal`] then reads: rates repeat in every
/// row, so the common spelling gets a quick path.
fn plain_decimal(text: &str) -> Option<i128> {
    let (neg, digits) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        bytes => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 39 {
        return None;
    }
    let (mut value, mut integer, mut decimals): (i128, u32, Option<u32>) = (0, 0, None);
    for &b in digits {
        match (b, decimals.as_mut()) {
            (b'0'..=b'9', d) => {
                value = value * 10 + i128::from(b - b'0');
                match d {
                    Some(d) => *d += 1,
                    None => integer += 1,
                }
            }
            (b'.', None) => decimals = Some(0),
            _ => return None,
        }
    }
    let places = decimals.unwrap_or(0);
    // 38 digits, 15 of them decimals, as the lake stores amounts.
    if places > 15 || integer > 23 || integer + places == 0 {
        return None;
    }
    let value = value * 10i128.pow(15 - places);
    Some(if neg { -value } else { value })
}

/// A rate column as amounts, where a value that is not a number is simply absent: rates only guide
/// unit prices, which are otherwise derived from costs, so they never make a row bad.
fn lenient_decimal(array: &ArrayRef) -> Decimal128Array {
    let parsed = match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => text_array(array).map(|text| {
            text.iter()
                .map(|v| v.and_then(|s| plain_decimal(s).or_else(|| parse_decimal(s).ok())))
                .collect::<Decimal128Array>()
        }),
        _ => cast(array, &money_type()).ok().map(|a| a.as_primitive::<Decimal128Type>().clone()),
    };
    parsed.unwrap_or_else(|| Decimal128Array::new_null(array.len())).with_data_type(money_type())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_prices_multiply_back_to_their_cost() {
        // The rate fits: kept.
        assert_eq!(
            unit_price(Some(41_600_000_000_000), 100 * ONE, 4_160_000_000_000_000),
            Some(41_600_000_000_000)
        );
        // Tiered: the rate does not fit, the average price does.
        assert_eq!(unit_price(Some(23_000_000_000_000), 100 * ONE, 2 * ONE), Some(20_000_000_000_000));
        // Nothing priced, nothing to derive.
        assert_eq!(unit_price(None, 0, 0), None);
        // Negative costs have no unit price.
        assert_eq!(unit_price(None, ONE, -ONE), None);
        assert_eq!(divide(ONE, 3 * ONE), 333_333_333_333_333);
        assert_eq!(divide(2 * ONE, 3 * ONE), 666_666_666_666_667);
    }

    #[test]
    fn plain_decimals_read_like_parse_decimal() {
        for text in
            ["0.0416", "-0.096", "3", "0.0000166667", "123456789012345.123456789012345", "0.", "10.50"]
        {
            assert_eq!(plain_decimal(text), parse_decimal(text).ok(), "{text}");
        }
        for text in ["1e-5", "0.1234567890123456", " 1", "+1", ".", "-", "", "1.2.3", "abc"] {
            assert_eq!(plain_decimal(text), None, "{text}");
        }
    }

    #[test]
    fn amazon_entities_issue_invoices_as_aws() {
        assert_eq!(invoice_issuer(Some("Amazon Web Services EMEA SARL")), "AWS");
        assert_eq!(invoice_issuer(Some("Amazon Internet Services Private Limited")), "AWS");
        assert_eq!(invoice_issuer(Some("AWS Marketplace")), "AWS");
        assert_eq!(invoice_issuer(None), "AWS");
        assert_eq!(invoice_issuer(Some("Example Reseller GmbH")), "Example Reseller GmbH");
    }

    #[test]
    fn kinds_cover_every_line_item_type() {
        for (t, kind) in [
            ("Usage", Kind::Usage),
            ("DiscountedUsage", Kind::DiscountedUsage),
            ("SavingsPlanCoveredUsage", Kind::SpCoveredUsage),
            ("SavingsPlanNegation", Kind::SpNegation),
            ("SavingsPlanUpfrontFee", Kind::SpUpfrontFee),
            ("SavingsPlanRecurringFee", Kind::SpRecurringFee),
            ("RIFee", Kind::RiFee),
            ("Tax", Kind::Tax),
            ("Credit", Kind::Credit),
            ("Refund", Kind::Refund),
            ("EdpDiscount", Kind::Discount),
            ("BundledDiscount", Kind::Discount),
            ("PrivateRateDiscount", Kind::Discount),
            ("SppDiscount", Kind::Discount),
            ("DistributorDiscount", Kind::Discount),
            ("SomethingNew", Kind::Unknown),
        ] {
            assert_eq!(Kind::of(t, false), kind, "{t}");
        }
        assert_eq!(Kind::of("Fee", true), Kind::CommitmentFee);
        assert_eq!(Kind::of("Fee", false), Kind::Fee);
    }
}
