//! End-to-end: the issue 4 scenarios, small and fast. Each asserts exactly-once creation
//! and that the run's own 429 and retry counts agree with the sandbox's; the speed
//! targets live in `cargo bench --bench pacing`.

mod common;

use std::time::Duration;

use common::{Imported, import_exactly_once, per_sec};
use helpcrunch_import::sandbox::{Limit, RetryAfterMode, SandboxConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_told_the_right_rate_creates_every_row_once_with_next_to_no_429s() {
    let config = SandboxConfig {
        limit: Some(Limit::TokenBucket {
            rate: per_sec(50),
            burst: 2,
        }),
        retry_after: RetryAfterMode::Seconds,
        ..SandboxConfig::default()
    };
    let Imported { sandbox, dir, .. } = import_exactly_once(config, 100, &["--rate", "50/s"]).await;
    let stats = sandbox.stats();
    // Unpaced, 16 workers would meet dozens of 429s; paced, a loaded machine may cause one.
    assert!(stats.rate_limited <= 2, "{stats:?}");
    let summary = dir.summary();
    assert_eq!(summary["rate_limited"], stats.rate_limited);
    assert_eq!(summary["requests"], stats.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_told_four_times_the_limit_adapts_down_and_creates_every_row_once() {
    let config = SandboxConfig {
        limit: Some(Limit::TokenBucket {
            rate: per_sec(50),
            burst: 2,
        }),
        retry_after: RetryAfterMode::Seconds,
        ..SandboxConfig::default()
    };
    let Imported { sandbox, dir, run } =
        import_exactly_once(config, 200, &["--rate", "200/s"]).await;
    let stats = sandbox.stats();
    let summary = dir.summary();
    assert_eq!(summary["rate_limited"], stats.rate_limited);
    assert!(
        stats.rate_limited >= 1,
        "4x the limit must meet a 429: {stats:?}"
    );
    // Without adaptation every pause would end in another burst of 429s at 200/s.
    assert!(stats.rate_limited * 10 <= stats.requests, "{stats:?}");
    assert!(
        summary["rate_changes"].as_u64().unwrap_or(0) >= 1,
        "{summary}"
    );
    let final_rate = summary["final_rate_per_min"].as_f64().unwrap_or(f64::MAX);
    assert!(final_rate < 200.0 * 60.0, "the rate came down: {summary}");
    assert!(
        run.stderr.contains("rate lowered"),
        "the change is logged: {}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_fixed_windows_create_every_row_once() {
    let config = SandboxConfig {
        limit: Some(Limit::FixedWindow {
            max: 50,
            window: Duration::from_secs(1),
        }),
        retry_after: RetryAfterMode::Seconds,
        ..SandboxConfig::default()
    };
    let Imported { sandbox, dir, .. } = import_exactly_once(config, 120, &["--rate", "50/s"]).await;
    let stats = sandbox.stats();
    assert_eq!(dir.summary()["rate_limited"], stats.rate_limited);
    assert_eq!(dir.summary()["requests"], stats.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_server_errors_with_retry_after_dates_create_every_row_once() {
    let config = SandboxConfig {
        error_rate: 0.2,
        retry_after: RetryAfterMode::Date,
        seed: 5,
        ..SandboxConfig::default()
    };
    let Imported { sandbox, dir, .. } = import_exactly_once(config, 60, &["--rate", "100/s"]).await;
    let stats = sandbox.stats();
    assert!(stats.server_errors > 0, "{stats:?}");
    let summary = dir.summary();
    assert_eq!(summary["retries"], stats.server_errors);
    assert_eq!(summary["requests"], stats.requests);
    // A 503 is this request's fault, not the organization's limit: nobody else paused.
    assert_eq!(summary["paused_secs"], 0.0);
}

// Issue 12: a fixed window with no Retry-After, and a budget another client shares.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_a_fixed_window_without_retry_after_is_probed_one_at_a_time_and_learned() {
    // 20 a second in windows of one second, no Retry-After; told twice the limit.
    let config = SandboxConfig {
        limit: Some(Limit::FixedWindow {
            max: 20,
            window: Duration::from_secs(1),
        }),
        retry_after: RetryAfterMode::None,
        ..SandboxConfig::default()
    };
    let Imported { sandbox, dir, run } =
        import_exactly_once(config, 200, &["--rate", "40/s"]).await;
    let stats = sandbox.stats();
    let summary = dir.summary();
    assert_eq!(summary["rate_limited"], stats.rate_limited);
    assert_eq!(summary["requests"], stats.requests);
    // Every 429 of an exhausted window is one event, probed by one request at a time:
    // sixteen workers answered 429 each time they tried would make dozens a window.
    assert!(
        stats.rate_limited >= 1,
        "twice the limit meets a 429: {stats:?}"
    );
    assert!(stats.rate_limited * 10 <= stats.requests, "{stats:?}");
    assert_eq!(summary["limit_shape"], "fixed_window", "{summary}");
    assert!(
        summary["window_budget"].as_u64().is_some_and(|b| b >= 15),
        "{summary}"
    );
    let window = summary["window_secs"].as_f64().unwrap_or(0.0);
    assert!(
        (1.0..2.0).contains(&window),
        "the period, within the probes: {summary}"
    );
    assert!(
        run.stderr.contains("behaves as a fixed window"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f_a_window_another_client_shares_creates_every_row_once() {
    // Windows of 20 per 2 s, a quarter of it spent by another client; told the limit.
    let config = SandboxConfig {
        limit: Some(Limit::FixedWindow {
            max: 20,
            window: Duration::from_secs(2),
        }),
        retry_after: RetryAfterMode::None,
        other_client_rps: 2.5,
        ..SandboxConfig::default()
    };
    let Imported { sandbox, dir, .. } = import_exactly_once(config, 60, &["--rate", "10/s"]).await;
    let stats = sandbox.stats();
    assert!(stats.other_client_requests > 0, "{stats:?}");
    let summary = dir.summary();
    // The other client's requests and 429s are its own, never counted as the run's.
    assert_eq!(summary["rate_limited"], stats.rate_limited);
    assert_eq!(summary["requests"], stats.requests);
    assert!(stats.rate_limited * 5 <= stats.requests, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g_a_bucket_without_retry_after_is_probed_and_adapted_to() {
    let config = SandboxConfig {
        limit: Some(Limit::TokenBucket {
            rate: per_sec(50),
            burst: 2,
        }),
        retry_after: RetryAfterMode::None,
        ..SandboxConfig::default()
    };
    let Imported { sandbox, dir, .. } =
        import_exactly_once(config, 200, &["--rate", "200/s"]).await;
    let stats = sandbox.stats();
    let summary = dir.summary();
    assert_eq!(summary["rate_limited"], stats.rate_limited);
    assert!(stats.rate_limited >= 1, "{stats:?}");
    assert!(stats.rate_limited * 10 <= stats.requests, "{stats:?}");
    assert_eq!(summary["limit_shape"], "token_bucket", "{summary}");
    let final_rate = summary["final_rate_per_min"].as_f64().unwrap_or(f64::MAX);
    assert!(final_rate < 200.0 * 60.0, "the rate came down: {summary}");
}
