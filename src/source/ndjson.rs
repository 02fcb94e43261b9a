//! NDJSON: one JSON object per line. A bad line is one failed row, never a fatal error.

use std::io::{BufRead, Read};
use std::sync::Arc;

use serde_json::Value;

use super::SourceError;
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
}

impl NdjsonRows {
    pub fn new(file: Arc<str>, reader: Box<dyn BufRead + Send>) -> NdjsonRows {
        NdjsonRows {
            file,
            reader,
            line: 0,
            buf: Vec::new(),
            any: false,
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
            raw: vec![String::from_utf8_lossy(&self.buf).into_owned()],
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
            Err(e) => unreadable(format!("invalid JSON at column {}: {e}", e.column())),
        }
    }
}

impl Iterator for NdjsonRows {
    type Item = Result<Record, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
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
                    raw: vec![],
                    error: format!("line is {len} bytes long, over the limit of {MAX_LINE_BYTES}"),
                },
                Ok(Some(Ok(()))) if self.buf.iter().all(u8::is_ascii_whitespace) => continue,
                Ok(Some(Ok(()))) => self.cells(),
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
