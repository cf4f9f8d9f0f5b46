//! The estate: the organisation (payers, accounts, business units, teams, applications), its
//! resources with their tags, utilisation and waste, its commitments, its releases and the
//! anomalies injected into it. Everything here is drawn once, up front, from the seed; the hourly
//! line items are derived from it in [`crate::lines`].

use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use crate::catalog::{self, InstanceType, Model, REGIONS};
use crate::options::Options;
use crate::rng::{Draw, mix};

/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 3_600_000;

/// How an account is used, which decides its size, its tags and its resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Production.
    Production,
    /// Staging.
    Staging,
    /// Development.
    Development,
    /// Sandbox.
    Sandbox,
    /// Shared services and networking, owned by no single team.
    Shared,
}

impl Environment {
    /// The canonical (normalised) environment value.
    pub fn canonical(self) -> &'static str {
        match self {
            Self::Production => "prod",
            Self::Staging => "staging",
            Self::Development => "dev",
            Self::Sandbox => "sandbox",
            Self::Shared => "shared",
        }
    }

    /// The long spelling some accounts tag with instead (`production` for `prod`).
    fn long(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Staging => "stage",
            Self::Development => "development",
            Self::Sandbox => "sandbox",
            Self::Shared => "shared",
        }
    }
}

/// The kind of workload a team runs, which decides the mix of its resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Archetype {
    Web,
    Data,
    Ml,
    GenAi,
    Platform,
}

struct TeamSpec {
    name: &'static str,
    business_unit: &'static str,
    archetype: Archetype,
    applications: &'static [&'static str],
}

const TEAMS: &[TeamSpec] = &[
    team("storefront", "Retail", Archetype::Web, &["storefront-web", "storefront-api"]),
    team("checkout", "Retail", Archetype::Web, &["checkout-api", "cart-service"]),
    team("catalog", "Retail", Archetype::Data, &["catalog-service", "catalog-search"]),
    team("payments", "Payments", Archetype::Web, &["payments-api", "payments-gateway"]),
    team("fraud", "Payments", Archetype::Ml, &["fraud-scoring"]),
    team("ledger", "Payments", Archetype::Data, &["ledger-core"]),
    team("data-eng", "Data & AI", Archetype::Data, &["ingest-pipeline", "warehouse-etl"]),
    team("ml-platform", "Data & AI", Archetype::Ml, &["training-platform", "feature-store"]),
    team("genai", "Data & AI", Archetype::GenAi, &["support-assistant", "doc-search"]),
    team("analytics", "Data & AI", Archetype::Data, &["bi-dashboards"]),
    team("platform", "Platform", Archetype::Platform, &["kubernetes-platform", "ci-runners"]),
    team("sre", "Platform", Archetype::Platform, &["observability"]),
    team("security", "Platform", Archetype::Platform, &["security-tooling"]),
    team("mobile", "Growth", Archetype::Web, &["mobile-backend"]),
    team("marketing", "Growth", Archetype::Web, &["marketing-site", "campaigns"]),
    team("crm", "Growth", Archetype::Web, &["crm-sync"]),
];

const fn team(
    name: &'static str,
    business_unit: &'static str,
    archetype: Archetype,
    applications: &'static [&'static str],
) -> TeamSpec {
    TeamSpec { name, business_unit, archetype, applications }
}

/// A business unit.
#[derive(Debug, Clone, Serialize)]
pub struct BusinessUnit {
    /// Its name.
    pub name: &'static str,
    /// Its cost centre.
    pub cost_centre: String,
}

/// A team.
#[derive(Debug, Clone, Serialize)]
pub struct Team {
    /// Canonical name (the normalised tag value).
    pub name: &'static str,
    /// Index into [`Estate::business_units`].
    pub business_unit: usize,
    /// The team's owner, as a CMDB names them.
    pub owner: String,
}

/// How bad it is for an application to be down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Criticality {
    /// Customer-facing, revenue-bearing.
    High,
    /// Internal but important.
    Medium,
    /// Experiments and tooling.
    Low,
}

/// An application.
#[derive(Debug, Clone, Serialize)]
pub struct Application {
    /// Canonical name.
    pub name: &'static str,
    /// Index into [`Estate::teams`].
    pub team: usize,
    /// Criticality as the CMDB records it.
    pub criticality: Criticality,
}

/// A payer (management) account: one bill, one currency.
#[derive(Debug, Clone, Serialize)]
pub struct Payer {
    /// Its account id (bill_payer_account_id).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Billing currency.
    pub currency: String,
    /// Units of `currency` per USD (1 for USD).
    pub fx: f64,
    /// AWS entity that invoices it.
    pub legal_entity: &'static str,
    /// Sales tax or VAT rate.
    pub tax_rate: f64,
    /// Tax type as the bill names it.
    pub tax_type: &'static str,
    /// Enterprise discount rate (0 for none).
    pub edp: f64,
}

/// A member account.
#[derive(Debug, Clone, Serialize)]
pub struct Account {
    /// 12-digit account id.
    pub id: String,
    /// Account name.
    pub name: String,
    /// Index into [`Estate::payers`].
    pub payer: usize,
    /// Owning team; `None` for shared accounts nobody owns alone.
    pub team: Option<usize>,
    /// Index into [`Estate::business_units`] (shared accounts belong to Platform).
    pub business_unit: usize,
    /// Environment.
    pub environment: Environment,
    /// Home region (index into [`catalog::REGIONS`]).
    pub region: usize,
    /// Relative size of its spend.
    pub size: f64,
    /// Monthly growth rate of its usage.
    pub growth: f64,
    /// Whether this is a payer's management account.
    pub management: bool,
    /// The tag key its engineers use for the team (`team`, `Team` or `owner-team`).
    pub team_key: &'static str,
    /// Whether its engineers write the environment long (`production`) or short (`prod`).
    pub long_environment: bool,
    /// Whether an AWS cost category maps the account to its business unit.
    pub cost_category: bool,
}

/// What kind of thing a resource is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    /// An EC2 instance.
    Instance,
    /// An EBS volume.
    Volume,
    /// An EBS snapshot.
    Snapshot,
    /// An S3 bucket.
    Bucket,
    /// A NAT gateway.
    NatGateway,
    /// An RDS database instance.
    Database,
    /// A Lambda function.
    Function,
    /// A SageMaker real-time inference endpoint.
    Endpoint,
    /// A Bedrock application inference profile (token usage of one model).
    ModelProfile,
    /// The account itself (CloudWatch metrics and logs), with no resource id.
    AccountServices,
}

/// How a resource's CPU behaves, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    /// A steady load.
    Steady,
    /// Busy by day, quiet by night.
    Diurnal,
    /// Short daily peaks on a low base: a fleet sized for the peak.
    Spiky,
    /// Next to nothing.
    Idle,
    /// Night-time batch work.
    Batch,
}

/// Utilisation of an instance, volume or endpoint.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Utilisation {
    /// Mean CPU %.
    pub cpu_mean: f64,
    /// CPU % at the daily peak.
    pub cpu_peak: f64,
    /// Shape over the day.
    pub pattern: Pattern,
    /// Whether the CloudWatch agent reports memory.
    pub memory_agent: bool,
    /// Mean memory % where reported.
    pub memory_mean: f64,
}

/// Waste the estate knows a resource to be: what a recommender should find.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "finding", rename_all = "snake_case")]
pub enum Finding {
    /// An instance near 0 % CPU.
    IdleInstance,
    /// An instance whose CPU never passes 20 %: one or two sizes smaller would do.
    Oversized {
        /// A type that would fit.
        suggested_type: &'static str,
    },
    /// A volume attached to nothing.
    UnattachedVolume,
    /// A snapshot older than a year.
    OldSnapshot {
        /// Its age in days at the start of the estate.
        age_days: u32,
    },
    /// A NAT gateway that carries almost no traffic.
    IdleNatGateway,
    /// An always-on instance of a fleet sized for a short daily peak.
    SpikyFleet,
    /// A GPU instance started and forgotten: it runs to the end at near 0 % utilisation.
    ForgottenGpu,
}

/// A resource of the estate.
#[derive(Debug, Clone)]
pub struct Resource {
    /// Its id as the bill shows it (`i-0…`, an ARN, a bucket name); empty for account services.
    pub id: String,
    /// Kind.
    pub kind: ResourceKind,
    /// Index into [`Estate::accounts`].
    pub account: usize,
    /// Index into [`catalog::REGIONS`].
    pub region: usize,
    /// Availability zone within the region.
    pub zone: &'static str,
    /// Index into [`Estate::applications`]: the application it serves.
    pub application: usize,
    /// The team that truly owns it; `None` when nobody does.
    pub owner: Option<usize>,
    /// Instance, database or endpoint type.
    pub instance_type: Option<&'static InstanceType>,
    /// Bedrock model for model profiles.
    pub model: Option<&'static Model>,
    /// Size in GB (volumes, snapshots, buckets, database storage).
    pub size_gb: f64,
    /// Scale of its seasonal meters.
    pub scale: f64,
    /// Whether it sends traffic to the internet (a data-transfer-out meter).
    pub internet_facing: bool,
    /// First hour it runs (from the estate start).
    pub start_hour: u32,
    /// Hour it stops (exclusive).
    pub end_hour: u32,
    /// Runs only in office hours on weekdays (UTC).
    pub office_hours: bool,
    /// Tags as its owners wrote them (keys without the `user_` prefix), drift and all.
    pub tags: Vec<(String, String)>,
    /// Utilisation for metrics.
    pub utilisation: Utilisation,
    /// For volumes: the instance (index into resources) it is attached to.
    pub attached_to: Option<usize>,
    /// Known waste.
    pub finding: Option<Finding>,
    /// Whether the CMDB lists it by id.
    pub in_cmdb: bool,
    /// A remediation's new type and the hour it takes effect.
    pub resized: Option<(u32, &'static InstanceType)>,
    /// The hour from which a remediation runs it in office hours only.
    pub scheduled_from: Option<u32>,
}

impl Resource {
    /// Whether the resource exists in hour `h`.
    pub fn alive(&self, h: u32) -> bool {
        h >= self.start_hour && h < self.end_hour
    }

    /// Whether it runs only in office hours in hour `h`.
    pub fn office_hours_at(&self, h: u32) -> bool {
        self.office_hours || self.scheduled_from.is_some_and(|from| h >= from)
    }
}

/// A commitment: a Savings Plan or a reservation.
#[derive(Debug, Clone, Serialize)]
pub struct Commitment {
    /// Its ARN.
    pub arn: String,
    /// Index into [`Estate::payers`].
    pub payer: usize,
    /// Kind and terms.
    pub kind: CommitmentKind,
    /// Hour it starts, relative to the estate start (negative: bought before).
    pub start_hour: i64,
    /// Term in hours.
    pub term_hours: i64,
    /// Share of the commitment paid up front.
    pub upfront_share: f64,
}

/// What a commitment covers.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CommitmentKind {
    /// A Compute Savings Plan: a spend commitment per hour.
    SavingsPlan {
        /// Commitment per hour, USD.
        hourly: f64,
    },
    /// A standard reservation of `count` instances of one type in one region.
    Reservation {
        /// Instance (or database) type.
        instance_type: &'static str,
        /// Index into [`catalog::REGIONS`].
        region: usize,
        /// Instances reserved.
        count: u32,
        /// Effective price per reserved hour (amortised upfront plus recurring), USD.
        effective_rate: f64,
    },
}

impl Commitment {
    /// Whether it is in force in hour `h`.
    pub fn active(&self, h: u32) -> bool {
        let h = i64::from(h);
        h >= self.start_hour && h < self.start_hour + self.term_hours
    }

    /// The amount committed per hour, USD.
    pub fn hourly(&self) -> f64 {
        match &self.kind {
            CommitmentKind::SavingsPlan { hourly } => *hourly,
            CommitmentKind::Reservation { count, effective_rate, .. } => f64::from(*count) * effective_rate,
        }
    }
}

/// The kinds of anomaly injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A Lambda function stuck in a retry loop.
    RunawayLambda,
    /// A NAT gateway's processed bytes jump.
    NatSpike,
    /// A large GPU instance started and never stopped.
    ForgottenGpu,
    /// A burst of S3 requests on one bucket.
    S3RequestStorm,
    /// Output tokens multiply after a release.
    TokenExplosion,
}

/// An injected anomaly.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Kind.
    pub kind: EventKind,
    /// Index into resources.
    pub resource: usize,
    /// First hour (from the estate start).
    pub start_hour: u32,
    /// Hour it ends (exclusive); the estate's hour count when it lasts to the end.
    pub end_hour: u32,
    /// Factor on the affected meters' usage.
    pub multiplier: f64,
}

/// A release of an application: its seasonal usage shifts by `factor` from `hour` on.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    /// Index into applications.
    pub application: usize,
    /// Hour of the release.
    pub hour: u32,
    /// Level shift.
    pub factor: f64,
}

/// The whole estate.
pub struct Estate {
    /// The options it was made from.
    pub options: Options,
    /// Start of the first hour, ms since the epoch.
    pub start_ms: i64,
    /// Hours of usage.
    pub hours: u32,
    /// Business units.
    pub business_units: Vec<BusinessUnit>,
    /// Teams.
    pub teams: Vec<Team>,
    /// Applications.
    pub applications: Vec<Application>,
    /// Payers; the first is the main USD payer.
    pub payers: Vec<Payer>,
    /// Member accounts.
    pub accounts: Vec<Account>,
    /// Resources.
    pub resources: Vec<Resource>,
    /// Commitments.
    pub commitments: Vec<Commitment>,
    /// Injected anomalies.
    pub events: Vec<Event>,
    /// Releases, ordered by hour.
    pub releases: Vec<Release>,
}

/// Line items per hour each resource kind writes (its meters).
pub fn meters_per_hour(kind: ResourceKind, internet_facing: bool) -> f64 {
    match kind {
        ResourceKind::Instance => 1.0 + f64::from(u8::from(internet_facing)),
        ResourceKind::Volume | ResourceKind::Snapshot | ResourceKind::Endpoint => 1.0,
        ResourceKind::Bucket => 3.0,
        ResourceKind::NatGateway
        | ResourceKind::Database
        | ResourceKind::Function
        | ResourceKind::ModelProfile
        | ResourceKind::AccountServices => 2.0,
    }
}

/// The resources one unit of a workload brings: (kind, expected count).
fn bundle(archetype: Archetype) -> &'static [(ResourceKind, f64)] {
    use ResourceKind::*;
    match archetype {
        Archetype::Web => {
            &[(Instance, 4.0), (Bucket, 1.0), (Function, 2.0), (Database, 0.4), (Snapshot, 1.0)]
        }
        Archetype::Data => {
            &[(Instance, 3.0), (Bucket, 2.0), (Database, 1.0), (Function, 1.0), (Snapshot, 2.0)]
        }
        Archetype::Ml => &[(Instance, 3.0), (Endpoint, 1.0), (Bucket, 1.0), (Snapshot, 1.0)],
        Archetype::GenAi => {
            &[(Instance, 2.0), (ModelProfile, 2.0), (Endpoint, 0.5), (Function, 2.0), (Bucket, 1.0)]
        }
        Archetype::Platform => {
            &[(Instance, 4.0), (NatGateway, 0.5), (Bucket, 1.0), (Function, 1.0), (Snapshot, 2.0)]
        }
    }
}

fn instance_choices(archetype: Archetype) -> &'static [&'static str] {
    match archetype {
        Archetype::Web => &[
            "m5.large",
            "m5.large",
            "m5.xlarge",
            "c5.large",
            "c5.xlarge",
            "t3.medium",
            "t3.large",
            "m6i.large",
        ],
        Archetype::Data => {
            &["r5.xlarge", "r5.xlarge", "r5.2xlarge", "m5.2xlarge", "r6i.4xlarge", "m5.xlarge"]
        }
        Archetype::Ml => &["c5.2xlarge", "m5.xlarge", "g5.xlarge", "g5.2xlarge", "g4dn.xlarge", "p3.2xlarge"],
        Archetype::GenAi => &["m5.large", "m5.xlarge", "c5.xlarge"],
        Archetype::Platform => &["m5.2xlarge", "c6g.xlarge", "m5.4xlarge", "m6i.2xlarge", "c5.xlarge"],
    }
}

/// Builds the estate for `options` (which must have passed [`Options::validate`]).
pub fn build(options: &Options) -> Estate {
    let start = Utc.from_utc_datetime(&options.start.and_hms_opt(0, 0, 0).expect("midnight"));
    let hours = options.days * 24;
    let mut estate = Estate {
        options: options.clone(),
        start_ms: start.timestamp_millis(),
        hours,
        business_units: Vec::new(),
        teams: Vec::new(),
        applications: Vec::new(),
        payers: Vec::new(),
        accounts: Vec::new(),
        resources: Vec::new(),
        commitments: Vec::new(),
        events: Vec::new(),
        releases: Vec::new(),
    };
    organisation(&mut estate);
    accounts(&mut estate);
    populate(&mut estate, 1.0);
    // The first draw sizes the estate from averages; with a row target, count what it would
    // write and draw once more with the variable part scaled to hit the target.
    if let Some(target) = options.rows_target {
        let (fixed, variable) = expected_rows(&estate);
        let want = target as f64 - fixed;
        if variable > 0.0 && want > 0.0 && ((fixed + variable) / target as f64 - 1.0).abs() > 0.01 {
            estate.resources.clear();
            estate.commitments.clear();
            estate.releases.clear();
            estate.events.clear();
            populate(&mut estate, want / variable);
        }
    }
    estate
}

/// Draws the resources (scaled by `correction`), commitments, releases and events.
fn populate(e: &mut Estate, correction: f64) {
    resources(e, correction);
    commitments(e);
    releases(e);
    events(e);
}

fn organisation(e: &mut Estate) {
    let mut d = Draw::new(e.options.seed, 1);
    for spec in TEAMS {
        let bu = match e.business_units.iter().position(|b| b.name == spec.business_unit) {
            Some(i) => i,
            None => {
                e.business_units.push(BusinessUnit {
                    name: spec.business_unit,
                    cost_centre: format!("CC-{}", 1000 + 100 * e.business_units.len()),
                });
                e.business_units.len() - 1
            }
        };
        e.teams.push(Team {
            name: spec.name,
            business_unit: bu,
            owner: format!("{}-lead@example.com", spec.name),
        });
        let team = e.teams.len() - 1;
        for app in spec.applications {
            let criticality = match spec.archetype {
                Archetype::Web => Criticality::High,
                Archetype::Data | Archetype::Platform => {
                    if d.chance(0.5) {
                        Criticality::High
                    } else {
                        Criticality::Medium
                    }
                }
                Archetype::Ml | Archetype::GenAi => {
                    if d.chance(0.5) {
                        Criticality::Medium
                    } else {
                        Criticality::Low
                    }
                }
            };
            e.applications.push(Application { name: app, team, criticality });
        }
    }
}

fn account_id(seed: u64, i: u64, taken: &mut std::collections::HashSet<u64>) -> String {
    let mut salt = 0;
    loop {
        let id = 100_000_000_000 + mix(mix(seed, 0xACC0), i * 7919 + salt) % 899_999_999_999;
        if taken.insert(id) {
            return format!("{id:012}");
        }
        salt += 1;
    }
}

fn accounts(e: &mut Estate) {
    let o = &e.options;
    let mut d = Draw::new(o.seed, 2);
    let n = o.accounts as usize;
    let foreign = if n >= 4 { (n / 20).max(2) } else { 0 };
    let domestic = n - foreign;
    let usd_payers = domestic.div_ceil(400).max(1);
    let mut ids = std::collections::HashSet::new();
    let (currency, fx) = o.knobs.foreign_currency.clone();
    for p in 0..usd_payers {
        e.payers.push(Payer {
            id: account_id(o.seed, p as u64, &mut ids),
            name: if usd_payers == 1 {
                "Example Corp".to_string()
            } else {
                format!("Example Corp {}", p + 1)
            },
            currency: "USD".into(),
            fx: 1.0,
            legal_entity: "Amazon Web Services, Inc.",
            tax_rate: o.knobs.sales_tax,
            tax_type: "Sales Tax",
            edp: o.knobs.edp_discount,
        });
    }
    if foreign > 0 {
        e.payers.push(Payer {
            id: account_id(o.seed, usd_payers as u64, &mut ids),
            name: "Example Europe GmbH".into(),
            currency,
            fx,
            legal_entity: "Amazon Web Services EMEA SARL",
            tax_rate: o.knobs.vat,
            tax_type: "VAT",
            edp: 0.0,
        });
    }
    let platform_bu =
        e.business_units.iter().position(|b| b.name == "Platform").expect("Platform is a business unit");
    let mut names: std::collections::HashMap<String, u32> = Default::default();
    for i in 0..n {
        let (payer, first_of_payer) = if i >= domestic {
            (usd_payers, i == domestic)
        } else {
            let per = domestic.div_ceil(usd_payers);
            (i / per, i % per == 0)
        };
        let foreign_account = i >= domestic;
        let (environment, team) = if first_of_payer {
            (Environment::Shared, None)
        } else {
            let env = match d.weighted(&[0.35, 0.2, 0.3, 0.1, 0.05]) {
                0 => Environment::Production,
                1 => Environment::Staging,
                2 => Environment::Development,
                3 => Environment::Sandbox,
                _ => Environment::Shared,
            };
            let team = if env == Environment::Shared {
                None
            } else {
                Some(d.below(0, e.teams.len() as u64) as usize)
            };
            (env, team)
        };
        let base = match team {
            Some(t) => format!("{}-{}", e.teams[t].name, environment.canonical()),
            None if first_of_payer => {
                format!("{}-management", e.payers[payer].name.to_lowercase().replace(' ', "-"))
            }
            None => (*d.pick(&["shared-services", "network-hub", "log-archive", "shared-tools"])).to_string(),
        };
        let count = names.entry(base.clone()).or_insert(0);
        *count += 1;
        let name = if *count == 1 { base } else { format!("{base}-{count}") };
        let region = if foreign_account {
            if d.chance(0.6) { 3 } else { 2 }
        } else {
            d.weighted(&[0.55, 0.25, 0.12, 0.0, 0.08])
        };
        let env_size = match environment {
            Environment::Production => 3.0,
            Environment::Staging => 1.0,
            Environment::Development => 0.7,
            Environment::Sandbox => 0.3,
            Environment::Shared => 1.5,
        };
        let u = d.unit();
        let size = if first_of_payer { 0.3 } else { env_size * (0.3 + 4.0 * u * u * u) };
        let growth = d.range(o.knobs.growth.0, o.knobs.growth.1);
        let team_key = match d.weighted(&[0.7, 0.15, 0.15]) {
            0 => "team",
            1 => "Team",
            _ => "owner-team",
        };
        e.accounts.push(Account {
            id: if first_of_payer {
                e.payers[payer].id.clone()
            } else {
                account_id(o.seed, 1000 + i as u64, &mut ids)
            },
            name,
            payer,
            team,
            business_unit: team.map_or(platform_bu, |t| e.teams[t].business_unit),
            environment,
            region,
            size,
            growth,
            management: first_of_payer,
            team_key,
            long_environment: d.chance(0.4),
            cost_category: d.chance(0.3),
        });
    }
}

/// Rows per hour the whole estate should write.
fn rows_per_hour(o: &Options) -> f64 {
    match o.rows_target {
        Some(target) => target as f64 / f64::from(o.days * 24),
        None => o.knobs.density * f64::from(o.accounts),
    }
}

fn archetype_of(account: &Account) -> Archetype {
    match account.team {
        Some(t) => TEAMS[t].archetype,
        None => Archetype::Platform,
    }
}

/// Line items the estate writes over the range, by its resources' meters and running hours and
/// the negation lines of the usage its Savings Plans cover: (account services, the rest).
fn expected_rows(e: &Estate) -> (f64, f64) {
    let (mut fixed, mut variable) = (0.0, 0.0);
    // A plan covers about its commitment over the mean discounted price of an eligible hour.
    let eligible: Vec<f64> = e
        .resources
        .iter()
        .filter_map(|r| r.instance_type.filter(|t| r.kind == ResourceKind::Instance && t.sp_discount > 0.0))
        .map(|t| t.rate * (1.0 - t.sp_discount))
        .collect();
    if !eligible.is_empty() {
        let mean = eligible.iter().sum::<f64>() / eligible.len() as f64;
        for c in &e.commitments {
            if let CommitmentKind::SavingsPlan { hourly } = c.kind {
                let start = c.start_hour.clamp(0, i64::from(e.hours));
                let end = (c.start_hour + c.term_hours).clamp(0, i64::from(e.hours));
                variable += (hourly / mean).min(eligible.len() as f64) * (end - start) as f64;
            }
        }
    }
    for r in &e.resources {
        let hours = f64::from(r.end_hour.saturating_sub(r.start_hour));
        // Office hours are 12 hours on 5 days of 7.
        let running = if r.office_hours { hours * 60.0 / 168.0 } else { hours };
        let rows = running * meters_per_hour(r.kind, r.internet_facing);
        if r.kind == ResourceKind::AccountServices {
            fixed += rows;
        } else {
            variable += rows;
        }
    }
    (fixed, variable)
}

fn resources(e: &mut Estate, correction: f64) {
    let o = e.options.clone();
    let mut d = Draw::new(o.seed, 3);
    // Scale units per account so the estate writes about the wanted rows per hour: each account
    // writes its account-services lines plus `units` bundles of its archetype.
    let fixed: f64 = 2.0 * e.accounts.len() as f64;
    let variable: f64 = e
        .accounts
        .iter()
        .map(|a| {
            let per_unit: f64 = bundle(archetype_of(a)).iter().map(|(k, c)| c * unit_rows(*k)).sum();
            a.size * per_unit
        })
        .sum();
    let scale = ((rows_per_hour(&o) - fixed).max(0.0) / variable).max(0.0) * correction;
    let hours = e.hours;
    for a in 0..e.accounts.len() {
        let account = e.accounts[a].clone();
        let archetype = archetype_of(&account);
        let apps: Vec<usize> = match account.team {
            Some(t) => (0..e.applications.len()).filter(|x| e.applications[*x].team == t).collect(),
            None => (0..e.applications.len())
                .filter(|x| TEAMS[e.applications[*x].team].archetype == Archetype::Platform)
                .collect(),
        };
        // Every account's CloudWatch lines.
        let services = new_resource(e, &mut d, a, ResourceKind::AccountServices, apps[0], archetype);
        e.resources.push(services);
        let units = account.size * scale;
        for (kind, count) in bundle(archetype) {
            let expected = units * count;
            let mut n = expected.floor() as u64;
            if d.chance(expected - n as f64) {
                n += 1;
            }
            for _ in 0..n {
                let app = *d.pick(&apps);
                let r = new_resource(e, &mut d, a, *kind, app, archetype);
                let index = e.resources.len();
                e.resources.push(r);
                if *kind == ResourceKind::Instance {
                    // Every instance has its root volume; some volumes outlive theirs.
                    let mut v = new_resource(e, &mut d, a, ResourceKind::Volume, app, archetype);
                    v.region = e.resources[index].region;
                    v.zone = e.resources[index].zone;
                    v.start_hour = e.resources[index].start_hour;
                    v.tags = e.resources[index].tags.clone();
                    v.owner = e.resources[index].owner;
                    v.in_cmdb = e.resources[index].in_cmdb;
                    if d.chance(o.knobs.waste.unattached_volumes) {
                        v.finding = Some(Finding::UnattachedVolume);
                        v.end_hour = hours;
                        let stop = e.resources[index].start_hour.max(d.below(0, u64::from(hours) / 2) as u32);
                        e.resources[index].end_hour = e.resources[index].end_hour.min(stop.max(1));
                        v.attached_to = None;
                    } else {
                        v.end_hour = e.resources[index].end_hour;
                        v.attached_to = Some(index);
                    }
                    e.resources.push(v);
                }
            }
        }
    }
}

/// Line items per hour one resource of this kind writes, counting an instance's root volume.
fn unit_rows(kind: ResourceKind) -> f64 {
    match kind {
        ResourceKind::Instance => 1.5 + 1.0,
        k => meters_per_hour(k, false),
    }
}

fn resource_id(
    e: &Estate,
    d: &mut Draw,
    kind: ResourceKind,
    account: usize,
    region: usize,
    app: usize,
) -> String {
    let h = d.below(0, u64::MAX);
    let hex = format!("{h:016x}");
    let acct = &e.accounts[account].id;
    let reg = REGIONS[region].code;
    let app_name = e.applications[app].name;
    match kind {
        ResourceKind::Instance => format!("i-0{}", &hex[..16]),
        ResourceKind::Volume => format!("vol-0{}", &hex[..16]),
        ResourceKind::Snapshot => format!("arn:aws:ec2:{reg}:{acct}:snapshot/snap-0{}", &hex[..16]),
        ResourceKind::Bucket => format!("{app_name}-{}-{}", &hex[..6], reg),
        ResourceKind::NatGateway => format!("arn:aws:ec2:{reg}:{acct}:natgateway/nat-0{}", &hex[..16]),
        ResourceKind::Database => format!("arn:aws:rds:{reg}:{acct}:db:{app_name}-{}", &hex[..4]),
        ResourceKind::Function => format!("arn:aws:lambda:{reg}:{acct}:function:{app_name}-{}", &hex[..6]),
        ResourceKind::Endpoint => {
            format!("arn:aws:sagemaker:{reg}:{acct}:endpoint/{app_name}-{}", &hex[..6])
        }
        ResourceKind::ModelProfile => {
            format!("arn:aws:bedrock:{reg}:{acct}:application-inference-profile/{}", &hex[..12])
        }
        ResourceKind::AccountServices => String::new(),
    }
}

fn new_resource(
    e: &Estate,
    d: &mut Draw,
    account: usize,
    kind: ResourceKind,
    app: usize,
    archetype: Archetype,
) -> Resource {
    let o = &e.options;
    let acct = &e.accounts[account];
    let hours = e.hours;
    let region = if kind == ResourceKind::ModelProfile || d.chance(0.85) {
        acct.region
    } else if e.payers[acct.payer].currency == "USD" {
        d.weighted(&[0.55, 0.25, 0.12, 0.0, 0.08])
    } else {
        2 + d.below(0, 2) as usize
    };
    let region =
        if kind == ResourceKind::ModelProfile && REGIONS[region].code.starts_with("ap") { 0 } else { region };
    let zone = *d.pick(REGIONS[region].zones);
    let instance_type = match kind {
        ResourceKind::Instance => catalog::instance_type(d.pick::<&str>(instance_choices(archetype))),
        ResourceKind::Database => Some(d.pick(catalog::RDS_TYPES)),
        ResourceKind::Endpoint => Some(d.pick(catalog::SAGEMAKER_TYPES)),
        _ => None,
    };
    let model = (kind == ResourceKind::ModelProfile).then(|| d.pick(catalog::MODELS));
    let size_gb = match kind {
        ResourceKind::Volume => *d.pick(&[20.0, 50.0, 100.0, 200.0, 500.0, 1000.0]),
        ResourceKind::Snapshot => d.range(20.0, 800.0).round(),
        ResourceKind::Bucket => match archetype {
            Archetype::Data | Archetype::Ml => d.range(2_000.0, 80_000.0).round(),
            _ => d.range(50.0, 5_000.0).round(),
        },
        ResourceKind::Database => *d.pick(&[100.0, 200.0, 500.0, 1000.0]),
        _ => 0.0,
    };
    let env_scale = match acct.environment {
        Environment::Production => 2.0,
        Environment::Shared => 1.5,
        Environment::Staging => 0.6,
        Environment::Development | Environment::Sandbox => 0.3,
    };
    let scale = env_scale * d.range(0.4, 1.6);
    // Most resources exist throughout; some arrive (growth) or leave during the range.
    let mut start_hour = 0;
    let mut end_hour = hours;
    if kind != ResourceKind::AccountServices && hours > 48 {
        if acct.growth > 0.0 && d.chance(acct.growth * 4.0) {
            start_hour = d.below(0, u64::from(hours) - 24) as u32;
        } else if d.chance(0.04) {
            end_hour = d.below(24, u64::from(hours)) as u32;
        }
    }
    let office_hours = kind == ResourceKind::Instance
        && matches!(acct.environment, Environment::Development | Environment::Sandbox)
        && d.chance(0.3);
    let mut finding = None;
    let w = &o.knobs.waste;
    let mut utilisation = Utilisation {
        cpu_mean: d.range(25.0, 55.0),
        cpu_peak: 0.0,
        pattern: if archetype == Archetype::Data && d.chance(0.5) {
            Pattern::Batch
        } else if d.chance(0.6) {
            Pattern::Diurnal
        } else {
            Pattern::Steady
        },
        memory_agent: d.chance(0.4),
        memory_mean: d.range(30.0, 75.0),
    };
    match kind {
        ResourceKind::Instance => {
            let it = instance_type.expect("instances have a type");
            let big = it.normalization_factor() >= 8.0;
            if !office_hours && d.chance(w.idle_instances) {
                finding = Some(Finding::IdleInstance);
                utilisation.pattern = Pattern::Idle;
                utilisation.cpu_mean = d.range(0.3, 2.0);
            } else if big && d.chance(w.oversized_instances) {
                if let Some(smaller) = smaller_type(it) {
                    finding = Some(Finding::Oversized { suggested_type: smaller });
                    utilisation.cpu_mean = d.range(4.0, 9.0);
                    utilisation.pattern = Pattern::Steady;
                }
            } else if d.chance(w.spiky_fleets) {
                finding = Some(Finding::SpikyFleet);
                utilisation.pattern = Pattern::Spiky;
                utilisation.cpu_mean = d.range(6.0, 12.0);
            }
        }
        ResourceKind::Snapshot if d.chance(w.old_snapshots) => {
            finding = Some(Finding::OldSnapshot { age_days: d.below(366, 1500) as u32 });
        }
        ResourceKind::NatGateway if d.chance(w.idle_nat_gateways) => {
            finding = Some(Finding::IdleNatGateway);
        }
        _ => {}
    }
    utilisation.cpu_peak = match utilisation.pattern {
        Pattern::Idle => utilisation.cpu_mean * 2.5,
        Pattern::Spiky => d.range(80.0, 98.0),
        Pattern::Steady => (utilisation.cpu_mean * 1.35).min(100.0),
        Pattern::Diurnal | Pattern::Batch => (utilisation.cpu_mean * 1.9).min(100.0),
    };
    if matches!(finding, Some(Finding::Oversized { .. })) {
        utilisation.cpu_peak = utilisation.cpu_peak.min(d.range(12.0, 19.0));
    }
    let owner = acct.team;
    let untagged = kind == ResourceKind::AccountServices || d.chance(o.knobs.untagged_share);
    let in_cmdb = acct.team.is_none() && untagged && d.chance(o.knobs.cmdb_resource_coverage);
    let mut r = Resource {
        id: String::new(),
        kind,
        account,
        region,
        zone,
        application: app,
        owner,
        instance_type,
        model,
        size_gb,
        scale,
        internet_facing: kind == ResourceKind::Instance
            && matches!(archetype, Archetype::Web | Archetype::GenAi)
            && d.chance(0.5),
        start_hour,
        end_hour,
        office_hours,
        tags: Vec::new(),
        utilisation,
        attached_to: None,
        finding,
        in_cmdb,
        resized: None,
        scheduled_from: None,
    };
    r.id = resource_id(e, d, kind, account, region, app);
    // Shared accounts: a tagged resource names its team; an untagged one is owned only if the
    // CMDB lists it.
    let app_team = e.applications[app].team;
    if acct.team.is_none() {
        r.owner = (!untagged || in_cmdb).then_some(app_team);
    }
    if !untagged {
        r.tags = tags_of(e, d, acct, app, r.owner.unwrap_or(app_team));
    }
    r
}

/// The tags engineers wrote on a resource: the account's key spelling, drifting values.
fn tags_of(e: &Estate, d: &mut Draw, acct: &Account, app: usize, team: usize) -> Vec<(String, String)> {
    let o = &e.options;
    let canonical = e.teams[team].name;
    let value = if d.chance(o.knobs.value_drift) {
        match d.below(0, 4) {
            0 => capitalise(canonical),
            1 => canonical.to_uppercase(),
            2 => format!(" {canonical}"),
            _ => format!("{canonical} "),
        }
    } else {
        canonical.to_string()
    };
    let env = if acct.long_environment { acct.environment.long() } else { acct.environment.canonical() };
    let mut tags = vec![
        (acct.team_key.to_string(), value),
        ("env".to_string(), env.to_string()),
        ("application".to_string(), e.applications[app].name.to_string()),
        ("cost-center".to_string(), e.business_units[e.teams[team].business_unit].cost_centre.clone()),
    ];
    if d.chance(0.3) {
        tags.push(("owner".to_string(), e.teams[team].owner.clone()));
    }
    tags
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn smaller_type(it: &InstanceType) -> Option<&'static str> {
    let prefix = it.family_prefix();
    let factor = it.normalization_factor();
    catalog::EC2_TYPES
        .iter()
        .filter(|t| t.family_prefix() == prefix && t.normalization_factor() <= factor / 4.0)
        .max_by(|a, b| a.normalization_factor().total_cmp(&b.normalization_factor()))
        .or_else(|| {
            catalog::EC2_TYPES
                .iter()
                .filter(|t| t.family_prefix() == prefix && t.normalization_factor() < factor)
                .max_by(|a, b| a.normalization_factor().total_cmp(&b.normalization_factor()))
        })
        .map(|t| t.name)
}

fn commitments(e: &mut Estate) {
    let o = e.options.clone();
    let mut d = Draw::new(o.seed, 4);
    for p in 0..e.payers.len() {
        if e.payers[p].currency != "USD" {
            continue;
        }
        let payer_id = e.payers[p].id.clone();
        // Always-on instances of the payer, by (type, region): what reservations can cover.
        let mut steady: std::collections::BTreeMap<(&'static str, usize), u32> = Default::default();
        for r in &e.resources {
            let always = r.start_hour == 0 && r.end_hour == e.hours && !r.office_hours;
            if e.accounts[r.account].payer == p
                && always
                && matches!(r.kind, ResourceKind::Instance | ResourceKind::Database)
                && let Some(it) = r.instance_type
            {
                *steady.entry((it.name, r.region)).or_default() += 1;
            }
        }
        let mut reserved: std::collections::BTreeMap<(&'static str, usize), u32> = Default::default();
        // Reservations go to types with two or more always-on instances; a small estate without
        // any reserves its most common type.
        let mut candidates: Vec<_> = steady.iter().filter(|(_, n)| **n >= 2).collect();
        if candidates.is_empty() {
            candidates = steady.iter().collect();
        }
        candidates.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let chosen = candidates.len().min(4);
        for (i, ((name, region), n)) in candidates.into_iter().take(4).enumerate() {
            // The last reservation was bought for more instances than still run: the unused
            // hours on its RIFee are the commitment waste a FinOps team looks for.
            let count = if i + 1 == chosen && chosen > 1 {
                n + 1
            } else {
                ((f64::from(*n) * o.knobs.reserved_coverage).floor() as u32).max(1)
            };
            let it = catalog::instance_type(name).expect("a catalogue type");
            let rate = it.rate * REGIONS[*region].uplift;
            let is_rds = name.starts_with("db.");
            let rid = format!("{:016x}", d.below(0, u64::MAX));
            let arn = if is_rds {
                format!("arn:aws:rds:{}:{payer_id}:ri:ri-{}", REGIONS[*region].code, &rid[..12])
            } else {
                format!(
                    "arn:aws:ec2:{}:{payer_id}:reserved-instances/{}-{}-{}-{}-{}",
                    REGIONS[*region].code,
                    &rid[..8],
                    &rid[8..12],
                    &rid[12..16],
                    &rid[..4],
                    &rid[4..16]
                )
            };
            let term_hours = 365 * 24;
            e.commitments.push(Commitment {
                arn,
                payer: p,
                kind: CommitmentKind::Reservation {
                    instance_type: it.name,
                    region: *region,
                    count,
                    effective_rate: round_rate(rate * d.range(0.58, 0.66)),
                },
                start_hour: -(d.below(24, u64::from(term_hours as u32) / 2) as i64),
                term_hours,
                upfront_share: *d.pick(&[0.0, 0.5, 0.5, 1.0]),
            });
            reserved.insert((name, *region), count);
        }
        // Savings Plans commit to a share of the steady eligible spend the reservations leave.
        let mut eligible = 0.0;
        for ((name, region), n) in &steady {
            let it = catalog::instance_type(name).expect("a catalogue type");
            if name.starts_with("db.") || it.sp_discount == 0.0 {
                continue;
            }
            let left = n.saturating_sub(reserved.get(&(*name, *region)).copied().unwrap_or(0));
            eligible += f64::from(left) * it.rate * REGIONS[*region].uplift * (1.0 - it.sp_discount);
        }
        let target = eligible * o.knobs.savings_plan_coverage;
        if target < 0.01 {
            continue;
        }
        let sp_arn = |d: &mut Draw| {
            let h = format!("{:016x}{:016x}", d.below(0, u64::MAX), d.below(0, u64::MAX));
            format!(
                "arn:aws:savingsplans::{payer_id}:savingsplan/{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..32]
            )
        };
        e.commitments.push(Commitment {
            arn: sp_arn(&mut d),
            payer: p,
            kind: CommitmentKind::SavingsPlan { hourly: round_cents_rate(target * 0.7) },
            start_hour: -(d.below(24 * 30, 24 * 700) as i64),
            term_hours: 3 * 365 * 24,
            upfront_share: 0.0,
        });
        // A second plan is bought during the range, with part of it paid up front.
        let bought = if e.hours >= 24 * 7 { (f64::from(e.hours) * d.range(0.3, 0.5)) as i64 } else { -24 };
        e.commitments.push(Commitment {
            arn: sp_arn(&mut d),
            payer: p,
            kind: CommitmentKind::SavingsPlan { hourly: round_cents_rate(target * 0.3) },
            start_hour: bought,
            term_hours: 365 * 24,
            upfront_share: 0.5,
        });
    }
}

/// Rates keep ten decimals, as AWS's do.
pub fn round_rate(x: f64) -> f64 {
    (x * 1e10).round() / 1e10
}

fn round_cents_rate(x: f64) -> f64 {
    ((x * 1000.0).round() / 1000.0).max(0.001)
}

fn releases(e: &mut Estate) {
    let o = e.options.clone();
    let mut d = Draw::new(o.seed, 5);
    for app in 0..e.applications.len() {
        let expected = o.knobs.releases_per_month * f64::from(o.days) / 30.0;
        let mut n = expected.floor() as u64;
        if d.chance(expected - n as f64) {
            n += 1;
        }
        for _ in 0..n {
            // Releases go out on weekday afternoons.
            let day = d.below(0, u64::from(o.days)) as u32;
            let hour = day * 24 + 14 + d.below(0, 4) as u32;
            e.releases.push(Release {
                application: app,
                hour,
                factor: d.range(o.knobs.release_shift.0, o.knobs.release_shift.1),
            });
        }
    }
    e.releases.sort_by_key(|r| (r.hour, r.application));
}

fn events(e: &mut Estate) {
    let o = e.options.clone();
    let mut d = Draw::new(o.seed, 6);
    let per_kind = (o.knobs.events_per_200_accounts * o.accounts).div_ceil(200).max(1);
    let hours = e.hours;
    let window = |d: &mut Draw, min: u32, max: u32| {
        let len = (d.below(u64::from(min), u64::from(max) + 1) as u32).min(hours);
        let start = d.below(u64::from(hours) / 3, u64::from(hours - len) + 1) as u32;
        let start = start.min(hours - len);
        (start, start + len)
    };
    for kind in [
        EventKind::RunawayLambda,
        EventKind::NatSpike,
        EventKind::ForgottenGpu,
        EventKind::S3RequestStorm,
        EventKind::TokenExplosion,
    ] {
        for _ in 0..per_kind {
            let want = match kind {
                EventKind::RunawayLambda => ResourceKind::Function,
                EventKind::NatSpike => ResourceKind::NatGateway,
                EventKind::ForgottenGpu => ResourceKind::Instance,
                EventKind::S3RequestStorm => ResourceKind::Bucket,
                EventKind::TokenExplosion => ResourceKind::ModelProfile,
            };
            let (start_hour, end_hour) = match kind {
                EventKind::RunawayLambda => window(&mut d, 6, 72),
                EventKind::NatSpike => window(&mut d, 4, 24),
                EventKind::S3RequestStorm => window(&mut d, 2, 12),
                EventKind::ForgottenGpu | EventKind::TokenExplosion => {
                    let start = d.below(u64::from(hours) / 4, u64::from(hours) * 3 / 4 + 1) as u32;
                    (start.min(hours - 1), hours)
                }
            };
            let resource = if kind == EventKind::ForgottenGpu {
                forgotten_gpu(e, &mut d, start_hour)
            } else {
                let pool: Vec<usize> = (0..e.resources.len())
                    .filter(|i| {
                        let r = &e.resources[*i];
                        r.kind == want
                            && r.finding.is_none()
                            && r.start_hour <= start_hour
                            && r.end_hour >= end_hour
                            && !e.events.iter().any(|ev| ev.resource == *i)
                    })
                    .collect();
                if pool.is_empty() { add_resource_for(e, &mut d, want) } else { *d.pick(&pool) }
            };
            let multiplier = match kind {
                EventKind::RunawayLambda => d.range(15.0, 40.0),
                EventKind::NatSpike => d.range(10.0, 25.0),
                EventKind::S3RequestStorm => d.range(30.0, 80.0),
                EventKind::TokenExplosion => d.range(4.0, 8.0),
                EventKind::ForgottenGpu => 1.0,
            };
            if kind == EventKind::TokenExplosion {
                e.releases.push(Release {
                    application: e.resources[resource].application,
                    hour: start_hour,
                    factor: 1.0,
                });
                e.releases.sort_by_key(|r| (r.hour, r.application));
            }
            e.events.push(Event { kind, resource, start_hour, end_hour, multiplier });
        }
    }
}

/// Adds a resource of `kind` to an account whose archetype has such resources (any account
/// otherwise), for estates too small to hold one an event needs.
fn add_resource_for(e: &mut Estate, d: &mut Draw, kind: ResourceKind) -> usize {
    let fitting: Vec<usize> = (0..e.accounts.len())
        .filter(|a| {
            let acct = &e.accounts[*a];
            !acct.management && bundle(archetype_of(acct)).iter().any(|(k, _)| *k == kind)
        })
        .collect();
    let account =
        if fitting.is_empty() { d.below(0, e.accounts.len() as u64) as usize } else { *d.pick(&fitting) };
    let archetype = archetype_of(&e.accounts[account]);
    let app = match e.accounts[account].team {
        Some(t) => (0..e.applications.len())
            .find(|x| e.applications[*x].team == t)
            .expect("every team has an application"),
        None => 0,
    };
    let mut r = new_resource(e, d, account, kind, app, archetype);
    r.start_hour = 0;
    r.end_hour = e.hours;
    r.finding = None;
    if kind == ResourceKind::ModelProfile && r.model.is_some_and(|m| m.output_rate == 0.0) {
        r.model = Some(&catalog::MODELS[0]);
    }
    e.resources.push(r);
    e.resources.len() - 1
}

fn forgotten_gpu(e: &mut Estate, d: &mut Draw, start_hour: u32) -> usize {
    let ml: Vec<usize> = (0..e.accounts.len())
        .filter(|a| {
            let acct = &e.accounts[*a];
            acct.team.is_some_and(|t| TEAMS[t].archetype == Archetype::Ml)
                && acct.environment != Environment::Production
        })
        .collect();
    let account = if ml.is_empty() {
        (0..e.accounts.len()).find(|a| !e.accounts[*a].management).unwrap_or(0)
    } else {
        *d.pick(&ml)
    };
    let app = e.accounts[account]
        .team
        .and_then(|t| (0..e.applications.len()).find(|x| e.applications[*x].team == t))
        .unwrap_or(0);
    let mut r = new_resource(e, d, account, ResourceKind::Instance, app, Archetype::Ml);
    r.instance_type = catalog::instance_type(d.pick::<&str>(&["g5.12xlarge", "p4d.24xlarge", "p3.2xlarge"]));
    r.start_hour = start_hour;
    r.end_hour = e.hours;
    r.office_hours = false;
    r.internet_facing = false;
    r.finding = Some(Finding::ForgottenGpu);
    r.utilisation.pattern = Pattern::Idle;
    r.utilisation.cpu_mean = d.range(0.2, 1.5);
    r.utilisation.cpu_peak = r.utilisation.cpu_mean * 2.0;
    // Whoever started it tagged only their team, in their own spelling.
    r.tags.retain(|(k, _)| k == e.accounts[account].team_key);
    e.resources.push(r);
    e.resources.len() - 1
}

/// Applies the options' remediations to a built estate (the replay mode).
pub fn remediate(e: &mut Estate) -> Result<(), crate::GenerateError> {
    use crate::options::Action;
    let remediations = e.options.remediations.clone();
    for (i, r) in remediations.iter().enumerate() {
        let bad = |m: String| crate::GenerateError::Options(format!("remediation {}: {m}", i + 1));
        let hour = ((r.from.timestamp_millis() - e.start_ms) / HOUR_MS) as u32;
        let find = |e: &Estate, id: &str| {
            e.resources
                .iter()
                .position(|x| x.id == id && !id.is_empty())
                .ok_or_else(|| bad(format!("no resource '{id}' in the estate")))
        };
        match &r.action {
            Action::Delete { resource_id } => {
                let x = find(e, resource_id)?;
                let end = e.resources[x].end_hour.min(hour.max(e.resources[x].start_hour));
                e.resources[x].end_hour = end;
                // Terminating an instance deletes its root volume with it.
                for v in e.resources.iter_mut().filter(|v| v.attached_to == Some(x)) {
                    v.end_hour = v.end_hour.min(end.max(v.start_hour));
                }
            }
            Action::Rightsize { resource_id, instance_type } => {
                let x = find(e, resource_id)?;
                let old = e.resources[x]
                    .instance_type
                    .ok_or_else(|| bad(format!("'{resource_id}' has no instance type to change")))?;
                let new = catalog::instance_type(instance_type).ok_or_else(|| {
                    bad(format!("'{instance_type}' is not an instance type of the price list"))
                })?;
                let table = |name: &'static str| {
                    name.split('.').next().filter(|p| *p == "db" || *p == "ml").unwrap_or("")
                };
                if table(old.name) != table(new.name) {
                    return Err(bad(format!(
                        "cannot move '{resource_id}' from {} to {}",
                        old.name, new.name
                    )));
                }
                e.resources[x].resized = Some((hour, new));
            }
            Action::Schedule { resource_id } => {
                let x = find(e, resource_id)?;
                if e.resources[x].kind != ResourceKind::Instance {
                    return Err(bad(format!("'{resource_id}' is not an instance")));
                }
                e.resources[x].scheduled_from = Some(hour);
            }
            Action::PurchaseSavingsPlan { hourly_commitment, term_years, upfront_share } => {
                let payer = 0;
                let n = e.commitments.len() as u64;
                let h = format!("{:016x}{:016x}", mix(e.options.seed, 900 + n), mix(e.options.seed, 901 + n));
                e.commitments.push(Commitment {
                    arn: format!(
                        "arn:aws:savingsplans::{}:savingsplan/{}-{}-{}-{}-{}",
                        e.payers[payer].id,
                        &h[..8],
                        &h[8..12],
                        &h[12..16],
                        &h[16..20],
                        &h[20..32]
                    ),
                    payer,
                    kind: CommitmentKind::SavingsPlan { hourly: *hourly_commitment },
                    start_hour: i64::from(hour),
                    term_hours: i64::from(*term_years) * 365 * 24,
                    upfront_share: *upfront_share,
                });
            }
        }
    }
    Ok(())
}

impl Estate {
    /// The date of hour `h`.
    pub fn date_of(&self, h: u32) -> NaiveDate {
        self.options.start + chrono::Days::new(u64::from(h / 24))
    }

    /// Day of week of hour `h`, Monday = 0.
    pub fn weekday(&self, h: u32) -> u32 {
        self.date_of(h).weekday().num_days_from_monday()
    }

    /// Start of hour `h`, ms since the epoch.
    pub fn hour_ms(&self, h: u32) -> i64 {
        self.start_ms + i64::from(h) * HOUR_MS
    }
}
