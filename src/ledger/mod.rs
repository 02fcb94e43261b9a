//! The ledger: every row's fate in an embedded SQLite database (`ledger.sqlite` in the
//! results directory), so a run that stops, however it stops, resumes without skipping a
//! row or creating one twice.
//!
//! - [`state`]: a row's states (pending → sent → created | exists | failed) and what a run
//!   does with each (pure).
//! - [`fingerprint`]: the inputs' fingerprints, which a resume must match (pure checks).
//! - `store`: the schema and the SQL.
//! - `writer`: the ledger thread, the one owner of the connection, which commits whatever
//!   has queued up in one transaction.
//!
//! A row's intent is on disk before its create request leaves ([`Ledger::sending`]
//! returns only then), so a run killed at any point leaves each row pending (never sent),
//! sent (in doubt: looked up before anything is re-sent) or finished.

pub mod fingerprint;
pub mod state;
mod store;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::outcome::{FailStatus, RowResult};
use crate::record::Origin;
use crate::source::{Format, Input};

pub use self::fingerprint::InputPrint;
pub use self::state::{Claim, RowKey, RowState};
pub(crate) use self::store::configure;
pub use self::store::{
    FILE_NAME, InvalidRows, Undone, Written, in_doubt_rows, invalid_rows, open_for_undo,
    read_counts, record_undone, state_path, undone, written,
};
use self::writer::Command;

/// Commands waiting for the ledger thread. Bounded: a slow disk slows the run down
/// rather than filling memory.
const QUEUE: usize = 1024;

/// How a run meets its ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// A new run: a new ledger (replacing one left in the directory).
    Fresh,
    /// `--resume`: go on with the ledger there; `force` accepts changed inputs.
    Resume { force: bool },
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {path}: {message}")]
    Database { path: String, message: String },
    #[error("cannot fingerprint {name}: {message}")]
    Input { name: String, message: String },
    #[error("{dir} holds no run to resume (no {FILE_NAME}): start the import without --resume")]
    NoRun { dir: String },
    #[error("{dir} is in use by another import (its ledger is locked)")]
    Busy { dir: String },
    #[error(
        "the run began with the inputs {}, not {}: --resume needs the same files in the same order",
        recorded.join(" "), given.join(" ")
    )]
    InputsDiffer {
        recorded: Vec<String>,
        given: Vec<String>,
    },
    #[error(
        "{name} changed since the run began (its fingerprint differs), so its lines no longer match the ledger's: import it into a new --out, or pass --force to resume anyway"
    )]
    InputChanged { name: String },
    #[error(
        "{name} cannot be checked for changes since the run began (stdin is read once): pass --force to resume anyway"
    )]
    InputUnchecked { name: String },
    #[error(
        "the run began against {recorded}, not {given}: its contacts would be looked up and created elsewhere; pass --force to resume anyway"
    )]
    TargetChanged { recorded: String, given: String },
    #[error("ledger: {0}")]
    Unreadable(String),
    #[error("the ledger stopped ({0}): see the error above")]
    Stopped(String),
    #[error("the ledger and the result files disagree (a bug; the ledger is the truth): {0}")]
    Disagreement(String),
}

/// Rows by state: the ledger's side of "every row in exactly one result file".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub rows: u64,
    /// Sent with no outcome recorded: in doubt.
    pub sent: u64,
    pub created: u64,
    pub exists: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub failed_by_status: BTreeMap<FailStatus, u64>,
}

/// A handle on the ledger thread; cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    /// Commands to the ledger thread, which owns the connection.
    commands: mpsc::Sender<Command>,
    /// Each input's position, by name, to key a row by its origin.
    positions: Arc<HashMap<Arc<str>, u32>>,
    /// 1 for a new run, then one more for each resume.
    pass: u32,
    /// For messages.
    path: Arc<str>,
}

impl Ledger {
    /// Fingerprints `inputs` and opens the ledger in `dir` (a new one, or the run's to
    /// resume, after checking its inputs and `target`), on a thread of its own. Blocking:
    /// it reads every input once. Also returns warnings for the log.
    pub fn open(
        dir: &Path,
        inputs: &[Input],
        target: &str,
        begin: Begin,
    ) -> Result<(Ledger, Vec<String>), LedgerError> {
        let prints = inputs
            .iter()
            .map(|input| {
                let fingerprint = match &input.path {
                    Some(path) => Some(fingerprint::fingerprint_file(path).map_err(|e| {
                        LedgerError::Input {
                            name: input.name.to_string(),
                            message: e.to_string(),
                        }
                    })?),
                    None => None,
                };
                // Rows are matched by line: another sheet of a workbook is another input.
                let fingerprint = match (fingerprint, &input.text.sheet) {
                    (Some(print), Some(sheet)) if input.format == Format::Workbook => {
                        Some(format!("{print} sheet {sheet}"))
                    }
                    (print, _) => print,
                };
                Ok(InputPrint {
                    name: input.name.to_string(),
                    fingerprint,
                })
            })
            .collect::<Result<Vec<_>, LedgerError>>()?;
        let opened = store::Store::open(dir, &prints, target, begin)?;
        let pass = opened.store.pass();
        let path: Arc<str> = opened.store.path().display().to_string().into();
        let (commands, receiver) = mpsc::channel(QUEUE);
        let store = opened.store;
        std::thread::Builder::new()
            .name("ledger".into())
            .spawn(move || writer::run(store, receiver))
            .map_err(|e| LedgerError::Database {
                path: path.to_string(),
                message: format!("cannot start the ledger thread: {e}"),
            })?;
        let positions = inputs
            .iter()
            .enumerate()
            .map(|(position, input)| (input.name.clone(), position as u32))
            .collect();
        let ledger = Ledger {
            commands,
            positions: Arc::new(positions),
            pass,
            path,
        };
        Ok((ledger, opened.warnings))
    }

    pub fn pass(&self) -> u32 {
        self.pass
    }

    /// The key of the row that starts at `origin`.
    pub fn key(&self, origin: &Origin) -> Result<RowKey, LedgerError> {
        match self.positions.get(&origin.file) {
            Some(&input) => Ok(RowKey {
                input,
                line: origin.line,
            }),
            None => Err(LedgerError::Unreadable(format!(
                "{origin} is not one of the run's inputs"
            ))),
        }
    }

    /// What to do with a row: send it, look it up first, or keep its recorded result.
    pub async fn claim(&self, key: RowKey) -> Result<Claim, LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Claim { key, reply }).await?;
        self.answer(answer).await?
    }

    /// Records that a create request for the row is about to leave; returns once that is
    /// on disk, so a run killed a moment later knows the row is in doubt.
    pub async fn sending(
        &self,
        key: RowKey,
        user_id: Option<&str>,
        email: Option<&str>,
    ) -> Result<(), LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Sending {
            key,
            user_id: user_id.map(String::from),
            email: email.map(String::from),
            reply,
        })
        .await?;
        self.answer(answer).await?
    }

    /// Records a row's result (committed with the next group; a row the run stopped before
    /// sending is left as it was).
    pub async fn record(
        &self,
        key: RowKey,
        result: &RowResult,
        user_id: Option<&str>,
        email: Option<&str>,
    ) -> Result<(), LedgerError> {
        self.send(Command::Record {
            key,
            result: result.clone(),
            user_id: user_id.map(String::from),
            email: email.map(String::from),
        })
        .await
    }

    /// Records what an update of the row's contact `contact_id` is about to change, as it
    /// was (`restore::Before`, JSON), for an undo to put back.
    pub async fn before(
        &self,
        key: RowKey,
        contact_id: i64,
        before: &crate::restore::Before,
    ) -> Result<(), LedgerError> {
        let before =
            serde_json::to_string(before).map_err(|e| LedgerError::Unreadable(e.to_string()))?;
        self.send(Command::Before {
            key,
            contact_id,
            before,
        })
        .await
    }

    /// Records that the row's contact `contact_id`, which it counts as created, was found
    /// by a lookup after a create whose answer was lost: an undo leaves it (it may have
    /// been there before the run).
    pub async fn doubted(&self, key: RowKey, contact_id: i64) -> Result<(), LedgerError> {
        self.send(Command::Doubted { key, contact_id }).await
    }

    /// Records the path of the sync state the run uses, for an undo to update it.
    pub async fn uses_state(&self, path: String) -> Result<(), LedgerError> {
        self.send(Command::State { path }).await
    }

    /// Records how this pass ended.
    pub async fn end_pass(&self, ending: &'static str) -> Result<(), LedgerError> {
        self.send(Command::EndPass { ending }).await
    }

    /// The rows this pass recorded, by state.
    pub async fn counts(&self) -> Result<Counts, LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Counts { reply }).await?;
        self.answer(answer).await?
    }

    /// Commits everything recorded and stops the ledger thread.
    pub async fn close(self) -> Result<(), LedgerError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Close { reply }).await?;
        self.answer(answer).await?
    }

    async fn send(&self, command: Command) -> Result<(), LedgerError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| LedgerError::Stopped(self.path.to_string()))
    }

    async fn answer<T>(&self, answer: oneshot::Receiver<T>) -> Result<T, LedgerError> {
        answer
            .await
            .map_err(|_| LedgerError::Stopped(self.path.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Format;

    fn input(dir: &Path, name: &str, text: &str) -> Input {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write input");
        Input {
            name: path.display().to_string().into(),
            path: Some(path),
            format: Format::Csv,
            text: Default::default(),
        }
    }

    #[tokio::test]
    async fn the_thread_claims_records_and_counts_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inputs = [input(dir.path(), "a.csv", "userId\nu1\nu2\nu3\n")];
        let out = dir.path().join("out");
        let (ledger, _) = Ledger::open(&out, &inputs, "t", Begin::Fresh).expect("open");
        let origin = |line| Origin {
            file: inputs[0].name.clone(),
            line,
        };
        let (k2, k3, k4) = (
            ledger.key(&origin(2)).expect("key"),
            ledger.key(&origin(3)).expect("key"),
            ledger.key(&origin(4)).expect("key"),
        );
        assert!(
            ledger
                .key(&Origin {
                    file: "other.csv".into(),
                    line: 2
                })
                .is_err()
        );
        for key in [k2, k3, k4] {
            assert_eq!(ledger.claim(key).await.ok(), Some(Claim::Send));
        }
        ledger.sending(k2, Some("u1"), None).await.expect("sent");
        ledger.sending(k3, Some("u2"), None).await.expect("sent");
        let created = RowResult::Created { id: Some(11) };
        ledger
            .record(k3, &created, Some("u2"), None)
            .await
            .expect("recorded");
        assert_eq!(ledger.claim(k2).await.ok(), Some(Claim::Reconcile));
        assert_eq!(ledger.claim(k3).await.ok(), Some(Claim::Finished(created)));
        let counts = ledger.counts().await.expect("counts");
        assert_eq!((counts.rows, counts.sent, counts.created), (2, 1, 1));
        ledger.close().await.expect("closed");

        // Killed or not, a resume sees what was committed, in pass 2.
        let (resumed, _) =
            Ledger::open(&out, &inputs, "t", Begin::Resume { force: false }).expect("resume");
        assert_eq!(resumed.pass(), 2);
        assert_eq!(resumed.claim(k2).await.ok(), Some(Claim::Reconcile));
        assert_eq!(resumed.claim(k4).await.ok(), Some(Claim::Send));
        assert_eq!(resumed.counts().await.expect("counts").rows, 0);
        resumed.close().await.expect("closed");
        let (all, last_pass) = read_counts(&out, None).expect("read");
        assert_eq!((all.rows, last_pass), (2, 2));
    }
}
