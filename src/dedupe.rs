//! Repeats within one run's input, across all its files: a second row with a `userId`
//! already seen is not sent (it fails as `duplicate of FILE:LINE`, naming the first), and
//! a repeated email is only a warning, since the API allows it.
//!
//! Memory: rows are never kept, only a 64-bit hash of each key, with the place it was
//! first seen for userIds (14 bytes) and nothing more for emails (8 bytes), in open
//! tables kept between 53% and 80% full, split in 64 shards so that growing one never
//! holds two copies of everything: about 33 bytes a row for both (7 MB for 200,000
//! rows, 33 MB for a million). The hash (foldhash) is seeded at random per run; two
//! different keys share a hash with a probability of about n²/2⁶⁵ (1 in 10⁷ for a
//! million rows).

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::DefaultHashBuilder;

use crate::payload::CreateCustomer;
use crate::record::{Origin, RowError};

/// Repeated emails logged one by one before the log only counts them.
const EMAILS_LOGGED: u64 = 20;
/// Shards of each table (a power of two).
const SHARDS: usize = 64;

/// An entry of an open table: a nonzero 64-bit hash (zero marks an empty slot).
trait Entry: Copy + Default {
    fn hash(&self) -> u64;
}

/// Where a userId was first seen: its hash split so the slot packs into 14 bytes.
#[derive(Clone, Copy, Default)]
#[repr(C, packed(2))]
struct Place {
    hash: [u32; 2],
    line: u32,
    file: u16,
}

impl Entry for Place {
    fn hash(&self) -> u64 {
        let [high, low] = self.hash;
        (u64::from(high) << 32) | u64::from(low)
    }
}

impl Entry for u64 {
    fn hash(&self) -> u64 {
        *self
    }
}

/// A set of hashes with linear probing. It grows by half when 80% full, not by
/// doubling, so it wastes less: a hash table's slack is most of its memory here.
struct Open<T> {
    slots: Vec<T>,
    len: usize,
}

impl<T: Entry> Open<T> {
    const FIRST: usize = 64;

    fn new() -> Self {
        Open {
            slots: Vec::new(),
            len: 0,
        }
    }

    /// The entry with `hash`, or the empty slot where it would go.
    fn probe(&self, hash: u64) -> usize {
        let size = self.slots.len();
        // The shard took the middle bits; the low 32 pick the slot, scaled to the size
        // by a multiplication (a division costs more than the rest of the probe).
        let mut at = (((hash & 0xFFFF_FFFF) * size as u64) >> 32) as usize;
        loop {
            let found = self.slots[at].hash();
            if found == hash || found == 0 {
                return at;
            }
            at += 1;
            if at == size {
                at = 0;
            }
        }
    }

    /// The entry already there, or None after inserting `entry`.
    fn get_or_insert(&mut self, entry: T) -> Option<T> {
        if (self.len + 1) * 5 > self.slots.len() * 4 {
            self.grow();
        }
        let at = self.probe(entry.hash());
        let slot = &mut self.slots[at];
        if slot.hash() != 0 {
            return Some(*slot);
        }
        *slot = entry;
        self.len += 1;
        None
    }

    fn grow(&mut self) {
        let size = (self.slots.len() + self.slots.len() / 2).max(Self::FIRST);
        let old = std::mem::replace(&mut self.slots, vec![T::default(); size]);
        for entry in old.into_iter().filter(|e| e.hash() != 0) {
            let at = self.probe(entry.hash());
            self.slots[at] = entry;
        }
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<T>()
    }
}

/// An [`Open`] table in shards picked by bits of the hash the slots do not use.
struct Sharded<T>(Vec<Open<T>>);

impl<T: Entry> Default for Sharded<T> {
    fn default() -> Self {
        Sharded((0..SHARDS).map(|_| Open::new()).collect())
    }
}

impl<T: Entry> Sharded<T> {
    fn get_or_insert(&mut self, entry: T) -> Option<T> {
        let shard = (entry.hash() >> 40) as usize & (SHARDS - 1);
        self.0[shard].get_or_insert(entry)
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.0.iter().map(Open::bytes).sum()
    }
}

/// A hash that is never 0, the empty slot's mark.
fn nonzero(hash: u64) -> u64 {
    hash.max(1)
}

/// The repeat detector of one run. Feed it every mapped row in input order.
#[derive(Default)]
pub struct Seen {
    /// foldhash, seeded at random per run.
    hasher: DefaultHashBuilder,
    user_ids: Sharded<Place>,
    emails: Sharded<u64>,
    /// The files met so far; slots name them by index.
    files: Vec<Arc<str>>,
    repeated_emails: u64,
    /// The email being looked up, lowercased (kept to spare an allocation a row).
    lowered: String,
}

impl Seen {
    /// A row's mapping result, turned into a failure when its `userId` repeats an
    /// earlier row's. Failed rows are not recorded: they are not sent, so a later row
    /// with the same `userId` is the first one the API sees.
    pub fn check(
        &mut self,
        origin: &Origin,
        mapped: Result<CreateCustomer, Vec<RowError>>,
    ) -> Result<CreateCustomer, Vec<RowError>> {
        let payload = mapped?;
        let file = self.file_index(&origin.file);
        let line = u32::try_from(origin.line).unwrap_or(u32::MAX);
        if let Some(user_id) = &payload.user_id {
            let hash = nonzero(self.hasher.hash_one(user_id.as_bytes()));
            let place = Place {
                hash: [(hash >> 32) as u32, hash as u32],
                line,
                file,
            };
            if let Some(first) = self.user_ids.get_or_insert(place) {
                let message = format!(
                    "userId {user_id:?} is a duplicate of {}",
                    self.place((first.file, first.line))
                );
                return Err(vec![RowError::new("userId", message)]);
            }
        }
        if let Some(email) = &payload.email {
            self.lowered.clear();
            if email.is_ascii() {
                self.lowered.push_str(email);
                self.lowered.make_ascii_lowercase();
            } else {
                self.lowered
                    .extend(email.chars().flat_map(char::to_lowercase));
            }
            let hash = nonzero(self.hasher.hash_one(self.lowered.as_bytes()));
            if self.emails.get_or_insert(hash).is_some() {
                self.repeated_emails += 1;
                if self.repeated_emails <= EMAILS_LOGGED {
                    tracing::warn!(
                        "{origin}: email {email:?} is in an earlier row too (the API allows it: a warning only)"
                    );
                } else if self.repeated_emails == EMAILS_LOGGED + 1 {
                    tracing::warn!("more repeated emails: the summary counts them");
                }
            }
        }
        Ok(payload)
    }

    /// Rows whose email an earlier row already had.
    pub fn repeated_emails(&self) -> u64 {
        self.repeated_emails
    }

    fn file_index(&mut self, file: &Arc<str>) -> u16 {
        // Files come one after another: the last one is nearly always the one.
        let index = match self.files.iter().rposition(|known| known == file) {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(file: &str, line: u64) -> Origin {
        Origin {
            file: file.into(),
            line,
        }
    }

    fn row(user_id: Option<&str>, email: Option<&str>) -> Result<CreateCustomer, Vec<RowError>> {
        Ok(CreateCustomer {
            user_id: user_id.map(Into::into),
            email: email.map(Into::into),
            ..CreateCustomer::default()
        })
    }

    fn messages(result: Result<CreateCustomer, Vec<RowError>>) -> Vec<String> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    #[test]
    fn a_repeated_user_id_fails_naming_the_first_place_across_files() {
        let mut seen = Seen::default();
        assert!(
            seen.check(&origin("a.csv", 2), row(Some("u1"), None))
                .is_ok()
        );
        assert!(
            seen.check(&origin("a.csv", 3), row(Some("u2"), None))
                .is_ok()
        );
        assert!(seen.check(&origin("a.csv", 4), row(None, None)).is_ok());
        assert!(seen.check(&origin("a.csv", 5), row(None, None)).is_ok());
        assert_eq!(
            messages(seen.check(&origin("a.csv", 9), row(Some("u1"), None))),
            [r#"userId "u1" is a duplicate of a.csv:2"#]
        );
        assert_eq!(
            messages(seen.check(&origin("b.ndjson", 1), row(Some("u2"), None))),
            [r#"userId "u2" is a duplicate of a.csv:3"#]
        );
        // userIds are compared exactly: the API tells "U1" from "u1".
        assert!(
            seen.check(&origin("b.ndjson", 2), row(Some("U1"), None))
                .is_ok()
        );
        assert_eq!(
            seen.check(&origin("b.ndjson", 3), row(Some("U1"), None))
                .unwrap_err()[0]
                .field
                .as_deref(),
            Some("userId")
        );
    }

    #[test]
    fn failed_rows_are_not_remembered() {
        let mut seen = Seen::default();
        let failed = Err(vec![RowError::new("email", "bad")]);
        assert_eq!(messages(seen.check(&origin("a.csv", 2), failed)), ["bad"]);
        assert!(
            seen.check(&origin("a.csv", 3), row(Some("u1"), None))
                .is_ok()
        );
    }

    #[test]
    fn a_repeated_email_is_only_counted() {
        let mut seen = Seen::default();
        for (line, email) in [(2, "a@x.io"), (3, "A@X.io"), (4, "b@x.io"), (5, "a@x.io")] {
            let user_id = format!("u{line}");
            assert!(
                seen.check(&origin("a.csv", line), row(Some(&user_id), Some(email)))
                    .is_ok()
            );
        }
        assert_eq!(seen.repeated_emails(), 2);
    }

    proptest::proptest! {
        #[test]
        fn the_open_table_is_a_set(hashes in proptest::collection::vec(1u64..400, 0..300)) {
            let mut table = Sharded::<u64>::default();
            let mut known = std::collections::HashSet::new();
            for hash in hashes {
                // Spread the small values over the shard and slot bits.
                let spread = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                proptest::prop_assert_eq!(table.get_or_insert(spread).is_some(), !known.insert(spread));
            }
        }
    }

    #[test]
    fn slots_stay_compact() {
        assert_eq!(std::mem::size_of::<Place>(), 14);
        let mut seen = Seen::default();
        for i in 0..200_000u64 {
            let user_id = format!("user-{i}");
            assert!(
                seen.check(&origin("big.csv", i + 2), row(Some(&user_id), None))
                    .is_ok()
            );
        }
        let bytes = seen.user_ids.bytes();
        assert!(
            bytes < 200_000 * 14 * 2,
            "{bytes} bytes for 200,000 userIds"
        );
        assert_eq!(seen.emails.bytes(), 0, "no emails yet");
        assert_eq!(
            messages(seen.check(&origin("big.csv", 1), row(Some("user-199999"), None))),
            [r#"userId "user-199999" is a duplicate of big.csv:200001"#]
        );
    }
}
