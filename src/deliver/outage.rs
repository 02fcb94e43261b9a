//! An API that cannot be reached: when no request has had an answer for a while (every
//! attempt refused a connection, found no host, timed out or got a 5xx), every later row
//! would spend its retries the same way. A nightly sync with the network down would take
//! days to fail every row; a mistyped `--base-url` would keep a new user waiting on retries.
//! The run stops instead, and the rows not sent go on with `--resume`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::client::Answer;
use crate::error::RunError;

/// Before the API has answered anything in this run, an outage this long stops it: the
/// likely cause is the base URL, a proxy or the machine's network, not a passing fault.
pub const BEFORE_FIRST_ANSWER: Duration = Duration::from_secs(10);

/// Faults in an outage before it may stop the run: one slow timeout is not an outage.
const LEAST_FAULTS: u64 = 3;

/// Watches whether the API answers (`retry.unreachable_secs` in the config; 0 turns it
/// off).
#[derive(Debug)]
pub struct Outage {
    /// How long faults with no answer between them stop the run, once the API has
    /// answered in this run (None: never).
    after: Option<Duration>,
    base_url: String,
    watch: Mutex<Watch>,
}

#[derive(Debug, Default)]
struct Watch {
    /// Whether any request of this run has had an answer.
    answered: bool,
    /// The faults since the last answer, if any.
    since_answer: Option<Faults>,
}

impl Watch {
    /// How long an outage may last before it stops the run.
    fn limit(&self, after: Duration) -> Duration {
        if self.answered {
            after
        } else {
            after.min(BEFORE_FIRST_ANSWER)
        }
    }
}

#[derive(Debug)]
struct Faults {
    /// When the first came.
    first_at: Instant,
    count: u64,
    /// The last one's reason.
    last: String,
    /// Whether the log has said the API is not answering.
    warned: bool,
}

impl Outage {
    pub fn new(after: Duration, base_url: &str) -> Outage {
        Outage {
            after: (!after.is_zero()).then_some(after),
            base_url: base_url.to_string(),
            watch: Mutex::new(Watch::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Watch> {
        self.watch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A row's backoff `wait` after a fault at `now`, cut so the row tries again when the
    /// outage would stop the run: the run stops on a fault that came then, not on a timer,
    /// so the API's last chance to answer is a request, and a single worker in a long
    /// backoff (undo sends one at a time) stops on time. A wait the server asked for
    /// (Retry-After) is not cut: callers keep those.
    pub fn cap(&self, wait: Duration, now: Instant) -> Duration {
        let Some(after) = self.after else {
            return wait;
        };
        let watch = self.lock();
        let Some(faults) = &watch.since_answer else {
            return wait;
        };
        let deadline = faults.first_at + watch.limit(after);
        match deadline.checked_duration_since(now) {
            Some(left) if !left.is_zero() => wait.min(left),
            _ => wait,
        }
    }

    /// Records the answer to a request at `now`; the error that stops the run when the
    /// API has answered nothing for too long.
    pub fn record(&self, answer: &Answer, now: Instant) -> Option<RunError> {
        let after = self.after?;
        let mut watch = self.lock();
        let reason = match answer {
            Answer::Transient { reason, .. } | Answer::InDoubt { reason } => reason,
            // Any other answer, a 429 or a 4xx included, is the API answering.
            _ => {
                watch.answered = true;
                watch.since_answer = None;
                return None;
            }
        };
        let limit = watch.limit(after);
        let faults = watch.since_answer.get_or_insert_with(|| Faults {
            first_at: now,
            count: 0,
            last: String::new(),
            warned: false,
        });
        faults.count += 1;
        faults.last.clone_from(reason);
        let lasted = now.saturating_duration_since(faults.first_at);
        if !faults.warned && faults.count >= LEAST_FAULTS {
            faults.warned = true;
            tracing::warn!(
                "the API at {} is not answering ({reason}); retrying, and the run stops if this lasts {} s",
                self.base_url,
                limit.as_secs()
            );
        }
        (faults.count >= LEAST_FAULTS && lasted >= limit).then(|| RunError::Unreachable {
            base_url: self.base_url.clone(),
            secs: lasted.as_secs(),
            attempts: faults.count,
            last: faults.last.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> Answer {
        Answer::Transient {
            reason: "tcp connect error: Connection refused".into(),
            retry_after: None,
        }
    }

    fn unavailable() -> Answer {
        Answer::Transient {
            reason: "HTTP 503".into(),
            retry_after: Some(Duration::from_secs(1)),
        }
    }

    fn ok() -> Answer {
        Answer::Ok(crate::client::Success::Updated)
    }

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    #[tokio::test(start_paused = true)]
    async fn never_answered_stops_after_ten_seconds_and_three_faults() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::from_secs(120), "http://example.invalid/v1");
        assert!(outage.record(&refused(), t0).is_none());
        assert!(outage.record(&refused(), at(t0, 5)).is_none());
        // Ten seconds, but only two faults: one slow timeout is not an outage.
        let outage2 = Outage::new(Duration::from_secs(120), "u");
        assert!(outage2.record(&refused(), t0).is_none());
        assert!(outage2.record(&refused(), at(t0, 11)).is_none());
        let error = outage.record(&refused(), at(t0, 10)).expect("stops");
        let text = error.to_string();
        assert!(text.contains("http://example.invalid/v1"), "{text}");
        assert!(text.contains("Connection refused"), "{text}");
        assert!(text.contains("10 s"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn once_answered_an_outage_may_last_the_configured_time() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::from_secs(120), "u");
        assert!(outage.record(&ok(), t0).is_none());
        for s in [1, 30, 60, 119] {
            assert!(outage.record(&unavailable(), at(t0, s)).is_none(), "{s}");
        }
        assert!(outage.record(&unavailable(), at(t0, 121)).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn any_answer_ends_an_outage_even_a_429_or_a_refusal() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::from_secs(20), "u");
        assert!(outage.record(&ok(), t0).is_none());
        for (s, answer) in [
            (1, refused()),
            (2, refused()),
            (15, Answer::RateLimited { retry_after: None }),
            (16, refused()),
            (17, refused()),
            (
                30,
                Answer::Rejected {
                    status: 400,
                    errors: Vec::new(),
                },
            ),
            (31, refused()),
            (40, refused()),
        ] {
            assert!(outage.record(&answer, at(t0, s)).is_none(), "{s}");
        }
        // 31 → 51: twenty seconds with nothing but faults.
        assert!(outage.record(&refused(), at(t0, 51)).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_create_in_doubt_is_a_fault_too() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::from_secs(5), "u");
        let timeout = || Answer::InDoubt {
            reason: "operation timed out".into(),
        };
        assert!(outage.record(&timeout(), t0).is_none());
        assert!(outage.record(&timeout(), at(t0, 2)).is_none());
        assert!(outage.record(&timeout(), at(t0, 5)).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_backoff_is_cut_to_retry_when_the_outage_would_stop_the_run() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::from_secs(120), "u");
        let long = Duration::from_secs(60);
        // No outage: the wait stands.
        assert_eq!(outage.cap(long, t0), long);
        assert!(outage.record(&refused(), t0).is_none());
        // Never answered: ten seconds from the first fault.
        assert_eq!(outage.cap(long, at(t0, 4)), Duration::from_secs(6));
        assert_eq!(
            outage.cap(Duration::from_secs(1), at(t0, 4)),
            Duration::from_secs(1)
        );
        // Past it (too few faults yet to stop): waits stand, no busy retries.
        assert_eq!(outage.cap(long, at(t0, 10)), long);
        assert_eq!(outage.cap(long, at(t0, 11)), long);
        // Answered since: the configured time from the next outage's first fault.
        assert!(outage.record(&ok(), at(t0, 20)).is_none());
        assert_eq!(outage.cap(long, at(t0, 21)), long);
        assert!(outage.record(&refused(), at(t0, 30)).is_none());
        assert_eq!(outage.cap(long, at(t0, 130)), Duration::from_secs(20));
        assert_eq!(Outage::new(Duration::ZERO, "u").cap(long, t0), long);
    }

    #[tokio::test(start_paused = true)]
    async fn zero_turns_it_off() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::ZERO, "u");
        for s in 0..1000 {
            assert!(outage.record(&refused(), at(t0, s)).is_none());
        }
    }
}
