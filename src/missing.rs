//! Contacts that left the export: a nightly sync (`--mode upsert|update` with a
//! `--state`) that only adds and updates leaves behind every customer the CRM has since
//! removed. The state knows the contacts earlier runs of the sync met; those tonight's
//! finished run did not meet are missing, and `--missing` says what becomes of them:
//! `report` (the default: `missing.csv`), `tag:NAME` (the documented tag endpoint, so
//! agents see it and nothing is lost) or `delete`.
//!
//! A tagged or deleted contact is no longer the sync's: it is not missing again the next
//! night (a tagged one that comes back is found again, through the account index or the
//! usual lookups). A reported one stays, and is reported each night until it comes back.
//! A run stopped while tagging lets none go: resumed, it tags them again (one request
//! each, the tag added once) and lists every one that left.
//!
//! Only contacts this state knows are ever touched, never ones created elsewhere. A row
//! that was invalid tonight still names its contact (as far as it was read), which is
//! then not missing. And when more are missing than `--max-missing` allows (5 % of the
//! contacts this sync has met, by default), nothing is tagged or deleted and the run exits
//! 1: a truncated export must not wipe an account.

use std::collections::HashSet;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::Ordering;

use serde::Serialize;

use crate::deliver::{Courier, Deletion, Sync};
use crate::error::{Ending, FailureLimit, RunError};
use crate::ledger::InvalidRows;
use crate::outcome::{FailStatus, RowResult};
use crate::payload::Tag;

/// `--missing`: what becomes of contacts that left the export.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Missing {
    /// Listed in `missing.csv`; nothing sent.
    #[default]
    Report,
    /// The tag added (`PUT /customers/{id}/tags`).
    Tag(String),
    /// Deleted (`DELETE /customers/{id}`), and forgotten by the state.
    Delete,
}

impl FromStr for Missing {
    type Err = String;

    fn from_str(text: &str) -> Result<Missing, String> {
        let text = text.trim();
        match text {
            "report" => Ok(Missing::Report),
            "delete" => Ok(Missing::Delete),
            _ => match text.strip_prefix("tag:").map(str::trim) {
                Some(name) if !name.is_empty() => Ok(Missing::Tag(name.to_string())),
                _ => Err(format!("{text:?} is not report, tag:NAME or delete")),
            },
        }
    }
}

/// The default `--max-missing`: 5 % of the contacts this sync has met.
pub const DEFAULT_LIMIT: FailureLimit = FailureLimit::Percent(5.0);

/// What became of the contacts that left the export, for `summary.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MissingReport {
    /// Contacts earlier sync runs met that tonight's run did not.
    pub contacts: u64,
    /// Contacts sync runs of this state met (the share --max-missing counts is of these).
    pub known: u64,
    /// `report`, `tag:NAME`, `delete`, or `none` when more were missing than allowed (or
    /// some invalid rows named nobody, to tag or delete).
    pub action: String,
    pub tagged: u64,
    pub deleted: u64,
    /// Already gone from HelpCrunch (404): forgotten, not failed.
    pub gone: u64,
    pub failed: u64,
    /// More were missing than `--max-missing` allows: nothing was touched.
    pub over_limit: bool,
    /// Tonight's invalid rows that name no contact the state knows (read too little to
    /// name one, or naming it by a key the state does not hold): with any, nothing is
    /// tagged or deleted.
    pub unnamed_invalid: u64,
    /// Requests spent tagging or deleting them (added to the summary's `requests`; the
    /// printed line and the plan count the run's own).
    pub requests: u64,
    /// Not reached: the run was stopped (an interrupt, a refused key) while handling them.
    pub interrupted: u64,
}

impl MissingReport {
    /// How handling them ended: an interrupt as an interrupted run; a refusal to act, or
    /// a contact that could not be tagged or deleted, as a failure (exit 1).
    pub fn ending(&self) -> Option<Ending> {
        if self.interrupted > 0 {
            Some(Ending::Interrupted)
        } else if self.over_limit || self.action == "none" || self.failed > 0 {
            Some(Ending::SomeFailed)
        } else {
            None
        }
    }
}

/// `missing.csv`: each contact that left the export, and what became of it.
pub const FILE: &str = "missing.csv";

/// Finds the contacts sync run `run` did not meet, and does with them what `policy`
/// says, unless more are missing than `limit` allows, or (to tag or delete) some of
/// tonight's invalid rows were read too little to name their contact. `invalid`: the rows
/// tonight's run found invalid.
pub async fn handle(
    courier: &Courier,
    sync: &Sync,
    run: i64,
    invalid: &InvalidRows,
    policy: &Missing,
    limit: FailureLimit,
    out_dir: &Path,
) -> Result<MissingReport, RunError> {
    // The contacts tonight's invalid rows name are still in the export. One that names no
    // contact the state knows may still be one of the missing, known by another key.
    let mut named: HashSet<i64> = HashSet::new();
    let mut unnamed = invalid.unnamed;
    for (user_id, email) in &invalid.named {
        let mut any = false;
        for key in crate::state::plan::keys_of(user_id.as_deref(), email.as_deref()) {
            if let Some(known) = sync.state.get(key).await? {
                named.insert(known.id);
                any = true;
            }
        }
        unnamed += u64::from(!any);
    }
    let missing: Vec<(String, i64)> = sync
        .state
        .not_met(run)
        .await?
        .into_iter()
        .filter(|(_, id)| !named.contains(id))
        .collect();
    let known = sync.state.synced_contacts().await?;
    let mut report = MissingReport {
        contacts: missing.len() as u64,
        known,
        action: match policy {
            Missing::Report => "report".into(),
            Missing::Tag(name) => format!("tag:{name}"),
            Missing::Delete => "delete".into(),
        },
        unnamed_invalid: unnamed,
        ..MissingReport::default()
    };
    report.over_limit = limit.exceeded(report.contacts, known);
    // A row unread past its userId and email, or naming none the state knows, may be any
    // of the missing: tagging or deleting could touch a contact still in the export.
    let unsure = unnamed > 0 && *policy != Missing::Report && !missing.is_empty();
    let output = |source| RunError::Output {
        dir: out_dir.to_path_buf(),
        source,
    };
    let mut file = csv::Writer::from_writer(BufWriter::new(
        std::fs::File::create(out_dir.join(FILE)).map_err(output)?,
    ));
    file.write_record(["key", "id", "action", "result", "detail"])
        .map_err(|e| output(e.into()))?;
    if unsure && !report.over_limit {
        tracing::error!(
            "{} of tonight's invalid rows name no contact the state knows (read too little, or by another userId or email), so any of the {} missing contacts may still be in the export: nothing was tagged or deleted; fix those rows (failed.csv) and run again",
            unnamed,
            report.contacts
        );
        report.action = "none".into();
    } else if report.over_limit {
        tracing::error!(
            "{} of the {known} contacts this sync has met left the export, more than --max-missing allows: nothing was tagged or deleted (a truncated export must not wipe an account); see {FILE}",
            report.contacts
        );
        report.action = "none".into();
    } else if !missing.is_empty() {
        tracing::info!(
            "{} contacts left the export: {}",
            report.contacts,
            report.action
        );
    }
    let tags = match policy {
        Missing::Tag(name) => vec![Tag::named(name.clone())],
        _ => Vec::new(),
    };
    let requests_before = courier.counters.requests.load(Ordering::Relaxed);
    let mut tagged = Vec::new();
    for (key, id) in &missing {
        let (result, detail) = if report.over_limit || unsure {
            ("left", String::new())
        } else if courier.shutdown.is_stopping() {
            report.interrupted += 1;
            ("left", String::new())
        } else {
            match policy {
                Missing::Report => ("reported", String::new()),
                Missing::Tag(_) => match courier.tag_contact(*id, &tags).await {
                    RowResult::Updated { .. } => {
                        tagged.push(*id);
                        ("tagged", String::new())
                    }
                    // Deleted in HelpCrunch since: nothing to tag, nothing to know.
                    RowResult::Failed {
                        status: FailStatus::NotFound,
                        ..
                    } => {
                        sync.state.forget(*id).await?;
                        ("gone", String::new())
                    }
                    RowResult::Failed { errors, .. } => ("failed", errors.join("; ")),
                    other => ("failed", format!("{other:?}")),
                },
                Missing::Delete => {
                    let deletion = courier.delete_contact(*id).await;
                    // Deleted, or gone already: either way no longer HelpCrunch's.
                    if !matches!(deletion, Deletion::Failed(_)) {
                        sync.state.forget(*id).await?;
                    }
                    deletion.result()
                }
            }
        };
        match result {
            "tagged" => report.tagged += 1,
            "deleted" => report.deleted += 1,
            "gone" => report.gone += 1,
            "failed" => report.failed += 1,
            _ => {}
        }
        file.write_record([
            key.as_str(),
            &id.to_string(),
            &report.action,
            result,
            &detail,
        ])
        .map_err(|e| output(e.into()))?;
    }
    file.flush().map_err(output)?;
    // Stopped while tagging or deleting the last one: that one failed, the run was stopped.
    if courier.shutdown.is_stopping() && !report.over_limit && !unsure && !missing.is_empty() {
        report.interrupted = report.interrupted.max(1);
    }
    // Tagged once: not missing again every night. Let go only once every one is tagged:
    // a run stopped partway tags them again when resumed (adding a tag twice adds it
    // once), so its missing.csv lists all that left, not only the ones still untagged.
    if report.interrupted == 0 {
        for id in tagged {
            sync.state.release(id).await?;
        }
    }
    report.requests = courier
        .counters
        .requests
        .load(Ordering::Relaxed)
        .saturating_sub(requests_before);
    Ok(report)
}

/// Adds `report` to the run's `summary.json` as `missing`, and says so on stdout.
pub fn add_to_summary(out_dir: &Path, report: &MissingReport) -> std::io::Result<()> {
    let path = out_dir.join("summary.json");
    let text = std::fs::read_to_string(&path)?;
    let mut summary: serde_json::Value = serde_json::from_str(&text)?;
    if let Some(object) = summary.as_object_mut() {
        object.insert("missing".into(), serde_json::to_value(report)?);
        if let Some(serde_json::Value::Array(files)) = object.get_mut("result_files") {
            files.push(FILE.into());
        }
        // The run's requests include those tagging or deleting spent.
        if let Some(requests) = object.get("requests").and_then(serde_json::Value::as_u64) {
            object.insert("requests".into(), (requests + report.requests).into());
        }
    }
    let mut file = BufWriter::new(std::fs::File::create(&path)?);
    serde_json::to_writer_pretty(&mut file, &summary)?;
    file.write_all(b"\n")?;
    file.flush()?;
    let done = match report.action.as_str() {
        "report" => "listed".to_string(),
        "none" if report.over_limit => "nothing done: more than --max-missing allows".to_string(),
        "none" => "nothing done: some invalid rows name no contact".to_string(),
        action => format!(
            "{action}: {} tagged, {} deleted, {} already gone, {} failed",
            report.tagged, report.deleted, report.gone, report.failed
        ),
    };
    println!(
        "{} of {} contacts this sync has met left the export ({done}): {}",
        report.contacts,
        report.known,
        out_dir.join(FILE).display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_reads_report_tag_and_delete() {
        assert_eq!("report".parse(), Ok(Missing::Report));
        assert_eq!("delete".parse(), Ok(Missing::Delete));
        assert_eq!(
            " tag:left-crm ".parse(),
            Ok(Missing::Tag("left-crm".into()))
        );
        for bad in ["tag:", "tag: ", "remove", ""] {
            assert!(bad.parse::<Missing>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_default_limit_is_five_percent_of_the_known() {
        assert!(!DEFAULT_LIMIT.exceeded(50, 1000));
        assert!(DEFAULT_LIMIT.exceeded(51, 1000));
        assert!(DEFAULT_LIMIT.exceeded(400, 1000));
    }
}
