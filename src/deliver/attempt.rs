//! One request's turn, written once for every operation: wait for the limiter (or a
//! stop), send, react, wait to retry. An [`Operation`] says which request comes next and
//! what each answer means; [`Courier::attempt`] does the rest, within the row's
//! [`Budget`] of retries.
//!
//! Faults (5xx, connection failures) and 429s are bounded apart: a 429 says nothing is
//! wrong with the row, so it never spends the row's fault attempts, only its own, much
//! larger, allowance. A create in doubt spends a fault attempt, and waits its backoff
//! before the lookup, so the server has settled by then.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio::time::Instant;

use super::Courier;
use super::react::{Cause, Retry, stopped_after};
use crate::client::{Answer, Request};
use crate::error::RunError;
use crate::ledger::RowKey;
use crate::limiter::Slot;
use crate::outcome::{FailStatus, RowResult};

/// A settling wait whose operation gave none (never, in practice).
const SETTLING_WAIT: Duration = Duration::from_secs(1);

/// How long a request in flight may still take once the run is stopping. After that its
/// row is in doubt, and the next run looks it up.
pub const IN_FLIGHT_GRACE: Duration = Duration::from_secs(3);

/// How failed attempts are retried. Every wait and the number of attempts are bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per row against faults (5xx, connection failures), the first included.
    pub max_attempts: usize,
    /// 429 answers one row may take before it fails; they do not spend `max_attempts`.
    pub max_rate_limited: usize,
    pub initial_delay: Duration,
    pub max_delay: Duration,
    /// Total backoff time one row may spend waiting on faults before it fails.
    pub max_total: Duration,
    /// A longer Retry-After is cut to this (and said so in the log).
    pub max_retry_after: Duration,
    /// How long a lookup that should find a contact (a create in doubt, a userId the API
    /// says is taken) keeps looking again when it finds none, 1 s, 2 s, 4 s … apart,
    /// before it concludes there is none: HelpCrunch's search may show a new contact
    /// late, and re-sending a create it missed would duplicate the contact.
    pub settle: Duration,
    /// How long the API may answer nothing but faults (no connection, timeouts, 5xx)
    /// before the run stops (zero: never); while the server has answered nothing at
    /// all, at most [`super::outage::BEFORE_FIRST_ANSWER`].
    pub unreachable: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            max_rate_limited: 100,
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_total: Duration::from_secs(600),
            max_retry_after: Duration::from_secs(300),
            settle: Duration::from_secs(15),
            unreachable: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// Exponential waits (without jitter: callers add it where it helps), at most
    /// `retries` of them and `total` in all.
    fn backoff(&self, retries: usize, total: Option<Duration>) -> ExponentialBackoff {
        ExponentialBuilder::default()
            .with_min_delay(self.initial_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(retries)
            .with_total_delay(total)
            .build()
    }
}

/// The waits one row may still spend, over every request it makes (a sync row may look
/// its contact up, then patch it): a row's faults are bounded, not each request's.
pub struct Budget {
    /// Waits after faults: `max_attempts - 1` of them, `max_total` in all.
    faults: ExponentialBackoff,
    /// 429s it may still take: the waits after them are the limiter's (the server's
    /// Retry-After, or probing), shared by every worker.
    rate_limited: usize,
}

impl Budget {
    pub fn new(policy: &RetryPolicy) -> Budget {
        Budget {
            faults: policy.backoff(
                policy.max_attempts.saturating_sub(1),
                Some(policy.max_total),
            ),
            rate_limited: policy.max_rate_limited,
        }
    }
}

/// The waits of a lookup that looks again: 1 s, then twice the last, while they add up
/// to at most the policy's `settle`.
#[derive(Debug, Clone)]
pub struct Settle {
    next: Duration,
    left: Duration,
}

impl Settle {
    pub fn new(policy: &RetryPolicy) -> Settle {
        Settle {
            next: Duration::from_secs(1),
            left: policy.settle,
        }
    }
}

impl Iterator for Settle {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let wait = self.next;
        self.left = self.left.checked_sub(wait)?;
        self.next = wait * 2;
        Some(wait)
    }
}

/// What the attempt loop does after an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Then<T> {
    /// The operation is finished, with this output.
    Done(T),
    /// The row is finished and the run must stop (a refused key).
    Fatal(RowResult),
    /// Send the operation's next request at once.
    Next,
    /// Wait, then send the operation's next request.
    Retry(Retry),
}

/// The next request of an operation, or its end without one.
pub enum Next<'a, T> {
    Send(Request<'a>),
    Done(T),
}

/// An operation on one row's contact: which request it sends next and what an answer
/// to it means. Its state changes only through `react`, so the loop can be written once.
pub trait Operation<'a> {
    /// What the operation comes to: a row's result, or what it read.
    type Output;
    fn next(&mut self) -> Next<'a, Self::Output>;
    fn react(&mut self, answer: Answer) -> Then<Self::Output>;
    /// Whether a create it sent may have reached the server: a row stopped or out of
    /// retries is then in doubt, not merely unsent.
    fn maybe_sent(&self) -> bool {
        false
    }
}

impl Courier {
    /// Runs `operation` for the ledger's `row` (None: no row, as a listing page) until it
    /// is finished (`Ok`), or it ends without (`Err`: the run stopped, the budget ran out,
    /// or a fatal answer).
    ///
    /// A create's intent goes to disk before the row waits for its turn, not after: the
    /// fsync's varying latency between the slot and the request would bunch requests at
    /// the server. Stopped while waiting, the row is `not_sent`, and recording that
    /// withdraws the intent.
    pub(super) async fn attempt<'a, T>(
        &self,
        row: Option<RowKey>,
        budget: &mut Budget,
        operation: &mut impl Operation<'a, Output = T>,
    ) -> Result<T, RowResult> {
        let mut attempts = 0usize;
        let mut intent_recorded = false;
        loop {
            let request = match operation.next() {
                Next::Send(request) => request,
                Next::Done(output) => return Ok(output),
            };
            let ledger = self.ledger.as_ref();
            if let (Request::Create(payload), Some(row), Some(ledger), false) =
                (request, row, ledger, intent_recorded)
            {
                let recorded = ledger
                    .sending(row, payload.user_id.as_deref(), payload.email.as_deref())
                    .await;
                if let Err(error) = recorded {
                    self.shutdown.fail(RunError::Ledger(error));
                    return Err(stopped_after(attempts, operation.maybe_sent()));
                }
                intent_recorded = true;
            }
            let slot = tokio::select! {
                biased;
                () = self.shutdown.stopped() => {
                    return Err(stopped_after(attempts, operation.maybe_sent()));
                }
                slot = self.limiter.acquire() => slot,
            };
            attempts += 1;
            self.counters.add_request();
            if let Request::Search(_) = request {
                self.counters.add_lookup();
            }
            let answer = self
                .in_flight(self.client.send(request), || request.abandoned())
                .await;
            self.answered(&answer, slot);
            // Once stopping, an answer may be one the run made up for a request it gave
            // up on: it says nothing of the API, and a signal's exit code stands.
            if !self.shutdown.is_stopping()
                && let Some(error) = self.outage.record(&answer, slot.sent_at, Instant::now())
            {
                self.shutdown.fail(error);
            }
            let retry = match operation.react(answer) {
                Then::Done(output) => return Ok(output),
                Then::Fatal(result) => return Err(self.stop_for(result)),
                Then::Next => continue,
                Then::Retry(retry) => retry,
            };
            self.wait_to_retry(budget, retry, slot, attempts, operation.maybe_sent())
                .await?;
        }
    }

    /// Waits before the next attempt of a row: everyone, for a 429 (the organization's
    /// limit), else this row alone. Err: the row ends here, out of retries or stopped.
    async fn wait_to_retry(
        &self,
        budget: &mut Budget,
        retry: Retry,
        slot: Slot,
        attempts: usize,
        maybe_sent: bool,
    ) -> Result<(), RowResult> {
        let Retry {
            reason,
            retry_after,
            cause,
        } = retry;
        let give_up = || {
            let status = if maybe_sent {
                FailStatus::InDoubt
            } else {
                FailStatus::GaveUp
            };
            Err(RowResult::failed(
                status,
                format!("gave up after {attempts} attempts: {reason}"),
            ))
        };
        match cause {
            Cause::RateLimit => {
                // The organization's limit: the limiter hears of every 429 and holds
                // every worker (for the server's Retry-After, or while it probes), and the
                // rate adapts. The row only counts the 429s it may still take.
                self.limiter
                    .throttled(slot, retry_after.map(|wait| self.capped(wait)));
                self.counters.set_rate(self.limiter.current_per_sec());
                let Some(left) = budget.rate_limited.checked_sub(1) else {
                    return give_up();
                };
                budget.rate_limited = left;
                self.counters.add_retry();
                tracing::debug!(attempts, %reason, ?retry_after, "retrying after a 429");
                Ok(())
            }
            Cause::Fault => {
                let Some(delay) = budget.faults.next() else {
                    return give_up();
                };
                self.counters.add_retry();
                tracing::debug!(attempts, %reason, ?retry_after, "retrying");
                // A fault of this request (or a create in doubt, before its lookup): only
                // this row waits, with full jitter unless the server said how long.
                let wait = retry_after.map_or_else(
                    || self.outage.cap(full_jitter(delay), Instant::now()),
                    |wait| self.capped(wait),
                );
                self.sleep(wait, attempts, maybe_sent).await
            }
            Cause::Settling => {
                // The operation's own schedule bounds these: nothing is spent.
                let wait = retry_after.unwrap_or(SETTLING_WAIT);
                tracing::debug!(attempts, %reason, ?wait, "looking again");
                self.sleep(wait, attempts, maybe_sent).await
            }
        }
    }

    /// This row alone waits `wait`, unless the run stops first.
    async fn sleep(
        &self,
        wait: Duration,
        attempts: usize,
        maybe_sent: bool,
    ) -> Result<(), RowResult> {
        let _waiting = self.counters.retrying();
        tokio::select! {
            () = self.shutdown.stopped() => Err(stopped_after(attempts, maybe_sent)),
            () = tokio::time::sleep(wait) => Ok(()),
        }
    }

    /// Counts an answer: a 429 for the progress, anything else for the adaptive rate.
    fn answered(&self, answer: &Answer, slot: Slot) {
        if let Answer::RateLimited { .. } = answer {
            self.counters.add_rate_limited();
        } else {
            self.limiter.succeeded(slot);
            self.counters.set_rate(self.limiter.current_per_sec());
        }
    }

    /// Stops the run for a row's fatal answer (a refused key), which it records.
    fn stop_for(&self, result: RowResult) -> RowResult {
        let detail = match &result {
            // The API's words, without the status the message names already.
            RowResult::Failed { errors, .. } => errors
                .first()
                .map(|e| {
                    let e = e.strip_prefix("HTTP 401").unwrap_or(e).trim_start();
                    let e = e.strip_prefix("unauthorized:").unwrap_or(e);
                    let e = e.trim_start_matches([':', ' ']);
                    if e.is_empty() {
                        String::new()
                    } else {
                        format!(": {e}")
                    }
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        self.shutdown.fail(RunError::Unauthorized { detail });
        result
    }

    /// Runs a request to its end, unless the run is stopping and it outlasts
    /// [`IN_FLIGHT_GRACE`]: then `abandoned` gives its answer.
    async fn in_flight<T>(
        &self,
        request: impl Future<Output = T>,
        abandoned: impl FnOnce() -> T,
    ) -> T {
        tokio::select! {
            output = request => output,
            () = async {
                self.shutdown.stopped().await;
                tokio::time::sleep(IN_FLIGHT_GRACE).await;
            } => abandoned(),
        }
    }

    fn capped(&self, wait: Duration) -> Duration {
        let cap = self.retry.max_retry_after;
        if wait > cap {
            tracing::warn!(
                "the API asked to wait {}s; waiting {}s (retry.max_retry_after_secs)",
                wait.as_secs(),
                cap.as_secs()
            );
            cap
        } else {
            wait
        }
    }
}

/// "Full jitter": a uniform wait between zero and `delay`, so rows that failed together
/// do not retry together.
fn full_jitter(delay: Duration) -> Duration {
    delay.mul_f64(fastrand::f64())
}
