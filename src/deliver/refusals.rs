//! A run that can only fail: when the first rows sent are all refused for one reason
//! (an attribute the account lacks, a field the API will not take), every later row would
//! be refused too, and sending them would spend hours of the organization's budget on 400s.

use std::sync::Mutex;

use crate::error::RunError;
use crate::outcome::{FailStatus, RowResult};
use crate::record::Origin;

/// Watches the first rows sent (`fail_fast` in the config; 0 turns it off).
#[derive(Debug)]
pub struct Refusals {
    /// How many refusals in a row, from the first row sent, stop the run.
    limit: u64,
    watch: Mutex<Watch>,
}

#[derive(Debug)]
enum Watch {
    /// Every row sent so far was refused for `reason`.
    Refused {
        rows: u64,
        reason: String,
        first: String,
    },
    /// Nothing sent yet.
    Nothing,
    /// A row went through, or was refused for another reason: the run can succeed.
    Over,
}

impl Refusals {
    pub fn new(limit: u64) -> Refusals {
        let watch = if limit == 0 {
            Watch::Over
        } else {
            Watch::Nothing
        };
        Refusals {
            limit,
            watch: Mutex::new(watch),
        }
    }

    /// Records what became of a row this pass sent; the error that stops the run when the
    /// first `limit` rows sent were all refused for one reason.
    pub fn record(&self, origin: &Origin, result: &RowResult) -> Option<RunError> {
        let refused = match result {
            RowResult::Created { .. } | RowResult::Exists { .. } | RowResult::Updated { .. } => {
                None
            }
            RowResult::Failed {
                status: status @ (FailStatus::Rejected | FailStatus::NotFound),
                errors,
            } => Some(reason(*status, errors)),
            // Faults, stops and rows that sent nothing say nothing about the rows to come.
            _ => return None,
        };
        let mut watch = self.watch.lock().unwrap_or_else(|e| e.into_inner());
        let example = || {
            let message = match result {
                RowResult::Failed { errors, .. } => errors.join("; "),
                _ => String::new(),
            };
            format!("{origin}: {message}")
        };
        *watch = match (std::mem::replace(&mut *watch, Watch::Over), refused) {
            (Watch::Over, _) | (_, None) => Watch::Over,
            (Watch::Nothing, Some(reason)) => Watch::Refused {
                rows: 1,
                reason,
                first: example(),
            },
            (
                Watch::Refused {
                    rows,
                    reason,
                    first,
                },
                Some(this),
            ) if this == reason => Watch::Refused {
                rows: rows + 1,
                reason,
                first,
            },
            (Watch::Refused { .. }, Some(_)) => Watch::Over,
        };
        match &*watch {
            Watch::Refused {
                rows,
                reason,
                first,
            } if *rows >= self.limit => {
                let error = RunError::CanOnlyFail {
                    rows: *rows,
                    reason: reason.clone(),
                    first: first.clone(),
                };
                *watch = Watch::Over;
                Some(error)
            }
            _ => None,
        }
    }
}

/// What a refusal is grouped by: its status and the error code (the field) the API named
/// first, without the message, whose values differ from row to row.
fn reason(status: FailStatus, errors: &[String]) -> String {
    let first = errors.first().map(String::as_str).unwrap_or_default();
    let code = first.split_once(": ").map_or(first, |(code, _)| code);
    format!("{} {code}", status.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(line: u64) -> Origin {
        Origin {
            file: "c.csv".into(),
            line,
        }
    }

    fn refused(field: &str, value: u64) -> RowResult {
        RowResult::failed(
            FailStatus::Rejected,
            format!("HTTP 400 {field}: Attribute {value} does not exist"),
        )
    }

    #[test]
    fn the_first_rows_refused_for_one_reason_stop_the_run_once() {
        let refusals = Refusals::new(3);
        assert!(
            refusals
                .record(&origin(2), &refused("customData.plan", 1))
                .is_none()
        );
        // A fault says nothing either way.
        let gave_up = RowResult::failed(FailStatus::GaveUp, "HTTP 503");
        assert!(refusals.record(&origin(3), &gave_up).is_none());
        assert!(
            refusals
                .record(&origin(4), &refused("customData.plan", 2))
                .is_none()
        );
        let stop = refusals.record(&origin(5), &refused("customData.plan", 3));
        let message = stop.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("rejected HTTP 400 customData.plan"),
            "{message}"
        );
        assert!(
            message.contains("c.csv:2: HTTP 400 customData.plan"),
            "{message}"
        );
        // Said once.
        assert!(
            refusals
                .record(&origin(6), &refused("customData.plan", 4))
                .is_none()
        );
    }

    #[test]
    fn one_row_through_or_another_reason_means_the_run_can_succeed() {
        let refusals = Refusals::new(2);
        refusals.record(&origin(2), &refused("email", 1));
        assert!(refusals.record(&origin(3), &refused("locale", 1)).is_none());
        assert!(refusals.record(&origin(4), &refused("locale", 2)).is_none());
        let refusals = Refusals::new(2);
        refusals.record(&origin(2), &RowResult::Created { id: Some(1) });
        refusals.record(&origin(3), &refused("email", 1));
        assert!(refusals.record(&origin(4), &refused("email", 2)).is_none());
        let off = Refusals::new(0);
        assert!(off.record(&origin(2), &refused("email", 1)).is_none());
    }
}
