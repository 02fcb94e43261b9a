//! The run's one stop signal, and why it stopped: every task holds a clone.
//!
//! A run stops for two kinds of reason: from outside (SIGINT, SIGTERM: the caller's
//! token, this one's parent), or because something made every later row pointless (a
//! refused key, a ledger that cannot record, an input that cannot be read). The second
//! kind is recorded with [`Shutdown::fail`], which keeps the first cause and stops
//! everyone at once; the cause becomes the run's error and exit code.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::error::RunError;

/// Cloned into every task of a run; cheap to clone.
#[derive(Clone, Default)]
pub struct Shutdown {
    /// Cancelled to stop: by the caller's signal (its parent) or by [`Shutdown::fail`].
    token: CancellationToken,
    /// The first run-level error; later ones are consequences of it.
    cause: Arc<Mutex<Option<RunError>>>,
}

impl Shutdown {
    /// A shutdown stopped by `parent` (the signal handler's token) as well as its own causes.
    pub fn new(parent: &CancellationToken) -> Shutdown {
        Shutdown {
            token: parent.child_token(),
            cause: Arc::default(),
        }
    }

    /// Stops the run for `error`, unless an earlier cause is recorded: that one is kept.
    pub fn fail(&self, error: RunError) {
        {
            let mut cause = self.lock();
            if cause.is_none() {
                *cause = Some(error);
            }
        }
        self.token.cancel();
    }

    /// Stops the run with no error of its own (as a signal does).
    pub fn stop(&self) {
        self.token.cancel();
    }

    pub fn is_stopping(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes once the run is stopping.
    pub async fn stopped(&self) {
        self.token.cancelled().await;
    }

    /// Whether a recorded error stopped the run (rather than a signal, or nothing).
    pub fn has_failed(&self) -> bool {
        self.lock().is_some()
    }

    /// The recorded error's message, for the summary.
    pub fn describe(&self) -> Option<String> {
        self.lock().as_ref().map(|e| e.to_string())
    }

    /// Takes the recorded error, for the run's result.
    pub fn take_error(&self) -> Option<RunError> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<RunError>> {
        self.cause.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_cause_wins_and_stops_everyone() {
        let parent = CancellationToken::new();
        let shutdown = Shutdown::new(&parent);
        let task = shutdown.clone();
        assert!(!task.is_stopping());
        shutdown.fail(RunError::Internal("first".into()));
        shutdown.fail(RunError::Internal("second".into()));
        assert!(task.is_stopping());
        assert!(!parent.is_cancelled(), "a run's failure is its own");
        assert_eq!(task.describe().as_deref(), Some("first"));
        assert!(matches!(task.take_error(), Some(RunError::Internal(m)) if m == "first"));
    }

    #[test]
    fn a_signal_stops_the_run_without_a_cause() {
        let parent = CancellationToken::new();
        let shutdown = Shutdown::new(&parent);
        parent.cancel();
        assert!(shutdown.is_stopping());
        assert!(!shutdown.has_failed());
        assert_eq!(shutdown.describe(), None);
    }
}
