//! Pacing benchmark: the real binary importing into the in-process sandbox over loopback.
//! For each case it prints the achieved rate against what the server's limit leaves the
//! run (the limit, less another client's share), the share of requests answered 429, the
//! importer's CPU time per request, and whether every row was created exactly once, next to
//! the targets of issues 2, 4 and 12.
//!
//! Run: `cargo bench --bench pacing` (about eight minutes: most cases run at 20/s). Cases
//! marked "by hand" (minutes each) run only when named:
//! `cargo bench --bench pacing -- "(i)"`, `cargo bench --bench pacing -- "(j)"`.

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
    /// Requests per second another client of the same organization spends.
    other_client_rps: f64,
    told: &'static str,
    /// Least achieved share of what the limit leaves this run, and most share of 429s, to
    /// pass.
    target: Option<(f64, f64)>,
    /// Run only when named on the command line (it takes minutes).
    by_hand: bool,
}

impl Case {
    /// A case with a Retry-After in seconds, no faults, no other client.
    fn new(name: &'static str, rows: usize, limit: Limit, told: &'static str) -> Case {
        Case {
            name,
            rows,
            limit,
            retry_after: RetryAfterMode::Seconds,
            error_rate: 0.0,
            other_client_rps: 0.0,
            told,
            target: None,
            by_hand: false,
        }
    }

    fn target(self, share: f64, rate_limited: f64) -> Case {
        Case {
            target: Some((share, rate_limited)),
            ..self
        }
    }

    fn without_retry_after(self) -> Case {
        Case {
            retry_after: RetryAfterMode::None,
            ..self
        }
    }

    /// What the limit leaves this run, in requests per second.
    fn left_per_sec(&self) -> f64 {
        limit_per_sec(&self.limit) - self.other_client_rps
    }
}

fn per_sec(count: u32) -> Rate {
    Rate {
        count,
        per: Duration::from_secs(1),
    }
}

fn bucket(per_second: u32) -> Limit {
    Limit::TokenBucket {
        rate: per_sec(per_second),
        burst: 2,
    }
}

fn window(max: u32, secs: u64) -> Limit {
    Limit::FixedWindow {
        max,
        window: Duration::from_secs(secs),
    }
}

#[tokio::main]
async fn main() {
    let cases = [
        Case::new(
            "issue 2: 1,000 rows, limit 100/s burst 2, told 100/s",
            1000,
            bucket(100),
            "100/s",
        )
        .target(0.97, 0.01),
        Case::new(
            "issue 2: 20 rows, limit 120/min burst 2, told 120/min",
            20,
            Limit::TokenBucket {
                rate: Rate::HELPCRUNCH_DEFAULT,
                burst: 2,
            },
            "120/min",
        )
        .target(0.97, 0.0),
        Case::new(
            "(a) 1,000 rows, limit 20/s burst 2, told 20/s",
            1000,
            bucket(20),
            "20/s",
        )
        .target(0.99, 0.0),
        Case::new(
            "(b) 1,000 rows, limit 20/s burst 2, told 80/s (4x)",
            1000,
            bucket(20),
            "80/s",
        )
        .target(0.95, 0.05),
        Case::new(
            "(c) 1,000 rows, fixed windows of 100 per 5 s, told 20/s",
            1000,
            window(100, 5),
            "20/s",
        )
        .target(0.99, 0.0),
        Case {
            retry_after: RetryAfterMode::Date,
            error_rate: 0.2,
            ..Case::new(
                "(d) 400 rows, limit 20/s burst 2, 20 % 503 with Retry-After dates",
                400,
                bucket(20),
                "20/s",
            )
        },
        Case::new(
            "(e) 400 rows, fixed window 40 per 5 s, no Retry-After, told 16/s (2x)",
            400,
            window(40, 5),
            "16/s",
        )
        .without_retry_after()
        .target(0.90, 0.03),
        Case {
            other_client_rps: 0.5,
            ..Case::new(
                "(f) 300 rows, fixed window 20 per 10 s, no Retry-After, told 2/s, another client 25 %",
                300,
                window(20, 10),
                "2/s",
            )
            .without_retry_after()
            .target(0.85, 1.0)
        },
        Case::new(
            "(g) 1,000 rows, limit 20/s burst 2, no Retry-After, told 80/s (4x)",
            1000,
            bucket(20),
            "80/s",
        )
        .without_retry_after()
        .target(0.95, 0.05),
        Case::new(
            "(h) 400 rows, fixed window 40 per 5 s, no Retry-After, told 8/s",
            400,
            window(40, 5),
            "8/s",
        )
        .without_retry_after()
        .target(0.99, 0.0),
        Case {
            by_hand: true,
            ..Case::new(
                "(i) by hand: 10 minutes, fixed window 120 per 60 s, no Retry-After, told 4/s (2x)",
                1200,
                window(120, 60),
                "4/s",
            )
            .without_retry_after()
            .target(0.90, 0.03)
        },
        // (b) over four times as long: what three 1-second pauses cost once, amortised.
        Case {
            by_hand: true,
            ..Case::new(
                "(j) by hand: 4,000 rows, limit 20/s burst 2, told 80/s (4x)",
                4000,
                bucket(20),
                "80/s",
            )
            .target(0.95, 0.05)
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
    let named = |case: &Case| filter.iter().all(|f| case.name.contains(f.as_str()));
    for case in cases
        .iter()
        .filter(|c| named(c) && (!c.by_hand || !filter.is_empty()))
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
            other_client_rps: case.other_client_rps,
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
    // Every answered request was paced (read-backs too); the first may go at t = 0.
    let answered = stats.requests.saturating_sub(stats.rate_limited) as f64;
    let achieved = (answered - 1.0).max(0.0) / elapsed / case.left_per_sec();
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
