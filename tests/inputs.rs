//! End-to-end: input forms (gzip, stdin), `validate`, `--sandbox`, and in-doubt requests.

mod common;

use std::io::Write;

use common::{
    Dir, KEY, command, expected_ids, import, import_fast, run, sandbox, simple_csv, user_ids,
};
use helpcrunch_import::sandbox::SandboxConfig;
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_is_decompressed_on_the_fly() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(simple_csv(5).as_bytes())
        .expect("gzip in memory");
    let file = dir.write("contacts.csv.gz", gz.finish().expect("gzip in memory"));
    let result = import(&sandbox, &dir, &file, &["--rate", "50/s"]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert_eq!(user_ids(&sandbox), expected_ids(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_is_read_with_dash() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let out = dir.out().to_string_lossy().into_owned();
    let base_url = sandbox.base_url();
    let mut child = command(&[
        "import",
        "-",
        "--format",
        "ndjson",
        "--base-url",
        &base_url,
        "--out",
        &out,
        "--rate",
        "50/s",
    ])
    .env("HELPCRUNCH_API_KEY", KEY)
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("the binary starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(b"{\"userId\":\"u1\",\"email\":\"u1@example.com\"}\n{\"userId\":\"u2\"}\n")
        .await
        .expect("write stdin");
    drop(stdin);
    let output = child.wait_with_output().await.expect("the binary ends");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(user_ids(&sandbox), ["u1", "u2"]);
    let created = dir.csv_rows("created.csv");
    assert!(
        created.iter().all(|r| r["file"] == "<stdin>"),
        "{created:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_reports_invalid_rows_and_sends_nothing() {
    let dir = Dir::new();
    let file = dir.write(
        "check.csv",
        "userId,email,locale,firstSeen\nu1,a@example.com,en,2021-03-04\nu2,two@@example.com,en,\nu3,c@example.com,xx,\nu4,d@example.com,,2021-13-45\n",
    );
    let out = dir.out().to_string_lossy().into_owned();
    // An unreachable base URL and no key: validate must need neither.
    let result = run(&["validate", &file, "--out", &out], None).await;
    assert_eq!(result.code, 1, "{}", result.all_output());
    assert!(
        result
            .stdout
            .contains("4 rows read: 1 valid, 3 failed (3 invalid)"),
        "{}",
        result.stdout
    );
    let failed = dir.csv_rows("failed.csv");
    let lines: Vec<&str> = failed.iter().map(|r| r["_line"].as_str()).collect();
    assert_eq!(lines, ["3", "4", "5"]);
    assert!(
        failed[0]["_errors"].contains("\"two@@example.com\""),
        "{:?}",
        failed[0]
    );
    assert!(failed[1]["_errors"].contains("\"xx\""), "{:?}", failed[1]);
    assert!(
        failed[2]["_errors"].contains("2021-13-45"),
        "{:?}",
        failed[2]
    );
    assert!(
        !dir.out().join("created.csv").exists(),
        "a dry run creates nothing"
    );
    assert_eq!(dir.summary()["valid"], 1);
    assert_eq!(dir.summary()["requests"], 0);

    let valid = dir.write("valid.csv", simple_csv(3));
    let out2 = dir.path().join("out2").to_string_lossy().into_owned();
    let result = run(&["import", &valid, "--dry-run", "--out", &out2], None).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_naming_a_missing_column_stops_before_sending() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write("crm.csv", "Customer Id,Mail\n1,a@example.com\n");
    let config = dir.write(
        "map.toml",
        "[mapping]\nuserId = \"Customer Id\"\nemail = \"Email\"\n",
    );
    let result = import(&sandbox, &dir, &file, &["--config", &config]).await;
    assert_eq!(result.code, 2, "{}", result.all_output());
    assert!(result.stderr.contains("Email"), "{}", result.stderr);
    assert_eq!(sandbox.stats().requests, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_sandbox_rehearses_without_a_key() {
    let dir = Dir::new();
    let file = dir.write("few.csv", simple_csv(3));
    let out = dir.out().to_string_lossy().into_owned();
    let result = run(&["import", &file, "--sandbox", "--out", &out], None).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    assert_eq!(dir.summary()["created"], 3);
    assert!(result.stderr.contains("sandbox"), "{}", result.stderr);
}

/// Runs the binary with `args`, the right key and `env` set: its exit code and output.
async fn run_with_env(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut command = command(args);
    command.env("HELPCRUNCH_API_KEY", KEY);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().await.expect("the binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

/// Where nothing listens: a run that sent there would fail its rows.
const NOWHERE: &str = "http://127.0.0.1:9/v1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helpcrunch_base_url_in_the_environment_does_not_block_a_sandbox_rehearsal() {
    let dir = Dir::new();
    let file = dir.write("few.csv", simple_csv(3));
    let out = dir.out().to_string_lossy().into_owned();
    let env = [("HELPCRUNCH_BASE_URL", NOWHERE)];
    let (code, output) = run_with_env(&["import", &file, "--sandbox", "--out", &out], &env).await;
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(dir.summary()["created"], 3);
    // A URL given as a flag still conflicts with --sandbox.
    let both = [
        "import",
        &file,
        "--sandbox",
        "--base-url",
        NOWHERE,
        "--out",
        &out,
    ];
    let (code, output) = run_with_env(&both, &[]).await;
    assert_eq!(code, Some(2), "{output}");
    assert!(output.contains("--base-url"), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_base_url_comes_from_the_flag_then_the_environment_then_the_config() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write("few.csv", simple_csv(2));
    let config = dir.write(
        "nowhere.toml",
        format!("base_url = \"{NOWHERE}\"\n[retry]\nmax_attempts = 2\ninitial_delay_ms = 10\n"),
    );
    let base_url = sandbox.base_url();
    let out = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let (first, second) = (out("first"), out("second"));
    // The environment wins over the config file.
    let args = [
        "import", &file, "--config", &config, "--out", &first, "--rate", "50/s",
    ];
    let (code, output) = run_with_env(&args, &[("HELPCRUNCH_BASE_URL", &base_url)]).await;
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(user_ids(&sandbox), expected_ids(2));
    let sent = sandbox.stats().requests;
    // The flag wins over both.
    let args = [
        "import",
        &file,
        "--config",
        &config,
        "--out",
        &second,
        "--rate",
        "50/s",
        "--base-url",
        &base_url,
    ];
    let (code, output) = run_with_env(&args, &[("HELPCRUNCH_BASE_URL", NOWHERE)]).await;
    assert_eq!(code, Some(0), "{output}");
    assert_eq!(dir.summary_of("second")["exists"], 2);
    assert!(sandbox.stats().requests > sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_back_waits_for_a_contact_the_run_made_not_one_found_after_a_lost_answer() {
    let sandbox = sandbox(SandboxConfig {
        drop_rate: 0.5,
        seed: 3,
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let file = dir.write("half.csv", simple_csv(20));
    let result = import_fast(&sandbox, &dir, &file, &["--rate", "50/s"]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    let stats = sandbox.stats();
    assert!(stats.dropped > 0 && stats.dropped < 20, "{stats:?}");
    // Each row one create; each lost answer one lookup; one read-back, of a contact whose
    // create was answered.
    assert_eq!(stats.created, 20, "{stats:?}");
    assert_eq!(stats.by_endpoint["GET /customers/{id}"], 1, "{stats:?}");
    assert_eq!(stats.requests, 20 + stats.dropped + 1, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_after_sending_is_looked_up_not_resent() {
    let sandbox = sandbox(SandboxConfig {
        drop_rate: 1.0,
        ..SandboxConfig::default()
    })
    .await;
    let dir = Dir::new();
    let file = dir.write("drop.csv", simple_csv(3));
    let result = import_fast(&sandbox, &dir, &file, &["--rate", "50/s"]).await;
    assert_eq!(result.code, 0, "{}", result.all_output());
    let stats = sandbox.stats();
    // One create and one lookup per row; never a second create. None is read back: each
    // was found after a lost answer, and may have been there before the run, holding other
    // values than the row's.
    assert_eq!(stats.requests, 6, "{stats:?}");
    assert_eq!(stats.created, 3, "{stats:?}");
    assert_eq!(user_ids(&sandbox), expected_ids(3));
    let summary = dir.summary();
    assert_eq!(
        (summary["created"].as_u64(), summary["lookups"].as_u64()),
        (Some(3), Some(3))
    );
    dir.assert_results_agree();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pretty_printed_json_array_imports_exactly_with_lines_in_its_errors() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let dir = Dir::new();
    let file = dir.write(
        "contacts.json",
        r##"[
  {
    "userId": "u1",
    "name": "Ann Lee",
    "email": "ann@example.com",
    "unsubscribed": true,
    "firstSeen": "2021-03-04T05:06:07Z",
    "tags": [{"name": "vip", "color": "#ff0000"}],
    "customData": {"plan": "pro", "seats": 15, "zip": "01234"}
  },
  {
    "userId": "u2",
    "email": "two@@example.com"
  },
  42,
  {"userId": "u3", "email": "cid@example.com", "customData": [{"property": "paid", "value": true}]}
]
"##,
    );
    let result = import(&sandbox, &dir, &file, &["--rate", "50/s"]).await;
    assert_eq!(result.code, 1, "two rows fail: {}", result.all_output());
    let customers = sandbox.customers();
    assert_eq!(customers.len(), 2);
    let ann = customers
        .iter()
        .find(|c| c["userId"] == "u1")
        .expect("u1 created");
    assert_eq!(ann["name"], "Ann Lee");
    assert_eq!(ann["email"], "ann@example.com");
    assert_eq!(ann["unsubscribed"], true);
    assert_eq!(ann["firstSeen"], "1614834367");
    assert_eq!(
        ann["tags"],
        serde_json::json!([{"name": "vip", "color": "#ff0000"}])
    );
    assert_eq!(
        ann["customData"],
        serde_json::json!({"plan": "pro", "seats": 15, "zip": "01234"})
    );
    let cid = customers
        .iter()
        .find(|c| c["userId"] == "u3")
        .expect("u3 created");
    assert_eq!(cid["customData"], serde_json::json!({"paid": true}));

    // Each row's line is the one its object starts on.
    let mut lines: Vec<String> = dir
        .csv_rows("created.csv")
        .iter()
        .map(|row| row["line"].clone())
        .collect();
    lines.sort();
    assert_eq!(lines, ["16", "2"]);
    let failed: Vec<serde_json::Value> = dir
        .read_out("failed.ndjson")
        .lines()
        .map(|line| serde_json::from_str(line).expect("failed.ndjson holds JSON"))
        .collect();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0]["_line"], "11");
    assert_eq!(failed[0]["email"], "two@@example.com");
    assert_eq!(failed[1]["_line"], "15");
    assert_eq!(failed[1]["_raw"], "42");
    let summary = dir.summary();
    let kinds = summary["errors_by_kind"].to_string();
    assert!(kinds.contains("contacts.json:11: email"), "{kinds}");
    assert!(
        kinds.contains("contacts.json:15: expected a JSON object in the array, found a number"),
        "{kinds}"
    );
    dir.assert_results_agree();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_object_wrapping_the_array_is_refused_naming_the_key() {
    let dir = Dir::new();
    let file = dir.write(
        "export.json",
        "{\n  \"count\": 1,\n  \"customers\": [\n    {\"email\": \"a@example.com\"}\n  ]\n}\n",
    );
    let out = dir.out().to_string_lossy().into_owned();
    let result = run(&["validate", &file, "--out", &out], None).await;
    assert_eq!(result.code, 2, "{}", result.all_output());
    assert!(
        result
            .all_output()
            .contains("\"customers\" holds the array of contacts")
            && result.all_output().contains("jq -c '.customers[]'"),
        "{}",
        result.all_output()
    );
}
