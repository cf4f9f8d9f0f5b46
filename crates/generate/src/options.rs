//! What to generate: the size of the estate, its time range, its seed and every tunable knob.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::GenerateError;

/// Which bill format the estate is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// AWS CUR 2.0 (Data Exports) Parquet.
    Cur2,
    /// FOCUS 1.2 Parquet of an Azure-shaped estate.
    FocusAzure,
    /// FOCUS 1.2 Parquet of a Google Cloud-shaped estate.
    FocusGcp,
}

/// The options of one generation run. Equal options give byte-identical output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Options {
    /// Member accounts across all payers (the payers' management accounts included).
    pub accounts: u32,
    /// Days of usage, from `start`.
    pub days: u32,
    /// First day of usage (UTC).
    pub start: NaiveDate,
    /// Seed of every random draw.
    pub seed: u64,
    /// About how many line items to write; `None` for the natural size of the estate.
    pub rows_target: Option<u64>,
    /// Bill format.
    pub format: Format,
    /// Every tunable of the estate.
    pub knobs: Knobs,
    /// Remediations applied to the estate (the replay mode); empty for the estate as it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remediations: Vec<Remediation>,
}

/// A change to the estate from a point in time, so that savings realised by acting on a
/// recommendation can be measured against the estate left alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Remediation {
    /// When it takes effect (UTC, on the hour: `2025-02-15T00:00:00Z`).
    pub from: chrono::DateTime<chrono::Utc>,
    /// What is done.
    #[serde(flatten)]
    pub action: Action,
}

/// What a remediation does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Terminate an instance, delete a volume, snapshot, bucket, NAT gateway, database,
    /// function, endpoint or model profile: it bills nothing from then on.
    Delete {
        /// The resource id as the bill shows it.
        resource_id: String,
    },
    /// Move an instance (or database, or endpoint) to another type of the catalogue.
    Rightsize {
        /// The resource id.
        resource_id: String,
        /// The new type (`m5.large`).
        instance_type: String,
    },
    /// Run an instance only in office hours (weekdays 08:00–20:00 UTC).
    Schedule {
        /// The resource id.
        resource_id: String,
    },
    /// Buy a Compute Savings Plan for the main payer.
    PurchaseSavingsPlan {
        /// Commitment per hour, USD.
        hourly_commitment: f64,
        /// Term in years (1 or 3).
        term_years: u32,
        /// Share paid up front (0, 0.5 or 1).
        upfront_share: f64,
    },
}

impl Default for Options {
    fn default() -> Self {
        Self {
            accounts: 120,
            days: 90,
            start: NaiveDate::from_ymd_opt(2025, 1, 1).expect("a valid date"),
            seed: 42,
            rows_target: None,
            format: Format::Cur2,
            knobs: Knobs::default(),
            remediations: Vec::new(),
        }
    }
}

/// Tunables of the estate. Every one is recorded in truth.json.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// Line items per account and hour at the natural size (before `rows_target` scaling).
    pub density: f64,
    /// Share of resources that carry no user tags at all (about the share of spend untagged).
    pub untagged_share: f64,
    /// Share of untagged resources in shared accounts that the CMDB lists (the rest have no owner).
    pub cmdb_resource_coverage: f64,
    /// Share of tagged resources whose team value drifts in case or whitespace.
    pub value_drift: f64,
    /// Monthly growth of usage: the lowest and highest rate drawn per account.
    pub growth: (f64, f64),
    /// Releases per application per 30 days.
    pub releases_per_month: f64,
    /// Level shift a release causes: lowest and highest factor.
    pub release_shift: (f64, f64),
    /// Share of steady Savings Plan-eligible spend the Savings Plans commit to.
    pub savings_plan_coverage: f64,
    /// Share of matching instances reserved instances cover.
    pub reserved_coverage: f64,
    /// Enterprise discount on usage (EdpDiscount lines).
    pub edp_discount: f64,
    /// Sales tax on the USD payer's charges.
    pub sales_tax: f64,
    /// VAT on the non-USD payer's charges.
    pub vat: f64,
    /// Currency of the non-USD payer and its rate per USD.
    pub foreign_currency: (String, f64),
    /// Injected anomalies of each kind (runaway Lambda, NAT spike, forgotten GPU, S3 request
    /// storm, token explosion) per 200 accounts, at least one each.
    pub events_per_200_accounts: u32,
    /// Shares of resources that are waste: idle instances, oversized instances, unattached
    /// volumes, old snapshots, idle NAT gateways, spiky fleets.
    pub waste: Waste,
    /// Write `''` rather than a null in every CUR 2.0 text column a line item has no value for,
    /// as AWS Data Exports do (the rate and reservation-unit columns, typed as text, included).
    pub empty_text: bool,
    /// How the enterprise discount is billed, as the two kinds of AWS Data Export write it.
    pub discount_form: DiscountForm,
}

/// The two ways AWS writes a negotiated discount in CUR 2.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiscountForm {
    /// As lines of their own (`EdpDiscount`), with "manual discount compatibility": the export
    /// has no `discount` map and no `discount_total_discount` column.
    #[default]
    Lines,
    /// Inside the rows it discounts: `discount_total_discount`, the `discount` map and the
    /// `net_*` columns, and no discount lines.
    Rows,
}

/// Shares of resources that carry a known waste finding.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Waste {
    /// Instances near 0 % CPU.
    pub idle_instances: f64,
    /// Instances of xlarge or more whose CPU never passes 20 %.
    pub oversized_instances: f64,
    /// Volumes attached to nothing.
    pub unattached_volumes: f64,
    /// Snapshots older than a year.
    pub old_snapshots: f64,
    /// NAT gateways that carry almost no traffic.
    pub idle_nat_gateways: f64,
    /// Instances of always-on fleets sized for a daily peak.
    pub spiky_fleets: f64,
}

impl Default for Waste {
    fn default() -> Self {
        Self {
            idle_instances: 0.05,
            oversized_instances: 0.12,
            unattached_volumes: 0.08,
            old_snapshots: 0.35,
            idle_nat_gateways: 0.2,
            spiky_fleets: 0.1,
        }
    }
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            density: 10.0,
            untagged_share: 0.2,
            cmdb_resource_coverage: 0.5,
            value_drift: 0.2,
            growth: (-0.01, 0.06),
            releases_per_month: 2.0,
            release_shift: (0.85, 1.3),
            savings_plan_coverage: 0.6,
            reserved_coverage: 0.5,
            edp_discount: 0.05,
            sales_tax: 0.06,
            vat: 0.19,
            foreign_currency: ("EUR".to_string(), 0.92),
            events_per_200_accounts: 1,
            waste: Waste::default(),
            empty_text: false,
            discount_form: DiscountForm::Lines,
        }
    }
}

impl Options {
    /// Refuses options no estate can be made from, with a one-line reason.
    pub fn validate(&self) -> Result<(), GenerateError> {
        let bad = |m: String| Err(GenerateError::Options(m));
        if self.accounts == 0 {
            return bad("--accounts must be at least 1".into());
        }
        if self.accounts > 100_000 {
            return bad(format!("--accounts {} is more than 100000", self.accounts));
        }
        if self.days == 0 {
            return bad("--days must be at least 1 (the end must come after the start)".into());
        }
        if self.days > 3660 {
            return bad(format!("--days {} is more than ten years", self.days));
        }
        if self.rows_target == Some(0) {
            return bad("--rows-target must be at least 1".into());
        }
        let k = &self.knobs;
        let shares = [
            ("untagged_share", k.untagged_share),
            ("cmdb_resource_coverage", k.cmdb_resource_coverage),
            ("value_drift", k.value_drift),
            ("savings_plan_coverage", k.savings_plan_coverage),
            ("reserved_coverage", k.reserved_coverage),
            ("edp_discount", k.edp_discount),
            ("sales_tax", k.sales_tax),
            ("vat", k.vat),
            ("waste.idle_instances", k.waste.idle_instances),
            ("waste.oversized_instances", k.waste.oversized_instances),
            ("waste.unattached_volumes", k.waste.unattached_volumes),
            ("waste.old_snapshots", k.waste.old_snapshots),
            ("waste.idle_nat_gateways", k.waste.idle_nat_gateways),
            ("waste.spiky_fleets", k.waste.spiky_fleets),
        ];
        for (name, v) in shares {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("knob {name} = {v} is not a share between 0 and 1"));
            }
        }
        if !(k.density > 0.0 && k.density <= 10_000.0) {
            return bad(format!("knob density = {} must be above 0 and at most 10000", k.density));
        }
        for (name, (low, high), min) in [("growth", k.growth, -0.5), ("release_shift", k.release_shift, 0.01)]
        {
            if !(low.is_finite() && high.is_finite() && low <= high && low >= min && high <= 10.0) {
                return bad(format!("knob {name} = ({low}, {high}) is not a range from {min} to 10"));
            }
        }
        if !(0.0..=30.0).contains(&k.releases_per_month) {
            return bad(format!(
                "knob releases_per_month = {} must be between 0 and 30",
                k.releases_per_month
            ));
        }
        for r in &self.remediations {
            let start = self.start.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
            if r.from < start || r.from.timestamp() % 3600 != 0 {
                return bad(format!(
                    "remediation from {} must be on the hour and not before the start {}",
                    r.from.format("%Y-%m-%dT%H:%M:%SZ"),
                    self.start
                ));
            }
            if let Action::PurchaseSavingsPlan { hourly_commitment, term_years, upfront_share } = &r.action {
                let valid = *hourly_commitment > 0.0
                    && *hourly_commitment < 1e7
                    && matches!(term_years, 1 | 3)
                    && (0.0..=1.0).contains(upfront_share);
                if !valid {
                    return bad(format!(
                        "remediation purchase_savings_plan needs hourly_commitment > 0, term_years 1 or 3 and \
                         upfront_share between 0 and 1 (got {hourly_commitment}, {term_years}, {upfront_share})"
                    ));
                }
            }
        }
        let (currency, rate) = &k.foreign_currency;
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) || currency == "USD" {
            return bad(format!(
                "knob foreign_currency {currency:?} is not a three-letter ISO 4217 code other than USD"
            ));
        }
        if !(*rate > 0.0 && *rate < 1_000_000.0) {
            return bad(format!("knob foreign_currency rate {rate} must be above 0"));
        }
        Ok(())
    }

    /// The day after the last day of usage.
    pub fn end(&self) -> NaiveDate {
        self.start + chrono::Days::new(u64::from(self.days))
    }
}
