//! Streaming readers: CSV, NDJSON, JSON arrays and workbooks (xlsx, xlsb, xls, ods),
//! from files or stdin, gzip-compressed or not.
//!
//! Each reader yields [`Record`]s one at a time and holds at most one record (or one
//! NDJSON line) in memory, so memory stays flat however large the file. A row that cannot
//! be parsed is a [`Cells::Unreadable`](crate::record::Cells::Unreadable) record, never an error: only failing to read the
//! bytes at all (I/O) stops a reader.

mod csv;
mod json;
mod lines;
mod ndjson;
mod open;
mod sheet;
mod text;

use std::io::{self, BufRead};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::record::{Header, Record};

pub use self::csv::CsvRows;
pub use self::json::JsonArrayRows;
pub use self::lines::MAX_RECORD_BYTES;
pub use self::ndjson::NdjsonRows;
pub use self::open::{Format, Input};
pub use self::sheet::{SheetChoice, SheetRows};
pub use self::text::{Delimiter, TextEncoding, TextOptions};

/// A fatal problem with an input as a whole: it cannot be opened or read, or it has no
/// usable header.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{file}: {source}")]
    Io { file: Arc<str>, source: io::Error },
    #[error("{file}: {message}")]
    Invalid { file: Arc<str>, message: String },
}

/// The records of one input, in file order. Every command reads inputs through it alike:
/// [`Rows::header`] is the header of a file that has one.
pub enum Rows {
    Csv(Box<CsvRows>),
    Ndjson(NdjsonRows),
    JsonArray(Box<JsonArrayRows>),
    Sheet(Box<SheetRows>),
}

impl Rows {
    /// Opens `input` and, for CSV, reads its header. `bytes_read` counts the bytes taken
    /// from the file (compressed bytes for `.gz`), for progress and ETA. A file that is
    /// not text (a workbook, an archive, control bytes in its first line) is refused here.
    pub fn open(input: &Input, bytes_read: Arc<AtomicU64>) -> Result<Rows, SourceError> {
        if input.format == Format::Workbook {
            let path = input.path.as_deref();
            let rows = SheetRows::open(
                input.name.clone(),
                path,
                input.text.sheet.as_ref(),
                bytes_read,
            )?;
            return Ok(Rows::Sheet(Box::new(rows)));
        }
        let reader = input.open_bytes(bytes_read)?;
        Rows::from_bytes(input.name.clone(), input.format, input.text.clone(), reader)
    }

    /// The records of `bytes` (already decompressed), named `name` in messages.
    pub fn from_bytes(
        name: Arc<str>,
        format: Format,
        options: TextOptions,
        bytes: Box<dyn BufRead + Send>,
    ) -> Result<Rows, SourceError> {
        if format == Format::Workbook {
            let rows = SheetRows::from_bytes(name, bytes, options.sheet.as_ref())?;
            return Ok(Rows::Sheet(Box::new(rows)));
        }
        let io_error = |source| SourceError::Io {
            file: name.clone(),
            source,
        };
        let mut reader = text::decode(bytes, options.encoding)
            .and_then(text::with_head)
            .map_err(io_error)?;
        let head = reader.fill_buf().map_err(io_error)?;
        if let Some(message) = text::not_text(head) {
            return Err(SourceError::Invalid {
                file: name,
                message,
            });
        }
        if format == Format::Csv {
            let rows = CsvRows::new(name, reader, options.delimiter)?;
            return Ok(Rows::Csv(Box::new(rows)));
        }
        // Blank space before a document is no row of it; the line count goes on.
        let (lines, first) = json::skip_blank(&mut reader, BLANK_MAX).map_err(io_error)?;
        Ok(if first == Some(b'[') {
            Rows::JsonArray(Box::new(JsonArrayRows::new(name, reader, lines)))
        } else {
            Rows::Ndjson(NdjsonRows::starting_after(name, reader, lines))
        })
    }

    /// The CSV delimiter in use, given or detected.
    pub fn delimiter(&self) -> Option<Delimiter> {
        match self {
            Rows::Csv(csv) => Some(csv.delimiter()),
            _ => None,
        }
    }

    /// The header of a file that has one (CSV), which the mapping plans once.
    pub fn header(&self) -> Option<&Header> {
        match self {
            Rows::Csv(csv) => Some(csv.header()),
            Rows::Sheet(sheet) => Some(sheet.header()),
            Rows::Ndjson(_) | Rows::JsonArray(_) => None,
        }
    }
}

/// How many rows the inputs hold, counted by reading them through (a CSV row is a
/// record, not a line); None when one is stdin, which can be read only once, or cannot be
/// read (the run meets that error where it reads it).
pub fn count_rows(inputs: &[Input]) -> Option<u64> {
    let mut rows = 0;
    for input in inputs {
        input.path.as_ref()?;
        let records = Rows::open(input, Arc::default()).ok()?;
        for record in records {
            match record {
                Ok(_) => rows += 1,
                Err(_) => break,
            }
        }
    }
    Some(rows)
}

/// Blank space looked through for a JSON document's first value, at most.
const BLANK_MAX: usize = 1024 * 1024;

impl Rows {
    /// Up to `n` first records, for a look before the run. An error before any record is
    /// the file's (a JSON document, an empty file) and is returned; one after some ends
    /// the sample, and the run meets it where it is, with the rows before it in the
    /// results.
    pub fn sample(&mut self, n: usize) -> Result<Vec<Record>, SourceError> {
        let mut records = Vec::new();
        for row in self.by_ref().take(n) {
            match row {
                Ok(record) => records.push(record),
                Err(error) if records.is_empty() => return Err(error),
                Err(_) => break,
            }
        }
        Ok(records)
    }

    /// Takes back a record the run is done with, so that the next ones reuse its buffers
    /// on this, the reader's, thread.
    pub fn recycle(&mut self, record: Record) {
        if let Rows::Csv(rows) = self {
            rows.recycle(record);
        }
    }
}

impl Iterator for Rows {
    type Item = Result<Record, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Rows::Csv(rows) => rows.next(),
            Rows::Ndjson(rows) => rows.next(),
            Rows::JsonArray(rows) => rows.next(),
            Rows::Sheet(rows) => rows.next(),
        }
    }
}
