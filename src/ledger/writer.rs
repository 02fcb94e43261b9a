//! The ledger thread: the one owner of the database connection. Commands arrive on a
//! bounded channel; whatever has queued up is applied in one transaction (a group commit)
//! and answered once that transaction is committed.

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::state::{self, Claim, RowKey};
use super::store::{self, Store};
use super::{Counts, LedgerError};
use crate::outcome::RowResult;

/// Most commands in one transaction, so one commit never waits on an endless queue.
const MOST_PER_COMMIT: usize = 512;

pub(super) enum Command {
    /// What the run does with this row (reads only).
    Claim {
        key: RowKey,
        reply: oneshot::Sender<Result<Claim, LedgerError>>,
    },
    /// A create request for the row is about to leave: answered once it is on disk.
    Sending {
        key: RowKey,
        user_id: Option<String>,
        email: Option<String>,
        reply: oneshot::Sender<Result<(), LedgerError>>,
    },
    /// The row's result; not answered (a lost one only costs a lookup on resume).
    Record {
        key: RowKey,
        result: RowResult,
        user_id: Option<String>,
        email: Option<String>,
    },
    /// What an update is about to change, as it was (not answered: a lost one only
    /// leaves that update out of an undo).
    Before {
        key: RowKey,
        contact_id: i64,
        before: String,
    },
    /// A created contact found by a lookup after a lost answer (not answered, like
    /// `Before`).
    Doubted {
        key: RowKey,
        contact_id: i64,
    },
    /// The sync state the run uses (its path).
    State {
        path: String,
    },
    EndPass {
        ending: &'static str,
    },
    /// The rows this pass recorded, by state.
    Counts {
        reply: oneshot::Sender<Result<Counts, LedgerError>>,
    },
    /// Commit what is queued and stop.
    Close {
        reply: oneshot::Sender<Result<(), LedgerError>>,
    },
}

/// An answer held until its transaction commits.
enum Reply {
    Claim(
        oneshot::Sender<Result<Claim, LedgerError>>,
        Result<Claim, LedgerError>,
    ),
    Done(oneshot::Sender<Result<(), LedgerError>>),
    Counts(oneshot::Sender<Result<Counts, LedgerError>>, Counts),
}

/// Runs until `Close`, or until every sender is gone.
pub(super) fn run(mut store: Store, mut commands: mpsc::Receiver<Command>) {
    // The first failure to write. Every later command gets it, so the run stops rather
    // than send rows whose fate could not be recorded.
    let mut broken: Option<LedgerError> = None;
    // Whether the connection commits with an fsync now (see `apply`).
    let mut synced = true;
    let mut batch = Vec::new();
    while let Some(first) = commands.blocking_recv() {
        batch.push(first);
        while batch.len() < MOST_PER_COMMIT {
            match commands.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        let closing = batch.iter().any(|c| matches!(c, Command::Close { .. }));
        let replies = match &broken {
            Some(error) => Err(error.clone()),
            None => apply(&mut store, &mut batch, &mut synced),
        };
        // The answer to `Close` waits until the database is closed: a process that exits
        // on it leaves one file, with no write-ahead log beside it.
        if closing {
            drop(store);
            match replies {
                Ok(replies) => replies.into_iter().for_each(Reply::send),
                Err(error) => {
                    tracing::error!("{error}");
                    batch.drain(..).for_each(|command| command.refuse(&error));
                }
            }
            return;
        }
        match replies {
            Ok(replies) => replies.into_iter().for_each(Reply::send),
            Err(error) => {
                tracing::error!("{error}");
                batch.drain(..).for_each(|command| command.refuse(&error));
                broken = Some(error);
            }
        }
        batch.clear();
    }
}

/// Applies `batch` in one transaction and returns the answers to send once committed.
///
/// Only a batch holding an intent (`Sending`) commits with an fsync: an intent lost to a
/// power cut could let a row be sent twice, while a lost result only means the row is
/// looked up again. WAL makes every commit survive the process being killed either way.
fn apply(
    store: &mut Store,
    batch: &mut Vec<Command>,
    synced: &mut bool,
) -> Result<Vec<Reply>, LedgerError> {
    let pass = store.pass();
    let durable = batch.iter().any(|c| matches!(c, Command::Sending { .. }));
    let result = (|| -> rusqlite::Result<Vec<Reply>> {
        let connection: &mut Connection = store.connection_mut();
        if durable != *synced {
            connection.pragma_update(
                None,
                "synchronous",
                if durable { "FULL" } else { "NORMAL" },
            )?;
            *synced = durable;
        }
        let transaction = connection.transaction()?;
        let mut replies = Vec::with_capacity(batch.len());
        for command in batch.drain(..) {
            match command {
                Command::Claim { key, reply } => {
                    let claim = match store::prior(&transaction, key)? {
                        None => Ok(state::claim(None)),
                        Some(Ok(prior)) => Ok(state::claim(Some(&prior))),
                        Some(Err(unreadable)) => Err(LedgerError::Unreadable(unreadable)),
                    };
                    replies.push(Reply::Claim(reply, claim));
                }
                Command::Sending {
                    key,
                    user_id,
                    email,
                    reply,
                } => {
                    store::mark_sent(
                        &transaction,
                        pass,
                        key,
                        user_id.as_deref(),
                        email.as_deref(),
                    )?;
                    replies.push(Reply::Done(reply));
                }
                Command::Record {
                    key,
                    result,
                    user_id,
                    email,
                } => store::record(
                    &transaction,
                    pass,
                    key,
                    &result,
                    user_id.as_deref(),
                    email.as_deref(),
                )?,
                Command::Before {
                    key,
                    contact_id,
                    before,
                } => store::record_before(&transaction, key, contact_id, &before)?,
                Command::State { path } => store::record_state(&transaction, &path)?,
                Command::Doubted { key, contact_id } => {
                    store::record_doubted(&transaction, key, contact_id)?
                }
                Command::EndPass { ending } => store::end_pass(&transaction, pass, ending)?,
                Command::Counts { reply } => {
                    replies.push(Reply::Counts(
                        reply,
                        store::counts(&transaction, Some(pass))?,
                    ));
                }
                Command::Close { reply } => replies.push(Reply::Done(reply)),
            }
        }
        transaction.commit()?;
        Ok(replies)
    })();
    result.map_err(|e| store.error(e))
}

impl Reply {
    fn send(self) {
        // A requester that gave up waiting has nothing left to tell.
        let _ = match self {
            Reply::Claim(reply, claim) => reply.send(claim).map_err(drop),
            Reply::Done(reply) => reply.send(Ok(())).map_err(drop),
            Reply::Counts(reply, counts) => reply.send(Ok(counts)).map_err(drop),
        };
    }
}

impl Command {
    /// Answers a command that could not be applied.
    fn refuse(self, error: &LedgerError) {
        let error = error.clone();
        let _ = match self {
            Command::Claim { reply, .. } => reply.send(Err(error)).map_err(drop),
            Command::Sending { reply, .. } | Command::Close { reply } => {
                reply.send(Err(error)).map_err(drop)
            }
            Command::Counts { reply } => reply.send(Err(error)).map_err(drop),
            Command::Record { .. }
            | Command::Before { .. }
            | Command::Doubted { .. }
            | Command::State { .. }
            | Command::EndPass { .. } => Ok(()),
        };
    }
}
