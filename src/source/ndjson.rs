//! NDJSON: one JSON object per line. A bad line is one failed row, never a fatal error.

use std::io::{BufRead, Read};
use std::sync::Arc;

use serde_json::Value;

use super::{SourceError, json};
use crate::record::{Cells, Origin, Record, json_kind};

/// A line longer than this is refused as a row (and skipped) rather than buffered:
/// a contact is a few hundred bytes, and memory must not follow a runaway line.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

pub struct NdjsonRows {
    file: Arc<str>,
    reader: Box<dyn BufRead + Send>,
    /// Physical line number of the last line read.
    line: u64,
    buf: Vec<u8>,
    /// Whether a record was yielded (or the file reported empty).
    any: bool,
    /// The file was refused as a whole: nothing more is read.
    refused: bool,
}

impl NdjsonRows {
    pub fn new(file: Arc<str>, reader: Box<dyn BufRead + Send>) -> NdjsonRows {
        NdjsonRows::starting_after(file, reader, 0)
    }

    /// The rows of `reader`, whose first line is the file's line `lines + 1` (the lines
    /// before it were blank, and already read).
    pub fn starting_after(
        file: Arc<str>,
        reader: Box<dyn BufRead + Send>,
        lines: u64,
    ) -> NdjsonRows {
        NdjsonRows {
            file,
            reader,
            line: lines,
            buf: Vec::new(),
            any: false,
            refused: false,
        }
    }

    /// Reads one physical line into `buf` (without its terminator). Returns false at the
    /// end of input, and `Err(len)` when the line was longer than the limit (the rest of
    /// it has been skipped).
    fn read_line(&mut self) -> std::io::Result<Option<Result<(), usize>>> {
        self.buf.clear();
        let limit = (MAX_LINE_BYTES + 1) as u64;
        let n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.line += 1;
        if self.buf.len() > MAX_LINE_BYTES && self.buf.last() != Some(&b'\n') {
            let mut skipped = self.buf.len();
            loop {
                self.buf.clear();
                let n = (&mut self.reader)
                    .take(limit)
                    .read_until(b'\n', &mut self.buf)?;
                skipped += n;
                if n == 0 || self.buf.last() == Some(&b'\n') {
                    break;
                }
            }
            return Ok(Some(Err(skipped)));
        }
        while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
            self.buf.pop();
        }
        if self.line == 1 && self.buf.starts_with(b"\xEF\xBB\xBF") {
            self.buf.drain(..3);
        }
        Ok(Some(Ok(())))
    }

    fn cells(&self) -> Cells {
        let unreadable = |error: String| Cells::Unreadable {
            header: None,
            raw: vec![self.buf.clone()],
            error,
        };
        let text = match std::str::from_utf8(&self.buf) {
            Ok(text) => text,
            Err(e) => {
                return unreadable(format!(
                    "column {}: not valid UTF-8 (is the file in another encoding? try \
                     --encoding windows-1252)",
                    e.valid_up_to() + 1
                ));
            }
        };
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(map)) => Cells::Json(map),
            Ok(other) => unreadable(format!(
                "expected a JSON object, found {}",
                json_kind(&other)
            )),
            Err(_) if is_object_and_comma(text) => unreadable(
                "a trailing comma after the object (NDJSON holds one object per line, no commas)"
                    .into(),
            ),
            Err(e) => unreadable(format!("invalid JSON at column {}: {e}", e.column())),
        }
    }
}

/// `{...},`: an object with the comma that separated it from the next one in a JSON
/// array, left when the array's brackets were cut off.
fn is_object_and_comma(line: &str) -> bool {
    line.trim_end()
        .strip_suffix(',')
        .is_some_and(|object| matches!(serde_json::from_str(object), Ok(Value::Object(_))))
}

/// Bytes of a JSON document read to find the key of the array it wraps, at most.
const WRAPPER_SCAN: u64 = 1024 * 1024;

impl NdjsonRows {
    /// Why the file is one JSON document rather than NDJSON, if its first line (in `buf`)
    /// shows it is: an object that goes on past its line (pretty-printed), or an object
    /// wrapping an array of objects (`{"customers": [...]}`) on the file's only line.
    /// Such a file is refused as a whole, before any row: no part of it is imported.
    /// (A JSON array is read as one: see [`super::JsonArrayRows`].)
    fn json_document(&mut self) -> Option<String> {
        let text = std::str::from_utf8(&self.buf).ok()?.trim();
        if !text.starts_with('{') {
            return None;
        }
        let number = self.line;
        let key = match serde_json::from_str::<Value>(text) {
            Err(e) if e.is_eof() => {
                let first = std::io::Cursor::new(self.buf.clone());
                json::wrapped_array(first.chain(&mut self.reader), WRAPPER_SCAN)
            }
            Ok(Value::Object(_)) => {
                let key = json::wrapped_array(text.as_bytes(), WRAPPER_SCAN)?;
                // A row with such an array followed by others is NDJSON: only a file of
                // this one line is a document.
                if !self.at_end().ok()? {
                    return None;
                }
                Some(key)
            }
            _ => return None,
        };
        let hint = "none of it was imported: convert it to NDJSON (one object per line) first";
        Some(match key {
            Some(key) => format!(
                "this is a JSON object whose {key:?} holds the array of contacts (line \
                 {number} opens it), not an array or NDJSON: {hint}, e.g. with {}",
                json::flatten_hint(&key)
            ),
            None => format!(
                "this is one JSON object spread over several lines (line {number} opens it \
                 and does not close it), not NDJSON: {hint}, e.g. with jq -c ."
            ),
        })
    }

    /// Whether nothing but blank lines follows the line read (consumed, and counted).
    fn at_end(&mut self) -> std::io::Result<bool> {
        let (lines, first) = json::skip_blank(&mut self.reader, usize::MAX)?;
        self.line += lines;
        Ok(first.is_none())
    }
}

impl Iterator for NdjsonRows {
    type Item = Result<Record, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.refused {
            return None;
        }
        loop {
            let cells = match self.read_line() {
                Err(source) => {
                    return Some(Err(SourceError::Io {
                        file: self.file.clone(),
                        source,
                    }));
                }
                Ok(None) if self.any => return None,
                Ok(None) => {
                    self.any = true;
                    return Some(Err(SourceError::Invalid {
                        file: self.file.clone(),
                        message: "the file is empty: expected one JSON object per line".into(),
                    }));
                }
                Ok(Some(Err(len))) => Cells::Unreadable {
                    header: None,
                    raw: vec![],
                    error: format!("line is {len} bytes long, over the limit of {MAX_LINE_BYTES}"),
                },
                Ok(Some(Ok(()))) if self.buf.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(Some(Ok(()))) => {
                    let document = if self.any { None } else { self.json_document() };
                    if let Some(message) = document {
                        self.any = true;
                        self.refused = true;
                        return Some(Err(SourceError::Invalid {
                            file: self.file.clone(),
                            message,
                        }));
                    }
                    self.cells()
                }
            };
            self.any = true;
            return Some(Ok(Record {
                origin: Origin {
                    file: self.file.clone(),
                    line: self.line,
                },
                cells,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_refused() {
        for text in [&b""[..], b"\n  \r\n"] {
            let bytes: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(text.to_vec()));
            let mut rows = NdjsonRows::new("t.ndjson".into(), bytes);
            let error = rows.next().map(|r| r.map_err(|e| e.to_string()));
            assert_eq!(
                error,
                Some(Err(
                    "t.ndjson: the file is empty: expected one JSON object per line".into()
                ))
            );
            assert!(rows.next().is_none());
        }
    }

    fn read(text: &[u8]) -> Vec<Record> {
        let bytes: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(text.to_vec()));
        NdjsonRows::new("t.ndjson".into(), bytes)
            .collect::<Result<Vec<_>, _>>()
            .expect("in-memory reads cannot fail")
    }

    fn error_of(record: &Record) -> &str {
        match &record.cells {
            Cells::Unreadable { error, .. } => error,
            other => panic!("expected an unreadable row, got {other:?}"),
        }
    }

    #[test]
    fn objects_pass_with_their_line_numbers_and_blank_lines_are_skipped() {
        let records = read(b"\xEF\xBB\xBF{\"email\":\"a@x.io\"}\r\n\n  \n{\"name\":\"B\"}");
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].origin.line, 1);
        assert_eq!(records[1].origin.line, 4);
        assert!(matches!(&records[1].cells, Cells::Json(map) if map["name"] == "B"));
    }

    #[test]
    fn a_bad_line_is_one_failed_row_and_reading_goes_on() {
        let records = read(b"{\"a\":1}\n{oops\n[1,2]\n\"text\"\n{\"b\":2}\n");
        assert_eq!(records.len(), 5);
        assert!(error_of(&records[1]).starts_with("invalid JSON at column 2"));
        assert_eq!(
            error_of(&records[2]),
            "expected a JSON object, found an array"
        );
        assert_eq!(
            error_of(&records[3]),
            "expected a JSON object, found a string"
        );
        assert!(matches!(records[4].cells, Cells::Json(_)));
        assert_eq!(records[4].origin.line, 5);
    }

    fn refusal(text: &[u8]) -> Option<String> {
        let bytes: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(text.to_vec()));
        let mut rows = NdjsonRows::new("t.ndjson".into(), bytes);
        let first = rows.next().map(|r| r.map_err(|e| e.to_string()));
        assert!(rows.next().is_none(), "nothing is read after a refusal");
        first?.err()
    }

    #[test]
    fn json_documents_that_are_no_array_are_refused_as_a_whole() {
        let pretty = refusal(b"{\n  \"name\": \"A\"\n}\n").expect("refused");
        assert!(
            pretty.contains("one JSON object spread over several lines (line 1 opens it"),
            "{pretty}"
        );
        assert!(pretty.contains("none of it was imported"), "{pretty}");
        let pretty =
            refusal(b"{\"name\": \"A\",\n  \"email\": \"a@example.com\"}\n").expect("refused");
        assert!(pretty.contains("spread over several lines"), "{pretty}");
        // An object wrapping the array, pretty or on one line: the key, and how to
        // flatten it.
        let wrapped = refusal(
            b"{\n  \"total\": 2,\n  \"customers\": [\n    {\"name\": \"A\"},\n    {\"name\": \"B\"}\n  ]\n}\n",
        )
        .expect("refused");
        assert!(
            wrapped.starts_with(
                "t.ndjson: this is a JSON object whose \"customers\" holds the array of contacts \
                 (line 1 opens it)"
            ),
            "{wrapped}"
        );
        assert!(wrapped.ends_with("jq -c '.customers[]'"), "{wrapped}");
        let one_line = refusal(b"\n\n{\"data\":[{\"email\":\"a@example.com\"}],\"next\":null}\n\n")
            .expect("refused");
        assert!(
            one_line.contains("whose \"data\" holds the array of contacts (line 3 opens it)"),
            "{one_line}"
        );
        // The same object as one row of several is NDJSON.
        let records = read(b"{\"data\":[{\"a\":1}]}\n{\"email\":\"b@example.com\"}\n");
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].origin.line, 2);
    }

    #[test]
    fn a_trailing_comma_is_named_as_such() {
        let records =
            read(b"{\"name\":\"A\"},\n{\"name\":\"B\"}  ,  \n{\"name\":\"C\"}\n{\"a\":1} x\n");
        let expected =
            "a trailing comma after the object (NDJSON holds one object per line, no commas)";
        assert_eq!(error_of(&records[0]), expected);
        assert_eq!(error_of(&records[1]), expected);
        assert!(matches!(records[2].cells, Cells::Json(_)));
        assert!(error_of(&records[3]).starts_with("invalid JSON at column"));
        // Later lines that open an array or an object are that line's failure only.
        let records = read(b"{\"a\":1}\n[1,\n{\"b\":\n");
        assert_eq!(records.len(), 3);
        assert!(matches!(records[0].cells, Cells::Json(_)));
    }

    #[test]
    fn an_unreadable_line_keeps_its_bytes() {
        let records = read(b"{\"name\":\"Zo\xEB\"}\n");
        match &records[0].cells {
            Cells::Unreadable { raw, header, .. } => {
                assert_eq!(raw, &[b"{\"name\":\"Zo\xEB\"}".to_vec()]);
                assert_eq!(header, &None);
            }
            other => panic!("expected an unreadable row, got {other:?}"),
        }
    }

    #[test]
    fn invalid_utf8_names_the_column() {
        let records = read(b"{\"name\":\"Jos\xE9\"}\n");
        assert_eq!(
            error_of(&records[0]),
            "column 13: not valid UTF-8 (is the file in another encoding? try \
             --encoding windows-1252)"
        );
    }

    #[test]
    fn an_overlong_line_is_refused_without_losing_the_next() {
        let mut text = vec![b'x'; MAX_LINE_BYTES * 2 + 10];
        text.extend_from_slice(b"\n{\"ok\":true}\n");
        let records = read(&text);
        assert_eq!(records.len(), 2);
        assert!(error_of(&records[0]).contains("over the limit"));
        assert_eq!(records[1].origin.line, 2);
        assert!(matches!(records[1].cells, Cells::Json(_)));
    }
}
