//! The semantic layer over a small lake whose every figure is known: results against plain SQL and
//! hand-computed sums, top N with `other`, the previous period, paging, bad names, currencies,
//! tags, filters, scope and reporting currency.

mod common;

use std::collections::BTreeMap;

use common::{ingest, row, value_text};
use costpilot_lake::Lake;
use costpilot_model::money::decimal_text;
use costpilot_model::money::parse_decimal;
use costpilot_model::parse_timestamp_micros;
use costpilot_query::semantic::{
    self, CostResult, Dimension, Filter, Grain, Metric, Page, Request, SemanticError, TimeRange,
};
use costpilot_query::{LakeSession, Scope, Sessions, open_lake};

/// USD (AWS): September EC2 8.00 (billed 10.00, account 111, team payments, env prod), Storage
/// 5.50 (111, tagged `Team`), EC2 3.00 (222, search), Lambda 2.25 (111), RDS 7.00 (222, search,
/// env dev); October EC2 11.00 (billed 12.00, 111, payments), Storage 4.00, Lambda 1.00 (111).
/// EUR (Microsoft ea-1): September VM 20.00, Storage 1.25; October VM 18.00.
fn lake(dir: &std::path::Path) -> Lake {
    let lake = open_lake(dir).unwrap();
    ingest(
        &lake,
        "aws.parquet",
        &[
            row("AWS", "111", "2024-09", "USD", "10.00")
                .day(1)
                .service("EC2")
                .effective("8.00")
                .tags(&[("team", "payments"), ("env", "prod")]),
            row("AWS", "111", "2024-09", "USD", "5.50")
                .day(2)
                .service("Storage")
                .tags(&[("Team", "payments")]),
            row("AWS", "222", "2024-09", "USD", "3.00").day(3).service("EC2").tags(&[("team", "search")]),
            row("AWS", "111", "2024-09", "USD", "2.25").day(15).service("Lambda"),
            row("AWS", "222", "2024-09", "USD", "7.00")
                .day(20)
                .service("RDS")
                .tags(&[("team", "search"), ("env", "dev")]),
            row("AWS", "111", "2024-10", "USD", "12.00")
                .day(1)
                .service("EC2")
                .effective("11.00")
                .tags(&[("team", "payments")]),
            row("AWS", "111", "2024-10", "USD", "4.00").day(5).service("Storage"),
            row("AWS", "111", "2024-10", "USD", "1.00").day(10).service("Lambda"),
        ],
    );
    ingest(
        &lake,
        "azure.csv",
        &[
            row("Microsoft", "ea-1", "2024-09", "EUR", "20.00").day(1).service("VM"),
            row("Microsoft", "ea-1", "2024-09", "EUR", "1.25").day(15).service("Storage"),
            row("Microsoft", "ea-1", "2024-10", "EUR", "18.00").day(2).service("VM"),
        ],
    );
    lake
}

fn at(text: &str) -> i64 {
    parse_timestamp_micros(text).unwrap()
}

fn by(dimensions: &[&str]) -> Request {
    Request { group_by: dimensions.iter().map(|d| d.parse().unwrap()).collect(), ..Request::default() }
}

async fn answer(session: &LakeSession, request: &Request) -> CostResult {
    semantic::run(session, request).await.unwrap_or_else(|e| panic!("{request:?}: {e}"))
}

/// Rows as `group|group, bucket, currency, value` text, `other` for the other row.
fn lines(result: &CostResult) -> Vec<String> {
    result
        .rows
        .iter()
        .map(|r| {
            let groups: Vec<String> = match r.other {
                true => vec!["other".into()],
                false => r.groups.iter().map(|g| g.clone().unwrap_or_else(|| "-".into())).collect(),
            };
            let bucket = r.bucket.map(costpilot_model::time::format_micros);
            let parts =
                [Some(groups.join("|")), bucket, Some(r.currency.clone()), Some(decimal_text(r.value))];
            parts.into_iter().flatten().filter(|p| !p.is_empty()).collect::<Vec<_>>().join(" ")
        })
        .collect()
}

fn error(result: Result<CostResult, SemanticError>) -> String {
    match result {
        Err(e) => e.to_string(),
        Ok(r) => panic!("expected an error, got {} rows", r.rows.len()),
    }
}

/// The rows of plain SQL returning (group, bucket, currency, amount), as [`lines`] writes them.
async fn plain(session: &LakeSession, sql: &str) -> Vec<String> {
    let result = session.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    for b in &result.batches {
        for r in 0..b.num_rows() {
            let amount = parse_decimal(&value_text(b.column(3), r)).unwrap();
            let cell = |c: usize| value_text(b.column(c), r);
            out.push(format!("{} {} {} {}", cell(0), cell(1), cell(2), decimal_text(amount)));
        }
    }
    out
}

fn strings(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn monthly_cost_by_service_equals_plain_sql() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    let got = answer(&session, &Request { grain: Some(Grain::Month), ..by(&["service"]) }).await;
    let want = plain(
        &session,
        "SELECT ServiceName, date_trunc('month', ChargePeriodStart) AS m, BillingCurrency AS c, \
           sum(EffectiveCost) AS v FROM focus GROUP BY 1, 2, 3 ORDER BY m, c, v DESC, ServiceName",
    )
    .await;
    assert_eq!(lines(&got), want);
    assert!(want.contains(&"EC2 2024-09-01T00:00:00Z USD 11.00".to_string()), "{want:?}");
    assert_eq!((got.total_rows, got.next_offset), (10, None));
}

#[tokio::test]
async fn top_n_keeps_the_largest_groups_and_sums_the_rest_as_other() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    let all = Request { grain: Some(Grain::Month), ..by(&["service"]) };
    let got = answer(&session, &Request { top: Some(1), ..all.clone() }).await;
    // Ranked over both months: EC2 (22.00) leads USD, VM (38.00) leads EUR.
    let want = [
        "VM 2024-09-01T00:00:00Z EUR 20.00",
        "other 2024-09-01T00:00:00Z EUR 1.25",
        "EC2 2024-09-01T00:00:00Z USD 11.00",
        "other 2024-09-01T00:00:00Z USD 14.75",
        "VM 2024-10-01T00:00:00Z EUR 18.00",
        "EC2 2024-10-01T00:00:00Z USD 11.00",
        "other 2024-10-01T00:00:00Z USD 5.00",
    ];
    assert_eq!(lines(&got), strings(&want));
    let totals = |r: &CostResult| {
        let mut t: BTreeMap<(Option<i64>, String), i128> = BTreeMap::new();
        for row in &r.rows {
            *t.entry((row.bucket, row.currency.clone())).or_default() += row.value;
        }
        t
    };
    assert_eq!(totals(&got), totals(&answer(&session, &all).await), "top N adds up to every group");
    let other = got.rows.iter().find(|r| r.other).unwrap();
    assert_eq!(other.groups, vec![None], "the other row has no group value");
}

#[tokio::test]
async fn compare_adds_the_previous_period_of_the_same_length() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    // 30 days from 16 September; the previous period is 17 August to 16 September.
    let range = TimeRange::new(at("2024-09-16"), at("2024-10-16")).unwrap();
    let request = Request { range: Some(range), compare: true, ..by(&["service"]) };
    let got = answer(&session, &request).await;
    // group currency value previous change change%
    let rows: Vec<String> = got
        .rows
        .iter()
        .map(|r| {
            let change = r.change.map(decimal_text).unwrap();
            let percent = r.change_percent.map_or("-".to_string(), |p| format!("{p:.4}"));
            let (group, value, previous) =
                (r.groups[0].as_deref().unwrap(), decimal_text(r.value), decimal_text(r.previous.unwrap()));
            format!("{group} {} {value} {previous} {change} {percent}", r.currency)
        })
        .collect();
    let want = [
        "VM EUR 18.00 20.00 -2.00 -10.0000",
        "Storage EUR 0.00 1.25 -1.25 -100.0000",
        "EC2 USD 11.00 11.00 0.00 0.0000",
        "RDS USD 7.00 0.00 7.00 -",
        "Storage USD 4.00 5.50 -1.50 -27.2727",
        "Lambda USD 1.00 2.25 -1.25 -55.5556",
    ];
    assert_eq!(rows, want);
    assert_eq!(got.previous_range, Some(TimeRange::new(at("2024-08-17"), at("2024-09-16")).unwrap()));

    // By day, a previous charge counts in the bucket it falls into 30 days later.
    let daily = Request { grain: Some(Grain::Day), ..request.clone() };
    let got = answer(&session, &Request { filters: vec!["service=EC2".parse().unwrap()], ..daily }).await;
    let buckets: Vec<(String, String, String)> = got
        .rows
        .iter()
        .map(|r| {
            let day = costpilot_model::time::format_micros(r.bucket.unwrap());
            (day, decimal_text(r.value), decimal_text(r.previous.unwrap()))
        })
        .collect();
    let want = [("2024-10-01T00:00:00Z", "11.00", "8.00"), ("2024-10-03T00:00:00Z", "0.00", "3.00")];
    assert_eq!(buckets, want.map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())));

    let no_range = semantic::run(&session, &Request { compare: true, ..by(&["service"]) }).await;
    assert_eq!(error(no_range), "compare needs a time range");
}

#[tokio::test]
async fn pages_are_disjoint_and_together_hold_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    let request = Request { grain: Some(Grain::Day), ..by(&["account", "service"]) };
    let whole = answer(&session, &request).await;
    assert_eq!(whole.rows.len(), 11);
    assert_eq!(whole.request.page, Some(Page { size: semantic::DEFAULT_PAGE_SIZE, offset: 0 }));
    let mut pages = Vec::new();
    let mut offset = Some(0);
    while let Some(o) = offset {
        let page = answer(
            &session,
            &Request { page: Some(Page { size: 4, offset: o as usize }), ..request.clone() },
        )
        .await;
        assert_eq!(page.total_rows, 11);
        assert!(page.rows.len() <= 4);
        pages.extend(page.rows);
        offset = page.next_offset;
    }
    assert_eq!(pages, whole.rows, "three pages, in order, without overlap or gap");
    let past =
        answer(&session, &Request { page: Some(Page { size: 4, offset: 20 }), ..request.clone() }).await;
    assert_eq!((past.rows.len(), past.total_rows, past.next_offset), (0, 11, None));
    let names: Vec<Option<String>> = whole.rows.iter().map(|r| r.names[0].clone()).collect();
    assert!(names.contains(&Some("Account 222".to_string())), "accounts carry their names");
    let too_big = Request { page: Some(Page { size: semantic::MAX_PAGE_SIZE + 1, offset: 0 }), ..request };
    assert_eq!(
        error(semantic::run(&session, &too_big).await),
        format!("page size {} is not between 1 and {}", semantic::MAX_PAGE_SIZE + 1, semantic::MAX_PAGE_SIZE)
    );
}

#[tokio::test]
async fn unknown_names_list_the_valid_ones_and_the_closest() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    assert_eq!(
        "efective_cost".parse::<Metric>().unwrap_err().to_string(),
        "unknown metric 'efective_cost'; did you mean 'effective_cost'? valid: billed_cost, effective_cost, \
         list_cost, contracted_cost, usage_quantity"
    );
    assert_eq!("EffectiveCost".parse::<Metric>().unwrap(), Metric::EffectiveCost);
    assert_eq!("ConsumedQuantity".parse::<Metric>().unwrap(), Metric::UsageQuantity);
    assert_eq!(
        error(semantic::run(&session, &by(&["servce"])).await),
        "unknown dimension 'servce'; did you mean 'service'? valid: provider, billing_account, account, \
         service, service_category, region, resource, charge_category, currency, instance_type, billing_period, tag:<key>, \
         cost_category:<name>, team, business_unit, cost_centre, application, environment, owner, criticality"
    );
    assert_eq!(
        error(semantic::run(&session, &by(&["tag:tem"])).await),
        "unknown tag key 'tem'; did you mean 'team'? valid: application, business_unit, cost_centre, \
         criticality, env, environment, owner, team"
    );
    assert_eq!(
        error(semantic::run(&session, &by(&["zzz"])).await),
        "unknown dimension 'zzz'; valid: provider, billing_account, account, service, service_category, \
         region, resource, charge_category, currency, instance_type, billing_period, tag:<key>, cost_category:<name>, team, business_unit, \
         cost_centre, application, environment, owner, criticality"
    );
    assert_eq!(
        error(semantic::run(&session, &by(&["cost_category:unit"])).await),
        "unknown cost category 'unit'; valid: none in the lake"
    );
    assert_eq!(
        "weekly".parse::<Grain>().unwrap_err().to_string(),
        "unknown grain 'weekly'; did you mean 'week'? valid: hour, day, week, month"
    );
    assert_eq!(
        "service~EC2".parse::<Filter>().unwrap_err().to_string(),
        "filter 'service~EC2': expected dimension=value[,value...] or dimension^prefix"
    );
}

#[tokio::test]
async fn amounts_of_different_currencies_are_never_added() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    // Storage is billed in USD and in EUR: one row per currency, never one sum.
    let got = answer(&session, &by(&["service"])).await;
    let storage: Vec<String> = lines(&got).into_iter().filter(|l| l.starts_with("Storage")).collect();
    assert_eq!(storage, ["Storage EUR 1.25", "Storage USD 9.50"]);
    let totals = answer(&session, &Request::default()).await;
    assert_eq!(lines(&totals), ["EUR 39.25", "USD 41.75"]);
    let billed = answer(&session, &Request { metric: Metric::BilledCost, ..Request::default() }).await;
    assert_eq!(lines(&billed), ["EUR 39.25", "USD 44.75"]);
    let euros =
        Request { filters: vec![Filter::Equals(Dimension::CURRENCY, "EUR".into())], ..by(&["service"]) };
    assert_eq!(lines(&answer(&session, &euros).await), ["VM EUR 38.00", "Storage EUR 1.25"]);
}

#[tokio::test]
async fn tags_dimensions_and_filters_read_the_rules_and_the_raw_keys() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    // `team` is a dimension of the default rules: `Team` and `team` tags are one key.
    let want = ["- EUR 39.25", "payments USD 24.50", "search USD 10.00", "- USD 7.25"];
    assert_eq!(lines(&answer(&session, &by(&["team"])).await), want);
    assert_eq!(lines(&answer(&session, &by(&["tag:Team"])).await), want);
    // `env` is not a dimension: the raw tag.
    let env = Request { filters: vec!["currency=USD".parse().unwrap()], ..by(&["tag:env"]) };
    assert_eq!(lines(&answer(&session, &env).await), ["- USD 26.75", "prod USD 8.00", "dev USD 7.00"]);
    let filtered = |filters: &[&str]| Request {
        filters: filters.iter().map(|f| f.parse().unwrap()).collect(),
        ..by(&["service"])
    };
    assert_eq!(
        lines(&answer(&session, &filtered(&["team=payments"])).await),
        ["EC2 USD 19.00", "Storage USD 5.50"]
    );
    assert_eq!(
        lines(&answer(&session, &filtered(&["service=EC2,RDS", "account^22"])).await),
        ["RDS USD 7.00", "EC2 USD 3.00"]
    );
    assert_eq!(lines(&answer(&session, &filtered(&["tag:env=dev"])).await), ["RDS USD 7.00"]);
}

#[tokio::test]
async fn a_scoped_session_answers_only_for_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let mut scope = Scope::all();
    scope.add("account=222").unwrap();
    let session = lake.session_scoped(&scope).await.unwrap();
    let got = answer(&session, &by(&["account", "service"])).await;
    assert_eq!(lines(&got), ["222|RDS USD 7.00", "222|EC2 USD 3.00"]);
    // Relative ranges count back from the scope's own latest charge (21 September).
    assert_eq!(semantic::anchor(&session).await.unwrap(), Some(at("2024-09-21")));
}

#[tokio::test]
async fn reporting_currency_needs_fx_rates_and_then_adds_converted_amounts() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let request = Request { reporting_currency: true, ..by(&["service"]) };
    assert_eq!(
        error(semantic::run(&lake.session().await.unwrap(), &request).await),
        "no FX table is configured (fx.csv in the data directory), so amounts cannot be converted into \
         a reporting currency; ask per billing currency"
    );
    std::fs::write(
        dir.path().join("fx.csv"),
        "date,from_currency,to_currency,rate\n2024-01-01,EUR,USD,1.1\n",
    )
    .unwrap();
    let session = lake.session().await.unwrap();
    let got = answer(&session, &request).await;
    // Storage: 9.50 USD + 1.25 EUR × 1.1.
    assert_eq!(
        lines(&got),
        ["VM USD 41.80", "EC2 USD 22.00", "Storage USD 10.875", "RDS USD 7.00", "Lambda USD 3.25"]
    );
    let listed = Request { metric: Metric::ListCost, ..request };
    assert_eq!(
        error(semantic::run(&session, &listed).await),
        "list_cost has no reporting-currency column; use billed_cost or effective_cost"
    );
}

#[tokio::test]
async fn time_ranges_count_back_from_the_latest_data() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    let anchor = semantic::anchor(&session).await.unwrap();
    assert_eq!(anchor, Some(at("2024-10-11")), "the end of the last usage charge");
    let range = |text: &str, anchor: Option<i64>| TimeRange::parse(text, anchor).map_err(|e| e.to_string());
    let span = |a: &str, b: &str| Ok(TimeRange { start: at(a), end: at(b) });
    assert_eq!(range("7d", anchor), span("2024-10-04", "2024-10-11"));
    assert_eq!(range("2w", anchor), span("2024-09-27", "2024-10-11"));
    // A partial day or hour counts whole.
    assert_eq!(range("7d", Some(at("2024-10-10T13:00:00Z"))), span("2024-10-04", "2024-10-11"));
    assert_eq!(
        range("12h", Some(at("2024-10-10T13:30:00Z"))),
        span("2024-10-10T02:00:00Z", "2024-10-10T14:00:00Z")
    );
    assert_eq!(range("2024-10-01", anchor), span("2024-10-01", "2024-10-11"));
    assert_eq!(range("2024-09-01..2024-10-01", None), span("2024-09-01", "2024-10-01"));
    assert_eq!(range("0d", anchor).unwrap_err(), "time range '0d': give a positive count");
    assert_eq!(range("30d", None).unwrap_err(), "'30d' is relative to the latest data, and there is none");
    assert_eq!(
        range("2024-10-05..2024-10-01", None).unwrap_err(),
        "empty time range: 2024-10-05T00:00:00Z is not before 2024-10-01T00:00:00Z"
    );
    assert_eq!(
        range("soon", anchor).unwrap_err(),
        "time range 'soon': expected a count of hours, days or weeks (12h, 30d, 4w), a date (2025-01-01) \
         or two dates (2025-01-01..2025-02-01)"
    );
    let week = Request { range: Some(TimeRange::parse("7d", anchor).unwrap()), ..by(&["service"]) };
    assert_eq!(lines(&answer(&session, &week).await), ["Storage USD 4.00", "Lambda USD 1.00"]);
}

#[test]
fn requests_read_and_write_json_with_names_and_dates() {
    let text = r#"{"metric": "BilledCost", "group_by": ["service", "tag:env", "team"],
        "filters": ["region=us-east-1,eu-west-1", "team^pay"],
        "range": {"start": "2024-09-01", "end": "2024-10-01T00:00:00Z"}, "grain": "week", "top": 3,
        "page": {"size": 10}}"#;
    let request: Request = serde_json::from_str(text).unwrap();
    assert_eq!(
        request,
        Request {
            metric: Metric::BilledCost,
            group_by: vec![
                Dimension::SERVICE,
                Dimension::Tag("env".into()),
                Dimension::Allocation("team".into())
            ],
            filters: vec![
                Filter::In(Dimension::REGION, vec!["us-east-1".into(), "eu-west-1".into()]),
                Filter::Prefix(Dimension::Allocation("team".into()), "pay".into()),
            ],
            range: Some(TimeRange { start: at("2024-09-01"), end: at("2024-10-01") }),
            grain: Some(Grain::Week),
            top: Some(3),
            page: Some(Page { size: 10, offset: 0 }),
            ..Request::default()
        }
    );
    let written = serde_json::to_value(&request).unwrap();
    assert_eq!(written["metric"], "billed_cost");
    assert_eq!(written["range"]["start"], "2024-09-01T00:00:00Z");
    assert_eq!(written["filters"][1], "team^pay");
    assert_eq!(serde_json::from_value::<Request>(written).unwrap(), request);
    let bad = serde_json::from_str::<Request>(r#"{"metric": "cost"}"#).unwrap_err().to_string();
    assert!(bad.starts_with("unknown metric 'cost'; valid: billed_cost"), "{bad}");
}

/// Every dimension of the model's table works by its entry alone: its name parses and prints back,
/// it is listed among the valid names, grouping by it keeps every currency's total and gives
/// each group the value of the entry's column (and of its label column where it has one), and
/// filtering by each group's value gives that group's sum. A new entry is tested here too.
#[tokio::test]
async fn every_dimension_of_the_model_groups_and_filters_by_its_entry() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    let totals: BTreeMap<String, i128> = answer(&session, &Request::default())
        .await
        .rows
        .iter()
        .map(|r| (r.currency.clone(), r.value))
        .collect();
    let listed = error(semantic::run(&session, &by(&["no_such_dimension"])).await);
    for def in costpilot_model::dimensions::DIMENSIONS {
        let dimension: Dimension = def.name.parse().unwrap();
        assert_eq!(dimension, Dimension::Column(def));
        assert_eq!(dimension.to_string(), def.name);
        assert!(listed.contains(def.name), "{} missing from: {listed}", def.name);

        let grouped = answer(&session, &by(&[def.name])).await;
        let mut sums: BTreeMap<String, i128> = BTreeMap::new();
        for r in &grouped.rows {
            *sums.entry(r.currency.clone()).or_default() += r.value;
        }
        assert_eq!(sums, totals, "grouped by {}", def.name);

        let label = def.label.map_or("CAST(NULL AS VARCHAR)".to_string(), |l| format!("\"{l}\""));
        let expected = plain(
            &session,
            &format!(
                "SELECT \"{}\" AS g, {label} AS n, BillingCurrency AS c, sum(EffectiveCost) FROM focus GROUP BY 1, 2, 3",
                def.column
            ),
        )
        .await;
        let mut got: Vec<String> = grouped
            .rows
            .iter()
            .map(|r| {
                let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "NULL".to_string());
                format!(
                    "{} {} {} {}",
                    text(&r.groups[0]),
                    text(&r.names[0]),
                    r.currency,
                    decimal_text(r.value)
                )
            })
            .collect();
        got.sort();
        let mut expected = expected;
        expected.sort();
        assert_eq!(got, expected, "grouped by {}", def.name);

        for r in grouped.rows.iter().filter(|r| r.groups[0].is_some()) {
            let value = r.groups[0].clone().unwrap();
            let filtered = answer(
                &session,
                &Request {
                    filters: vec![Filter::Equals(dimension.clone(), value.clone())],
                    ..Request::default()
                },
            )
            .await;
            let same: i128 = grouped
                .rows
                .iter()
                .filter(|o| o.groups[0].as_deref() == Some(value.as_str()) && o.currency == r.currency)
                .map(|o| o.value)
                .sum();
            let sum: i128 = filtered.rows.iter().filter(|o| o.currency == r.currency).map(|o| o.value).sum();
            assert_eq!(sum, same, "{}={value}", def.name);
        }
    }
}
