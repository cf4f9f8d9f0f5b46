//! The estate's other data: utilisation metrics, inventory, budgets, CMDB and business metrics.
//!
//! A real FinOps team never has only the bill: it also has CloudWatch metrics to judge waste by,
//! an inventory to check recommendations against, budgets finance set, a CMDB that says who owns
//! what, and the business's own volumes to compute unit costs with. These files give costpilot the
//! same, drawn from the same estate as the bill, so every figure in them agrees with the bill and
//! with truth.json.
//!
//! | file | what | module |
//! |---|---|---|
//! | `metrics/cloudwatch-daily.csv.gz` | daily Average and Maximum of every metric, whole range | [`metrics`] |
//! | `metrics/cloudwatch-hourly.csv.gz` | hourly Average and Maximum, last [`metrics::HOURLY_DAYS`] days | [`metrics`] |
//! | `inventory/describe-instances.json` | `aws ec2 describe-instances` output | [`inventory`] |
//! | `inventory/describe-volumes.json` | `aws ec2 describe-volumes` output | [`inventory`] |
//! | `budgets.yaml` | a monthly budget per business unit | [`budgets`] |
//! | `cmdb.csv` | owners of accounts and of some shared resources | [`cmdb`] |
//! | `business-metrics.csv` | requests, active customers and tokens served per application and day | [`business`] |
//!
//! Every file is deterministic (the same options give the same bytes: noise comes from
//! [`crate::rng::hash4`], arithmetic uses only `+ - * / sqrt` and tables) and is streamed to disk
//! row by row, so memory stays bounded by one resource's series, whatever the estate's size.

pub mod budgets;
pub mod business;
pub mod cmdb;
pub mod inventory;
pub mod metrics;

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::catalog::InstanceType;
use crate::error::GenerateError;
use crate::estate::{Estate, Resource};
use crate::rng::{hash4, mix, unit_of};

/// Writes every side file of the estate into `dir`; returns their paths.
pub fn write_all(estate: &Estate, dir: &Path) -> Result<Vec<PathBuf>, GenerateError> {
    let mut paths = metrics::write(estate, dir)?;
    paths.extend(inventory::write(estate, dir)?);
    paths.push(budgets::write(estate, dir)?);
    paths.push(cmdb::write(estate, dir)?);
    paths.push(business::write(estate, dir)?);
    Ok(paths)
}

/// Creates `dir/relative` (and its folders) for buffered writing.
pub(crate) fn create(dir: &Path, relative: &str) -> Result<(PathBuf, BufWriter<File>), GenerateError> {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| GenerateError::io(parent, e))?;
    }
    let file = File::create(&path).map_err(|e| GenerateError::io(&path, e))?;
    Ok((path, BufWriter::with_capacity(1 << 20, file)))
}

/// Flushes a buffered writer, naming `path` if that fails.
pub(crate) fn finish(path: &Path, mut w: BufWriter<File>) -> Result<(), GenerateError> {
    w.flush().map_err(|e| GenerateError::io(path, e))
}

/// Noise in [0, 1) for (resource or item `a`, purpose `b`, time `c`), independent of the bill's
/// noise (which hashes the bare seed) so that side files never shift the bill.
pub(crate) fn noise(e: &Estate, a: u64, b: u64, c: u64) -> f64 {
    unit_of(hash4(mix(e.options.seed, 0x51DE_CA25), a, b, c))
}

/// Whether resource `res` runs in hour `h`: alive, and inside office hours if it keeps them then
/// (by nature or by a remediation's schedule). The same rule the bill uses, so a metric exists
/// exactly when a usage line does.
pub(crate) fn running(e: &Estate, res: &Resource, h: u32) -> bool {
    if !res.alive(h) {
        return false;
    }
    !res.office_hours_at(h) || in_office_hours(e, h)
}

/// The instance type `res` runs as in hour `h`: a remediation's new type from its hour on.
pub(crate) fn instance_type_at(res: &Resource, h: u32) -> Option<&'static InstanceType> {
    match res.resized {
        Some((from, new)) if h >= from => Some(new),
        _ => res.instance_type,
    }
}

/// Weekdays 08:00–20:00 UTC, when office-hours instances run.
pub(crate) fn in_office_hours(e: &Estate, h: u32) -> bool {
    e.weekday(h) < 5 && (8..20).contains(&(h % 24))
}

/// `ms` since the epoch as ISO 8601 UTC with a `Z` (`2025-01-01T00:00:00Z`).
pub(crate) fn iso_z(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("estate times are in range")
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A CSV field, quoted only when it must be (a comma, quote or line break in it).
pub(crate) fn csv_field(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

/// Applications that have at least one resource of their own (account services aside): the ones
/// side files describe, since an application with no infrastructure has no usage either.
pub(crate) fn applications_in_use(e: &Estate) -> Vec<bool> {
    let mut used = vec![false; e.applications.len()];
    for r in &e.resources {
        if r.kind != crate::estate::ResourceKind::AccountServices {
            used[r.application] = true;
        }
    }
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("Data & AI"), "Data & AI");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn iso_timestamps_end_in_z() {
        assert_eq!(iso_z(1_735_689_600_000), "2025-01-01T00:00:00Z");
    }
}
