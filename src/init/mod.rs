//! `init FILE`: a commented `[mapping]` config guessed from a file's header and first rows,
//! ready to edit and pass as `--config`.
//!
//! The guessing is pure ([`guess`], [`render`]); [`init`] only reads the sample.

mod guess;
mod render;

use std::collections::HashSet;
use std::io::Read;
use std::sync::Arc;

use serde_json::Value;

use crate::error::RunError;
use crate::invisible::clean_name;
use crate::record::{CellType, Cells};
use crate::source::{Format, Input, Rows, TextEncoding};

pub use guess::{Column, Kind, Role, date_format, field_for, guess, value_kind};
pub use render::{property_name, render};

/// Rows read to guess types and date formats.
pub const DEFAULT_SAMPLE_ROWS: usize = 200;
/// Bytes of a file looked at to tell whether it is UTF-8.
const SNIFFED_BYTES: u64 = 1 << 20;

/// Why `input` (a file, read as UTF-8 since no encoding was given) seems not to be
/// UTF-8: its first byte that is not, and on which line. None when its first bytes are
/// UTF-8, or it is stdin (which cannot be read twice), or a workbook.
fn not_utf8(input: &Input) -> Result<Option<String>, RunError> {
    // A workbook's bytes are no text: its cells say their own encoding.
    if input.text.encoding.is_some() || input.path.is_none() || input.format == Format::Workbook {
        return Ok(None);
    }
    let mut head = Vec::new();
    input
        .open_bytes(Arc::default())?
        .take(SNIFFED_BYTES)
        .read_to_end(&mut head)
        .map_err(|e| input.io_error(e))?;
    // UTF-16 with a byte-order mark is read as it is.
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        return Ok(None);
    }
    Ok(match std::str::from_utf8(&head) {
        // A character cut at the end of the sample is no sign.
        Err(e) if e.error_len().is_some() => {
            let at = e.valid_up_to();
            let before = head.get(..at).unwrap_or_default();
            let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
            let byte = head.get(at).copied().unwrap_or_default();
            Some(format!("line {line} has the byte 0x{byte:02X}"))
        }
        _ => None,
    })
}

/// Reads `input`'s header (or, for NDJSON, the keys of its first objects) and up to
/// `rows` rows, and returns the config text. A file given no encoding whose first bytes
/// are not UTF-8 is read as Windows-1252, and the config says so.
pub fn init(input: &Input, rows: usize) -> Result<String, RunError> {
    let sniffed = not_utf8(input)?;
    let mut input = input.clone();
    if let Some(why) = &sniffed {
        tracing::warn!(
            "{}: not UTF-8 ({why}); reading it as Windows-1252, and the config says so",
            input.name
        );
        input.text.encoding = Some(TextEncoding::Windows1252);
    }
    let input = &input;
    let mut source = Rows::open(input, Arc::default())?;
    let mut text = input.text.clone();
    // Names as the mapping matches them; columns with no name at the end (Excel's) left
    // out.
    text.delimiter = source.delimiter();
    let mut header: Vec<String> = match source.header() {
        Some(header) => {
            let mut names: Vec<String> = header
                .iter()
                .map(|name| clean_name(name).into_owned())
                .collect();
            let named = names
                .iter()
                .rposition(|name| !name.is_empty())
                .map_or(0, |last| last + 1);
            names.truncate(named);
            names
        }
        None => Vec::new(),
    };
    if let Some(header) = source.header() {
        let plan = crate::mapping::Mapper::new(None).and_then(|mapper| mapper.plan(header));
        if let Err(error @ crate::mapping::MappingError::EmptyColumnName { .. }) = plan {
            return Err(RunError::Header {
                file: input.name.clone(),
                line: header.line(),
                error,
            });
        }
    }
    let mut samples: Vec<Vec<String>> = vec![Vec::new(); header.len()];
    // A workbook's date cells, by column: read from their type, they need no format.
    let mut date_cells: Vec<Vec<String>> = vec![Vec::new(); header.len()];
    let mut nested: HashSet<String> = HashSet::new();
    let mut sampled = 0;
    for row in source.by_ref().take(rows) {
        let record = row?;
        sampled += 1;
        match &record.cells {
            Cells::Csv { values, .. } => {
                for (i, value) in values.iter().enumerate().take(header.len()) {
                    let value = value.trim();
                    if matches!(values.typed(i), Some(CellType::Date(_))) {
                        date_cells[i].push(value.to_string());
                    } else if !value.is_empty() {
                        samples[i].push(value.to_string());
                    }
                }
            }
            Cells::Json(object) => {
                for (key, value) in object {
                    let i = match header.iter().position(|h| h == key) {
                        Some(i) => i,
                        None => {
                            header.push(key.clone());
                            samples.push(Vec::new());
                            header.len() - 1
                        }
                    };
                    let text = match value {
                        Value::String(s) => s.trim().to_string(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Array(_) | Value::Object(_) => {
                            nested.insert(key.clone());
                            String::new()
                        }
                        Value::Null => String::new(),
                    };
                    if !text.is_empty() {
                        samples[i].push(text);
                    }
                }
            }
            Cells::Unreadable { .. } => {}
        }
    }
    // A column of date cells alone is guessed from their ISO 8601 text (no format); in
    // one that mixes them with text, the format is the text's.
    let dated: Vec<bool> = date_cells.iter().map(|cells| !cells.is_empty()).collect();
    for (texts, dates) in samples.iter_mut().zip(date_cells) {
        if texts.is_empty() {
            *texts = dates;
        }
    }
    let mut columns = guess(&header, &samples);
    for (column, _) in columns.iter_mut().zip(&dated).filter(|(_, dated)| **dated) {
        let is_date = matches!(
            column.role,
            Role::Field {
                key: "firstSeen" | "lastSeen",
                ..
            } | Role::Custom {
                kind: Kind::Date,
                ..
            }
        );
        if is_date {
            column.reason = format!(
                "date cells, read from their type: no format needed{}",
                match &column.role {
                    Role::Field {
                        format: Some(f), ..
                    }
                    | Role::Custom {
                        format: Some(f), ..
                    } => format!(" (the format {f} is for its cells that hold text)"),
                    _ => String::new(),
                }
            );
        }
    }
    for column in columns.iter_mut().filter(|c| nested.contains(&c.name)) {
        column.role = Role::Skip;
        column.reason = "holds objects or arrays, which a contact field or customData \
                         cannot (map its parts in a preprocessing step)"
            .into();
    }
    let times = |name: &String| header.iter().filter(|other| *other == name).count();
    for column in &mut columns {
        let n = times(&column.name);
        if n > 1 {
            column.role = Role::Skip;
            column.reason = format!(
                "is the name of {n} columns, which the mapping cannot tell apart (rename them \
                 to import them)"
            );
        }
    }
    let sniffed = sniffed.as_deref();
    Ok(render(&input.name, sampled, &text, sniffed, &columns))
}
