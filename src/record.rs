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

/// A CSV file's header: its names as the file has them (trimmed, the byte-order mark
/// stripped) and the physical line they are on: 1, or 2 below Excel's `sep=;` line.
/// Shared by every record of the file; cloning it copies a pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header(Arc<HeaderLine>);

#[derive(Debug, PartialEq, Eq)]
struct HeaderLine {
    names: Box<[String]>,
    line: u64,
}

impl Header {
    pub fn new(names: Vec<String>, line: u64) -> Header {
        Header(Arc::new(HeaderLine {
            names: names.into_boxed_slice(),
            line,
        }))
    }

    /// The physical line the header is on, for messages about it.
    pub fn line(&self) -> u64 {
        self.0.line
    }

    /// Whether both are the same file's header (the same allocation), without comparing
    /// names: every record of a file shares its header.
    pub fn ptr_eq(&self, other: &Header) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::ops::Deref for Header {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0.names
    }
}

/// A header on line 1.
impl From<Vec<String>> for Header {
    fn from(names: Vec<String>) -> Header {
        Header::new(names, 1)
    }
}

impl FromIterator<String> for Header {
    fn from_iter<I: IntoIterator<Item = String>>(names: I) -> Header {
        Header::from(names.into_iter().collect::<Vec<_>>())
    }
}

/// The cells of one row, in the shape its format gives them.
#[derive(Debug, Clone, PartialEq)]
pub enum Cells {
    /// A CSV record: values in header order, untrimmed as read. A ragged record keeps
    /// the values it had, so the mapper can say "expected 3 fields, found 4".
    Csv { header: Header, values: CsvValues },
    /// One NDJSON line parsed into a JSON object.
    Json(Map<String, Value>),
    /// A row the reader could not parse (bad UTF-8, a NUL byte, a line that is not a
    /// JSON object). `raw` keeps its bytes exactly as read (a CSV record's cells, or an
    /// NDJSON line), so that `failed.csv` gives them back as they were; `header` is the
    /// CSV file's, so that `failed.csv` starts with it even when such a row is first.
    Unreadable {
        header: Option<Header>,
        raw: Vec<Vec<u8>>,
        error: String,
    },
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

    /// Every cell's text, one after another.
    pub fn text(&self) -> &str {
        &self.text
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

/// Something worth saying about a row that is still sent (or valid): a value the
/// importer changed (an invisible character removed) or doubts (a phone in scientific
/// notation). Nothing changes in silence: each is counted by `kind` in the report,
/// `summary.json` and the log, with its first `message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What the report counts it under, the same for every warning of its kind
    /// (`email: invisible U+200B ZERO WIDTH SPACE removed`).
    pub kind: String,
    /// The sentence for this row, naming the field and the value.
    pub message: String,
}

/// A row's warnings: at most [`Warnings::MAX`], so that a row of ten thousand columns,
/// each with an invisible character, stays small. Allocates nothing while empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Warnings(Vec<Warning>);

impl Warnings {
    pub const MAX: usize = 16;

    pub fn push(&mut self, kind: impl Into<String>, message: impl Into<String>) {
        if self.0.len() < Warnings::MAX {
            self.0.push(Warning {
                kind: kind.into(),
                message: message.into(),
            });
        }
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }
}

impl std::ops::Deref for Warnings {
    type Target = [Warning];

    fn deref(&self) -> &[Warning] {
        &self.0
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
