//! Physical line numbers for CSV records, and the records the csv crate would take
//! whole without a word.
//!
//! The csv crate's own `Position::line()` miscounts after CRLF and never counts a lone CR,
//! so lines are counted here, on the bytes as the parser pulls them: every byte that
//! starts a line's content is remembered with its line number, until the parser has
//! passed it. Memory is bounded by the parser's read-ahead, not by the file.
//!
//! The csv crate also reads an unterminated quote silently to the end of the file, as one
//! field held in memory. So the quoting is followed here too, with the parser's own rules
//! (csv-core's: a quote opens a quoted field only at the start of a field, `""` inside one
//! is a quote, and after the closing quote the field goes on unquoted): a quote still open
//! at the end, or a record longer than [`MAX_RECORD_BYTES`], is an error naming the line.

use std::collections::VecDeque;
use std::io::{self, Read};

/// A record longer than this is refused: a contact is a few hundred bytes, and memory
/// must not follow a runaway quote or a binary file with no line breaks.
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// Where the parser is in a record, as far as quoting goes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    /// At the start of a field (and of a record).
    #[default]
    FieldStart,
    /// In an unquoted field, or after a quoted part: quotes are plain text here.
    Field,
    Quoted,
    /// A quote inside a quoted field: `""` is a quote, anything else closes the field.
    QuoteInQuoted,
}

/// Line starts seen but not yet passed by the parser.
#[derive(Debug, Default)]
pub struct LineIndex {
    /// (byte offset, line) of each first content byte after a line break, in order.
    starts: VecDeque<(u64, u64)>,
    /// Bytes seen so far.
    offset: u64,
    /// Line of the byte at `offset`.
    line: u64,
    /// The last byte seen was a CR, so a following LF ends no new line.
    after_cr: bool,
    /// The last byte seen was a line break (or nothing was seen yet).
    at_line_start: bool,
    delimiter: u8,
    quoting: Quoting,
    /// The line where the quoted field being read opened.
    quote_line: u64,
    /// Bytes of the record being read, and the line where it starts.
    record_bytes: u64,
    record_line: u64,
}

impl LineIndex {
    /// An index whose first byte is on `line`: the bytes before it were read apart
    /// (Excel's `sep=;` line), and line numbers stay those of the file.
    pub fn starting_at(delimiter: u8, line: u64) -> LineIndex {
        LineIndex {
            line,
            at_line_start: true,
            delimiter,
            ..LineIndex::default()
        }
    }

    /// Follows `bytes`; an error (a sentence naming the line) when a record grows past
    /// [`MAX_RECORD_BYTES`].
    fn observe(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut at = 0;
        while let Some(rest) = bytes.get(at..).filter(|rest| !rest.is_empty()) {
            // Most bytes are neither a quote nor a line break: a run of them only moves
            // the counts, found with memchr's SIMD search. A delimiter in the run matters
            // only to the quoting state, which depends on the run's last byte alone.
            let run = memchr::memchr3(b'"', b'\r', b'\n', rest).unwrap_or(rest.len());
            if run == 0 {
                self.step(rest[0])?;
                at += 1;
                continue;
            }
            if self.at_line_start {
                self.starts.push_back((self.offset, self.line));
                self.at_line_start = false;
            }
            self.after_cr = false;
            if self.quoting != Quoting::Quoted {
                self.quoting = if rest[run - 1] == self.delimiter {
                    Quoting::FieldStart
                } else {
                    Quoting::Field
                };
            }
            if self.record_bytes == 0 {
                self.record_line = self.line;
            }
            self.record_bytes += run as u64;
            if self.record_bytes > MAX_RECORD_BYTES {
                return Err(self.too_long());
            }
            self.offset += run as u64;
            at += run;
        }
        Ok(())
    }

    /// One byte, any byte.
    fn step(&mut self, byte: u8) -> Result<(), String> {
        let ends_record = match (self.quoting, byte) {
            (Quoting::Quoted, b'"') => {
                self.quoting = Quoting::QuoteInQuoted;
                false
            }
            (Quoting::Quoted, _) => false,
            (Quoting::FieldStart, b'"') => {
                self.quoting = Quoting::Quoted;
                self.quote_line = self.line;
                false
            }
            (Quoting::QuoteInQuoted, b'"') => {
                self.quoting = Quoting::Quoted;
                false
            }
            (_, b'\r' | b'\n') => {
                self.quoting = Quoting::FieldStart;
                true
            }
            (_, byte) if byte == self.delimiter => {
                self.quoting = Quoting::FieldStart;
                false
            }
            _ => {
                self.quoting = Quoting::Field;
                false
            }
        };
        if ends_record {
            self.record_bytes = 0;
        } else {
            if self.record_bytes == 0 {
                self.record_line = self.line;
            }
            self.record_bytes += 1;
            if self.record_bytes > MAX_RECORD_BYTES {
                return Err(self.too_long());
            }
        }
        match byte {
            b'\n' if self.after_cr => self.after_cr = false,
            b'\n' | b'\r' => {
                self.line += 1;
                self.after_cr = byte == b'\r';
                self.at_line_start = true;
            }
            _ => {
                if self.at_line_start {
                    self.starts.push_back((self.offset, self.line));
                    self.at_line_start = false;
                }
                self.after_cr = false;
            }
        }
        self.offset += 1;
        Ok(())
    }

    fn too_long(&self) -> String {
        if self.quoting == Quoting::Quoted {
            format!(
                "line {}: a quoted field opens here and is still open {} MiB later \
                 (an unterminated quote?)",
                self.quote_line,
                MAX_RECORD_BYTES >> 20
            )
        } else {
            format!(
                "line {}: a record longer than {} MiB (is this a CSV file?)",
                self.record_line,
                MAX_RECORD_BYTES >> 20
            )
        }
    }

    /// At the end of the input: an error when a quoted field is still open.
    fn finish(&self) -> Result<(), String> {
        if self.quoting == Quoting::Quoted {
            Err(format!(
                "line {}: a quote opens a field here and is never closed (an unterminated \
                 quote would swallow the rest of the file into one field)",
                self.quote_line
            ))
        } else {
            Ok(())
        }
    }

    /// The line of the first content byte at or after `offset` (where the parser, having
    /// finished a record at `offset`, starts the next one), forgetting earlier starts.
    pub fn line_from(&mut self, offset: u64) -> Option<u64> {
        while let Some(&(start, _)) = self.starts.front() {
            if start >= offset {
                break;
            }
            self.starts.pop_front();
        }
        self.starts.front().map(|&(_, line)| line)
    }
}

/// Feeds every byte read through a [`LineIndex`], which the CSV reader around it asks
/// for record lines.
pub struct LineCounting<R> {
    pub inner: R,
    pub index: LineIndex,
}

impl<R: Read> Read for LineCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let seen = match buf.get(..n).unwrap_or_default() {
            [] if !buf.is_empty() => self.index.finish(),
            bytes => self.index.observe(bytes),
        };
        seen.map_err(|message| io::Error::new(io::ErrorKind::InvalidData, message))?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(text: &[u8]) -> LineIndex {
        let mut index = LineIndex::starting_at(b',', 1);
        // In odd-sized chunks, so a CRLF split across reads is covered.
        for chunk in text.chunks(3) {
            index.observe(chunk).expect("short records");
        }
        index
    }

    fn quoting(text: &[u8]) -> Result<(), String> {
        let mut index = LineIndex::starting_at(b',', 1);
        index.observe(text)?;
        index.finish()
    }

    #[test]
    fn quotes_follow_the_parsers_rules() {
        for closed in [
            &b"a,\"b\nc\",d\n"[..],
            b"a,\"b\"\"c\"\n",
            b"a,5\" screen,b\n",
            b"\"x\"y\"z,b\n",
            b"\"\"\n\"\"\"\"",
            b"a,b\"",
        ] {
            assert_eq!(
                quoting(closed),
                Ok(()),
                "{:?}",
                String::from_utf8_lossy(closed)
            );
        }
        assert_eq!(
            quoting(b"a,b\r\n1,\"open\r\n2,x\r\n"),
            Err(
                "line 2: a quote opens a field here and is never closed (an unterminated \
                 quote would swallow the rest of the file into one field)"
                    .into()
            )
        );
        assert!(quoting(b"a\n\"\"\"\n").is_err());
    }

    #[test]
    fn a_runaway_record_is_refused_naming_its_line() {
        let mut open = b"a\n1\n\"".to_vec();
        open.extend(std::iter::repeat_n(b'x', MAX_RECORD_BYTES as usize));
        let error = quoting(&open).unwrap_err();
        assert!(
            error.starts_with("line 3: a quoted field opens here"),
            "{error}"
        );
        let mut long = b"a\n".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_RECORD_BYTES as usize + 1));
        let error = quoting(&long).unwrap_err();
        assert!(
            error.starts_with("line 2: a record longer than 1 MiB"),
            "{error}"
        );
        // Many short records add up to nothing.
        let many = b"abc\r\n".repeat(MAX_RECORD_BYTES as usize);
        assert_eq!(quoting(&many), Ok(()));
    }

    #[test]
    fn lf_crlf_and_lone_cr_each_end_one_line() {
        let mut lf = index(b"a\nb\nc");
        let mut crlf = index(b"a\r\nb\r\nc");
        let mut cr = index(b"a\rb\rc");
        for (index, b, c) in [(&mut lf, 2, 4), (&mut crlf, 3, 6), (&mut cr, 2, 4)] {
            assert_eq!(index.line_from(0), Some(1));
            assert_eq!(index.line_from(b), Some(2));
            assert_eq!(index.line_from(c), Some(3));
            assert_eq!(index.line_from(c + 1), None);
        }
    }

    proptest::proptest! {
        #[test]
        fn runs_and_single_steps_agree(text in "[a,;\"\r\n]{0,80}", chunk in 1usize..9) {
            let mut by_runs = LineIndex::starting_at(b',', 1);
            let mut by_bytes = LineIndex::starting_at(b',', 1);
            for piece in text.as_bytes().chunks(chunk) {
                by_runs.observe(piece).expect("short");
                for &byte in piece {
                    by_bytes.step(byte).expect("short");
                }
            }
            proptest::prop_assert_eq!(&by_runs.starts, &by_bytes.starts);
            proptest::prop_assert_eq!(by_runs.quoting, by_bytes.quoting);
            proptest::prop_assert_eq!(by_runs.record_bytes, by_bytes.record_bytes);
            proptest::prop_assert_eq!(by_runs.line, by_bytes.line);
            proptest::prop_assert_eq!(by_runs.finish(), by_bytes.finish());
        }
    }

    #[test]
    fn blank_lines_are_skipped_to_the_next_content() {
        let mut index = index(b"a\n\r\n\n\rb");
        assert_eq!(index.line_from(1), Some(5));
    }
}
