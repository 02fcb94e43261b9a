use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use proptest::prelude::*;

use super::*;
use crate::payload::CreateCustomer;

fn origin(file: &str, line: u64) -> Origin {
    Origin {
        file: file.into(),
        line,
    }
}

fn row(user_id: Option<&str>, email: Option<&str>) -> Result<CreateCustomer, Vec<RowError>> {
    Ok(CreateCustomer {
        user_id: user_id.map(Into::into),
        email: email.map(Into::into),
        ..CreateCustomer::default()
    })
}

/// The check as the pipeline makes it: keys hashed first, then checked.
fn check(
    seen: &mut Seen,
    origin: &Origin,
    mapped: Result<CreateCustomer, Vec<RowError>>,
) -> Result<CreateCustomer, Vec<RowError>> {
    let payload = mapped?;
    let (user_id, email) = (payload.user_id.as_deref(), payload.email.as_deref());
    let keys = seen.keyer().keys(user_id, email);
    seen.touch(&keys);
    let names = || (payload.user_id.clone(), payload.email.clone());
    seen.check(origin, &keys, names)
        .map_err(|repeat| vec![repeat])?;
    Ok(payload)
}

fn messages(result: Result<CreateCustomer, Vec<RowError>>) -> Vec<String> {
    result
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|e| e.message)
        .collect()
}

/// A detector of `budget` bytes spilling to `dir` behind a filter of 2^`filter` bits.
fn seen_in(budget: usize, dir: Option<PathBuf>, filter: u32) -> Seen {
    Seen::with_scratch(budget, Scratch::new(dir, filter))
}

/// Few enough bytes that a few hundred keys spill several times.
const TINY: usize = 4 << 10;

#[test]
fn a_repeated_user_id_fails_naming_the_first_place_across_files() {
    let mut seen = Seen::default();
    assert!(check(&mut seen, &origin("a.csv", 2), row(Some("u1"), None)).is_ok());
    assert!(check(&mut seen, &origin("a.csv", 3), row(Some("u2"), None)).is_ok());
    assert!(check(&mut seen, &origin("a.csv", 4), row(None, None)).is_ok());
    assert!(check(&mut seen, &origin("a.csv", 5), row(None, None)).is_ok());
    assert_eq!(
        messages(check(&mut seen, &origin("a.csv", 9), row(Some("u1"), None))),
        [r#"userId "u1" is a duplicate of a.csv:2"#]
    );
    assert_eq!(
        messages(check(
            &mut seen,
            &origin("b.ndjson", 1),
            row(Some("u2"), None)
        )),
        [r#"userId "u2" is a duplicate of a.csv:3"#]
    );
    // userIds are compared exactly: the API tells "U1" from "u1".
    assert!(check(&mut seen, &origin("b.ndjson", 2), row(Some("U1"), None)).is_ok());
    assert_eq!(
        check(&mut seen, &origin("b.ndjson", 3), row(Some("U1"), None)).unwrap_err()[0]
            .field
            .as_deref(),
        Some("userId")
    );
}

#[test]
fn failed_rows_are_not_remembered() {
    let mut seen = Seen::default();
    let failed = Err(vec![RowError::new("email", "bad")]);
    assert_eq!(
        messages(check(&mut seen, &origin("a.csv", 2), failed)),
        ["bad"]
    );
    assert!(check(&mut seen, &origin("a.csv", 3), row(Some("u1"), None)).is_ok());
}

#[test]
fn a_repeated_email_is_only_counted() {
    let mut seen = Seen::default();
    for (line, email) in [(2, "a@x.io"), (3, "A@X.io"), (4, "b@x.io"), (5, "a@x.io")] {
        let user_id = format!("u{line}");
        assert!(
            check(
                &mut seen,
                &origin("a.csv", line),
                row(Some(&user_id), Some(email))
            )
            .is_ok()
        );
    }
    assert_eq!(seen.repeated_emails(), 2);
}

/// Every row of `a.csv` (userId `u{i}`, email `e{i}`), then `b.ndjson` repeating every
/// third one: each repeat names its first place, whether that was spilled or not.
fn repeats_across_two_files(seen: &mut Seen, rows: u64) {
    for i in 0..rows {
        let (user_id, email) = (format!("u{i}"), format!("e{i}@x.io"));
        let checked = check(
            seen,
            &origin("a.csv", i + 2),
            row(Some(&user_id), Some(&email)),
        );
        assert!(checked.is_ok(), "a.csv:{}: {:?}", i + 2, messages(checked));
    }
    for i in (0..rows).step_by(3) {
        let line = i + 1;
        let new_id = format!("new{i}");
        // A new userId whose email (in capitals) is a repeat: counted, not failed.
        let email = format!("E{i}@X.IO");
        assert!(
            check(
                seen,
                &origin("b.ndjson", line),
                row(Some(&new_id), Some(&email))
            )
            .is_ok()
        );
        let user_id = format!("u{i}");
        assert_eq!(
            messages(check(
                seen,
                &origin("b.ndjson", line),
                row(Some(&user_id), None)
            )),
            [format!(
                "userId {user_id:?} is a duplicate of a.csv:{}",
                i + 2
            )]
        );
        // The new userId is remembered in b.ndjson, wherever it is kept by now.
        assert_eq!(
            messages(check(
                seen,
                &origin("b.ndjson", line + 1),
                row(Some(&new_id), None)
            )),
            [format!(
                "userId {new_id:?} is a duplicate of b.ndjson:{line}"
            )]
        );
    }
    assert_eq!(seen.repeated_emails(), rows.div_ceil(3));
}

fn assert_spilled(seen: &Seen, at_least: u32) {
    let spills = seen.scratch.spills();
    assert!(spills >= at_least, "{spills} spills, not {at_least}");
}

#[test]
fn repeats_are_found_across_spills() {
    let mut seen = seen_in(TINY, None, FILTER_LOG2_BITS);
    repeats_across_two_files(&mut seen, 3_000);
    assert_spilled(&seen, 10);
}

#[test]
fn a_full_filter_only_costs_queries() {
    // 64 bits: after a spill or two every lookup reaches SQLite, found or not.
    let mut seen = seen_in(TINY, None, 6);
    repeats_across_two_files(&mut seen, 1_000);
    assert_spilled(&seen, 3);
}

#[test]
fn the_tables_stay_within_their_budget() {
    let mut seen = seen_in(TINY, None, FILTER_LOG2_BITS);
    for i in 0..5_000u64 {
        let (user_id, email) = (format!("u{i}"), format!("e{i}@x.io"));
        assert!(
            check(
                &mut seen,
                &origin("a.csv", i + 2),
                row(Some(&user_id), Some(&email))
            )
            .is_ok()
        );
        let bytes = seen.memory.bytes();
        assert!(bytes <= TINY, "{bytes} bytes after {} rows", i + 1);
    }
    // Counting a growth step's two copies of a shard, and filled near the budget.
    let peak = seen.memory.peak();
    assert!(peak <= TINY && peak > TINY * 3 / 4, "peak {peak} of {TINY}");
    assert_spilled(&seen, 10);
}

#[test]
fn expected_rows_fit_without_growing_and_are_still_checked() {
    // Repeats are found in reserved tables (b.ndjson's new userIds, not expected, may
    // grow them).
    let mut seen = Seen::default();
    seen.expect(3_000);
    assert!(seen.memory.bytes() > 0, "nothing reserved");
    repeats_across_two_files(&mut seen, 3_000);
    // The rows expected fit without growing.
    let mut seen = Seen::default();
    seen.expect(50_000);
    let reserved = seen.memory.bytes();
    for i in 0..50_000u64 {
        let (user_id, email) = (format!("u{i}"), format!("e{i}@x.io"));
        let checked = check(
            &mut seen,
            &origin("a.csv", i + 2),
            row(Some(&user_id), Some(&email)),
        );
        assert!(checked.is_ok());
    }
    assert_eq!(seen.memory.bytes(), reserved, "the tables grew");
}

#[test]
fn an_expectation_past_the_budget_reserves_within_it() {
    let mut seen = seen_in(TINY, None, FILTER_LOG2_BITS);
    seen.expect(usize::MAX / 64);
    let reserved = seen.memory.bytes();
    // Three quarters of the budget, and each shard's rounding up to a whole slot.
    let rounding = 64 * (std::mem::size_of::<table::Place>() + std::mem::size_of::<u64>());
    assert!(
        reserved <= TINY * 3 / 4 + rounding,
        "{reserved} bytes of {TINY}"
    );
    repeats_across_two_files(&mut seen, 1_000);
    assert_spilled(&seen, 1);
}

#[test]
fn the_scratch_database_goes_with_the_detector() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seen = seen_in(TINY, Some(dir.path().into()), FILTER_LOG2_BITS);
    repeats_across_two_files(&mut seen, 600);
    assert_spilled(&seen, 1);
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 1);
    drop(seen);
    assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
}

#[test]
fn without_a_scratch_database_memory_keeps_everything() {
    let nowhere = PathBuf::from("/nonexistent/helpcrunch-import/scratch");
    let mut seen = seen_in(TINY, Some(nowhere), FILTER_LOG2_BITS);
    repeats_across_two_files(&mut seen, 3_000);
    assert_eq!(seen.scratch.spills(), 0);
    let bytes = seen.memory.bytes();
    assert!(
        bytes > TINY * 10,
        "only {bytes} bytes: the tables did not grow"
    );
}

/// Checks `user_id{line}` of `a.csv` again for each line, expecting its first place.
fn expect_repeats(seen: &mut Seen, lines: impl Iterator<Item = u64>) {
    for first in lines {
        let user_id = format!("u{first}");
        assert_eq!(
            messages(check(seen, &origin("b.csv", 1), row(Some(&user_id), None))),
            [format!(
                "userId {user_id:?} is a duplicate of a.csv:{first}"
            )]
        );
    }
}

/// Adds `user_id{line}` at `a.csv:{line}`, a new one, and moves to the next line.
fn add_user(seen: &mut Seen, line: &mut u64) {
    assert!(*line < 100_000, "no spill or no failure");
    let user_id = format!("u{line}");
    assert!(check(seen, &origin("a.csv", *line), row(Some(&user_id), None)).is_ok());
    *line += 1;
}

#[test]
fn a_spill_that_fails_midway_loses_nothing() {
    // Large enough that a spill writes more pages than the page cache below holds.
    let mut seen = seen_in(64 << 10, None, FILTER_LOG2_BITS);
    let mut line = 2;
    while seen.scratch.spills() < 2 {
        add_user(&mut seen, &mut line);
    }
    // As a full disk would: the next spill runs out of room midway, after the page
    // cache (10 pages) has written some of its pages to the file.
    let db = seen.scratch.db().expect("spilled");
    let pages: u32 = db
        .query_row("PRAGMA page_count", [], |row| row.get(0))
        .expect("page_count");
    db.pragma_update(None, "cache_size", 10)
        .expect("cache_size");
    db.pragma_update(None, "max_page_count", pages + 8)
        .expect("max_page_count");
    while seen.memory.limit() != usize::MAX {
        add_user(&mut seen, &mut line);
    }
    assert_eq!(seen.scratch.spills(), 2, "the third spill failed");
    let failed_at = line;
    // At once: the tables were put back in order, the earlier spills are intact.
    expect_repeats(&mut seen, 2..failed_at);
    for _ in 0..2_000 {
        add_user(&mut seen, &mut line);
    }
    expect_repeats(&mut seen, (2..line).step_by(3));
}

#[test]
fn slots_stay_compact() {
    assert_eq!(std::mem::size_of::<Place>(), 14);
    let mut seen = Seen::default();
    for i in 0..200_000u64 {
        let user_id = format!("user-{i}");
        assert!(
            check(
                &mut seen,
                &origin("big.csv", i + 2),
                row(Some(&user_id), None)
            )
            .is_ok()
        );
    }
    let bytes = seen.memory.user_ids.bytes();
    assert!(
        bytes < 200_000 * 14 * 2,
        "{bytes} bytes for 200,000 userIds"
    );
    assert_eq!(seen.memory.emails.bytes(), 0, "no emails yet");
    assert_eq!(seen.scratch.spills(), 0, "200,000 rows stay in memory");
    assert_eq!(
        messages(check(
            &mut seen,
            &origin("big.csv", 1),
            row(Some("user-199999"), None)
        )),
        [r#"userId "user-199999" is a duplicate of big.csv:200001"#]
    );
}

/// A row for the model: its file (0 or 1), userId and email (from small sets, so that
/// they repeat; the email's case varies), and whether mapping failed.
type ModelRow = (usize, Option<u8>, Option<(u8, bool)>, bool);

/// What [`Seen`] must answer, with plain maps of the keys themselves.
#[derive(Default)]
struct Model {
    first_places: HashMap<String, String>,
    emails: HashSet<String>,
    repeated_emails: u64,
}

impl Model {
    fn check(
        &mut self,
        origin: &Origin,
        user_id: Option<&str>,
        email: Option<&str>,
    ) -> Vec<String> {
        if let Some(user_id) = user_id {
            if let Some(first) = self.first_places.get(user_id) {
                return vec![format!("userId {user_id:?} is a duplicate of {first}")];
            }
            self.first_places.insert(user_id.into(), origin.to_string());
        }
        if let Some(email) = email
            && !self.emails.insert(email.to_lowercase())
        {
            self.repeated_emails += 1;
        }
        Vec::new()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn spilling_answers_as_a_map_would(
        rows in proptest::collection::vec(
            (0..2usize, proptest::option::of(0..80u8), proptest::option::of((0..50u8, any::<bool>())), proptest::bool::weighted(0.1)),
            0..400,
        ),
        filter in prop_oneof![Just(6u32), Just(FILTER_LOG2_BITS)],
    ) {
        let rows: Vec<ModelRow> = rows;
        let mut seen = seen_in(1 << 10, None, filter);
        let mut model = Model::default();
        for (line, (file, user_id, email, failed)) in rows.into_iter().enumerate() {
            let origin = origin(["a.csv", "b.ndjson"][file], line as u64 + 2);
            let user_id = user_id.map(|u| format!("user-{u}"));
            let email = email.map(|(e, upper)| {
                let email = format!("e{e}@x.io");
                if upper { email.to_uppercase() } else { email }
            });
            let (got, expected) = if failed {
                (check(&mut seen, &origin, Err(vec![RowError::new("userId", "bad")])), vec!["bad".to_string()])
            } else {
                let mapped = row(user_id.as_deref(), email.as_deref());
                (check(&mut seen, &origin, mapped), model.check(&origin, user_id.as_deref(), email.as_deref()))
            };
            prop_assert_eq!(got.is_ok(), expected.is_empty());
            prop_assert_eq!(messages(got), expected);
        }
        prop_assert_eq!(seen.repeated_emails(), model.repeated_emails);
    }

    #[test]
    fn the_open_table_is_a_set(hashes in proptest::collection::vec(1u64..400, 0..300)) {
        let mut tables = Tables::with_budget(usize::MAX);
        let mut known = HashSet::new();
        for hash in hashes {
            // Spread the small values over the shard and slot bits.
            let spread = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let found = matches!(tables.get_or_insert(spread, |_| None), Outcome::Earlier(_));
            prop_assert_eq!(found, !known.insert(spread));
        }
    }
}

/// Figures, not a test: the cost of `check` a row, every key new, before any spill
/// (no budget, as a file under the default budget). In release:
/// `cargo test --release --lib dedupe -- --ignored --nocapture --test-threads 1`.
#[test]
#[ignore = "timing: run by hand in release"]
fn time_check_in_memory() {
    time(2_000_000, 1, usize::MAX, true, 5);
    time(200_000, 10, DEFAULT_BUDGET, true, 5);
}

/// As [`time_check_in_memory`], with spills.
#[test]
#[ignore = "timing: run by hand in release"]
fn time_check_spilling() {
    time(2_000_000, 1, DEFAULT_BUDGET, true, 3);
    time(3_000_000, 1, DEFAULT_BUDGET, false, 3);
    time(3_000_000, 1, 4 << 20, false, 3);
}

/// The best of `rounds` rounds, each feeding `files` new detectors of `budget` bytes
/// `rows` rows (a userId each, and an email if `emails`). Rows are built outside the
/// timed part, in chunks.
fn time(rows: u64, files: u64, budget: usize, emails: bool, rounds: u32) {
    const CHUNK: u64 = 100_000;
    let file: Arc<str> = "big.csv".into();
    let mut best = std::time::Duration::MAX;
    let mut spills = 0;
    for _ in 0..rounds {
        let mut spent = std::time::Duration::ZERO;
        for _ in 0..files {
            let mut seen = Seen::with_budget(budget);
            for start in (0..rows).step_by(CHUNK as usize) {
                let lines = start..(start + CHUNK).min(rows);
                let origins: Vec<Origin> = lines
                    .clone()
                    .map(|i| Origin {
                        file: file.clone(),
                        line: i + 2,
                    })
                    .collect();
                let payloads: Vec<CreateCustomer> = lines
                    .map(|i| CreateCustomer {
                        user_id: Some(format!("user-{i}")),
                        email: emails.then(|| format!("user{i}@example.com")),
                        ..CreateCustomer::default()
                    })
                    .collect();
                let mut out = Vec::with_capacity(payloads.len());
                let begin = std::time::Instant::now();
                for (origin, payload) in origins.iter().zip(payloads) {
                    out.push(check(&mut seen, origin, Ok(payload)));
                }
                spent += begin.elapsed();
                assert!(out.iter().all(Result::is_ok));
            }
            spills = seen.scratch.spills();
        }
        best = best.min(spent);
    }
    let per_row = best.as_nanos() as f64 / (rows * files) as f64;
    let keys = if emails { "userId and email" } else { "userId" };
    println!(
        "{files} x {rows} rows ({keys}), budget {budget}: {per_row:.1} ns a row, best of {rounds} ({spills} spills)"
    );
}
