//! The AWS price list the generator bills from: regions, instance types and every meter a
//! resource can run, with its product code, usage type, operation, unit and public on-demand price
//! in us-east-1 (USD). Prices are the published on-demand list prices; other regions apply a
//! regional uplift, as AWS's own price list does.

/// An AWS region as the bill names it.
#[derive(Debug, Clone, Copy)]
pub struct Region {
    /// Region code (`us-east-1`).
    pub code: &'static str,
    /// The prefix AWS puts before usage types in this region (`USE1`; `EU` for eu-west-1).
    pub prefix: &'static str,
    /// The location name of the price list.
    pub location: &'static str,
    /// Price relative to us-east-1.
    pub uplift: f64,
    /// Availability zones used for resources.
    pub zones: &'static [&'static str],
}

/// Regions resources are placed in.
pub const REGIONS: &[Region] = &[
    Region {
        code: "us-east-1",
        prefix: "USE1",
        location: "US East (N. Virginia)",
        uplift: 1.0,
        zones: &["us-east-1a", "us-east-1b", "us-east-1c"],
    },
    Region {
        code: "us-west-2",
        prefix: "USW2",
        location: "US West (Oregon)",
        uplift: 1.0,
        zones: &["us-west-2a", "us-west-2b", "us-west-2c"],
    },
    Region {
        code: "eu-west-1",
        prefix: "EU",
        location: "EU (Ireland)",
        uplift: 1.1,
        zones: &["eu-west-1a", "eu-west-1b", "eu-west-1c"],
    },
    Region {
        code: "eu-central-1",
        prefix: "EUC1",
        location: "EU (Frankfurt)",
        uplift: 1.15,
        zones: &["eu-central-1a", "eu-central-1b"],
    },
    Region {
        code: "ap-southeast-2",
        prefix: "APS2",
        location: "Asia Pacific (Sydney)",
        uplift: 1.25,
        zones: &["ap-southeast-2a", "ap-southeast-2b"],
    },
];

/// An EC2 (or RDS, or SageMaker) instance type.
#[derive(Debug, Clone, Copy)]
pub struct InstanceType {
    /// API name (`m5.large`, `db.r5.large`, `ml.g5.xlarge`).
    pub name: &'static str,
    /// Instance family as the price list groups it.
    pub family: &'static str,
    /// vCPUs.
    pub vcpu: u32,
    /// Memory in GiB.
    pub memory_gib: u32,
    /// GPUs, 0 for none.
    pub gpus: u32,
    /// GPU model, empty for none.
    pub gpu_model: &'static str,
    /// Linux on-demand price per hour in us-east-1, USD.
    pub rate: f64,
    /// Discount a Compute Savings Plan gives on this type (0 where no plan applies).
    pub sp_discount: f64,
    /// Processor as the price list names it.
    pub processor: &'static str,
}

impl InstanceType {
    /// Normalisation factor of the size (AWS's table: large = 4, xlarge = 8, ...).
    pub fn normalization_factor(&self) -> f64 {
        let size = self.name.rsplit('.').next().unwrap_or("");
        match size {
            "nano" => 0.25,
            "micro" => 0.5,
            "small" => 1.0,
            "medium" => 2.0,
            "large" => 4.0,
            "xlarge" => 8.0,
            s => s.strip_suffix("xlarge").and_then(|n| n.parse::<f64>().ok()).map_or(8.0, |n| 8.0 * n),
        }
    }

    /// The instance family prefix (`m5` of `m5.large`, `r5` of `db.r5.large`).
    pub fn family_prefix(&self) -> &'static str {
        let bare =
            self.name.strip_prefix("db.").or_else(|| self.name.strip_prefix("ml.")).unwrap_or(self.name);
        bare.split('.').next().unwrap_or(bare)
    }
}

const XEON: &str = "Intel Xeon Platinum 8175";
const ICE: &str = "Intel Xeon 8375C (Ice Lake)";
const GRAVITON: &str = "AWS Graviton2 Processor";
const EPYC: &str = "AMD EPYC 7R32";

/// EC2 instance types.
pub const EC2_TYPES: &[InstanceType] = &[
    it("t3.medium", "General purpose", 2, 4, 0.0416, 0.20, XEON),
    it("t3.large", "General purpose", 2, 8, 0.0832, 0.20, XEON),
    it("m5.large", "General purpose", 2, 8, 0.096, 0.28, XEON),
    it("m5.xlarge", "General purpose", 4, 16, 0.192, 0.28, XEON),
    it("m5.2xlarge", "General purpose", 8, 32, 0.384, 0.28, XEON),
    it("m5.4xlarge", "General purpose", 16, 64, 0.768, 0.28, XEON),
    it("m6i.large", "General purpose", 2, 8, 0.096, 0.28, ICE),
    it("m6i.2xlarge", "General purpose", 8, 32, 0.384, 0.28, ICE),
    it("c5.large", "Compute optimized", 2, 4, 0.085, 0.27, XEON),
    it("c5.xlarge", "Compute optimized", 4, 8, 0.17, 0.27, XEON),
    it("c5.2xlarge", "Compute optimized", 8, 16, 0.34, 0.27, XEON),
    it("c6g.xlarge", "Compute optimized", 4, 8, 0.136, 0.27, GRAVITON),
    it("r5.large", "Memory optimized", 2, 16, 0.126, 0.30, XEON),
    it("r5.xlarge", "Memory optimized", 4, 32, 0.252, 0.30, XEON),
    it("r5.2xlarge", "Memory optimized", 8, 64, 0.504, 0.30, XEON),
    it("r6i.4xlarge", "Memory optimized", 16, 128, 1.008, 0.30, ICE),
    gpu("g4dn.xlarge", 4, 16, 1, "NVIDIA T4", 0.526, XEON),
    gpu("g5.xlarge", 4, 16, 1, "NVIDIA A10G", 1.006, EPYC),
    gpu("g5.2xlarge", 8, 32, 1, "NVIDIA A10G", 1.212, EPYC),
    gpu("g5.12xlarge", 48, 192, 4, "NVIDIA A10G", 5.672, EPYC),
    gpu("p3.2xlarge", 8, 61, 1, "NVIDIA V100", 3.06, XEON),
    gpu("p4d.24xlarge", 96, 1152, 8, "NVIDIA A100", 32.7726, XEON),
];

/// RDS instance classes (MySQL, single-AZ).
pub const RDS_TYPES: &[InstanceType] = &[
    it("db.t3.medium", "General purpose", 2, 4, 0.068, 0.0, XEON),
    it("db.m5.large", "General purpose", 2, 8, 0.171, 0.0, XEON),
    it("db.m5.xlarge", "General purpose", 4, 16, 0.342, 0.0, XEON),
    it("db.r5.large", "Memory optimized", 2, 16, 0.25, 0.0, XEON),
    it("db.r5.2xlarge", "Memory optimized", 8, 64, 1.0, 0.0, XEON),
];

/// SageMaker hosting instance types.
pub const SAGEMAKER_TYPES: &[InstanceType] = &[
    it("ml.m5.large", "General purpose", 2, 8, 0.115, 0.0, XEON),
    gpu("ml.g5.xlarge", 4, 16, 1, "NVIDIA A10G", 1.408, EPYC),
    gpu("ml.g5.12xlarge", 48, 192, 4, "NVIDIA A10G", 7.09, EPYC),
    gpu("ml.p3.2xlarge", 8, 61, 1, "NVIDIA V100", 3.825, XEON),
];

const fn it(
    name: &'static str,
    family: &'static str,
    vcpu: u32,
    memory_gib: u32,
    rate: f64,
    sp_discount: f64,
    processor: &'static str,
) -> InstanceType {
    InstanceType { name, family, vcpu, memory_gib, gpus: 0, gpu_model: "", rate, sp_discount, processor }
}

const fn gpu(
    name: &'static str,
    vcpu: u32,
    memory_gib: u32,
    gpus: u32,
    gpu_model: &'static str,
    rate: f64,
    processor: &'static str,
) -> InstanceType {
    InstanceType {
        name,
        family: "GPU instance",
        vcpu,
        memory_gib,
        gpus,
        gpu_model,
        rate,
        sp_discount: 0.20,
        processor,
    }
}

/// Looks an instance type up by name in every table.
pub fn instance_type(name: &str) -> Option<&'static InstanceType> {
    EC2_TYPES.iter().chain(RDS_TYPES).chain(SAGEMAKER_TYPES).find(|t| t.name == name)
}

/// How a meter's hourly usage amount is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One hour per hour the resource runs (instances, NAT gateways, endpoints).
    Hours,
    /// The resource's size in GB spread over the hours of the month (GB-Mo lines).
    Storage,
    /// A seasonal amount (requests, GB transferred, GB-seconds, tokens), whole numbers.
    Count,
    /// A seasonal amount in GB, fractional.
    Gigabytes,
}

/// One billed dimension of a resource: what a line item of it says and costs.
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    /// `line_item_product_code`.
    pub product_code: &'static str,
    /// The service's name in the price list (`product_servicename`).
    pub service_name: &'static str,
    /// `product_product_family`.
    pub family: &'static str,
    /// Usage type without the region prefix (`BoxUsage:m5.large` is made per instance type).
    pub usage_type: &'static str,
    /// `line_item_operation`.
    pub operation: &'static str,
    /// `pricing_unit`.
    pub unit: &'static str,
    /// Price per unit in us-east-1, USD.
    pub rate: f64,
    /// How usage is drawn.
    pub shape: Shape,
    /// Mean hourly amount at unit scale for seasonal shapes.
    pub base: f64,
    /// Discount a Compute Savings Plan gives (0: not eligible).
    pub sp_discount: f64,
}

/// A meter of `service` (product code, service name) billed as `usage` (usage type, operation,
/// unit).
const fn meter(
    service: (&'static str, &'static str),
    family: &'static str,
    usage: (&'static str, &'static str, &'static str),
    rate: f64,
    shape: Shape,
    base: f64,
) -> Meter {
    let (product_code, service_name) = service;
    let (usage_type, operation, unit) = usage;
    Meter {
        product_code,
        service_name,
        family,
        usage_type,
        operation,
        unit,
        rate,
        shape,
        base,
        sp_discount: 0.0,
    }
}

/// A meter billed per hour a resource of `service` runs (instances, databases, endpoints); the
/// usage type and price come from the resource's type.
pub const fn hours_meter(
    service: (&'static str, &'static str),
    family: &'static str,
    operation: &'static str,
) -> Meter {
    meter(service, family, ("", operation, "Hrs"), 0.0, Shape::Hours, 0.0)
}

/// A Bedrock meter billed per token; the usage type and price come from the model.
pub const TOKENS: Meter =
    meter(BEDROCK, "Generative AI", ("", "InvokeModelInference", "Tokens"), 0.0, Shape::Count, 0.0);

const EC2: &str = "Amazon Elastic Compute Cloud";
const S3: &str = "Amazon Simple Storage Service";

/// EBS gp3 volume storage.
pub const EBS_GP3: Meter = meter(
    ("AmazonEC2", EC2),
    "Storage",
    ("EBS:VolumeUsage.gp3", "CreateVolume-Gp3", "GB-Mo"),
    0.08,
    Shape::Storage,
    0.0,
);
/// EBS io2 volume storage.
pub const EBS_IO2: Meter = meter(
    ("AmazonEC2", EC2),
    "Storage",
    ("EBS:VolumeUsage.io2", "CreateVolume-io2", "GB-Mo"),
    0.125,
    Shape::Storage,
    0.0,
);
/// EBS snapshot storage.
pub const EBS_SNAPSHOT: Meter = meter(
    ("AmazonEC2", EC2),
    "Storage Snapshot",
    ("EBS:SnapshotUsage", "CreateSnapshot", "GB-Mo"),
    0.05,
    Shape::Storage,
    0.0,
);
/// Data transfer out to the internet from an instance.
pub const DATA_TRANSFER_OUT: Meter = meter(
    ("AWSDataTransfer", "AWS Data Transfer"),
    "Data Transfer",
    ("DataTransfer-Out-Bytes", "RunInstances", "GB"),
    0.09,
    Shape::Gigabytes,
    0.6,
);
/// Data transfer between availability zones.
pub const DATA_TRANSFER_AZ: Meter = meter(
    ("AWSDataTransfer", "AWS Data Transfer"),
    "Data Transfer",
    ("DataTransfer-Regional-Bytes", "InterZone-Out", "GB"),
    0.01,
    Shape::Gigabytes,
    4.0,
);
/// NAT gateway hours.
pub const NAT_HOURS: Meter = meter(
    ("AmazonEC2", EC2),
    "NAT Gateway",
    ("NatGateway-Hours", "NatGateway", "Hrs"),
    0.045,
    Shape::Hours,
    0.0,
);
/// NAT gateway bytes processed.
pub const NAT_BYTES: Meter = meter(
    ("AmazonEC2", EC2),
    "NAT Gateway",
    ("NatGateway-Bytes", "NatGateway", "GB"),
    0.045,
    Shape::Gigabytes,
    6.0,
);
/// S3 Standard storage.
pub const S3_STORAGE: Meter = meter(
    ("AmazonS3", S3),
    "Storage",
    ("TimedStorage-ByteHrs", "StandardStorage", "GB-Mo"),
    0.023,
    Shape::Storage,
    0.0,
);
/// S3 PUT/COPY/POST/LIST requests.
pub const S3_TIER1: Meter = meter(
    ("AmazonS3", S3),
    "API Request",
    ("Requests-Tier1", "PutObject", "Requests"),
    0.000005,
    Shape::Count,
    2500.0,
);
/// S3 GET requests.
pub const S3_TIER2: Meter = meter(
    ("AmazonS3", S3),
    "API Request",
    ("Requests-Tier2", "GetObject", "Requests"),
    0.0000004,
    Shape::Count,
    30000.0,
);
/// RDS gp3 database storage.
pub const RDS_STORAGE: Meter = meter(
    ("AmazonRDS", "Amazon Relational Database Service"),
    "Database Storage",
    ("RDS:GP3-Storage", "CreateDBInstance:0002", "GB-Mo"),
    0.115,
    Shape::Storage,
    0.0,
);
/// Lambda compute (GB-seconds).
pub const LAMBDA_COMPUTE: Meter = Meter {
    sp_discount: 0.17,
    ..meter(
        ("AWSLambda", "AWS Lambda"),
        "Serverless",
        ("Lambda-GB-Second", "Invoke", "Lambda-GB-Second"),
        0.0000166667,
        Shape::Count,
        9000.0,
    )
};
/// Lambda requests.
pub const LAMBDA_REQUESTS: Meter = meter(
    ("AWSLambda", "AWS Lambda"),
    "Serverless",
    ("Request", "Invoke", "Requests"),
    0.0000002,
    Shape::Count,
    12000.0,
);
/// CloudWatch custom metrics (one line per account and hour).
pub const CLOUDWATCH_METRICS: Meter = meter(
    ("AmazonCloudWatch", "AmazonCloudWatch"),
    "Metric",
    ("CW:MetricMonitorUsage", "MetricStorage", "Metrics"),
    0.3 / 730.0,
    Shape::Count,
    120.0,
);
/// CloudWatch Logs ingestion.
pub const CLOUDWATCH_LOGS: Meter = meter(
    ("AmazonCloudWatch", "AmazonCloudWatch"),
    "Data Payload",
    ("DataProcessing-Bytes", "PutLogEvents", "GB"),
    0.5,
    Shape::Gigabytes,
    0.4,
);

/// A foundation model served by Amazon Bedrock, billed per input and output token.
#[derive(Debug, Clone, Copy)]
pub struct Model {
    /// Model id as Bedrock names it.
    pub id: &'static str,
    /// Usage-type stem (`Claude3.5Sonnet`).
    pub stem: &'static str,
    /// USD per input token.
    pub input_rate: f64,
    /// USD per output token.
    pub output_rate: f64,
    /// Mean input tokens per hour at unit scale.
    pub input_tokens: f64,
}

/// Bedrock models the estate uses.
pub const MODELS: &[Model] = &[
    Model {
        id: "anthropic.claude-3-5-sonnet-20240620-v1:0",
        stem: "Claude3.5Sonnet",
        input_rate: 0.000003,
        output_rate: 0.000015,
        input_tokens: 180_000.0,
    },
    Model {
        id: "anthropic.claude-3-haiku-20240307-v1:0",
        stem: "Claude3Haiku",
        input_rate: 0.00000025,
        output_rate: 0.00000125,
        input_tokens: 900_000.0,
    },
    Model {
        id: "meta.llama3-70b-instruct-v1:0",
        stem: "Llama3-70B",
        input_rate: 0.00000265,
        output_rate: 0.0000035,
        input_tokens: 150_000.0,
    },
    Model {
        id: "amazon.titan-embed-text-v2:0",
        stem: "TitanEmbedTextV2",
        input_rate: 0.00000002,
        output_rate: 0.0,
        input_tokens: 2_000_000.0,
    },
];

/// Bedrock's product code and service name.
pub const BEDROCK: (&str, &str) = ("AmazonBedrock", "Amazon Bedrock");
/// SageMaker's product code and service name.
pub const SAGEMAKER: (&str, &str) = ("AmazonSageMaker", "Amazon SageMaker");
/// EC2's product code and service name.
pub const EC2_SERVICE: (&str, &str) = ("AmazonEC2", EC2);
/// RDS's product code and service name.
pub const RDS_SERVICE: (&str, &str) = ("AmazonRDS", "Amazon Relational Database Service");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_factors_follow_the_aws_table() {
        let f = |n| instance_type(n).unwrap().normalization_factor();
        assert_eq!(f("t3.medium"), 2.0);
        assert_eq!(f("m5.large"), 4.0);
        assert_eq!(f("m5.xlarge"), 8.0);
        assert_eq!(f("m5.4xlarge"), 32.0);
        assert_eq!(f("p4d.24xlarge"), 192.0);
        assert_eq!(f("db.r5.2xlarge"), 16.0);
        assert_eq!(instance_type("db.r5.large").unwrap().family_prefix(), "r5");
    }
}
