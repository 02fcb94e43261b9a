//! End-to-end: `--mode upsert|update` with a `--state` kept across runs, the real binary
//! against the sandbox over loopback. Request counts come from the sandbox's own stats.

mod common;

use common::{
    Dir, KEY, READ_BACK_CREATE, READ_BACK_UPDATE, Run, expected_ids, rows_renamed, run, sandbox,
    signal, spawn, stored, user_ids,
};
use helpcrunch_import::sandbox::{Sandbox, SandboxConfig};

/// `import FILE --mode MODE --out DIR/OUT [--state DIR/state.db]` plus `extra`.
async fn sync(
    sandbox: &Sandbox,
    dir: &Dir,
    file: &str,
    out: &str,
    mode: &str,
    extra: &[&str],
) -> Run {
    let args = sync_args(sandbox, dir, file, out, mode, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args, Some(KEY)).await
}

fn sync_args(
    sandbox: &Sandbox,
    dir: &Dir,
    file: &str,
    out: &str,
    mode: &str,
    extra: &[&str],
) -> Vec<String> {
    let state = dir.path().join("state.db");
    let out = dir.path().join(out);
    let mut args: Vec<String> = vec![
        "import".into(),
        file.into(),
        "--base-url".into(),
        sandbox.base_url(),
        "--mode".into(),
        mode.into(),
        "--out".into(),
        out.to_string_lossy().into_owned(),
    ];
    if mode != "create" {
        args.extend(["--state".into(), state.to_string_lossy().into_owned()]);
    }
    if !extra.contains(&"--rate") {
        args.extend(["--rate".into(), "200/s".into()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// `(created, updated, unchanged, exists, failed)` of a run's summary.json.
fn counts(dir: &Dir, out: &str) -> [u64; 5] {
    let tally = dir.summary_of(out);
    ["created", "updated", "unchanged", "exists", "failed"]
        .map(|k| tally[k].as_u64().unwrap_or(u64::MAX))
}

/// Day one: `n` new rows synced into an empty state.
async fn import_day_one(sandbox: &Sandbox, dir: &Dir, n: usize) {
    let file = dir.write("day1.csv", rows_renamed(n, |_| false));
    let run = sync(sandbox, dir, &file, "day1", "upsert", &[]).await;
    assert_eq!(run.code, 0, "{}", run.all_output());
}

/// The same `file` of `n` rows again: every contact is recorded with what it holds, so
/// nothing is sent.
async fn assert_rerun_sends_nothing(sandbox: &Sandbox, dir: &Dir, file: &str, n: u64) {
    let before = sandbox.stats().requests;
    let again = sync(sandbox, dir, file, "again", "upsert", &[]).await;
    assert_eq!(again.code, 0, "{}", again.all_output());
    assert_eq!(counts(dir, "again"), [0, 0, n, 0, 0]);
    assert_eq!(sandbox.stats().requests, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_file_twice_sends_nothing_the_second_time() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write("rows.csv", rows_renamed(100, |_| false));

    // No account index: the state then holds keys, ids and hashes only.
    let first = sync(
        &sandbox,
        &dir,
        &file,
        "first",
        "upsert",
        &["-vv", "--log-format", "json", "--index", "never"],
    )
    .await;
    assert_eq!(first.code, 0, "{}", first.all_output());
    assert_eq!(counts(&dir, "first"), [100, 0, 0, 0, 0]);
    assert!(!first.all_output().contains(KEY), "the key is never logged");
    assert!(!first.stderr.is_empty(), "-vv logs");
    assert!(
        first
            .stderr
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    let after_first = sandbox.stats().requests;
    assert_eq!(
        after_first,
        100 + READ_BACK_CREATE,
        "a first import: one POST per row, and the first contact read back"
    );

    let second = sync(&sandbox, &dir, &file, "second", "upsert", &[]).await;
    assert_eq!(second.code, 0, "{}", second.all_output());
    assert_eq!(counts(&dir, "second"), [0, 0, 100, 0, 0]);
    assert_eq!(
        sandbox.stats().requests - after_first,
        0,
        "an unchanged re-run sends nothing"
    );
    assert_eq!(user_ids(&sandbox), expected_ids(100));
    let state = std::fs::read(dir.path().join("state.db")).expect("the state is kept");
    assert!(
        !state.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
        "the key is never in the state"
    );
    assert!(
        !String::from_utf8_lossy(&state).contains("User 1"),
        "nor the rows' fields"
    );
    eprintln!(
        "figures: first import {} requests / 100 rows; unchanged re-run 0 / 100",
        after_first
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_and_new_rows_cost_one_request_each() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    import_day_one(&sandbox, &dir, 1000).await;
    let before = sandbox.stats().requests;

    // 50 of 1,000 rows changed (5 %), and 20 new ones.
    let changed = |i: usize| i.is_multiple_of(20);
    let second = sync(
        &sandbox,
        &dir,
        &dir.write("day2.csv", rows_renamed(1020, changed)),
        "day2",
        "upsert",
        &[],
    )
    .await;
    assert_eq!(second.code, 0, "{}", second.all_output());
    let requests = sandbox.stats().requests - before;
    assert_eq!(counts(&dir, "day2"), [20, 50, 950, 0, 0]);
    assert!(
        requests <= 70 + READ_BACK_CREATE + READ_BACK_UPDATE,
        "{requests} requests for 50 changed and 20 new rows"
    );
    eprintln!(
        "figures: re-run of 1,020 rows, 50 changed, 20 new: {requests} requests ({:.3} per row)",
        requests as f64 / 1020.0
    );

    assert_eq!(
        user_ids(&sandbox),
        expected_ids(1020),
        "no contact created twice"
    );
    let names = stored(&sandbox, "name");
    assert_eq!(
        names.iter().filter(|n| n.starts_with("Renamed")).count(),
        51
    );
    assert!(names.contains(&"Renamed 1000".to_string()));
    assert!(names.contains(&"User 1019".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_state_over_existing_contacts_updates_them_without_duplicates() {
    // With the account indexed (auto: one page, cheaper than the lookups), each row is
    // compared with its contact: one PATCH each. Without an index, each is looked up:
    // a userId row's create is refused as a duplicate, a search finds it, a PATCH updates
    // it; an email row is searched for, then patched. Either way, no contact twice.
    for (index, expected) in [("auto", 1 + 15), ("never", 10 * 3 + 5 * 2)] {
        let sandbox = sandbox(SandboxConfig::default()).await;
        let dir = Dir::new();
        // 10 contacts with a userId and 5 known by their email alone, created elsewhere.
        let mut old = rows_renamed(10, |_| false);
        for i in 1..=5 {
            old.push_str(&format!(",only{i}@example.com,Only {i}\n"));
        }
        let created = sync(
            &sandbox,
            &dir,
            &dir.write("old.csv", old),
            "elsewhere",
            "create",
            &[],
        )
        .await;
        assert_eq!(created.code, 0, "{}", created.all_output());
        assert!(
            !dir.path().join("state.db").exists(),
            "--mode create keeps no state unless given one"
        );

        let mut new = rows_renamed(10, |_| true);
        for i in 1..=5 {
            new.push_str(&format!(",only{i}@example.com,Renamed only {i}\n"));
        }
        let file = dir.write("new.csv", new);
        let before = sandbox.stats().requests;
        let upsert = sync(
            &sandbox,
            &dir,
            &file,
            "upsert",
            "upsert",
            &["--index", index],
        )
        .await;
        assert_eq!(upsert.code, 0, "{index}: {}", upsert.all_output());
        // The first update is read back, before and after.
        let requests = sandbox.stats().requests - before;
        assert_eq!(requests, expected + READ_BACK_UPDATE, "{index}");
        eprintln!(
            "figures: fresh state over 15 existing contacts, --index {index}: {requests} requests"
        );
        assert_eq!(counts(&dir, "upsert"), [0, 15, 0, 0, 0], "{index}");
        assert_eq!(
            user_ids(&sandbox),
            expected_ids(10),
            "no userId created twice"
        );
        assert_eq!(sandbox.customers().len(), 15, "no email created twice");
        let names = stored(&sandbox, "name");
        assert!(names.iter().all(|n| n.starts_with("Renamed")), "{names:?}");

        // Recorded: the next run sends nothing.
        assert_rerun_sends_nothing(&sandbox, &dir, &file, 15).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_mode_creates_nothing_and_max_failures_sets_the_exit_code() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let first = sync(
        &sandbox,
        &dir,
        &dir.write("a.csv", rows_renamed(4, |_| false)),
        "a",
        "upsert",
        &[],
    )
    .await;
    assert_eq!(first.code, 0, "{}", first.all_output());

    // u5, u6 do not exist: they fail as not_found, and nothing is created.
    let file = dir.write("b.csv", rows_renamed(6, |i| i == 1));
    let strict = sync(&sandbox, &dir, &file, "strict", "update", &[]).await;
    assert_eq!(strict.code, 1, "{}", strict.all_output());
    assert_eq!(counts(&dir, "strict"), [0, 1, 3, 0, 2]);
    assert_eq!(dir.summary_of("strict")["failed_by_status"]["not_found"], 2);
    assert_eq!(user_ids(&sandbox), expected_ids(4));

    for (limit, code) in [("2", 0), ("1", 1), ("34%", 0), ("33%", 1)] {
        let out = format!("limit-{limit}");
        let run = sync(
            &sandbox,
            &dir,
            &file,
            &out,
            "update",
            &["--max-failures", limit],
        )
        .await;
        assert_eq!(
            run.code,
            code,
            "--max-failures {limit}: {}",
            run.all_output()
        );
        assert_eq!(counts(&dir, &out)[4], 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_a_locked_state_refuses_to_start() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write("rows.csv", rows_renamed(400, |_| false));
    let slow = sync_args(&sandbox, &dir, &file, "slow", "upsert", &["--rate", "40/s"]);
    let slow: Vec<&str> = slow.iter().map(String::as_str).collect();
    let first = spawn(&slow);
    let started = std::time::Instant::now();
    while sandbox.stats().requests == 0 {
        if started.elapsed().as_secs() > 20 {
            panic!(
                "the first run never sent: {}",
                common::finish(first).await.all_output()
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let second = sync(&sandbox, &dir, &file, "second", "upsert", &[]).await;
    assert_eq!(second.code, 2, "{}", second.all_output());
    assert!(
        second.all_output().contains("in use by another import"),
        "{}",
        second.all_output()
    );
    assert!(!dir.path().join("second").join("summary.json").exists());

    signal(&first, "INT");
    let first = common::finish(first).await;
    assert_eq!(first.code, 130, "{}", first.all_output());
    // Released with the first run: a third one goes on where it left off.
    let third = sync(&sandbox, &dir, &file, "third", "upsert", &[]).await;
    assert_eq!(third.code, 0, "{}", third.all_output());
    assert_eq!(user_ids(&sandbox), expected_ids(400));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_run_resumes_without_duplicates_and_records_every_contact() {
    // Answers take 10 ms, so the kill finds requests in flight.
    let sandbox = sandbox(SandboxConfig {
        latency: std::time::Duration::from_millis(10),
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    import_day_one(&sandbox, &dir, 300).await;

    // Day 2: every old row changed, 100 new; killed a moment into the run, then resumed.
    let file = dir.write("day2.csv", rows_renamed(400, |i| i <= 300));
    let args = sync_args(
        &sandbox,
        &dir,
        &file,
        "day2",
        "upsert",
        &["--rate", "100/s"],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let before = sandbox.stats().requests;
    let mut child = spawn(&args);
    while sandbox.stats().requests < before + 50 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.start_kill().expect("SIGKILL");
    let killed = common::finish(child).await;
    assert_ne!(killed.code, 0, "killed mid-run");
    assert!(
        sandbox.stats().requests < before + 400,
        "the kill cut the run part-way"
    );

    let resumed = sync(&sandbox, &dir, &file, "day2", "upsert", &["--resume"]).await;
    assert_eq!(resumed.code, 0, "{}", resumed.all_output());
    assert_eq!(
        user_ids(&sandbox),
        expected_ids(400),
        "no contact created twice"
    );
    let names = stored(&sandbox, "name");
    assert_eq!(
        names.iter().filter(|n| n.starts_with("Renamed")).count(),
        300
    );

    assert_rerun_sends_nothing(&sandbox, &dir, &file, 400).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_run_into_the_directory_leaves_no_stale_missing_csv_or_plan() {
    use tokio::io::AsyncWriteExt;

    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write("rows.csv", rows_renamed(3, |_| false));
    let first = sync(&sandbox, &dir, &file, "out", "upsert", &[]).await;
    assert_eq!(first.code, 0, "{}", first.all_output());
    for name in ["missing.csv", "plan.json", "plan.csv", "created.csv"] {
        assert!(dir.out().join(name).is_file(), "the sync wrote {name}");
    }
    // Started again into that directory from stdin with --mode create: it makes no plan
    // (stdin is read once) and has no missing contacts, so it writes neither.
    let (out, base_url) = (dir.out().to_string_lossy().into_owned(), sandbox.base_url());
    let args = [
        "import",
        "-",
        "--base-url",
        &base_url,
        "--out",
        &out,
        "--overwrite",
        "--rate",
        "200/s",
    ];
    let mut child = common::command(&args)
        .env("HELPCRUNCH_API_KEY", KEY)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(b"userId,email\nu9,u9@example.com\n")
        .await
        .expect("write stdin");
    drop(stdin);
    let second = child.wait_with_output().await.expect("the binary ends");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(0), "{stderr}");
    for name in ["missing.csv", "plan.json", "plan.csv"] {
        assert!(
            !dir.out().join(name).exists(),
            "the earlier run's {name} is gone"
        );
    }
    assert_eq!(dir.csv_rows("created.csv").len(), 1);
}
