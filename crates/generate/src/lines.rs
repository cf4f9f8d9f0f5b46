//! Line items: what the estate bills, hour by hour.
//!
//! [`Generator`] turns the estate into abstract line items ([`Line`]) in time order: each hour the
//! usage of every running resource, then reservations and Savings Plans applied to it as AWS
//! applies them (reservations first, then plans to the usage with the deepest discount), then the
//! plans' hourly fees; each day the enterprise discount; each invoiced month the reservations' fees,
//! tax, credits, the support fee and a refund. Writers ([`crate::Sink`]) turn lines into a bill
//! format; [`crate::truth::Truth`] adds them up.
//!
//! Amounts are integers of 10⁻¹⁰ of the payer's currency, the precision of AWS's own bills, so
//! every sum in truth.json is exact.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};

use crate::catalog::{self, Meter, REGIONS, Shape};
use crate::estate::{CommitmentKind, Estate, EventKind, Finding, HOUR_MS, Pattern, ResourceKind, round_rate};
use crate::options::DiscountForm;
use crate::rng::{fnv, hash4, unit_of};

/// Amount units per currency unit.
pub const SCALE: f64 = 1e10;

/// CUR line item types the generator writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LineKind {
    /// On-demand usage.
    Usage,
    /// Usage covered by a reservation.
    DiscountedUsage,
    /// Usage covered by a Savings Plan.
    SavingsPlanCoveredUsage,
    /// The negation of covered usage's on-demand cost.
    SavingsPlanNegation,
    /// A Savings Plan's hourly fee.
    SavingsPlanRecurringFee,
    /// A Savings Plan's upfront payment.
    SavingsPlanUpfrontFee,
    /// A reservation's monthly fee.
    RIFee,
    /// A fee without a commitment (support).
    Fee,
    /// Tax.
    Tax,
    /// A credit.
    Credit,
    /// A refund.
    Refund,
    /// The enterprise discount.
    EdpDiscount,
}

impl LineKind {
    /// The `line_item_line_item_type` value.
    pub fn name(self) -> &'static str {
        match self {
            Self::Usage => "Usage",
            Self::DiscountedUsage => "DiscountedUsage",
            Self::SavingsPlanCoveredUsage => "SavingsPlanCoveredUsage",
            Self::SavingsPlanNegation => "SavingsPlanNegation",
            Self::SavingsPlanRecurringFee => "SavingsPlanRecurringFee",
            Self::SavingsPlanUpfrontFee => "SavingsPlanUpfrontFee",
            Self::RIFee => "RIFee",
            Self::Fee => "Fee",
            Self::Tax => "Tax",
            Self::Credit => "Credit",
            Self::Refund => "Refund",
            Self::EdpDiscount => "EdpDiscount",
        }
    }

    /// Every kind, in a fixed order.
    pub const ALL: [LineKind; 12] = [
        Self::Usage,
        Self::DiscountedUsage,
        Self::SavingsPlanCoveredUsage,
        Self::SavingsPlanNegation,
        Self::SavingsPlanRecurringFee,
        Self::SavingsPlanUpfrontFee,
        Self::RIFee,
        Self::Fee,
        Self::Tax,
        Self::Credit,
        Self::Refund,
        Self::EdpDiscount,
    ];

    /// Position in [`LineKind::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).expect("listed")
    }
}

/// A product of the price list as one payer is billed for it.
#[derive(Debug, Clone)]
pub struct Product {
    /// `line_item_product_code`.
    pub product_code: &'static str,
    /// Service name of the price list.
    pub service_name: &'static str,
    /// Product family.
    pub family: &'static str,
    /// Full usage type (with the region prefix); empty for tax, credits and discounts.
    pub usage_type: String,
    /// Operation.
    pub operation: &'static str,
    /// Pricing unit.
    pub unit: &'static str,
    /// Public on-demand rate in the payer's currency.
    pub rate: f64,
    /// Region (index into [`catalog::REGIONS`]), `None` for global charges.
    pub region: Option<usize>,
    /// Instance, database or endpoint type.
    pub instance_type: Option<&'static catalog::InstanceType>,
    /// Index into the estate's payers (whose currency the rate is in).
    pub payer: usize,
    /// Savings Plan discount (0: not eligible).
    pub sp_discount: f64,
    /// Stable SKU.
    pub sku: String,
}

impl Product {
    /// A product billed without a metered rate (fees, tax, credits, discounts, commitments).
    fn unmetered(
        payer: usize,
        (product_code, service_name): (&'static str, &'static str),
        family: &'static str,
        usage_type: String,
        unit: &'static str,
    ) -> Self {
        Self {
            product_code,
            service_name,
            family,
            usage_type,
            operation: "",
            unit,
            rate: 0.0,
            region: None,
            instance_type: None,
            payer,
            sp_discount: 0.0,
            sku: String::new(),
        }
    }
}

/// Amounts only commitment lines carry, in amount units.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitAmounts {
    /// Reservation or Savings Plan effective cost of covered usage.
    pub effective: i64,
    /// Savings Plan rate of covered usage.
    pub rate: f64,
    /// A plan's commitment for the hour; a reservation's amortised upfront for the period.
    pub total: i64,
    /// A plan's used commitment for the hour.
    pub used: i64,
    /// Amortised upfront part (of a covered hour, a plan's hour or a reservation's period).
    pub amortized: i64,
    /// Recurring part.
    pub recurring: i64,
    /// A reservation's unused amortised upfront for the period.
    pub unused_amortized: i64,
    /// A reservation's unused recurring fee for the period.
    pub unused_recurring: i64,
    /// A reservation's unused hours.
    pub unused_quantity: f64,
}

/// One line item.
#[derive(Debug, Clone)]
pub struct Line {
    /// Line item type.
    pub kind: LineKind,
    /// Usage start, ms since the epoch.
    pub start_ms: i64,
    /// Usage end, ms since the epoch.
    pub end_ms: i64,
    /// Index into accounts.
    pub account: usize,
    /// Index into resources, `None` for lines without a resource.
    pub resource: Option<usize>,
    /// Index into [`Generator::products`].
    pub product: usize,
    /// Which meter of the resource (for stable ids).
    pub slot: u8,
    /// Usage amount.
    pub usage: f64,
    /// Unblended cost, amount units.
    pub unblended: i64,
    /// Public on-demand cost, amount units.
    pub public: i64,
    /// Index into commitments.
    pub commitment: Option<usize>,
    /// Commitment amounts.
    pub c: CommitAmounts,
    /// The enterprise discount billed inside the line (a negative amount in amount units) when
    /// the export writes discounts in the rows ([`crate::options::DiscountForm::Rows`]); 0
    /// otherwise.
    pub discount: i64,
}

impl Line {
    /// A line without a resource that charges `amount` in `[start_ms, end_ms)`: fees, tax,
    /// credits, refunds and discounts (no usage, list cost the amount, no commitment).
    fn charge(
        kind: LineKind,
        (start_ms, end_ms): (i64, i64),
        account: usize,
        product: usize,
        amount: i64,
    ) -> Self {
        Self {
            kind,
            start_ms,
            end_ms,
            account,
            resource: None,
            product,
            slot: 0,
            usage: 0.0,
            unblended: amount,
            public: amount,
            commitment: None,
            c: CommitAmounts::default(),
            discount: 0,
        }
    }

    /// EffectiveCost as costpilot's documented CUR mapping defines it (docs/mapping.md).
    pub fn effective(&self) -> i64 {
        match self.kind {
            LineKind::DiscountedUsage | LineKind::SavingsPlanCoveredUsage => self.c.effective,
            LineKind::SavingsPlanNegation | LineKind::SavingsPlanUpfrontFee => 0,
            LineKind::SavingsPlanRecurringFee => self.c.total - self.c.used,
            LineKind::RIFee => self.c.unused_amortized + self.c.unused_recurring,
            _ => self.unblended + self.discount,
        }
    }
}

/// Converts an amount in currency units to amount units.
pub fn units(x: f64) -> i64 {
    (x * SCALE).round() as i64
}

/// Hourly usage relative to the day's mean for daytime workloads (UTC hour of day).
pub(crate) const DIURNAL: [f64; 24] = [
    0.45, 0.4, 0.38, 0.36, 0.38, 0.45, 0.6, 0.8, 1.0, 1.2, 1.35, 1.42, 1.45, 1.45, 1.42, 1.38, 1.3, 1.2, 1.1,
    1.0, 0.9, 0.78, 0.65, 0.52,
];
/// The same for night-time batch workloads.
pub(crate) const BATCH: [f64; 24] = [
    1.6, 1.8, 1.9, 1.8, 1.5, 1.1, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.7, 0.8, 0.9, 1.0, 1.1,
    1.2, 1.3, 1.45,
];
/// Usage by day of week, Monday first.
pub(crate) const WEEKLY: [f64; 7] = [1.05, 1.08, 1.08, 1.06, 1.0, 0.78, 0.72];

/// One meter of one resource: what to bill and how much is drawn.
#[derive(Debug, Clone, Copy)]
struct Plan {
    product: usize,
    shape: Shape,
    base: f64,
    /// Hours it bills in: from (inclusive) to until (exclusive).
    from: u32,
    until: u32,
}

/// A billing period: a calendar month clipped to the estate's range.
#[derive(Debug, Clone)]
pub struct Period {
    /// First day of the month.
    pub month: NaiveDate,
    /// First hour of the estate in the period.
    pub first_hour: u32,
    /// Hour after the last (exclusive).
    pub end_hour: u32,
    /// Whether the whole month is in the range, so the bill is invoiced.
    pub invoiced: bool,
    /// Period start and end, ms since the epoch.
    pub start_ms: i64,
    /// Period end.
    pub end_ms: i64,
}

impl Period {
    /// `YYYY-MM`.
    pub fn label(&self) -> String {
        self.month.format("%Y-%m").to_string()
    }

    /// Hours of the whole month.
    pub fn month_hours(&self) -> u32 {
        ((self.end_ms - self.start_ms) / HOUR_MS) as u32
    }
}

/// The billing periods of an estate.
pub fn periods(e: &Estate) -> Vec<Period> {
    let mut out = Vec::new();
    let end = e.options.end();
    let mut month = e.options.start.with_day(1).expect("day 1");
    while month < end {
        let next = month.checked_add_months(chrono::Months::new(1)).expect("in range");
        let ms = |d: NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_millis();
        let hour_of = |d: NaiveDate| ((ms(d) - e.start_ms).max(0) / HOUR_MS) as u32;
        out.push(Period {
            month,
            first_hour: hour_of(month.max(e.options.start)),
            end_hour: hour_of(next.min(end)),
            invoiced: next <= end && month >= e.options.start,
            start_ms: ms(month),
            end_ms: ms(next),
        });
        month = next;
    }
    out
}

/// Makes the line items of an estate, in time order.
pub struct Generator<'e> {
    e: &'e Estate,
    /// Products lines refer to.
    pub products: Vec<Product>,
    product_index: HashMap<String, usize>,
    plans: Vec<Vec<Plan>>,
    growth: Vec<Vec<f64>>,
    release_factor: Vec<f64>,
    next_release: usize,
    events_of: HashMap<usize, Vec<usize>>,
    /// Extra cost each event caused, amount units, by event index.
    pub event_cost: Vec<i64>,
    ri_used: Vec<f64>,
    day_usage: BTreeMap<(usize, &'static str), i64>,
    period_charges: BTreeMap<(usize, &'static str), i64>,
    previous_ec2: BTreeMap<usize, i64>,
    period_ec2: BTreeMap<usize, i64>,
    invoiced_periods: u32,
}

impl<'e> Generator<'e> {
    /// Prepares the meters of every resource.
    pub fn new(e: &'e Estate) -> Self {
        let mut g = Self {
            e,
            products: Vec::new(),
            product_index: HashMap::new(),
            plans: Vec::with_capacity(e.resources.len()),
            growth: Vec::new(),
            release_factor: vec![1.0; e.applications.len()],
            next_release: 0,
            events_of: HashMap::new(),
            event_cost: vec![0; e.events.len()],
            ri_used: vec![0.0; e.commitments.len()],
            day_usage: BTreeMap::new(),
            period_charges: BTreeMap::new(),
            previous_ec2: BTreeMap::new(),
            period_ec2: BTreeMap::new(),
            invoiced_periods: 0,
        };
        for a in &e.accounts {
            let daily = 1.0 + a.growth / 30.0;
            let mut f = 1.0;
            let mut days = Vec::with_capacity(e.options.days as usize);
            for _ in 0..e.options.days {
                days.push(f);
                f *= daily;
            }
            g.growth.push(days);
        }
        for (i, ev) in e.events.iter().enumerate() {
            g.events_of.entry(ev.resource).or_default().push(i);
        }
        for r in 0..e.resources.len() {
            let plans = g.plan(r);
            g.plans.push(plans);
        }
        g
    }

    fn intern(&mut self, key: String, make: impl FnOnce(&Self) -> Product) -> usize {
        if let Some(i) = self.product_index.get(&key) {
            return *i;
        }
        let mut p = make(self);
        p.sku = format!("{:016X}", crate::rng::mix(0x5EED, fnv(&key)))[..16].to_string();
        self.products.push(p);
        self.product_index.insert(key, self.products.len() - 1);
        self.products.len() - 1
    }

    fn metered(
        &mut self,
        payer: usize,
        region: usize,
        meter: &Meter,
        usage_type: &str,
        instance_type: Option<&'static catalog::InstanceType>,
    ) -> usize {
        let legacy = matches!(
            meter.product_code,
            "AmazonEC2" | "AmazonS3" | "AmazonRDS" | "AWSDataTransfer" | "AmazonCloudWatch" | "AWSLambda"
        );
        let reg = &REGIONS[region];
        let full = if legacy && reg.code == "us-east-1" {
            usage_type.to_string()
        } else {
            format!("{}-{usage_type}", reg.prefix)
        };
        let fx = self.e.payers[payer].fx;
        let key = format!("{payer}|{}|{full}|{}", meter.product_code, meter.operation);
        self.intern(key, |_| Product {
            product_code: meter.product_code,
            service_name: meter.service_name,
            family: meter.family,
            usage_type: full.clone(),
            operation: meter.operation,
            unit: meter.unit,
            rate: round_rate(meter.rate * reg.uplift * fx),
            region: Some(region),
            instance_type,
            payer,
            sp_discount: meter.sp_discount,
            sku: String::new(),
        })
    }

    /// A product without usage (tax, credit, refund, discount, fee) for a service and payer.
    fn charge(
        &mut self,
        payer: usize,
        product_code: &'static str,
        service_name: &'static str,
        family: &'static str,
    ) -> usize {
        let key = format!("{payer}|{product_code}|charge|{family}");
        self.intern(key, |_| {
            Product::unmetered(payer, (product_code, service_name), family, String::new(), "")
        })
    }

    fn plan(&mut self, r: usize) -> Vec<Plan> {
        let e = self.e;
        let res = &e.resources[r];
        let payer = e.accounts[res.account].payer;
        let region = res.region;
        let mut out = Vec::new();
        let mut add = |g: &mut Self, meter: &Meter, usage_type: &str, it, rate: f64, sp: f64, base: f64| {
            let priced = Meter { rate, sp_discount: sp, ..*meter };
            let product = g.metered(payer, region, &priced, usage_type, it);
            out.push(Plan { product, shape: meter.shape, base, from: 0, until: u32::MAX });
        };
        match res.kind {
            ResourceKind::Instance => {
                let it = res.instance_type.expect("instances have a type");
                let m = catalog::hours_meter(catalog::EC2_SERVICE, "Compute Instance", "RunInstances");
                add(self, &m, &format!("BoxUsage:{}", it.name), Some(it), it.rate, it.sp_discount, 0.0);
                if res.internet_facing {
                    let dt = catalog::DATA_TRANSFER_OUT;
                    add(self, &dt, dt.usage_type, None, dt.rate, 0.0, dt.base * res.scale);
                }
            }
            ResourceKind::Volume => {
                let m = catalog::EBS_GP3;
                add(self, &m, m.usage_type, None, m.rate, 0.0, 0.0);
            }
            ResourceKind::Snapshot => {
                let m = catalog::EBS_SNAPSHOT;
                add(self, &m, m.usage_type, None, m.rate, 0.0, 0.0);
            }
            ResourceKind::Bucket => {
                for m in [catalog::S3_STORAGE, catalog::S3_TIER1, catalog::S3_TIER2] {
                    add(self, &m, m.usage_type, None, m.rate, 0.0, m.base * res.scale);
                }
            }
            ResourceKind::NatGateway => {
                let idle = if res.finding == Some(Finding::IdleNatGateway) { 0.002 } else { 1.0 };
                for m in [catalog::NAT_HOURS, catalog::NAT_BYTES] {
                    add(self, &m, m.usage_type, None, m.rate, 0.0, m.base * res.scale * idle);
                }
            }
            ResourceKind::Database => {
                let it = res.instance_type.expect("databases have a class");
                let m =
                    catalog::hours_meter(catalog::RDS_SERVICE, "Database Instance", "CreateDBInstance:0002");
                add(self, &m, &format!("InstanceUsage:{}", it.name), Some(it), it.rate, 0.0, 0.0);
                let s = catalog::RDS_STORAGE;
                add(self, &s, s.usage_type, None, s.rate, 0.0, 0.0);
            }
            ResourceKind::Function => {
                for m in [catalog::LAMBDA_COMPUTE, catalog::LAMBDA_REQUESTS] {
                    add(self, &m, m.usage_type, None, m.rate, m.sp_discount, m.base * res.scale);
                }
            }
            ResourceKind::Endpoint => {
                let it = res.instance_type.expect("endpoints have a type");
                let m = catalog::hours_meter(catalog::SAGEMAKER, "ML Instance", "RunInstance");
                add(self, &m, &format!("Host:{}", it.name), Some(it), it.rate, 0.0, 0.0);
            }
            ResourceKind::ModelProfile => {
                let model = res.model.expect("profiles have a model");
                let m = catalog::TOKENS;
                let tokens = model.input_tokens * res.scale;
                add(self, &m, &format!("{}-input-tokens", model.stem), None, model.input_rate, 0.0, tokens);
                if model.output_rate > 0.0 {
                    add(
                        self,
                        &m,
                        &format!("{}-output-tokens", model.stem),
                        None,
                        model.output_rate,
                        0.0,
                        tokens * 0.25,
                    );
                }
            }
            ResourceKind::AccountServices => {
                for m in [catalog::CLOUDWATCH_METRICS, catalog::CLOUDWATCH_LOGS] {
                    add(self, &m, m.usage_type, None, m.rate, 0.0, m.base * res.scale);
                }
            }
        }
        // A rightsized resource bills its hours under the new type from the remediation on.
        if let Some((hour, new)) = res.resized
            && let Some(i) = out.iter().position(|p| self.products[p.product].instance_type.is_some())
        {
            out[i].until = hour;
            let old = self.products[out[i].product].clone();
            let old_type = old.instance_type.expect("found by its type").name;
            let usage_type = old.usage_type.replace(old_type, new.name);
            let uplift = old.region.map_or(1.0, |r| REGIONS[r].uplift);
            let fx = self.e.payers[payer].fx;
            let key = format!("{payer}|{}|{usage_type}|{}", old.product_code, old.operation);
            let product = self.intern(key, |_| Product {
                usage_type: usage_type.clone(),
                rate: round_rate(new.rate * uplift * fx),
                instance_type: Some(new),
                sp_discount: if old.sp_discount > 0.0 { new.sp_discount } else { 0.0 },
                ..old.clone()
            });
            out.push(Plan { product, shape: Shape::Hours, base: 0.0, from: hour, until: u32::MAX });
        }
        out
    }

    /// Every line of hour `h` (which lies in `period`), appended to `out` in a fixed order.
    pub fn hour(&mut self, h: u32, period: &Period, out: &mut Vec<Line>) {
        let e = self.e;
        while self.next_release < e.releases.len() && e.releases[self.next_release].hour <= h {
            let rel = &e.releases[self.next_release];
            self.release_factor[rel.application] *= rel.factor;
            self.next_release += 1;
        }
        let first = out.len();
        let start_ms = e.hour_ms(h);
        let day = (h / 24) as usize;
        let hod = (h % 24) as usize;
        let dow = e.weekday(h) as usize;
        let weekday = dow < 5;
        let month_hours = f64::from(period.month_hours());
        for (r, res) in e.resources.iter().enumerate() {
            if !res.alive(h) {
                continue;
            }
            if res.office_hours_at(h) && (!weekday || !(8..20).contains(&hod)) {
                continue;
            }
            let growth = self.growth[res.account][day];
            let profile = if res.utilisation.pattern == Pattern::Batch { BATCH[hod] } else { DIURNAL[hod] };
            let season = profile * WEEKLY[dow] * growth * self.release_factor[res.application];
            for (slot, plan) in self.plans[r].iter().enumerate() {
                if h < plan.from || h >= plan.until {
                    continue;
                }
                let noise = 0.85 + 0.3 * unit_of(hash4(e.options.seed, r as u64, slot as u64, u64::from(h)));
                let base_usage = match plan.shape {
                    Shape::Hours => 1.0,
                    Shape::Storage => {
                        let size =
                            if res.kind == ResourceKind::Bucket { res.size_gb * growth } else { res.size_gb };
                        size / month_hours
                    }
                    Shape::Count => (plan.base * season * noise).round(),
                    Shape::Gigabytes => (plan.base * season * noise * 1e6).round() / 1e6,
                };
                let mult = self.event_multiplier(r, res.kind, slot, h);
                let usage = match (mult, plan.shape) {
                    (None, _) => base_usage,
                    (Some(m), Shape::Count) => (base_usage * m).round(),
                    (Some(m), _) => (base_usage * m * 1e6).round() / 1e6,
                };
                if usage <= 0.0 {
                    continue;
                }
                let product = &self.products[plan.product];
                let cost = units(usage * product.rate);
                if let Some(events) = self.events_of.get(&r) {
                    for ev in events {
                        let event = &e.events[*ev];
                        if event.kind == EventKind::ForgottenGpu && slot == 0 {
                            self.event_cost[*ev] += cost;
                        } else if mult.is_some() && h >= event.start_hour && h < event.end_hour {
                            self.event_cost[*ev] += cost - units(base_usage * product.rate);
                        }
                    }
                }
                out.push(Line {
                    kind: LineKind::Usage,
                    start_ms,
                    end_ms: start_ms + HOUR_MS,
                    account: res.account,
                    resource: (res.kind != ResourceKind::AccountServices).then_some(r),
                    product: plan.product,
                    slot: slot as u8,
                    usage,
                    unblended: cost,
                    public: cost,
                    commitment: None,
                    c: CommitAmounts::default(),
                    discount: 0,
                });
            }
        }
        self.apply_commitments(h, first, out);
        let in_rows = self.e.options.knobs.discount_form == DiscountForm::Rows;
        for line in &mut out[first..] {
            let code = self.products[line.product].product_code;
            *self.day_usage.entry((line.account, code)).or_default() += line.unblended;
            let edp = self.e.payers[self.e.accounts[line.account].payer].edp;
            if in_rows && line.kind == LineKind::Usage && edp > 0.0 && code != "ComputeSavingsPlans" {
                line.discount = -(line.unblended as f64 * edp).round() as i64;
            }
        }
    }

    fn event_multiplier(&self, r: usize, kind: ResourceKind, slot: usize, h: u32) -> Option<f64> {
        let events = self.events_of.get(&r)?;
        let mut m = None;
        for ev in events {
            let event = &self.e.events[*ev];
            if h < event.start_hour || h >= event.end_hour {
                continue;
            }
            let factor = match (event.kind, kind, slot) {
                (EventKind::RunawayLambda, ResourceKind::Function, _) => event.multiplier,
                (EventKind::NatSpike, ResourceKind::NatGateway, 1) => event.multiplier,
                (EventKind::S3RequestStorm, ResourceKind::Bucket, 1 | 2) => event.multiplier,
                (EventKind::TokenExplosion, ResourceKind::ModelProfile, 1) => event.multiplier,
                (EventKind::TokenExplosion, ResourceKind::ModelProfile, 0) => {
                    1.0 + (event.multiplier - 1.0) * 0.25
                }
                _ => continue,
            };
            m = Some(m.unwrap_or(1.0) * factor);
        }
        m
    }

    /// Reservations first, then Savings Plans, as AWS applies them; then the plans' hourly fees.
    fn apply_commitments(&mut self, h: u32, first: usize, out: &mut Vec<Line>) {
        let e = self.e;
        for (ci, c) in e.commitments.iter().enumerate() {
            let CommitmentKind::Reservation { instance_type, region, count, effective_rate } = &c.kind else {
                continue;
            };
            if !c.active(h) {
                continue;
            }
            let effective = units(*effective_rate);
            let amortized = (effective as f64 * c.upfront_share).round() as i64;
            let mut left = *count;
            for line in out[first..].iter_mut() {
                if left == 0 {
                    break;
                }
                let p = &self.products[line.product];
                if line.kind == LineKind::Usage
                    && line.slot == 0
                    && p.region == Some(*region)
                    && p.instance_type.is_some_and(|t| t.name == *instance_type)
                    && e.accounts[line.account].payer == c.payer
                {
                    line.kind = LineKind::DiscountedUsage;
                    line.unblended = 0;
                    line.commitment = Some(ci);
                    line.c.effective = effective;
                    line.c.amortized = amortized;
                    line.c.recurring = effective - amortized;
                    left -= 1;
                    self.ri_used[ci] += 1.0;
                }
            }
        }
        let mut eligible: Vec<usize> = (first..out.len())
            .filter(|i| out[*i].kind == LineKind::Usage && self.products[out[*i].product].sp_discount > 0.0)
            .collect();
        eligible.sort_by(|a, b| {
            let da = self.products[out[*a].product].sp_discount;
            let db = self.products[out[*b].product].sp_discount;
            db.total_cmp(&da).then(a.cmp(b))
        });
        let start_ms = e.hour_ms(h);
        for (ci, c) in e.commitments.iter().enumerate() {
            let CommitmentKind::SavingsPlan { hourly } = &c.kind else {
                continue;
            };
            if !c.active(h) {
                continue;
            }
            let total = units(*hourly);
            let amortized = (total as f64 * c.upfront_share).round() as i64;
            let mut used = 0;
            let mut negations = Vec::new();
            for i in &eligible {
                let line = &mut out[*i];
                if line.kind != LineKind::Usage || e.accounts[line.account].payer != c.payer {
                    continue;
                }
                let p = &self.products[line.product];
                let effective = (line.public as f64 * (1.0 - p.sp_discount)).round() as i64;
                if used + effective > total {
                    continue;
                }
                used += effective;
                line.kind = LineKind::SavingsPlanCoveredUsage;
                line.commitment = Some(ci);
                line.c.effective = effective;
                line.c.rate = round_rate(p.rate * (1.0 - p.sp_discount));
                line.c.amortized = (effective as f64 * c.upfront_share).round() as i64;
                line.c.recurring = effective - line.c.amortized;
                let mut negation = line.clone();
                negation.kind = LineKind::SavingsPlanNegation;
                negation.unblended = -line.unblended;
                negation.c.effective = 0;
                negations.push(negation);
            }
            out.extend(negations);
            let product = self.savings_plan_product(c.payer, c.term_hours, c.upfront_share);
            let account = self.management_account(c.payer);
            let hour = (start_ms, start_ms + HOUR_MS);
            if i64::from(h) == c.start_hour {
                let upfront = amortized * c.term_hours;
                out.push(Line {
                    usage: 1.0,
                    commitment: Some(ci),
                    c: CommitAmounts { total: upfront, ..Default::default() },
                    ..Line::charge(LineKind::SavingsPlanUpfrontFee, hour, account, product, upfront)
                });
            }
            out.push(Line {
                usage: 1.0,
                commitment: Some(ci),
                c: CommitAmounts {
                    total,
                    used,
                    amortized,
                    recurring: total - amortized,
                    ..Default::default()
                },
                ..Line::charge(LineKind::SavingsPlanRecurringFee, hour, account, product, total - amortized)
            });
        }
    }

    fn management_account(&self, payer: usize) -> usize {
        self.e
            .accounts
            .iter()
            .position(|a| a.payer == payer && a.management)
            .expect("every payer has a management account")
    }

    fn savings_plan_product(&mut self, payer: usize, term_hours: i64, upfront_share: f64) -> usize {
        let years = term_hours / (365 * 24);
        let option = if upfront_share >= 1.0 {
            "AllUpfront"
        } else if upfront_share > 0.0 {
            "PartialUpfront"
        } else {
            "NoUpfront"
        };
        let usage_type = format!("ComputeSP:{years}yr{option}");
        let key = format!("{payer}|ComputeSavingsPlans|{usage_type}");
        let service = ("ComputeSavingsPlans", "Savings Plans for AWS Compute usage");
        self.intern(key, |_| Product::unmetered(payer, service, "Savings Plan", usage_type.clone(), "Hrs"))
    }

    /// The enterprise discount of day `day` (0-based), after its last hour.
    pub fn end_of_day(&mut self, day: u32, out: &mut Vec<Line>) {
        let e = self.e;
        let start_ms = e.hour_ms(day * 24);
        let usage = std::mem::take(&mut self.day_usage);
        for ((account, code), billed) in usage {
            *self.period_charges.entry((account, code)).or_default() += billed;
            if code == "AmazonEC2" {
                *self.period_ec2.entry(account).or_default() += billed;
            }
            let payer = e.accounts[account].payer;
            let edp = e.payers[payer].edp;
            if edp <= 0.0 || billed <= 0 || code == "ComputeSavingsPlans" {
                continue;
            }
            let service = self.service_name_of(code);
            let product = self.charge(payer, code, service, "Discount");
            let discount = -(billed as f64 * edp).round() as i64;
            *self.period_charges.entry((account, code)).or_default() += discount;
            // Discounts written inside the rows have no line of their own; taxes still see them.
            if e.options.knobs.discount_form == DiscountForm::Rows {
                continue;
            }
            let day = (start_ms, start_ms + 24 * HOUR_MS);
            out.push(Line {
                public: 0,
                ..Line::charge(LineKind::EdpDiscount, day, account, product, discount)
            });
        }
    }

    fn service_name_of(&self, code: &str) -> &'static str {
        self.products.iter().find(|p| p.product_code == code).map_or("", |p| p.service_name)
    }

    /// The monthly lines of `period`, after its last day: reservation fees always; tax, credits,
    /// the support fee and refunds only when the month is invoiced.
    pub fn end_of_period(&mut self, period: &Period, out: &mut Vec<Line>) {
        let e = self.e;
        let start_ms = period.start_ms;
        let end_ms = period.end_ms;
        for (ci, c) in e.commitments.iter().enumerate() {
            let CommitmentKind::Reservation { instance_type, region, count, effective_rate } = &c.kind else {
                continue;
            };
            let active = (period.first_hour..period.end_hour).filter(|h| c.active(*h)).count() as f64;
            if active == 0.0 {
                continue;
            }
            let reserved = active * f64::from(*count);
            let used = std::mem::take(&mut self.ri_used[ci]);
            let unused = reserved - used;
            let effective = units(*effective_rate);
            let amortized = (effective as f64 * c.upfront_share).round() as i64;
            let recurring = effective - amortized;
            let it = catalog::instance_type(instance_type).expect("a catalogue type");
            let rds = instance_type.starts_with("db.");
            let reg = &REGIONS[*region];
            let usage_type = if reg.code == "us-east-1" {
                format!("HeavyUsage:{instance_type}")
            } else {
                format!("{}-HeavyUsage:{instance_type}", reg.prefix)
            };
            let (code, service, operation) = if rds {
                (catalog::RDS_SERVICE.0, catalog::RDS_SERVICE.1, "CreateDBInstance:0002")
            } else {
                (catalog::EC2_SERVICE.0, catalog::EC2_SERVICE.1, "RunInstances")
            };
            let key = format!("{}|{code}|{usage_type}|fee", c.payer);
            let payer = c.payer;
            let region = *region;
            let family = if rds { "Database Instance" } else { "Compute Instance" };
            let product = self.intern(key, |_| Product {
                operation,
                region: Some(region),
                instance_type: Some(it),
                ..Product::unmetered(payer, (code, service), family, usage_type.clone(), "Hrs")
            });
            let billed = (reserved * recurring as f64).round() as i64;
            let account = self.management_account(c.payer);
            let line = Line {
                usage: reserved,
                commitment: Some(ci),
                c: CommitAmounts {
                    effective,
                    total: (reserved * amortized as f64).round() as i64,
                    amortized,
                    recurring,
                    unused_amortized: (unused * amortized as f64).round() as i64,
                    unused_recurring: (unused * recurring as f64).round() as i64,
                    unused_quantity: unused,
                    ..Default::default()
                },
                ..Line::charge(LineKind::RIFee, (start_ms, end_ms), account, product, billed)
            };
            *self.period_charges.entry((line.account, code)).or_default() += billed;
            out.push(line);
        }
        let charges = std::mem::take(&mut self.period_charges);
        let ec2 = std::mem::take(&mut self.period_ec2);
        if !period.invoiced {
            return;
        }
        self.invoiced_periods += 1;
        // Credits: sandbox accounts get up to 300 (in their currency) of EC2 usage back; an
        // organisation without one gets the credit on its smallest account that ran EC2.
        let mut by_account: BTreeMap<usize, i64> = BTreeMap::new();
        for ((account, _), v) in &charges {
            *by_account.entry(*account).or_default() += v;
        }
        let mut lines_for = |g: &mut Self,
                             kind: LineKind,
                             account: usize,
                             code: &'static str,
                             family: &'static str,
                             amount: i64,
                             from: i64,
                             to: i64| {
            let payer = e.accounts[account].payer;
            let service = g.service_name_of(code);
            let service = if service.is_empty() { catalog::EC2_SERVICE.1 } else { service };
            let product = g.charge(payer, code, service, family);
            out.push(Line::charge(kind, (from, to), account, product, amount));
        };
        let sandbox = |a: &usize| e.accounts[*a].environment == crate::estate::Environment::Sandbox;
        let fallback = if ec2.iter().any(|(a, b)| sandbox(a) && *b > 0) {
            None
        } else {
            ec2.iter()
                .filter(|(a, b)| **b > 0 && !e.accounts[**a].management)
                .min_by_key(|(a, b)| (**b, **a))
                .map(|(a, _)| *a)
        };
        for (account, billed) in &ec2 {
            let a = &e.accounts[*account];
            if (sandbox(account) || fallback == Some(*account)) && *billed > 0 {
                let cap = units(300.0 * e.payers[a.payer].fx);
                lines_for(
                    self,
                    LineKind::Credit,
                    *account,
                    "AmazonEC2",
                    "Credit",
                    -(*billed).min(cap),
                    start_ms,
                    end_ms,
                );
            }
        }
        // A refund in the second invoiced month: 10 % of the largest account's EC2 usage of the
        // month before, for an outage.
        if self.invoiced_periods == 2
            && let Some((account, billed)) =
                self.previous_ec2.iter().max_by_key(|(a, v)| (**v, std::cmp::Reverse(**a)))
            && *billed > 0
        {
            {
                {
                    let prev_start = period
                        .month
                        .checked_sub_months(chrono::Months::new(1))
                        .expect("in range")
                        .and_hms_opt(0, 0, 0)
                        .expect("midnight")
                        .and_utc()
                        .timestamp_millis();
                    lines_for(
                        self,
                        LineKind::Refund,
                        *account,
                        "AmazonEC2",
                        "Refund",
                        -(*billed as f64 * 0.1).round() as i64,
                        prev_start,
                        start_ms,
                    );
                }
            }
        }
        self.previous_ec2 = ec2;
        // Tax per account and service on what was charged.
        for ((account, code), billed) in &charges {
            let payer = &e.payers[e.accounts[*account].payer];
            if payer.tax_rate <= 0.0 || *billed <= 0 {
                continue;
            }
            let tax = (*billed as f64 * payer.tax_rate).round() as i64;
            lines_for(self, LineKind::Tax, *account, code, "Tax", tax, start_ms, end_ms);
        }
        // The support fee per payer, on AWS's Business tiers, from the payer's charges.
        for (p, payer) in e.payers.iter().enumerate() {
            let total: i64 =
                by_account.iter().filter(|(a, _)| e.accounts[**a].payer == p).map(|(_, v)| *v).sum();
            let fee = support_fee(total as f64 / SCALE / payer.fx) * payer.fx;
            let account = self.management_account(p);
            let service = ("AWSSupportBusiness", "AWS Support (Business)");
            let product = self.intern(format!("{p}|AWSSupportBusiness"), |_| {
                Product::unmetered(p, service, "AWS Support", "USE1-Dollar".to_string(), "Dollar")
            });
            let amount = units(fee);
            out.push(Line {
                usage: 1.0,
                ..Line::charge(LineKind::Fee, (start_ms, end_ms), account, product, amount)
            });
        }
    }
}

/// AWS Business support: 10 % of the first 10k, 7 % to 80k, 5 % to 250k, 3 % above; at least 100.
fn support_fee(usd: f64) -> f64 {
    let tiers = [(10_000.0, 0.10), (80_000.0, 0.07), (250_000.0, 0.05), (f64::MAX, 0.03)];
    let mut fee = 0.0;
    let mut low = 0.0;
    for (high, rate) in tiers {
        if usd > low {
            fee += (usd.min(high) - low) * rate;
        }
        low = high;
    }
    ((fee.max(100.0)) * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_fee_follows_the_business_tiers() {
        assert_eq!(support_fee(0.0), 100.0);
        assert_eq!(support_fee(5_000.0), 500.0);
        assert_eq!(support_fee(20_000.0), 1_000.0 + 700.0);
        assert_eq!(support_fee(300_000.0), 1_000.0 + 4_900.0 + 8_500.0 + 1_500.0);
    }
}
