//! Sending one row: wait for the limiter, send, and react to the answer — retry with
//! backoff, pause everyone, fail the row, stop the run, or look the contact up.
//!
//! A create whose answer was lost (a timeout, a dropped connection, a run that stopped
//! first) may have created the contact, so it is never re-sent blindly: the contact is
//! looked up by userId (or email) and sent again only if it is not there. A row with
//! neither is not re-sent at all: it fails as `in_doubt` for a person to check.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio_util::sync::CancellationToken;

use crate::client::{Answer, ApiError, Client, LookupKey};
use crate::config::RetryPolicy;
use crate::error::{Fatal, RunError};
use crate::ledger::{Ledger, RowKey};
use crate::limiter::Limiter;
use crate::outcome::{FailStatus, RowResult};
use crate::payload::CreateCustomer;
use crate::progress::Counters;

/// How long a request in flight may still take once the run is stopping. After that its
/// row is in doubt, and the next run looks it up.
pub const IN_FLIGHT_GRACE: Duration = Duration::from_secs(3);

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
    /// Where each row's intent is recorded before its create request leaves.
    pub ledger: Ledger,
    /// `--mode upsert|update` and its state; None for `--mode create`, which opens none.
    pub sync: Option<crate::upsert::Sync>,
}

/// Why a row waits before its next attempt, and what it spent so far.
pub(crate) struct Retry {
    pub reason: String,
    pub retry_after: Option<Duration>,
    /// A 429: the wait holds every worker, and the rate adapts.
    pub throttled: bool,
    /// When the answered request left, for the adaptive rate.
    pub sent_at: tokio::time::Instant,
    pub attempts: usize,
    /// A create may have reached the server: out of retries, the row is in doubt.
    pub maybe_sent: bool,
}

/// How a row's delivery begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Never sent (or known not to have been created): send it.
    Fresh,
    /// An earlier run sent it and recorded no answer: look it up first.
    InDoubt,
    /// `--mode upsert|update` with a row the state does not know: look for the contact
    /// first (an existing one ends as `exists`, for the caller to update); if there is none,
    /// create it when `create`, else fail as not found.
    Find { create: bool },
}

/// Why a contact is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A create may have reached the server: is the contact there?
    InDoubt,
    /// The API says the userId is taken: which contact holds it?
    Existing,
    /// Is there a contact to update? If not, create one when `create`.
    Find { create: bool },
}

/// The next request of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Create,
    LookUp(Purpose),
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
    /// Look the contact up before anything else; `reason` says why.
    LookUp { purpose: Purpose, reason: String },
    /// A lookup found no contact: the row was not created, send it.
    Send,
}

/// The reaction to an answer (pure).
pub fn react(answer: Answer) -> Reaction {
    match answer {
        Answer::Created { id } => Reaction::Done(RowResult::Created { id }),
        Answer::Duplicate { errors } => Reaction::LookUp {
            purpose: Purpose::Existing,
            reason: api_errors(400, &errors).join("; "),
        },
        Answer::Rejected { status, errors } => Reaction::Done(RowResult::Failed {
            status: FailStatus::Rejected,
            errors: api_errors(status, &errors),
        }),
        Answer::Unauthorized { errors } => Reaction::Fatal(RowResult::Failed {
            status: FailStatus::Unauthorized,
            errors: api_errors(401, &errors),
        }),
        Answer::InDoubt { reason } => Reaction::LookUp {
            purpose: Purpose::InDoubt,
            reason,
        },
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

/// The reaction to a lookup's answer (pure). `maybe_sent`: a create for this row may have
/// reached the server, so a contact found (or a userId taken) is most likely its own.
/// Of several contacts found, the newest (highest id) is taken: ours, if we made one.
pub fn react_to_lookup(
    purpose: Purpose,
    maybe_sent: bool,
    found: Result<Vec<i64>, Answer>,
) -> Reaction {
    let existing = |id| {
        Reaction::Done(if maybe_sent {
            RowResult::Created { id }
        } else {
            RowResult::Exists { id }
        })
    };
    let refusal = match found {
        Ok(ids) => {
            let newest = ids.into_iter().max();
            return match (purpose, newest) {
                (Purpose::InDoubt, Some(id)) => Reaction::Done(RowResult::Created { id: Some(id) }),
                (Purpose::InDoubt, None) => Reaction::Send,
                (Purpose::Existing, id) => existing(id),
                (Purpose::Find { .. }, Some(id)) => {
                    Reaction::Done(RowResult::Exists { id: Some(id) })
                }
                (Purpose::Find { create: true }, None) => Reaction::Send,
                (Purpose::Find { create: false }, None) => Reaction::Done(not_found()),
            };
        }
        Err(answer) => match react(answer) {
            reaction @ (Reaction::Retry { .. } | Reaction::Fatal(_)) => return reaction,
            Reaction::Done(RowResult::Failed { errors, .. }) => errors.join("; "),
            other => format!("{other:?}"),
        },
    };
    // The API refused the search itself: asking again would not help.
    match purpose {
        Purpose::InDoubt => Reaction::Done(RowResult::failed(
            FailStatus::InDoubt,
            format!("may have been created, and the lookup was refused ({refusal}): not re-sent"),
        )),
        Purpose::Existing => existing(None),
        // Creating it blindly could make a duplicate of a contact that is there.
        Purpose::Find { .. } => Reaction::Done(RowResult::failed(
            FailStatus::Rejected,
            format!("the lookup for an existing contact was refused ({refusal})"),
        )),
    }
}

/// `--mode update`: no contact to update.
fn not_found() -> RowResult {
    RowResult::failed(
        FailStatus::NotFound,
        "not found: no contact has this userId (or email); --mode update creates none",
    )
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
    pub(crate) fn backoff(
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

    /// Sends one row as the run's `--mode` says: created, or synced against the state.
    pub async fn send(&self, row: RowKey, payload: &CreateCustomer, start: Start) -> RowResult {
        match &self.sync {
            None => self.deliver(row, payload, start).await,
            Some(sync) => self.sync(sync, row, payload, start).await,
        }
    }

    /// Sends one row until it is finished, retrying within the policy's bounds.
    ///
    /// Faults (5xx, connection failures) and 429s are bounded apart: a 429 says nothing
    /// is wrong with the row, so it never spends the row's fault attempts, only its own,
    /// much larger, allowance. A create in doubt spends a fault attempt, and waits its
    /// backoff before the lookup, so the server has settled by then.
    pub async fn deliver(&self, row: RowKey, payload: &CreateCustomer, start: Start) -> RowResult {
        let mut fault_backoff = self.backoff(
            self.retry.max_attempts.saturating_sub(1),
            Some(self.retry.max_total),
        );
        // Bounded by count alone: with Retry-After its waits are the server's, not these.
        let mut throttle_backoff = self.backoff(self.retry.max_rate_limited, None);
        let mut attempts = 0usize;
        // Whether a create for this row may have reached the server.
        let mut maybe_sent = start == Start::InDoubt;
        let mut intent_recorded = false;
        let mut step = match start {
            Start::Fresh => Step::Create,
            Start::InDoubt => Step::LookUp(Purpose::InDoubt),
            Start::Find { create } => Step::LookUp(Purpose::Find { create }),
        };
        let key = LookupKey::of(payload);
        loop {
            if let (Step::LookUp(purpose), None) = (step, key) {
                return unlookable(purpose);
            }
            // The intent goes to disk before the row waits for its turn, not after: the
            // fsync's varying latency between the slot and the request would bunch
            // requests at the server. Stopped while waiting, the row is `not_sent`, and
            // recording that withdraws the intent.
            if step == Step::Create && !intent_recorded {
                let recorded = self
                    .ledger
                    .sending(row, payload.user_id.as_deref(), payload.email.as_deref())
                    .await;
                if let Err(error) = recorded {
                    self.fatal.set(RunError::Ledger(error));
                    self.stop.cancel();
                    return stopped_after(attempts, maybe_sent);
                }
                intent_recorded = true;
            }
            let sent_at = tokio::select! {
                biased;
                () = self.stop.cancelled() => return stopped_after(attempts, maybe_sent),
                sent_at = self.limiter.acquire() => sent_at,
            };
            attempts += 1;
            self.counters.add_request();
            let reaction = match (step, key) {
                (Step::LookUp(purpose), Some(key)) => {
                    self.counters.add_lookup();
                    let found = self
                        .in_flight(self.client.search(key), || {
                            Err(Answer::Transient {
                                reason: "the run stopped during the lookup".into(),
                                retry_after: None,
                            })
                        })
                        .await;
                    react_to_lookup(purpose, maybe_sent, found)
                }
                _ => {
                    let answer = self
                        .in_flight(self.client.create(payload), || Answer::InDoubt {
                            reason: "the run stopped while the request was in flight".into(),
                        })
                        .await;
                    react(answer)
                }
            };
            self.answered(&reaction);
            let (reason, retry_after, throttled) = match reaction {
                Reaction::Done(result) => return result,
                Reaction::Fatal(result) => return self.stop_for(result),
                Reaction::Send => {
                    maybe_sent = false;
                    step = Step::Create;
                    continue;
                }
                Reaction::LookUp {
                    purpose: purpose @ (Purpose::Existing | Purpose::Find { .. }),
                    ..
                } => {
                    step = Step::LookUp(purpose);
                    continue;
                }
                Reaction::LookUp {
                    purpose: Purpose::InDoubt,
                    reason,
                } => {
                    maybe_sent = true;
                    step = Step::LookUp(Purpose::InDoubt);
                    (format!("in doubt: {reason}"), None, false)
                }
                Reaction::Retry {
                    reason,
                    retry_after,
                    throttled,
                } => (reason, retry_after, throttled),
            };
            let retry = Retry {
                reason,
                retry_after,
                throttled,
                sent_at,
                attempts,
                maybe_sent,
            };
            if let Err(result) = self
                .wait_to_retry(&mut fault_backoff, &mut throttle_backoff, retry)
                .await
            {
                return result;
            }
        }
    }

    /// Waits before the next attempt of a row: everyone, for a 429 (the organization's
    /// limit), else this row alone. Err: the row ends here, out of retries or stopped.
    pub(crate) async fn wait_to_retry<I: Iterator<Item = Duration>>(
        &self,
        fault_backoff: &mut I,
        throttle_backoff: &mut I,
        retry: Retry,
    ) -> Result<(), RowResult> {
        let Retry {
            reason,
            retry_after,
            throttled,
            sent_at,
            attempts,
            maybe_sent,
        } = retry;
        let backoff = if throttled {
            throttle_backoff
        } else {
            fault_backoff
        };
        let Some(delay) = backoff.next() else {
            let status = if maybe_sent {
                FailStatus::InDoubt
            } else {
                FailStatus::GaveUp
            };
            return Err(RowResult::failed(
                status,
                format!("gave up after {attempts} attempts: {reason}"),
            ));
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
            // A fault of this request (or a create in doubt, before its lookup): only
            // this row waits, with full jitter unless the server said how long.
            let wait = retry_after.map_or_else(|| full_jitter(delay), |wait| self.capped(wait));
            let _waiting = self.counters.retrying();
            tokio::select! {
                () = self.stop.cancelled() => return Err(stopped_after(attempts, maybe_sent)),
                () = tokio::time::sleep(wait) => {}
            }
        }
        Ok(())
    }

    /// Counts an answer: a 429 for the progress, anything else for the adaptive rate.
    pub(crate) fn answered(&self, reaction: &Reaction) {
        if matches!(
            reaction,
            Reaction::Retry {
                throttled: true,
                ..
            }
        ) {
            self.counters.add_rate_limited();
        } else {
            self.limiter.succeeded();
            self.counters.set_rate(self.limiter.current_per_sec());
        }
    }

    /// Stops the run for a row's fatal answer (a refused key), which it records.
    pub(crate) fn stop_for(&self, result: RowResult) -> RowResult {
        if let RowResult::Failed { errors, .. } = &result {
            self.fatal.set(RunError::Unauthorized {
                detail: errors.first().map(|e| format!(": {e}")).unwrap_or_default(),
            });
        }
        self.stop.cancel();
        result
    }

    /// Runs a request to its end, unless the run is stopping and it outlasts
    /// [`IN_FLIGHT_GRACE`]: then `abandoned` gives its answer.
    pub(crate) async fn in_flight<T>(
        &self,
        request: impl Future<Output = T>,
        abandoned: impl FnOnce() -> T,
    ) -> T {
        tokio::select! {
            output = request => output,
            () = async {
                self.stop.cancelled().await;
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

/// A row that needs a lookup but has neither userId nor email to look it up by. In doubt,
/// it is not re-sent (that could create the contact twice): it fails as `in_doubt`, for a
/// person to check. An existing contact's id simply stays unknown.
fn unlookable(purpose: Purpose) -> RowResult {
    match purpose {
        Purpose::InDoubt => RowResult::failed(
            FailStatus::InDoubt,
            "may have been created (its answer was lost), and it has no userId or email to look it up by: not re-sent; check HelpCrunch before importing it again",
        ),
        Purpose::Existing => RowResult::Exists { id: None },
        Purpose::Find { .. } => not_found(),
    }
}

/// The result of a row the run stopped, `maybe_sent` when a create for it may have
/// reached the server: it is then in doubt, and `--resume` looks it up.
pub(crate) fn stopped_after(attempts: usize, maybe_sent: bool) -> RowResult {
    if maybe_sent {
        RowResult::failed(
            FailStatus::InDoubt,
            "the run stopped before this row's answer was known: --resume looks it up",
        )
    } else {
        stopped(attempts)
    }
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
    fn in_doubt_and_duplicates_are_looked_up_never_resent_blindly() {
        assert_eq!(
            react(Answer::InDoubt {
                reason: "timed out".into()
            }),
            Reaction::LookUp {
                purpose: Purpose::InDoubt,
                reason: "timed out".into()
            }
        );
        assert!(matches!(
            react(Answer::Duplicate {
                errors: vec![error("invalid_userId_value", "taken")]
            }),
            Reaction::LookUp { purpose: Purpose::Existing, reason } if reason.contains("invalid_userId_value")
        ));
    }

    #[test]
    fn a_create_in_doubt_is_settled_by_what_the_lookup_finds() {
        for maybe_sent in [false, true] {
            // Found: created by the request in doubt (the newest, if several).
            assert_eq!(
                react_to_lookup(Purpose::InDoubt, maybe_sent, Ok(vec![3, 12, 7])),
                Reaction::Done(RowResult::Created { id: Some(12) })
            );
            // Not there: it was not created, so it is sent.
            assert_eq!(
                react_to_lookup(Purpose::InDoubt, maybe_sent, Ok(vec![])),
                Reaction::Send
            );
        }
    }

    #[test]
    fn a_taken_user_id_is_an_existing_contact_unless_our_own_request_took_it() {
        assert_eq!(
            react_to_lookup(Purpose::Existing, false, Ok(vec![41])),
            Reaction::Done(RowResult::Exists { id: Some(41) })
        );
        // A create in doubt, then "userId taken" on the re-send: the first one made it.
        assert_eq!(
            react_to_lookup(Purpose::Existing, true, Ok(vec![41])),
            Reaction::Done(RowResult::Created { id: Some(41) })
        );
        assert_eq!(
            react_to_lookup(Purpose::Existing, false, Ok(vec![])),
            Reaction::Done(RowResult::Exists { id: None })
        );
    }

    #[test]
    fn a_failed_lookup_is_retried_stops_the_run_or_leaves_the_row_in_doubt() {
        let transient = || {
            Err(Answer::Transient {
                reason: "HTTP 503".into(),
                retry_after: None,
            })
        };
        assert!(matches!(
            react_to_lookup(Purpose::InDoubt, true, transient()),
            Reaction::Retry {
                throttled: false,
                ..
            }
        ));
        assert!(matches!(
            react_to_lookup(
                Purpose::Existing,
                false,
                Err(Answer::RateLimited { retry_after: None })
            ),
            Reaction::Retry {
                throttled: true,
                ..
            }
        ));
        assert!(matches!(
            react_to_lookup(
                Purpose::InDoubt,
                true,
                Err(Answer::Unauthorized { errors: vec![] })
            ),
            Reaction::Fatal(_)
        ));
        let refused = || {
            Err(Answer::Rejected {
                status: 400,
                errors: vec![error("filter", "unknown field")],
            })
        };
        assert!(matches!(
            react_to_lookup(Purpose::InDoubt, true, refused()),
            Reaction::Done(RowResult::Failed { status: FailStatus::InDoubt, errors })
                if errors[0].contains("filter: unknown field")
        ));
        assert_eq!(
            react_to_lookup(Purpose::Existing, false, refused()),
            Reaction::Done(RowResult::Exists { id: None })
        );
    }

    #[test]
    fn a_contact_found_for_an_upsert_exists_and_one_not_found_is_created_only_by_upsert() {
        for create in [false, true] {
            let find = Purpose::Find { create };
            assert_eq!(
                react_to_lookup(find, false, Ok(vec![4, 9])),
                Reaction::Done(RowResult::Exists { id: Some(9) })
            );
            assert!(matches!(
                react_to_lookup(find, false, Err(Answer::RateLimited { retry_after: None })),
                Reaction::Retry {
                    throttled: true,
                    ..
                }
            ));
            // A refused search proves nothing: creating could duplicate the contact.
            assert!(matches!(
                react_to_lookup(
                    find,
                    false,
                    Err(Answer::Rejected {
                        status: 400,
                        errors: vec![error("filter", "bad")]
                    })
                ),
                Reaction::Done(RowResult::Failed {
                    status: FailStatus::Rejected,
                    ..
                })
            ));
        }
        assert_eq!(
            react_to_lookup(Purpose::Find { create: true }, false, Ok(vec![])),
            Reaction::Send
        );
        assert!(matches!(
            react_to_lookup(Purpose::Find { create: false }, false, Ok(vec![])),
            Reaction::Done(RowResult::Failed {
                status: FailStatus::NotFound,
                ..
            })
        ));
        assert!(matches!(
            unlookable(Purpose::Find { create: true }),
            RowResult::Failed {
                status: FailStatus::NotFound,
                ..
            }
        ));
    }

    #[test]
    fn a_row_with_nothing_to_look_up_by_is_not_resent() {
        assert!(matches!(
            unlookable(Purpose::InDoubt),
            RowResult::Failed {
                status: FailStatus::InDoubt,
                ..
            }
        ));
        assert_eq!(
            unlookable(Purpose::Existing),
            RowResult::Exists { id: None }
        );
    }

    #[test]
    fn a_stopped_row_is_in_doubt_only_if_a_create_may_have_reached_the_server() {
        assert!(matches!(
            stopped_after(0, false),
            RowResult::Failed {
                status: FailStatus::NotSent,
                ..
            }
        ));
        assert!(matches!(
            stopped_after(2, false),
            RowResult::Failed {
                status: FailStatus::GaveUp,
                ..
            }
        ));
        assert!(matches!(
            stopped_after(0, true),
            RowResult::Failed {
                status: FailStatus::InDoubt,
                ..
            }
        ));
    }
}
