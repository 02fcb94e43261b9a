//! The account index: what HelpCrunch holds already, listed once (`GET /customers`, 100
//! contacts a request) into the sync state, so a first sync compares each row with its
//! contact instead of spending a lookup (or three) on it, and a create run into a used
//! account does not duplicate people.
//!
//! Each contact is kept by its HelpCrunch id with its userId, its email (lowercased:
//! emails compare without case) and the fields the importer writes, as HelpCrunch answered
//! them ([`CreateCustomer::FIELDS`]): enough to tell whether a row would change it, and
//! what it held before a run changed it. The listing is committed a page at a time, so a
//! killed run resumes it where it stopped, and memory holds a page, never the account.
//! Each listing is numbered: when one completes, the contacts it did not see (deleted
//! from HelpCrunch since an earlier one) are dropped.

use rusqlite::{OptionalExtension, params};
use serde_json::{Map, Value};

use super::{State, StateError};
use crate::payload::CreateCustomer;
use crate::restore::Before;

pub(super) const SCHEMA: &str = "
-- one row per contact of the account, as the last listing (or this importer's own
-- writes since) saw it
CREATE TABLE IF NOT EXISTS account (
    id      INTEGER PRIMARY KEY,
    user_id TEXT,
    email   TEXT,
    contact TEXT NOT NULL,
    -- the listing that last saw it (meta index_listing): one a listing did not see is
    -- gone from HelpCrunch, and dropped when that listing completes
    listed  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS account_user_id ON account (user_id);
CREATE INDEX IF NOT EXISTS account_email ON account (email);
";

/// How far the account has been listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexStatus {
    /// Never listed.
    Absent,
    /// A listing began and stopped: it goes on from `offset`.
    Listing { offset: u64 },
    /// Listed to the end, at `listed_at` (UTC, `YYYY-MM-DD HH:MM:SS`).
    Complete { contacts: u64, listed_at: String },
}

/// A contact the index holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Indexed {
    pub id: i64,
    /// Its writable fields as HelpCrunch answered them.
    pub contact: Map<String, Value>,
}

/// A contact of a listing page, as the index keeps it; None for an entry with no id.
pub fn entry(customer: &Map<String, Value>) -> Option<Indexed> {
    let id = customer.get("id")?.as_i64()?;
    let contact = CreateCustomer::FIELDS
        .iter()
        .filter_map(|&field| {
            let value = customer.get(field)?;
            (!value.is_null()).then(|| (field.to_string(), value.clone()))
        })
        .collect();
    Some(Indexed { id, contact })
}

/// The number of the listing under way, or of the last one (0: none yet).
fn current_listing(c: &rusqlite::Connection) -> rusqlite::Result<i64> {
    let listing: Option<String> = c
        .query_row(
            "SELECT value FROM meta WHERE name = 'index_listing'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    Ok(listing.and_then(|n| n.parse().ok()).unwrap_or(0))
}

fn text<'a>(contact: &'a Map<String, Value>, field: &str) -> Option<&'a str> {
    contact.get(field).and_then(Value::as_str)
}

impl State {
    pub async fn index_status(&self) -> Result<IndexStatus, StateError> {
        self.blocking(|c| {
            let meta = |name: &str| -> rusqlite::Result<Option<String>> {
                c.query_row("SELECT value FROM meta WHERE name = ?1", [name], |row| {
                    row.get(0)
                })
                .optional()
            };
            let offset = meta("index_offset")?
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            Ok(
                match (meta("index")?.as_deref(), meta("index_listed_at")?) {
                    (Some("complete"), Some(listed_at)) => {
                        let contacts: i64 =
                            c.query_row("SELECT COUNT(*) FROM account", [], |row| row.get(0))?;
                        IndexStatus::Complete {
                            contacts: u64::try_from(contacts).unwrap_or(0),
                            listed_at,
                        }
                    }
                    (Some("listing"), _) => IndexStatus::Listing { offset },
                    _ => IndexStatus::Absent,
                },
            )
        })
        .await
    }

    /// Stores one listing page and where the next one starts, in one transaction: a run
    /// killed between pages goes on from the next.
    pub async fn index_page(
        &self,
        contacts: Vec<Indexed>,
        next_offset: u64,
    ) -> Result<(), StateError> {
        self.blocking(move |c| {
            let transaction = c.unchecked_transaction()?;
            {
                let listing = current_listing(&transaction)?;
                let mut insert = transaction.prepare_cached(
                    "INSERT OR REPLACE INTO account (id, user_id, email, contact, listed)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for Indexed { id, contact } in &contacts {
                    let email = text(contact, "email").map(str::to_lowercase);
                    let json = serde_json::to_string(contact).unwrap_or_default();
                    insert.execute(params![id, text(contact, "userId"), email, json, listing])?;
                }
                let mut meta = transaction
                    .prepare_cached("INSERT OR REPLACE INTO meta (name, value) VALUES (?1, ?2)")?;
                meta.execute(params!["index", "listing"])?;
                meta.execute(params!["index_offset", next_offset.to_string()])?;
                meta.execute(params!["index_listing", listing.to_string()])?;
            }
            transaction.commit()
        })
        .await
    }

    /// Marks the listing complete, dropping the contacts it did not see: gone from
    /// HelpCrunch since an earlier listing.
    pub async fn index_complete(&self) -> Result<(), StateError> {
        self.blocking(|c| {
            let listing = current_listing(c)?;
            c.execute("DELETE FROM account WHERE listed != ?1", [listing])?;
            c.execute_batch(
                "INSERT OR REPLACE INTO meta (name, value) VALUES ('index', 'complete');
                 INSERT OR REPLACE INTO meta (name, value)
                     VALUES ('index_listed_at', datetime('now'));
                 DELETE FROM meta WHERE name = 'index_offset';",
            )
        })
        .await
    }

    /// Starts a new listing from the first page (`--index always`), keeping what is known
    /// until its pages replace it, or its completion drops what it did not see.
    pub async fn index_restart(&self) -> Result<(), StateError> {
        self.blocking(|c| {
            let next = current_listing(c)? + 1;
            c.execute(
                "INSERT OR REPLACE INTO meta (name, value)
                 VALUES ('index', 'listing'), ('index_offset', '0'), ('index_listing', ?1)",
                [next.to_string()],
            )?;
            Ok(())
        })
        .await
    }

    /// The contact the index holds for a row: by its userId, else by its email (of
    /// several with that email, the newest, as a lookup takes) when the row has no userId
    /// or `email_too`.
    pub async fn index_lookup(
        &self,
        user_id: Option<String>,
        email: Option<String>,
        email_too: bool,
    ) -> Result<Option<Indexed>, StateError> {
        self.blocking(move |c| {
            let by = |column: &str, value: String| {
                c.prepare_cached(&format!(
                    "SELECT id, contact FROM account WHERE {column} = ?1 ORDER BY id DESC"
                ))?
                .query_row([value], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
                })
                .optional()
            };
            let mut found = None;
            if let Some(user_id) = &user_id {
                found = by("user_id", user_id.clone())?;
            }
            if let (None, Some(email)) = (&found, email)
                && (user_id.is_none() || email_too)
            {
                found = by("email", email.to_lowercase())?;
            }
            Ok(found.and_then(|(id, json)| {
                // A row that is not a JSON object is never written; it reads as unknown.
                let contact = serde_json::from_str::<Map<String, Value>>(&json).ok()?;
                Some(Indexed { id, contact })
            }))
        })
        .await
    }

    /// Records what the importer just wrote to contact `id`, so the index stays true to
    /// the account: `sent`'s fields over what it held (tags added to its tags).
    pub async fn index_wrote(&self, id: i64, sent: &CreateCustomer) -> Result<(), StateError> {
        let Ok(Value::Object(sent)) = serde_json::to_value(sent) else {
            return Ok(());
        };
        self.blocking(move |c| {
            let held: Option<String> = c
                .prepare_cached("SELECT contact FROM account WHERE id = ?1")?
                .query_row([id], |row| row.get(0))
                .optional()?;
            let mut contact = held
                .and_then(|json| serde_json::from_str::<Map<String, Value>>(&json).ok())
                .unwrap_or_default();
            merge(&mut contact, sent);
            let email = text(&contact, "email").map(str::to_lowercase);
            // Seen as it is now: a listing under way keeps it when it completes.
            c.prepare_cached(
                "INSERT OR REPLACE INTO account (id, user_id, email, contact, listed)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                id,
                text(&contact, "userId"),
                email,
                serde_json::to_string(&contact).unwrap_or_default(),
                current_listing(c)?
            ])?;
            Ok(())
        })
        .await
    }
}

impl State {
    /// Records that an undo put `before` back into contact `id`: the account index holds
    /// its earlier values again (so a later update can still be undone).
    pub async fn index_restored(&self, id: i64, before: Before) -> Result<(), StateError> {
        self.blocking(move |c| {
            let held: Option<String> = c
                .prepare_cached("SELECT contact FROM account WHERE id = ?1")?
                .query_row([id], |row| row.get(0))
                .optional()?;
            let Some(mut contact) =
                held.and_then(|json| serde_json::from_str::<Map<String, Value>>(&json).ok())
            else {
                return Ok(());
            };
            put_back(&mut contact, &before);
            let email = text(&contact, "email").map(str::to_lowercase);
            c.prepare_cached(
                "UPDATE account SET user_id = ?2, email = ?3, contact = ?4 WHERE id = ?1",
            )?
            .execute(params![
                id,
                text(&contact, "userId"),
                email,
                serde_json::to_string(&contact).unwrap_or_default(),
            ])?;
            Ok(())
        })
        .await
    }
}

/// `before` put back into `contact` (an answer's form): each field as it was (a `null`
/// one absent), each customData property as it was, the tags an update added taken off.
fn put_back(contact: &mut Map<String, Value>, before: &Before) {
    for (field, value) in &before.fields {
        if value.is_null() {
            contact.remove(field);
        } else {
            contact.insert(field.clone(), value.clone());
        }
    }
    if let Some(Value::Object(data)) = contact.get_mut("customData") {
        for (property, value) in &before.custom_data {
            data.insert(property.clone(), value.clone());
        }
    }
    if let Some(Value::Array(tags)) = contact.get_mut("tags") {
        tags.retain(|tag| {
            let name = tag.get("name").and_then(Value::as_str).unwrap_or_default();
            !before.tags_added.iter().any(|added| added == name)
        });
    }
}

/// `sent` (a payload's JSON) written over `contact` (an answer's form): fields replaced,
/// customData properties set one by one, tags added by name.
fn merge(contact: &mut Map<String, Value>, sent: Map<String, Value>) {
    for (field, value) in sent {
        match field.as_str() {
            "customData" => {
                let data = contact
                    .entry("customData")
                    .or_insert_with(|| Value::Object(Map::new()));
                if !data.is_object() {
                    *data = Value::Object(Map::new());
                }
                if let Value::Object(data) = data {
                    for item in value.as_array().into_iter().flatten() {
                        if let (Some(property), Some(value)) = (
                            item.get("property").and_then(Value::as_str),
                            item.get("value"),
                        ) {
                            data.insert(property.to_string(), value.clone());
                        }
                    }
                }
            }
            "tags" => {
                let tags = contact
                    .entry("tags")
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !tags.is_array() {
                    *tags = Value::Array(Vec::new());
                }
                if let Value::Array(tags) = tags {
                    for tag in value.as_array().into_iter().flatten() {
                        let name = tag.get("name");
                        if !tags.iter().any(|held| held.get("name") == name) {
                            tags.push(tag.clone());
                        }
                    }
                }
            }
            _ => {
                contact.insert(field, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::payload::{CustomDatum, CustomValue, Tag};

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn an_entry_keeps_the_writable_fields_and_leaves_nulls_and_the_rest_out() {
        let customer = object(json!({
            "id": 7, "name": "Ada", "email": "Ada@Example.com", "phone": null,
            "location": {"city": "London"}, "customData": {"plan": "pro"}
        }));
        let entry = entry(&customer).expect("has an id");
        assert_eq!(entry.id, 7);
        assert_eq!(
            Value::Object(entry.contact),
            json!({"name": "Ada", "email": "Ada@Example.com", "customData": {"plan": "pro"}})
        );
        assert_eq!(entry_without_id(), None);
    }

    fn entry_without_id() -> Option<Indexed> {
        entry(&object(json!({"name": "no id"})))
    }

    #[tokio::test]
    async fn a_listing_resumes_page_by_page_and_finds_contacts_by_user_id_else_email() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.db");
        let state = State::open(&path, "http://a/v1").expect("open");
        assert_eq!(state.index_status().await.ok(), Some(IndexStatus::Absent));
        let page = |ids: std::ops::Range<i64>| {
            ids.map(|id| Indexed {
                id,
                contact: object(
                    json!({"userId": format!("u{id}"), "email": format!("U{id}@x.io")}),
                ),
            })
            .collect::<Vec<_>>()
        };
        state.index_page(page(1..3), 2).await.expect("page");
        drop(state);
        // A killed listing goes on where it stopped.
        let state = State::open(&path, "http://a/v1").expect("reopen");
        assert_eq!(
            state.index_status().await.ok(),
            Some(IndexStatus::Listing { offset: 2 })
        );
        state.index_page(page(3..5), 4).await.expect("page");
        state.index_complete().await.expect("complete");
        assert!(matches!(
            state.index_status().await,
            Ok(IndexStatus::Complete { contacts: 4, .. })
        ));
        let found = |user_id: Option<&str>, email: Option<&str>| {
            let state = state.clone();
            let (user_id, email) = (user_id.map(String::from), email.map(String::from));
            async move {
                state
                    .index_lookup(user_id, email, false)
                    .await
                    .expect("lookup")
                    .map(|i| i.id)
            }
        };
        assert_eq!(found(Some("u3"), None).await, Some(3));
        assert_eq!(
            found(None, Some("u4@X.IO")).await,
            Some(4),
            "emails without case"
        );
        assert_eq!(
            found(Some("u9"), Some("u4@x.io")).await,
            None,
            "a userId decides"
        );
        assert_eq!(found(None, None).await, None);
        // A create run stops at a contact holding the row's email, whatever its userId.
        assert_eq!(
            state
                .index_lookup(Some("u9".into()), Some("U4@x.io".into()), true)
                .await
                .expect("lookup")
                .map(|i| i.id),
            Some(4),
            "a create run's email fallback"
        );
        assert_eq!(
            state
                .index_lookup(Some("u3".into()), Some("u4@x.io".into()), true)
                .await
                .expect("lookup")
                .map(|i| i.id),
            Some(3),
            "its userId first"
        );
    }

    #[tokio::test]
    async fn a_new_listing_drops_the_contacts_it_no_longer_sees() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = State::open(&dir.path().join("state.db"), "http://a/v1").expect("open");
        let contact = |id: i64| Indexed {
            id,
            contact: object(json!({"email": format!("c{id}@x.io")})),
        };
        state
            .index_page(vec![contact(1), contact(2), contact(3)], 3)
            .await
            .expect("page");
        state.index_complete().await.expect("complete");
        // Contact 2 was deleted from HelpCrunch; the listing is done again.
        state.index_restart().await.expect("restart");
        state.index_page(vec![contact(1)], 1).await.expect("page");
        // Until it completes, what was known stands.
        assert!(
            state
                .index_lookup(None, Some("c2@x.io".into()), false)
                .await
                .expect("lookup")
                .is_some()
        );
        state.index_page(vec![contact(3)], 2).await.expect("page");
        state.index_complete().await.expect("complete");
        assert!(matches!(
            state.index_status().await,
            Ok(IndexStatus::Complete { contacts: 2, .. })
        ));
        assert_eq!(
            state
                .index_lookup(None, Some("c2@x.io".into()), false)
                .await
                .ok(),
            Some(None)
        );
    }

    #[tokio::test]
    async fn what_the_importer_writes_keeps_the_index_true() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = State::open(&dir.path().join("state.db"), "http://a/v1").expect("open");
        let held = Indexed {
            id: 9,
            contact: object(json!({
                "email": "a@x.io", "name": "Ada", "tags": [{"name": "agent", "color": "#fff"}],
                "customData": {"set_by_agent": "yes"}
            })),
        };
        state.index_page(vec![held], 1).await.expect("page");
        let sent = CreateCustomer {
            name: Some("Ada L.".into()),
            user_id: Some("u9".into()),
            tags: vec![Tag::named("agent"), Tag::named("crm")],
            custom_data: vec![CustomDatum {
                property: "plan".into(),
                value: CustomValue::Text("pro".into()),
            }],
            ..CreateCustomer::default()
        };
        state.index_wrote(9, &sent).await.expect("wrote");
        let now = state
            .index_lookup(Some("u9".into()), None, false)
            .await
            .expect("lookup")
            .expect("found by its new userId");
        assert_eq!(
            Value::Object(now.contact),
            json!({
                "email": "a@x.io", "name": "Ada L.", "userId": "u9",
                "tags": [{"name": "agent", "color": "#fff"}, {"name": "crm"}],
                "customData": {"set_by_agent": "yes", "plan": "pro"}
            })
        );
    }

    #[test]
    fn put_back_restores_fields_custom_data_and_takes_off_added_tags() {
        let mut contact = object(json!({
            "name": "Ada L.", "phone": "+1", "customData": {"plan": "pro", "new": 1},
            "tags": [{"name": "agent"}, {"name": "crm"}]
        }));
        let before = Before {
            fields: object(json!({"name": "Ada", "phone": null})),
            custom_data: object(json!({"plan": "free"})),
            custom_data_added: vec!["new".into()],
            tags_added: vec!["crm".into()],
        };
        put_back(&mut contact, &before);
        assert_eq!(
            Value::Object(contact),
            json!({
                "name": "Ada", "customData": {"plan": "free", "new": 1},
                "tags": [{"name": "agent"}]
            })
        );
    }
}
