//! Measures how fast the lake writes CUR-shaped rows: `cargo run --release -p costpilot-lake
//! --example write_bench -- [rows] [snappy|zstd1|none] [lake-file.parquet|synthetic] [threads]`
//! (default 4,000,000 synthetic rows, zstd1, one encoding thread per core).
//!
//! The input is a data file of an existing lake (for instance one ingested from the CUR 2.0
//! benchmark data), streamed in batches of 64 Ki rows and read again from the start as often as
//! needed (so the time includes decoding it), or else synthetic batches with 58 of the lake's
//! columns filled at high cardinality (random amounts, long ids: harder to encode than real
//! bills), built before the clock starts and reused. The time covers `Transaction::write` for
//! every batch and the commit (files flushed to disk, manifest swapped).

use std::sync::Arc;
use std::time::Instant;

use costpilot_lake::{Lake, SourceRef, WriteOptions};
use costpilot_model::{COLUMNS, ColumnKind, index_of, lake_schema, money_type, tags_type};
use datafusion::arrow::array::{
    ArrayRef, Decimal128Array, MapBuilder, MapFieldNames, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray, new_null_array,
};
use datafusion::arrow::compute::cast;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, ZstdLevel};

const BATCH_ROWS: usize = 64 * 1024;
const SEPT_2024: i64 = 1_725_148_800_000_000;
const HOUR: i64 = 3_600_000_000;

/// A cheap deterministic pseudo-random sequence (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn batch(rng: &mut Rng, first_row: usize) -> RecordBatch {
    let n = BATCH_ROWS;
    let schema = lake_schema();
    let mut cols: Vec<ArrayRef> = schema.fields().iter().map(|f| new_null_array(f.data_type(), n)).collect();
    let mut text = |name: &str, card: u64, prefix: &str, rng: &mut Rng| {
        let values: StringArray = (0..n).map(|_| Some(format!("{prefix}{}", rng.below(card)))).collect();
        cols[index_of(name)] = Arc::new(values);
    };
    for (name, card, prefix) in [
        ("SubAccountId", 50, "2222333344"),
        ("SubAccountName", 50, "team-account-"),
        ("ServiceName", 40, "Amazon Service "),
        ("ServiceSubcategory", 20, "Subcategory "),
        ("RegionId", 16, "us-east-"),
        ("RegionName", 16, "US East "),
        ("AvailabilityZone", 40, "us-east-1"),
        ("ResourceId", 20_000, "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc"),
        ("ResourceName", 20_000, "i-0abc"),
        ("ResourceType", 30, "Instance type "),
        ("SkuId", 3_000, "SKU"),
        ("SkuPriceId", 3_000, "SKU.PRICE."),
        ("SkuMeter", 200, "Meter "),
        ("ChargeDescription", 3_000, "$0.0416 per On Demand Linux t3.medium Instance Hour #"),
        ("PricingUnit", 20, "Hrs"),
        ("ConsumedUnit", 20, "Hrs"),
        ("x_UsageType", 300, "USE1-BoxUsage:t3.medium"),
        ("x_Operation", 60, "RunInstances:000"),
        ("x_InstanceType", 80, "t3.medium"),
        ("x_ServiceCode", 40, "Amazon"),
        ("x_ProductFamily", 30, "Compute Instance "),
        ("CommitmentDiscountId", 20, "arn:aws:savingsplans::123456789012:savingsplan/sp-"),
    ] {
        text(name, card, prefix, rng);
    }
    let constant =
        |v: &str| -> ArrayRef { Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, n))) };
    for (name, v) in [
        ("ProviderName", "AWS"),
        ("PublisherName", "AWS"),
        ("InvoiceIssuerName", "AWS"),
        ("ServiceProviderName", "AWS"),
        ("HostProviderName", "AWS"),
        ("BillingAccountId", "123456789012"),
        ("BillingAccountName", "Main payer"),
        ("BillingAccountType", "Billing Account"),
        ("SubAccountType", "Account"),
        ("BillingCurrency", "USD"),
        ("PricingCurrency", "USD"),
        ("ChargeCategory", "Usage"),
        ("ChargeFrequency", "Usage-Based"),
        ("PricingCategory", "Standard"),
        ("ServiceCategory", "Compute"),
        ("x_LineItemType", "Usage"),
        ("x_PayerAccountId", "123456789012"),
        ("x_SourceFormat", "cur2"),
    ] {
        cols[index_of(name)] = constant(v);
    }
    for c in COLUMNS.iter().filter(|c| matches!(c.kind, ColumnKind::Money | ColumnKind::Decimal)) {
        if c.name.starts_with("x_Split") {
            continue;
        }
        let values =
            Decimal128Array::from_iter_values((0..n).map(|_| rng.below(5_000_000_000_000_000) as i128));
        cols[index_of(c.name)] = Arc::new(values.with_data_type(money_type()));
    }
    let hour = |i: usize| SEPT_2024 + ((first_row + i) as i64 / 20_000 % 720) * HOUR;
    let times = |f: &dyn Fn(usize) -> i64| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from_iter_values((0..n).map(f)).with_timezone("UTC"))
    };
    cols[index_of("BillingPeriodStart")] = times(&|_| SEPT_2024);
    cols[index_of("BillingPeriodEnd")] = times(&|_| SEPT_2024 + 720 * HOUR);
    cols[index_of("ChargePeriodStart")] = times(&hour);
    cols[index_of("ChargePeriodEnd")] = times(&|i| hour(i) + HOUR);
    let names = MapFieldNames { entry: "entries".into(), key: "keys".into(), value: "values".into() };
    for name in ["Tags", "x_RawTags"] {
        let mut tags = MapBuilder::new(Some(names.clone()), StringBuilder::new(), StringBuilder::new());
        for _ in 0..n {
            for (k, card) in [("env", 4), ("team", 25), ("app", 400)] {
                tags.keys().append_value(k);
                tags.values().append_value(format!("{k}-{}", rng.below(card)));
            }
            tags.append(true).expect("pairs appended");
        }
        let tags: ArrayRef = Arc::new(tags.finish());
        cols[index_of(name)] = cast(&tags, &tags_type()).expect("map types agree");
    }
    RecordBatch::try_new(schema, cols).expect("lake schema")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rows: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(4_000_000);
    let compression = match args.get(1).map(String::as_str).unwrap_or("zstd1") {
        "snappy" => Compression::SNAPPY,
        "none" => Compression::UNCOMPRESSED,
        _ => Compression::ZSTD(ZstdLevel::try_new(1).expect("level 1")),
    };
    let threads = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(WriteOptions::default().threads);
    let input = args.get(2).filter(|a| a.as_str() != "synthetic").cloned();
    // A lake file is streamed (read again from the start as often as needed), so the measured
    // memory is the writer's; synthetic batches are built once and reused.
    let synthetic: Vec<RecordBatch> = match input {
        Some(_) => Vec::new(),
        None => {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
            (0..16).map(|b| batch(&mut rng, b * BATCH_ROWS)).collect()
        }
    };
    let read_file = |path: &str| {
        let file = std::fs::File::open(path).expect("open the lake file");
        ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("a Parquet file")
            .with_batch_size(BATCH_ROWS)
            .build()
            .expect("a reader")
            .map(|b| b.expect("a batch"))
    };
    let mut batches: Box<dyn Iterator<Item = RecordBatch>> = match &input {
        Some(path) => {
            let path = path.clone();
            Box::new(std::iter::repeat_with(move || read_file(&path)).flatten())
        }
        None => Box::new(synthetic.iter().cycle().cloned()),
    };
    let first = batches.next().expect("at least one batch");
    let filled = first.columns().iter().filter(|c| c.null_count() < c.len()).count();
    let dir = std::env::temp_dir().join(format!("costpilot-write-bench-{}", std::process::id()));
    let lake = Lake::open(&dir).expect("open lake").with_write_options(WriteOptions {
        compression,
        threads,
        ..WriteOptions::default()
    });
    let source = SourceRef { path: "bench".into(), sha256: "bench".into(), bytes: 0 };
    let started = Instant::now();
    let mut txn = lake.begin().expect("begin");
    let mut written = 0;
    for b in std::iter::once(first).chain(batches.by_ref()) {
        if written >= rows {
            break;
        }
        if b.num_rows() == 0 {
            continue;
        }
        let take = b.num_rows().min(rows - written);
        txn.write(b.slice(0, take), &source).expect("write");
        written += take;
    }
    txn.commit().expect("commit");
    let secs = started.elapsed().as_secs_f64();
    let bytes: u64 = lake.manifest().expect("manifest").live_files().map(|f| f.bytes).sum();
    println!(
        "{written} rows, {filled} of {} columns filled, {compression:?}, {threads} threads: {secs:.2} s, {:.0} rows/s, {:.1} MB written ({:.1} bytes/row)",
        lake_schema().fields().len(),
        written as f64 / secs,
        bytes as f64 / 1e6,
        bytes as f64 / written as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}
