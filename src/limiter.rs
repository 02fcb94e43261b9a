//! The one limiter every worker goes through: smooth pacing, a shared pause, and the
//! adaptive rate, because HelpCrunch's limit is per organization, not per connection.
//! Workers take their turns in the order they asked for them.
//!
//! Pacing is governor's GCRA: a request every interval of the rate in force. The bucket
//! holds two cells so that a worker woken a millisecond late (timers are coarse) does not
//! push every later slot back: with one cell, that lateness adds up to a tenth of the rate
//! at 100/s. The spare cell is spent at the start and after every pause, so neither
//! begins with a burst. A change of rate builds a new pacer and spends both its cells at
//! once: its first request then waits one new interval, so a change never lets two
//! requests through back to back (a server with a small burst would refuse the second).
//!
//! A 429 holds every worker, since the limit is the organization's: for its Retry-After
//! when the server gives one; else (HelpCrunch documents none) one request at a time
//! probes the limit, 2, 4, 8 … pacing intervals apart (at least 50 ms, at most 2 s), until
//! one goes through: for a fixed window, that marks its reset. A window spent again is
//! first probed halfway through the time the last one stayed spent. The answers feed the
//! adaptive rule ([`crate::adaptive`]), which learns the limit's shape and may lower the
//! rate; quiet spells raise it back, never above the configured rate. Time comes from
//! tokio's clock, so tests under `tokio::time::pause()` are deterministic.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::adaptive::{AdaptiveRate, Change, Shape};
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
/// The first probe of an exhausted limit waits this many pacing intervals (a bucket's next
/// token is one away), and at least `PROBE_MIN`.
const PROBE_INTERVALS: u32 = 2;
const PROBE_MIN: Duration = Duration::from_millis(50);
/// Probes are never further apart than this: a window's reset is found within it.
const PROBE_MAX: Duration = Duration::from_secs(2);
/// How long the other workers wait on a probe that is out before looking again (its
/// answer wakes them sooner); also how long a probe with no answer holds the others.
const PROBE_OUT_WAIT: Duration = Duration::from_secs(1);
const PROBE_LOST: Duration = Duration::from_secs(60);

/// A turn to send one request, as [`Limiter::acquire`] grants it: the answer goes back
/// to [`Limiter::succeeded`] or [`Limiter::throttled`] with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// When the request was let through.
    pub sent_at: Instant,
    /// Whether it probes an exhausted limit (the one request let through while it is).
    pub probe: bool,
}

pub struct Limiter {
    clock: TokioClock,
    configured: Rate,
    /// Everything workers read and change together, under one short lock (never held
    /// across an await).
    state: Mutex<State>,
    /// Wakes the workers held by a probe when it is answered.
    answered: Notify,
    /// Workers wait for a turn in the order they asked (tokio's mutex is fair): woken
    /// together for one slot, they would race for it, and tokio runs the task it woke
    /// last first, so one worker could lose every turn. The first create's read-back
    /// (`--verify first`) came 14.8 s into a 15-s run at 20/s, after the contacts it was
    /// to protect.
    queue: tokio::sync::Mutex<()>,
}

struct State {
    /// Paces every request (retries too); rebuilt when the rate changes.
    pacer: Pacer,
    /// Set when the spare cell must be spent before the next request (at the start and
    /// when a pause ends, when the bucket is full).
    spend_spare: bool,
    /// Until when nobody sends: set by a 429's Retry-After, read by every worker before
    /// each request.
    paused_until: Option<Instant>,
    /// The exhausted limit being probed (a 429 with no Retry-After), until a probe goes
    /// through.
    probing: Option<Probing>,
    /// Total time paused or probing so far, for the summary.
    paused_total: Duration,
    adaptive: AdaptiveRate,
    /// Times the rate changed, for the summary.
    rate_changes: u64,
    /// The limit's shape last logged, so each change is logged once.
    shape_logged: Shape,
}

/// One request at a time probes an exhausted limit.
#[derive(Debug, Clone, Copy)]
struct Probing {
    since: Instant,
    /// When the next probe may go.
    at: Instant,
    /// The wait before the one after, if this one is refused.
    backoff: Duration,
    /// When the probe that is out went (None: none is out).
    out: Option<Instant>,
}

/// What the limiter did over a run, for `summary.json`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterReport {
    pub configured: Rate,
    /// Requests per second in force at the end.
    pub final_per_sec: f64,
    pub rate_changes: u64,
    pub paused: Duration,
    /// The limit's shape, as the answers showed it.
    pub shape: Shape,
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
                probing: None,
                paused_total: Duration::ZERO,
                adaptive: AdaptiveRate::new(rate.per_second(), now),
                rate_changes: 0,
                shape_logged: Shape::Unknown,
            }),
            answered: Notify::new(),
            queue: tokio::sync::Mutex::new(()),
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
            shape: state.adaptive.shape(),
        }
    }

    /// Waits until this caller may send one request: past any pause (or as the probe of
    /// an exhausted limit), then its turn in the pacing.
    pub async fn acquire(&self) -> Slot {
        let _turn = self.queue.lock().await;
        loop {
            let answered = self.answered.notified();
            tokio::pin!(answered);
            // Registered before the state is read, so an answer in between still wakes us.
            answered.as_mut().enable();
            let wait = {
                let mut state = self.state();
                let now = Instant::now();
                match (state.paused_until, &mut state.probing) {
                    (Some(until), _) if until > now => until - now,
                    (_, Some(probing)) => match probing.out {
                        Some(out) if now < out + PROBE_LOST => PROBE_OUT_WAIT,
                        _ if now >= probing.at => {
                            probing.out = Some(now);
                            return Slot {
                                sent_at: now,
                                probe: true,
                            };
                        }
                        _ => probing.at - now,
                    },
                    _ => {
                        state.paused_until = None;
                        if std::mem::take(&mut state.spend_spare) {
                            let _ = state.pacer.check();
                        }
                        match state.pacer.check() {
                            Ok(()) => {
                                return Slot {
                                    sent_at: now,
                                    probe: false,
                                };
                            }
                            Err(not_until) => not_until.wait_time_from(self.clock.now()),
                        }
                    }
                }
            };
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = &mut answered => {}
            }
        }
    }

    /// The request of `slot` got an answer other than 429: it may close an exhausted
    /// limit (the probe went through, or the first request after a pause), and the
    /// adaptive rule may change the rate.
    pub fn succeeded(&self, slot: Slot) {
        let mut state = self.state();
        let now = Instant::now();
        let was_exhausted = state.adaptive.exhausted();
        let change = state.adaptive.on_success(slot.sent_at, now);
        if was_exhausted && !state.adaptive.exhausted() {
            if let Some(probing) = state.probing.take() {
                state.paused_total += now.saturating_duration_since(probing.since);
            }
            state.spend_spare = true;
            self.answered.notify_waiters();
            self.log_shape(&mut state);
        }
        self.apply(&mut state, change);
    }

    /// The request of `slot` got a 429, with the server's wait if it said one. The first
    /// 429 of an exhausted limit holds every worker: for `retry_after`, else until one
    /// probe goes through; a refused probe doubles the wait before the next one.
    pub fn throttled(&self, slot: Slot, retry_after: Option<Duration>) {
        let mut state = self.state();
        let now = Instant::now();
        let opened = state
            .adaptive
            .on_throttle(slot.sent_at, now, retry_after, slot.probe);
        state.spend_spare = true;
        match retry_after {
            Some(wait) => {
                // The server said when: no probing.
                if let Some(probing) = state.probing.take() {
                    state.paused_total += now.saturating_duration_since(probing.since);
                }
                let until = now + wait;
                let current_end = state.paused_until.filter(|&u| u > now).unwrap_or(now);
                if until > current_end {
                    state.paused_total += until - current_end;
                    state.paused_until = Some(until);
                }
                self.answered.notify_waiters();
            }
            None if opened => {
                let interval = Duration::from_secs_f64(1.0 / state.adaptive.current().max(1e-9));
                let backoff = (interval * PROBE_INTERVALS).clamp(PROBE_MIN, PROBE_MAX);
                // A window spent again likely stays spent about as long as the last one:
                // probes in the first half of that would only be refused, and starting
                // the doubling there puts the finest probes near the reset.
                let first = state
                    .adaptive
                    .window_rest()
                    .map_or(backoff, |rest| backoff.max(rest / 2));
                state.probing = Some(Probing {
                    since: now,
                    at: now + first,
                    backoff,
                    out: None,
                });
            }
            None => {
                if let Some(probing) = state.probing.as_mut().filter(|_| slot.probe) {
                    probing.backoff = (probing.backoff * 2).min(PROBE_MAX);
                    probing.at = now + probing.backoff;
                    probing.out = None;
                    // The workers held by the probe now wait for the next one's time.
                    self.answered.notify_waiters();
                }
            }
        }
    }

    /// A pacer at `per_sec` whose next request waits one interval from now.
    fn fresh_pacer(&self, per_sec: f64) -> Pacer {
        let pacer = pacer(self.clock, per_sec);
        for _ in 0..BURST.get() {
            let _ = pacer.check();
        }
        pacer
    }

    /// Says once what shape of limit the answers show, when it changes.
    fn log_shape(&self, state: &mut State) {
        let shape = state.adaptive.shape();
        if shape == state.shape_logged {
            return;
        }
        state.shape_logged = shape;
        match shape {
            Shape::FixedWindow { budget, period } => tracing::info!(
                "the API's limit behaves as a fixed window: {budget} requests per {:.1}s left to this run (no Retry-After: found by probing)",
                period.as_secs_f64()
            ),
            Shape::Bucket => tracing::info!(
                "the API's limit behaves as a token bucket: refusals end at the next request's turn"
            ),
            Shape::Unknown => {}
        }
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
        let slot = limiter.acquire().await; // t = 0
        limiter.throttled(slot, Some(Duration::from_secs(2)));
        let times = grant_times(limiter.clone(), 3, 6).await;
        // The first answer after the pause closes the 429's event, which halves the rate
        // (nothing was measured yet): 200 ms apart after it.
        limiter.succeeded(Slot {
            sent_at: Instant::now(),
            probe: false,
        });
        assert_eq!(times, [2000, 2100, 2200, 2300, 2400, 2500]);
        let report = limiter.report();
        assert_eq!(report.paused, Duration::from_secs(2));
        assert_eq!(report.final_per_sec, 5.0);
        assert_eq!(report.rate_changes, 1);
        // One request and a 2 s wait: too little to tell the limit's shape.
        assert_eq!(report.shape, Shape::Unknown);
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
        limiter.throttled(sent, Some(Duration::ZERO));
        let after = limiter.acquire().await;
        limiter.succeeded(after); // closes the event: halved to 5/s
        tokio::time::sleep(Duration::from_millis(2100)).await;
        // A quiet 2 s: the next success raises the rate 1 % (near its estimate of 5/s).
        limiter.succeeded(Slot {
            sent_at: Instant::now(),
            probe: false,
        });
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
        let slot = Slot {
            sent_at: Instant::now(),
            probe: false,
        };
        limiter.throttled(slot, Some(Duration::from_secs(5)));
        limiter.throttled(slot, Some(Duration::from_secs(1)));
        let start = Instant::now();
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn without_retry_after_one_probe_at_a_time_finds_the_reset() {
        let limiter = Arc::new(Limiter::new("10/s".parse().expect("rate")));
        let start = Instant::now();
        let first = limiter.acquire().await;
        limiter.throttled(first, None);
        // Four workers wait; only one probe goes, two pacing intervals later.
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        for _ in 0..4 {
            let (limiter, tx) = (limiter.clone(), tx.clone());
            tokio::spawn(async move {
                let slot = limiter.acquire().await;
                let _ = tx.send(slot).await;
            });
        }
        let probe = rx.recv().await.expect("a probe");
        assert!(probe.probe);
        assert_eq!(probe.sent_at - start, Duration::from_millis(200));
        // Refused: the next waits twice as long, and still nobody else goes.
        limiter.throttled(probe, None);
        let probe = rx.recv().await.expect("a second probe");
        assert!(probe.probe);
        assert_eq!(probe.sent_at - start, Duration::from_millis(600));
        assert!(rx.try_recv().is_err(), "one probe at a time");
        // It goes through: the others are let go, paced again.
        limiter.succeeded(probe);
        drop(tx);
        let mut rest = Vec::new();
        while let Some(slot) = rx.recv().await {
            rest.push(slot);
        }
        assert_eq!(rest.len(), 2, "the two workers left");
        assert!(rest.iter().all(|slot| !slot.probe));
        assert!(
            rest.iter()
                .all(|slot| slot.sent_at - start >= Duration::from_millis(600))
        );
        assert_eq!(limiter.report().paused, Duration::from_millis(600));
    }
}
