//! Workbooks (xlsx, xlsm, xlsb, xls, ods) through calamine: one sheet's rows, each cell
//! read from its type.
//!
//! - The first row with a value is the header, as in CSV; its first and last values
//!   bound the columns. Rows with no value are not rows.
//! - Text stays text (a zip `01234` keeps its zero). A number is its shortest exact
//!   decimal (`15`, `15.99`, `0.0000001`, never `15.0` nor scientific notation); one of
//!   2^53 or more cannot be exact in a cell, and fails its row if read. A boolean is
//!   `true` or `false`.
//! - A date or date-time cell is its UNIX time (its clock read as UTC, to the nearest
//!   second), which a date field takes as it is; read as text it is ISO 8601,
//!   `2021-03-04`, or `2021-03-04 05:06:07` when it has a time of day. A time of day or a
//!   duration is text (`05:06:07`) and no date.
//! - An error value (`#N/A`, `#REF!`; in an .ods, text that is one, which is how
//!   LibreOffice saves them) fails its row if read, naming the cell.
//! - A value in a column the header does not name fails its row, naming the cell.
//!
//! calamine's xlsx and xlsb readers give cells one at a time, so memory holds the shared
//! strings and one row; xls and ods sheets are read whole by calamine. The reading runs
//! on a thread of its own, which hands rows over a bounded channel and ends when the
//! rows are dropped.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, OnceLock};

use calamine::{CellErrorType, Data, DataRef, ExcelDateTime, Reader, SheetType, Sheets};
use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Timelike};

use super::SourceError;
use crate::record::{CellType, Cells, CsvValues, Header, Origin, Record, Sheet, cell_name};

/// Rows read ahead of the run, at most.
const AHEAD: usize = 1024;

/// The sheet `--sheet` names: by name, or by position counting from 1 (a sheet named
/// like a number is found by its name first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetChoice(String);

impl FromStr for SheetChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<SheetChoice, String> {
        if text.trim().is_empty() {
            return Err("a sheet is named by its name or its position (1 is the first)".into());
        }
        Ok(SheetChoice(text.to_owned()))
    }
}

impl fmt::Display for SheetChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for SheetChoice {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SheetChoice;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a sheet's name, or its position (1 is the first)")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<SheetChoice, E> {
                text.parse().map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<SheetChoice, E> {
                Ok(SheetChoice(n.to_string()))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// What the reading thread hands over: the header, then rows, then the end or a failure.
enum Message {
    Header(Header),
    Row(Record),
    End,
    Fail(SourceError),
}

/// One sheet's records, in sheet order.
pub struct SheetRows {
    file: Arc<str>,
    header: Header,
    rows: Receiver<Message>,
    done: bool,
}

/// A workbook's bytes, from a file or spooled to one.
trait Source: Read + Seek + Send {}
impl<T: Read + Seek + Send> Source for T {}

impl SheetRows {
    /// Opens the workbook at `path` (gzip looked through), or stdin when None; counts the
    /// bytes read into `bytes_read`, for progress.
    pub fn open(
        file: Arc<str>,
        path: Option<&std::path::Path>,
        choice: Option<&SheetChoice>,
        bytes_read: Arc<AtomicU64>,
    ) -> Result<SheetRows, SourceError> {
        let io_error = |source| SourceError::Io {
            file: file.clone(),
            source,
        };
        let source: Box<dyn Source> = match path {
            Some(path) => {
                let mut opened = File::open(path).map_err(io_error)?;
                let mut magic = [0u8; 2];
                let n = opened.read(&mut magic).map_err(io_error)?;
                opened.seek(SeekFrom::Start(0)).map_err(io_error)?;
                if n == 2 && magic == [0x1f, 0x8b] {
                    let gz = flate2::read::MultiGzDecoder::new(BufReader::new(opened));
                    spool(gz).map_err(io_error)?
                } else {
                    Box::new(Counted {
                        inner: opened,
                        count: bytes_read,
                    })
                }
            }
            None => spool(io::stdin()).map_err(io_error)?,
        };
        SheetRows::start(file, source, choice)
    }

    /// The sheet rows of a workbook's `bytes`, spooled to a temporary file (a workbook
    /// is read by seeking).
    pub fn from_bytes(
        file: Arc<str>,
        bytes: Box<dyn BufRead + Send>,
        choice: Option<&SheetChoice>,
    ) -> Result<SheetRows, SourceError> {
        let source = spool(bytes).map_err(|source| SourceError::Io {
            file: file.clone(),
            source,
        })?;
        SheetRows::start(file, source, choice)
    }

    fn start(
        file: Arc<str>,
        source: Box<dyn Source>,
        choice: Option<&SheetChoice>,
    ) -> Result<SheetRows, SourceError> {
        let (sender, rows) = sync_channel(AHEAD);
        let choice = choice.cloned();
        let reading = file.clone();
        std::thread::Builder::new()
            .name("workbook".into())
            .spawn(move || {
                // A panic in the reader ends it: the rows see the channel close without
                // an end, and say so.
                let read = || read_workbook(reading, source, choice, sender);
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
            })
            .map_err(|source| SourceError::Io {
                file: file.clone(),
                source,
            })?;
        match rows.recv() {
            Ok(Message::Header(header)) => Ok(SheetRows {
                file,
                header,
                rows,
                done: false,
            }),
            Ok(Message::Fail(error)) => Err(error),
            Ok(Message::Row(_) | Message::End) | Err(_) => Err(stopped(file)),
        }
    }

    pub fn header(&self) -> &Header {
        &self.header
    }
}

/// The reading thread ended before the sheet did: never a silent end of the rows.
fn stopped(file: Arc<str>) -> SourceError {
    SourceError::Invalid {
        file,
        message: "the workbook's reader stopped partway (a bug in reading this file: please \
                  report it); the rows before it were read"
            .into(),
    }
}

impl Iterator for SheetRows {
    type Item = Result<Record, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.rows.recv() {
            Ok(Message::Row(record)) => Some(Ok(record)),
            Ok(Message::End) => {
                self.done = true;
                None
            }
            Ok(Message::Fail(error)) => {
                self.done = true;
                Some(Err(error))
            }
            Ok(Message::Header(_)) | Err(_) => {
                self.done = true;
                Some(Err(stopped(self.file.clone())))
            }
        }
    }
}

/// `bytes` in a temporary file, removed when closed.
fn spool(mut bytes: impl Read) -> io::Result<Box<dyn Source>> {
    let mut spooled = tempfile::tempfile()?;
    io::copy(&mut bytes, &mut spooled)?;
    spooled.seek(SeekFrom::Start(0))?;
    Ok(Box::new(BufReader::new(spooled)))
}

/// A file that counts the bytes read from it.
struct Counted {
    inner: File,
    count: Arc<AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Seek for Counted {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.inner.seek(to)
    }
}

/// Why the reading stopped early: the rows were dropped, or the workbook failed.
enum Stop {
    Gone,
    Fail(SourceError),
}

/// The reading thread: the chosen sheet's header, then its rows, then the end (the
/// channel closing), or a failure where it happens.
fn read_workbook(
    file: Arc<str>,
    source: Box<dyn Source>,
    choice: Option<SheetChoice>,
    sender: SyncSender<Message>,
) {
    let failed = |message: String| {
        Stop::Fail(SourceError::Invalid {
            file: file.clone(),
            message,
        })
    };
    let result = (|| -> Result<(), Stop> {
        let mut workbook = open_workbook(source).map_err(failed)?;
        let name = choose(workbook.sheets_metadata(), choice.as_ref()).map_err(failed)?;
        let is_ods = matches!(workbook, Sheets::Ods(_));
        note_other_sheets(&file, &name, &mut workbook);
        let mut rows = Assembler {
            file: file.clone(),
            sheet: name.as_str().into(),
            sender: sender.clone(),
            header: None,
            row: None,
            cells: Vec::new(),
            records: 0,
        };
        let cant_read = |e: &dyn fmt::Display| failed(format!("sheet {name:?}: {e}"));
        match &mut workbook {
            Sheets::Xlsx(xlsx) => {
                let mut cells = xlsx
                    .worksheet_cells_reader(&name)
                    .map_err(|e| cant_read(&e))?;
                while let Some(cell) = cells.next_cell().map_err(|e| cant_read(&e))? {
                    let (row, column) = cell.get_position();
                    rows.cell(row, column, Value::of_ref(cell.get_value(), is_ods))?;
                }
            }
            Sheets::Xlsb(xlsb) => {
                let mut cells = xlsb
                    .worksheet_cells_reader(&name)
                    .map_err(|e| cant_read(&e))?;
                while let Some(cell) = cells.next_cell().map_err(|e| cant_read(&e))? {
                    let (row, column) = cell.get_position();
                    rows.cell(row, column, Value::of_ref(cell.get_value(), is_ods))?;
                }
            }
            Sheets::Xls(_) | Sheets::Ods(_) => {
                let range = workbook.worksheet_range(&name).map_err(|e| cant_read(&e))?;
                let (top, left) = range.start().unwrap_or((0, 0));
                for (row, column, data) in range.used_cells() {
                    let at = |offset: u32, n: usize| offset.saturating_add(n as u32);
                    rows.cell(at(top, row), at(left, column), Value::of(data, is_ods))?;
                }
            }
        }
        rows.finish()
    })();
    let last = match result {
        Ok(()) => Message::End,
        Err(Stop::Fail(error)) => Message::Fail(error),
        Err(Stop::Gone) => return,
    };
    let _ = sender.send(last);
}

/// The workbook in `source`, of the kind its content shows: an OLE compound file is an
/// xls; a ZIP archive is an xlsx (or xlsm), an xlsb or an ods by the parts it holds.
fn open_workbook(mut source: Box<dyn Source>) -> Result<Sheets<Box<dyn Source>>, String> {
    use calamine::{Ods, Xls, Xlsb, Xlsx, open_workbook_from_rs};
    let unreadable = |e: &dyn fmt::Display| format!("not a workbook that can be read ({e})");
    let mut magic = [0u8; 4];
    source.read_exact(&mut magic).map_err(|e| unreadable(&e))?;
    source
        .seek(SeekFrom::Start(0))
        .map_err(|e| unreadable(&e))?;
    if magic == *b"\xD0\xCF\x11\xE0" {
        return open_workbook_from_rs::<Xls<_>, _>(source)
            .map(Sheets::Xls)
            .map_err(|e| unreadable(&e));
    }
    let parts: Vec<String> = zip::ZipArchive::new(&mut source)
        .map_err(|e| unreadable(&e))?
        .file_names()
        .filter_map(|name| name.ok().map(|name| name.into_owned()))
        .collect();
    source
        .seek(SeekFrom::Start(0))
        .map_err(|e| unreadable(&e))?;
    let has = |part: &str| parts.iter().any(|p| p.eq_ignore_ascii_case(part));
    if has("xl/workbook.bin") {
        open_workbook_from_rs::<Xlsb<_>, _>(source)
            .map(Sheets::Xlsb)
            .map_err(|e| unreadable(&e))
    } else if has("xl/workbook.xml") {
        open_workbook_from_rs::<Xlsx<_>, _>(source)
            .map(Sheets::Xlsx)
            .map_err(|e| unreadable(&e))
    } else if has("content.xml") {
        open_workbook_from_rs::<Ods<_>, _>(source)
            .map(Sheets::Ods)
            .map_err(|e| unreadable(&e))
    } else {
        Err("a ZIP archive, but no workbook (xlsx, xlsb or ods) is in it".to_owned())
    }
}

/// The sheet to read: the one chosen, else the first visible worksheet.
fn choose(sheets: &[calamine::Sheet], choice: Option<&SheetChoice>) -> Result<String, String> {
    let listed = || {
        let names: Vec<String> = sheets.iter().map(|s| format!("{:?}", s.name)).collect();
        names.join(", ")
    };
    let Some(SheetChoice(wanted)) = choice else {
        return sheets
            .iter()
            .find(|s| s.typ == SheetType::WorkSheet && s.visible == calamine::SheetVisible::Visible)
            .or_else(|| sheets.iter().find(|s| s.typ == SheetType::WorkSheet))
            .map(|s| s.name.clone())
            .ok_or_else(|| "the workbook has no worksheet".to_owned());
    };
    if let Some(sheet) = sheets.iter().find(|s| &s.name == wanted) {
        return Ok(sheet.name.clone());
    }
    let position = wanted.trim().parse::<usize>().ok();
    match position
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| sheets.get(i))
    {
        Some(sheet) => Ok(sheet.name.clone()),
        None => Err(format!(
            "--sheet {wanted}: the workbook has no such sheet (its sheets: {}; name one, or \
             give its position, 1 for the first)",
            listed()
        )),
    }
}

/// Says once per file, the first time it is opened, which other sheets hold data: only
/// one is read.
fn note_other_sheets<RS: Read + Seek>(file: &str, chosen: &str, workbook: &mut Sheets<RS>) {
    static SAID: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let key = format!("{file}\n{chosen}");
    let said = SAID.get_or_init(Mutex::default);
    if !said
        .lock()
        .map(|mut said| said.insert(key))
        .unwrap_or(false)
    {
        return;
    }
    let names: Vec<String> = workbook
        .sheets_metadata()
        .iter()
        .filter(|s| s.typ == SheetType::WorkSheet && s.name != chosen)
        .map(|s| s.name.clone())
        .collect();
    let with_data: Vec<String> = names
        .into_iter()
        .filter(|name| has_data(workbook, name))
        .map(|name| format!("{name:?}"))
        .collect();
    if !with_data.is_empty() {
        tracing::warn!(
            "{file}: reading sheet {chosen:?} only; {} hold{} data too (choose with --sheet \
             NAME or --sheet N)",
            with_data.join(", "),
            if with_data.len() == 1 { "s" } else { "" }
        );
    }
}

/// Whether a sheet has a value in any cell (for xlsx and xlsb, found without reading
/// past the first one).
fn has_data<RS: Read + Seek>(workbook: &mut Sheets<RS>, name: &str) -> bool {
    fn any<E>(mut next: impl FnMut() -> Result<Option<bool>, E>) -> bool {
        while let Ok(Some(empty)) = next() {
            if !empty {
                return true;
            }
        }
        false
    }
    match workbook {
        Sheets::Xlsx(xlsx) => match xlsx.worksheet_cells_reader(name) {
            Ok(mut cells) => any(|| {
                cells
                    .next_cell()
                    .map(|c| c.map(|c| matches!(c.get_value(), DataRef::Empty)))
            }),
            Err(_) => false,
        },
        Sheets::Xlsb(xlsb) => match xlsb.worksheet_cells_reader(name) {
            Ok(mut cells) => any(|| {
                cells
                    .next_cell()
                    .map(|c| c.map(|c| matches!(c.get_value(), DataRef::Empty)))
            }),
            Err(_) => false,
        },
        Sheets::Xls(_) | Sheets::Ods(_) => workbook
            .worksheet_range(name)
            .is_ok_and(|range| range.used_cells().next().is_some()),
    }
}

/// A cell's value, as the importer reads it: its text, and what else it is.
struct Value {
    text: String,
    kind: Option<CellType>,
}

/// Excel's error values, by the names it shows.
const ERRORS: [&str; 8] = [
    "#N/A", "#REF!", "#DIV/0!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!", "#DATA!",
];

impl Value {
    fn text(text: impl Into<String>) -> Value {
        Value {
            text: text.into(),
            kind: None,
        }
    }

    fn string(text: &str, is_ods: bool) -> Value {
        // LibreOffice saves an error as text that is its name.
        if is_ods && ERRORS.contains(&text) {
            return Value {
                text: text.to_owned(),
                kind: Some(CellType::Error),
            };
        }
        Value::text(text)
    }

    fn of(data: &Data, is_ods: bool) -> Value {
        match data {
            Data::Int(n) => Value::text(n.to_string()),
            Data::Float(n) => number(*n),
            Data::String(text) => Value::string(text, is_ods),
            Data::Bool(b) => Value::text(b.to_string()),
            Data::DateTime(at) => date_time(at),
            Data::DateTimeIso(text) => iso_date(text),
            Data::DurationIso(text) => iso_duration(text),
            Data::Error(error) => error_value(error),
            Data::Empty => Value::text(""),
        }
    }

    fn of_ref(data: &DataRef<'_>, is_ods: bool) -> Value {
        match data {
            DataRef::Int(n) => Value::text(n.to_string()),
            DataRef::Float(n) => number(*n),
            DataRef::String(text) => Value::string(text, is_ods),
            DataRef::SharedString(text) => Value::string(text, is_ods),
            DataRef::Bool(b) => Value::text(b.to_string()),
            DataRef::DateTime(at) => date_time(at),
            DataRef::DateTimeIso(text) => iso_date(text),
            DataRef::DurationIso(text) => iso_duration(text),
            DataRef::Error(error) => error_value(error),
            DataRef::Empty => Value::text(""),
        }
    }

    fn is_empty(&self) -> bool {
        self.text.is_empty() && self.kind.is_none()
    }
}

fn error_value(error: &CellErrorType) -> Value {
    Value {
        text: error.to_string(),
        kind: Some(CellType::Error),
    }
}

/// Integers of this size and more are not all exact in a cell's double.
const EXACT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// The shortest decimal that is exactly the cell's number: Rust's `Display` for `f64`
/// writes no exponent and no `.0`.
fn number(n: f64) -> Value {
    let n = if n == 0.0 { 0.0 } else { n };
    let inexact = n.abs() >= EXACT_LIMIT && n.fract() == 0.0;
    Value {
        text: n.to_string(),
        kind: inexact.then_some(CellType::Inexact),
    }
}

const SECONDS_PER_DAY: f64 = 86_400.0;

/// A date-time cell: its time, or a time of day or a duration (no date).
fn date_time(at: &ExcelDateTime) -> Value {
    let serial = at.as_f64();
    if at.is_duration() || (0.0..1.0).contains(&serial) {
        return time(serial * SECONDS_PER_DAY);
    }
    let (year, month, day, hour, minute, second, milli) = at.to_ymd_hms_milli();
    let date = NaiveDate::from_ymd_opt(i32::from(year), u32::from(month), u32::from(day));
    let clock = NaiveTime::from_hms_milli_opt(
        u32::from(hour),
        u32::from(minute),
        u32::from(second),
        u32::from(milli),
    );
    match date.zip(clock) {
        Some((date, clock)) => dated(date.and_time(clock)),
        // Excel's 1900-02-29, a day that never was.
        None => Value {
            text: format!("{year:04}-{month:02}-{day:02}"),
            kind: Some(CellType::Date(i64::MIN)),
        },
    }
}

/// A date and time to the nearest second, as text and as a UNIX time.
fn dated(at: NaiveDateTime) -> Value {
    let at = if at.and_utc().timestamp_subsec_millis() >= 500 {
        at + TimeDelta::seconds(1)
    } else {
        at
    };
    let at = at.with_nanosecond(0).unwrap_or(at);
    let text = if at.time() == NaiveTime::MIN {
        at.format("%Y-%m-%d").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M:%S").to_string()
    };
    Value {
        text,
        kind: Some(CellType::Date(at.and_utc().timestamp())),
    }
}

/// A time of day or a duration of `seconds`: `H:MM:SS`.
fn time(seconds: f64) -> Value {
    let total = seconds.round().max(0.0) as u64;
    Value {
        text: format!("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60),
        kind: Some(CellType::Time),
    }
}

/// An .ods date cell: `2021-03-04` or `2021-03-04T05:06:07`.
fn iso_date(text: &str) -> Value {
    let at = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .map(|d| d.and_time(NaiveTime::MIN))
        });
    match at {
        Some(at) => dated(at),
        None => Value::text(text),
    }
}

/// An .ods time cell: `PT05H06M07S`.
fn iso_duration(text: &str) -> Value {
    let parts = text.strip_prefix("PT").and_then(|rest| {
        let (hours, rest) = rest.split_once('H')?;
        let (minutes, rest) = rest.split_once('M')?;
        let seconds = rest.strip_suffix('S')?;
        let n = |part: &str| part.parse::<f64>().ok();
        Some(n(hours)? * 3600.0 + n(minutes)? * 60.0 + n(seconds)?)
    });
    match parts {
        Some(seconds) => time(seconds),
        None => Value {
            text: text.to_owned(),
            kind: Some(CellType::Time),
        },
    }
}

/// Gathers a sheet's cells, which come row by row, into records.
struct Assembler {
    file: Arc<str>,
    sheet: Arc<str>,
    sender: SyncSender<Message>,
    header: Option<Header>,
    /// The row being gathered (from 0), and its cells with values.
    row: Option<u32>,
    cells: Vec<(u32, Value)>,
    records: u64,
}

impl Assembler {
    fn cell(&mut self, row: u32, column: u32, value: Value) -> Result<(), Stop> {
        if value.is_empty() {
            return Ok(());
        }
        if self.row != Some(row) {
            self.flush()?;
            self.row = Some(row);
        }
        self.cells.push((column, value));
        Ok(())
    }

    fn send(&self, message: Message) -> Result<(), Stop> {
        self.sender.send(message).map_err(|_| Stop::Gone)
    }

    fn flush(&mut self) -> Result<(), Stop> {
        let Some(row) = self.row.take() else {
            return Ok(());
        };
        if self.cells.is_empty() {
            return Ok(());
        }
        let mut cells = std::mem::take(&mut self.cells);
        cells.sort_by_key(|(column, _)| *column);
        let line = u64::from(row) + 1;
        match &self.header {
            None => {
                let header = self.header_of(&cells, line);
                self.header = Some(header.clone());
                self.send(Message::Header(header))
            }
            Some(header) => {
                let record = self.record(header, cells, line);
                self.records += 1;
                self.send(Message::Row(record))
            }
        }
    }

    fn header_of(&self, cells: &[(u32, Value)], line: u64) -> Header {
        let first = cells.first().map_or(0, |(column, _)| *column);
        let last = cells.last().map_or(0, |(column, _)| *column);
        let mut names = vec![String::new(); (last - first) as usize + 1];
        for (column, value) in cells {
            names[(column - first) as usize] = value.text.trim().to_owned();
        }
        let sheet = Sheet {
            name: self.sheet.clone(),
            first_column: first,
        };
        Header::in_sheet(names, line, sheet)
    }

    fn record(&self, header: &Header, cells: Vec<(u32, Value)>, line: u64) -> Record {
        let first = header.sheet().map_or(0, |sheet| sheet.first_column);
        let width = header.len();
        let inside = |column: u32| column >= first && ((column - first) as usize) < width;
        let mut values = CsvValues::with_capacity(width, 64);
        let mut at = cells
            .iter()
            .filter(|(column, _)| inside(*column))
            .peekable();
        for index in 0..width {
            match at.next_if(|(column, _)| (column - first) as usize == index) {
                Some((_, value)) => match value.kind {
                    Some(kind) => values.push_typed(&value.text, kind),
                    None => values.push(&value.text),
                },
                None => values.push(""),
            }
        }
        let origin = Origin {
            file: self.file.clone(),
            line,
        };
        let outside: Vec<&(u32, Value)> = cells.iter().filter(|(c, _)| !inside(*c)).collect();
        let cells = match outside.first() {
            None => Cells::Csv {
                header: header.clone(),
                values,
            },
            Some((column, value)) => Cells::Unreadable {
                header: Some(header.clone()),
                raw: values
                    .iter()
                    .chain(outside.iter().map(|(_, value)| value.text.as_str()))
                    .map(|cell| cell.as_bytes().to_vec())
                    .collect(),
                error: format!(
                    "{}: holds {:?} in a column the header does not name (name the column \
                     in row {}, or empty its cells)",
                    cell_name(&self.sheet, *column, line),
                    value.text,
                    header.line()
                ),
            },
        };
        Record { origin, cells }
    }

    fn finish(mut self) -> Result<(), Stop> {
        self.flush()?;
        match &self.header {
            None => Err(Stop::Fail(SourceError::Invalid {
                file: self.file.clone(),
                message: format!("sheet {:?} is empty: expected a header row", &*self.sheet),
            })),
            Some(_) if self.records == 0 => {
                tracing::warn!(
                    "{}: sheet {:?} has a header and no rows",
                    self.file,
                    &*self.sheet
                );
                Ok(())
            }
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(serial: f64) -> ExcelDateTime {
        ExcelDateTime::new(serial, calamine::ExcelDateTimeType::DateTime, false)
    }

    #[test]
    fn numbers_are_their_shortest_exact_decimal() {
        for (n, text) in [
            (15.0, "15"),
            (15.99, "15.99"),
            (-0.0, "0"),
            (1e-7, "0.0000001"),
            (1e21, "1000000000000000000000"),
            (4477123456789.0, "4477123456789"),
        ] {
            let value = number(n);
            assert_eq!(value.text, text);
        }
        assert_eq!(number(4477123456789.0).kind, None);
        assert_eq!(
            number(9_007_199_254_740_993.0).kind,
            Some(CellType::Inexact)
        );
        assert_eq!(number(1e21).kind, Some(CellType::Inexact));
    }

    #[test]
    fn date_cells_are_unix_times_and_iso_text() {
        let value = date_time(&at(44197.0));
        assert_eq!(value.text, "2021-01-01");
        assert_eq!(value.kind, Some(CellType::Date(1_609_459_200)));
        // A fraction is the time of day, to the nearest second.
        let value = date_time(&at(44197.5 + 0.4 / SECONDS_PER_DAY));
        assert_eq!(value.text, "2021-01-01 12:00:00");
        assert_eq!(value.kind, Some(CellType::Date(1_609_502_400)));
        let value = date_time(&at(0.25));
        assert_eq!(
            (value.text.as_str(), value.kind),
            ("6:00:00", Some(CellType::Time))
        );
        let duration = ExcelDateTime::new(1.5, calamine::ExcelDateTimeType::TimeDelta, false);
        assert_eq!(date_time(&duration).text, "36:00:00");
        let value = date_time(&at(60.0));
        assert_eq!(value.text, "1900-02-29");
        assert!(matches!(value.kind, Some(CellType::Date(s)) if s < 0));
        let value = iso_date("2021-03-04T05:06:07");
        assert_eq!(value.text, "2021-03-04 05:06:07");
        assert_eq!(value.kind, Some(CellType::Date(1_614_834_367)));
        assert_eq!(iso_date("2021-03-04").text, "2021-03-04");
        assert_eq!(iso_duration("PT05H06M07S").text, "5:06:07");
    }

    #[test]
    fn errors_are_typed_and_ods_text_errors_too() {
        let value = Value::of(&Data::Error(CellErrorType::NA), false);
        assert_eq!(
            (value.text.as_str(), value.kind),
            ("#N/A", Some(CellType::Error))
        );
        assert_eq!(Value::string("#REF!", true).kind, Some(CellType::Error));
        assert_eq!(Value::string("#REF!", false).kind, None);
        assert_eq!(Value::of(&Data::Bool(true), false).text, "true");
    }

    #[test]
    fn a_sheet_is_chosen_by_name_then_position() {
        let sheet = |name: &str, visible| calamine::Sheet {
            name: name.into(),
            typ: SheetType::WorkSheet,
            visible,
        };
        let sheets = [
            sheet("Hidden", calamine::SheetVisible::Hidden),
            sheet("Contacts", calamine::SheetVisible::Visible),
            sheet("3", calamine::SheetVisible::Visible),
        ];
        let choice = |text: &str| Some(SheetChoice(text.into()));
        assert_eq!(choose(&sheets, None).as_deref(), Ok("Contacts"));
        assert_eq!(
            choose(&sheets, choice("1").as_ref()).as_deref(),
            Ok("Hidden")
        );
        assert_eq!(choose(&sheets, choice("3").as_ref()).as_deref(), Ok("3"));
        assert_eq!(
            choose(&sheets, choice("Contacts").as_ref()).as_deref(),
            Ok("Contacts")
        );
        let error = choose(&sheets, choice("Leads").as_ref()).unwrap_err();
        assert!(
            error.contains("no such sheet (its sheets: \"Hidden\", \"Contacts\", \"3\""),
            "{error}"
        );
        assert!(choose(&sheets, choice("4").as_ref()).is_err());
        assert!("".parse::<SheetChoice>().is_err());
    }
}
