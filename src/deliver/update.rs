//! One row in `--mode upsert|update`: the state's plan for it (see [`crate::state::plan`]),
//! then nothing, one PATCH, or the create path of [`super::create`] — and the state
//! updated with what the contact now holds.
//!
//! A contact the create path finds existing (the API's duplicate-userId answer, or a
//! search) is patched, never created twice. Updates use `PATCH /customers/{id}`, one per
//! row: `PUT` (and so `PUT /customers/batch`) replaces the whole contact, nulling every
//! field a row leaves out, and an import only sends the columns it maps (see README,
//! "Nightly sync").

use super::Courier;
use super::attempt::{Budget, Next, Operation, Then};
use super::create::Start;
use super::react::{Reaction, react_to_update, stopped_after};
use crate::client::{Answer, Request};
use crate::error::RunError;
use crate::ledger::RowKey;
use crate::outcome::{FailStatus, RowResult};
use crate::payload::CreateCustomer;
use crate::state::plan::{self, Known, Mode, Plan};
use crate::state::{State, StateError};

/// What rows are synced against.
pub struct Sync {
    /// `Upsert` or `Update` (`Create` keeps no state and never gets here).
    pub mode: Mode,
    /// The persistent state, locked for this run.
    pub state: State,
}

/// `PATCH /customers/{id}` with the row's fields, as an [`Operation`].
struct Patch<'a> {
    id: i64,
    payload: &'a CreateCustomer,
}

impl<'a> Operation<'a> for Patch<'a> {
    fn next(&mut self) -> Next<'a> {
        Next::Send(Request::Update {
            id: self.id,
            payload: self.payload,
        })
    }

    fn react(&mut self, answer: Answer) -> Then {
        match react_to_update(self.id, answer) {
            Reaction::Done(result) => Then::Done(result),
            Reaction::Fatal(result) => Then::Fatal(result),
            Reaction::Retry(retry) => Then::Retry(retry),
            // A PATCH never asks for a lookup or a create.
            other => Then::Done(RowResult::failed(
                FailStatus::Rejected,
                format!("unexpected answer to an update: {other:?}"),
            )),
        }
    }
}

impl Courier {
    /// Sends one row of an upsert or update: see the module docs.
    pub(super) async fn sync(
        &self,
        sync: &Sync,
        row: RowKey,
        budget: &mut Budget,
        payload: &CreateCustomer,
        start: Start,
    ) -> RowResult {
        match self.synced(sync, row, budget, payload, start).await {
            Ok(result) => result,
            Err(error) => {
                self.shutdown.fail(RunError::State(error));
                stopped_after(0, start == Start::InDoubt)
            }
        }
    }

    async fn synced(
        &self,
        sync: &Sync,
        row: RowKey,
        budget: &mut Budget,
        payload: &CreateCustomer,
        start: Start,
    ) -> Result<RowResult, StateError> {
        let key = plan::key(payload);
        let hash = plan::hash(payload);
        let known = match &key {
            Some(key) => sync.state.get(key.clone()).await?,
            None => None,
        };
        let find = Start::Find {
            create: sync.mode == Mode::Upsert,
        };
        let planned = plan::plan(
            sync.mode,
            key.as_deref(),
            known,
            &hash,
            payload.user_id.is_some(),
        );
        let mut result = match (planned, start) {
            (Plan::Unchanged { id }, _) => return Ok(RowResult::Unchanged { id }),
            (Plan::Patch { id }, _) => match self.patch(row, budget, id, payload).await {
                // Deleted in HelpCrunch since: find it again (or create it, in upsert).
                RowResult::Failed {
                    status: FailStatus::NotFound,
                    ..
                } => self.create(row, budget, payload, find).await,
                result => result,
            },
            (_, Start::InDoubt) => self.create(row, budget, payload, Start::InDoubt).await,
            (Plan::Create, _) => self.create(row, budget, payload, Start::Fresh).await,
            (Plan::Find { create }, _) => {
                self.create(row, budget, payload, Start::Find { create })
                    .await
            }
            (Plan::NotFound, _) => RowResult::failed(
                FailStatus::NotFound,
                "not found: the row has no userId or email to find its contact by",
            ),
        };
        if let RowResult::Exists { id: Some(id) } = result {
            result = self.patch(row, budget, id, payload).await;
        }
        if let (Some(key), RowResult::Created { id: Some(id) } | RowResult::Updated { id }) =
            (key, &result)
        {
            sync.state.put(key, Known { id: *id, hash }).await?;
        }
        Ok(result)
    }

    /// `PATCH /customers/{id}` with the row's fields, retried within the row's budget.
    async fn patch(
        &self,
        row: RowKey,
        budget: &mut Budget,
        id: i64,
        payload: &CreateCustomer,
    ) -> RowResult {
        self.attempt(row, budget, &mut Patch { id, payload }).await
    }
}
