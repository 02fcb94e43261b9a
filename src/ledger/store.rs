//! The ledger's SQLite database: schema, opening a run, and the row statements. Plain
//! synchronous code: only the ledger thread (and tests) call it.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use super::fingerprint::{InputPrint, check_inputs};
use super::state::{self, RowKey, RowState};
use super::{Begin, Counts, LedgerError};
use crate::outcome::{FailStatus, RowResult};

/// The ledger's file in the results directory.
pub const FILE_NAME: &str = "ledger.sqlite";
/// Bumped when the schema changes; a ledger of another version is refused, not guessed at.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE run (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    schema_version INTEGER NOT NULL,
    -- where contacts were sent (the base URL; never the key)
    target         TEXT NOT NULL,
    started_at     TEXT NOT NULL
);
-- the inputs in command-line order, with the fingerprint a resume must match
CREATE TABLE inputs (
    position    INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    fingerprint TEXT
);
-- one pass per start: the first run, then each --resume
CREATE TABLE passes (
    pass       INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    ending     TEXT
);
-- one row per input row that was sent or finished; a row not here is pending
CREATE TABLE rows (
    input      INTEGER NOT NULL REFERENCES inputs (position),
    line       INTEGER NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('sent', 'created', 'exists', 'updated', 'unchanged', 'failed')),
    contact_id INTEGER,
    status     TEXT,
    errors     TEXT,
    user_id    TEXT,
    email      TEXT,
    -- the pass that last recorded it
    pass       INTEGER NOT NULL REFERENCES passes (pass),
    PRIMARY KEY (input, line)
) WITHOUT ROWID;
CREATE INDEX rows_by_pass ON rows (pass, state, status);
";

/// Tables later versions added, created where a ledger lacks them (a resume of an older
/// run, or an undo of one).
const ADDED: &str = "
-- what an update was about to change in its contact, as it was (restore::Before, JSON),
-- recorded before the update was sent: what an undo puts back
CREATE TABLE IF NOT EXISTS befores (
    input      INTEGER NOT NULL,
    line       INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    before     TEXT NOT NULL,
    PRIMARY KEY (input, line)
) WITHOUT ROWID;
-- a row's contact found by a lookup after a create whose answer was lost: the run may
-- have made it, or it may have been there before; an undo does not delete it
CREATE TABLE IF NOT EXISTS doubted (
    input      INTEGER NOT NULL,
    line       INTEGER NOT NULL,
    contact_id INTEGER NOT NULL,
    PRIMARY KEY (input, line)
) WITHOUT ROWID;
-- the sync state the run used, so an undo can tell it what it took back
CREATE TABLE IF NOT EXISTS run_state (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    path TEXT NOT NULL
);
-- what an undo of the run did to each contact
CREATE TABLE IF NOT EXISTS undo (
    contact_id INTEGER PRIMARY KEY,
    action     TEXT NOT NULL,
    result     TEXT NOT NULL,
    detail     TEXT,
    at         TEXT NOT NULL
);
";

/// An open ledger, locked for this process, in a pass.
pub struct Store {
    connection: Connection,
    path: PathBuf,
    pass: u32,
}

/// What opening a ledger gives besides the store: notes for the log.
pub struct Opened {
    pub store: Store,
    pub warnings: Vec<String>,
}

impl Store {
    /// Starts a new run in `dir` (replacing any ledger there) or resumes the one there,
    /// after checking that its inputs and target are the same.
    pub fn open(
        dir: &Path,
        inputs: &[InputPrint],
        target: &str,
        begin: Begin,
    ) -> Result<Opened, LedgerError> {
        let path = dir.join(FILE_NAME);
        let error = database_error(&path);
        if begin == Begin::Fresh {
            std::fs::create_dir_all(dir).map_err(|e| error(e.to_string()))?;
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let file = dir.join(format!("{FILE_NAME}{suffix}"));
                match std::fs::remove_file(&file) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(error(e.to_string())),
                }
            }
        } else if !path.is_file() {
            return Err(LedgerError::NoRun {
                dir: dir.display().to_string(),
            });
        }
        let mut connection = Connection::open(&path).map_err(|e| error(e.to_string()))?;
        configure(&connection).map_err(|e| locked_or(dir, &path, e))?;
        let transaction = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| locked_or(dir, &path, e))?;
        let (pass, warnings) = match begin {
            Begin::Fresh => {
                create(&transaction, inputs, target).map_err(|e| error(e.to_string()))?;
                (1, Vec::new())
            }
            Begin::Resume { force } => resume(&transaction, &path, inputs, target, force)?,
        };
        transaction
            .execute(
                "INSERT INTO passes (pass, started_at) VALUES (?1, ?2)",
                params![pass, now()],
            )
            .map_err(|e| error(e.to_string()))?;
        transaction.commit().map_err(|e| error(e.to_string()))?;
        Ok(Opened {
            store: Store {
                connection,
                path: path.clone(),
                pass,
            },
            warnings,
        })
    }

    pub fn pass(&self) -> u32 {
        self.pass
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn error(&self, error: rusqlite::Error) -> LedgerError {
        database_error(&self.path)(error.to_string())
    }

    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.connection
    }
}

/// WAL, so a commit is one append and readers never block; an exclusive lock, so two
/// imports can never work one run at once (a second one fails at once, not after a wait).
pub(crate) fn configure(connection: &Connection) -> rusqlite::Result<()> {
    connection.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidQuery);
    }
    connection.pragma_update(None, "synchronous", "FULL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn create(connection: &Connection, inputs: &[InputPrint], target: &str) -> rusqlite::Result<()> {
    connection.execute_batch(SCHEMA)?;
    connection.execute_batch(ADDED)?;
    connection.execute(
        "INSERT INTO run (id, schema_version, target, started_at) VALUES (1, ?1, ?2, ?3)",
        params![SCHEMA_VERSION, target, now()],
    )?;
    let mut insert = connection
        .prepare("INSERT INTO inputs (position, name, fingerprint) VALUES (?1, ?2, ?3)")?;
    for (position, input) in inputs.iter().enumerate() {
        insert.execute(params![position as i64, input.name, input.fingerprint])?;
    }
    Ok(())
}

/// Checks the recorded run against this one and opens the next pass.
fn resume(
    connection: &Connection,
    path: &Path,
    inputs: &[InputPrint],
    target: &str,
    force: bool,
) -> Result<(u32, Vec<String>), LedgerError> {
    let error = database_error(path);
    let sql = |e: rusqlite::Error| error(e.to_string());
    let (version, recorded_target): (i64, String) = connection
        .query_row("SELECT schema_version, target FROM run", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .map_err(|e| error(format!("not a ledger of this tool ({e})")))?;
    if version != SCHEMA_VERSION {
        return Err(error(format!(
            "ledger schema {version}; this version of helpcrunch-import reads {SCHEMA_VERSION}"
        )));
    }
    connection.execute_batch(ADDED).map_err(sql)?;
    let recorded: Vec<InputPrint> = connection
        .prepare("SELECT name, fingerprint FROM inputs ORDER BY position")
        .and_then(|mut select| {
            select
                .query_map([], |row| {
                    Ok(InputPrint {
                        name: row.get(0)?,
                        fingerprint: row.get(1)?,
                    })
                })?
                .collect()
        })
        .map_err(sql)?;
    let mut warnings = check_inputs(&recorded, inputs, force)?;
    if recorded_target != target {
        let problem = LedgerError::TargetChanged {
            recorded: recorded_target,
            given: target.to_string(),
        };
        if !force {
            return Err(problem);
        }
        warnings.push(format!("--force: {problem}"));
        connection
            .execute("UPDATE run SET target = ?1", [target])
            .map_err(sql)?;
    }
    if force {
        // The files as they are now are what later resumes must match.
        let mut update = connection
            .prepare("UPDATE inputs SET name = ?2, fingerprint = ?3 WHERE position = ?1")
            .map_err(sql)?;
        for (position, input) in inputs.iter().enumerate() {
            update
                .execute(params![position as i64, input.name, input.fingerprint])
                .map_err(sql)?;
        }
    }
    let last: u32 = connection
        .query_row("SELECT COALESCE(MAX(pass), 0) FROM passes", [], |row| {
            row.get(0)
        })
        .map_err(sql)?;
    Ok((last + 1, warnings))
}

/// The row's recorded state, if any.
pub fn prior(
    connection: &Connection,
    key: RowKey,
) -> rusqlite::Result<Option<Result<RowState, String>>> {
    let mut select = connection.prepare_cached(
        "SELECT state, contact_id, status, errors FROM rows WHERE input = ?1 AND line = ?2",
    )?;
    select
        .query_row(params![key.input, key.line as i64], |row| {
            let state: String = row.get(0)?;
            let contact_id: Option<i64> = row.get(1)?;
            let status: Option<String> = row.get(2)?;
            let errors: Option<String> = row.get(3)?;
            Ok(
                state::decode(&state, contact_id, status.as_deref(), errors.as_deref()).ok_or_else(
                    || {
                        format!(
                            "row {}:{} holds a state this version cannot read ({state} {})",
                            key.input,
                            key.line,
                            status.unwrap_or_default()
                        )
                    },
                ),
            )
        })
        .optional()
}

/// Records that a create request for the row is about to leave.
pub fn mark_sent(
    connection: &Connection,
    pass: u32,
    key: RowKey,
    user_id: Option<&str>,
    email: Option<&str>,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO rows (input, line, state, user_id, email, pass)
             VALUES (?1, ?2, 'sent', ?3, ?4, ?5)
             ON CONFLICT (input, line) DO UPDATE SET
                 state = 'sent', contact_id = NULL, status = NULL, errors = NULL,
                 user_id = excluded.user_id, email = excluded.email, pass = excluded.pass",
        )?
        .execute(params![key.input, key.line as i64, user_id, email, pass])?;
    Ok(())
}

/// Records the row's result (one the ledger keeps; see [`state::encode`]).
pub fn record(
    connection: &Connection,
    pass: u32,
    key: RowKey,
    result: &RowResult,
    user_id: Option<&str>,
    email: Option<&str>,
) -> rusqlite::Result<()> {
    let Some(columns) = state::encode(result) else {
        if matches!(
            result,
            RowResult::Failed {
                status: FailStatus::NotSent,
                ..
            }
        ) {
            // Not sent after all (the run stopped while the row waited for its turn):
            // its intent is withdrawn, so the next pass sends it without a lookup.
            connection
                .prepare_cached(
                    "DELETE FROM rows WHERE input = ?1 AND line = ?2 AND state = 'sent' AND pass = ?3",
                )?
                .execute(params![key.input, key.line as i64, pass])?;
        }
        return Ok(());
    };
    connection
        .prepare_cached(
            "INSERT INTO rows (input, line, state, contact_id, status, errors, user_id, email, pass)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (input, line) DO UPDATE SET
                 state = excluded.state, contact_id = excluded.contact_id,
                 status = excluded.status, errors = excluded.errors,
                 user_id = excluded.user_id, email = excluded.email, pass = excluded.pass",
        )?
        .execute(params![
            key.input,
            key.line as i64,
            columns.state,
            columns.contact_id,
            columns.status,
            columns.errors,
            user_id,
            email,
            pass
        ])?;
    Ok(())
}

/// How the pass ended: `finished`, `interrupted` or `stopped`.
pub fn end_pass(connection: &Connection, pass: u32, ending: &str) -> rusqlite::Result<()> {
    connection.execute(
        "UPDATE passes SET ending = ?2 WHERE pass = ?1",
        params![pass, ending],
    )?;
    Ok(())
}

/// Rows by state, for one pass (the rows it recorded) or for the whole run.
pub fn counts(connection: &Connection, pass: Option<u32>) -> rusqlite::Result<Counts> {
    let mut select = connection.prepare_cached(
        "SELECT state, status, COUNT(*) FROM rows
         WHERE ?1 IS NULL OR pass = ?1 GROUP BY state, status",
    )?;
    let mut counts = Counts::default();
    let mut rows = select.query([pass])?;
    while let Some(row) = rows.next()? {
        let state: String = row.get(0)?;
        let status: Option<String> = row.get(1)?;
        let n = u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0);
        counts.rows += n;
        match state.as_str() {
            state::SENT => counts.sent += n,
            state::CREATED => counts.created += n,
            state::EXISTS => counts.exists += n,
            state::UPDATED => counts.updated += n,
            state::UNCHANGED => counts.unchanged += n,
            _ => {
                counts.failed += n;
                if let Some(status) = status.as_deref().and_then(FailStatus::parse) {
                    *counts.failed_by_status.entry(status).or_default() += n;
                }
            }
        }
    }
    Ok(counts)
}

/// Reads a ledger's counts without taking part in the run (tests, inspection). `pass`
/// None counts every row.
pub fn read_counts(dir: &Path, pass: Option<u32>) -> Result<(Counts, u32), LedgerError> {
    let path = dir.join(FILE_NAME);
    let error = database_error(&path);
    if !path.is_file() {
        return Err(LedgerError::NoRun {
            dir: dir.display().to_string(),
        });
    }
    // Read-write, so a ledger left by a killed run is recovered from its WAL first.
    let connection = Connection::open(&path).map_err(|e| error(e.to_string()))?;
    let last: u32 = connection
        .query_row("SELECT COALESCE(MAX(pass), 0) FROM passes", [], |row| {
            row.get(0)
        })
        .map_err(|e| error(e.to_string()))?;
    let counts = counts(&connection, pass).map_err(|e| error(e.to_string()))?;
    Ok((counts, last))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Records what an update is about to change in contact `contact_id`, as it was.
pub fn record_before(
    connection: &Connection,
    key: RowKey,
    contact_id: i64,
    before: &str,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO befores (input, line, contact_id, before) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![key.input, key.line as i64, contact_id, before])?;
    Ok(())
}

/// Records that the row's contact `contact_id` was found by a lookup after a create
/// whose answer was lost.
pub fn record_doubted(
    connection: &Connection,
    key: RowKey,
    contact_id: i64,
) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO doubted (input, line, contact_id) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![key.input, key.line as i64, contact_id])?;
    Ok(())
}

/// Records the path of the sync state the run uses.
pub fn record_state(connection: &Connection, path: &str) -> rusqlite::Result<()> {
    connection
        .prepare_cached("INSERT OR REPLACE INTO run_state (id, path) VALUES (1, ?1)")?
        .execute([path])?;
    Ok(())
}

/// The path of the sync state the run used, if it used one.
pub fn state_path(connection: &Connection) -> rusqlite::Result<Option<String>> {
    connection
        .query_row("SELECT path FROM run_state WHERE id = 1", [], |row| {
            row.get(0)
        })
        .optional()
}

/// A row the run wrote to HelpCrunch, as an undo sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Written {
    pub file: String,
    pub line: u64,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub contact_id: i64,
    /// `created` or `updated`.
    pub state: String,
    /// For an update: what it changed, as it was (JSON), when the run knew.
    pub before: Option<String>,
    /// Created, as far as a lookup after a lost answer can tell: it may have been there
    /// before the run.
    pub doubted: bool,
}

/// What an undo did to a contact, as its table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undone {
    pub contact_id: i64,
    pub action: String,
    pub result: String,
    pub detail: Option<String>,
}

/// The run's ledger in `dir`, opened for an undo: locked like a run's, so an import still
/// at work on it, or a second undo, is refused.
pub fn open_for_undo(dir: &Path) -> Result<(Connection, String), LedgerError> {
    let path = dir.join(FILE_NAME);
    if !path.is_file() {
        return Err(LedgerError::NoRun {
            dir: dir.display().to_string(),
        });
    }
    let error = database_error(&path);
    let connection = Connection::open(&path).map_err(|e| error(e.to_string()))?;
    configure(&connection).map_err(|e| locked_or(dir, &path, e))?;
    // Take the lock now: the first statement of an exclusive connection does.
    let (version, target): (i64, String) = connection
        .query_row("SELECT schema_version, target FROM run", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .map_err(|e| locked_or(dir, &path, e))?;
    if version != SCHEMA_VERSION {
        return Err(error(format!(
            "ledger schema {version}; this version of helpcrunch-import reads {SCHEMA_VERSION}"
        )));
    }
    connection
        .execute_batch(ADDED)
        .map_err(|e| locked_or(dir, &path, e))?;
    Ok((connection, target))
}

/// Every contact the run created, and every one it updated (with what it changed, where
/// it knew), in input order.
pub fn written(connection: &Connection) -> rusqlite::Result<Vec<Written>> {
    connection
        .prepare(
            "SELECT i.name, r.line, r.user_id, r.email, r.contact_id, r.state, b.before,
                    d.contact_id IS NOT NULL
             FROM rows r
             JOIN inputs i ON i.position = r.input
             LEFT JOIN befores b ON b.input = r.input AND b.line = r.line AND b.contact_id = r.contact_id
             LEFT JOIN doubted d ON d.input = r.input AND d.line = r.line AND d.contact_id = r.contact_id
             WHERE r.state IN ('created', 'updated') AND r.contact_id IS NOT NULL
             ORDER BY r.input, r.line",
        )?
        .query_map([], |row| {
            Ok(Written {
                file: row.get(0)?,
                line: row.get::<_, i64>(1)? as u64,
                user_id: row.get(2)?,
                email: row.get(3)?,
                contact_id: row.get(4)?,
                state: row.get(5)?,
                before: row.get(6)?,
                doubted: row.get(7)?,
            })
        })?
        .collect()
}

/// A row's userId and email, as far as they were read.
pub type Names = (Option<String>, Option<String>);

/// The rows the last pass of the run in `dir` found invalid: their contacts are still in
/// the export.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvalidRows {
    /// The userId and email of each that named its contact, as far as they were read.
    pub named: Vec<Names>,
    /// Those read too little to name their contact (a ragged line, no userId or email).
    pub unnamed: u64,
}

/// The rows the last pass of the run in `dir` found invalid.
pub fn invalid_rows(dir: &Path) -> Result<InvalidRows, LedgerError> {
    let path = dir.join(FILE_NAME);
    let error = database_error(&path);
    let connection = Connection::open(&path).map_err(|e| error(e.to_string()))?;
    let last_pass =
        "state = 'failed' AND status = 'invalid' AND pass = (SELECT MAX(pass) FROM passes)";
    let named = connection
        .prepare(&format!(
            "SELECT user_id, email FROM rows
             WHERE {last_pass} AND (user_id IS NOT NULL OR email IS NOT NULL)"
        ))
        .and_then(|mut select| {
            select
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
        .map_err(|e| error(e.to_string()))?;
    let unnamed: i64 = connection
        .query_row(
            &format!(
                "SELECT COUNT(*) FROM rows
                 WHERE {last_pass} AND user_id IS NULL AND email IS NULL"
            ),
            [],
            |row| row.get(0),
        )
        .map_err(|e| error(e.to_string()))?;
    Ok(InvalidRows {
        named,
        unnamed: u64::try_from(unnamed).unwrap_or(0),
    })
}

/// Rows whose create may have reached HelpCrunch with no contact id recorded: sent with
/// no answer, failed in doubt, or created with an id the API did not give.
pub fn in_doubt_rows(connection: &Connection) -> rusqlite::Result<u64> {
    connection
        .query_row(
            "SELECT COUNT(*) FROM rows
             WHERE state = 'sent' OR (state = 'failed' AND status = 'in_doubt')
                OR (state = 'created' AND contact_id IS NULL)",
            [],
            |row| row.get::<_, i64>(0),
        )
        .map(|n| u64::try_from(n).unwrap_or(0))
}

/// What earlier undos of the run did, by contact.
pub fn undone(connection: &Connection) -> rusqlite::Result<Vec<Undone>> {
    connection
        .prepare("SELECT contact_id, action, result, detail FROM undo ORDER BY contact_id")?
        .query_map([], |row| {
            Ok(Undone {
                contact_id: row.get(0)?,
                action: row.get(1)?,
                result: row.get(2)?,
                detail: row.get(3)?,
            })
        })?
        .collect()
}

/// Records what an undo did to a contact (committed at once: a killed undo goes on from
/// the next contact).
pub fn record_undone(connection: &Connection, undone: &Undone) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT OR REPLACE INTO undo (contact_id, action, result, detail, at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            undone.contact_id,
            undone.action,
            undone.result,
            undone.detail,
            now()
        ])?;
    Ok(())
}

fn database_error(path: &Path) -> impl Fn(String) -> LedgerError + '_ {
    move |message| LedgerError::Database {
        path: path.display().to_string(),
        message,
    }
}

fn locked_or(dir: &Path, path: &Path, error: rusqlite::Error) -> LedgerError {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            LedgerError::Busy {
                dir: dir.display().to_string(),
            }
        }
        _ => database_error(path)(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Vec<InputPrint> {
        vec![InputPrint {
            name: "a.csv".into(),
            fingerprint: Some("sha256:1".into()),
        }]
    }

    fn key(line: u64) -> RowKey {
        RowKey { input: 0, line }
    }

    #[test]
    fn a_run_records_rows_and_a_resume_sees_them_in_a_new_pass() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = "http://127.0.0.1:1/v1";
        let mut opened = Store::open(dir.path(), &inputs(), target, Begin::Fresh).expect("fresh");
        assert_eq!(opened.store.pass(), 1);
        {
            let c = opened.store.connection_mut();
            mark_sent(c, 1, key(2), Some("u1"), None).expect("sent");
            mark_sent(c, 1, key(3), Some("u2"), None).expect("sent");
            record(
                c,
                1,
                key(3),
                &RowResult::Created { id: Some(9) },
                Some("u2"),
                None,
            )
            .expect("created");
            record(
                c,
                1,
                key(4),
                &RowResult::failed(FailStatus::Invalid, "bad"),
                None,
                None,
            )
            .expect("invalid");
            record(
                c,
                1,
                key(5),
                &RowResult::failed(FailStatus::NotSent, "stop"),
                None,
                None,
            )
            .expect("not kept");
            assert_eq!(prior(c, key(2)).expect("read"), Some(Ok(RowState::Sent)));
            assert_eq!(
                prior(c, key(3)).expect("read"),
                Some(Ok(RowState::Done(RowResult::Created { id: Some(9) })))
            );
            assert_eq!(prior(c, key(5)).expect("read"), None);
            let counts = counts(c, Some(1)).expect("counts");
            assert_eq!(
                (counts.rows, counts.sent, counts.created, counts.failed),
                (3, 1, 1, 1)
            );
            assert_eq!(counts.failed_by_status.get(&FailStatus::Invalid), Some(&1));
        }
        // The lock holds while the first store is open.
        assert!(matches!(
            Store::open(
                dir.path(),
                &inputs(),
                target,
                Begin::Resume { force: false }
            ),
            Err(LedgerError::Busy { .. })
        ));
        drop(opened);
        let mut resumed = Store::open(
            dir.path(),
            &inputs(),
            target,
            Begin::Resume { force: false },
        )
        .expect("resume");
        assert_eq!(resumed.store.pass(), 2);
        let c = resumed.store.connection_mut();
        assert_eq!(prior(c, key(2)).expect("read"), Some(Ok(RowState::Sent)));
        record(
            c,
            2,
            key(2),
            &RowResult::Exists { id: Some(4) },
            Some("u1"),
            None,
        )
        .expect("exists");
        assert_eq!(counts(c, Some(2)).expect("counts").exists, 1);
        assert_eq!(counts(c, None).expect("counts").rows, 3);
    }

    #[test]
    fn a_resume_needs_a_ledger_the_same_inputs_and_the_same_target() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = "http://127.0.0.1:1/v1";
        let resume = Begin::Resume { force: false };
        assert!(matches!(
            Store::open(dir.path(), &inputs(), target, resume),
            Err(LedgerError::NoRun { .. })
        ));
        drop(Store::open(dir.path(), &inputs(), target, Begin::Fresh).expect("fresh"));
        let changed = vec![InputPrint {
            name: "a.csv".into(),
            fingerprint: Some("sha256:2".into()),
        }];
        assert!(matches!(
            Store::open(dir.path(), &changed, target, resume),
            Err(LedgerError::InputChanged { .. })
        ));
        assert!(matches!(
            Store::open(
                dir.path(),
                &inputs(),
                "https://api.helpcrunch.com/v1",
                resume
            ),
            Err(LedgerError::TargetChanged { .. })
        ));
        let forced = Store::open(dir.path(), &changed, target, Begin::Resume { force: true })
            .expect("forced");
        assert_eq!(forced.warnings.len(), 1);
        drop(forced);
        // --force recorded the new fingerprint: the next resume needs no force.
        assert!(Store::open(dir.path(), &changed, target, resume).is_ok());
    }

    #[test]
    fn a_fresh_start_replaces_an_old_ledger() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = "t";
        let mut first = Store::open(dir.path(), &inputs(), target, Begin::Fresh).expect("fresh");
        mark_sent(first.store.connection_mut(), 1, key(2), None, None).expect("sent");
        drop(first);
        let mut second = Store::open(dir.path(), &inputs(), target, Begin::Fresh).expect("fresh");
        assert_eq!(second.store.pass(), 1);
        assert_eq!(
            prior(second.store.connection_mut(), key(2)).expect("read"),
            None
        );
    }
}
