//! The CUR columns the reader uses: their CUR 2.0 names, their legacy CUR spellings, and which of
//! them a file must have.
//!
//! Legacy CUR headers (`lineItem/UnblendedCost`) turn into CUR 2.0 names (`line_item_unblended_cost`)
//! by rule ([`legacy_to_cur2`]); the table keeps the legacy spelling of every column used so that
//! messages name a column the way the file does.

/// `bill_billing_period_start_date`.
pub const BILLING_PERIOD_START: &str = "bill_billing_period_start_date";
/// `bill_billing_period_end_date`.
pub const BILLING_PERIOD_END: &str = "bill_billing_period_end_date";
/// `bill_payer_account_id`.
pub const PAYER_ACCOUNT_ID: &str = "bill_payer_account_id";
/// `bill_payer_account_name`.
pub const PAYER_ACCOUNT_NAME: &str = "bill_payer_account_name";
/// `bill_invoice_id`.
pub const INVOICE_ID: &str = "bill_invoice_id";
/// `bill_invoicing_entity`.
pub const INVOICING_ENTITY: &str = "bill_invoicing_entity";
/// `bill_bill_type` (`Anniversary`, `Purchase` or `Refund`).
pub const BILL_TYPE: &str = "bill_bill_type";
/// `line_item_tax_type`.
pub const TAX_TYPE: &str = "line_item_tax_type";
/// `line_item_line_item_type`.
pub const LINE_ITEM_TYPE: &str = "line_item_line_item_type";
/// `line_item_unblended_cost`.
pub const UNBLENDED_COST: &str = "line_item_unblended_cost";
/// `line_item_unblended_rate`.
pub const UNBLENDED_RATE: &str = "line_item_unblended_rate";
/// `line_item_usage_amount`.
pub const USAGE_AMOUNT: &str = "line_item_usage_amount";
/// `line_item_usage_start_date`.
pub const USAGE_START: &str = "line_item_usage_start_date";
/// `line_item_usage_end_date`.
pub const USAGE_END: &str = "line_item_usage_end_date";
/// `line_item_usage_account_id`.
pub const USAGE_ACCOUNT_ID: &str = "line_item_usage_account_id";
/// `line_item_usage_account_name`.
pub const USAGE_ACCOUNT_NAME: &str = "line_item_usage_account_name";
/// `line_item_currency_code`.
pub const CURRENCY_CODE: &str = "line_item_currency_code";
/// `line_item_product_code`.
pub const PRODUCT_CODE: &str = "line_item_product_code";
/// `line_item_usage_type`.
pub const USAGE_TYPE: &str = "line_item_usage_type";
/// `line_item_operation`.
pub const OPERATION: &str = "line_item_operation";
/// `line_item_resource_id`.
pub const RESOURCE_ID: &str = "line_item_resource_id";
/// `line_item_availability_zone`.
pub const AVAILABILITY_ZONE: &str = "line_item_availability_zone";
/// `line_item_line_item_description`.
pub const DESCRIPTION: &str = "line_item_line_item_description";
/// `line_item_legal_entity`.
pub const LEGAL_ENTITY: &str = "line_item_legal_entity";
/// `pricing_public_on_demand_cost`.
pub const PUBLIC_ON_DEMAND_COST: &str = "pricing_public_on_demand_cost";
/// `pricing_public_on_demand_rate`.
pub const PUBLIC_ON_DEMAND_RATE: &str = "pricing_public_on_demand_rate";
/// `pricing_unit`.
pub const PRICING_UNIT: &str = "pricing_unit";
/// `pricing_term`.
pub const PRICING_TERM: &str = "pricing_term";
/// `pricing_rate_code`.
pub const RATE_CODE: &str = "pricing_rate_code";
/// `product_sku`.
pub const SKU: &str = "product_sku";
/// `product_servicename` (a key of the `product` map in CUR 2.0).
pub const SERVICE_NAME: &str = "product_servicename";
/// `product_product_name` (a key of the `product` map in CUR 2.0).
pub const PRODUCT_NAME: &str = "product_product_name";
/// `product_region_code`.
pub const REGION_CODE: &str = "product_region_code";
/// `product_region` (a key of the `product` map in CUR 2.0).
pub const REGION: &str = "product_region";
/// `product_location`.
pub const LOCATION: &str = "product_location";
/// `product_instance_type`.
pub const INSTANCE_TYPE: &str = "product_instance_type";
/// `product_product_family`.
pub const PRODUCT_FAMILY: &str = "product_product_family";
/// `savings_plan_savings_plan_a_r_n`.
pub const SP_ARN: &str = "savings_plan_savings_plan_a_r_n";
/// `savings_plan_savings_plan_effective_cost`.
pub const SP_EFFECTIVE_COST: &str = "savings_plan_savings_plan_effective_cost";
/// `savings_plan_total_commitment_to_date`.
pub const SP_TOTAL_COMMITMENT: &str = "savings_plan_total_commitment_to_date";
/// `savings_plan_used_commitment`.
pub const SP_USED_COMMITMENT: &str = "savings_plan_used_commitment";
/// `reservation_reservation_a_r_n`.
pub const RI_ARN: &str = "reservation_reservation_a_r_n";
/// `reservation_effective_cost`.
pub const RI_EFFECTIVE_COST: &str = "reservation_effective_cost";
/// `reservation_unused_amortized_upfront_fee_for_billing_period`.
pub const RI_UNUSED_UPFRONT: &str = "reservation_unused_amortized_upfront_fee_for_billing_period";
/// `reservation_unused_recurring_fee`.
pub const RI_UNUSED_RECURRING: &str = "reservation_unused_recurring_fee";
/// `reservation_unused_quantity`.
pub const RI_UNUSED_QUANTITY: &str = "reservation_unused_quantity";
/// `reservation_total_reserved_units`.
pub const RI_TOTAL_RESERVED_UNITS: &str = "reservation_total_reserved_units";
/// `discount_total_discount`: the row's discounts, when AWS writes them inside the rows (Data
/// Exports without "manual discount compatibility"; the column is absent with it).
pub const TOTAL_DISCOUNT: &str = "discount_total_discount";
/// `line_item_net_unblended_rate`: the rate after the row's discounts.
pub const NET_UNBLENDED_RATE: &str = "line_item_net_unblended_rate";
/// `reservation_net_effective_cost`.
pub const RI_NET_EFFECTIVE_COST: &str = "reservation_net_effective_cost";
/// `reservation_net_unused_amortized_upfront_fee_for_billing_period`.
pub const RI_NET_UNUSED_UPFRONT: &str = "reservation_net_unused_amortized_upfront_fee_for_billing_period";
/// `reservation_net_unused_recurring_fee`.
pub const RI_NET_UNUSED_RECURRING: &str = "reservation_net_unused_recurring_fee";
/// `savings_plan_net_savings_plan_effective_cost`.
pub const SP_NET_EFFECTIVE_COST: &str = "savings_plan_net_savings_plan_effective_cost";
/// The `product` map column.
pub const PRODUCT_MAP: &str = "product";
/// The `resource_tags` map column.
pub const TAGS_MAP: &str = "resource_tags";
/// The `cost_category` map column.
pub const COST_CATEGORY_MAP: &str = "cost_category";

/// `split_line_item_*` columns and the lake columns they go to (never added to a cost).
pub const SPLIT: &[(&str, &str, &str)] = &[
    ("split_line_item_parent_resource_id", "splitLineItem/ParentResourceId", "x_SplitParentResourceId"),
    ("split_line_item_split_usage", "splitLineItem/SplitUsage", "x_SplitUsage"),
    ("split_line_item_split_usage_ratio", "splitLineItem/SplitUsageRatio", "x_SplitUsageRatio"),
    ("split_line_item_actual_usage", "splitLineItem/ActualUsage", "x_SplitActualUsage"),
    ("split_line_item_reserved_usage", "splitLineItem/ReservedUsage", "x_SplitReservedUsage"),
    ("split_line_item_split_cost", "splitLineItem/SplitCost", "x_SplitCost"),
    ("split_line_item_unused_cost", "splitLineItem/UnusedCost", "x_SplitUnusedCost"),
    ("split_line_item_net_split_cost", "splitLineItem/NetSplitCost", "x_SplitNetSplitCost"),
    ("split_line_item_net_unused_cost", "splitLineItem/NetUnusedCost", "x_SplitNetUnusedCost"),
    (
        "split_line_item_public_on_demand_split_cost",
        "splitLineItem/PublicOnDemandSplitCost",
        "x_SplitPublicOnDemandSplitCost",
    ),
    (
        "split_line_item_public_on_demand_unused_cost",
        "splitLineItem/PublicOnDemandUnusedCost",
        "x_SplitPublicOnDemandUnusedCost",
    ),
];

/// The columns every CUR file must have: without them a row has no FOCUS meaning.
pub const REQUIRED: &[&str] = &[
    LINE_ITEM_TYPE,
    UNBLENDED_COST,
    USAGE_START,
    USAGE_END,
    BILLING_PERIOD_START,
    PAYER_ACCOUNT_ID,
    CURRENCY_CODE,
    PRODUCT_CODE,
];

/// Every column the reader uses, as CUR 2.0 and legacy CUR spell it.
pub const USED: &[(&str, &str)] = &[
    (BILLING_PERIOD_START, "bill/BillingPeriodStartDate"),
    (BILLING_PERIOD_END, "bill/BillingPeriodEndDate"),
    (PAYER_ACCOUNT_ID, "bill/PayerAccountId"),
    (PAYER_ACCOUNT_NAME, "bill/PayerAccountName"),
    (INVOICE_ID, "bill/InvoiceId"),
    (INVOICING_ENTITY, "bill/InvoicingEntity"),
    (BILL_TYPE, "bill/BillType"),
    (TAX_TYPE, "lineItem/TaxType"),
    (LINE_ITEM_TYPE, "lineItem/LineItemType"),
    (UNBLENDED_COST, "lineItem/UnblendedCost"),
    (UNBLENDED_RATE, "lineItem/UnblendedRate"),
    (USAGE_AMOUNT, "lineItem/UsageAmount"),
    (USAGE_START, "lineItem/UsageStartDate"),
    (USAGE_END, "lineItem/UsageEndDate"),
    (USAGE_ACCOUNT_ID, "lineItem/UsageAccountId"),
    (USAGE_ACCOUNT_NAME, "lineItem/UsageAccountName"),
    (CURRENCY_CODE, "lineItem/CurrencyCode"),
    (PRODUCT_CODE, "lineItem/ProductCode"),
    (USAGE_TYPE, "lineItem/UsageType"),
    (OPERATION, "lineItem/Operation"),
    (RESOURCE_ID, "lineItem/ResourceId"),
    (AVAILABILITY_ZONE, "lineItem/AvailabilityZone"),
    (DESCRIPTION, "lineItem/LineItemDescription"),
    (LEGAL_ENTITY, "lineItem/LegalEntity"),
    (PUBLIC_ON_DEMAND_COST, "pricing/publicOnDemandCost"),
    (PUBLIC_ON_DEMAND_RATE, "pricing/publicOnDemandRate"),
    (PRICING_UNIT, "pricing/unit"),
    (PRICING_TERM, "pricing/term"),
    (RATE_CODE, "pricing/RateCode"),
    (SKU, "product/sku"),
    (SERVICE_NAME, "product/servicename"),
    (PRODUCT_NAME, "product/ProductName"),
    (REGION_CODE, "product/regionCode"),
    (REGION, "product/region"),
    (LOCATION, "product/location"),
    (INSTANCE_TYPE, "product/instanceType"),
    (PRODUCT_FAMILY, "product/productFamily"),
    (SP_ARN, "savingsPlan/SavingsPlanARN"),
    (SP_EFFECTIVE_COST, "savingsPlan/SavingsPlanEffectiveCost"),
    (SP_TOTAL_COMMITMENT, "savingsPlan/TotalCommitmentToDate"),
    (SP_USED_COMMITMENT, "savingsPlan/UsedCommitment"),
    (RI_ARN, "reservation/ReservationARN"),
    (RI_EFFECTIVE_COST, "reservation/EffectiveCost"),
    (RI_UNUSED_UPFRONT, "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod"),
    (RI_UNUSED_RECURRING, "reservation/UnusedRecurringFee"),
    (RI_UNUSED_QUANTITY, "reservation/UnusedQuantity"),
    (RI_TOTAL_RESERVED_UNITS, "reservation/TotalReservedUnits"),
    (TOTAL_DISCOUNT, "discount/TotalDiscount"),
    (NET_UNBLENDED_RATE, "lineItem/NetUnblendedRate"),
    (RI_NET_EFFECTIVE_COST, "reservation/NetEffectiveCost"),
    (RI_NET_UNUSED_UPFRONT, "reservation/NetUnusedAmortizedUpfrontFeeForBillingPeriod"),
    (RI_NET_UNUSED_RECURRING, "reservation/NetUnusedRecurringFee"),
    (SP_NET_EFFECTIVE_COST, "savingsPlan/NetSavingsPlanEffectiveCost"),
];

/// The legacy CUR spelling of a CUR 2.0 column the reader uses (for messages).
pub fn legacy_spelling(cur2: &str) -> Option<&'static str> {
    USED.iter()
        .find(|(c, _)| *c == cur2)
        .map(|(_, l)| *l)
        .or_else(|| SPLIT.iter().find(|(c, _, _)| *c == cur2).map(|(_, l, _)| *l))
}

/// The CUR 2.0 name of a legacy CUR header: `lineItem/UnblendedCost` → `line_item_unblended_cost`,
/// `savingsPlan/SavingsPlanARN` → `savings_plan_savings_plan_a_r_n` (CUR 2.0 splits every capital,
/// as AWS does). `None` for a header without a `category/` prefix.
pub fn legacy_to_cur2(header: &str) -> Option<String> {
    let (category, attribute) = header.split_once('/')?;
    if category.is_empty() || attribute.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(header.len() + 8);
    snake_into(category, &mut out);
    out.push('_');
    snake_into(attribute, &mut out);
    Some(out)
}

fn snake_into(word: &str, out: &mut String) {
    let start = out.len();
    for ch in word.chars() {
        if ch.is_ascii_uppercase() {
            if out.len() > start && !out.ends_with('_') {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else {
            out.push(ch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_legacy_spelling_renames_to_its_cur2_name() {
        for (cur2, legacy) in USED.iter().copied().chain(SPLIT.iter().map(|(c, l, _)| (*c, *l))) {
            assert_eq!(legacy_to_cur2(legacy).as_deref(), Some(cur2), "{legacy}");
        }
        assert_eq!(legacy_to_cur2("identity/LineItemId").as_deref(), Some("identity_line_item_id"));
        assert_eq!(legacy_to_cur2("nocategory"), None);
    }
}
