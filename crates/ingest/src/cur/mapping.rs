//! The CUR → FOCUS mapping of one batch: each line item type gets its FOCUS charge columns and its
//! BilledCost, EffectiveCost, ListCost and ContractedCost as docs/mapping.md tabulates them.
//!
//! The work runs over typed Arrow arrays, column by column: text is compared in place, amounts are
//! `i128` units of 10^-15, no row allocates. Columns that pass through unchanged (BilledCost, the
//! periods, account ids, ...) or only gain nulls (SkuId, SkuPriceId) are reused without copying.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Months};
use costpilot_model::money::{parse_decimal, to_f64};
use costpilot_model::{money_type, names as lake, tags_type};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBufferBuilder, Decimal128Array, DictionaryArray, Int32Array, MapArray,
    StringArray, StringBuilder, StructArray, TimestampMicrosecondArray,
};
use datafusion::arrow::buffer::{BooleanBuffer, NullBuffer};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Field, Int32Type};

use super::Plan;
use super::fold::{Changes, Ledger, Unused};
use super::keyvalue::{KeyValues, Pairs, PlainMap};
use super::names as n;
use super::services::{FastMap, category_for_name, focus_unit, name_for_code, region_name, resource_type};
use crate::IngestError;
use crate::convert::{Columns, Finished, KeyValueBuilder, Text, constant_string, empty_as_null};
use crate::raw::RawBatch;
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
    /// A `Refund` nothing on the row attributes to a kind of charge.
    Refund,
    /// A `Refund` of a commitment purchase: it names the commitment or its fee's usage type.
    RefundPurchase,
    /// A `Refund` of tax.
    RefundTax,
    /// A `Refund` of metered usage or of a fee that bought no commitment (filed as `Usage`, as the
    /// fee is).
    RefundUsage,
    /// `EdpDiscount`, `BundledDiscount`, `PrivateRateDiscount`, `SppDiscount`,
    /// `DistributorDiscount` and any other `*Discount`.
    Discount,
    /// A type AWS may add later.
    Unknown,
}

impl Kind {
    /// Every kind, in declaration order (`kind as usize` indexes it).
    const ALL: [Kind; 17] = [
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
        Self::RefundPurchase,
        Self::RefundTax,
        Self::RefundUsage,
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
            Self::SpRecurringFee | Self::RiFee => &RECURRING_PURCHASE,
            Self::Fee => &FEE,
            Self::Tax => &TAX,
            Self::Credit => &CREDIT,
            Self::RefundPurchase => &REFUND_PURCHASE,
            Self::RefundTax => &TAX,
            Self::RefundUsage => &REFUND_USAGE,
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
/// RIFee and SavingsPlanRecurringFee: the period's payment for a commitment. Their unused part
/// becomes a row of its own (see [`Unused`]).
const RECURRING_PURCHASE: Rule = Rule {
    charge_category: "Purchase",
    charge_frequency: "Recurring",
    pricing_category: Some("Standard"),
    status: None,
    effective: Effective::Zero,
    list: Amount::Billed,
    contracted: Amount::Billed,
    quantities: Quantities::Priced,
};
/// A fee that buys no commitment covers no future charge, so its cost must stay in EffectiveCost;
/// the FinOps Foundation's validator requires EffectiveCost 0 on every `Purchase` row, so it is a
/// one-time `Usage` charge.
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
/// A refund of a commitment purchase mirrors the purchase, whose cost reaches EffectiveCost only
/// through the usage it covers.
const REFUND_PURCHASE: Rule = Rule {
    charge_category: "Purchase",
    charge_frequency: "One-Time",
    pricing_category: Some("Standard"),
    status: None,
    effective: Effective::Zero,
    list: Amount::Billed,
    contracted: Amount::Billed,
    quantities: Quantities::None,
};
const REFUND_USAGE: Rule = Rule {
    charge_category: "Usage",
    charge_frequency: "One-Time",
    pricing_category: Some("Standard"),
    status: None,
    effective: Effective::Billed,
    list: Amount::Billed,
    contracted: Amount::Billed,
    quantities: Quantities::None,
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
/// with `strict`, the first one is the error). Recurring commitment fees gain their `Unused` rows
/// and Savings Plan negations fold into the file's `ledger` (see [`super::fold`]).
///
/// The work is column by column: one pass classifies every row (its [`Kind`] and commitment), then
/// each output column is made in a pass of its own from the arrays it needs, enumerations by
/// `take` from per-kind tables, repeated names through a per-batch interner.
pub(crate) fn map_batch(
    plan: &Plan,
    raw: &RawBatch,
    strict: bool,
    ledger: &mut Ledger,
) -> Result<Finished, IngestError> {
    let mut c = Columns::new(raw);
    let rows = c.len();
    let internal = |message: String| IngestError::Internal { path: plan.path.clone(), message };
    let input = Input::read(plan, &mut c);
    let class = classify(plan, &input, &mut c);

    let mut columns: Vec<(&'static str, ArrayRef)> = Vec::with_capacity(96);
    charge_columns(&input, &class, &mut columns).map_err(internal)?;
    let unused = cost_columns(&input, &class, &mut columns).map_err(internal)?;
    product_columns(plan, &input, &class, &mut c, &mut columns).map_err(internal)?;
    key_value_columns(plan, &mut c, &mut columns).map_err(internal)?;

    let arc = |a: &Option<Text>| a.as_ref().map(|a| a.array().clone());
    let mut pass = |name: &'static str, array: Option<ArrayRef>| {
        if let Some(a) = array {
            columns.push((name, a));
        }
    };
    pass(
        lake::CHARGE_DESCRIPTION,
        Some(coalesce(input.description.as_ref(), rows, |i| {
            at(&input.usage_type, i).or(at(&input.line_type, i))
        })),
    );
    pass(lake::PUBLISHER_NAME, Some(coalesce(input.legal_entity.as_ref(), rows, |_| Some(AWS_ENTITY))));
    pass(lake::INVOICE_ISSUER_NAME, Some(invoice_issuers(input.invoicing_entity.as_ref(), rows)));
    pass(lake::BILLING_PERIOD_END, Some(period_ends(&input, rows)));
    pass(lake::BILLED_COST, input.unblended.clone().map(|a| Arc::new(a) as ArrayRef));
    pass(lake::CHARGE_PERIOD_START, input.usage_start.clone().map(|a| Arc::new(a) as ArrayRef));
    pass(lake::CHARGE_PERIOD_END, input.usage_end.clone().map(|a| Arc::new(a) as ArrayRef));
    pass(lake::BILLING_PERIOD_START, input.period_start.clone().map(|a| Arc::new(a) as ArrayRef));
    pass(lake::BILLING_ACCOUNT_ID, arc(&input.payer));
    pass(lake::X_PAYER_ACCOUNT_ID, arc(&input.payer));
    pass(lake::BILLING_CURRENCY, arc(&input.currency));
    pass(lake::X_SERVICE_CODE, arc(&input.product_code));
    pass(lake::X_USAGE_TYPE, arc(&input.usage_type));
    pass(lake::X_LINE_ITEM_TYPE, arc(&input.line_type));
    let text = |c: &mut Columns, name: &str| plan.file_name(name).and_then(|f| c.text(f));
    for (lake_name, cur2) in [
        (lake::BILLING_ACCOUNT_NAME, n::PAYER_ACCOUNT_NAME),
        (lake::SUB_ACCOUNT_ID, n::USAGE_ACCOUNT_ID),
        (lake::SUB_ACCOUNT_NAME, n::USAGE_ACCOUNT_NAME),
        (lake::AVAILABILITY_ZONE, n::AVAILABILITY_ZONE),
        (lake::INVOICE_ID, n::INVOICE_ID),
        (lake::X_OPERATION, n::OPERATION),
    ] {
        pass(lake_name, arc(&text(&mut c, cur2)));
    }
    for (cur2, _, lake_name) in n::SPLIT {
        let array = if *lake_name == lake::X_SPLIT_PARENT_RESOURCE_ID {
            arc(&text(&mut c, cur2))
        } else {
            // Split-cost detail is never added to a cost: a value that is no number is a null.
            plan.file_name(cur2).and_then(|f| c.decimal_or_null(f)).map(|a| Arc::new(a) as ArrayRef)
        };
        pass(lake_name, array);
    }
    for name in [lake::PROVIDER_NAME, lake::SERVICE_PROVIDER_NAME, lake::HOST_PROVIDER_NAME] {
        columns.push((name, constant_string("AWS", rows)));
    }
    columns.push((lake::X_SOURCE_FORMAT, constant_string(plan.flavour.format(), rows)));
    let changes = book(&input, &class, &c, unused, ledger);
    let mut finished = c.finish(&plan.path, columns, strict)?;
    finished.batch = ledger.reshape(finished.batch, &changes).map_err(internal)?;
    Ok(finished)
}

/// The changes a batch needs once its faulty rows are gone, with its covered and negation rows
/// booked in the ledger.
fn book(input: &Input, class: &Class, c: &Columns, unused: Vec<Unused>, ledger: &mut Ledger) -> Changes {
    let mut changes = Changes::default();
    let commitment_rows = |k: u8| k == Kind::SpCoveredUsage as u8 || k == Kind::SpNegation as u8;
    if unused.is_empty() && !class.kinds.iter().any(|&k| commitment_rows(k)) {
        return changes;
    }
    // Row i of the mapped columns is row out[i] of the batch once faulty rows are dropped.
    let mut out: Vec<usize> = Vec::with_capacity(class.kinds.len());
    let mut kept = 0;
    for i in 0..class.kinds.len() {
        out.push(kept);
        kept += usize::from(!c.is_faulty(i));
    }
    changes.unused =
        unused.into_iter().filter(|u| !c.is_faulty(u.row)).map(|u| Unused { row: out[u.row], ..u }).collect();
    let mut key: Vec<u8> = Vec::with_capacity(256);
    for (i, &kind) in class.kinds.iter().enumerate() {
        if !commitment_rows(kind) || c.is_faulty(i) {
            continue;
        }
        key.clear();
        for part in [
            &input.payer,
            &input.usage_account,
            &input.resource_id,
            &input.usage_type,
            &input.operation,
            &input.sp_arn,
        ] {
            key.extend_from_slice(at(part, i).unwrap_or_default().as_bytes());
            key.push(0);
        }
        for time in [&input.usage_start, &input.usage_end] {
            let micros = time.as_ref().filter(|t| t.is_valid(i)).map_or(0, |t| t.value(i));
            key.extend_from_slice(&micros.to_le_bytes());
        }
        ledger.book(&key, num(&input.unblended, i).unwrap_or(0), out[i]);
        if kind == Kind::SpNegation as u8 {
            changes.negations.push(out[i]);
        } else {
            changes.covered.push(out[i]);
        }
    }
    changes
}

/// The source columns of one batch the mapping reads, typed; `None` for those the file lacks.
struct Input {
    line_type: Option<Text>,
    unblended: Option<Decimal128Array>,
    usage_start: Option<TimestampMicrosecondArray>,
    usage_end: Option<TimestampMicrosecondArray>,
    period_start: Option<TimestampMicrosecondArray>,
    period_end: Option<TimestampMicrosecondArray>,
    payer: Option<Text>,
    currency: Option<Text>,
    product_code: Option<Text>,
    usage_amount: Option<Decimal128Array>,
    usage_type: Option<Text>,
    resource_id: Option<Text>,
    description: Option<Text>,
    legal_entity: Option<Text>,
    invoicing_entity: Option<Text>,
    public_cost: Option<Decimal128Array>,
    public_rate: Option<Decimal128Array>,
    unblended_rate: Option<Decimal128Array>,
    pricing_unit: Option<Text>,
    pricing_term: Option<Text>,
    rate_code: Option<Text>,
    bill_type: Option<Text>,
    tax_type: Option<Text>,
    usage_account: Option<Text>,
    operation: Option<Text>,
    sp_arn: Option<Text>,
    sp_effective: Option<Decimal128Array>,
    sp_total: Option<Decimal128Array>,
    sp_used: Option<Decimal128Array>,
    ri_arn: Option<Text>,
    ri_effective: Option<Decimal128Array>,
    ri_unused_upfront: Option<Decimal128Array>,
    ri_unused_recurring: Option<Decimal128Array>,
    ri_unused_quantity: Option<Decimal128Array>,
    ri_total_units: Option<Decimal128Array>,
    /// The `product_*` columns of [`PRODUCT_ATTRS`] the file has.
    attrs: Vec<Option<Text>>,
}

impl Input {
    fn read(plan: &Plan, c: &mut Columns) -> Self {
        let text = |c: &mut Columns, name: &str| plan.file_name(name).and_then(|f| c.text(f));
        let money = |c: &mut Columns, name: &str| plan.file_name(name).and_then(|f| c.decimal(f));
        let time = |c: &mut Columns, name: &str| plan.file_name(name).and_then(|f| c.timestamp(f));
        let lenient =
            |c: &Columns, name: &str| plan.file_name(name).and_then(|f| c.get(f)).map(lenient_decimal);
        let mut input = Self {
            line_type: text(c, n::LINE_ITEM_TYPE),
            unblended: money(c, n::UNBLENDED_COST),
            usage_start: time(c, n::USAGE_START),
            usage_end: time(c, n::USAGE_END),
            period_start: time(c, n::BILLING_PERIOD_START),
            period_end: time(c, n::BILLING_PERIOD_END),
            payer: text(c, n::PAYER_ACCOUNT_ID),
            currency: text(c, n::CURRENCY_CODE),
            product_code: text(c, n::PRODUCT_CODE),
            usage_amount: money(c, n::USAGE_AMOUNT),
            usage_type: text(c, n::USAGE_TYPE),
            resource_id: text(c, n::RESOURCE_ID),
            description: text(c, n::DESCRIPTION),
            legal_entity: text(c, n::LEGAL_ENTITY),
            invoicing_entity: text(c, n::INVOICING_ENTITY),
            public_cost: money(c, n::PUBLIC_ON_DEMAND_COST),
            public_rate: lenient(c, n::PUBLIC_ON_DEMAND_RATE),
            unblended_rate: lenient(c, n::UNBLENDED_RATE),
            pricing_unit: text(c, n::PRICING_UNIT),
            pricing_term: text(c, n::PRICING_TERM),
            rate_code: text(c, n::RATE_CODE),
            bill_type: text(c, n::BILL_TYPE),
            tax_type: text(c, n::TAX_TYPE),
            usage_account: text(c, n::USAGE_ACCOUNT_ID),
            operation: text(c, n::OPERATION),
            sp_arn: text(c, n::SP_ARN),
            sp_effective: money(c, n::SP_EFFECTIVE_COST),
            sp_total: money(c, n::SP_TOTAL_COMMITMENT),
            sp_used: money(c, n::SP_USED_COMMITMENT),
            ri_arn: text(c, n::RI_ARN),
            ri_effective: money(c, n::RI_EFFECTIVE_COST),
            ri_unused_upfront: money(c, n::RI_UNUSED_UPFRONT),
            ri_unused_recurring: money(c, n::RI_UNUSED_RECURRING),
            // Only CommitmentDiscountQuantity needs these: a value that is no number is a null.
            ri_unused_quantity: plan.file_name(n::RI_UNUSED_QUANTITY).and_then(|f| c.decimal_or_null(f)),
            ri_total_units: plan.file_name(n::RI_TOTAL_RESERVED_UNITS).and_then(|f| c.decimal_or_null(f)),
            attrs: PRODUCT_ATTRS.iter().map(|(col, _)| text(c, col)).collect(),
        };
        // AWS writes a negotiated discount either as lines of its own (`EdpDiscount`, ...: legacy
        // CUR, and Data Exports with "manual discount compatibility") or inside the rows it
        // discounts, in `discount_total_discount` and the `net_*` columns (Data Exports without
        // it, which then have no discount lines and no such column otherwise). The column tells
        // which, so a discount is counted exactly once: inside the rows, every cost derived from
        // the unblended cost is net of it, and the net effective and unused amounts stand in for
        // the gross ones where the file has them.
        if plan.flavour == super::Flavour::Cur2
            && let Some(discount) = money(c, n::TOTAL_DISCOUNT)
        {
            input.unblended = input.unblended.map(|u| with_discount(&u, &discount));
            let net = |c: &mut Columns, name: &str, gross: Option<Decimal128Array>| money(c, name).or(gross);
            input.ri_effective = net(c, n::RI_NET_EFFECTIVE_COST, input.ri_effective.take());
            input.sp_effective = net(c, n::SP_NET_EFFECTIVE_COST, input.sp_effective.take());
            input.ri_unused_upfront = net(c, n::RI_NET_UNUSED_UPFRONT, input.ri_unused_upfront.take());
            input.ri_unused_recurring = net(c, n::RI_NET_UNUSED_RECURRING, input.ri_unused_recurring.take());
            input.unblended_rate = lenient(c, n::NET_UNBLENDED_RATE).or(input.unblended_rate.take());
        }
        input
    }
}

/// Unblended costs with each row's discount (a negative amount; none is 0) added.
fn with_discount(unblended: &Decimal128Array, discount: &Decimal128Array) -> Decimal128Array {
    let values: Vec<i128> = unblended
        .values()
        .iter()
        .zip(discount.iter())
        .map(|(u, d)| u.saturating_add(d.unwrap_or(0)))
        .collect();
    Decimal128Array::new(values.into(), unblended.nulls().cloned()).with_data_type(money_type())
}

/// What every row of a batch is.
struct Class {
    /// The row's kind (`Kind as u8`).
    kinds: Vec<u8>,
    /// The commitment the row names: 0 none, 1 a reservation, 2 a Savings Plan.
    commitments: Vec<u8>,
    /// 1 for Spot usage.
    spot: Vec<u8>,
}

const NO_COMMITMENT: u8 = 0;
const RESERVATION: u8 = 1;
const SAVINGS_PLAN: u8 = 2;

/// Classifies every row and records the faults that make a row unmappable.
fn classify(plan: &Plan, input: &Input, c: &mut Columns) -> Class {
    let rows = c.len();
    let missing: Vec<Option<&str>> = Kind::ALL
        .iter()
        .map(|k| k.needs().iter().copied().find(|need| plan.file_name(need).is_none()))
        .collect();
    let mut kinds = Vec::with_capacity(rows);
    let mut commitments = Vec::with_capacity(rows);
    let mut spot = Vec::with_capacity(rows);
    for i in 0..rows {
        let ri = at(&input.ri_arn, i).is_some();
        let sp = at(&input.sp_arn, i).is_some();
        let type_text = at(&input.line_type, i);
        let kind = match type_text {
            Some(t) => Kind::of(t, ri || sp),
            None => {
                c.fault(i, plan.spelled(n::LINE_ITEM_TYPE), "empty: every line item needs a type");
                Kind::Unknown
            }
        };
        let kind = if kind == Kind::Refund { refunded(input, i, ri || sp) } else { kind };
        if let Some(need) = missing[kind as usize] {
            let why = format!("absent from the file, but {} rows need it", type_text.unwrap_or_default());
            c.fault(i, plan.spelled(need), why);
        }
        let commitment = match kind {
            Kind::Usage | Kind::Fee => NO_COMMITMENT,
            Kind::DiscountedUsage | Kind::RiFee if ri => RESERVATION,
            Kind::SpCoveredUsage | Kind::SpNegation | Kind::SpUpfrontFee | Kind::SpRecurringFee if sp => {
                SAVINGS_PLAN
            }
            Kind::DiscountedUsage
            | Kind::RiFee
            | Kind::SpCoveredUsage
            | Kind::SpNegation
            | Kind::SpUpfrontFee => NO_COMMITMENT,
            Kind::SpRecurringFee => NO_COMMITMENT,
            _ if ri => RESERVATION,
            _ if sp => SAVINGS_PLAN,
            _ => NO_COMMITMENT,
        };
        let is_spot = kind == Kind::Usage
            && (at(&input.pricing_term, i) == Some("Spot")
                || at(&input.usage_type, i).is_some_and(|u| u.contains("SpotUsage")));
        kinds.push(kind as u8);
        commitments.push(commitment);
        spot.push(u8::from(is_spot));
    }
    // Values FOCUS cannot do without.
    let required: [(Option<&dyn Array>, &str, &str); 6] = [
        (input.unblended.as_ref().map(|a| a as &dyn Array), n::UNBLENDED_COST, "BilledCost"),
        (input.usage_start.as_ref().map(|a| a as &dyn Array), n::USAGE_START, "ChargePeriodStart"),
        (input.usage_end.as_ref().map(|a| a as &dyn Array), n::USAGE_END, "ChargePeriodEnd"),
        (input.period_start.as_ref().map(|a| a as &dyn Array), n::BILLING_PERIOD_START, "BillingPeriodStart"),
        (input.payer.as_ref().map(|a| a.array().as_ref()), n::PAYER_ACCOUNT_ID, "BillingAccountId"),
        (input.currency.as_ref().map(|a| a.array().as_ref()), n::CURRENCY_CODE, "BillingCurrency"),
    ];
    for (array, column, what) in required {
        let Some(array) = array.filter(|a| a.null_count() > 0) else { continue };
        for i in (0..rows).filter(|&i| array.is_null(i)) {
            if !c.is_faulty(i) {
                c.fault(i, plan.spelled(column), format!("empty: {what} needs a value"));
            }
        }
    }
    Class { kinds, commitments, spot }
}

/// What a `Refund` line refunds, as far as the row says: FOCUS 1.2 files a refund under the
/// category of the charge it returns (ChargeCategory: "... including refunds").
fn refunded(input: &Input, i: usize, has_commitment_arn: bool) -> Kind {
    let usage_type = at(&input.usage_type, i);
    // RI fees are `HeavyUsage` usage types; Savings Plan fees `ComputeSP:1yrNoUpfront` and the like.
    let commitment_fee = usage_type.is_some_and(|u| {
        u.contains("HeavyUsage") || u.split_once(':').is_some_and(|(plan, _)| plan.ends_with("SP"))
    });
    if has_commitment_arn || commitment_fee {
        Kind::RefundPurchase
    } else if at(&input.tax_type, i).is_some() || usage_type == Some("Tax") {
        Kind::RefundTax
    } else if usage_type.is_some() || at(&input.bill_type, i) == Some("Purchase") {
        Kind::RefundUsage
    } else {
        Kind::Refund
    }
}

/// The column whose row `i` is `table[indices[i]]`, as a dictionary of the table's values.
fn pick(table: &[Option<&str>], indices: Vec<u8>) -> Result<ArrayRef, String> {
    if let Some(k) = indices.iter().find(|&&k| usize::from(k) >= table.len()) {
        return Err(format!("index {k} beyond a table of {} values", table.len()));
    }
    let values = StringArray::from_iter_values(table.iter().map(|v| v.unwrap_or_default()));
    let valid = BooleanBuffer::collect_bool(indices.len(), |i| table[usize::from(indices[i])].is_some());
    let nulls = Some(NullBuffer::new(valid)).filter(|n| n.null_count() > 0);
    let keys = Int32Array::new(indices.iter().map(|&k| i32::from(k)).collect(), nulls);
    Ok(Arc::new(DictionaryArray::new(keys, Arc::new(values))))
}

/// ChargeCategory, ChargeClass, ChargeFrequency, PricingCategory and the commitment columns.
fn charge_columns(
    input: &Input,
    class: &Class,
    columns: &mut Vec<(&'static str, ArrayRef)>,
) -> Result<(), String> {
    let rows = class.kinds.len();
    let rules: Vec<&Rule> = Kind::ALL.iter().map(|k| k.rule()).collect();
    let by_kind = |f: &dyn Fn(&Rule) -> Option<&'static str>| -> Vec<Option<&'static str>> {
        rules.iter().map(|r| f(r)).collect()
    };
    columns.push((lake::CHARGE_CATEGORY, pick(&by_kind(&|r| Some(r.charge_category)), class.kinds.clone())?));
    columns
        .push((lake::CHARGE_FREQUENCY, pick(&by_kind(&|r| Some(r.charge_frequency)), class.kinds.clone())?));
    let pricing: Vec<Option<&str>> =
        rules.iter().flat_map(|r| [r.pricing_category, Some("Dynamic")]).collect();
    let pricing_index = class.kinds.iter().zip(&class.spot).map(|(k, s)| k * 2 + s).collect();
    columns.push((lake::PRICING_CATEGORY, pick(&pricing, pricing_index)?));
    let status: Vec<Option<&str>> = rules.iter().flat_map(|r| [None, r.status, r.status]).collect();
    let status_index = class.kinds.iter().zip(&class.commitments).map(|(k, c)| k * 3 + c).collect();
    columns.push((lake::COMMITMENT_DISCOUNT_STATUS, pick(&status, status_index)?));
    let types =
        [None, Some(Commitment::Reservation.discount_type()), Some(Commitment::SavingsPlan.discount_type())];
    columns.push((lake::COMMITMENT_DISCOUNT_TYPE, pick(&types, class.commitments.clone())?));
    let categories =
        [None, Some(Commitment::Reservation.category()), Some(Commitment::SavingsPlan.category())];
    columns.push((lake::COMMITMENT_DISCOUNT_CATEGORY, pick(&categories, class.commitments.clone())?));

    // ChargeClass: a refund returns money of an invoice already issued, and a charge period that
    // starts before the billing period corrects an invoiced one.
    let refund = |k: u8| {
        matches!(
            Kind::ALL[usize::from(k)],
            Kind::Refund | Kind::RefundPurchase | Kind::RefundTax | Kind::RefundUsage
        )
    };
    let corrections: Vec<u8> = match (&input.usage_start, &input.period_start) {
        (Some(start), Some(period)) => (0..rows)
            .map(|i| {
                let early = start.is_valid(i) && period.is_valid(i) && start.value(i) < period.value(i);
                u8::from(early || refund(class.kinds[i]))
            })
            .collect(),
        _ => class.kinds.iter().map(|&k| u8::from(refund(k))).collect(),
    };
    columns.push((lake::CHARGE_CLASS, pick(&[None, Some("Correction")], corrections)?));

    let mut ids = StringBuilder::with_capacity(rows, rows * 8);
    for (i, commitment) in class.commitments.iter().enumerate() {
        ids.append_option(match *commitment {
            RESERVATION => at(&input.ri_arn, i),
            SAVINGS_PLAN => at(&input.sp_arn, i),
            _ => None,
        });
    }
    columns.push((lake::COMMITMENT_DISCOUNT_ID, Arc::new(ids.finish())));
    Ok(())
}

/// An amount column under construction.
struct Amounts {
    values: Vec<i128>,
    valid: BooleanBufferBuilder,
}

impl Amounts {
    fn new(rows: usize) -> Self {
        Self { values: Vec::with_capacity(rows), valid: BooleanBufferBuilder::new(rows) }
    }
    fn push(&mut self, v: Option<i128>) {
        self.values.push(v.unwrap_or(0));
        self.valid.append(v.is_some());
    }
    fn finish(mut self) -> ArrayRef {
        let nulls = NullBuffer::new(self.valid.finish());
        let nulls = (nulls.null_count() > 0).then_some(nulls);
        Arc::new(Decimal128Array::new(self.values.into(), nulls).with_data_type(money_type()))
    }
}

/// EffectiveCost, ListCost, ContractedCost, the quantities with their units and unit prices, and
/// CommitmentDiscountQuantity / Unit.
fn cost_columns(
    input: &Input,
    class: &Class,
    columns: &mut Vec<(&'static str, ArrayRef)>,
) -> Result<Vec<Unused>, String> {
    let rows = class.kinds.len();
    let mut unused: Vec<Unused> = Vec::new();
    let mut effective = Amounts::new(rows);
    let mut list = Amounts::new(rows);
    let mut contracted = Amounts::new(rows);
    let mut priced = Amounts::new(rows);
    let mut consumed = Amounts::new(rows);
    let mut list_price = Amounts::new(rows);
    let mut contracted_price = Amounts::new(rows);
    let mut cd_quantity = Amounts::new(rows);
    // Units repeat a handful of names: each row gets a code into a table of them.
    let mut unit_names = Interner::new();
    let mut cd_unit: Vec<Option<u32>> = Vec::with_capacity(rows);
    let mut unit: Vec<Option<u32>> = Vec::with_capacity(rows);
    let mut units: FastMap<&str, Option<Cow<str>>> = FastMap::default();
    for i in 0..rows {
        let kind = Kind::ALL[class.kinds[i] as usize];
        let rule = kind.rule();
        let billed = num(&input.unblended, i).unwrap_or(0);
        let zero_if_null = |a: &Option<Decimal128Array>| num(a, i).unwrap_or(0);
        let e = match rule.effective {
            Effective::Billed => billed,
            Effective::Zero => 0,
            Effective::Reservation => zero_if_null(&input.ri_effective),
            Effective::SavingsPlan => zero_if_null(&input.sp_effective),
        };
        // The commitment's unused part of the period, with its quantity in CommitmentDiscountUnit.
        let unused_part = match (kind, class.commitments[i]) {
            (Kind::RiFee, RESERVATION) => {
                let amount =
                    zero_if_null(&input.ri_unused_upfront) + zero_if_null(&input.ri_unused_recurring);
                Some((amount, zero_if_null(&input.ri_unused_quantity)))
            }
            (Kind::SpRecurringFee, SAVINGS_PLAN) => {
                let amount = zero_if_null(&input.sp_total) - zero_if_null(&input.sp_used);
                Some((amount, amount))
            }
            _ => None,
        };
        if let Some((amount, quantity)) = unused_part.filter(|(amount, _)| *amount != 0) {
            unused.push(Unused { row: i, amount, quantity });
        }
        let amount = |a: Amount| match a {
            Amount::Billed => billed,
            Amount::Zero => 0,
            Amount::PublicOnDemand => num(&input.public_cost, i).unwrap_or(billed),
        };
        let (l, k) = (amount(rule.list), amount(rule.contracted));
        effective.push(Some(e));
        list.push(Some(l));
        contracted.push(Some(k));

        let usage = num(&input.usage_amount, i);
        let (p, q) = match rule.quantities {
            Quantities::Consumed => (usage, usage),
            Quantities::Priced => (usage, None),
            Quantities::Zero => (Some(0), Some(0)),
            Quantities::None => (None, None),
        };
        priced.push(p);
        consumed.push(q);
        unit.push(p.map(|_| {
            let raw = at(&input.pricing_unit, i);
            let normalised = raw.and_then(|u| units.entry(u).or_insert_with(|| focus_unit(u)).as_deref());
            unit_names.code_of(normalised.unwrap_or(match kind {
                Kind::RiFee | Kind::SpRecurringFee | Kind::DiscountedUsage => "Hours",
                _ => "Units",
            }))
        }));
        let public_rate = num(&input.public_rate, i);
        // A negative unblended rate (a negation) prices nothing; the public rate stands in for it.
        let contracted_rate = match rule.contracted {
            Amount::PublicOnDemand => public_rate,
            _ => num(&input.unblended_rate, i).filter(|r| *r >= 0).or(public_rate),
        };
        list_price.push(p.and_then(|q| unit_price(public_rate, q, l)));
        contracted_price.push(p.and_then(|q| unit_price(contracted_rate, q, k)));

        let commitment = class.commitments[i];
        let cdq = match (commitment, rule.charge_category) {
            (SAVINGS_PLAN, "Purchase") => Some(billed),
            (SAVINGS_PLAN, "Usage") => Some(e),
            (RESERVATION, "Purchase") => num(&input.ri_total_units, i).or(usage),
            (RESERVATION, "Usage") => usage,
            _ => None,
        };
        cd_quantity.push(cdq);
        cd_unit.push(
            cdq.and(match commitment {
                SAVINGS_PLAN => at(&input.currency, i),
                _ => Some("Hours"),
            })
            .map(|u| unit_names.code_of(u)),
        );
    }
    let unit_table = unit_names.table();
    let unit = Interner::column(&unit, unit_table.clone())?;
    let cd_unit = Interner::column(&cd_unit, unit_table)?;
    let consumed_nulls = consumed.valid.finish();
    let consumed_unit = Text::from_dictionary(unit.as_dictionary()).without(&!&consumed_nulls);
    let consumed_quantity = Arc::new(
        Decimal128Array::new(consumed.values.into(), Some(NullBuffer::new(consumed_nulls)))
            .with_data_type(money_type()),
    );
    columns.extend([
        (lake::EFFECTIVE_COST, effective.finish()),
        (lake::LIST_COST, list.finish()),
        (lake::CONTRACTED_COST, contracted.finish()),
        (lake::PRICING_QUANTITY, priced.finish()),
        (lake::PRICING_UNIT, unit),
        (lake::CONSUMED_QUANTITY, consumed_quantity as ArrayRef),
        (lake::CONSUMED_UNIT, consumed_unit),
        (lake::LIST_UNIT_PRICE, list_price.finish()),
        (lake::CONTRACTED_UNIT_PRICE, contracted_price.finish()),
        (lake::COMMITMENT_DISCOUNT_QUANTITY, cd_quantity.finish()),
        (lake::COMMITMENT_DISCOUNT_UNIT, cd_unit),
    ]);
    Ok(unused)
}

/// Distinct texts of a batch, numbered in order of appearance.
struct Interner<'s> {
    index: FastMap<Cow<'s, str>, u32>,
    values: Vec<Cow<'s, str>>,
}

impl<'s> Interner<'s> {
    fn new() -> Self {
        Self { index: FastMap::default(), values: Vec::new() }
    }

    fn code(&mut self, text: Cow<'s, str>) -> u32 {
        if let Some(&code) = self.index.get(text.as_ref()) {
            return code;
        }
        let code = self.values.len() as u32;
        self.values.push(text.clone());
        self.index.insert(text, code);
        code
    }

    /// The code of `text`, copied only the first time it is seen.
    fn code_of(&mut self, text: &str) -> u32 {
        match self.index.get(text) {
            Some(&code) => code,
            None => self.code(Cow::Owned(text.to_owned())),
        }
    }

    /// The distinct texts, in code order.
    fn table(&self) -> StringArray {
        StringArray::from_iter_values(self.values.iter().map(|v| v.as_ref()))
    }

    /// The column whose row `i` is `table[codes[i]]`, `table` holding one value per distinct text,
    /// as a dictionary of the table.
    fn column(codes: &[Option<u32>], table: StringArray) -> Result<ArrayRef, String> {
        let keys: Int32Array = codes.iter().map(|c| c.map(|c| c as i32)).collect();
        DictionaryArray::try_new(keys, Arc::new(table))
            .map(|a| Arc::new(a) as ArrayRef)
            .map_err(|e| e.to_string())
    }
}

/// ServiceName, ServiceCategory, ServiceSubcategory, RegionId, RegionName, ResourceId,
/// ResourceType, SkuId, SkuPriceId, x_InstanceType and x_ProductFamily.
fn product_columns(
    plan: &Plan,
    input: &Input,
    class: &Class,
    c: &mut Columns,
    columns: &mut Vec<(&'static str, ArrayRef)>,
) -> Result<(), String> {
    let rows = class.kinds.len();
    let product = key_values(c, plan.product_map.as_ref(), &[])?;
    // A product attribute is a `product_*` column or a key of the `product` map, never both (CUR
    // 2.0 moves every attribute of its static schema out of the map), so the source is chosen per
    // file.
    let map_attrs: Vec<usize> = if product.is_empty() {
        Vec::new()
    } else {
        (0..PRODUCT_ATTRS.len()).filter(|&a| input.attrs[a].is_none()).collect()
    };
    let map_keys: Vec<&str> = map_attrs.iter().map(|&a| PRODUCT_ATTRS[a].1).collect();
    // Attributes from the map that become lake columns as they are (the others only feed
    // ServiceName and the region columns).
    let mut from_map: Vec<(usize, StringBuilder)> = map_attrs
        .iter()
        .enumerate()
        .filter(|(_, a)| [A_SKU, A_INSTANCE_TYPE, A_FAMILY].contains(a))
        .map(|(p, _)| (p, StringBuilder::with_capacity(rows, rows * 16)))
        .collect();
    let mut found: Vec<Option<Cow<str>>> = vec![None; map_keys.len()];
    let mut scratch: Pairs = Vec::new();
    let finder = product.finder(&map_keys);
    let mut services = Interner::new();
    let mut service_codes: Vec<Option<u32>> = Vec::with_capacity(rows);
    let mut regions = Interner::new();
    let mut region_codes: Vec<Option<u32>> = Vec::with_capacity(rows);
    let mut locations: Vec<Option<Cow<str>>> = Vec::new();
    let mut region_ids =
        input.attrs[A_REGION_CODE].is_none().then(|| StringBuilder::with_capacity(rows, rows * 10));
    let mut resource_type_names = Interner::new();
    let mut resource_types: Vec<Option<u32>> = Vec::with_capacity(rows);
    // The type a resource id names, worked out once per distinct id of a dictionary column.
    let mut type_of_id: Vec<Option<Option<u32>>> =
        vec![None; input.resource_id.as_ref().map_or(0, Text::distinct_len)];
    let mut resource_fallback: Vec<(usize, &str)> = Vec::new();
    let mut tax = BooleanBufferBuilder::new(rows);
    let mut no_sku = BooleanBufferBuilder::new(rows);
    for i in 0..rows {
        let attr = |a: usize| input.attrs[a].as_ref().and_then(|col| col.value(i)).map(Cow::Borrowed);
        if !map_keys.is_empty() {
            found.iter_mut().for_each(|f| *f = None);
            if let Err(reason) = finder.find(i, &mut found, &mut scratch) {
                c.fault(i, product.map_column().unwrap_or(n::PRODUCT_MAP), reason);
            }
            for (p, b) in from_map.iter_mut() {
                b.append_option(found[*p].as_deref());
            }
        }
        let mapped = |a: usize| map_attrs.iter().position(|&m| m == a).and_then(|p| found[p].clone());
        let get = |a: usize| attr(a).or_else(|| mapped(a));

        let code = at(&input.product_code, i);
        let service = get(A_SERVICE)
            .or_else(|| code.and_then(name_for_code).map(Cow::Borrowed))
            .or_else(|| get(A_PRODUCT_NAME))
            .or_else(|| code.map(Cow::Borrowed));
        if service.is_none() && !c.is_faulty(i) {
            c.fault(
                i,
                plan.spelled(n::PRODUCT_CODE),
                "empty: ServiceName needs a product code or service name",
            );
        }
        service_codes.push(service.map(|s| services.code(s)));

        let region = get(A_REGION_CODE).or_else(|| get(A_REGION));
        if let Some(b) = region_ids.as_mut() {
            b.append_option(region.as_deref());
        }
        region_codes.push(region.map(|r| {
            let code = regions.code(r);
            if code as usize == locations.len() {
                locations.push(get(A_LOCATION));
            }
            code
        }));

        // Commitment rows without a resource are about the commitment itself.
        let kind = Kind::ALL[class.kinds[i] as usize];
        let rule = kind.rule();
        let mut resource = at(&input.resource_id, i);
        let mut memo = input.resource_id.as_ref().and_then(|t| t.distinct_index(i));
        if resource.is_none() && (rule.charge_category == "Purchase" || rule.status == Some("Unused")) {
            memo = None;
            let arn = match class.commitments[i] {
                RESERVATION => at(&input.ri_arn, i),
                SAVINGS_PLAN => at(&input.sp_arn, i),
                _ => None,
            };
            if let Some(arn) = arn {
                resource_fallback.push((i, arn));
                resource = Some(arn);
            }
        }
        let family = get(A_FAMILY);
        resource_types.push(resource.and_then(|r| {
            let names = &mut resource_type_names;
            let by_id = match memo {
                Some(k) => *type_of_id[k].get_or_insert_with(|| resource_type(r).map(|t| names.code_of(t))),
                None => resource_type(r).map(|t| names.code_of(t)),
            };
            by_id.or_else(|| family.as_deref().map(|f| names.code_of(f)))
        }));
        tax.append(kind == Kind::Tax);
        no_sku.append(kind == Kind::Tax || get(A_SKU).is_none());
    }

    let table =
        |f: &dyn Fn(&str) -> &str| services.values.iter().map(|v| Some(f(v))).collect::<StringArray>();
    columns.push((lake::SERVICE_NAME, Interner::column(&service_codes, table(&|s| s))?));
    columns.push((
        lake::SERVICE_CATEGORY,
        Interner::column(&service_codes, table(&|s| category_for_name(s).0))?,
    ));
    columns.push((
        lake::SERVICE_SUBCATEGORY,
        Interner::column(&service_codes, table(&|s| category_for_name(s).1))?,
    ));
    let region_names: StringArray = regions
        .values
        .iter()
        .zip(&locations)
        .map(|(r, location)| Some(region_name(r).or(location.as_deref()).unwrap_or(r)))
        .collect();
    columns.push((lake::REGION_NAME, Interner::column(&region_codes, region_names)?));
    columns.push((lake::RESOURCE_TYPE, Interner::column(&resource_types, resource_type_names.table())?));
    columns.push((lake::RESOURCE_ID, with_rows(input.resource_id.as_ref(), rows, &resource_fallback)));

    // Attributes that are columns are reused as they are (SkuId without tax, SkuPriceId only under
    // a SKU); those from the map were built above.
    let mut built: Vec<(usize, Text)> =
        from_map.iter_mut().map(|(p, b)| (map_attrs[*p], Text::plain(b.finish()))).collect();
    let mut attr_column = |a: usize| -> Option<Text> {
        match built.iter().position(|(m, _)| *m == a) {
            Some(p) => Some(built.swap_remove(p).1),
            None => input.attrs[a].clone(),
        }
    };
    let (tax, no_sku) = (tax.finish(), no_sku.finish());
    if let Some(sku) = attr_column(A_SKU) {
        let sku = sku.without(&tax);
        // AWS's own FOCUS export names the usage type as the SKU's meter; like it, only under a SKU.
        if let Some(usage_type) = &input.usage_type {
            let no_sku_id =
                sku.logical_nulls().map_or_else(|| BooleanBuffer::new_unset(rows), |n| !n.inner());
            columns.push((lake::SKU_METER, usage_type.without(&no_sku_id)));
        }
        columns.push((lake::SKU_ID, sku));
    }
    if let Some(rate_code) = &input.rate_code {
        columns.push((lake::SKU_PRICE_ID, rate_code.without(&no_sku)));
    }
    let region_id = match region_ids {
        Some(mut b) => Some(Arc::new(b.finish()) as ArrayRef),
        None => attr_column(A_REGION_CODE).map(|t| t.array().clone()),
    };
    for (name, array) in [
        (lake::REGION_ID, region_id),
        (lake::X_INSTANCE_TYPE, attr_column(A_INSTANCE_TYPE).map(|t| t.array().clone())),
        (lake::X_PRODUCT_FAMILY, attr_column(A_FAMILY).map(|t| t.array().clone())),
    ] {
        if let Some(a) = array {
            columns.push((name, a));
        }
    }
    Ok(())
}

/// The key/value sources of one kind in this batch.
fn key_values(c: &Columns, map: Option<&String>, flat: &[String]) -> Result<KeyValues, String> {
    let map = map.and_then(|m| c.get(m).map(|a| (m.as_str(), a)));
    let flat = flat.iter().filter_map(|f| c.get(f).and_then(text_array).map(|a| (f.clone(), a))).collect();
    KeyValues::new(map, flat)
}

/// Tags, x_RawTags and x_CostCategories: column-wise from a clean Parquet map, else row by row.
fn key_value_columns(
    plan: &Plan,
    c: &mut Columns,
    columns: &mut Vec<(&'static str, ArrayRef)>,
) -> Result<(), String> {
    let rows = c.len();
    let tags = key_values(c, plan.tag_map.as_ref(), &plan.tag_columns)?;
    let cost_categories = key_values(c, plan.cost_category_map.as_ref(), &plan.cost_category_columns)?;
    let mut pairs: Pairs = Vec::new();
    let (tag_column, raw_column) = match tags.plain_map().and_then(tag_columns_from_map) {
        Some(done) => done,
        None => {
            let (mut tag_b, mut raw_b) = (KeyValueBuilder::new(), KeyValueBuilder::new());
            let mut keys: Vec<Cow<str>> = Vec::new();
            for i in 0..rows {
                pairs.clear();
                if let Err(reason) = tags.row(i, &mut pairs) {
                    c.fault(i, tags.map_column().unwrap_or(n::TAGS_MAP), reason);
                }
                append_tags(&mut tag_b, &mut raw_b, &pairs, &mut keys);
            }
            (tag_b.finish(), raw_b.finish())
        }
    };
    let cost_category_column = match cost_categories.plain_map().and_then(cost_categories_from_map) {
        Some(done) => done,
        None => {
            let mut b = KeyValueBuilder::new();
            for i in 0..rows {
                pairs.clear();
                if let Err(reason) = cost_categories.row(i, &mut pairs) {
                    c.fault(i, cost_categories.map_column().unwrap_or(n::COST_CATEGORY_MAP), reason);
                }
                if pairs.is_empty() {
                    b.append_null();
                } else {
                    b.append(pairs.iter().map(|(k, v)| (normalize_cost_category_key(k), Some(v.as_ref()))));
                }
            }
            b.finish()
        }
    };
    columns.extend([
        (lake::TAGS, tag_column),
        (lake::X_RAW_TAGS, raw_column),
        (lake::X_COST_CATEGORIES, cost_category_column),
    ]);
    Ok(())
}

/// BillingPeriodEnd: the file's, else the billing period start + 1 month.
fn period_ends(input: &Input, rows: usize) -> ArrayRef {
    if let Some(end) = input.period_end.as_ref().filter(|a| a.null_count() == 0) {
        return Arc::new(end.clone());
    }
    let mut cache = PeriodEnd::default();
    let ends: TimestampMicrosecondArray = (0..rows)
        .map(|i| {
            input.period_end.as_ref().filter(|a| a.is_valid(i)).map(|a| a.value(i)).or_else(|| {
                input.period_start.as_ref().filter(|a| a.is_valid(i)).and_then(|a| cache.after(a.value(i)))
            })
        })
        .collect();
    Arc::new(ends.with_timezone("UTC"))
}

/// `primary`, with `extra` values filling some of its null rows (given in row order); the primary
/// array itself when there are none.
fn with_rows(primary: Option<&Text>, rows: usize, extra: &[(usize, &str)]) -> ArrayRef {
    if extra.is_empty() {
        return match primary {
            Some(a) => a.array().clone(),
            None => Arc::new(StringArray::new_null(rows)),
        };
    }
    if let Some(dict) = primary.and_then(|a| a.array().as_dictionary_opt::<Int32Type>()) {
        // A dictionary gets the extra values as entries of their own; rows keep their keys.
        let values = dict.values().as_string::<i32>();
        let extra_bytes: usize = extra.iter().map(|(_, v)| v.len()).sum();
        let mut distinct =
            StringBuilder::with_capacity(values.len() + extra.len(), values.value_data().len() + extra_bytes);
        distinct.extend(values.iter());
        let mut keys = dict.keys().values().to_vec();
        let mut valid = BooleanBufferBuilder::new(rows);
        match dict.nulls() {
            Some(n) => valid.append_buffer(n.inner()),
            None => valid.append_n(rows, true),
        }
        for (n, (row, v)) in extra.iter().enumerate() {
            keys[*row] = (values.len() + n) as i32;
            valid.set_bit(*row, true);
            distinct.append_value(v);
        }
        let keys = Int32Array::new(keys.into(), Some(NullBuffer::new(valid.finish())));
        return Arc::new(DictionaryArray::new(keys, Arc::new(distinct.finish())));
    }
    let mut b = StringBuilder::with_capacity(rows, rows * 24 + extra.len() * 64);
    let mut next = extra.iter().peekable();
    for i in 0..rows {
        match next.peek() {
            Some((row, v)) if *row == i => {
                b.append_value(v);
                next.next();
            }
            _ => b.append_option(primary.and_then(|a| a.value(i))),
        }
    }
    Arc::new(b.finish())
}

/// `primary` where it has a value, else `fallback(row)`; the primary array itself when it has no
/// nulls.
fn coalesce<'a>(
    primary: Option<&'a Text>,
    rows: usize,
    fallback: impl Fn(usize) -> Option<&'a str>,
) -> ArrayRef {
    if let Some(a) = primary
        && a.null_count() == 0
    {
        return a.array().clone();
    }
    let mut b = StringBuilder::with_capacity(rows, rows * 24);
    for i in 0..rows {
        b.append_option(primary.and_then(|a| a.value(i)).or_else(|| fallback(i)));
    }
    Arc::new(b.finish())
}

/// InvoiceIssuerName for every row: one constant column in the usual case of a bill from AWS.
fn invoice_issuers(entities: Option<&Text>, rows: usize) -> ArrayRef {
    let Some(entities) = entities else { return constant_string("AWS", rows) };
    if (0..rows).all(|i| invoice_issuer(entities.value(i)) == "AWS") {
        return constant_string("AWS", rows);
    }
    Arc::new((0..rows).map(|i| Some(invoice_issuer(entities.value(i)))).collect::<StringArray>())
}

/// Tags and x_RawTags from a map whose entries are all usable (see `KeyValues::plain_map`): the
/// raw map is x_RawTags as it is, Tags is the same map with its distinct keys normalised. Rows
/// without tags are null in both. `None` when two keys of a row normalise alike (the row-by-row
/// path handles it).
fn tag_columns_from_map(plain: PlainMap) -> Option<(ArrayRef, ArrayRef)> {
    let PlainMap { map, keys } = plain;
    let distinct = keys.distinct()?;
    // Each distinct key is normalised once; keys that normalise alike share an id.
    let mut normalised = StringBuilder::with_capacity(distinct.len(), distinct.value_data().len());
    let mut ids: Vec<usize> = Vec::with_capacity(distinct.len());
    let mut first_of: FastMap<Cow<str>, usize> = FastMap::default();
    for v in 0..distinct.len() {
        let key = if distinct.is_valid(v) { normalize_tag_key(distinct.value(v)) } else { Cow::Borrowed("") };
        normalised.append_value(&key);
        let next = first_of.len();
        ids.push(*first_of.entry(key).or_insert(next));
    }
    let offsets = map.value_offsets();
    for i in 0..map.len() {
        let (from, to) = (offsets[i] as usize, offsets[i + 1] as usize);
        for j in from..to {
            let id = ids[keys.distinct_index(j)?];
            if (from..j).any(|earlier| keys.distinct_index(earlier).is_some_and(|e| ids[e] == id)) {
                return None;
            }
        }
    }
    let raw = relabel(map, None)?;
    let tags = relabel(map, Some(keys.with_distinct(normalised.finish())?))?;
    Some((tags, raw))
}

/// x_CostCategories from a map whose entries are all usable: the map as it is, with rows without
/// categories null.
fn cost_categories_from_map(plain: PlainMap) -> Option<ArrayRef> {
    let distinct = plain.keys.distinct()?;
    let plain_keys = (0..distinct.len()).all(|v| {
        distinct.is_null(v) || normalize_cost_category_key(distinct.value(v)).len() == distinct.value(v).len()
    });
    if plain_keys { relabel(plain.map, None) } else { None }
}

/// `map` with the lake's map type (its field names), optionally new keys, and rows without entries
/// made null; values and offsets are shared, not copied.
fn relabel(map: &MapArray, keys: Option<ArrayRef>) -> Option<ArrayRef> {
    let DataType::Map(entries_field, _) = tags_type() else { return None };
    let DataType::Struct(fields) = entries_field.data_type() else { return None };
    let keys = keys.unwrap_or_else(|| map.keys().clone());
    let values = map.values().clone();
    let fields: Vec<Field> = fields
        .iter()
        .zip([&keys, &values])
        .map(|(f, a)| f.as_ref().clone().with_data_type(a.data_type().clone()))
        .collect();
    let entries = StructArray::try_new(fields.clone().into(), vec![keys, values], None).ok()?;
    let entries_field =
        Arc::new(entries_field.as_ref().clone().with_data_type(DataType::Struct(fields.into())));
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

/// Appends one row's tags: normalised keys to Tags (the first of two raw keys that normalise alike
/// wins), raw keys to x_RawTags. A row without tags gets nulls.
fn append_tags<'s>(
    tags: &mut KeyValueBuilder,
    raw_tags: &mut KeyValueBuilder,
    pairs: &Pairs<'s>,
    normalised: &mut Vec<Cow<'s, str>>,
) {
    if pairs.is_empty() {
        tags.append_null();
        raw_tags.append_null();
        return;
    }
    normalised.clear();
    normalised.extend(pairs.iter().map(|(k, _)| match k {
        Cow::Borrowed(k) => normalize_tag_key(k),
        Cow::Owned(k) => Cow::Owned(normalize_tag_key(k).into_owned()),
    }));
    tags.append(normalised.iter().enumerate().filter_map(|(j, key)| {
        let first = !normalised[..j].iter().any(|earlier| earlier == key);
        first.then(|| (key.as_ref(), Some(pairs[j].1.as_ref())))
    }));
    raw_tags.append(pairs.iter().enumerate().filter_map(|(j, (key, value))| {
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
pub(super) fn divide(a: i128, b: i128) -> i128 {
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
fn at(array: &Option<Text>, i: usize) -> Option<&str> {
    array.as_ref().and_then(|a| a.value(i))
}

/// Row `i` of an amount column, or `None` when the column is absent or the cell null.
fn num(array: &Option<Decimal128Array>, i: usize) -> Option<i128> {
    array.as_ref().filter(|a| a.is_valid(i)).map(|a| a.value(i))
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
    let parse = |text: &StringArray| {
        text.iter()
            .map(|v| {
                v.filter(|s| !s.is_empty()).and_then(|s| plain_decimal(s).or_else(|| parse_decimal(s).ok()))
            })
            .collect::<Decimal128Array>()
    };
    let parsed = match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => text_array(array).map(|t| parse(&t)),
        // Each distinct rate is parsed once.
        DataType::Dictionary(_, value) if **value == DataType::Utf8 => {
            array.as_dictionary_opt::<Int32Type>().and_then(|d| {
                let rates = parse(d.values().as_string::<i32>());
                take(&rates, d.keys(), None).ok().map(|a| a.as_primitive::<Decimal128Type>().clone())
            })
        }
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
    fn tag_maps_are_relabelled_unless_keys_clash() {
        use costpilot_model::is_lake_type;
        use datafusion::arrow::array::MapBuilder;
        let map_of = |rows: &[&[(&str, &str)]]| -> ArrayRef {
            let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
            for row in rows {
                for (k, v) in *row {
                    b.keys().append_value(k);
                    b.values().append_value(v);
                }
                b.append(true).unwrap();
            }
            Arc::new(b.finish())
        };
        let columns = |map: &ArrayRef| {
            let kv = KeyValues::new(Some(("resource_tags", map)), vec![]).unwrap();
            kv.plain_map().and_then(tag_columns_from_map)
        };
        // `user_team` and `team` normalise alike, but no row holds both.
        let map = map_of(&[&[("user_team", "web"), ("aws_created_by", "me")], &[], &[("team", "data")]]);
        let (tags, raw) = columns(&map).unwrap();
        assert!(is_lake_type(&tags_type(), tags.data_type()));
        let (tags, raw) = (cast(&tags, &tags_type()).unwrap(), cast(&raw, &tags_type()).unwrap());
        let keys = |m: &ArrayRef, row: usize| -> Vec<String> {
            let entries = m.as_map().value(row);
            entries.column(0).as_string::<i32>().iter().flatten().map(str::to_string).collect()
        };
        assert_eq!(keys(&tags, 0), ["team", "aws:createdBy"]);
        assert_eq!(keys(&raw, 0), ["user_team", "aws_created_by"]);
        assert!(tags.is_null(1) && raw.is_null(1), "a row without tags is null");
        assert_eq!(keys(&tags, 2), ["team"]);
        assert_eq!(tags.as_map().value(2).column(1).as_string::<i32>().value(0), "data");

        let clash = map_of(&[&[("env", "prod")], &[("user_team", "web"), ("team", "data")]]);
        assert!(columns(&clash).is_none(), "two keys of a row that normalise alike take the row-by-row path");
        let empty_value = map_of(&[&[("user_team", "")]]);
        assert!(columns(&empty_value).is_none(), "an empty value takes the row-by-row path");
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
