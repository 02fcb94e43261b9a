//! Pure: what an update is about to change in a contact, as it was, and the requests that
//! put it back (`undo`). Taken from the account index at no extra request, just before
//! the update is sent, and kept in the run's ledger.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::payload::{CreateCustomer, Tag};
use crate::readback::{custom_map, tag_names};

/// A contact as it was, in what an update sets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Before {
    /// Each field the update sets, but tags and customData, with the value it had (`null`:
    /// none, which a PATCH with `null` clears back to).
    pub fields: Map<String, Value>,
    /// Each customData property the update sets that the contact had, with its value.
    pub custom_data: Map<String, Value>,
    /// customData properties the update adds: no request takes one away, so an undo
    /// leaves them, and says so.
    pub custom_data_added: Vec<String>,
    /// Tags the update adds that the contact did not have: an undo removes them.
    pub tags_added: Vec<String>,
}

/// What `sent` is about to change in `contact` (its fields as HelpCrunch answers them).
pub fn before(sent: &CreateCustomer, contact: &Map<String, Value>) -> Before {
    let mut before = Before::default();
    let Ok(Value::Object(sent)) = serde_json::to_value(sent) else {
        return before;
    };
    for (field, value) in &sent {
        match field.as_str() {
            "customData" => {
                let held = custom_map(contact);
                for item in value.as_array().into_iter().flatten() {
                    let Some(property) = item.get("property").and_then(Value::as_str) else {
                        continue;
                    };
                    match held.get(property) {
                        Some(old) => {
                            before.custom_data.insert(property.to_string(), old.clone());
                        }
                        None => before.custom_data_added.push(property.to_string()),
                    }
                }
            }
            "tags" => {
                let held = tag_names(contact);
                for tag in value.as_array().into_iter().flatten() {
                    if let Some(name) = tag.get("name").and_then(Value::as_str)
                        && !held.contains(&name)
                    {
                        before.tags_added.push(name.to_string());
                    }
                }
            }
            _ => {
                let old = contact.get(field).cloned().unwrap_or(Value::Null);
                before.fields.insert(field.clone(), old);
            }
        }
    }
    before
}

impl Before {
    /// The PATCH body that puts the fields and customData back (None: nothing to put
    /// back that way).
    pub fn patch(&self) -> Option<Value> {
        let mut body = self.fields.clone();
        if !self.custom_data.is_empty() {
            let items = self
                .custom_data
                .iter()
                .map(|(property, value)| serde_json::json!({"property": property, "value": value}))
                .collect();
            body.insert("customData".into(), Value::Array(items));
        }
        (!body.is_empty()).then_some(Value::Object(body))
    }

    /// The tags an undo removes.
    pub fn tags(&self) -> Vec<Tag> {
        self.tags_added
            .iter()
            .map(|name| Tag::named(name.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::payload::{CustomDatum, CustomValue};

    #[test]
    fn an_update_is_put_back_field_by_field_and_its_new_tags_removed() {
        let contact = json!({
            "name": "Ada", "phone": null, "email": "ada@x.io",
            "tags": [{"name": "agent"}],
            "customData": {"plan": "free", "set_by_agent": "yes"}
        });
        let contact = contact.as_object().cloned().unwrap_or_default();
        let sent = CreateCustomer {
            name: Some("Ada L.".into()),
            phone: Some("+1 555".into()),
            email: Some("ada@x.io".into()),
            tags: vec![Tag::named("agent"), Tag::named("crm")],
            custom_data: vec![
                CustomDatum {
                    property: "plan".into(),
                    value: CustomValue::Text("pro".into()),
                },
                CustomDatum {
                    property: "seats".into(),
                    value: CustomValue::Integer(5),
                },
            ],
            ..CreateCustomer::default()
        };
        let before = before(&sent, &contact);
        assert_eq!(before.tags_added, ["crm"]);
        assert_eq!(before.custom_data_added, ["seats"]);
        assert_eq!(
            before.patch(),
            Some(json!({
                "name": "Ada", "phone": null, "email": "ada@x.io",
                "customData": [{"property": "plan", "value": "free"}]
            }))
        );
        assert_eq!(before.tags().len(), 1);
        // Kept in the ledger as JSON, and read back the same.
        let text = serde_json::to_string(&before).expect("serializes");
        assert_eq!(serde_json::from_str::<Before>(&text).ok(), Some(before));
        // An update that only adds tags has no PATCH to undo.
        let tags_only = CreateCustomer {
            tags: vec![Tag::named("crm")],
            ..CreateCustomer::default()
        };
        assert_eq!(super::before(&tags_only, &contact).patch(), None);
    }
}
