//! End-to-end: never lose or duplicate a contact. The real binary is killed, interrupted
//! and faced with lost answers, then resumed, against the sandbox over loopback; the
//! sandbox's own records say whether each contact was created exactly once.
//!
//! Half the rows of these files have no userId. HelpCrunch (and the sandbox) refuse a
//! second contact with the same userId, so only rows without one can show a duplicate:
//! a blind re-send of one creates a second contact with the same email.

mod common;

use std::time::{Duration, Instant};

use common::{
    Dir, KEY, READ_BACK_CREATE, Run, finish, import, import_args, import_fast, run, sandbox,
    sandbox_at, signal, spawn, stored, strs,
};
use helpcrunch_import::sandbox::{RetryAfterMode, Sandbox, SandboxConfig};

/// `n` rows; odd ones have a userId, even ones only an email.
fn mixed_csv(n: usize) -> String {
    let mut text = String::from("userId,email,name\n");
    for i in 1..=n {
        let user_id = if i % 2 == 1 {
            format!("u{i}")
        } else {
            String::new()
        };
        text.push_str(&format!("{user_id},user{i}@example.com,User {i}\n"));
    }
    text
}

fn expected_emails(n: usize) -> Vec<String> {
    let mut emails: Vec<String> = (1..=n).map(|i| format!("user{i}@example.com")).collect();
    emails.sort();
    emails
}

/// Asserts every row of a `mixed_csv(n)` is one contact, and the importer never re-sent a
/// row blindly (that would have drawn a 400 for a taken userId).
fn assert_each_created_once(sandbox: &Sandbox, n: usize) {
    assert_eq!(
        stored(sandbox, "email"),
        expected_emails(n),
        "each row exactly once"
    );
    let stats = sandbox.stats();
    assert_eq!(stats.created, n as u64, "{stats:?}");
    assert_eq!(stats.rejected, 0, "no userId was sent twice: {stats:?}");
}

/// The run's ledger, over every pass: `n` rows created, none left in doubt.
fn assert_ledger_holds_every_row_created(dir: &Dir, n: usize) {
    let rows = dir.ledger_rows(false);
    assert_eq!(rows.len(), n);
    assert!(
        rows.values()
            .all(|(state, _, id)| state == "created" && id.is_some()),
        "{rows:?}"
    );
}

/// Sends each signal after its pause, then waits for the exit: what the run printed, and
/// how long it took to exit after the last signal.
async fn stop_with(
    child: tokio::process::Child,
    signals: &[(Duration, &str)],
) -> (common::Run, Duration) {
    for (pause, name) in signals {
        tokio::time::sleep(*pause).await;
        signal(&child, name);
    }
    let signalled = Instant::now();
    let stopped = finish(child).await;
    (stopped, signalled.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_points_then_resumed_every_row_is_created_exactly_once() {
    const ROWS: usize = 600;
    // Answers take 10 ms, so a kill finds requests in flight, some of them stored.
    let sandbox = sandbox(SandboxConfig {
        latency: Duration::from_millis(10),
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let file = dir.write("contacts.csv", mixed_csv(ROWS));
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    // 200/s: a whole run takes 3 s; each of the four kills lands within 0.5 s of a run's
    // first request, so together they cannot reach the end. The first lands after 0.2 s,
    // so some contacts are created before it: a resumed run first looks up the rows in
    // doubt (waiting for the search to show them), and may be killed before it creates any.
    let mut killed_mid_run = 0;
    for kill in 0..4 {
        let mut extra = vec!["--rate", "200/s"];
        if dir.has_ledger() {
            extra.push("--resume");
        }
        let args = import_args(&sandbox, &dir, &file, &extra);
        let requests_before = sandbox.stats().requests;
        let mut child = spawn(&strs(&args));
        let started = Instant::now();
        while sandbox.stats().requests == requests_before {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "seed {seed}: no request"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let earliest = if kill == 0 { 200 } else { 0 };
        tokio::time::sleep(Duration::from_millis(rng.u64(earliest..500))).await;
        let running = child.try_wait().ok().flatten().is_none();
        child.start_kill().expect("SIGKILL");
        let output = finish(child).await;
        if running {
            killed_mid_run += 1;
        } else {
            assert_eq!(output.code, 0, "seed {seed}: {}", output.all_output());
        }
    }
    assert!(killed_mid_run >= 3, "seed {seed}: the kills landed mid-run");
    let created_before_the_last_run = sandbox.stats().created;
    assert!(
        created_before_the_last_run > 0 && created_before_the_last_run < ROWS as u64,
        "seed {seed}: the kills cut the run part-way: {:?}",
        sandbox.stats()
    );

    let last = import(&sandbox, &dir, &file, &["--rate", "200/s", "--resume"]).await;
    assert_eq!(last.code, 0, "seed {seed}: {}", last.all_output());
    assert_each_created_once(&sandbox, ROWS);
    assert_ledger_holds_every_row_created(&dir, ROWS);
    dir.assert_results_agree();
    let summary = dir.summary();
    assert_eq!(summary["created"], ROWS, "{summary}");
    assert_eq!(summary["pass"], 5, "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_left_in_doubt_by_a_kill_are_looked_up_not_resent() {
    const ROWS: usize = 8;
    // Every answer is lost after the contact is stored: a row then waits its backoff
    // (500 ms at least, by default) before it is looked up. Killed in that wait, the run
    // leaves each such row sent, stored, and with no outcome.
    let sandbox = sandbox(SandboxConfig {
        drop_rate: 1.0,
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let file = dir.write("contacts.csv", mixed_csv(ROWS));
    let args = import_args(&sandbox, &dir, &file, &["--rate", "50/s"]);
    let mut child = spawn(&strs(&args));
    let waited = Instant::now();
    while sandbox.stats().created < 4 {
        assert!(
            waited.elapsed() < Duration::from_secs(10),
            "{:?}",
            sandbox.stats()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.start_kill().expect("SIGKILL");
    finish(child).await;
    let stored = sandbox.stats().created;
    let sent = dir
        .ledger_rows(false)
        .values()
        .filter(|(state, _, _)| state == "sent")
        .count() as u64;
    // Every stored contact's row is in doubt; so may be rows that were waiting for their
    // turn (their intent is written before the wait), which the resume finds absent.
    assert!(
        sent >= stored,
        "{sent} rows in doubt, {stored} contacts stored"
    );

    let resumed = import_fast(&sandbox, &dir, &file, &["--rate", "50/s", "--resume"]).await;
    assert_eq!(resumed.code, 0, "{}", resumed.all_output());
    assert_each_created_once(&sandbox, ROWS);
    assert_ledger_holds_every_row_created(&dir, ROWS);
    dir.assert_results_agree();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_answers_and_server_errors_still_create_every_row_exactly_once() {
    const ROWS: usize = 300;
    let sandbox = sandbox(SandboxConfig {
        drop_rate: 0.05,
        error_rate: 0.05,
        retry_after: RetryAfterMode::None,
        seed: 11,
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let file = dir.write("contacts.csv", mixed_csv(ROWS));
    let result = import_fast(
        &sandbox,
        &dir,
        &file,
        &["--rate", "200/s", "--concurrency", "8"],
    )
    .await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert_each_created_once(&sandbox, ROWS);
    let stats = sandbox.stats();
    assert!(stats.dropped > 0 && stats.server_errors > 0, "{stats:?}");
    let summary = dir.summary();
    // Each dropped answer was settled by a lookup, not a second create.
    assert!(
        summary["lookups"].as_u64() >= Some(stats.dropped),
        "{summary} {stats:?}"
    );
    assert_eq!(summary["requests"], stats.requests);
    assert_ledger_holds_every_row_created(&dir, ROWS);
    dir.assert_results_agree();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_in_doubt_with_nothing_to_look_it_up_by_is_never_resent() {
    // Every answer is lost after the contact is stored.
    let sandbox = sandbox(SandboxConfig {
        drop_rate: 1.0,
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let file = dir.write(
        "contacts.csv",
        "userId,email,name\nu1,,One\n,two@example.com,Two\n,,Three\n,,Four\n",
    );
    let result = import_fast(&sandbox, &dir, &file, &["--rate", "50/s"]).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    let stats = sandbox.stats();
    assert_eq!(stats.created, 4, "one create per row, never two: {stats:?}");
    // Four creates and one lookup each for the two rows that can be looked up; no
    // read-back: a contact found after a lost answer may not hold what the run sent.
    assert_eq!(stats.requests, 6, "{stats:?}");
    let failed = dir.failed_rows();
    let mut in_doubt: Vec<u64> = failed
        .iter()
        .filter(|(_, _, status)| status == "in_doubt")
        .map(|(_, line, _)| *line)
        .collect();
    in_doubt.sort();
    assert_eq!(in_doubt, [4, 5], "the rows with no userId and no email");
    assert!(
        dir.csv_rows("failed.csv")[0]["_errors"].contains("no userId or email"),
        "the reason says why it was not re-sent"
    );
    assert_eq!(dir.summary()["created"], 2);
    dir.assert_results_agree();

    // A resume keeps them in doubt, and still sends nothing for them.
    let again = import(&sandbox, &dir, &file, &["--rate", "50/s", "--resume"]).await;
    assert_eq!(again.code, 1, "{}", again.all_output());
    assert_eq!(sandbox.stats().requests, 6, "{:?}", sandbox.stats());
    assert_eq!(dir.summary()["failed_by_status"]["in_doubt"], 2);
    dir.assert_results_agree();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_exits_130_within_seconds_and_the_printed_command_resumes_exactly_once() {
    const ROWS: usize = 400;
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write("contacts.csv", mixed_csv(ROWS));
    // 50/s: the whole file would take 8 s.
    let args = import_args(&sandbox, &dir, &file, &["--rate", "50/s"]);
    let child = spawn(&strs(&args));
    let (stopped, took) = stop_with(child, &[(Duration::from_millis(1500), "INT")]).await;
    assert_eq!(stopped.code, 130, "{}", stopped.all_output());
    assert!(took < Duration::from_secs(5), "stopped in {took:?}");
    let summary = dir.summary();
    assert_eq!(summary["ending"], "interrupted");
    assert!(
        summary["failed_by_status"]["not_sent"].as_u64() > Some(0),
        "{summary}"
    );
    dir.assert_results_agree();

    // The command the run printed goes on with it.
    let command = stopped
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("to resume: "))
        .unwrap_or_else(|| panic!("no resume command in {}", stopped.stdout));
    assert_eq!(summary["resume_command"], command);
    assert!(!stopped.all_output().contains(KEY));
    let argv = shlex::split(command).expect("a shell command");
    assert!(argv.contains(&"--resume".to_string()), "{command}");
    let resumed = run(&strs(&argv[1..]), Some(KEY)).await;
    assert_eq!(resumed.code, 0, "{}", resumed.all_output());
    assert_each_created_once(&sandbox, ROWS);
    assert_ledger_holds_every_row_created(&dir, ROWS);
    dir.assert_results_agree();
    assert_eq!(dir.summary()["resume_command"], serde_json::Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once_and_the_run_still_resumes() {
    const ROWS: usize = 8;
    // Every answer takes 2 s, so requests are in flight when the signals come.
    let sandbox = sandbox(SandboxConfig {
        latency: Duration::from_secs(2),
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let file = dir.write("contacts.csv", mixed_csv(ROWS));
    let args = import_args(&sandbox, &dir, &file, &["--rate", "50/s"]);
    let child = spawn(&strs(&args));
    let signals = [
        (Duration::from_millis(600), "TERM"),
        (Duration::from_millis(200), "INT"),
    ];
    let (stopped, took) = stop_with(child, &signals).await;
    assert_eq!(stopped.code, 130, "{}", stopped.all_output());
    // Well before the requests in flight could have been answered.
    assert!(took < Duration::from_millis(900), "exited in {took:?}");
    assert!(
        stopped.stderr.contains("--resume"),
        "the resume command is printed: {}",
        stopped.stderr
    );

    let resumed = import(&sandbox, &dir, &file, &["--rate", "50/s", "--resume"]).await;
    assert_eq!(resumed.code, 0, "{}", resumed.all_output());
    assert_each_created_once(&sandbox, ROWS);
    assert_ledger_holds_every_row_created(&dir, ROWS);
    dir.assert_results_agree();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_keeps_finished_rows_and_refuses_a_changed_input_unless_forced() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write("contacts.csv", mixed_csv(10));
    let first = import(&sandbox, &dir, &file, &["--rate", "100/s"]).await;
    assert_eq!(first.code, 0, "{}", first.all_output());
    let created = dir.read_out("created.csv");
    let requests = sandbox.stats().requests;

    // Resuming a finished run sends nothing and writes the same results again.
    let again = import(&sandbox, &dir, &file, &["--rate", "100/s", "--resume"]).await;
    assert_eq!(again.code, 0, "{}", again.all_output());
    assert_eq!(sandbox.stats().requests, requests);
    let sorted = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines.sort();
        lines
    };
    assert_eq!(sorted(&dir.read_out("created.csv")), sorted(&created));
    assert_eq!(dir.summary()["pass"], 2);
    dir.assert_results_agree();

    // Without --resume, the directory is refused rather than overwritten.
    let refused = import(&sandbox, &dir, &file, &["--rate", "100/s"]).await;
    assert_eq!(refused.code, 2, "{}", refused.all_output());
    assert!(refused.stderr.contains("--resume"), "{}", refused.stderr);

    // The file changes: resuming would match lines against other rows.
    std::fs::write(&file, mixed_csv(12)).expect("rewrite the input");
    let changed = import(&sandbox, &dir, &file, &["--rate", "100/s", "--resume"]).await;
    assert_eq!(changed.code, 2, "{}", changed.all_output());
    assert!(
        changed.stderr.contains("contacts.csv changed") && changed.stderr.contains("--force"),
        "{}",
        changed.stderr
    );
    assert_eq!(sandbox.stats().requests, requests, "nothing was sent");

    let forced = import(
        &sandbox,
        &dir,
        &file,
        &["--rate", "100/s", "--resume", "--force"],
    )
    .await;
    assert_eq!(forced.code, 0, "{}", forced.all_output());
    assert_each_created_once(&sandbox, 12);
    assert_eq!(
        sandbox.stats().requests,
        requests + 2 + READ_BACK_CREATE,
        "only the new rows (and the pass's first contact read back)"
    );
    dir.assert_results_agree();
}

/// `import` at `rate`, with the config's `[retry]` section holding `retry`.
async fn import_retrying(sandbox: &Sandbox, dir: &Dir, file: &str, rate: &str, retry: &str) -> Run {
    let config = dir.write("retry.toml", format!("[retry]\n{retry}\n"));
    import(sandbox, dir, file, &["--rate", rate, "--config", &config]).await
}

/// A loopback address nothing listens on (until a sandbox is started there).
fn closed_port() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_that_cannot_be_reached_stops_the_run_and_its_rows_resume() {
    const ROWS: usize = 30;
    let address = closed_port();
    let base_url = format!("http://{address}/v1");
    let dir = Dir::new();
    let file = dir.write("contacts.csv", mixed_csv(ROWS));
    let out = dir.out().to_string_lossy().into_owned();
    let args = [
        "import",
        &file,
        "--base-url",
        &base_url,
        "--out",
        &out,
        "--rate",
        "50/s",
    ];
    let started = Instant::now();
    let stopped = run(&args, Some(KEY)).await;
    let took = started.elapsed();
    let output = stopped.all_output();
    assert_eq!(stopped.code, 2, "{output}");
    assert!(
        output.contains(&format!("no answer from the API at {base_url}"))
            && output.contains("Connection refused")
            && output.contains("--resume"),
        "{output}"
    );
    // Ten seconds before the API has ever answered; not every row's retries (8 attempts,
    // minutes of backoff each).
    assert!(took < Duration::from_secs(30), "{took:?}");
    // Every row is in a result file, none of them done.
    let failed = dir.failed_rows();
    assert_eq!(failed.len(), ROWS, "{failed:?}");
    assert!(
        failed
            .iter()
            .all(|(_, _, status)| status == "gave_up" || status == "not_sent"),
        "{failed:?}"
    );
    assert_eq!(dir.summary()["created"], 0);

    // The API comes back where it was: the run goes on and creates each contact once.
    let sandbox = sandbox_at(SandboxConfig::default(), address).await;
    let mut resume = args.to_vec();
    resume.push("--resume");
    let resumed = run(&resume, Some(KEY)).await;
    assert_eq!(resumed.code, 0, "{}", resumed.all_output());
    assert_each_created_once(&sandbox, ROWS);
    dir.assert_results_agree();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_answering_only_5xx_stops_the_run_after_unreachable_secs() {
    let sandbox = sandbox(SandboxConfig {
        error_rate: 1.0,
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let file = dir.write("contacts.csv", mixed_csv(20));
    let stopped = import_retrying(
        &sandbox,
        &dir,
        &file,
        "50/s",
        "initial_delay_ms = 10\nmax_delay_secs = 1\nunreachable_secs = 2",
    )
    .await;
    let output = stopped.all_output();
    assert_eq!(stopped.code, 2, "{output}");
    assert!(
        output.contains("nothing but server errors from the API at") && output.contains("HTTP 503"),
        "{output}"
    );
    assert_eq!(dir.failed_rows().len(), 20);
    assert_eq!(sandbox.stats().created, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_between_answers_never_stop_the_run() {
    // Three answers in ten are 503s over eight seconds: the API answers, however badly,
    // so a run that outlasts unreachable_secs many times over goes on to the end.
    let sandbox = sandbox(SandboxConfig {
        error_rate: 0.3,
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let file = dir.write("contacts.csv", mixed_csv(40));
    let finished = import_retrying(
        &sandbox,
        &dir,
        &file,
        "5/s",
        "max_attempts = 40\ninitial_delay_ms = 10\nmax_delay_secs = 1\nunreachable_secs = 3",
    )
    .await;
    assert_eq!(finished.code, 0, "{}", finished.all_output());
    assert!(sandbox.stats().server_errors > 5, "{:?}", sandbox.stats());
    assert_each_created_once(&sandbox, 40);
}
