//! Business volumes per application and day, `business-metrics.csv`, for unit costs (cost per
//! request, per customer, per thousand tokens).
//!
//! Columns: `name,timestamp,application,value`; `timestamp` is the UTC day's start (ISO 8601, `Z`)
//! and `value` a whole number. Names:
//!
//! - `requests`: requests the application served that day;
//! - `active_customers`: distinct customers that used it;
//! - `tokens_served`: tokens its generative-AI features consumed and produced (applications with
//!   Bedrock usage only).
//!
//! Every application with infrastructure of its own gets rows from the first day it has any. The
//! volumes move as the bill's usage does: the same weekly shape, the growth of the accounts the
//! application runs in, and a level shift at each of its releases (blended over the release day);
//! a token explosion multiplies the tokens served from its start, as it multiplies the bill's
//! token meters, while requests stay where they were — exactly what a unit-cost view should catch.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{applications_in_use, create, csv_field, finish, iso_z, noise};
use crate::error::GenerateError;
use crate::estate::{Criticality, Estate, EventKind, HOUR_MS, ResourceKind};

/// The file, inside the output folder.
pub const PATH: &str = "business-metrics.csv";
/// Its header row.
pub const HEADER: &str = "name,timestamp,application,value";

// The bill's weekly shape, so business metrics and usage move together.
use crate::lines::WEEKLY;

/// What is fixed about one application's volumes.
struct App {
    index: usize,
    first_day: u32,
    daily_growth: f64,
    requests: f64,
    requests_per_customer: f64,
    tokens_per_request: Option<f64>,
    /// Releases: (hour, product of the release factors so far), in time order.
    releases: Vec<(u32, f64)>,
    /// Token explosions: (start hour, product of their factors on tokens served so far).
    explosions: Vec<(u32, f64)>,
}

/// Running products of `(hour, factor)` steps in time order: the level from each hour on.
fn compound(mut steps: Vec<(u32, f64)>) -> Vec<(u32, f64)> {
    steps.sort_by_key(|s| s.0);
    let mut f = 1.0;
    steps
        .into_iter()
        .map(|(h, x)| {
            f *= x;
            (h, f)
        })
        .collect()
}

fn apps(e: &Estate) -> Vec<App> {
    let used = applications_in_use(e);
    let n = e.applications.len();
    let mut first = vec![u32::MAX; n];
    let mut growth = vec![(0.0f64, 0u32); n];
    let mut genai = vec![false; n];
    for r in &e.resources {
        if r.kind == ResourceKind::AccountServices {
            continue;
        }
        let a = r.application;
        first[a] = first[a].min(r.start_hour / 24);
        growth[a].0 += e.accounts[r.account].growth;
        growth[a].1 += 1;
        genai[a] |= r.kind == ResourceKind::ModelProfile;
    }
    (0..n)
        .filter(|a| used[*a])
        .map(|a| {
            let u = noise(e, a as u64, 0xB5_01, 0);
            let requests = match e.applications[a].criticality {
                Criticality::High => 200_000.0 + 4_800_000.0 * u * u,
                Criticality::Medium => 20_000.0 + 480_000.0 * u * u,
                Criticality::Low => 1_000.0 + 49_000.0 * u * u,
            };
            let explosions = e
                .events
                .iter()
                .filter(|ev| {
                    ev.kind == EventKind::TokenExplosion && e.resources[ev.resource].application == a
                })
                // Input tokens grow by a quarter of the multiplier, output tokens (a fifth of all
                // tokens) by all of it, as on the bill.
                .map(|ev| (ev.start_hour, 0.8 * (1.0 + (ev.multiplier - 1.0) * 0.25) + 0.2 * ev.multiplier))
                .collect();
            let releases =
                e.releases.iter().filter(|r| r.application == a).map(|r| (r.hour, r.factor)).collect();
            App {
                index: a,
                first_day: first[a],
                daily_growth: 1.0 + growth[a].0 / f64::from(growth[a].1.max(1)) / 30.0,
                requests,
                requests_per_customer: 12.0 + 30.0 * noise(e, a as u64, 0xB5_02, 0),
                tokens_per_request: genai[a].then(|| 600.0 + 2_000.0 * noise(e, a as u64, 0xB5_03, 0)),
                releases: compound(releases),
                explosions: compound(explosions),
            }
        })
        .collect()
}

/// Mean over day `d`'s hours of a level that changes at given hours: `steps` are `(hour, new
/// level)` in time order from `*next` on; `current` and `next` are left at the day's close.
fn day_level(d: u32, current: &mut f64, steps: &[(u32, f64)], next: &mut usize) -> f64 {
    let (start, end) = (d * 24, d * 24 + 24);
    let mut acc = 0.0;
    let mut last = start;
    while let Some((h, f)) = steps.get(*next).copied() {
        if h >= end {
            break;
        }
        let h = h.max(start);
        acc += *current * f64::from(h - last);
        *current = f;
        last = h;
        *next += 1;
    }
    acc += *current * f64::from(end - last);
    acc / 24.0
}

/// Writes `business-metrics.csv` into `dir`; returns its path.
pub fn write(e: &Estate, dir: &Path) -> Result<PathBuf, GenerateError> {
    let (path, mut w) = create(dir, PATH)?;
    let io = |err| GenerateError::io(dir.join(PATH), err);
    writeln!(w, "{HEADER}").map_err(io)?;
    let apps = apps(e);
    let mut growth = vec![1.0f64; apps.len()];
    let mut release = vec![(1.0f64, 0usize); apps.len()];
    let mut tokens = vec![(1.0f64, 0usize); apps.len()];
    let week_mean = WEEKLY.iter().sum::<f64>() / 7.0;
    for d in 0..e.options.days {
        let ts = iso_z(e.start_ms + i64::from(d) * 24 * HOUR_MS);
        let week = WEEKLY[e.weekday(d * 24) as usize] / week_mean;
        for (k, app) in apps.iter().enumerate() {
            let a = app.index;
            let (level, next) = &mut release[k];
            let shift = day_level(d, level, &app.releases, next);
            let (level, next) = &mut tokens[k];
            let boom = day_level(d, level, &app.explosions, next);
            if d >= app.first_day {
                let n = |b: u64| 0.95 + 0.1 * noise(e, a as u64, b, u64::from(d));
                let requests = app.requests * week * growth[k] * shift * n(0xB5_10);
                let name = csv_field(e.applications[a].name);
                writeln!(w, "requests,{ts},{name},{:.0}", requests).map_err(io)?;
                // Customers swing less over the week than their requests do.
                let customers = app.requests / app.requests_per_customer
                    * (1.0 + (week - 1.0) * 0.6)
                    * growth[k]
                    * shift.sqrt()
                    * n(0xB5_11);
                writeln!(w, "active_customers,{ts},{name},{:.0}", customers).map_err(io)?;
                if let Some(tpr) = app.tokens_per_request {
                    writeln!(w, "tokens_served,{ts},{name},{:.0}", requests * tpr * boom * n(0xB5_12))
                        .map_err(io)?;
                }
            }
            growth[k] *= app.daily_growth;
        }
    }
    finish(&path, w)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_inside_the_day_is_blended_by_hours() {
        let steps = compound(vec![(30, 2.0), (60, 1.5)]);
        assert_eq!(steps, vec![(30, 2.0), (60, 3.0)]);
        let (mut f, mut next) = (1.0, 0);
        assert_eq!(day_level(0, &mut f, &steps, &mut next), 1.0);
        // From 1.0 to 2.0 at 06:00 on day 1: 6 hours at 1, 18 at 2.
        let level = day_level(1, &mut f, &steps, &mut next);
        assert!((level - (6.0 + 36.0) / 24.0).abs() < 1e-12, "{level}");
        assert_eq!((f, next), (2.0, 1));
        // Then to 3.0 at 12:00 on day 2.
        let level = day_level(2, &mut f, &steps, &mut next);
        assert!((level - (24.0 + 36.0) / 24.0).abs() < 1e-12, "{level}");
        assert_eq!(day_level(3, &mut f, &steps, &mut next), 3.0);
    }
}
