//! The emulated rate limit: governor's token bucket, or a hand-written fixed window.

use std::io;
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::Limit;

/// One limiter shared by every request, as HelpCrunch counts per organization.
pub(crate) enum Limiter {
    TokenBucket(DefaultDirectRateLimiter),
    /// Behind a lock because a check reads and moves the window in one step.
    FixedWindow(Mutex<FixedWindow>),
}

impl Limiter {
    /// Builds the limiter, refusing settings that could never let a request through or would
    /// divide by zero.
    pub(crate) fn new(limit: &Limit, start: Instant) -> io::Result<Limiter> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        match *limit {
            Limit::TokenBucket { rate, burst } => {
                if rate.count == 0 {
                    return Err(invalid("token bucket rate count must be at least 1"));
                }
                let burst = NonZeroU32::new(burst)
                    .ok_or_else(|| invalid("token bucket burst must be at least 1"))?;
                let quota = Quota::with_period(rate.interval())
                    .ok_or_else(|| invalid("token bucket rate is too fast to pace"))?
                    .allow_burst(burst);
                Ok(Limiter::TokenBucket(RateLimiter::direct(quota)))
            }
            Limit::FixedWindow { max, window } => {
                if window.is_zero() {
                    return Err(invalid("fixed window length must not be zero"));
                }
                Ok(Limiter::FixedWindow(Mutex::new(FixedWindow::new(
                    max, window, start,
                ))))
            }
        }
    }

    /// Lets one request through, or says how long until one would be.
    pub(crate) fn check(&self) -> Result<(), Duration> {
        match self {
            Limiter::TokenBucket(bucket) => bucket
                .check()
                .map_err(|not_until| not_until.wait_time_from(bucket.clock().now())),
            Limiter::FixedWindow(window) => window
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .check_at(Instant::now()),
        }
    }
}

/// At most `max` requests in each `window`, windows laid end to end from `start`.
#[derive(Debug)]
pub(crate) struct FixedWindow {
    max: u32,
    window: Duration,
    start: Instant,
    /// Index of the window `used` counts for.
    current: u128,
    used: u32,
}

impl FixedWindow {
    pub(crate) fn new(max: u32, window: Duration, start: Instant) -> FixedWindow {
        FixedWindow {
            max,
            window,
            start,
            current: 0,
            used: 0,
        }
    }

    /// Counts a request made at `now`, or returns the time left in the full window.
    pub(crate) fn check_at(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.start).as_nanos();
        let length = self.window.as_nanos();
        let index = elapsed / length;
        if index != self.current {
            self.current = index;
            self.used = 0;
        }
        if self.used < self.max {
            self.used += 1;
            return Ok(());
        }
        let left = (index + 1) * length - elapsed;
        Err(Duration::from_nanos(
            u64::try_from(left).unwrap_or(u64::MAX),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate::Rate;

    #[test]
    fn fixed_window_counts_per_window_and_waits_for_its_end() {
        let start = Instant::now();
        let mut window = FixedWindow::new(2, Duration::from_secs(10), start);
        let at = |ms| start + Duration::from_millis(ms);
        assert_eq!(window.check_at(at(0)), Ok(()));
        assert_eq!(window.check_at(at(4_000)), Ok(()));
        assert_eq!(
            window.check_at(at(7_500)),
            Err(Duration::from_millis(2_500))
        );
        assert_eq!(window.check_at(at(9_999)), Err(Duration::from_millis(1)));
        // A new window starts exactly at 10 s, with a fresh count.
        assert_eq!(window.check_at(at(10_000)), Ok(()));
        assert_eq!(window.check_at(at(19_000)), Ok(()));
        assert_eq!(window.check_at(at(19_500)), Err(Duration::from_millis(500)));
        // Skipping whole windows resets too.
        assert_eq!(window.check_at(at(55_000)), Ok(()));
    }

    #[test]
    fn fixed_window_of_zero_refuses_everything() {
        let start = Instant::now();
        let mut window = FixedWindow::new(0, Duration::from_secs(1), start);
        assert_eq!(
            window.check_at(start + Duration::from_millis(250)),
            Err(Duration::from_millis(750))
        );
    }

    #[test]
    fn token_bucket_allows_the_burst_then_waits_one_interval() {
        let rate: Rate = "1/min".parse().expect("rate");
        let limiter =
            Limiter::new(&Limit::TokenBucket { rate, burst: 3 }, Instant::now()).expect("limiter");
        for _ in 0..3 {
            assert_eq!(limiter.check(), Ok(()));
        }
        let wait = limiter.check().expect_err("over the burst");
        assert!(
            wait > Duration::from_secs(59) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
    }

    #[test]
    fn impossible_limits_are_refused() {
        let now = Instant::now();
        let zero_rate = Rate {
            count: 0,
            per: Duration::from_secs(1),
        };
        let one_per_second = Rate {
            count: 1,
            per: Duration::from_secs(1),
        };
        for limit in [
            Limit::TokenBucket {
                rate: zero_rate,
                burst: 1,
            },
            Limit::TokenBucket {
                rate: one_per_second,
                burst: 0,
            },
            Limit::FixedWindow {
                max: 1,
                window: Duration::ZERO,
            },
        ] {
            let error = Limiter::new(&limit, now).err().map(|e| e.kind());
            assert_eq!(error, Some(io::ErrorKind::InvalidInput), "{limit:?}");
        }
    }
}
