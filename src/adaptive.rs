//! The adaptive rate rule (pure): from the answers the server gives, learn the shape of
//! its limit and the rate it really accepts when the configured one is too high, then
//! probe back up slowly.
//!
//! HelpCrunch documents "120 requests per minute" per organization and no rate-limit
//! header (`helpcrunch-api.md`, "Rate limit"); whether that is a fixed window, a sliding
//! one or a bucket is open, and other integrations spend the same budget. So the rule
//! learns from the answers:
//!
//! - **Events.** The 429s of one exhausted limit are one event: it opens with the first
//!   429 for a request sent after the last event closed, and closes with the first answer
//!   that is not a 429 for a request sent after it opened (after a Retry-After pause, or
//!   the limiter's one probe at a time when there is none). Later 429s of the same event
//!   change nothing: one event, at most one decrease.
//! - **Fixed windows.** An event whose refusal lasted long (two probes refused, or a
//!   Retry-After of more than a second and four intervals) after a long run of successes
//!   (at least ten) is a window's budget spent. From one event's close (a reset) to the
//!   next, the successes are the window's budget left to us and the time its period: the
//!   rate becomes budget ÷ period, with 2 % headroom. Known windows learn from the share
//!   of the window an event refused instead (budget = rate × (period − refusal)). The first
//!   cycle, which began with the run and not at a reset, concludes nothing: a limit is
//!   never learned from a span the client did not fill.
//! - **Buckets** (every other event): to 95 % of the rate the server accepted over the
//!   last few seconds of sending (successes over active time, pauses left out), once that
//!   measure rests on enough answers; before that, halve. Never below half the current
//!   rate in one step, never above 95 % of it.
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
/// The step towards the most a learned window may accept: overshooting it by one step
/// refuses a twentieth of a window.
const CLIMB_STEP: f64 = 1.05;
/// Quiet time before each increase at or above the measured limit, and the step.
const PLATEAU_EVERY: Duration = Duration::from_secs(30);
const PLATEAU_STEP: f64 = 1.005;
/// Below this share of the estimated limit, increase quickly.
const FAR_BELOW: f64 = 0.9;
/// The share of the measured limit that gentle increases stop at, and that a learned
/// window is paced at. At exactly the server's rate, every late arrival pushes the
/// server's schedule back for good (a token bucket has no slack to give it back), until a
/// 429; two per cent below it, the slack returns.
const HEADROOM: f64 = 0.98;
/// Successes in a row before an event that make it a window's budget, not a bucket's burst.
const WINDOW_RUN: u64 = 10;
/// Probes refused in one event that make its refusal a window's rest, not a bucket's next
/// token. The first probe waits two pacing intervals: after a long run (a bucket only
/// barely outpaced), a bucket's next token comes within one.
const WINDOW_PROBES: u32 = 1;
/// A Retry-After longer than this (and than four intervals) is a window's rest: servers
/// round a bucket's wait up to a whole second.
const WINDOW_TOLD: Duration = Duration::from_secs(1);

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

/// The shape of the server's limit, as the answers show it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// No 429 yet, or too little seen to tell.
    Unknown,
    /// Refusals that end at the next token: a bucket, or a sliding window.
    Bucket,
    /// A budget of requests per period, refused until the period's end.
    FixedWindow {
        /// Successes the window left to this run (its budget less what others spent).
        budget: u64,
        period: Duration,
    },
}

/// One exhausted limit: the 429s from its first to the first answer after it.
#[derive(Debug, Clone, Copy)]
struct Event {
    opened: Instant,
    /// The rate in force when it opened.
    rate: f64,
    /// Probes refused while it was open (no Retry-After).
    refused_probes: u32,
    /// When the limit was last known spent: the last refusal, or the end of the wait the
    /// server asked for. Its reset came after this, and by the event's close.
    spent_until: Instant,
    /// The longest Retry-After the server gave in it.
    told: Option<Duration>,
    /// Successes from the last event's close to this one's opening.
    run: u64,
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
    /// The most a learned window may accept: quiet spells raise the rate gently towards
    /// it (None: nothing to climb to).
    climb_to: Option<f64>,
    shape: Shape,
    /// See [`AdaptiveRate::window_rest`].
    window_rest: Option<Duration>,
    /// The event open now.
    event: Option<Event>,
    /// When the last event closed (a reset, for a window), or the run started: a 429 for
    /// a request sent before it belongs to that event.
    cycle_start: Instant,
    /// The earliest the cycle may have begun: the last event's reset came after its last
    /// refusal. A cycle measured from here is never shorter than the window's period, so
    /// a budget learned over it is never more than the window gives.
    cycle_earliest: Instant,
    /// Whether `cycle_start` is an event's close (false: the run's start, mid-window).
    cycle_complete: bool,
    /// Successes since `cycle_start`.
    cycle_successes: u64,
    /// When sending last resumed (the start, or the end of the last event): time before
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
            climb_to: None,
            shape: Shape::Unknown,
            window_rest: None,
            event: None,
            cycle_start: now,
            cycle_earliest: now,
            cycle_complete: false,
            cycle_successes: 0,
            active_since: now,
            successes: VecDeque::new(),
            last_event: now,
        }
    }

    pub fn current(&self) -> f64 {
        self.current
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    /// Whether a 429 event is open: the limiter holds every request but its probe.
    pub fn exhausted(&self) -> bool {
        self.event.is_some()
    }

    /// How long the last window-like event's limit stayed known spent after its first
    /// refusal: a window spent again likely stays spent about as long, so probing it can
    /// start halfway through (None: no window seen).
    pub fn window_rest(&self) -> Option<Duration> {
        self.window_rest
    }

    /// A request sent at `sent_at` got an answer other than 429 at `now`. The first such
    /// answer for a request sent after an event opened closes it, and may lower the rate;
    /// a quiet spell may raise it.
    pub fn on_success(&mut self, sent_at: Instant, now: Instant) -> Option<Change> {
        if let Some(event) = self.event.filter(|event| sent_at >= event.opened) {
            // Measured as the run before the event left it.
            return self.close(event, now);
        }
        if self.successes.len() == MAX_SAMPLES {
            self.successes.pop_front();
        }
        self.successes.push_back(now);
        while self.successes.front().is_some_and(|&t| t + WINDOW < now) {
            self.successes.pop_front();
        }
        self.cycle_successes += 1;
        // While an event is open, this answer was sent before it: part of the run.
        if self.event.is_some() {
            return None;
        }
        self.raise(now)
    }

    /// A request sent at `sent_at` was answered 429 at `now`, with the server's wait if it
    /// gave one, `probe` if it was the limiter's probe. True when it opens an event (the
    /// limiter then pauses or probes); false when it belongs to the open one, or to the
    /// last one (it was sent before that closed).
    pub fn on_throttle(
        &mut self,
        sent_at: Instant,
        now: Instant,
        told: Option<Duration>,
        probe: bool,
    ) -> bool {
        self.last_event = now;
        if let Some(event) = &mut self.event {
            event.refused_probes += u32::from(probe);
            event.told = event.told.max(told);
            event.spent_until = event.spent_until.max(now + told.unwrap_or_default());
            return false;
        }
        if sent_at < self.cycle_start {
            return false;
        }
        self.event = Some(Event {
            opened: now,
            rate: self.current,
            refused_probes: 0,
            spent_until: now + told.unwrap_or_default(),
            told,
            run: self.cycle_successes,
        });
        true
    }

    /// Closes `event` at `now`, learning what it shows.
    fn close(&mut self, event: Event, now: Instant) -> Option<Change> {
        self.event = None;
        let refusal = now.saturating_duration_since(event.opened);
        let interval = Duration::from_secs_f64(1.0 / event.rate.max(1e-9));
        let long_refusal = event.refused_probes >= WINDOW_PROBES
            || event
                .told
                .is_some_and(|told| told > WINDOW_TOLD && told > interval * 4);
        let window = event.run >= WINDOW_RUN && long_refusal;
        if window {
            let spent_by = event.spent_until.min(now);
            self.window_rest = Some(spent_by.saturating_duration_since(event.opened));
        }
        let spent_by = event.spent_until.min(now);
        let previous_close = self.cycle_start;
        let earliest = self.cycle_earliest;
        let budget = self.cycle_successes;
        let complete = self.cycle_complete;
        // Measured before the new cycle forgets the run before the event.
        let measured = self.measured(event.opened);
        self.start_cycle(now, event.spent_until.min(now));
        match self.shape {
            // A known window, spent again: it let through what was sent before the share
            // of it that was refused.
            Shape::FixedWindow { period, .. } => {
                // The reset came between the last refusal and the close: taken halfway.
                let refusal = (spent_by.saturating_duration_since(event.opened) + refusal) / 2;
                let share = (refusal.as_secs_f64() / period.as_secs_f64()).min(1.0);
                let accepted = event.rate * (1.0 - share);
                self.lower_to(accepted, accepted)
            }
            // A window spent from one reset to the next: its budget over its period. The
            // resets are known within the probes around them: paced at the longest the
            // period can be, and free to rise towards the shortest.
            _ if window && complete => {
                let longest = now.saturating_duration_since(earliest);
                let shortest = spent_by.saturating_duration_since(previous_close).max(
                    Duration::from_secs_f64(budget as f64 / event.rate.max(1e-9)),
                );
                if longest.is_zero() || shortest.is_zero() {
                    return None;
                }
                self.shape = Shape::FixedWindow {
                    budget,
                    period: longest,
                };
                let per_sec = |period: Duration| budget as f64 / period.as_secs_f64();
                self.lower_to(per_sec(longest), per_sec(shortest))
            }
            // The first cycle began with the run, perhaps mid-window: nothing to conclude.
            _ if window => None,
            _ => {
                if self.shape == Shape::Unknown && !long_refusal {
                    self.shape = Shape::Bucket;
                }
                self.bucket_decrease(measured)
            }
        }
    }

    /// Paces just under `safe`, a rate the server is known to accept, and lets quiet
    /// spells raise it towards `best`, the most it may accept.
    fn lower_to(&mut self, safe: f64, best: f64) -> Option<Change> {
        let from = self.current;
        self.estimated_limit = Some(safe);
        self.climb_to = (best > safe).then_some(best);
        let to = (safe * HEADROOM).min(from).max(self.floor);
        self.current = to;
        (to < from).then_some(Change::Lowered {
            from,
            to,
            measured: Some(safe),
        })
    }

    /// A bucket's event: to just under the rate `measured` over active time before it,
    /// or half.
    fn bucket_decrease(&mut self, measured: Option<f64>) -> Option<Change> {
        self.climb_to = None;
        let from = self.current;
        let target = measured.map_or(from / 2.0, |m| m * BELOW_MEASURED);
        let to = target
            .clamp(from / 2.0, from * BELOW_MEASURED)
            .max(self.floor);
        // Unmeasured, keep an earlier measure (the limit cannot be above the rate just
        // refused).
        self.estimated_limit = measured.or(self.estimated_limit.map(|limit| limit.min(from)));
        self.current = to;
        Some(Change::Lowered { from, to, measured })
    }

    /// A new cycle from an event's close at `now`, whose reset came after `earliest`: its
    /// answer is its first success.
    fn start_cycle(&mut self, now: Instant, earliest: Instant) {
        self.cycle_start = now;
        self.cycle_earliest = earliest;
        self.cycle_complete = true;
        self.cycle_successes = 1;
        self.active_since = now;
        self.successes.clear();
        self.successes.push_back(now);
        self.last_event = now;
    }

    /// A quiet spell raises the rate, never above the configured one.
    fn raise(&mut self, now: Instant) -> Option<Change> {
        // Below the measured limit a step stops short of it; only a plateau probe goes on.
        let (every, step, ceiling) = match (self.climb_to, self.estimated_limit) {
            (Some(best), _) if self.current < HEADROOM * best => {
                (PROBE_EVERY, CLIMB_STEP, HEADROOM * best)
            }
            (_, Some(limit)) if self.current < FAR_BELOW * limit => {
                (PROBE_EVERY, FAST_STEP, HEADROOM * limit)
            }
            (_, Some(limit)) if self.current < HEADROOM * limit => {
                (PROBE_EVERY, GENTLE_STEP, HEADROOM * limit)
            }
            (_, Some(_)) => (PLATEAU_EVERY, PLATEAU_STEP, f64::INFINITY),
            (_, None) => (PROBE_EVERY, GENTLE_STEP, f64::INFINITY),
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

    /// Successes per second over the active part of the window up to `until`, when there
    /// are enough.
    fn measured(&self, until: Instant) -> Option<f64> {
        let mut start = self
            .active_since
            .max(until.checked_sub(WINDOW).unwrap_or(self.active_since));
        if self.successes.len() == MAX_SAMPLES {
            start = start.max(self.successes.front().copied().unwrap_or(start));
        }
        let count = self
            .successes
            .iter()
            .filter(|&&t| t >= start && t <= until)
            .count();
        let span = until.saturating_duration_since(start);
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

    /// An event opened at `at` for a request sent just before, closed by a success at
    /// `close` (a request sent then), with a Retry-After of `told` seconds if given.
    fn event(rate: &mut AdaptiveRate, t0: Instant, at: f64, close: f64) -> Option<Change> {
        assert!(rate.on_throttle(secs(t0, at - 0.001), secs(t0, at), None, false));
        rate.on_success(secs(t0, close), secs(t0, close))
    }

    /// Successes of requests sent and answered at once, `per_sec` from `from` (included)
    /// to `to` (not).
    fn successes(rate: &mut AdaptiveRate, t0: Instant, per_sec: f64, from: f64, to: f64) {
        let count = ((to - from) * per_sec - 1e-9).ceil() as usize;
        for i in 0..count {
            let t = from + i as f64 / per_sec;
            rate.on_success(secs(t0, t), secs(t0, t));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_early_429_halves_the_rate() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(80.0, t0);
        rate.on_success(secs(t0, 0.01), secs(t0, 0.01));
        rate.on_success(secs(t0, 0.02), secs(t0, 0.02));
        assert_eq!(
            event(&mut rate, t0, 0.03, 1.03),
            Some(Change::Lowered {
                from: 80.0,
                to: 40.0,
                measured: None
            })
        );
        assert_eq!(rate.shape(), Shape::Bucket);
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_after_enough_answers_cuts_to_just_under_what_the_server_accepted() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(25.0, t0);
        // 10 s at 25/s offered, the server accepted 200 of them: 20/s (the last 5 s count).
        successes(&mut rate, t0, 20.0, 0.0, 10.0);
        assert_eq!(
            event(&mut rate, t0, 10.0, 11.0),
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
        successes(&mut rate, t0, 20.0, 0.0, 0.6);
        let change = event(&mut rate, t0, 0.6, 1.6);
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
    async fn every_429_of_one_exhausted_limit_is_one_event_and_one_decrease() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(80.0, t0);
        assert!(rate.on_throttle(secs(t0, 0.01), secs(t0, 0.02), None, false));
        assert!(rate.exhausted());
        // Others in flight, and refused probes: the same event.
        assert!(!rate.on_throttle(secs(t0, 0.015), secs(t0, 0.03), None, false));
        assert!(!rate.on_throttle(secs(t0, 0.5), secs(t0, 0.5), None, true));
        // A success for a request sent before the event does not close it.
        assert_eq!(rate.on_success(secs(t0, 0.018), secs(t0, 0.6)), None);
        assert!(rate.exhausted());
        assert!(rate.on_success(secs(t0, 1.0), secs(t0, 1.0)).is_some());
        assert_eq!(rate.current(), 40.0);
        // Sent before the event closed: its 429 is that event's.
        assert!(!rate.on_throttle(secs(t0, 0.9), secs(t0, 1.05), None, false));
        assert_eq!(rate.current(), 40.0);
        // Sent after: a new event.
        assert!(rate.on_throttle(secs(t0, 1.1), secs(t0, 1.11), None, false));
        rate.on_success(secs(t0, 2.11), secs(t0, 2.11));
        assert_eq!(rate.current(), 20.0);
    }

    /// A fixed window of 40 requests per 5 s, offered 16/s: 40 go through in 2.5 s, then
    /// probes are refused until the window ends (the last 0.1 s before it). Returns the
    /// change at the reset.
    fn spend_window(rate: &mut AdaptiveRate, t0: Instant, start: f64) -> Option<Change> {
        // At the run's start, 40 from t = 0; after a reset, the probe that found it
        // and 39 more.
        let first = if start == 0.0 { 0.0 } else { 1.0 / 16.0 };
        successes(rate, t0, 16.0, start + first, start + 2.5);
        let opened = start + 2.5;
        assert!(rate.on_throttle(secs(t0, opened), secs(t0, opened), None, false));
        for probe in [0.1, 0.3, 0.7, 1.5, 2.4] {
            let at = secs(t0, opened + probe);
            assert!(!rate.on_throttle(at, at, None, true));
        }
        // The probe after the reset goes through.
        let reset = start + 5.0;
        rate.on_success(secs(t0, reset), secs(t0, reset))
    }

    #[tokio::test(start_paused = true)]
    async fn a_fixed_window_is_learned_from_a_full_cycle_never_from_the_first() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(16.0, t0);
        // The first cycle began with the run, perhaps mid-window: nothing is concluded.
        assert_eq!(spend_window(&mut rate, t0, 0.0), None);
        assert_eq!(rate.current(), 16.0);
        // From reset to reset: 40 through (the probe that found the reset, and 39 more).
        // The first reset came after the last refusal, 0.1 s before it was found: the
        // period is taken as the longest it can be, 5.1 s, never shorter than it is.
        let change = spend_window(&mut rate, t0, 5.0);
        assert_eq!(
            rate.shape(),
            Shape::FixedWindow {
                budget: 40,
                period: Duration::from_secs_f64(5.1)
            }
        );
        let accepted = 40.0 / 5.1;
        let learned = accepted * HEADROOM;
        assert!(
            matches!(change, Some(Change::Lowered { from: 16.0, to, measured: Some(m) })
                if (to - learned).abs() < 1e-9 && (m - accepted).abs() < 1e-9),
            "{change:?}"
        );
        // The period is at least 4.9 s (the second reset came after the probe refused at
        // 9.9 s, the first by 5.0 s): quiet spells raise the rate gently towards 40/4.9/s,
        // stopping 2 % short of it.
        successes(&mut rate, t0, learned, 10.0, 39.0);
        let best = 40.0 / 4.9;
        assert!(rate.current() > learned, "{}", rate.current());
        assert!(
            rate.current() <= best * HEADROOM + 1e-9,
            "{}",
            rate.current()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_known_window_spent_again_learns_from_the_share_it_refused() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(16.0, t0);
        spend_window(&mut rate, t0, 0.0);
        spend_window(&mut rate, t0, 5.0);
        // Another client now spends a quarter of each window: at 7.69/s, the 30 left are
        // spent 1.1 s before the window's end; the first probe finds its reset.
        let paced = rate.current();
        successes(&mut rate, t0, paced, 10.0 + 1.0 / paced, 13.9);
        let at_event = rate.current();
        assert!(rate.on_throttle(secs(t0, 13.9), secs(t0, 13.9), None, false));
        let change = rate.on_success(secs(t0, 15.0), secs(t0, 15.0));
        // Its reset came within the 1.1 s to the close (no probe was refused before): taken
        // halfway, 0.55 s of the 5.1 s the window is taken to last.
        let accepted = at_event * (1.0 - 0.55 / 5.1);
        assert!(
            matches!(change, Some(Change::Lowered { measured: Some(m), .. }) if (m - accepted).abs() < 1e-6),
            "{change:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_that_says_retry_after_is_learned_the_same_way() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(4.0, t0);
        // 120 per 60 s, offered 4/s, told how long to wait.
        for start in [0.0, 60.0] {
            // After the reset, the request that found it and 119 more.
            let first = if start == 0.0 { 0.0 } else { 0.25 };
            successes(&mut rate, t0, 4.0, start + first, start + 30.0);
            let opened = secs(t0, start + 30.0);
            let told = Some(Duration::from_secs(30));
            assert!(rate.on_throttle(opened, opened, told, false));
            let reset = secs(t0, start + 60.0);
            rate.on_success(reset, reset);
        }
        assert!(
            (rate.current() - 2.0 * HEADROOM).abs() < 1e-9,
            "{}",
            rate.current()
        );
        assert!(matches!(
            rate.shape(),
            Shape::FixedWindow { budget: 120, .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_short_refusal_after_a_long_run_is_a_bucket_not_a_window() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(21.0, t0);
        // Just above a 20/s bucket: a long run, then one refusal, and the first probe,
        // 50 ms later, goes through.
        successes(&mut rate, t0, 20.0, 0.0, 3.0);
        let change = event(&mut rate, t0, 3.0, 3.05);
        assert_eq!(rate.shape(), Shape::Bucket);
        assert!(
            matches!(change, Some(Change::Lowered { to, .. }) if (to - 19.0).abs() < 1e-6),
            "{change:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn paused_time_does_not_count_in_the_measure() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(100.0, t0);
        event(&mut rate, t0, 0.001, 1.0); // 50/s, everyone paused until 1 s
        successes(&mut rate, t0, 20.0, 1.05, 2.5); // 20/s from 1.05 to 2.45
        let change = event(&mut rate, t0, 2.5, 3.5);
        // 30 successes over the 1.5 s since the pause ended (not over 2.5 s).
        assert_eq!(
            change,
            Some(Change::Lowered {
                from: 50.0,
                to: 25.0,
                measured: Some(20.0)
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_measured_limit_probes_are_rare() {
        let t0 = Instant::now();
        let mut rate = AdaptiveRate::new(25.0, t0);
        successes(&mut rate, t0, 20.0, 0.0, 2.0);
        event(&mut rate, t0, 2.0, 2.0); // 19/s, limit 20
        let mut t = 2.0;
        while rate.current() < 19.6 {
            t += 2.0;
            assert!(matches!(
                rate.on_success(secs(t0, t), secs(t0, t)),
                Some(Change::Raised { .. })
            ));
        }
        assert_eq!(
            t, 10.0,
            "four gentle steps of 1 % from 19, the last stopping at 98 %"
        );
        assert!((rate.current() - 19.6).abs() < 1e-9, "{}", rate.current());
        assert_eq!(rate.on_success(secs(t0, t + 2.0), secs(t0, t + 2.0)), None);
        assert_eq!(
            rate.on_success(secs(t0, t + 29.0), secs(t0, t + 29.0)),
            None
        );
        let change = rate.on_success(secs(t0, t + 30.0), secs(t0, t + 30.0));
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
        successes(&mut rate, t0, 4.0, 0.0, 20.0);
        let change = event(&mut rate, t0, 20.0, 20.0);
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
            event(&mut rate, t0, t, t);
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
        successes(&mut rate, t0, 20.0, 0.0, 2.0);
        // Measured 20/s over 2 s: to 19/s, estimate 20, so near it: +1 %.
        event(&mut rate, t0, 2.0, 2.0);
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
        event(&mut rate, t0, 4.5, 4.5);
        assert!((rate.current() - 9.595).abs() < 1e-9, "{}", rate.current());
        let change = rate.on_success(secs(t0, 6.5), secs(t0, 6.5));
        assert!(
            matches!(change, Some(Change::Raised { to, .. }) if (to - 9.595 * 1.1).abs() < 1e-9),
            "{change:?}"
        );

        let mut far = AdaptiveRate::new(100.0, t0);
        event(&mut far, t0, 0.001, 0.001);
        event(&mut far, t0, 0.002, 0.002);
        event(&mut far, t0, 0.003, 0.003);
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
