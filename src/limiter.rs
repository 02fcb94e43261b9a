//! The one limiter every worker goes through: smooth pacing, a shared pause, and the
//! adaptive rate, because HelpCrunch's limit is per organization, not per connection.
//!
//! Pacing is governor's GCRA: a request every interval of the rate in force. The bucket
//! holds two cells so that a worker woken a millisecond late (timers are coarse) does not
//! push every later slot back: with one cell, that lateness adds up to a tenth of the rate
//! at 100/s. The spare cell is spent at the start and after every pause, so neither
//! begins with a burst. A change of rate builds a new pacer and spends both its cells at
//! once: its first request then waits one new interval, so a change never lets two
//! requests through back to back (a server with a small burst would refuse the second).
//!
//! A 429 pauses every worker (Retry-After, or a backoff) and feeds the adaptive rule
//! ([`crate::adaptive`]), which may lower the rate; quiet spells raise it back, never above
//! the configured rate. Time comes from tokio's clock, so tests under
//! `tokio::time::pause()` are deterministic.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

use crate::adaptive::{AdaptiveRate, Change};
use crate::rate::Rate;

/// governor's clock, read from tokio's (pausable) time.
#[derive(Debug, Clone, Copy)]
struct TokioClock {
    start: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        Instant::now().duration_since(self.start)
    }
}

type Pacer = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// Cells in the bucket: one for the request, one spare to absorb timer lateness.
const BURST: NonZeroU32 = NonZeroU32::new(2).expect("2 is not zero");

pub struct Limiter {
    clock: TokioClock,
    configured: Rate,
    /// Everything workers read and change together, under one short lock (never held
    /// across an await).
    state: Mutex<State>,
}

struct State {
    /// Paces every request (retries too); rebuilt when the rate changes.
    pacer: Pacer,
    /// Set when the spare cell must be spent before the next request (at the start and
    /// when a pause ends, when the bucket is full).
    spend_spare: bool,
    /// Until when nobody sends: set by a 429, read by every worker before each request.
    paused_until: Option<Instant>,
    /// Total time paused so far, for the summary.
    paused_total: Duration,
    adaptive: AdaptiveRate,
    /// Times the rate changed, for the summary.
    rate_changes: u64,
}

/// What the limiter did over a run, for `summary.json`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterReport {
    pub configured: Rate,
    /// Requests per second in force at the end.
    pub final_per_sec: f64,
    pub rate_changes: u64,
    pub paused: Duration,
}

fn pacer(clock: TokioClock, per_sec: f64) -> Pacer {
    // A rate over 10⁹/s has an interval that rounds to zero: unpaced.
    let quota = Quota::with_period(Duration::from_secs_f64(1.0 / per_sec))
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
        .allow_burst(BURST);
    RateLimiter::direct_with_clock(quota, clock)
}

impl Limiter {
    pub fn new(rate: Rate) -> Limiter {
        let now = Instant::now();
        let clock = TokioClock { start: now };
        Limiter {
            clock,
            configured: rate,
            state: Mutex::new(State {
                pacer: pacer(clock, rate.per_second()),
                spend_spare: true,
                paused_until: None,
                paused_total: Duration::ZERO,
                adaptive: AdaptiveRate::new(rate.per_second(), now),
                rate_changes: 0,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn rate(&self) -> Rate {
        self.configured
    }

    /// Requests per second in force now.
    pub fn current_per_sec(&self) -> f64 {
        self.state().adaptive.current()
    }

    pub fn report(&self) -> LimiterReport {
        let state = self.state();
        LimiterReport {
            configured: self.configured,
            final_per_sec: state.adaptive.current(),
            rate_changes: state.rate_changes,
            paused: state.paused_total,
        }
    }

    /// Waits until this caller may send one request: past any pause, then its turn in
    /// the pacing. Returns when the slot was granted (the request's send time).
    pub async fn acquire(&self) -> Instant {
        loop {
            let wait = {
                let mut state = self.state();
                let now = Instant::now();
                match state.paused_until {
                    Some(until) if until > now => until - now,
                    _ => {
                        state.paused_until = None;
                        if std::mem::take(&mut state.spend_spare) {
                            let _ = state.pacer.check();
                        }
                        match state.pacer.check() {
                            Ok(()) => return now,
                            Err(not_until) => not_until.wait_time_from(self.clock.now()),
                        }
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// A request got an answer other than 429.
    pub fn succeeded(&self) {
        let mut state = self.state();
        let change = state.adaptive.on_success(Instant::now());
        self.apply(&mut state, change);
    }

    /// A request sent at `sent_at` got a 429: pause every caller for `wait` from now
    /// (unless a longer pause is already set), and let the adaptive rule lower the rate.
    pub fn throttled(&self, sent_at: Instant, wait: Duration) {
        let mut state = self.state();
        let now = Instant::now();
        let until = now + wait;
        let current_end = state.paused_until.filter(|&u| u > now).unwrap_or(now);
        if until > current_end {
            state.paused_total += until - current_end;
            state.paused_until = Some(until);
        }
        state.spend_spare = true;
        let resume = state.paused_until.unwrap_or(now);
        let change = state.adaptive.on_throttle(sent_at, now, resume);
        self.apply(&mut state, change);
    }

    /// A pacer at `per_sec` whose next request waits one interval from now.
    fn fresh_pacer(&self, per_sec: f64) -> Pacer {
        let pacer = pacer(self.clock, per_sec);
        for _ in 0..BURST.get() {
            let _ = pacer.check();
        }
        pacer
    }

    /// Puts a change of rate in force and says so, once.
    fn apply(&self, state: &mut State, change: Option<Change>) {
        let Some(change) = change else { return };
        state.rate_changes += 1;
        let configured = self.configured.per_second();
        match change {
            Change::Lowered { from, to, measured } => {
                state.pacer = self.fresh_pacer(to);
                let measured = measured.map_or(String::new(), |m| {
                    format!(" (it accepted {:.1}/min)", m * 60.0)
                });
                tracing::info!(
                    "rate lowered from {:.1}/min to {:.1}/min: the server answered 429{measured}",
                    from * 60.0,
                    to * 60.0
                );
            }
            Change::Raised { from, to } => {
                state.pacer = self.fresh_pacer(to);
                if to >= configured {
                    tracing::info!("rate back up to the configured {}", self.configured);
                } else {
                    tracing::debug!(
                        "rate raised from {:.1}/min to {:.1}/min",
                        from * 60.0,
                        to * 60.0
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// Offsets from the start, in ms, at which `n` acquisitions by `workers` tasks complete.
    async fn grant_times(limiter: Arc<Limiter>, workers: usize, n: usize) -> Vec<u128> {
        let start = Instant::now();
        let (tx, mut rx) = tokio::sync::mpsc::channel(n);
        let per_worker = n / workers;
        for _ in 0..workers {
            let limiter = limiter.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                for _ in 0..per_worker {
                    limiter.acquire().await;
                    let _ = tx.send(start.elapsed().as_millis()).await;
                }
            });
        }
        drop(tx);
        let mut times = Vec::new();
        while let Some(t) = rx.recv().await {
            times.push(t);
        }
        times.sort_unstable();
        times
    }

    #[tokio::test(start_paused = true)]
    async fn paces_evenly_with_no_burst_at_the_start() {
        let limiter = Arc::new(Limiter::new("120/min".parse().expect("rate")));
        let times = grant_times(limiter, 4, 8).await;
        assert_eq!(times, [0, 500, 1000, 1500, 2000, 2500, 3000, 3500]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_worker_and_pacing_resumes_smoothly() {
        let limiter = Arc::new(Limiter::new("10/s".parse().expect("rate")));
        limiter.acquire().await; // t = 0
        limiter.throttled(Instant::now(), Duration::from_secs(2));
        let times = grant_times(limiter.clone(), 3, 6).await;
        // The 429 also halved the rate (nothing was measured yet): 200 ms apart.
        assert_eq!(times, [2000, 2200, 2400, 2600, 2800, 3000]);
        let report = limiter.report();
        assert_eq!(report.paused, Duration::from_secs(2));
        assert_eq!(report.final_per_sec, 5.0);
        assert_eq!(report.rate_changes, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_worker_does_not_push_later_slots_back() {
        let limiter = Limiter::new("10/s".parse().expect("rate"));
        let start = Instant::now();
        limiter.acquire().await; // t = 0
        tokio::time::sleep(Duration::from_millis(130)).await; // 30 ms late for its slot
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(200),
            "the third slot stays at 200 ms"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_spell_gives_at_most_one_request_of_slack() {
        let limiter = Limiter::new("10/s".parse().expect("rate"));
        limiter.acquire().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        let start = Instant::now();
        for _ in 0..4 {
            limiter.acquire().await;
        }
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(200),
            "two at once, then one per 100 ms"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_of_rate_never_lets_two_requests_through_back_to_back() {
        let limiter = Limiter::new("10/s".parse().expect("rate"));
        let sent = limiter.acquire().await; // t = 0
        limiter.throttled(sent, Duration::ZERO); // halved to 5/s
        tokio::time::sleep(Duration::from_millis(2100)).await;
        // A quiet 2 s: the next success raises the rate 1 % (near its estimate of 5/s).
        limiter.succeeded();
        assert_eq!(limiter.report().rate_changes, 2);
        let start = Instant::now();
        limiter.acquire().await;
        limiter.acquire().await;
        // The new pacer waits one interval, then another: no burst of two.
        let expected = Duration::from_secs_f64(2.0 / 5.05);
        let gap = start.elapsed().abs_diff(expected);
        assert!(
            gap < Duration::from_millis(1),
            "{:?} vs {expected:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_pause_does_not_cut_a_longer_one() {
        let limiter = Limiter::new("10/s".parse().expect("rate"));
        limiter.throttled(Instant::now(), Duration::from_secs(5));
        limiter.throttled(Instant::now(), Duration::from_secs(1));
        let start = Instant::now();
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }
}
