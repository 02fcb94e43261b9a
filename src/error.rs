//! Run-level failures and the one place they become exit codes.

use std::path::PathBuf;

use crate::ledger::LedgerError;
use crate::mapping::MappingError;
use crate::source::SourceError;

/// Why a run could not start or had to stop. Per-row problems are never a `RunError`:
/// they go to `failed.csv` and the run goes on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Flags, the config file or the environment: the run cannot start as asked.
    #[error("{0}")]
    Config(String),
    /// A task or the runtime failed: a bug or the machine, never the input's fault.
    #[error("{0}")]
    Internal(String),
    #[error("mapping: {0}")]
    Mapping(#[from] MappingError),
    /// A CSV header the mapping cannot use (a duplicate or empty name, a missing column).
    #[error("{file}: line {line}: {error}")]
    Header {
        file: std::sync::Arc<str>,
        /// The header's line: 1, or 2 below Excel's `sep=;` line.
        line: u64,
        error: MappingError,
    },
    #[error(transparent)]
    Input(#[from] SourceError),
    #[error(
        "the API refused the key (401 unauthorized{detail}): check HELPCRUNCH_API_KEY (or api_key_file in the config); the run was stopped"
    )]
    Unauthorized { detail: String },
    /// A contact read back did not hold what was sent (`--verify`).
    #[error(
        "contact {id} was {written}, but HelpCrunch did not store what was sent: {details}. Likely cause: {cause}. The run stopped before spending more of the organization's requests; the row is recorded in created.csv. Fix this, then go on with --resume"
    )]
    NotStored {
        id: i64,
        written: String,
        details: String,
        cause: String,
    },
    /// The first rows sent were all refused for one reason (`fail_fast`).
    #[error(
        "the first {rows} rows sent were all refused the same way ({reason}; the first: {first}): the rest would be refused too, so the run stopped before spending more of the organization's requests. Fix the cause, import the refused rows again from failed.csv, and go on with --resume (fail_fast = 0 in the config turns this check off)"
    )]
    CanOnlyFail {
        rows: u64,
        reason: String,
        first: String,
    },
    /// No request had an answer but a fault for too long (`retry.unreachable_secs`).
    #[error(
        "{what} from the API at {base_url} for {secs} s ({attempts} attempts failed; the last: {last}): the run stopped rather than spend every row's retries; {advice}, then go on (import: --resume; undo: run it again). retry.unreachable_secs in the config sets how long to wait (0: never stop)"
    )]
    Unreachable {
        /// "no answer", or "nothing but server errors" (5xx).
        what: &'static str,
        base_url: String,
        secs: u64,
        attempts: u64,
        last: String,
        advice: &'static str,
    },
    #[error("cannot write results in {}: {source}", dir.display())]
    Output {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("sandbox: {0}")]
    Sandbox(std::io::Error),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
}

/// How a run ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every row went through (created, updated, unchanged, or valid in a dry run), or no
    /// more failed than `--max-failures` allows.
    AllSucceeded,
    /// The run finished but more rows failed than `--max-failures` allows (any, by default).
    SomeFailed,
    /// Stopped by SIGINT or SIGTERM.
    Interrupted,
}

/// `--max-failures`: how many failed rows a finished run may have and still exit 0, so a
/// few bad rows in a nightly export do not page anyone but a broken export does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FailureLimit {
    /// At most this many rows.
    Count(u64),
    /// At most this share of the rows read, in percent.
    Percent(f64),
}

impl Default for FailureLimit {
    /// Any failed row makes the exit code 1.
    fn default() -> Self {
        FailureLimit::Count(0)
    }
}

impl FailureLimit {
    /// Whether `failed` of `rows_read` rows is more than the limit allows.
    pub fn exceeded(self, failed: u64, rows_read: u64) -> bool {
        match self {
            FailureLimit::Count(max) => failed > max,
            FailureLimit::Percent(max) => failed as f64 * 100.0 > max * rows_read as f64,
        }
    }
}

impl std::str::FromStr for FailureLimit {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let wrong = || format!("{text:?} is not a count (10) or a percentage (0.5%)");
        match text.strip_suffix('%') {
            Some(percent) => {
                let percent: f64 = percent.trim().parse().map_err(|_| wrong())?;
                if (0.0..=100.0).contains(&percent) {
                    Ok(FailureLimit::Percent(percent))
                } else {
                    Err(format!("{text:?}: a percentage is between 0% and 100%"))
                }
            }
            None => text.parse().map(FailureLimit::Count).map_err(|_| wrong()),
        }
    }
}

pub const EXIT_OK: u8 = 0;
pub const EXIT_SOME_FAILED: u8 = 1;
pub const EXIT_STOPPED: u8 = 2;
pub const EXIT_INTERRUPTED: u8 = 130;

/// The exit code for a run's result: 0 all rows succeeded, 1 some failed, 2 the run could
/// not start or was stopped by a fatal answer, 130 interrupted.
pub fn exit_code(result: &Result<Ending, RunError>) -> u8 {
    match result {
        Ok(Ending::AllSucceeded) => EXIT_OK,
        Ok(Ending::SomeFailed) => EXIT_SOME_FAILED,
        Ok(Ending::Interrupted) => EXIT_INTERRUPTED,
        Err(_) => EXIT_STOPPED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_limit_is_a_count_or_a_share_of_the_rows_read() {
        let limit = |text: &str| text.parse::<FailureLimit>();
        assert_eq!(limit("3"), Ok(FailureLimit::Count(3)));
        assert_eq!(limit(" 2.5% "), Ok(FailureLimit::Percent(2.5)));
        assert!(limit("-1").is_err());
        assert!(limit("101%").is_err());
        assert!(limit("ten").is_err());
        assert!(limit("%").is_err());

        assert!(!FailureLimit::default().exceeded(0, 100));
        assert!(FailureLimit::default().exceeded(1, 100));
        assert!(!FailureLimit::Count(3).exceeded(3, 100));
        assert!(FailureLimit::Count(3).exceeded(4, 100));
        assert!(!FailureLimit::Percent(5.0).exceeded(5, 100));
        assert!(FailureLimit::Percent(5.0).exceeded(6, 100));
        assert!(!FailureLimit::Percent(0.0).exceeded(0, 0));
    }
}
