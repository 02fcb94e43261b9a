//! `POST /customers` for one row, and the lookups that keep it from being created twice.
//!
//! A create whose answer was lost (a timeout, a dropped connection, a run that stopped
//! first) may have created the contact, so it is never re-sent blindly: the contact is
//! looked up by userId (or email) and sent again only if it is not there. A row with
//! neither is not re-sent at all: it fails as `in_doubt` for a person to check.

use super::attempt::{Next, Operation, Then};
use super::react::{Purpose, Reaction, Retry, found, react_to_create, react_to_lookup, unlookable};
use crate::client::{Answer, LookupKey, Request};
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
}

impl<'a> Create<'a> {
    pub fn new(payload: &'a CreateCustomer, start: Start) -> Create<'a> {
        Create {
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
    fn next(&mut self) -> Next<'a> {
        match (self.step, self.key) {
            (Step::Create, _) => Next::Send(Request::Create(self.payload)),
            (Step::LookUp(_), Some(key)) => Next::Send(Request::Search(key)),
            (Step::LookUp(purpose), None) => Next::Done(unlookable(purpose)),
        }
    }

    fn react(&mut self, answer: Answer) -> Then {
        let reaction = match self.step {
            Step::Create => react_to_create(answer),
            Step::LookUp(purpose) => react_to_lookup(purpose, self.maybe_sent, found(answer)),
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
                    throttled: false,
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
    use crate::outcome::{FailStatus, RowResult};

    fn payload(user_id: Option<&str>) -> CreateCustomer {
        CreateCustomer {
            user_id: user_id.map(String::from),
            ..CreateCustomer::default()
        }
    }

    fn is_create(next: Next<'_>) -> bool {
        matches!(next, Next::Send(Request::Create(_)))
    }

    fn is_search(next: Next<'_>) -> bool {
        matches!(next, Next::Send(Request::Search(_)))
    }

    #[test]
    fn a_taken_user_id_is_looked_up_at_once_and_found_exists() {
        let payload = payload(Some("u1"));
        let mut create = Create::new(&payload, Start::Fresh);
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
        let mut create = Create::new(&payload, Start::Fresh);
        let lost = Answer::InDoubt {
            reason: "timed out".into(),
        };
        assert!(matches!(
            create.react(lost),
            Then::Retry(Retry { throttled: false, reason, .. }) if reason == "in doubt: timed out"
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
        let mut create = Create::new(&payload, Start::InDoubt);
        assert!(create.maybe_sent());
        assert!(matches!(
            create.next(),
            Next::Done(RowResult::Failed {
                status: FailStatus::InDoubt,
                ..
            })
        ));
    }
}
