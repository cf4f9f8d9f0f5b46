"""Writes a small AWS Data Exports (CUR 2.0) delivery typed and laid out as AWS documents it.

    python make_export.py      (needs pyarrow; deterministic; run from anywhere)

Output, next to this script, as a user has it after `aws s3 sync` of an export named `acme-cur`:

  acme-cur/data/BILLING_PERIOD=2025-01/acme-cur-00001.snappy.parquet
  acme-cur/data/BILLING_PERIOD=2025-01/acme-cur-00002.snappy.parquet
  acme-cur/metadata/BILLING_PERIOD=2025-01/acme-cur-Manifest.json

What makes it "as AWS writes it" (AWS CUR 2.0 table dictionary and Data Exports manifest):
- the rate and reservation-unit columns are STRING-typed (`line_item_unblended_rate`,
  `line_item_blended_rate`, `line_item_net_unblended_rate`, `pricing_public_on_demand_rate`,
  `reservation_total_reserved_units`, `reservation_units_per_reservation`,
  `reservation_number_of_reservations`, `reservation_normalized_units_per_reservation`,
  `reservation_total_reserved_normalized_units`), and hold `''` on every row they do not apply to;
- every other text column that does not apply holds `''` too (ARNs, availability zone, resource id,
  invoice id, the reservation and Savings Plan start and end times), never a null;
- amounts and quantities are doubles, dates are timestamps, `product`, `resource_tags` and
  `cost_category` are MAP<string,string>;
- the EDP discount is a line of its own (EdpDiscount), as an export with "manual discount
  compatibility" writes it: such an export has no `discount` map and no `discount_total_discount`;
- every row has its own `identity_line_item_id` and a description;
- the manifest lists the columns with their types and the data files as `s3://` URIs.

The month holds two payers in two currencies (111122223333 in USD, 444455556666 in EUR) with their
rows interleaved across both files: on-demand EC2, S3 and data transfer, RDS usage covered by a
Reserved Instance (DiscountedUsage) with its RIFee, EC2 usage covered by a Compute Savings Plan
with its SavingsPlanNegation lines and SavingsPlanRecurringFee, an all-upfront RI purchase (Fee
with an ARN), a support fee, EDP discount lines, tax, a credit and a refund.
"""

import datetime
import json
import pathlib
import random

import pyarrow as pa
import pyarrow.parquet as pq

HERE = pathlib.Path(__file__).resolve().parent
EXPORT = "acme-cur"
PERIOD = (datetime.datetime(2025, 1, 1), datetime.datetime(2025, 2, 1))
DAYS = 31

STRING_NUMBERS = [
    "line_item_blended_rate",
    "line_item_unblended_rate",
    "line_item_net_unblended_rate",
    "pricing_public_on_demand_rate",
    "reservation_normalized_units_per_reservation",
    "reservation_number_of_reservations",
    "reservation_total_reserved_normalized_units",
    "reservation_total_reserved_units",
    "reservation_units_per_reservation",
]
TEXT = [
    "bill_bill_type", "bill_billing_entity", "bill_invoice_id", "bill_invoicing_entity",
    "bill_payer_account_id", "bill_payer_account_name", "identity_line_item_id", "identity_time_interval",
    "line_item_availability_zone", "line_item_currency_code", "line_item_legal_entity",
    "line_item_line_item_description", "line_item_line_item_type", "line_item_operation",
    "line_item_product_code", "line_item_resource_id", "line_item_tax_type", "line_item_usage_account_id",
    "line_item_usage_account_name", "line_item_usage_type", "pricing_currency", "pricing_lease_contract_length",
    "pricing_offering_class", "pricing_purchase_option", "pricing_rate_code", "pricing_rate_id", "pricing_term",
    "pricing_unit", "product_fee_code", "product_fee_description", "product_from_location", "product_instance_family",
    "product_instance_type", "product_location", "product_operation", "product_product_family",
    "product_region_code", "product_servicecode", "product_sku", "product_to_location", "product_usagetype",
    "reservation_availability_zone", "reservation_end_time", "reservation_modification_status",
    "reservation_reservation_a_r_n", "reservation_start_time", "reservation_subscription_id",
    "savings_plan_end_time", "savings_plan_instance_type_family", "savings_plan_offering_type",
    "savings_plan_payment_option", "savings_plan_purchase_term", "savings_plan_region",
    "savings_plan_savings_plan_a_r_n", "savings_plan_start_time", "split_line_item_parent_resource_id",
] + STRING_NUMBERS
DOUBLES = [
    "line_item_blended_cost", "line_item_net_unblended_cost", "line_item_normalization_factor",
    "line_item_normalized_usage_amount", "line_item_unblended_cost", "line_item_usage_amount",
    "pricing_public_on_demand_cost", "reservation_amortized_upfront_cost_for_usage",
    "reservation_amortized_upfront_fee_for_billing_period", "reservation_effective_cost",
    "reservation_recurring_fee_for_usage", "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_normalized_unit_quantity", "reservation_unused_quantity", "reservation_unused_recurring_fee",
    "reservation_upfront_value", "savings_plan_amortized_upfront_commitment_for_billing_period",
    "savings_plan_recurring_commitment_for_billing_period", "savings_plan_savings_plan_effective_cost",
    "savings_plan_savings_plan_rate", "savings_plan_total_commitment_to_date", "savings_plan_used_commitment",
    "split_line_item_split_cost", "split_line_item_unused_cost",
]
TIMES = ["bill_billing_period_end_date", "bill_billing_period_start_date", "line_item_usage_end_date",
         "line_item_usage_start_date"]
MAPS = ["cost_category", "product", "resource_tags"]

PAYERS = [
    dict(id="111122223333", name="Acme Corp", currency="USD", invoice="2025-INV-0001",
         entity="Amazon Web Services, Inc.", accounts=["210000000001", "210000000002", "210000000003"]),
    dict(id="444455556666", name="Beta GmbH", currency="EUR", invoice="EUINDE25-0001",
         entity="Amazon Web Services EMEA SARL", accounts=["420000000001", "420000000002"]),
]

rng = random.Random(20250101)


def money(x):
    """An amount as AWS writes it: a double of at most ten decimals."""
    return round(x, 10)


def rate(x):
    """A rate as AWS writes it: text."""
    return f"{x:.10f}".rstrip("0").rstrip(".")


def blank_row(payer):
    row = {c: "" for c in TEXT}
    row.update({c: None for c in DOUBLES})
    row.update(
        bill_bill_type="Anniversary", bill_billing_entity="AWS", bill_invoice_id=payer["invoice"],
        bill_invoicing_entity=payer["entity"], bill_payer_account_id=payer["id"],
        bill_payer_account_name=payer["name"],
        bill_billing_period_start_date=PERIOD[0], bill_billing_period_end_date=PERIOD[1],
        line_item_currency_code=payer["currency"], line_item_legal_entity="Amazon Web Services, Inc.",
        identity_line_item_id="".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(52)),
        identity_time_interval="2025-01-01T00:00:00Z/2025-02-01T00:00:00Z",
        product={}, resource_tags={}, cost_category={},
    )
    return row


def usage(payer, account, day, product_code, usage_type, operation, amount, unit_price, unit, **extra):
    row = blank_row(payer)
    start = PERIOD[0] + datetime.timedelta(days=day)
    cost = money(amount * unit_price)
    row.update(
        line_item_line_item_type="Usage", line_item_usage_account_id=account,
        line_item_usage_account_name=f"acct-{account[-4:]}",
        line_item_usage_start_date=start, line_item_usage_end_date=start + datetime.timedelta(days=1),
        line_item_product_code=product_code, line_item_usage_type=usage_type, line_item_operation=operation,
        line_item_usage_amount=money(amount), line_item_unblended_cost=cost, line_item_blended_cost=cost,
        line_item_net_unblended_cost=cost, line_item_unblended_rate=rate(unit_price),
        line_item_blended_rate=rate(unit_price), line_item_net_unblended_rate=rate(unit_price),
        pricing_public_on_demand_cost=cost, pricing_public_on_demand_rate=rate(unit_price),
        pricing_term="OnDemand", pricing_unit=unit, product_region_code="us-east-1",
        product_location="US East (N. Virginia)", product_servicecode=product_code,
        line_item_line_item_description=f"${unit_price} per {unit} of {usage_type}",
    )
    row.update(extra)
    return row


def payer_rows(payer):
    rows = []
    ri_arn = f"arn:aws:rds:us-east-1:{payer['id']}:ri:db-ri-{payer['id'][-4:]}"
    sp_arn = f"arn:aws:savingsplans::{payer['id']}:savingsplan/sp-{payer['id'][-4:]}"
    ri_ec2 = f"arn:aws:ec2:us-east-1:{payer['id']}:reserved-instances/ri-ec2-{payer['id'][-4:]}"
    teams = ["web", "data", "ml", ""]
    for day in range(DAYS):
        for account in payer["accounts"]:
            # On-demand EC2 instances, one row per instance and day.
            for k in range(4):
                team = teams[(k + day) % len(teams)]
                rows.append(usage(
                    payer, account, day, "AmazonEC2", "USE1-BoxUsage:m5.large", "RunInstances", 24, 0.096, "Hrs",
                    line_item_resource_id=f"i-{account[-4:]}{k:04d}", line_item_availability_zone="us-east-1a",
                    product_instance_type="m5.large", product_product_family="Compute Instance",
                    product_sku="SKUM5LARGE", pricing_rate_code="SKUM5LARGE.JRTCKXETXF.6YS6EN2CT7",
                    product={"servicename": "Amazon Elastic Compute Cloud", "region": "us-east-1"},
                    resource_tags={"user_team": team, "user_env": "prod"} if team else {},
                ))
            # S3 storage with a tiered price and a data transfer line.
            gb = 500 + 10 * day + rng.randint(0, 50)
            rows.append(usage(
                payer, account, day, "AmazonS3", "TimedStorage-ByteHrs", "StandardStorage", gb / 31, 0.023,
                "GB-Mo", line_item_resource_id=f"bucket-{account[-4:]}", product_product_family="Storage",
                product_sku="SKUS3STD", resource_tags={"user_team": "data"},
            ))
            rows.append(usage(
                payer, account, day, "AWSDataTransfer", "USE1-DataTransfer-Out-Bytes", "", 37.5, 0.09, "GB",
                product_product_family="Data Transfer", product_sku="SKUDTO",
            ))
            # RDS usage covered by the Reserved Instance: 24 hours a day.
            start = PERIOD[0] + datetime.timedelta(days=day)
            covered = usage(
                payer, account, day, "AmazonRDS", "USE1-InstanceUsage:db.r6g.large", "CreateDBInstance", 24,
                0.25, "Hrs", line_item_resource_id=f"arn:aws:rds:us-east-1:{account}:db:orders-{account[-4:]}",
                product_instance_type="db.r6g.large", product_product_family="Database Instance",
            )
            covered.update(
                line_item_line_item_type="DiscountedUsage", line_item_unblended_cost=0.0,
                line_item_blended_cost=0.0, line_item_net_unblended_cost=0.0, line_item_unblended_rate="0",
                reservation_reservation_a_r_n=ri_arn, reservation_effective_cost=money(24 * 0.16),
                reservation_amortized_upfront_cost_for_usage=money(24 * 0.06),
                reservation_recurring_fee_for_usage=money(24 * 0.10),
                reservation_start_time="2024-06-01T00:00:00.000Z", reservation_end_time="2027-06-01T00:00:00.000Z",
                line_item_line_item_description="USD 0.10 hourly fee per db.r6g.large",
                pricing_term="Reserved",
            )
            rows.append(covered)
            # EC2 usage covered by the Savings Plan, with its negation.
            sp_usage = usage(
                payer, account, day, "AmazonEC2", "USE1-BoxUsage:c6i.xlarge", "RunInstances", 24, 0.17, "Hrs",
                line_item_resource_id=f"i-sp{account[-4:]}", product_instance_type="c6i.xlarge",
                product_product_family="Compute Instance", resource_tags={"user_team": "ml"},
            )
            sp_usage.update(
                line_item_line_item_type="SavingsPlanCoveredUsage", savings_plan_savings_plan_a_r_n=sp_arn,
                savings_plan_savings_plan_effective_cost=money(24 * 0.11), savings_plan_savings_plan_rate=0.11,
                savings_plan_start_time="2024-09-01T00:00:00.000Z", savings_plan_end_time="2027-09-01T00:00:00.000Z",
                savings_plan_offering_type="ComputeSavingsPlans", savings_plan_payment_option="No Upfront",
            )
            rows.append(sp_usage)
            negation = dict(sp_usage)
            negation.update(
                identity_line_item_id="".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(52)),
                line_item_line_item_type="SavingsPlanNegation",
                line_item_unblended_cost=-sp_usage["line_item_unblended_cost"],
                line_item_blended_cost=-sp_usage["line_item_unblended_cost"],
                line_item_net_unblended_cost=-sp_usage["line_item_unblended_cost"],
                line_item_unblended_rate=rate(-0.17), savings_plan_savings_plan_effective_cost=None,
                line_item_line_item_description=f"SavingsPlanNegation used by AccountId : {account}",
            )
            rows.append(negation)
            # The EDP discount on the day's usage.
            edp = blank_row(payer)
            day_usage = sum(r["line_item_unblended_cost"] for r in rows[-9:] if r["line_item_line_item_type"] == "Usage")
            edp.update(
                line_item_line_item_type="EdpDiscount", line_item_usage_account_id=account,
                line_item_usage_start_date=start, line_item_usage_end_date=start + datetime.timedelta(days=1),
                line_item_product_code="AmazonEC2", line_item_usage_type="USE1-BoxUsage:m5.large",
                line_item_unblended_cost=money(-0.03 * day_usage), line_item_blended_cost=money(-0.03 * day_usage),
                line_item_net_unblended_cost=0.0, line_item_unblended_rate="",
                line_item_line_item_description="EDP discount",
            )
            rows.append(edp)
    first = PERIOD[0]
    month_end = PERIOD[1]
    owner = payer["accounts"][0]

    def monthly(kind, product_code, cost, **extra):
        row = blank_row(payer)
        row.update(
            line_item_line_item_type=kind, line_item_usage_account_id=owner, line_item_product_code=product_code,
            line_item_usage_start_date=first, line_item_usage_end_date=month_end,
            line_item_unblended_cost=money(cost), line_item_blended_cost=money(cost),
            line_item_net_unblended_cost=money(cost), line_item_line_item_description=f"{kind} {product_code}",
        )
        row.update(extra)
        return row

    rows.append(monthly(
        "RIFee", "AmazonRDS", 744 * 0.10 * len(payer["accounts"]), reservation_reservation_a_r_n=ri_arn,
        line_item_usage_type="HeavyUsage:db.r6g.large", line_item_usage_amount=744.0 * len(payer["accounts"]),
        reservation_unused_amortized_upfront_fee_for_billing_period=0.0, reservation_unused_recurring_fee=0.0,
        reservation_amortized_upfront_fee_for_billing_period=money(744 * 0.06 * len(payer["accounts"])),
        reservation_unused_quantity=0.0, reservation_total_reserved_units=str(744 * len(payer["accounts"])),
        reservation_units_per_reservation=str(744), reservation_number_of_reservations=str(len(payer["accounts"])),
        pricing_unit="Hrs",
    ))
    committed = 24 * 0.11 * DAYS * len(payer["accounts"])
    rows.append(monthly(
        "SavingsPlanRecurringFee", "ComputeSavingsPlans", committed + 12.5, savings_plan_savings_plan_a_r_n=sp_arn,
        savings_plan_total_commitment_to_date=money(committed + 12.5), savings_plan_used_commitment=money(committed),
        savings_plan_recurring_commitment_for_billing_period=money(committed + 12.5),
        savings_plan_amortized_upfront_commitment_for_billing_period=0.0,
        line_item_usage_type="ComputeSP:3yrNoUpfront", line_item_usage_amount=744.0,
    ))
    rows.append(monthly(
        "Fee", "AmazonEC2", 1800.0, reservation_reservation_a_r_n=ri_ec2, line_item_usage_type="HeavyUsage:m5.large",
        line_item_usage_amount=1.0, reservation_total_reserved_units="8760", reservation_units_per_reservation="8760",
        reservation_number_of_reservations="1", bill_bill_type="Purchase",
    ))
    rows.append(monthly("Fee", "AWSSupportBusiness", 100.0, line_item_usage_type="Dollar"))
    rows.append(monthly("Tax", "AmazonEC2", 42.17, line_item_tax_type="VAT"))
    rows.append(monthly("Credit", "AmazonEC2", -25.0))
    rows.append(monthly("Refund", "AmazonEC2", -7.5, bill_bill_type="Refund"))
    return rows


def arrow_type(column):
    if column in TEXT:
        return pa.string()
    if column in DOUBLES:
        return pa.float64()
    if column in TIMES:
        return pa.timestamp("ms")
    if column == "discount":
        return pa.map_(pa.string(), pa.float64())
    return pa.map_(pa.string(), pa.string())


def main():
    rows = [r for p in PAYERS for r in payer_rows(p)]
    rng.shuffle(rows)
    columns = sorted(TEXT + DOUBLES + TIMES + MAPS)
    schema = pa.schema([(c, arrow_type(c)) for c in columns])
    data = HERE / EXPORT / "data" / "BILLING_PERIOD=2025-01"
    meta = HERE / EXPORT / "metadata" / "BILLING_PERIOD=2025-01"
    data.mkdir(parents=True, exist_ok=True)
    meta.mkdir(parents=True, exist_ok=True)
    half = len(rows) // 2
    names = []
    for i, part in enumerate([rows[:half], rows[half:]], start=1):
        table = pa.Table.from_pylist(
            [{c: (list(r[c].items()) if c in MAPS else r[c]) for c in columns} for r in part],
            schema=schema)
        name = f"{EXPORT}-{i:05d}.snappy.parquet"
        pq.write_table(table, data / name, compression="snappy")
        names.append(name)
    manifest = {
        "exportArn": f"arn:aws:bcm-data-exports:us-east-1:111122223333:export/{EXPORT}-0a1b2c3d",
        "exportName": EXPORT,
        "executionId": "0a1b2c3d-exec-0203",
        "bucket": "acme-billing",
        "prefix": "exports",
        "billingPeriod": {"start": "2025-01-01T00:00:00.000Z", "end": "2025-02-01T00:00:00.000Z"},
        "columns": [{"name": c, "type": str(schema.field(c).type).replace("timestamp[ms]", "timestamp")
                     .replace("map<string, string>", "map<string,string>")
                     .replace("map<string, double>", "map<string,double>")} for c in columns],
        "dataFiles": [f"s3://acme-billing/exports/{EXPORT}/data/BILLING_PERIOD=2025-01/{n}" for n in names],
        "additionalOutputFiles": [],
    }
    (meta / f"{EXPORT}-Manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{len(rows)} rows in {len(names)} files")


if __name__ == "__main__":
    main()
