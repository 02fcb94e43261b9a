//! The integration-test harness: a temp dir per test, the real binary, and the sandbox
//! on a free loopback port.

#![allow(dead_code)] // each test file uses part of the harness

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Output;

use helpcrunch_import::sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

pub const KEY: &str = "test-key-7f3a9c";

/// What `--verify first` (the default) costs a run: the first contact it creates read
/// back once, and the first it updates read before and after.
pub const READ_BACK_CREATE: u64 = 1;
pub const READ_BACK_UPDATE: u64 = 2;

/// A sandbox on a free loopback port that accepts only [`KEY`].
pub async fn sandbox(config: SandboxConfig) -> Sandbox {
    sandbox_at(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
}

/// A sandbox at `address` (one a run found closed, say) that accepts only [`KEY`].
pub async fn sandbox_at(config: SandboxConfig, address: SocketAddr) -> Sandbox {
    let config = SandboxConfig {
        api_key: Some(KEY.to_string()),
        ..config
    };
    Sandbox::start(config, address)
        .await
        .unwrap_or_else(|e| panic!("the sandbox starts at {address}: {e}"))
}

/// A test's own directory, removed when dropped.
pub struct Dir(tempfile::TempDir);

impl Dir {
    pub fn new() -> Dir {
        Dir(tempfile::tempdir().expect("tempdir"))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> String {
        let path = self.0.path().join(name);
        std::fs::write(&path, contents).expect("write test input");
        path.to_string_lossy().into_owned()
    }

    pub fn out(&self) -> PathBuf {
        self.0.path().join("out")
    }

    pub fn read_out(&self, name: &str) -> String {
        std::fs::read_to_string(self.out().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    pub fn summary(&self) -> Value {
        serde_json::from_str(&self.read_out("summary.json")).expect("summary.json is JSON")
    }

    /// `summary.json` of the run whose results are in the test's directory `out`.
    pub fn summary_of(&self, out: &str) -> Value {
        let path = self.path().join(out).join("summary.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        serde_json::from_str(&text).expect("summary.json is JSON")
    }

    /// Rows of a result CSV as header → value maps (bytes that are not UTF-8, which a
    /// failed row keeps as it had them, shown as U+FFFD; see [`Dir::read_out_bytes`]).
    pub fn csv_rows(&self, name: &str) -> Vec<std::collections::BTreeMap<String, String>> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(self.out().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = |field: &[u8]| String::from_utf8_lossy(field).into_owned();
        let header = reader.byte_headers().expect("header").clone();
        reader
            .byte_records()
            .map(|r| {
                let r = r.expect("record");
                header.iter().map(text).zip(r.iter().map(text)).collect()
            })
            .collect()
    }

    /// A result file's bytes, exactly.
    pub fn read_out_bytes(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.out().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
}

/// What a run of the binary gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

pub fn command(args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_helpcrunch-import"));
    command
        .args(args)
        .env_remove("HELPCRUNCH_API_KEY")
        .env_remove("HELPCRUNCH_BASE_URL")
        .env_remove("RUST_LOG")
        .kill_on_drop(true);
    command
}

/// Runs the binary with `args` and `key` in HELPCRUNCH_API_KEY.
pub async fn run(args: &[&str], key: Option<&str>) -> Run {
    let mut command = command(args);
    if let Some(key) = key {
        command.env("HELPCRUNCH_API_KEY", key);
    }
    Run::from(command.output().await.expect("the binary runs"))
}

/// `import FILE --base-url SANDBOX --out DIR/out` plus `extra`, with the right key.
pub async fn import(sandbox: &Sandbox, dir: &Dir, file: &str, extra: &[&str]) -> Run {
    import_to(sandbox, file, &dir.out().to_string_lossy(), extra).await
}

/// `import FILE --base-url SANDBOX --out OUT` plus `extra`, with the right key.
pub async fn import_to(sandbox: &Sandbox, file: &str, out: &str, extra: &[&str]) -> Run {
    let base_url = sandbox.base_url();
    let mut args = vec!["import", file, "--base-url", &base_url, "--out", out];
    args.extend_from_slice(extra);
    run(&args, Some(KEY)).await
}

/// `import` with a config of fast retries added, so fault tests take seconds.
pub async fn import_fast(sandbox: &Sandbox, dir: &Dir, file: &str, extra: &[&str]) -> Run {
    let retry = fast_retry_config(dir);
    let mut args = extra.to_vec();
    args.extend_from_slice(&["--config", &retry]);
    import(sandbox, dir, file, &args).await
}

/// A config with fast retries, so fault tests take seconds.
pub fn fast_retry_config(dir: &Dir) -> String {
    dir.write(
        "fast-retry.toml",
        "[retry]\nmax_attempts = 20\ninitial_delay_ms = 10\nmax_delay_secs = 1\n",
    )
}

/// The stored customers' userIds, sorted, with any duplicate kept (so a test can see it).
pub fn user_ids(sandbox: &Sandbox) -> Vec<String> {
    stored(sandbox, "userId")
}

/// One text field of every stored customer that has it, sorted, duplicates kept.
pub fn stored(sandbox: &Sandbox, field: &str) -> Vec<String> {
    let mut values: Vec<String> = sandbox
        .customers()
        .iter()
        .filter_map(|c| c[field].as_str().map(String::from))
        .collect();
    values.sort();
    values
}

/// Rows `u1..un` with valid emails; `renamed` rows (by number) get a new name.
pub fn rows_renamed(n: usize, renamed: impl Fn(usize) -> bool) -> String {
    let mut text = String::from("userId,email,name\n");
    for i in 1..=n {
        let name = if renamed(i) {
            format!("Renamed {i}")
        } else {
            format!("User {i}")
        };
        text.push_str(&format!("u{i},user{i}@example.com,{name}\n"));
    }
    text
}

/// `n` CSV rows `u1..un` with valid emails.
pub fn simple_csv(n: usize) -> String {
    let mut text = String::from("userId,email,name\n");
    for i in 1..=n {
        text.push_str(&format!("u{i},user{i}@example.com,User {i}\n"));
    }
    text
}

pub fn expected_ids(n: usize) -> Vec<String> {
    let mut ids: Vec<String> = (1..=n).map(|i| format!("u{i}")).collect();
    ids.sort();
    ids
}

pub fn per_sec(count: u32) -> helpcrunch_import::rate::Rate {
    helpcrunch_import::rate::Rate {
        count,
        per: std::time::Duration::from_secs(1),
    }
}

/// A finished import of `simple_csv(rows)` into a sandbox set up by `config`.
pub struct Imported {
    pub sandbox: Sandbox,
    pub dir: Dir,
    pub run: Run,
}

/// Imports `rows` simple rows with fast retries and `args`, and asserts the run exited 0
/// having created every row exactly once.
pub async fn import_exactly_once(config: SandboxConfig, rows: usize, args: &[&str]) -> Imported {
    let sandbox = sandbox(config).await;
    let dir = Dir::new();
    let file = dir.write("rows.csv", simple_csv(rows));
    let run = import_fast(&sandbox, &dir, &file, args).await;
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert_eq!(
        user_ids(&sandbox),
        expected_ids(rows),
        "every row created exactly once"
    );
    dir.assert_results_agree();
    Imported { sandbox, dir, run }
}

/// The binary started with `args` and the right key, its output piped, not waited for.
pub fn spawn(args: &[&str]) -> tokio::process::Child {
    command(args)
        .env("HELPCRUNCH_API_KEY", KEY)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

/// Sends `signal` (`INT`, `TERM`) to a running child.
pub fn signal(child: &tokio::process::Child, signal: &str) {
    let pid = child.id().expect("the child is running").to_string();
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Waits for a spawned child and collects what it printed.
pub async fn finish(child: tokio::process::Child) -> Run {
    Run::from(child.wait_with_output().await.expect("the binary ends"))
}

/// The args of `import FILE --base-url SANDBOX --out DIR/out` plus `extra`.
pub fn import_args(sandbox: &Sandbox, dir: &Dir, file: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["import", file, "--base-url", &sandbox.base_url(), "--out"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.push(dir.out().to_string_lossy().into_owned());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// `args` as the `&str`s [`run`] and [`spawn`] take.
pub fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// One ledger row as the tests see it: `(state, status, contact id)`.
pub type LedgerRow = (String, Option<String>, Option<i64>);

impl Dir {
    pub fn has_ledger(&self) -> bool {
        self.out().join("ledger.sqlite").is_file()
    }

    /// Rows of the ledger, by `(input name, line)`: those the last pass recorded, or all.
    /// Read with plain SQL, apart from the importer's own code.
    pub fn ledger_rows(
        &self,
        last_pass_only: bool,
    ) -> std::collections::BTreeMap<(String, u64), LedgerRow> {
        let connection =
            rusqlite::Connection::open(self.out().join("ledger.sqlite")).expect("the ledger opens");
        let mut select = connection
            .prepare(
                "SELECT i.name, r.line, r.state, r.status, r.contact_id
                 FROM rows r JOIN inputs i ON i.position = r.input
                 WHERE ?1 = 0 OR r.pass = (SELECT MAX(pass) FROM passes)",
            )
            .expect("the ledger has its tables");
        select
            .query_map([i64::from(last_pass_only)], |row| {
                Ok((
                    (row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64),
                    (row.get(2)?, row.get(3)?, row.get(4)?),
                ))
            })
            .expect("query")
            .map(|row| row.expect("row"))
            .collect()
    }

    /// Every failed row of the result files (CSV and NDJSON) as `(file, line, status)`.
    pub fn failed_rows(&self) -> Vec<(String, u64, String)> {
        let mut rows = Vec::new();
        for entry in std::fs::read_dir(self.out()).expect("out dir") {
            let name = entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned();
            if name.starts_with("failed") && name.ends_with(".csv") {
                for row in self.csv_rows(&name) {
                    let line = row["_line"].parse().expect("a line number");
                    rows.push((row["_file"].clone(), line, row["_status"].clone()));
                }
            } else if name == "failed.ndjson" {
                for line in self.read_out(&name).lines() {
                    let row: Value = serde_json::from_str(line).expect("JSON");
                    let number = row["_line"].as_str().and_then(|l| l.parse().ok());
                    rows.push((
                        row["_file"].as_str().unwrap_or_default().to_string(),
                        number.expect("a line number"),
                        row["_status"].as_str().unwrap_or_default().to_string(),
                    ));
                }
            }
        }
        rows
    }

    /// Asserts that summary.json, created.csv, the failed files and the ledger's record of
    /// the last pass tell the same story, row by row.
    pub fn assert_results_agree(&self) {
        let summary = self.summary();
        let count = |key: &str| summary[key].as_u64().unwrap_or(0);
        let created = self.csv_rows("created.csv");
        let failed = self.failed_rows();
        let ledger = self.ledger_rows(true);
        let with_status =
            |status: &str| created.iter().filter(|r| r["status"] == status).count() as u64;
        assert_eq!(with_status("created"), count("created"), "{summary}");
        assert_eq!(with_status("exists"), count("exists"), "{summary}");
        assert_eq!(failed.len() as u64, count("failed"), "{summary}");
        assert_eq!(
            count("rows_read"),
            count("created") + count("exists") + count("failed"),
            "{summary}"
        );
        for (status, n) in summary["failed_by_status"]
            .as_object()
            .into_iter()
            .flatten()
        {
            let in_files = failed.iter().filter(|(_, _, s)| s == status).count() as u64;
            assert_eq!(
                Some(in_files),
                n.as_u64(),
                "failed rows with status {status}"
            );
        }
        // Every result row is the ledger's, and the ledger holds no other row of this pass
        // (rows not sent stay out of it: the next pass sends them).
        for row in &created {
            let key = (row["file"].clone(), row["line"].parse().expect("line"));
            let (state, _, id) = ledger
                .get(&key)
                .unwrap_or_else(|| panic!("{key:?} is in created.csv, not in the ledger"));
            assert_eq!(state, &row["status"], "{key:?}");
            assert_eq!(
                id.map(|id| id.to_string()).unwrap_or_default(),
                row["id"],
                "{key:?}"
            );
        }
        let mut recorded = created.len();
        for (file, line, status) in &failed {
            let entry = ledger.get(&(file.clone(), *line));
            if status == "not_sent" {
                assert_eq!(entry, None, "{file}:{line} was not sent");
                continue;
            }
            recorded += 1;
            let (state, ledger_status, _) =
                entry.unwrap_or_else(|| panic!("{file}:{line} failed, not in the ledger"));
            assert_eq!(
                (state.as_str(), ledger_status.as_deref()),
                ("failed", Some(status.as_str()))
            );
        }
        assert_eq!(ledger.len(), recorded, "rows in the ledger's last pass");
    }
}
