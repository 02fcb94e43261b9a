//! The spilled half of the detector: a temporary SQLite database that takes the tables'
//! entries whenever they reach their budget, with a Bloom filter in front of it.

use std::path::PathBuf;

use rusqlite::{Connection, OptionalExtension, Row, Statement, Transaction};
use tempfile::TempDir;

use super::bloom::Bloom;
use super::table::{Entry, Place, Tables};

/// 2^25 bits: 4 MiB, allocated at the first spill.
pub(super) const FILTER_LOG2_BITS: u32 = 25;

/// For speed with bounded memory: no fsync (the file dies with the run); a rollback
/// journal on disk all the same, since without one a spill that fails midway (disk
/// full) can leave earlier spills unreadable, and repeats would go unseen; a lock held
/// throughout, so that a lookup neither locks nor rereads the cache; a 4 MiB page
/// cache; temporary tables on disk.
const SETUP: &str = "
    PRAGMA locking_mode = EXCLUSIVE;
    PRAGMA journal_mode = TRUNCATE;
    PRAGMA synchronous = OFF;
    PRAGMA cache_size = -4096;
    PRAGMA temp_store = FILE;
    CREATE TABLE user_ids (hash INTEGER PRIMARY KEY, file INTEGER NOT NULL, line INTEGER NOT NULL);
    CREATE TABLE emails (hash INTEGER PRIMARY KEY) WITHOUT ROWID;
";

/// Entries written by one statement: a statement a row would cost more than the
/// row's own insertion.
const BATCH: usize = 100;

/// An entry as SQLite keeps it: its u64 hash as the i64 of the same bits.
pub(super) trait Spillable: Entry {
    const FIND: &'static str;
    /// The table and its columns, which [`Spillable::bind`] fills in this order.
    const INTO: &'static str;
    const COLUMNS: usize;
    fn read(hash: u64, row: &Row) -> rusqlite::Result<Self>;
    /// Binds the entry's values from parameter `first` (1-based) on.
    fn bind(self, insert: &mut Statement, first: usize) -> rusqlite::Result<()>;

    /// Inserts `rows` entries at once, keeping any already there: it is the first.
    fn insert(rows: usize) -> String {
        let row = format!("({})", vec!["?"; Self::COLUMNS].join(", "));
        format!(
            "INSERT OR IGNORE INTO {} VALUES {}",
            Self::INTO,
            vec![row; rows].join(", ")
        )
    }
}

impl Spillable for Place {
    const FIND: &'static str = "SELECT file, line FROM user_ids WHERE hash = ?1";
    const INTO: &'static str = "user_ids (hash, file, line)";
    const COLUMNS: usize = 3;

    fn read(hash: u64, row: &Row) -> rusqlite::Result<Self> {
        Ok(Place::new(hash, row.get(0)?, row.get(1)?))
    }

    fn bind(self, insert: &mut Statement, first: usize) -> rusqlite::Result<()> {
        insert.raw_bind_parameter(first, self.hash() as i64)?;
        insert.raw_bind_parameter(first + 1, self.file())?;
        insert.raw_bind_parameter(first + 2, self.line())
    }
}

impl Spillable for u64 {
    const FIND: &'static str = "SELECT hash FROM emails WHERE hash = ?1";
    const INTO: &'static str = "emails (hash)";
    const COLUMNS: usize = 1;

    fn read(hash: u64, _: &Row) -> rusqlite::Result<Self> {
        Ok(hash)
    }

    fn bind(self, insert: &mut Statement, first: usize) -> rusqlite::Result<()> {
        insert.raw_bind_parameter(first, self as i64)
    }
}

/// Why the database could not be created: a file system or an SQLite error.
type Failure = Box<dyn std::error::Error + Send + Sync>;

/// Where the tables go when they reach their budget.
pub(super) struct Scratch {
    /// The directory to create the database in; None for the system's temporary one.
    dir: Option<PathBuf>,
    /// The filter's size: fixed, whatever the input.
    filter_log2_bits: u32,
    /// The database and its filter, from the first spill on: until then a lookup that
    /// misses memory ends there.
    spilled: Option<Spilled>,
    /// Set when a spill failed (no database, disk full): there are no more, and the
    /// tables grow past their budget as they did before there was one.
    failed: bool,
    /// Spills written, for the log.
    spills: u32,
}

/// The database of spilled entries, in the order its parts must be dropped.
struct Spilled {
    /// The spilled entries, all of them, so that memory holds only the latest ones.
    db: Connection,
    /// Every hash written to `db`, so that a lookup of a new key (most of them) costs
    /// a few bit tests, not a query: a false "maybe" costs only a query.
    filter: Bloom,
    /// The directory that holds the database and its journal: removed when dropped, so
    /// nothing outlives the run.
    dir: TempDir,
    /// A failed lookup was logged.
    lookup_failed: bool,
}

impl Scratch {
    pub(super) fn new(dir: Option<PathBuf>, filter_log2_bits: u32) -> Scratch {
        Scratch {
            dir,
            filter_log2_bits,
            spilled: None,
            failed: false,
            spills: 0,
        }
    }

    /// The entry spilled for `hash`, if any. Until a spill, one comparison.
    #[inline]
    pub(super) fn find<T: Spillable>(&mut self, hash: u64) -> Option<T> {
        let spilled = self.spilled.as_mut()?;
        if !spilled.filter.may_hold(hash) {
            return None;
        }
        spilled.find(hash)
    }

    /// Writes the tables' entries to the database and empties them; false when that
    /// failed (logged once), the tables kept as they were.
    #[cold]
    pub(super) fn spill(&mut self, tables: &mut Tables) -> bool {
        if self.failed {
            return false;
        }
        let result = match self.spilled.take() {
            Some(spilled) => Ok(spilled),
            None => self.create(),
        };
        let mut spilled = match result {
            Ok(spilled) => spilled,
            Err(error) => return self.fail(&error, tables),
        };
        let written = spilled.write(tables);
        let filter_bytes = spilled.filter.bytes();
        self.spilled = Some(spilled);
        match written {
            Ok(count) => {
                self.spills += 1;
                tracing::debug!(
                    "repeat detector: spilled {count} hashes (spill {}; the tables held at most {} bytes, the filter {filter_bytes})",
                    self.spills,
                    tables.peak()
                );
                tables.clear();
                true
            }
            Err(error) => {
                tables.rehash();
                self.fail(&error.into(), tables)
            }
        }
    }

    fn fail(&mut self, error: &Failure, tables: &Tables) -> bool {
        self.failed = true;
        let dir = self.dir.clone().unwrap_or_else(std::env::temp_dir);
        tracing::warn!(
            "the repeat detector could not spill to a scratch database in {} ({error}): it keeps going in memory, past its budget of {} bytes",
            dir.display(),
            tables.limit()
        );
        false
    }

    fn create(&self) -> Result<Spilled, Failure> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("helpcrunch-import-seen-");
        let dir = match &self.dir {
            Some(dir) => builder.tempdir_in(dir)?,
            None => builder.tempdir()?,
        };
        let db = Connection::open(dir.path().join("seen.sqlite3"))?;
        db.execute_batch(SETUP)?;
        Ok(Spilled {
            db,
            filter: Bloom::new(self.filter_log2_bits),
            dir,
            lookup_failed: false,
        })
    }

    #[cfg(test)]
    pub(super) fn spills(&self) -> u32 {
        self.spills
    }

    #[cfg(test)]
    pub(super) fn db(&self) -> Option<&Connection> {
        self.spilled.as_ref().map(|spilled| &spilled.db)
    }
}

impl Spilled {
    fn find<T: Spillable>(&mut self, hash: u64) -> Option<T> {
        let found = self.db.prepare_cached(T::FIND).and_then(|mut find| {
            find.query_row([hash as i64], |row| T::read(hash, row))
                .optional()
        });
        found.unwrap_or_else(|error| {
            if !std::mem::replace(&mut self.lookup_failed, true) {
                tracing::warn!(
                    "the repeat detector could not read its scratch database in {} ({error}): repeats of spilled keys may be missed",
                    self.dir.path().display()
                );
            }
            None
        })
    }

    /// Writes every entry in one transaction, in key order, so each spill goes through
    /// the B-tree once.
    fn write(&mut self, tables: &mut Tables) -> rusqlite::Result<usize> {
        let transaction = self.db.transaction()?;
        let count = write_all(&transaction, tables.user_ids.sorted(), &mut self.filter)?
            + write_all(&transaction, tables.emails.sorted(), &mut self.filter)?;
        transaction.commit()?;
        Ok(count)
    }
}

/// Writes `entries` [`BATCH`] to a statement, the rest one by one.
fn write_all<T: Spillable>(
    transaction: &Transaction,
    entries: impl Iterator<Item = T>,
    filter: &mut Bloom,
) -> rusqlite::Result<usize> {
    let mut batch = transaction.prepare(&T::insert(BATCH))?;
    let mut pending = [T::default(); BATCH];
    let (mut count, mut held) = (0, 0);
    for entry in entries {
        entry.bind(&mut batch, held * T::COLUMNS + 1)?;
        filter.insert(entry.hash());
        pending[held] = entry;
        held += 1;
        count += 1;
        if held == BATCH {
            batch.raw_execute()?;
            held = 0;
        }
    }
    let mut single = transaction.prepare(&T::insert(1))?;
    for entry in &pending[..held] {
        entry.bind(&mut single, 1)?;
        single.raw_execute()?;
    }
    Ok(count)
}
