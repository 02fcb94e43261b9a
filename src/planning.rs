//! What a run would do with each row, and what it would cost, from the state and the
//! account index alone, with no request: the `plan` command, and the plan every import
//! makes before it sends (its progress bar's total, and what its summary compares with).
//!
//! A row's requests are the run's own, row by row (see README, "Nightly sync"): a create
//! is one POST (with a search first for a row known by its email alone, in upsert); an
//! update one PATCH for the fields that changed and one tag request for the tags its
//! contact lacks; nothing for a row unchanged or existing. On top come the read-backs of
//! `--verify` and, where the run lists the account first, its pages.

use std::time::Duration;

use serde::Serialize;

use crate::deliver::{Sync, Verify};
use crate::outcome::{Action, RowResult};
use crate::payload::CreateCustomer;
use crate::rate::Rate;
use crate::state::{Mode, Parts, Plan, StateError};

/// Rows planned at once: a plan is state lookups, done on the blocking pool.
pub const CONCURRENCY: usize = 8;

/// Plans rows against the state.
pub struct Planner {
    pub mode: Mode,
    /// The state and its account index; None with `--mode create` and no `--state`.
    pub sync: Option<Sync>,
    /// The run's `--verify`: its read-backs are requests too.
    pub verify: Verify,
    /// The run's rate, for how long the requests take.
    pub rate: Rate,
    /// Requests this plan spent listing the account (`plan --index always`): spent
    /// already, so not among the import's.
    pub index_requests: u64,
}

impl Planner {
    /// What a run would do with a valid row, and the requests it would spend on it.
    pub async fn plan(&self, payload: &CreateCustomer) -> Result<RowResult, StateError> {
        let plan = match &self.sync {
            Some(sync) => sync.plan(payload).await?.plan,
            None => Plan::Create,
        };
        let tags_apart = self
            .sync
            .as_ref()
            .is_none_or(|sync| !sync.collections.replace_tags);
        let (action, requests) = match plan {
            Plan::Create => (Action::Create, 1),
            // Known by its email alone: searched for first, then created.
            Plan::Find { create: true } => (Action::Create, 2),
            Plan::Find { create: false } => (Action::Update, 2),
            Plan::Patch { parts, .. } => (Action::Update, update_requests(parts, tags_apart)),
            Plan::Unchanged { .. } => (Action::Unchanged, 0),
            Plan::Exists { .. } => (Action::Exists, 0),
            Plan::NotFound => (Action::NotFound, 0),
        };
        Ok(RowResult::Planned { action, requests })
    }
}

impl Planner {
    /// The plan of the rows a run tallied.
    pub fn summary(&self, tally: &crate::report::Tally) -> PlanSummary {
        PlanSummary::new(
            tally.rows_read,
            &tally.planned,
            tally.planned_requests,
            self.verify,
            self.index_requests,
            self.rate,
        )
    }
}

/// An update's requests: a PATCH of the fields, and the tags added apart (unless they go in
/// the PATCH, `tags = "replace"`).
fn update_requests(parts: Parts, tags_apart: bool) -> u32 {
    let patch = parts.fields || (parts.tags && !tags_apart);
    u32::from(patch) + u32::from(parts.tags && tags_apart)
}

/// The read-backs `verify` adds to a run of `creates` and `updates`.
pub fn verify_requests(verify: Verify, creates: u64, updates: u64) -> u64 {
    match verify {
        Verify::Off => 0,
        Verify::First => u64::from(creates > 0) + 2 * u64::from(updates > 0),
        Verify::Sample(every) => creates.div_ceil(every.get()) + 2 * updates.div_ceil(every.get()),
    }
}

/// The file a plan is written to, in the run's directory.
pub const PLAN_FILE: &str = "plan.json";

/// `plan.json`: what an import of the same inputs would do, and cost.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct PlanSummary {
    pub rows: u64,
    /// Rows by what a run would do with them: `create`, `update`, `unchanged`, `exists`,
    /// `invalid` (and `not_found`, when some would be).
    pub actions: std::collections::BTreeMap<String, u64>,
    /// The requests the import would spend: the rows', and the read-backs.
    pub requests: u64,
    /// How long those take at `rate`, in seconds.
    pub duration_secs: u64,
    pub rate: String,
    /// Among `requests`: the read-backs of `--verify`.
    pub verify_requests: u64,
    /// Not among them: what this plan spent listing the account into the state.
    pub index_requests: u64,
}

impl PlanSummary {
    /// The plan of a run of `rows` rows, `planned` of them by action (the rest invalid),
    /// spending `row_requests` on them.
    pub fn new(
        rows: u64,
        planned: &std::collections::BTreeMap<Action, u64>,
        row_requests: u64,
        verify: Verify,
        index_requests: u64,
        rate: Rate,
    ) -> PlanSummary {
        let count = |action| planned.get(&action).copied().unwrap_or(0);
        let mut actions: std::collections::BTreeMap<String, u64> = Action::ALL
            .into_iter()
            .filter(|&action| action != Action::NotFound || count(action) > 0)
            .map(|action| (action.as_str().to_string(), count(action)))
            .collect();
        let valid: u64 = planned.values().sum();
        actions.insert("invalid".into(), rows.saturating_sub(valid));
        let verify_requests = verify_requests(verify, count(Action::Create), count(Action::Update));
        let requests = row_requests + verify_requests;
        PlanSummary {
            rows,
            actions,
            requests,
            duration_secs: duration(requests, rate).as_secs(),
            rate: rate.to_string(),
            verify_requests,
            index_requests,
        }
    }

    pub fn write(&self, dir: &std::path::Path) -> std::io::Result<()> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join(PLAN_FILE))?);
        serde_json::to_writer_pretty(&mut file, self)?;
        std::io::Write::write_all(&mut file, b"\n")?;
        std::io::Write::flush(&mut file)
    }

    /// The plan written in `dir`, if there is one to read.
    pub fn read(dir: &std::path::Path) -> Option<PlanSummary> {
        let text = std::fs::read_to_string(dir.join(PLAN_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// What an action's count is planned at.
    pub fn count(&self, action: &str) -> u64 {
        self.actions.get(action).copied().unwrap_or(0)
    }

    /// The closing lines for people.
    pub fn human(&self) -> String {
        let actions: Vec<String> = self
            .actions
            .iter()
            .map(|(action, n)| format!("{n} {action}"))
            .collect();
        format!(
            "{} rows: {}\n{}: {} at {}\n",
            self.rows,
            actions.join(", "),
            count(self.requests, "request"),
            human_duration(self.duration_secs),
            self.rate
        )
    }
}

/// How long `requests` take at `rate`: the first goes at once.
pub fn duration(requests: u64, rate: Rate) -> Duration {
    let per_sec = rate.per_second();
    if requests == 0 || per_sec <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64((requests - 1) as f64 / per_sec).max(Duration::from_secs(1))
}

/// `n` and its noun, singular for one: "1 request", "73 requests".
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `40 s`, `1 min 02 s`, `35 min`, `2 h 05 min`.
pub fn human_duration(secs: u64) -> String {
    // Seconds while they matter, then whole minutes rounded up: a plan never promises
    // less time than it takes.
    let minutes = secs.div_ceil(60);
    match (secs, minutes) {
        (0..60, _) => format!("{secs} s"),
        (60..600, _) => format!("{} min {:02} s", secs / 60, secs % 60),
        (_, 0..60) => format!("{minutes} min"),
        _ => format!("{} h {:02} min", minutes / 60, minutes % 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_costs_a_patch_for_its_fields_and_a_request_for_its_tags() {
        let parts = |fields, tags| Parts { fields, tags };
        assert_eq!(update_requests(parts(true, false), true), 1);
        assert_eq!(update_requests(parts(false, true), true), 1);
        assert_eq!(update_requests(parts(true, true), true), 2);
        // tags = "replace": one PATCH carries both.
        assert_eq!(update_requests(parts(true, true), false), 1);
        assert_eq!(update_requests(parts(false, true), false), 1);
    }

    #[test]
    fn the_read_backs_are_the_first_create_and_update_or_one_in_n() {
        assert_eq!(verify_requests(Verify::First, 20, 50), 3);
        assert_eq!(verify_requests(Verify::First, 0, 50), 2);
        assert_eq!(verify_requests(Verify::First, 0, 0), 0);
        assert_eq!(verify_requests(Verify::Off, 20, 50), 0);
        let every_10 = Verify::Sample(std::num::NonZeroU64::new(10).expect("not zero"));
        assert_eq!(verify_requests(every_10, 20, 50), 2 + 2 * 5);
    }

    #[test]
    fn a_plan_counts_every_row_and_says_how_long_it_takes() {
        let planned = std::collections::BTreeMap::from([
            (Action::Create, 20),
            (Action::Update, 50),
            (Action::Unchanged, 950),
        ]);
        let plan = PlanSummary::new(
            1022,
            &planned,
            70,
            Verify::First,
            10,
            Rate::HELPCRUNCH_DEFAULT,
        );
        assert_eq!(plan.requests, 73);
        assert_eq!(plan.actions["invalid"], 2);
        assert_eq!(plan.actions["exists"], 0);
        assert!(!plan.actions.contains_key("not_found"));
        assert_eq!(plan.duration_secs, 36);
        assert_eq!(
            plan.human(),
            "1022 rows: 20 create, 0 exists, 2 invalid, 950 unchanged, 50 update\n73 requests: 36 s at 120/min\n"
        );
        assert_eq!(human_duration(35 * 60), "35 min");
        assert_eq!(human_duration(2 * 3600 + 5 * 60), "2 h 05 min");
    }

    #[test]
    fn a_duration_rounds_up_to_whole_minutes_without_a_sixtieth() {
        for (secs, text) in [
            (0, "0 s"),
            (59, "59 s"),
            (60, "1 min 00 s"),
            (62, "1 min 02 s"),
            (599, "9 min 59 s"),
            (600, "10 min"),
            (601, "11 min"),
            (3540, "59 min"),
            (3541, "1 h 00 min"),
            (3600, "1 h 00 min"),
            (7170, "2 h 00 min"),
            (7200, "2 h 00 min"),
            (7201, "2 h 01 min"),
        ] {
            assert_eq!(human_duration(secs), text, "{secs} s");
        }
    }
}
