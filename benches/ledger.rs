//! Ledger benchmark: what recording every row costs, and how fast a resume gets past rows
//! an earlier pass finished. Real SQLite files in a temp directory, no network.
//!
//! Run: `cargo bench --bench ledger` (`--profile dev` for a quick, unoptimised build: about a
//! minute). `LEDGER_BENCH_ROWS` sets the rows (100,000 by default).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use helpcrunch_import::ledger::{Begin, Claim, Ledger};
use helpcrunch_import::outcome::RowResult;
use helpcrunch_import::record::Origin;
use helpcrunch_import::source::{Format, Input};

/// Workers recording at once, as `--concurrency` would run them.
const WORKERS: u64 = 8;

#[tokio::main]
async fn main() {
    let rows: u64 = std::env::var("LEDGER_BENCH_ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("rows.csv");
    std::fs::write(&input, "userId\n").expect("write input");
    let inputs = [Input {
        name: input.display().to_string().into(),
        path: Some(input.clone()),
        format: Format::Csv,
        text: Default::default(),
    }];
    let out = dir.path().join("out");
    println!("| case | rows | seconds | rows/s |");
    println!("|---|---|---|---|");

    // A first pass: claim, intent (fsynced), outcome, as a worker and the results task do.
    let (ledger, _) = Ledger::open(&out, &inputs, "bench", Begin::Fresh).expect("open");
    let seconds = across_workers(
        &ledger,
        &inputs[0].name,
        rows,
        |ledger, origin| async move {
            let key = ledger.key(&origin).expect("key");
            assert_eq!(ledger.claim(key).await.ok(), Some(Claim::Send));
            let user_id = format!("u{}", origin.line);
            ledger
                .sending(key, Some(&user_id), None)
                .await
                .expect("sending");
            let created = RowResult::Created {
                id: Some(origin.line as i64),
            };
            ledger
                .record(key, &created, Some(&user_id), None)
                .await
                .expect("record");
        },
    )
    .await;
    ledger.close().await.expect("close");
    print_row("first pass: claim + intent + outcome", rows, seconds);
    print_size(&out);

    // A resume of that run: every row is finished, so it is claimed and recorded again.
    let (ledger, _) =
        Ledger::open(&out, &inputs, "bench", Begin::Resume { force: false }).expect("resume");
    let seconds = across_workers(
        &ledger,
        &inputs[0].name,
        rows,
        |ledger, origin| async move {
            let key = ledger.key(&origin).expect("key");
            let Ok(Claim::Finished(result)) = ledger.claim(key).await else {
                panic!("row {} is not finished", origin.line);
            };
            ledger
                .record(key, &result, None, None)
                .await
                .expect("record");
        },
    )
    .await;
    ledger.close().await.expect("close");
    print_row("resume of a finished run: claim + outcome", rows, seconds);
}

/// Runs `row` for lines 2..rows+2 on [`WORKERS`] tasks; returns the seconds taken.
async fn across_workers<F, Fut>(ledger: &Ledger, file: &Arc<str>, rows: u64, row: F) -> f64
where
    F: Fn(Ledger, Origin) -> Fut + Copy + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let start = Instant::now();
    let tasks: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let (ledger, file) = (ledger.clone(), file.clone());
            tokio::spawn(async move {
                let mut line = 2 + worker;
                while line < rows + 2 {
                    let origin = Origin {
                        file: file.clone(),
                        line,
                    };
                    row(ledger.clone(), origin).await;
                    line += WORKERS;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("worker");
    }
    start.elapsed().as_secs_f64()
}

fn print_row(case: &str, rows: u64, seconds: f64) {
    println!(
        "| {case} | {rows} | {seconds:.2} | {:.0} |",
        rows as f64 / seconds
    );
}

fn print_size(out: &Path) {
    let bytes = std::fs::metadata(out.join("ledger.sqlite"))
        .map(|m| m.len())
        .unwrap_or(0);
    println!("ledger.sqlite after the first pass: {} KiB", bytes / 1024);
}
