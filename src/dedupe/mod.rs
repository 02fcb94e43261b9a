//! Repeats within one run's input, across all its files: a second row with a `userId`
//! already seen is not sent (it fails as `duplicate of FILE:LINE`, naming the first), and
//! a repeated email is only a warning, since the API allows it.
//!
//! What is kept: never the rows, only a 64-bit hash of each key, with the place it was
//! first seen for userIds (14 bytes) and nothing more for emails (8 bytes). The hash
//! (foldhash) is seeded at random per run; two different keys share a hash with a
//! probability of about n²/2⁶⁵ (1 in 10⁷ for a million rows).
//!
//! Memory is bounded whatever the input size, so that a file of any length stays under
//! the run's 64 MiB:
//! - In memory (`table.rs`), open tables kept between 53% and 80% full, split in 64 shards
//!   so that growing one never holds two copies of everything: about 33 bytes a row for
//!   both keys. They hold at most [`DEFAULT_BUDGET`] bytes, a growth step included: about
//!   400,000 rows with both keys (900,000 with userIds only). A file that size or
//!   smaller never leaves memory, and its lookups cost what they cost before there was
//!   a budget: until a spill, asking the database is one comparison. A run sizes them
//!   at once for the rows its input's length suggests ([`Seen::expect`]), within three
//!   quarters of the budget, so that they do not move every entry as they grow.
//! - When a table must grow past the budget, the tables spill (`scratch.rs`): their
//!   entries go to a temporary SQLite database, in one transaction and in key order
//!   (each spill goes through the B-tree once), and memory starts empty again. A lookup then asks memory, then the database. The database is
//!   deleted with the detector.
//! - In front of the database, a Bloom filter (`bloom.rs`) of every spilled hash, of a
//!   fixed 4 MiB: most keys are new, and the filter tells so in a few bit tests, so only
//!   repeats and a few false positives cost a query. More rows only make it wrong more
//!   often, which costs a query, never a wrong answer.
//!
//! With SQLite's 4 MiB page cache, the detector stays within about 24 MiB. If the
//! database cannot be created or written (no temporary directory, disk full), nothing is
//! lost: a warning says so and the tables grow in memory as they did before the budget.

mod bloom;
mod scratch;
mod table;
#[cfg(test)]
mod tests;

use std::hash::BuildHasher;
use std::num::NonZeroU64;
use std::sync::Arc;

use hashbrown::DefaultHashBuilder;

use crate::record::{Origin, RowError};
use scratch::{FILTER_LOG2_BITS, Scratch, Spillable};
use table::{Outcome, Place, Tables};

/// Repeated emails logged one by one before the log only counts them.
const EMAILS_LOGGED: u64 = 20;

/// Bytes the in-memory tables may hold, a growth step's two copies of a shard
/// included: with the filter (4 MiB) and SQLite's page cache (4 MiB), about 24 MiB,
/// which leaves the rest of the run (its threads' allocator arenas above all) room
/// under 64 MiB.
pub const DEFAULT_BUDGET: usize = 16 << 20;

/// A hash that is never 0, the empty slot's mark.
fn nonzero(hash: u64) -> NonZeroU64 {
    NonZeroU64::new(hash).unwrap_or(NonZeroU64::MIN)
}

/// A row's keys as the detector looks them up: a nonzero hash of its `userId`, and of
/// its email lowercased.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keys {
    /// Nonzero, which also makes a row's keys half the size: they travel with it.
    user_id: Option<NonZeroU64>,
    email: Option<NonZeroU64>,
}

/// A row's `userId` and email, as mapped.
pub type Names = (Option<String>, Option<String>);

/// Hashes rows' keys for one [`Seen`] (its seed), on any thread.
#[derive(Clone)]
pub struct Keyer(DefaultHashBuilder);

impl Keyer {
    pub fn keys(&self, user_id: Option<&str>, email: Option<&str>) -> Keys {
        let hash = |bytes: &[u8]| nonzero(self.0.hash_one(bytes));
        Keys {
            user_id: user_id.map(|id| hash(id.as_bytes())),
            email: email.map(|email| {
                if email
                    .bytes()
                    .any(|b| b.is_ascii_uppercase() || !b.is_ascii())
                {
                    let lowered: String = email.chars().flat_map(char::to_lowercase).collect();
                    hash(lowered.as_bytes())
                } else {
                    hash(email.as_bytes())
                }
            }),
        }
    }
}

/// The repeat detector of one run. Feed it every mapped row in input order.
pub struct Seen {
    /// foldhash, seeded at random per run.
    hasher: DefaultHashBuilder,
    /// The entries recorded since the last spill, within the budget.
    memory: Tables,
    /// Where the entries go when memory is at its budget, and where lookups that miss
    /// memory go next.
    scratch: Scratch,
    /// The files met so far; places name them by index.
    files: Vec<Arc<str>>,
    repeated_emails: u64,
}

impl Default for Seen {
    fn default() -> Self {
        Seen::with_budget(DEFAULT_BUDGET)
    }
}

impl Seen {
    /// A detector whose in-memory tables hold at most `bytes` (at least a few dozen)
    /// before they spill to a temporary database.
    pub fn with_budget(bytes: usize) -> Seen {
        Seen::with_scratch(bytes, Scratch::new(None, FILTER_LOG2_BITS))
    }

    /// As [`Seen::with_budget`], spilling to `scratch`.
    fn with_scratch(bytes: usize, scratch: Scratch) -> Seen {
        Seen {
            hasher: DefaultHashBuilder::default(),
            memory: Tables::with_budget(bytes),
            scratch,
            files: Vec::new(),
            repeated_emails: 0,
        }
    }

    /// What hashes rows for this detector: hashing is pure, so it is done where rows
    /// are mapped, off the thread that checks them in order.
    pub fn keyer(&self) -> Keyer {
        Keyer(self.hasher.clone())
    }

    /// Makes room at once for about `rows` more rows, within three quarters of the
    /// budget: grown step by step, the tables move every entry about twice.
    pub fn expect(&mut self, rows: usize) {
        self.memory.reserve(rows);
    }

    /// Brings the table slots of `keys` into cache: touching a batch's rows first lets
    /// their waits on memory overlap, instead of coming one after another in `check`.
    pub fn touch(&self, keys: &Keys) {
        self.memory
            .touch(keys.user_id.map(u64::from), keys.email.map(u64::from));
    }

    /// A valid row, with its `keys` from [`Seen::keyer`]: a failure when its `userId`
    /// repeats an earlier row's. Failed rows are not checked, so not recorded: they are
    /// not sent, so a later row with the same `userId` is the first one the API sees.
    ///
    /// `names` gives the row's `userId` and email as text, for a message: asked only
    /// when there is one to write, since a dry run keeps no more of a row than its keys.
    pub fn check(
        &mut self,
        origin: &Origin,
        keys: &Keys,
        names: impl FnOnce() -> Names,
    ) -> Result<(), RowError> {
        let file = self.file_index(&origin.file);
        let line = u32::try_from(origin.line).unwrap_or(u32::MAX);
        if let Some(hash) = keys.user_id.map(u64::from)
            && let Some(first) = self.remember(Place::new(hash, file, line))
        {
            let user_id = names().0.unwrap_or_default();
            let message = format!(
                "userId {user_id:?} is a duplicate of {}",
                self.place((first.file(), first.line()))
            );
            return Err(RowError::new("userId", message));
        }
        if let Some(hash) = keys.email.map(u64::from)
            && self.remember(hash).is_some()
        {
            self.repeated_emails += 1;
            if self.repeated_emails <= EMAILS_LOGGED {
                let email = names().1.unwrap_or_default();
                tracing::warn!(
                    "{origin}: email {email:?} is in an earlier row too (the API allows it: a warning only)"
                );
            } else if self.repeated_emails == EMAILS_LOGGED + 1 {
                tracing::warn!("more repeated emails: the summary counts them");
            }
        }
        Ok(())
    }

    /// Rows whose email an earlier row already had.
    pub fn repeated_emails(&self) -> u64 {
        self.repeated_emails
    }

    /// The entry first recorded with `entry`'s hash, in memory or spilled, or None
    /// after recording `entry`.
    fn remember<T: Spillable>(&mut self, entry: T) -> Option<T> {
        loop {
            let scratch = &mut self.scratch;
            match self.memory.get_or_insert(entry, |hash| scratch.find(hash)) {
                Outcome::Earlier(first) => return Some(first),
                Outcome::Added => return None,
                Outcome::OverBudget => self.make_room(),
            }
        }
    }

    /// Spills the tables, or lifts their budget when they cannot spill (or are empty,
    /// which a budget under one shard's first slots would do): either way the insertion
    /// tried next has room.
    #[cold]
    fn make_room(&mut self) {
        if self.memory.is_empty() || !self.scratch.spill(&mut self.memory) {
            self.memory.lift_budget();
        }
    }

    fn file_index(&mut self, file: &Arc<str>) -> u16 {
        // Files come one after another: the last one is nearly always the one.
        // The same file's rows share one name: comparing pointers spares comparing text.
        let same = |known: &Arc<str>| Arc::ptr_eq(known, file) || known == file;
        let index = match self.files.iter().rposition(same) {
            Some(index) => index,
            None => {
                self.files.push(file.clone());
                self.files.len() - 1
            }
        };
        u16::try_from(index).unwrap_or(u16::MAX)
    }

    fn place(&self, (file, line): (u16, u32)) -> String {
        let file = self.files.get(usize::from(file)).map_or("?", |f| f);
        format!("{file}:{line}")
    }
}
