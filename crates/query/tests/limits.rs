//! Query limits: a query that needs more memory than its limit fails with a clear message, and
//! one that runs longer than its time limit is stopped; neither takes long.

mod common;

use std::time::{Duration, Instant};

use common::{ingest, row};
use costpilot_lake::Lake;
use costpilot_query::{QueryLimits, Scope, Sessions, open_lake};

/// 400 lines with distinct descriptions, so a cross join of the lake with itself has 160,000
/// rows and with itself twice 64 million.
fn lake(dir: &std::path::Path) -> Lake {
    let lake = open_lake(dir).unwrap();
    let rows: Vec<_> = (0..400)
        .map(|i| {
            row("AWS", "111", "2024-09", "USD", &format!("{}.{:02}", i % 50, i % 100))
                .day(1 + i % 28)
                .service(&format!("Service {i:03} with a name long enough to take some memory"))
        })
        .collect();
    ingest(&lake, "limits.parquet", &rows);
    lake
}

#[tokio::test]
async fn a_query_over_its_memory_limit_fails_with_the_limit_named() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let limits = QueryLimits { memory: 64 << 10, timeout: Duration::from_secs(60) };
    let session = lake.session_with_limits(&Scope::all(), limits).await.unwrap();
    let started = Instant::now();
    let err = session
        .sql("SELECT a.ServiceName, b.ServiceName FROM focus a CROSS JOIN focus b ORDER BY 1, 2")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("query exceeded its memory limit of 64.0 KiB (COSTPILOT_QUERY_MEMORY): "),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    // The same session answers a query within the limit.
    assert_eq!(common::scalar(&session, "SELECT count(*) FROM focus").await, "400");
}

#[tokio::test]
async fn a_query_over_its_time_limit_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let limits = QueryLimits { memory: 1 << 30, timeout: Duration::from_millis(500) };
    let session = lake.session_with_limits(&Scope::all(), limits).await.unwrap();
    let started = Instant::now();
    let err = session
        .sql(
            "SELECT count(*) FROM focus a, focus b, focus c \
             WHERE a.ServiceName < b.ServiceName AND b.ServiceName < c.ServiceName",
        )
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "query stopped after 0.5 s, its time limit (COSTPILOT_QUERY_TIMEOUT): narrow its time range or \
         filters, or raise the limit"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}
