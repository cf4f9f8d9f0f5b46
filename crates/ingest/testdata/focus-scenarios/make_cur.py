"""Writes, for each FOCUS 1.2 commitment discount scenario in this folder, the CUR 2.0 bill that
AWS would issue for it (<scenario>.cur2.csv), for crates/ingest/tests/focus_scenarios.rs.

    python make_cur.py      (standard library only; run from anywhere)

The scenarios describe a one-year, spend-based commitment of $1.00 per hour bought on
2023-01-01 (FOCUS 1.2, appendix "Commitment Discount Scenarios"); on AWS that is a Compute Savings
Plan. The CUR rows are laid out as AWS Data Exports writes CUR 2.0 (column names, line item types,
the `product` map as a JSON cell); amounts are text so nothing passes through a float.

A usage scenario shows only the usage rows of one hour, but AWS bills every hour of a plan also
with its SavingsPlanRecurringFee; the bills below pay the plan hourly ("No Upfront", purchase
scenario 2), so each usage bill has that fee too, and covered usage comes with its
SavingsPlanNegation as AWS writes it.
"""

import csv
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
SP = "arn:aws:savingsplans::111111111111:savingsplan/sp-scenario"
RESOURCE = "i-0scenario0001"
MONTH = ("2023-01-01T00:00:00Z", "2023-02-01T00:00:00Z")
HOUR = ("2023-01-01T00:00:00Z", "2023-01-01T01:00:00Z")

COLUMNS = [
    "identity_line_item_id", "bill_bill_type", "bill_payer_account_id", "bill_billing_period_start_date",
    "bill_billing_period_end_date", "line_item_usage_account_id", "line_item_line_item_type",
    "line_item_usage_start_date", "line_item_usage_end_date", "line_item_product_code", "line_item_usage_type",
    "line_item_operation", "line_item_resource_id", "line_item_usage_amount", "line_item_currency_code",
    "line_item_unblended_rate", "line_item_unblended_cost", "line_item_line_item_description", "pricing_unit",
    "pricing_public_on_demand_cost", "pricing_public_on_demand_rate", "product_region_code", "product",
    "savings_plan_savings_plan_a_r_n", "savings_plan_savings_plan_rate", "savings_plan_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date", "savings_plan_used_commitment",
    "savings_plan_amortized_upfront_commitment_for_billing_period",
    "savings_plan_recurring_commitment_for_billing_period",
]

COMMON = {
    "bill_bill_type": "Anniversary", "bill_payer_account_id": "111111111111",
    "bill_billing_period_start_date": MONTH[0], "bill_billing_period_end_date": MONTH[1],
    "line_item_currency_code": "USD",
}
SP_PRODUCT = {"servicename": "Savings Plans for AWS Compute usage", "product_name": "Savings Plans"}
EC2_PRODUCT = {"servicename": "Amazon Elastic Compute Cloud", "region": "us-east-1"}


def upfront_fee(cost):
    # The scenarios give the purchase the whole term as its charge period.
    return dict(bill_bill_type="Purchase", line_item_usage_account_id="111111111111",
                line_item_line_item_type="SavingsPlanUpfrontFee", line_item_usage_start_date="2023-01-01T00:00:00Z",
                line_item_usage_end_date="2024-01-01T00:00:00Z", line_item_product_code="ComputeSavingsPlans",
                line_item_usage_type="ComputeSP:1yrAllUpfront", line_item_usage_amount="1",
                line_item_unblended_cost=cost,
                line_item_line_item_description=f"USD {cost} one-time fee for 1 year Compute Savings Plan",
                product=SP_PRODUCT, savings_plan_savings_plan_a_r_n=SP)


def recurring_fee(hour, cost, used, amortised="0"):
    start = f"2023-01-01T{hour:02d}:00:00Z"
    end = f"2023-01-01T{hour + 1:02d}:00:00Z"
    # TotalCommitmentToDate is the hour's commitment, $1.00, however it is paid.
    return dict(line_item_usage_account_id="111111111111", line_item_line_item_type="SavingsPlanRecurringFee",
                line_item_usage_start_date=start, line_item_usage_end_date=end,
                line_item_product_code="ComputeSavingsPlans", line_item_usage_type="ComputeSP:1yrNoUpfront",
                line_item_usage_amount="1", line_item_unblended_rate=cost, line_item_unblended_cost=cost,
                line_item_line_item_description="1 year Compute Savings Plan recurring fee", pricing_unit="Hrs",
                product=SP_PRODUCT, savings_plan_savings_plan_a_r_n=SP,
                savings_plan_total_commitment_to_date="1.00", savings_plan_used_commitment=used,
                savings_plan_amortized_upfront_commitment_for_billing_period=amortised,
                savings_plan_recurring_commitment_for_billing_period=cost)


def usage(line_item_type, on_demand, effective="", usage_amount="1"):
    """An hour of m5.xlarge: AWS bills covered usage at on-demand and negates it."""
    row = dict(line_item_usage_account_id="222222222222", line_item_line_item_type=line_item_type,
               line_item_usage_start_date=HOUR[0], line_item_usage_end_date=HOUR[1],
               line_item_product_code="AmazonEC2", line_item_usage_type="USE1-BoxUsage:m5.xlarge",
               line_item_operation="RunInstances", line_item_resource_id=RESOURCE, line_item_usage_amount=usage_amount,
               line_item_unblended_cost=on_demand, pricing_unit="Hrs", product_region_code="us-east-1",
               product=EC2_PRODUCT)
    rate = f"{float(on_demand) / float(usage_amount):.4f}".rstrip("0").rstrip(".")
    if line_item_type == "SavingsPlanNegation":
        row.update(line_item_unblended_rate="-" + rate.lstrip("-"), savings_plan_savings_plan_a_r_n=SP,
                   line_item_line_item_description="SavingsPlanNegation used by AccountId : 222222222222")
    else:
        row.update(line_item_unblended_rate=rate, pricing_public_on_demand_cost=on_demand,
                   pricing_public_on_demand_rate=rate,
                   line_item_line_item_description=f"${rate} per On Demand Linux m5.xlarge Instance Hour")
    if line_item_type == "SavingsPlanCoveredUsage":
        row.update(savings_plan_savings_plan_a_r_n=SP, savings_plan_savings_plan_effective_cost=effective,
                   savings_plan_savings_plan_rate=effective)
    return row


SCENARIOS = {
    # All Upfront: 8760 h x $1.00 paid once.
    "commitment_discount_purchase_scenario_1": [upfront_fee("8760.00")],
    # No Upfront: $1.00 every hour (the first three hours, as the scenario shows), all used.
    "commitment_discount_purchase_scenario_2": [recurring_fee(h, "1.00", "1.00") for h in range(3)],
    # Partial Upfront: half once (4380.00), half hourly (0.50); the hour's amortised upfront 0.50.
    "commitment_discount_purchase_scenario_3": [upfront_fee("4380.00")]
    + [recurring_fee(h, "0.50", "1.00", amortised="0.50") for h in range(3)],
    # 100% used: the hour's $1.00 covers on-demand usage of $1.60.
    "commitment_discount_usage_scenario_1": [
        usage("SavingsPlanCoveredUsage", "1.60", effective="1.00"),
        usage("SavingsPlanNegation", "-1.60"),
        recurring_fee(0, "1.00", "1.00"),
    ],
    # 0% used: nothing runs; the hour's $1.00 is unused.
    "commitment_discount_usage_scenario_2": [recurring_fee(0, "1.00", "0.00")],
    # 75% used: usage worth $1.20 on demand takes $0.75 of the commitment; $0.25 is unused.
    "commitment_discount_usage_scenario_3": [
        usage("SavingsPlanCoveredUsage", "1.20", effective="0.75"),
        usage("SavingsPlanNegation", "-1.20"),
        recurring_fee(0, "1.00", "0.75"),
    ],
    # 100% used plus overage: the resource's hour costs $1.00 of the commitment plus $0.50 on
    # demand; as in the scenario, both rows consume the resource's one hour.
    "commitment_discount_usage_scenario_4": [
        usage("SavingsPlanCoveredUsage", "1.60", effective="1.00"),
        usage("SavingsPlanNegation", "-1.60"),
        usage("Usage", "0.50"),
        recurring_fee(0, "1.00", "1.00"),
    ],
}


def write(name, rows):
    with open(HERE / f"{name}.cur2.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for i, row in enumerate(rows, 1):
            r = dict(COMMON, identity_line_item_id=f"{name}-{i}")
            r.update(row)
            w.writerow([json.dumps(r[c]) if c == "product" and c in r else r.get(c, "") for c in COLUMNS])


if __name__ == "__main__":
    for name, rows in SCENARIOS.items():
        write(name, rows)
