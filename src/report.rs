//! Result files: `created.csv`, `failed.csv` (and `failed.ndjson` for NDJSON rows),
//! `summary.json`, and the final summary for people.
//!
//! Every row read ends in exactly one of them: rows with a contact in HelpCrunch (created,
//! or existing already) are listed in `created.csv` with its id, valid rows of a dry run
//! are counted, and every other row is in a failed file with its original cells, so the
//! file can be fixed and imported again as it is. The ledger records the same outcomes;
//! the run checks at its end that the two agree.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::adaptive::Shape;
use crate::deliver::IndexReport;
use crate::ledger::Counts as LedgerCounts;
use crate::limiter::LimiterReport;
use crate::outcome::{Action, FailStatus, RowOutcome, RowResult};
use crate::planning::PlanSummary;
use crate::progress::Counters;
use crate::record::{Cells, Header, Origin, Warning};
use crate::source::{Format, Input};

/// Columns added in front of the original ones in `failed.csv`. They start with `_`,
/// which the importer ignores, so a fixed `failed.csv` imports as it is.
pub const FAILED_META_COLUMNS: [&str; 4] = ["_file", "_line", "_status", "_errors"];
/// `status` is `created`, `exists` when HelpCrunch already held the userId, `updated`
/// (sent a PATCH) or `unchanged` (nothing sent) with `--mode upsert|update`.
pub const CREATED_COLUMNS: [&str; 6] = ["file", "line", "userId", "email", "id", "status"];
/// `plan.csv`: every row with what a run would do with it, at what cost.
pub const PLAN_CSV: &str = "plan.csv";
/// The files a run writes into its directory, with [`PLAN_FILE_NAMES`]; `failed-N.csv`
/// too (see [`is_result_file`]). `missing.csv` is written by a sync that finishes. A new
/// run (or a resume, which writes them all again) removes the ones left by an earlier run
/// first, so none is stale (see [`ResultFiles::create`]). The run's ledger is not among
/// them: the ledger decides itself what a new run or a resume keeps of it.
const RESULT_FILE_NAMES: [&str; 5] = [
    "created.csv",
    "failed.csv",
    "failed.ndjson",
    "summary.json",
    crate::missing::FILE,
];
/// The plan: written by `plan`, and by an import from files before it sends. Not a
/// result, so an import may use the directory a plan was written into; a run that makes
/// no plan of its own (`validate`, an import from stdin, a resume) removes an earlier one.
pub const PLAN_FILE_NAMES: [&str; 2] = [crate::planning::PLAN_FILE, PLAN_CSV];

/// Whether `name` is a result file a run writes: one of [`RESULT_FILE_NAMES`], or
/// `failed-N.csv`.
fn is_result_file(name: &str) -> bool {
    let numbered_failed = name
        .strip_prefix("failed-")
        .and_then(|rest| rest.strip_suffix(".csv"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    numbered_failed || RESULT_FILE_NAMES.contains(&name)
}

/// The name of a file in `dir` that marks it as holding a run's results (a result file,
/// or the ledger; not a plan), if there is one.
pub fn results_in(dir: &Path) -> Option<String> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| is_result_file(name) || name == crate::ledger::FILE_NAME)
        .min()
}

/// Writes result rows as outcomes arrive.
pub struct ResultFiles {
    dir: PathBuf,
    /// None in a dry run: nothing is created.
    created: Option<csv::Writer<BufWriter<File>>>,
    /// `plan.csv`, in a plan: every row with what a run would do with it (invalid rows
    /// too, with their errors, instead of the failed files).
    planned: Option<csv::Writer<BufWriter<File>>>,
    /// One failed CSV per distinct header (`failed.csv`, then `failed-2.csv`, ...), since
    /// inputs of one run may have different columns.
    failed_csv: Vec<(Option<Header>, csv::Writer<BufWriter<File>>)>,
    failed_ndjson: Option<BufWriter<File>>,
    /// Inputs read as NDJSON: their failed rows go to `failed.ndjson`, as JSON objects.
    ndjson_inputs: HashSet<Arc<str>>,
    /// The inputs were transcoded (`--encoding`): the failed files start with a UTF-8
    /// byte-order mark, so that reading them again with the same `--encoding` reads them
    /// as the UTF-8 they are (a byte-order mark overrides the flag), giving back the text.
    transcoded: bool,
    tally: Tally,
    /// Row warnings logged so far, one by one up to [`WARNINGS_LOGGED`].
    warnings_logged: u64,
}

/// Counts of row results, by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub rows_read: u64,
    pub created: u64,
    /// Already in HelpCrunch (its userId was taken): not a failure, listed in created.csv.
    pub exists: u64,
    /// Existing contacts sent a PATCH (`--mode upsert|update`), listed in created.csv.
    pub updated: u64,
    /// Existing contacts the state already held with this payload: nothing sent.
    pub unchanged: u64,
    pub valid: u64,
    pub failed: u64,
    pub failed_by_status: BTreeMap<FailStatus, u64>,
    /// Errors of the failed rows by kind (the message with its values masked, see
    /// [`error_kind`]), each with its first example.
    pub errors_by_kind: BTreeMap<String, KindCount>,
    /// What rows were sent (or found valid) with, and what reading a header changed or
    /// left out, by kind, each with its first example: nothing changes in silence.
    pub warnings_by_kind: BTreeMap<String, WarningCount>,
    /// In a plan: valid rows by what a run would do with them, and the requests it would
    /// spend on them.
    #[serde(skip)]
    pub planned: BTreeMap<Action, u64>,
    #[serde(skip)]
    pub planned_requests: u64,
}

/// Which result files a run writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outputs {
    /// `validate`: the failed files.
    Check,
    /// `plan`: `plan.csv`, every row with its action.
    Plan,
    /// `import`: `created.csv` and the failed files. `planned`: the run wrote its own
    /// plan just before (see [`PLAN_FILE_NAMES`]), which it keeps.
    Send { planned: bool },
}

/// `plan.csv`'s columns: a row, what a run would do with it, at what cost, and why not
/// (an invalid row's errors).
pub const PLAN_COLUMNS: [&str; 7] = [
    "file", "line", "userId", "email", "action", "requests", "errors",
];

/// How often one kind of error (or, as [`WarningCount`], of warning) occurred, and where
/// first: `{"errors": 3, "first": "a.csv:2: …"}`, `"warnings"` for warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindCount<Of = Errors> {
    pub count: u64,
    /// `FILE:LINE: message` of the first one.
    pub first: String,
    of: PhantomData<Of>,
}

/// How often one kind of warning occurred, and where first.
pub type WarningCount = KindCount<Warnings>;

/// What a [`KindCount`] counts, as `summary.json` names it.
pub trait Counts {
    const NAME: &'static str;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Errors;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warnings;

impl Counts for Errors {
    const NAME: &'static str = "errors";
}

impl Counts for Warnings {
    const NAME: &'static str = "warnings";
}

impl<Of> KindCount<Of> {
    fn first_of(first: String) -> Self {
        KindCount {
            count: 0,
            first,
            of: PhantomData,
        }
    }
}

impl<Of: Counts> Serialize for KindCount<Of> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut count = serializer.serialize_struct("KindCount", 2)?;
        count.serialize_field(Of::NAME, &self.count)?;
        count.serialize_field("first", &self.first)?;
        count.end()
    }
}

/// Kinds counted apart; the rest are counted together, so a hostile file cannot grow
/// the summary without bound.
const MAX_KINDS: usize = 50;
const OTHER_KIND: &str = "(other errors)";
const OTHER_WARNINGS: &str = "(other warnings)";
/// Warnings logged one by one before the log only counts them.
const WARNINGS_LOGGED: u64 = 20;

/// Counts one more of `kind` (or of `other`, once `kinds` holds [`MAX_KINDS`]),
/// remembering `first` if it is the first.
fn count_kind<Of>(
    kinds: &mut BTreeMap<String, KindCount<Of>>,
    mut kind: String,
    other: &str,
    first: impl FnOnce() -> String,
) {
    if kinds.len() >= MAX_KINDS && !kinds.contains_key(&kind) {
        kind = other.to_string();
    }
    kinds
        .entry(kind)
        .or_insert_with(|| KindCount::first_of(first()))
        .count += 1;
}

impl Tally {
    /// How the ledger's counts of this pass differ from this tally; None when they
    /// agree. Rows the run stopped before sending are in the tally (as `not_sent`) but
    /// not in the ledger, which keeps them pending.
    pub fn disagreement(&self, ledger: &LedgerCounts) -> Option<String> {
        let mut failed = self.failed_by_status.clone();
        failed.remove(&FailStatus::NotSent);
        let recorded = (
            ledger.sent,
            [
                ledger.created,
                ledger.exists,
                ledger.updated,
                ledger.unchanged,
            ],
            &ledger.failed_by_status,
        );
        let files = (
            0,
            [self.created, self.exists, self.updated, self.unchanged],
            &failed,
        );
        (recorded != files).then(|| {
            format!(
                "the ledger holds {} sent, created/exists/updated/unchanged {:?}, failed {:?}; the result files created/exists/updated/unchanged {:?}, failed {:?}",
                recorded.0, recorded.1, recorded.2, files.1, failed
            )
        })
    }

    fn count_errors(&mut self, origin: &Origin, errors: &[String]) {
        for message in errors {
            let first = || origin.locate(message);
            count_kind(
                &mut self.errors_by_kind,
                error_kind(message),
                OTHER_KIND,
                first,
            );
        }
    }

    /// Counts a warning about the row (or header) at `origin`.
    pub fn count_warning(&mut self, origin: &Origin, warning: &Warning) {
        let first = || format!("{origin}: {}", warning.message);
        let kind = warning.kind.clone();
        count_kind(&mut self.warnings_by_kind, kind, OTHER_WARNINGS, first);
    }
}

/// The kind of an error: its message with the values masked, so that
/// `email "a@@x.io" is not a valid email address` and `email "b@" is not …` count
/// together. Quoted values become `"…"`, except names of columns, fields and properties
/// (`column "Signup Date": "2021-13-45" is not a date` keeps `"Signup Date"`) and
/// formats (`format = "excel"`); numbers become `N`, except HTTP statuses, numbers in
/// parentheses, and numbers that are part of a word or a code on either side
/// (`ISO 639-1`, `U+200B`, `UTF-8`, `windows-1252`). The workbook cell a message starts
/// with is left out.
pub fn error_kind(message: &str) -> String {
    // A workbook cell a message starts with (`Sheet1!C7: `) is where, not what.
    let message = &message[crate::record::cell_prefix(message).unwrap_or(0)..];
    let mut kind = String::with_capacity(message.len());
    let mut chars = message.char_indices().peekable();
    // Inside parentheses numbers explain (`expected ISO 8601`), and are kept.
    let mut depth = 0usize;
    while let Some((at, c)) = chars.next() {
        match c {
            '(' | ')' => {
                depth = if c == '(' {
                    depth + 1
                } else {
                    depth.saturating_sub(1)
                };
                kind.push(c);
            }
            '"' => {
                let mut quoted = String::from('"');
                let mut escaped = false;
                for (_, c) in chars.by_ref() {
                    quoted.push(c);
                    match c {
                        '\\' if !escaped => escaped = true,
                        '"' if !escaped => break,
                        _ => escaped = false,
                    }
                }
                let before = message[..at]
                    .trim_end_matches(|c: char| c == ' ' || c == '(' || c.is_ascii_digit());
                let names = ["column", "field", "property", "format ="];
                if names.iter().any(|name| before.ends_with(name)) {
                    kind.push_str(&quoted);
                } else {
                    kind.push_str("\"…\"");
                }
            }
            c if c.is_ascii_digit() => {
                let joined = |c: &char| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '+');
                let in_word = kind.chars().last().is_some_and(|p| joined(&p));
                let mut digits = String::from(c);
                while let Some(&(_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
                    digits.push(d);
                    chars.next();
                }
                // A number that runs on into a letter, or into `-` and more (`639-1`).
                let mut ahead = chars.clone().map(|(_, c)| c);
                let runs_on = match ahead.next() {
                    Some(next) if next.is_alphabetic() => true,
                    Some('-') => ahead.next().is_some_and(|c| c.is_alphanumeric()),
                    _ => false,
                };
                if in_word || runs_on || depth > 0 || kind.ends_with("HTTP ") {
                    kind.push_str(&digits);
                } else {
                    kind.push('N');
                }
            }
            c => kind.push(c),
        }
    }
    kind
}

/// A UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl ResultFiles {
    /// The result files of a run reading `inputs` into `dir`, after removing those an
    /// earlier run left there (and its plan, unless this is an import that just made its
    /// own). A plan removes nothing: it only replaces `plan.json` and `plan.csv`.
    pub fn create(dir: &Path, outputs: Outputs, inputs: &[Input]) -> io::Result<ResultFiles> {
        let ndjson_inputs = inputs
            .iter()
            .filter(|input| input.format == Format::Ndjson)
            .map(|input| input.name.clone())
            .collect();
        let transcoded = inputs.iter().any(|input| input.text.encoding.is_some());
        std::fs::create_dir_all(dir)?;
        // A plan writes its own two files and leaves a run's results where they are.
        if outputs != Outputs::Plan {
            remove_old_results(dir, outputs == Outputs::Send { planned: true })?;
        }
        let with_header = |name: &str, columns: &[&str]| -> io::Result<_> {
            let mut writer =
                csv::Writer::from_writer(BufWriter::new(File::create(dir.join(name))?));
            writer.write_record(columns)?;
            Ok(writer)
        };
        let created = match outputs {
            Outputs::Send { .. } => Some(with_header("created.csv", &CREATED_COLUMNS)?),
            _ => None,
        };
        let planned = match outputs {
            Outputs::Plan => Some(with_header(PLAN_CSV, &PLAN_COLUMNS)?),
            _ => None,
        };
        Ok(ResultFiles {
            dir: dir.to_path_buf(),
            created,
            planned,
            failed_csv: Vec::new(),
            failed_ndjson: None,
            ndjson_inputs,
            transcoded,
            tally: Tally::default(),
            warnings_logged: 0,
        })
    }

    /// Counts warnings about a header at `origin` (its file and line), logged when the
    /// header was read.
    pub fn count_notes(&mut self, origin: &Origin, notes: &[Warning]) {
        for note in notes {
            self.tally.count_warning(origin, note);
        }
    }

    /// Counts a row's warnings, and logs the first ones.
    fn count_warnings(&mut self, origin: &Origin, warnings: &[Warning]) {
        for warning in warnings {
            self.tally.count_warning(origin, warning);
            self.warnings_logged += 1;
            if self.warnings_logged <= WARNINGS_LOGGED {
                tracing::warn!("{origin}: {}", warning.message);
            } else if self.warnings_logged == WARNINGS_LOGGED + 1 {
                tracing::warn!("more warnings: the summary counts them by kind");
            }
        }
    }

    /// A new failed file, starting with a byte-order mark when the inputs were transcoded.
    fn create_failed(&self, name: &str) -> io::Result<BufWriter<File>> {
        let mut file = BufWriter::new(File::create(self.dir.join(name))?);
        if self.transcoded {
            file.write_all(BOM)?;
        }
        Ok(file)
    }

    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Names of the result files written so far, for the summary.
    pub fn file_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        if self.created.is_some() {
            names.push("created.csv".to_string());
        }
        if self.planned.is_some() {
            names.push(PLAN_CSV.to_string());
        }
        names.extend((0..self.failed_csv.len()).map(failed_csv_name));
        if self.failed_ndjson.is_some() {
            names.push("failed.ndjson".to_string());
        }
        names
    }

    pub fn write(&mut self, outcome: &RowOutcome) -> io::Result<()> {
        self.tally.rows_read += 1;
        if !outcome.warnings.is_empty() {
            self.count_warnings(&outcome.record.origin, &outcome.warnings);
        }
        match &outcome.result {
            RowResult::Created { id } => {
                self.tally.created += 1;
                self.write_created(outcome, *id, "created")?;
            }
            RowResult::Exists { id } => {
                self.tally.exists += 1;
                self.write_created(outcome, *id, "exists")?;
            }
            RowResult::Updated { id } => {
                self.tally.updated += 1;
                self.write_created(outcome, Some(*id), "updated")?;
            }
            RowResult::Unchanged { id } => {
                self.tally.unchanged += 1;
                self.write_created(outcome, Some(*id), "unchanged")?;
            }
            RowResult::Valid => self.tally.valid += 1,
            RowResult::Planned { action, requests } => {
                self.tally.valid += 1;
                *self.tally.planned.entry(*action).or_default() += 1;
                self.tally.planned_requests += u64::from(*requests);
                self.write_planned(outcome, action.as_str(), *requests, "")?;
            }
            RowResult::Failed { status, errors } => {
                self.tally.failed += 1;
                *self.tally.failed_by_status.entry(*status).or_default() += 1;
                if *status != FailStatus::NotSent {
                    self.tally.count_errors(&outcome.record.origin, errors);
                }
                let errors = errors.join("; ");
                if self.planned.is_some() {
                    self.write_planned(outcome, "invalid", 0, &errors)?;
                } else {
                    self.write_failed(outcome, *status, &errors)?;
                }
            }
        }
        Ok(())
    }

    fn write_planned(
        &mut self,
        outcome: &RowOutcome,
        action: &str,
        requests: u32,
        errors: &str,
    ) -> io::Result<()> {
        let Some(writer) = &mut self.planned else {
            return Ok(());
        };
        let line = outcome.record.origin.line.to_string();
        writer.write_record([
            &*outcome.record.origin.file,
            &line,
            outcome.user_id.as_deref().unwrap_or(""),
            outcome.email.as_deref().unwrap_or(""),
            action,
            &requests.to_string(),
            errors,
        ])?;
        Ok(())
    }

    fn write_created(
        &mut self,
        outcome: &RowOutcome,
        id: Option<i64>,
        status: &str,
    ) -> io::Result<()> {
        let Some(writer) = &mut self.created else {
            return Ok(());
        };
        let line = outcome.record.origin.line.to_string();
        let id = id.map(|id| id.to_string()).unwrap_or_default();
        writer.write_record([
            &*outcome.record.origin.file,
            &line,
            outcome.user_id.as_deref().unwrap_or(""),
            outcome.email.as_deref().unwrap_or(""),
            &id,
            status,
        ])?;
        Ok(())
    }

    fn write_failed(
        &mut self,
        outcome: &RowOutcome,
        status: FailStatus,
        errors: &str,
    ) -> io::Result<()> {
        let origin = &outcome.record.origin;
        let line = origin.line.to_string();
        let meta = [&*origin.file, line.as_str(), status.as_str(), errors];
        if self.ndjson_inputs.contains(&origin.file) {
            let mut row: Map<String, Value> = FAILED_META_COLUMNS
                .iter()
                .zip(meta)
                .map(|(key, value)| (key.to_string(), Value::String(value.to_string())))
                .collect();
            match &outcome.record.cells {
                Cells::Json(object) => {
                    row.extend(object.iter().map(|(k, v)| (k.clone(), v.clone())))
                }
                Cells::Unreadable { raw, .. } => {
                    row.insert("_raw".into(), Value::String(raw_text(&raw.concat())));
                }
                Cells::Csv { values, .. } => {
                    row.insert("_raw".into(), Value::String(values.iter().collect()));
                }
            }
            return self.write_failed_json(&Value::Object(row));
        }
        let meta = meta.map(str::as_bytes);
        let (header, cells): (_, Box<dyn Iterator<Item = &[u8]>>) = match &outcome.record.cells {
            Cells::Csv { header, values } => {
                (Some(header), Box::new(values.iter().map(str::as_bytes)))
            }
            Cells::Unreadable { header, raw, .. } => {
                (header.as_ref(), Box::new(raw.iter().map(Vec::as_slice)))
            }
            Cells::Json(_) => (None, Box::new(std::iter::empty())),
        };
        let writer = self.failed_csv_for(header)?;
        writer
            .write_record(meta.iter().copied().chain(cells))
            .map_err(io::Error::from)
    }

    fn write_failed_json(&mut self, row: &Value) -> io::Result<()> {
        if self.failed_ndjson.is_none() {
            self.failed_ndjson = Some(self.create_failed("failed.ndjson")?);
        }
        if let Some(writer) = &mut self.failed_ndjson {
            serde_json::to_writer(&mut *writer, row)?;
            writer.write_all(b"\n")?;
        }
        Ok(())
    }

    /// The failed CSV for rows with `header`; rows with no header (unreadable) go to the
    /// first one.
    fn failed_csv_for(
        &mut self,
        header: Option<&Header>,
    ) -> io::Result<&mut csv::Writer<BufWriter<File>>> {
        let index = match header {
            None if !self.failed_csv.is_empty() => Some(0),
            None => None,
            Some(header) => self
                .failed_csv
                .iter()
                .position(|(h, _)| h.as_ref().is_some_and(|h| h[..] == header[..])),
        };
        let index = match index {
            Some(index) => index,
            None => {
                let file = self.create_failed(&failed_csv_name(self.failed_csv.len()))?;
                let mut writer = csv::WriterBuilder::new().flexible(true).from_writer(file);
                let columns = header
                    .map(|h| h.iter().map(String::as_str).collect::<Vec<_>>())
                    .unwrap_or_default();
                writer.write_record(FAILED_META_COLUMNS.iter().copied().chain(columns))?;
                self.failed_csv.push((header.cloned(), writer));
                self.failed_csv.len() - 1
            }
        };
        match self.failed_csv.get_mut(index) {
            Some((_, writer)) => Ok(writer),
            None => Err(io::Error::other("failed CSV writer vanished")),
        }
    }

    /// Pushes buffered rows to disk, so an interrupted run leaves complete files.
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(writer) = &mut self.created {
            writer.flush()?;
        }
        if let Some(writer) = &mut self.planned {
            writer.flush()?;
        }
        for (_, writer) in &mut self.failed_csv {
            writer.flush()?;
        }
        if let Some(writer) = &mut self.failed_ndjson {
            writer.flush()?;
        }
        Ok(())
    }
}

/// An NDJSON line that could not be read, as JSON text: as it is when it is UTF-8, else
/// read as Windows-1252, which maps every byte to one character and back, so that the
/// bytes stay recoverable (JSON text cannot hold bytes that are not UTF-8).
fn raw_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

/// Removes the result files in `dir`, and the plan files unless `keep_plan`.
fn remove_old_results(dir: &Path, keep_plan: bool) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        let plan = PLAN_FILE_NAMES.contains(&name.as_ref());
        if is_result_file(&name) || (plan && !keep_plan) {
            std::fs::remove_file(dir.join(name.as_ref()))?;
        }
    }
    Ok(())
}

/// Kinds shown in the closing lines; summary.json has them all.
const KINDS_SHOWN: usize = 10;

/// The most frequent kinds of error (or warning: `noun`), each with its first example.
fn by_kind<Of>(kinds: &BTreeMap<String, KindCount<Of>>, noun: &str) -> String {
    let mut sorted: Vec<(&String, &KindCount<Of>)> = kinds.iter().collect();
    sorted.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
    let mut text = String::new();
    for (kind, count) in sorted.iter().take(KINDS_SHOWN) {
        text.push_str(&format!(
            "  {:>6} × {kind}\n         first: {}\n",
            count.count, count.first
        ));
    }
    if sorted.len() > KINDS_SHOWN {
        text.push_str(&format!(
            "  … and {} more kinds of {noun} (summary.json lists them all)\n",
            sorted.len() - KINDS_SHOWN
        ));
    }
    text
}

fn failed_csv_name(index: usize) -> String {
    if index == 0 {
        "failed.csv".to_string()
    } else {
        format!("failed-{}.csv", index + 1)
    }
}

/// Which command a run is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// `import`: rows are sent.
    Import,
    /// `validate` (and `import --dry-run`): rows are read, mapped and checked only.
    Validate,
    /// `plan` (and the plan an import makes first): rows are compared with the state.
    Plan,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunEnd {
    /// Every row read reached its result.
    Finished,
    /// Stopped by SIGINT or SIGTERM: it can be resumed.
    Interrupted,
    /// Stopped by a fatal answer or error (see `stopped_by`).
    Stopped,
}

impl RunEnd {
    /// The name `summary.json` and the ledger give it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunEnd::Finished => "finished",
            RunEnd::Interrupted => "interrupted",
            RunEnd::Stopped => "stopped",
        }
    }
}

/// What the pipeline knows at a run's end, for [`Summary::new`].
pub struct RunFacts<'a> {
    pub kind: RunKind,
    pub inputs: &'a [Input],
    pub out_dir: &'a Path,
    pub files: &'a ResultFiles,
    pub end: RunEnd,
    /// The error that stopped the run, if one did.
    pub stopped_by: Option<String>,
    pub repeated_emails: u64,
    pub counters: &'a Counters,
    /// What the limiter did; None in a dry run, which sends nothing.
    pub limiter: Option<LimiterReport>,
    pub elapsed: Duration,
    /// The ledger's pass; None in a dry run, which keeps no ledger.
    pub pass: Option<u32>,
    /// The command that goes on with the run, shown if it did not finish.
    pub resume_command: Option<String>,
    /// What came of the account index.
    pub index: Option<IndexReport>,
    /// What the run was planned to do and cost.
    pub plan: Option<PlanSummary>,
}

/// `summary.json`: the run's figures, for people and for scripts.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub command: RunKind,
    pub inputs: Vec<String>,
    pub out_dir: String,
    pub result_files: Vec<String>,
    pub ending: RunEnd,
    pub stopped_by: Option<String>,
    #[serde(flatten)]
    pub tally: Tally,
    /// Rows whose email an earlier row already had: allowed by the API, so a warning.
    pub repeated_emails: u64,
    /// Every request sent: creates, updates (PATCH) and lookups.
    pub requests: u64,
    /// Searches among `requests`: rows in doubt, and contacts that existed already, looked
    /// up by userId (or email).
    pub lookups: u64,
    /// Read-backs among `requests` (`--verify`): what proving the data stuck cost.
    pub verify_requests: u64,
    pub rate_limited: u64,
    pub retries: u64,
    pub elapsed_secs: f64,
    pub configured_rate: Option<String>,
    /// Requests per minute actually sent, over the whole run.
    pub effective_rate_per_min: f64,
    /// The rate in force at the end, after any adaptation to 429s (requests per minute).
    pub final_rate_per_min: Option<f64>,
    /// Times the adaptive rate changed.
    pub rate_changes: u64,
    /// Time every worker spent paused by 429s (a Retry-After, or probing an exhausted
    /// limit one request at a time).
    pub paused_secs: f64,
    /// The shape of the API's limit as its answers showed it: `unknown` (no 429, or too
    /// few to tell), `token_bucket`, or `fixed_window`.
    pub limit_shape: Option<&'static str>,
    /// A fixed window's budget left to this run (requests), and its period (seconds).
    pub window_budget: Option<u64>,
    pub window_secs: Option<f64>,
    /// 1 for a new run, then one more for each `--resume` (None: a dry run, no ledger).
    pub pass: Option<u32>,
    /// The command that goes on with the run, when it did not finish.
    pub resume_command: Option<String>,
    /// The account index: `listed` by this run, `used` from the state, `skipped`,
    /// `incomplete` or `none`; the contacts it holds and the listing requests spent (they
    /// are among `requests`).
    pub index: Option<IndexReport>,
    /// What the run was planned to do and cost, before it sent anything (`plan.json`):
    /// its `requests` left out the listing, which came before the plan.
    pub plan: Option<PlanSummary>,
}

impl Summary {
    pub fn new(facts: RunFacts<'_>) -> Summary {
        let RunFacts {
            kind,
            inputs,
            out_dir,
            files,
            end,
            stopped_by,
            repeated_emails,
            counters,
            limiter,
            elapsed,
            pass,
            resume_command,
            index,
            plan,
        } = facts;
        let mut result_files = files.file_names();
        // An import's own plan, made before it sent.
        if plan.is_some() {
            result_files.extend(PLAN_FILE_NAMES.iter().map(|name| name.to_string()));
        }
        result_files.push("summary.json".into());
        if pass.is_some() {
            result_files.push(crate::ledger::FILE_NAME.into());
        }
        let elapsed_secs = elapsed.as_secs_f64();
        let requests = counters.requests.load(Relaxed);
        let limiter = limiter.as_ref();
        let window = limiter.and_then(|l| match l.shape {
            Shape::FixedWindow { budget, period } => Some((budget, period)),
            _ => None,
        });
        Summary {
            command: kind,
            inputs: inputs.iter().map(|i| i.name.to_string()).collect(),
            out_dir: out_dir.display().to_string(),
            result_files,
            ending: end,
            stopped_by,
            tally: files.tally().clone(),
            repeated_emails,
            requests,
            lookups: counters.lookups.load(Relaxed),
            verify_requests: counters.verifications.load(Relaxed),
            rate_limited: counters.rate_limited.load(Relaxed),
            retries: counters.retries.load(Relaxed),
            elapsed_secs,
            configured_rate: limiter.map(|l| l.configured.to_string()),
            // The first request goes at once: n requests span n − 1 intervals.
            effective_rate_per_min: requests.saturating_sub(1) as f64 * 60.0
                / elapsed_secs.max(0.001),
            final_rate_per_min: limiter.map(|l| l.final_per_sec * 60.0),
            rate_changes: limiter.map_or(0, |l| l.rate_changes),
            paused_secs: limiter.map_or(0.0, |l| l.paused.as_secs_f64()),
            limit_shape: limiter.map(|l| match l.shape {
                Shape::Unknown => "unknown",
                Shape::Bucket => "token_bucket",
                Shape::FixedWindow { .. } => "fixed_window",
            }),
            window_budget: window.map(|(budget, _)| budget),
            window_secs: window.map(|(_, period)| period.as_secs_f64()),
            pass,
            resume_command: resume_command.filter(|_| end != RunEnd::Finished),
            index,
            plan,
        }
    }

    pub fn write(&self, dir: &Path) -> io::Result<()> {
        let mut file = BufWriter::new(File::create(dir.join("summary.json"))?);
        serde_json::to_writer_pretty(&mut file, self)?;
        file.write_all(b"\n")?;
        file.flush()
    }

    /// The closing lines for people: rows read = the sum of where they went, always.
    pub fn human(&self) -> String {
        let t = &self.tally;
        let mut text = String::new();
        let ok = if self.command == RunKind::Validate {
            format!("{} valid", t.valid)
        } else if t.exists > 0 {
            format!("{} created, {} existed already", t.created, t.exists)
        } else {
            format!("{} created", t.created)
        };
        let ok = if t.updated + t.unchanged > 0 {
            format!("{ok}, {} updated, {} unchanged", t.updated, t.unchanged)
        } else {
            ok
        };
        text.push_str(&format!(
            "{} rows read: {ok}, {} failed",
            t.rows_read, t.failed
        ));
        if !t.failed_by_status.is_empty() {
            let parts: Vec<String> = t
                .failed_by_status
                .iter()
                .map(|(s, n)| format!("{n} {}", s.as_str()))
                .collect();
            text.push_str(&format!(" ({})", parts.join(", ")));
        }
        text.push('\n');
        text.push_str(&by_kind(&t.errors_by_kind, "error"));
        if !t.warnings_by_kind.is_empty() {
            let total: u64 = t.warnings_by_kind.values().map(|kind| kind.count).sum();
            let plural = if total == 1 { "" } else { "s" };
            text.push_str(&format!("{total} warning{plural}:\n"));
            text.push_str(&by_kind(&t.warnings_by_kind, "warning"));
        }
        if self.repeated_emails > 0 {
            text.push_str(&format!(
                "warning: {} rows repeat the email of an earlier row (the API allows it; see the log)\n",
                self.repeated_emails
            ));
        }
        if self.command == RunKind::Import {
            let among: Vec<String> = [
                (self.lookups, "lookups"),
                (self.verify_requests, "read-backs"),
            ]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
            let lookups = if among.is_empty() {
                String::new()
            } else {
                format!(" ({})", among.join(", "))
            };
            // A rate needs two requests: the first goes at once.
            let achieved = if self.requests >= 2 {
                format!("{:.1} requests/min", self.effective_rate_per_min)
            } else {
                "- requests/min".to_string()
            };
            text.push_str(&format!(
                "{}{lookups}, {} answered 429, {} retries, {:.1}s, {achieved} (configured {})\n",
                crate::planning::count(self.requests, "request"),
                self.rate_limited,
                self.retries,
                self.elapsed_secs,
                self.configured_rate.as_deref().unwrap_or("-")
            ));
            if let Some(rate) = self.final_rate_per_min.filter(|_| self.rate_changes > 0) {
                text.push_str(&format!(
                    "paused {:.1}s by 429s; the rate changed {} times, ending at {rate:.1}/min\n",
                    self.paused_secs, self.rate_changes
                ));
            }
            if let Some(plan) = &self.plan {
                let listing = self.index.as_ref().map_or(0, |index| index.requests);
                let sent = self.requests.saturating_sub(listing);
                text.push_str(&format!(
                    "planned {} ({} create, {} update, {} unchanged, {} exists); sent {sent}\n",
                    crate::planning::count(plan.requests, "request"),
                    plan.count("create"),
                    plan.count("update"),
                    plan.count("unchanged"),
                    plan.count("exists"),
                ));
            }
            match &self.index {
                Some(index) if index.index == "listed" => text.push_str(&format!(
                    "indexed the account: {} in {}\n",
                    crate::planning::count(index.contacts, "contact"),
                    crate::planning::count(index.requests, "request")
                )),
                Some(index) if index.index == "used" => text.push_str(&format!(
                    "used the state's account index: {} contacts\n",
                    index.contacts
                )),
                _ => {}
            }
            if let (Some(budget), Some(secs)) = (self.window_budget, self.window_secs) {
                text.push_str(&format!(
                    "the API's limit behaved as a fixed window: {budget} requests per {secs:.1}s left to this run\n"
                ));
            }
        }
        text.push_str(&format!(
            "results in {}: {}\n",
            self.out_dir,
            self.result_files.join(", ")
        ));
        if let Some(command) = &self.resume_command {
            text.push_str(&format!("to resume: {command}\n"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Origin, Record};

    fn inputs(ndjson: &[&str]) -> Vec<Input> {
        ndjson
            .iter()
            .map(|name| Input {
                name: (*name).into(),
                path: None,
                format: Format::Ndjson,
                text: crate::source::TextOptions::default(),
            })
            .collect()
    }

    fn outcome(file: &str, line: u64, cells: Cells, result: RowResult) -> RowOutcome {
        RowOutcome {
            warnings: crate::record::Warnings::default(),
            record: Record {
                origin: Origin {
                    file: file.into(),
                    line,
                },
                cells,
            },
            user_id: Some(format!("u{line}")),
            email: None,
            result,
        }
    }

    fn csv_cells(header: &Header, values: &[&str]) -> Cells {
        Cells::Csv {
            header: header.clone(),
            values: values.iter().collect(),
        }
    }

    #[test]
    fn error_kinds_mask_values_but_keep_names() {
        for (message, kind) in [
            (
                r#"email "two@@example.com" is not a valid email address"#,
                r#"email "…" is not a valid email address"#,
            ),
            (
                r#"column "Signup Date": "2021-13-45" is not a date (expected format %Y-%m-%d)"#,
                r#"column "Signup Date": "…" is not a date (expected format %Y-%m-%d)"#,
            ),
            ("expected 3 fields, found 4", "expected N fields, found N"),
            (
                r#"userId "u\"1" is a duplicate of a.csv:2"#,
                r#"userId "…" is a duplicate of a.csv:N"#,
            ),
            (r#"unknown field "foo""#, r#"unknown field "foo""#),
            (
                r#"column 2 ("name") is not valid UTF-8 (try --encoding windows-1252)"#,
                r#"column N ("name") is not valid UTF-8 (try --encoding windows-1252)"#,
            ),
            (
                r#"customData property "plan" is given twice"#,
                r#"customData property "plan" is given twice"#,
            ),
            ("HTTP 400 email: bad", "HTTP 400 email: bad"),
            (
                r#"firstSeen "x" is not a date (expected ISO 8601 such as 2021-03-04)"#,
                r#"firstSeen "…" is not a date (expected ISO 8601 such as 2021-03-04)"#,
            ),
            (
                "customData.phone2 \"x\" is not an integer",
                "customData.phone2 \"…\" is not an integer",
            ),
            ("unclosed \"quote", "unclosed \"…\""),
            // Numbers that are part of a word or a code are the message's own words.
            (
                r#"locale "xx" is not an ISO 639-1 language code"#,
                r#"locale "…" is not an ISO 639-1 language code"#,
            ),
            (
                r#"userId "u\u{200b}1" contains U+200B ZERO WIDTH SPACE, an invisible character"#,
                r#"userId "…" contains U+200B ZERO WIDTH SPACE, an invisible character"#,
            ),
            (
                "column 3 has no name in the header but holds \"x\"",
                "column N has no name in the header but holds \"…\"",
            ),
            (
                r#"firstSeen "44197" is not a date: as an Excel serial day it is "2021-01-01" (map it with format = "excel")"#,
                r#"firstSeen "…" is not a date: as an Excel serial day it is "…" (map it with format = "excel")"#,
            ),
            (
                "a 2nd try at 10am, over 3 MiB",
                "a 2nd try at 10am, over N MiB",
            ),
            (
                r#"Sheet1!C7: email "two@@example.com" is not a valid email address"#,
                r#"email "…" is not a valid email address"#,
            ),
            (
                r#"'Q1 leads'!AB12: column "Email" holds the error #N/A"#,
                r#"column "Email" holds the error #N/A"#,
            ),
        ] {
            assert_eq!(error_kind(message), kind, "{message}");
        }
    }

    #[test]
    fn the_report_counts_kinds_with_a_first_example() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut files = ResultFiles::create(dir.path(), Outputs::Check, &[]).expect("create");
        let header: Header = vec!["email".to_string()].into();
        for (line, email) in [(2, "a@@x.io"), (3, "ok@x.io"), (4, "b@"), (5, "c@")] {
            let result = if email == "ok@x.io" {
                RowResult::Valid
            } else {
                RowResult::failed(
                    FailStatus::Invalid,
                    format!("email {email:?} is not a valid email address"),
                )
            };
            files
                .write(&outcome(
                    "c.csv",
                    line,
                    csv_cells(&header, &[email]),
                    result,
                ))
                .expect("write");
        }
        let kinds = &files.tally().errors_by_kind;
        assert_eq!(kinds.len(), 1);
        let count = &kinds[r#"email "…" is not a valid email address"#];
        assert_eq!(count.count, 3);
        assert_eq!(
            count.first,
            r#"c.csv:2: email "a@@x.io" is not a valid email address"#
        );
        let summary = Summary {
            result_files: vec!["failed.csv".into(), "summary.json".into()],
            repeated_emails: 2,
            ..summary(files.tally().clone())
        };
        assert_eq!(
            summary.human(),
            "4 rows read: 1 valid, 3 failed (3 invalid)\n\
             \x20      3 × email \"…\" is not a valid email address\n\
             \x20        first: c.csv:2: email \"a@@x.io\" is not a valid email address\n\
             warning: 2 rows repeat the email of an earlier row (the API allows it; see the log)\n\
             results in out: failed.csv, summary.json\n"
        );
    }

    fn warned(file: &str, line: u64, warnings: &[(&str, &str)]) -> RowOutcome {
        let header: Header = vec!["email".to_string()].into();
        let mut outcome = outcome(
            file,
            line,
            csv_cells(&header, &["a@x.io"]),
            RowResult::Valid,
        );
        for (kind, message) in warnings {
            outcome.warnings.push(*kind, *message);
        }
        outcome
    }

    #[test]
    fn warnings_are_counted_by_kind_with_their_first_example() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut files = ResultFiles::create(dir.path(), Outputs::Check, &[]).expect("create");
        let zwsp = "email: invisible U+200B ZERO WIDTH SPACE removed";
        for (line, warnings) in [
            (2, vec![(zwsp, "email \"\\u{200b}a@x.io\": removed it")]),
            (3, vec![]),
            (
                4,
                vec![
                    (zwsp, "email \"b\\u{200b}@x.io\": removed it"),
                    ("phone in scientific notation", "phone \"1E+11\""),
                ],
            ),
        ] {
            files
                .write(&warned("a.csv", line, &warnings))
                .expect("write");
        }
        let origin = Origin {
            file: "a.csv".into(),
            line: 1,
        };
        let note = Warning {
            kind: "columns not imported: \"Fax\"".into(),
            message: "columns not imported: \"Fax\" (hint)".into(),
        };
        files.count_notes(&origin, std::slice::from_ref(&note));
        let kinds = &files.tally().warnings_by_kind;
        assert_eq!(kinds.len(), 3);
        assert_eq!(kinds[zwsp].count, 2);
        assert_eq!(
            kinds[zwsp].first,
            "a.csv:2: email \"\\u{200b}a@x.io\": removed it"
        );
        assert_eq!(
            kinds[&note.kind].first,
            "a.csv:1: columns not imported: \"Fax\" (hint)"
        );
        // Valid rows stay valid; summary.json has the same shape as errors_by_kind.
        assert_eq!((files.tally().valid, files.tally().failed), (3, 0));
        let json = serde_json::to_value(files.tally()).expect("JSON");
        assert_eq!(json["warnings_by_kind"][zwsp]["warnings"], 2);
        assert_eq!(
            json["warnings_by_kind"][zwsp]["first"],
            "a.csv:2: email \"\\u{200b}a@x.io\": removed it"
        );
        let human = summary(files.tally().clone()).human();
        assert!(
            human.contains(&format!(
                "4 warnings:\n\
                 \x20      2 × {zwsp}\n\
                 \x20        first: a.csv:2: email \"\\u{{200b}}a@x.io\": removed it\n"
            )),
            "{human}"
        );
        let mut tally = Tally::default();
        for i in 0..200 {
            tally.count_warning(
                &origin,
                &Warning {
                    kind: format!("k{i}"),
                    message: "m".into(),
                },
            );
        }
        assert_eq!(tally.warnings_by_kind.len(), MAX_KINDS + 1);
        assert_eq!(
            tally.warnings_by_kind[OTHER_WARNINGS].count,
            200 - MAX_KINDS as u64
        );
    }

    fn summary(tally: Tally) -> Summary {
        Summary {
            command: RunKind::Validate,
            inputs: vec!["a.csv".into()],
            out_dir: "out".into(),
            result_files: vec!["summary.json".into()],
            ending: RunEnd::Finished,
            stopped_by: None,
            tally,
            repeated_emails: 0,
            requests: 0,
            rate_limited: 0,
            retries: 0,
            elapsed_secs: 0.1,
            configured_rate: None,
            effective_rate_per_min: 0.0,
            final_rate_per_min: None,
            rate_changes: 0,
            paused_secs: 0.0,
            limit_shape: None,
            window_budget: None,
            window_secs: None,
            lookups: 0,
            verify_requests: 0,
            pass: None,
            resume_command: None,
            index: None,
            plan: None,
        }
    }

    #[test]
    fn failed_files_give_back_the_bytes_and_the_header_of_unreadable_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut files = ResultFiles::create(dir.path(), Outputs::Check, &inputs(&["b.ndjson"]))
            .expect("create");
        let header: Header = vec!["name".to_string(), "email".to_string()].into();
        let unreadable = Cells::Unreadable {
            header: Some(header),
            raw: vec![b"Zo\xEB Ng".to_vec(), b"zoe@example.com".to_vec()],
            error: "column 1 is not valid UTF-8".into(),
        };
        let invalid = RowResult::failed(FailStatus::Invalid, "column 1 is not valid UTF-8");
        files
            .write(&outcome("a.csv", 2, unreadable, invalid.clone()))
            .expect("write");
        let line = Cells::Unreadable {
            header: None,
            raw: vec![b"{\"name\":\"Zo\xEB\"}".to_vec()],
            error: "not valid UTF-8".into(),
        };
        files
            .write(&outcome("b.ndjson", 1, line, invalid))
            .expect("write");
        files.flush().expect("flush");
        let csv = std::fs::read(dir.path().join("failed.csv")).expect("failed.csv");
        assert_eq!(
            csv,
            b"_file,_line,_status,_errors,name,email\n\
              a.csv,2,invalid,column 1 is not valid UTF-8,Zo\xEB Ng,zoe@example.com\n"
        );
        let ndjson = std::fs::read_to_string(dir.path().join("failed.ndjson")).expect("ndjson");
        let row: Value = serde_json::from_str(ndjson.trim()).expect("JSON");
        assert_eq!(row["_raw"], "{\"name\":\"Zoë\"}");
        // With --encoding, the failed files start with a byte-order mark.
        let transcoded = tempfile::tempdir().expect("tempdir");
        let mut input = inputs(&["c.csv"]).remove(0);
        input.format = Format::Csv;
        input.text.encoding = Some(crate::source::TextEncoding::Windows1252);
        let mut files =
            ResultFiles::create(transcoded.path(), Outputs::Check, &[input]).expect("create");
        let header: Header = vec!["name".to_string()].into();
        let failed = RowResult::failed(FailStatus::Invalid, "bad");
        files
            .write(&outcome("c.csv", 2, csv_cells(&header, &["Zoë"]), failed))
            .expect("write");
        files.flush().expect("flush");
        let csv = std::fs::read(transcoded.path().join("failed.csv")).expect("failed.csv");
        assert!(csv.starts_with(b"\xEF\xBB\xBF_file,"), "{csv:?}");
    }

    #[test]
    fn kinds_are_bounded() {
        let mut tally = Tally::default();
        let origin = crate::record::Origin {
            file: "x.ndjson".into(),
            line: 1,
        };
        for i in 0..200 {
            tally.count_errors(&origin, &[format!("unknown field \"f{i}\"")]);
        }
        assert_eq!(tally.errors_by_kind.len(), MAX_KINDS + 1);
        assert_eq!(
            tally.errors_by_kind[OTHER_KIND].count,
            200 - MAX_KINDS as u64
        );
    }

    #[test]
    fn every_row_lands_in_exactly_one_file_with_its_original_cells() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Files of an earlier run are replaced, none left stale; other files are kept.
        for stale in ["failed-3.csv", "failed.ndjson", "summary.json"] {
            std::fs::write(dir.path().join(stale), "old").expect("write");
        }
        std::fs::write(dir.path().join("failed-x.csv"), "mine").expect("write");
        let mut files = ResultFiles::create(
            dir.path(),
            Outputs::Send { planned: false },
            &inputs(&["b.ndjson"]),
        )
        .expect("create");
        let header: Header = vec!["email".to_string(), "name".to_string()].into();
        let other: Header = vec!["userId".to_string()].into();
        let rejected = RowResult::failed(FailStatus::Rejected, "HTTP 400 email: bad");
        let rows = [
            outcome(
                "a.csv",
                2,
                csv_cells(&header, &["a@x.io", "A"]),
                RowResult::Created { id: Some(7) },
            ),
            outcome(
                "a.csv",
                5,
                csv_cells(&header, &["e@x.io", "E"]),
                RowResult::Exists { id: Some(8) },
            ),
            outcome(
                "a.csv",
                3,
                csv_cells(&header, &["bad", "B, Jr."]),
                rejected.clone(),
            ),
            outcome(
                "a.csv",
                4,
                csv_cells(&header, &["1", "2", "3"]),
                RowResult::failed(FailStatus::Invalid, "expected 2 fields, found 3"),
            ),
            outcome("c.csv", 2, csv_cells(&other, &["u9"]), rejected.clone()),
            outcome(
                "b.ndjson",
                5,
                Cells::Json(
                    serde_json::json!({"email": "bad"})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                ),
                rejected,
            ),
            outcome(
                "b.ndjson",
                6,
                Cells::Unreadable {
                    header: None,
                    raw: vec![b"{oops".to_vec()],
                    error: "invalid JSON".into(),
                },
                RowResult::failed(FailStatus::Invalid, "invalid JSON"),
            ),
        ];
        for row in &rows {
            files.write(row).expect("write");
        }
        files.flush().expect("flush");
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).expect(name);
        assert_eq!(
            read("created.csv"),
            "file,line,userId,email,id,status\na.csv,2,u2,,7,created\na.csv,5,u5,,8,exists\n"
        );
        assert_eq!(
            read("failed.csv"),
            "_file,_line,_status,_errors,email,name\n\
             a.csv,3,rejected,HTTP 400 email: bad,bad,\"B, Jr.\"\n\
             a.csv,4,invalid,\"expected 2 fields, found 3\",1,2,3\n"
        );
        assert_eq!(
            read("failed-2.csv"),
            "_file,_line,_status,_errors,userId\nc.csv,2,rejected,HTTP 400 email: bad,u9\n"
        );
        let json: Vec<Value> = read("failed.ndjson")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        assert_eq!(json[0]["email"], "bad");
        assert_eq!(json[0]["_line"], "5");
        assert_eq!(json[1]["_raw"], "{oops");
        let tally = files.tally();
        assert_eq!(tally.rows_read, 7);
        assert_eq!((tally.created, tally.exists, tally.failed), (1, 1, 5));
        assert_eq!(
            files.file_names(),
            ["created.csv", "failed.csv", "failed-2.csv", "failed.ndjson"]
        );
        assert!(!dir.path().join("failed-3.csv").exists());
        assert!(!dir.path().join("summary.json").exists());
        assert!(dir.path().join("failed-x.csv").exists());
    }

    #[test]
    fn the_ledger_agrees_with_a_tally_that_also_holds_rows_not_sent() {
        let counts = LedgerCounts {
            rows: 3,
            sent: 0,
            created: 1,
            exists: 1,
            updated: 1,
            unchanged: 0,
            failed: 1,
            failed_by_status: BTreeMap::from([(FailStatus::Rejected, 1)]),
        };
        let mut tally = Tally {
            rows_read: 5,
            created: 1,
            exists: 1,
            updated: 1,
            unchanged: 0,
            valid: 0,
            failed: 3,
            failed_by_status: BTreeMap::from([(FailStatus::Rejected, 1), (FailStatus::NotSent, 2)]),
            ..Tally::default()
        };
        assert_eq!(tally.disagreement(&counts), None);
        tally.exists = 0;
        tally.created = 2;
        assert!(tally.disagreement(&counts).is_some());
        let in_doubt = LedgerCounts {
            sent: 1,
            ..counts.clone()
        };
        tally.exists = 1;
        tally.created = 1;
        assert!(tally.disagreement(&in_doubt).is_some());
    }
}
