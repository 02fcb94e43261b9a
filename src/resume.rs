//! The command that resumes a run: the one that started it, with `--resume` and its
//! results directory. Printed when a run stops before the end, including by a second
//! Ctrl-C, which exits at once. The API key is never on a command line, so never in it.

use std::ffi::OsString;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Flags a resume must not repeat: `--overwrite` would throw the ledger away, and a
/// `--force` already recorded the inputs as they are now.
const DROPPED: [&str; 2] = ["--overwrite", "--force"];

/// How to resume this run, known once its results directory is.
#[derive(Debug, Clone, Default)]
pub struct ResumeHint {
    /// The process's command line, as given.
    argv: Vec<String>,
    /// Set once the run has a ledger; read by the signal handler in `main`.
    command: Arc<OnceLock<String>>,
}

impl ResumeHint {
    pub fn new(argv: impl IntoIterator<Item = OsString>) -> ResumeHint {
        ResumeHint {
            argv: argv
                .into_iter()
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect(),
            command: Arc::default(),
        }
    }

    /// Records where the run keeps its ledger: from now on it can be resumed.
    pub fn set(&self, out_dir: &Path) {
        if !self.argv.is_empty() {
            let _ = self.command.set(resume_command(&self.argv, out_dir));
        }
    }

    /// The command, once the run can be resumed.
    pub fn command(&self) -> Option<&str> {
        self.command.get().map(String::as_str)
    }
}

/// `argv` with `--resume` and `--out DIR` (unless given) and without `DROPPED`, quoted
/// for a POSIX shell.
pub fn resume_command(argv: &[String], out_dir: &Path) -> String {
    let mut args: Vec<String> = argv
        .iter()
        .filter(|arg| !DROPPED.contains(&arg.as_str()))
        .cloned()
        .collect();
    let has_out = args
        .iter()
        .skip(1)
        .any(|arg| arg == "--out" || arg.starts_with("--out="));
    if !has_out {
        args.push("--out".into());
        args.push(out_dir.to_string_lossy().into_owned());
    }
    if !args.iter().skip(1).any(|arg| arg == "--resume") {
        args.push("--resume".into());
    }
    // Only a NUL byte, which no argument can hold, makes quoting fail.
    shlex::try_join(args.iter().map(String::as_str)).unwrap_or_else(|_| args.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn the_resume_command_adds_resume_and_the_results_directory() {
        let dir = Path::new("helpcrunch-import-out/2026-11-25T17-30-00");
        assert_eq!(
            resume_command(
                &argv(&["helpcrunch-import", "import", "a.csv", "--rate", "2/s"]),
                dir
            ),
            "helpcrunch-import import a.csv --rate 2/s --out helpcrunch-import-out/2026-11-25T17-30-00 --resume"
        );
    }

    #[test]
    fn a_given_out_and_resume_are_kept_and_overwrite_and_force_dropped() {
        let dir = Path::new("ignored");
        assert_eq!(
            resume_command(
                &argv(&[
                    "hi",
                    "import",
                    "a.csv",
                    "--out",
                    "res",
                    "--overwrite",
                    "--config",
                    "c.toml"
                ]),
                dir
            ),
            "hi import a.csv --out res --config c.toml --resume"
        );
        assert_eq!(
            resume_command(
                &argv(&["hi", "import", "a.csv", "--out=res", "--resume", "--force"]),
                dir
            ),
            "hi import a.csv '--out=res' --resume"
        );
    }

    #[test]
    fn arguments_are_quoted_for_the_shell() {
        let command = resume_command(
            &argv(&["/opt/my tools/hi", "import", "CRM export.csv", "it's.csv"]),
            Path::new("out dir"),
        );
        assert_eq!(
            shlex::split(&command),
            Some(argv(&[
                "/opt/my tools/hi",
                "import",
                "CRM export.csv",
                "it's.csv",
                "--out",
                "out dir",
                "--resume"
            ]))
        );
    }

    #[test]
    fn a_hint_without_a_command_line_never_has_a_command() {
        let hint = ResumeHint::default();
        hint.set(Path::new("out"));
        assert_eq!(hint.command(), None);
        let hint = ResumeHint::new(["hi".into(), "import".into(), "a.csv".into()]);
        assert_eq!(hint.command(), None);
        hint.set(Path::new("out"));
        assert_eq!(hint.command(), Some("hi import a.csv --out out --resume"));
    }
}
