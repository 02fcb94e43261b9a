//! One row in `--mode upsert|update`: the state's plan for it (see [`crate::state::plan`]),
//! then nothing, one PATCH, or the create path of [`crate::deliver`] — and the state
//! updated with what the contact now holds.
//!
//! A contact the create path finds existing (the API's duplicate-userId answer, or a
//! search) is patched, never created twice. Updates use `PATCH /customers/{id}`, one per
//! row: `PUT` (and so `PUT /customers/batch`) replaces the whole contact, nulling every
//! field a row leaves out, and an import only sends the columns it maps (see README,
//! "Nightly sync").

use crate::client::Answer;
use crate::deliver::{Reaction, Retry, Sender, Start, react, stopped_after};
use crate::error::RunError;
use crate::ledger::RowKey;
use crate::outcome::{FailStatus, RowResult};
use crate::payload::CreateCustomer;
use crate::state::plan::{self, Known, Mode, Plan};
use crate::state::{State, StateError};

/// What rows are synced against.
pub struct Sync {
    /// `Upsert` or `Update` (`Create` keeps no state and never gets here).
    pub mode: Mode,
    /// The persistent state, locked for this run.
    pub state: State,
}

/// The reaction to a PATCH's answer (pure). A PATCH sets the same fields however often it
/// is sent, so one whose answer was lost is simply sent again.
pub fn react_to_update(id: i64, answer: Answer) -> Reaction {
    match answer {
        Answer::Created { .. } => Reaction::Done(RowResult::Updated { id }),
        Answer::InDoubt { reason } => Reaction::Retry {
            reason,
            retry_after: None,
            throttled: false,
        },
        Answer::Rejected { status: 404, .. } => Reaction::Done(RowResult::failed(
            FailStatus::NotFound,
            format!("not found: HelpCrunch holds no contact {id} (HTTP 404)"),
        )),
        // Another contact holds the userId this row sets.
        Answer::Duplicate { errors } => react(Answer::Rejected {
            status: 400,
            errors,
        }),
        other => react(other),
    }
}

impl Sender {
    /// Sends one row of an upsert or update: see the module docs.
    pub async fn sync(
        &self,
        sync: &Sync,
        row: RowKey,
        payload: &CreateCustomer,
        start: Start,
    ) -> RowResult {
        match self.synced(sync, row, payload, start).await {
            Ok(result) => result,
            Err(error) => {
                self.fatal.set(RunError::State(error));
                self.stop.cancel();
                stopped_after(0, start == Start::InDoubt)
            }
        }
    }

    async fn synced(
        &self,
        sync: &Sync,
        row: RowKey,
        payload: &CreateCustomer,
        start: Start,
    ) -> Result<RowResult, StateError> {
        let key = plan::key(payload);
        let hash = plan::hash(payload);
        let known = match &key {
            Some(key) => sync.state.get(key.clone()).await?,
            None => None,
        };
        let find = Start::Find {
            create: sync.mode == Mode::Upsert,
        };
        let planned = plan::plan(
            sync.mode,
            key.as_deref(),
            known,
            &hash,
            payload.user_id.is_some(),
        );
        let mut result = match (planned, start) {
            (Plan::Unchanged { id }, _) => return Ok(RowResult::Unchanged { id }),
            (Plan::Patch { id }, _) => match self.patch(id, payload).await {
                // Deleted in HelpCrunch since: find it again (or create it, in upsert).
                RowResult::Failed {
                    status: FailStatus::NotFound,
                    ..
                } => self.deliver(row, payload, find).await,
                result => result,
            },
            (_, Start::InDoubt) => self.deliver(row, payload, Start::InDoubt).await,
            (Plan::Create, _) => self.deliver(row, payload, Start::Fresh).await,
            (Plan::Find { create }, _) => self.deliver(row, payload, Start::Find { create }).await,
            (Plan::NotFound, _) => RowResult::failed(
                FailStatus::NotFound,
                "not found: the row has no userId or email to find its contact by",
            ),
        };
        if let RowResult::Exists { id: Some(id) } = result {
            result = self.patch(id, payload).await;
        }
        if let (Some(key), RowResult::Created { id: Some(id) } | RowResult::Updated { id }) =
            (key, &result)
        {
            sync.state.put(key, Known { id: *id, hash }).await?;
        }
        Ok(result)
    }

    /// `PATCH /customers/{id}` with the row's fields, retried within the policy's bounds.
    pub async fn patch(&self, id: i64, payload: &CreateCustomer) -> RowResult {
        let mut fault_backoff = self.backoff(
            self.retry.max_attempts.saturating_sub(1),
            Some(self.retry.max_total),
        );
        let mut throttle_backoff = self.backoff(self.retry.max_rate_limited, None);
        let mut attempts = 0usize;
        loop {
            let sent_at = tokio::select! {
                biased;
                () = self.stop.cancelled() => return stopped_after(attempts, false),
                sent_at = self.limiter.acquire() => sent_at,
            };
            attempts += 1;
            self.counters.add_request();
            let answer = self
                .in_flight(self.client.update(id, payload), || Answer::Transient {
                    reason: "the run stopped during the update".into(),
                    retry_after: None,
                })
                .await;
            let reaction = react_to_update(id, answer);
            self.answered(&reaction);
            let retry = match reaction {
                Reaction::Done(result) => return result,
                Reaction::Fatal(result) => return self.stop_for(result),
                Reaction::Retry {
                    reason,
                    retry_after,
                    throttled,
                } => Retry {
                    reason,
                    retry_after,
                    throttled,
                    sent_at,
                    attempts,
                    maybe_sent: false,
                },
                other => {
                    return RowResult::failed(
                        FailStatus::Rejected,
                        format!("unexpected answer to an update: {other:?}"),
                    );
                }
            };
            if let Err(result) = self
                .wait_to_retry(&mut fault_backoff, &mut throttle_backoff, retry)
                .await
            {
                return result;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ApiError;

    #[test]
    fn a_patch_answer_is_an_update_a_retry_or_a_failure() {
        assert_eq!(
            react_to_update(9, Answer::Created { id: None }),
            Reaction::Done(RowResult::Updated { id: 9 })
        );
        assert!(matches!(
            react_to_update(
                9,
                Answer::InDoubt {
                    reason: "timeout".into()
                }
            ),
            Reaction::Retry {
                throttled: false,
                ..
            }
        ));
        assert!(matches!(
            react_to_update(9, Answer::RateLimited { retry_after: None }),
            Reaction::Retry {
                throttled: true,
                ..
            }
        ));
        assert!(matches!(
            react_to_update(
                9,
                Answer::Rejected {
                    status: 404,
                    errors: vec![]
                }
            ),
            Reaction::Done(RowResult::Failed {
                status: FailStatus::NotFound,
                ..
            })
        ));
        let taken = vec![ApiError {
            code: crate::client::DUPLICATE_USER_ID.into(),
            message: "taken".into(),
        }];
        assert!(matches!(
            react_to_update(9, Answer::Duplicate { errors: taken }),
            Reaction::Done(RowResult::Failed {
                status: FailStatus::Rejected,
                ..
            })
        ));
        assert!(matches!(
            react_to_update(9, Answer::Unauthorized { errors: vec![] }),
            Reaction::Fatal(_)
        ));
    }
}
