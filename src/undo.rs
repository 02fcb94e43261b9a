//! `undo --out DIR`: takes back the run whose results are in DIR, as its ledger recorded
//! it. The contacts it created are deleted (`DELETE /customers/{id}`), and no other: never
//! one it found existing, updated or left unchanged. The contacts it updated get back the
//! values they had, where the run knew them (from the account index, at no extra
//! request): one PATCH, and one request taking off the tags it added. An update whose
//! earlier values the run did not know is listed as not restorable.
//!
//! Without `--yes` it only plans (`undo-plan.csv`, the requests and the time at the
//! rate). With it, each contact's fate is committed to the run's ledger as it is known: a
//! stopped undo goes on where it stopped, a second one finds nothing left to do, and a
//! contact already gone (404) is counted, not failed.

use std::collections::{HashMap, HashSet};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use rusqlite::Connection;
use serde::Serialize;

use crate::client::{ApiKey, Client};
use crate::config::UndoConfig;
use crate::deliver::{Courier, Outage, Refusals, Verifier, Verify};
use crate::error::{Ending, RunError};
use crate::ledger::{self, Undone, Written};
use crate::limiter::Limiter;
use crate::outcome::{FailStatus, RowResult};
use crate::planning::{duration, human_duration};
use crate::progress::Counters;
use crate::restore::Before;
use crate::shutdown::Shutdown;
use crate::state::State;

/// What an undo does with one contact the run wrote.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Created by the run: deleted.
    Delete,
    /// Updated by the run, its earlier values known: put back.
    Restore(Before),
    /// Updated, its earlier values unknown (no account index, or not in it).
    NotRestorable,
    /// Created as far as a lookup after a lost answer can tell: it may have been there
    /// before the run, so it is left for a person to check.
    Doubted,
    /// An earlier undo took it back already.
    Done { result: String },
}

impl Step {
    fn action(&self) -> &'static str {
        match self {
            Step::Delete => "delete",
            Step::Restore(_) => "restore",
            Step::NotRestorable => "not_restorable",
            Step::Doubted => "not_deleted",
            Step::Done { .. } => "done",
        }
    }

    /// The requests it takes.
    fn requests(&self) -> u64 {
        match self {
            Step::Delete => 1,
            Step::Restore(before) => {
                u64::from(before.patch().is_some()) + u64::from(!before.tags_added.is_empty())
            }
            Step::NotRestorable | Step::Doubted | Step::Done { .. } => 0,
        }
    }
}

/// The undo of each contact the run wrote (pure): a contact it created is deleted even
/// where a later row updated it, unless it was only found by a lookup after a lost answer
/// (it may have been there before the run); one an earlier undo finished is done.
pub fn steps(written: &[Written], undone: &[Undone]) -> Vec<(Written, Step)> {
    let created = |doubted: bool| -> HashSet<i64> {
        written
            .iter()
            .filter(|w| w.state == "created" && w.doubted == doubted)
            .map(|w| w.contact_id)
            .collect()
    };
    let (created, doubted) = (created(false), created(true));
    let finished: HashMap<i64, &Undone> = undone
        .iter()
        .filter(|u| u.result != "failed")
        .map(|u| (u.contact_id, u))
        .collect();
    let finished = |id: i64| finished.get(&id);
    let before = |row: &Written| {
        row.before
            .as_deref()
            .and_then(|json| serde_json::from_str::<Before>(json).ok())
    };
    let mut seen = HashSet::new();
    let mut steps = Vec::new();
    for row in written {
        // One step per contact: the first row that wrote it stands for it.
        if !seen.insert(row.contact_id) {
            continue;
        }
        let step = if let Some(done) = finished(row.contact_id) {
            Step::Done {
                result: done.result.clone(),
            }
        } else if created.contains(&row.contact_id) {
            Step::Delete
        } else if doubted.contains(&row.contact_id) {
            // Patched by a sync with what it held known: putting that back undoes the run
            // whether the contact was there before it or not.
            match before(row) {
                Some(before) => Step::Restore(before),
                None => Step::Doubted,
            }
        } else {
            match before(row) {
                Some(before) => Step::Restore(before),
                None => Step::NotRestorable,
            }
        };
        steps.push((row.clone(), step));
    }
    steps
}

/// `undo-summary.json`, and the closing lines.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UndoSummary {
    /// Whether anything was sent (`--yes`), or this was only the plan.
    pub done: bool,
    pub deleted: u64,
    /// Already gone (404 to the DELETE): counted, not failed.
    pub gone: u64,
    pub restored: u64,
    pub not_restorable: u64,
    /// Created as far as a lookup after a lost answer can tell: left in place.
    pub not_deleted: u64,
    /// Rows whose create may have reached HelpCrunch with no contact id recorded (in
    /// doubt, see `failed.csv`): not taken back.
    pub in_doubt_rows: u64,
    /// Taken back by an earlier undo.
    pub already_done: u64,
    pub failed: u64,
    /// Planned, or not reached before a stop.
    pub left: u64,
    pub requests: u64,
    pub elapsed_secs: f64,
}

/// Runs `undo` as `config` says.
pub async fn undo(config: UndoConfig, shutdown: Shutdown) -> Result<Ending, RunError> {
    let dir = config.out_dir.clone();
    let (connection, recorded) = open(&dir)?;
    let base_url = target(&config, &recorded)?;
    let written = ledger::written(&connection).map_err(sql(&dir))?;
    let undone = ledger::undone(&connection).map_err(sql(&dir))?;
    let steps = steps(&written, &undone);
    let in_doubt = ledger::in_doubt_rows(&connection).map_err(sql(&dir))?;
    let requests: u64 = steps.iter().map(|(_, step)| step.requests()).sum();
    write_plan(&dir, &steps).map_err(output(&dir))?;
    let count = |action: &str| steps.iter().filter(|(_, s)| s.action() == action).count();
    print!(
        "{} contacts the run wrote: {} to delete, {} to restore, {} not restorable (their earlier values unknown), {} not deleted (found after a lost answer: perhaps there before the run), {} taken back already\n{}: {} at {}\n",
        steps.len(),
        count("delete"),
        count("restore"),
        count("not_restorable"),
        count("not_deleted"),
        count("done"),
        crate::planning::count(requests, "request"),
        human_duration(duration(requests, config.rate).as_secs()),
        config.rate
    );
    if in_doubt > 0 {
        println!(
            "{in_doubt} rows may have created a contact whose id the run never learned (in doubt, see failed.csv): an undo cannot take those back"
        );
    }
    if !config.yes && !confirmed() {
        println!(
            "nothing sent: undo-plan.csv in {} lists each contact; run again with --yes to do it",
            dir.display()
        );
        return Ok(Ending::AllSucceeded);
    }
    let Some(key) = &config.key else {
        return Err(RunError::Config(
            "no API key: set HELPCRUNCH_API_KEY (or api_key_file in the config)".into(),
        ));
    };
    // Another account's contacts (`--force`) are not the ones the state knows.
    let state = if base_url.trim_end_matches('/') == recorded {
        open_state(&connection, &dir, &recorded).await?
    } else {
        None
    };
    let courier = courier(&config, &base_url, key, shutdown.clone())?;
    let started = Instant::now();
    let mut summary = UndoSummary {
        done: true,
        in_doubt_rows: in_doubt,
        ..UndoSummary::default()
    };
    let mut results = csv::Writer::from_writer(BufWriter::new(
        std::fs::File::create(dir.join(UNDONE_FILE)).map_err(output(&dir))?,
    ));
    results
        .write_record(UNDONE_COLUMNS)
        .map_err(|e| output(&dir)(e.into()))?;
    for (row, step) in &steps {
        let (result, detail) = if shutdown.is_stopping() {
            ("left", String::new())
        } else {
            take_back(&courier, row.contact_id, step).await
        };
        // The sync state forgets what was taken back, so the next run sends it again.
        if let Some(state) = &state {
            match (step, result) {
                (Step::Delete, "deleted" | "gone") => state.forget(row.contact_id).await?,
                (Step::Restore(before), "restored") => {
                    state.unsent(row.contact_id).await?;
                    state.index_restored(row.contact_id, before.clone()).await?;
                }
                (Step::Restore(_), "gone") => state.forget(row.contact_id).await?,
                _ => {}
            }
        }
        tally(&mut summary, result);
        if !matches!(result, "left" | "done" | "not_restorable" | "not_deleted") {
            let undone = Undone {
                contact_id: row.contact_id,
                action: step.action().to_string(),
                result: result.to_string(),
                detail: (!detail.is_empty()).then(|| detail.clone()),
            };
            ledger::record_undone(&connection, &undone).map_err(sql(&dir))?;
        }
        let line = row.line.to_string();
        let id = row.contact_id.to_string();
        results
            .write_record([
                row.file.as_str(),
                &line,
                row.user_id.as_deref().unwrap_or(""),
                row.email.as_deref().unwrap_or(""),
                &id,
                step.action(),
                result,
                &detail,
            ])
            .map_err(|e| output(&dir)(e.into()))?;
    }
    results.flush().map_err(output(&dir))?;
    summary.requests = courier
        .counters
        .requests
        .load(std::sync::atomic::Ordering::Relaxed);
    summary.elapsed_secs = started.elapsed().as_secs_f64();
    write_summary(&dir, &summary).map_err(output(&dir))?;
    println!(
        "deleted {}, already gone {}, restored {}, not restorable {}, not deleted {}, failed {}, left {}; {}, {:.1}s\nresults in {}: {UNDONE_FILE}, {SUMMARY_FILE}",
        summary.deleted,
        summary.gone,
        summary.restored,
        summary.not_restorable,
        summary.not_deleted,
        summary.failed,
        summary.left,
        crate::planning::count(summary.requests, "request"),
        summary.elapsed_secs,
        dir.display()
    );
    if let Some(error) = shutdown.take_error() {
        return Err(error);
    }
    Ok(if summary.left > 0 {
        Ending::Interrupted
    } else if summary.failed > 0 {
        Ending::SomeFailed
    } else {
        Ending::AllSucceeded
    })
}

/// `undone.csv`: each contact the run wrote, and what the undo did to it.
pub const UNDONE_FILE: &str = "undone.csv";
const UNDONE_COLUMNS: [&str; 8] = [
    "file", "line", "userId", "email", "id", "action", "result", "detail",
];
/// `undo-plan.csv`: what an undo would do.
pub const PLAN_FILE: &str = "undo-plan.csv";
pub const SUMMARY_FILE: &str = "undo-summary.json";

/// Takes back one contact: the result (`deleted`, `gone`, `restored`, `failed`, or as it
/// was) and why, for a failure or what is left in place.
async fn take_back(courier: &Courier, id: i64, step: &Step) -> (&'static str, String) {
    match step {
        Step::Delete => courier.delete_contact(id).await.result(),
        Step::Restore(before) => {
            let left = if before.custom_data_added.is_empty() {
                String::new()
            } else {
                format!(
                    "customData the run added is left: {}",
                    before.custom_data_added.join(", ")
                )
            };
            match courier.restore_contact(id, before).await {
                RowResult::Updated { .. } => ("restored", left),
                // Deleted since: nothing to put back.
                RowResult::Failed {
                    status: FailStatus::NotFound,
                    ..
                } => ("gone", String::new()),
                RowResult::Failed { errors, .. } => ("failed", errors.join("; ")),
                other => ("failed", format!("{other:?}")),
            }
        }
        Step::NotRestorable => (
            "not_restorable",
            "its values before the run are unknown (the run used no account index)".into(),
        ),
        Step::Doubted => (
            "not_deleted",
            "found by a lookup after a create whose answer was lost: it may have been in HelpCrunch before the run; delete it by hand if the run made it".into(),
        ),
        Step::Done { .. } => ("done", String::new()),
    }
}

fn tally(summary: &mut UndoSummary, result: &str) {
    let counter = match result {
        "deleted" => &mut summary.deleted,
        "gone" => &mut summary.gone,
        "restored" => &mut summary.restored,
        "not_restorable" => &mut summary.not_restorable,
        "not_deleted" => &mut summary.not_deleted,
        "done" => &mut summary.already_done,
        "failed" => &mut summary.failed,
        _ => &mut summary.left,
    };
    *counter += 1;
}

/// The sync state the run used, if it used one and it is still there (locked for the
/// undo, as for a run).
async fn open_state(
    connection: &Connection,
    dir: &Path,
    target: &str,
) -> Result<Option<State>, RunError> {
    let Some(path) = ledger::state_path(connection).map_err(sql(dir))? else {
        return Ok(None);
    };
    let path = std::path::PathBuf::from(path);
    if !path.is_file() {
        tracing::warn!(
            "the run's sync state {} is gone: a sync from it would not know what this undo takes back",
            path.display()
        );
        return Ok(None);
    }
    Ok(Some(State::open_async(path, target.to_string()).await?))
}

fn open(dir: &Path) -> Result<(Connection, String), RunError> {
    ledger::open_for_undo(dir).map_err(|error| match error {
        ledger::LedgerError::NoRun { dir } => RunError::Config(format!(
            "{dir} holds no run to take back (no {}): pass the --out of an import",
            ledger::FILE_NAME
        )),
        ledger::LedgerError::Busy { dir } => RunError::Config(format!(
            "{dir} is in use by another import or undo (its ledger is locked): wait for it to end"
        )),
        other => RunError::Ledger(other),
    })
}

/// The API to send to: the one the run's ledger recorded, unless `--base-url --force`.
fn target(config: &UndoConfig, recorded: &str) -> Result<String, RunError> {
    let rehearsal = !recorded.starts_with("http");
    match &config.base_url {
        Some(given) if given.trim_end_matches('/') != recorded && !config.force => {
            Err(RunError::Config(format!(
                "the run sent to {recorded}, not {given}: its contacts' ids are that account's; pass --force to send there all the same"
            )))
        }
        Some(given) => Ok(given.clone()),
        None if rehearsal => Err(RunError::Config(format!(
            "the run sent to {recorded}, which is gone: a rehearsal has nothing to take back"
        ))),
        None => Ok(recorded.to_string()),
    }
}

fn courier(
    config: &UndoConfig,
    base_url: &str,
    key: &ApiKey,
    shutdown: Shutdown,
) -> Result<Courier, RunError> {
    let counters = Arc::new(Counters::default());
    counters.set_rate(config.rate.per_second());
    Ok(Courier {
        client: Client::new(base_url, key, config.timeouts, 1).map_err(RunError::Config)?,
        limiter: Limiter::new(config.rate),
        retry: config.retry,
        concurrency: 1,
        counters,
        shutdown,
        ledger: None,
        verifier: Verifier::new(Verify::Off),
        refusals: Refusals::new(0),
        outage: Outage::new(config.retry.unreachable, base_url),
        sync: None,
    })
}

/// Whether a person at a terminal says yes (never, without one).
fn confirmed() -> bool {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return false;
    }
    print!("Take this run back? Type yes to go on: ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && answer.trim() == "yes"
}

fn write_plan(dir: &Path, steps: &[(Written, Step)]) -> std::io::Result<()> {
    let mut plan =
        csv::Writer::from_writer(BufWriter::new(std::fs::File::create(dir.join(PLAN_FILE))?));
    plan.write_record([
        "file", "line", "userId", "email", "id", "action", "requests",
    ])?;
    for (row, step) in steps {
        plan.write_record([
            row.file.as_str(),
            &row.line.to_string(),
            row.user_id.as_deref().unwrap_or(""),
            row.email.as_deref().unwrap_or(""),
            &row.contact_id.to_string(),
            step.action(),
            &step.requests().to_string(),
        ])?;
    }
    plan.flush()?;
    Ok(())
}

fn write_summary(dir: &Path, summary: &UndoSummary) -> std::io::Result<()> {
    let mut file = BufWriter::new(std::fs::File::create(dir.join(SUMMARY_FILE))?);
    serde_json::to_writer_pretty(&mut file, summary)?;
    file.write_all(b"\n")?;
    file.flush()
}

fn sql(dir: &Path) -> impl Fn(rusqlite::Error) -> RunError + '_ {
    move |e| {
        RunError::Ledger(ledger::LedgerError::Database {
            path: dir.join(ledger::FILE_NAME).display().to_string(),
            message: e.to_string(),
        })
    }
}

fn output(dir: &Path) -> impl Fn(std::io::Error) -> RunError + '_ {
    move |source| RunError::Output {
        dir: dir.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(line: u64, id: i64, state: &str, before: Option<&str>) -> Written {
        Written {
            file: "a.csv".into(),
            line,
            user_id: None,
            email: None,
            contact_id: id,
            state: state.into(),
            before: before.map(String::from),
            doubted: false,
        }
    }

    fn doubted(line: u64, id: i64) -> Written {
        Written {
            doubted: true,
            ..written(line, id, "created", None)
        }
    }

    #[test]
    fn created_contacts_are_deleted_updated_ones_restored_where_known() {
        let before = Before {
            tags_added: vec!["crm".into()],
            ..Before::default()
        };
        let json = serde_json::to_string(&before).expect("json");
        let rows = [
            written(2, 10, "created", None),
            written(3, 11, "updated", Some(&json)),
            written(4, 12, "updated", None),
            // Created by the run and updated by a later row: deleted, once.
            written(5, 10, "updated", Some(&json)),
            written(6, 13, "created", None),
            // Found by a lookup after a lost answer: perhaps there before the run.
            doubted(7, 14),
            // Doubted on one row, created for certain by another: deleted.
            doubted(8, 15),
            written(9, 15, "created", None),
            // Doubted, and patched by a sync with what it held known: put back.
            Written {
                before: Some(json.clone()),
                ..doubted(10, 16)
            },
        ];
        let undone = [
            Undone {
                contact_id: 13,
                action: "delete".into(),
                result: "deleted".into(),
                detail: None,
            },
            Undone {
                contact_id: 12,
                action: "restore".into(),
                result: "failed".into(),
                detail: None,
            },
        ];
        let planned: Vec<(i64, Step)> = steps(&rows, &undone)
            .into_iter()
            .map(|(row, step)| (row.contact_id, step))
            .collect();
        assert_eq!(
            planned,
            [
                (10, Step::Delete),
                (11, Step::Restore(before.clone())),
                (12, Step::NotRestorable),
                (
                    13,
                    Step::Done {
                        result: "deleted".into()
                    }
                ),
                (14, Step::Doubted),
                (15, Step::Delete),
                (16, Step::Restore(before.clone())),
            ]
        );
        let requests: Vec<u64> = planned.iter().map(|(_, step)| step.requests()).collect();
        assert_eq!(requests, [1, 1, 0, 0, 0, 1, 1]);
    }

    #[test]
    fn an_undo_goes_to_the_api_the_run_used_unless_forced() {
        let config = |base_url: Option<&str>, force| UndoConfig {
            out_dir: "out".into(),
            yes: true,
            rate: crate::rate::Rate::HELPCRUNCH_DEFAULT,
            retry: crate::deliver::RetryPolicy::default(),
            timeouts: crate::client::Timeouts {
                connect: std::time::Duration::from_secs(1),
                request: std::time::Duration::from_secs(1),
            },
            key: None,
            base_url: base_url.map(String::from),
            force,
        };
        let recorded = "https://api.helpcrunch.com/v1";
        assert_eq!(
            target(&config(None, false), recorded).ok().as_deref(),
            Some(recorded)
        );
        assert!(target(&config(Some("http://127.0.0.1:9/v1"), false), recorded).is_err());
        assert!(target(&config(Some("http://127.0.0.1:9/v1"), true), recorded).is_ok());
        assert!(
            target(
                &config(Some("https://api.helpcrunch.com/v1/"), false),
                recorded
            )
            .is_ok()
        );
        assert!(target(&config(None, false), "the built-in sandbox (--sandbox)").is_err());
    }
}
