//! How an Azure or Google Cloud bill names what the estate runs: regions, zones, VM sizes and
//! machine types, services, SKUs, account, resource and commitment ids.
//!
//! The estate is drawn once in AWS terms (catalogue regions, EC2 types, product codes); these
//! tables translate each thing to the provider's own spelling, so a FOCUS file reads as the
//! provider's export would. Every id is derived from the seed and the entity's index, so the same
//! options always give the same names.

use crate::catalog::{self, InstanceType, REGIONS};
use crate::estate::{CommitmentKind, Estate, HOUR_MS, ResourceKind};
use crate::lines::Product;
use crate::rng::{fnv, mix};

/// The cloud a FOCUS estate is dressed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// Microsoft Azure (an Enterprise Agreement billing account with subscriptions).
    Azure,
    /// Google Cloud (a Cloud Billing account with projects).
    Gcp,
}

impl Provider {
    /// The provider a bill format writes, `None` for a format that is not FOCUS.
    pub fn of(format: crate::Format) -> Option<Self> {
        match format {
            crate::Format::FocusAzure => Some(Self::Azure),
            crate::Format::FocusGcp => Some(Self::Gcp),
            crate::Format::Cur2 => None,
        }
    }

    /// The folder under `focus/` the provider's files go to.
    pub fn folder(self) -> &'static str {
        match self {
            Self::Azure => "azure",
            Self::Gcp => "gcp",
        }
    }

    /// ProviderName, PublisherName and InvoiceIssuerName as the provider writes them.
    pub fn name(self) -> &'static str {
        match self {
            Self::Azure => "Microsoft",
            Self::Gcp => "Google Cloud",
        }
    }

    fn salt(self) -> u64 {
        match self {
            Self::Azure => 0xA2u64,
            Self::Gcp => 0x6C9,
        }
    }
}

/// A provider region with its zones.
#[derive(Debug, Clone, Copy)]
pub struct Region {
    /// RegionId (`eastus`, `us-east1`).
    pub id: &'static str,
    /// RegionName (`East US`, `South Carolina`).
    pub name: &'static str,
    /// How meter names spell the region (Azure `US East`; Google's price list location).
    pub meter: &'static str,
    /// Availability zones (Azure's logical `1`–`3`; Google's zone names).
    pub zones: &'static [&'static str],
}

const AZ: &[&str] = &["1", "2", "3"];

/// Azure regions, in the order of [`catalog::REGIONS`] (us-east-1, us-west-2, eu-west-1,
/// eu-central-1, ap-southeast-2).
const AZURE_REGIONS: [Region; 5] = [
    Region { id: "eastus", name: "East US", meter: "US East", zones: AZ },
    Region { id: "westus2", name: "West US 2", meter: "US West 2", zones: AZ },
    Region { id: "westeurope", name: "West Europe", meter: "EU West", zones: AZ },
    Region { id: "germanywestcentral", name: "Germany West Central", meter: "DE West Central", zones: AZ },
    Region { id: "australiaeast", name: "Australia East", meter: "AU East", zones: AZ },
];

/// Google Cloud regions, in the same order.
const GCP_REGIONS: [Region; 5] = [
    Region {
        id: "us-east1",
        name: "South Carolina",
        meter: "Americas",
        zones: &["us-east1-b", "us-east1-c", "us-east1-d"],
    },
    Region {
        id: "us-west1",
        name: "Oregon",
        meter: "Americas",
        zones: &["us-west1-a", "us-west1-b", "us-west1-c"],
    },
    Region {
        id: "europe-west1",
        name: "Belgium",
        meter: "EMEA",
        zones: &["europe-west1-b", "europe-west1-c", "europe-west1-d"],
    },
    Region {
        id: "europe-west3",
        name: "Frankfurt",
        meter: "EMEA",
        zones: &["europe-west3-a", "europe-west3-b", "europe-west3-c"],
    },
    Region {
        id: "australia-southeast1",
        name: "Sydney",
        meter: "APAC",
        zones: &["australia-southeast1-a", "australia-southeast1-b", "australia-southeast1-c"],
    },
];

/// The provider region of catalogue region `aws` (an index into [`catalog::REGIONS`]).
pub fn region(provider: Provider, aws: usize) -> &'static Region {
    let table = match provider {
        Provider::Azure => &AZURE_REGIONS,
        Provider::Gcp => &GCP_REGIONS,
    };
    &table[aws.min(table.len() - 1)]
}

/// The provider zone of an AWS zone (`us-east-1b`) in catalogue region `aws`: the same position
/// among the region's zones.
pub fn zone(provider: Provider, aws: usize, aws_zone: &str) -> &'static str {
    let zones = region(provider, aws).zones;
    let letter = aws_zone.bytes().last().unwrap_or(b'a');
    zones[usize::from(letter.saturating_sub(b'a')) % zones.len()]
}

/// AWS instance types with the Azure size and Google machine type of the same shape (vCPUs,
/// memory, accelerator). RDS classes map to MySQL flexible-server sizes and Cloud SQL tiers;
/// SageMaker types to the VM sizes Azure Machine Learning and Vertex AI endpoints run on.
const SIZES: &[(&str, &str, &str)] = &[
    ("t3.medium", "Standard_B2s", "e2-medium"),
    ("t3.large", "Standard_B2ms", "e2-standard-2"),
    ("m5.large", "Standard_D2s_v5", "n2-standard-2"),
    ("m5.xlarge", "Standard_D4s_v5", "n2-standard-4"),
    ("m5.2xlarge", "Standard_D8s_v5", "n2-standard-8"),
    ("m5.4xlarge", "Standard_D16s_v5", "n2-standard-16"),
    ("m6i.large", "Standard_D2ds_v5", "n2d-standard-2"),
    ("m6i.2xlarge", "Standard_D8ds_v5", "n2d-standard-8"),
    ("c5.large", "Standard_F2s_v2", "c2d-standard-2"),
    ("c5.xlarge", "Standard_F4s_v2", "c2d-standard-4"),
    ("c5.2xlarge", "Standard_F8s_v2", "c2d-standard-8"),
    ("c6g.xlarge", "Standard_D4ps_v5", "t2a-standard-4"),
    ("r5.large", "Standard_E2s_v5", "n2-highmem-2"),
    ("r5.xlarge", "Standard_E4s_v5", "n2-highmem-4"),
    ("r5.2xlarge", "Standard_E8s_v5", "n2-highmem-8"),
    ("r6i.4xlarge", "Standard_E16s_v5", "n2-highmem-16"),
    ("g4dn.xlarge", "Standard_NC4as_T4_v3", "n1-standard-4"),
    ("g5.xlarge", "Standard_NV6ads_A10_v5", "g2-standard-4"),
    ("g5.2xlarge", "Standard_NV12ads_A10_v5", "g2-standard-8"),
    ("g5.12xlarge", "Standard_NV36ads_A10_v5", "g2-standard-48"),
    ("p3.2xlarge", "Standard_NC6s_v3", "n1-standard-8"),
    ("p4d.24xlarge", "Standard_ND96asr_v4", "a2-highgpu-8g"),
    ("db.t3.medium", "Standard_B2s", "db-custom-2-4096"),
    ("db.m5.large", "Standard_D2ds_v4", "db-custom-2-8192"),
    ("db.m5.xlarge", "Standard_D4ds_v4", "db-custom-4-16384"),
    ("db.r5.large", "Standard_E2ds_v4", "db-custom-2-16384"),
    ("db.r5.2xlarge", "Standard_E8ds_v4", "db-custom-8-65536"),
    ("ml.m5.large", "Standard_DS2_v2", "n1-standard-2"),
    ("ml.g5.xlarge", "Standard_NV6ads_A10_v5", "g2-standard-4"),
    ("ml.g5.12xlarge", "Standard_NV36ads_A10_v5", "g2-standard-48"),
    ("ml.p3.2xlarge", "Standard_NC6s_v3", "n1-standard-8"),
];

/// The provider's name for an AWS instance type (the AWS name where the table has none).
pub fn size(provider: Provider, it: &InstanceType) -> &'static str {
    match SIZES.iter().find(|(aws, _, _)| *aws == it.name) {
        Some((_, azure, gcp)) => match provider {
            Provider::Azure => azure,
            Provider::Gcp => gcp,
        },
        None => it.name,
    }
}

/// Azure's meter name of a size: `Standard_D2s_v5` → `D2s v5`.
fn azure_meter(size: &str) -> String {
    size.strip_prefix("Standard_").unwrap_or(size).replace('_', " ")
}

/// Azure's series of a size: `Standard_D2s_v5` → `Dsv5`, `Standard_NC4as_T4_v3` → `NCasT4v3`.
fn azure_series(size: &str) -> String {
    let body = size.strip_prefix("Standard_").unwrap_or(size);
    let mut parts = body.split('_');
    let first: String = parts.next().unwrap_or_default().chars().filter(|c| !c.is_ascii_digit()).collect();
    std::iter::once(first).chain(parts.map(str::to_string)).collect()
}

/// Google's machine family of a machine type, as SKU names write it: `n2-standard-2` → `N2`.
fn gcp_family(machine: &str) -> String {
    machine.split('-').next().unwrap_or(machine).to_ascii_uppercase()
}

/// A model the estate's token usage is billed for, as the provider serves it:
/// (Azure deployment, whether Azure serves it through Azure Machine Learning, Vertex AI model).
fn model_names(stem: &str) -> (&'static str, bool, &'static str) {
    match stem {
        "Claude3.5Sonnet" => ("gpt-4o", false, "gemini-1.5-pro"),
        "Claude3Haiku" => ("gpt-4o-mini", false, "gemini-1.5-flash"),
        "Llama3-70B" => ("Meta-Llama-3-70B-Instruct", true, "llama-3-70b-instruct-maas"),
        _ => ("text-embedding-3-small", false, "text-embedding-004"),
    }
}

/// The services of an estate, whatever the provider calls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Virtual machines.
    Vm,
    /// Block storage: disks and their snapshots.
    Disk,
    /// Object storage.
    Blob,
    /// NAT gateways.
    Nat,
    /// Internet egress.
    Bandwidth,
    /// Managed MySQL.
    MySql,
    /// Serverless functions.
    Functions,
    /// Model hosting endpoints.
    Ml,
    /// Generative AI tokens.
    GenAi,
    /// Open models served by the ML platform (Azure Machine Learning on Azure).
    OpenModels,
    /// Metrics.
    Monitoring,
    /// Logs.
    Logging,
    /// Savings plans (spend commitments).
    SavingsPlan,
    /// The support plan.
    Support,
}

/// ServiceName, ServiceCategory, ServiceSubcategory.
pub type ServiceNames = (&'static str, &'static str, &'static str);

impl Service {
    /// The provider's ServiceName with its FOCUS category and subcategory. A name always has the
    /// same category and subcategory (FOCUS requires it), so services sharing a name share both.
    pub fn names(self, provider: Provider) -> ServiceNames {
        use Service::*;
        match provider {
            Provider::Azure => match self {
                Vm => ("Virtual Machines", "Compute", "Virtual Machines"),
                Disk => ("Managed Disks", "Storage", "Block Storage"),
                Blob => ("Storage", "Storage", "Object Storage"),
                Nat => ("NAT Gateway", "Networking", "Network Infrastructure"),
                Bandwidth => ("Bandwidth", "Networking", "Network Connectivity"),
                MySql => ("Azure Database for MySQL", "Databases", "Relational Databases"),
                Functions => ("Functions", "Compute", "Serverless Compute"),
                Ml | OpenModels => ("Azure Machine Learning", "AI and Machine Learning", "Machine Learning"),
                GenAi => ("Azure OpenAI", "AI and Machine Learning", "Generative AI"),
                Monitoring | Logging => ("Azure Monitor", "Management and Governance", "Observability"),
                SavingsPlan => ("Azure Savings Plan for Compute", "Compute", "Other (Compute)"),
                Support => ("Azure Support", "Management and Governance", "Support"),
            },
            Provider::Gcp => match self {
                Vm | Disk | SavingsPlan => ("Compute Engine", "Compute", "Virtual Machines"),
                Blob => ("Cloud Storage", "Storage", "Object Storage"),
                Nat => ("Cloud NAT", "Networking", "Network Infrastructure"),
                Bandwidth => ("Networking", "Networking", "Network Connectivity"),
                MySql => ("Cloud SQL", "Databases", "Relational Databases"),
                Functions => ("Cloud Run functions", "Compute", "Serverless Compute"),
                Ml | GenAi | OpenModels => ("Vertex AI", "AI and Machine Learning", "AI Platforms"),
                Monitoring => ("Cloud Monitoring", "Management and Governance", "Observability"),
                Logging => ("Cloud Logging", "Management and Governance", "Observability"),
                Support => ("Support", "Management and Governance", "Support"),
            },
        }
    }

    /// The service charges without usage (tax, credits, refunds, discounts) of an AWS product
    /// code belong to.
    fn of_code(code: &str) -> Self {
        match code {
            "AmazonS3" => Self::Blob,
            "AmazonRDS" => Self::MySql,
            "AWSLambda" => Self::Functions,
            "AWSDataTransfer" => Self::Bandwidth,
            "AmazonSageMaker" => Self::Ml,
            "AmazonBedrock" => Self::GenAi,
            "AmazonCloudWatch" => Self::Monitoring,
            "ComputeSavingsPlans" => Self::SavingsPlan,
            "AWSSupportBusiness" => Self::Support,
            _ => Self::Vm,
        }
    }
}

/// What the provider's price list says about a product: its service, SKU and meter.
#[derive(Debug, Clone)]
pub struct Sku {
    /// The service.
    pub service: Service,
    /// SkuId; `None` for charges without a SKU (tax, credits, refunds, discounts).
    pub id: Option<String>,
    /// SkuMeter: the meter's name.
    pub meter: Option<String>,
    /// Azure's meter category (x_SkuMeterCategory).
    pub meter_category: Option<String>,
    /// Azure's meter subcategory (x_SkuMeterSubcategory).
    pub meter_subcategory: Option<String>,
    /// PricingUnit in FOCUS unit format.
    pub unit: &'static str,
    /// The usage's ChargeDescription.
    pub description: String,
}

/// A meter as the price tables below give it: service, meter category, meter subcategory (both
/// empty where the provider has none), meter name, unit, usage description.
type MeterRow = (Service, String, String, String, &'static str, String);

/// The price-list entry of `product` on `provider`.
pub fn sku(provider: Provider, product: &Product) -> Sku {
    let p = product;
    let reg = p.region.map(|r| region(provider, r));
    let rname = reg.map_or("Global", |r| r.meter);
    let gname = reg.map_or("global", |r| r.name);
    let azure = provider == Provider::Azure;
    let size = p.instance_type.map(|it| size(provider, it));
    let sz = size.unwrap_or("");
    let usage = p.usage_type.as_str();
    let (service, category, subcategory, meter, unit, description): MeterRow = match p.product_code {
        "AmazonEC2" if usage.contains("HeavyUsage") => {
            reservation_sku(provider, Service::Vm, sz, rname, gname)
        }
        "AmazonRDS" if usage.contains("HeavyUsage") => {
            reservation_sku(provider, Service::MySql, sz, rname, gname)
        }
        "AmazonEC2" if p.family == "Compute Instance" => {
            if azure {
                let series = azure_series(sz);
                let m = azure_meter(sz);
                (
                    Service::Vm,
                    "Virtual Machines".into(),
                    format!("{series} Series"),
                    m.clone(),
                    "Hours",
                    format!("Virtual Machines {series} Series - {m} - {rname}"),
                )
            } else {
                let f = gcp_family(sz);
                let m = format!("{f} Predefined Instance running in {rname}");
                (Service::Vm, String::new(), String::new(), m, "Hours", format!("{sz} running in {gname}"))
            }
        }
        "AmazonEC2" if p.family == "Storage Snapshot" => {
            if azure {
                let m = "LRS Snapshots".to_string();
                let d = format!("Standard HDD Managed Disks - LRS Snapshots - {rname}");
                (Service::Disk, "Storage".into(), "Standard HDD Managed Disks".into(), m, "GB/Month", d)
            } else {
                let m = format!("Storage PD Snapshot in {gname}");
                (Service::Disk, String::new(), String::new(), m.clone(), "GiB-Months", m)
            }
        }
        "AmazonEC2" if p.family == "Storage" => {
            if azure {
                let m = "Premium LRS Provisioned Capacity".to_string();
                let d = format!("Premium SSD v2 Managed Disks - Premium LRS Provisioned Capacity - {rname}");
                (Service::Disk, "Storage".into(), "Premium SSD v2 Managed Disks".into(), m, "GB/Month", d)
            } else {
                let m = format!("Balanced PD Capacity in {gname}");
                (Service::Disk, String::new(), String::new(), m.clone(), "GiB-Months", m)
            }
        }
        "AmazonEC2" if p.family == "NAT Gateway" => {
            let hours = usage.ends_with("Hours");
            if azure {
                let (m, unit) = if hours { ("Gateway", "Hours") } else { ("Data Processed", "GB") };
                let d = format!("NAT Gateway - Standard {m} - {rname}");
                (Service::Nat, "NAT Gateway".into(), "Standard".into(), m.into(), unit, d)
            } else {
                let (m, unit) = if hours {
                    (format!("Cloud NAT Gateway uptime charge in {gname}"), "Hours")
                } else {
                    (format!("Cloud NAT Data processing charge in {gname}"), "GiB")
                };
                (Service::Nat, String::new(), String::new(), m.clone(), unit, m)
            }
        }
        "AWSDataTransfer" => {
            if azure {
                let d = format!("Bandwidth - Standard Data Transfer Out - {rname}");
                let m = "Standard Data Transfer Out".to_string();
                (Service::Bandwidth, "Bandwidth".into(), "Rtn Preference: MGN".into(), m, "GB", d)
            } else {
                let m = format!("Network Internet Data Transfer Out from {gname}");
                (Service::Bandwidth, String::new(), String::new(), m.clone(), "GiB", m)
            }
        }
        "AmazonS3" => {
            let (am, gm, au, gu) = if usage.contains("TimedStorage") {
                ("Hot LRS Data Stored", format!("Standard Storage {gname}"), "GB/Month", "GiB-Months")
            } else if usage.contains("Tier1") {
                (
                    "Hot LRS Write Operations",
                    format!("Standard Storage Class A Operations {gname}"),
                    "Operations",
                    "Requests",
                )
            } else {
                (
                    "Hot Read Operations",
                    format!("Standard Storage Class B Operations {gname}"),
                    "Operations",
                    "Requests",
                )
            };
            if azure {
                let d = format!("Tiered Block Blob - {am} - {rname}");
                (Service::Blob, "Storage".into(), "Tiered Block Blob".into(), am.into(), au, d)
            } else {
                (Service::Blob, String::new(), String::new(), gm.clone(), gu, gm)
            }
        }
        "AmazonRDS" if p.family == "Database Storage" => {
            if azure {
                let d = format!(
                    "Azure Database for MySQL Flexible Server Storage - Storage Data Stored - {rname}"
                );
                let m = "Storage Data Stored".to_string();
                (
                    Service::MySql,
                    "Azure Database for MySQL".into(),
                    "Flexible Server Storage".into(),
                    m,
                    "GB/Month",
                    d,
                )
            } else {
                let m = format!("Cloud SQL for MySQL: Zonal - Standard storage in {gname}");
                (Service::MySql, String::new(), String::new(), m.clone(), "GiB-Months", m)
            }
        }
        "AmazonRDS" => {
            let vcpu = p.instance_type.map_or(2, |t| t.vcpu);
            if azure {
                let tier = match sz.strip_prefix("Standard_").and_then(|s| s.chars().next()) {
                    Some('B') => "Burstable",
                    Some('E') => "Memory Optimized",
                    _ => "General Purpose",
                };
                let series = azure_series(sz);
                let sub = format!("Flexible Server {tier} {series} Series Compute");
                let m = format!("{vcpu} vCore");
                let d = format!("Azure Database for MySQL {sub} - {m} - {rname}");
                (Service::MySql, "Azure Database for MySQL".into(), sub, m, "Hours", d)
            } else {
                let m = format!("Cloud SQL for MySQL: Zonal - {sz} in {gname}");
                (Service::MySql, String::new(), String::new(), m.clone(), "Hours", m)
            }
        }
        "AWSLambda" => {
            let compute = usage.contains("GB-Second");
            if azure {
                let (m, unit) = if compute {
                    ("Standard Execution Time", "GB-Seconds")
                } else {
                    ("Standard Total Executions", "Executions")
                };
                let d = format!("Functions - {m} - {rname}");
                (Service::Functions, "Functions".into(), "Standard".into(), m.into(), unit, d)
            } else {
                let (m, unit) = if compute {
                    (format!("Cloud Run functions Memory Time in {gname}"), "GiB-Seconds")
                } else {
                    ("Cloud Run functions Invocations".to_string(), "Requests")
                };
                (Service::Functions, String::new(), String::new(), m.clone(), unit, m)
            }
        }
        "AmazonSageMaker" => {
            if azure {
                let m = azure_meter(sz);
                let d = format!("Azure Machine Learning Managed Online Endpoints - {m} - {rname}");
                (
                    Service::Ml,
                    "Azure Machine Learning".into(),
                    "Managed Online Endpoints".into(),
                    m,
                    "Hours",
                    d,
                )
            } else {
                let m =
                    format!("Vertex AI: Online Prediction {} Instance running in {gname}", gcp_family(sz));
                (Service::Ml, String::new(), String::new(), m.clone(), "Hours", m)
            }
        }
        "AmazonBedrock" => {
            let input = usage.ends_with("input-tokens");
            let stem = usage.trim_end_matches("-input-tokens").trim_end_matches("-output-tokens");
            let (deployment, open, vertex) = model_names(stem);
            let dir = if input { "Input" } else { "Output" };
            if azure {
                let m = format!("{deployment} {dir} Tokens");
                if open {
                    let d = format!("Azure Machine Learning Serverless Endpoints - {m} - {rname}");
                    (
                        Service::OpenModels,
                        "Azure Machine Learning".into(),
                        "Serverless Endpoints".into(),
                        m,
                        "Tokens",
                        d,
                    )
                } else {
                    let d = format!("Azure OpenAI - {m} - {rname}");
                    (Service::GenAi, "Cognitive Services".into(), "Azure OpenAI".into(), m, "Tokens", d)
                }
            } else {
                let m = format!("{vertex} {} tokens in {gname}", dir.to_ascii_lowercase());
                let service = if open { Service::OpenModels } else { Service::GenAi };
                (service, String::new(), String::new(), m.clone(), "Tokens", m)
            }
        }
        "AmazonCloudWatch" => {
            let metrics = usage.contains("Metric");
            if azure {
                let (sub, m, unit) = if metrics {
                    ("Metrics", "Custom Metrics Stored", "Units")
                } else {
                    ("Log Analytics", "Analytics Logs Data Ingestion", "GB")
                };
                let service = if metrics { Service::Monitoring } else { Service::Logging };
                (service, "Azure Monitor".into(), sub.into(), m.into(), unit, format!("Azure Monitor - {m}"))
            } else if metrics {
                let m = "Monitoring Metric Volume".to_string();
                (Service::Monitoring, String::new(), String::new(), m.clone(), "Units", m)
            } else {
                let m = "Log Storage cost".to_string();
                (Service::Logging, String::new(), String::new(), m.clone(), "GiB", m)
            }
        }
        "ComputeSavingsPlans" => {
            let years = usage.split(':').nth(1).and_then(|s| s.split("yr").next()).unwrap_or("1");
            let plural = if years == "1" { "" } else { "s" };
            if azure {
                let m = format!("Compute Savings Plan - {years} Year{plural}");
                let d = format!("Azure savings plan for compute, {years} Year{plural}");
                (Service::SavingsPlan, "Savings Plan".into(), "Compute".into(), m, "Hours", d)
            } else {
                let m = format!("Commitment - dollar based v1: Compute Engine for {years} Year{plural}");
                (Service::SavingsPlan, String::new(), String::new(), m.clone(), "Hours", m)
            }
        }
        "AWSSupportBusiness" => {
            if azure {
                let m = "Professional Direct".to_string();
                (
                    Service::Support,
                    "Azure Support".into(),
                    "Support Plans".into(),
                    m,
                    "Units",
                    "Azure Support - Professional Direct".into(),
                )
            } else {
                let m = "Enhanced Support".to_string();
                (Service::Support, String::new(), String::new(), m.clone(), "Units", m)
            }
        }
        code if !usage.is_empty() => {
            // A metered product the tables above do not know: billed under its code's service.
            let service = Service::of_code(code);
            let (name, _, _) = service.names(provider);
            (service, String::new(), String::new(), usage.to_string(), "Units", format!("{name} - {usage}"))
        }
        code => {
            // A charge without usage: tax, credit, refund or discount of a service.
            let service = Service::of_code(code);
            return Sku {
                service,
                id: None,
                meter: None,
                meter_category: None,
                meter_subcategory: None,
                unit: "Units",
                description: service.names(provider).0.to_string(),
            };
        }
    };
    let id = sku_id(provider, p);
    let some = |s: String| (!s.is_empty()).then_some(s);
    Sku {
        service,
        id: Some(id),
        meter: Some(meter),
        meter_category: some(category),
        meter_subcategory: some(subcategory),
        unit,
        description,
    }
}

/// The price-list entry of a reservation's (resource-based commitment's) monthly fee.
fn reservation_sku(provider: Provider, service: Service, size: &str, rname: &str, gname: &str) -> MeterRow {
    match provider {
        Provider::Azure => {
            let m = format!("{} Reservation", azure_meter(size));
            let cat = if service == Service::MySql { "Azure Database for MySQL" } else { "Virtual Machines" };
            let d = format!("Reservation - {} - {rname} - 1 Year", azure_meter(size));
            (service, cat.into(), "Reservation".into(), m, "Hours", d)
        }
        Provider::Gcp => {
            let what = if service == Service::MySql { format!("Cloud SQL {size}") } else { gcp_family(size) };
            let m = format!("Commitment v1: {what} Cpu and Ram in {gname} for 1 Year");
            (service, String::new(), String::new(), m.clone(), "Hours", m)
        }
    }
}

/// A SKU id: the same meter has the same id in every billing account and currency, so the id
/// hashes what the meter is (service, usage type, operation, region), never the payer.
fn sku_id(provider: Provider, p: &Product) -> String {
    let bare = match p.region {
        Some(r) => p.usage_type.strip_prefix(&format!("{}-", REGIONS[r].prefix)).unwrap_or(&p.usage_type),
        None => p.usage_type.as_str(),
    };
    let key = format!("{}|{}|{}|{:?}", p.product_code, bare, p.operation, p.region);
    let h = mix(provider.salt(), fnv(&key));
    match provider {
        Provider::Azure => {
            // Product id and SKU id of Azure's price sheet: DZH318Z0BQ4L/00GM.
            let product = base32(h, 12);
            let sku = base32(mix(h, 1), 4);
            format!("{product}/{sku}")
        }
        Provider::Gcp => {
            let x = format!("{:012X}", h & 0xFFFF_FFFF_FFFF);
            format!("{}-{}-{}", &x[..4], &x[4..8], &x[8..12])
        }
    }
}

/// SkuPriceId: one price of one SKU in one currency (a SKU has a price per currency).
pub fn sku_price_id(provider: Provider, sku_id: &str, currency: &str, rate: f64) -> String {
    let h = mix(fnv(sku_id) ^ fnv(currency), rate.to_bits());
    match provider {
        Provider::Azure => format!("{sku_id}/{:04}", h % 10_000),
        Provider::Gcp => format!("{sku_id}/{:08X}", h as u32),
    }
}

const ALPHANUM: &[u8; 32] = b"0123456789BCDFGHJKLMNPQRSTVWXYZ0";

fn base32(mut h: u64, n: usize) -> String {
    let mut out = String::with_capacity(n);
    for _ in 0..n {
        out.push(ALPHANUM[(h & 31) as usize] as char);
        h >>= 5;
    }
    out
}

/// A version-4-shaped GUID drawn from `h`.
fn guid(h: u64) -> String {
    let a = mix(h, 0x6A1D);
    let b = mix(h, 0x6A1E);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFF,
        8 + (b >> 62),
        (b >> 48) & 0xFFF,
        b & 0xFFFF_FFFF_FFFF
    )
}

/// BillingAccountId of a payer: an Enterprise Agreement enrolment on Azure, a Cloud Billing
/// account (`012345-6789AB-CDEF01`) on Google Cloud.
pub fn billing_account_id(e: &Estate, provider: Provider, payer: usize) -> String {
    let h = mix(mix(e.options.seed, provider.salt()), fnv(&e.payers[payer].id));
    match provider {
        Provider::Azure => {
            format!("/providers/Microsoft.Billing/billingAccounts/{}", 10_000_000 + h % 89_999_999)
        }
        Provider::Gcp => {
            format!("{:06X}-{:06X}-{:06X}", h & 0xFF_FFFF, (h >> 24) & 0xFF_FFFF, mix(h, 1) & 0xFF_FFFF)
        }
    }
}

/// BillingAccountType as the provider names the accounts its invoices go to (an Enterprise
/// Agreement billing account on Azure, a Cloud Billing account on Google Cloud).
pub fn billing_account_type(provider: Provider) -> &'static str {
    let _ = provider;
    "Billing Account"
}

/// SubAccountType: Azure subscriptions, Google Cloud projects.
pub fn sub_account_type(provider: Provider) -> &'static str {
    match provider {
        Provider::Azure => "Subscription",
        Provider::Gcp => "Project",
    }
}

/// The subscription GUID (Azure) or project id (Google Cloud) of an account.
pub fn account_key(e: &Estate, provider: Provider, account: usize) -> String {
    let a = &e.accounts[account];
    let h = mix(mix(e.options.seed, provider.salt() ^ 0x5AB), fnv(&a.id));
    match provider {
        Provider::Azure => guid(h),
        Provider::Gcp => {
            // Project ids: 6–30 lower-case letters, digits and hyphens, starting with a letter.
            let mut base: String = a
                .name
                .to_ascii_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            if !base.starts_with(|c: char| c.is_ascii_lowercase()) {
                base.insert_str(0, "p-");
            }
            base.truncate(23);
            while base.ends_with('-') {
                base.pop();
            }
            format!("{base}-{:06}", h % 1_000_000)
        }
    }
}

/// SubAccountId: `/subscriptions/<guid>` on Azure, the project id on Google Cloud.
pub fn sub_account_id(e: &Estate, provider: Provider, account: usize) -> String {
    match provider {
        Provider::Azure => format!("/subscriptions/{}", account_key(e, provider, account)),
        Provider::Gcp => account_key(e, provider, account),
    }
}

/// The InvoiceId of a payer's invoice for the month starting at `month_start_ms`.
pub fn invoice_id(e: &Estate, provider: Provider, payer: usize, month_start_ms: i64) -> String {
    let h =
        mix(mix(e.options.seed, provider.salt() ^ 0x1F), fnv(&e.payers[payer].id) ^ month_start_ms as u64);
    match provider {
        Provider::Azure => format!("G{:09}", h % 1_000_000_000),
        Provider::Gcp => format!("{}", 3_000_000_000 + h % 999_999_999),
    }
}

/// How a resource appears on the provider's bill.
#[derive(Debug, Clone)]
pub struct ResourceNames {
    /// ResourceId.
    pub id: String,
    /// ResourceName.
    pub name: String,
    /// ResourceType.
    pub kind: &'static str,
    /// Azure resource group.
    pub group: Option<String>,
    /// AvailabilityZone, for zonal resources.
    pub zone: Option<&'static str>,
}

/// The provider's id, name and type of resource `r`; `None` for the account-level services that
/// have no resource.
pub fn resource(e: &Estate, provider: Provider, r: usize) -> Option<ResourceNames> {
    let res = &e.resources[r];
    if res.kind == ResourceKind::AccountServices {
        return None;
    }
    let h = mix(mix(e.options.seed, provider.salt() ^ 0x7E5), r as u64);
    let hex4 = format!("{:04x}", h & 0xFFFF);
    let hex6 = format!("{:06x}", (h >> 16) & 0xFF_FFFF);
    let acct = &e.accounts[res.account];
    let app = e.applications[res.application].name;
    let reg = region(provider, res.region);
    let zonal = matches!(
        res.kind,
        ResourceKind::Instance | ResourceKind::Volume | ResourceKind::Database | ResourceKind::NatGateway
    );
    let zone = zonal.then(|| zone(provider, res.region, res.zone));
    let key = account_key(e, provider, res.account);
    let model = res.model.map(|m| model_names(m.stem));
    Some(match provider {
        Provider::Azure => {
            let rg = format!("rg-{app}-{}", acct.environment.canonical());
            let vm_name = |i: usize| {
                format!(
                    "vm-{app}-{:04x}",
                    mix(mix(e.options.seed, provider.salt() ^ 0x7E5), i as u64) & 0xFFFF
                )
            };
            let (ns, kind, label, name) = match res.kind {
                ResourceKind::Instance => {
                    ("Microsoft.Compute", "virtualMachines", "Virtual machine", vm_name(r))
                }
                ResourceKind::Volume => {
                    let name = match res.attached_to {
                        Some(i) => format!("{}_OsDisk_1_{:016x}{:016x}", vm_name(i), mix(h, 1), mix(h, 2)),
                        None => format!("disk-{app}-{hex4}"),
                    };
                    ("Microsoft.Compute", "disks", "Disk", name)
                }
                ResourceKind::Snapshot => {
                    ("Microsoft.Compute", "snapshots", "Snapshot", format!("snap-{app}-{hex6}"))
                }
                ResourceKind::Bucket => {
                    let stem: String = app.chars().filter(|c| c.is_ascii_alphanumeric()).take(14).collect();
                    ("Microsoft.Storage", "storageAccounts", "Storage account", format!("st{stem}{hex6}"))
                }
                ResourceKind::NatGateway => {
                    ("Microsoft.Network", "natGateways", "NAT gateway", format!("ng-{app}-{hex4}"))
                }
                ResourceKind::Database => (
                    "Microsoft.DBforMySQL",
                    "flexibleServers",
                    "Azure Database for MySQL flexible server",
                    format!("mysql-{app}-{hex4}"),
                ),
                ResourceKind::Function => {
                    ("Microsoft.Web", "sites", "Function App", format!("func-{app}-{hex4}"))
                }
                ResourceKind::Endpoint => (
                    "Microsoft.MachineLearningServices",
                    "workspaces",
                    "Machine learning online endpoint",
                    format!("mlw-{app}/onlineEndpoints/{app}-ep-{hex4}"),
                ),
                ResourceKind::ModelProfile if model.is_some_and(|m| m.1) => (
                    "Microsoft.MachineLearningServices",
                    "workspaces",
                    "Machine learning serverless endpoint",
                    format!("mlw-{app}/serverlessEndpoints/llama-3-70b-{hex4}"),
                ),
                ResourceKind::ModelProfile => {
                    ("Microsoft.CognitiveServices", "accounts", "Azure OpenAI", format!("oai-{app}-{hex4}"))
                }
                ResourceKind::AccountServices => unreachable!("handled above"),
            };
            let id = format!("/subscriptions/{key}/resourceGroups/{rg}/providers/{ns}/{kind}/{name}");
            let short = name.rsplit('/').next().unwrap_or(&name).to_string();
            ResourceNames { id, name: short, kind: label, group: Some(rg), zone }
        }
        Provider::Gcp => {
            let z = zone.unwrap_or_else(|| crate::focus::provider::zone(provider, res.region, res.zone));
            let r_id = reg.id;
            let instance = |i: usize| {
                format!("{app}-{:04x}", mix(mix(e.options.seed, provider.salt() ^ 0x7E5), i as u64) & 0xFFFF)
            };
            let (id, name, kind) = match res.kind {
                ResourceKind::Instance => {
                    let n = instance(r);
                    (
                        format!("//compute.googleapis.com/projects/{key}/zones/{z}/instances/{n}"),
                        n,
                        "compute.googleapis.com/Instance",
                    )
                }
                ResourceKind::Volume => {
                    // A boot disk is named after its instance, as Compute Engine names it.
                    let n = match res.attached_to {
                        Some(i) => instance(i),
                        None => format!("{app}-data-{hex4}"),
                    };
                    (
                        format!("//compute.googleapis.com/projects/{key}/zones/{z}/disks/{n}"),
                        n,
                        "compute.googleapis.com/Disk",
                    )
                }
                ResourceKind::Snapshot => {
                    let n = format!("{app}-snap-{hex6}");
                    (
                        format!("//compute.googleapis.com/projects/{key}/global/snapshots/{n}"),
                        n,
                        "compute.googleapis.com/Snapshot",
                    )
                }
                ResourceKind::Bucket => {
                    let n = format!("{app}-{hex6}");
                    (
                        format!("//storage.googleapis.com/projects/_/buckets/{n}"),
                        n,
                        "storage.googleapis.com/Bucket",
                    )
                }
                ResourceKind::NatGateway => {
                    let n = format!("{app}-router-{hex4}");
                    (
                        format!("//compute.googleapis.com/projects/{key}/regions/{r_id}/routers/{n}"),
                        n,
                        "compute.googleapis.com/Router",
                    )
                }
                ResourceKind::Database => {
                    let n = format!("{app}-mysql-{hex4}");
                    (
                        format!("//cloudsql.googleapis.com/projects/{key}/instances/{n}"),
                        n,
                        "sqladmin.googleapis.com/Instance",
                    )
                }
                ResourceKind::Function => {
                    let n = format!("{app}-{hex4}");
                    (
                        format!(
                            "//cloudfunctions.googleapis.com/projects/{key}/locations/{r_id}/functions/{n}"
                        ),
                        n,
                        "cloudfunctions.googleapis.com/CloudFunction",
                    )
                }
                ResourceKind::Endpoint => {
                    let n = format!("{}", 1_000_000_000_000_000_000u64 + h % 8_000_000_000_000_000_000);
                    (
                        format!("//aiplatform.googleapis.com/projects/{key}/locations/{r_id}/endpoints/{n}"),
                        format!("{app}-endpoint"),
                        "aiplatform.googleapis.com/Endpoint",
                    )
                }
                ResourceKind::ModelProfile => {
                    let m = model.map_or("gemini-1.5-flash", |m| m.2);
                    let publisher = if m.starts_with("llama") { "meta" } else { "google" };
                    (
                        format!(
                            "//aiplatform.googleapis.com/projects/{key}/locations/{r_id}/publishers/{publisher}/models/{m}"
                        ),
                        m.to_string(),
                        "aiplatform.googleapis.com/PublisherModel",
                    )
                }
                ResourceKind::AccountServices => unreachable!("handled above"),
            };
            // Cloud NAT is regional: no zone.
            let zone = zone.filter(|_| res.kind != ResourceKind::NatGateway);
            ResourceNames { id, name, kind, group: None, zone }
        }
    })
}

/// How a commitment appears on the provider's bill.
#[derive(Debug, Clone)]
pub struct CommitmentNames {
    /// CommitmentDiscountId (also the ResourceId of its purchase and unused rows).
    pub id: String,
    /// CommitmentDiscountName.
    pub name: String,
    /// CommitmentDiscountType.
    pub kind: &'static str,
    /// CommitmentDiscountCategory: `Usage` for reservations, `Spend` for savings plans.
    pub category: &'static str,
    /// ResourceType of its purchase and unused rows.
    pub resource_type: &'static str,
}

/// The provider's id, name and type of commitment `c`: Azure reservations and savings plans;
/// Google resource-based and spend-based committed use discounts.
pub fn commitment(e: &Estate, provider: Provider, c: usize) -> CommitmentNames {
    let cm = &e.commitments[c];
    let h = mix(mix(e.options.seed, provider.salt() ^ 0xC0), fnv(&cm.arn));
    let start =
        chrono::DateTime::from_timestamp_millis(e.start_ms + cm.start_hour * HOUR_MS).expect("in range");
    let mgmt = e.accounts.iter().position(|a| a.payer == cm.payer && a.management).unwrap_or(0);
    match (&cm.kind, provider) {
        (CommitmentKind::Reservation { instance_type, region: r, .. }, Provider::Azure) => {
            let db = instance_type.starts_with("db.");
            let prefix = if db { "MySQL" } else { "VM" };
            CommitmentNames {
                id: format!(
                    "/providers/Microsoft.Capacity/reservationOrders/{}/reservations/{}",
                    guid(h),
                    guid(mix(h, 2))
                ),
                name: format!("{prefix}_RI_{}_{}", start.format("%m-%d-%Y_%H-%M"), region(provider, *r).id),
                kind: "Reservation",
                category: "Usage",
                resource_type: "Reservation",
            }
        }
        (CommitmentKind::SavingsPlan { .. }, Provider::Azure) => CommitmentNames {
            id: format!(
                "/providers/Microsoft.BillingBenefits/savingsPlanOrders/{}/savingsPlans/{}",
                guid(h),
                guid(mix(h, 2))
            ),
            name: format!("SavingsPlan_{}", start.timestamp_millis()),
            kind: "Savings Plan",
            category: "Spend",
            resource_type: "Savings plan",
        },
        (CommitmentKind::Reservation { instance_type, region: r, .. }, Provider::Gcp) => {
            let it = catalog::instance_type(instance_type);
            let what = it.map_or("n2".to_string(), |t| {
                size(provider, t).split('-').next().unwrap_or("n2").replace("db", "cloudsql")
            });
            let reg = region(provider, *r).id;
            let name = format!("commitment-{what}-{reg}-{:04x}", h & 0xFFFF);
            CommitmentNames {
                id: format!(
                    "//compute.googleapis.com/projects/{}/regions/{reg}/commitments/{name}",
                    account_key(e, provider, mgmt)
                ),
                name,
                kind: "Committed Use Discount",
                category: "Usage",
                resource_type: "compute.googleapis.com/Commitment",
            }
        }
        (CommitmentKind::SavingsPlan { .. }, Provider::Gcp) => {
            let ba = billing_account_id(e, provider, cm.payer);
            let name = format!("flex-cud-{}", &guid(h)[..8]);
            CommitmentNames {
                id: format!("//cloudbilling.googleapis.com/billingAccounts/{ba}/commitments/{}", guid(h)),
                name,
                kind: "Spend-based Committed Use Discount",
                category: "Spend",
                resource_type: "cloudbilling.googleapis.com/Commitment",
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_sizes_read_as_azure_meters() {
        assert_eq!(azure_meter("Standard_D2s_v5"), "D2s v5");
        assert_eq!(azure_series("Standard_D2s_v5"), "Dsv5");
        assert_eq!(azure_series("Standard_NC4as_T4_v3"), "NCasT4v3");
        assert_eq!(gcp_family("c2d-standard-4"), "C2D");
    }

    #[test]
    fn every_catalogue_type_has_a_provider_size() {
        for it in catalog::EC2_TYPES.iter().chain(catalog::RDS_TYPES).chain(catalog::SAGEMAKER_TYPES) {
            assert_ne!(size(Provider::Azure, it), it.name, "{}", it.name);
            assert_ne!(size(Provider::Gcp, it), it.name, "{}", it.name);
        }
    }

    #[test]
    fn guids_have_the_guid_shape() {
        let g = guid(12345);
        let parts: Vec<&str> = g.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), vec![8, 4, 4, 4, 12]);
        assert!(parts[2].starts_with('4'));
        assert!(g.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
    }
}
