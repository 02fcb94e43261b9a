//! Naming and opening inputs: files or stdin (`-`), gzip detected by its magic bytes,
//! the format from `--format`, a workbook's content, the extension, or a look at the
//! first byte.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::bufread::MultiGzDecoder;
use serde::Deserialize;

use super::SourceError;
use super::text::TextOptions;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    /// JSON objects: one a line (NDJSON), or a JSON array of them (`json`).
    #[value(alias = "json")]
    #[serde(alias = "json")]
    Ndjson,
    /// A spreadsheet workbook: xlsx, xlsm, xlsb, xls or ods, told apart by its content.
    #[value(
        alias = "xlsx",
        alias = "xlsm",
        alias = "xlsb",
        alias = "xls",
        alias = "ods"
    )]
    #[serde(
        alias = "xlsx",
        alias = "xlsm",
        alias = "xlsb",
        alias = "xls",
        alias = "ods"
    )]
    Workbook,
}

/// One input as named on the command line, resolved to a format.
#[derive(Debug, Clone)]
pub struct Input {
    /// How messages name it: the path as given, or `<stdin>`.
    pub name: Arc<str>,
    /// None for stdin.
    pub path: Option<PathBuf>,
    pub format: Format,
    /// Encoding and delimiter.
    pub text: TextOptions,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

impl Input {
    /// Resolves `arg` (a path or `-`) and its format. A file that does not exist is
    /// refused here, before any request is sent.
    pub fn resolve(
        arg: &str,
        format: Option<Format>,
        text: TextOptions,
    ) -> Result<Input, SourceError> {
        let (name, path): (Arc<str>, Option<PathBuf>) = if arg == "-" {
            ("<stdin>".into(), None)
        } else {
            (arg.into(), Some(PathBuf::from(arg)))
        };
        if let Some(path) = &path
            && !path.is_file()
        {
            return Err(SourceError::Invalid {
                file: name,
                message: "no such file".into(),
            });
        }
        let format = match (format, &path) {
            (Some(format), _) => format,
            (None, Some(path)) => detect(&name, arg, path)?,
            // Stdin cannot be looked at before it is read: CSV unless --format says.
            (None, None) => Format::Csv,
        };
        Ok(Input {
            name,
            path,
            format,
            text,
        })
    }

    /// Size in bytes when known (a file), for a progress bar with an ETA.
    pub fn size_bytes(&self) -> Option<u64> {
        let path = self.path.as_ref()?;
        std::fs::metadata(path).ok().map(|m| m.len())
    }

    /// The decompressed byte stream, counting raw bytes read into `bytes_read`.
    pub fn open_bytes(
        &self,
        bytes_read: Arc<AtomicU64>,
    ) -> Result<Box<dyn BufRead + Send>, SourceError> {
        let raw: Box<dyn Read + Send> = match &self.path {
            Some(path) => Box::new(File::open(path).map_err(|e| self.io_error(e))?),
            None => Box::new(io::stdin()),
        };
        let mut counted = BufReader::with_capacity(
            64 * 1024,
            CountingReader {
                inner: raw,
                count: bytes_read,
            },
        );
        let head = counted.fill_buf().map_err(|e| self.io_error(e))?;
        if head.starts_with(&GZIP_MAGIC) {
            Ok(Box::new(BufReader::with_capacity(
                64 * 1024,
                MultiGzDecoder::new(counted),
            )))
        } else {
            Ok(Box::new(counted))
        }
    }

    pub fn io_error(&self, source: io::Error) -> SourceError {
        SourceError::Io {
            file: self.name.clone(),
            source,
        }
    }
}

/// `.csv`, `.tsv`, `.txt` → CSV; `.ndjson`, `.jsonl`, `.json` → JSON objects (NDJSON or
/// an array, told apart by the reader); `.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods` → a
/// workbook; a trailing `.gz` is looked through.
fn format_from_extension(arg: &str) -> Option<Format> {
    let lower = arg.to_ascii_lowercase();
    let stem = lower.strip_suffix(".gz").unwrap_or(&lower);
    let ext = stem.rsplit_once('.').map(|(_, ext)| ext)?;
    match ext {
        "csv" | "tsv" | "txt" => Some(Format::Csv),
        "ndjson" | "jsonl" | "json" => Some(Format::Ndjson),
        "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => Some(Format::Workbook),
        _ => None,
    }
}

/// A ZIP archive (xlsx, xlsm, xlsb, ods) or an OLE compound file (xls).
const WORKBOOK_MAGIC: [&[u8]; 2] = [b"PK\x03\x04", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"];

/// A file's format without `--format`: a workbook by its content, whatever its name;
/// else by its extension; else a text file whose first non-blank byte is `{` (NDJSON) or
/// `[` (a JSON array) holds JSON objects, and any other is CSV. A file named like a
/// workbook that is text (as some web exports are) is read as text, and the log says so.
fn detect(name: &Arc<str>, arg: &str, path: &Path) -> Result<Format, SourceError> {
    let input = Input {
        name: name.clone(),
        path: Some(path.to_path_buf()),
        format: Format::Csv,
        text: TextOptions::default(),
    };
    let mut reader = input.open_bytes(Arc::new(AtomicU64::new(0)))?;
    let mut head = Vec::with_capacity(512);
    (&mut reader)
        .take(512)
        .read_to_end(&mut head)
        .map_err(|e| input.io_error(e))?;
    if WORKBOOK_MAGIC.iter().any(|magic| head.starts_with(magic)) {
        return Ok(Format::Workbook);
    }
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head);
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    let sniffed = if matches!(first, Some(b'{' | b'[')) {
        Format::Ndjson
    } else {
        Format::Csv
    };
    Ok(match format_from_extension(arg) {
        Some(Format::Workbook) => {
            let kind = if sniffed == Format::Csv {
                "CSV"
            } else {
                "JSON"
            };
            tracing::warn!("{name} is named like a workbook but is text: reading it as {kind}");
            sniffed
        }
        Some(format) => format,
        None => sniffed,
    })
}

/// Counts bytes as they are read, so progress can be shown against the file size.
struct CountingReader {
    inner: Box<dyn Read + Send>,
    /// Shared with the progress reporter, which only reads it.
    count: Arc<AtomicU64>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_the_extension_through_gz() {
        assert_eq!(format_from_extension("a.csv"), Some(Format::Csv));
        assert_eq!(format_from_extension("a.CSV.gz"), Some(Format::Csv));
        assert_eq!(
            format_from_extension("dir.v2/a.jsonl"),
            Some(Format::Ndjson)
        );
        assert_eq!(format_from_extension("a.ndjson.gz"), Some(Format::Ndjson));
        assert_eq!(format_from_extension("export"), None);
        assert_eq!(format_from_extension("a.XLSX"), Some(Format::Workbook));
        assert_eq!(format_from_extension("a.ods"), Some(Format::Workbook));
        assert_eq!(format_from_extension("export.gz"), None);
    }
}
