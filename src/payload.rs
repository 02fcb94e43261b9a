//! The create-contact request body, as `POST /customers` documents it.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Body of `POST /customers`. Every field is optional; absent fields are left out of
/// the JSON (never sent as `""` or `null`). Dates are UNIX timestamps held as strings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCustomer {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub company: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub first_seen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_seen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub locale: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub notes: Option<String>,
    /// The contact opted out of emails: a migration that drops it writes to people who
    /// asked not to be written to.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unsubscribed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub blocked: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub referer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_page: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub created_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub integration_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub tags: Vec<Tag>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub custom_data: Vec<CustomDatum>,
}

impl CreateCustomer {
    /// Every field a payload may carry, by its API name: what a read-back compares and an
    /// update must leave alone when it does not send it.
    pub const FIELDS: [&'static str; 18] = [
        "name",
        "email",
        "userId",
        "company",
        "phone",
        "firstSeen",
        "lastSeen",
        "source",
        "locale",
        "notes",
        "unsubscribed",
        "blocked",
        "referer",
        "lastPage",
        "createdFrom",
        "integrationId",
        "tags",
        "customData",
    ];
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub color: Option<String>,
}

impl Tag {
    /// A tag by name, in whatever colour the account gives it.
    pub fn named(name: impl Into<String>) -> Tag {
        Tag {
            name: name.into(),
            color: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomDatum {
    /// Shared with the mapping rule that names it: every row carries the same names.
    pub property: Arc<str>,
    pub value: CustomValue,
}

/// A customData value: a scalar, never an object or an array. A date is a `Text`
/// holding a UNIX timestamp, as the API wants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CustomValue {
    Bool(bool),
    Integer(i64),
    Float(f64),
    Text(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_names_every_field_a_payload_can_send() {
        let full = CreateCustomer {
            name: Some("n".into()),
            email: Some("e".into()),
            user_id: Some("u".into()),
            company: Some("c".into()),
            phone: Some("p".into()),
            first_seen: Some("1".into()),
            last_seen: Some("2".into()),
            source: Some("s".into()),
            locale: Some("en".into()),
            notes: Some("x".into()),
            unsubscribed: Some(true),
            blocked: Some(false),
            referer: Some("https://r.example".into()),
            last_page: Some("/pricing".into()),
            created_from: Some("crm".into()),
            integration_id: Some("i".into()),
            tags: vec![Tag::named("t")],
            custom_data: vec![CustomDatum {
                property: "p".into(),
                value: CustomValue::Bool(true),
            }],
        };
        let json = serde_json::to_value(&full).expect("serializes");
        let mut sent: Vec<&str> = json
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut fields = CreateCustomer::FIELDS.to_vec();
        sent.sort_unstable();
        fields.sort_unstable();
        assert_eq!(sent, fields);
    }
}
