//! Sending one row: wait for the limiter, send, and react to the answer — retry with
//! backoff, pause everyone, fail the row, or stop the run.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio_util::sync::CancellationToken;

use crate::client::{Answer, ApiError, Client};
use crate::config::RetryPolicy;
use crate::error::{Fatal, RunError};
use crate::limiter::Limiter;
use crate::outcome::{FailStatus, RowResult};
use crate::payload::CreateCustomer;
use crate::progress::Counters;

/// What every worker shares to send rows.
pub struct Sender {
    pub client: Client,
    pub limiter: Limiter,
    pub retry: RetryPolicy,
    /// Workers sending at once.
    pub concurrency: usize,
    pub counters: std::sync::Arc<Counters>,
    /// Cancelled to stop the run: by a signal, or by an answer that makes every later
    /// request pointless (401). Workers stop taking rows; an attempt in flight finishes.
    pub stop: CancellationToken,
    /// Where a fatal answer is recorded, for the exit code and the summary.
    pub fatal: Fatal,
}

/// What to do after one answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reaction {
    /// The row is finished.
    Done(RowResult),
    /// The row is finished and the run must stop: every later request would fail too.
    Fatal(RowResult),
    /// Try again. `throttled` when the limit is the organization's (429): the wait then
    /// holds every worker, not just this one, and the rate adapts.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
        throttled: bool,
    },
}

/// The reaction to an answer (pure).
pub fn react(answer: Answer) -> Reaction {
    match answer {
        Answer::Created { id } => Reaction::Done(RowResult::Created { id }),
        Answer::Duplicate { errors } => Reaction::Done(RowResult::Failed {
            status: FailStatus::Duplicate,
            errors: api_errors(400, &errors),
        }),
        Answer::Rejected { status, errors } => Reaction::Done(RowResult::Failed {
            status: FailStatus::Rejected,
            errors: api_errors(status, &errors),
        }),
        Answer::Unauthorized { errors } => Reaction::Fatal(RowResult::Failed {
            status: FailStatus::Unauthorized,
            errors: api_errors(401, &errors),
        }),
        Answer::InDoubt { reason } => Reaction::Done(RowResult::failed(
            FailStatus::InDoubt,
            format!("in doubt, not re-sent (it may have been created): {reason}"),
        )),
        Answer::RateLimited { retry_after } => Reaction::Retry {
            reason: "HTTP 429 too many requests".into(),
            retry_after,
            throttled: true,
        },
        Answer::Transient {
            reason,
            retry_after,
        } => Reaction::Retry {
            reason,
            retry_after,
            throttled: false,
        },
    }
}

/// `HTTP 400 email: This value is not valid.`, one line per error the API gave. The
/// generic `invalid_request` wrapper is kept only when it is the only one.
fn api_errors(status: u16, errors: &[ApiError]) -> Vec<String> {
    let specific: Vec<&ApiError> = errors
        .iter()
        .filter(|e| e.code != "invalid_request")
        .collect();
    let shown: Vec<&ApiError> = if specific.is_empty() {
        errors.iter().collect()
    } else {
        specific
    };
    if shown.is_empty() {
        return vec![format!("HTTP {status}")];
    }
    shown.iter().map(|e| format!("HTTP {status} {e}")).collect()
}

impl Sender {
    /// Exponential waits (without jitter: callers add it where it helps), at most
    /// `retries` of them and `total` in all.
    fn backoff(
        &self,
        retries: usize,
        total: Option<Duration>,
    ) -> impl Iterator<Item = Duration> + use<> {
        ExponentialBuilder::default()
            .with_min_delay(self.retry.initial_delay)
            .with_max_delay(self.retry.max_delay)
            .with_max_times(retries)
            .with_total_delay(total)
            .build()
    }

    /// Sends one row until it is finished, retrying within the policy's bounds.
    ///
    /// Faults (5xx, connection failures) and 429s are bounded apart: a 429 says nothing
    /// is wrong with the row, so it never spends the row's fault attempts, only its own,
    /// much larger, allowance.
    pub async fn deliver(&self, payload: &CreateCustomer) -> RowResult {
        let mut fault_backoff = self.backoff(
            self.retry.max_attempts.saturating_sub(1),
            Some(self.retry.max_total),
        );
        // Bounded by count alone: with Retry-After its waits are the server's, not these.
        let mut throttle_backoff = self.backoff(self.retry.max_rate_limited, None);
        let mut attempts = 0usize;
        loop {
            let sent_at = tokio::select! {
                biased;
                () = self.stop.cancelled() => return stopped(attempts),
                sent_at = self.limiter.acquire() => sent_at,
            };
            attempts += 1;
            self.counters.add_request();
            let reaction = react(self.client.create(payload).await);
            let throttled = matches!(
                reaction,
                Reaction::Retry {
                    throttled: true,
                    ..
                }
            );
            if throttled {
                self.counters.add_rate_limited();
            } else {
                self.limiter.succeeded();
                self.counters.set_rate(self.limiter.current_per_sec());
            }
            let (reason, retry_after) = match reaction {
                Reaction::Done(result) => return result,
                Reaction::Fatal(result) => {
                    if let RowResult::Failed { errors, .. } = &result {
                        self.fatal.set(RunError::Unauthorized {
                            detail: errors.first().map(|e| format!(": {e}")).unwrap_or_default(),
                        });
                    }
                    self.stop.cancel();
                    return result;
                }
                Reaction::Retry {
                    reason,
                    retry_after,
                    ..
                } => (reason, retry_after),
            };
            let backoff = if throttled {
                &mut throttle_backoff
            } else {
                &mut fault_backoff
            };
            let Some(delay) = backoff.next() else {
                return RowResult::failed(
                    FailStatus::GaveUp,
                    format!("gave up after {attempts} attempts: {reason}"),
                );
            };
            self.counters.add_retry();
            tracing::debug!(attempts, %reason, ?retry_after, "retrying");
            if throttled {
                // The organization's limit: everyone waits, and the rate adapts. No jitter:
                // one shared pause has no herd to spread.
                self.limiter
                    .throttled(sent_at, retry_after.map_or(delay, |wait| self.capped(wait)));
                self.counters.set_rate(self.limiter.current_per_sec());
            } else {
                // A fault of this request: only this row waits, with full jitter unless
                // the server said how long.
                let wait = retry_after.map_or_else(|| full_jitter(delay), |wait| self.capped(wait));
                let _waiting = self.counters.retrying();
                tokio::select! {
                    () = self.stop.cancelled() => return stopped(attempts),
                    () = tokio::time::sleep(wait) => {}
                }
            }
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

/// The result of a row the run stopped after `attempts` attempts (none: never sent).
pub(crate) fn stopped(attempts: usize) -> RowResult {
    if attempts == 0 {
        RowResult::failed(
            FailStatus::NotSent,
            "not sent: the run stopped before this row's turn",
        )
    } else {
        RowResult::failed(
            FailStatus::GaveUp,
            format!(
                "the run stopped while this row waited to retry (after {attempts} attempts; not created)"
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(code: &str, message: &str) -> ApiError {
        ApiError {
            code: code.into(),
            message: message.into(),
        }
    }

    #[test]
    fn a_rejection_keeps_every_specific_error() {
        let answer = Answer::Rejected {
            status: 400,
            errors: vec![
                error("invalid_request", "Invalid request"),
                error("email", "This value is not a valid email address."),
                error("locale", "Unknown locale."),
            ],
        };
        assert_eq!(
            react(answer),
            Reaction::Done(RowResult::Failed {
                status: FailStatus::Rejected,
                errors: vec![
                    "HTTP 400 email: This value is not a valid email address.".into(),
                    "HTTP 400 locale: Unknown locale.".into()
                ]
            })
        );
        let only_generic = Answer::Rejected {
            status: 404,
            errors: vec![error("invalid_request", "Invalid request")],
        };
        assert_eq!(
            react(only_generic),
            Reaction::Done(RowResult::failed(
                FailStatus::Rejected,
                "HTTP 404 invalid_request: Invalid request"
            ))
        );
    }

    #[test]
    fn a_401_is_fatal_and_a_429_pauses_everyone() {
        assert!(matches!(
            react(Answer::Unauthorized { errors: vec![] }),
            Reaction::Fatal(RowResult::Failed {
                status: FailStatus::Unauthorized,
                ..
            })
        ));
        assert_eq!(
            react(Answer::RateLimited {
                retry_after: Some(Duration::from_secs(2))
            }),
            Reaction::Retry {
                reason: "HTTP 429 too many requests".into(),
                retry_after: Some(Duration::from_secs(2)),
                throttled: true
            }
        );
        assert!(matches!(
            react(Answer::Transient {
                reason: "HTTP 503".into(),
                retry_after: None
            }),
            Reaction::Retry {
                throttled: false,
                ..
            }
        ));
    }

    #[test]
    fn in_doubt_and_duplicates_are_never_retried() {
        assert!(matches!(
            react(Answer::InDoubt {
                reason: "timed out".into()
            }),
            Reaction::Done(RowResult::Failed {
                status: FailStatus::InDoubt,
                ..
            })
        ));
        assert!(matches!(
            react(Answer::Duplicate {
                errors: vec![error("invalid_userId_value", "taken")]
            }),
            Reaction::Done(RowResult::Failed {
                status: FailStatus::Duplicate,
                ..
            })
        ));
    }
}
