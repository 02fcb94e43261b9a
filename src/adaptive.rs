//! The adaptive rate rule (pure): from the answers the server gives, find the rate it
//! really accepts when the configured one is too high, then probe back up slowly.
//!
//! - **Decrease** on a 429: to 95 % of the rate the server accepted since the last change
//!   (successes over active time), once that measure rests on enough answers; before
//!   that, halve. Never below half the current rate in one step, never above 95 % of it.
//!   Only one decrease per epoch: a 429 for a request sent before the last change is the
//!   old rate's, and is not counted again.
//! - **Increase** after a quiet spell with no 429: quickly (+10 %) while far below the
//!   best estimate of the server's limit (after a stray 429 halved a rate that had been
//!   fine), then gently (+1 %) near it, and never above the configured rate.
//!
//! Each 429 costs a request and, with Retry-After, a pause for every worker, so the rule
//! prefers holding just under the limit to probing often.

use std::time::Duration;

use tokio::time::Instant;

/// Answers an epoch needs before its measured rate is trusted over halving.
const TRUSTED_SUCCESSES: u64 = 20;
/// Active time an epoch needs before its measured rate is trusted.
const TRUSTED_SPAN: Duration = Duration::from_secs(1);
/// Headroom kept under the measured limit after a 429.
const BELOW_MEASURED: f64 = 0.95;
/// Quiet time before each increase.
const PROBE_EVERY: Duration = Duration::from_secs(2);
const FAST_STEP: f64 = 1.10;
const GENTLE_STEP: f64 = 1.01;
/// Below this share of the estimated limit, increase quickly.
const FAR_BELOW: f64 = 0.9;

/// What an answer did to the rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    Lowered {
        from: f64,
        to: f64,
        measured: Option<f64>,
    },
    Raised {
        from: f64,
        to: f64,
    },
}

#[derive(Debug, Clone)]
pub struct AdaptiveRate {
    /// The configured rate (requests per second): the ceiling.
    configured: f64,
    /// The rate in force.
    current: f64,
    /// No rate goes below this, however many 429s: bounded waits.
    floor: f64,
    /// The best estimate of the server's limit (None: no 429 seen yet).
    estimated_limit: Option<f64>,
    /// When the current epoch began: the last change of rate, or the end of the pause
    /// that followed it. Requests sent before it belong to an older rate.
    epoch_start: Instant,
    /// Successful answers in this epoch.
    epoch_successes: u64,
    /// When the rate last changed or a 429 was last seen.
    last_event: Instant,
}

impl AdaptiveRate {
    pub fn new(configured_per_sec: f64, now: Instant) -> AdaptiveRate {
        AdaptiveRate {
            configured: configured_per_sec,
            current: configured_per_sec,
            floor: (configured_per_sec / 1000.0).min(configured_per_sec),
            estimated_limit: None,
            epoch_start: now,
            epoch_successes: 0,
            last_event: now,
        }
    }

    pub fn current(&self) -> f64 {
        self.current
    }

    /// A request sent at `sent_at` succeeded (any answer but a 429) at `now`.
    pub fn on_success(&mut self, sent_at: Instant, now: Instant) -> Option<Change> {
        if sent_at >= self.epoch_start {
            self.epoch_successes += 1;
        }
        if self.current >= self.configured || now.duration_since(self.last_event) < PROBE_EVERY {
            return None;
        }
        let far_below = self
            .estimated_limit
            .is_none_or(|limit| self.current < FAR_BELOW * limit);
        let step = if far_below { FAST_STEP } else { GENTLE_STEP };
        let from = self.current;
        self.set(now, (from * step).min(self.configured), now);
        Some(Change::Raised {
            from,
            to: self.current,
        })
    }

    /// A request sent at `sent_at` was answered 429 at `now`; the pause that follows
    /// ends at `resume` (now, when there is none).
    pub fn on_throttle(
        &mut self,
        sent_at: Instant,
        now: Instant,
        resume: Instant,
    ) -> Option<Change> {
        if sent_at < self.epoch_start {
            return None;
        }
        let active = now.saturating_duration_since(self.epoch_start);
        let measured = (self.epoch_successes >= TRUSTED_SUCCESSES && active >= TRUSTED_SPAN)
            .then(|| self.epoch_successes as f64 / active.as_secs_f64());
        let from = self.current;
        let target = measured.map_or(from / 2.0, |m| m * BELOW_MEASURED);
        let to = target
            .clamp(from / 2.0, from * BELOW_MEASURED)
            .max(self.floor);
        // Unmeasured, keep an earlier measured estimate (the limit cannot be above the
        // rate just refused), else take the new rate: probing from it is gentle.
        self.estimated_limit = Some(
            measured
                .or(self.estimated_limit.map(|limit| limit.min(from)))
                .unwrap_or(to),
        );
        self.set(resume.max(now), to, now);
        Some(Change::Lowered { from, to, measured })
    }

    fn set(&mut self, epoch_start: Instant, rate: f64, now: Instant) {
        self.current = rate;
        self.epoch_start = epoch_start;
        self.epoch_successes = 0;
        self.last_event = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(start: Instant, s: f64) -> Instant {
        start + Duration::from_secs_f64(s)
    }

    #[tokio::test(start_paused = true)]
    async fn an_early_429_halves_the_rate() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(80.0, t0);
        rate.on_success(t0, secs(t0, 0.01));
        rate.on_success(t0, secs(t0, 0.02));
        let change = rate.on_throttle(secs(t0, 0.025), secs(t0, 0.03), secs(t0, 1.03));
        assert_eq!(
            change,
            Some(Change::Lowered {
                from: 80.0,
                to: 40.0,
                measured: None
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_after_enough_answers_cuts_to_just_under_what_the_server_accepted() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(25.0, t0);
        // 10 s at 25/s offered, the server accepted 200 of them: 20/s.
        for i in 0..200 {
            rate.on_success(secs(t0, i as f64 * 0.05), secs(t0, i as f64 * 0.05));
        }
        let change = rate.on_throttle(secs(t0, 9.99), secs(t0, 10.0), secs(t0, 11.0));
        assert_eq!(
            change,
            Some(Change::Lowered {
                from: 25.0,
                to: 19.0,
                measured: Some(20.0)
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_decrease_per_epoch_stale_429s_are_ignored() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(80.0, t0);
        assert!(
            rate.on_throttle(secs(t0, 0.01), secs(t0, 0.02), secs(t0, 1.0))
                .is_some()
        );
        // Sent before the pause ended: the old rate's 429.
        assert_eq!(
            rate.on_throttle(secs(t0, 0.015), secs(t0, 0.03), secs(t0, 1.0)),
            None
        );
        assert_eq!(rate.current(), 40.0);
        // Sent in the new epoch: counts.
        assert!(
            rate.on_throttle(secs(t0, 1.1), secs(t0, 1.11), secs(t0, 2.11))
                .is_some()
        );
        assert_eq!(rate.current(), 20.0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_never_goes_below_half_or_the_floor() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(10.0, t0);
        // A measured 1/s would ask for 0.95/s; one step goes only to half.
        for i in 0..20 {
            rate.on_success(secs(t0, i as f64), secs(t0, i as f64));
        }
        let change = rate.on_throttle(secs(t0, 19.5), secs(t0, 20.0), secs(t0, 20.0));
        assert_eq!(
            change,
            Some(Change::Lowered {
                from: 10.0,
                to: 5.0,
                measured: Some(1.0)
            })
        );
        let mut t = 20.0;
        for _ in 0..40 {
            t += 0.1;
            rate.on_throttle(secs(t0, t), secs(t0, t), secs(t0, t));
        }
        assert_eq!(
            rate.current(),
            0.01,
            "the floor is a thousandth of the configured rate"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn probes_up_fast_far_below_the_limit_then_gently_never_past_configured() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(25.0, t0);
        for i in 0..40 {
            rate.on_success(secs(t0, i as f64 * 0.05), secs(t0, i as f64 * 0.05));
        }
        // Measured 20/s over 2 s: to 19/s, estimate 20, so near it: +1 %.
        rate.on_throttle(secs(t0, 2.0), secs(t0, 2.0), secs(t0, 2.0));
        assert_eq!(rate.current(), 19.0);
        assert_eq!(
            rate.on_success(secs(t0, 3.0), secs(t0, 3.0)),
            None,
            "quiet for 2 s first"
        );
        let change = rate.on_success(secs(t0, 4.0), secs(t0, 4.0));
        assert!(
            matches!(change, Some(Change::Raised { from, to }) if from == 19.0 && (to - 19.19).abs() < 1e-9),
            "{change:?}"
        );

        // A stray 429 soon after (another tool spending the same budget): halved, but
        // the measured estimate stands, so the way back up is quick.
        rate.on_throttle(secs(t0, 4.5), secs(t0, 4.5), secs(t0, 4.5));
        assert!((rate.current() - 9.595).abs() < 1e-9, "{}", rate.current());
        let change = rate.on_success(secs(t0, 6.5), secs(t0, 6.5));
        assert!(
            matches!(change, Some(Change::Raised { to, .. }) if (to - 9.595 * 1.1).abs() < 1e-9),
            "{change:?}"
        );

        let mut far = AdaptiveRate::new(100.0, t0);
        far.on_throttle(t0, t0, t0);
        far.on_throttle(t0, t0, t0);
        far.on_throttle(t0, t0, t0);
        assert_eq!(far.current(), 12.5, "unmeasured: halved each time");
        let mut t = 0.0;
        let mut previous = far.current();
        while far.current() < 100.0 {
            t += 2.0;
            far.on_success(secs(t0, t), secs(t0, t));
            assert!(far.current() <= 100.0);
            assert!(far.current() >= previous);
            previous = far.current();
            assert!(t < 2000.0, "it reaches the configured rate in the end");
        }
    }
}
