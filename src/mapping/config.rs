//! The `[mapping]` table of the TOML config, as written. `Mapper::new` checks it.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor, value::MapAccessDeserializer};

/// How input columns become payload fields. Every key is documented in `config.example.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    pub name: Option<FieldSpec>,
    pub email: Option<FieldSpec>,
    #[serde(rename = "userId")]
    pub user_id: Option<FieldSpec>,
    pub company: Option<FieldSpec>,
    pub phone: Option<FieldSpec>,
    #[serde(rename = "firstSeen")]
    pub first_seen: Option<FieldSpec>,
    #[serde(rename = "lastSeen")]
    pub last_seen: Option<FieldSpec>,
    pub source: Option<FieldSpec>,
    pub locale: Option<FieldSpec>,
    pub notes: Option<FieldSpec>,
    /// A boolean: true/false, yes/no or 1/0, any case.
    pub unsubscribed: Option<FieldSpec>,
    /// A boolean, as `unsubscribed`.
    pub blocked: Option<FieldSpec>,
    pub referer: Option<FieldSpec>,
    #[serde(rename = "lastPage")]
    pub last_page: Option<FieldSpec>,
    #[serde(rename = "createdFrom")]
    pub created_from: Option<FieldSpec>,
    #[serde(rename = "integrationId")]
    pub integration_id: Option<FieldSpec>,
    pub tags: Option<TagsSpec>,
    #[serde(rename = "customData", default)]
    pub custom_data: Vec<CustomDataSpec>,
}

/// One payload field: `"Column"`, `"{First} {Last}"` (a string with braces is a template),
/// or a table with exactly one of `column`, `template`, `value`.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldSpec {
    Text(String),
    Table(FieldTable),
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldTable {
    pub column: Option<String>,
    pub template: Option<String>,
    #[serde(default, deserialize_with = "scalar")]
    pub value: Option<String>,
    /// `excel`, `unix`, `unix_ms` or a chrono strftime format; only for `firstSeen` and
    /// `lastSeen`.
    pub format: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagsSpec {
    pub column: Option<String>,
    /// Splits the column's cells; `;` when absent.
    pub separator: Option<String>,
    /// Tags added to every row.
    #[serde(rename = "static", default)]
    pub fixed: Vec<String>,
    /// Color of every tag.
    pub color: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDataSpec {
    pub property: String,
    pub column: Option<String>,
    pub template: Option<String>,
    #[serde(default, deserialize_with = "scalar")]
    pub value: Option<String>,
    /// `string` (default), `integer`, `float`, `boolean` or `date`; checked by `Mapper::new`
    /// so that a typo is reported with the entry it is in.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `excel`, `unix`, `unix_ms` or a chrono strftime format; only with `type = "date"`.
    pub format: Option<String>,
}

impl<'de> Deserialize<'de> for FieldSpec {
    // By hand rather than `untagged`, whose error ("did not match any variant") hides
    // the real problem, such as an unknown key in the table.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = FieldSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a column name, a template, or a table with column, template or value")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<FieldSpec, E> {
                Ok(FieldSpec::Text(text.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldSpec, A::Error> {
                FieldTable::deserialize(MapAccessDeserializer::new(map)).map(FieldSpec::Table)
            }
        }
        deserializer.deserialize_any(SpecVisitor)
    }
}

/// A constant may be written as any TOML scalar (`value = 15`, `value = true`); it is
/// kept as text and converted like a cell.
fn scalar<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    struct ScalarVisitor;
    impl Visitor<'_> for ScalarVisitor {
        type Value = Option<String>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string, a number or a boolean")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok(Some(text.to_owned()))
        }
        fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
            Ok(Some(number.to_string()))
        }
        fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
            Ok(Some(number.to_string()))
        }
        fn visit_f64<E: de::Error>(self, number: f64) -> Result<Self::Value, E> {
            Ok(Some(number.to_string()))
        }
        fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
            Ok(Some(value.to_string()))
        }
    }
    deserializer.deserialize_any(ScalarVisitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MappingConfig, String> {
        toml::from_str::<toml::Table>(text)
            .map_err(|e| e.to_string())?
            .remove("mapping")
            .ok_or("no [mapping]")?
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())
    }

    #[test]
    fn every_form() {
        let config = parse(
            r##"
            [mapping]
            name = "{First Name} {Last Name}"
            email = "Email"
            userId = { column = "Customer Id" }
            phone = { template = "{Phone 1}" }
            source = { value = "crm-export" }
            notes = { value = 15 }
            firstSeen = { column = "Subscription Date", format = "%Y-%m-%d" }
            [mapping.tags]
            column = "Segments"
            static = ["imported"]
            color = "#c377e0"
            [[mapping.customData]]
            property = "paid"
            value = true
            type = "boolean"
            "##,
        )
        .unwrap();
        assert_eq!(
            config.name,
            Some(FieldSpec::Text("{First Name} {Last Name}".into()))
        );
        assert_eq!(
            config.user_id,
            Some(FieldSpec::Table(FieldTable {
                column: Some("Customer Id".into()),
                ..FieldTable::default()
            }))
        );
        assert_eq!(
            config.notes,
            Some(FieldSpec::Table(FieldTable {
                value: Some("15".into()),
                ..FieldTable::default()
            }))
        );
        assert_eq!(
            config.first_seen,
            Some(FieldSpec::Table(FieldTable {
                column: Some("Subscription Date".into()),
                format: Some("%Y-%m-%d".into()),
                ..FieldTable::default()
            }))
        );
        let tags = config.tags.unwrap();
        assert_eq!(tags.fixed, ["imported"]);
        assert_eq!(tags.separator, None);
        assert_eq!(config.custom_data[0].value.as_deref(), Some("true"));
        assert_eq!(config.custom_data[0].kind.as_deref(), Some("boolean"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let error = parse("[mapping]\nemial = \"Email\"").unwrap_err();
        assert!(error.contains("unknown field `emial`"), "{error}");
        let error = parse("[mapping]\nphone = { colum = \"Phone\" }").unwrap_err();
        assert!(error.contains("unknown field `colum`"), "{error}");
        let error = parse("[mapping.tags]\ncolour = \"red\"").unwrap_err();
        assert!(error.contains("unknown field `colour`"), "{error}");
        let error =
            parse("[[mapping.customData]]\nproperty = \"a\"\ncolumn = \"A\"\ntpye = \"date\"")
                .unwrap_err();
        assert!(error.contains("unknown field `tpye`"), "{error}");
        let error = parse("[mapping]\nphone = 5").unwrap_err();
        assert!(
            error.contains("a column name, a template, or a table"),
            "{error}"
        );
    }
}
