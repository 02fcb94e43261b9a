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

mod table;
#[cfg(test)]
mod tests;

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::DefaultHashBuilder;

use crate::payload::CreateCustomer;
use crate::record::{Origin, RowError};
use table::{Place, Sharded};

/// Repeated emails logged one by one before the log only counts them.
const EMAILS_LOGGED: u64 = 20;

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
            if let Some(first) = self.user_ids.get_or_insert(Place::new(hash, file, line)) {
                let message = format!(
                    "userId {user_id:?} is a duplicate of {}",
                    self.place((first.file(), first.line()))
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
