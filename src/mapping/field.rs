//! The payload's text fields and customData value types, and how a cell's text becomes
//! each of them. Conversion errors are clauses starting with the quoted text; the caller
//! puts the field or column in front.

// Writes a timestamp's digits on the stack: `to_string` goes through the formatting
// machinery, which cost as much as parsing the date.
use itoa::Buffer as Seconds;

use crate::dates::parse_timestamp;
use crate::locale::normalize_locale_into;
use crate::payload::{CreateCustomer, CustomValue};

use super::config::{FieldSpec, MappingConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Name,
    Email,
    UserId,
    Company,
    Phone,
    FirstSeen,
    LastSeen,
    Source,
    Locale,
    Notes,
    Unsubscribed,
    Blocked,
    Referer,
    LastPage,
    CreatedFrom,
    IntegrationId,
}

/// Where a field's value goes in the payload: text (dates are timestamp strings) or a
/// boolean.
pub(crate) enum Slot<'a> {
    Text(&'a mut Option<String>),
    Flag(&'a mut Option<bool>),
}

impl Field {
    pub(crate) const ALL: [Field; 16] = [
        Field::Name,
        Field::Email,
        Field::UserId,
        Field::Company,
        Field::Phone,
        Field::FirstSeen,
        Field::LastSeen,
        Field::Source,
        Field::Locale,
        Field::Notes,
        Field::Unsubscribed,
        Field::Blocked,
        Field::Referer,
        Field::LastPage,
        Field::CreatedFrom,
        Field::IntegrationId,
    ];

    /// The key in the payload JSON, the config and the conventional header.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Email => "email",
            Field::UserId => "userId",
            Field::Company => "company",
            Field::Phone => "phone",
            Field::FirstSeen => "firstSeen",
            Field::LastSeen => "lastSeen",
            Field::Source => "source",
            Field::Locale => "locale",
            Field::Notes => "notes",
            Field::Unsubscribed => "unsubscribed",
            Field::Blocked => "blocked",
            Field::Referer => "referer",
            Field::LastPage => "lastPage",
            Field::CreatedFrom => "createdFrom",
            Field::IntegrationId => "integrationId",
        }
    }

    pub(crate) fn from_key(key: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|field| field.key() == key)
    }

    pub(crate) fn from_header(name: &str) -> Option<Field> {
        Field::ALL
            .into_iter()
            .find(|field| field.key().eq_ignore_ascii_case(name))
    }

    pub(crate) fn spec(self, config: &MappingConfig) -> Option<&FieldSpec> {
        match self {
            Field::Name => config.name.as_ref(),
            Field::Email => config.email.as_ref(),
            Field::UserId => config.user_id.as_ref(),
            Field::Company => config.company.as_ref(),
            Field::Phone => config.phone.as_ref(),
            Field::FirstSeen => config.first_seen.as_ref(),
            Field::LastSeen => config.last_seen.as_ref(),
            Field::Source => config.source.as_ref(),
            Field::Locale => config.locale.as_ref(),
            Field::Notes => config.notes.as_ref(),
            Field::Unsubscribed => config.unsubscribed.as_ref(),
            Field::Blocked => config.blocked.as_ref(),
            Field::Referer => config.referer.as_ref(),
            Field::LastPage => config.last_page.as_ref(),
            Field::CreatedFrom => config.created_from.as_ref(),
            Field::IntegrationId => config.integration_id.as_ref(),
        }
    }

    pub(crate) fn slot(self, payload: &mut CreateCustomer) -> Slot<'_> {
        let text = match self {
            Field::Name => &mut payload.name,
            Field::Email => &mut payload.email,
            Field::UserId => &mut payload.user_id,
            Field::Company => &mut payload.company,
            Field::Phone => &mut payload.phone,
            Field::FirstSeen => &mut payload.first_seen,
            Field::LastSeen => &mut payload.last_seen,
            Field::Source => &mut payload.source,
            Field::Locale => &mut payload.locale,
            Field::Notes => &mut payload.notes,
            Field::Referer => &mut payload.referer,
            Field::LastPage => &mut payload.last_page,
            Field::CreatedFrom => &mut payload.created_from,
            Field::IntegrationId => &mut payload.integration_id,
            Field::Unsubscribed => return Slot::Flag(&mut payload.unsubscribed),
            Field::Blocked => return Slot::Flag(&mut payload.blocked),
        };
        Slot::Text(text)
    }

    /// Leaves the field out of `payload`.
    pub(crate) fn clear(self, payload: &mut CreateCustomer) {
        match self.slot(payload) {
            Slot::Text(slot) => *slot = None,
            Slot::Flag(slot) => *slot = None,
        }
    }

    /// Sets the field in `payload` to `value`, as [`Field::convert`] made it.
    pub(crate) fn set(self, payload: &mut CreateCustomer, value: FieldValue) {
        match (self.slot(payload), value) {
            (Slot::Text(slot), FieldValue::Text(text)) => *slot = Some(text),
            (Slot::Flag(slot), FieldValue::Flag(flag)) => *slot = Some(flag),
            // Never: a field's conversion gives its own kind of value.
            (Slot::Text(slot), FieldValue::Flag(flag)) => *slot = Some(flag.to_string()),
            (Slot::Flag(slot), FieldValue::Text(_)) => *slot = None,
        }
    }

    /// A date, sent as a UNIX timestamp string: `firstSeen` and `lastSeen`.
    pub(crate) fn is_date(self) -> bool {
        matches!(self, Field::FirstSeen | Field::LastSeen)
    }

    /// Trimmed, non-empty text → the field's value (emails are checked by `validate`).
    pub(crate) fn convert(self, text: &str, format: Option<&str>) -> Result<FieldValue, String> {
        match self {
            Field::Unsubscribed | Field::Blocked => parse_boolean(text).map(FieldValue::Flag),
            _ => {
                let mut value = String::new();
                self.convert_into(text, format, &mut value)
                    .map(|()| FieldValue::Text(value))
            }
        }
    }

    /// [`Field::convert`] of a text field, appending to `value`, so that its buffer is
    /// reused.
    pub(crate) fn convert_into(
        self,
        text: &str,
        format: Option<&str>,
        value: &mut String,
    ) -> Result<(), String> {
        match self {
            Field::FirstSeen | Field::LastSeen => {
                value.push_str(Seconds::new().format(parse_timestamp(text, format)?))
            }
            Field::Locale => normalize_locale_into(text, value)?,
            _ => value.push_str(text),
        }
        Ok(())
    }
}

/// A field's converted value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldValue {
    Text(String),
    Flag(bool),
}

/// `true`/`false`, `yes`/`no` or `1`/`0`, in any case: a boolean field or a typed
/// customData boolean.
pub(crate) fn parse_boolean(text: &str) -> Result<bool, String> {
    // Compared in any case without lowering a copy: one allocation a row less.
    let is = |words: [&str; 3]| words.iter().any(|w| w.eq_ignore_ascii_case(text));
    if is(["true", "yes", "1"]) {
        Ok(true)
    } else if is(["false", "no", "0"]) {
        Ok(false)
    } else {
        Err(format!(
            "{text:?} is not a boolean (expected true/false, yes/no or 1/0)"
        ))
    }
}

/// The type of a customData value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ValueKind {
    Text,
    Integer,
    Float,
    Boolean,
    Date { format: Option<String> },
}

impl ValueKind {
    /// `string`, `integer`, `float`, `boolean` or `date`, any case.
    pub(crate) fn from_name(name: &str) -> Option<ValueKind> {
        let kind = match name.trim().to_ascii_lowercase().as_str() {
            "string" => ValueKind::Text,
            "integer" => ValueKind::Integer,
            "float" => ValueKind::Float,
            "boolean" => ValueKind::Boolean,
            "date" => ValueKind::Date { format: None },
            _ => return None,
        };
        Some(kind)
    }

    /// Trimmed, non-empty text → a typed value. Text stays text (a zip code `01234`
    /// keeps its zero); a date becomes a UNIX timestamp string.
    pub(crate) fn convert(&self, text: &str) -> Result<CustomValue, String> {
        let mut value = CustomValue::Bool(false);
        self.convert_into(text, &mut value).map(|()| value)
    }

    /// [`ValueKind::convert`] into `value`, reusing its buffer if it holds text.
    pub(crate) fn convert_into(&self, text: &str, value: &mut CustomValue) -> Result<(), String> {
        match self {
            ValueKind::Text => put_text(value, text),
            ValueKind::Integer => {
                *value = text
                    .parse()
                    .map(CustomValue::Integer)
                    .map_err(|_| format!("{text:?} is not an integer"))?;
            }
            ValueKind::Float => match text.parse::<f64>() {
                Ok(number) if number.is_finite() => *value = CustomValue::Float(number),
                _ => return Err(format!("{text:?} is not a finite number")),
            },
            ValueKind::Boolean => *value = CustomValue::Bool(parse_boolean(text)?),
            ValueKind::Date { format } => {
                let seconds = parse_timestamp(text, format.as_deref())?;
                put_text(value, Seconds::new().format(seconds));
            }
        }
        Ok(())
    }
}

/// Makes `value` the text `text`, in its own buffer if it has one.
pub(crate) fn put_text(value: &mut CustomValue, text: &str) {
    match value {
        CustomValue::Text(buffer) => {
            buffer.clear();
            buffer.push_str(text);
        }
        other => *other = CustomValue::Text(text.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for field in Field::ALL {
            assert_eq!(Field::from_key(field.key()), Some(field));
            assert_eq!(Field::from_header(&field.key().to_uppercase()), Some(field));
        }
        assert_eq!(Field::from_key("UserId"), None);
        assert_eq!(Field::from_header("tags"), None);
    }

    #[test]
    fn field_conversions() {
        let text = |text: &str| Ok(FieldValue::Text(text.into()));
        assert_eq!(Field::FirstSeen.convert("1970-01-02", None), text("86400"));
        assert_eq!(
            Field::LastSeen.convert("02/01/1970", Some("%d/%m/%Y")),
            text("86400")
        );
        assert_eq!(Field::Locale.convert("en-GB", None), text("en"));
        assert_eq!(
            Field::Email.convert("not checked here", None),
            text("not checked here")
        );
        assert_eq!(
            Field::Unsubscribed.convert("YES", None),
            Ok(FieldValue::Flag(true))
        );
        assert_eq!(
            Field::Blocked.convert("0", None),
            Ok(FieldValue::Flag(false))
        );
        assert_eq!(
            Field::Blocked.convert("on", None),
            Err(r#""on" is not a boolean (expected true/false, yes/no or 1/0)"#.into())
        );
        assert!(Field::LastSeen.is_date() && !Field::Unsubscribed.is_date());
    }

    #[test]
    fn value_conversions() {
        let integer = ValueKind::from_name("Integer").unwrap();
        assert_eq!(integer.convert("-15"), Ok(CustomValue::Integer(-15)));
        assert_eq!(
            integer.convert("1.5"),
            Err(r#""1.5" is not an integer"#.into())
        );
        assert_eq!(
            integer.convert("99999999999999999999"),
            Err(r#""99999999999999999999" is not an integer"#.into())
        );
        let float = ValueKind::from_name("float").unwrap();
        assert_eq!(float.convert("15.99"), Ok(CustomValue::Float(15.99)));
        assert_eq!(float.convert("2"), Ok(CustomValue::Float(2.0)));
        assert_eq!(
            float.convert("inf"),
            Err(r#""inf" is not a finite number"#.into())
        );
        assert_eq!(
            float.convert("1,5"),
            Err(r#""1,5" is not a finite number"#.into())
        );
        let boolean = ValueKind::from_name("BOOLEAN").unwrap();
        for (text, value) in [
            ("true", true),
            ("YES", true),
            ("1", true),
            ("False", false),
            ("no", false),
            ("0", false),
        ] {
            assert_eq!(
                boolean.convert(text),
                Ok(CustomValue::Bool(value)),
                "{text}"
            );
        }
        assert_eq!(
            boolean.convert("maybe"),
            Err(r#""maybe" is not a boolean (expected true/false, yes/no or 1/0)"#.into())
        );
        let text = ValueKind::from_name("string").unwrap();
        assert_eq!(text.convert("01234"), Ok(CustomValue::Text("01234".into())));
        let date = ValueKind::from_name("date").unwrap();
        assert_eq!(
            date.convert("1970-01-02T00:00:01Z"),
            Ok(CustomValue::Text("86401".into()))
        );
        assert_eq!(ValueKind::from_name("int"), None);
    }
}
