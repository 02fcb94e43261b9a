//! The zero-config mapping: a header whose names are the API's own.

use std::collections::HashMap;

use super::error::MappingError;
use super::field::{Field, ValueKind};
use super::rules::{CustomRule, FieldRule, Rules, Source, TagRule};

const CUSTOM_PREFIX: &str = "customData.";

/// Rules for a header that follows the conventions (its names cleaned, each once).
///
/// Field names match case-insensitively; `tags` is split on `;`; `customData.<property>`
/// is text and `customData.<property>:<type>` typed; `_`-prefixed columns are ignored
/// silently (the importer's own `failed.csv` columns); others are left unread.
pub(crate) fn conventions(header: &[String]) -> Result<Rules, MappingError> {
    let mut rules = Rules {
        fields: Vec::new(),
        tags: None,
        custom: Vec::new(),
    };
    // Payload target → the column that fills it, to refuse two columns for one target.
    let mut targets: HashMap<String, &str> = HashMap::new();
    for name in header {
        let source = Source::Column(name.as_str().into());
        let target = if name.starts_with('_') {
            continue;
        } else if let Some(field) = Field::from_header(name) {
            rules.fields.push(FieldRule {
                field,
                source,
                format: None,
            });
            field.key().to_owned()
        } else if name.eq_ignore_ascii_case("tags") {
            rules.tags = Some(TagRule {
                column: Some(name.as_str().into()),
                separator: ";".to_owned(),
                fixed: Vec::new(),
                color: None,
            });
            "tags".to_owned()
        } else if let Some(spec) = strip_prefix_ignore_case(name, CUSTOM_PREFIX) {
            let rule = custom_rule(name, spec)?;
            let target = format!("customData.{}", rule.property);
            rules.custom.push(CustomRule { source, ..rule });
            target
        } else {
            continue;
        };
        if let Some(first) = targets.insert(target.clone(), name) {
            return Err(MappingError::ConflictingColumns {
                first: first.to_owned(),
                second: name.clone(),
                target,
            });
        }
    }
    Ok(rules)
}

/// Whether the conventions read a column of this (cleaned) name.
pub(crate) fn reads(name: &str) -> bool {
    !name.starts_with('_')
        && (Field::from_header(name).is_some()
            || name.eq_ignore_ascii_case("tags")
            || strip_prefix_ignore_case(name, CUSTOM_PREFIX).is_some())
}

/// The name the conventions would read a column by, when only characters that show as
/// nothing (a Hangul filler, a combining grapheme joiner) keep them from it.
pub(crate) fn looks_like(name: &str) -> Option<String> {
    let lookalike = crate::invisible::lookalike_name(name);
    if reads(name) || !reads(&lookalike) {
        return None;
    }
    Some(match Field::from_header(&lookalike) {
        Some(field) => field.key().to_owned(),
        None => lookalike,
    })
}

/// `property` or `property:type` (the type after the last colon).
fn custom_rule(column: &str, spec: &str) -> Result<CustomRule, MappingError> {
    let (property, kind) = match spec.rsplit_once(':') {
        Some((property, type_name)) => {
            let kind =
                ValueKind::from_name(type_name).ok_or_else(|| MappingError::UnknownColumnType {
                    column: column.to_owned(),
                    name: type_name.to_owned(),
                })?;
            (property, kind)
        }
        None => (spec, ValueKind::Text),
    };
    let property = property.trim();
    if property.is_empty() {
        return Err(MappingError::EmptyProperty {
            column: column.to_owned(),
        });
    }
    // The one place a header name is sent: never with text a decoding lost.
    if property.contains(crate::invisible::REPLACEMENT) {
        return Err(MappingError::LostProperty {
            column: column.to_owned(),
        });
    }
    Ok(CustomRule {
        property: property.into(),
        source: Source::Column(column.into()),
        kind,
    })
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        text.get(prefix.len()..)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn recognises_every_convention() {
        let rules = conventions(&header(&[
            "EMAIL",
            "userid",
            "tags",
            "customData.city",
            "CUSTOMDATA.paid:Boolean",
            "_line",
            "Website",
        ]))
        .unwrap();
        assert_eq!(
            rules.fields,
            [
                FieldRule {
                    field: Field::Email,
                    source: Source::Column("EMAIL".into()),
                    format: None
                },
                FieldRule {
                    field: Field::UserId,
                    source: Source::Column("userid".into()),
                    format: None
                },
            ]
        );
        assert_eq!(rules.tags.unwrap().column.as_deref(), Some("tags"));
        assert_eq!(
            rules.custom,
            [
                CustomRule {
                    property: "city".into(),
                    source: Source::Column("customData.city".into()),
                    kind: ValueKind::Text
                },
                CustomRule {
                    property: "paid".into(),
                    source: Source::Column("CUSTOMDATA.paid:Boolean".into()),
                    kind: ValueKind::Boolean,
                },
            ]
        );
        assert!(reads("EMAIL") && reads("Tags") && reads("customdata.x"));
        assert!(!reads("Website") && !reads("_email"));
        assert_eq!(looks_like("e\u{3164}mail").as_deref(), Some("email"));
        assert_eq!(looks_like("\u{3164}Tags").as_deref(), Some("tags"));
        assert_eq!(looks_like("email"), None);
        assert_eq!(looks_like("Website\u{3164}"), None);
    }

    #[test]
    fn header_errors() {
        let cases: [(&[&str], &str); 5] = [
            (
                &["email", "Email"],
                r#"columns "email" and "Email" both map to email"#,
            ),
            (
                &["customData.a", "customData.a:string"],
                r#"columns "customData.a" and "customData.a:string" both map to customData.a"#,
            ),
            (
                &["tags", "TAGS"],
                r#"columns "tags" and "TAGS" both map to tags"#,
            ),
            (
                &["customData.a:int"],
                r#"column "customData.a:int": unknown type "int" (expected string, integer, float, boolean or date)"#,
            ),
            (
                &["customData.:date"],
                r#"column "customData.:date" names no customData property"#,
            ),
        ];
        for (names, message) in cases {
            assert_eq!(
                conventions(&header(names)).unwrap_err().to_string(),
                message
            );
        }
        assert!(conventions(&header(&["customData."])).is_err());
        assert_eq!(
            conventions(&header(&["customData.Sta\u{FFFD}t"]))
                .unwrap_err()
                .to_string(),
            "column \"customData.Sta\u{FFFD}t\" names a customData property with U+FFFD \
             REPLACEMENT CHARACTER in it: text lost to a wrong decoding would be sent"
        );
        assert!(conventions(&header(&["é", "customDataé"])).is_ok());
    }
}
