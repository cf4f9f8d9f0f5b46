//! The semantic layer over a small lake whose every figure is known: results against plain SQL and
//! hand-computed sums, top N with `other`, the previous period, paging, bad names, currencies,
//! tags, filters, scope and reporting currency.

mod common;

use std::collections::BTreeMap;

use common::{ingest, row, value_text};
use costpilot_lake::manifest::decimal_text;
use costpilot_lake::semantic::{
    self, CostResult, Dimension, Filter, Grain, Metric, Page, Request, SemanticError, TimeRange,
};
use costpilot_lake::{Lake, LakeSession, Scope};
use costpilot_model::money::parse_decimal;
use costpilot_model::parse_timestamp_micros;

/// USD (AWS): September EC2 8.00 (billed 10.00, account 111, team payments, env prod), Storage
/// 5.50 (111, tagged `Team`), EC2 3.00 (222, search), Lambda 2.25 (111), RDS 7.00 (222, search,
/// env dev); October EC2 11.00 (billed 12.00, 111, payments), Storage 4.00, Lambda 1.00 (111).
/// EUR (Microsoft ea-1): September VM 20.00, Storage 1.25; October VM 18.00.
fn lake(dir: &std::path::Path) -> Lake {
    let lake = Lake::open(dir).unwrap();
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
            let bucket = r.bucket.map(costpilot_model::time::format_micros).unwrap_or_default();
            format!("{} {bucket} {} {}", groups.join("|"), r.currency, decimal_text(r.value))
                .replace("  ", " ")
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
    assert_eq!((got.total_rows, got.next_offset), (9, None));
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
