//! What became of each row: the one message workers send to the results task.

use crate::record::{Record, Warnings};

/// Why a row is in `failed.csv` (its `_status` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailStatus {
    /// The row could not be read, mapped or validated (a userId repeated in the input
    /// included); nothing was sent.
    Invalid,
    /// The API refused it (400, 404, …): fix the row before sending it again.
    Rejected,
    /// 429s, 5xx or connection failures outlasted the retries.
    GaveUp,
    /// The request may have reached the server (timeout, reset after sending): re-sending
    /// it blindly could create the contact twice, so it was not.
    InDoubt,
    /// The API refused the key; the run stopped.
    Unauthorized,
    /// The run stopped (interrupt, or a fatal answer) before this row was sent.
    NotSent,
    /// `--mode update`: no contact holds the row's userId (or email).
    NotFound,
}

impl FailStatus {
    pub const ALL: [FailStatus; 7] = [
        FailStatus::Invalid,
        FailStatus::Rejected,
        FailStatus::GaveUp,
        FailStatus::InDoubt,
        FailStatus::Unauthorized,
        FailStatus::NotSent,
        FailStatus::NotFound,
    ];

    /// The status named by [`FailStatus::as_str`], for reading it back (from the ledger).
    pub fn parse(text: &str) -> Option<FailStatus> {
        FailStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailStatus::Invalid => "invalid",
            FailStatus::Rejected => "rejected",
            FailStatus::GaveUp => "gave_up",
            FailStatus::InDoubt => "in_doubt",
            FailStatus::Unauthorized => "unauthorized",
            FailStatus::NotSent => "not_sent",
            FailStatus::NotFound => "not_found",
        }
    }
}

/// What a run would do with a valid row (`plan.csv`'s `action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create a contact (a lookup first, for a row known by its email alone).
    Create,
    /// Update the contact: the fields that changed, the tags it lacks.
    Update,
    /// Nothing: its contact holds the row's values already.
    Unchanged,
    /// Nothing: `--mode create`, and HelpCrunch holds the contact already.
    Exists,
    /// `--mode update`, and the row has nothing to find its contact by.
    NotFound,
}

impl Action {
    pub const ALL: [Action; 5] = [
        Action::Create,
        Action::Update,
        Action::Unchanged,
        Action::Exists,
        Action::NotFound,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Unchanged => "unchanged",
            Action::Exists => "exists",
            Action::NotFound => "not_found",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RowResult {
    /// Created in HelpCrunch; `id` is None only when a 201's body was lost.
    Created { id: Option<i64> },
    /// HelpCrunch already held a contact with this userId (a 400 `invalid_userId_value`);
    /// `id` is that contact's, looked up by userId (None if the lookup found nothing).
    Exists { id: Option<i64> },
    /// An existing contact, changed since the state last saw it: sent with one PATCH.
    Updated { id: i64 },
    /// The state holds this payload's hash for the contact already: nothing was sent.
    Unchanged { id: i64 },
    /// Passed every check (dry run: nothing sent).
    Valid,
    /// `plan`: what a run would do with the row, and the requests it would spend on it.
    Planned { action: Action, requests: u32 },
    Failed {
        status: FailStatus,
        errors: Vec<String>,
    },
}

impl RowResult {
    pub fn failed(status: FailStatus, error: impl Into<String>) -> RowResult {
        RowResult::Failed {
            status,
            errors: vec![error.into()],
        }
    }
}

/// One row's end: the record as read (so `failed.csv` can hold its original cells), the
/// identifiers `created.csv` reports, the result, and what mapping the row found worth
/// a warning (counted by kind in the report).
#[derive(Debug, Clone, PartialEq)]
pub struct RowOutcome {
    pub record: Record,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub result: RowResult,
    pub warnings: Warnings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_from_its_name() {
        for status in FailStatus::ALL {
            assert_eq!(FailStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(FailStatus::parse("created"), None);
        assert_eq!(FailStatus::parse(""), None);
    }
}
