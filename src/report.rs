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
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::adaptive::Shape;
use crate::ledger::Counts;
use crate::limiter::LimiterReport;
use crate::outcome::{FailStatus, RowOutcome, RowResult};
use crate::progress::Counters;
use crate::record::{Cells, Header};
use crate::source::Input;

/// Columns added in front of the original ones in `failed.csv`. They start with `_`,
/// which the importer ignores, so a fixed `failed.csv` imports as it is.
pub const FAILED_META_COLUMNS: [&str; 4] = ["_file", "_line", "_status", "_errors"];
/// `status` is `created`, `exists` when HelpCrunch already held the userId, `updated`
/// (sent a PATCH) or `unchanged` (nothing sent) with `--mode upsert|update`.
pub const CREATED_COLUMNS: [&str; 6] = ["file", "line", "userId", "email", "id", "status"];
/// Files a run writes, besides `failed-N.csv` (see [`is_result_file`]); a new run (or a
/// resume, which writes them all again) removes the ones left by an earlier run first,
/// so none is stale. The run's ledger is not among them: the ledger decides itself what
/// a new run or a resume keeps of it.
const RESULT_FILE_NAMES: [&str; 4] = ["created.csv", "failed.csv", "failed.ndjson", "summary.json"];

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
/// or the ledger), if there is one.
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
    /// One failed CSV per distinct header (`failed.csv`, then `failed-2.csv`, ...), since
    /// inputs of one run may have different columns.
    failed_csv: Vec<(Option<Header>, csv::Writer<BufWriter<File>>)>,
    failed_ndjson: Option<BufWriter<File>>,
    /// Inputs read as NDJSON: their failed rows go to `failed.ndjson`, as JSON objects.
    ndjson_inputs: HashSet<Arc<str>>,
    tally: Tally,
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
}

/// How often one kind of error occurred, and where first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindCount {
    pub errors: u64,
    /// `FILE:LINE: message` of the first one.
    pub first: String,
}

/// Kinds counted apart; the rest are counted together, so a hostile file cannot grow
/// the summary without bound.
const MAX_KINDS: usize = 50;
const OTHER_KIND: &str = "(other errors)";

impl Tally {
    /// How the ledger's counts of this pass differ from this tally; None when they
    /// agree. Rows the run stopped before sending are in the tally (as `not_sent`) but
    /// not in the ledger, which keeps them pending.
    pub fn disagreement(&self, ledger: &Counts) -> Option<String> {
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

    fn count_errors(&mut self, origin: &crate::record::Origin, errors: &[String]) {
        for message in errors {
            let mut kind = error_kind(message);
            if self.errors_by_kind.len() >= MAX_KINDS && !self.errors_by_kind.contains_key(&kind) {
                kind = OTHER_KIND.to_string();
            }
            self.errors_by_kind
                .entry(kind)
                .or_insert_with(|| KindCount {
                    errors: 0,
                    first: format!("{origin}: {message}"),
                })
                .errors += 1;
        }
    }
}

/// The kind of an error: its message with the values masked, so that
/// `email "a@@x.io" is not a valid email address` and `email "b@" is not …` count
/// together. Quoted values become `"…"`, except names of columns, fields and properties
/// (`column "Signup Date": "2021-13-45" is not a date` keeps `"Signup Date"`); numbers
/// become `N`, except HTTP statuses, digits inside words and numbers in parentheses.
pub fn error_kind(message: &str) -> String {
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
                let names = ["column", "field", "property"];
                if names.iter().any(|name| before.ends_with(name)) {
                    kind.push_str(&quoted);
                } else {
                    kind.push_str("\"…\"");
                }
            }
            c if c.is_ascii_digit() => {
                let in_word = kind
                    .chars()
                    .last()
                    .is_some_and(|p| p.is_alphanumeric() || matches!(p, '_' | '.' | '-'));
                let mut digits = String::from(c);
                while let Some(&(_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
                    digits.push(d);
                    chars.next();
                }
                if in_word || depth > 0 || kind.ends_with("HTTP ") {
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

impl ResultFiles {
    pub fn create(
        dir: &Path,
        dry_run: bool,
        ndjson_inputs: HashSet<Arc<str>>,
    ) -> io::Result<ResultFiles> {
        std::fs::create_dir_all(dir)?;
        remove_old_results(dir)?;
        let created = if dry_run {
            None
        } else {
            let mut writer =
                csv::Writer::from_writer(BufWriter::new(File::create(dir.join("created.csv"))?));
            writer.write_record(CREATED_COLUMNS)?;
            Some(writer)
        };
        Ok(ResultFiles {
            dir: dir.to_path_buf(),
            created,
            failed_csv: Vec::new(),
            failed_ndjson: None,
            ndjson_inputs,
            tally: Tally::default(),
        })
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
        names.extend((0..self.failed_csv.len()).map(failed_csv_name));
        if self.failed_ndjson.is_some() {
            names.push("failed.ndjson".to_string());
        }
        names
    }

    pub fn write(&mut self, outcome: &RowOutcome) -> io::Result<()> {
        self.tally.rows_read += 1;
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
            RowResult::Failed { status, errors } => {
                self.tally.failed += 1;
                *self.tally.failed_by_status.entry(*status).or_default() += 1;
                if *status != FailStatus::NotSent {
                    self.tally.count_errors(&outcome.record.origin, errors);
                }
                self.write_failed(outcome, *status, &errors.join("; "))?;
            }
        }
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
                    row.insert("_raw".into(), Value::String(raw.join("")));
                }
                Cells::Csv { values, .. } => {
                    row.insert("_raw".into(), Value::String(values.iter().collect()));
                }
            }
            return self.write_failed_json(&Value::Object(row));
        }
        let (header, cells): (_, Box<dyn Iterator<Item = &str>>) = match &outcome.record.cells {
            Cells::Csv { header, values } => (Some(header), Box::new(values.iter())),
            Cells::Unreadable { raw, .. } => (None, Box::new(raw.iter().map(String::as_str))),
            Cells::Json(_) => (None, Box::new(std::iter::empty())),
        };
        let writer = self.failed_csv_for(header)?;
        writer
            .write_record(meta.iter().copied().chain(cells))
            .map_err(io::Error::from)
    }

    fn write_failed_json(&mut self, row: &Value) -> io::Result<()> {
        if self.failed_ndjson.is_none() {
            self.failed_ndjson = Some(BufWriter::new(File::create(
                self.dir.join("failed.ndjson"),
            )?));
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
                let path = self.dir.join(failed_csv_name(self.failed_csv.len()));
                let mut writer = csv::WriterBuilder::new()
                    .flexible(true)
                    .from_writer(BufWriter::new(File::create(path)?));
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
        for (_, writer) in &mut self.failed_csv {
            writer.flush()?;
        }
        if let Some(writer) = &mut self.failed_ndjson {
            writer.flush()?;
        }
        Ok(())
    }
}

fn remove_old_results(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if is_result_file(&name) {
            std::fs::remove_file(dir.join(name.as_ref()))?;
        }
    }
    Ok(())
}

/// Kinds shown in the closing lines; summary.json has them all.
const KINDS_SHOWN: usize = 10;

/// The most frequent kinds of error, each with its first example.
fn errors_by_kind(kinds: &BTreeMap<String, KindCount>) -> String {
    let mut sorted: Vec<(&String, &KindCount)> = kinds.iter().collect();
    sorted.sort_by(|a, b| b.1.errors.cmp(&a.1.errors).then(a.0.cmp(b.0)));
    let mut text = String::new();
    for (kind, count) in sorted.iter().take(KINDS_SHOWN) {
        text.push_str(&format!(
            "  {:>6} × {kind}\n         first: {}\n",
            count.errors, count.first
        ));
    }
    if sorted.len() > KINDS_SHOWN {
        text.push_str(&format!(
            "  … and {} more kinds of error (summary.json lists them all)\n",
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
        } = facts;
        let mut result_files = files.file_names();
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
            effective_rate_per_min: requests as f64 * 60.0 / elapsed_secs.max(0.001),
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
        text.push_str(&errors_by_kind(&t.errors_by_kind));
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
            text.push_str(&format!(
                "{} requests{lookups}, {} answered 429, {} retries, {:.1}s, {:.1} requests/min (configured {})\n",
                self.requests,
                self.rate_limited,
                self.retries,
                self.elapsed_secs,
                self.effective_rate_per_min,
                self.configured_rate.as_deref().unwrap_or("-")
            ));
            if let Some(rate) = self.final_rate_per_min.filter(|_| self.rate_changes > 0) {
                text.push_str(&format!(
                    "paused {:.1}s by 429s; the rate changed {} times, ending at {rate:.1}/min\n",
                    self.paused_secs, self.rate_changes
                ));
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

    fn outcome(file: &str, line: u64, cells: Cells, result: RowResult) -> RowOutcome {
        RowOutcome {
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
        ] {
            assert_eq!(error_kind(message), kind, "{message}");
        }
    }

    #[test]
    fn the_report_counts_kinds_with_a_first_example() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut files = ResultFiles::create(dir.path(), true, HashSet::new()).expect("create");
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
        assert_eq!(count.errors, 3);
        assert_eq!(
            count.first,
            r#"c.csv:2: email "a@@x.io" is not a valid email address"#
        );
        let summary = Summary {
            command: RunKind::Validate,
            inputs: vec!["c.csv".into()],
            out_dir: "out".into(),
            result_files: vec!["failed.csv".into(), "summary.json".into()],
            ending: RunEnd::Finished,
            stopped_by: None,
            tally: files.tally().clone(),
            repeated_emails: 2,
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
            tally.errors_by_kind[OTHER_KIND].errors,
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
        let mut files = ResultFiles::create(dir.path(), false, HashSet::from(["b.ndjson".into()]))
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
                    raw: vec!["{oops".into()],
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
        let counts = Counts {
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
        let in_doubt = Counts {
            sent: 1,
            ..counts.clone()
        };
        tally.exists = 1;
        tally.created = 1;
        assert!(tally.disagreement(&in_doubt).is_some());
    }
}
