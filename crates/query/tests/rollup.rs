//! Rollups and the planner: for many random requests, the answer through the planner equals the
//! lake's answer row for row, and the planner uses a rollup whenever one answers exactly; rollups
//! go stale when the lake or the rules change and scopes restrict them exactly as the lake.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Row, batch, row, source};
use costpilot_lake::Lake;
use costpilot_model::{index_of, parse_timestamp_micros};
use costpilot_query::rollup;
use costpilot_query::semantic::{
    self, CostResult, Dimension, Filter, Grain, Metric, Page, Request, TimeRange,
};
use costpilot_query::{LakeSession, Scope, Sessions, open_lake};
use costpilot_rules::store::{self as dimensions, RulesKind};
use datafusion::arrow::array::{ArrayRef, AsArray, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::TimestampMicrosecondType;

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// A deterministic LCG (Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Commits `rows` with each row's charge moved `hours[i]` hours into its day.
fn ingest_hours(lake: &Lake, name: &str, rows: &[Row], hours: &[i64]) {
    let b = batch(rows);
    let at = index_of("ChargePeriodStart");
    let starts = b.column(at).as_primitive::<TimestampMicrosecondType>();
    let moved: ArrayRef = Arc::new(
        TimestampMicrosecondArray::from_iter_values(
            (0..b.num_rows()).map(|i| starts.value(i) + hours[i] * HOUR),
        )
        .with_timezone("UTC"),
    );
    let mut columns = b.columns().to_vec();
    columns[at] = moved;
    let b = datafusion::arrow::array::RecordBatch::try_new(b.schema(), columns).unwrap();
    let mut txn = lake.begin().unwrap();
    txn.write(b, &source(name)).unwrap();
    txn.commit().unwrap();
}

const SERVICES: [&str; 5] = ["EC2", "Storage", "Lambda", "RDS", "VM"];
const TEAMS: [&str; 4] = ["payments", "search", "Payments ", "data"];

/// Two providers, four accounts, two currencies, three months, charges at many hours, tags with
/// varying spellings and some untagged rows.
fn lake(dir: &Path) -> Lake {
    let lake = open_lake(dir).unwrap();
    let mut rng = Lcg(7);
    for (provider, accounts, currency) in
        [("AWS", ["111", "222"], "USD"), ("Microsoft", ["ea-1", "ea-2"], "EUR")]
    {
        for period in ["2024-08", "2024-09", "2024-10"] {
            let mut rows = Vec::new();
            let mut hours = Vec::new();
            for i in 0..40 {
                let account = accounts[rng.below(2)];
                let cents = rng.below(100_000) as i64 - 5_000;
                let amount = format!("{}.{:02}", cents / 100, (cents % 100).abs());
                let amount = if cents < 0 && cents > -100 { format!("-{amount}") } else { amount };
                let mut r = row(provider, account, period, currency, &amount)
                    .day(1 + rng.below(28) as u32)
                    .service(SERVICES[rng.below(SERVICES.len())]);
                if rng.chance(30) {
                    r = r.effective(&format!("{}.{:03}", rng.below(500), rng.below(1000)));
                }
                match rng.below(4) {
                    0 => {}
                    1 => r = r.tags(&[("team", TEAMS[rng.below(TEAMS.len())])]),
                    2 => r = r.tags(&[("Team", TEAMS[rng.below(TEAMS.len())]), ("env", "prod")]),
                    _ => r = r.tags(&[("squad", "search"), ("env", "dev")]),
                }
                rows.push(r);
                hours.push(if i % 3 == 0 { 0 } else { rng.below(24) as i64 });
            }
            ingest_hours(&lake, &format!("{provider}-{period}"), &rows, &hours);
        }
    }
    lake
}

fn at(text: &str) -> i64 {
    parse_timestamp_micros(text).unwrap()
}

/// Every page's rows of a request (pages of 7 rows, so paging is exercised too).
async fn all_rows(session: &LakeSession, request: &Request, raw: bool) -> (Vec<CostResult>, String) {
    let mut out = Vec::new();
    let mut offset = Some(0u64);
    let mut source = String::new();
    while let Some(o) = offset {
        let r = Request { page: Some(Page { size: 7, offset: o as usize }), ..request.clone() };
        let result = match raw {
            true => semantic::run_raw(session, &r).await,
            false => semantic::run(session, &r).await,
        }
        .unwrap_or_else(|e| panic!("{r:?}: {e}"));
        offset = result.next_offset;
        source = result.source.clone();
        out.push(result);
    }
    (out, source)
}

/// Asserts the planner's answer equals the lake's; returns the planner's source.
async fn same(session: &LakeSession, request: &Request) -> String {
    let (planned, source) = all_rows(session, request, false).await;
    let (raw, raw_source) = all_rows(session, request, true).await;
    assert_eq!(raw_source, "raw");
    let rows = |rs: &[CostResult]| rs.iter().flat_map(|r| r.rows.clone()).collect::<Vec<_>>();
    assert_eq!(rows(&planned), rows(&raw), "{request:?} via {source}");
    assert_eq!(
        planned.iter().map(|r| r.total_rows).collect::<Vec<_>>(),
        raw.iter().map(|r| r.total_rows).collect::<Vec<_>>()
    );
    source
}

/// Dimensions some rollup has: (name, in daily_accounts, in daily_dimensions, in hourly_accounts,
/// in daily_resources).
const DIMENSIONS: [(&str, bool, bool, bool, bool); 13] = [
    ("provider", true, false, false, false),
    ("billing_account", true, false, false, false),
    ("account", true, false, true, true),
    ("service", true, true, true, true),
    ("service_category", true, false, false, false),
    ("region", true, false, false, false),
    ("charge_category", true, false, false, false),
    ("currency", true, true, true, true),
    ("instance_type", true, false, false, false),
    ("team", false, true, false, true),
    ("tag:team", false, true, false, true),
    ("environment", false, true, false, true),
    ("resource", false, false, false, true),
];

fn random_request(rng: &mut Lcg) -> Request {
    let mut group_by: Vec<Dimension> = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for _ in 0..rng.below(3) {
        let (name, ..) = DIMENSIONS[rng.below(DIMENSIONS.len())];
        let d: Dimension = name.parse().unwrap();
        let both_teams = name.contains("team") && names.iter().any(|n| n.contains("team"));
        if !group_by.contains(&d) && !both_teams {
            group_by.push(d);
            names.push(name);
        }
    }
    if rng.chance(15) && !names.contains(&"resource") {
        group_by.push("resource".parse().unwrap());
    }
    let mut filters: Vec<Filter> = Vec::new();
    if rng.chance(30) {
        let options = [
            "service=EC2",
            "service=EC2,VM,Storage",
            "currency=USD",
            "team^pay",
            "account=222",
            "environment=prod",
            "region=us-east-1",
            "tag:env=dev",
        ];
        filters.push(options[rng.below(options.len())].parse().unwrap());
    }
    let grain =
        [None, Some(Grain::Hour), Some(Grain::Day), Some(Grain::Week), Some(Grain::Month)][rng.below(5)];
    let range = match rng.below(4) {
        0 => None,
        1 => {
            // Hour-aligned, not always day-aligned.
            let start = at("2024-08-20") + rng.below(24 * 60) as i64 * HOUR;
            Some(TimeRange::new(start, start + (1 + rng.below(24 * 20)) as i64 * HOUR).unwrap())
        }
        _ => {
            let start = at("2024-07-25") + rng.below(90) as i64 * DAY;
            Some(TimeRange::new(start, start + (1 + rng.below(45)) as i64 * DAY).unwrap())
        }
    };
    let top = (!group_by.is_empty() && rng.chance(30)).then(|| 1 + rng.below(3));
    let compare = range.is_some() && rng.chance(20);
    let metric = Metric::ALL[rng.below(Metric::ALL.len())];
    Request { metric, group_by, filters, range, grain, top, compare, ..Request::default() }
}

/// Whether some rollup answers the request exactly, by the rule of [`rollup`], computed here
/// from the dimension table independently of the planner.
fn answerable(request: &Request) -> bool {
    let mut dims: Vec<String> = request.group_by.iter().map(|d| d.to_string()).collect();
    dims.extend(request.filters.iter().map(|f| f.to_string().split(['=', '^']).next().unwrap().to_string()));
    let has = |pick: fn(&(&str, bool, bool, bool, bool)) -> bool| {
        dims.iter().all(|d| DIMENSIONS.iter().any(|e| e.0 == d && pick(e)))
    };
    let aligned = |step: i64| request.range.is_none_or(|r| r.start % step == 0 && r.end % step == 0);
    let daily =
        request.grain != Some(Grain::Hour) && aligned(DAY) && (has(|e| e.1) || has(|e| e.2) || has(|e| e.4));
    let hourly = aligned(HOUR) && has(|e| e.3);
    daily || hourly
}

#[tokio::test]
async fn random_requests_through_rollups_equal_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    // Every transaction computed its units' parts: there is nothing left to build.
    assert!(rollup::status(&lake).unwrap().fresh);
    assert_eq!(rollup::build(&lake).await.unwrap().parts_built, 0);
    let session = lake.session().await.unwrap();
    assert_eq!(session.rollups().len(), rollup::DEFINITIONS.len());
    let mut rng = Lcg(2024);
    let (mut hits, mut total, mut weeks, mut weeks_alone) = (0, 0, 0, 0);
    for _ in 0..300 {
        let request = random_request(&mut rng);
        let source = same(&session, &request).await;
        let expected = answerable(&request);
        assert_eq!(source != "raw", expected, "{request:?} answered by {source}");
        if request.grain == Some(Grain::Hour) && expected {
            assert_eq!(source, "rollup:hourly_accounts");
        }
        if source.starts_with("rollup:weekly_resources") {
            assert!(matches!(request.grain, None | Some(Grain::Week)), "{request:?} via {source}");
        }
        weeks += usize::from(source == "rollup:weekly_resources+daily_resources");
        weeks_alone += usize::from(source == "rollup:weekly_resources");
        hits += usize::from(expected);
        total += 1;
    }
    assert!(hits > total / 4, "{hits} of {total} requests used a rollup");
    assert!(weeks >= 5 && weeks_alone >= 2, "weeks and days {weeks}, weeks alone {weeks_alone}");
}

/// The whole weeks of a range read the week rollup and its other days the day rollup, with or
/// without compare and a week grain; the answer is the lake's.
#[tokio::test]
async fn whole_weeks_of_a_range_read_the_week_rollup() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let session = lake.session().await.unwrap();
    let resource = |range: TimeRange, grain: Option<Grain>, compare: bool| Request {
        group_by: vec![Dimension::RESOURCE],
        range: Some(range),
        grain,
        compare,
        top: Some(2),
        ..Request::default()
    };
    // 2024-09-02 and 2024-09-30 are Mondays.
    let month = TimeRange::new(at("2024-09-01"), at("2024-10-01")).unwrap();
    let mondays = TimeRange::new(at("2024-09-02"), at("2024-09-30")).unwrap();
    let five_weeks = TimeRange::new(at("2024-09-04"), at("2024-10-09")).unwrap();
    let cases = [
        (resource(month, None, false), "rollup:weekly_resources+daily_resources"),
        (resource(month, Some(Grain::Week), false), "rollup:weekly_resources+daily_resources"),
        (resource(month, None, true), "rollup:weekly_resources+daily_resources"),
        // Previous rows move 30 days forward: not a whole number of weeks.
        (resource(month, Some(Grain::Week), true), "rollup:daily_resources"),
        (resource(five_weeks, Some(Grain::Week), true), "rollup:weekly_resources+daily_resources"),
        (resource(month, Some(Grain::Day), false), "rollup:daily_resources"),
        (resource(mondays, None, true), "rollup:weekly_resources"),
        (resource(mondays, Some(Grain::Week), false), "rollup:weekly_resources"),
        // Six days hold no whole week.
        (
            resource(TimeRange::new(at("2024-09-03"), at("2024-09-09")).unwrap(), None, false),
            "rollup:daily_resources",
        ),
    ];
    for (request, expected) in cases {
        assert_eq!(same(&session, &request).await, expected, "{request:?}");
    }
    let result = semantic::run(&session, &resource(month, None, false)).await.unwrap();
    assert!(
        result.sql.contains("UNION ALL") && result.sql.contains("rollup_weekly_resources"),
        "{}",
        result.sql
    );
}

#[tokio::test]
async fn a_redelivered_unit_keeps_rollups_fresh_and_new_rules_stale_only_dimension_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let units = lake.manifest().unwrap().units().len();
    let request =
        Request { group_by: vec![Dimension::SERVICE], grain: Some(Grain::Month), ..Request::default() };
    let by_team = Request { group_by: vec!["team".parse().unwrap()], ..Request::default() };
    let before_session = lake.session().await.unwrap();
    let before = semantic::run(&before_session, &request).await.unwrap();
    assert_eq!(before.source, "rollup:daily_accounts");

    // A re-delivered bill replaces a unit; its transaction computes the unit's new parts.
    let rows = vec![row("AWS", "111", "2024-09", "USD", "1000.00").day(3).service("EC2")];
    ingest_hours(&lake, "AWS-2024-09-again", &rows, &[5]);
    assert!(rollup::status(&lake).unwrap().fresh);
    let session = lake.session().await.unwrap();
    assert_eq!(session.rollups().len(), rollup::DEFINITIONS.len());
    assert_eq!(same(&session, &request).await, "rollup:daily_accounts");
    let after = semantic::run(&session, &request).await.unwrap();
    assert_ne!(after.rows, before.rows, "the new unit shows");
    // A session opened before the commit still reads the parts of its own snapshot.
    let old = semantic::run(&before_session, &request).await.unwrap();
    assert_eq!((old.source.as_str(), &old.rows), ("rollup:daily_accounts", &before.rows));
    let teams_before = semantic::run(&session, &by_team).await.unwrap();

    // New rules (`squad` is now an alias of `team`) make only the dimension rollups stale.
    let rules = "version: 1\nkeys:\n  team: [squad]\n";
    dimensions::apply_text(dir.path(), RulesKind::Tags, rules, Path::new("tags.yaml")).unwrap();
    let status = rollup::status(&lake).unwrap();
    let stale: Vec<&str> = status.rollups.iter().filter(|r| !r.fresh).map(|r| r.name.as_str()).collect();
    assert_eq!(stale, ["daily_dimensions", "daily_resources", "weekly_resources"]);
    let reason = status.rollups[1].reason.clone().unwrap();
    assert_eq!(
        reason,
        format!("{units} of {units} units have parts computed with other rules or definitions")
    );
    let session = lake.session().await.unwrap();
    assert_eq!(session.rollups().len(), 2);
    assert_eq!(same(&session, &request).await, "rollup:daily_accounts");
    let teams = semantic::run(&session, &by_team).await.unwrap();
    assert_eq!(teams.source, "raw");
    assert_ne!(teams.rows, teams_before.rows, "squad tags now count as team");
    let report = rollup::build(&lake).await.unwrap();
    assert_eq!(report.parts_built, 3 * units);
    assert_eq!(report.rows_read, lake.manifest().unwrap().rows(), "each unit is read once");
    // The dimension rollup with the fewest rows answers: in this small lake, the weeks of
    // resources.
    let by_dimensions = "rollup:weekly_resources";
    let session = lake.session().await.unwrap();
    assert_eq!(same(&session, &by_team).await, by_dimensions);
    assert_eq!(semantic::run(&session, &by_team).await.unwrap().rows, teams.rows);

    // A vacuum changes no row: the rollups stay fresh, and their parts stay on disk.
    lake.vacuum(std::time::Duration::ZERO).unwrap();
    assert!(rollup::status(&lake).unwrap().fresh);
    assert_eq!(same(&lake.session().await.unwrap(), &by_team).await, by_dimensions);
}

/// Rewrites every unit of the lake's manifest with `edit`, as an older release would have left it.
fn edit_units(dir: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let path = dir.join("lake").join("manifest.json");
    let mut manifest: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest["units"].as_array_mut().unwrap().iter_mut().for_each(edit);
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
}

#[tokio::test]
async fn a_lake_without_parts_gets_them_from_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let units = lake.manifest().unwrap().units().len();
    // A manifest as a release before rollup parts wrote it.
    edit_units(dir.path(), |unit| {
        unit.as_object_mut().unwrap().remove("rollups").unwrap();
    });
    let status = rollup::status(&lake).unwrap();
    assert!(!status.fresh);
    assert_eq!(
        status.rollups[0].reason.as_deref(),
        Some(format!("{units} of {units} units have no part").as_str())
    );
    assert!(lake.session().await.unwrap().rollups().is_empty());

    let report = rollup::build(&lake).await.unwrap();
    assert_eq!(report.parts_built, units * rollup::DEFINITIONS.len());
    assert!(report.rollups.iter().all(|r| r.fresh && r.parts == units));
    let session = lake.session().await.unwrap();
    assert_eq!(session.rollups().len(), rollup::DEFINITIONS.len());
    let mut rng = Lcg(99);
    for _ in 0..60 {
        same(&session, &random_request(&mut rng)).await;
    }
    // The parts the first transactions wrote are gone from the manifest, so vacuum removes
    // nothing the new parts need.
    lake.vacuum(std::time::Duration::ZERO).unwrap();
    assert!(rollup::status(&lake).unwrap().fresh);
    same(&lake.session().await.unwrap(), &Request::default()).await;
}

/// A lake written before a rollup existed gets only that rollup's parts, computed from the
/// lake's rows (not from another rollup's), and its week buckets are the lake's weeks.
#[tokio::test]
async fn a_new_rollup_is_built_alone_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let units = lake.manifest().unwrap().units().len();
    edit_units(dir.path(), |unit| {
        unit["rollups"].as_array_mut().unwrap().retain(|p| p["name"] != "weekly_resources");
    });
    let stale: Vec<String> =
        rollup::status(&lake).unwrap().rollups.into_iter().filter(|r| !r.fresh).map(|r| r.name).collect();
    assert_eq!(stale, ["weekly_resources"]);
    let report = rollup::build(&lake).await.unwrap();
    assert_eq!(report.parts_built, units);
    let session = lake.session().await.unwrap();
    let by_resource_and_week =
        Request { group_by: vec![Dimension::RESOURCE], grain: Some(Grain::Week), ..Request::default() };
    assert_eq!(same(&session, &by_resource_and_week).await, "rollup:weekly_resources");
    let mut rng = Lcg(5);
    for _ in 0..40 {
        same(&session, &random_request(&mut rng)).await;
    }
}

#[tokio::test]
async fn scopes_restrict_rollups_exactly_as_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let requests = [
        Request { group_by: vec![Dimension::SERVICE], grain: Some(Grain::Day), ..Request::default() },
        Request { group_by: vec![Dimension::ACCOUNT], grain: Some(Grain::Hour), ..Request::default() },
        // Grouped by every column of hourly_accounts' key: its rows skip the partial aggregate.
        Request {
            group_by: vec![Dimension::ACCOUNT, Dimension::SERVICE],
            grain: Some(Grain::Hour),
            top: Some(3),
            ..Request::default()
        },
        Request { group_by: vec!["team".parse().unwrap()], grain: Some(Grain::Week), ..Request::default() },
        Request { group_by: vec![Dimension::REGION], top: Some(1), ..Request::default() },
        Request { group_by: vec![Dimension::RESOURCE], top: Some(2), ..Request::default() },
        Request {
            group_by: vec![Dimension::RESOURCE],
            range: Some(TimeRange::new(at("2024-08-14"), at("2024-09-20")).unwrap()),
            ..Request::default()
        },
        Request::default(),
    ];
    for (text, registered) in [
        (vec!["account=222"], 5),
        (vec!["account=222,ea-2"], 5),
        (vec!["team=payments"], 3),
        (vec!["team=search", "account=111"], 3),
        (vec!["account=nobody"], 5),
    ] {
        let mut scope = Scope::all();
        for t in &text {
            scope.add(t).unwrap();
        }
        let session = lake.session_scoped(&scope).await.unwrap();
        assert_eq!(session.rollups().len(), registered, "{text:?}");
        for request in &requests {
            same(&session, request).await;
        }
        // The scoped answer is a strict part of the whole.
        let total = semantic::run(&session, &Request::default()).await.unwrap();
        assert_ne!(total.source, "raw", "{text:?}");
        let all = semantic::run(&lake.session().await.unwrap(), &Request::default()).await.unwrap();
        assert_ne!(total.rows, all.rows, "{text:?}");
    }
}
