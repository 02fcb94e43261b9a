//! JSON documents: a top-level array of objects, read object by object (never the whole
//! document at once), each row's line the one its object starts on. A document that is
//! an object wrapping such an array is recognised, so it can be refused naming the key.
//!
//! The structure is read by struson, a streaming JSON reader that knows its line; each
//! object is then parsed by serde_json, as an NDJSON line is, so both forms give the
//! same values.

use std::io::{self, BufRead, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use struson::reader::{
    JsonReader, JsonStreamReader, ReaderError, ReaderSettings, TransferError, ValueType,
};
use struson::writer::{JsonStreamWriter, JsonWriter};

use super::SourceError;
use super::ndjson::MAX_LINE_BYTES;
use crate::record::{Cells, Origin, Record, json_kind};

/// Bytes read for one element, at most: an object over [`MAX_LINE_BYTES`] stops the file
/// rather than fill memory (the margin is the reader's look-ahead).
const ELEMENT_BUDGET: u64 = MAX_LINE_BYTES as u64 + 64 * 1024;

/// The rows of a JSON array, read from just after the whitespace before its `[`.
pub struct JsonArrayRows {
    file: Arc<str>,
    reader: JsonStreamReader<Budgeted>,
    /// Bytes read since the current element began, shared with the reader's source.
    spent: Arc<AtomicU64>,
    /// Lines before the one the `[` is on.
    lines_before: u64,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Before,
    Inside,
    Done,
}

impl JsonArrayRows {
    /// `bytes` starts with the `[`, which is on line `lines_before + 1`.
    pub fn new(file: Arc<str>, bytes: Box<dyn BufRead + Send>, lines_before: u64) -> Self {
        let spent = Arc::new(AtomicU64::new(0));
        let source = Budgeted {
            inner: bytes,
            spent: spent.clone(),
        };
        let settings = ReaderSettings {
            // `[{...},]`, as hand-edited files have it: nothing is lost by reading it.
            allow_trailing_comma: true,
            track_path: false,
            // Numbers are left to serde_json, as on an NDJSON line: one it cannot hold
            // fails its row, not the file.
            restrict_number_values: false,
            ..ReaderSettings::default()
        };
        JsonArrayRows {
            file,
            reader: JsonStreamReader::new_custom(source, settings),
            spent,
            lines_before,
            state: State::Before,
        }
    }

    /// The 1-based line the reader is at.
    fn line(&self) -> u64 {
        let position = self.reader.current_position(false);
        self.lines_before + position.line_pos.map_or(0, |p| p.line) + 1
    }

    /// A fault that ends the file here: the rows before it are read, and are the run's.
    fn stop(&mut self, line: u64, problem: &str) -> SourceError {
        self.state = State::Done;
        SourceError::Invalid {
            file: self.file.clone(),
            message: format!(
                "line {line}: {problem}; the file stops here (the objects before it were read)"
            ),
        }
    }

    /// The next element, serialized again as compact JSON.
    fn element(&mut self) -> Result<Vec<u8>, TransferError> {
        self.spent.store(0, Ordering::Relaxed);
        let mut writer = JsonStreamWriter::new(Bounded(Vec::new()));
        self.reader.transfer_to(&mut writer)?;
        Ok(writer.finish_document()?.0)
    }

    fn next_record(&mut self) -> Result<Option<Record>, SourceError> {
        if self.state == State::Before {
            let line = self.line();
            self.reader
                .begin_array()
                .map_err(|e| self.stop(line, &describe(&e)))?;
            self.state = State::Inside;
        }
        let line = self.line();
        let more = self
            .reader
            .has_next()
            .map_err(|e| self.stop(line, &describe(&e)))?;
        if !more {
            self.reader
                .end_array()
                .map_err(|e| self.stop(line, &describe(&e)))?;
            self.state = State::Done;
            let end = self.line();
            // Anything after the array is not part of it: said, not ignored.
            let reader = std::mem::replace(
                &mut self.reader,
                JsonStreamReader::new(Budgeted {
                    inner: Box::new(io::empty()),
                    spent: self.spent.clone(),
                }),
            );
            return match reader.consume_trailing_whitespace() {
                Ok(()) => Ok(None),
                Err(_) => Err(SourceError::Invalid {
                    file: self.file.clone(),
                    message: format!(
                        "line {end}: something follows the array that ends here (a JSON \
                         document holds one array); the objects in the array were read"
                    ),
                }),
            };
        }
        // The line the element starts on: `has_next` stopped in front of it.
        let line = self.line();
        let kind = self
            .reader
            .peek()
            .map_err(|e| self.stop(line, &describe(&e)))?;
        let bytes = match self.element() {
            Ok(bytes) => bytes,
            Err(TransferError::WriterError(_)) => {
                return Err(self.stop(
                    line,
                    &format!("an element longer than {MAX_LINE_BYTES} bytes starts here"),
                ));
            }
            Err(TransferError::ReaderError(e)) => {
                let at = self.line();
                return Err(self.stop(at, &describe(&e)));
            }
        };
        let cells = match (kind, serde_json::from_slice::<Value>(&bytes)) {
            (ValueType::Object, Ok(Value::Object(map))) => Cells::Json(map),
            (_, Ok(other)) => Cells::Unreadable {
                header: None,
                raw: vec![bytes],
                error: format!(
                    "expected a JSON object in the array, found {}",
                    json_kind(&other)
                ),
            },
            // A number serde_json cannot hold (`1e999`), as on an NDJSON line.
            (_, Err(e)) => Cells::Unreadable {
                header: None,
                raw: vec![bytes],
                error: format!("invalid JSON: {e}"),
            },
        };
        Ok(Some(Record {
            origin: Origin {
                file: self.file.clone(),
                line,
            },
            cells,
        }))
    }
}

impl Iterator for JsonArrayRows {
    type Item = Result<Record, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state == State::Done {
            return None;
        }
        self.next_record().transpose()
    }
}

/// What went wrong, without struson's own position (the message names the line).
fn describe(error: &ReaderError) -> String {
    match error {
        ReaderError::SyntaxError(syntax) => {
            format!("invalid JSON: {}", words(&syntax.kind.to_string()))
        }
        ReaderError::UnexpectedValueType {
            expected, actual, ..
        } => format!("expected {expected}, found {actual}"),
        ReaderError::UnexpectedStructure { kind, .. } => format!("unexpected JSON ({kind})"),
        ReaderError::IoError { error, .. } if error.kind() == io::ErrorKind::OutOfMemory => {
            format!("an element longer than {MAX_LINE_BYTES} bytes starts here")
        }
        ReaderError::IoError { error, .. } if error.kind() == io::ErrorKind::UnexpectedEof => {
            "the file ends inside the array (cut short?)".to_owned()
        }
        other => other.to_string(),
    }
}

/// `InvalidLiteral` → `invalid literal`.
fn words(name: &str) -> String {
    let mut words = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() && !words.is_empty() {
            words.push(' ');
        }
        words.push(c.to_ascii_lowercase());
    }
    words
}

/// Reads `inner`, failing once one element has taken more than [`ELEMENT_BUDGET`] bytes.
struct Budgeted {
    inner: Box<dyn BufRead + Send>,
    spent: Arc<AtomicU64>,
}

impl Read for Budgeted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.spent.load(Ordering::Relaxed) > ELEMENT_BUDGET {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "element too long",
            ));
        }
        let n = self.inner.read(buf)?;
        self.spent.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A buffer that refuses to grow past [`MAX_LINE_BYTES`].
struct Bounded(Vec<u8>);

impl Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0.len() + buf.len() > MAX_LINE_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "element too long",
            ));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Consumes what comes before a document's first value (a byte-order mark, blank
/// space), at most `limit` bytes of it: the number of line breaks consumed, and the first
/// byte after them (None at the end of the input or past the limit).
pub(super) fn skip_blank(bytes: &mut dyn BufRead, limit: usize) -> io::Result<(u64, Option<u8>)> {
    let mut lines = 0;
    let mut seen = 0;
    let mut first = true;
    let mut after_cr = false;
    loop {
        let head = bytes.fill_buf()?;
        let mut at = 0;
        if first && head.starts_with(b"\xEF\xBB\xBF") {
            at = 3;
        }
        first = false;
        while let Some(&byte) = head.get(at) {
            match byte {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => lines += 1,
                b' ' | b'\t' => {}
                other => {
                    bytes.consume(at);
                    return Ok((lines, Some(other)));
                }
            }
            after_cr = byte == b'\r';
            at += 1;
        }
        if at == 0 {
            return Ok((lines, None));
        }
        bytes.consume(at);
        seen += at;
        if seen > limit {
            return Ok((lines, None));
        }
    }
}

/// The key of the array of objects a JSON object wraps (`{"customers": [{...}, ...]}`),
/// found by reading the object's members in order; `tags` and `customData`, a contact's
/// own arrays, are not one. None when no member holds such an array within the first
/// `limit` bytes, or the bytes are not such an object.
pub(super) fn wrapped_array(bytes: impl Read, limit: u64) -> Option<String> {
    let mut reader = JsonStreamReader::new(bytes.take(limit));
    reader.begin_object().ok()?;
    while reader.has_next().ok()? {
        let name = reader.next_name_owned().ok()?;
        if reader.peek().ok()? == ValueType::Array
            && !matches!(name.as_str(), "tags" | "customData")
        {
            reader.begin_array().ok()?;
            if reader.has_next().ok()? && reader.peek().ok()? == ValueType::Object {
                return Some(name);
            }
            return None;
        }
        reader.skip_value().ok()?;
    }
    None
}

/// How to flatten an array under `key` into NDJSON: `jq -c '.customers[]'`, with the key
/// quoted as jq needs it when it is not a plain name.
pub(super) fn flatten_hint(key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let path = if plain {
        format!(".{key}[]")
    } else {
        let quoted = serde_json::to_string(key).unwrap_or_default();
        format!(".[{quoted}][]")
    };
    format!("jq -c '{}'", path.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[u8]) -> Vec<Result<Record, String>> {
        let mut bytes: Box<dyn BufRead + Send> = Box::new(io::Cursor::new(text.to_vec()));
        let (lines, first) = skip_blank(&mut bytes, 1 << 20).expect("in memory");
        assert_eq!(first, Some(b'['));
        JsonArrayRows::new("t.json".into(), bytes, lines)
            .map(|row| row.map_err(|e| e.to_string()))
            .collect()
    }

    fn object(row: &Result<Record, String>) -> (u64, Value) {
        match row {
            Ok(Record {
                origin,
                cells: Cells::Json(map),
            }) => (origin.line, Value::Object(map.clone())),
            other => panic!("expected an object, got {other:?}"),
        }
    }

    #[test]
    fn a_pretty_array_gives_each_object_with_the_line_it_starts_on() {
        let text = b"\xEF\xBB\xBF\n[\n  {\n    \"name\": \"A\",\n    \"n\": 1.50\n  },\n  {\"name\": \"B\", \"big\": 18446744073709551615}\r\n]\n";
        let rows = rows(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(
            object(&rows[0]),
            (3, serde_json::json!({"name": "A", "n": 1.5}))
        );
        assert_eq!(
            object(&rows[1]),
            (
                7,
                serde_json::json!({"name": "B", "big": 18446744073709551615u64})
            )
        );
    }

    #[test]
    fn a_one_line_array_and_an_empty_one() {
        let rows = rows(b"[{\"a\":1},{\"b\":[1,2]},]");
        assert_eq!(rows.len(), 2);
        assert_eq!(object(&rows[1]), (1, serde_json::json!({"b": [1, 2]})));
        assert!(self::rows(b"[ ]\n").is_empty());
    }

    #[test]
    fn an_element_that_is_no_object_is_one_failed_row() {
        let rows = rows(b"[\n1,\n\"x\",\n[2],\n{\"ok\":true}\n]");
        assert_eq!(rows.len(), 4);
        match &rows[2] {
            Ok(Record {
                origin,
                cells: Cells::Unreadable { error, raw, .. },
            }) => {
                assert_eq!(origin.line, 4);
                assert_eq!(error, "expected a JSON object in the array, found an array");
                assert_eq!(raw, &[b"[2]".to_vec()]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(object(&rows[3]).0, 5);
    }

    #[test]
    fn broken_json_stops_the_file_at_its_line_after_the_rows_before_it() {
        let rows = rows(b"[\n{\"a\":1},\n{\"b\": nope},\n{\"c\":3}\n]");
        assert_eq!(rows.len(), 2);
        assert_eq!(object(&rows[0]).0, 2);
        let error = rows[1].as_ref().expect_err("stops");
        assert!(error.starts_with("t.json: line 3: invalid JSON"), "{error}");
        assert!(error.contains("the file stops here"), "{error}");
        let cut = self::rows(b"[\n{\"a\":1},\n{\"b\":");
        let error = cut[1].as_ref().expect_err("stops");
        assert!(error.contains("line 3"), "{error}");
        let after = self::rows(b"[{\"a\":1}]\n[{\"b\":2}]");
        assert_eq!(after.len(), 2);
        let error = after[1].as_ref().expect_err("refused");
        assert!(error.contains("something follows the array"), "{error}");
    }

    #[test]
    fn an_overlong_element_stops_the_file_without_filling_memory() {
        let mut text = b"[{\"a\":\"".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES * 3));
        text.extend_from_slice(b"\"}]");
        let rows = rows(&text);
        let error = rows.last().and_then(|r| r.as_ref().err()).expect("stops");
        assert!(error.contains("longer than"), "{error}");
    }

    #[test]
    fn a_wrapped_array_is_found_by_its_key() {
        let found = |text: &str| wrapped_array(text.as_bytes(), 1 << 20);
        assert_eq!(
            found(
                "{\"total\": 2, \"meta\": {\"a\": [1]},\n \"customers\": [\n {\"name\": \"A\"}]}"
            )
            .as_deref(),
            Some("customers")
        );
        assert_eq!(
            found("{\"email\":\"a@x.io\",\"tags\":[{\"name\":\"v\"}]}"),
            None
        );
        assert_eq!(found("{\"ids\": [1, 2]}"), None);
        assert_eq!(found("[1]"), None);
        assert_eq!(flatten_hint("customers"), "jq -c '.customers[]'");
        assert_eq!(flatten_hint("the list"), "jq -c '.[\"the list\"][]'");
        assert_eq!(flatten_hint("it's"), "jq -c '.[\"it'\\''s\"][]'");
    }
}
