//! Pure: what an answer means for the row, for every operation. Status codes and their
//! reactions come from `helpcrunch-api.md`, "Errors — every response".

use std::time::Duration;

use crate::client::{Answer, ApiError, Success};
use crate::outcome::{FailStatus, RowResult};

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

/// Why a row waits before its next attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    pub reason: String,
    /// How long to wait: what the server asked for (Retry-After, X-RateLimit-Reset), or
    /// the operation's own schedule; None: the row's backoff decides.
    pub retry_after: Option<Duration>,
    pub cause: Cause,
}

/// What a wait is for, which decides who waits and what it spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A fault of this request (5xx, a connection failure, a create in doubt): this row
    /// waits, spending one of its fault attempts.
    Fault,
    /// A 429: the limit is the organization's, so the wait holds every worker, not just
    /// this one, the rate adapts, and the row spends one of its 429 allowance.
    RateLimit,
    /// A search that may lag behind a write: this row waits `retry_after` before it looks
    /// again, on the operation's own bounded schedule; no attempt is spent.
    Settling,
}

/// What to do after one answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Reaction {
    /// The row is finished.
    Done(RowResult),
    /// The row is finished and the run must stop: every later request would fail too.
    Fatal(RowResult),
    /// Try the same request again, after a wait.
    Retry(Retry),
    /// Look the contact up before anything else; `reason` says why.
    LookUp { purpose: Purpose, reason: String },
    /// A lookup found no contact: the row was not created, send it.
    Send,
}

/// The reaction to a create's answer.
pub fn react_to_create(answer: Answer) -> Reaction {
    match answer {
        Answer::Ok(Success::Created { id }) => Reaction::Done(RowResult::Created { id }),
        Answer::Duplicate { errors } => Reaction::LookUp {
            purpose: Purpose::Existing,
            reason: api_errors(400, &errors).join("; "),
        },
        Answer::InDoubt { reason } => Reaction::LookUp {
            purpose: Purpose::InDoubt,
            reason,
        },
        other => react_to_failure(other),
    }
}

/// The reaction to a PATCH's answer. A PATCH sets the same fields however often it is
/// sent, so one whose answer was lost is simply sent again.
pub fn react_to_update(id: i64, answer: Answer) -> Reaction {
    match answer {
        Answer::Ok(Success::Updated) => Reaction::Done(RowResult::Updated { id }),
        Answer::InDoubt { reason } => Reaction::Retry(Retry {
            reason,
            retry_after: None,
            cause: Cause::Fault,
        }),
        Answer::Rejected { status: 404, .. } => Reaction::Done(RowResult::failed(
            FailStatus::NotFound,
            format!("not found: HelpCrunch holds no contact {id} (HTTP 404)"),
        )),
        // Another contact holds the userId this row sets: a refusal like any other.
        other => react_to_failure(other),
    }
}

/// The reaction to a lookup's answer. `maybe_sent`: a create for this row may have
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
        Err(answer) => match react_to_failure(answer) {
            reaction @ (Reaction::Retry(_) | Reaction::Fatal(_)) => return reaction,
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

/// A lookup's answer as the ids found, or the answer that found none to read.
pub fn found(answer: Answer) -> Result<Vec<i64>, Answer> {
    match answer {
        Answer::Ok(Success::Found { ids }) => Ok(ids),
        other => Err(other),
    }
}

/// The answers every operation treats alike: a refusal fails the row, a refused key
/// stops the run, a 429 or a fault is retried. A success reaching here is not one the
/// operation's endpoint gives: it fails the row rather than being read as another's.
pub fn react_to_failure(answer: Answer) -> Reaction {
    match answer {
        Answer::Rejected { status, errors } => Reaction::Done(RowResult::Failed {
            status: FailStatus::Rejected,
            errors: api_errors(status, &errors),
        }),
        Answer::Duplicate { errors } => Reaction::Done(RowResult::Failed {
            status: FailStatus::Rejected,
            errors: api_errors(400, &errors),
        }),
        Answer::Unauthorized { errors } => Reaction::Fatal(RowResult::Failed {
            status: FailStatus::Unauthorized,
            errors: api_errors(401, &errors),
        }),
        Answer::RateLimited { retry_after } => Reaction::Retry(Retry {
            reason: "HTTP 429 too many requests".into(),
            retry_after,
            cause: Cause::RateLimit,
        }),
        Answer::Transient {
            reason,
            retry_after,
            ..
        } => Reaction::Retry(Retry {
            reason,
            retry_after,
            cause: Cause::Fault,
        }),
        Answer::InDoubt { reason } => Reaction::Retry(Retry {
            reason,
            retry_after: None,
            cause: Cause::Fault,
        }),
        Answer::Ok(success) => Reaction::Done(RowResult::failed(
            FailStatus::Rejected,
            format!("unexpected answer: {success:?}"),
        )),
    }
}

/// `--mode update`: no contact to update.
pub fn not_found() -> RowResult {
    RowResult::failed(
        FailStatus::NotFound,
        "not found: no contact has this userId (or email); --mode update creates none",
    )
}

/// A row that needs a lookup but has neither userId nor email to look it up by. In doubt,
/// it is not re-sent (that could create the contact twice): it fails as `in_doubt`, for a
/// person to check. An existing contact's id simply stays unknown.
pub fn unlookable(purpose: Purpose) -> RowResult {
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
pub fn stopped_after(attempts: usize, maybe_sent: bool) -> RowResult {
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
pub fn stopped(attempts: usize) -> RowResult {
    if attempts == 0 {
        RowResult::failed(
            FailStatus::NotSent,
            "not sent: the run stopped before this row's turn",
        )
    } else {
        RowResult::failed(
            FailStatus::GaveUp,
            format!(
                "the run stopped while this row waited to retry (after {attempts} attempts; going on sends it again)"
            ),
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::DUPLICATE_USER_ID;

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
            react_to_create(answer),
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
            react_to_create(only_generic),
            Reaction::Done(RowResult::failed(
                FailStatus::Rejected,
                "HTTP 404 invalid_request: Invalid request"
            ))
        );
    }

    #[test]
    fn a_401_is_fatal_and_a_429_pauses_everyone() {
        assert!(matches!(
            react_to_create(Answer::Unauthorized { errors: vec![] }),
            Reaction::Fatal(RowResult::Failed {
                status: FailStatus::Unauthorized,
                ..
            })
        ));
        assert_eq!(
            react_to_create(Answer::RateLimited {
                retry_after: Some(Duration::from_secs(2))
            }),
            Reaction::Retry(Retry {
                reason: "HTTP 429 too many requests".into(),
                retry_after: Some(Duration::from_secs(2)),
                cause: Cause::RateLimit
            })
        );
        assert!(matches!(
            react_to_create(Answer::Transient {
                reason: "HTTP 503".into(),
                retry_after: None,
                status: Some(503),
            }),
            Reaction::Retry(Retry {
                cause: Cause::Fault,
                ..
            })
        ));
    }

    #[test]
    fn in_doubt_and_duplicates_are_looked_up_never_resent_blindly() {
        assert_eq!(
            react_to_create(Answer::InDoubt {
                reason: "timed out".into()
            }),
            Reaction::LookUp {
                purpose: Purpose::InDoubt,
                reason: "timed out".into()
            }
        );
        assert!(matches!(
            react_to_create(Answer::Duplicate {
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
                status: Some(503),
            })
        };
        assert!(matches!(
            react_to_lookup(Purpose::InDoubt, true, transient()),
            Reaction::Retry(Retry {
                cause: Cause::Fault,
                ..
            })
        ));
        assert!(matches!(
            react_to_lookup(
                Purpose::Existing,
                false,
                Err(Answer::RateLimited { retry_after: None })
            ),
            Reaction::Retry(Retry {
                cause: Cause::RateLimit,
                ..
            })
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
                Reaction::Retry(Retry {
                    cause: Cause::RateLimit,
                    ..
                })
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

    #[test]
    fn a_patch_answer_is_an_update_a_retry_or_a_failure() {
        assert_eq!(
            react_to_update(9, Answer::Ok(Success::Updated)),
            Reaction::Done(RowResult::Updated { id: 9 })
        );
        assert!(matches!(
            react_to_update(
                9,
                Answer::InDoubt {
                    reason: "timeout".into()
                }
            ),
            Reaction::Retry(Retry {
                cause: Cause::Fault,
                ..
            })
        ));
        assert!(matches!(
            react_to_update(9, Answer::RateLimited { retry_after: None }),
            Reaction::Retry(Retry {
                cause: Cause::RateLimit,
                ..
            })
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
            code: DUPLICATE_USER_ID.into(),
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
