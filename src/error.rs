//! Run-level failures and the one place they become exit codes.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::mapping::MappingError;
use crate::source::SourceError;

/// Why a run could not start or had to stop. Per-row problems are never a `RunError`:
/// they go to `failed.csv` and the run goes on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Config(String),
    #[error("mapping: {0}")]
    Mapping(#[from] MappingError),
    /// A CSV header the mapping cannot use (a duplicate or empty name, a missing column).
    #[error("{file}: line 1: {error}")]
    Header {
        file: std::sync::Arc<str>,
        error: MappingError,
    },
    #[error(transparent)]
    Input(#[from] SourceError),
    #[error(
        "the API refused the key (401 unauthorized{detail}): check HELPCRUNCH_API_KEY (or api_key_file in the config); the run was stopped"
    )]
    Unauthorized { detail: String },
    #[error("cannot write results in {}: {source}", dir.display())]
    Output {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("sandbox: {0}")]
    Sandbox(std::io::Error),
}

/// The first run-level error wins; later ones are consequences of it.
#[derive(Clone, Default)]
pub struct Fatal(Arc<Mutex<Option<RunError>>>);

impl Fatal {
    pub fn set(&self, error: RunError) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(error);
        }
    }

    pub fn take(&self) -> Option<RunError> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    pub fn describe(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|e| e.to_string())
    }
}

/// How a run ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every row went through (created, or valid in a dry run).
    AllSucceeded,
    /// The run finished but some rows failed.
    SomeFailed,
    /// Stopped by SIGINT or SIGTERM.
    Interrupted,
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
