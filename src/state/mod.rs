//! The sync state: a SQLite file that outlives runs (`--state`, for `--mode upsert|update`)
//! mapping each contact's key (userId, else email) to its HelpCrunch id and the hash of
//! the last payload sent to it. A nightly re-import of an unchanged export then sends
//! nothing, and a changed row one PATCH.
//!
//! - [`plan`]: the mode's decision for one row (pure).
//! - [`index`]: the account index, what HelpCrunch holds already, listed once.
//!
//! The file is locked for the whole run (SQLite's exclusive locking mode), so two runs on
//! one state cannot overlap: the second one stops before it sends anything. For the
//! contacts it sent to, only keys, ids and hashes are stored; the account index holds the
//! fields the importer writes of every contact, as HelpCrunch answered them. Never the
//! API key.

pub mod index;
pub mod plan;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};

pub use self::index::{IndexStatus, Indexed};
pub use self::plan::{Hash, Hashes, Known, Mode, Parts, Plan};

/// Where the state lives when `--state` is not given (relative to the working directory).
pub const DEFAULT_PATH: &str = ".helpcrunch-import/state.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
-- one row per contact this state has sent a payload to
CREATE TABLE IF NOT EXISTS contacts (
    key        TEXT PRIMARY KEY,
    contact_id INTEGER NOT NULL,
    hash       BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    tags_hash  BLOB
) WITHOUT ROWID;
-- a contact's keys, by its id: meeting, forgetting and restoring a contact touch them all
CREATE INDEX IF NOT EXISTS contacts_contact_id ON contacts (contact_id);
";

/// Columns later versions added to `contacts`, added empty to a state that lacks them:
/// `tags_hash` (its tags read as not known, and are added once), and `seen` (the sync run
/// that last met the contact's row; never, for a state that predates it).
fn add_columns(connection: &Connection) -> rusqlite::Result<()> {
    for (column, kind) in [("tags_hash", "BLOB"), ("seen", "INTEGER")] {
        let has: bool = connection.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('contacts') WHERE name = ?1",
            [column],
            |row| row.get(0),
        )?;
        if !has {
            connection.execute(
                &format!("ALTER TABLE contacts ADD COLUMN {column} {kind}"),
                [],
            )?;
        }
    }
    Ok(())
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StateError {
    #[error(
        "the state {path} is in use by another import (it is locked); two runs on one state cannot overlap"
    )]
    Busy { path: String },
    #[error(
        "the state {path} belongs to {recorded}, not {given}: its ids are another account's; pass another --state"
    )]
    TargetChanged {
        path: String,
        recorded: String,
        given: String,
    },
    #[error("state {path}: {message}")]
    Database { path: String, message: String },
    #[error(
        "{path} is a run's ledger, not a sync state: pass another --state (for example .helpcrunch-import/state.db)"
    )]
    IsLedger { path: String },
}

/// A handle on the open state; cheap to clone.
#[derive(Clone)]
pub struct State {
    /// The one connection, and the meetings not yet written. It holds the file's
    /// exclusive lock until it is dropped at the end of the run, which is what keeps a
    /// second run out. A std mutex: each use is one short statement, always on a
    /// blocking thread.
    database: Arc<Mutex<Database>>,
    /// For messages.
    path: Arc<str>,
}

impl State {
    /// [`State::open`] on a blocking thread.
    pub async fn open_async(path: PathBuf, target: String) -> Result<State, StateError> {
        let name = path.display().to_string();
        tokio::task::spawn_blocking(move || State::open(&path, &target))
            .await
            .unwrap_or_else(|e| {
                Err(StateError::Database {
                    path: name,
                    message: format!("opening it failed: {e}"),
                })
            })
    }

    /// Opens (or creates) the state at `path` for `target` and locks it. Blocking.
    pub fn open(path: &Path, target: &str) -> Result<State, StateError> {
        let name = path.display().to_string();
        let error = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                StateError::Busy { path: name.clone() }
            }
            _ => StateError::Database {
                path: name.clone(),
                message: e.to_string(),
            },
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StateError::Database {
                path: name.clone(),
                message: e.to_string(),
            })?;
        }
        let mut connection = Connection::open(path).map_err(error)?;
        // A locked state is refused at once: waiting for a nightly run to end is not ours
        // to decide.
        connection
            .busy_timeout(std::time::Duration::ZERO)
            .map_err(error)?;
        crate::ledger::configure(&connection).map_err(error)?;
        // An exclusive write transaction takes the lock now, not at the first row's write.
        let transaction = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
            .map_err(error)?;
        // A run's ledger (its rows and passes) is not a state: sharing the file would lock
        // the run's own undo out.
        let ledger: bool = transaction
            .query_row(
                "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name IN ('rows', 'passes')",
                [],
                |row| row.get(0),
            )
            .map_err(error)?;
        if ledger {
            return Err(StateError::IsLedger { path: name });
        }
        transaction.execute_batch(SCHEMA).map_err(error)?;
        transaction.execute_batch(index::SCHEMA).map_err(error)?;
        add_columns(&transaction).map_err(error)?;
        let recorded: Option<String> = transaction
            .query_row("SELECT value FROM meta WHERE name = 'target'", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(error)?;
        match recorded {
            Some(recorded) if recorded != target => {
                return Err(StateError::TargetChanged {
                    path: name,
                    recorded,
                    given: target.to_string(),
                });
            }
            Some(_) => {}
            None => {
                transaction
                    .execute(
                        "INSERT INTO meta (name, value) VALUES ('target', ?1)",
                        [target],
                    )
                    .map_err(error)?;
            }
        }
        transaction.commit().map_err(error)?;
        Ok(State {
            database: Arc::new(Mutex::new(Database {
                connection,
                meetings: Vec::new(),
            })),
            path: name.into(),
        })
    }

    /// What the state holds for `key`.
    pub async fn get(&self, key: String) -> Result<Option<Known>, StateError> {
        self.get_meeting(Some(key), Vec::new(), None).await
    }

    /// What the state holds under `key` (None: nothing, or no key), after marking the
    /// contacts under `meet` met by sync run `run` (when one is given): one trip to the
    /// database for a row of a sync.
    pub async fn get_meeting(
        &self,
        key: Option<String>,
        meet: Vec<String>,
        run: Option<i64>,
    ) -> Result<Option<Known>, StateError> {
        self.with_database(move |database| {
            if let Some(run) = run {
                database
                    .meetings
                    .extend(meet.into_iter().map(|key| (key, run)));
                if database.meetings.len() >= MEETINGS_BATCH {
                    database.write_meetings()?;
                }
            }
            let Some(key) = key else { return Ok(None) };
            database
                .connection
                .prepare_cached("SELECT contact_id, hash, tags_hash FROM contacts WHERE key = ?1")?
                .query_row([key], |row| {
                    let hash: Vec<u8> = row.get(1)?;
                    let tags: Option<Vec<u8>> = row.get(2)?;
                    Ok((row.get::<_, i64>(0)?, hash, tags))
                })
                .optional()
        })
        .await
        .map(|found| {
            found.and_then(|(id, hash, tags)| {
                // A hash of another length is never written; it reads as unknown, and the
                // row is sent again.
                Some(Known {
                    id,
                    hash: hash.try_into().ok()?,
                    tags: tags.and_then(|tags| tags.try_into().ok()),
                })
            })
        })
    }

    /// Records that the contact under `key` is `known.id` and was last sent what
    /// `known`'s hashes say, met by sync run `run` (None: a plan, which marks nothing).
    pub async fn put(&self, key: String, known: Known, run: Option<i64>) -> Result<(), StateError> {
        self.blocking(move |c| {
            c.prepare_cached(
                "INSERT INTO contacts (key, contact_id, hash, updated_at, tags_hash, seen)
                 VALUES (?1, ?2, ?3, datetime('now'), ?4, ?5)
                 ON CONFLICT (key) DO UPDATE
                 SET contact_id = ?2, hash = ?3, updated_at = datetime('now'), tags_hash = ?4,
                     seen = COALESCE(?5, seen)",
            )?
            .execute(params![
                key,
                known.id,
                &known.hash[..],
                known.tags.as_ref().map(|t| &t[..]),
                run
            ])
            .map(|_| ())
        })
        .await
    }

    /// Records that the contact under `key` is `id`, where the state knows nothing under
    /// it yet, with no values known to be sent (a later sync sends them all): a contact a
    /// create run found existing.
    pub async fn know(&self, key: String, id: i64, run: Option<i64>) -> Result<(), StateError> {
        self.blocking(move |c| {
            c.prepare_cached(
                "INSERT INTO contacts (key, contact_id, hash, updated_at, tags_hash, seen)
                 VALUES (?1, ?2, ?3, datetime('now'), NULL, ?4)
                 ON CONFLICT (key) DO NOTHING",
            )?
            .execute(params![key, id, &UNSENT[..], run])
            .map(|_| ())
        })
        .await
    }

    /// The number of this sync run: the one recorded for `out_dir` when a run there is
    /// resumed (its rows met in earlier passes count as met), else the next.
    pub async fn begin_run(&self, out_dir: String, resume: bool) -> Result<i64, StateError> {
        self.blocking(move |c| {
            let meta = |name: &str| -> rusqlite::Result<Option<String>> {
                c.query_row("SELECT value FROM meta WHERE name = ?1", [name], |row| {
                    row.get(0)
                })
                .optional()
            };
            let last: i64 = meta("sync_run")?.and_then(|n| n.parse().ok()).unwrap_or(0);
            if resume && meta("sync_run_dir")?.as_deref() == Some(&out_dir) {
                return Ok(last);
            }
            let run = last + 1;
            c.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES ('sync_run', ?1), ('sync_run_dir', ?2)",
                params![run.to_string(), out_dir],
            )?;
            Ok(run)
        })
        .await
    }

    /// Marks contact `id` met by sync run `run`, under every key that leads to it: a row
    /// resolved to it (by the state, the index or a lookup), whatever became of the row.
    pub async fn met_contact(&self, id: i64, run: i64) -> Result<(), StateError> {
        self.blocking(move |c| {
            c.prepare_cached("UPDATE contacts SET seen = ?2 WHERE contact_id = ?1")?
                .execute(params![id, run])
                .map(|_| ())
        })
        .await
    }

    /// Marks the contacts under `keys` met by sync run `run`.
    pub async fn met(&self, keys: Vec<String>, run: i64) -> Result<(), StateError> {
        self.get_meeting(None, keys, Some(run)).await.map(|_| ())
    }

    /// The contacts earlier sync runs met that sync run `run` did not: `(key, id)`, one
    /// per contact. A contact is met when any key of it was: one whose row lost its userId
    /// tonight (so its key became its email) is still in the export. Contacts only a create
    /// run made or found (never met by a sync) are never missing.
    pub async fn not_met(&self, run: i64) -> Result<Vec<(String, i64)>, StateError> {
        self.blocking(move |c| {
            c.prepare(
                "SELECT MIN(key), contact_id FROM contacts
                 WHERE seen IS NOT NULL
                   AND contact_id NOT IN (SELECT contact_id FROM contacts WHERE seen = ?1)
                 GROUP BY contact_id ORDER BY 1",
            )?
            .query_map([run], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect()
        })
        .await
    }

    /// Forgets contact `id`, deleted from HelpCrunch: every key that leads to it, and its
    /// entry in the account index.
    pub async fn forget(&self, id: i64) -> Result<(), StateError> {
        self.blocking(move |c| {
            c.execute("DELETE FROM contacts WHERE contact_id = ?1", [id])?;
            c.execute("DELETE FROM account WHERE id = ?1", [id])?;
            Ok(())
        })
        .await
    }

    /// Lets go of contact `id`, which left the export and was tagged as such: the sync no
    /// longer knows it (so it is not missing again each night), while the account index
    /// still holds it (so a row naming it again finds it).
    pub async fn release(&self, id: i64) -> Result<(), StateError> {
        self.blocking(move |c| {
            c.execute("DELETE FROM contacts WHERE contact_id = ?1", [id])?;
            Ok(())
        })
        .await
    }

    /// Forgets what was sent to contact `id` (an undo put its earlier values back): the
    /// next run sends the row's values again.
    pub async fn unsent(&self, id: i64) -> Result<(), StateError> {
        self.blocking(move |c| {
            c.execute(
                "UPDATE contacts SET hash = ?2, tags_hash = NULL WHERE contact_id = ?1",
                params![id, &UNSENT[..]],
            )?;
            Ok(())
        })
        .await
    }

    /// Contacts some sync run met: those that can go missing (`--max-missing` counts a
    /// share of them).
    pub async fn synced_contacts(&self) -> Result<u64, StateError> {
        self.count("SELECT COUNT(DISTINCT contact_id) FROM contacts WHERE seen IS NOT NULL")
            .await
    }

    /// Contacts the state knows: each once, whatever keys lead to it.
    pub async fn contacts(&self) -> Result<u64, StateError> {
        self.count("SELECT COUNT(DISTINCT contact_id) FROM contacts")
            .await
    }

    async fn count(&self, sql: &'static str) -> Result<u64, StateError> {
        self.blocking(move |c| c.query_row(sql, [], |row| row.get::<_, i64>(0)))
            .await
            .map(|n| u64::try_from(n).unwrap_or(0))
    }

    /// Runs `work` on the connection on a blocking thread, after writing the meetings
    /// waiting, so every statement sees them (and none overtakes one).
    pub(super) async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StateError> {
        self.with_database(move |database| {
            database.write_meetings()?;
            work(&database.connection)
        })
        .await
    }

    async fn with_database<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Database) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StateError> {
        let (database, path) = (self.database.clone(), self.path.clone());
        let error = move |message: String| StateError::Database {
            path: path.to_string(),
            message,
        };
        tokio::task::spawn_blocking(move || {
            let mut database = database.lock().unwrap_or_else(|e| e.into_inner());
            work(&mut database).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r)
        .map_err(error)
    }
}

/// Meetings written at once: a sync row's meeting of its contact is batched rather than
/// committed (and fsynced) on its own, which made an unchanged nightly re-run of 20,000
/// rows spend most of its time in 20,000 fsyncs. Meetings lost to a kill are not missed:
/// a resumed pass (same sync run) meets every row again, finished ones included
/// (`Sync::met`), and only a finished run looks for the contacts it did not meet.
const MEETINGS_BATCH: usize = 512;

/// The state's connection and what waits to be written through it.
struct Database {
    connection: Connection,
    /// `(key, run)`: the contact under `key` was met by sync run `run`.
    meetings: Vec<(String, i64)>,
}

impl Database {
    /// Writes the meetings waiting in one transaction.
    fn write_meetings(&mut self) -> rusqlite::Result<()> {
        if self.meetings.is_empty() {
            return Ok(());
        }
        let transaction = self.connection.unchecked_transaction()?;
        {
            let mut update =
                transaction.prepare_cached("UPDATE contacts SET seen = ?2 WHERE key = ?1")?;
            for (key, run) in &self.meetings {
                update.execute(params![key, run])?;
            }
        }
        transaction.commit()?;
        self.meetings.clear();
        Ok(())
    }
}

/// The hash recorded for a contact whose values the importer never sent: no payload's.
const UNSENT: Hash = [0; 32];

/// The state's path: `--state`, else the config's `state`, else [`DEFAULT_PATH`].
pub fn path_or_default(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn contacts_outlive_the_run_and_the_lock_keeps_a_second_run_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("state.db");
        let state = State::open(&path, "http://a/v1").expect("open");
        assert_eq!(state.get("userId:u1".into()).await.ok(), Some(None));
        let known = Known {
            id: 5,
            hash: [3; 32],
            tags: Some([9; 32]),
        };
        state
            .put("userId:u1".into(), known, None)
            .await
            .expect("put");
        let changed = Known {
            id: 5,
            hash: [4; 32],
            tags: None,
        };
        state
            .put("userId:u1".into(), changed, Some(1))
            .await
            .expect("put again");
        assert!(matches!(
            State::open(&path, "http://a/v1"),
            Err(StateError::Busy { .. })
        ));
        drop(state);
        let state = State::open(&path, "http://a/v1").expect("reopen");
        assert_eq!(
            state.get("userId:u1".into()).await.ok(),
            Some(Some(changed))
        );
        assert_eq!(state.contacts().await.ok(), Some(1));
        drop(state);
        assert!(matches!(
            State::open(&path, "http://b/v1"),
            Err(StateError::TargetChanged { .. })
        ));
    }

    #[tokio::test]
    async fn a_state_from_before_tags_were_kept_apart_opens_with_its_tags_unknown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.db");
        {
            let connection = Connection::open(&path).expect("open");
            connection
                .execute_batch(
                    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
                     CREATE TABLE contacts (key TEXT PRIMARY KEY, contact_id INTEGER NOT NULL,
                         hash BLOB NOT NULL, updated_at TEXT NOT NULL) WITHOUT ROWID;
                     INSERT INTO meta VALUES ('target', 'http://a/v1');",
                )
                .expect("old schema");
            connection
                .execute(
                    "INSERT INTO contacts VALUES ('userId:u1', 5, ?1, datetime('now'))",
                    [&[3u8; 32][..]],
                )
                .expect("old row");
        }
        let state = State::open(&path, "http://a/v1").expect("opens and adds the column");
        let expected = Known {
            id: 5,
            hash: [3; 32],
            tags: None,
        };
        assert_eq!(
            state.get("userId:u1".into()).await.ok(),
            Some(Some(expected))
        );
    }

    #[tokio::test]
    async fn a_contact_met_under_another_key_is_not_missing_and_is_forgotten_whole() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = State::open(&dir.path().join("state.db"), "http://a/v1").expect("open");
        let known = |id| {
            plan::Known::new(
                id,
                plan::Hashes {
                    fields: [1; 32],
                    tags: None,
                },
            )
        };
        // Run 1 met contact 5 by its userId, contact 6 by its email.
        state
            .put("userId:u1".into(), known(5), Some(1))
            .await
            .expect("put");
        state
            .put("email:f@x.io".into(), known(6), Some(1))
            .await
            .expect("put");
        // Run 2: the row of contact 5 lost its userId; its email found the same contact.
        state
            .put("email:e@x.io".into(), known(5), Some(2))
            .await
            .expect("put");
        assert_eq!(state.contacts().await.ok(), Some(2), "contacts, not keys");
        assert_eq!(
            state.not_met(2).await.ok(),
            Some(vec![("email:f@x.io".to_string(), 6)]),
            "contact 5 is still in the export"
        );
        // Run 3 meets nobody: each contact is missing once, under one key.
        assert_eq!(
            state.not_met(3).await.ok(),
            Some(vec![
                ("email:e@x.io".to_string(), 5),
                ("email:f@x.io".to_string(), 6)
            ])
        );
        state.forget(5).await.expect("forget");
        assert_eq!(state.get("userId:u1".into()).await.ok(), Some(None));
        assert_eq!(state.get("email:e@x.io".into()).await.ok(), Some(None));
        assert_eq!(state.contacts().await.ok(), Some(1));
    }
}
