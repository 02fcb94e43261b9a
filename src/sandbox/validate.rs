//! Strict checks of customer request bodies, mirroring the rules the API documents (pure).
//!
//! A valid body becomes the map of fields it sets, already in the form the API answers
//! with: `customData` as a `{property: value}` map and every tag with its color.

use std::collections::HashSet;

use email_address::{EmailAddress, Options};
use serde::Serialize;
use serde_json::{Map, Value};

use super::UnknownAttribute;

/// One entry of an answer's `errors` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FieldError {
    pub code: String,
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// How a customer field's value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Email,
    Locale,
    /// A string holding a UNIX timestamp.
    Date,
    Bool,
    Tags,
    CustomData,
}

/// The fields a customer body may write, in the order the docs list them.
pub(crate) const FIELDS: [(&str, Kind); 18] = [
    ("name", Kind::Text),
    ("email", Kind::Email),
    ("userId", Kind::Text),
    ("company", Kind::Text),
    ("phone", Kind::Text),
    ("firstSeen", Kind::Date),
    ("lastSeen", Kind::Date),
    ("source", Kind::Text),
    ("locale", Kind::Locale),
    ("notes", Kind::Text),
    ("unsubscribed", Kind::Bool),
    ("blocked", Kind::Bool),
    ("referer", Kind::Text),
    ("lastPage", Kind::Text),
    ("createdFrom", Kind::Text),
    ("integrationId", Kind::Text),
    ("tags", Kind::Tags),
    ("customData", Kind::CustomData),
];

/// The customData attributes an account has (Settings → Contacts → Custom attributes), and
/// what a body's property that is none of them meets.
#[derive(Debug, Clone, Default)]
pub(crate) struct Attributes {
    /// None: every attribute exists.
    known: Option<HashSet<String>>,
    unknown: UnknownAttribute,
}

impl Attributes {
    pub(crate) fn new(known: Option<&[String]>, unknown: UnknownAttribute) -> Attributes {
        Attributes {
            known: known.map(|names| names.iter().cloned().collect()),
            unknown,
        }
    }

    /// Applies the rule to a checked `{property: value}` map at `path`: an unknown property
    /// stays, goes in silence, or is refused with the code `<path>.<property>`.
    fn apply(&self, data: &mut Map<String, Value>, path: &str, errors: &mut Vec<FieldError>) {
        let Some(known) = &self.known else {
            return;
        };
        match self.unknown {
            UnknownAttribute::Accept => {}
            UnknownAttribute::Drop => data.retain(|property, _| known.contains(property)),
            UnknownAttribute::Reject => {
                for property in data.keys().filter(|p| !known.contains(*p)) {
                    errors.push(FieldError::new(
                        format!("{path}.{property}"),
                        format!(
                            "attribute {property:?} does not exist: create it under \
                             Settings → Contacts → Custom attributes"
                        ),
                    ));
                }
            }
        }
    }
}

/// The color HelpCrunch gives a tag sent without one.
const DEFAULT_TAG_COLOR: &str = "#c377e0";

/// Fields set by a valid body, keyed by their API name. A `null` is kept: PATCH clears the
/// field with it, and create and PUT take it as absent.
pub(crate) type Fields = Map<String, Value>;

/// Checks a whole request body, which must be a JSON object of customer fields.
pub(crate) fn customer_body(
    body: &Value,
    attributes: &Attributes,
) -> Result<Fields, Vec<FieldError>> {
    match body {
        Value::Object(object) => customer_object(object, "", attributes),
        _ => Err(vec![FieldError::new("body", "must be a JSON object")]),
    }
}

/// Checks the customer fields of `object`; `prefix` goes before every error path (`[3].`
/// for the fourth item of a batch).
pub(crate) fn customer_object(
    object: &Map<String, Value>,
    prefix: &str,
    attributes: &Attributes,
) -> Result<Fields, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut fields = Fields::new();
    for (name, value) in object {
        let path = format!("{prefix}{name}");
        let Some(&(_, kind)) = FIELDS.iter().find(|(known, _)| known == name) else {
            errors.push(FieldError::new(path, "unknown field"));
            continue;
        };
        let checked = match kind {
            _ if value.is_null() => Some(Value::Null),
            Kind::Tags => tags(value, &path, &mut errors),
            Kind::CustomData => custom_data(value, &path, attributes, &mut errors),
            Kind::Bool => boolean(value, &path, &mut errors),
            Kind::Text | Kind::Email | Kind::Locale | Kind::Date => {
                string_field(kind, value, &path, &mut errors)
            }
        };
        if let Some(checked) = checked {
            fields.insert(name.clone(), checked);
        }
    }
    if errors.is_empty() {
        Ok(fields)
    } else {
        Err(errors)
    }
}

/// Checks the body of `PUT` / `DELETE /customers/{id}/tags`: `{"tags": [{name, color?}]}`.
/// Answers the tags, each with its color.
pub(crate) fn tags_body(body: &Value) -> Result<Vec<Value>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let Some(object) = body.as_object() else {
        return Err(vec![FieldError::new("body", "must be a JSON object")]);
    };
    check_known_keys(object, &["tags"], "", &mut errors);
    let tags = match object.get("tags") {
        Some(value) => tags(value, "tags", &mut errors),
        None => {
            errors.push(FieldError::new("tags", "is required"));
            None
        }
    };
    match tags {
        Some(Value::Array(tags)) if errors.is_empty() => Ok(tags),
        _ => Err(errors),
    }
}

fn boolean(value: &Value, path: &str, errors: &mut Vec<FieldError>) -> Option<Value> {
    if value.is_boolean() {
        return Some(value.clone());
    }
    errors.push(FieldError::new(path, "must be a boolean"));
    None
}

fn string_field(
    kind: Kind,
    value: &Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Value> {
    let Some(text) = value.as_str() else {
        let message = if kind == Kind::Date {
            "must be a string holding a UNIX timestamp"
        } else {
            "must be a string"
        };
        errors.push(FieldError::new(path, message));
        return None;
    };
    let problem = match kind {
        Kind::Email => (!is_email(text)).then_some("is not a valid email address"),
        Kind::Locale => (!is_locale(text)).then_some("must be an ISO 639-1 code such as \"en\""),
        Kind::Date => {
            (!is_timestamp(text)).then_some("must be a UNIX timestamp such as \"1603885746\"")
        }
        _ => None,
    };
    match problem {
        Some(message) => {
            errors.push(FieldError::new(path, message));
            None
        }
        None => Some(value.clone()),
    }
}

/// A bare address at a domain name: no display name (`John <j@x.com>`), no IP literal
/// (`j@[10.0.0.1]`), and a dot in the domain (`j@localhost` is refused), since the API
/// stores deliverable addresses only.
pub(crate) fn is_email(text: &str) -> bool {
    let options = Options::default()
        .without_display_text()
        .without_domain_literal()
        .with_required_tld();
    EmailAddress::parse_with_options(text, options).is_ok()
}

/// Two lowercase letters naming a language ISO 639-1 knows.
pub(crate) fn is_locale(text: &str) -> bool {
    text.len() == 2
        && text.bytes().all(|b| b.is_ascii_lowercase())
        && isolang::Language::from_639_1(text).is_some()
}

/// The API's date form: a UNIX timestamp written as ASCII digits in a string, and no
/// later than the end of 2100 (a later one is milliseconds taken for seconds, or a typo).
pub(crate) fn is_timestamp(text: &str) -> bool {
    const END_OF_2100: u64 = 4_133_980_799;
    !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && text
            .parse::<u64>()
            .is_ok_and(|seconds| seconds <= END_OF_2100)
}

fn tags(value: &Value, path: &str, errors: &mut Vec<FieldError>) -> Option<Value> {
    let Some(items) = value.as_array() else {
        errors.push(FieldError::new(path, "must be an array of tags"));
        return None;
    };
    let before = errors.len();
    let mut tags = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        let Some(object) = item.as_object() else {
            errors.push(FieldError::new(
                item_path,
                "must be an object with a name and an optional color",
            ));
            continue;
        };
        check_known_keys(object, &["name", "color"], &item_path, errors);
        let name = non_empty_string(object.get("name"), &format!("{item_path}.name"), errors);
        let color_path = format!("{item_path}.color");
        let color = match object.get("color") {
            None | Some(Value::Null) => Some(DEFAULT_TAG_COLOR.to_string()),
            color => non_empty_string(color, &color_path, errors).filter(|color| {
                let valid = super::color::is_color(color);
                if !valid {
                    errors.push(FieldError::new(&color_path, "must be a CSS color"));
                }
                valid
            }),
        };
        if let (Some(name), Some(color)) = (name, color) {
            tags.push(serde_json::json!({ "name": name, "color": color }));
        }
    }
    (errors.len() == before).then_some(Value::Array(tags))
}

fn custom_data(
    value: &Value,
    path: &str,
    attributes: &Attributes,
    errors: &mut Vec<FieldError>,
) -> Option<Value> {
    let Some(items) = value.as_array() else {
        errors.push(FieldError::new(
            path,
            "must be an array of {property, value} objects",
        ));
        return None;
    };
    let before = errors.len();
    let mut data = Map::new();
    for (index, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{index}]");
        let Some(object) = item.as_object() else {
            errors.push(FieldError::new(
                item_path,
                "must be an object with a property and a value",
            ));
            continue;
        };
        check_known_keys(object, &["property", "value"], &item_path, errors);
        let property_path = format!("{item_path}.property");
        let property = non_empty_string(object.get("property"), &property_path, errors);
        let value_path = format!("{item_path}.value");
        let value = match object.get("value") {
            Some(scalar @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) => {
                Some(scalar.clone())
            }
            None => {
                errors.push(FieldError::new(value_path, "is required"));
                None
            }
            Some(_) => {
                errors.push(FieldError::new(
                    value_path,
                    "must be a string, a number or a boolean",
                ));
                None
            }
        };
        if let (Some(property), Some(value)) = (property, value) {
            // The answer is a map, so a repeated property would silently lose a value.
            if data.insert(property, value).is_some() {
                errors.push(FieldError::new(property_path, "is repeated"));
            }
        }
    }
    attributes.apply(&mut data, path, errors);
    (errors.len() == before).then_some(Value::Object(data))
}

fn check_known_keys(
    object: &Map<String, Value>,
    known: &[&str],
    path: &str,
    errors: &mut Vec<FieldError>,
) {
    for key in object.keys().filter(|key| !known.contains(&key.as_str())) {
        let path = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        errors.push(FieldError::new(path, "unknown field"));
    }
}

fn non_empty_string(
    value: Option<&Value>,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match value {
        Some(Value::String(text)) if !text.trim().is_empty() => Some(text.clone()),
        Some(Value::String(_)) => {
            errors.push(FieldError::new(path, "must not be empty"));
            None
        }
        None | Some(Value::Null) => {
            errors.push(FieldError::new(path, "is required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(path, "must be a string"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn customer_body(body: &Value) -> Result<Fields, Vec<FieldError>> {
        super::customer_body(body, &Attributes::default())
    }

    fn codes(body: Value) -> Vec<String> {
        match customer_body(&body) {
            Ok(fields) => panic!("expected errors, got {fields:?}"),
            Err(errors) => errors.into_iter().map(|e| e.code).collect(),
        }
    }

    #[test]
    fn a_full_documented_body_is_accepted_in_stored_form() {
        let body = json!({
            "name": "John Doe", "email": "john@example.com", "userId": "user_1",
            "company": "Example Inc.", "phone": "+10233456781", "firstSeen": "1603885746",
            "source": "https://example.com", "locale": "uk", "notes": "Lorem ipsum",
            "tags": [{"name": "vip", "color": "#ff0000"}, {"name": "new"}],
            "customData": [
                {"property": "status", "value": "active"},
                {"property": "payments", "value": 15},
                {"property": "paid", "value": 15.99},
                {"property": "ok", "value": true}
            ]
        });
        let fields = customer_body(&body).expect("valid");
        assert_eq!(fields.len(), 11);
        let more = json!({
            "unsubscribed": true, "blocked": false, "lastSeen": "1603885800",
            "referer": "https://ref.example", "lastPage": "/pricing", "createdFrom": "crm",
            "integrationId": "int-1"
        });
        let others = customer_body(&more).expect("the other writable fields are valid");
        assert_eq!(Value::Object(others), more);
        assert_eq!(
            fields["tags"],
            json!([{"name": "vip", "color": "#ff0000"}, {"name": "new", "color": "#c377e0"}])
        );
        assert_eq!(
            fields["customData"],
            json!({"status": "active", "payments": 15, "paid": 15.99, "ok": true})
        );
        assert_eq!(fields["firstSeen"], json!("1603885746"));
    }

    #[test]
    fn null_fields_are_kept_unchecked_for_patch_to_clear() {
        let body = json!({"email": null, "unsubscribed": null, "tags": null, "lastSeen": null});
        let fields = customer_body(&body).map(Value::Object);
        assert_eq!(fields, Ok(body));
    }

    #[test]
    fn booleans_must_be_json_booleans() {
        assert_eq!(
            codes(json!({"unsubscribed": "true", "blocked": 1})),
            ["blocked", "unsubscribed"]
        );
    }

    #[test]
    fn the_body_must_be_an_object() {
        assert_eq!(codes(json!([1])), ["body"]);
        assert_eq!(codes(json!("x")), ["body"]);
    }

    #[test]
    fn unknown_fields_are_named() {
        assert_eq!(codes(json!({"id": 1, "mail": "a@b.c"})), ["id", "mail"]);
    }

    #[test]
    fn string_fields_must_be_strings() {
        assert_eq!(
            codes(
                json!({"name": 1, "userId": 7, "phone": true, "notes": [], "referer": 1,
                "lastPage": {}, "createdFrom": false, "integrationId": 2})
            ),
            [
                "createdFrom",
                "integrationId",
                "lastPage",
                "name",
                "notes",
                "phone",
                "referer",
                "userId"
            ]
        );
    }

    #[test]
    fn emails_are_parsed_strictly() {
        for good in ["john@example.com", "a.b+c@sub.example.org"] {
            assert!(is_email(good), "{good}");
        }
        for bad in [
            "a@@b.com",
            "a b@c.com",
            "@x.com",
            "John <john@example.com>",
            "plain",
            "",
            "john@localhost",
            "john@[10.0.0.1]",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
        assert_eq!(codes(json!({"email": "a@@b.com"})), ["email"]);
    }

    #[test]
    fn locales_are_lowercase_iso_639_1() {
        assert!(is_locale("en"));
        assert!(is_locale("uk"));
        for bad in ["EN", "eng", "e", "", "xx", "en-US", "é"] {
            assert!(!is_locale(bad), "{bad}");
        }
        assert_eq!(codes(json!({"locale": "English"})), ["locale"]);
    }

    #[test]
    fn last_seen_is_checked_like_first_seen() {
        assert_eq!(
            customer_body(&json!({"lastSeen": 1603885746})),
            Err(vec![FieldError::new(
                "lastSeen",
                "must be a string holding a UNIX timestamp"
            )])
        );
        assert_eq!(codes(json!({"lastSeen": "2020-10-28"})), ["lastSeen"]);
    }

    #[test]
    fn first_seen_is_a_timestamp_string() {
        assert!(is_timestamp("1603885746"));
        assert!(is_timestamp("4133980799"));
        for bad in [
            "",
            "2020-10-28T11:49:06Z",
            "-1",
            "1.5",
            " 1",
            "4133980800",
            "1603885746000",
            "99999999999999999999999",
        ] {
            assert!(!is_timestamp(bad), "{bad}");
        }
        let errors = customer_body(&json!({"firstSeen": 1603885746})).unwrap_err();
        assert_eq!(
            errors,
            [FieldError::new(
                "firstSeen",
                "must be a string holding a UNIX timestamp"
            )]
        );
    }

    #[test]
    fn tags_need_a_non_empty_name_and_a_string_color() {
        assert_eq!(codes(json!({"tags": {"name": "vip"}})), ["tags"]);
        assert_eq!(
            codes(json!({"tags": [
                {"name": ""}, {"color": "#fff"}, {"name": "a", "color": 3}, "vip", {"name": "b", "size": 1},
                {"name": "c", "color": "blurple"}, {"name": "d", "color": "rgb(1 2 3 / 50%)"},
                {"name": "  "}
            ]})),
            [
                "tags[0].name",
                "tags[1].name",
                "tags[2].color",
                "tags[3]",
                "tags[4].size",
                "tags[5].color",
                "tags[7].name"
            ]
        );
    }

    #[test]
    fn a_tags_body_holds_only_documented_tags() {
        assert_eq!(
            tags_body(&json!({"tags": [{"name": "vip"}, {"name": "b", "color": "red"}]})),
            Ok(vec![
                json!({"name": "vip", "color": "#c377e0"}),
                json!({"name": "b", "color": "red"})
            ])
        );
        let codes = |body| tags_body(&body).map_err(|e| e.into_iter().map(|e| e.code).collect());
        assert_eq!(codes(json!({})), Err(vec!["tags".to_string()]));
        assert_eq!(codes(json!({"tags": null})), Err(vec!["tags".to_string()]));
        assert_eq!(codes(json!([])), Err(vec!["body".to_string()]));
        assert_eq!(
            codes(json!({"tags": [{"name": ""}], "x": 1})),
            Err(vec!["x".to_string(), "tags[0].name".to_string()])
        );
    }

    #[test]
    fn unknown_attributes_are_accepted_dropped_or_refused_by_name() {
        let known = ["plan".to_string(), "Seats Used".to_string()];
        let body = json!({"name": "Ann", "customData": [
            {"property": "plan", "value": "pro"},
            {"property": "ghost", "value": 1},
            {"property": "Seats Used", "value": 3},
            {"property": "other", "value": true}
        ]});
        let check = |unknown| {
            super::customer_body(&body, &Attributes::new(Some(&known), unknown))
                .map(|fields| fields["customData"].clone())
        };
        assert_eq!(
            check(UnknownAttribute::Accept),
            Ok(json!({"plan": "pro", "ghost": 1, "Seats Used": 3, "other": true}))
        );
        assert_eq!(
            check(UnknownAttribute::Drop),
            Ok(json!({"plan": "pro", "Seats Used": 3}))
        );
        let errors = check(UnknownAttribute::Reject).expect_err("refused");
        let codes: Vec<_> = errors.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(codes, ["customData.ghost", "customData.other"]);
        assert!(
            errors[0].message.contains("\"ghost\" does not exist"),
            "{errors:?}"
        );
        // Without a list every attribute exists, whatever the rule.
        let all = Attributes::new(None, UnknownAttribute::Reject);
        assert!(super::customer_body(&body, &all).is_ok());
        // In a batch the item's prefix comes first.
        let object = body.as_object().cloned().unwrap_or_default();
        let refuse = Attributes::new(Some(&known), UnknownAttribute::Reject);
        let errors = customer_object(&object, "[2].", &refuse).expect_err("refused");
        assert_eq!(errors[0].code, "[2].customData.ghost");
    }

    #[test]
    fn custom_data_values_are_scalars() {
        assert_eq!(codes(json!({"customData": {"a": 1}})), ["customData"]);
        assert_eq!(
            codes(json!({"customData": [
                {"property": "a", "value": 1},
                {"property": "", "value": 1},
                {"property": "c", "value": {"x": 1}},
                {"property": "d", "value": [1]},
                {"property": "e"},
                {"property": "f", "value": null},
                {"property": "a", "value": 2}
            ]})),
            [
                "customData[1].property",
                "customData[2].value",
                "customData[3].value",
                "customData[4].value",
                "customData[5].value",
                "customData[6].property"
            ]
        );
    }

    #[test]
    fn every_problem_is_reported_once() {
        let errors = customer_body(&json!({
            "email": "nope", "locale": "EN", "firstSeen": "yesterday", "x": 1
        }))
        .unwrap_err();
        assert_eq!(errors.len(), 4);
    }
}
