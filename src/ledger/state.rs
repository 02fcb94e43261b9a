//! A row's state in the ledger and what a run does with it (pure).
//!
//! ```text
//! (absent: pending) ──intent──► sent ──answer──► created(id) | exists(id) | failed(status)
//! ```
//!
//! A row the ledger does not hold is pending: it was never sent. `sent` is recorded, and
//! made durable, before a create request leaves; the outcome replaces it once known. A
//! row still `sent` when a run starts again is in doubt: its request may have created the
//! contact, so it is looked up before anything is re-sent.

use crate::outcome::{FailStatus, RowResult};

/// Which row: its input's position on the command line and the line it starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RowKey {
    pub input: u32,
    pub line: u64,
}

/// What the ledger holds for a row.
#[derive(Debug, Clone, PartialEq)]
pub enum RowState {
    /// A create request was sent (or about to be) and no answer was recorded.
    Sent,
    /// The row's last recorded result.
    Done(RowResult),
}

/// What a run does with a row, given what the ledger holds for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// Never sent, or known not to have been created: send it.
    Send,
    /// Sent before with no answer known: look it up before sending anything.
    Reconcile,
    /// Finished before: this result stands, nothing is sent.
    Finished(RowResult),
}

/// The claim a run makes on a row it reads, from the row's recorded state.
pub fn claim(prior: Option<&RowState>) -> Claim {
    let result = match prior {
        None => return Claim::Send,
        Some(RowState::Sent) => return Claim::Reconcile,
        Some(RowState::Done(result)) => result,
    };
    match result {
        RowResult::Created { .. }
        | RowResult::Exists { .. }
        | RowResult::Updated { .. }
        | RowResult::Unchanged { .. } => Claim::Finished(result.clone()),
        RowResult::Valid | RowResult::Planned { .. } => Claim::Send,
        RowResult::Failed { status, .. } => match status {
            // The API's verdict on the row itself: sending it again changes nothing.
            FailStatus::Rejected | FailStatus::NotFound => Claim::Finished(result.clone()),
            // It may have been created: look before sending.
            FailStatus::InDoubt => Claim::Reconcile,
            // Not created: 429s, 5xx, a refused key, a stop, or invalid then and valid now
            // (its row reached a worker, so it passes the checks today).
            FailStatus::GaveUp
            | FailStatus::Unauthorized
            | FailStatus::NotSent
            | FailStatus::Invalid => Claim::Send,
        },
    }
}

/// The `state` column's values.
pub(crate) const SENT: &str = "sent";
pub(crate) const CREATED: &str = "created";
pub(crate) const EXISTS: &str = "exists";
pub(crate) const UPDATED: &str = "updated";
pub(crate) const UNCHANGED: &str = "unchanged";
pub(crate) const FAILED: &str = "failed";

/// A result as the ledger stores it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Columns {
    pub state: &'static str,
    pub contact_id: Option<i64>,
    pub status: Option<&'static str>,
    /// The errors as a JSON array.
    pub errors: Option<String>,
}

/// The columns for a result; None for a result the ledger does not keep: a row the run
/// stopped before sending stays as it was (pending, or its earlier state), so the next run
/// sends it, and a dry run records nothing.
pub(crate) fn encode(result: &RowResult) -> Option<Columns> {
    let columns = |state, contact_id| Columns {
        state,
        contact_id,
        status: None,
        errors: None,
    };
    match result {
        RowResult::Created { id } => Some(columns(CREATED, *id)),
        RowResult::Exists { id } => Some(columns(EXISTS, *id)),
        RowResult::Updated { id } => Some(columns(UPDATED, Some(*id))),
        RowResult::Unchanged { id } => Some(columns(UNCHANGED, Some(*id))),
        RowResult::Valid
        | RowResult::Planned { .. }
        | RowResult::Failed {
            status: FailStatus::NotSent,
            ..
        } => None,
        RowResult::Failed { status, errors } => Some(Columns {
            status: Some(status.as_str()),
            errors: serde_json::to_string(errors).ok(),
            ..columns(FAILED, None)
        }),
    }
}

/// Reads the columns back; None when they hold something this version never writes.
pub(crate) fn decode(
    state: &str,
    contact_id: Option<i64>,
    status: Option<&str>,
    errors: Option<&str>,
) -> Option<RowState> {
    Some(match state {
        SENT => RowState::Sent,
        CREATED => RowState::Done(RowResult::Created { id: contact_id }),
        EXISTS => RowState::Done(RowResult::Exists { id: contact_id }),
        UPDATED => RowState::Done(RowResult::Updated { id: contact_id? }),
        UNCHANGED => RowState::Done(RowResult::Unchanged { id: contact_id? }),
        FAILED => RowState::Done(RowResult::Failed {
            status: FailStatus::parse(status?)?,
            errors: match errors {
                Some(text) => serde_json::from_str(text).ok()?,
                None => Vec::new(),
            },
        }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(status: FailStatus) -> RowResult {
        RowResult::failed(status, "why")
    }

    #[test]
    fn a_row_never_recorded_is_sent_and_one_in_doubt_is_looked_up_first() {
        assert_eq!(claim(None), Claim::Send);
        assert_eq!(claim(Some(&RowState::Sent)), Claim::Reconcile);
        assert_eq!(
            claim(Some(&RowState::Done(failed(FailStatus::InDoubt)))),
            Claim::Reconcile
        );
    }

    #[test]
    fn finished_rows_keep_their_result() {
        for result in [
            RowResult::Created { id: Some(7) },
            RowResult::Created { id: None },
            RowResult::Exists { id: Some(8) },
            RowResult::Updated { id: 9 },
            RowResult::Unchanged { id: 10 },
            failed(FailStatus::Rejected),
            failed(FailStatus::NotFound),
        ] {
            assert_eq!(
                claim(Some(&RowState::Done(result.clone()))),
                Claim::Finished(result)
            );
        }
    }

    #[test]
    fn rows_that_were_not_created_are_sent_again() {
        for status in [
            FailStatus::GaveUp,
            FailStatus::Unauthorized,
            FailStatus::NotSent,
            FailStatus::Invalid,
        ] {
            assert_eq!(
                claim(Some(&RowState::Done(failed(status)))),
                Claim::Send,
                "{status:?}"
            );
        }
    }

    #[test]
    fn every_failure_status_has_a_claim() {
        // A new status must be placed: this fails to compile or to pass until it is.
        for status in FailStatus::ALL {
            let claimed = claim(Some(&RowState::Done(failed(status))));
            assert!(
                matches!(claimed, Claim::Send | Claim::Reconcile | Claim::Finished(_)),
                "{status:?}"
            );
        }
    }

    #[test]
    fn stopped_and_dry_run_rows_are_not_recorded() {
        assert_eq!(encode(&failed(FailStatus::NotSent)), None);
        assert_eq!(encode(&RowResult::Valid), None);
        assert!(encode(&failed(FailStatus::InDoubt)).is_some());
        assert!(encode(&RowResult::Exists { id: None }).is_some());
    }

    #[test]
    fn results_survive_the_columns() {
        let results = [
            RowResult::Created {
                id: Some(1_000_001),
            },
            RowResult::Created { id: None },
            RowResult::Exists { id: Some(5) },
            RowResult::Updated { id: 6 },
            RowResult::Unchanged { id: 7 },
            RowResult::Failed {
                status: FailStatus::NotFound,
                errors: vec!["not found".into()],
            },
            RowResult::Failed {
                status: FailStatus::Rejected,
                errors: vec![
                    "HTTP 400 email: bad".into(),
                    "with \"quotes\"; and\nlines".into(),
                ],
            },
            RowResult::Failed {
                status: FailStatus::InDoubt,
                errors: vec![],
            },
        ];
        for result in results {
            let c = encode(&result).expect("a recorded result");
            assert_eq!(
                decode(c.state, c.contact_id, c.status, c.errors.as_deref()),
                Some(RowState::Done(result))
            );
        }
        assert_eq!(decode(SENT, None, None, None), Some(RowState::Sent));
    }

    #[test]
    fn unknown_columns_are_refused_not_guessed() {
        assert_eq!(decode("pending", None, None, None), None);
        assert_eq!(decode(FAILED, None, Some("exploded"), None), None);
        assert_eq!(decode(FAILED, None, None, None), None);
        assert_eq!(
            decode(FAILED, None, Some("rejected"), Some("not json")),
            None
        );
    }
}
