//! What `--mode` does with one row, given what the state knows of its contact (pure).

use sha2::{Digest, Sha256};

use crate::payload::CreateCustomer;

/// How rows meet contacts that may exist already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Create every row; a taken userId is recorded as `exists` and left as it is.
    #[default]
    Create,
    /// Create new contacts, PATCH existing ones, send nothing for unchanged ones.
    Upsert,
    /// PATCH existing contacts only; a row with no contact fails as `not_found`.
    Update,
}

/// The SHA-256 of a payload's JSON: what the state remembers of the last one sent.
pub type Hash = [u8; 32];

/// Hashes the payload as it would be sent. Its fields serialize in a fixed order, so the
/// same row gives the same hash on every run.
pub fn hash(payload: &CreateCustomer) -> Hash {
    let json = serde_json::to_vec(payload).unwrap_or_default();
    Sha256::digest(&json).into()
}

/// The state's key for a row's contact: its userId (unique in HelpCrunch), else its email,
/// lowercased (emails compare without case). None: nothing to know the contact by.
pub fn key(payload: &CreateCustomer) -> Option<String> {
    match (&payload.user_id, &payload.email) {
        (Some(user_id), _) => Some(format!("userId:{user_id}")),
        (None, Some(email)) => Some(format!("email:{}", email.to_lowercase())),
        (None, None) => None,
    }
}

/// What the state holds for a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// HelpCrunch's id of the contact.
    pub id: i64,
    /// The hash of the last payload sent to it (created or updated).
    pub hash: Hash,
}

/// The first request for a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The last payload sent to this contact was this one: send nothing.
    Unchanged { id: i64 },
    /// A known contact with a changed payload: one PATCH.
    Patch { id: i64 },
    /// POST it. With `--mode upsert`, a taken userId is then looked up and patched.
    Create,
    /// Search for the contact first, then PATCH it; if there is none, create it when
    /// `create`, else the row fails as not found.
    Find { create: bool },
    /// `--mode update` and no userId or email: there is nothing to find it by.
    NotFound,
}

/// The plan for a row: `known` is what the state holds for its key (None when it holds
/// nothing, or the row has no key), `has_user_id` whether the payload has one.
///
/// A new row with a userId is created at once: if the contact exists, the API's
/// duplicate answer says so, at no extra cost for the new ones. Emails are not unique in
/// HelpCrunch (a create would make a second contact), so a row known by its email alone is
/// searched for first.
pub fn plan(
    mode: Mode,
    key: Option<&str>,
    known: Option<Known>,
    hash: &Hash,
    has_user_id: bool,
) -> Plan {
    match (mode, key, known) {
        (Mode::Create, _, _) => Plan::Create,
        (_, Some(_), Some(known)) if known.hash == *hash => Plan::Unchanged { id: known.id },
        (_, Some(_), Some(known)) => Plan::Patch { id: known.id },
        (Mode::Upsert, Some(_), None) if has_user_id => Plan::Create,
        (Mode::Upsert, Some(_), None) => Plan::Find { create: true },
        // Nothing to know it by: it can only be created, and is not tracked.
        (Mode::Upsert, None, _) => Plan::Create,
        (Mode::Update, Some(_), None) => Plan::Find { create: false },
        (Mode::Update, None, _) => Plan::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(user_id: Option<&str>, email: Option<&str>) -> CreateCustomer {
        CreateCustomer {
            user_id: user_id.map(String::from),
            email: email.map(String::from),
            name: Some("Ada".into()),
            ..CreateCustomer::default()
        }
    }

    const H1: Hash = [1; 32];
    const H2: Hash = [2; 32];

    fn known(hash: Hash) -> Option<Known> {
        Some(Known { id: 7, hash })
    }

    #[test]
    fn create_mode_always_creates_whatever_the_state_holds() {
        for k in [None, known(H1), known(H2)] {
            assert_eq!(
                plan(Mode::Create, Some("userId:u"), k, &H1, true),
                Plan::Create
            );
        }
        assert_eq!(plan(Mode::Create, None, None, &H1, false), Plan::Create);
    }

    #[test]
    fn a_known_contact_is_skipped_when_unchanged_and_patched_when_changed() {
        for mode in [Mode::Upsert, Mode::Update] {
            for has_user_id in [true, false] {
                assert_eq!(
                    plan(mode, Some("k"), known(H1), &H1, has_user_id),
                    Plan::Unchanged { id: 7 }
                );
                assert_eq!(
                    plan(mode, Some("k"), known(H1), &H2, has_user_id),
                    Plan::Patch { id: 7 }
                );
            }
        }
    }

    #[test]
    fn an_unknown_contact_is_created_by_user_id_and_searched_for_by_email() {
        assert_eq!(
            plan(Mode::Upsert, Some("userId:u"), None, &H1, true),
            Plan::Create
        );
        assert_eq!(
            plan(Mode::Upsert, Some("email:a@b.c"), None, &H1, false),
            Plan::Find { create: true }
        );
        assert_eq!(plan(Mode::Upsert, None, None, &H1, false), Plan::Create);
    }

    #[test]
    fn update_mode_never_creates() {
        for has_user_id in [true, false] {
            assert_eq!(
                plan(Mode::Update, Some("k"), None, &H1, has_user_id),
                Plan::Find { create: false }
            );
        }
        assert_eq!(plan(Mode::Update, None, None, &H1, false), Plan::NotFound);
    }

    #[test]
    fn keys_prefer_the_user_id_and_ignore_the_case_of_emails() {
        assert_eq!(
            key(&payload(Some("u1"), Some("A@B.c"))).as_deref(),
            Some("userId:u1")
        );
        assert_eq!(
            key(&payload(None, Some("A@B.c"))).as_deref(),
            Some("email:a@b.c")
        );
        assert_eq!(key(&payload(None, None)), None);
    }

    #[test]
    fn the_hash_follows_every_field_and_nothing_else() {
        let a = payload(Some("u1"), Some("a@b.c"));
        assert_eq!(hash(&a), hash(&a.clone()));
        let mut renamed = a.clone();
        renamed.name = Some("Ada L.".into());
        assert_ne!(hash(&a), hash(&renamed));
        let mut tagged = a.clone();
        tagged.tags.push(crate::payload::Tag {
            name: "vip".into(),
            color: None,
        });
        assert_ne!(hash(&a), hash(&tagged));
    }
}
