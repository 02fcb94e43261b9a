//! CSV records with the physical line where each starts.

use std::io::BufRead;
use std::sync::Arc;

use csv::{ByteRecord, Reader, ReaderBuilder};

use super::SourceError;
use super::lines::{LineCounting, LineIndex};
use super::text::{Delimiter, sniff_delimiter};
use crate::record::{Cells, CsvValues, Header, Origin, Record};

const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Spare cell buffers kept at most: a few batches' worth.
const MAX_SPARE: usize = 1024;
const NOT_UTF8: &str =
    "is not valid UTF-8 (is the file in another encoding? try --encoding windows-1252)";
const NUL: &str = "holds a NUL byte (binary data in a text file?)";

/// The records of one CSV input. The header is read on creation; records are read
/// as bytes so that a cell that is not UTF-8 fails its row, naming the column, instead
/// of stopping the file.
pub struct CsvRows {
    file: Arc<str>,
    header: Header,
    /// Reads through a [`LineIndex`] that knows where each record starts: the csv
    /// crate's own line count is wrong after CRLF.
    reader: Reader<LineCounting<Box<dyn BufRead + Send>>>,
    record: ByteRecord,
    delimiter: Delimiter,
    /// Records read so far, to say so when a file has a header and no rows.
    records: u64,
    /// Cell buffers of records the run is done with, reused for the next ones: a buffer
    /// allocated here and freed on another thread costs more than the copy into it.
    spare: Vec<CsvValues>,
}

impl CsvRows {
    /// Reads the header. `delimiter`: None takes it from Excel's `sep=;` line if the file
    /// starts with one, else detects it from the header line.
    pub fn new(
        file: Arc<str>,
        mut bytes: Box<dyn BufRead + Send>,
        delimiter: Option<Delimiter>,
    ) -> Result<CsvRows, SourceError> {
        let io_error = |source| SourceError::Io {
            file: file.clone(),
            source,
        };
        let head = bytes.fill_buf().map_err(io_error)?;
        let sep_line = excel_sep_line(head);
        let delimiter = match (delimiter, sep_line) {
            (Some(given), Some((sep, _))) if given != sep => {
                tracing::warn!(
                    "{file}: line 1 says sep={sep}, but the delimiter {given} was given: using {given}"
                );
                given
            }
            (Some(given), _) => given,
            (None, Some((sep, _))) => sep,
            (None, None) => sniff_delimiter(head.strip_prefix(BOM).unwrap_or(head)),
        };
        // The `sep=` line is not the header: the header is on line 2.
        let header_line = match sep_line {
            Some((_, length)) => {
                bytes.consume(length);
                2
            }
            None => 1,
        };
        let mut reader = ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter.0)
            .from_reader(LineCounting {
                inner: bytes,
                index: LineIndex::starting_at(delimiter.0, header_line),
            });
        let mut first = ByteRecord::new();
        let invalid = |message: String| SourceError::Invalid {
            file: file.clone(),
            message,
        };
        let has_header = reader
            .read_byte_record(&mut first)
            .map_err(|e| csv_error(&file, e))?;
        if !has_header {
            return Err(invalid("the file is empty: expected a header line".into()));
        }
        let header_line = reader.get_mut().index.line_from(0).unwrap_or(header_line);
        let mut header = Vec::with_capacity(first.len());
        for (i, raw) in first.iter().enumerate() {
            let raw = if i == 0 {
                raw.strip_prefix(BOM).unwrap_or(raw)
            } else {
                raw
            };
            let name = std::str::from_utf8(raw).map_err(|_| {
                invalid(format!(
                    "line {header_line}: header column {} is not valid UTF-8 (is the file in \
                     another encoding? try --encoding windows-1252)",
                    i + 1
                ))
            })?;
            header.push(name.trim().to_string());
        }
        Ok(CsvRows {
            file,
            header: Header::new(header, header_line),
            reader,
            record: ByteRecord::new(),
            delimiter,
            records: 0,
            spare: Vec::new(),
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The delimiter in use, given or detected.
    pub fn delimiter(&self) -> Delimiter {
        self.delimiter
    }

    /// A record that has been through the run, back for its buffers (see
    /// [`super::Rows::recycle`]).
    pub fn recycle(&mut self, record: Record) {
        if let Cells::Csv { values, .. } = record.cells
            && self.spare.len() < MAX_SPARE
        {
            self.spare.push(values);
        }
    }

    fn cells(&mut self) -> Cells {
        // Nearly every record is clean UTF-8 with no NUL: one check over its whole text
        // and one copy, instead of one of each per cell.
        let text = self.record.as_slice();
        if memchr::memchr(0, text).is_none()
            && let Ok(text) = std::str::from_utf8(text)
        {
            let mut values = self
                .spare
                .pop()
                .unwrap_or_else(|| CsvValues::with_capacity(self.record.len(), text.len()));
            // A cut inside a character (two cells joined into valid text while each
            // alone is not) takes the cell-by-cell path below.
            if values.refill(text, self.record.iter().map(<[u8]>::len)) {
                return Cells::Csv {
                    header: self.header.clone(),
                    values,
                };
            }
        }
        let bad_column = self.record.iter().enumerate().find_map(|(i, raw)| {
            if std::str::from_utf8(raw).is_err() {
                Some((i, NOT_UTF8))
            } else if raw.contains(&0) {
                Some((i, NUL))
            } else {
                None
            }
        });
        match bad_column {
            // Never, in fact: a record whose every cell is UTF-8 without a NUL took the
            // path above.
            None => Cells::Csv {
                header: self.header.clone(),
                values: self
                    .record
                    .iter()
                    .filter_map(|raw| std::str::from_utf8(raw).ok())
                    .collect(),
            },
            Some((i, problem)) => {
                let column = match self.header.get(i) {
                    Some(name) => format!("column {} ({name:?})", i + 1),
                    None => format!("column {}", i + 1),
                };
                Cells::Unreadable {
                    header: Some(self.header.clone()),
                    raw: self.record.iter().map(<[u8]>::to_vec).collect(),
                    error: format!("{column} {problem}"),
                }
            }
        }
    }
}

impl Iterator for CsvRows {
    type Item = Result<Record, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let after_previous = self.reader.position().byte();
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => {
                if self.records == 0 {
                    self.records = u64::MAX;
                    tracing::warn!("{}: the file has a header and no rows", self.file);
                }
                None
            }
            Ok(true) => {
                self.records = self.records.saturating_add(1);
                let lines = &mut self.reader.get_mut().index;
                let line = lines.line_from(after_previous).unwrap_or(0);
                Some(Ok(Record {
                    origin: Origin {
                        file: self.file.clone(),
                        line,
                    },
                    cells: self.cells(),
                }))
            }
            Err(e) => Some(Err(csv_error(&self.file, e))),
        }
    }
}

/// Excel's first line `sep=;` (written by its "CSV" of some locales, and read by it as
/// the delimiter to use, not as data): the delimiter it names and the line's length with
/// its line break (and a byte-order mark before it), or None when `head` starts otherwise.
fn excel_sep_line(head: &[u8]) -> Option<(Delimiter, usize)> {
    let bom = if head.starts_with(BOM) { BOM.len() } else { 0 };
    let line = head.get(bom..)?;
    let rest = line
        .strip_prefix(b"sep=")
        .or_else(|| line.strip_prefix(b"SEP="))?;
    let (&byte, after) = rest.split_first()?;
    let ending = match after {
        [] => 0,
        [b'\r', b'\n', ..] => 2,
        [b'\r' | b'\n', ..] => 1,
        _ => return None,
    };
    let delimiter = match byte {
        b'\t' => "tab".parse(),
        byte => std::str::from_utf8(&[byte])
            .map_err(|e| e.to_string())
            .and_then(str::parse),
    }
    .ok()?;
    Some((delimiter, bom + 4 + 1 + ending))
}

fn csv_error(file: &Arc<str>, error: csv::Error) -> SourceError {
    let message = error.to_string();
    match error.into_kind() {
        // What the line index refuses (an unterminated quote, a runaway record).
        csv::ErrorKind::Io(source) if source.kind() == std::io::ErrorKind::InvalidData => {
            SourceError::Invalid {
                file: file.clone(),
                message: source.to_string(),
            }
        }
        csv::ErrorKind::Io(source) => SourceError::Io {
            file: file.clone(),
            source,
        },
        _ => SourceError::Invalid {
            file: file.clone(),
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &[u8]) -> Result<(Header, Vec<Record>), SourceError> {
        let bytes: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(text.to_vec()));
        let rows = CsvRows::new("t.csv".into(), bytes, None)?;
        let header = rows.header().clone();
        let records = rows.collect::<Result<Vec<_>, _>>()?;
        Ok((header, records))
    }

    fn values(record: &Record) -> Vec<&str> {
        match &record.cells {
            Cells::Csv { values, .. } => values.iter().collect(),
            other => panic!("expected CSV cells, got {other:?}"),
        }
    }

    #[test]
    fn strips_the_bom_and_trims_header_names() {
        let (header, records) = read(b"\xEF\xBB\xBF email , name\r\na@x.io,A\r\n").expect("reads");
        assert_eq!(&header[..], ["email", "name"]);
        assert_eq!(values(&records[0]), ["a@x.io", "A"]);
    }

    #[test]
    fn keeps_the_line_where_a_multiline_record_starts() {
        let text = b"name,notes\nA,\"one\ntwo, three\"\nB,plain\r\nC,\"x\"\"y\"\n";
        let (_, records) = read(text).expect("reads");
        let lines: Vec<u64> = records.iter().map(|r| r.origin.line).collect();
        assert_eq!(lines, [2, 4, 5]);
        assert_eq!(values(&records[0]), ["A", "one\ntwo, three"]);
        assert_eq!(values(&records[2]), ["C", "x\"y"]);
        assert_eq!(records[1].origin.to_string(), "t.csv:4");
    }

    #[test]
    fn line_numbers_hold_for_crlf_lone_cr_and_blank_lines() {
        for (text, expected) in [
            (&b"a\r\n1\r\n2\r\n3\r\n"[..], &[2, 3, 4][..]),
            (b"a\r1\r2\r3\r", &[2, 3, 4]),
            (b"a\n\n\n1\n\r\n2\n\"x\r\ny\"\n3", &[4, 6, 7, 9]),
        ] {
            let (_, records) = read(text).expect("reads");
            let lines: Vec<u64> = records.iter().map(|r| r.origin.line).collect();
            assert_eq!(lines, expected, "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn a_ragged_row_keeps_all_its_values() {
        let (_, records) = read(b"a,b\n1,2,3\n4\n").expect("reads");
        assert_eq!(values(&records[0]), ["1", "2", "3"]);
        assert_eq!(values(&records[1]), ["4"]);
    }

    #[test]
    fn invalid_utf8_fails_the_row_naming_the_column() {
        let (_, records) = read(b"name,city\nok,fine\nJos\xE9,Paris\n").expect("reads");
        assert!(matches!(records[0].cells, Cells::Csv { .. }));
        match &records[1].cells {
            Cells::Unreadable { header, raw, error } => {
                assert_eq!(
                    error,
                    "column 1 (\"name\") is not valid UTF-8 (is the file in another encoding? \
                     try --encoding windows-1252)"
                );
                // Its bytes as they were, and the header, for failed.csv.
                assert_eq!(raw, &[b"Jos\xE9".to_vec(), b"Paris".to_vec()]);
                assert_eq!(
                    header.as_deref().map(|h| h.to_vec()),
                    Some(vec!["name".to_string(), "city".to_string()])
                );
            }
            other => panic!("expected an unreadable row, got {other:?}"),
        }
        assert_eq!(records[1].origin.line, 3);
    }

    #[test]
    fn semicolon_and_tab_delimiters_are_detected_from_the_header() {
        let (header, records) = read(b"email;name\r\na@x.io;\"Lee, Ann\"\r\n").expect("reads");
        assert_eq!(&header[..], ["email", "name"]);
        assert_eq!(values(&records[0]), ["a@x.io", "Lee, Ann"]);
        let (header, records) = read(b"email\tname\na@x.io\tAnn;B\n").expect("reads");
        assert_eq!(&header[..], ["email", "name"]);
        assert_eq!(values(&records[0]), ["a@x.io", "Ann;B"]);
    }

    #[test]
    fn excel_sep_line_sets_the_delimiter_and_is_not_the_header() {
        for text in [
            &b"sep=;\nname;email\nA;a@example.com\n"[..],
            b"sep=;\r\nname;email\r\nA;a@example.com\r\n",
            b"\xEF\xBB\xBFsep=;\rname;email\rA;a@example.com\r",
        ] {
            let bytes: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(text.to_vec()));
            let rows = CsvRows::new("t.csv".into(), bytes, None).expect("reads");
            assert_eq!(rows.delimiter(), Delimiter(b';'));
            let header = rows.header().clone();
            assert_eq!(&header[..], ["name", "email"]);
            assert_eq!(header.line(), 2, "{:?}", String::from_utf8_lossy(text));
            let records = rows.collect::<Result<Vec<_>, _>>().expect("reads");
            assert_eq!(values(&records[0]), ["A", "a@example.com"]);
            // Line numbers stay physical.
            assert_eq!(records[0].origin.line, 3);
        }
        // A given delimiter wins over the line, which is still not the header.
        let bytes: Box<dyn BufRead + Send> =
            Box::new(std::io::Cursor::new(b"sep=,\nname;email\nA;a\n".to_vec()));
        let rows = CsvRows::new("t.csv".into(), bytes, Some(Delimiter(b';'))).expect("reads");
        assert_eq!(&rows.header()[..], ["name", "email"]);
        assert_eq!(excel_sep_line(b"sep=\t\n"), Some((Delimiter(b'\t'), 6)));
        assert_eq!(excel_sep_line(b"sep=|"), Some((Delimiter(b'|'), 5)));
        for not_sep in [
            &b"sep=;;\n"[..],
            b"sep=\n",
            b"separator\n",
            b"sep=\"\n",
            b"name,sep=;",
        ] {
            assert_eq!(
                excel_sep_line(not_sep),
                None,
                "{:?}",
                String::from_utf8_lossy(not_sep)
            );
        }
        // A file that is only the sep line is empty.
        let error = read(b"sep=;\r\n").err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("t.csv: the file is empty: expected a header line")
        );
    }

    #[test]
    fn the_header_line_is_where_the_header_starts() {
        let (header, records) = read(b"\n\nemail\na@x.io\n").expect("reads");
        assert_eq!(header.line(), 3);
        assert_eq!(records[0].origin.line, 4);
        let error = read(b"sep=;\nname;\xE9\n").err().map(|e| e.to_string());
        assert!(
            error.as_deref().is_some_and(|e| e.starts_with("t.csv: line 2: header column 2 is not valid UTF-8")),
            "{error:?}"
        );
    }

    #[test]
    fn a_given_delimiter_wins() {
        let bytes: Box<dyn BufRead + Send> =
            Box::new(std::io::Cursor::new(b"a;b|c\n1;2|3\n".to_vec()));
        let rows = CsvRows::new("t.csv".into(), bytes, Some(Delimiter(b'|'))).expect("reads");
        assert_eq!(&rows.header()[..], ["a;b", "c"]);
    }

    #[test]
    fn an_unterminated_quote_names_the_line_where_it_opened() {
        let text = b"email,name\r\na@x.io,Ann\r\nb@x.io,\"Bob\r\nc@x.io,Cy\r\n";
        let bytes: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(text.to_vec()));
        let mut rows = CsvRows::new("t.csv".into(), bytes, None).expect("header");
        let first = rows.next().expect("a row").expect("readable");
        assert_eq!(first.origin.line, 2);
        let error = rows.next().expect("an error").expect_err("unterminated");
        assert_eq!(
            error.to_string(),
            "t.csv: line 3: a quote opens a field here and is never closed (an unterminated \
             quote would swallow the rest of the file into one field)"
        );
        // In the header too.
        let error = read(b"\"email,name\na,b\n").err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.starts_with("t.csv: line 1: a quote opens")));
    }

    #[test]
    fn a_recycled_record_lends_its_buffers_and_nothing_else() {
        let text = b"a,b\nlonger first,x\n1,2\n\xC3,\xA9\n";
        let bytes: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(text.to_vec()));
        let mut rows = CsvRows::new("t.csv".into(), bytes, None).expect("header");
        let first = rows.next().expect("a row").expect("readable");
        assert_eq!(values(&first), ["longer first", "x"]);
        rows.recycle(first);
        assert_eq!(rows.spare.len(), 1);
        let second = rows.next().expect("a row").expect("readable");
        assert_eq!(values(&second), ["1", "2"]);
        assert_eq!(second.origin.line, 3);
        rows.recycle(second);
        // A spare refilled with a character cut in two is not handed out as cells.
        let third = rows.next().expect("a row").expect("readable");
        assert!(matches!(third.cells, Cells::Unreadable { .. }), "{third:?}");
    }

    #[test]
    fn a_character_split_across_two_cells_fails_its_row() {
        // "\xC3" and "\xA9" are "é" together, and neither is UTF-8 alone.
        let (_, records) = read(b"a,b\n\xC3,\xA9\nx,y\n").expect("reads");
        match &records[0].cells {
            Cells::Unreadable { error, .. } => {
                assert!(
                    error.starts_with("column 1 (\"a\") is not valid UTF-8"),
                    "{error}"
                );
            }
            other => panic!("expected an unreadable row, got {other:?}"),
        }
        assert_eq!(values(&records[1]), ["x", "y"]);
    }

    #[test]
    fn a_nul_byte_fails_its_row_naming_the_column() {
        let (_, records) = read(b"email,name\na@x.io,A\0nn\nb@x.io,Bo\n").expect("reads");
        match &records[0].cells {
            Cells::Unreadable { raw, error, .. } => {
                assert_eq!(
                    error,
                    "column 2 (\"name\") holds a NUL byte (binary data in a text file?)"
                );
                assert_eq!(raw[1], b"A\0nn");
            }
            other => panic!("expected an unreadable row, got {other:?}"),
        }
        assert_eq!(values(&records[1]), ["b@x.io", "Bo"]);
    }

    #[test]
    fn a_header_only_file_has_no_rows() {
        for text in [
            &b"email,name\n"[..],
            b"email,name",
            b"\xEF\xBB\xBFemail,name\r\n\r\n",
        ] {
            let (header, records) = read(text).expect("reads");
            assert_eq!(&header[..], ["email", "name"]);
            assert!(records.is_empty());
        }
    }

    #[test]
    fn an_empty_file_is_refused() {
        for text in [&b""[..], b"\n\r\n", b"\xEF\xBB\xBF"] {
            let err = read(text).err().map(|e| e.to_string());
            assert_eq!(
                err.as_deref(),
                Some("t.csv: the file is empty: expected a header line")
            );
        }
    }
}
