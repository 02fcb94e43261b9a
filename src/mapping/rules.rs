//! The mapping compiled from its config form: where each payload value comes from, with
//! every config mistake found once, before any row is read.

use std::collections::HashSet;

use crate::dates::check_format;

use super::config::{CustomDataSpec, FieldSpec, MappingConfig, TagsSpec};
use super::error::MappingError;
use super::field::{Field, ValueKind};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rules {
    pub(crate) fields: Vec<FieldRule>,
    pub(crate) tags: Option<TagRule>,
    pub(crate) custom: Vec<CustomRule>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldRule {
    pub(crate) field: Field,
    pub(crate) source: Source,
    pub(crate) format: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TagRule {
    pub(crate) column: Option<ColumnRef>,
    pub(crate) separator: String,
    pub(crate) fixed: Vec<String>,
    pub(crate) color: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CustomRule {
    pub(crate) property: std::sync::Arc<str>,
    pub(crate) source: Source,
    pub(crate) kind: ValueKind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Source {
    Column(ColumnRef),
    Template(Vec<Piece>),
    Value(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Piece {
    Text(String),
    Column(ColumnRef),
}

/// A column a rule reads: its name, and, in a [`super::HeaderPlan`]'s copy of the rules,
/// its position in that header, so rows are read without looking names up.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ColumnRef {
    pub(crate) name: String,
    pub(crate) position: Option<usize>,
}

impl std::ops::Deref for ColumnRef {
    type Target = str;

    fn deref(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Debug for ColumnRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.name, f)
    }
}

impl From<String> for ColumnRef {
    fn from(name: String) -> ColumnRef {
        ColumnRef {
            name,
            position: None,
        }
    }
}

impl From<&str> for ColumnRef {
    fn from(name: &str) -> ColumnRef {
        ColumnRef::from(name.to_owned())
    }
}

impl Rules {
    /// A copy that shares no reference count with this one. Every row's payload holds
    /// its customData names; threads mapping at once with the same names would fight
    /// over one counter's cache line for every row.
    pub(crate) fn detached(&self) -> Rules {
        let mut rules = self.clone();
        for rule in &mut rules.custom {
            rule.property = std::sync::Arc::from(&*rule.property);
        }
        rules
    }

    pub(crate) fn from_config(config: &MappingConfig) -> Result<Rules, MappingError> {
        let mut fields = Vec::new();
        for field in Field::ALL {
            if let Some(spec) = field.spec(config) {
                fields.push(field_rule(field, spec)?);
            }
        }
        let tags = config.tags.as_ref().map(tag_rule).transpose()?;
        let mut custom = Vec::new();
        let mut properties = HashSet::new();
        for (position, spec) in config.custom_data.iter().enumerate() {
            let rule = custom_rule(position, spec)?;
            if !properties.insert(rule.property.clone()) {
                return Err(MappingError::DuplicateProperty {
                    property: rule.property.to_string(),
                });
            }
            custom.push(rule);
        }
        if fields.is_empty() && tags.is_none() && custom.is_empty() {
            return Err(MappingError::NothingMapped);
        }
        Ok(Rules {
            fields,
            tags,
            custom,
        })
    }

    /// Sets every column's position in a header (`index`: name → position).
    pub(crate) fn resolve(&mut self, index: &impl Fn(&str) -> Option<usize>) {
        let resolve = |column: &mut ColumnRef| column.position = index(&column.name);
        let sources = self
            .fields
            .iter_mut()
            .map(|rule| &mut rule.source)
            .chain(self.custom.iter_mut().map(|rule| &mut rule.source));
        for source in sources {
            match source {
                Source::Column(column) => resolve(column),
                Source::Template(pieces) => {
                    for piece in pieces {
                        if let Piece::Column(column) = piece {
                            resolve(column);
                        }
                    }
                }
                Source::Value(_) => {}
            }
        }
        if let Some(column) = self.tags.as_mut().and_then(|tags| tags.column.as_mut()) {
            resolve(column);
        }
    }

    /// Whether the rules give email or userId: without either, a contact cannot be looked
    /// up, de-duplicated, updated later or settled when in doubt.
    pub(crate) fn identifies(&self) -> bool {
        self.fields
            .iter()
            .any(|rule| matches!(rule.field, Field::Email | Field::UserId))
    }

    /// The position of the one column a payload field (`email`, `tags`,
    /// `customData.plan`) is read from, once resolved; None for a template or a constant.
    pub(crate) fn column_of(&self, field: &str) -> Option<usize> {
        let single = |source: &Source| match source {
            Source::Column(column) => column.position,
            Source::Template(_) | Source::Value(_) => None,
        };
        if field == "tags" {
            return self.tags.as_ref()?.column.as_ref()?.position;
        }
        if let Some(property) = field.strip_prefix("customData.") {
            let rule = self.custom.iter().find(|r| &*r.property == property)?;
            return single(&rule.source);
        }
        let rule = self.fields.iter().find(|r| r.field.key() == field)?;
        single(&rule.source)
    }

    /// The positions of the columns the rules read, once resolved.
    pub(crate) fn positions(&self) -> impl Iterator<Item = usize> {
        let sources = self
            .fields
            .iter()
            .map(|rule| &rule.source)
            .chain(self.custom.iter().map(|rule| &rule.source));
        sources
            .flat_map(Source::refs)
            .chain(self.tags.iter().filter_map(|tags| tags.column.as_ref()))
            .filter_map(|column| column.position)
    }

    /// Every column the rules read, with the config key that names it.
    pub(crate) fn columns(&self) -> Vec<(&str, String)> {
        let mut columns = Vec::new();
        for rule in &self.fields {
            let key = format!("mapping.{}", rule.field.key());
            columns.extend(rule.source.columns().map(|column| (column, key.clone())));
        }
        if let Some(column) = self.tags.as_ref().and_then(|tags| tags.column.as_deref()) {
            columns.push((column, "mapping.tags.column".to_owned()));
        }
        for rule in &self.custom {
            let key = custom_key(&rule.property);
            columns.extend(rule.source.columns().map(|column| (column, key.clone())));
        }
        columns.dedup();
        columns
    }
}

impl Source {
    fn columns(&self) -> impl Iterator<Item = &str> {
        self.refs().map(|column| &**column)
    }

    fn refs(&self) -> impl Iterator<Item = &ColumnRef> {
        let (single, pieces) = match self {
            Source::Column(column) => (Some(column), &[][..]),
            Source::Template(pieces) => (None, pieces.as_slice()),
            Source::Value(_) => (None, &[][..]),
        };
        single
            .into_iter()
            .chain(pieces.iter().filter_map(|piece| match piece {
                Piece::Column(column) => Some(column),
                Piece::Text(_) => None,
            }))
    }
}

fn field_rule(field: Field, spec: &FieldSpec) -> Result<FieldRule, MappingError> {
    let key = format!("mapping.{}", field.key());
    let (source, format) = match spec {
        FieldSpec::Text(text) if is_template(text) => (template(&key, text)?, None),
        FieldSpec::Text(text) => (Source::Column(non_empty(&key, text)?.into()), None),
        FieldSpec::Table(table) => {
            let source = source(
                &key,
                table.column.as_deref(),
                table.template.as_deref(),
                table.value.as_deref(),
            )?;
            (source, table.format.clone())
        }
    };
    if let Some(format) = &format {
        if !field.is_date() {
            return Err(MappingError::FormatNotDate { key });
        }
        check_format(format).map_err(|problem| MappingError::BadFormat {
            key: key.clone(),
            problem,
        })?;
    }
    if let Source::Value(value) = &source {
        field
            .convert(value, format.as_deref())
            .map_err(|problem| MappingError::BadValue { key, problem })?;
    }
    Ok(FieldRule {
        field,
        source,
        format,
    })
}

fn tag_rule(spec: &TagsSpec) -> Result<TagRule, MappingError> {
    let column = spec
        .column
        .as_deref()
        .map(|column| non_empty("mapping.tags.column", column).map(ColumnRef::from))
        .transpose()?;
    let separator = match &spec.separator {
        Some(separator) if separator.is_empty() => {
            return Err(MappingError::Empty {
                key: "mapping.tags.separator".into(),
            });
        }
        Some(separator) => separator.clone(),
        None => ";".to_owned(),
    };
    let fixed = spec
        .fixed
        .iter()
        .map(|tag| non_empty("mapping.tags.static", tag))
        .collect::<Result<Vec<_>, _>>()?;
    let color = spec
        .color
        .as_deref()
        .map(|color| non_empty("mapping.tags.color", color))
        .transpose()?;
    if let Some(color) = color.as_deref().filter(|c| !crate::color::is_css_color(c)) {
        return Err(MappingError::BadValue {
            key: "mapping.tags.color".into(),
            problem: format!("{color:?} {}", crate::validate::NOT_A_COLOR),
        });
    }
    if column.is_none() && fixed.is_empty() {
        return Err(MappingError::NoTags);
    }
    Ok(TagRule {
        column,
        separator,
        fixed,
        color,
    })
}

fn custom_rule(position: usize, spec: &CustomDataSpec) -> Result<CustomRule, MappingError> {
    let property = non_empty(
        &format!("mapping.customData entry {}: property", position + 1),
        &spec.property,
    )?;
    let key = custom_key(&property);
    let source = source(
        &key,
        spec.column.as_deref(),
        spec.template.as_deref(),
        spec.value.as_deref(),
    )?;
    let mut kind = match &spec.kind {
        None => ValueKind::Text,
        Some(name) => ValueKind::from_name(name).ok_or_else(|| MappingError::UnknownType {
            key: format!("{key}.type"),
            name: name.clone(),
        })?,
    };
    if let Some(format) = &spec.format {
        let ValueKind::Date { format: slot } = &mut kind else {
            return Err(MappingError::FormatNotDate { key });
        };
        check_format(format).map_err(|problem| MappingError::BadFormat {
            key: key.clone(),
            problem,
        })?;
        *slot = Some(format.clone());
    }
    if let Source::Value(value) = &source {
        kind.convert(value)
            .map_err(|problem| MappingError::BadValue { key, problem })?;
    }
    Ok(CustomRule {
        property: property.into(),
        source,
        kind,
    })
}

fn custom_key(property: &str) -> String {
    format!("mapping.customData {property:?}")
}

/// Exactly one of the three, as its table form demands.
fn source(
    key: &str,
    column: Option<&str>,
    template_text: Option<&str>,
    value: Option<&str>,
) -> Result<Source, MappingError> {
    match (column, template_text, value) {
        (Some(column), None, None) => Ok(Source::Column(
            non_empty(&format!("{key}.column"), column)?.into(),
        )),
        (None, Some(text), None) => template(key, text),
        (None, None, Some(value)) => Ok(Source::Value(non_empty(&format!("{key}.value"), value)?)),
        (None, None, None) => Err(MappingError::NoSource {
            key: key.to_owned(),
        }),
        _ => Err(MappingError::SeveralSources {
            key: key.to_owned(),
        }),
    }
}

fn non_empty(key: &str, text: &str) -> Result<String, MappingError> {
    // Header names and cells are trimmed, so names and constants are too.
    match text.trim() {
        "" => Err(MappingError::Empty {
            key: key.to_owned(),
        }),
        trimmed => Ok(trimmed.to_owned()),
    }
}

/// A plain string names a column unless it has braces, which make it a template.
fn is_template(text: &str) -> bool {
    text.contains(['{', '}'])
}

fn template(key: &str, text: &str) -> Result<Source, MappingError> {
    parse_template(text)
        .map(Source::Template)
        .map_err(|problem| MappingError::Template {
            key: key.to_owned(),
            template: text.to_owned(),
            problem: problem.to_owned(),
        })
}

/// `{Column}` placeholders between literal text; `{{` and `}}` are literal braces.
fn parse_template(text: &str) -> Result<Vec<Piece>, &'static str> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' | '}' if chars.peek() == Some(&c) => {
                chars.next();
                literal.push(c);
            }
            '{' => {
                let mut name = String::new();
                loop {
                    match chars.next() {
                        Some('}') => break,
                        Some('{') => return Err("has a \"{\" inside a placeholder"),
                        Some(c) => name.push(c),
                        None => return Err("has an unclosed \"{\""),
                    }
                }
                let name = name.trim();
                if name.is_empty() {
                    return Err("has an empty placeholder \"{}\"");
                }
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Column(name.into()));
            }
            '}' => {
                return Err("has a \"}\" that closes nothing (write \"}}\" for a literal brace)");
            }
            c => literal.push(c),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::config::FieldTable;

    fn text(s: &str) -> Piece {
        Piece::Text(s.into())
    }

    fn column(s: &str) -> Piece {
        Piece::Column(s.into())
    }

    #[test]
    fn templates() {
        assert_eq!(
            parse_template("{First Name} {Last Name}"),
            Ok(vec![column("First Name"), text(" "), column("Last Name")])
        );
        assert_eq!(
            parse_template("{{{ Id }}}: x"),
            Ok(vec![text("{"), column("Id"), text("}: x")])
        );
        assert_eq!(parse_template("{{literal}}"), Ok(vec![text("{literal}")]));
        assert_eq!(parse_template("{First"), Err("has an unclosed \"{\""));
        assert_eq!(
            parse_template("{A{B}}"),
            Err("has a \"{\" inside a placeholder")
        );
        assert_eq!(
            parse_template("{ }"),
            Err("has an empty placeholder \"{}\"")
        );
        assert_eq!(
            parse_template("A}"),
            Err("has a \"}\" that closes nothing (write \"}}\" for a literal brace)")
        );
    }

    fn table(column: Option<&str>, template: Option<&str>, value: Option<&str>) -> FieldSpec {
        FieldSpec::Table(FieldTable {
            column: column.map(Into::into),
            template: template.map(Into::into),
            value: value.map(Into::into),
            format: None,
        })
    }

    fn error(config: MappingConfig) -> String {
        Rules::from_config(&config).unwrap_err().to_string()
    }

    #[test]
    fn field_errors_name_the_key() {
        let cases = [
            (
                MappingConfig::default(),
                "the [mapping] table maps nothing; remove it to use the column-name conventions",
            ),
            (
                MappingConfig {
                    phone: Some(table(None, None, None)),
                    ..Default::default()
                },
                "mapping.phone needs one of column, template or value",
            ),
            (
                MappingConfig {
                    phone: Some(table(Some("P"), None, Some("x"))),
                    ..Default::default()
                },
                "mapping.phone has more than one of column, template and value; keep exactly one",
            ),
            (
                MappingConfig {
                    email: Some(FieldSpec::Text(" ".into())),
                    ..Default::default()
                },
                "mapping.email is empty",
            ),
            (
                MappingConfig {
                    email: Some(table(Some(""), None, None)),
                    ..Default::default()
                },
                "mapping.email.column is empty",
            ),
            (
                MappingConfig {
                    name: Some(FieldSpec::Text("{First".into())),
                    ..Default::default()
                },
                r#"mapping.name: template "{First" has an unclosed "{""#,
            ),
            (
                MappingConfig {
                    locale: Some(table(None, None, Some("xx"))),
                    ..Default::default()
                },
                r#"mapping.locale: value "xx" is not an ISO 639-1 language code"#,
            ),
            (
                MappingConfig {
                    phone: Some(FieldSpec::Table(FieldTable {
                        column: Some("P".into()),
                        format: Some("%Y".into()),
                        ..Default::default()
                    })),
                    ..Default::default()
                },
                r#"mapping.phone: format applies only to dates (firstSeen, lastSeen, or customData with type = "date")"#,
            ),
            (
                MappingConfig {
                    first_seen: Some(FieldSpec::Table(FieldTable {
                        column: Some("D".into()),
                        format: Some("%Y-%Q".into()),
                        ..Default::default()
                    })),
                    ..Default::default()
                },
                r#"mapping.firstSeen: "%Y-%Q" is not a valid chrono strftime format (nor "excel", "unix" or "unix_ms")"#,
            ),
            (
                MappingConfig {
                    first_seen: Some(FieldSpec::Table(FieldTable {
                        value: Some("2021-02-30".into()),
                        format: Some("%Y-%m-%d".into()),
                        ..Default::default()
                    })),
                    ..Default::default()
                },
                r#"mapping.firstSeen: value "2021-02-30" is not a date (expected format %Y-%m-%d)"#,
            ),
        ];
        for (config, message) in cases {
            assert_eq!(error(config), message);
        }
    }

    fn custom(property: &str, kind: Option<&str>, format: Option<&str>) -> CustomDataSpec {
        CustomDataSpec {
            property: property.into(),
            column: Some("C".into()),
            kind: kind.map(Into::into),
            format: format.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn custom_data_and_tag_errors_name_the_key() {
        let with = |custom_data| MappingConfig {
            custom_data,
            ..Default::default()
        };
        let with_tags = |tags| MappingConfig {
            tags: Some(tags),
            ..Default::default()
        };
        let cases = [
            (
                with(vec![custom("a", Some("int"), None)]),
                r#"mapping.customData "a".type: unknown type "int" (expected string, integer, float, boolean or date)"#,
            ),
            (
                with(vec![custom("a", Some("integer"), Some("%Y"))]),
                r#"mapping.customData "a": format applies only to dates (firstSeen, lastSeen, or customData with type = "date")"#,
            ),
            (
                with(vec![custom("a", None, Some("%Y"))]),
                r#"mapping.customData "a": format applies only to dates (firstSeen, lastSeen, or customData with type = "date")"#,
            ),
            (
                with(vec![custom("a", None, None), custom(" a ", None, None)]),
                r#"mapping.customData names property "a" more than once"#,
            ),
            (
                with(vec![custom("a", None, None), custom("", None, None)]),
                "mapping.customData entry 2: property is empty",
            ),
            (
                with(vec![CustomDataSpec {
                    property: "n".into(),
                    value: Some("1.5".into()),
                    kind: Some("integer".into()),
                    ..Default::default()
                }]),
                r#"mapping.customData "n": value "1.5" is not an integer"#,
            ),
            (
                with(vec![CustomDataSpec {
                    property: "n".into(),
                    ..Default::default()
                }]),
                r#"mapping.customData "n" needs one of column, template or value"#,
            ),
            (
                with_tags(TagsSpec::default()),
                "mapping.tags needs a column or static tags",
            ),
            (
                with_tags(TagsSpec {
                    column: Some("T".into()),
                    separator: Some(String::new()),
                    ..Default::default()
                }),
                "mapping.tags.separator is empty",
            ),
            (
                with_tags(TagsSpec {
                    fixed: vec!["a".into(), " ".into()],
                    ..Default::default()
                }),
                "mapping.tags.static is empty",
            ),
            (
                with_tags(TagsSpec {
                    fixed: vec!["a".into()],
                    color: Some(String::new()),
                    ..Default::default()
                }),
                "mapping.tags.color is empty",
            ),
        ];
        for (config, message) in cases {
            assert_eq!(error(config), message);
        }
    }

    #[test]
    fn compiles_every_form() {
        let config = MappingConfig {
            name: Some(FieldSpec::Text("{First} {Last}".into())),
            email: Some(FieldSpec::Text(" Email ".into())),
            first_seen: Some(FieldSpec::Table(FieldTable {
                column: Some("Since".into()),
                format: Some("%d/%m/%Y".into()),
                ..Default::default()
            })),
            source: Some(table(None, None, Some("crm"))),
            tags: Some(TagsSpec {
                column: Some("Segments".into()),
                fixed: vec![" imported ".into()],
                ..Default::default()
            }),
            custom_data: vec![custom("since", Some("Date"), Some("%d/%m/%Y"))],
            ..Default::default()
        };
        let rules = Rules::from_config(&config).unwrap();
        assert_eq!(rules.fields[1].source, Source::Column("Email".into()));
        assert_eq!(rules.fields[2].format.as_deref(), Some("%d/%m/%Y"));
        assert_eq!(
            rules.tags,
            Some(TagRule {
                column: Some("Segments".into()),
                separator: ";".into(),
                fixed: vec!["imported".into()],
                color: None
            })
        );
        assert_eq!(
            rules.custom[0].kind,
            ValueKind::Date {
                format: Some("%d/%m/%Y".into())
            }
        );
        let columns: Vec<_> = rules
            .columns()
            .into_iter()
            .map(|(column, key)| format!("{column} <- {key}"))
            .collect();
        assert_eq!(
            columns,
            [
                "First <- mapping.name",
                "Last <- mapping.name",
                "Email <- mapping.email",
                "Since <- mapping.firstSeen",
                "Segments <- mapping.tags.column",
                r#"C <- mapping.customData "since""#,
            ]
        );
    }
}
