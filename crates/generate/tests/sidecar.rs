//! The estate's side files, checked against the truth.json and the bill the same run wrote: the
//! files exist and reproduce byte for byte, waste shows in the metrics as the findings say, the
//! inventory holds every billed instance, the CMDB every owned account once, and the budget set
//! to be overrun is overrun by the bill.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use costpilot_generate::estate::{Pattern, ResourceKind};
use costpilot_generate::sidecar::{budgets, metrics};
use costpilot_generate::{Options, Quiet, generate};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

fn options(seed: u64) -> Options {
    Options { accounts: 8, days: 20, seed, ..Default::default() }
}

/// Generates the small estate of `seed` into the folder `name` (replacing an earlier run's).
fn generate_into(seed: u64, name: &str) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    generate(&options(seed), &out, true, &Quiet).expect("the estate generates");
    out
}

/// The seed-42 estate, generated once for all tests (and kept after them, to look at).
fn estate() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| generate_into(42, "sidecar-estate"))
}

fn truth(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("truth.json")).expect("truth.json")).expect("JSON")
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("readable")).expect("JSON")
}

/// Rows of a gzip CSV as maps from column to value.
fn gz_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("exists"))
        .read_to_string(&mut text)
        .expect("gzip text");
    csv_rows(&text)
}

fn csv_rows(text: &str) -> Vec<HashMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            assert_eq!(cells.len(), header.len(), "{l}");
            header.iter().zip(cells).map(|(h, c)| (h.to_string(), c.to_string())).collect()
        })
        .collect()
}

/// Resource ids of the findings of `kind` in truth.json.
fn findings(t: &Value, kind: &str) -> Vec<String> {
    t["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["finding"] == kind)
        .map(|f| f["resource_id"].as_str().expect("an id").to_string())
        .collect()
}

/// (resource, metric, statistic) → values.
type Series = HashMap<(String, String, String), Vec<f64>>;

/// Every daily series of the daily metrics file.
fn daily(dir: &Path) -> Series {
    let mut out: HashMap<_, Vec<f64>> = HashMap::new();
    for r in gz_csv(&dir.join(metrics::DAILY_PATH)) {
        let v: f64 = r["value"].parse().expect("a number");
        out.entry((r["resource_id"].clone(), r["metric_name"].clone(), r["statistic"].clone()))
            .or_default()
            .push(v);
    }
    out
}

#[test]
fn side_files_exist_and_truth_lists_them() {
    let dir = estate();
    let listed: BTreeSet<String> = truth(dir)["sidecars"]
        .as_array()
        .expect("sidecars")
        .iter()
        .map(|p| p.as_str().expect("a path").to_string())
        .collect();
    let expected: BTreeSet<String> = [
        metrics::DAILY_PATH,
        metrics::HOURLY_PATH,
        "inventory/describe-instances.json",
        "inventory/describe-volumes.json",
        "budgets.yaml",
        "cmdb.csv",
        "business-metrics.csv",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(listed, expected);
    for p in &listed {
        let len = std::fs::metadata(dir.join(p)).expect(p).len();
        assert!(len > 100, "{p} has {len} bytes");
    }
    let hourly = gz_csv(&dir.join(metrics::HOURLY_PATH));
    // Hourly datapoints only for the last 14 of the 20 days.
    let first = hourly.iter().map(|r| r["timestamp"].clone()).min().expect("hourly rows");
    assert_eq!(first, "2025-01-07T00:00:00Z");
    assert!(hourly.iter().all(|r| r["timestamp"].as_str() < "2025-01-21"));
}

#[test]
fn side_files_reproduce_byte_for_byte_and_change_with_the_seed() {
    let a = estate();
    let b = generate_into(42, &format!("sidecar-again-{}", std::process::id()));
    let c = generate_into(7, &format!("sidecar-other-{}", std::process::id()));
    let files: Vec<String> = truth(a)["sidecars"]
        .as_array()
        .expect("sidecars")
        .iter()
        .map(|p| p.as_str().expect("a path").to_string())
        .collect();
    for f in &files {
        let x = std::fs::read(a.join(f)).expect("first run");
        let y = std::fs::read(b.join(f)).expect("second run");
        assert!(x == y, "{f} differs between two runs of one seed");
    }
    for f in [metrics::DAILY_PATH, metrics::HOURLY_PATH] {
        let x = std::fs::read(a.join(f)).expect("seed 42");
        let z = std::fs::read(c.join(f)).expect("seed 7");
        assert!(x != z, "{f} is the same for two seeds");
    }
    std::fs::remove_dir_all(b).ok();
    std::fs::remove_dir_all(c).ok();
}

#[test]
fn waste_shows_in_the_metrics_as_the_findings_say() {
    let dir = estate();
    let t = truth(dir);
    let daily = daily(dir);
    let series = |id: &str, metric: &str, stat: &str| {
        daily.get(&(id.to_string(), metric.to_string(), stat.to_string())).cloned().unwrap_or_default()
    };
    let idle = findings(&t, "idle_instance");
    let oversized = findings(&t, "oversized");
    let spiky = findings(&t, "spiky_fleet");
    assert!(
        !idle.is_empty() && !oversized.is_empty() && !spiky.is_empty(),
        "the estate has each kind of waste"
    );
    for id in &idle {
        let max = series(id, "CPUUtilization", "Maximum");
        assert!(!max.is_empty(), "{id} has daily CPU");
        assert!(max.iter().all(|v| *v < 5.0), "idle {id}: {max:?}");
    }
    for id in &oversized {
        let max = series(id, "CPUUtilization", "Maximum");
        assert!(!max.is_empty(), "{id} has daily CPU");
        assert!(max.iter().all(|v| *v < 20.0), "oversized {id}: {max:?}");
    }
    for id in &spiky {
        let max = series(id, "CPUUtilization", "Maximum");
        let avg = series(id, "CPUUtilization", "Average");
        // A first or last day cut short by the instance's start or end may miss its spike, or
        // hold little but it: the other days all show it.
        assert!(max.len() >= 3, "{id} has daily CPU");
        assert!(max.iter().filter(|v| **v > 60.0).count() + 2 >= max.len(), "spiky {id} peaks: {max:?}");
        assert!(avg.iter().filter(|v| **v < 20.0).count() + 2 >= avg.len(), "spiky {id} averages: {avg:?}");
    }
    // Every idle or steady instance stays under the peak the estate drew for it (idle ones under
    // 5 %, oversized ones under 20 %), not only the few with findings.
    let e = costpilot_generate::estate::build(&options(42));
    let mut capped = 0;
    for r in &e.resources {
        let u = &r.utilisation;
        if r.kind == ResourceKind::Instance && matches!(u.pattern, Pattern::Idle | Pattern::Steady) {
            for v in series(&r.id, "CPUUtilization", "Maximum") {
                assert!(v <= u.cpu_peak + 0.005, "{}: {v} above its peak {}", r.id, u.cpu_peak);
                capped += 1;
            }
        }
    }
    assert!(capped > 20, "{capped} daily maxima of idle or steady instances");
    // A busy instance is nothing like an idle one: the estate's typical Maximum is well above 5 %.
    let all_max: Vec<f64> = daily
        .iter()
        .filter(|((_, m, s), _)| m == "CPUUtilization" && s == "Maximum")
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    let busy = all_max.iter().filter(|v| **v > 20.0).count();
    assert!(busy * 2 > all_max.len(), "{busy} of {} daily maxima above 20 %", all_max.len());
}

#[test]
fn unattached_volumes_are_available_and_never_read() {
    let dir = estate();
    let t = truth(dir);
    let unattached = findings(&t, "unattached_volume");
    assert!(!unattached.is_empty(), "the estate has unattached volumes");
    let volumes = json(&dir.join("inventory/describe-volumes.json"));
    let by_id: HashMap<&str, &Value> = volumes["Volumes"]
        .as_array()
        .expect("Volumes")
        .iter()
        .map(|v| (v["VolumeId"].as_str().expect("VolumeId"), v))
        .collect();
    let daily = daily(dir);
    for id in &unattached {
        let v = by_id.get(id.as_str()).unwrap_or_else(|| panic!("{id} is in describe-volumes"));
        assert_eq!(v["State"], "available", "{id}");
        assert_eq!(v["Attachments"], Value::Array(Vec::new()), "{id}");
        assert_eq!(v["VolumeType"], "gp3");
        for stat in ["Average", "Maximum"] {
            let reads = &daily[&(id.clone(), "VolumeReadOps".to_string(), stat.to_string())];
            assert!(!reads.is_empty(), "{id} has datapoints");
            assert!(reads.iter().all(|r| *r == 0.0), "{id}: {reads:?}");
        }
    }
    // Attached volumes are in use by an instance the inventory lists, and are read from.
    let instances = json(&dir.join("inventory/describe-instances.json"));
    let ids: BTreeSet<&str> = instances["Reservations"]
        .as_array()
        .expect("Reservations")
        .iter()
        .flat_map(|r| r["Instances"].as_array().expect("Instances"))
        .map(|i| i["InstanceId"].as_str().expect("InstanceId"))
        .collect();
    let in_use: Vec<&&Value> = by_id.values().filter(|v| v["State"] == "in-use").collect();
    assert!(!in_use.is_empty());
    for v in in_use {
        let instance = v["Attachments"][0]["InstanceId"].as_str().expect("an attachment");
        assert!(ids.contains(instance), "{instance}");
        let id = v["VolumeId"].as_str().expect("VolumeId").to_string();
        let reads = &daily[&(id, "VolumeReadOps".to_string(), "Average".to_string())];
        assert!(reads.iter().all(|r| *r > 0.0), "{reads:?}");
    }
}

#[test]
fn every_billed_instance_is_in_the_inventory() {
    let dir = estate();
    let t = truth(dir);
    let mut billed = BTreeSet::new();
    for f in t["files"].as_array().expect("files") {
        let path = dir.join(f["path"].as_str().expect("a path"));
        let file = std::fs::File::open(&path).expect("a bill file");
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(file).expect("Parquet").build().expect("reader");
        for batch in reader {
            let batch = batch.expect("a batch");
            let ids = batch.column_by_name("line_item_resource_id").expect("the resource id column");
            let ids = ids.as_string::<i32>();
            for i in 0..ids.len() {
                if ids.is_valid(i) && ids.value(i).starts_with("i-") {
                    billed.insert(ids.value(i).to_string());
                }
            }
        }
    }
    assert!(billed.len() > 10, "{} billed instances", billed.len());
    let instances = json(&dir.join("inventory/describe-instances.json"));
    let mut listed = BTreeMap::new();
    for r in instances["Reservations"].as_array().expect("Reservations") {
        assert!(r["ReservationId"].as_str().expect("ReservationId").starts_with("r-0"));
        for i in r["Instances"].as_array().expect("Instances") {
            assert_eq!(i["Placement"]["AvailabilityZone"].as_str().map(|z| z.len() > 5), Some(true));
            listed.insert(i["InstanceId"].as_str().expect("InstanceId").to_string(), i.clone());
        }
    }
    for id in &billed {
        assert!(listed.contains_key(id), "{id} is billed but not in describe-instances");
    }
    let states: BTreeSet<&str> =
        listed.values().map(|i| i["State"]["Name"].as_str().expect("a state name")).collect();
    assert!(states.contains("running"), "{states:?}");
    // Each in-use volume is mapped on its instance, and the instance names it back.
    let volumes = json(&dir.join("inventory/describe-volumes.json"));
    let mut mapped = 0;
    for v in volumes["Volumes"].as_array().expect("Volumes") {
        let Some(instance) = v["Attachments"][0]["InstanceId"].as_str() else { continue };
        let i = &listed[instance];
        assert_ne!(i["State"]["Name"], "terminated", "{instance}");
        let ids: Vec<&str> = i["BlockDeviceMappings"]
            .as_array()
            .expect("BlockDeviceMappings")
            .iter()
            .map(|m| m["Ebs"]["VolumeId"].as_str().expect("VolumeId"))
            .collect();
        assert!(ids.contains(&v["VolumeId"].as_str().expect("VolumeId")), "{instance}: {ids:?}");
        mapped += 1;
    }
    assert!(mapped >= 5, "{mapped} volumes in use");
    for i in listed.values() {
        let (code, name) = (i["State"]["Code"].as_u64(), i["State"]["Name"].as_str());
        assert!(matches!(
            (code, name),
            (Some(16), Some("running")) | (Some(80), Some("stopped")) | (Some(48), Some("terminated"))
        ));
        if name == Some("terminated") {
            assert_eq!(i["BlockDeviceMappings"], Value::Array(Vec::new()), "{}", i["InstanceId"]);
        }
    }
}

#[test]
fn cmdb_lists_every_owned_account_once_and_no_shared_one() {
    let dir = estate();
    let t = truth(dir);
    let text = std::fs::read_to_string(dir.join("cmdb.csv")).expect("cmdb.csv");
    let rows = csv_rows(&text);
    let mut count: HashMap<&str, usize> = HashMap::new();
    for r in rows.iter().filter(|r| r["kind"] == "account") {
        *count.entry(r["id"].as_str()).or_default() += 1;
    }
    let accounts = t["organisation"]["accounts"].as_array().expect("accounts");
    let mut owned = 0;
    for a in accounts {
        let id = a["id"].as_str().expect("an id");
        if a["team"].is_null() {
            assert_eq!(count.get(id), None, "shared account {id} is in the CMDB");
        } else {
            owned += 1;
            assert_eq!(count.get(id), Some(&1), "account {id}");
            let row = rows.iter().find(|r| r["id"] == id).expect("its row");
            assert_eq!(row["team"], a["team"].as_str().expect("a team"));
            assert_eq!(row["business_unit"], a["business_unit"].as_str().expect("a business unit"));
        }
    }
    assert_eq!(count.len(), owned);
    assert!(owned >= 5, "{owned} owned accounts");
    // Resources: exactly those the estate says the CMDB knows, each under its true owner.
    let estate = costpilot_generate::estate::build(&options(42));
    let known: BTreeMap<&str, &str> = estate
        .resources
        .iter()
        .filter(|r| r.in_cmdb && !r.id.is_empty())
        .map(|r| (r.id.as_str(), estate.teams[r.owner.expect("CMDB resources have an owner")].name))
        .collect();
    let listed: BTreeMap<&str, &str> = rows
        .iter()
        .filter(|r| r["kind"] == "resource")
        .map(|r| (r["id"].as_str(), r["team"].as_str()))
        .collect();
    assert_eq!(listed, known);
}

#[test]
fn the_budget_set_to_be_overrun_is_overrun_by_the_bill() {
    let dir = estate();
    let t = truth(dir);
    let estate = costpilot_generate::estate::build(&options(42));
    let plan = budgets::plan(&estate);
    let over = plan.iter().find(|b| b.overrun).expect("one budget is set to be overrun");
    let unit = estate.business_units[over.business_unit].name;
    let yaml = std::fs::read_to_string(dir.join(budgets::PATH)).expect("budgets.yaml");
    assert!(yaml.contains(&format!("business_unit: \"{unit}\"")), "{unit} has a budget");
    // The range covers 20 of January's 31 days: its share of the month's budget.
    let (month, _, amount) = &over.months[0];
    assert_eq!(month, "2025-01");
    assert!(yaml.contains(&format!("amount: {amount:.2}")));
    let prorated = amount * 20.0 / 31.0;
    // Spend of the unit's teams (in USD at each payer's rate): a lower bound of the unit's spend,
    // which also counts resources nobody owns in the unit's accounts.
    let fx: HashMap<&str, f64> = t["organisation"]["payers"]
        .as_array()
        .expect("payers")
        .iter()
        .map(|p| (p["currency"].as_str().expect("a currency"), p["fx"].as_f64().expect("a rate")))
        .collect();
    let teams: BTreeSet<&str> = t["organisation"]["teams"]
        .as_array()
        .expect("teams")
        .iter()
        .filter(|x| x["business_unit"].as_u64() == Some(over.business_unit as u64))
        .map(|x| x["name"].as_str().expect("a name"))
        .collect();
    let spent: f64 = t["by_team"]
        .as_array()
        .expect("by_team")
        .iter()
        .filter(|x| x["team"].as_str().is_some_and(|n| teams.contains(n)))
        .map(|x| {
            let cost = x["effective_cost"].as_str().expect("a decimal").parse::<f64>().expect("a number");
            cost / fx[x["currency"].as_str().expect("a currency")]
        })
        .sum();
    assert!(spent > prorated, "{unit}: spent {spent:.2} of a prorated budget of {prorated:.2}");
}
