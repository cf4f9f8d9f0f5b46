//! The CMDB export, `cmdb.csv`: who owns each account, and each shared resource the CMDB knows.
//!
//! Columns: `kind,id,owner,team,business_unit,cost_centre,application,environment,criticality`.
//!
//! - `kind = account`: one row per account a team owns (shared and management accounts are owned
//!   by nobody alone and are not listed). `application` is the application most of the account's
//!   resources serve (the team's first application for an empty account).
//! - `kind = resource`: one row per resource the CMDB lists by id ([`crate::estate::Resource::in_cmdb`]:
//!   untagged resources in shared accounts), naming its true owner team; the only way to allocate
//!   them, which is why the CMDB matters.
//!
//! `owner` is the team's owner as a CMDB names people (an e-mail address), `environment` the
//! account's canonical environment, `criticality` the application's (`high`, `medium`, `low`).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{create, csv_field, finish};
use crate::error::GenerateError;
use crate::estate::{Criticality, Estate, ResourceKind};

/// The file, inside the output folder.
pub const PATH: &str = "cmdb.csv";
/// Its header row.
pub const HEADER: &str = "kind,id,owner,team,business_unit,cost_centre,application,environment,criticality";

fn criticality(c: Criticality) -> &'static str {
    match c {
        Criticality::High => "high",
        Criticality::Medium => "medium",
        Criticality::Low => "low",
    }
}

/// Per account, the application most of its resources serve (ties to the lower index, so the
/// choice is stable); the owning team's first application for an account without resources.
pub fn main_applications(e: &Estate) -> Vec<usize> {
    let apps = e.applications.len();
    let mut counts = vec![0u32; e.accounts.len() * apps];
    for r in &e.resources {
        if r.kind != ResourceKind::AccountServices {
            counts[r.account * apps + r.application] += 1;
        }
    }
    (0..e.accounts.len())
        .map(|a| {
            let row = &counts[a * apps..(a + 1) * apps];
            let team = e.accounts[a].team;
            let first = (0..apps).find(|x| Some(e.applications[*x].team) == team).unwrap_or(0);
            (0..apps)
                .filter(|x| row[*x] > 0)
                .max_by_key(|x| (row[*x], std::cmp::Reverse(*x)))
                .unwrap_or(first)
        })
        .collect()
}

/// Writes `cmdb.csv` into `dir`; returns its path.
pub fn write(e: &Estate, dir: &Path) -> Result<PathBuf, GenerateError> {
    let (path, mut w) = create(dir, PATH)?;
    let io = |err| GenerateError::io(dir.join(PATH), err);
    writeln!(w, "{HEADER}").map_err(io)?;
    let mut line = |kind: &str, id: &str, team: usize, app: usize, env: &str| {
        let t = &e.teams[team];
        let bu = &e.business_units[t.business_unit];
        let a = &e.applications[app];
        writeln!(
            w,
            "{kind},{},{},{},{},{},{},{env},{}",
            csv_field(id),
            csv_field(&t.owner),
            csv_field(t.name),
            csv_field(bu.name),
            csv_field(&bu.cost_centre),
            csv_field(a.name),
            criticality(a.criticality)
        )
    };
    let main = main_applications(e);
    for (a, acct) in e.accounts.iter().enumerate() {
        if let Some(team) = acct.team {
            line("account", &acct.id, team, main[a], acct.environment.canonical()).map_err(io)?;
        }
    }
    for r in &e.resources {
        if let (true, Some(team), false) = (r.in_cmdb, r.owner, r.id.is_empty()) {
            line("resource", &r.id, team, r.application, e.accounts[r.account].environment.canonical())
                .map_err(io)?;
        }
    }
    finish(&path, w)?;
    Ok(path)
}
