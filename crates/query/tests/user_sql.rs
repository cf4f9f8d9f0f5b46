//! SQL as FinOps users paste it: names in any case, other engines' date and map functions, and
//! what user SQL may not do (call internal functions, compile a huge regex).

mod common;

use std::collections::BTreeSet;

use common::{ingest, ingest_eur_payer, row, rows, run_python};
use costpilot_lake::Lake;
use costpilot_model::FocusVersion;
use costpilot_query::{LakeSession, Scope, Sessions, open_lake};

/// USD: 10.00 (EC2, team web) + 5.50 (S3, team data) on account 111 and 3.00 (EC2, untagged) on
/// account 222; EUR: 20.00 + 1.25 on account ea-1.
fn lake(dir: &std::path::Path) -> Lake {
    let lake = open_lake(dir).unwrap();
    ingest(
        &lake,
        "aws.parquet",
        &[
            row("AWS", "111", "2024-09", "USD", "10.00")
                .day(1)
                .service("Amazon EC2")
                .tags(&[("team", "web")]),
            row("AWS", "111", "2024-09", "USD", "5.50")
                .day(2)
                .service("Amazon S3")
                .tags(&[("team", "data"), ("env", "prod")]),
            row("AWS", "222", "2024-09", "USD", "3.00").day(17).service("Amazon EC2"),
        ],
    );
    ingest_eur_payer(&lake);
    lake
}

async fn columns(session: &LakeSession, sql: &str) -> Vec<String> {
    let result = session.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    result.schema.fields().iter().map(|f| f.name().clone()).collect()
}

async fn error(session: &LakeSession, sql: &str) -> String {
    match session.sql(sql).await {
        Err(e) => e.to_string(),
        Ok(r) => panic!("{sql}: expected an error, got {} rows", r.num_rows()),
    }
}

fn strings(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter().map(|r| r.iter().map(|c| c.to_string()).collect()).collect()
}

#[tokio::test]
async fn unquoted_names_resolve_in_any_case_and_quoted_names_stay_exact() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    let want = strings(&[
        &["data", "5.500000000000000"],
        &["web", "10.000000000000000"],
        &["NULL", "3.000000000000000"],
    ]);
    for sql in [
        "SELECT tags['team'] AS team, sum(billedcost) FROM FOCUS WHERE billingcurrency = 'USD' \
         GROUP BY tags['team'] ORDER BY team NULLS LAST",
        "select TAGS['team'] as Team, SUM(BILLEDCOST) from Focus where BillingCurrency = 'USD' \
         group by TAGS['team'] order by TEAM nulls last",
        "SELECT \"Tags\"['team'] AS team, sum(\"BilledCost\") FROM \"focus\" WHERE \"BillingCurrency\" = 'USD' \
         GROUP BY \"Tags\"['team'] ORDER BY team NULLS LAST",
    ] {
        assert_eq!(rows(&session, sql).await, want, "{sql}");
    }

    let err = error(&session, "SELECT sum(\"billedcost\") FROM focus").await;
    assert!(err.contains("No field named billedcost."), "{err}");
    let err = error(&session, "SELECT count(*) FROM \"FOCUS\"").await;
    assert!(err.contains("table 'datafusion.public.FOCUS' not found"), "{err}");
}

#[tokio::test]
async fn aliases_ctes_and_subqueries_resolve_in_any_case_and_keep_their_spelling() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    let sql = "WITH ByService AS (SELECT servicename AS Svc, SUM(billedcost) AS Total FROM focus \
               WHERE billingcurrency = 'USD' GROUP BY servicename) \
               SELECT svc, TOTAL FROM byservice WHERE total > 4 ORDER BY SVC";
    assert_eq!(
        rows(&session, sql).await,
        strings(&[&["Amazon EC2", "13.000000000000000"], &["Amazon S3", "5.500000000000000"]])
    );
    assert_eq!(columns(&session, sql).await, ["Svc", "Total"]);

    let sql = "SELECT t.total, T.N FROM (SELECT sum(BilledCost) AS Total, count(*) AS n FROM focus \
               WHERE BillingCurrency = 'EUR') AS T";
    assert_eq!(rows(&session, sql).await, strings(&[&["21.250000000000000", "2"]]));
    // A name takes the spelling of its first appearance, here the outer query's (as DuckDB names
    // the columns of `SELECT t.total FROM (SELECT 1 AS Total) t` after the outer query too).
    assert_eq!(columns(&session, sql).await, ["total", "N"]);

    // A quoted alias is found by an unquoted name in any case, as DuckDB finds it.
    let sql = "SELECT subaccountid AS \"Account\", sum(billedcost) AS \"Billed\" FROM focus \
               WHERE billingcurrency = 'USD' GROUP BY subaccountid ORDER BY account";
    assert_eq!(
        rows(&session, sql).await,
        strings(&[&["111", "15.500000000000000"], &["222", "3.000000000000000"]])
    );
    let sql = "SELECT f.servicename FROM focus AS F JOIN (SELECT DISTINCT ServiceName FROM focus \
               WHERE billedcost > 15) AS big USING (SERVICENAME)";
    assert_eq!(rows(&session, sql).await, strings(&[&["Virtual Machines"]]));
}

const DUCKDB_SCALARS: &str = r#"
import json, sys
import duckdb
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
print(json.dumps([str(con.execute(q).fetchone()[0]) for q in json.loads(sys.argv[1])]))
"#;

/// The value of each one-value query in DuckDB.
fn duckdb_scalars(queries: &[String]) -> Vec<String> {
    serde_json::from_str(&run_python(DUCKDB_SCALARS, &[&serde_json::to_string(queries).unwrap()])).unwrap()
}

#[tokio::test]
async fn strftime_and_date_diff_answer_as_duckdb_does() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    let ts = "TIMESTAMP '2024-09-05 04:03:09.123456'";
    let formats = [
        "%Y-%m-%d %H:%M:%S",
        "%b %B %a %A %j %p %I %y",
        "%f %g %n",
        "%-d/%-m/%Y %-H:%-M:%-S %-I %-j",
        "%U %W %w %u %V %G",
        "%c | %x | %X | %T | %h | 100%%",
    ];
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for f in formats {
        ours.push(format!("SELECT strftime({ts}, '{f}')"));
        theirs.push(format!("SELECT strftime({ts}, '{f}')"));
    }
    let pairs = [
        ("2024-01-31 00:00:00", "2024-02-29 00:00:00"),
        ("2024-02-29 00:00:00", "2024-01-31 00:00:00"),
        ("2024-03-31 10:00:00", "2024-04-30 09:00:00"),
        ("2024-01-01 23:00:00", "2024-01-03 01:00:00"),
        ("2024-01-03 01:00:00", "2024-01-01 23:00:00"),
        ("2020-02-29 00:00:00", "2021-02-28 00:00:00"),
        ("2024-01-01 00:00:00", "2024-12-20 00:00:00"),
        ("2024-01-01 00:00:00", "2024-01-01 00:00:01.5"),
    ];
    for unit in ["millisecond", "second", "minute", "hour", "day", "week", "month", "quarter", "year"] {
        for (a, b) in pairs {
            ours.push(format!("SELECT date_diff('{unit}', TIMESTAMP '{a}', TIMESTAMP '{b}')"));
            theirs.push(format!("SELECT date_sub('{unit}', TIMESTAMP '{a}', TIMESTAMP '{b}')"));
        }
    }
    let want = duckdb_scalars(&theirs);
    for (sql, want) in ours.iter().zip(&want) {
        assert_eq!(&common::scalar(&session, sql).await, want, "{sql}");
    }

    // Over the lake's UTC timestamps, per row: DuckDB reads the same rows from the export.
    let export = dir.path().join("focus.parquet");
    session.export(FocusVersion::V1_2, &export).await.unwrap();
    let per_row = "SELECT string_agg(strftime(ChargePeriodStart, '%Y-%m-%d %a') || ' ' || \
                   CAST(date_diff('day', BillingPeriodStart, ChargePeriodEnd) AS VARCHAR), ',' \
                   ORDER BY ChargePeriodStart, BilledCost) FROM focus";
    let duck = format!(
        "SELECT string_agg(strftime(ChargePeriodStart, '%Y-%m-%d %a') || ' ' || \
         CAST(date_sub('day', BillingPeriodStart, ChargePeriodEnd) AS VARCHAR), ',' \
         ORDER BY ChargePeriodStart, BilledCost) FROM read_parquet('{}')",
        export.display()
    );
    let want = duckdb_scalars(&[duck]);
    assert_eq!(common::scalar(&session, per_row).await, want[0]);
    assert_eq!(
        want[0],
        "2024-09-01 Sun 1,2024-09-01 Sun 1,2024-09-02 Mon 2,2024-09-15 Sun 15,2024-09-17 Tue 17"
    );
}

#[tokio::test]
async fn date_format_takes_trino_specifiers() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    let ts = "TIMESTAMP '2024-09-05 14:03:09.123456'";
    // Hand-computed from Trino's table of specifiers: 2024-09-05 was a Thursday, day 249, ISO week 36.
    for (format, want) in [
        ("%Y-%m-%d %H:%i:%s", "2024-09-05 14:03:09"),
        ("%b %M %c %e", "Sep September 9 5"),
        ("%a %W %j", "Thu Thursday 249"),
        ("%h %I %l %k %p", "02 02 2 14 PM"),
        ("%r | %T | %S | %f", "02:03:09 PM | 14:03:09 | 09 | 123456"),
        ("%x-W%v %y", "2024-W36 24"),
        ("100%% %q", "100% q"),
    ] {
        assert_eq!(
            common::scalar(&session, &format!("SELECT date_format({ts}, '{format}')")).await,
            want,
            "{format}"
        );
    }
    assert_eq!(
        rows(
            &session,
            "SELECT date_format(ChargePeriodStart, '%Y-%m') AS month, sum(BilledCost) FROM focus \
                        WHERE BillingCurrency = 'EUR' GROUP BY 1"
        )
        .await,
        strings(&[&["2024-09", "21.250000000000000"]])
    );
    assert_eq!(
        error(&session, "SELECT date_format(ChargePeriodStart, '%D') FROM focus").await,
        "date_format: %D in '%D' is not a specifier it supports"
    );
    assert_eq!(
        error(&session, "SELECT date_diff('fortnight', ChargePeriodStart, ChargePeriodEnd) FROM focus").await,
        "date_diff: 'fortnight' is not a unit; use millisecond, second, minute, hour, day, week, month, quarter or year"
    );
}

#[tokio::test]
async fn element_at_and_the_json_arrow_read_a_tag() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    let want = strings(&[&["web", "NULL"], &["data", "prod"], &["NULL", "NULL"]]);
    for sql in [
        "SELECT element_at(Tags, 'team'), element_at(tags, 'env') FROM focus WHERE BillingCurrency = 'USD' ORDER BY BilledCost DESC",
        "SELECT Tags->>'team', tags ->> 'env' FROM focus WHERE BillingCurrency = 'USD' ORDER BY BilledCost DESC",
        "SELECT Tags->'team', Tags['env'] FROM focus WHERE BillingCurrency = 'USD' ORDER BY BilledCost DESC",
    ] {
        assert_eq!(rows(&session, sql).await, want, "{sql}");
    }
    assert_eq!(
        rows(
            &session,
            "SELECT element_at(make_array(10, 20, 30), 2), element_at(make_array(10, 20, 30), -1), \
                        element_at(make_array(10, 20, 30), 4)"
        )
        .await,
        strings(&[&["20", "30", "NULL"]])
    );
    let export = dir.path().join("focus.parquet");
    session.export(FocusVersion::V1_2, &export).await.unwrap();
    let duck = format!(
        "SELECT string_agg(coalesce(json_extract_string(Tags, '$.team'), 'NULL'), ',' ORDER BY BilledCost DESC) \
         FROM read_parquet('{}') WHERE BillingCurrency = 'USD'",
        export.display()
    );
    assert_eq!(
        common::scalar(
            &session,
            "SELECT string_agg(coalesce(element_at(Tags, 'team'), 'NULL'), ',' ORDER BY BilledCost DESC) \
                                  FROM focus WHERE BillingCurrency = 'USD'"
        )
        .await,
        duckdb_scalars(&[duck])[0]
    );
    assert_eq!(
        error(&session, "SELECT json_extract_scalar(Tags, '$.team') FROM focus").await,
        "json_extract_scalar() is not available in costpilot: Tags is a map: read a tag as Tags['team'] (or element_at(Tags, 'team'))"
    );
    assert_eq!(
        error(&session, "SELECT element_at(Tags) FROM focus").await,
        "element_at takes two arguments: a map and a key (or a list and a 1-based position)"
    );
}

#[tokio::test]
async fn internal_functions_are_refused_while_the_view_uses_them() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let mut scope = Scope::all();
    scope.add("account=111").unwrap();
    let session = lake.session_scoped(&scope).await.unwrap();
    let refused = "costpilot_dimensions() is internal to costpilot and cannot be called from SQL: read the \
                   allocation dimensions as the columns x_<dimension> of focus (x_team, ...)";
    for sql in [
        "SELECT costpilot_dimensions(SubAccountId, SubAccountName, ResourceId, ServiceName, RegionId, \
         ChargeCategory, Tags, x_CostCategories) FROM focus",
        "SELECT * FROM focus WHERE COSTPILOT_DIMENSIONS('1', '2', '3', '4', '5', '6', Tags, Tags) IS NOT NULL",
        "WITH x AS (SELECT Costpilot_Dimensions(SubAccountId) AS d FROM focus_lake) SELECT * FROM x",
        "SELECT \"costpilot_dimensions\"(SubAccountId) FROM focus",
    ] {
        assert_eq!(error(&session, sql).await, refused, "{sql}");
    }
    assert_eq!(
        error(&session, "SELECT costpilot_anything(1)").await,
        "costpilot_anything() is internal to costpilot and cannot be called from SQL"
    );
    // The scoped view, which resolves dimensions with that function, still answers.
    assert_eq!(
        rows(&session, "SELECT count(*), sum(BilledCost) FROM focus").await,
        strings(&[&["2", "15.500000000000000"]])
    );
    let accounts: BTreeSet<Vec<String>> =
        rows(&session, "SELECT DISTINCT SubAccountId FROM focus").await.into_iter().collect();
    assert_eq!(accounts, BTreeSet::from([vec!["111".to_string()]]));
}

#[tokio::test]
async fn an_oversized_regex_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let session = lake(dir.path()).session().await.unwrap();
    let refused = "regular expression too large: a pattern may compile to at most 10.0 MiB (the regex size \
                   limit); match fewer alternatives, or compare with IN (...) or LIKE instead";
    for sql in [
        // DataFusion reports these three as an internal error, "likely caused by a bug in DataFusion".
        "SELECT count(*) FROM focus WHERE regexp_like(ServiceName, repeat('a{1000}', 1000))".to_string(),
        format!("SELECT count(*) FROM focus WHERE ServiceName ~ '{}'", "(ab|cd)".repeat(40_000)),
        "SELECT count(*) FROM focus WHERE ServiceName SIMILAR TO repeat('a{1000}', 1000)".to_string(),
        "SELECT regexp_replace(ServiceName, repeat('x{100}', 5000), '') FROM focus".to_string(),
        "SELECT regexp_match(ServiceName, repeat('a{1000}', 1000)) FROM focus".to_string(),
    ] {
        assert_eq!(error(&session, &sql).await, refused, "{}", &sql[..60]);
    }
    // A long pattern that compiles small is no error.
    let sql = "SELECT count(*) FROM focus WHERE regexp_like(ServiceName, repeat('a', 100000))";
    assert_eq!(common::scalar(&session, sql).await, "0");
}
