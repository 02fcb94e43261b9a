//! One input row as the readers produce it: where it came from and its cells.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

/// The place a row starts in its input: the file as the user named it and the
/// physical line (1-based) where the record begins. Every message about a row names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    pub file: Arc<str>,
    pub line: u64,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// A CSV file's header: names trimmed, BOM stripped. Shared by every record of the file.
pub type Header = Arc<[String]>;

/// The cells of one row, in the shape its format gives them.
#[derive(Debug, Clone, PartialEq)]
pub enum Cells {
    /// A CSV record: values in header order, untrimmed as read. A ragged record keeps
    /// the values it had, so the mapper can say "expected 3 fields, found 4".
    Csv { header: Header, values: CsvValues },
    /// One NDJSON line parsed into a JSON object.
    Json(Map<String, Value>),
    /// A row the reader could not parse (bad UTF-8, a line that is not a JSON object, a
    /// malformed CSV record). `raw` keeps what could be recovered for `failed.csv`.
    Unreadable { raw: Vec<String>, error: String },
}

/// A CSV record's cells, held in one buffer: two allocations a row instead of one a
/// cell, since every row is read, handed to another thread and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvValues {
    text: String,
    /// Where each cell ends in `text`.
    ends: Vec<usize>,
}

impl CsvValues {
    pub fn with_capacity(cells: usize, bytes: usize) -> CsvValues {
        CsvValues {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(cells),
        }
    }

    /// Refills with `text` cut into cells of `lengths`, keeping the buffers. False when a
    /// cut falls inside a character (the cells are then unusable: refill or push anew).
    pub fn refill(&mut self, text: &str, lengths: impl Iterator<Item = usize>) -> bool {
        self.text.clear();
        self.text.push_str(text);
        self.ends.clear();
        let mut end = 0;
        for length in lengths {
            end += length;
            if !text.is_char_boundary(end) {
                return false;
            }
            self.ends.push(end);
        }
        true
    }

    pub fn push(&mut self, cell: &str) {
        self.text.push_str(cell);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&str> {
        let end = *self.ends.get(index)?;
        let start = match index.checked_sub(1) {
            Some(previous) => *self.ends.get(previous)?,
            None => 0,
        };
        self.text.get(start..end)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

impl<S: AsRef<str>> FromIterator<S> for CsvValues {
    fn from_iter<I: IntoIterator<Item = S>>(cells: I) -> CsvValues {
        let mut values = CsvValues::default();
        for cell in cells {
            values.push(cell.as_ref());
        }
        values
    }
}

/// One input row.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub origin: Origin,
    pub cells: Cells,
}

/// Why one row cannot be sent, or why the API refused it. `field` names the payload
/// field or input column concerned when there is one; `message` is a whole sentence a
/// person can act on (`email "two@@example.com" is not a valid email address`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub field: Option<String>,
    pub message: String,
}

impl RowError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        RowError {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn row(message: impl Into<String>) -> Self {
        RowError {
            field: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// "a string", "an array", …: how messages name the kind of a JSON value.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
