//! Run counters, and what shows them while the run goes: a progress bar on a terminal,
//! periodic log lines otherwise.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing_indicatif::span_ext::IndicatifSpanExt;
use tracing_indicatif::style::ProgressStyle;

/// Counters every stage bumps and the reporter reads. Plain atomics: each is exact on
/// its own, and a report may mix values a few microseconds apart.
#[derive(Debug, Default)]
pub struct Counters {
    pub rows_read: AtomicU64,
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    pub requests: AtomicU64,
    /// Searches among `requests`: settling rows in doubt, finding existing contacts' ids.
    pub lookups: AtomicU64,
    pub rate_limited: AtomicU64,
    /// Read-backs among `requests` (`--verify`).
    pub verifications: AtomicU64,
    pub retries: AtomicU64,
    /// Rows sleeping before a retry right now.
    pub retrying: AtomicU64,
    /// The pacing rate in force, in thousandths of a request per minute (0: not sending).
    pub rate_milli_per_min: AtomicU64,
    /// Raw bytes taken from the inputs, against `total_bytes` for the ETA.
    pub bytes_read: Arc<AtomicU64>,
}

impl Counters {
    pub fn add_request(&self) {
        self.requests.fetch_add(1, Relaxed);
    }
    pub fn add_lookup(&self) {
        self.lookups.fetch_add(1, Relaxed);
    }
    pub fn add_verification(&self) {
        self.verifications.fetch_add(1, Relaxed);
    }
    pub fn add_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Relaxed);
    }
    pub fn add_retry(&self) {
        self.retries.fetch_add(1, Relaxed);
    }
    pub fn set_rate(&self, per_sec: f64) {
        self.rate_milli_per_min
            .store((per_sec * 60_000.0) as u64, Relaxed);
    }

    /// Counts a row as waiting to retry until the guard drops.
    pub fn retrying(&self) -> RetryingGuard<'_> {
        self.retrying.fetch_add(1, Relaxed);
        RetryingGuard(self)
    }
}

pub struct RetryingGuard<'a>(&'a Counters);

impl Drop for RetryingGuard<'_> {
    fn drop(&mut self) {
        self.0.retrying.fetch_sub(1, Relaxed);
    }
}

/// Whether to draw a bar: stderr is a terminal and logs are for people.
pub fn use_bar(json_logs: bool) -> bool {
    !json_logs && std::io::stderr().is_terminal()
}

/// What a run's progress is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// The requests the run was planned to spend: the bar fills with requests sent, and
    /// the ETA is the requests left at the rate in force.
    Requests(u64),
    /// The inputs' bytes: the rows to come are estimated from the share read.
    Bytes(u64),
    /// Nothing known (stdin): a count, no bar.
    Unknown,
}

/// Shows progress until `done` is cancelled: a bar when `bar`, else a log line every
/// `every`, measured against `goal`.
pub async fn report(
    counters: Arc<Counters>,
    goal: Goal,
    bar: bool,
    every: Duration,
    done: CancellationToken,
) {
    let start = Instant::now();
    let span = tracing::info_span!("import");
    if bar {
        let template = match goal {
            Goal::Requests(_) => "[{elapsed_precise}] {wide_bar} {pos}/{len} requests {msg}",
            Goal::Bytes(_) => {
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} ETA {eta} {msg}"
            }
            Goal::Unknown => "{spinner} [{elapsed_precise}] {msg}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            span.pb_set_style(&style);
        }
        span.pb_start();
    }
    let tick = if bar {
        Duration::from_millis(200)
    } else {
        every
    };
    let mut interval = tokio::time::interval(tick);
    interval.tick().await;
    let mut recent = Recent::default();
    loop {
        tokio::select! {
            () = done.cancelled() => break,
            _ = interval.tick() => {}
        }
        let mut snapshot = Snapshot::take(&counters, start.elapsed());
        snapshot.recent = recent.update(&snapshot);
        let expected = match goal {
            Goal::Bytes(total) => {
                estimated_rows(snapshot.rows, counters.bytes_read.load(Relaxed), total)
            }
            _ => None,
        };
        let eta = match goal {
            // Requests left at the rate the limiter paces at now.
            Goal::Requests(planned) => {
                eta(snapshot.requests, planned, snapshot.rate_per_min / 60.0)
            }
            _ => expected.and_then(|rows| eta(snapshot.done(), rows, snapshot.recent.rows_per_sec)),
        };
        if bar {
            match goal {
                Goal::Requests(planned) => {
                    span.pb_set_length(planned.max(snapshot.requests));
                    span.pb_set_position(snapshot.requests);
                    span.pb_set_message(&snapshot.short_line(eta));
                }
                _ => {
                    if let Some(expected) = expected {
                        span.pb_set_length(expected);
                    }
                    span.pb_set_position(snapshot.done());
                    span.pb_set_message(&snapshot.line());
                }
            }
        } else {
            tracing::info!(
                rows_read = snapshot.rows,
                succeeded = snapshot.succeeded,
                failed = snapshot.failed,
                retrying = snapshot.retrying,
                rows_per_sec = format!("{:.1}", snapshot.recent.rows_per_sec),
                requests = snapshot.requests,
                requests_per_min = format!("{:.1}", snapshot.recent.requests_per_min),
                pacing_per_min = format!("{:.1}", snapshot.rate_per_min),
                eta_secs = eta.map(|d| d.as_secs()),
                "progress"
            );
        }
    }
    drop(span);
}

/// Rows the inputs hold, estimated from the rows read so far and the share of bytes
/// they took; exact once everything is read.
fn estimated_rows(rows_read: u64, bytes_read: u64, total_bytes: u64) -> Option<u64> {
    if bytes_read >= total_bytes {
        return Some(rows_read);
    }
    if bytes_read == 0 {
        return None;
    }
    let estimate = (rows_read as f64 * total_bytes as f64 / bytes_read as f64).round() as u64;
    Some(estimate.max(rows_read))
}

struct Snapshot {
    rows: u64,
    succeeded: u64,
    failed: u64,
    retrying: u64,
    requests: u64,
    rate_per_min: f64,
    elapsed: Duration,
    recent: Rates,
}

/// Rates over the last few seconds: what the run does now, not on average.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Rates {
    rows_per_sec: f64,
    requests_per_min: f64,
}

/// How far back "now" reaches for the rates shown.
const RECENT: Duration = Duration::from_secs(10);

/// Samples of (elapsed, rows done, requests) over the last [`RECENT`]: a few dozen at most.
#[derive(Debug, Default)]
struct Recent {
    samples: std::collections::VecDeque<(Duration, u64, u64)>,
}

impl Recent {
    fn update(&mut self, snapshot: &Snapshot) -> Rates {
        let now = (snapshot.elapsed, snapshot.done(), snapshot.requests);
        self.samples.push_back(now);
        while self.samples.len() > 2 && self.samples.front().is_some_and(|s| s.0 + RECENT < now.0) {
            self.samples.pop_front();
        }
        // Until a first sample lies behind, measure from the start.
        let (then, done, requests) = match self.samples.front() {
            Some(&front) if front != now => front,
            _ => (Duration::ZERO, 0, 0),
        };
        let secs = (now.0.saturating_sub(then)).as_secs_f64().max(0.001);
        Rates {
            rows_per_sec: now.1.saturating_sub(done) as f64 / secs,
            requests_per_min: now.2.saturating_sub(requests) as f64 * 60.0 / secs,
        }
    }
}

impl Snapshot {
    fn take(counters: &Counters, elapsed: Duration) -> Snapshot {
        Snapshot {
            rows: counters.rows_read.load(Relaxed),
            succeeded: counters.succeeded.load(Relaxed),
            failed: counters.failed.load(Relaxed),
            retrying: counters.retrying.load(Relaxed),
            requests: counters.requests.load(Relaxed),
            rate_per_min: counters.rate_milli_per_min.load(Relaxed) as f64 / 1000.0,
            elapsed,
            recent: Rates::default(),
        }
    }

    fn done(&self) -> u64 {
        self.succeeded + self.failed
    }

    /// The bar's message beside a planned total: short, so the line fits a terminal.
    fn short_line(&self, eta: Option<Duration>) -> String {
        let eta = eta.map_or_else(|| "-".to_string(), |eta| clock(eta.as_secs()));
        let failed = if self.failed > 0 {
            format!(", {} failed", self.failed)
        } else {
            String::new()
        };
        format!("ETA {eta} at {:.0}/min{failed}", self.rate_per_min)
    }

    fn line(&self) -> String {
        let mut line = format!(
            "{} rows read, {} done ({:.1} rows/s), {} ok, {} failed, {} retrying, {:.1} req/min",
            self.rows,
            self.done(),
            self.recent.rows_per_sec,
            self.succeeded,
            self.failed,
            self.retrying,
            self.recent.requests_per_min
        );
        if self.rate_per_min > 0.0 {
            line.push_str(&format!(" (pacing {:.1}/min)", self.rate_per_min));
        }
        line
    }
}

/// `1:02:03`, `12:05`: hours only when there are some.
fn clock(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// Time left for what is still to do (rows or requests), at `rows_per_sec` of them.
fn eta(done: u64, total: u64, rows_per_sec: f64) -> Option<Duration> {
    if rows_per_sec <= 0.0 || !rows_per_sec.is_finite() {
        return None;
    }
    Some(Duration::from_secs_f64(
        total.saturating_sub(done) as f64 / rows_per_sec,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planned_run_shows_requests_left_at_the_rate_on_one_short_line() {
        let snapshot = Snapshot {
            rows: 500,
            succeeded: 400,
            failed: 3,
            retrying: 0,
            requests: 410,
            rate_per_min: 120.0,
            elapsed: Duration::from_secs(205),
            recent: Rates::default(),
        };
        // 1,000 planned, 410 sent: 590 at 2/s.
        let left = eta(snapshot.requests, 1000, snapshot.rate_per_min / 60.0);
        assert_eq!(left, Some(Duration::from_secs(295)));
        assert_eq!(snapshot.short_line(left), "ETA 4:55 at 120/min, 3 failed");
        assert_eq!(clock(3 * 3600 + 61), "3:01:01");
        assert!(snapshot.short_line(None).starts_with("ETA -"));
    }

    #[test]
    fn eta_follows_the_recent_pace() {
        assert_eq!(eta(25, 100, 2.5), Some(Duration::from_secs(30)));
        assert_eq!(eta(100, 100, 2.5), Some(Duration::ZERO));
        assert_eq!(eta(0, 100, 0.0), None);
        assert_eq!(eta(150, 100, 1.0), Some(Duration::ZERO));
    }

    #[test]
    fn recent_rates_forget_what_is_older_than_the_window() {
        let mut recent = Recent::default();
        let snapshot = |secs: u64, done: u64, requests: u64| Snapshot {
            rows: done,
            succeeded: done,
            failed: 0,
            retrying: 0,
            requests,
            rate_per_min: 0.0,
            elapsed: Duration::from_secs(secs),
            recent: Rates::default(),
        };
        // Fast for the first 10 s, then slow: the rates follow the slow part.
        let first = recent.update(&snapshot(10, 100, 100));
        assert_eq!(
            first,
            Rates {
                rows_per_sec: 10.0,
                requests_per_min: 600.0
            }
        );
        recent.update(&snapshot(20, 110, 120));
        let now = recent.update(&snapshot(30, 120, 140));
        assert_eq!(
            now,
            Rates {
                rows_per_sec: 1.0,
                requests_per_min: 120.0
            }
        );
    }

    #[test]
    fn rows_are_estimated_from_the_bytes_read() {
        assert_eq!(estimated_rows(10, 1_000, 10_000), Some(100));
        assert_eq!(estimated_rows(10, 10_000, 10_000), Some(10));
        assert_eq!(estimated_rows(0, 0, 10_000), None);
        assert_eq!(estimated_rows(7, 20_000, 10_000), Some(7));
    }

    #[test]
    fn the_retrying_gauge_follows_its_guards() {
        let counters = Counters::default();
        {
            let _a = counters.retrying();
            let _b = counters.retrying();
            assert_eq!(counters.retrying.load(Relaxed), 2);
        }
        assert_eq!(counters.retrying.load(Relaxed), 0);
    }
}
