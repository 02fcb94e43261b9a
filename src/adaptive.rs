//! The adaptive rate rule (pure): from the answers the server gives, find the rate it
//! really accepts when the configured one is too high, then probe back up slowly.
//!
//! - **Decrease** on a 429: to 95 % of the rate the server accepted over the last few
//!   seconds of sending (successes over active time, pauses left out), once that measure
//!   rests on enough answers; before that, halve. Never below half the current rate in one
//!   step, never above 95 % of it. One decrease per epoch: a 429 for a request sent before
//!   the last decrease took effect is the old rate's, and is not counted again.
//! - **Increase** after a quiet spell with no 429, never above the configured rate:
//!   quickly (+10 % every 2 s) while far below the measured limit (after a stray 429 halved
//!   a rate that had been fine), gently (+1 % every 2 s) up to 98 % of it or while nothing
//!   has been measured, and barely (+0.5 % every 30 s) beyond, where each probe risks a
//!   429: enough to notice a limit that was raised, rare enough to cost little.
//!
//! Each 429 costs a request and, with Retry-After, a pause for every worker, so the rule
//! prefers holding just under the limit to probing often.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// How far back successes count towards the measured rate.
const WINDOW: Duration = Duration::from_secs(5);
/// Successes kept for measuring, at most (the window shrinks above ~200/s): bounded memory.
const MAX_SAMPLES: usize = 1024;
/// Successes the window needs before its measured rate is trusted over halving. Ten is
/// enough for a stray 429 at a good rate (timing jitter on a loaded machine) to cost a
/// small cut, not a halving; a server's burst inflates such a measure a little, and the
/// next 429 corrects it.
const TRUSTED_SUCCESSES: usize = 10;
/// Active time the window needs before its measured rate is trusted.
const TRUSTED_SPAN: Duration = Duration::from_millis(200);
/// Headroom kept under the measured limit after a 429.
const BELOW_MEASURED: f64 = 0.95;
/// Quiet time before each increase below the measured limit, and the steps.
const PROBE_EVERY: Duration = Duration::from_secs(2);
const FAST_STEP: f64 = 1.10;
const GENTLE_STEP: f64 = 1.01;
/// Quiet time before each increase at or above the measured limit, and the step.
const PLATEAU_EVERY: Duration = Duration::from_secs(30);
const PLATEAU_STEP: f64 = 1.005;
/// Below this share of the estimated limit, increase quickly.
const FAR_BELOW: f64 = 0.9;
/// The share of the measured limit that gentle increases stop at. At exactly the server's
/// rate, every late arrival pushes the server's schedule back for good (a token bucket has
/// no slack to give it back), until a 429; two per cent below it, the slack returns.
const HEADROOM: f64 = 0.98;

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
    /// The server's limit as last measured (None: never measured).
    estimated_limit: Option<f64>,
    /// Requests sent before this belong to a rate since lowered: their 429s were answered
    /// already, by that decrease.
    decrease_epoch: Instant,
    /// When sending last resumed (the start, or the end of the last pause): time before
    /// it was idle and does not count in the measure.
    active_since: Instant,
    /// When successful answers came, oldest first, within the window.
    successes: VecDeque<Instant>,
    /// When the rate was last raised or a 429 last seen: increases wait for quiet.
    last_event: Instant,
}

impl AdaptiveRate {
    pub fn new(configured_per_sec: f64, now: Instant) -> AdaptiveRate {
        AdaptiveRate {
            configured: configured_per_sec,
            current: configured_per_sec,
            floor: (configured_per_sec / 1000.0).min(configured_per_sec),
            estimated_limit: None,
            decrease_epoch: now,
            active_since: now,
            successes: VecDeque::new(),
            last_event: now,
        }
    }

    pub fn current(&self) -> f64 {
        self.current
    }

    /// A request got an answer other than 429 at `now`.
    pub fn on_success(&mut self, now: Instant) -> Option<Change> {
        if self.successes.len() == MAX_SAMPLES {
            self.successes.pop_front();
        }
        self.successes.push_back(now);
        while self.successes.front().is_some_and(|&t| t + WINDOW < now) {
            self.successes.pop_front();
        }
        // Below the measured limit a step stops short of it; only a plateau probe goes on.
        let (every, step, ceiling) = match self.estimated_limit {
            Some(limit) if self.current < FAR_BELOW * limit => {
                (PROBE_EVERY, FAST_STEP, HEADROOM * limit)
            }
            Some(limit) if self.current < HEADROOM * limit => {
                (PROBE_EVERY, GENTLE_STEP, HEADROOM * limit)
            }
            Some(_) => (PLATEAU_EVERY, PLATEAU_STEP, f64::INFINITY),
            None => (PROBE_EVERY, GENTLE_STEP, f64::INFINITY),
        };
        if self.current >= self.configured || now.duration_since(self.last_event) < every {
            return None;
        }
        let from = self.current;
        self.current = (from * step).min(ceiling).min(self.configured);
        self.last_event = now;
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
        let resume = resume.max(now);
        let stale = sent_at < self.decrease_epoch;
        let measured = self.measured(now);
        self.active_since = self.active_since.max(resume);
        self.last_event = now;
        if stale {
            return None;
        }
        let from = self.current;
        let target = measured.map_or(from / 2.0, |m| m * BELOW_MEASURED);
        let to = target
            .clamp(from / 2.0, from * BELOW_MEASURED)
            .max(self.floor);
        // Unmeasured, keep an earlier measure (the limit cannot be above the rate just
        // refused).
        self.estimated_limit = measured.or(self.estimated_limit.map(|limit| limit.min(from)));
        self.current = to;
        self.decrease_epoch = resume;
        self.successes.clear();
        Some(Change::Lowered { from, to, measured })
    }

    /// Successes per second over the active part of the window, when there are enough.
    fn measured(&self, now: Instant) -> Option<f64> {
        let mut start = self
            .active_since
            .max(now.checked_sub(WINDOW).unwrap_or(self.active_since));
        if self.successes.len() == MAX_SAMPLES {
            start = start.max(self.successes.front().copied().unwrap_or(start));
        }
        let count = self.successes.iter().filter(|&&t| t >= start).count();
        let span = now.saturating_duration_since(start);
        (count >= TRUSTED_SUCCESSES && span >= TRUSTED_SPAN)
            .then(|| count as f64 / span.as_secs_f64())
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
        rate.on_success(secs(t0, 0.01));
        rate.on_success(secs(t0, 0.02));
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
        // 10 s at 25/s offered, the server accepted 200 of them: 20/s (the last 5 s count).
        for i in 0..200 {
            rate.on_success(secs(t0, i as f64 * 0.05));
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
    async fn a_stray_429_early_at_a_good_rate_costs_a_small_cut() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(20.0, t0);
        for i in 0..12 {
            rate.on_success(secs(t0, i as f64 * 0.05));
        }
        let change = rate.on_throttle(secs(t0, 0.6), secs(t0, 0.6), secs(t0, 1.6));
        assert_eq!(
            change,
            Some(Change::Lowered {
                from: 20.0,
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
    async fn paused_time_does_not_count_in_the_measure() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(100.0, t0);
        rate.on_throttle(t0, secs(t0, 0.0), secs(t0, 1.0)); // 50/s, everyone paused until 1 s
        for i in 0..30 {
            rate.on_success(secs(t0, 1.0 + i as f64 * 0.05)); // 20/s from 1.0 to 2.45
        }
        let change = rate.on_throttle(secs(t0, 2.4), secs(t0, 2.5), secs(t0, 3.5));
        // 30 successes over the 1.5 s since the pause ended (not over 2.5 s); the rate had
        // been raised 1 % at 2 s, after a quiet spell.
        assert_eq!(
            change,
            Some(Change::Lowered {
                from: 50.5,
                to: 25.25,
                measured: Some(20.0)
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_measured_limit_probes_are_rare() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(25.0, t0);
        for i in 0..40 {
            rate.on_success(secs(t0, i as f64 * 0.05));
        }
        rate.on_throttle(secs(t0, 2.0), secs(t0, 2.0), secs(t0, 2.0)); // 19/s, limit 20
        let mut t = 2.0;
        while rate.current() < 19.6 {
            t += 2.0;
            assert!(matches!(
                rate.on_success(secs(t0, t)),
                Some(Change::Raised { .. })
            ));
        }
        assert_eq!(
            t, 10.0,
            "four gentle steps of 1 % from 19, the last stopping at 98 %"
        );
        assert!((rate.current() - 19.6).abs() < 1e-9, "{}", rate.current());
        assert_eq!(rate.on_success(secs(t0, t + 2.0)), None);
        assert_eq!(rate.on_success(secs(t0, t + 29.0)), None);
        let change = rate.on_success(secs(t0, t + 30.0));
        assert!(
            matches!(change, Some(Change::Raised { from, to }) if (to / from - 1.005).abs() < 1e-9),
            "{change:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_never_goes_below_half_or_the_floor() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(10.0, t0);
        // A measured 4/s would ask for 3.8/s; one step goes only to half.
        for i in 0..80 {
            rate.on_success(secs(t0, i as f64 * 0.25));
        }
        let change = rate.on_throttle(secs(t0, 19.5), secs(t0, 20.0), secs(t0, 20.0));
        assert_eq!(
            change,
            Some(Change::Lowered {
                from: 10.0,
                to: 5.0,
                measured: Some(4.0)
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
            rate.on_success(secs(t0, i as f64 * 0.05));
        }
        // Measured 20/s over 2 s: to 19/s, estimate 20, so near it: +1 %.
        rate.on_throttle(secs(t0, 2.0), secs(t0, 2.0), secs(t0, 2.0));
        assert_eq!(rate.current(), 19.0);
        assert_eq!(rate.on_success(secs(t0, 3.0)), None, "quiet for 2 s first");
        let change = rate.on_success(secs(t0, 4.0));
        assert!(
            matches!(change, Some(Change::Raised { from, to }) if from == 19.0 && (to - 19.19).abs() < 1e-9),
            "{change:?}"
        );

        // A stray 429 soon after (another tool spending the same budget): halved, but
        // the measured estimate stands, so the way back up is quick.
        rate.on_throttle(secs(t0, 4.5), secs(t0, 4.5), secs(t0, 4.5));
        assert!((rate.current() - 9.595).abs() < 1e-9, "{}", rate.current());
        let change = rate.on_success(secs(t0, 6.5));
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
            far.on_success(secs(t0, t));
            assert!(far.current() <= 100.0);
            assert!(far.current() >= previous);
            previous = far.current();
            assert!(t < 2000.0, "it reaches the configured rate in the end");
        }
    }
}
