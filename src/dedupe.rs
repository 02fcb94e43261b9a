//! Repeats within one run's input, across all its files: a second row with a `userId`
//! already seen is not sent (it fails as `duplicate of FILE:LINE`, naming the first), and
//! a repeated email is only a warning, since the API allows it.
//!
//! Memory: rows are never kept, only a 64-bit hash of each key with the place it was
//! first seen, 14 bytes in a hash table (about 16 to 32 bytes a distinct key with the
//! table's slack): some 4 MB for 200,000 rows. The hash (foldhash) is seeded at random per
//! run, so no file can be crafted to collide; two different keys share a hash with a
//! probability of about n²/2⁶⁵ (1 in 10⁹ for a million rows).

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::payload::CreateCustomer;
use crate::record::{Origin, RowError};

/// Repeated emails logged one by one before the log only counts them.
const EMAILS_LOGGED: u64 = 20;

/// Where a key was first seen: its hash split so the slot packs into 14 bytes.
#[derive(Clone, Copy)]
#[repr(C, packed(2))]
struct Slot {
    hash: [u32; 2],
    line: u32,
    file: u16,
}

impl Slot {
    fn hash(self) -> u64 {
        let [high, low] = self.hash;
        (u64::from(high) << 32) | u64::from(low)
    }
}

/// Keys seen so far, with the first place of each.
#[derive(Default)]
struct Keys(HashTable<Slot>);

impl Keys {
    /// Records `hash` at (`file`, `line`), or returns where it was first seen.
    fn first_seen(&mut self, hash: u64, file: u16, line: u32) -> Option<(u16, u32)> {
        if let Some(slot) = self.0.find(hash, |slot| slot.hash() == hash) {
            return Some((slot.file, slot.line));
        }
        let slot = Slot {
            hash: [(hash >> 32) as u32, hash as u32],
            line,
            file,
        };
        self.0.insert_unique(hash, slot, |slot| slot.hash());
        None
    }
}

/// The repeat detector of one run. Feed it every mapped row in input order.
#[derive(Default)]
pub struct Seen {
    /// foldhash, seeded at random per run.
    hasher: DefaultHashBuilder,
    user_ids: Keys,
    emails: Keys,
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
            let hash = self.hasher.hash_one(user_id.as_bytes());
            if let Some(first) = self.user_ids.first_seen(hash, file, line) {
                let message = format!("userId {user_id:?} is a duplicate of {}", self.place(first));
                return Err(vec![RowError::new("userId", message)]);
            }
        }
        if let Some(email) = &payload.email {
            self.lowered.clear();
            if email.is_ascii() {
                self.lowered.push_str(email);
                self.lowered.make_ascii_lowercase();
            } else {
                self.lowered.extend(email.chars().flat_map(char::to_lowercase));
            }
            let hash = self.hasher.hash_one(self.lowered.as_bytes());
            if let Some(first) = self.emails.first_seen(hash, file, line) {
                self.repeated_emails += 1;
                if self.repeated_emails <= EMAILS_LOGGED {
                    tracing::warn!(
                        "{origin}: email {email:?} is also in {} (the API allows it: a warning only)",
                        self.place(first)
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

    #[test]
    fn slots_stay_compact() {
        assert_eq!(std::mem::size_of::<Slot>(), 14);
        let mut seen = Seen::default();
        for i in 0..200_000u64 {
            let user_id = format!("user-{i}");
            assert!(
                seen.check(&origin("big.csv", i + 2), row(Some(&user_id), None))
                    .is_ok()
            );
        }
        let bytes = seen.user_ids.0.allocation_size();
        assert!(bytes < 8 << 20, "{bytes} bytes for 200,000 userIds");
        assert_eq!(
            messages(seen.check(&origin("big.csv", 1), row(Some("user-199999"), None))),
            [r#"userId "user-199999" is a duplicate of big.csv:200001"#]
        );
    }
}
