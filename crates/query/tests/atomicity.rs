//! Readers during re-ingests see the old or the new unit, never a mix.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{ingest, row, scalar};
use costpilot_query::{Sessions, open_lake};

/// Version A of payer 111's September: 50 lines of 2.00 (100.00). Version B: 10 lines of 25.00
/// (250.00). Payer 222 has one line of 7.00 throughout.
fn version(a: bool) -> Vec<common::Row> {
    if a {
        (0..50).map(|d| row("AWS", "111", "2024-09", "USD", "2.00").day(d % 28 + 1)).collect()
    } else {
        (0..10).map(|d| row("AWS", "111", "2024-09", "USD", "25.00").day(d + 1)).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_during_re_ingests_see_the_old_or_the_new_unit() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(dir.path()).unwrap();
    ingest(&lake, "payer-222", &[row("AWS", "222", "2024-09", "USD", "7.00")]);
    ingest(&lake, "payer-111-a-start", &version(true));

    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let lake = lake.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            for i in 0..30 {
                let a = i % 2 == 1;
                ingest(&lake, &format!("payer-111-{i}"), &version(a));
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let reads = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..2 {
        let lake = lake.clone();
        let done = done.clone();
        let reads = reads.clone();
        readers.push(tokio::spawn(async move {
            let started = Instant::now();
            let mut seen = std::collections::BTreeSet::new();
            while !done.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(60) {
                let session = lake.session().await.unwrap();
                let both = scalar(&session, "SELECT concat(count(*), ' ', sum(BilledCost)) FROM focus").await;
                assert!(
                    both == "51 107.000000000000000" || both == "11 257.000000000000000",
                    "a reader saw a mix of old and new rows: {both}"
                );
                seen.insert(both);
                reads.fetch_add(1, Ordering::SeqCst);
            }
            seen
        }));
    }
    writer.join().unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for r in readers {
        seen.extend(r.await.unwrap());
    }
    assert!(reads.load(Ordering::SeqCst) >= 2, "the readers ran");
    eprintln!("{} reads saw {:?}", reads.load(Ordering::SeqCst), seen);
    let session = lake.session().await.unwrap();
    // The last re-ingest (i = 29) wrote version A.
    assert_eq!(scalar(&session, "SELECT sum(BilledCost) FROM focus").await, "107.000000000000000");
    assert_eq!(
        lake.manifest().unwrap().retired().len(),
        30 * (1 + costpilot_query::rollup::DEFINITIONS.len()),
        "30 replacements of a unit of one data file and one part per rollup"
    );
}
