//! No request body may panic the sandbox: arbitrary JSON goes through every body check, the
//! search's parsing and matching, and the store's writes.

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::PatchCollections;
use super::UnknownAttribute;
use super::search::Search;
use super::store::{Store, TagChange, Update};
use super::validate::{self, Attributes};

/// Names the checks know, so generated bodies reach past "unknown field".
const KEYS: [&str; 16] = [
    "name",
    "email",
    "userId",
    "firstSeen",
    "lastSeen",
    "unsubscribed",
    "tags",
    "customData",
    "property",
    "value",
    "filter",
    "field",
    "operator",
    "sort",
    "order",
    "limit",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just("customers.id".to_string()),
            Just("customers.tagsData".to_string()),
            Just("customers.lastSeen".to_string()),
            Just("~".to_string()),
            Just(">=".to_string()),
            Just("1603885746".to_string()),
            ".{0,12}",
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS.to_vec()), inner), 0..6).prop_map(
                |pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            ),
        ]
    })
}

fn customers() -> Vec<Map<String, Value>> {
    [
        json!({"id": 1, "name": "a", "lastSeen": "5", "tags": [{"name": "x"}],
            "location": {"city": "c"}}),
        json!({"id": 2, "name": null, "lastSeen": 7, "tags": "odd", "location": null}),
    ]
    .into_iter()
    .filter_map(|c| c.as_object().cloned())
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn no_body_panics_a_check_or_a_write(body in json_value(), batch in json_value()) {
        let attributes = Attributes::new(Some(&["a".to_string()]), UnknownAttribute::Reject);
        let mut store = Store::default();
        store.lag_search(std::time::Duration::from_millis(5));
        let _ = validate::customer_body(&body, &attributes);
        if let Ok(fields) = validate::customer_body(&body, &Attributes::default()) {
            let _ = store.create(fields.clone());
            for mode in [
                Update::Patch(PatchCollections::Merge),
                Update::Patch(PatchCollections::Replace),
                Update::Replace,
            ] {
                let _ = store.update(1_000_001, fields.clone(), mode);
            }
            let _ = store.replace_batch(vec![(1_000_001, fields)]);
        }
        if let Ok(tags) = validate::tags_body(&body) {
            for change in [TagChange::Add, TagChange::Remove] {
                let _ = store.change_tags(1_000_001, tags.clone(), change);
            }
        }
        if let Some(object) = batch.as_object() {
            let _ = validate::customer_object(object, "[0].", &attributes);
        }
        if let Ok(search) = Search::parse(&body) {
            for customer in customers() {
                let _ = search.matches(&customer);
            }
            let _ = store.search(&search);
            let _ = search.page.apply(customers().iter());
        }
    }
}
