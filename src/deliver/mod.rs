//! Sending one row: the per-row courier. It asks the ledger what the row needs, then runs
//! the run's operation for it: a create (`--mode create`), or a sync against the state
//! (`--mode upsert|update`).
//!
//! - `attempt`: one request's turn, written once for every operation (pacing, sending,
//!   retries with backoff within a per-row budget, stopping), and the [`RetryPolicy`].
//! - `react`: pure: what each answer means for the row, for every operation.
//! - `create`: `POST /customers`, and the lookups that keep a row from being created
//!   twice.
//! - `update`: `--mode upsert|update`: the state's plan for the row, then nothing, a
//!   `PATCH`, or the create path.
//! - `verify`: reading written contacts back; `list`: listing the account into the
//!   state's index before any row is sent; `delete`: deleting a contact (undo, and
//!   contacts that left the export).
//!
//! A new API operation is a file here implementing `attempt::Operation` (which request
//! comes next, what an answer means), a variant of [`crate::client::Request`], and its
//! reaction in `react`.

mod attempt;
mod create;
mod delete;
mod list;
mod outage;
mod react;
mod refusals;
mod update;
mod verify;

use std::sync::Arc;

use crate::client::Client;
use crate::error::RunError;
use crate::ledger::{Claim, Ledger, RowKey};
use crate::limiter::Limiter;
use crate::outcome::{FailStatus, RowResult};
use crate::payload::CreateCustomer;
use crate::progress::Counters;
use crate::record::Record;
use crate::shutdown::Shutdown;

use self::attempt::{Budget, Operation, Settle};
pub use self::attempt::{IN_FLIGHT_GRACE, RetryPolicy};
use self::create::Create;
pub use self::create::Start;
pub use self::delete::Deletion;
pub use self::list::{IndexPolicy, IndexReport};
pub use self::outage::Outage;
pub use self::react::stopped;
pub use self::refusals::Refusals;
pub use self::update::Sync;
pub use self::verify::{Verifier, Verify};

/// What every worker shares to send rows.
pub struct Courier {
    /// The API over HTTP: one pooled connection set for every worker.
    pub client: Client,
    /// The one pacing limiter every request goes through, because the API's limit is the
    /// organization's, not a connection's.
    pub limiter: Limiter,
    /// How each row's faults and 429s are retried, and how long a Retry-After is honoured.
    pub retry: RetryPolicy,
    /// Workers sending at once.
    pub concurrency: usize,
    pub counters: Arc<Counters>,
    /// Observed while waiting for a turn or a retry, so a stop ends the wait; a fatal
    /// answer (a refused key) or a ledger that cannot record stops the run through it.
    pub shutdown: Shutdown,
    /// Where each row's intent is recorded before its create request leaves. None for a
    /// courier that only lists the account (`plan --index always`), which sends no row.
    pub ledger: Option<Ledger>,
    /// Picks the written contacts to read back, proving the data stuck (`--verify`).
    pub verifier: Verifier,
    /// Watches the first rows sent, to stop a run that can only fail (`fail_fast`).
    pub refusals: Refusals,
    /// Watches whether the API answers at all, to stop a run that cannot reach it
    /// (`retry.unreachable_secs`).
    pub outage: Outage,
    /// `--mode upsert|update` and its state; None for `--mode create`, which opens none.
    pub sync: Option<Sync>,
}

impl Courier {
    /// A row's result: the one an earlier pass recorded if it finished the row, else what
    /// sending it gives. A ledger that cannot answer stops the run: a row whose fate
    /// cannot be recorded must not be sent.
    pub async fn deliver(&self, record: &Record, payload: &CreateCustomer) -> RowResult {
        let Some(ledger) = &self.ledger else {
            return RowResult::failed(
                FailStatus::NotSent,
                "not sent: this run keeps no ledger (a bug: please report it)",
            );
        };
        let claimed = match ledger.key(&record.origin) {
            Ok(key) => ledger.claim(key).await.map(|claim| (key, claim)),
            Err(error) => Err(error),
        };
        let (key, start) = match claimed {
            Ok((_, Claim::Finished(result))) => {
                // Finished by an earlier pass: its contact is still in the export.
                if let Some(sync) = &self.sync
                    && let Err(error) = sync.met(payload).await
                {
                    self.shutdown.fail(RunError::State(error));
                }
                return result;
            }
            Ok((key, Claim::Send)) => (key, Start::Fresh),
            Ok((key, Claim::Reconcile)) => (key, Start::InDoubt),
            Err(error) => {
                self.shutdown.fail(RunError::Ledger(error));
                return stopped(0);
            }
        };
        let result = self.send(key, payload, start).await;
        if let Some(error) = self.refusals.record(&record.origin, &result) {
            self.shutdown.fail(error);
        }
        result
    }

    /// Sends one row as the run's `--mode` says: created, or synced against the state.
    async fn send(&self, row: RowKey, payload: &CreateCustomer, start: Start) -> RowResult {
        let mut budget = Budget::new(&self.retry);
        match &self.sync {
            None => self.create(row, &mut budget, payload, start).await,
            Some(sync) => self.sync(sync, row, &mut budget, payload, start).await,
        }
    }

    /// Creates the row's contact, unless a lookup finds it there already.
    async fn create(
        &self,
        row: RowKey,
        budget: &mut Budget,
        payload: &CreateCustomer,
        start: Start,
    ) -> RowResult {
        self.create_or_find(row, budget, payload, start).await.0
    }

    /// As [`Courier::create`], and whether a `created` contact was only found by a lookup
    /// after a create whose answer was lost: the run may have made it, or it may have
    /// been there before, holding other values. The ledger records such a contact, so an
    /// undo leaves it.
    async fn create_or_find(
        &self,
        row: RowKey,
        budget: &mut Budget,
        payload: &CreateCustomer,
        start: Start,
    ) -> (RowResult, bool) {
        let settle = Settle::new(&self.retry);
        let mut create = Create::new(payload, start, settle);
        let result = self
            .attempt(Some(row), budget, &mut create)
            .await
            .unwrap_or_else(|ended| ended);
        let mut doubted = false;
        if let RowResult::Created { id: Some(id) } = result {
            doubted = create.maybe_sent();
            if let (true, Some(ledger)) = (doubted, &self.ledger)
                && let Err(error) = ledger.doubted(row, id).await
            {
                self.shutdown.fail(RunError::Ledger(error));
            }
            // One found may hold other values than the row's: a sync patches it (and reads
            // that back), a create run leaves it as it is.
            if !doubted {
                self.verify_create(row, budget, id, payload).await;
            }
        }
        (result, doubted)
    }
}
