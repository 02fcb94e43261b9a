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

impl Origin {
    /// A message about this row with where it is: `contacts.csv:7: message`, or, for a
    /// message that names its workbook cell (`Sheet1!C7: email ...`), `contacts.xlsx:
    /// Sheet1!C7: email ...`.
    pub fn locate(&self, message: &str) -> String {
        if cell_prefix(message).is_some() {
            format!("{}: {message}", self.file)
        } else {
            format!("{self}: {message}")
        }
    }
}

/// A workbook cell as messages name it: `Sheet1!C7`, `'Q1 leads'!AB12` (a sheet name
/// other than letters, digits and `_` is quoted, as Excel writes it). `column` counts
/// from 0; `row` is the sheet's row number.
pub fn cell_name(sheet: &str, column: u32, row: u64) -> String {
    let plain = sheet
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && sheet
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.');
    let sheet = if plain {
        sheet.to_owned()
    } else {
        format!("'{}'", sheet.replace('\'', "''"))
    };
    format!("{sheet}!{}{row}", column_letters(column))
}

/// `0` → `A`, `25` → `Z`, `26` → `AA`.
pub fn column_letters(column: u32) -> String {
    let mut letters = Vec::new();
    let mut n = u64::from(column) + 1;
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push(b'A' + rem);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

/// The length of the cell reference and `: ` a message starts with (`Sheet1!C7: `,
/// `'Q1 leads'!AB12: `), as messages about a workbook row's cells do; None otherwise.
pub fn cell_prefix(message: &str) -> Option<usize> {
    let bytes = message.as_bytes();
    let mut at = if bytes.first() == Some(&b'\'') {
        // A quoted name: `''` is a quote inside it.
        let mut at = 1;
        loop {
            match (bytes.get(at), bytes.get(at + 1)) {
                (Some(b'\''), Some(b'\'')) => at += 2,
                (Some(b'\''), _) => break at + 1,
                (Some(_), _) => at += 1,
                (None, _) => return None,
            }
        }
    } else {
        bytes
            .iter()
            .position(|&b| matches!(b, b'!' | b' ' | b':' | b'"'))
            .filter(|&end| end > 0)?
    };
    if bytes.get(at) != Some(&b'!') {
        return None;
    }
    at += 1;
    let letters = bytes[at..]
        .iter()
        .take_while(|b| b.is_ascii_uppercase())
        .count();
    let digits = bytes[at + letters..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    at += letters + digits;
    let ok = (1..=3).contains(&letters) && digits > 0 && message[at..].starts_with(": ");
    ok.then_some(at + 2)
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
    sheet: Option<Sheet>,
}

/// Where a workbook's header is: its sheet, and the column of its first name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sheet {
    pub name: Arc<str>,
    /// The sheet column (from 0) of the header's first name, and so of every row's first
    /// cell.
    pub first_column: u32,
}

impl Header {
    pub fn new(names: Vec<String>, line: u64) -> Header {
        Header(Arc::new(HeaderLine {
            names: names.into_boxed_slice(),
            line,
            sheet: None,
        }))
    }

    /// A workbook sheet's header, on the sheet's row `line`.
    pub fn in_sheet(names: Vec<String>, line: u64, sheet: Sheet) -> Header {
        Header(Arc::new(HeaderLine {
            names: names.into_boxed_slice(),
            line,
            sheet: Some(sheet),
        }))
    }

    /// The physical line the header is on (a workbook's: the sheet's row), for messages
    /// about it.
    pub fn line(&self) -> u64 {
        self.0.line
    }

    /// The sheet of a workbook's header; None for a text file's.
    pub fn sheet(&self) -> Option<&Sheet> {
        self.0.sheet.as_ref()
    }

    /// The name of the cell in column `index` (of this header) on the sheet's row `row`:
    /// `Sheet1!C7`. None for a text file's header.
    pub fn cell(&self, index: usize, row: u64) -> Option<String> {
        let sheet = self.sheet()?;
        let column = sheet.first_column.checked_add(u32::try_from(index).ok()?)?;
        Some(cell_name(&sheet.name, column, row))
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

/// A CSV record's cells, or a workbook row's as text, held in one buffer: two
/// allocations a row instead of one a cell, since every row is read, handed to another
/// thread and dropped. A workbook row also says which of its cells are more than their
/// text: dates, errors, numbers too long to be exact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvValues {
    text: String,
    /// Where each cell ends in `text`.
    ends: Vec<usize>,
    /// The cells whose text does not say all (by index), few and in order; empty for CSV.
    typed: Vec<(usize, CellType)>,
}

/// What a workbook cell is besides its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellType {
    /// A date or date-time cell: its UNIX time (the cell's clock read as UTC, to the
    /// nearest second). Its text is ISO 8601 (`2021-03-04`, `2021-03-04 05:06:07`).
    Date(i64),
    /// A time of day or a duration: text (`05:06:07`), never a date.
    Time,
    /// An error value (`#N/A`, `#REF!`): the text is its name.
    Error,
    /// A number of more digits than a spreadsheet holds exactly (2^53 and over): its
    /// last digits are not the file's.
    Inexact,
}

impl CsvValues {
    pub fn with_capacity(cells: usize, bytes: usize) -> CsvValues {
        CsvValues {
            text: String::with_capacity(bytes),
            ends: Vec::with_capacity(cells),
            typed: Vec::new(),
        }
    }

    /// Refills with `text` cut into cells of `lengths`, keeping the buffers. False when a
    /// cut falls inside a character (the cells are then unusable: refill or push anew).
    pub fn refill(&mut self, text: &str, lengths: impl Iterator<Item = usize>) -> bool {
        self.text.clear();
        self.text.push_str(text);
        self.ends.clear();
        self.typed.clear();
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

    /// Adds a workbook cell that is more than its text.
    pub fn push_typed(&mut self, cell: &str, kind: CellType) {
        self.typed.push((self.ends.len(), kind));
        self.push(cell);
    }

    /// What the cell at `index` is besides its text, if anything.
    pub fn typed(&self, index: usize) -> Option<CellType> {
        if self.typed.is_empty() {
            return None;
        }
        self.typed
            .iter()
            .find(|(at, _)| *at == index)
            .map(|(_, kind)| *kind)
    }

    /// Whether any cell is more than its text (none of a CSV record's is).
    pub fn has_typed(&self) -> bool {
        !self.typed.is_empty()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_named_as_excel_names_them() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
        assert_eq!(cell_name("Sheet1", 2, 7), "Sheet1!C7");
        assert_eq!(cell_name("Q1 leads", 27, 12), "'Q1 leads'!AB12");
        assert_eq!(cell_name("Bob's", 0, 1), "'Bob''s'!A1");
        let header = Header::in_sheet(
            vec!["a".into(), "b".into()],
            3,
            Sheet {
                name: "Data".into(),
                first_column: 1,
            },
        );
        assert_eq!(header.cell(1, 9).as_deref(), Some("Data!C9"));
        assert_eq!(Header::from(vec!["a".to_string()]).cell(0, 2), None);
    }

    #[test]
    fn a_message_that_names_its_cell_is_located_by_it() {
        for (message, prefix) in [
            ("Sheet1!C7: email \"x\" is not valid", Some(11)),
            ("'Q1 leads'!AB12: x", Some(17)),
            ("'Bob''s'!A1: x", Some(13)),
            ("email \"a!B2: \" is not valid", None),
            ("Sheet1!C7 email", None),
            ("Sheet1!c7: x", None),
            ("Sheet1!C: x", None),
            ("'unclosed!A1: x", None),
            ("", None),
        ] {
            assert_eq!(cell_prefix(message), prefix, "{message}");
        }
        let origin = Origin {
            file: "contacts.xlsx".into(),
            line: 7,
        };
        assert_eq!(
            origin.locate("Sheet1!C7: email \"x\" is not valid"),
            "contacts.xlsx: Sheet1!C7: email \"x\" is not valid"
        );
        assert_eq!(
            origin.locate("the row is empty"),
            "contacts.xlsx:7: the row is empty"
        );
    }

    #[test]
    fn typed_cells_are_found_by_index_and_cleared_on_refill() {
        let mut values = CsvValues::default();
        values.push("u1");
        values.push_typed("2021-03-04", CellType::Date(1_614_816_000));
        values.push_typed("#N/A", CellType::Error);
        assert_eq!(values.get(1), Some("2021-03-04"));
        assert_eq!(values.typed(0), None);
        assert_eq!(values.typed(1), Some(CellType::Date(1_614_816_000)));
        assert_eq!(values.typed(2), Some(CellType::Error));
        assert!(values.refill("ab", [1, 1].into_iter()));
        assert!(!values.has_typed());
    }
}
