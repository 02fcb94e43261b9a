//! Compiled rules applied to one row's cells.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::payload::{CreateCustomer, CustomDatum, CustomValue, Tag};
use crate::record::{CellType, CsvValues, RowError, Warnings};

use super::artefacts::{Target, inspect};
use super::field::{Field, Slot, ValueKind, parse_boolean, put_text};
use super::rules::{ColumnRef, Piece, Rules, Source, TagRule};

/// Named cells of one row.
pub(crate) trait Row {
    /// The trimmed text of `column`; `None` when it is empty or absent.
    fn cell(&self, column: &ColumnRef) -> Result<Option<Cow<'_, str>>, String>;

    /// Whether a cell may hold an invisible character or U+FFFD, so that each must be
    /// looked at (see [`crate::invisible::may_hide`]).
    fn may_hide(&self) -> bool {
        true
    }

    /// When `column` is a workbook's date cell, its UNIX time, which a date field takes as
    /// it is (whatever its `format`, which is for text); an error for a time of day or a
    /// duration, which are no date. None for any other cell.
    fn date(&self, _column: &ColumnRef) -> Option<Result<i64, String>> {
        None
    }
}

/// A CSV record read through a plan, whose rules know each column's position.
pub(crate) struct CsvRow<'a> {
    values: &'a CsvValues,
    /// Asked once for the whole record: nearly every row's answer is no, and then no
    /// cell of it needs a look.
    may_hide: bool,
}

impl<'a> CsvRow<'a> {
    pub(crate) fn new(values: &'a CsvValues) -> CsvRow<'a> {
        CsvRow {
            values,
            may_hide: crate::invisible::may_hide(values.text()),
        }
    }
}

impl Row for CsvRow<'_> {
    fn may_hide(&self) -> bool {
        self.may_hide
    }

    fn cell(&self, column: &ColumnRef) -> Result<Option<Cow<'_, str>>, String> {
        let value = column.position.and_then(|i| self.values.get(i));
        if self.values.has_typed() {
            let typed = column.position.and_then(|i| self.values.typed(i));
            match (typed, value) {
                (Some(CellType::Error), Some(error)) => {
                    return Err(format!(
                        "column {column:?} holds the error {error} (a formula that failed in \
                         the workbook: fix it there)"
                    ));
                }
                (Some(CellType::Inexact), Some(number)) => {
                    return Err(format!(
                        "column {column:?} holds the number {number}, too long for a \
                         spreadsheet cell to hold exactly (its last digits are not the ones \
                         typed): format the column as text in the workbook"
                    ));
                }
                _ => {}
            }
        }
        Ok(value.and_then(present).map(Cow::Borrowed))
    }

    fn date(&self, column: &ColumnRef) -> Option<Result<i64, String>> {
        let index = column.position?;
        match self.values.typed(index)? {
            CellType::Date(seconds) => {
                let text = self.values.get(index).unwrap_or_default();
                Some(crate::dates::in_range(seconds, text))
            }
            CellType::Time => {
                let text = self.values.get(index).unwrap_or_default();
                Some(Err(format!(
                    "{text:?} is a time of day or a duration, not a date"
                )))
            }
            CellType::Error | CellType::Inexact => None,
        }
    }
}

/// An NDJSON object read through a mapping: its top-level keys are the columns.
pub(crate) struct JsonRow<'a>(pub(crate) &'a Map<String, Value>);

impl Row for JsonRow<'_> {
    fn cell(&self, column: &ColumnRef) -> Result<Option<Cow<'_, str>>, String> {
        match self.0.get(&column.name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(present(text).map(Cow::Borrowed)),
            Some(Value::Number(number)) => Ok(Some(Cow::Owned(number.to_string()))),
            Some(Value::Bool(value)) => Ok(Some(Cow::Owned(value.to_string()))),
            Some(Value::Array(_)) => Err(format!(
                "column {column:?} holds an array, not a single value"
            )),
            Some(Value::Object(_)) => Err(format!(
                "column {column:?} holds an object, not a single value"
            )),
        }
    }
}

pub(crate) fn present(text: &str) -> Option<&str> {
    // Most cells have nothing to trim: spare them `trim`'s walk through chars.
    let bytes = text.as_bytes();
    let clean = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_graphic());
    if clean(bytes.first()) && clean(bytes.last()) {
        return Some(text);
    }
    Some(text.trim()).filter(|text| !text.is_empty())
}

/// Makes `payload` the one the rules make of `row`, and returns every problem met on
/// the way; what is sent anyway goes to `warnings` (see [`super::artefacts`]). A value
/// that fails is left out of the payload, so `validate` does not report it again.
///
/// Whatever `payload` held before is overwritten, but its buffers are reused: a dry
/// run maps every row into one payload only to check it, and allocating a dozen
/// values a row, then freeing them, cost more than the checks.
pub(crate) fn apply_into(
    rules: &Rules,
    row: &impl Row,
    payload: &mut CreateCustomer,
    warnings: &mut Warnings,
) -> Vec<RowError> {
    let mut errors = Vec::new();
    let may_hide = row.may_hide();
    let mut written = [false; Field::ALL.len()];
    for rule in &rules.fields {
        written[rule.field as usize] = true;
        let key = rule.field.key();
        let named = || subject(key, &rule.source);
        let typed = rule
            .field
            .is_date()
            .then(|| typed_date(&rule.source, row))
            .flatten();
        let text = match typed {
            // Read from the cell's type: its text is not needed.
            Some(_) => Ok(None),
            None => evaluate(&rule.source, row).and_then(|text| {
                clean(Target::Field(rule.field), &named, text, may_hide, warnings)
            }),
        };
        let converted = match rule.field.slot(payload) {
            Slot::Text(slot) => {
                let mut value = slot.take().unwrap_or_default();
                value.clear();
                if let Some(date) = typed {
                    let converted = date
                        .map(|seconds| {
                            value.push_str(itoa::Buffer::new().format(seconds));
                            *slot = Some(value);
                        })
                        .map_err(|problem| format!("{}{problem}", named()));
                    if let Err(message) = converted {
                        errors.push(RowError::new(key, message));
                    }
                    continue;
                }
                let converted = text.and_then(|text| match text {
                    Some(text) => rule
                        .field
                        .convert_into(&text, rule.format.as_deref(), &mut value)
                        .map(|()| Some(value))
                        .map_err(|problem| format!("{}{problem}", named())),
                    None => Ok(None),
                });
                converted.map(|value| *slot = value)
            }
            Slot::Flag(slot) => {
                let converted = text.and_then(|text| {
                    text.map(|text| parse_boolean(&text))
                        .transpose()
                        .map_err(|problem| format!("{}{problem}", named()))
                });
                converted.map(|value| *slot = value)
            }
        };
        if let Err(message) = converted {
            errors.push(RowError::new(key, message));
        }
    }
    for field in Field::ALL {
        if !written[field as usize] {
            field.clear(payload);
        }
    }
    payload.tags.clear();
    if let Some(rule) = &rules.tags
        && let Err(message) = tags(rule, row, &mut payload.tags, warnings)
    {
        errors.push(RowError::new("tags", message));
    }
    let mut custom = 0;
    for rule in &rules.custom {
        // Named only for a message: a valid row spares the allocation.
        let key = || format!("customData.{}", rule.property);
        if custom == payload.custom_data.len() {
            payload.custom_data.push(CustomDatum {
                property: rule.property.clone(),
                value: CustomValue::Bool(false),
            });
        }
        let datum = &mut payload.custom_data[custom];
        let named = || subject(&key(), &rule.source);
        let target = Target::Custom {
            text: rule.kind == ValueKind::Text,
        };
        let typed = matches!(rule.kind, ValueKind::Date { .. })
            .then(|| typed_date(&rule.source, row))
            .flatten();
        let converted = match typed {
            Some(date) => date
                .map(|seconds| {
                    put_text(&mut datum.value, itoa::Buffer::new().format(seconds));
                    true
                })
                .map_err(|problem| format!("{}{problem}", named())),
            None => evaluate(&rule.source, row)
                .and_then(|text| clean(target, &named, text, may_hide, warnings))
                .and_then(|text| match text {
                    Some(text) => rule
                        .kind
                        .convert_into(&text, &mut datum.value)
                        .map(|()| true)
                        .map_err(|problem| format!("{}{problem}", named())),
                    None => Ok(false),
                }),
        };
        match converted {
            Ok(true) => {
                if !std::sync::Arc::ptr_eq(&datum.property, &rule.property) {
                    datum.property = rule.property.clone();
                }
                custom += 1;
            }
            Ok(false) => {}
            Err(message) => errors.push(RowError::new(key(), message)),
        }
    }
    payload.custom_data.truncate(custom);
    errors
}

/// A workbook's date cell that `source` is (a column, not a template), read from its type.
fn typed_date(source: &Source, row: &impl Row) -> Option<Result<i64, String>> {
    match source {
        Source::Column(column) => row.date(column),
        Source::Template(_) | Source::Value(_) => None,
    }
}

/// A present value as [`inspect`] leaves it: None when nothing but invisible
/// characters was there. `may_hide`: the row's answer; without it only a number Excel
/// may have shortened needs a look.
// Always inlined: called for every mapped cell, and nearly always only to hand the
// value back.
#[inline(always)]
fn clean<'a>(
    target: Target,
    named: &dyn Fn() -> String,
    text: Option<Cow<'a, str>>,
    may_hide: bool,
    warnings: &mut Warnings,
) -> Result<Option<Cow<'a, str>>, String> {
    match text {
        Some(text) if may_hide || target.counts_digits() => inspect(target, named, text, warnings)
            .map(|text| Some(text).filter(|text| !text.is_empty())),
        text => Ok(text),
    }
}

/// Names the column when it is not simply the field's own name, so the message points
/// at what to fix in the file.
fn subject(key: &str, source: &Source) -> String {
    match source {
        Source::Column(column) => column_subject(key, column),
        _ => format!("{key} "),
    }
}

fn column_subject(key: &str, column: &str) -> String {
    if column.eq_ignore_ascii_case(key) {
        format!("{key} ")
    } else {
        format!("column {column:?}: ")
    }
}

/// A source's text, trimmed; `None` when empty. A template whose columns are all empty
/// is empty too, so `"+1 {Phone}"` sends nothing rather than `"+1"`.
fn evaluate<'a>(source: &'a Source, row: &'a impl Row) -> Result<Option<Cow<'a, str>>, String> {
    match source {
        Source::Column(column) => row.cell(column),
        Source::Value(value) => Ok(Some(Cow::Borrowed(value))),
        Source::Template(pieces) => {
            let mut rendered = String::new();
            let mut placeholders = 0;
            let mut filled = 0;
            for piece in pieces {
                match piece {
                    Piece::Text(text) => rendered.push_str(text),
                    Piece::Column(column) => {
                        placeholders += 1;
                        if let Some(value) = row.cell(column)? {
                            filled += 1;
                            rendered.push_str(&value);
                        }
                    }
                }
            }
            if placeholders > 0 && filled == 0 {
                return Ok(None);
            }
            let collapsed = rendered.split_whitespace().collect::<Vec<_>>().join(" ");
            Ok(Some(collapsed)
                .filter(|text| !text.is_empty())
                .map(Cow::Owned))
        }
    }
}

/// The rule's tags, into `tags`.
fn tags(
    rule: &TagRule,
    row: &impl Row,
    tags: &mut Vec<Tag>,
    warnings: &mut Warnings,
) -> Result<(), String> {
    let cell = match &rule.column {
        Some(column) => {
            let named = || column_subject("tags", column);
            clean(
                Target::Tags,
                &named,
                row.cell(column)?,
                row.may_hide(),
                warnings,
            )?
        }
        None => None,
    };
    let color = rule.color.as_deref();
    if let Some(cell) = &cell {
        warn_unsplit(cell, &rule.separator, warnings);
        // A one-character separator splits by `char`: a string pattern's searcher costs
        // more to set up than the split itself.
        let mut chars = rule.separator.chars();
        match (chars.next(), chars.next()) {
            (Some(separator), None) => cell
                .split(separator)
                .for_each(|name| push_tag(tags, name, color)),
            _ => cell
                .split(rule.separator.as_str())
                .for_each(|name| push_tag(tags, name, color)),
        }
    }
    for name in &rule.fixed {
        push_tag(tags, name, color);
    }
    Ok(())
}

/// Separators tags are split on in exports, besides the one in use.
const USUAL_SEPARATORS: [&str; 3] = [",", ";", "|"];

/// A warning for a tags cell that holds none of `separator` but another usual one:
/// `vip, newsletter` split on `;` is one tag named `vip, newsletter`, rarely what was
/// meant.
pub(crate) fn warn_unsplit(cell: &str, separator: &str, warnings: &mut Warnings) {
    // Nearly every cell holds its separator or none of these: one pass over its bytes.
    let usual = |b: &u8| matches!(b, b',' | b';' | b'|');
    if !cell.as_bytes().iter().any(usual) || cell.contains(separator) {
        return;
    }
    let Some(other) = USUAL_SEPARATORS
        .into_iter()
        .find(|other| *other != separator && cell.contains(other))
    else {
        return;
    };
    warnings.push(
        format!("tags hold {other:?} but are split on {separator:?}"),
        format!(
            "tags {cell:?} hold {other:?} but no {separator:?}, the separator: sent as one tag \
             (to split on {other:?}, set separator = {other:?} in [mapping.tags])"
        ),
    );
}

/// Adds a tag trimmed, unless it is empty or already there (the first one wins).
pub(crate) fn push_tag(tags: &mut Vec<Tag>, name: &str, color: Option<&str>) {
    let name = name.trim();
    if !name.is_empty() && !tags.iter().any(|tag| tag.name == name) {
        tags.push(Tag {
            name: name.to_owned(),
            color: color.map(str::to_owned),
        });
    }
}
