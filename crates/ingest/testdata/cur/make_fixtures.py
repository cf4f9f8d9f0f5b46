"""Writes the CUR test fixtures of crates/ingest/tests/cur_*.rs from the hand-entered rows below.

    python make_fixtures.py      (needs pyarrow; run from anywhere)

Outputs, next to this script:
  cur2.csv        CUR 2.0 (Data Exports) CSV: every line item type, maps as JSON cells
  cur2.parquet    the same rows as CUR 2.0 Parquet: doubles, timestamps, MAP<string,string> columns
  legacy.csv.gz   the same rows as legacy CUR: lineItem/... headers, one column per tag
  golden.csv      the FOCUS rows expected from them, worked out by hand (see docs/mapping.md)

The input rows describe one billing month (March 2025) of payer 111111111111 with a partly used
RDS Reserved Instance (744 hours bought, 500 used), a fully used partial-upfront Compute Savings
Plan ($0.05/hour: $0.02 upfront amortised + $0.03 recurring, all 744 hours used), an EC2 RI bought
all-upfront, and one line of every other line item type. Blended and net_* columns carry values
that differ from the unblended ones on purpose: the mapping must never use them.
"""

import csv
import datetime
import gzip
import io
import json
import pathlib
import re

import pyarrow as pa
import pyarrow.parquet as pq

HERE = pathlib.Path(__file__).resolve().parent
MONTH = ("2025-03-01T00:00:00Z", "2025-04-01T00:00:00Z")
RI_RDS = "arn:aws:rds:us-east-1:111111111111:ri:orders-ri"
RI_EC2 = "arn:aws:ec2:us-east-1:111111111111:reserved-instances/ri-ec2-0001"
SP = "arn:aws:savingsplans::111111111111:savingsplan/sp-0001"

COMMON = {
    "identity_time_interval": f"{MONTH[0]}/{MONTH[1]}",
    "bill_invoice_id": "EUINIE25-0001",
    "bill_invoicing_entity": "Amazon Web Services EMEA SARL",
    "bill_billing_entity": "AWS",
    "bill_bill_type": "Anniversary",
    "bill_payer_account_id": "111111111111",
    "bill_payer_account_name": "Acme Payer",
    "bill_billing_period_start_date": MONTH[0],
    "bill_billing_period_end_date": MONTH[1],
    "line_item_currency_code": "USD",
    "line_item_legal_entity": "Amazon Web Services, Inc.",
    "line_item_usage_start_date": MONTH[0],
    "line_item_usage_end_date": MONTH[1],
}
ACCOUNTS = {"111111111111": "Acme Payer", "222222222222": "web-prod", "333333333333": "data-prod"}

# (CUR 2.0 input row, expected FOCUS values). Amounts are text so nothing goes through a float here.
ROWS = [
    # 1. On-demand EC2.
    (dict(acct="222222222222", line_item_line_item_type="Usage", line_item_product_code="AmazonEC2",
          line_item_usage_type="USE1-BoxUsage:t3.medium", line_item_operation="RunInstances",
          line_item_availability_zone="us-east-1a", line_item_resource_id="i-0aaa1111",
          line_item_usage_amount="100", line_item_unblended_rate="0.0416", line_item_unblended_cost="4.16",
          line_item_blended_rate="0.04", line_item_blended_cost="4.00", line_item_net_unblended_cost="3.95",
          line_item_line_item_description="$0.0416 per On Demand Linux t3.medium Instance Hour",
          pricing_public_on_demand_cost="4.16", pricing_public_on_demand_rate="0.0416", pricing_term="OnDemand",
          pricing_unit="Hrs", pricing_rate_code="SKUT3MEDIUM01.JRTCKXETXF.6YS6EN2CT7", product_sku="SKUT3MEDIUM01",
          product_instance_type="t3.medium", product_product_family="Compute Instance",
          product_region_code="us-east-1", product_location="US East (N. Virginia)",
          product={"servicename": "Amazon Elastic Compute Cloud", "product_name": "Amazon Elastic Compute Cloud",
                   "region": "us-east-1", "operating_system": "Linux"},
          resource_tags={"user_team": "web", "user_env": "prod", "aws_created_by": "IAMUser:AIDAEXAMPLE:alice",
                         "user_empty": ""},
          cost_category={"team": "Web"}, discount={"total_discount": "-0.21"}),
     dict(ChargeCategory="Usage", ChargeFrequency="Usage-Based", PricingCategory="Standard",
          BilledCost="4.16", EffectiveCost="4.16", ListCost="4.16", ContractedCost="4.16",
          PricingQuantity="100", PricingUnit="Hours", ConsumedQuantity="100", ConsumedUnit="Hours",
          ListUnitPrice="0.0416", ContractedUnitPrice="0.0416",
          ServiceName="Amazon Elastic Compute Cloud", ServiceCategory="Compute", ServiceSubcategory="Virtual Machines",
          ResourceId="i-0aaa1111", ResourceType="instance", RegionId="us-east-1", RegionName="US East (N. Virginia)",
          AvailabilityZone="us-east-1a", SkuId="SKUT3MEDIUM01", SkuPriceId="SKUT3MEDIUM01.JRTCKXETXF.6YS6EN2CT7",
          x_InstanceType="t3.medium", x_ProductFamily="Compute Instance", x_Operation="RunInstances",
          Tags={"team": "web", "env": "prod", "aws:createdBy": "IAMUser:AIDAEXAMPLE:alice"},
          x_CostCategories={"team": "Web"})),
    # 2. Tiered S3 storage: the public rate times the quantity is not the public cost, so the list
    #    unit price is the cost over the quantity (22.50 / 1000).
    (dict(acct="333333333333", line_item_line_item_type="Usage", line_item_product_code="AmazonS3",
          line_item_usage_type="USW2-TimedStorage-ByteHrs", line_item_operation="StandardStorage",
          line_item_resource_id="acme-data-lake", line_item_usage_amount="1000", line_item_unblended_rate="0.0225",
          line_item_unblended_cost="22.50", line_item_blended_cost="23.50", line_item_net_unblended_cost="20.25",
          line_item_line_item_description="$0.023 per GB - first 50 TB / month of storage used",
          pricing_public_on_demand_cost="22.50", pricing_public_on_demand_rate="0.023", pricing_term="OnDemand",
          pricing_unit="GB-Mo", pricing_rate_code="SKUS3STD0001.JRTCKXETXF.PGHJ3S3EYE", product_sku="SKUS3STD0001",
          product_product_family="Storage", product_region_code="us-west-2", product_location="US West (Oregon)",
          product={"servicename": "Amazon Simple Storage Service", "product_name": "Amazon Simple Storage Service",
                   "region": "us-west-2", "storage_class": "General Purpose"},
          resource_tags={"user_team": "data", "aws_cloudformation_stack_name": "lake-stack"},
          cost_category={"team": "Data", "env": ""}),
     dict(ChargeCategory="Usage", ChargeFrequency="Usage-Based", PricingCategory="Standard",
          BilledCost="22.50", EffectiveCost="22.50", ListCost="22.50", ContractedCost="22.50",
          PricingQuantity="1000", PricingUnit="GB-Months", ConsumedQuantity="1000", ConsumedUnit="GB-Months",
          ListUnitPrice="0.0225", ContractedUnitPrice="0.0225",
          ServiceName="Amazon Simple Storage Service", ServiceCategory="Storage", ServiceSubcategory="Object Storage",
          ResourceId="acme-data-lake", ResourceType="Storage", RegionId="us-west-2", RegionName="US West (Oregon)",
          SkuId="SKUS3STD0001", SkuPriceId="SKUS3STD0001.JRTCKXETXF.PGHJ3S3EYE", x_ProductFamily="Storage",
          x_Operation="StandardStorage",
          Tags={"team": "data", "aws:cloudformation:stack-name": "lake-stack"}, x_CostCategories={"team": "Data"})),
    # 3. Spot: PricingCategory Dynamic; the list cost is the on-demand equivalent.
    (dict(acct="222222222222", line_item_line_item_type="Usage", line_item_product_code="AmazonEC2",
          line_item_usage_type="USE1-SpotUsage:m5.large", line_item_operation="RunInstances:SV001",
          line_item_availability_zone="us-east-1b", line_item_resource_id="i-0spot0001",
          line_item_usage_amount="10", line_item_unblended_rate="0.035", line_item_unblended_cost="0.35",
          line_item_line_item_description="$0.035 per Spot Linux m5.large Instance Hour",
          pricing_public_on_demand_cost="0.96", pricing_public_on_demand_rate="0.096", pricing_term="Spot",
          pricing_unit="Hrs", product_sku="SKUM5LARGE01", pricing_rate_code="SKUM5LARGE01.JRTCKXETXF.6YS6EN2CT7",
          product_instance_type="m5.large", product_product_family="Compute Instance", product_region_code="us-east-1",
          product={"servicename": "Amazon Elastic Compute Cloud"}, resource_tags={}, cost_category={}),
     dict(ChargeCategory="Usage", ChargeFrequency="Usage-Based", PricingCategory="Dynamic",
          BilledCost="0.35", EffectiveCost="0.35", ListCost="0.96", ContractedCost="0.35",
          PricingQuantity="10", PricingUnit="Hours", ConsumedQuantity="10", ConsumedUnit="Hours",
          ListUnitPrice="0.096", ContractedUnitPrice="0.035",
          ServiceName="Amazon Elastic Compute Cloud", ServiceCategory="Compute", ServiceSubcategory="Virtual Machines",
          ResourceId="i-0spot0001", ResourceType="instance", RegionId="us-east-1", RegionName="US East (N. Virginia)",
          AvailabilityZone="us-east-1b", SkuId="SKUM5LARGE01", SkuPriceId="SKUM5LARGE01.JRTCKXETXF.6YS6EN2CT7",
          x_InstanceType="m5.large", x_ProductFamily="Compute Instance", x_Operation="RunInstances:SV001")),
    # 4. Bedrock tokens, no resource.
    (dict(acct="333333333333", line_item_line_item_type="Usage", line_item_product_code="AmazonBedrock",
          line_item_usage_type="USE1-Claude3Sonnet-input-tokens", line_item_operation="InvokeModel",
          line_item_usage_amount="2.5", line_item_unblended_rate="3", line_item_unblended_cost="7.50",
          line_item_line_item_description="$3 per million input tokens",
          pricing_public_on_demand_cost="7.50", pricing_public_on_demand_rate="3", pricing_unit="Million Tokens",
          product_sku="SKUBEDROCK01", pricing_rate_code="SKUBEDROCK01.JRTCKXETXF.BEDROCK001",
          product_region_code="us-east-1", product={"servicename": "Amazon Bedrock"},
          resource_tags={"user_team": "ml"}),
     dict(ChargeCategory="Usage", ChargeFrequency="Usage-Based", PricingCategory="Standard",
          BilledCost="7.50", EffectiveCost="7.50", ListCost="7.50", ContractedCost="7.50",
          PricingQuantity="2.5", PricingUnit="Million Tokens", ConsumedQuantity="2.5", ConsumedUnit="Million Tokens",
          ListUnitPrice="3", ContractedUnitPrice="3",
          ServiceName="Amazon Bedrock", ServiceCategory="AI and Machine Learning", ServiceSubcategory="Generative AI",
          RegionId="us-east-1", RegionName="US East (N. Virginia)", SkuId="SKUBEDROCK01",
          SkuPriceId="SKUBEDROCK01.JRTCKXETXF.BEDROCK001", x_Operation="InvokeModel", Tags={"team": "ml"})),
    # 5. A fee that buys no commitment (a support plan): it covers no future charge, so its cost stays
    #    in EffectiveCost, and the FinOps Foundation's validator wants EffectiveCost 0 on every
    #    Purchase row: it is a one-time Usage charge.
    (dict(acct="111111111111", line_item_line_item_type="Fee", line_item_product_code="AWSSupportBusiness",
          line_item_usage_type="Dollar", line_item_usage_amount="1", line_item_unblended_cost="100.00",
          line_item_blended_cost="100.00",
          line_item_line_item_description="AWS Support (Business) monthly fee"),
     dict(ChargeCategory="Usage", ChargeFrequency="One-Time", PricingCategory="Standard",
          BilledCost="100.00", EffectiveCost="100.00", ListCost="100.00", ContractedCost="100.00",
          PricingQuantity="1", PricingUnit="Units", ConsumedQuantity="1", ConsumedUnit="Units",
          ListUnitPrice="100", ContractedUnitPrice="100",
          ServiceName="AWS Support (Business)", ServiceCategory="Management and Governance", ServiceSubcategory="Support")),
    # 6. RDS usage covered by the RI: billed 0 (paid through RIFee), effective 5.00 amortised upfront
    #    + 10.00 recurring.
    (dict(acct="333333333333", line_item_line_item_type="DiscountedUsage", line_item_product_code="AmazonRDS",
          line_item_usage_type="USE1-InstanceUsage:db.r5.large", line_item_operation="CreateDBInstance:0014",
          line_item_resource_id="arn:aws:rds:us-east-1:333333333333:db:orders", line_item_usage_amount="500",
          line_item_unblended_rate="0", line_item_unblended_cost="0", line_item_blended_cost="12.00",
          line_item_line_item_description="USD 0.02 hourly fee per PostgreSQL, db.r5.large instance",
          pricing_public_on_demand_cost="125.00", pricing_public_on_demand_rate="0.25", pricing_term="Reserved",
          pricing_unit="Hrs", product_sku="SKURDSR5L01", pricing_rate_code="SKURDSR5L01.HU7G6KETJZ.2TG2D8R56U",
          product_instance_type="db.r5.large", product_product_family="Database Instance",
          product_region_code="us-east-1", product={"servicename": "Amazon Relational Database Service"},
          reservation_reservation_a_r_n=RI_RDS, reservation_effective_cost="15.00",
          reservation_amortized_upfront_cost_for_usage="5.00", reservation_recurring_fee_for_usage="10.00",
          reservation_net_effective_cost="13.50",
          resource_tags={"user_team": "data", "user_env": "prod"}),
     dict(ChargeCategory="Usage", ChargeFrequency="Usage-Based", PricingCategory="Committed",
          CommitmentDiscountStatus="Used", CommitmentDiscountId=RI_RDS, CommitmentDiscountType="Reserved Instance",
          CommitmentDiscountCategory="Usage", CommitmentDiscountQuantity="500", CommitmentDiscountUnit="Hours",
          BilledCost="0", EffectiveCost="15.00", ListCost="125.00", ContractedCost="125.00",
          PricingQuantity="500", PricingUnit="Hours", ConsumedQuantity="500", ConsumedUnit="Hours",
          ListUnitPrice="0.25", ContractedUnitPrice="0.25",
          ServiceName="Amazon Relational Database Service", ServiceCategory="Databases",
          ServiceSubcategory="Relational Databases", ResourceId="arn:aws:rds:us-east-1:333333333333:db:orders",
          ResourceType="db", RegionId="us-east-1", RegionName="US East (N. Virginia)", SkuId="SKURDSR5L01",
          SkuPriceId="SKURDSR5L01.HU7G6KETJZ.2TG2D8R56U", x_InstanceType="db.r5.large",
          x_ProductFamily="Database Instance", x_Operation="CreateDBInstance:0014",
          Tags={"team": "data", "env": "prod"})),
    # 7. The RI's monthly fee: 744 h x 0.02 = 14.88 billed, a recurring Purchase (EffectiveCost 0);
    #    its unused 244 h (2.44 amortised upfront + 4.88 recurring = 7.32) are a second, Unused row
    #    that bills nothing, at the RI's effective rate 7.32 / 244 = 0.03 per hour.
    (dict(acct="111111111111", line_item_line_item_type="RIFee", line_item_product_code="AmazonRDS",
          line_item_usage_type="HeavyUsage:db.r5.large", line_item_operation="CreateDBInstance:0014",
          line_item_usage_amount="744", line_item_unblended_rate="0.02", line_item_unblended_cost="14.88",
          line_item_blended_cost="14.88",
          line_item_line_item_description="USD 0.02 hourly fee per PostgreSQL, db.r5.large instance",
          pricing_unit="Hrs", product_region_code="us-east-1",
          product={"servicename": "Amazon Relational Database Service"},
          reservation_reservation_a_r_n=RI_RDS, reservation_amortized_upfront_fee_for_billing_period="7.44",
          reservation_unused_amortized_upfront_fee_for_billing_period="2.44",
          reservation_unused_recurring_fee="4.88", reservation_unused_quantity="244",
          reservation_total_reserved_units="744", reservation_net_unused_recurring_fee="4.40"),
     [dict(ChargeCategory="Purchase", ChargeFrequency="Recurring", PricingCategory="Standard",
           CommitmentDiscountId=RI_RDS, CommitmentDiscountType="Reserved Instance",
           CommitmentDiscountCategory="Usage", CommitmentDiscountQuantity="744", CommitmentDiscountUnit="Hours",
           BilledCost="14.88", EffectiveCost="0", ListCost="14.88", ContractedCost="14.88",
           PricingQuantity="744", PricingUnit="Hours", ListUnitPrice="0.02", ContractedUnitPrice="0.02",
           ServiceName="Amazon Relational Database Service", ServiceCategory="Databases",
           ServiceSubcategory="Relational Databases", ResourceId=RI_RDS, ResourceType="ri",
           RegionId="us-east-1", RegionName="US East (N. Virginia)", x_Operation="CreateDBInstance:0014"),
      dict(ChargeCategory="Usage", ChargeFrequency="Usage-Based", PricingCategory="Committed",
           CommitmentDiscountStatus="Unused", CommitmentDiscountId=RI_RDS, CommitmentDiscountType="Reserved Instance",
           CommitmentDiscountCategory="Usage", CommitmentDiscountQuantity="244", CommitmentDiscountUnit="Hours",
           BilledCost="0", EffectiveCost="7.32", ListCost="0", ContractedCost="7.32",
           PricingQuantity="244", PricingUnit="Hours", ListUnitPrice="0", ContractedUnitPrice="0.03",
           ServiceName="Amazon Relational Database Service", ServiceCategory="Databases",
           ServiceSubcategory="Relational Databases", ResourceId=RI_RDS, ResourceType="ri",
           RegionId="us-east-1", RegionName="US East (N. Virginia)", x_Operation="CreateDBInstance:0014")]),
    # 8. An EC2 RI bought all upfront: a Purchase with EffectiveCost 0 (its cost is amortised into
    #    the usage it covers and its RIFee lines).
    (dict(acct="111111111111", line_item_line_item_type="Fee", line_item_product_code="AmazonEC2",
          line_item_usage_type="USE1-HeavyUsage:m5.large", line_item_usage_amount="1",
          line_item_unblended_cost="500.00", line_item_blended_cost="500.00",
          line_item_line_item_description="Sign up charge for subscription: 1234, planId: 5678",
          product_region_code="us-east-1", product={"servicename": "Amazon Elastic Compute Cloud"},
          reservation_reservation_a_r_n=RI_EC2, reservation_total_reserved_units="8760"),
     dict(ChargeCategory="Purchase", ChargeFrequency="One-Time", PricingCategory="Standard",
          CommitmentDiscountId=RI_EC2, CommitmentDiscountType="Reserved Instance", CommitmentDiscountCategory="Usage",
          CommitmentDiscountQuantity="8760", CommitmentDiscountUnit="Hours",
          BilledCost="500.00", EffectiveCost="0", ListCost="500.00", ContractedCost="500.00",
          PricingQuantity="1", PricingUnit="Units", ListUnitPrice="500", ContractedUnitPrice="500",
          ServiceName="Amazon Elastic Compute Cloud", ServiceCategory="Compute", ServiceSubcategory="Virtual Machines",
          ResourceId=RI_EC2, ResourceType="reserved-instances", RegionId="us-east-1",
          RegionName="US East (N. Virginia)")),
    # 9. EC2 usage covered by the Savings Plan: AWS bills it at on-demand 620 h x 0.096 = 59.52 and
    #    takes that back on the negation (row 10); folded together it bills 0 (the plan's fees pay
    #    for it), effective at the plan rate 620 h x 0.06 = 37.20, contracted at on-demand 59.52.
    (dict(acct="222222222222", line_item_line_item_type="SavingsPlanCoveredUsage", line_item_product_code="AmazonEC2",
          line_item_usage_type="USE1-BoxUsage:m5.large", line_item_operation="RunInstances",
          line_item_availability_zone="us-east-1a", line_item_resource_id="i-0bbb2222",
          line_item_usage_amount="620", line_item_unblended_rate="0.096", line_item_unblended_cost="59.52",
          line_item_blended_cost="59.52",
          line_item_line_item_description="$0.096 per On Demand Linux m5.large Instance Hour",
          pricing_public_on_demand_cost="59.52", pricing_public_on_demand_rate="0.096", pricing_term="OnDemand",
          pricing_unit="Hrs", product_sku="SKUM5LARGE01", pricing_rate_code="SKUM5LARGE01.JRTCKXETXF.6YS6EN2CT7",
          product_instance_type="m5.large", product_product_family="Compute Instance", product_region_code="us-east-1",
          product={"servicename": "Amazon Elastic Compute Cloud"},
          savings_plan_savings_plan_a_r_n=SP, savings_plan_savings_plan_effective_cost="37.20",
          savings_plan_savings_plan_rate="0.06", savings_plan_net_savings_plan_effective_cost="33.48",
          resource_tags={"user_team": "web", "user_env": "prod"}, cost_category={"team": "Web"}),
     dict(ChargeCategory="Usage", ChargeFrequency="Usage-Based", PricingCategory="Committed",
          CommitmentDiscountStatus="Used", CommitmentDiscountId=SP, CommitmentDiscountType="Savings Plan",
          CommitmentDiscountCategory="Spend", CommitmentDiscountQuantity="37.20", CommitmentDiscountUnit="USD",
          BilledCost="0", EffectiveCost="37.20", ListCost="59.52", ContractedCost="59.52",
          PricingQuantity="620", PricingUnit="Hours", ConsumedQuantity="620", ConsumedUnit="Hours",
          ListUnitPrice="0.096", ContractedUnitPrice="0.096",
          ServiceName="Amazon Elastic Compute Cloud", ServiceCategory="Compute", ServiceSubcategory="Virtual Machines",
          ResourceId="i-0bbb2222", ResourceType="instance", RegionId="us-east-1", RegionName="US East (N. Virginia)",
          AvailabilityZone="us-east-1a", SkuId="SKUM5LARGE01", SkuPriceId="SKUM5LARGE01.JRTCKXETXF.6YS6EN2CT7",
          x_InstanceType="m5.large", x_ProductFamily="Compute Instance", x_Operation="RunInstances",
          Tags={"team": "web", "env": "prod"}, x_CostCategories={"team": "Web"})),
    # 10. Its negation: takes the on-demand amount back off the bill. It folds into row 9 (same
    #     payer, account, resource, usage type, operation, period and plan) and is no FOCUS row.
    (dict(acct="222222222222", line_item_line_item_type="SavingsPlanNegation", line_item_product_code="AmazonEC2",
          line_item_usage_type="USE1-BoxUsage:m5.large", line_item_operation="RunInstances",
          line_item_availability_zone="us-east-1a", line_item_resource_id="i-0bbb2222",
          line_item_usage_amount="620", line_item_unblended_rate="-0.096", line_item_unblended_cost="-59.52",
          line_item_blended_cost="-59.52",
          line_item_line_item_description="SavingsPlanNegation used by AccountId : 222222222222 and UsageSku : SKUM5LARGE01",
          pricing_public_on_demand_rate="0.096", pricing_unit="Hrs", product_sku="SKUM5LARGE01",
          pricing_rate_code="SKUM5LARGE01.JRTCKXETXF.6YS6EN2CT7", product_instance_type="m5.large",
          product_product_family="Compute Instance", product_region_code="us-east-1",
          product={"servicename": "Amazon Elastic Compute Cloud"}, savings_plan_savings_plan_a_r_n=SP,
          resource_tags={"user_team": "web", "user_env": "prod"}, cost_category={"team": "Web"}),
     None),
    # 11. The plan's recurring fee for the month: 744 h x 0.03 = 22.32 billed, a recurring Purchase
    #     whose CommitmentDiscountQuantity is the spend it pays for; fully used (37.20 of 37.20
    #     committed), so there is no Unused row.
    (dict(acct="111111111111", line_item_line_item_type="SavingsPlanRecurringFee",
          line_item_product_code="ComputeSavingsPlans", line_item_usage_type="ComputeSP:1yrPartialUpfront",
          line_item_operation="", line_item_usage_amount="744", line_item_unblended_rate="0.03",
          line_item_unblended_cost="22.32", line_item_blended_cost="22.32",
          line_item_line_item_description="1 year Partial Upfront Compute Savings Plan recurring fee",
          product={"servicename": "Savings Plans for AWS Compute usage"},
          savings_plan_savings_plan_a_r_n=SP, savings_plan_total_commitment_to_date="37.20",
          savings_plan_used_commitment="37.20", savings_plan_amortized_upfront_commitment_for_billing_period="14.88",
          savings_plan_recurring_commitment_for_billing_period="22.32"),
     dict(ChargeCategory="Purchase", ChargeFrequency="Recurring", PricingCategory="Standard",
          CommitmentDiscountId=SP, CommitmentDiscountType="Savings Plan",
          CommitmentDiscountCategory="Spend", CommitmentDiscountQuantity="22.32", CommitmentDiscountUnit="USD",
          BilledCost="22.32", EffectiveCost="0", ListCost="22.32", ContractedCost="22.32",
          PricingQuantity="744", PricingUnit="Hours", ListUnitPrice="0.03", ContractedUnitPrice="0.03",
          ServiceName="Savings Plans for AWS Compute usage", ServiceCategory="Compute",
          ServiceSubcategory="Other (Compute)", ResourceId=SP, ResourceType="savingsplan")),
    # 12. The plan's upfront payment, bought on 1 March for a year: 8760 h x 0.02 = 175.20.
    (dict(acct="111111111111", line_item_line_item_type="SavingsPlanUpfrontFee",
          line_item_product_code="ComputeSavingsPlans", line_item_usage_type="ComputeSP:1yrPartialUpfront",
          line_item_usage_start_date="2025-03-01T00:00:00Z", line_item_usage_end_date="2025-03-01T01:00:00Z",
          line_item_usage_amount="1", line_item_unblended_cost="175.20", line_item_blended_cost="175.20",
          line_item_line_item_description="USD 175.2 one-time fee for 1 year Partial Upfront Compute Savings Plan",
          product={"servicename": "Savings Plans for AWS Compute usage"}, savings_plan_savings_plan_a_r_n=SP),
     dict(ChargeCategory="Purchase", ChargeFrequency="One-Time", PricingCategory="Standard",
          CommitmentDiscountId=SP, CommitmentDiscountType="Savings Plan", CommitmentDiscountCategory="Spend",
          CommitmentDiscountQuantity="175.20", CommitmentDiscountUnit="USD",
          BilledCost="175.20", EffectiveCost="0", ListCost="175.20", ContractedCost="175.20",
          PricingQuantity="1", PricingUnit="Units", ListUnitPrice="175.2", ContractedUnitPrice="175.2",
          ServiceName="Savings Plans for AWS Compute usage", ServiceCategory="Compute",
          ServiceSubcategory="Other (Compute)", ResourceId=SP, ResourceType="savingsplan",
          ChargePeriodEnd="2025-03-01T01:00:00Z")),
    # 13. Tax: no SKU, price or quantity; the publisher falls back to AWS's entity.
    (dict(acct="222222222222", line_item_line_item_type="Tax", line_item_product_code="AmazonEC2",
          line_item_usage_type="Tax", line_item_unblended_cost="5.00", line_item_blended_cost="5.00",
          line_item_line_item_description="Tax for product code AmazonEC2", line_item_tax_type="Sales",
          line_item_legal_entity="", product_sku="SKUTAX0001", product={"servicename": "Amazon Elastic Compute Cloud"}),
     dict(ChargeCategory="Tax", ChargeFrequency="One-Time",
          BilledCost="5.00", EffectiveCost="5.00", ListCost="5.00", ContractedCost="5.00",
          ServiceName="Amazon Elastic Compute Cloud", ServiceCategory="Compute", ServiceSubcategory="Virtual Machines")),
    # 14. A promotional credit.
    (dict(acct="222222222222", line_item_line_item_type="Credit", line_item_product_code="AmazonEC2",
          line_item_usage_type="USE1-BoxUsage:t3.medium", line_item_unblended_cost="-10.00",
          line_item_line_item_description="AWS Activate Credits", product={"servicename": "Amazon Elastic Compute Cloud"}),
     dict(ChargeCategory="Credit", ChargeFrequency="One-Time",
          BilledCost="-10.00", EffectiveCost="-10.00", ListCost="-10.00", ContractedCost="-10.00",
          ServiceName="Amazon Elastic Compute Cloud", ServiceCategory="Compute", ServiceSubcategory="Virtual Machines")),
    # 15. A refund of February's S3 storage: it names the usage type it refunds, so it is a Usage
    #     charge (FOCUS files a refund under what it refunds), a correction of an invoiced period.
    (dict(acct="333333333333", line_item_line_item_type="Refund", line_item_product_code="AmazonS3",
          line_item_usage_type="USW2-TimedStorage-ByteHrs", line_item_usage_start_date="2025-02-01T00:00:00Z",
          line_item_usage_end_date="2025-03-01T00:00:00Z", line_item_unblended_cost="-2.00",
          line_item_line_item_description="Refund for February storage",
          product={"servicename": "Amazon Simple Storage Service"}),
     dict(ChargeCategory="Usage", ChargeClass="Correction", ChargeFrequency="One-Time", PricingCategory="Standard",
          BilledCost="-2.00", EffectiveCost="-2.00", ListCost="-2.00", ContractedCost="-2.00",
          ServiceName="Amazon Simple Storage Service", ServiceCategory="Storage", ServiceSubcategory="Object Storage",
          ChargePeriodStart="2025-02-01T00:00:00Z", ChargePeriodEnd="2025-03-01T00:00:00Z")),
    # 16-20. Negotiated and other discounts, kept as their own rows (the net_* columns are never
    #        read); they lower what is billed, contracted and effective, not the list cost.
    (dict(acct="222222222222", line_item_line_item_type="EdpDiscount", line_item_product_code="AmazonEC2",
          line_item_usage_type="USE1-BoxUsage:t3.medium", line_item_unblended_cost="-0.50",
          line_item_line_item_description="Enterprise Program Discount", product={"servicename": "Amazon Elastic Compute Cloud"}),
     dict(ChargeCategory="Credit", ChargeFrequency="Usage-Based",
          BilledCost="-0.50", EffectiveCost="-0.50", ListCost="0", ContractedCost="-0.50",
          ServiceName="Amazon Elastic Compute Cloud", ServiceCategory="Compute", ServiceSubcategory="Virtual Machines")),
    (dict(acct="333333333333", line_item_line_item_type="BundledDiscount", line_item_product_code="AmazonCloudWatch",
          line_item_usage_type="CW:MetricMonitorUsage", line_item_unblended_cost="-0.30",
          line_item_line_item_description="Free metrics with the bundle", product={"servicename": "AmazonCloudWatch"}),
     dict(ChargeCategory="Credit", ChargeFrequency="Usage-Based",
          BilledCost="-0.30", EffectiveCost="-0.30", ListCost="0", ContractedCost="-0.30",
          ServiceName="AmazonCloudWatch", ServiceCategory="Management and Governance", ServiceSubcategory="Observability")),
    (dict(acct="222222222222", line_item_line_item_type="PrivateRateDiscount", line_item_product_code="AmazonEC2",
          line_item_usage_type="USE1-BoxUsage:t3.medium", line_item_unblended_cost="-0.40",
          line_item_line_item_description="Private rate discount", product={"servicename": "Amazon Elastic Compute Cloud"}),
     dict(ChargeCategory="Credit", ChargeFrequency="Usage-Based",
          BilledCost="-0.40", EffectiveCost="-0.40", ListCost="0", ContractedCost="-0.40",
          ServiceName="Amazon Elastic Compute Cloud", ServiceCategory="Compute", ServiceSubcategory="Virtual Machines")),
    (dict(acct="333333333333", line_item_line_item_type="SppDiscount", line_item_product_code="AmazonS3",
          line_item_usage_type="USW2-TimedStorage-ByteHrs", line_item_unblended_cost="-1.20",
          line_item_line_item_description="Solution Provider Program discount",
          product={"servicename": "Amazon Simple Storage Service"}),
     dict(ChargeCategory="Credit", ChargeFrequency="Usage-Based",
          BilledCost="-1.20", EffectiveCost="-1.20", ListCost="0", ContractedCost="-1.20",
          ServiceName="Amazon Simple Storage Service", ServiceCategory="Storage", ServiceSubcategory="Object Storage")),
    (dict(acct="222222222222", line_item_line_item_type="DistributorDiscount", line_item_product_code="AmazonCloudFront",
          line_item_usage_type="US-DataTransfer-Out-Bytes", line_item_unblended_cost="-0.25",
          line_item_line_item_description="Distributor discount", product={"servicename": "Amazon CloudFront"}),
     dict(ChargeCategory="Credit", ChargeFrequency="Usage-Based",
          BilledCost="-0.25", EffectiveCost="-0.25", ListCost="0", ContractedCost="-0.25",
          ServiceName="Amazon CloudFront", ServiceCategory="Networking", ServiceSubcategory="Content Delivery")),
    # 21. Data transfer billed under AmazonEC2: the service is the one AWS names in the product.
    (dict(acct="222222222222", line_item_line_item_type="Usage", line_item_product_code="AmazonEC2",
          line_item_usage_type="USE1-DataTransfer-Out-Bytes", line_item_operation="RunInstances",
          line_item_resource_id="i-0aaa1111", line_item_usage_amount="50", line_item_unblended_rate="0.09",
          line_item_unblended_cost="4.50", line_item_line_item_description="$0.09 per GB - first 10 TB / month data transfer out",
          pricing_public_on_demand_cost="4.50", pricing_public_on_demand_rate="0.09", pricing_unit="GB",
          product_sku="SKUDTOUT0001", pricing_rate_code="SKUDTOUT0001.JRTCKXETXF.DTOUT00001",
          product_product_family="Data Transfer", product_region_code="us-east-1",
          product={"servicename": "AWS Data Transfer", "product_name": "Amazon Elastic Compute Cloud",
                   "transfer_type": "AWS Outbound"},
          resource_tags={"user_team": "web"}),
     dict(ChargeCategory="Usage", ChargeFrequency="Usage-Based", PricingCategory="Standard",
          BilledCost="4.50", EffectiveCost="4.50", ListCost="4.50", ContractedCost="4.50",
          PricingQuantity="50", PricingUnit="GB", ConsumedQuantity="50", ConsumedUnit="GB",
          ListUnitPrice="0.09", ContractedUnitPrice="0.09",
          ServiceName="AWS Data Transfer", ServiceCategory="Networking", ServiceSubcategory="Network Connectivity",
          ResourceId="i-0aaa1111", ResourceType="instance", RegionId="us-east-1", RegionName="US East (N. Virginia)",
          SkuId="SKUDTOUT0001", SkuPriceId="SKUDTOUT0001.JRTCKXETXF.DTOUT00001", x_ProductFamily="Data Transfer",
          x_Operation="RunInstances", Tags={"team": "web"})),
    # 22. Lambda: a compound unit and a 10-decimal rate; no product map (flattened product columns
    #     only), so the service name comes from the product code.
    (dict(acct="222222222222", line_item_line_item_type="Usage", line_item_product_code="AWSLambda",
          line_item_usage_type="USE1-Lambda-GB-Second", line_item_operation="Invoke",
          line_item_resource_id="arn:aws:lambda:us-east-1:222222222222:function:checkout",
          line_item_usage_amount="400000", line_item_unblended_rate="0.0000166667",
          line_item_unblended_cost="6.66668", line_item_line_item_description="AWS Lambda - Total Compute",
          pricing_public_on_demand_cost="6.66668", pricing_public_on_demand_rate="0.0000166667",
          pricing_unit="Lambda-GB-Second", product_sku="SKULAMBDA001",
          pricing_rate_code="SKULAMBDA001.JRTCKXETXF.LAMBDA0001", product_product_family="Serverless",
          product_region_code="us-east-1", resource_tags={"user_team": "web"}),
     dict(ChargeCategory="Usage", ChargeFrequency="Usage-Based", PricingCategory="Standard",
          BilledCost="6.66668", EffectiveCost="6.66668", ListCost="6.66668", ContractedCost="6.66668",
          PricingQuantity="400000", PricingUnit="Lambda GB-Seconds", ConsumedQuantity="400000",
          ConsumedUnit="Lambda GB-Seconds", ListUnitPrice="0.0000166667", ContractedUnitPrice="0.0000166667",
          ServiceName="AWS Lambda", ServiceCategory="Compute", ServiceSubcategory="Serverless Compute",
          ResourceId="arn:aws:lambda:us-east-1:222222222222:function:checkout", ResourceType="function",
          RegionId="us-east-1", RegionName="US East (N. Virginia)", SkuId="SKULAMBDA001",
          SkuPriceId="SKULAMBDA001.JRTCKXETXF.LAMBDA0001", x_ProductFamily="Serverless", x_Operation="Invoke",
          Tags={"team": "web"})),
    # 23. An EKS pod's split cost allocation line: the split_line_item_* values go to x_Split*
    #     columns and add nothing to any cost.
    (dict(acct="222222222222", line_item_line_item_type="Usage", line_item_product_code="AmazonEKS",
          line_item_usage_type="USE1-EKS-EC2-vCPU-Hours", line_item_operation="EKSPod-EC2",
          line_item_resource_id="arn:aws:eks:us-east-1:222222222222:pod/prod/checkout/abc",
          line_item_usage_amount="10", line_item_unblended_rate="0", line_item_unblended_cost="0",
          line_item_line_item_description="EKS pod vCPU usage", pricing_public_on_demand_cost="0",
          pricing_public_on_demand_rate="0", pricing_unit="vCPU-Hours", product_region_code="us-east-1",
          product={"servicename": "Amazon Elastic Container Service for Kubernetes"},
          split_line_item_parent_resource_id="i-0aaa1111", split_line_item_split_usage="10",
          split_line_item_split_usage_ratio="0.25", split_line_item_actual_usage="8",
          split_line_item_reserved_usage="10", split_line_item_split_cost="1.20", split_line_item_unused_cost="0.10",
          split_line_item_net_split_cost="1.10", split_line_item_net_unused_cost="0.09",
          split_line_item_public_on_demand_split_cost="1.25", split_line_item_public_on_demand_unused_cost="0.11",
          resource_tags={"aws_eks_cluster_name": "prod", "aws_eks_namespace": "checkout", "user_team": "web",
                         "aws_custom_thing": "x"}),
     dict(ChargeCategory="Usage", ChargeFrequency="Usage-Based", PricingCategory="Standard",
          BilledCost="0", EffectiveCost="0", ListCost="0", ContractedCost="0",
          PricingQuantity="10", PricingUnit="vCPU-Hours", ConsumedQuantity="10", ConsumedUnit="vCPU-Hours",
          ListUnitPrice="0", ContractedUnitPrice="0",
          ServiceName="Amazon Elastic Container Service for Kubernetes", ServiceCategory="Compute",
          ServiceSubcategory="Containers", ResourceId="arn:aws:eks:us-east-1:222222222222:pod/prod/checkout/abc",
          ResourceType="pod", RegionId="us-east-1", RegionName="US East (N. Virginia)", x_Operation="EKSPod-EC2",
          x_SplitParentResourceId="i-0aaa1111", x_SplitUsage="10", x_SplitUsageRatio="0.25", x_SplitActualUsage="8",
          x_SplitReservedUsage="10", x_SplitCost="1.20", x_SplitUnusedCost="0.10", x_SplitNetSplitCost="1.10",
          x_SplitNetUnusedCost="0.09", x_SplitPublicOnDemandSplitCost="1.25", x_SplitPublicOnDemandUnusedCost="0.11",
          Tags={"aws:eks:cluster-name": "prod", "aws:eks:namespace": "checkout", "team": "web",
                "aws:custom_thing": "x"})),
]

CUR2_COLUMNS = [
    "identity_line_item_id", "identity_time_interval", "bill_invoice_id", "bill_invoicing_entity",
    "bill_billing_entity", "bill_bill_type", "bill_payer_account_id", "bill_payer_account_name",
    "bill_billing_period_start_date", "bill_billing_period_end_date", "line_item_usage_account_id",
    "line_item_usage_account_name", "line_item_line_item_type", "line_item_usage_start_date",
    "line_item_usage_end_date", "line_item_product_code", "line_item_usage_type", "line_item_operation",
    "line_item_availability_zone", "line_item_resource_id", "line_item_usage_amount", "line_item_currency_code",
    "line_item_unblended_rate", "line_item_unblended_cost", "line_item_blended_rate", "line_item_blended_cost",
    "line_item_net_unblended_cost", "line_item_line_item_description", "line_item_tax_type", "line_item_legal_entity",
    "product", "product_instance_type", "product_product_family", "product_region_code", "product_location",
    "product_sku", "pricing_rate_code", "pricing_public_on_demand_cost", "pricing_public_on_demand_rate",
    "pricing_term", "pricing_unit", "reservation_reservation_a_r_n", "reservation_effective_cost",
    "reservation_net_effective_cost", "reservation_amortized_upfront_cost_for_usage",
    "reservation_recurring_fee_for_usage", "reservation_amortized_upfront_fee_for_billing_period",
    "reservation_unused_amortized_upfront_fee_for_billing_period", "reservation_unused_recurring_fee",
    "reservation_net_unused_recurring_fee", "reservation_unused_quantity", "reservation_total_reserved_units",
    "savings_plan_savings_plan_a_r_n", "savings_plan_savings_plan_effective_cost",
    "savings_plan_net_savings_plan_effective_cost", "savings_plan_savings_plan_rate",
    "savings_plan_total_commitment_to_date", "savings_plan_used_commitment",
    "savings_plan_amortized_upfront_commitment_for_billing_period",
    "savings_plan_recurring_commitment_for_billing_period", "split_line_item_parent_resource_id",
    "split_line_item_split_usage", "split_line_item_split_usage_ratio", "split_line_item_actual_usage",
    "split_line_item_reserved_usage", "split_line_item_split_cost", "split_line_item_unused_cost",
    "split_line_item_net_split_cost", "split_line_item_net_unused_cost",
    "split_line_item_public_on_demand_split_cost", "split_line_item_public_on_demand_unused_cost",
    "resource_tags", "cost_category", "discount",
]
MAPS = ("product", "resource_tags", "cost_category", "discount")
# CUR 2.0 Parquet stores amounts and quantities as doubles and keeps rates (and ids) as text.
DOUBLES = {
    "line_item_usage_amount", "line_item_unblended_cost", "line_item_blended_cost", "line_item_net_unblended_cost",
    "pricing_public_on_demand_cost", "reservation_effective_cost", "reservation_net_effective_cost",
    "reservation_amortized_upfront_cost_for_usage", "reservation_recurring_fee_for_usage",
    "reservation_amortized_upfront_fee_for_billing_period",
    "reservation_unused_amortized_upfront_fee_for_billing_period", "reservation_unused_recurring_fee",
    "reservation_net_unused_recurring_fee", "reservation_unused_quantity", "reservation_total_reserved_units",
    "savings_plan_savings_plan_effective_cost", "savings_plan_net_savings_plan_effective_cost",
    "savings_plan_savings_plan_rate", "savings_plan_total_commitment_to_date", "savings_plan_used_commitment",
    "savings_plan_amortized_upfront_commitment_for_billing_period",
    "savings_plan_recurring_commitment_for_billing_period", "split_line_item_split_usage",
    "split_line_item_split_usage_ratio", "split_line_item_actual_usage", "split_line_item_reserved_usage",
    "split_line_item_split_cost", "split_line_item_unused_cost", "split_line_item_net_split_cost",
    "split_line_item_net_unused_cost", "split_line_item_public_on_demand_split_cost",
    "split_line_item_public_on_demand_unused_cost",
}
TIMESTAMPS = {"bill_billing_period_start_date", "bill_billing_period_end_date", "line_item_usage_start_date",
              "line_item_usage_end_date"}


def cur2_rows():
    out = []
    for i, (row, _) in enumerate(ROWS, 1):
        r = dict(COMMON)
        r.update({k: v for k, v in row.items() if k != "acct"})
        r["identity_line_item_id"] = f"li-{i:02d}"
        r["line_item_usage_account_id"] = row["acct"]
        r["line_item_usage_account_name"] = ACCOUNTS[row["acct"]]
        out.append(r)
    return out


def write_cur2_csv(rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CUR2_COLUMNS)
    for r in rows:
        w.writerow([json.dumps(r[c]) if c in MAPS and c in r else r.get(c, "") for c in CUR2_COLUMNS])
    (HERE / "cur2.csv").write_text(buf.getvalue())


def write_cur2_parquet(rows):
    arrays = []
    fields = []
    for c in CUR2_COLUMNS:
        vals = [r.get(c) for r in rows]
        if c in MAPS:
            t = pa.map_(pa.string(), pa.string())
            data = [None if v is None else [(k, x) for k, x in v.items()] for v in vals]
        elif c in DOUBLES:
            t = pa.float64()
            data = [float(v) if v not in (None, "") else None for v in vals]
        elif c in TIMESTAMPS:
            t = pa.timestamp("ms", tz="UTC")
            data = [datetime.datetime.fromisoformat(v.replace("Z", "+00:00")) if v else None for v in vals]
        else:
            t = pa.string()
            data = [v if v is not None else None for v in vals]
        arrays.append(pa.array(data, t))
        fields.append(pa.field(c, t))
    pq.write_table(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), HERE / "cur2.parquet")


def legacy_header(c):
    """The legacy CUR spelling of a CUR 2.0 column (only the categories the fixture uses)."""
    cats = {"identity": "identity", "bill": "bill", "line_item": "lineItem", "pricing": "pricing",
            "product": "product", "reservation": "reservation", "savings_plan": "savingsPlan",
            "split_line_item": "splitLineItem"}
    special = {
        "reservation_reservation_a_r_n": "reservation/ReservationARN",
        "savings_plan_savings_plan_a_r_n": "savingsPlan/SavingsPlanARN",
        "pricing_public_on_demand_cost": "pricing/publicOnDemandCost",
        "pricing_public_on_demand_rate": "pricing/publicOnDemandRate",
        "pricing_unit": "pricing/unit", "pricing_term": "pricing/term", "pricing_rate_code": "pricing/RateCode",
        "product_sku": "product/sku", "product_instance_type": "product/instanceType",
        "product_product_family": "product/productFamily", "product_region_code": "product/regionCode",
        "product_location": "product/location",
    }
    if c in special:
        return special[c]
    for prefix in sorted(cats, key=len, reverse=True):
        if c.startswith(prefix + "_"):
            rest = c[len(prefix) + 1:]
            return cats[prefix] + "/" + "".join(p.capitalize() for p in rest.split("_"))
    raise ValueError(c)


LEGACY_PRODUCT = {"servicename": "product/servicename", "product_name": "product/ProductName",
                  "region": "product/region"}


def legacy_tag_header(key):
    # The CUR 2.0 keys the fixture uses, as legacy CUR spells the same tags.
    known = {"aws_created_by": "aws:createdBy", "aws_cloudformation_stack_name": "aws:cloudformation:stack-name",
             "aws_eks_cluster_name": "aws:eks:cluster-name", "aws_eks_namespace": "aws:eks:namespace",
             "aws_custom_thing": "aws:custom_thing"}
    if key.startswith("user_"):
        return "resourceTags/user:" + key[len("user_"):]
    return "resourceTags/" + known[key]


def write_legacy(rows):
    # Legacy CUR has no account names; everything else is the same data.
    scalar = [c for c in CUR2_COLUMNS if c not in MAPS and c not in
              ("line_item_usage_account_name", "bill_payer_account_name")]
    tag_keys = sorted({k for r in rows for k in r.get("resource_tags", {})})
    cc_keys = sorted({k for r in rows for k in r.get("cost_category", {})})
    header = [legacy_header(c) for c in scalar] + list(LEGACY_PRODUCT.values()) + \
        [legacy_tag_header(k) for k in tag_keys] + [f"costCategory/{k}" for k in cc_keys]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        line = [r.get(c, "") for c in scalar]
        line += [r.get("product", {}).get(k, "") for k in LEGACY_PRODUCT]
        line += [r.get("resource_tags", {}).get(k, "") for k in tag_keys]
        line += [r.get("cost_category", {}).get(k, "") for k in cc_keys]
        w.writerow(line)
    # mtime=0 keeps the file byte-identical from run to run.
    with gzip.GzipFile(HERE / "legacy.csv.gz", "wb", mtime=0) as f:
        f.write(buf.getvalue().encode())


GOLDEN_COLUMNS = [
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingAccountType",
    "BillingCurrency", "BillingPeriodEnd", "BillingPeriodStart", "CapacityReservationId",
    "CapacityReservationStatus", "ChargeCategory", "ChargeClass", "ChargeDescription", "ChargeFrequency",
    "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory", "CommitmentDiscountId",
    "CommitmentDiscountName", "CommitmentDiscountQuantity", "CommitmentDiscountStatus", "CommitmentDiscountType",
    "CommitmentDiscountUnit", "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice",
    "EffectiveCost", "InvoiceId", "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory",
    "PricingCurrency", "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice", "PricingQuantity", "PricingUnit", "ProviderName", "PublisherName", "RegionId",
    "RegionName", "ResourceId", "ResourceName", "ResourceType", "ServiceCategory", "ServiceName",
    "ServiceSubcategory", "SkuId", "SkuMeter", "SkuPriceDetails", "SkuPriceId", "SubAccountId", "SubAccountName",
    "SubAccountType", "Tags", "ServiceProviderName", "HostProviderName", "x_UsageType", "x_Operation",
    "x_InstanceType", "x_LineItemType", "x_PayerAccountId", "x_ServiceCode", "x_ProductFamily",
    "x_CostCategories", "x_RawTags", "x_SplitParentResourceId", "x_SplitUsage", "x_SplitUsageRatio",
    "x_SplitActualUsage", "x_SplitReservedUsage", "x_SplitCost", "x_SplitUnusedCost", "x_SplitNetSplitCost",
    "x_SplitNetUnusedCost", "x_SplitPublicOnDemandSplitCost", "x_SplitPublicOnDemandUnusedCost", "x_SourceFormat",
]


def golden_rows():
    """Expected values: the hand-entered ones above, plus what every row shares (constants and
    values copied straight from the input)."""
    out = []
    for (row, wants) in ROWS:
        # A line item gives no FOCUS row (a folded negation), one, or several (a split fee).
        wants = [] if wants is None else wants if isinstance(wants, list) else [wants]
        for want in wants:
            out.append(golden_row(row, want))
    return out


def golden_row(row, want):
    r = dict(COMMON)
    r.update(row)
    g = {
        "BillingAccountId": "111111111111", "BillingAccountName": "Acme Payer", "BillingCurrency": "USD",
        "BillingPeriodStart": MONTH[0], "BillingPeriodEnd": MONTH[1],
        "ChargePeriodStart": r["line_item_usage_start_date"], "ChargePeriodEnd": r["line_item_usage_end_date"],
        "ChargeDescription": r.get("line_item_line_item_description"),
        "InvoiceId": "EUINIE25-0001", "InvoiceIssuerName": "AWS",
        "ProviderName": "AWS", "ServiceProviderName": "AWS", "HostProviderName": "AWS",
        "PublisherName": r.get("line_item_legal_entity") or "Amazon Web Services, Inc.",
        "SubAccountId": row["acct"], "SubAccountName": ACCOUNTS[row["acct"]],
        "x_UsageType": r.get("line_item_usage_type"), "x_LineItemType": r["line_item_line_item_type"],
        "x_PayerAccountId": "111111111111", "x_ServiceCode": r["line_item_product_code"],
        "x_SourceFormat": "cur2", "x_Operation": r.get("line_item_operation") or None,
        "AvailabilityZone": r.get("line_item_availability_zone") or None,
        "x_RawTags": {k: v for k, v in r.get("resource_tags", {}).items() if v} or None,
    }
    g.update(want)
    # As AWS's FOCUS export does, the usage type is the meter of the row's SKU.
    if g.get("SkuId"):
        g["SkuMeter"] = r.get("line_item_usage_type")
    line = {}
    for c in GOLDEN_COLUMNS:
        v = g.get(c)
        line[c] = "" if v is None else json.dumps(v) if isinstance(v, dict) else v
    return line


def write_golden():
    buf = io.StringIO()
    w = csv.DictWriter(buf, GOLDEN_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(golden_rows())
    (HERE / "golden.csv").write_text(buf.getvalue())


if __name__ == "__main__":
    rows = cur2_rows()
    write_cur2_csv(rows)
    write_cur2_parquet(rows)
    write_legacy(rows)
    write_golden()
