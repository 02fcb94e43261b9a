//! NDJSON objects already in the request's shape, without a mapping: checked and
//! normalised field by field, in the forms people write them.

use serde_json::{Map, Number, Value};

use std::borrow::Cow;

use crate::invisible::{clean_name, describe_all, hidden_in_name, quoted};
use crate::payload::{CreateCustomer, CustomDatum, CustomValue, Tag};
use crate::record::{RowError, Warnings, json_kind};

use super::apply::{push_tag, warn_unsplit};
use super::artefacts::{Target, inspect};
use super::field::{Field, Slot};

/// The payload in `object`, and every problem in it; what is sent anyway goes to
/// `warnings`. Keys starting with `_` are ignored; a key is matched without invisible
/// characters (with a warning); any other key the request does not have is an error.
pub(crate) fn passthrough(
    object: &Map<String, Value>,
    warnings: &mut Warnings,
) -> (CreateCustomer, Vec<RowError>) {
    let mut payload = CreateCustomer::default();
    let mut errors = Vec::new();
    for (raw_key, value) in object {
        let key = clean_key(raw_key, warnings);
        let key = key.as_ref();
        if key.starts_with('_') {
            continue;
        }
        if let Some(field) = Field::from_key(key) {
            if let Slot::Flag(slot) = field.slot(&mut payload) {
                // A boolean as JSON has it; text and numbers are read as in a CSV cell.
                match value {
                    Value::Bool(flag) => {
                        *slot = Some(*flag);
                        continue;
                    }
                    Value::Array(_) | Value::Object(_) => {
                        let message = format!("{key} must be a boolean, not {}", json_kind(value));
                        errors.push(RowError::new(key, message));
                        continue;
                    }
                    _ => {}
                }
            }
            let named = || format!("{key} ");
            let converted = text(value)
                .map_err(|problem| format!("{key} {problem}"))
                .and_then(|text| match text {
                    Some(text) => inspect(Target::Field(field), named, text.into(), warnings),
                    None => Ok(Cow::Borrowed("")),
                })
                .and_then(|text| {
                    let text = Some(text).filter(|text| !text.is_empty());
                    text.map(|text| field.convert(&text, None))
                        .transpose()
                        .map_err(|problem| format!("{key} {problem}"))
                })
                .map_err(|message| RowError::new(key, message));
            match converted {
                Ok(Some(converted)) => field.set(&mut payload, converted),
                Ok(None) => field.clear(&mut payload),
                Err(error) => errors.push(error),
            }
        } else if key == "tags" {
            match tags(value, warnings) {
                Ok(tags) => payload.tags = tags,
                Err(message) => errors.push(RowError::new("tags", message)),
            }
        } else if key == "customData" {
            custom_data(value, &mut payload.custom_data, &mut errors, warnings);
        } else {
            errors.push(RowError::new(
                raw_key.as_str(),
                format!("unknown field {raw_key:?}"),
            ));
        }
    }
    (payload, errors)
}

/// A string field's text: strings trimmed, numbers written out; null and `""` are absent.
fn text(value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text.trim())
            .filter(|t| !t.is_empty())
            .map(str::to_owned)),
        Value::Number(number) => Ok(Some(number.to_string())),
        other => Err(format!(
            "must be a string or a number, not {}",
            json_kind(other)
        )),
    }
}

/// An object key without invisible characters, with a warning when it had some.
fn clean_key<'a>(key: &'a str, warnings: &mut Warnings) -> Cow<'a, str> {
    if key.is_ascii() {
        return Cow::Borrowed(key);
    }
    let clean = clean_name(key);
    if clean != key {
        warnings.push(
            "keys with invisible characters, matched without them",
            format!(
                "key {} is read as {}, ignoring {}",
                quoted(key),
                quoted(&clean),
                describe_all(&hidden_in_name(key))
            ),
        );
    }
    clean
}

/// A tag name as [`inspect`] leaves it.
fn tag_name<'a>(name: &'a str, warnings: &mut Warnings) -> Result<Cow<'a, str>, String> {
    inspect(Target::Tags, || "tags ".to_owned(), name.into(), warnings)
}

/// An array of `{name, color}` objects or of names, or one `;`-separated string.
fn tags(value: &Value, warnings: &mut Warnings) -> Result<Vec<Tag>, String> {
    let mut tags = Vec::new();
    match value {
        Value::Null => {}
        Value::String(names) => {
            let names = tag_name(names, warnings)?;
            warn_unsplit(&names, ";", warnings);
            names
                .split(';')
                .for_each(|name| push_tag(&mut tags, name, None));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::Null => {}
                    Value::Object(tag) => {
                        let (name, color) =
                            tag_object(tag).map_err(|problem| format!("tags[{i}] {problem}"))?;
                        push_tag(&mut tags, &tag_name(&name, warnings)?, color.as_deref());
                    }
                    Value::String(name) => push_tag(&mut tags, &tag_name(name, warnings)?, None),
                    Value::Number(name) => push_tag(&mut tags, &name.to_string(), None),
                    other => {
                        return Err(format!(
                            "tags[{i}] must be a name or a {{name, color}} object, not {}",
                            json_kind(other)
                        ));
                    }
                }
            }
        }
        other => {
            return Err(format!(
                "tags must be an array or a \";\"-separated string, not {}",
                json_kind(other)
            ));
        }
    }
    Ok(tags)
}

fn tag_object(tag: &Map<String, Value>) -> Result<(String, Option<String>), String> {
    if let Some(key) = tag
        .keys()
        .find(|key| !matches!(key.as_str(), "name" | "color"))
    {
        return Err(format!("has an unknown field {key:?}"));
    }
    let name = text(tag.get("name").unwrap_or(&Value::Null))
        .map_err(|problem| format!("name {problem}"))?;
    let color = text(tag.get("color").unwrap_or(&Value::Null))
        .map_err(|problem| format!("color {problem}"))?;
    Ok((name.ok_or("has no name")?, color))
}

/// The documented array of `{property, value}`, or an object `{property: value}`.
fn custom_data(
    value: &Value,
    data: &mut Vec<CustomDatum>,
    errors: &mut Vec<RowError>,
    warnings: &mut Warnings,
) {
    let entries: Vec<(&str, &Value)> = match value {
        Value::Null => Vec::new(),
        Value::Object(map) => map
            .iter()
            .map(|(property, value)| (property.trim(), value))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                entry(item)
                    .map_err(|problem| {
                        errors.push(RowError::new(
                            "customData",
                            format!("customData[{i}] {problem}"),
                        ))
                    })
                    .ok()
            })
            .collect(),
        other => {
            let message = format!(
                "customData must be an array of {{property, value}} objects or an object, not {}",
                json_kind(other)
            );
            errors.push(RowError::new("customData", message));
            Vec::new()
        }
    };
    for (property, value) in entries {
        let property = clean_key(property, warnings);
        let property = property.as_ref();
        let field = format!("customData.{property}");
        if property.contains(crate::invisible::REPLACEMENT) {
            let message = format!(
                "customData property {property:?} contains U+FFFD REPLACEMENT CHARACTER: text \
                 lost to a wrong decoding would be sent"
            );
            errors.push(RowError::new(field.as_str(), message));
            continue;
        }
        let checked = match scalar(value) {
            Ok(Some(CustomValue::Text(text))) => {
                let named = || format!("{field} ");
                inspect(Target::Custom { text: true }, named, text.into(), warnings).map(|text| {
                    Some(text.into_owned())
                        .filter(|text| !text.is_empty())
                        .map(CustomValue::Text)
                })
            }
            Ok(other) => Ok(other),
            Err(problem) => Err(format!("{field} {problem}")),
        };
        match checked {
            Ok(Some(value)) => data.push(CustomDatum {
                property: property.into(),
                value,
            }),
            Ok(None) => {}
            Err(message) => errors.push(RowError::new(field.as_str(), message)),
        }
    }
}

fn entry(item: &Value) -> Result<(&str, &Value), String> {
    let Value::Object(entry) = item else {
        return Err(format!(
            "must be an object with property and value, not {}",
            json_kind(item)
        ));
    };
    if let Some(key) = entry
        .keys()
        .find(|key| !matches!(key.as_str(), "property" | "value"))
    {
        return Err(format!("has an unknown field {key:?}"));
    }
    match entry.get("property") {
        Some(Value::String(property)) if !property.trim().is_empty() => {
            Ok((property.trim(), entry.get("value").unwrap_or(&Value::Null)))
        }
        _ => Err("has no property name".to_owned()),
    }
}

/// A customData value as given: JSON already carries its type. Null and `""` are absent.
fn scalar(value: &Value) -> Result<Option<CustomValue>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Bool(value) => Ok(Some(CustomValue::Bool(*value))),
        Value::String(text) => Ok(Some(text.trim())
            .filter(|t| !t.is_empty())
            .map(|t| CustomValue::Text(t.to_owned()))),
        Value::Number(number) => number_value(number).map(Some),
        other => Err(format!("must be a single value, not {}", json_kind(other))),
    }
}

fn number_value(number: &Number) -> Result<CustomValue, String> {
    if let Some(integer) = number.as_i64() {
        Ok(CustomValue::Integer(integer))
    } else if number.is_u64() {
        Err(format!("{number} is too large for an integer"))
    } else {
        match number.as_f64() {
            Some(float) if float.is_finite() => Ok(CustomValue::Float(float)),
            _ => Err(format!("{number} is not a finite number")),
        }
    }
}
