//! The integration-test harness: a temp dir per test, the real binary, and the sandbox
//! on a free loopback port.

#![allow(dead_code)] // each test file uses part of the harness

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Output;

use helpcrunch_import::sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

pub const KEY: &str = "test-key-7f3a9c";

/// A sandbox on a free loopback port that accepts only [`KEY`].
pub async fn sandbox(config: SandboxConfig) -> Sandbox {
    let config = SandboxConfig {
        api_key: Some(KEY.to_string()),
        ..config
    };
    Sandbox::start(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("the sandbox starts on a free port")
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

    /// Rows of a result CSV as header → value maps.
    pub fn csv_rows(&self, name: &str) -> Vec<std::collections::BTreeMap<String, String>> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(self.out().join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let header = reader.headers().expect("header").clone();
        reader
            .records()
            .map(|r| {
                let r = r.expect("record");
                header
                    .iter()
                    .map(String::from)
                    .zip(r.iter().map(String::from))
                    .collect()
            })
            .collect()
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
    let base_url = sandbox.base_url();
    let out = dir.out().to_string_lossy().into_owned();
    let mut args = vec!["import", file, "--base-url", &base_url, "--out", &out];
    args.extend_from_slice(extra);
    run(&args, Some(KEY)).await
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
    let mut ids: Vec<String> = sandbox
        .customers()
        .iter()
        .filter_map(|c| c["userId"].as_str().map(String::from))
        .collect();
    ids.sort();
    ids
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
    let retry = fast_retry_config(&dir);
    let mut args = args.to_vec();
    args.extend_from_slice(&["--config", &retry]);
    let run = import(&sandbox, &dir, &file, &args).await;
    assert_eq!(run.code, 0, "{}", run.all_output());
    assert_eq!(
        user_ids(&sandbox),
        expected_ids(rows),
        "every row created exactly once"
    );
    Imported { sandbox, dir, run }
}
