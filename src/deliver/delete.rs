//! `DELETE /customers/{id}` (`helpcrunch-api.md`, "List, get, delete": 200 with `Ok`, 404
//! `not_found`), for an undo and for contacts that left the export. Permanent, so only
//! ever sent for a contact the run or the state knows it put there.

use super::Courier;
use super::attempt::{Budget, Next, Operation, Then};
use super::react::{Reaction, react_to_failure};
use crate::client::{Answer, Request, Success};
use crate::outcome::RowResult;

/// What became of a deletion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    /// 404: already gone (deleted by a person, or by an earlier undo that was stopped
    /// before it recorded it). Not a failure.
    Gone,
    /// Refused, or out of retries: why.
    Failed(String),
}

impl Deletion {
    /// As a result file says it (`deleted`, `gone`, `failed`), and why it failed.
    pub fn result(self) -> (&'static str, String) {
        match self {
            Deletion::Deleted => ("deleted", String::new()),
            Deletion::Gone => ("gone", String::new()),
            Deletion::Failed(why) => ("failed", why),
        }
    }
}

struct Delete {
    id: i64,
}

impl<'a> Operation<'a> for Delete {
    type Output = Deletion;

    fn next(&mut self) -> Next<'a, Deletion> {
        Next::Send(Request::Delete { id: self.id })
    }

    fn react(&mut self, answer: Answer) -> Then<Deletion> {
        match answer {
            Answer::Ok(Success::Deleted) => Then::Done(Deletion::Deleted),
            Answer::Rejected { status: 404, .. } => Then::Done(Deletion::Gone),
            other => match react_to_failure(other) {
                Reaction::Fatal(result) => Then::Fatal(result),
                Reaction::Retry(retry) => Then::Retry(retry),
                Reaction::Done(RowResult::Failed { errors, .. }) => {
                    Then::Done(Deletion::Failed(errors.join("; ")))
                }
                other => Then::Done(Deletion::Failed(format!("{other:?}"))),
            },
        }
    }
}

impl Courier {
    /// Deletes contact `id`, retried within a budget of its own.
    pub async fn delete_contact(&self, id: i64) -> Deletion {
        let mut budget = Budget::new(&self.retry);
        match self.attempt(None, &mut budget, &mut Delete { id }).await {
            Ok(deletion) => deletion,
            Err(ended) => Deletion::Failed(failure(ended)),
        }
    }
}

/// Why an operation ended without its output (stopped, out of retries, a refused key).
pub(super) fn failure(ended: RowResult) -> String {
    match ended {
        RowResult::Failed { errors, .. } => errors.join("; "),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deletion_is_done_gone_or_failed() {
        let mut delete = Delete { id: 7 };
        assert!(matches!(
            delete.next(),
            Next::Send(Request::Delete { id: 7 })
        ));
        assert_eq!(
            delete.react(Answer::Ok(Success::Deleted)),
            Then::Done(Deletion::Deleted)
        );
        let not_found = Answer::Rejected {
            status: 404,
            errors: vec![],
        };
        assert_eq!(delete.react(not_found), Then::Done(Deletion::Gone));
        assert!(matches!(
            delete.react(Answer::RateLimited { retry_after: None }),
            Then::Retry(_)
        ));
        assert!(matches!(
            delete.react(Answer::Rejected {
                status: 400,
                errors: vec![]
            }),
            Then::Done(Deletion::Failed(_))
        ));
    }
}
