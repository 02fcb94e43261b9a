//! What `--mode` does with one row, given what the state knows of its contact (pure).

use sha2::{Digest, Sha256};

use serde_json::{Map, Value};

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

/// A SHA-256: what the state remembers of what was last sent.
pub type Hash = [u8; 32];

/// A payload's hashes, apart for its tags: they are sent apart (through the tag endpoint,
/// which only adds), so a row whose tags alone changed costs one tag request, and one
/// whose other fields alone changed one PATCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hashes {
    /// Every field but the tags, as they would be sent. They serialize in a fixed order, so
    /// the same row gives the same hash on every run (and, for a row with no tags, the
    /// hash of the whole payload that earlier versions kept).
    pub fields: Hash,
    /// The tags; None when the row has none (there is nothing to add).
    pub tags: Option<Hash>,
}

/// Hashes the payload as it would be sent.
pub fn hashes(payload: &CreateCustomer) -> Hashes {
    let digest = |json: Vec<u8>| -> Hash { Sha256::digest(&json).into() };
    let fields = if payload.tags.is_empty() {
        digest(serde_json::to_vec(payload).unwrap_or_default())
    } else {
        let untagged = CreateCustomer {
            tags: Vec::new(),
            ..payload.clone()
        };
        digest(serde_json::to_vec(&untagged).unwrap_or_default())
    };
    let tags = (!payload.tags.is_empty())
        .then(|| digest(serde_json::to_vec(&payload.tags).unwrap_or_default()));
    Hashes { fields, tags }
}

/// The state's key for a row's contact: its userId (unique in HelpCrunch), else its email,
/// lowercased (emails compare without case). None: nothing to know the contact by.
pub fn key(payload: &CreateCustomer) -> Option<String> {
    keys(payload).next()
}

/// Every key a row's contact may be known by: its userId's, then its email's.
pub fn keys(payload: &CreateCustomer) -> impl Iterator<Item = String> + use<> {
    keys_of(payload.user_id.as_deref(), payload.email.as_deref())
}

/// The keys of a contact with `user_id` and `email` (as far as they are known).
pub fn keys_of(user_id: Option<&str>, email: Option<&str>) -> impl Iterator<Item = String> + use<> {
    let user_id = user_id.map(|u| format!("userId:{u}"));
    let email = email.map(|e| format!("email:{}", e.to_lowercase()));
    user_id.into_iter().chain(email)
}

/// What of a row differs from what the state last sent its contact.
fn parts_changed(known: &Known, hashes: &Hashes) -> Parts {
    Parts {
        fields: known.hash != hashes.fields,
        // Tags are only ever added: a row with none has none to send.
        tags: hashes.tags.is_some() && known.tags != hashes.tags,
    }
}

/// Whether a row differs from what the state last sent its contact.
pub fn changed(known: &Known, hashes: &Hashes) -> bool {
    let parts = parts_changed(known, hashes);
    parts.fields || parts.tags
}

/// What the state holds for a contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// HelpCrunch's id of the contact.
    pub id: i64,
    /// The hash of the fields last sent to it (created or updated), tags left out.
    pub hash: Hash,
    /// The hash of the tags last sent to it; None: none sent, or not known (a state
    /// written before tags were kept apart).
    pub tags: Option<Hash>,
}

impl Known {
    pub fn new(id: i64, hashes: Hashes) -> Known {
        Known {
            id,
            hash: hashes.fields,
            tags: hashes.tags,
        }
    }
}

/// The first request for a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The last payload sent to this contact was this one: send nothing.
    Unchanged { id: i64 },
    /// A known contact with a changed payload: a PATCH when `fields` changed, the tags
    /// added when `tags` changed (a request each).
    Patch { id: i64, parts: Parts },
    /// POST it. With `--mode upsert`, a taken userId is then looked up and patched.
    Create,
    /// `--mode create`, and the account index holds a contact with the row's userId or
    /// email: nothing is sent, the row is `exists`.
    Exists { id: i64 },
    /// Search for the contact first, then PATCH it; if there is none, create it when
    /// `create`, else the row fails as not found.
    Find { create: bool },
    /// `--mode update` and no userId or email: there is nothing to find it by.
    NotFound,
}

/// What of a row an update sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    /// The fields other than tags: a PATCH.
    pub fields: bool,
    /// The tags: added through the tag endpoint (or, with `tags = "replace"`, in the PATCH).
    pub tags: bool,
}

impl Parts {
    /// Everything: for a contact whose values the state does not know.
    pub const ALL: Parts = Parts {
        fields: true,
        tags: true,
    };
}

/// A contact the account index holds for a row, and what the row would change in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    pub id: i64,
    pub changes: Parts,
}

/// What a row would change in a contact that holds `contact` (its fields as HelpCrunch
/// answers them): the fields whose values differ or are missing, and the tags it lacks.
pub fn changes(payload: &CreateCustomer, contact: &Map<String, Value>) -> Parts {
    let differences = crate::readback::after_create(payload, contact);
    let tag = |field: &str| field.starts_with("tag ");
    Parts {
        fields: differences.iter().any(|d| !tag(&d.field)),
        tags: differences.iter().any(|d| tag(&d.field)),
    }
}

/// The plan for a row: `known` is what the state holds for its key (None when it holds
/// nothing, or the row has no key), `has_user_id` whether the payload has one, `found`
/// the contact the account index holds for it (None: none, or no index).
///
/// A new row with a userId is created at once: if the contact exists, the API's
/// duplicate answer says so, at no extra cost for the new ones. Emails are not unique in
/// HelpCrunch (a create would make a second contact), so a row known by its email alone is
/// searched for first.
pub fn plan(
    mode: Mode,
    key: Option<&str>,
    known: Option<Known>,
    hashes: &Hashes,
    has_user_id: bool,
    found: Option<Found>,
) -> Plan {
    match (mode, key, known) {
        // A contact this state knows (an earlier run created or found it), or the index
        // holds: created again, an email-only row would be a second contact.
        (Mode::Create, _, Some(known)) => Plan::Exists { id: known.id },
        (Mode::Create, ..) => match found {
            Some(found) => Plan::Exists { id: found.id },
            None => Plan::Create,
        },
        (_, Some(_), Some(known)) => {
            let parts = parts_changed(&known, hashes);
            if parts.fields || parts.tags {
                Plan::Patch {
                    id: known.id,
                    parts,
                }
            } else {
                Plan::Unchanged { id: known.id }
            }
        }
        // The state has never sent to it, but the index knows it: what it holds decides.
        (_, Some(_), None) if found.is_some() => match found {
            Some(Found { id, changes }) if changes.fields || changes.tags => {
                Plan::Patch { id, parts: changes }
            }
            Some(Found { id, .. }) => Plan::Unchanged { id },
            None => Plan::Create,
        },
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

    const H1: Hashes = Hashes {
        fields: [1; 32],
        tags: None,
    };
    const H2: Hashes = Hashes {
        fields: [2; 32],
        tags: None,
    };

    fn known(hashes: Hashes) -> Option<Known> {
        Some(Known::new(7, hashes))
    }

    #[test]
    fn create_mode_creates_only_what_the_state_does_not_know() {
        assert_eq!(
            plan(Mode::Create, Some("userId:u"), None, &H1, true, None),
            Plan::Create
        );
        // A second create run over the same file: an email-only row created again would
        // be a second contact (emails are not unique in HelpCrunch).
        for (key, has_user_id) in [("userId:u", true), ("email:a@b.c", false)] {
            for k in [known(H1), known(H2)] {
                assert_eq!(
                    plan(Mode::Create, Some(key), k, &H1, has_user_id, None),
                    Plan::Exists { id: 7 }
                );
            }
        }
        assert_eq!(
            plan(Mode::Create, None, None, &H1, false, None),
            Plan::Create
        );
    }

    #[test]
    fn a_known_contact_is_skipped_when_unchanged_and_patched_when_changed() {
        for mode in [Mode::Upsert, Mode::Update] {
            for has_user_id in [true, false] {
                assert_eq!(
                    plan(mode, Some("k"), known(H1), &H1, has_user_id, None),
                    Plan::Unchanged { id: 7 }
                );
                assert_eq!(
                    plan(mode, Some("k"), known(H1), &H2, has_user_id, None),
                    Plan::Patch {
                        id: 7,
                        parts: Parts {
                            fields: true,
                            tags: false
                        }
                    }
                );
            }
        }
    }

    #[test]
    fn tags_are_sent_only_when_they_changed_and_never_to_take_some_away() {
        let tagged = |tags: u8| Hashes {
            fields: [1; 32],
            tags: Some([tags; 32]),
        };
        let plan =
            |known, hashes: &Hashes| plan(Mode::Upsert, Some("k"), known, hashes, true, None);
        assert_eq!(
            plan(known(tagged(5)), &tagged(5)),
            Plan::Unchanged { id: 7 }
        );
        let tags_only = Parts {
            fields: false,
            tags: true,
        };
        assert_eq!(
            plan(known(tagged(5)), &tagged(6)),
            Plan::Patch {
                id: 7,
                parts: tags_only
            }
        );
        // Tags not known (an older state): added once.
        assert_eq!(
            plan(known(H1), &tagged(5)),
            Plan::Patch {
                id: 7,
                parts: tags_only
            }
        );
        // The row lost its tags: nothing to add, and nothing is taken away.
        assert_eq!(plan(known(tagged(5)), &H1), Plan::Unchanged { id: 7 });
    }

    #[test]
    fn an_unknown_contact_is_created_by_user_id_and_searched_for_by_email() {
        assert_eq!(
            plan(Mode::Upsert, Some("userId:u"), None, &H1, true, None),
            Plan::Create
        );
        assert_eq!(
            plan(Mode::Upsert, Some("email:a@b.c"), None, &H1, false, None),
            Plan::Find { create: true }
        );
        assert_eq!(
            plan(Mode::Upsert, None, None, &H1, false, None),
            Plan::Create
        );
    }

    #[test]
    fn update_mode_never_creates() {
        for has_user_id in [true, false] {
            assert_eq!(
                plan(Mode::Update, Some("k"), None, &H1, has_user_id, None),
                Plan::Find { create: false }
            );
        }
        assert_eq!(
            plan(Mode::Update, None, None, &H1, false, None),
            Plan::NotFound
        );
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
    fn the_hashes_follow_every_field_and_nothing_else() {
        let a = payload(Some("u1"), Some("a@b.c"));
        assert_eq!(hashes(&a), hashes(&a.clone()));
        // Untagged, the fields' hash is the whole payload's, as earlier states kept it.
        let whole: Hash = Sha256::digest(serde_json::to_vec(&a).expect("json")).into();
        assert_eq!(hashes(&a).fields, whole);
        assert_eq!(hashes(&a).tags, None);
        let mut renamed = a.clone();
        renamed.name = Some("Ada L.".into());
        assert_ne!(hashes(&a).fields, hashes(&renamed).fields);
        let mut tagged = a.clone();
        tagged.tags.push(crate::payload::Tag::named("vip"));
        assert_eq!(hashes(&a).fields, hashes(&tagged).fields);
        assert!(hashes(&tagged).tags.is_some());
    }

    #[test]
    fn a_contact_the_index_holds_is_left_alone_updated_or_counted_as_existing() {
        let found = |fields: bool, tags: bool| {
            Some(Found {
                id: 42,
                changes: Parts { fields, tags },
            })
        };
        // --mode create: an indexed contact exists; nothing is sent.
        assert_eq!(
            plan(
                Mode::Create,
                Some("email:a@b.c"),
                None,
                &H1,
                false,
                found(true, true)
            ),
            Plan::Exists { id: 42 }
        );
        for mode in [Mode::Upsert, Mode::Update] {
            assert_eq!(
                plan(mode, Some("userId:u"), None, &H1, true, found(false, false)),
                Plan::Unchanged { id: 42 }
            );
            assert_eq!(
                plan(mode, Some("userId:u"), None, &H1, true, found(false, true)),
                Plan::Patch {
                    id: 42,
                    parts: Parts {
                        fields: false,
                        tags: true
                    }
                }
            );
            // What this state sent last decides over the index.
            assert_eq!(
                plan(
                    mode,
                    Some("userId:u"),
                    known(H1),
                    &H1,
                    true,
                    found(true, true)
                ),
                Plan::Unchanged { id: 7 }
            );
        }
    }

    #[test]
    fn a_row_changes_the_fields_that_differ_and_the_tags_that_are_missing() {
        let parts = |fields, tags| Parts { fields, tags };
        let contact = serde_json::json!({
            "name": "Ada", "email": "ADA@b.c", "company": "set by an agent",
            "tags": [{"name": "vip", "color": "#fff"}, {"name": "agent"}],
            "customData": {"plan": "pro", "seats": 5}
        });
        let contact = contact.as_object().cloned().unwrap_or_default();
        let mut row = payload(None, Some("ada@b.c"));
        assert_eq!(changes(&row, &contact), parts(false, false));
        row.tags.push(crate::payload::Tag::named("vip"));
        assert_eq!(changes(&row, &contact), parts(false, false));
        row.tags.push(crate::payload::Tag::named("new"));
        assert_eq!(changes(&row, &contact), parts(false, true));
        row.tags.clear();
        row.phone = Some("+1 555".into());
        assert_eq!(changes(&row, &contact), parts(true, false));
    }
}
