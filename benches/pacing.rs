//! Pacing benchmark: the real pipeline against the in-process sandbox, printing the
//! achieved rate against the server's limit and the share of requests answered 429.
//!
//! Run: `cargo bench --bench pacing` (about 25 seconds).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use clap::Parser;
use helpcrunch_import::cli::Cli;
use helpcrunch_import::rate::Rate;
use helpcrunch_import::sandbox::{Limit, Sandbox, SandboxConfig};
use tokio_util::sync::CancellationToken;

struct Case {
    name: &'static str,
    rows: usize,
    server: Rate,
    burst: u32,
    told: &'static str,
}

#[tokio::main]
async fn main() {
    let cases = [
        Case {
            name: "1,000 rows, server limit 100/s, told 100/s",
            rows: 1000,
            server: Rate {
                count: 100,
                per: Duration::from_secs(1),
            },
            burst: 2,
            told: "100/s",
        },
        Case {
            name: "20 rows, server limit 120/min, told 120/min",
            rows: 20,
            server: Rate::HELPCRUNCH_DEFAULT,
            burst: 2,
            told: "120/min",
        },
    ];
    println!("| case | seconds | requests | achieved / limit | 429 share |");
    println!("|---|---|---|---|---|");
    for case in cases {
        run_case(&case).await;
    }
}

async fn run_case(case: &Case) {
    let sandbox = Sandbox::start(
        SandboxConfig {
            limit: Some(Limit::TokenBucket {
                rate: case.server,
                burst: case.burst,
            }),
            ..SandboxConfig::default()
        },
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
    )
    .await
    .expect("sandbox starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("rows.csv");
    let mut text = String::from("userId,email\n");
    for i in 0..case.rows {
        text.push_str(&format!("u{i},u{i}@example.com\n"));
    }
    std::fs::write(&input, text).expect("write input");
    let out = dir.path().join("out");
    // SAFETY: set before any thread of ours reads the environment concurrently.
    unsafe { std::env::set_var("HELPCRUNCH_API_KEY", "bench") };
    let cli = Cli::try_parse_from([
        "helpcrunch-import",
        "import",
        input.to_str().unwrap_or_default(),
        "--base-url",
        &sandbox.base_url(),
        "--out",
        out.to_str().unwrap_or_default(),
        "--rate",
        case.told,
        "--concurrency",
        "8",
    ])
    .expect("bench arguments parse");
    let start = Instant::now();
    let ending =
        helpcrunch_import::run(&cli, false, CancellationToken::new(), &Default::default()).await;
    let elapsed = start.elapsed().as_secs_f64();
    let stats = sandbox.stats();
    assert!(ending.is_ok(), "the import failed: {ending:?}");
    assert_eq!(stats.created as usize, case.rows, "every row created");
    // The first request may go at t=0, so n rows need (n-1) intervals.
    let achieved = (stats.requests as f64 - 1.0) / elapsed;
    println!(
        "| {} | {:.2} | {} | {:.3} | {:.2} % |",
        case.name,
        elapsed,
        stats.requests,
        achieved / case.server.per_second(),
        100.0 * stats.rate_limited as f64 / stats.requests as f64,
    );
    sandbox.shutdown().await;
}
