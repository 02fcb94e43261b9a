//! The stored customers, with `userId` kept unique as HelpCrunch does.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Map, Value, json};

use std::time::{Duration, Instant};

use super::PatchCollections;
use super::index::Index;
use super::search::{Page, Search};
use super::validate::{FIELDS, FieldError, Fields};

/// The first id handed out; later ones count up from it.
const FIRST_ID: u64 = 1_000_001;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreError {
    NotFound(u64),
    DuplicateUserId,
}

/// How an update treats the fields it does not send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Update {
    /// `PATCH`: they keep their values; the `tags` and `customData` it sends replace or
    /// merge with the customer's.
    Patch(PatchCollections),
    /// `PUT`: they become null.
    Replace,
}

/// What the tag endpoints do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagChange {
    Add,
    Remove,
}

/// Customers by id, each the full object the API answers with.
#[derive(Debug)]
pub(crate) struct Store {
    next_id: u64,
    customers: BTreeMap<u64, Customer>,
    /// `userId` → id, so the duplicate check stays cheap with many contacts (and immediate,
    /// like a database constraint, whatever the search delay).
    by_user_id: HashMap<String, u64>,
    /// With a search delay: what search sees, lagging the writes.
    index: Option<Index>,
}

type Customer = Map<String, Value>;

impl Default for Store {
    fn default() -> Store {
        Store {
            next_id: FIRST_ID,
            customers: BTreeMap::new(),
            by_user_id: HashMap::new(),
            index: None,
        }
    }
}

impl Store {
    /// From now on, writes show up in search `delay` after they are made (at once for
    /// zero).
    pub(crate) fn lag_search(&mut self, delay: Duration) {
        self.index = (!delay.is_zero()).then(|| Index::new(delay));
    }

    pub(crate) fn len(&self) -> usize {
        self.customers.len()
    }

    pub(crate) fn all(&self) -> Vec<Value> {
        self.customers
            .values()
            .cloned()
            .map(Value::Object)
            .collect()
    }

    pub(crate) fn get(&self, id: u64) -> Option<Value> {
        self.customers.get(&id).cloned().map(Value::Object)
    }

    pub(crate) fn create(&mut self, fields: Fields) -> Result<Value, StoreError> {
        let user_id = user_id_of(&fields);
        if let Some(user_id) = &user_id
            && self.by_user_id.contains_key(user_id)
        {
            return Err(StoreError::DuplicateUserId);
        }
        let id = self.next_id;
        self.next_id += 1;
        let mut customer = Map::new();
        customer.insert("id".into(), id.into());
        for (field, _) in FIELDS {
            customer.insert(field.into(), default_of(field));
        }
        // A null sent on create is the same as the field not sent.
        customer.extend(fields.into_iter().filter(|(_, value)| !value.is_null()));
        customer.insert(
            "location".into(),
            json!({"regionCode": null, "countryCode": null, "city": null}),
        );
        customer.insert(
            "device".into(),
            json!({"id": null, "ip": null, "timezone": null, "platform": null, "userAgent": null}),
        );
        if let Some(user_id) = user_id {
            self.by_user_id.insert(user_id, id);
        }
        if let Some(index) = &mut self.index {
            index.written(id, None, &customer, Instant::now());
        }
        self.customers.insert(id, customer.clone());
        Ok(Value::Object(customer))
    }

    pub(crate) fn update(
        &mut self,
        id: u64,
        fields: Fields,
        mode: Update,
    ) -> Result<Value, StoreError> {
        let Some(customer) = self.customers.get(&id) else {
            return Err(StoreError::NotFound(id));
        };
        let new_user_id = match (mode, fields.get("userId")) {
            (_, Some(value)) => value.as_str().map(str::to_string),
            (Update::Patch(_), None) => user_id_of(customer),
            (Update::Replace, None) => None,
        };
        if let Some(user_id) = &new_user_id
            && self
                .by_user_id
                .get(user_id)
                .is_some_and(|&owner| owner != id)
        {
            return Err(StoreError::DuplicateUserId);
        }
        self.apply(id, fields, mode, new_user_id)
            .ok_or(StoreError::NotFound(id))
    }

    /// Replaces several customers at once: either every item applies or none does. Errors
    /// carry the item's index (`[2].customer`, `[2].userId`).
    pub(crate) fn replace_batch(
        &mut self,
        items: Vec<(u64, Fields)>,
    ) -> Result<Vec<Value>, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut seen = HashSet::new();
        for (index, (id, _)) in items.iter().enumerate() {
            if !self.customers.contains_key(id) {
                errors.push(FieldError::new(
                    format!("[{index}].customer"),
                    format!("no customer with id {id}"),
                ));
            } else if !seen.insert(*id) {
                errors.push(FieldError::new(
                    format!("[{index}].customer"),
                    "appears twice in the batch",
                ));
            }
        }
        // A userId is free if nobody holds it, or if its holder is being replaced in this
        // batch (its old userId goes away), and no earlier item took it.
        let mut taken = HashSet::new();
        for (index, (id, fields)) in items.iter().enumerate() {
            let Some(user_id) = user_id_of(fields) else {
                continue;
            };
            let held_outside = self
                .by_user_id
                .get(&user_id)
                .is_some_and(|owner| owner != id && !seen.contains(owner));
            if held_outside || !taken.insert(user_id) {
                errors.push(FieldError::new(
                    "invalid_userId_value",
                    format!("[{index}]: Customer with such userId already exists"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        for (id, _) in &items {
            if let Some(user_id) = self.customers.get(id).and_then(user_id_of) {
                self.by_user_id.remove(&user_id);
            }
        }
        Ok(items
            .into_iter()
            .filter_map(|(id, fields)| {
                let user_id = user_id_of(&fields);
                self.apply(id, fields, Update::Replace, user_id)
            })
            .collect())
    }

    /// `PUT` / `DELETE /customers/{id}/tags`: adds the tags the customer does not carry
    /// yet (never removing one), or removes those named (one it does not carry is no error).
    pub(crate) fn change_tags(
        &mut self,
        id: u64,
        tags: Vec<Value>,
        change: TagChange,
    ) -> Result<Value, StoreError> {
        self.write(id, |customer| {
            let mut carried = match customer.remove("tags") {
                Some(Value::Array(tags)) => tags,
                _ => Vec::new(),
            };
            match change {
                TagChange::Add => add_tags(&mut carried, tags),
                TagChange::Remove => {
                    carried.retain(|held| !tags.iter().any(|tag| same_name(tag, held)));
                }
            }
            customer.insert("tags".into(), Value::Array(carried));
        })
        .ok_or(StoreError::NotFound(id))
    }

    pub(crate) fn delete(&mut self, id: u64) -> Result<(), StoreError> {
        let customer = self.customers.remove(&id).ok_or(StoreError::NotFound(id))?;
        if let Some(user_id) = user_id_of(&customer) {
            self.by_user_id.remove(&user_id);
        }
        if let Some(index) = &mut self.index {
            index.remove(id);
        }
        Ok(())
    }

    pub(crate) fn list(&self, page: Page) -> (Vec<Value>, usize) {
        page.apply(self.customers.values())
    }

    /// The customers search selects, matched on the version search sees (with a delay, what
    /// they were before their latest writes) and answered as they are.
    pub(crate) fn search(&mut self, search: &Search) -> (Vec<Value>, usize) {
        if let Some(index) = &mut self.index {
            index.settle(Instant::now());
        }
        let index = self.index.as_ref();
        let selected = self.customers.iter().filter(|&(&id, stored)| {
            let seen = match index {
                Some(index) => index.view(id, stored),
                None => Some(stored),
            };
            seen.is_some_and(|customer| search.matches(customer))
        });
        search.page.apply(selected.map(|(_, customer)| customer))
    }

    /// Writes an update whose `userId` (`new_user_id`) was already checked to be free.
    fn apply(
        &mut self,
        id: u64,
        fields: Fields,
        mode: Update,
        new_user_id: Option<String>,
    ) -> Option<Value> {
        if let Some(old) = self.customers.get(&id).and_then(user_id_of) {
            self.by_user_id.remove(&old);
        }
        let written = self.write(id, |customer| match mode {
            Update::Replace => {
                for (field, _) in FIELDS {
                    customer.insert(field.into(), Value::Null);
                }
                customer.extend(fields);
            }
            Update::Patch(collections) => {
                for (field, sent) in fields {
                    let value = patched(&field, customer.remove(&field), sent, collections);
                    customer.insert(field, value);
                }
            }
        })?;
        if let Some(user_id) = new_user_id {
            self.by_user_id.insert(user_id, id);
        }
        Some(written)
    }

    /// Changes customer `id` in place and answers it as it now is. With a search delay,
    /// search goes on seeing it as it was until the delay has passed.
    fn write(&mut self, id: u64, change: impl FnOnce(&mut Customer)) -> Option<Value> {
        let before = self
            .index
            .as_ref()
            .and_then(|_| self.customers.get(&id).cloned());
        let customer = self.customers.get_mut(&id)?;
        change(customer);
        if let Some(index) = &mut self.index {
            index.written(id, before.as_ref(), customer, Instant::now());
        }
        Some(Value::Object(customer.clone()))
    }
}

/// What a PATCH that sends `sent` for `field` leaves in it, the customer holding `current`:
/// `sent` itself, but for `tags` (merged by name) and `customData` (merged by property)
/// under `PatchCollections::Merge`. A null clears the field in either mode.
fn patched(
    field: &str,
    current: Option<Value>,
    sent: Value,
    collections: PatchCollections,
) -> Value {
    match (collections, field, current, sent) {
        (PatchCollections::Merge, "tags", Some(Value::Array(mut carried)), Value::Array(tags)) => {
            add_tags(&mut carried, tags);
            Value::Array(carried)
        }
        (
            PatchCollections::Merge,
            "customData",
            Some(Value::Object(mut data)),
            Value::Object(sent),
        ) => {
            data.extend(sent);
            Value::Object(data)
        }
        (_, _, _, sent) => sent,
    }
}

/// Adds to `carried` each of `tags` whose name it does not hold yet; a tag it holds stays
/// once, as it was.
pub(crate) fn add_tags(carried: &mut Vec<Value>, tags: Vec<Value>) {
    for tag in tags {
        if !carried.iter().any(|held| same_name(held, &tag)) {
            carried.push(tag);
        }
    }
}

/// Tag names are case-sensitive.
fn same_name(a: &Value, b: &Value) -> bool {
    a.get("name") == b.get("name")
}

/// What a created contact holds in `field` when the create did not send it.
fn default_of(field: &str) -> Value {
    match field {
        "unsubscribed" | "blocked" => Value::Bool(false),
        "createdFrom" => json!("api"),
        _ => Value::Null,
    }
}

fn user_id_of(object: &Map<String, Value>) -> Option<String> {
    object
        .get("userId")
        .and_then(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(value: Value) -> Fields {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn ids_count_up_and_user_ids_stay_unique() {
        let mut store = Store::default();
        let first = store
            .create(fields(json!({"userId": "u1"})))
            .expect("first");
        let second = store.create(fields(json!({"name": "x"}))).expect("second");
        assert_eq!(first["id"], json!(1_000_001));
        assert_eq!(second["id"], json!(1_000_002));
        assert_eq!(
            store.create(fields(json!({"userId": "u1"}))),
            Err(StoreError::DuplicateUserId)
        );
        assert_eq!(store.len(), 2);
        store.delete(1_000_001).expect("delete");
        assert!(store.create(fields(json!({"userId": "u1"}))).is_ok());
        assert_eq!(
            store.delete(1_000_001),
            Err(StoreError::NotFound(1_000_001))
        );
    }

    #[test]
    fn merge_keeps_and_replace_clears() {
        let mut store = Store::default();
        store
            .create(fields(json!({"userId": "u1", "name": "Ann", "phone": "1"})))
            .expect("create");
        let merged = store
            .update(
                1_000_001,
                fields(json!({"name": "Anna"})),
                Update::Patch(PatchCollections::Replace),
            )
            .expect("merge");
        assert_eq!(
            (&merged["name"], &merged["userId"]),
            (&json!("Anna"), &json!("u1"))
        );
        let cleared = store
            .update(
                1_000_001,
                fields(json!({"phone": null})),
                Update::Patch(PatchCollections::Replace),
            )
            .expect("merge a null");
        assert_eq!(
            (&cleared["phone"], &cleared["name"]),
            (&Value::Null, &json!("Anna"))
        );
        let replaced = store
            .update(1_000_001, fields(json!({"phone": "2"})), Update::Replace)
            .expect("replace");
        assert_eq!(replaced["name"], Value::Null);
        assert_eq!(replaced["userId"], Value::Null);
        // Every writable field not sent becomes null, the created defaults too.
        assert_eq!(replaced["unsubscribed"], Value::Null);
        assert_eq!(replaced["createdFrom"], Value::Null);
        assert_eq!(replaced["location"]["city"], Value::Null);
        // The replace released "u1".
        assert!(store.create(fields(json!({"userId": "u1"}))).is_ok());
    }

    #[test]
    fn a_create_fills_what_it_did_not_send_with_the_defaults() {
        let mut store = Store::default();
        let created = store
            .create(fields(
                json!({"name": "Ann", "unsubscribed": null, "blocked": true}),
            ))
            .expect("create");
        assert_eq!(created["unsubscribed"], json!(false));
        assert_eq!(created["blocked"], json!(true));
        assert_eq!(created["createdFrom"], json!("api"));
        assert_eq!(created["lastSeen"], Value::Null);
        let sent = store
            .create(fields(
                json!({"createdFrom": "crm", "lastSeen": "1603885746"}),
            ))
            .expect("create");
        assert_eq!(sent["createdFrom"], json!("crm"));
        assert_eq!(sent["lastSeen"], json!("1603885746"));
    }

    #[test]
    fn patch_replaces_or_merges_tags_and_custom_data() {
        use PatchCollections::{Merge, Replace};
        let tags = json!([{"name": "agent", "color": "red"}, {"name": "vip", "color": "red"}]);
        let sent_tags = json!([{"name": "vip", "color": "blue"}, {"name": "new", "color": "blue"}]);
        let data = json!({"plan": "free", "seats": 1});
        let sent_data = json!({"plan": "pro", "region": "eu"});
        let patch = |field, current: &Value, sent: &Value, mode| {
            patched(field, Some(current.clone()), sent.clone(), mode)
        };
        assert_eq!(patch("tags", &tags, &sent_tags, Replace), sent_tags);
        assert_eq!(
            patch("tags", &tags, &sent_tags, Merge),
            json!([
                {"name": "agent", "color": "red"},
                {"name": "vip", "color": "red"},
                {"name": "new", "color": "blue"}
            ])
        );
        assert_eq!(patch("customData", &data, &sent_data, Replace), sent_data);
        assert_eq!(
            patch("customData", &data, &sent_data, Merge),
            json!({"plan": "pro", "seats": 1, "region": "eu"})
        );
        for mode in [Replace, Merge] {
            // A null clears; a customer that had none takes what was sent; other fields
            // are plain values.
            assert_eq!(patch("tags", &tags, &Value::Null, mode), Value::Null);
            assert_eq!(patch("customData", &data, &Value::Null, mode), Value::Null);
            assert_eq!(patch("tags", &Value::Null, &sent_tags, mode), sent_tags);
            assert_eq!(
                patched("customData", None, sent_data.clone(), mode),
                sent_data
            );
            assert_eq!(patch("name", &json!("a"), &json!("b"), mode), json!("b"));
        }
    }

    #[test]
    fn tags_are_added_once_and_removed_by_name() {
        let tag = |name: &str, color: &str| json!({"name": name, "color": color});
        let mut store = Store::default();
        store
            .create(fields(json!({"tags": [tag("vip", "red")]})))
            .expect("create");
        store.create(Fields::new()).expect("no tags");
        let add = vec![tag("vip", "blue"), tag("new", "#fff"), tag("VIP", "#000")];
        let added = store
            .change_tags(1_000_001, add, TagChange::Add)
            .expect("add");
        assert_eq!(
            added["tags"],
            json!([tag("vip", "red"), tag("new", "#fff"), tag("VIP", "#000")])
        );
        let remove = vec![tag("vip", "#c377e0"), tag("gone", "#fff")];
        let removed = store
            .change_tags(1_000_001, remove, TagChange::Remove)
            .expect("remove");
        assert_eq!(
            removed["tags"],
            json!([tag("new", "#fff"), tag("VIP", "#000")])
        );
        // A customer with no tags at all gets a list.
        let first = store
            .change_tags(1_000_002, vec![tag("a", "#fff")], TagChange::Add)
            .expect("add");
        assert_eq!(first["tags"], json!([tag("a", "#fff")]));
        for change in [TagChange::Add, TagChange::Remove] {
            assert_eq!(
                store.change_tags(7, vec![], change),
                Err(StoreError::NotFound(7))
            );
        }
    }

    #[test]
    fn updates_refuse_another_customers_user_id() {
        let mut store = Store::default();
        store.create(fields(json!({"userId": "u1"}))).expect("a");
        store.create(fields(json!({"userId": "u2"}))).expect("b");
        let take = fields(json!({"userId": "u1"}));
        assert_eq!(
            store.update(
                1_000_002,
                take.clone(),
                Update::Patch(PatchCollections::Replace)
            ),
            Err(StoreError::DuplicateUserId)
        );
        assert!(store.update(1_000_001, take, Update::Replace).is_ok());
        assert_eq!(
            store.update(7, Fields::new(), Update::Patch(PatchCollections::Replace)),
            Err(StoreError::NotFound(7))
        );
    }

    #[test]
    fn batches_apply_whole_or_not_at_all() {
        let mut store = Store::default();
        store.create(fields(json!({"userId": "u1"}))).expect("a");
        store.create(fields(json!({"userId": "u2"}))).expect("b");
        // Swapping userIds inside one batch is fine.
        let swapped = store
            .replace_batch(vec![
                (1_000_001, fields(json!({"userId": "u2"}))),
                (1_000_002, fields(json!({"userId": "u1"}))),
            ])
            .expect("swap");
        assert_eq!(swapped[0]["userId"], json!("u2"));
        let errors = store
            .replace_batch(vec![
                (1_000_001, fields(json!({"name": "changed"}))),
                (9, Fields::new()),
                (1_000_001, Fields::new()),
            ])
            .expect_err("bad batch");
        let codes: Vec<_> = errors.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(codes, ["[1].customer", "[2].customer"]);
        assert_eq!(
            store.get(1_000_001).map(|c| c["name"].clone()),
            Some(Value::Null)
        );
        let errors = store
            .replace_batch(vec![
                (1_000_001, fields(json!({"userId": "u9"}))),
                (1_000_002, fields(json!({"userId": "u9"}))),
            ])
            .expect_err("same userId twice");
        assert_eq!(errors[0].code, "invalid_userId_value");
    }
}
