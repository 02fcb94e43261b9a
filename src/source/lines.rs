//! Physical line numbers for CSV records.
//!
//! The csv crate's own `Position::line()` miscounts after CRLF and never counts a lone CR,
//! so lines are counted here, on the bytes as the parser pulls them: every byte that
//! starts a line's content is remembered with its line number, until the parser has
//! passed it. Memory is bounded by the parser's read-ahead, not by the file.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};

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
}

impl LineIndex {
    pub fn new() -> LineIndex {
        LineIndex {
            line: 1,
            at_line_start: true,
            ..LineIndex::default()
        }
    }

    fn observe(&mut self, bytes: &[u8]) {
        for &byte in bytes {
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

/// Feeds every byte read through a shared [`LineIndex`].
pub struct LineCounting<R> {
    pub inner: R,
    /// Shared with the CSV reader that asks it for record lines; the lock is never contended.
    pub index: Arc<Mutex<LineIndex>>,
}

impl<R: Read> Read for LineCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut index = self.index.lock().unwrap_or_else(|e| e.into_inner());
        index.observe(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(text: &[u8]) -> LineIndex {
        let mut index = LineIndex::new();
        // In odd-sized chunks, so a CRLF split across reads is covered.
        for chunk in text.chunks(3) {
            index.observe(chunk);
        }
        index
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

    #[test]
    fn blank_lines_are_skipped_to_the_next_content() {
        let mut index = index(b"a\n\r\n\n\rb");
        assert_eq!(index.line_from(1), Some(5));
    }
}
