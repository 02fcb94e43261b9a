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

/// While the server has answered nothing in this run (not even a 5xx), an outage this long
/// stops it: the likely cause is the base URL, a proxy or the machine's network.
pub const BEFORE_FIRST_ANSWER: Duration = Duration::from_secs(10);

/// Faults in an outage before it may stop the run (or be warned of): one slow timeout is
/// not an outage.
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
    /// Whether the server has answered anything in this run, a 5xx included: it is
    /// there, so a fault is no longer likely a wrong URL.
    reached: bool,
    /// When the last answer that was not a fault came.
    last_answer: Option<Instant>,
    /// The faults since then, if any.
    since_answer: Option<Faults>,
}

#[derive(Debug)]
struct Faults {
    /// When the outage began: the first fault's request was sent then (or the last
    /// answer came, if later). A timeout's fault arrives long after its request went.
    began: Instant,
    count: u64,
    /// The last one's reason, and whether it was a status the server answered (a 5xx).
    last: String,
    last_answered: bool,
    /// Whether the log has said the API is not answering.
    warned: bool,
}

impl Watch {
    /// How long an outage may last before it stops the run.
    fn limit(&self, after: Duration) -> Duration {
        if self.reached {
            after
        } else {
            after.min(BEFORE_FIRST_ANSWER)
        }
    }

    /// When the outage open now stops the run, if one is open.
    fn deadline(&self, after: Duration) -> Option<Instant> {
        let faults = self.since_answer.as_ref()?;
        faults.began.checked_add(self.limit(after))
    }
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
        match self
            .lock()
            .deadline(after)
            .and_then(|d| d.checked_duration_since(now))
        {
            Some(left) if !left.is_zero() => wait.min(left),
            _ => wait,
        }
    }

    /// Records the answer at `now` to a request sent at `sent_at`; the error that stops
    /// the run when the API has answered nothing but faults for too long.
    pub fn record(&self, answer: &Answer, sent_at: Instant, now: Instant) -> Option<RunError> {
        let after = self.after?;
        let mut watch = self.lock();
        let (reason, answered) = match answer {
            Answer::Transient { reason, status, .. } => (reason, status.is_some()),
            Answer::InDoubt { reason } => (reason, false),
            // Any other answer, a 429 or a 4xx included, is the API answering.
            _ => {
                watch.reached = true;
                watch.last_answer = Some(now);
                watch.since_answer = None;
                return None;
            }
        };
        watch.reached |= answered;
        let limit = watch.limit(after);
        let began = watch.last_answer.map_or(sent_at, |last| last.max(sent_at));
        let faults = watch.since_answer.get_or_insert_with(|| Faults {
            began,
            count: 0,
            last: String::new(),
            last_answered: false,
            warned: false,
        });
        faults.count += 1;
        faults.last.clone_from(reason);
        faults.last_answered = answered;
        let lasted = now.saturating_duration_since(faults.began);
        let stops = faults.count >= LEAST_FAULTS && lasted >= limit;
        // Said once an outage has lasted a quarter of its time (faults between answers,
        // a 503 now and then, are not one), and not when the stop says it at once.
        if !faults.warned && !stops && faults.count >= LEAST_FAULTS && lasted >= limit / 4 {
            faults.warned = true;
            tracing::warn!(
                "the API at {} has answered nothing but faults for {} s ({reason}); retrying, and the run stops at {} s",
                self.base_url,
                lasted.as_secs(),
                limit.as_secs()
            );
        }
        stops.then(|| {
            let (what, advice) = if faults.last_answered {
                (
                    "nothing but server errors",
                    "HelpCrunch may be down: try again later",
                )
            } else {
                ("no answer", "check the base URL and the network")
            };
            RunError::Unreachable {
                what,
                base_url: self.base_url.clone(),
                secs: lasted.as_secs(),
                attempts: faults.count,
                last: faults.last.clone(),
                advice,
            }
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
            status: None,
        }
    }

    fn unavailable() -> Answer {
        Answer::Transient {
            reason: "HTTP 503".into(),
            retry_after: Some(Duration::from_secs(1)),
            status: Some(503),
        }
    }

    fn timed_out() -> Answer {
        Answer::InDoubt {
            reason: "operation timed out".into(),
        }
    }

    fn ok() -> Answer {
        Answer::Ok(crate::client::Success::Updated)
    }

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    /// `answer` to a request sent and answered at `secs`.
    fn record(outage: &Outage, answer: Answer, t0: Instant, secs: u64) -> Option<RunError> {
        outage.record(&answer, at(t0, secs), at(t0, secs))
    }

    #[tokio::test(start_paused = true)]
    async fn never_answered_stops_after_ten_seconds_and_three_faults() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::from_secs(120), "http://example.invalid/v1");
        assert!(record(&outage, refused(), t0, 0).is_none());
        assert!(record(&outage, refused(), t0, 5).is_none());
        let error = record(&outage, refused(), t0, 10).expect("stops");
        let text = error.to_string();
        assert!(
            text.starts_with("no answer from the API at http://example.invalid/v1 for 10 s"),
            "{text}"
        );
        assert!(text.contains("Connection refused"), "{text}");
        assert!(
            text.contains("check the base URL and the network"),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_slow_timeout_is_not_an_outage() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::from_secs(120), "u");
        assert!(record(&outage, refused(), t0, 0).is_none());
        assert!(record(&outage, refused(), t0, 11).is_none(), "two faults");
        assert!(record(&outage, refused(), t0, 12).is_some(), "three");
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_begins_when_its_first_request_went_not_when_it_timed_out() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::from_secs(120), "u");
        // Three requests sent at once into a server that never answers, 30 s timeouts.
        assert!(outage.record(&timed_out(), t0, at(t0, 30)).is_none());
        assert!(outage.record(&timed_out(), t0, at(t0, 30)).is_none());
        let error = outage.record(&timed_out(), t0, at(t0, 30)).expect("stops");
        assert!(error.to_string().contains("for 30 s"), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_5xx_shows_the_api_is_there_so_the_configured_time_applies() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::from_secs(120), "u");
        // One contact the server fails on, first of an undo: not a wrong URL.
        for s in [0, 1, 3, 7, 15, 31, 63, 119] {
            assert!(record(&outage, unavailable(), t0, s).is_none(), "{s}");
        }
        let error = record(&outage, unavailable(), t0, 120).expect("stops");
        let text = error.to_string();
        assert!(
            text.starts_with("nothing but server errors from the API at u for 120 s"),
            "{text}"
        );
        assert!(text.contains("HelpCrunch may be down"), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn once_answered_an_outage_may_last_the_configured_time() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::from_secs(120), "u");
        assert!(record(&outage, ok(), t0, 0).is_none());
        for s in [1, 30, 60, 119] {
            assert!(record(&outage, refused(), t0, s).is_none(), "{s}");
        }
        assert!(record(&outage, refused(), t0, 121).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn any_answer_ends_an_outage_even_a_429_or_a_refusal() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::from_secs(20), "u");
        assert!(record(&outage, ok(), t0, 0).is_none());
        for (s, answer) in [
            (1, refused()),
            (2, refused()),
            (15, Answer::RateLimited { retry_after: None }),
            (16, refused()),
            (17, unavailable()),
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
            assert!(record(&outage, answer, t0, s).is_none(), "{s}");
        }
        // 31 → 51: twenty seconds with nothing but faults.
        assert!(record(&outage, refused(), t0, 51).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_fault_for_a_request_sent_before_the_last_answer_counts_from_that_answer() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::from_secs(20), "u");
        assert!(record(&outage, ok(), t0, 50).is_none());
        // Sent at 0, timed out at 60: the API answered at 50.
        assert!(outage.record(&timed_out(), t0, at(t0, 60)).is_none());
        assert!(record(&outage, refused(), t0, 65).is_none());
        assert!(
            record(&outage, refused(), t0, 69).is_none(),
            "19 s since 50"
        );
        assert!(record(&outage, refused(), t0, 70).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_create_in_doubt_is_a_fault_too() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::from_secs(5), "u");
        assert!(record(&outage, timed_out(), t0, 0).is_none());
        assert!(record(&outage, timed_out(), t0, 2).is_none());
        assert!(record(&outage, timed_out(), t0, 5).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_backoff_is_cut_to_retry_when_the_outage_would_stop_the_run() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::from_secs(120), "u");
        let long = Duration::from_secs(60);
        // No outage: the wait stands.
        assert_eq!(outage.cap(long, t0), long);
        assert!(record(&outage, refused(), t0, 0).is_none());
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
        assert!(record(&outage, ok(), t0, 20).is_none());
        assert_eq!(outage.cap(long, at(t0, 21)), long);
        assert!(record(&outage, refused(), t0, 30).is_none());
        assert_eq!(outage.cap(long, at(t0, 130)), Duration::from_secs(20));
        assert_eq!(Outage::new(Duration::ZERO, "u").cap(long, t0), long);
    }

    #[tokio::test(start_paused = true)]
    async fn a_huge_limit_never_overflows() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::from_secs(u64::MAX), "u");
        assert!(record(&outage, ok(), t0, 0).is_none());
        assert!(record(&outage, refused(), t0, 1).is_none());
        assert_eq!(
            outage.cap(Duration::from_secs(5), at(t0, 2)),
            Duration::from_secs(5)
        );
        for s in 2..10 {
            assert!(record(&outage, refused(), t0, s).is_none());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn zero_turns_it_off() {
        let t0 = Instant::now();
        let outage = Outage::new(Duration::ZERO, "u");
        for s in 0..1000 {
            assert!(record(&outage, refused(), t0, s).is_none());
        }
    }
}
