//! Pacing benchmark: the real binary importing into the in-process sandbox over loopback.
//! For each case it prints the achieved rate against the server's limit, the share of
//! requests answered 429, the importer's CPU time per request, and whether every row was
//! created exactly once, next to the targets of issues 2 and 4.
//!
//! Run: `cargo bench --bench pacing` (about four minutes: most cases run at 20/s).

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use helpcrunch_import::rate::Rate;
use helpcrunch_import::sandbox::{Limit, RetryAfterMode, Sandbox, SandboxConfig};

struct Case {
    name: &'static str,
    rows: usize,
    limit: Limit,
    retry_after: RetryAfterMode,
    error_rate: f64,
    told: &'static str,
    /// Least achieved share of the limit, and most share of 429s, to pass.
    target: Option<(f64, f64)>,
}

fn per_sec(count: u32) -> Rate {
    Rate {
        count,
        per: Duration::from_secs(1),
    }
}

#[tokio::main]
async fn main() {
    let cases = [
        Case {
            name: "issue 2: 1,000 rows, limit 100/s burst 2, told 100/s",
            rows: 1000,
            limit: Limit::TokenBucket {
                rate: per_sec(100),
                burst: 2,
            },
            retry_after: RetryAfterMode::Seconds,
            error_rate: 0.0,
            told: "100/s",
            target: Some((0.97, 0.01)),
        },
        Case {
            name: "issue 2: 20 rows, limit 120/min burst 2, told 120/min",
            rows: 20,
            limit: Limit::TokenBucket {
                rate: Rate::HELPCRUNCH_DEFAULT,
                burst: 2,
            },
            retry_after: RetryAfterMode::Seconds,
            error_rate: 0.0,
            told: "120/min",
            target: Some((0.97, 0.0)),
        },
        Case {
            name: "(a) 1,000 rows, limit 20/s burst 2, told 20/s",
            rows: 1000,
            limit: Limit::TokenBucket {
                rate: per_sec(20),
                burst: 2,
            },
            retry_after: RetryAfterMode::Seconds,
            error_rate: 0.0,
            told: "20/s",
            target: Some((0.97, 0.01)),
        },
        Case {
            name: "(b) 1,000 rows, limit 20/s burst 2, told 80/s (4x)",
            rows: 1000,
            limit: Limit::TokenBucket {
                rate: per_sec(20),
                burst: 2,
            },
            retry_after: RetryAfterMode::Seconds,
            error_rate: 0.0,
            told: "80/s",
            target: Some((0.90, 0.05)),
        },
        Case {
            name: "(c) 1,000 rows, fixed windows of 100 per 5 s, told 20/s",
            rows: 1000,
            limit: Limit::FixedWindow {
                max: 100,
                window: Duration::from_secs(5),
            },
            retry_after: RetryAfterMode::Seconds,
            error_rate: 0.0,
            told: "20/s",
            target: Some((0.90, 1.0)),
        },
        Case {
            name: "(d) 400 rows, limit 20/s burst 2, 20 % 503 with Retry-After dates",
            rows: 400,
            limit: Limit::TokenBucket {
                rate: per_sec(20),
                burst: 2,
            },
            retry_after: RetryAfterMode::Date,
            error_rate: 0.2,
            told: "20/s",
            target: None,
        },
    ];
    // `cargo bench --bench pacing -- TEXT` runs only the cases whose name holds TEXT.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    println!(
        "| case | seconds | requests | achieved / limit | 429 share | CPU per request | exactly once | target |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for case in cases
        .iter()
        .filter(|c| filter.iter().all(|f| c.name.contains(f.as_str())))
    {
        run_case(case).await;
    }
}

fn limit_per_sec(limit: &Limit) -> f64 {
    match limit {
        Limit::TokenBucket { rate, .. } => rate.per_second(),
        Limit::FixedWindow { max, window } => f64::from(*max) / window.as_secs_f64(),
    }
}

/// User + system CPU time of this process's waited-for children so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes into the struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

async fn run_case(case: &Case) {
    let sandbox = Sandbox::start(
        SandboxConfig {
            api_key: Some("bench-key".into()),
            limit: Some(case.limit),
            retry_after: case.retry_after,
            error_rate: case.error_rate,
            seed: 11,
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
    let config = dir.path().join("retry.toml");
    std::fs::write(
        &config,
        "[retry]\nmax_attempts = 20\ninitial_delay_ms = 50\nmax_delay_secs = 2\n",
    )
    .expect("write config");
    let out = dir.path().join("out");

    let cpu_before = children_cpu();
    let start = Instant::now();
    let status = tokio::process::Command::new(env!("CARGO_BIN_EXE_helpcrunch-import"))
        .arg("import")
        .arg(&input)
        .args([
            "--base-url",
            &sandbox.base_url(),
            "--rate",
            case.told,
            "--log-format",
            "json",
        ])
        .arg("--config")
        .arg(&config)
        .arg("--out")
        .arg(&out)
        .env("HELPCRUNCH_API_KEY", "bench-key")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .expect("the importer runs");
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = children_cpu() - cpu_before;

    let stats = sandbox.stats();
    let ids: Vec<String> = sandbox
        .customers()
        .iter()
        .filter_map(|c| c["userId"].as_str().map(String::from))
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    let exactly_once = status.success() && ids.len() == case.rows && unique.len() == case.rows;
    // The first request may go at t = 0, so n rows need n - 1 intervals.
    let achieved = (case.rows as f64 - 1.0) / elapsed / limit_per_sec(&case.limit);
    let share_429 = stats.rate_limited as f64 / stats.requests.max(1) as f64;
    let verdict = match case.target {
        Some((rate, share)) if achieved >= rate && share_429 <= share && exactly_once => {
            format!("met (≥ {rate}, ≤ {:.0} %)", share * 100.0)
        }
        Some((rate, share)) => format!("MISSED (≥ {rate}, ≤ {:.0} %)", share * 100.0),
        None if exactly_once => "met (exactly once)".to_string(),
        None => "MISSED (exactly once)".to_string(),
    };
    println!(
        "| {} | {:.1} | {} | {:.3} | {:.2} % | {:.0} µs | {} | {} |",
        case.name,
        elapsed,
        stats.requests,
        achieved,
        100.0 * share_429,
        cpu.as_secs_f64() * 1e6 / stats.requests.max(1) as f64,
        if exactly_once { "yes" } else { "NO" },
        verdict
    );
    sandbox.shutdown().await;
}
