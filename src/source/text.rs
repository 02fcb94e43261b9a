//! How an input's bytes are text: its encoding, its CSV delimiter, and refusing files
//! that are not text at all.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::str::FromStr;

use encoding_rs_io::DecodeReaderBytesBuilder;
use serde::Deserialize;

/// Encodings other than UTF-8 that exports come in. Without one, the input is read as
/// UTF-8 (or UTF-16 when it starts with a UTF-16 byte-order mark), and a cell that is not
/// UTF-8 fails its row instead of being sent garbled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
pub enum TextEncoding {
    /// Windows-1252, what Excel on Windows writes for "CSV" in western locales.
    #[value(name = "windows-1252", alias = "cp1252")]
    #[serde(rename = "windows-1252", alias = "cp1252")]
    Windows1252,
    /// ISO-8859-1, read as its superset Windows-1252 (as the WHATWG Encoding Standard
    /// and every browser do): the two differ only in 0x80–0x9F, control codes in
    /// ISO-8859-1 that no contact file holds.
    #[value(name = "latin1", alias = "iso-8859-1")]
    #[serde(rename = "latin1", alias = "iso-8859-1")]
    Latin1,
}

impl TextEncoding {
    fn encoding(self) -> &'static encoding_rs::Encoding {
        match self {
            TextEncoding::Windows1252 | TextEncoding::Latin1 => encoding_rs::WINDOWS_1252,
        }
    }
}

/// A CSV field delimiter: one ASCII character other than a quote or a line break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiter(pub u8);

impl FromStr for Delimiter {
    type Err = String;

    /// `,` `;` `|` …, or `tab` / `\t` for a tab.
    fn from_str(text: &str) -> Result<Delimiter, String> {
        let byte = match text {
            "tab" | "TAB" | "\\t" | "\t" => b'\t',
            _ if text.len() == 1 => text.as_bytes()[0],
            _ => {
                return Err(format!(
                    "the delimiter must be one character (or \"tab\"), not {text:?}"
                ));
            }
        };
        if !byte.is_ascii() || matches!(byte, b'"' | b'\r' | b'\n' | 0) {
            return Err(format!("{text:?} cannot be a delimiter"));
        }
        Ok(Delimiter(byte))
    }
}

impl fmt::Display for Delimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            b'\t' => f.write_str("tab"),
            byte => write!(f, "{}", byte as char),
        }
    }
}

impl<'de> Deserialize<'de> for Delimiter {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// How to read an input, beyond its format: a text file's delimiter and encoding, a
/// workbook's sheet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// None: detected from the header (`,` unless it has more `;` or tabs).
    pub delimiter: Option<Delimiter>,
    /// None: UTF-8, or UTF-16 with a byte-order mark.
    pub encoding: Option<TextEncoding>,
    /// None: the first visible sheet.
    pub sheet: Option<super::SheetChoice>,
}

const UTF16_LE_BOM: &[u8] = b"\xFF\xFE";
const UTF16_BE_BOM: &[u8] = b"\xFE\xFF";

/// `bytes` as UTF-8: transcoded from `encoding`, or from UTF-16 when it starts with a
/// UTF-16 byte-order mark; otherwise passed through untouched (the readers check UTF-8
/// cell by cell, so a stray byte fails one row, naming its line).
pub fn decode(
    mut bytes: Box<dyn BufRead + Send>,
    encoding: Option<TextEncoding>,
) -> std::io::Result<Box<dyn BufRead + Send>> {
    let builder = match encoding {
        Some(encoding) => {
            let mut builder = DecodeReaderBytesBuilder::new();
            // A byte-order mark says more than the flag: a UTF-8 file stays UTF-8.
            builder
                .encoding(Some(encoding.encoding()))
                .bom_override(true);
            builder
        }
        None => {
            let head = bytes.fill_buf()?;
            if !(head.starts_with(UTF16_LE_BOM) || head.starts_with(UTF16_BE_BOM)) {
                return Ok(bytes);
            }
            let mut builder = DecodeReaderBytesBuilder::new();
            builder.bom_sniffing(true).strip_bom(true);
            builder
        }
    };
    Ok(Box::new(BufReader::with_capacity(
        64 * 1024,
        builder.build(bytes),
    )))
}

/// The delimiter a CSV header uses: `;` or tab when the first line has more of them
/// (outside quotes) than commas, else `,`.
pub fn sniff_delimiter(head: &[u8]) -> Delimiter {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &byte in head {
        match byte {
            b'"' => quoted = !quoted,
            b'\r' | b'\n' if !quoted => break,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let [comma, semicolon, tab] = counts;
    if semicolon > comma && semicolon >= tab {
        Delimiter(b';')
    } else if tab > comma && tab > semicolon {
        Delimiter(b'\t')
    } else {
        Delimiter(b',')
    }
}

/// The most bytes looked at before the first row.
const HEAD_MAX: usize = 64 * 1024;

/// `bytes` again, read so that its first `fill_buf` holds its head, for [`not_text`] and
/// [`sniff_delimiter`] to look at: at least the first line (at most 64 KiB), and
/// whatever the first reads brought with it (a file's first 64 KiB). It waits for no
/// more than one line, so rows piped in one by one are not held back.
pub fn with_head(mut bytes: Box<dyn BufRead + Send>) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut head = Vec::new();
    loop {
        let chunk = bytes.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        let take = chunk.len().min(HEAD_MAX - head.len());
        head.extend_from_slice(&chunk[..take]);
        bytes.consume(take);
        let has_line = head.iter().any(|&b| b == b'\n' || b == b'\r');
        if head.len() >= HEAD_MAX || has_line {
            break;
        }
    }
    Ok(Box::new(std::io::Cursor::new(head).chain(bytes)))
}

/// Control bytes (besides tab, CR and LF) in a text file's head above this share mean
/// binary data. A stray NUL in one cell stays far below it, and fails only its row.
const BINARY_SHARE: f64 = 0.05;
/// ... and more than this many, so a short file with one stray byte is still text.
const BINARY_MIN: usize = 8;

/// Why `head` (the first bytes of an input) cannot be a text file of contacts, if it
/// cannot: a known binary format, control bytes in its first line, or many of them.
pub fn not_text(head: &[u8]) -> Option<String> {
    let magic: [(&[u8], &str); 7] = [
        (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?)"),
        (b"\xD0\xCF\x11\xE0", "an old Excel .xls workbook"),
        (b"%PDF", "a PDF document"),
        (b"\x89PNG", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"\x7FELF", "a program"),
    ];
    if let Some((magic, what)) = magic.iter().find(|(magic, _)| head.starts_with(magic)) {
        // Reached when --format (or stdin's default) said text.
        let hint = if magic.starts_with(b"PK") || magic.starts_with(b"\xD0") {
            " (a workbook is read with --format workbook)"
        } else {
            ""
        };
        return Some(format!("this is {what}, not CSV or NDJSON text{hint}"));
    }
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let control = |b: &u8| (*b < 0x20 && !matches!(b, b'\t' | b'\r' | b'\n')) || *b == 0x7F;
    let hint = |byte: u8| {
        if byte == 0 {
            "a binary file, or UTF-16 text without a byte-order mark?"
        } else {
            "is this a binary file?"
        }
    };
    let first_line = head
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map_or(head, |end| &head[..end]);
    if let Some((column, &byte)) = first_line.iter().enumerate().find(|(_, b)| control(b)) {
        return Some(format!(
            "line 1: byte 0x{byte:02X} at column {} is not text ({})",
            column + 1,
            hint(byte)
        ));
    }
    let controls = head.iter().filter(|b| control(b)).count();
    if controls > BINARY_MIN && controls as f64 > head.len() as f64 * BINARY_SHARE {
        let first = head.iter().copied().find(control).unwrap_or(0);
        return Some(format!(
            "{controls} of the first {} bytes are control bytes, not text ({})",
            head.len(),
            hint(first)
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: &[u8], encoding: Option<TextEncoding>) -> Vec<u8> {
        let reader: Box<dyn BufRead + Send> = Box::new(std::io::Cursor::new(bytes.to_vec()));
        let mut out = Vec::new();
        decode(reader, encoding)
            .expect("decode")
            .read_to_end(&mut out)
            .expect("read");
        out
    }

    #[test]
    fn windows_1252_and_latin1_become_utf8() {
        let text = b"name\nJos\xE9 \x80\n";
        for encoding in [TextEncoding::Windows1252, TextEncoding::Latin1] {
            assert_eq!(decoded(text, Some(encoding)), "name\nJosé €\n".as_bytes());
        }
        // A UTF-8 byte-order mark wins over the flag (and is dropped).
        assert_eq!(
            decoded("\u{FEFF}José".as_bytes(), Some(TextEncoding::Windows1252)),
            "José".as_bytes()
        );
    }

    #[test]
    fn utf16_with_a_bom_is_transcoded_and_anything_else_passes_through() {
        let utf16: Vec<u8> = b"\xFF\xFE"
            .iter()
            .copied()
            .chain("a;é\n".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert_eq!(decoded(&utf16, None), "a;é\n".as_bytes());
        assert_eq!(decoded(b"Jos\xE9\n", None), b"Jos\xE9\n");
        assert_eq!(decoded(b"", None), b"");
    }

    #[test]
    fn the_first_line_is_whole_in_the_first_fill() {
        // A reader that gives one byte at a time, as a transcoder may.
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                match (self.0.get(self.1), buf.first_mut()) {
                    (Some(&b), Some(slot)) => {
                        *slot = b;
                        self.1 += 1;
                        Ok(1)
                    }
                    _ => Ok(0),
                }
            }
        }
        let text = b"a;b;c\n1;2;3\n".to_vec();
        let trickle: Box<dyn BufRead + Send> =
            Box::new(BufReader::with_capacity(1, Trickle(text.clone(), 0)));
        let mut reader = with_head(trickle).expect("reads");
        assert_eq!(reader.fill_buf().expect("fills"), b"a;b;c\n");
        let mut all = Vec::new();
        reader.read_to_end(&mut all).expect("reads");
        assert_eq!(all, text);
    }

    #[test]
    fn delimiters_are_sniffed_from_the_first_line() {
        assert_eq!(sniff_delimiter(b"a,b,c\n1;2;3;4;5"), Delimiter(b','));
        assert_eq!(sniff_delimiter(b"a;b;c\r\n1,2"), Delimiter(b';'));
        assert_eq!(sniff_delimiter(b"a\tb\tc"), Delimiter(b'\t'));
        assert_eq!(sniff_delimiter(b"\"x;y;z\",b"), Delimiter(b','));
        assert_eq!(sniff_delimiter(b"email"), Delimiter(b','));
        assert_eq!(sniff_delimiter(b""), Delimiter(b','));
    }

    #[test]
    fn delimiter_flags() {
        assert_eq!("tab".parse(), Ok(Delimiter(b'\t')));
        assert_eq!("\\t".parse(), Ok(Delimiter(b'\t')));
        assert_eq!(";".parse(), Ok(Delimiter(b';')));
        assert!("\"".parse::<Delimiter>().is_err());
        assert!(";;".parse::<Delimiter>().is_err());
        assert!("é".parse::<Delimiter>().is_err());
    }

    #[test]
    fn binary_heads_are_named() {
        assert!(not_text(b"PK\x03\x04rest").unwrap().contains(".xlsx"));
        assert!(
            not_text(b"\x89PNG\r\n\x1a\n")
                .unwrap()
                .contains("a PNG image")
        );
        let mut mostly_binary = b"email\n".to_vec();
        mostly_binary.extend((0u8..=255).cycle().take(1000));
        assert!(
            not_text(&mostly_binary)
                .unwrap()
                .contains("are control bytes, not text")
        );
        assert_eq!(not_text(b"email,name\na@x.io,A\0nn\nb@x.io,Bob\n"), None);
        assert_eq!(
            not_text(b"em\0ail\n").as_deref(),
            Some(
                "line 1: byte 0x00 at column 3 is not text (a binary file, or UTF-16 text without a byte-order mark?)"
            )
        );
        assert_eq!(not_text(b"email\tname\r\n\x01"), None);
        assert_eq!(not_text(b"\xEF\xBB\xBFemail"), None);
        assert_eq!(not_text(b""), None);
    }
}
