//! Lookup tables for the CUR → FOCUS mapping: AWS services (name, FOCUS category and
//! subcategory), AWS region names, FOCUS spellings of AWS pricing units, and resource types.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// An FNV-style hash: lookups by short text run once per row, where std's SipHash costs more than
/// the work. Not for untrusted keys (the keys here are AWS's names and codes).
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // FNV-1a over 8-byte words rather than bytes: the keys are names and codes of a few dozen
        // bytes, and a word step keeps the hash a handful of multiplications.
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().expect("chunks of 8"));
            h = (h ^ word).wrapping_mul(0x0100_0000_01b3).rotate_left(29);
        }
        for b in chunks.remainder() {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// A hash map keyed by text, hashed with [`Fnv`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

/// One AWS service as CUR names it, with its FOCUS 1.2 ServiceCategory and ServiceSubcategory.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// `line_item_product_code`, e.g. "AmazonEC2".
    pub code: &'static str,
    /// The service name AWS writes in `product['servicename']`, e.g. "Amazon Elastic Compute Cloud".
    pub name: &'static str,
    /// FOCUS ServiceCategory.
    pub category: &'static str,
    /// FOCUS ServiceSubcategory (always one of the category's allowed subcategories).
    pub subcategory: &'static str,
}

const fn s(
    code: &'static str,
    name: &'static str,
    category: &'static str,
    subcategory: &'static str,
) -> Service {
    Service { code, name, category, subcategory }
}

const AI: &str = "AI and Machine Learning";
const AN: &str = "Analytics";
const BA: &str = "Business Applications";
const CO: &str = "Compute";
const DB: &str = "Databases";
const DT: &str = "Developer Tools";
const ID: &str = "Identity";
const IN: &str = "Integration";
const IOT: &str = "Internet of Things";
const MG: &str = "Management and Governance";
const MI: &str = "Migration";
const NW: &str = "Networking";
const SE: &str = "Security";
const ST: &str = "Storage";
const WEB: &str = "Web";

/// The services costpilot knows. A service not listed here is ServiceCategory "Other".
pub const SERVICES: &[Service] = &[
    s("AmazonEC2", "Amazon Elastic Compute Cloud", CO, "Virtual Machines"),
    s("AmazonS3", "Amazon Simple Storage Service", ST, "Object Storage"),
    s("AmazonRDS", "Amazon Relational Database Service", DB, "Relational Databases"),
    s("AWSLambda", "AWS Lambda", CO, "Serverless Compute"),
    s("AmazonCloudWatch", "AmazonCloudWatch", MG, "Observability"),
    s("AmazonBedrock", "Amazon Bedrock", AI, "Generative AI"),
    s("AmazonSageMaker", "Amazon SageMaker", AI, "Machine Learning"),
    s("AWSDataTransfer", "AWS Data Transfer", NW, "Network Connectivity"),
    s("AmazonVPC", "Amazon Virtual Private Cloud", NW, "Network Infrastructure"),
    s("AmazonDynamoDB", "Amazon DynamoDB", DB, "NoSQL Databases"),
    s("AmazonCloudFront", "Amazon CloudFront", NW, "Content Delivery"),
    s("AWSELB", "Elastic Load Balancing", NW, "Application Networking"),
    s("AmazonECS", "Amazon Elastic Container Service", CO, "Containers"),
    s("AmazonEKS", "Amazon Elastic Container Service for Kubernetes", CO, "Containers"),
    s("AmazonECR", "Amazon EC2 Container Registry (ECR)", CO, "Containers"),
    s("AWSQueueService", "Amazon Simple Queue Service", IN, "Messaging"),
    s("AmazonSNS", "Amazon Simple Notification Service", IN, "Messaging"),
    s("AmazonMQ", "Amazon MQ", IN, "Messaging"),
    s("AWSEvents", "CloudWatch Events", IN, "Messaging"),
    s("AmazonStates", "AWS Step Functions", IN, "Workflow Orchestration"),
    s("AmazonMWAA", "Amazon Managed Workflows for Apache Airflow", IN, "Workflow Orchestration"),
    s("AmazonApiGateway", "Amazon API Gateway", IN, "API Management"),
    s("AWSAppSync", "AWS AppSync", IN, "API Management"),
    s("AmazonSES", "Amazon Simple Email Service", IN, "Messaging"),
    s("AmazonEFS", "Amazon Elastic File System", ST, "File Storage"),
    s("AmazonFSx", "Amazon FSx", ST, "File Storage"),
    s("AmazonGlacier", "Amazon Glacier", ST, "Backup Storage"),
    s("AWSBackup", "AWS Backup", ST, "Backup Storage"),
    s("AWSStorageGateway", "AWS Storage Gateway", ST, "Storage Platforms"),
    s("awskms", "AWS Key Management Service", SE, "Secret Management"),
    s("AWSSecretsManager", "AWS Secrets Manager", SE, "Secret Management"),
    s("AWSSecurityHub", "AWS Security Hub", SE, "Security Posture Management"),
    s("AmazonGuardDuty", "Amazon GuardDuty", SE, "Threat Detection and Response"),
    s("AmazonInspectorV2", "Amazon Inspector", SE, "Security Posture Management"),
    s("AmazonMacie", "Amazon Macie", SE, "Threat Detection and Response"),
    s("AWSCertificateManager", "AWS Certificate Manager", SE, "Other (Security)"),
    s("awswaf", "AWS WAF", NW, "Network Security"),
    s("AWSShield", "AWS Shield", NW, "Network Security"),
    s("AmazonRoute53", "Amazon Route 53", NW, "Network Routing"),
    s("AWSGlobalAccelerator", "AWS Global Accelerator", NW, "Network Routing"),
    s("AWSDirectConnect", "AWS Direct Connect", NW, "Network Connectivity"),
    s("AWSCloudTrail", "AWS CloudTrail", MG, "Compliance"),
    s("AWSConfig", "AWS Config", MG, "Compliance"),
    s("AWSSystemsManager", "AWS Systems Manager", MG, "Endpoint Management"),
    s("AWSCloudFormation", "AWS CloudFormation", MG, "Architecture"),
    s("AWSXRay", "AWS X-Ray", MG, "Observability"),
    s("AmazonPrometheus", "Amazon Managed Service for Prometheus", MG, "Observability"),
    s("AmazonGrafana", "Amazon Managed Grafana", MG, "Observability"),
    s("AWSCostExplorer", "AWS Cost Explorer", MG, "Cost Management"),
    s("AWSSupportBusiness", "AWS Support (Business)", MG, "Support"),
    s("AWSSupportEnterprise", "AWS Support (Enterprise)", MG, "Support"),
    s("AWSDeveloperSupport", "AWS Support (Developer)", MG, "Support"),
    s("AmazonElastiCache", "Amazon ElastiCache", DB, "Caching"),
    s("AmazonRedshift", "Amazon Redshift", DB, "Data Warehouses"),
    s("AmazonDocDB", "Amazon DocumentDB (with MongoDB compatibility)", DB, "NoSQL Databases"),
    s("AmazonNeptune", "Amazon Neptune", DB, "NoSQL Databases"),
    s("AmazonTimestream", "Amazon Timestream", DB, "Time Series Databases"),
    s("AmazonES", "Amazon OpenSearch Service", AN, "Search"),
    s("AmazonKinesis", "Amazon Kinesis", AN, "Streaming Analytics"),
    s("AmazonKinesisFirehose", "Amazon Kinesis Firehose", AN, "Streaming Analytics"),
    s("AmazonMSK", "Amazon Managed Streaming for Apache Kafka", AN, "Streaming Analytics"),
    s("AmazonAthena", "Amazon Athena", AN, "Data Processing"),
    s("AWSGlue", "AWS Glue", AN, "Data Processing"),
    s("ElasticMapReduce", "Amazon Elastic MapReduce", AN, "Data Processing"),
    s("AmazonQuickSight", "Amazon QuickSight", AN, "Business Intelligence"),
    s("AmazonLightsail", "Amazon Lightsail", CO, "Virtual Machines"),
    s("AmazonWorkSpaces", "Amazon WorkSpaces", CO, "End User Computing"),
    s("ComputeSavingsPlans", "Savings Plans for AWS Compute usage", CO, "Other (Compute)"),
    s("AmazonCognito", "Amazon Cognito", ID, "Identity and Access Management"),
    s("AWSDirectoryService", "AWS Directory Service", ID, "Identity and Access Management"),
    s("AWSAmplify", "AWS Amplify", WEB, "Application Platforms"),
    s("CodeBuild", "CodeBuild", DT, "Continuous Integration and Deployment"),
    s("AWSCodePipeline", "AWS CodePipeline", DT, "Continuous Integration and Deployment"),
    s("AWSCodeCommit", "AWS CodeCommit", DT, "Source Code Management"),
    s("AWSTransfer", "AWS Transfer Family", MI, "Data Migration"),
    s("AWSDatabaseMigrationSvc", "AWS Database Migration Service", MI, "Data Migration"),
    s("AmazonConnect", "Amazon Connect", BA, "Other (Business Applications)"),
    s("AmazonTextract", "Amazon Textract", AI, "Other (AI and Machine Learning)"),
    s("comprehend", "Amazon Comprehend", AI, "Natural Language Processing"),
    s("AmazonRekognition", "Amazon Rekognition", AI, "Other (AI and Machine Learning)"),
    s("AmazonPolly", "Amazon Polly", AI, "Natural Language Processing"),
    s("transcribe", "Amazon Transcribe", AI, "Natural Language Processing"),
    s("translate", "Amazon Translate", AI, "Natural Language Processing"),
    s("AmazonLex", "Amazon Lex", AI, "Bots"),
    s("AmazonQ", "Amazon Q", AI, "Generative AI"),
    s("AWSIoT", "AWS IoT", IOT, "IoT Platforms"),
];

/// ServiceCategory and ServiceSubcategory of a service FOCUS has no better place for.
pub const OTHER: (&str, &str) = ("Other", "Other (Other)");

fn by_code() -> &'static FastMap<&'static str, &'static Service> {
    static INDEX: OnceLock<FastMap<&'static str, &'static Service>> = OnceLock::new();
    INDEX.get_or_init(|| SERVICES.iter().map(|s| (s.code, s)).collect())
}

fn by_name() -> &'static FastMap<&'static str, &'static Service> {
    static INDEX: OnceLock<FastMap<&'static str, &'static Service>> = OnceLock::new();
    INDEX.get_or_init(|| SERVICES.iter().map(|s| (s.name, s)).collect())
}

/// The service name for a product code, when the code is known.
pub fn name_for_code(code: &str) -> Option<&'static str> {
    by_code().get(code).map(|s| s.name)
}

/// ServiceCategory and ServiceSubcategory for a ServiceName. Both depend on the name alone, so
/// one ServiceName never has two categories (FOCUS requires exactly one).
pub fn category_for_name(name: &str) -> (&'static str, &'static str) {
    by_name().get(name).map(|s| (s.category, s.subcategory)).unwrap_or(OTHER)
}

/// AWS region codes and the names AWS gives them.
const REGIONS: &[(&str, &str)] = &[
    ("af-south-1", "Africa (Cape Town)"),
    ("ap-east-1", "Asia Pacific (Hong Kong)"),
    ("ap-northeast-1", "Asia Pacific (Tokyo)"),
    ("ap-northeast-2", "Asia Pacific (Seoul)"),
    ("ap-northeast-3", "Asia Pacific (Osaka)"),
    ("ap-south-1", "Asia Pacific (Mumbai)"),
    ("ap-south-2", "Asia Pacific (Hyderabad)"),
    ("ap-southeast-1", "Asia Pacific (Singapore)"),
    ("ap-southeast-2", "Asia Pacific (Sydney)"),
    ("ap-southeast-3", "Asia Pacific (Jakarta)"),
    ("ap-southeast-4", "Asia Pacific (Melbourne)"),
    ("ap-southeast-5", "Asia Pacific (Malaysia)"),
    ("ap-southeast-7", "Asia Pacific (Thailand)"),
    ("ca-central-1", "Canada (Central)"),
    ("ca-west-1", "Canada West (Calgary)"),
    ("cn-north-1", "China (Beijing)"),
    ("cn-northwest-1", "China (Ningxia)"),
    ("eu-central-1", "Europe (Frankfurt)"),
    ("eu-central-2", "Europe (Zurich)"),
    ("eu-north-1", "Europe (Stockholm)"),
    ("eu-south-1", "Europe (Milan)"),
    ("eu-south-2", "Europe (Spain)"),
    ("eu-west-1", "Europe (Ireland)"),
    ("eu-west-2", "Europe (London)"),
    ("eu-west-3", "Europe (Paris)"),
    ("il-central-1", "Israel (Tel Aviv)"),
    ("me-central-1", "Middle East (UAE)"),
    ("me-south-1", "Middle East (Bahrain)"),
    ("mx-central-1", "Mexico (Central)"),
    ("sa-east-1", "South America (Sao Paulo)"),
    ("us-east-1", "US East (N. Virginia)"),
    ("us-east-2", "US East (Ohio)"),
    ("us-gov-east-1", "AWS GovCloud (US-East)"),
    ("us-gov-west-1", "AWS GovCloud (US-West)"),
    ("us-west-1", "US West (N. California)"),
    ("us-west-2", "US West (Oregon)"),
];

/// The display name of an AWS region code, e.g. "US East (N. Virginia)" for "us-east-1".
pub fn region_name(code: &str) -> Option<&'static str> {
    static INDEX: OnceLock<FastMap<&'static str, &'static str>> = OnceLock::new();
    INDEX.get_or_init(|| REGIONS.iter().copied().collect()).get(code).copied()
}

/// Time words AWS puts in pricing units, and the plural FOCUS spells them with.
const TIME_WORDS: &[(&str, &str)] = &[
    ("Day", "Days"),
    ("Days", "Days"),
    ("Hour", "Hours"),
    ("Hours", "Hours"),
    ("Hr", "Hours"),
    ("Hrs", "Hours"),
    ("Min", "Minutes"),
    ("Mins", "Minutes"),
    ("Minute", "Minutes"),
    ("Minutes", "Minutes"),
    ("Mo", "Months"),
    ("Month", "Months"),
    ("Months", "Months"),
    ("Mos", "Months"),
    ("Sec", "Seconds"),
    ("Second", "Seconds"),
    ("Seconds", "Seconds"),
    ("Secs", "Seconds"),
    ("Year", "Years"),
    ("Years", "Years"),
    ("Yr", "Years"),
    ("Yrs", "Years"),
];

fn time_word(word: &str) -> Option<&'static str> {
    TIME_WORDS.iter().find(|(w, _)| w.eq_ignore_ascii_case(word)).map(|(_, plural)| *plural)
}

/// An AWS pricing unit in FOCUS Unit Format: time words become FOCUS plurals ("Hrs" → "Hours",
/// "GB-Mo" → "GB-Months") and a compound unit keeps one dash before its time part
/// ("Lambda-GB-Second" → "Lambda GB-Seconds"). `None` for an empty unit or AWS's "N/A".
pub fn focus_unit(raw: &str) -> Option<Cow<'_, str>> {
    let unit = raw.trim();
    if unit.is_empty() || unit.eq_ignore_ascii_case("N/A") {
        return None;
    }
    let parts: Vec<&str> = unit.split('-').collect();
    let (last, head) = parts.split_last().expect("split yields at least one part");
    let out = match (time_word(last), head.is_empty()) {
        (Some(time), true) => time.to_string(),
        (Some(time), false) => format!("{}-{time}", head.join(" ")),
        (None, true) => return Some(Cow::Borrowed(unit)),
        (None, false) => parts.join(" "),
    };
    Some(if out == unit { Cow::Borrowed(unit) } else { Cow::Owned(out) })
}

/// EC2 resource-id prefixes and the resource types they name.
const EC2_PREFIXES: &[(&str, &str)] = &[
    ("ami-", "image"),
    ("eipalloc-", "elastic-ip"),
    ("eni-", "network-interface"),
    ("fs-", "file-system"),
    ("i-", "instance"),
    ("igw-", "internet-gateway"),
    ("nat-", "natgateway"),
    ("sg-", "security-group"),
    ("snap-", "snapshot"),
    ("subnet-", "subnet"),
    ("tgw-attach-", "transit-gateway-attachment"),
    ("tgw-", "transit-gateway"),
    ("vol-", "volume"),
    ("vpc-", "vpc"),
    ("vpce-", "vpc-endpoint"),
];

/// The type of a resource from its id: the resource-type part of an ARN
/// (`arn:aws:rds:us-east-1:123:db:orders` → "db", or the service when the ARN has no type part),
/// the kind an EC2 id prefix names (`i-0abc` → "instance"), else `None`.
pub fn resource_type(id: &str) -> Option<&str> {
    if let Some(rest) = id.strip_prefix("arn:") {
        // arn:partition:service:region:account:resource
        let mut fields = rest.splitn(5, ':');
        let (_partition, service, _region, _account) =
            (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
        let resource = fields.next()?;
        return Some(match resource.find(['/', ':']) {
            Some(i) if i > 0 => &resource[..i],
            _ => service,
        });
    }
    EC2_PREFIXES.iter().find(|(p, _)| id.starts_with(p)).map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use costpilot_model::focus::SERVICE_CATEGORIES;

    #[test]
    fn tables_are_consistent() {
        assert!(REGIONS.windows(2).all(|w| w[0].0 < w[1].0), "regions must be sorted");
        for s in SERVICES {
            assert!(SERVICE_CATEGORIES.contains(&s.category), "{}", s.code);
            let other = format!("Other ({})", s.category);
            assert!(s.subcategory == other || !s.subcategory.starts_with("Other"), "{}", s.code);
        }
        assert_eq!(by_code().len(), SERVICES.len(), "product codes are unique");
        assert_eq!(by_name().len(), SERVICES.len(), "service names are unique");
    }

    #[test]
    fn units_follow_the_focus_unit_format() {
        let cases = [
            ("Hrs", "Hours"),
            ("GB-Mo", "GB-Months"),
            ("LCU-Hrs", "LCU-Hours"),
            ("Lambda-GB-Second", "Lambda GB-Seconds"),
            ("vCPU-Hours", "vCPU-Hours"),
            ("Requests", "Requests"),
            ("GB", "GB"),
            ("IOs", "IOs"),
            ("Requests-Tier1", "Requests Tier1"),
        ];
        for (raw, want) in cases {
            assert_eq!(focus_unit(raw).as_deref(), Some(want), "{raw}");
        }
        assert_eq!(focus_unit("N/A"), None);
        assert_eq!(focus_unit(" "), None);
        assert!(matches!(focus_unit("GB"), Some(Cow::Borrowed(_))));
    }

    #[test]
    fn resource_types_come_from_arns_and_ids() {
        assert_eq!(resource_type("arn:aws:rds:us-east-1:111111111111:ri:ri-2025-rds-01"), Some("ri"));
        assert_eq!(resource_type("arn:aws:savingsplans::111111111111:savingsplan/sp-1"), Some("savingsplan"));
        assert_eq!(resource_type("arn:aws:s3:::my-bucket"), Some("s3"));
        assert_eq!(resource_type("i-0abc"), Some("instance"));
        assert_eq!(resource_type("tgw-attach-1"), Some("transit-gateway-attachment"));
        assert_eq!(resource_type("my-bucket"), None);
        assert_eq!(region_name("us-east-1"), Some("US East (N. Virginia)"));
        assert_eq!(region_name("xx-1"), None);
    }
}
