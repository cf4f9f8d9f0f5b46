#!/usr/bin/env python3
"""Deterministic generator of wide AWS CUR 2.0 (Data Exports) Parquet for benchmarks.

Writes OUT/BILLING_PERIOD=YYYY-MM/<name>-0000N.snappy.parquet files of at most --rows-per-file rows,
as Data Exports lays them out, with the CUR 2.0 column set and column types of the Data Exports
table dictionary (COST_AND_USAGE_REPORT with resource ids and split cost allocation data):
124 flat columns plus the product, resource_tags and cost_category map<string,string> columns and
the discount map<string,double> column, 128 columns in all (see COLUMNS). Costs and quantities are
double, dates are timestamps (milliseconds, UTC), ids, rates and lease times are strings.

Rows are hourly line items of one billing period for one payer and several usage accounts:
EC2 instances, EBS volumes, S3 storage and requests, RDS instances, Lambda, data transfer, with the
line-item types Usage, DiscountedUsage (reserved instances), SavingsPlanCoveredUsage with its
SavingsPlanNegation, RIFee, SavingsPlanRecurringFee, Tax and Credit. The same seed and arguments
give byte-identical files. Memory stays bounded: rows are made and written one row group at a time.

Needs numpy and pyarrow. Usage: gen_cur2.py --rows 1000000 --out DIR [--seed 42] [--period 2025-01]
"""

from __future__ import annotations

import argparse
import calendar
import datetime as dt
import json
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

S = pa.string()
D = pa.float64()
TS = pa.timestamp("ms", tz="UTC")
MAP_SS = pa.map_(pa.string(), pa.string())
MAP_SD = pa.map_(pa.string(), pa.float64())

# The CUR 2.0 columns and their Data Exports types, in the order the files carry them.
COLUMNS: list[tuple[str, pa.DataType]] = [
    ("bill_bill_type", S),
    ("bill_billing_entity", S),
    ("bill_billing_period_end_date", TS),
    ("bill_billing_period_start_date", TS),
    ("bill_invoice_id", S),
    ("bill_invoicing_entity", S),
    ("bill_payer_account_id", S),
    ("bill_payer_account_name", S),
    ("capacity_reservation_capacity_reservation_arn", S),
    ("capacity_reservation_capacity_reservation_status", S),
    ("capacity_reservation_capacity_reservation_type", S),
    ("cost_category", MAP_SS),
    ("discount", MAP_SD),
    ("discount_bundled_discount", D),
    ("discount_total_discount", D),
    ("identity_line_item_id", S),
    ("identity_time_interval", S),
    ("line_item_availability_zone", S),
    ("line_item_blended_cost", D),
    ("line_item_blended_rate", S),
    ("line_item_currency_code", S),
    ("line_item_legal_entity", S),
    ("line_item_line_item_description", S),
    ("line_item_line_item_type", S),
    ("line_item_net_unblended_cost", D),
    ("line_item_net_unblended_rate", S),
    ("line_item_normalization_factor", D),
    ("line_item_normalized_usage_amount", D),
    ("line_item_operation", S),
    ("line_item_product_code", S),
    ("line_item_resource_id", S),
    ("line_item_tax_type", S),
    ("line_item_unblended_cost", D),
    ("line_item_unblended_rate", S),
    ("line_item_usage_account_id", S),
    ("line_item_usage_account_name", S),
    ("line_item_usage_amount", D),
    ("line_item_usage_end_date", TS),
    ("line_item_usage_start_date", TS),
    ("line_item_usage_type", S),
    ("pricing_currency", S),
    ("pricing_lease_contract_length", S),
    ("pricing_offering_class", S),
    ("pricing_public_on_demand_cost", D),
    ("pricing_public_on_demand_rate", S),
    ("pricing_purchase_option", S),
    ("pricing_rate_code", S),
    ("pricing_rate_id", S),
    ("pricing_term", S),
    ("pricing_unit", S),
    ("product", MAP_SS),
    ("product_comment", S),
    ("product_fee_code", S),
    ("product_fee_description", S),
    ("product_from_location", S),
    ("product_from_location_type", S),
    ("product_from_region_code", S),
    ("product_instance_family", S),
    ("product_instance_type", S),
    ("product_instancesku", S),
    ("product_location", S),
    ("product_location_type", S),
    ("product_operation", S),
    ("product_pricing_unit", S),
    ("product_product_family", S),
    ("product_region_code", S),
    ("product_servicecode", S),
    ("product_sku", S),
    ("product_to_location", S),
    ("product_to_location_type", S),
    ("product_to_region_code", S),
    ("product_usagetype", S),
    ("reservation_amortized_upfront_cost_for_usage", D),
    ("reservation_amortized_upfront_fee_for_billing_period", D),
    ("reservation_availability_zone", S),
    ("reservation_effective_cost", D),
    ("reservation_end_time", S),
    ("reservation_modification_status", S),
    ("reservation_net_amortized_upfront_cost_for_usage", D),
    ("reservation_net_amortized_upfront_fee_for_billing_period", D),
    ("reservation_net_effective_cost", D),
    ("reservation_net_recurring_fee_for_usage", D),
    ("reservation_net_unused_amortized_upfront_fee_for_billing_period", D),
    ("reservation_net_unused_recurring_fee", D),
    ("reservation_net_upfront_value", D),
    ("reservation_normalized_units_per_reservation", S),
    ("reservation_number_of_reservations", S),
    ("reservation_recurring_fee_for_usage", D),
    ("reservation_reservation_a_r_n", S),
    ("reservation_start_time", S),
    ("reservation_subscription_id", S),
    ("reservation_total_reserved_normalized_units", S),
    ("reservation_total_reserved_units", S),
    ("reservation_units_per_reservation", S),
    ("reservation_unused_amortized_upfront_fee_for_billing_period", D),
    ("reservation_unused_normalized_unit_quantity", D),
    ("reservation_unused_quantity", D),
    ("reservation_unused_recurring_fee", D),
    ("reservation_upfront_value", D),
    ("resource_tags", MAP_SS),
    ("savings_plan_amortized_upfront_commitment_for_billing_period", D),
    ("savings_plan_end_time", S),
    ("savings_plan_instance_type_family", S),
    ("savings_plan_net_amortized_upfront_commitment_for_billing_period", D),
    ("savings_plan_net_recurring_commitment_for_billing_period", D),
    ("savings_plan_net_savings_plan_effective_cost", D),
    ("savings_plan_offering_type", S),
    ("savings_plan_payment_option", S),
    ("savings_plan_purchase_term", S),
    ("savings_plan_recurring_commitment_for_billing_period", D),
    ("savings_plan_region", S),
    ("savings_plan_savings_plan_a_r_n", S),
    ("savings_plan_savings_plan_effective_cost", D),
    ("savings_plan_savings_plan_rate", D),
    ("savings_plan_start_time", S),
    ("savings_plan_total_commitment_to_date", D),
    ("savings_plan_used_commitment", D),
    ("split_line_item_actual_usage", D),
    ("split_line_item_net_split_cost", D),
    ("split_line_item_net_unused_cost", D),
    ("split_line_item_parent_resource_id", S),
    ("split_line_item_public_on_demand_split_cost", D),
    ("split_line_item_public_on_demand_unused_cost", D),
    ("split_line_item_reserved_usage", D),
    ("split_line_item_split_cost", D),
    ("split_line_item_split_usage", D),
    ("split_line_item_split_usage_ratio", D),
    ("split_line_item_unused_cost", D),
]
SCHEMA = pa.schema([pa.field(name, dtype) for name, dtype in COLUMNS])

# Line-item kinds; the order is the index used throughout.
USAGE, DISCOUNTED, SP_COVERED, SP_NEGATION, RI_FEE, SP_FEE, TAX, CREDIT = range(8)
KIND_NAMES = [
    "Usage",
    "DiscountedUsage",
    "SavingsPlanCoveredUsage",
    "SavingsPlanNegation",
    "RIFee",
    "SavingsPlanRecurringFee",
    "Tax",
    "Credit",
]
# Share of generated events per kind; each covered-usage event also yields its negation row.
KIND_WEIGHTS = np.array([0.74, 0.09, 0.1686, 0.0, 0.0004, 0.0004, 0.0003, 0.0003])
KIND_WEIGHTS = KIND_WEIGHTS / KIND_WEIGHTS.sum()
MONTHLY_KINDS = (RI_FEE, SP_FEE, TAX, CREDIT)

PAYER_ID = "111122223333"
PAYER_NAME = "Example Corp Management"
LEGAL_ENTITY = "Amazon Web Services, Inc."
ACCOUNT_NAMES = [
    "prod-web",
    "prod-data",
    "payments",
    "search",
    "ml-platform",
    "analytics",
    "staging",
    "shared-services",
    "security",
    "mobile-backend",
    "marketing-site",
    "dev-sandbox",
    "qa",
    "data-science",
    "edge",
    "identity",
]
TEAMS = ["web", "data", "payments", "search", "ml", "analytics", "platform", "security", "mobile", "marketing"]
BUSINESS_UNITS = ["Retail", "Platform", "Finance", "Growth"]

REGIONS = [
    # code, usage-type prefix, location name, weight
    ("us-east-1", "USE1", "US East (N. Virginia)", 0.50),
    ("us-west-2", "USW2", "US West (Oregon)", 0.25),
    ("eu-west-1", "EU", "EU (Ireland)", 0.17),
    ("ap-southeast-2", "APS2", "Asia Pacific (Sydney)", 0.08),
]

USAGE_DRAWS = ["hour", "storage", "requests", "gb", "gbsec", "count"]
INSTANCE_FACTORS = {"medium": 2.0, "large": 4.0, "xlarge": 8.0, "2xlarge": 16.0, "4xlarge": 32.0}


@dataclass
class Spec:
    """One kind of usage line: a product, usage type and price, drawn with a weight."""

    product_code: str
    service_name: str
    family: str
    usage_type: str  # with {r} for the region's usage-type prefix
    operation: str
    unit: str
    rate: float
    weight: float
    usage: str  # how the usage amount is drawn: hour, storage, requests, gb, gbsec, count
    resource: str  # resource id pattern: instance, volume, bucket, db, function, none
    instance_type: str = ""
    pool: int = 8  # distinct resources per account and region
    ri: bool = False  # may be covered by a reserved instance
    sp: bool = False  # may be covered by a savings plan
    extra: dict = field(default_factory=dict)


SPECS = [
    Spec("AmazonEC2", "Amazon Elastic Compute Cloud", "Compute Instance", "{r}-BoxUsage:m5.large",
         "RunInstances", "Hrs", 0.096, 9.0, "hour", "instance", "m5.large", 40, ri=True, sp=True),
    Spec("AmazonEC2", "Amazon Elastic Compute Cloud", "Compute Instance", "{r}-BoxUsage:m5.xlarge",
         "RunInstances", "Hrs", 0.192, 6.0, "hour", "instance", "m5.xlarge", 24, ri=True, sp=True),
    Spec("AmazonEC2", "Amazon Elastic Compute Cloud", "Compute Instance", "{r}-BoxUsage:c5.2xlarge",
         "RunInstances", "Hrs", 0.34, 4.0, "hour", "instance", "c5.2xlarge", 16, ri=True, sp=True),
    Spec("AmazonEC2", "Amazon Elastic Compute Cloud", "Compute Instance", "{r}-BoxUsage:r5.large",
         "RunInstances:0002", "Hrs", 0.218, 2.0, "hour", "instance", "r5.large", 8, ri=True, sp=True),
    Spec("AmazonEC2", "Amazon Elastic Compute Cloud", "Compute Instance", "{r}-BoxUsage:t3.medium",
         "RunInstances", "Hrs", 0.0416, 5.0, "hour", "instance", "t3.medium", 30, sp=True),
    Spec("AmazonEC2", "Amazon Elastic Compute Cloud", "Compute Instance", "{r}-BoxUsage:g5.xlarge",
         "RunInstances", "Hrs", 1.006, 0.8, "hour", "instance", "g5.xlarge", 4, sp=True),
    Spec("AmazonEC2", "Amazon Elastic Compute Cloud", "Storage", "{r}-EBS:VolumeUsage.gp3",
         "CreateVolume-Gp3", "GB-Mo", 0.08, 10.0, "storage", "volume", pool=60),
    Spec("AmazonEC2", "Amazon Elastic Compute Cloud", "Storage Snapshot", "{r}-EBS:SnapshotUsage",
         "CreateSnapshot", "GB-Mo", 0.05, 2.0, "storage", "snapshot", pool=20),
    Spec("AmazonS3", "Amazon Simple Storage Service", "Storage", "{r}-TimedStorage-ByteHrs",
         "StandardStorage", "GB-Mo", 0.023, 6.0, "storage", "bucket", pool=12),
    Spec("AmazonS3", "Amazon Simple Storage Service", "API Request", "{r}-Requests-Tier1",
         "PutObject", "Requests", 0.000005, 3.0, "requests", "bucket", pool=12),
    Spec("AmazonS3", "Amazon Simple Storage Service", "API Request", "{r}-Requests-Tier2",
         "GetObject", "Requests", 0.0000004, 3.0, "requests", "bucket", pool=12),
    Spec("AmazonRDS", "Amazon Relational Database Service", "Database Instance",
         "{r}-InstanceUsage:db.r5.large", "CreateDBInstance:0014", "Hrs", 0.25, 3.0, "hour", "db",
         "db.r5.large", 6, ri=True),
    Spec("AmazonRDS", "Amazon Relational Database Service", "Database Instance",
         "{r}-InstanceUsage:db.m5.large", "CreateDBInstance:0002", "Hrs", 0.171, 2.0, "hour", "db",
         "db.m5.large", 6, ri=True),
    Spec("AmazonRDS", "Amazon Relational Database Service", "Database Storage",
         "{r}-RDS:GP3-Storage", "CreateDBInstance:0014", "GB-Mo", 0.115, 2.0, "storage", "db", pool=6),
    Spec("AWSLambda", "AWS Lambda", "Serverless", "{r}-Lambda-GB-Second", "Invoke",
         "Lambda-GB-Second", 0.0000166667, 5.0, "gbsec", "function", pool=30, sp=True),
    Spec("AWSLambda", "AWS Lambda", "Serverless", "{r}-Request", "Invoke", "Requests", 0.0000002,
         4.0, "requests", "function", pool=30),
    Spec("AWSDataTransfer", "AWS Data Transfer", "Data Transfer", "{r}-DataTransfer-Out-Bytes",
         "", "GB", 0.09, 6.0, "gb", "instance", pool=40, extra={"direction": "internet"}),
    Spec("AWSDataTransfer", "AWS Data Transfer", "Data Transfer", "{r}-DataTransfer-Regional-Bytes",
         "InterZone-Out", "GB", 0.01, 4.0, "gb", "instance", pool=40, extra={"direction": "zone"}),
    Spec("AWSDataTransfer", "AWS Data Transfer", "Data Transfer", "{r}-USW2-AWS-Out-Bytes", "",
         "GB", 0.02, 2.0, "gb", "instance", pool=40, extra={"direction": "region"}),
    Spec("AmazonCloudWatch", "AmazonCloudWatch", "Metric", "{r}-CW:MetricMonitorUsage",
         "MetricStorage", "Metrics", 0.3 / 730, 2.0, "count", "none"),
]


def splitmix64(x: np.ndarray) -> np.ndarray:
    """A fixed 64-bit mix: turns sequential keys into well-spread, reproducible hashes."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


BASE32 = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)


def opaque_ids(keys: np.ndarray, chars: int) -> pa.Array:
    """Base32 strings of `chars` characters derived from integer keys, like AWS line-item ids."""
    words = (chars + 11) // 12
    out = np.empty((len(keys), words * 12), dtype=np.uint8)
    h = keys.astype(np.uint64)
    for w in range(words):
        h = splitmix64(h + np.uint64(w))
        for i in range(12):
            out[:, w * 12 + i] = BASE32[((h >> np.uint64(5 * i)) & np.uint64(31)).astype(np.intp)]
    fixed = np.ascontiguousarray(out[:, :chars]).view(f"S{chars}").ravel()
    return pa.array(fixed).cast(pa.string())


def hex_ids(keys: np.ndarray, digits: int) -> list[str]:
    return [f"{int(h):016x}"[:digits] for h in splitmix64(keys)]


@dataclass
class Template:
    """One (account, region, spec) combination: the static part of its rows."""

    account: int
    region: int
    spec: int
    weight: float
    pool_start: int
    pool_size: int


class Catalogue:
    """Everything that does not vary per row, precomputed once as small Arrow arrays."""

    def __init__(self, accounts: int, period: str):
        year, month = (int(p) for p in period.split("-"))
        self.period = period
        self.start = dt.datetime(year, month, 1, tzinfo=dt.timezone.utc)
        days = calendar.monthrange(year, month)[1]
        self.end = self.start + dt.timedelta(days=days)
        self.hours = days * 24
        self.start_ms = int(self.start.timestamp() * 1000)
        self.end_ms = int(self.end.timestamp() * 1000)
        self.account_ids = [f"{200000000000 + 7919 * (i + 1):012d}" for i in range(accounts)]
        self.account_names = [ACCOUNT_NAMES[i % len(ACCOUNT_NAMES)] + ("" if i < len(ACCOUNT_NAMES) else f"-{i}")
                              for i in range(accounts)]
        account_weights = 1.0 / (1.0 + np.arange(accounts)) ** 0.7

        self.templates: list[Template] = []
        resources: list[str] = []
        resource_tags: list[list[tuple[str, str]]] = []
        for a in range(accounts):
            for r, (_, _, _, region_weight) in enumerate(REGIONS):
                for s, spec in enumerate(SPECS):
                    size = 1 if spec.resource == "none" else spec.pool
                    self.templates.append(
                        Template(a, r, s, account_weights[a] * region_weight * spec.weight, len(resources), size)
                    )
                    for k in range(size):
                        resources.append(self._resource_id(a, r, s, k))
                        resource_tags.append(self._tags(a, s, k))
        self.resources = pa.array(resources + [None], type=S)
        self.no_resource = len(resources)
        self.resource_tags = _map_array(resource_tags + [[]], pa.string())
        weights = np.array([t.weight for t in self.templates])
        self.template_p = weights / weights.sum()
        self.pool_start = np.array([t.pool_start for t in self.templates], dtype=np.int64)
        self.pool_size = np.array([t.pool_size for t in self.templates], dtype=np.int64)
        self.rate = np.array([SPECS[t.spec].rate for t in self.templates])
        self.usage_kind = [SPECS[t.spec].usage for t in self.templates]
        self.ri_ok = np.array([SPECS[t.spec].ri for t in self.templates])
        self.sp_ok = np.array([SPECS[t.spec].sp for t in self.templates])
        self.factor = np.array([_factor(SPECS[t.spec].instance_type) for t in self.templates])
        self.usage_code = np.array(
            [USAGE_DRAWS.index(SPECS[t.spec].usage) for t in self.templates]
        )
        self.strings = self._string_tables()
        self.products = _map_array([self._product(t) for t in self.templates], pa.string())
        self.cost_categories = _map_array(
            [[("business_unit", BUSINESS_UNITS[t.account % len(BUSINESS_UNITS)]),
              ("environment", _environment(self.account_names[t.account]))] for t in self.templates],
            pa.string(),
        )
        self.intervals = pa.array(
            [self._interval(self.start_ms + h * 3_600_000, self.start_ms + (h + 1) * 3_600_000)
             for h in range(self.hours)] + [self._interval(self.start_ms, self.end_ms)],
            type=S,
        )

    @staticmethod
    def _interval(start_ms: int, end_ms: int) -> str:
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        s = dt.datetime.fromtimestamp(start_ms / 1000, dt.timezone.utc).strftime(fmt)
        e = dt.datetime.fromtimestamp(end_ms / 1000, dt.timezone.utc).strftime(fmt)
        return f"{s}/{e}"

    def _resource_id(self, a: int, r: int, s: int, k: int) -> str:
        spec, region = SPECS[s], REGIONS[r][0]
        key = np.array([((a * 16 + r) * 64 + s) * 4096 + k], dtype=np.uint64)
        h = hex_ids(key, 17)[0]
        account = self.account_ids[a]
        if spec.resource == "instance":
            return f"i-0{h[:16]}"
        if spec.resource == "volume":
            return f"vol-0{h[:16]}"
        if spec.resource == "snapshot":
            return f"arn:aws:ec2:{region}:{account}:snapshot/snap-0{h[:16]}"
        if spec.resource == "bucket":
            return f"{self.account_names[a]}-{region}-bucket-{k:02d}"
        if spec.resource == "db":
            return f"arn:aws:rds:{region}:{account}:db:{self.account_names[a]}-db-{k:02d}"
        if spec.resource == "function":
            return f"arn:aws:lambda:{region}:{account}:function:{self.account_names[a]}-fn-{k:02d}"
        return f"arn:aws:cloudwatch:{region}:{account}:metrics"

    def _tags(self, a: int, s: int, k: int) -> list[tuple[str, str]]:
        # About one resource in eight is untagged; the rest carry the usual user tags.
        if (a * 31 + s * 7 + k) % 8 == 0:
            return []
        name = self.account_names[a]
        tags = [
            ("user_team", TEAMS[(a + k) % len(TEAMS)]),
            ("user_env", _environment(name)),
            ("user_cost_center", f"CC-{1000 + (a * 13 + s) % 40}"),
            ("user_application", f"{name}-{['api', 'worker', 'batch', 'web'][k % 4]}"),
        ]
        if k % 3 == 0:
            tags.append(("aws_createdBy", f"AssumedRole:AROAEXAMPLE{a:04d}:deploy-{name}"))
        return tags

    def _product(self, t: Template) -> list[tuple[str, str]]:
        spec = SPECS[t.spec]
        region, _, location, _ = REGIONS[t.region]
        entries = [("product_name", spec.service_name), ("region", region), ("servicename", spec.service_name)]
        if spec.instance_type:
            vcpu = int(self.factor_of(spec.instance_type) / 2)
            entries += [
                ("vcpu", str(vcpu)),
                ("memory", f"{vcpu * 4} GiB"),
                ("operating_system", "Windows" if spec.operation.endswith("0002") else "Linux"),
                ("tenancy", "Shared"),
                ("physical_processor", "Intel Xeon Platinum 8175"),
                ("license_model", "No License required"),
                ("current_generation", "Yes"),
            ]
        if spec.family == "Storage":
            entries += [("storage_class", "General Purpose"), ("volume_api_name", "gp3")]
        if spec.product_code == "AWSDataTransfer":
            entries += [("transfer_type", spec.extra["direction"])]
        entries.append(("location", location))
        return entries

    @staticmethod
    def factor_of(instance_type: str) -> float:
        return _factor(instance_type) or 2.0

    def _string_tables(self) -> dict[str, pa.Array]:
        """Per-(template, kind) values of every string column that does not vary per row."""
        rows: dict[str, list] = {name: [] for name, dtype in COLUMNS if dtype == S}
        invoice = f"{self.period.replace('-', '')}{int(PAYER_ID[-6:]):06d}"
        for ti, t in enumerate(self.templates):
            spec = SPECS[t.spec]
            region, prefix, location, _ = REGIONS[t.region]
            usage_type = spec.usage_type.format(r=prefix)
            sku = hex_ids(np.array([ti + 1_000_000], dtype=np.uint64), 16)[0].upper()
            ri_arn = f"arn:aws:ec2:{region}:{PAYER_ID}:reserved-instances/{sku.lower()[:8]}-ri"
            if spec.product_code == "AmazonRDS":
                ri_arn = f"arn:aws:rds:{region}:{PAYER_ID}:ri:{self.account_names[t.account]}-ri"
            sp_arn = f"arn:aws:savingsplans::{PAYER_ID}:savingsplan/{sku.lower()[:8]}-0000-4000-8000-{sku.lower()[:12]}"
            for kind in range(len(KIND_NAMES)):
                monthly = kind in MONTHLY_KINDS
                v: dict[str, str | None] = {name: None for name in rows}
                v.update(
                    bill_bill_type="Anniversary",
                    bill_billing_entity="AWS",
                    bill_invoice_id=invoice,
                    bill_invoicing_entity=LEGAL_ENTITY,
                    bill_payer_account_id=PAYER_ID,
                    bill_payer_account_name=PAYER_NAME,
                    line_item_currency_code="USD",
                    line_item_legal_entity=LEGAL_ENTITY,
                    line_item_line_item_type=KIND_NAMES[kind],
                    line_item_product_code=spec.product_code,
                    line_item_usage_account_id=self.account_ids[t.account],
                    line_item_usage_account_name=self.account_names[t.account],
                    pricing_currency="USD",
                    product_servicecode=spec.product_code,
                    product_region_code=region,
                    product_location=location,
                    product_location_type="AWS Region",
                )
                if kind in (USAGE, DISCOUNTED, SP_COVERED, SP_NEGATION):
                    rate = f"{spec.rate:.10f}".rstrip("0").rstrip(".")
                    v.update(
                        line_item_usage_type=usage_type,
                        line_item_operation=spec.operation,
                        line_item_availability_zone=f"{region}{'abc'[ti % 3]}" if spec.usage == "hour" else None,
                        line_item_unblended_rate=rate,
                        line_item_blended_rate=rate,
                        line_item_net_unblended_rate=rate,
                        pricing_public_on_demand_rate=rate,
                        pricing_unit=spec.unit,
                        pricing_term="OnDemand",
                        pricing_rate_code=f"{sku}.JRTCKXETXF.6YS6EN2CT7",
                        pricing_rate_id=str(1_000_000_000 + ti),
                        product_product_family=spec.family,
                        product_usagetype=usage_type,
                        product_operation=spec.operation,
                        product_pricing_unit=spec.unit,
                        product_sku=sku,
                        product_instance_type=spec.instance_type or None,
                        product_instance_family=_family(spec.instance_type),
                        product_instancesku=sku[:8] + "INSTANCE" if spec.instance_type else None,
                        line_item_line_item_description=(
                            f"${spec.rate:g} per {spec.unit} for {usage_type} in {location}"
                        ),
                    )
                    if spec.product_code == "AWSDataTransfer":
                        v.update(
                            product_from_location=location,
                            product_from_location_type="AWS Region",
                            product_from_region_code=region,
                            product_to_location="External" if spec.extra["direction"] == "internet"
                            else "US West (Oregon)" if spec.extra["direction"] == "region" else location,
                            product_to_location_type="AWS Region" if spec.extra["direction"] != "internet"
                            else "Other",
                            product_to_region_code="us-west-2" if spec.extra["direction"] == "region"
                            else region if spec.extra["direction"] == "zone" else None,
                        )
                if kind == DISCOUNTED:
                    v.update(
                        line_item_unblended_rate="0.0",
                        line_item_blended_rate="0.0",
                        line_item_net_unblended_rate="0.0",
                        pricing_term="Reserved",
                        pricing_lease_contract_length="1yr",
                        pricing_offering_class="standard",
                        pricing_purchase_option="Partial Upfront",
                        line_item_line_item_description=(
                            f"USD 0.0 hourly fee per {spec.instance_type} reserved instance applied"
                        ),
                    )
                if kind in (DISCOUNTED, RI_FEE):
                    v.update(
                        reservation_reservation_a_r_n=ri_arn,
                        reservation_start_time="2024-06-01T00:00:00.000Z",
                        reservation_end_time="2025-06-01T00:00:00.000Z",
                        reservation_modification_status="Original",
                        reservation_subscription_id=str(5_000_000_000 + ti),
                        reservation_availability_zone=None,
                        reservation_number_of_reservations="4",
                        reservation_units_per_reservation=str(4 * self.hours),
                        reservation_total_reserved_units=str(4 * self.hours),
                        reservation_normalized_units_per_reservation=f"{4 * self.hours * self.factor_of(spec.instance_type):g}",
                        reservation_total_reserved_normalized_units=f"{4 * self.hours * self.factor_of(spec.instance_type):g}",
                    )
                if kind in (SP_COVERED, SP_NEGATION, SP_FEE):
                    v.update(
                        savings_plan_savings_plan_a_r_n=sp_arn,
                        savings_plan_offering_type="ComputeSavingsPlans",
                        savings_plan_payment_option="No Upfront",
                        savings_plan_purchase_term="1yr",
                        savings_plan_region=None,
                        savings_plan_instance_type_family=None,
                        savings_plan_start_time="2024-09-01T00:00:00.000Z",
                        savings_plan_end_time="2025-09-01T00:00:00.000Z",
                    )
                if kind == SP_COVERED:
                    v["line_item_line_item_description"] = (
                        f"{spec.rate * 0.72:.4f} per hour for {usage_type} covered by Compute Savings Plan"
                    )
                if kind == SP_NEGATION:
                    v["line_item_line_item_description"] = (
                        f"SavingsPlanNegation used by AccountId : {self.account_ids[t.account]} "
                        f"and UsageSku : {sku}"
                    )
                if monthly:
                    v.update(
                        line_item_usage_type=None,
                        line_item_operation=None,
                        line_item_availability_zone=None,
                        pricing_unit=None,
                    )
                if kind == RI_FEE:
                    v.update(
                        line_item_usage_type=f"{prefix}-HeavyUsage:{spec.instance_type or 'm5.large'}",
                        line_item_operation="RunInstances" if spec.product_code == "AmazonEC2" else spec.operation,
                        line_item_line_item_description=f"Reserved instance fee for {spec.instance_type or 'm5.large'}",
                        pricing_term="Reserved",
                        pricing_unit="Hrs",
                        product_product_family="Compute Instance",
                    )
                if kind == SP_FEE:
                    v.update(
                        line_item_product_code="ComputeSavingsPlans",
                        product_servicecode="ComputeSavingsPlans",
                        line_item_usage_type="ComputeSP:1yrNoUpfront",
                        line_item_operation="",
                        line_item_line_item_description="1 year No Upfront Compute Savings Plan",
                        pricing_unit="Hrs",
                        product_product_family="Savings Plan",
                    )
                if kind == TAX:
                    v.update(
                        line_item_tax_type="Sales Tax" if region.startswith("us") else "VAT",
                        line_item_line_item_description=f"Tax for product code {spec.product_code}",
                        line_item_usage_type="",
                        product_fee_code=None,
                    )
                if kind == CREDIT:
                    v.update(
                        line_item_line_item_description="AWS Activate credits",
                        line_item_usage_type="",
                    )
                for name in rows:
                    rows[name].append(v[name])
        return {name: pa.array(values, type=S) for name, values in rows.items()}


def _factor(instance_type: str) -> float:
    size = instance_type.rsplit(".", 1)[-1] if instance_type else ""
    return INSTANCE_FACTORS.get(size, 0.0)


def _family(instance_type: str) -> str | None:
    if not instance_type:
        return None
    kind = instance_type.removeprefix("db.").split(".")[0]
    return {"m5": "General purpose", "t3": "General purpose", "c5": "Compute optimized",
            "r5": "Memory optimized", "g5": "GPU instance"}.get(kind, "General purpose")


def _environment(account_name: str) -> str:
    if account_name.startswith(("prod", "payments", "search", "identity", "edge")):
        return "production"
    if account_name.startswith(("staging", "qa")):
        return "staging"
    if account_name.startswith(("dev", "data-science", "ml")):
        return "development"
    return "shared"


def _map_array(entries: list[list[tuple[str, object]]], value_type: pa.DataType) -> pa.MapArray:
    offsets = np.zeros(len(entries) + 1, dtype=np.int32)
    keys: list[str] = []
    values: list[object] = []
    for i, items in enumerate(entries):
        offsets[i + 1] = offsets[i] + len(items)
        keys.extend(k for k, _ in items)
        values.extend(v for _, v in items)
    return pa.MapArray.from_arrays(pa.array(offsets), pa.array(keys, type=pa.string()),
                                   pa.array(values, type=value_type))


def _doubles(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    if valid is None:
        return pa.array(values, type=D)
    return pa.array(values, type=D, mask=~valid)


def _timestamps(ms: np.ndarray) -> pa.Array:
    return pa.array(ms.astype("datetime64[ms]")).cast(TS)


def make_batch(cat: Catalogue, seed: int, chunk: int, n: int) -> pa.RecordBatch:
    """The n rows of row group `chunk` of the export: random, but fixed by (seed, chunk)."""
    rng = np.random.default_rng([seed, chunk])

    # Draw events, then expand each covered-usage event into its usage and negation rows.
    events = n
    template = rng.choice(len(cat.templates), size=events, p=cat.template_p)
    kind = rng.choice(len(KIND_NAMES), size=events, p=KIND_WEIGHTS)
    kind = np.where((kind == DISCOUNTED) & ~cat.ri_ok[template], USAGE, kind)
    kind = np.where((kind == SP_COVERED) & ~cat.sp_ok[template], USAGE, kind)
    kind = np.where((kind == RI_FEE) & ~cat.ri_ok[template], TAX, kind)
    kind = np.where((kind == SP_FEE) & ~cat.sp_ok[template], TAX, kind)
    hour = rng.integers(0, cat.hours, size=events)
    slot = rng.integers(0, 1 << 20, size=events) % cat.pool_size[template]
    noise = rng.lognormal(0.0, 0.6, size=events)
    repeat = np.where(kind == SP_COVERED, 2, 1)
    pick = np.repeat(np.arange(events), repeat)[:n]
    second = np.zeros(len(pick), dtype=bool)
    second[1:] = pick[1:] == pick[:-1]
    template, kind, hour, slot, noise = template[pick], kind[pick], hour[pick], slot[pick], noise[pick]
    kind = np.where(second, SP_NEGATION, kind)
    # A covered-usage row whose negation fell past the end of the batch becomes plain usage.
    if n and kind[-1] == SP_COVERED:
        kind[-1] = USAGE

    monthly = np.isin(kind, MONTHLY_KINDS)
    rate = cat.rate[template]
    code = cat.usage_code[template]
    size_gb = 20.0 + (splitmix64((template * 4096 + slot).astype(np.uint64)) % np.uint64(2000)).astype(np.float64)
    usage = np.select(
        [code == i for i in range(len(USAGE_DRAWS))],
        [np.ones(n), size_gb / cat.hours, np.round(noise * 4000.0), noise * 2.5, np.round(noise * 20000.0),
         np.round(noise * 40.0)],
    )
    usage = np.where(monthly, 1.0, usage)
    on_demand = usage * rate

    unblended = on_demand.copy()
    unblended[kind == DISCOUNTED] = 0.0
    unblended[kind == SP_NEGATION] = -on_demand[kind == SP_NEGATION]
    monthly_amount = np.round(noise * 40.0, 2)
    unblended[kind == RI_FEE] = monthly_amount[kind == RI_FEE] * 2
    unblended[kind == SP_FEE] = monthly_amount[kind == SP_FEE] * 3
    unblended[kind == TAX] = monthly_amount[kind == TAX]
    unblended[kind == CREDIT] = -monthly_amount[kind == CREDIT]
    unblended = np.round(unblended, 10)

    is_usage_like = np.isin(kind, (USAGE, DISCOUNTED, SP_COVERED, SP_NEGATION))
    factor = cat.factor[template]
    has_factor = is_usage_like & (factor > 0)

    ri_row = kind == DISCOUNTED
    ri_fee = kind == RI_FEE
    ri_effective = np.round(on_demand * 0.62, 10)
    ri_upfront = np.round(ri_effective * 0.45, 10)
    ri_recurring = np.round(ri_effective - ri_upfront, 10)

    sp_cov = kind == SP_COVERED
    sp_effective = np.round(on_demand * 0.72, 10)

    start = np.where(monthly, cat.start_ms, cat.start_ms + hour * 3_600_000)
    end = np.where(monthly, cat.end_ms, start + 3_600_000)
    resource_index = np.where(
        monthly | (cat.pool_size[template] == 0), cat.no_resource, cat.pool_start[template] + slot
    )
    n_kinds = len(KIND_NAMES)
    table_index = pa.array(template * n_kinds + kind)
    line_key = ((template.astype(np.uint64) * np.uint64(4096) + slot.astype(np.uint64)) * np.uint64(8)
                + kind.astype(np.uint64)) * np.uint64(1024) + np.where(monthly, 0, hour).astype(np.uint64)

    cols: dict[str, pa.Array] = {name: cat.strings[name].take(table_index) for name in cat.strings}
    cols.update(
        bill_billing_period_start_date=_timestamps(np.full(n, cat.start_ms, dtype=np.int64)),
        bill_billing_period_end_date=_timestamps(np.full(n, cat.end_ms, dtype=np.int64)),
        cost_category=cat.cost_categories.take(pa.array(template)),
        discount=pa.MapArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)),
                                         pa.array([], type=pa.string()), pa.array([], type=D)),
        discount_bundled_discount=_doubles(np.zeros(n), np.zeros(n, dtype=bool)),
        discount_total_discount=_doubles(np.zeros(n), np.zeros(n, dtype=bool)),
        identity_line_item_id=opaque_ids(line_key, 52),
        identity_time_interval=cat.intervals.take(pa.array(np.where(monthly, cat.hours, hour))),
        line_item_blended_cost=_doubles(unblended),
        line_item_net_unblended_cost=_doubles(unblended),
        line_item_normalization_factor=_doubles(factor, has_factor),
        line_item_normalized_usage_amount=_doubles(usage * factor, has_factor),
        line_item_resource_id=cat.resources.take(pa.array(resource_index)),
        line_item_unblended_cost=_doubles(unblended),
        line_item_usage_amount=_doubles(usage),
        line_item_usage_start_date=_timestamps(start),
        line_item_usage_end_date=_timestamps(end),
        pricing_public_on_demand_cost=_doubles(np.where(is_usage_like, np.round(on_demand, 10), 0.0)),
        product=cat.products.take(pa.array(template)),
        resource_tags=cat.resource_tags.take(pa.array(resource_index)),
        reservation_amortized_upfront_cost_for_usage=_doubles(ri_upfront, ri_row),
        reservation_amortized_upfront_fee_for_billing_period=_doubles(monthly_amount * 4.5, ri_fee),
        reservation_effective_cost=_doubles(ri_effective, ri_row),
        reservation_net_amortized_upfront_cost_for_usage=_doubles(ri_upfront, ri_row),
        reservation_net_amortized_upfront_fee_for_billing_period=_doubles(monthly_amount * 4.5, ri_fee),
        reservation_net_effective_cost=_doubles(ri_effective, ri_row),
        reservation_net_recurring_fee_for_usage=_doubles(ri_recurring, ri_row),
        reservation_net_unused_amortized_upfront_fee_for_billing_period=_doubles(monthly_amount * 0.2, ri_fee),
        reservation_net_unused_recurring_fee=_doubles(monthly_amount * 0.3, ri_fee),
        reservation_net_upfront_value=_doubles(monthly_amount * 54.0, ri_fee),
        reservation_recurring_fee_for_usage=_doubles(ri_recurring, ri_row),
        reservation_unused_amortized_upfront_fee_for_billing_period=_doubles(monthly_amount * 0.2, ri_fee),
        reservation_unused_normalized_unit_quantity=_doubles(np.round(noise * 8.0, 3), ri_fee),
        reservation_unused_quantity=_doubles(np.round(noise * 2.0, 3), ri_fee),
        reservation_unused_recurring_fee=_doubles(monthly_amount * 0.3, ri_fee),
        reservation_upfront_value=_doubles(monthly_amount * 54.0, ri_fee),
        savings_plan_amortized_upfront_commitment_for_billing_period=_doubles(np.zeros(n), kind == SP_FEE),
        savings_plan_net_amortized_upfront_commitment_for_billing_period=_doubles(np.zeros(n), kind == SP_FEE),
        savings_plan_net_recurring_commitment_for_billing_period=_doubles(unblended, kind == SP_FEE),
        savings_plan_net_savings_plan_effective_cost=_doubles(np.where(sp_cov, sp_effective, 0.0), sp_cov | (kind == SP_NEGATION)),
        savings_plan_recurring_commitment_for_billing_period=_doubles(unblended, kind == SP_FEE),
        savings_plan_savings_plan_effective_cost=_doubles(np.where(sp_cov, sp_effective, 0.0), sp_cov | (kind == SP_NEGATION)),
        savings_plan_savings_plan_rate=_doubles(np.round(rate * 0.72, 10), sp_cov | (kind == SP_NEGATION)),
        savings_plan_total_commitment_to_date=_doubles(unblended, kind == SP_FEE),
        savings_plan_used_commitment=_doubles(np.round(unblended * 0.97, 10), kind == SP_FEE),
    )
    null_doubles = pa.nulls(n, type=D)
    arrays = [cols.get(name, null_doubles if dtype == D else None) for name, dtype in COLUMNS]
    for (name, dtype), array in zip(COLUMNS, arrays):
        if array is None or array.type != dtype:
            raise AssertionError(f"column {name} built as {None if array is None else array.type}, want {dtype}")
    return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in all (default 1000000)")
    parser.add_argument("--out", required=True, help="export folder; BILLING_PERIOD=YYYY-MM/ goes inside")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--period", default="2025-01", help="billing period YYYY-MM (default 2025-01)")
    parser.add_argument("--accounts", type=int, default=12, help="usage accounts (default 12)")
    parser.add_argument("--name", default="costpilot-bench", help="export name used in file names")
    parser.add_argument("--rows-per-file", type=int, default=1_000_000)
    parser.add_argument("--row-group-rows", type=int, default=131_072)
    args = parser.parse_args()
    if args.rows < 1 or args.rows_per_file < 1 or args.row_group_rows < 1:
        parser.error("--rows, --rows-per-file and --row-group-rows must be positive")
    if args.rows_per_file > 1_000_000:
        parser.error("--rows-per-file must be at most 1000000")

    started = time.monotonic()
    cat = Catalogue(args.accounts, args.period)
    folder = os.path.join(args.out, f"BILLING_PERIOD={args.period}")
    os.makedirs(folder, exist_ok=True)
    files = (args.rows + args.rows_per_file - 1) // args.rows_per_file
    written = 0
    chunk = 0
    total_cost = 0.0
    total_bytes = 0
    for f in range(files):
        path = os.path.join(folder, f"{args.name}-{f + 1:05d}.snappy.parquet")
        partial = path + ".partial"
        in_file = min(args.rows_per_file, args.rows - written)
        with pq.ParquetWriter(partial, SCHEMA, compression="snappy") as writer:
            done = 0
            while done < in_file:
                n = min(args.row_group_rows, in_file - done)
                batch = make_batch(cat, args.seed, chunk, n)
                total_cost += float(np.sum(batch.column("line_item_unblended_cost").to_numpy(zero_copy_only=False)))
                writer.write_batch(batch, row_group_size=n)
                done += n
                chunk += 1
        os.replace(partial, path)
        written += in_file
        total_bytes += os.path.getsize(path)
        print(f"{path}: {in_file} rows", file=sys.stderr)
    summary = {
        "rows": written,
        "files": files,
        "columns": len(COLUMNS),
        "bytes": total_bytes,
        "sum_line_item_unblended_cost": round(total_cost, 6),
        "seed": args.seed,
        "period": args.period,
        "accounts": args.accounts,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
