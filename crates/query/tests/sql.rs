//! SQL over the lake: unquoted FOCUS names, the currency guard, FX reporting columns.

mod common;

use common::{ingest, ingest_eur_payer, row, rows, scalar, value_text};
use costpilot_lake::Lake;
use costpilot_query::{LakeSession, QueryError, Sessions, open_lake};

/// USD: 10.00 + 5.50 (payer 111) + 3.00 (payer 222) = 18.50. EUR: 20.00 + 1.25 = 21.25.
fn mixed_lake(dir: &std::path::Path) -> Lake {
    let lake = open_lake(dir).unwrap();
    ingest(
        &lake,
        "aws.parquet",
        &[
            row("AWS", "111", "2024-09", "USD", "10.00").day(1).service("Amazon EC2").effective("8.00"),
            row("AWS", "111", "2024-09", "USD", "5.50").day(2).service("Amazon S3"),
            row("AWS", "222", "2024-09", "USD", "3.00").day(3).service("Amazon EC2"),
        ],
    );
    ingest_eur_payer(&lake);
    lake
}

async fn refusal(session: &LakeSession, sql: &str) -> String {
    match session.sql(sql).await {
        Err(QueryError::CurrencyMix(m)) => m,
        Err(other) => panic!("{sql}: expected a currency refusal, got {other}"),
        Ok(r) => panic!("{sql}: expected a currency refusal, got {} rows", r.num_rows()),
    }
}

const REFUSED: &str = "refusing to add BilledCost across currencies (EUR, USD): group by BillingCurrency or filter to one currency";

#[tokio::test]
async fn focus_names_work_unquoted_and_functions_in_any_case() {
    let dir = tempfile::tempdir().unwrap();
    let session = mixed_lake(dir.path()).session().await.unwrap();
    let got = rows(
        &session,
        "SELECT ServiceName, sum(BilledCost) AS Billed, SUM(EffectiveCost) AS Effective, Count(*) AS n \
         FROM focus WHERE BillingCurrency = 'USD' GROUP BY ServiceName ORDER BY ServiceName",
    )
    .await;
    assert_eq!(
        got,
        vec![
            vec!["Amazon EC2", "13.000000000000000", "11.000000000000000", "2"],
            vec!["Amazon S3", "5.500000000000000", "5.500000000000000", "1"],
        ]
    );
    let result = session
        .sql("SELECT SUM(BilledCost) AS Total FROM focus WHERE BillingCurrency = 'EUR'")
        .await
        .unwrap();
    assert_eq!(result.schema.field(0).name(), "Total", "aliases keep their case");
    assert_eq!(value_text(result.batches[0].column(0), 0), "21.250000000000000");
}

#[tokio::test]
async fn a_sum_across_currencies_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let session = mixed_lake(dir.path()).session().await.unwrap();
    assert_eq!(refusal(&session, "SELECT sum(BilledCost) FROM focus").await, REFUSED);
    assert_eq!(
        refusal(&session, "SELECT ServiceName, avg(BilledCost) FROM focus GROUP BY ServiceName").await,
        REFUSED
    );
    assert_eq!(
        refusal(&session, "SELECT sum(BilledCost + ListCost) FROM focus").await,
        "refusing to add BilledCost and ListCost across currencies (EUR, USD): group by BillingCurrency or \
         filter to one currency"
    );
    for sql in [
        // Totals per currency, then added together.
        "SELECT sum(t) FROM (SELECT BillingCurrency, sum(BilledCost) AS t FROM focus GROUP BY BillingCurrency)",
        // A rollup's grand total adds every currency.
        "SELECT BillingCurrency, sum(BilledCost) FROM focus GROUP BY ROLLUP(BillingCurrency)",
        "SELECT sum(BilledCost) OVER () FROM focus",
        "SELECT (SELECT sum(BilledCost) FROM focus) AS total",
        "SELECT sum(c) FROM (SELECT BilledCost AS c FROM focus WHERE BillingCurrency = 'USD' \
         UNION ALL SELECT BilledCost FROM focus WHERE BillingCurrency = 'EUR')",
        // The group key is the currency of one side, the amounts come from the other.
        "SELECT a.BillingCurrency, sum(b.BilledCost) FROM focus a JOIN focus b \
         ON a.ServiceName = b.ServiceName GROUP BY a.BillingCurrency",
        "SELECT sum(DISTINCT BilledCost) FROM focus",
        "SELECT median(BilledCost) FROM focus",
    ] {
        assert_eq!(refusal(&session, sql).await, REFUSED, "{sql}");
    }
}

#[tokio::test]
async fn sums_within_one_currency_are_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let session = mixed_lake(dir.path()).session().await.unwrap();
    assert_eq!(
        rows(
            &session,
            "SELECT BillingCurrency, sum(BilledCost) FROM focus GROUP BY BillingCurrency ORDER BY 1"
        )
        .await,
        vec![vec!["EUR", "21.250000000000000"], vec!["USD", "18.500000000000000"]]
    );
    assert_eq!(
        scalar(&session, "SELECT sum(BilledCost) FROM focus WHERE BillingCurrency = 'EUR'").await,
        "21.250000000000000"
    );
    // Filtered on another column whose rows happen to hold one currency: checked at run time.
    assert_eq!(
        scalar(&session, "SELECT sum(BilledCost) FROM focus WHERE ProviderName = 'AWS'").await,
        "18.500000000000000"
    );
    assert_eq!(
        rows(&session, "SELECT cur, sum(c) FROM (SELECT BillingCurrency AS cur, BilledCost AS c FROM focus) GROUP BY cur ORDER BY cur")
            .await,
        vec![vec!["EUR", "21.250000000000000"], vec!["USD", "18.500000000000000"]]
    );
    assert_eq!(
        rows(
            &session,
            "SELECT * FROM (SELECT ServiceName, sum(BilledCost) OVER (PARTITION BY BillingCurrency) AS t \
             FROM focus) AS w WHERE ServiceName = 'Storage'"
        )
        .await,
        vec![vec!["Storage", "21.250000000000000"]]
    );
    assert_eq!(
        rows(&session, "SELECT BillingCurrency, ServiceName, sum(BilledCost) FROM focus GROUP BY GROUPING SETS ((BillingCurrency), (BillingCurrency, ServiceName)) HAVING ServiceName IS NULL ORDER BY 1").await,
        vec![vec!["EUR", "NULL", "21.250000000000000"], vec!["USD", "NULL", "18.500000000000000"]]
    );
    // Aggregates that do not add may run over all currencies.
    assert_eq!(
        rows(&session, "SELECT count(*), max(BilledCost), min(BilledCost) FROM focus").await,
        vec![vec!["5", "20.000000000000000", "1.250000000000000"]]
    );
    // A query a filter makes single-currency through a subquery.
    assert_eq!(
        scalar(
            &session,
            "SELECT sum(b) FROM (SELECT BilledCost AS b FROM focus WHERE BillingCurrency = 'USD') AS usd"
        )
        .await,
        "18.500000000000000"
    );
}

#[tokio::test]
async fn the_guard_is_conservative_where_it_cannot_prove_one_currency() {
    let dir = tempfile::tempdir().unwrap();
    let session = mixed_lake(dir.path()).session().await.unwrap();
    // A computed key is not taken as a currency key, even when it would separate currencies.
    assert_eq!(
        refusal(&session, "SELECT lower(BillingCurrency), sum(BilledCost) FROM focus GROUP BY 1").await,
        REFUSED
    );
}

#[tokio::test]
async fn sql_is_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let session = mixed_lake(dir.path()).session().await.unwrap();
    for sql in [
        "CREATE TABLE t AS SELECT * FROM focus",
        "INSERT INTO focus SELECT * FROM focus",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let err = session.sql(sql).await.unwrap_err();
        assert!(matches!(err, QueryError::Query(_)), "{sql}: {err}");
    }
}

#[tokio::test]
async fn a_single_currency_lake_sums_freely() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap();
    ingest(
        &lake,
        "a",
        &[row("AWS", "111", "2024-09", "USD", "1.10"), row("AWS", "222", "2024-10", "USD", "2.20")],
    );
    let session = lake.session().await.unwrap();
    assert_eq!(scalar(&session, "SELECT sum(BilledCost) FROM focus").await, "3.300000000000000");
}

fn write_fx(dir: &std::path::Path, csv: &str, toml: Option<&str>) {
    std::fs::write(dir.join("fx.csv"), csv).unwrap();
    if let Some(t) = toml {
        std::fs::write(dir.join("fx.toml"), t).unwrap();
    }
}

const RATES: &str = "date,from_currency,to_currency,rate\n2024-09-01,EUR,USD,1.10\n2024-09-10,EUR,USD,1.20\n";

#[tokio::test]
async fn fx_columns_convert_at_the_rate_in_force_on_the_charge_date() {
    let dir = tempfile::tempdir().unwrap();
    let lake = mixed_lake(dir.path());
    write_fx(dir.path(), RATES, None);
    let session = lake.session().await.unwrap();
    assert_eq!(session.reporting_currency(), Some("USD"));
    // EUR 20.00 on 09-01 at 1.10 = 22.00; EUR 1.25 on 09-15 at 1.20 = 1.50; USD unchanged.
    assert_eq!(
        rows(
            &session,
            "SELECT BillingCurrency, BilledCost, x_ReportingCurrency, x_BilledCostInReportingCurrency, \
             x_EffectiveCostInReportingCurrency FROM focus WHERE ProviderName = 'Microsoft' ORDER BY ChargePeriodStart"
        )
        .await,
        vec![
            vec!["EUR", "20.000000000000000", "USD", "22.000000000000000", "22.000000000000000"],
            vec!["EUR", "1.250000000000000", "USD", "1.500000000000000", "1.500000000000000"],
        ]
    );
    // 18.50 + 22.00 + 1.50 = 42.00; effective: 8.00 + 5.50 + 3.00 + 22.00 + 1.50 = 40.00.
    assert_eq!(
        rows(
            &session,
            "SELECT sum(x_BilledCostInReportingCurrency), sum(x_EffectiveCostInReportingCurrency) FROM focus"
        )
        .await,
        vec![vec!["42.000000000000000", "40.000000000000000"]]
    );
    assert_eq!(
        refusal(&session, "SELECT sum(BilledCost) FROM focus").await,
        "refusing to add BilledCost across currencies (EUR, USD): group by BillingCurrency, filter to one \
         currency, or add x_BilledCostInReportingCurrency (converted to USD)"
    );
    // Filters reach the lake scan through the view, so one currency is still recognised.
    assert_eq!(
        scalar(&session, "SELECT sum(BilledCost) FROM focus WHERE BillingCurrency = 'EUR'").await,
        "21.250000000000000"
    );
    // The lake columns alone remain available.
    assert_eq!(scalar(&session, "SELECT count(*) FROM focus_lake").await, "5");
}

#[tokio::test]
async fn a_missing_rate_names_the_currency_and_the_date() {
    let dir = tempfile::tempdir().unwrap();
    let lake = mixed_lake(dir.path());
    ingest(&lake, "august", &[row("Microsoft", "ea-1", "2024-08", "EUR", "5.00").day(31)]);
    write_fx(dir.path(), RATES, Some("# reporting currency\nreporting_currency = \"USD\"\n"));
    let session = lake.session().await.unwrap();
    let err = session.sql("SELECT sum(x_BilledCostInReportingCurrency) FROM focus").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no FX rate from EUR to USD in force on 2024-08-31 ({}); add a rate dated on or before it",
            dir.path().join("fx.csv").display()
        )
    );
    assert_eq!(
        scalar(
            &session,
            "SELECT sum(x_BilledCostInReportingCurrency) FROM focus WHERE BillingPeriodStart >= '2024-09-01'"
        )
        .await,
        "42.000000000000000"
    );
}

#[tokio::test]
async fn bad_fx_configuration_is_reported_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let lake = mixed_lake(dir.path());
    write_fx(dir.path(), "date,from_currency,to_currency,rate\n2024-09-01,EUR,USD,abc\n", None);
    let err = lake.session().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: line 2: rate: 'abc' is not a number", dir.path().join("fx.csv").display())
    );

    write_fx(
        dir.path(),
        "date,from_currency,to_currency,rate\n2024-09-01,EUR,USD,1.1\n2024-09-01,USD,GBP,0.8\n",
        None,
    );
    let err = lake.session().await.unwrap_err();
    assert!(err.to_string().contains("rates into several currencies (GBP, USD)"), "{err}");

    write_fx(dir.path(), "date,from_currency,to_currency,rate\n2024-09-01,EUR,US'D,1.1\n", None);
    let err = lake.session().await.unwrap_err();
    assert!(
        err.to_string().ends_with("line 2: 'EUR' and 'US'D' must both be currency codes such as USD"),
        "{err}"
    );

    write_fx(dir.path(), RATES, Some("currency = USD\n"));
    let err = lake.session().await.unwrap_err();
    assert!(err.to_string().contains("line 1: expected reporting_currency = \"XXX\""), "{err}");
}

#[tokio::test]
async fn tags_are_read_by_key_and_time_is_truncated_in_utc() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap();
    // 2024-09-01 was a Sunday: its week starts on Monday 2024-08-26.
    ingest(
        &lake,
        "tags.parquet",
        &[
            row("AWS", "111", "2024-09", "USD", "4.00").day(1).tags(&[("team", "web"), ("env", "prod")]),
            row("AWS", "111", "2024-09", "USD", "2.50").day(2).tags(&[("team", "web")]),
            row("AWS", "111", "2024-09", "USD", "1.25").day(9).tags(&[("team", "data")]),
            row("AWS", "111", "2024-09", "USD", "0.75").day(30),
        ],
    );
    let session = lake.session().await.unwrap();
    let got = rows(
        &session,
        "SELECT Tags['team'] AS team, sum(BilledCost) FROM focus GROUP BY Tags['team'] ORDER BY team NULLS LAST",
    )
    .await;
    assert_eq!(
        got,
        vec![
            vec!["data", "1.250000000000000"],
            vec!["web", "6.500000000000000"],
            vec!["NULL", "0.750000000000000"],
        ]
    );
    let got = rows(
        &session,
        "SELECT date_trunc('week', ChargePeriodStart) AS week, sum(BilledCost) FROM focus \
         GROUP BY date_trunc('week', ChargePeriodStart) ORDER BY week",
    )
    .await;
    assert_eq!(
        got,
        vec![
            vec!["2024-08-26T00:00:00Z", "4.000000000000000"],
            vec!["2024-09-02T00:00:00Z", "2.500000000000000"],
            vec!["2024-09-09T00:00:00Z", "1.250000000000000"],
            vec!["2024-09-30T00:00:00Z", "0.750000000000000"],
        ]
    );
    let got = rows(
        &session,
        "SELECT date_trunc('MONTH', ChargePeriodStart) AS month, datetrunc('quarter', ChargePeriodStart), \
         sum(BilledCost) FROM focus GROUP BY 1, 2",
    )
    .await;
    assert_eq!(got, vec![vec!["2024-09-01T00:00:00Z", "2024-07-01T00:00:00Z", "8.500000000000000"]]);
}
