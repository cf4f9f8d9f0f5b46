//! CloudWatch-shaped utilisation metrics of every EC2 instance and EBS volume, in costpilot's
//! long metrics CSV (`resource_id,timestamp,metric_name,statistic,value,unit`, gzip-compressed;
//! documented in `docs/metrics.md`).
//!
//! Two files, because the long format has no period column and a daily and an hourly Average of
//! the same metric would otherwise share a timestamp at midnight and be indistinguishable:
//!
//! - [`DAILY_PATH`]: one Average and one Maximum per metric and UTC day, for the whole range;
//! - [`HOURLY_PATH`]: one Average and one Maximum per metric and hour, for the last
//!   [`HOURLY_DAYS`] days of the range only (what rightsizing looks at, and Compute Optimizer's
//!   default look-back), which keeps the files a fraction of the bill's size.
//!
//! Datapoints exist only for hours a resource runs (its lifetime and, for office-hours instances,
//! weekdays 08:00–20:00 UTC), exactly the hours the bill charges for it. A daily Average is the
//! mean of its hours' Averages and a daily Maximum the largest hourly Maximum, as CloudWatch
//! aggregates over a longer period. Values follow the resource's [`Pattern`] around its
//! `cpu_mean`, with the daily peak near `cpu_peak`: an idle instance's Maximum stays below 5 %, an
//! oversized one's below 20 %, a spiky fleet's goes high once a day while its Average stays low.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;

use super::{create, instance_type_at, iso_z, noise, running};
use crate::error::GenerateError;
use crate::estate::{Estate, HOUR_MS, Pattern, Resource, ResourceKind};
use crate::rng::{hash4, mix};

/// Days at the end of the range that get hourly datapoints.
pub const HOURLY_DAYS: u32 = 14;
/// Daily datapoints of the whole range, inside the output folder.
pub const DAILY_PATH: &str = "metrics/cloudwatch-daily.csv.gz";
/// Hourly datapoints of the last [`HOURLY_DAYS`] days, inside the output folder.
pub const HOURLY_PATH: &str = "metrics/cloudwatch-hourly.csv.gz";
/// The header row of both files.
pub const HEADER: &str = "resource_id,timestamp,metric_name,statistic,value,unit";

/// One metric as CloudWatch names it, with its unit and how many decimals the file keeps.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    /// Metric name (`CPUUtilization`; CloudWatch agent metrics in their own spelling).
    pub name: &'static str,
    /// CloudWatch unit name.
    pub unit: &'static str,
    /// Decimals written.
    pub decimals: usize,
}

/// EC2 CPU, percent of the instance's vCPUs (namespace AWS/EC2).
pub const CPU: Metric = Metric { name: "CPUUtilization", unit: "Percent", decimals: 2 };
/// Bytes received per 5-minute sample (AWS/EC2 basic monitoring).
pub const NETWORK_IN: Metric = Metric { name: "NetworkIn", unit: "Bytes", decimals: 0 };
/// Bytes sent per 5-minute sample (AWS/EC2 basic monitoring).
pub const NETWORK_OUT: Metric = Metric { name: "NetworkOut", unit: "Bytes", decimals: 0 };
/// Memory in use, percent, as the CloudWatch agent reports it (namespace CWAgent).
pub const MEMORY: Metric = Metric { name: "mem_used_percent", unit: "Percent", decimals: 2 };
/// GPU utilisation, percent, as the CloudWatch agent's nvidia_gpu plugin reports it.
pub const GPU: Metric = Metric { name: "nvidia_smi_utilization_gpu", unit: "Percent", decimals: 2 };
/// EBS read operations per 1-minute sample (AWS/EBS).
pub const READ_OPS: Metric = Metric { name: "VolumeReadOps", unit: "Count", decimals: 2 };
/// EBS write operations per 1-minute sample (AWS/EBS).
pub const WRITE_OPS: Metric = Metric { name: "VolumeWriteOps", unit: "Count", decimals: 2 };
/// Seconds of each 1-minute sample with no operation on the volume (AWS/EBS).
pub const IDLE_TIME: Metric = Metric { name: "VolumeIdleTime", unit: "Seconds", decimals: 2 };

/// The statistics written, in file order.
pub const STATISTICS: [&str; 2] = ["Average", "Maximum"];

/// Metrics an instance or volume can have; a [`Sample`] holds one [`Point`] per slot.
const SLOTS: usize = 5;

/// Average and Maximum of one metric over one period.
#[derive(Debug, Clone, Copy, Default)]
pub struct Point {
    /// Average of the samples.
    pub avg: f64,
    /// Largest sample.
    pub max: f64,
}

/// One hour of a resource: a [`Point`] per metric slot (instances: CPU, NetworkIn, NetworkOut,
/// memory, GPU; volumes: read ops, write ops, idle time); NaN where a slot has no datapoint.
pub type Sample = [Point; SLOTS];

// The bill's daily and weekly shapes, so metrics and usage move together.
use crate::lines::{BATCH, DIURNAL, WEEKLY};

// Noise purposes (the second word of the hash).
const N_CPU: u64 = 1;
const N_CPU_MAX: u64 = 2;
const N_NET: u64 = 3;
const N_NET_MAX: u64 = 4;
const N_MEM: u64 = 5;
const N_GPU: u64 = 6;
const N_DISK: u64 = 7;
const N_DISK_MAX: u64 = 8;
const N_SPIKE_HOUR: u64 = 9;

/// The metrics resource `res` reports, in slot order (`None`: a slot it does not report; all
/// `None` for kinds the files have no metrics of).
pub fn metrics_of(res: &Resource) -> [Option<Metric>; SLOTS] {
    match res.kind {
        ResourceKind::Instance => {
            let gpus =
                res.instance_type.is_some_and(|t| t.gpus > 0) || res.resized.is_some_and(|(_, t)| t.gpus > 0);
            [
                Some(CPU),
                Some(NETWORK_IN),
                Some(NETWORK_OUT),
                res.utilisation.memory_agent.then_some(MEMORY),
                gpus.then_some(GPU),
            ]
        }
        ResourceKind::Volume => [Some(READ_OPS), Some(WRITE_OPS), Some(IDLE_TIME), None, None],
        _ => [None; SLOTS],
    }
}

/// CPU of instance `r` in hour `h` (which it runs in): Average and Maximum, percent.
pub fn cpu(e: &Estate, r: usize, h: u32) -> Point {
    let res = &e.resources[r];
    let u = &res.utilisation;
    let (mean, peak) = (u.cpu_mean, u.cpu_peak);
    let n1 = noise(e, r as u64, N_CPU, u64::from(h));
    let n2 = noise(e, r as u64, N_CPU_MAX, u64::from(h));
    let hod = (h % 24) as usize;
    let dow = e.weekday(h) as usize;
    let week = WEEKLY[dow] * 7.0 / WEEKLY.iter().sum::<f64>();
    let (avg, max) = match u.pattern {
        Pattern::Idle => {
            // Kept under the drawn peak (at most 2.5 × a mean below 2 %) with room for rounding.
            let avg = mean * (0.6 + 0.8 * n1);
            (avg, avg + (peak * 0.98 - avg).max(0.0) * n2 * n2)
        }
        Pattern::Steady => {
            // An oversized instance is steady with a peak drawn below 20 %: never above it.
            let avg = mean * (0.92 + 0.16 * n1);
            (avg, avg + (peak - avg).max(0.0) * (0.3 + 0.7 * n2))
        }
        Pattern::Diurnal | Pattern::Batch => {
            let table = if u.pattern == Pattern::Batch { &BATCH } else { &DIURNAL };
            let level = table[hod] * 24.0 / table.iter().sum::<f64>() * week;
            let avg = mean * level * (0.93 + 0.14 * n1);
            (avg, avg * (1.05 + 0.15 * n2))
        }
        Pattern::Spiky => {
            // A fleet sized for one short daily peak: a low base, then an hour near the peak.
            let spike = 9 + (hash4(mix(e.options.seed, 0x5B1C), r as u64, N_SPIKE_HOUR, 0) % 9) as usize;
            if hod == spike {
                (mean * (2.5 + 1.5 * n1), peak * (0.92 + 0.08 * n2))
            } else if hod == spike + 1 {
                (mean * (1.2 + 0.6 * n1), peak * (0.5 + 0.3 * n2))
            } else {
                let avg = mean * (0.6 + 0.3 * n1);
                (avg, avg * (1.3 + 0.7 * n2))
            }
        }
    };
    // The same work on a rightsized instance keeps fewer vCPUs busier.
    let squeeze = match (res.instance_type, instance_type_at(res, h)) {
        (Some(old), Some(now)) if now.vcpu > 0 => f64::from(old.vcpu) / f64::from(now.vcpu),
        _ => 1.0,
    };
    let avg = (avg * squeeze).clamp(0.0, 100.0);
    Point { avg, max: (max * squeeze).clamp(avg, 100.0) }
}

/// Every metric of instance `r` in hour `h`, or `None` when it does not run then.
pub fn instance_sample(e: &Estate, r: usize, h: u32) -> Option<Sample> {
    let res = &e.resources[r];
    if !running(e, res, h) {
        return None;
    }
    let it = instance_type_at(res, h)?;
    let c = cpu(e, r, h);
    let (r64, h64) = (r as u64, u64::from(h));
    // Traffic follows load in absolute terms, so an idle instance barely talks to anyone.
    let level = c.avg / 40.0;
    let facing = if res.internet_facing { 4.0 } else { 1.0 };
    // Traffic is the workload's, whatever size it runs on: sized by the original type.
    let size = res.instance_type.unwrap_or(it).normalization_factor();
    let base = size * 1.5e6 * facing * res.scale;
    let n = |k: u64| noise(e, r64, N_NET * 16 + k, h64);
    let net_in = base * level * (0.8 + 0.4 * n(0));
    let net_out = net_in * if res.internet_facing { 1.6 } else { 0.7 } * (0.8 + 0.4 * n(1));
    let spread = |k: u64| 1.3 + 1.2 * noise(e, r64, N_NET_MAX * 16 + k, h64);
    let memory = {
        let u = &res.utilisation;
        let m = noise(e, r64, N_MEM, h64);
        let avg = (u.memory_mean * (0.97 + 0.06 * m) + 0.05 * (c.avg - u.cpu_mean)).clamp(1.0, 99.0);
        Point { avg, max: (avg + 1.0 + 6.0 * noise(e, r64, N_MEM + 16, h64)).min(99.5) }
    };
    let gpu = if it.gpus == 0 {
        // No GPU (a GPU instance rightsized to a type without one): no datapoint.
        Point { avg: f64::NAN, max: f64::NAN }
    } else {
        let g = noise(e, r64, N_GPU, h64);
        let avg = if res.utilisation.pattern == Pattern::Idle {
            c.avg * 0.3
        } else {
            (c.avg * 1.4 * (0.9 + 0.2 * g)).min(100.0)
        };
        Point { avg, max: (avg * (1.2 + 0.5 * noise(e, r64, N_GPU + 16, h64))).clamp(avg, 100.0) }
    };
    Some([
        c,
        Point { avg: net_in, max: net_in * spread(0) },
        Point { avg: net_out, max: net_out * spread(1) },
        memory,
        gpu,
    ])
}

/// Every metric of volume `v` in hour `h`: zero operations while it is attached to nothing, its
/// instance's activity while attached, `None` while its instance is stopped or it does not exist.
pub fn volume_sample(e: &Estate, v: usize, h: u32) -> Option<Sample> {
    let vol = &e.resources[v];
    if !vol.alive(h) {
        return None;
    }
    let idle = Point { avg: 60.0, max: 60.0 };
    let Some(i) = vol.attached_to else {
        return Some([Point::default(), Point::default(), idle, Point::default(), Point::default()]);
    };
    let inst = instance_sample(e, i, h)?;
    let (v64, h64) = (v as u64, u64::from(h));
    // Operations per minute: a floor for the OS and logs, more for bigger volumes and busier hosts.
    let base = 60.0 * (2.0 + vol.size_gb * 0.05) * (0.02 + inst[0].avg / 50.0);
    let n = |k: u64| noise(e, v64, N_DISK * 16 + k, h64);
    let m = |k: u64| 1.5 + 1.5 * noise(e, v64, N_DISK_MAX * 16 + k, h64);
    let reads = base * (0.4 + 0.3 * n(0));
    let writes = base * (0.6 + 0.4 * n(1));
    let (read_max, write_max) = (reads * m(0), writes * m(1));
    // A volume is busy for a share of each minute that grows with its operations.
    let busy = ((reads + writes) / 100.0).min(57.0);
    let idle_avg = 60.0 - busy;
    let idle_max = idle_avg + (60.0 - idle_avg) * 0.8;
    Some([
        Point { avg: reads, max: read_max },
        Point { avg: writes, max: write_max },
        Point { avg: idle_avg, max: idle_max },
        Point::default(),
        Point::default(),
    ])
}

type GzFile = BufWriter<GzEncoder<BufWriter<File>>>;

fn gz(dir: &Path, relative: &str) -> Result<(PathBuf, GzFile), GenerateError> {
    let (path, file) = create(dir, relative)?;
    // Level 6 (gzip's default): at the default size level 1 saves under half a second of
    // compression but writes files 15 % bigger.
    let mut w = BufWriter::with_capacity(1 << 20, GzEncoder::new(file, Compression::new(6)));
    writeln!(w, "{HEADER}").map_err(|e| GenerateError::io(&path, e))?;
    Ok((path, w))
}

fn close(path: &Path, w: GzFile) -> Result<(), GenerateError> {
    let gz = w.into_inner().map_err(|e| GenerateError::io(path, e.into_error()))?;
    let mut file = gz.finish().map_err(|e| GenerateError::io(path, e))?;
    file.flush().map_err(|e| GenerateError::io(path, e))
}

fn row(w: &mut impl Write, id: &str, ts: &str, m: &Metric, stat: &str, value: f64) -> std::io::Result<()> {
    writeln!(w, "{id},{ts},{},{stat},{value:.prec$},{}", m.name, m.unit, prec = m.decimals)
}

/// Writes both metrics files into `dir`; returns their paths (daily, hourly).
pub fn write(e: &Estate, dir: &Path) -> Result<Vec<PathBuf>, GenerateError> {
    let (daily_path, mut daily) = gz(dir, DAILY_PATH)?;
    let (hourly_path, mut hourly) = gz(dir, HOURLY_PATH)?;
    let days = e.options.days;
    let first_hourly = e.hours.saturating_sub(HOURLY_DAYS * 24);
    let day_ts: Vec<String> = (0..days).map(|d| iso_z(e.start_ms + i64::from(d) * 24 * HOUR_MS)).collect();
    let hour_ts: Vec<String> = (first_hourly..e.hours).map(|h| iso_z(e.hour_ms(h))).collect();
    // One resource's series at a time: memory is bounded by the range, not the estate.
    let mut series: Vec<Option<Sample>> = Vec::with_capacity(e.hours as usize);
    for (r, res) in e.resources.iter().enumerate() {
        let metrics = metrics_of(res);
        if metrics.iter().all(Option::is_none) || res.start_hour >= res.end_hour {
            continue;
        }
        series.clear();
        series.extend((0..e.hours).map(|h| match res.kind {
            ResourceKind::Instance => instance_sample(e, r, h),
            _ => volume_sample(e, r, h),
        }));
        let id = super::csv_field(&res.id);
        for (slot, metric) in metrics.iter().enumerate() {
            let Some(metric) = metric else { continue };
            for (s, stat) in STATISTICS.iter().enumerate() {
                let pick = |p: &Sample| if s == 0 { p[slot].avg } else { p[slot].max };
                for d in res.start_hour / 24..days.min(res.end_hour.div_ceil(24)) {
                    let hours = &series[(d * 24) as usize..((d + 1) * 24) as usize];
                    let mut n = 0u32;
                    let mut acc = 0.0f64;
                    for x in hours.iter().flatten().map(pick).filter(|x| !x.is_nan()) {
                        n += 1;
                        acc = if s == 0 { acc + x } else { acc.max(x) };
                    }
                    if n > 0 {
                        let value = if s == 0 { acc / f64::from(n) } else { acc };
                        row(&mut daily, &id, &day_ts[d as usize], metric, stat, value)
                            .map_err(|e| GenerateError::io(&daily_path, e))?;
                    }
                }
                for h in first_hourly.max(res.start_hour)..e.hours.min(res.end_hour) {
                    if let Some(x) = series[h as usize].as_ref().map(pick).filter(|x| !x.is_nan()) {
                        let ts = &hour_ts[(h - first_hourly) as usize];
                        row(&mut hourly, &id, ts, metric, stat, x)
                            .map_err(|e| GenerateError::io(&hourly_path, e))?;
                    }
                }
            }
        }
    }
    close(&daily_path, daily)?;
    close(&hourly_path, hourly)?;
    Ok(vec![daily_path, hourly_path])
}
