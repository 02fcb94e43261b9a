//! Pure: whether what was sent stuck, judged from the contact read back after writing it
//! (`GET /customers/{id}`).
//!
//! The docs leave open what HelpCrunch does with a customData attribute that does not
//! exist in the account (stored, refused, or dropped in silence) and what a PATCH does to
//! the `tags` and `customData` it does not list (`helpcrunch-api.md`, "Create a contact",
//! "Update"). Reading the first written contact back finds out, before the run spends the
//! organization's budget on 200,000 rows that lose data.
//!
//! Answers show dates as strings or integers, customData as an object map (or, in older
//! answers, the request's array), and tags with their colors: values are compared by
//! what they mean, not by their JSON form.

use std::fmt;

use serde_json::{Map, Value};

use crate::payload::CreateCustomer;

/// A value that did not stick, or one an update changed without being asked to.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// `email`, `customData "plan"`, `tag "vip"`.
    pub field: String,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// Sent, and not on the contact at all.
    Missing { sent: Value },
    /// Sent, and stored as something else.
    Differs { sent: Value, stored: Value },
    /// Not sent by an update, yet changed or removed by it.
    Changed { before: Value, after: Value },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = &self.field;
        match &self.problem {
            Problem::Missing { sent } => write!(f, "{field}: sent {sent}, not stored"),
            Problem::Differs { sent, stored } => {
                write!(f, "{field}: sent {sent}, stored {stored}")
            }
            Problem::Changed { before, after } if after.is_null() => write!(
                f,
                "{field}: not sent, yet the update removed it (it was {before})"
            ),
            Problem::Changed { before, after } => write!(
                f,
                "{field}: not sent, yet the update changed it from {before} to {after}"
            ),
        }
    }
}

impl Mismatch {
    /// The likeliest cause, for the message that stops the run.
    pub fn cause(&self) -> &'static str {
        let custom = self.field.starts_with("customData");
        let tag = self.field.starts_with("tag ");
        match (&self.problem, custom, tag) {
            (Problem::Missing { .. }, true, _) => {
                "the attribute must exist in HelpCrunch first (Settings → Contacts → Custom attributes): the API drops attributes it does not know"
            }
            (Problem::Changed { .. }, true, _) => {
                "HelpCrunch's PATCH replaces a contact's customData with the properties sent: updating would delete properties set elsewhere (set custom_data = \"replace\" under [update] to accept that)"
            }
            (Problem::Changed { .. }, _, true) => {
                "HelpCrunch's PATCH replaced the contact's tags: tags must be added through the tag endpoint (the default, tags = \"add\" under [update])"
            }
            (Problem::Changed { .. }, _, _) => "HelpCrunch's PATCH changed a field it was not sent",
            _ => "the API did not store the value as it was sent",
        }
    }
}

/// What a created contact lacks of `sent`.
pub fn after_create(sent: &CreateCustomer, stored: &Map<String, Value>) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    let Ok(Value::Object(sent)) = serde_json::to_value(sent) else {
        return mismatches;
    };
    // In the documented order, so messages name the first field of the form first.
    for field in CreateCustomer::FIELDS {
        let Some(value) = sent.get(field) else {
            continue;
        };
        match field {
            "tags" => missing_tags(value, stored, &mut mismatches),
            "customData" => custom_data(value, stored, &mut mismatches),
            _ => compare(
                field.into(),
                field,
                value,
                stored.get(field),
                &mut mismatches,
            ),
        }
    }
    mismatches
}

/// How updates treat the collections a row does not list (`[update]` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Collections {
    /// `tags = "replace"`: the row's tags go in the PATCH and may replace the contact's;
    /// by default they are added through the tag endpoint, which never removes any.
    pub replace_tags: bool,
    /// `custom_data = "replace"`: the user accepts that a PATCH may remove customData
    /// properties the row does not name.
    pub replace_custom_data: bool,
}

/// What an update did wrong: a value `sent` (the row's whole payload, its tags too, however
/// they were sent) that did not stick, or one it did not send that changed between
/// `before` and `after`, unless `collections` allows it.
pub fn after_update(
    before: &Map<String, Value>,
    sent: &CreateCustomer,
    after: &Map<String, Value>,
    collections: Collections,
) -> Vec<Mismatch> {
    let mut mismatches = after_create(sent, after);
    let Ok(Value::Object(sent)) = serde_json::to_value(sent) else {
        return mismatches;
    };
    for field in CreateCustomer::FIELDS {
        match field {
            "tags" if !collections.replace_tags => removed_tags(before, after, &mut mismatches),
            "customData" if !collections.replace_custom_data => {
                let sent: Vec<&str> = sent
                    .get("customData")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|item| item.get("property")?.as_str())
                    .collect();
                changed_custom_data(before, after, &sent, &mut mismatches);
            }
            "tags" | "customData" => {}
            _ if sent.contains_key(field) => {}
            _ => {
                let (old, new) = (field_value(before, field), field_value(after, field));
                if old != new {
                    mismatches.push(changed(field.to_string(), old, new));
                }
            }
        }
    }
    mismatches
}

fn field_value(contact: &Map<String, Value>, field: &str) -> Value {
    contact.get(field).cloned().unwrap_or(Value::Null)
}

fn changed(field: String, before: Value, after: Value) -> Mismatch {
    Mismatch {
        field,
        problem: Problem::Changed { before, after },
    }
}

fn compare(
    label: String,
    field: &str,
    sent: &Value,
    stored: Option<&Value>,
    mismatches: &mut Vec<Mismatch>,
) {
    let problem = match stored {
        None | Some(Value::Null) => Problem::Missing { sent: sent.clone() },
        Some(stored) if same(field, sent, stored) => return,
        Some(stored) => Problem::Differs {
            sent: sent.clone(),
            stored: stored.clone(),
        },
    };
    mismatches.push(Mismatch {
        field: label,
        problem,
    });
}

/// Whether a stored value means what was sent: dates sent as timestamp strings may come
/// back as integers, numbers as floats, and an email in another case is the same address.
fn same(field: &str, sent: &Value, stored: &Value) -> bool {
    match (sent, stored) {
        (Value::String(a), Value::String(b)) if field == "email" => a.eq_ignore_ascii_case(b),
        (Value::String(text), Value::Number(number)) => {
            text.parse::<f64>().ok() == number.as_f64() && !text.is_empty()
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => sent == stored,
    }
}

/// Tag names on a contact (`tags: [{name, color}]`).
pub(crate) fn tag_names(contact: &Map<String, Value>) -> Vec<&str> {
    contact
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|tag| tag.get("name")?.as_str())
        .collect()
}

fn missing_tags(sent: &Value, stored: &Map<String, Value>, mismatches: &mut Vec<Mismatch>) {
    let names = tag_names(stored);
    for tag in sent.as_array().into_iter().flatten() {
        let Some(name) = tag.get("name").and_then(Value::as_str) else {
            continue;
        };
        // Tag names are case-sensitive (legacy docs).
        if !names.contains(&name) {
            mismatches.push(Mismatch {
                field: format!("tag {name:?}"),
                problem: Problem::Missing {
                    sent: Value::String(name.to_string()),
                },
            });
        }
    }
}

fn removed_tags(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    mismatches: &mut Vec<Mismatch>,
) {
    let kept = tag_names(after);
    for name in tag_names(before) {
        if !kept.contains(&name) {
            mismatches.push(changed(
                format!("tag {name:?}"),
                Value::String(name.to_string()),
                Value::Null,
            ));
        }
    }
}

/// A contact's customData as a map, from the documented answer's object map or the
/// request's `[{property, value}]` array.
pub(crate) fn custom_map(contact: &Map<String, Value>) -> Map<String, Value> {
    match contact.get("customData") {
        Some(Value::Object(map)) => map.clone(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| {
                let property = item.get("property")?.as_str()?;
                Some((property.to_string(), item.get("value")?.clone()))
            })
            .collect(),
        _ => Map::new(),
    }
}

fn custom_data(sent: &Value, stored: &Map<String, Value>, mismatches: &mut Vec<Mismatch>) {
    let stored = custom_map(stored);
    for item in sent.as_array().into_iter().flatten() {
        let (Some(property), Some(value)) = (
            item.get("property").and_then(Value::as_str),
            item.get("value"),
        ) else {
            continue;
        };
        let label = format!("customData {property:?}");
        compare(label, "customData", value, stored.get(property), mismatches);
    }
}

fn changed_custom_data(
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    sent: &[&str],
    mismatches: &mut Vec<Mismatch>,
) {
    let after = custom_map(after);
    for (property, old) in custom_map(before) {
        if sent.contains(&property.as_str()) {
            continue;
        }
        let new = after.get(&property).cloned().unwrap_or(Value::Null);
        if !same("customData", &old, &new) {
            mismatches.push(changed(format!("customData {property:?}"), old, new));
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

    fn sent() -> CreateCustomer {
        CreateCustomer {
            name: Some("Ada".into()),
            email: Some("Ada@Example.com".into()),
            first_seen: Some("1603885746".into()),
            tags: vec![Tag {
                name: "vip".into(),
                color: Some("#ff0000".into()),
            }],
            custom_data: vec![
                CustomDatum {
                    property: "plan".into(),
                    value: CustomValue::Text("pro".into()),
                },
                CustomDatum {
                    property: "seats".into(),
                    value: CustomValue::Integer(15),
                },
                CustomDatum {
                    property: "paid".into(),
                    value: CustomValue::Text("1603885746".into()),
                },
            ],
            ..CreateCustomer::default()
        }
    }

    #[test]
    fn a_contact_stored_as_sent_matches_whatever_the_json_form() {
        let stored = object(json!({
            "id": 7, "name": "Ada", "email": "ada@example.com", "firstSeen": 1603885746,
            "tags": [{"name": "vip", "color": "#c377e0"}, {"name": "agent"}],
            "customData": {"plan": "pro", "seats": 15.0, "paid": 1603885746, "other": 1},
            "location": {"city": null}
        }));
        assert_eq!(after_create(&sent(), &stored), []);
        // The request's own array form reads the same.
        let mut array_form = stored.clone();
        array_form.insert(
            "customData".into(),
            json!([{"property": "plan", "value": "pro"}, {"property": "seats", "value": 15},
                   {"property": "paid", "value": "1603885746"}]),
        );
        assert_eq!(after_create(&sent(), &array_form), []);
    }

    #[test]
    fn a_dropped_attribute_a_missing_tag_and_a_changed_value_are_named() {
        let stored = object(json!({
            "id": 7, "name": "Ada L.", "email": "ada@example.com", "firstSeen": "1603885746",
            "tags": [{"name": "VIP"}],
            "customData": {"seats": 15, "paid": 1603885746}
        }));
        let found = after_create(&sent(), &stored);
        let fields: Vec<&str> = found.iter().map(|m| m.field.as_str()).collect();
        assert_eq!(fields, ["name", "tag \"vip\"", "customData \"plan\""]);
        assert_eq!(
            found[2].to_string(),
            "customData \"plan\": sent \"pro\", not stored"
        );
        assert!(found[2].cause().contains("Custom attributes"));
        assert_eq!(
            found[0].to_string(),
            "name: sent \"Ada\", stored \"Ada L.\""
        );
        // An empty string is not a zero.
        assert!(!same("x", &json!(""), &json!(0)));
    }

    #[test]
    fn an_update_must_leave_what_it_did_not_send() {
        let before = object(json!({
            "id": 7, "name": "Ada", "phone": "+1 555", "tags": [{"name": "agent"}],
            "customData": {"plan": "free", "set_by_agent": "yes"}
        }));
        let update = CreateCustomer {
            name: Some("Ada L.".into()),
            custom_data: vec![CustomDatum {
                property: "plan".into(),
                value: CustomValue::Text("pro".into()),
            }],
            ..CreateCustomer::default()
        };
        let merged = object(json!({
            "id": 7, "name": "Ada L.", "phone": "+1 555", "tags": [{"name": "agent"}],
            "customData": {"plan": "pro", "set_by_agent": "yes"}
        }));
        let default = Collections::default();
        assert_eq!(after_update(&before, &update, &merged, default), []);
        let replaced = object(json!({
            "id": 7, "name": "Ada L.", "phone": null, "tags": [],
            "customData": {"plan": "pro"}
        }));
        let found = after_update(&before, &update, &replaced, default);
        let fields: Vec<&str> = found.iter().map(|m| m.field.as_str()).collect();
        assert_eq!(
            fields,
            ["phone", "tag \"agent\"", "customData \"set_by_agent\""]
        );
        assert!(found[1].cause().contains("tag endpoint"));
        assert!(found[2].cause().contains("replaces"));
        assert_eq!(
            found[0].to_string(),
            "phone: not sent, yet the update removed it (it was \"+1 555\")"
        );
        // Replacing collections was asked for: only the other field is a fault.
        let asked = Collections {
            replace_tags: true,
            replace_custom_data: true,
        };
        let found = after_update(&before, &update, &replaced, asked);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].field, "phone");
    }
}
