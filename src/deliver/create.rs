//! `POST /customers` for one row, and the lookups that keep it from being created twice.
//!
//! A create whose answer was lost (a timeout, a dropped connection, a run that stopped
//! first) may have created the contact, so it is never re-sent blindly: the contact is
//! looked up by userId (or email) and sent again only if it is not there. A row with
//! neither is not re-sent at all: it fails as `in_doubt` for a person to check.

use super::attempt::{Next, Operation, Settle, Then};
use super::react::{
    Cause, Purpose, Reaction, Retry, found, react_to_create, react_to_lookup, unlookable,
};
use crate::client::{Answer, LookupKey, Request};
use crate::outcome::RowResult;
use crate::payload::CreateCustomer;

/// How a row's create begins.
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

/// The next request of a create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Create,
    LookUp(Purpose),
}

/// One row's create, as an [`Operation`].
pub struct Create<'a> {
    payload: &'a CreateCustomer,
    /// What the contact is looked up by; None: it cannot be.
    key: Option<LookupKey<'a>>,
    step: Step,
    /// Whether a create for this row may have reached the server.
    maybe_sent: bool,
    /// When to look again for a contact that should be there but is not found yet.
    settle: Settle,
}

impl<'a> Create<'a> {
    pub fn new(payload: &'a CreateCustomer, start: Start, settle: Settle) -> Create<'a> {
        Create {
            settle,
            payload,
            key: LookupKey::of(payload),
            step: match start {
                Start::Fresh => Step::Create,
                Start::InDoubt => Step::LookUp(Purpose::InDoubt),
                Start::Find { create } => Step::LookUp(Purpose::Find { create }),
            },
            maybe_sent: start == Start::InDoubt,
        }
    }
}

impl<'a> Operation<'a> for Create<'a> {
    type Output = RowResult;

    fn next(&mut self) -> Next<'a, RowResult> {
        match (self.step, self.key) {
            (Step::Create, _) => Next::Send(Request::Create(self.payload)),
            (Step::LookUp(_), Some(key)) => Next::Send(Request::Search(key)),
            (Step::LookUp(purpose), None) => Next::Done(unlookable(purpose)),
        }
    }

    fn react(&mut self, answer: Answer) -> Then<RowResult> {
        let reaction = match self.step {
            Step::Create => react_to_create(answer),
            Step::LookUp(purpose) => {
                let found = found(answer);
                // A contact our create may have made, or one holding the row's userId,
                // is there: the search may only show it late.
                let should_be_there = matches!(purpose, Purpose::InDoubt | Purpose::Existing);
                if should_be_there
                    && found.as_ref().is_ok_and(Vec::is_empty)
                    && let Some(wait) = self.settle.next()
                {
                    return Then::Retry(Retry {
                        reason: "not found yet: the search may show it late".into(),
                        retry_after: Some(wait),
                        cause: Cause::Settling,
                    });
                }
                react_to_lookup(purpose, self.maybe_sent, found)
            }
        };
        match reaction {
            Reaction::Done(result) => Then::Done(result),
            Reaction::Fatal(result) => Then::Fatal(result),
            Reaction::Retry(retry) => Then::Retry(retry),
            Reaction::Send => {
                self.maybe_sent = false;
                self.step = Step::Create;
                Then::Next
            }
            Reaction::LookUp {
                purpose: Purpose::InDoubt,
                reason,
            } => {
                // Wait a fault's backoff first, so the server has settled by the lookup.
                self.maybe_sent = true;
                self.step = Step::LookUp(Purpose::InDoubt);
                Then::Retry(Retry {
                    reason: format!("in doubt: {reason}"),
                    retry_after: None,
                    cause: Cause::Fault,
                })
            }
            Reaction::LookUp { purpose, .. } => {
                self.step = Step::LookUp(purpose);
                Then::Next
            }
        }
    }

    fn maybe_sent(&self) -> bool {
        self.maybe_sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ApiError, Success};
    use crate::outcome::FailStatus;

    use std::time::Duration;

    use crate::deliver::RetryPolicy;

    fn settle(secs: u64) -> Settle {
        Settle::new(&RetryPolicy {
            settle: Duration::from_secs(secs),
            ..RetryPolicy::default()
        })
    }

    fn payload(user_id: Option<&str>) -> CreateCustomer {
        CreateCustomer {
            user_id: user_id.map(String::from),
            ..CreateCustomer::default()
        }
    }

    fn is_create(next: Next<'_, RowResult>) -> bool {
        matches!(next, Next::Send(Request::Create(_)))
    }

    fn is_search(next: Next<'_, RowResult>) -> bool {
        matches!(next, Next::Send(Request::Search(_)))
    }

    #[test]
    fn a_taken_user_id_is_looked_up_at_once_and_found_exists() {
        let payload = payload(Some("u1"));
        let mut create = Create::new(&payload, Start::Fresh, settle(0));
        assert!(is_create(create.next()));
        let taken = Answer::Duplicate {
            errors: vec![ApiError {
                code: crate::client::DUPLICATE_USER_ID.into(),
                message: "taken".into(),
            }],
        };
        assert_eq!(create.react(taken), Then::Next);
        assert!(is_search(create.next()));
        let found = Answer::Ok(Success::Found { ids: vec![4] });
        assert_eq!(
            create.react(found),
            Then::Done(RowResult::Exists { id: Some(4) })
        );
    }

    #[test]
    fn a_create_in_doubt_waits_then_looks_up_then_sends_only_if_not_found() {
        let payload = payload(Some("u1"));
        let mut create = Create::new(&payload, Start::Fresh, settle(0));
        let lost = Answer::InDoubt {
            reason: "timed out".into(),
        };
        assert!(matches!(
            create.react(lost),
            Then::Retry(Retry { cause: Cause::Fault, reason, .. }) if reason == "in doubt: timed out"
        ));
        assert!(create.maybe_sent());
        assert!(is_search(create.next()));
        let none = Answer::Ok(Success::Found { ids: vec![] });
        assert_eq!(create.react(none), Then::Next);
        assert!(!create.maybe_sent());
        assert!(is_create(create.next()));
    }

    #[test]
    fn a_row_in_doubt_with_nothing_to_look_up_by_ends_without_a_request() {
        let payload = payload(None);
        let mut create = Create::new(&payload, Start::InDoubt, settle(0));
        assert!(create.maybe_sent());
        assert!(matches!(
            create.next(),
            Next::Done(RowResult::Failed {
                status: FailStatus::InDoubt,
                ..
            })
        ));
    }

    #[test]
    fn a_lookup_that_should_find_the_contact_looks_again_before_giving_up() {
        let payload = payload(Some("u1"));
        let none = || Answer::Ok(Success::Found { ids: vec![] });
        // In doubt: 1 s, 2 s, 4 s (7 s of a 10 s allowance), then sent again.
        let mut create = Create::new(&payload, Start::InDoubt, settle(10));
        let mut waits = Vec::new();
        loop {
            assert!(is_search(create.next()));
            match create.react(none()) {
                Then::Retry(Retry {
                    cause: Cause::Settling,
                    retry_after: Some(wait),
                    ..
                }) => waits.push(wait.as_secs()),
                Then::Next => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(waits, [1, 2, 4]);
        assert!(is_create(create.next()));
        // Found on a later look: created by the request in doubt, never sent twice.
        let mut create = Create::new(&payload, Start::InDoubt, settle(10));
        assert!(matches!(create.react(none()), Then::Retry(_)));
        let found = Answer::Ok(Success::Found { ids: vec![8] });
        assert_eq!(
            create.react(found),
            Then::Done(RowResult::Created { id: Some(8) })
        );
        // A taken userId looks again too; a contact to find for an upsert does not.
        let mut create = Create::new(&payload, Start::Fresh, settle(3));
        let taken = Answer::Duplicate { errors: vec![] };
        assert_eq!(create.react(taken), Then::Next);
        assert!(matches!(create.react(none()), Then::Retry(_)));
        assert!(matches!(create.react(none()), Then::Retry(_)));
        assert_eq!(
            create.react(none()),
            Then::Done(RowResult::Exists { id: None })
        );
        let mut find = Create::new(&payload, Start::Find { create: true }, settle(10));
        assert_eq!(find.react(none()), Then::Next);
        assert!(is_create(find.next()));
    }
}
