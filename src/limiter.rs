//! The one limiter every worker goes through: smooth pacing at the configured rate, and
//! a shared pause, because HelpCrunch's limit is per organization, not per connection.
//!
//! Pacing is governor's GCRA: a request every `rate.interval()`. The bucket holds two
//! cells so that a worker woken a millisecond late (timers are coarse) does not push every
//! later slot back: with one cell, that lateness adds up to a tenth of the rate at 100/s.
//! The spare cell is spent at the start and after every pause, so neither begins with a
//! burst. Time comes from tokio's clock, so tests under `tokio::time::pause()` are
//! deterministic.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

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

pub struct Limiter {
    clock: TokioClock,
    /// Paces every request (retries too) at the configured rate.
    pacer: RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>,
    /// Until when nobody sends: set by a 429's Retry-After (or a backoff when it had
    /// none), read by every worker before each request.
    paused_until: Mutex<Option<Instant>>,
    /// Set when the spare cell must be spent before the next request (at the start and
    /// after a pause), so pacing resumes at the rate, not with a burst of two.
    spend_spare: AtomicBool,
    rate: Rate,
}

/// Cells in the bucket: one for the request, one spare to absorb timer lateness.
const BURST: NonZeroU32 = NonZeroU32::new(2).expect("2 is not zero");

impl Limiter {
    pub fn new(rate: Rate) -> Limiter {
        let clock = TokioClock {
            start: Instant::now(),
        };
        // An interval below a nanosecond (over 10⁹ per second) rounds to zero: unpaced.
        let quota = Quota::with_period(rate.interval())
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(BURST);
        Limiter {
            clock,
            pacer: RateLimiter::direct_with_clock(quota, clock),
            paused_until: Mutex::new(None),
            spend_spare: AtomicBool::new(true),
            rate,
        }
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Waits until this caller may send one request: past any pause, then its turn in
    /// the pacing.
    pub async fn acquire(&self) {
        loop {
            if let Some(until) = self.pause_deadline() {
                tokio::time::sleep_until(until).await;
                continue;
            }
            if self.spend_spare.swap(false, Ordering::AcqRel) {
                let _ = self.pacer.check();
            }
            match self.pacer.check() {
                Ok(()) => return,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Pauses every caller for `wait` from now, unless a longer pause is already set.
    pub fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        if paused.is_none_or(|current| current < until) {
            *paused = Some(until);
        }
        self.spend_spare.store(true, Ordering::Release);
    }

    /// The pause still in force, if any.
    fn pause_deadline(&self) -> Option<Instant> {
        let mut paused = self.paused_until.lock().unwrap_or_else(|e| e.into_inner());
        match *paused {
            Some(until) if until > Instant::now() => Some(until),
            Some(_) => {
                *paused = None;
                None
            }
            None => None,
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
        limiter.pause_for(Duration::from_secs(2));
        let times = grant_times(limiter.clone(), 3, 6).await;
        assert_eq!(times, [2000, 2100, 2200, 2300, 2400, 2500]);
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
    async fn a_shorter_pause_does_not_cut_a_longer_one() {
        let limiter = Limiter::new("10/s".parse().expect("rate"));
        limiter.pause_for(Duration::from_secs(5));
        limiter.pause_for(Duration::from_secs(1));
        let start = Instant::now();
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
    }
}
