//! End-to-end: `undo` takes back a run, as its ledger recorded it, against the sandbox
//! over loopback; and a nightly sync handles contacts that left the export.

mod common;

use std::time::Duration;

use common::{Dir, KEY, Run, import_to, rows_renamed, run, sandbox, sandbox_at, spawn, strs};
use helpcrunch_import::sandbox::{Sandbox, SandboxConfig};
use serde_json::{Map, Value, json};

/// `n` contacts `other1..othern`, created elsewhere (the widget, an agent).
fn elsewhere(n: usize) -> Vec<Map<String, Value>> {
    (1..=n)
        .map(|i| {
            let contact =
                json!({"userId": format!("other{i}"), "email": format!("other{i}@example.com")});
            contact.as_object().cloned().unwrap_or_default()
        })
        .collect()
}

/// `import FILE` into `out` at 500 requests a second, plus `extra`.
async fn send(sandbox: &Sandbox, file: &str, out: &str, extra: &[&str]) -> Run {
    let mut args = vec!["--rate", "500/s"];
    args.extend_from_slice(extra);
    import_to(sandbox, file, out, &args).await
}

async fn import(sandbox: &Sandbox, dir: &Dir, file: &str, extra: &[&str]) -> Run {
    send(sandbox, file, &dir.out().to_string_lossy(), extra).await
}

async fn undo(dir: &Dir, extra: &[&str]) -> Run {
    let out = dir.out().to_string_lossy().into_owned();
    let mut args = vec!["undo", "--out", &out, "--rate", "500/s"];
    args.extend_from_slice(extra);
    run(&args, Some(KEY)).await
}

fn user_ids(sandbox: &Sandbox) -> Vec<String> {
    common::user_ids(sandbox)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undo_deletes_what_the_run_created_and_nothing_else() {
    let sandbox = sandbox(SandboxConfig {
        seed_contacts: elsewhere(100),
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let file = dir.write("rows.csv", rows_renamed(300, |_| false));
    let imported = import(&sandbox, &dir, &file, &[]).await;
    assert_eq!(imported.code, 0, "{}", imported.all_output());
    assert_eq!(sandbox.customers().len(), 400);
    let before = sandbox.stats().requests;

    // Without --yes: only the plan, nothing sent.
    let planned = undo(&dir, &[]).await;
    assert_eq!(planned.code, 0, "{}", planned.all_output());
    assert!(
        planned.stdout.contains("300 to delete"),
        "{}",
        planned.stdout
    );
    assert!(
        planned.stdout.contains("300 requests"),
        "{}",
        planned.stdout
    );
    assert_eq!(sandbox.stats().requests, before, "a plan sends nothing");
    assert_eq!(dir.csv_rows("undo-plan.csv").len(), 300);

    let undone = undo(&dir, &["--yes"]).await;
    assert_eq!(undone.code, 0, "{}", undone.all_output());
    let spent = sandbox.stats().requests - before;
    assert!(spent <= 305, "{spent} requests");
    assert_eq!(sandbox.stats().by_endpoint["DELETE /customers/{id}"], 300);
    let left = user_ids(&sandbox);
    assert_eq!(left.len(), 100, "the 100 from elsewhere are untouched");
    assert!(left.iter().all(|id| id.starts_with("other")));
    let results = dir.csv_rows("undone.csv");
    assert_eq!(results.len(), 300);
    assert!(results.iter().all(|r| r["result"] == "deleted"));

    // A second undo finds nothing left to do, and sends nothing.
    let again = undo(&dir, &["--yes"]).await;
    assert_eq!(again.code, 0, "{}", again.all_output());
    assert_eq!(sandbox.stats().requests - before, spent);
    assert!(
        again.stdout.contains("300 taken back already"),
        "{}",
        again.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undo_killed_midway_goes_on_and_deletes_every_contact_once() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write("rows.csv", rows_renamed(60, |_| false));
    let imported = import(&sandbox, &dir, &file, &[]).await;
    assert_eq!(imported.code, 0, "{}", imported.all_output());
    let out = dir.out().to_string_lossy().into_owned();
    // 20 a second: killed after about a second.
    let mut child = spawn(&["undo", "--out", &out, "--rate", "20/s", "--yes"]);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    child.start_kill().expect("kill");
    let _ = child.wait().await;
    let deleted_first = sandbox.stats().deleted;
    assert!(
        (1..60).contains(&deleted_first),
        "killed midway: {deleted_first} deleted"
    );
    let resumed = undo(&dir, &["--yes"]).await;
    assert_eq!(resumed.code, 0, "{}", resumed.all_output());
    assert!(sandbox.customers().is_empty(), "every contact deleted");
    let stats = sandbox.stats();
    assert_eq!(stats.deleted, 60, "each deleted once: {stats:?}");
    // A contact whose DELETE went through just before the kill, unrecorded, is gone: a
    // 404, counted as such, never a failure.
    let summary: Value =
        serde_json::from_str(&dir.read_out("undo-summary.json")).expect("undo-summary.json");
    assert_eq!(summary["failed"], 0, "{summary}");
    let handled = ["deleted", "gone", "already_done"]
        .map(|k| summary[k].as_u64().unwrap_or(0))
        .iter()
        .sum::<u64>();
    assert_eq!(handled, 60, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undo_puts_back_the_values_an_indexed_upsert_changed() {
    // 100 contacts HelpCrunch holds; the sync renames 50 and tags them.
    let held: Vec<Map<String, Value>> = (1..=100)
        .map(|i| {
            let contact = json!({
                "userId": format!("u{i}"), "email": format!("user{i}@example.com"),
                "name": format!("User {i}"), "phone": format!("+1 555 {i:04}"),
                "tags": [{"name": "agent"}]
            });
            contact.as_object().cloned().unwrap_or_default()
        })
        .collect();
    let sandbox = sandbox(SandboxConfig {
        seed_contacts: held,
        ..SandboxConfig::default()
    })
    .await;
    let original = sandbox.customers();
    let dir = Dir::new();
    let mut text = String::from("userId,email,name,phone,tags\n");
    for i in 1..=100 {
        if i % 2 == 0 {
            text.push_str(&format!("u{i},user{i}@example.com,Renamed {i},,crm\n"));
        } else {
            text.push_str(&format!(
                "u{i},user{i}@example.com,User {i},+1 555 {i:04},agent\n"
            ));
        }
    }
    let file = dir.write("rows.csv", text);
    let state = dir.path().join("state.db").to_string_lossy().into_owned();
    let synced = import(
        &sandbox,
        &dir,
        &file,
        &["--mode", "upsert", "--state", &state],
    )
    .await;
    assert_eq!(synced.code, 0, "{}", synced.all_output());
    let summary = dir.summary();
    assert_eq!(summary["updated"], 50, "{summary}");
    assert_eq!(summary["unchanged"], 50, "{summary}");

    let undone = undo(&dir, &["--yes"]).await;
    assert_eq!(undone.code, 0, "{}", undone.all_output());
    assert!(undone.stdout.contains("restored 50"), "{}", undone.stdout);
    let now = sandbox.customers();
    for (then, now) in original.iter().zip(&now) {
        assert_eq!(then["id"], now["id"]);
        assert_eq!(then["name"], now["name"], "{now}");
        assert_eq!(then["phone"], now["phone"], "{now}");
        assert_eq!(
            then["tags"], now["tags"],
            "the tag the run added is off: {now}"
        );
    }

    // The same sync again: the state knows the undo put the old values back, so the 50
    // are updated again, not taken as unchanged.
    let out = dir.path().join("again").to_string_lossy().into_owned();
    let again = send(
        &sandbox,
        &file,
        &out,
        &["--mode", "upsert", "--state", &state],
    )
    .await;
    assert_eq!(again.code, 0, "{}", again.all_output());
    let summary = dir.summary_of("again");
    assert_eq!(summary["updated"], 50, "{summary}");
    assert_eq!(summary["unchanged"], 50, "{summary}");
    // The index holds the values the undo put back: that sync can be undone as well.
    let planned = run(&["undo", "--out", &out], Some(KEY)).await;
    assert_eq!(planned.code, 0, "{}", planned.all_output());
    assert!(
        planned.stdout.contains("50 to restore, 0 not restorable"),
        "{}",
        planned.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_after_an_undo_creates_again_what_the_undo_deleted() {
    let (sandbox, dir, state) = day_one(100).await;
    let out = dir.path().join("day1").to_string_lossy().into_owned();
    let undone = run(
        &["undo", "--out", &out, "--rate", "500/s", "--yes"],
        Some(KEY),
    )
    .await;
    assert_eq!(undone.code, 0, "{}", undone.all_output());
    assert_eq!(
        sandbox.customers().len(),
        20,
        "only the contacts from elsewhere"
    );
    // The corrected export, synced with the same state: every contact created again.
    let again = tonight(&sandbox, &dir, &state, |i| i <= 100, &[]).await;
    assert_eq!(again.code, 0, "{}", again.all_output());
    let summary = dir.summary();
    assert_eq!(summary["created"], 100, "{summary}");
    assert_eq!(summary["unchanged"], 0, "{summary}");
    assert_eq!(sandbox.customers().len(), 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undo_refuses_another_api_than_the_runs_unless_forced() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write("rows.csv", rows_renamed(3, |_| false));
    let imported = import(&sandbox, &dir, &file, &[]).await;
    assert_eq!(imported.code, 0, "{}", imported.all_output());
    let refused = undo(&dir, &["--yes", "--base-url", "http://127.0.0.1:9/v1"]).await;
    assert_eq!(refused.code, 2, "{}", refused.all_output());
    assert!(
        refused.all_output().contains("--force"),
        "{}",
        refused.all_output()
    );
    assert_eq!(sandbox.customers().len(), 3, "nothing deleted");
}

/// Day one of a nightly sync: `n` rows synced into a fresh state, beside contacts
/// created elsewhere.
async fn day_one(n: usize) -> (Sandbox, Dir, String) {
    let sandbox = sandbox(SandboxConfig {
        seed_contacts: elsewhere(20),
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let state = dir.path().join("state.db").to_string_lossy().into_owned();
    let file = dir.write("day1.csv", rows_renamed(n, |_| false));
    let out = dir.path().join("day1").to_string_lossy().into_owned();
    let first = send(
        &sandbox,
        &file,
        &out,
        &["--mode", "upsert", "--state", &state],
    )
    .await;
    assert_eq!(first.code, 0, "{}", first.all_output());
    (sandbox, dir, state)
}

/// An export: `first` (a line of its own, if any), then the rows `u1..u1000` of `kept`.
fn export(first: &str, kept: impl Fn(usize) -> bool) -> String {
    let mut text = String::from("userId,email,name\n");
    if !first.is_empty() {
        text.push_str(first);
        text.push('\n');
    }
    for i in (1..=1000).filter(|&i| kept(i)) {
        text.push_str(&format!("u{i},user{i}@example.com,User {i}\n"));
    }
    text
}

/// Tonight's export: the rows of `kept` (by number), synced with `extra` flags.
async fn tonight(
    sandbox: &Sandbox,
    dir: &Dir,
    state: &str,
    kept: impl Fn(usize) -> bool,
    extra: &[&str],
) -> Run {
    let file = dir.write("tonight.csv", export("", kept));
    let mut args = vec!["--mode", "upsert", "--state", state];
    args.extend_from_slice(extra);
    import(sandbox, dir, &file, &args).await
}

/// The userIds, sorted, of the rows `u1..u1000` that `left` picks.
fn user_ids_of(left: impl Fn(usize) -> bool) -> Vec<String> {
    let mut ids: Vec<String> = (1..=1000)
        .filter(|&i| left(i))
        .map(|i| format!("u{i}"))
        .collect();
    ids.sort();
    ids
}

fn tagged(sandbox: &Sandbox, tag: &str) -> Vec<String> {
    let mut ids: Vec<String> = sandbox
        .customers()
        .iter()
        .filter(|c| {
            c["tags"]
                .as_array()
                .is_some_and(|tags| tags.iter().any(|t| t["name"] == tag))
        })
        .filter_map(|c| c["userId"].as_str().map(String::from))
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_that_left_the_export_get_the_tag_and_nothing_else_changes() {
    let (sandbox, dir, state) = day_one(1000).await;
    let before: Vec<Value> = sandbox.customers();
    // 50 left the CRM: every 20th row.
    let left = |i: usize| i.is_multiple_of(20);
    let run = tonight(
        &sandbox,
        &dir,
        &state,
        |i| !left(i),
        &["--missing", "tag:left-crm"],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.all_output());
    let expected = user_ids_of(left);
    assert_eq!(tagged(&sandbox, "left-crm"), expected);
    assert_eq!(sandbox.stats().by_endpoint["PUT /customers/{id}/tags"], 50);
    // Nothing else changed: the contacts from elsewhere, and the others' fields.
    let after = sandbox.customers();
    assert_eq!(after.len(), before.len(), "none deleted, none created");
    for (then, now) in before.iter().zip(&after) {
        // The tagged ones differ in their tags alone.
        let mut now = now.clone();
        if let Some(tags) = now.get_mut("tags") {
            *tags = then["tags"].clone();
        }
        assert_eq!(then, &now);
    }
    let summary = dir.summary();
    assert_eq!(summary["missing"]["contacts"], 50, "{summary}");
    assert_eq!(summary["missing"]["tagged"], 50, "{summary}");
    assert_eq!(summary["missing"]["requests"], 50, "{summary}");
    assert_eq!(dir.csv_rows("missing.csv").len(), 50);

    // The next night, the same export: the 50 were tagged once, and are not missing again.
    let requests = sandbox.stats().requests;
    let again = tonight(
        &sandbox,
        &dir,
        &state,
        |i| !left(i),
        &["--missing", "tag:left-crm", "--overwrite"],
    )
    .await;
    assert_eq!(again.code, 0, "{}", again.all_output());
    assert_eq!(dir.summary()["missing"]["contacts"], 0);
    assert_eq!(sandbox.stats().requests, requests, "nothing sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_export_deletes_nothing_and_exits_1() {
    let (sandbox, dir, state) = day_one(1000).await;
    // 40 % of the rows are gone: a truncated export, not 400 customers leaving.
    let run = tonight(
        &sandbox,
        &dir,
        &state,
        |i| i <= 600,
        &["--missing", "delete"],
    )
    .await;
    assert_eq!(run.code, 1, "{}", run.all_output());
    assert!(
        run.all_output().contains("--max-missing"),
        "{}",
        run.all_output()
    );
    assert_eq!(sandbox.stats().deleted, 0);
    assert_eq!(sandbox.customers().len(), 1020, "nothing deleted");
    let summary = dir.summary();
    assert_eq!(summary["missing"]["over_limit"], true, "{summary}");
    assert_eq!(summary["missing"]["contacts"], 400, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_contacts_are_deleted_when_asked_and_an_invalid_row_is_not_missing() {
    let (sandbox, dir, state) = day_one(100).await;
    // Rows 1-3 left; row 4 is still there, invalid tonight (its email broken).
    let text = export("u4,not-an-email,User 4", |i| (5..=100).contains(&i));
    let file = dir.write("tonight.csv", text);
    let missing = ["--missing", "delete", "--max-failures", "1"];
    let flags = [&["--mode", "upsert", "--state", &state][..], &missing].concat();
    let run = import(&sandbox, &dir, &file, &flags).await;
    assert_eq!(run.code, 0, "{}", run.all_output());
    let ids = common::user_ids(&sandbox);
    for gone in ["u1", "u2", "u3"] {
        assert!(!ids.contains(&gone.to_string()), "{gone} deleted");
    }
    assert!(
        ids.contains(&"u4".to_string()),
        "its row is in the export, invalid"
    );
    assert_eq!(ids.iter().filter(|id| id.starts_with("other")).count(), 20);
    assert_eq!(sandbox.stats().deleted, 3);
    // Forgotten by the state: the next night does not miss them again.
    let again = tonight(
        &sandbox,
        &dir,
        &state,
        |i| (5..=100).contains(&i),
        &["--missing", "delete", "--overwrite"],
    )
    .await;
    assert_eq!(again.code, 0, "{}", again.all_output());
    assert_eq!(
        dir.summary()["missing"]["contacts"],
        1,
        "only u4, whose row is gone now"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undo_leaves_a_contact_found_only_after_a_lost_answer() {
    // A third of the creates are stored and their answers lost: the run finds those
    // contacts by lookup, and cannot tell them from ones there before it.
    let sandbox = sandbox(SandboxConfig {
        drop_rate: 0.3,
        seed: 7,
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let file = dir.write("rows.csv", rows_renamed(60, |_| false));
    let imported = import(&sandbox, &dir, &file, &[]).await;
    assert_eq!(imported.code, 0, "{}", imported.all_output());
    let dropped = sandbox.stats().dropped;
    assert!(dropped > 0, "the seed drops some answers");
    assert_eq!(sandbox.customers().len(), 60, "each created once");

    let undone = undo(&dir, &["--yes"]).await;
    assert_eq!(undone.code, 0, "{}", undone.all_output());
    let rows = dir.csv_rows("undone.csv");
    let not_deleted: Vec<_> = rows
        .iter()
        .filter(|r| r["action"] == "not_deleted")
        .collect();
    assert_eq!(not_deleted.len() as u64, dropped, "{}", undone.stdout);
    assert!(not_deleted.iter().all(|r| r["detail"].contains("lost")));
    assert_eq!(
        sandbox.customers().len() as u64,
        dropped,
        "only those found after a lost answer are left"
    );
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.out().join("undo-summary.json")).unwrap_or_default(),
    )
    .unwrap_or_default();
    assert_eq!(summary["not_deleted"], dropped, "{summary}");
    assert_eq!(summary["deleted"], 60 - dropped, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_whose_row_lost_its_user_id_is_not_missing() {
    let (sandbox, dir, state) = day_one(100).await;
    // Row 1 comes without its userId tonight: its email finds the same contact. Rows
    // 99 and 100 left.
    let text = export(",user1@example.com,User 1", |i| (2..=98).contains(&i));
    let file = dir.write("tonight.csv", text);
    let flags = ["--mode", "upsert", "--state", &state, "--missing", "delete"];
    let run = import(&sandbox, &dir, &file, &flags).await;
    assert_eq!(run.code, 0, "{}", run.all_output());
    let ids = common::user_ids(&sandbox);
    assert!(ids.contains(&"u1".to_string()), "still in the export");
    assert!(!ids.contains(&"u99".to_string()) && !ids.contains(&"u100".to_string()));
    assert_eq!(sandbox.stats().deleted, 2);
    assert_eq!(dir.summary()["missing"]["contacts"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_read_too_little_to_name_its_contact_stops_deletion_of_the_missing() {
    let (sandbox, dir, state) = day_one(100).await;
    // Rows 1-3 left; row 4 is a ragged line: it may be any of the three.
    let text = export("u4,user4@example.com,User 4,stray field", |i| {
        (5..=100).contains(&i)
    });
    let file = dir.write("tonight.csv", text);
    for policy in ["delete", "tag:left-crm"] {
        let flags = [
            "--mode",
            "upsert",
            "--state",
            &state,
            "--missing",
            policy,
            "--overwrite",
        ];
        let run = import(&sandbox, &dir, &file, &flags).await;
        assert_eq!(run.code, 1, "{}", run.all_output());
        assert!(
            run.all_output().contains("userId or email"),
            "{}",
            run.all_output()
        );
        let summary = dir.summary();
        assert_eq!(summary["missing"]["action"], "none", "{summary}");
        assert_eq!(summary["missing"]["unnamed_invalid"], 1, "{summary}");
    }
    assert_eq!(sandbox.stats().deleted, 0);
    assert!(tagged(&sandbox, "left-crm").is_empty());
    assert_eq!(sandbox.customers().len(), 120, "nothing deleted");
    // To report them harms nobody: exit as the run does.
    let flags = [
        "--mode",
        "upsert",
        "--state",
        &state,
        "--missing",
        "report",
        "--overwrite",
    ];
    let run = import(&sandbox, &dir, &file, &flags).await;
    assert_eq!(run.code, 1, "the ragged row failed: {}", run.all_output());
    assert_eq!(dir.summary()["missing"]["action"], "report");
    assert_eq!(dir.csv_rows("missing.csv").len(), 4, "rows 1-4");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_known_by_its_email_whose_row_gains_a_user_id_is_not_missing() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let state = dir.path().join("state.db").to_string_lossy().into_owned();
    let sync_with = |text: String, name: &str, extra: &'static [&'static str]| {
        let file = dir.write(name, text);
        let state = state.clone();
        let sandbox = &sandbox;
        let dir = &dir;
        async move {
            let mut args = vec!["--mode", "upsert", "--state", &state, "--overwrite"];
            args.extend_from_slice(extra);
            import(sandbox, dir, &file, &args).await
        }
    };
    // Night one: the CRM exports emails only.
    let mut text = String::from("email,name\n");
    for i in 1..=100 {
        text.push_str(&format!("user{i}@example.com,User {i}\n"));
    }
    let first = sync_with(text, "night1.csv", &[]).await;
    assert_eq!(first.code, 0, "{}", first.all_output());
    // Night two: rows 1-10 gained a userId (HelpCrunch makes them new contacts), 99 and
    // 100 left.
    let mut text = String::from("userId,email,name\n");
    for i in 1..=98 {
        let user_id = if i <= 10 {
            format!("u{i}")
        } else {
            String::new()
        };
        text.push_str(&format!("{user_id},user{i}@example.com,User {i}\n"));
    }
    let second = sync_with(text, "night2.csv", &["--missing", "delete"]).await;
    assert_eq!(second.code, 0, "{}", second.all_output());
    assert_eq!(sandbox.stats().deleted, 2, "only the two that left");
    let emails = common::stored(&sandbox, "email");
    for i in 1..=10 {
        let email = format!("user{i}@example.com");
        assert_eq!(
            emails.iter().filter(|e| **e == email).count(),
            2,
            "{email}: the contact known by its email stays beside the new one"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_a_create_run_made_are_never_missing_from_a_sync() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let state = dir.path().join("state.db").to_string_lossy().into_owned();
    let file = dir.write("all.csv", rows_renamed(20, |_| false));
    let out = dir.path().join("create").to_string_lossy().into_owned();
    let created = send(
        &sandbox,
        &file,
        &out,
        &["--mode", "create", "--state", &state],
    )
    .await;
    assert_eq!(created.code, 0, "{}", created.all_output());
    // A sync over half of them, with the same state: the other ten were never its.
    let half = dir.write("half.csv", rows_renamed(10, |_| false));
    let synced = import(
        &sandbox,
        &dir,
        &half,
        &["--mode", "upsert", "--state", &state, "--missing", "delete"],
    )
    .await;
    assert_eq!(synced.code, 0, "{}", synced.all_output());
    assert_eq!(sandbox.stats().deleted, 0);
    assert_eq!(sandbox.customers().len(), 20);
    assert_eq!(dir.summary()["missing"]["contacts"], 0);
    assert_eq!(
        dir.summary()["missing"]["known"],
        10,
        "the ten this sync met"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_contact_deleted_in_helpcrunch_since_is_gone_not_failed_when_tagging() {
    let (sandbox, dir, state) = day_one(100).await;
    // An agent deleted u100 in HelpCrunch; the CRM dropped it too.
    let id = sandbox
        .customers()
        .iter()
        .find(|c| c["userId"] == "u100")
        .and_then(|c| c["id"].as_i64())
        .expect("u100");
    let deleted = reqwest::Client::new()
        .delete(format!("{}/customers/{id}", sandbox.base_url()))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("delete");
    assert!(deleted.status().is_success());
    for night in 0..2 {
        let run = tonight(
            &sandbox,
            &dir,
            &state,
            |i| i < 100,
            &["--missing", "tag:left-crm", "--overwrite"],
        )
        .await;
        assert_eq!(run.code, 0, "night {night}: {}", run.all_output());
        let missing = &dir.summary()["missing"];
        // Found gone the first night, and forgotten: not missing the next.
        assert_eq!(missing["gone"], u64::from(night == 0), "{missing}");
        assert_eq!(missing["failed"], 0, "{missing}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undo_of_a_directory_without_a_run_says_so_in_undos_words() {
    let dir = Dir::new();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    let empty = empty.to_string_lossy().into_owned();
    let undone = run(&["undo", "--out", &empty], Some(KEY)).await;
    assert_eq!(undone.code, 2, "{}", undone.all_output());
    assert!(
        undone.all_output().contains("no run to take back"),
        "{}",
        undone.all_output()
    );
    assert!(
        !undone.all_output().contains("--resume"),
        "{}",
        undone.all_output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_that_is_a_runs_ledger_is_refused() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write("rows.csv", rows_renamed(5, |_| false));
    let first = import(&sandbox, &dir, &file, &[]).await;
    assert_eq!(first.code, 0, "{}", first.all_output());
    // The first run's ledger given as the state of a second run.
    let ledger = dir
        .out()
        .join("ledger.sqlite")
        .to_string_lossy()
        .into_owned();
    let out = dir.path().join("second").to_string_lossy().into_owned();
    let second = send(
        &sandbox,
        &file,
        &out,
        &["--mode", "upsert", "--state", &ledger],
    )
    .await;
    assert_eq!(second.code, 2, "{}", second.all_output());
    assert!(
        second.all_output().contains("is a run's ledger"),
        "{}",
        second.all_output()
    );
    // The first run can still be taken back.
    let undone = undo(&dir, &["--yes"]).await;
    assert_eq!(undone.code, 0, "{}", undone.all_output());
    assert!(sandbox.customers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undo_that_cannot_reach_the_api_stops_rather_than_retry_each_contact() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let address = sandbox.addr();
    let dir = Dir::new();
    let file = dir.write("rows.csv", rows_renamed(20, |_| false));
    let imported = import(&sandbox, &dir, &file, &[]).await;
    assert_eq!(imported.code, 0, "{}", imported.all_output());
    sandbox.shutdown().await;

    // Every contact's delete would spend its retries (a minute or so each) in turn.
    let started = std::time::Instant::now();
    let stopped = undo(&dir, &["--yes"]).await;
    let output = stopped.all_output();
    assert_eq!(stopped.code, 2, "{output}");
    assert!(output.contains("no answer from the API at"), "{output}");
    assert!(started.elapsed() < Duration::from_secs(20), "{output}");

    // Back where it was (holding none of them now): running undo again goes on.
    let back = sandbox_at(SandboxConfig::default(), address).await;
    let undone = undo(&dir, &["--yes"]).await;
    assert_eq!(undone.code, 0, "{}", undone.all_output());
    assert_eq!(
        back.stats().requests,
        20,
        "one delete each, answered 404 (gone)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_after_meeting_its_rows_and_resumed_finds_only_the_contacts_that_left() {
    let (sandbox, dir, state) = day_one(1000).await;
    let left = |i: usize| i.is_multiple_of(20);
    // Rows 1 and 2 changed, the rest as yesterday. At one request a minute, row 2's PATCH
    // waits a minute for its turn while the unchanged rows are met: the kill then finds
    // their meetings not yet written (they are batched), and the ledger holds most of
    // them finished.
    let file = dir.write(
        "tonight.csv",
        export("", |i| !left(i))
            .replacen(
                "u1,user1@example.com,User 1\n",
                "u1,user1@example.com,Renamed 1\n",
                1,
            )
            .replacen(
                "u2,user2@example.com,User 2\n",
                "u2,user2@example.com,Renamed 2\n",
                1,
            ),
    );
    let args = |rate: &str, extra: &[&str]| {
        let mut flags = vec!["--mode", "upsert", "--state", &state];
        flags.extend_from_slice(&["--missing", "tag:left-crm", "--rate", rate]);
        flags.extend_from_slice(extra);
        common::import_args(&sandbox, &dir, &file, &flags)
    };
    let before = sandbox.stats().requests;
    let child = spawn(&strs(&args("1/min", &[])));
    let waited = std::time::Instant::now();
    while sandbox.stats().requests == before {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "row 1 was never sent"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut child = child;
    child.start_kill().expect("SIGKILL");
    let killed = common::finish(child).await;
    assert_ne!(killed.code, 0, "killed while row 2 waited its turn");
    assert_eq!(sandbox.stats().requests, before + 1, "row 2 was not sent");
    assert!(tagged(&sandbox, "left-crm").is_empty());

    let resumed = run(&strs(&args("100/s", &["--resume"])), Some(KEY)).await;
    assert_eq!(resumed.code, 0, "{}", resumed.all_output());
    let expected = user_ids_of(left);
    assert_eq!(
        tagged(&sandbox, "left-crm"),
        expected,
        "the 50 that left, and only they"
    );
    assert_eq!(dir.summary()["missing"]["contacts"], 50);
    let names = common::stored(&sandbox, "name");
    assert!(names.contains(&"Renamed 1".to_string()) && names.contains(&"Renamed 2".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_stopped_while_tagging_lists_every_contact_that_left_when_resumed() {
    let (sandbox, dir, state) = day_one(1000).await;
    let left = |i: usize| i.is_multiple_of(20);
    let file = dir.write("tonight.csv", export("", |i| !left(i)));
    let args = |rate: &str, extra: &[&str]| {
        let mut flags = vec!["--mode", "upsert", "--state", &state];
        flags.extend_from_slice(&["--missing", "tag:left-crm", "--rate", rate]);
        flags.extend_from_slice(extra);
        common::import_args(&sandbox, &dir, &file, &flags)
    };
    let tag_requests = || sandbox.stats().by_endpoint["PUT /customers/{id}/tags"];
    let child = spawn(&strs(&args("10/s", &[])));
    let waited = std::time::Instant::now();
    while tag_requests() < 10 {
        assert!(
            waited.elapsed() < Duration::from_secs(30),
            "tagging never began"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    common::signal(&child, "INT");
    let stopped = common::finish(child).await;
    assert_eq!(stopped.code, 130, "{}", stopped.all_output());
    let first = tag_requests();
    assert!(first < 50, "stopped partway: {first} tagged");

    let resumed = run(&strs(&args("100/s", &["--resume"])), Some(KEY)).await;
    assert_eq!(resumed.code, 0, "{}", resumed.all_output());
    let expected = user_ids_of(left);
    assert_eq!(tagged(&sandbox, "left-crm"), expected);
    // Every one that left is in the resumed run's report, tagged (those tagged before the
    // stop once more: adding a tag twice adds it once).
    let listed = dir.csv_rows("missing.csv");
    assert_eq!(listed.len(), 50);
    assert!(
        listed.iter().all(|row| row["result"] == "tagged"),
        "{listed:?}"
    );
    assert_eq!(dir.summary()["missing"]["tagged"], 50);
    // And the next night they are not missing again.
    let again = run(&strs(&args("100/s", &["--overwrite"])), Some(KEY)).await;
    assert_eq!(again.code, 0, "{}", again.all_output());
    assert_eq!(dir.summary()["missing"]["contacts"], 0);
}
