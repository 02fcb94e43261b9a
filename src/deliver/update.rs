//! One row in `--mode upsert|update`: the state's plan for it (see [`crate::state::plan`]),
//! then nothing, an update, or the create path of [`super::create`] — and the state
//! updated with what the contact now holds.
//!
//! A contact the create path finds existing (the API's duplicate-userId answer, or a
//! search) is updated, never created twice. An update is a `PATCH /customers/{id}` of the
//! fields that changed, and the row's tags added through `PUT /customers/{id}/tags` when
//! they changed: that endpoint only adds, so a tag an agent put on the contact survives
//! whatever PATCH does with tags it is not sent (the docs leave that open). `PUT` (and so
//! `PUT /customers/batch`) would replace the whole contact, nulling every field a row
//! leaves out, and an import only sends the columns it maps (see README, "Nightly sync").

use super::Courier;
use super::attempt::{Budget, Next, Operation, Then};
use super::create::Start;
use super::react::{Reaction, react_to_update, stopped_after};
use crate::client::{Answer, Request};
use crate::error::RunError;
use crate::ledger::RowKey;
use crate::outcome::{FailStatus, RowResult};
use crate::payload::{CreateCustomer, Tag};
use crate::readback::Collections;
use crate::state::plan::{self, Found, Hashes, Known, Mode, Parts, Plan};
use crate::state::{Indexed, State, StateError};
use serde_json::{Map, Value};

/// What rows are synced against; cheap to clone (the state is a handle).
#[derive(Clone)]
pub struct Sync {
    /// `Upsert` or `Update`; `Create` only with a state for its account index.
    pub mode: Mode,
    /// The persistent state, locked for this run.
    pub state: State,
    /// How updates treat tags and customData (`[update]` in the config).
    pub collections: Collections,
    /// Whether the state's account index is complete and this run uses it.
    pub index: bool,
    /// The sync run an import is (see [`State::begin_run`]): each row's contact is marked
    /// met by it, so those that left the export can be found. None for a plan.
    pub run: Option<i64>,
}

/// What the state and the account index say of a row, before anything is sent.
pub struct RowPlan {
    pub plan: Plan,
    /// The state's key for the row's contact.
    pub key: Option<String>,
    pub hashes: Hashes,
    /// The contact the account index holds for it (the run uses an index): what an
    /// update changes in it, as it was, is kept for an undo.
    pub held: Option<Indexed>,
    /// Whether the index decided the plan (the state had never sent to the contact).
    pub from_index: bool,
}

impl Sync {
    /// Marks the row's contact met by this sync run (a row an earlier pass finished).
    pub async fn met(&self, payload: &CreateCustomer) -> Result<(), StateError> {
        if let Some(run) = self.run {
            self.state.met(plan::keys(payload).collect(), run).await?;
        }
        Ok(())
    }

    /// The plan for a row: what it would cost, and what the run does with it.
    pub async fn plan(&self, payload: &CreateCustomer) -> Result<RowPlan, StateError> {
        let key = plan::key(payload);
        let hashes = plan::hashes(payload);
        // Every key the row has names its contact: one that now has a userId, or lost it,
        // still names the contact the state knows by its other key.
        let meet = match self.run {
            Some(_) => plan::keys(payload).collect(),
            None => Vec::new(),
        };
        let known = self.state.get_meeting(key.clone(), meet, self.run).await?;
        // The index is asked only where it can change the plan, or holds what an update is
        // about to change (for an undo): not for a contact the state knows unchanged.
        let unchanged = known.is_some_and(|known| !plan::changed(&known, &hashes));
        let skip_index = (self.mode == Mode::Create && known.is_some()) || unchanged;
        let held = if self.index && !skip_index {
            let (user_id, email) = (payload.user_id.clone(), payload.email.clone());
            // A create run stops at any contact holding the row's userId or email; a sync
            // updates only the contact with the row's userId (another with its email is
            // another person's record).
            let email_too = self.mode == Mode::Create;
            self.state.index_lookup(user_id, email, email_too).await?
        } else {
            None
        };
        // What the index holds decides only where the state has never sent to the contact.
        let found = held
            .as_ref()
            .filter(|_| known.is_none())
            .map(|indexed| Found {
                id: indexed.id,
                changes: plan::changes(payload, &indexed.contact),
            });
        let plan = plan::plan(
            self.mode,
            key.as_deref(),
            known,
            &hashes,
            payload.user_id.is_some(),
            found,
        );
        Ok(RowPlan {
            plan,
            key,
            hashes,
            held,
            from_index: found.is_some(),
        })
    }
}

/// One update request, as an [`Operation`]: a PATCH of the row's fields, its tags added,
/// or (an undo) values put back and tags taken off.
enum Change<'a> {
    Patch {
        id: i64,
        payload: &'a CreateCustomer,
    },
    AddTags {
        id: i64,
        tags: &'a [Tag],
    },
    Restore {
        id: i64,
        body: &'a Value,
    },
    RemoveTags {
        id: i64,
        tags: &'a [Tag],
    },
}

impl<'a> Operation<'a> for Change<'a> {
    type Output = RowResult;

    fn next(&mut self) -> Next<'a, RowResult> {
        Next::Send(match *self {
            Change::Patch { id, payload } => Request::Update { id, payload },
            Change::AddTags { id, tags } => Request::AddTags { id, tags },
            Change::Restore { id, body } => Request::Restore { id, body },
            Change::RemoveTags { id, tags } => Request::RemoveTags { id, tags },
        })
    }

    fn react(&mut self, answer: Answer) -> Then<RowResult> {
        let id = match self {
            Change::Patch { id, .. }
            | Change::AddTags { id, .. }
            | Change::Restore { id, .. }
            | Change::RemoveTags { id, .. } => *id,
        };
        match react_to_update(id, answer) {
            Reaction::Done(result) => Then::Done(result),
            Reaction::Fatal(result) => Then::Fatal(result),
            Reaction::Retry(retry) => Then::Retry(retry),
            // An update never asks for a lookup or a create.
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
        let RowPlan {
            plan,
            key,
            hashes,
            held,
            from_index,
        } = sync.plan(payload).await?;
        // What the index holds of contact `id`, if that is the row's.
        let held_of = |id: i64| {
            held.as_ref()
                .filter(|indexed| indexed.id == id)
                .map(|indexed| &indexed.contact)
        };
        let find = Start::Find {
            create: sync.mode == Mode::Upsert,
        };
        // The row's contact is in tonight's export once the row resolves to it, whatever
        // becomes of the row. (One the state knows by the row's key is met already, and an
        // unchanged one from the index is recorded met.)
        let met = |id: i64| async move {
            match sync.run {
                Some(run) => sync.state.met_contact(id, run).await,
                None => Ok(()),
            }
        };
        let mut doubted = false;
        let mut result = match (plan, start) {
            (Plan::Unchanged { id }, _) => {
                // Known from the index: the state records it, so the next run need not look.
                if let (Some(key), true) = (key, from_index) {
                    sync.state
                        .put(key, Known::new(id, hashes), sync.run)
                        .await?;
                }
                return Ok(RowResult::Unchanged { id });
            }
            (Plan::Exists { id }, _) => {
                // Known from the index: the state records it, so a run without the index
                // knows it too; but only a contact that holds the row's own key (one found
                // by the row's email under another userId is another person's record).
                let holds_key = held.as_ref().is_some_and(|indexed| {
                    payload.user_id.is_none()
                        || indexed.contact.get("userId").and_then(|v| v.as_str())
                            == payload.user_id.as_deref()
                });
                if let (Some(key), true, true) = (key, from_index, holds_key) {
                    sync.state.know(key, id, sync.run).await?;
                }
                return Ok(RowResult::Exists { id: Some(id) });
            }
            (Plan::Patch { id, parts }, _) => {
                // Known by the row's key (met already), or found by the index.
                if from_index {
                    met(id).await?;
                }
                match self
                    .update(sync, row, budget, id, payload, parts, held_of(id))
                    .await
                {
                    // Deleted in HelpCrunch since: find it again (or create it, in upsert).
                    RowResult::Failed {
                        status: FailStatus::NotFound,
                        ..
                    } => self.create(row, budget, payload, find).await,
                    result => result,
                }
            }
            (Plan::NotFound, Start::Fresh | Start::Find { .. }) => RowResult::failed(
                FailStatus::NotFound,
                "not found: the row has no userId or email to find its contact by",
            ),
            (Plan::Create | Plan::Find { .. } | Plan::NotFound, start) => {
                let start = match (plan, start) {
                    (_, Start::InDoubt) => Start::InDoubt,
                    (Plan::Find { create }, _) => Start::Find { create },
                    _ => Start::Fresh,
                };
                let (created, found_in_doubt) =
                    self.create_or_find(row, budget, payload, start).await;
                doubted = found_in_doubt;
                created
            }
        };
        if let RowResult::Created { id: Some(id) } | RowResult::Exists { id: Some(id) } = result {
            met(id).await?;
        }
        // A contact found existing is updated, never created twice (`--mode create`
        // leaves it as it is). So is one a lookup found after a lost answer: it may have
        // been there before the run, holding other values; it stays `created`.
        match (&result, sync.mode != Mode::Create) {
            (RowResult::Exists { id: Some(id) }, true) => {
                let id = *id;
                result = self
                    .update(sync, row, budget, id, payload, Parts::ALL, held_of(id))
                    .await;
            }
            (RowResult::Created { id: Some(id) }, true) if doubted => {
                let id = *id;
                let updated = self
                    .update(sync, row, budget, id, payload, Parts::ALL, held_of(id))
                    .await;
                if !matches!(updated, RowResult::Updated { .. }) {
                    result = updated;
                }
            }
            // `--mode create`: the API's duplicate answer found it.
            (RowResult::Exists { id: Some(id) }, false) => {
                if let Some(key) = &key {
                    sync.state.know(key.clone(), *id, sync.run).await?;
                }
            }
            _ => {}
        }
        if let RowResult::Created { id: Some(id) } | RowResult::Updated { id } = result {
            match key {
                // Found after a lost answer and not patched (`--mode create`): it may hold
                // other values than the row's, so none are taken as sent.
                Some(key) if doubted && sync.mode == Mode::Create => {
                    sync.state.know(key, id, sync.run).await?;
                }
                Some(key) => {
                    sync.state
                        .put(key, Known::new(id, hashes), sync.run)
                        .await?;
                }
                None => {}
            }
            if sync.index {
                sync.state.index_wrote(id, payload).await?;
            }
        }
        Ok(result)
    }

    /// Updates contact `id` with the `parts` of the row that changed: a PATCH of its
    /// fields (its tags too, with `tags = "replace"`), and its tags added through the tag
    /// endpoint. Read back around it when the verifier picks it. What it changes, as it
    /// was (read back, else `held` by the account index), goes to the ledger first, for
    /// an undo to put back.
    #[allow(clippy::too_many_arguments)]
    async fn update(
        &self,
        sync: &Sync,
        row: RowKey,
        budget: &mut Budget,
        id: i64,
        payload: &CreateCustomer,
        parts: Parts,
        held: Option<&Map<String, Value>>,
    ) -> RowResult {
        let before = self.before_update(row, budget, id).await;
        if let (Some(ledger), Some(contact)) = (&self.ledger, before.as_ref().or(held)) {
            let restore = crate::restore::before(payload, contact);
            if let Err(error) = ledger.before(row, id, &restore).await {
                self.shutdown.fail(crate::error::RunError::Ledger(error));
                return super::react::stopped(0);
            }
        }
        let add_tags = parts.tags && !payload.tags.is_empty() && !sync.collections.replace_tags;
        let patch = parts.fields || (parts.tags && sync.collections.replace_tags);
        let untagged;
        let fields = if add_tags {
            untagged = CreateCustomer {
                tags: Vec::new(),
                ..payload.clone()
            };
            &untagged
        } else {
            payload
        };
        let mut result = RowResult::Updated { id };
        if patch {
            result = self
                .change(
                    row,
                    budget,
                    Change::Patch {
                        id,
                        payload: fields,
                    },
                )
                .await;
        }
        if add_tags && matches!(result, RowResult::Updated { .. }) {
            let tags = &payload.tags;
            result = self.change(row, budget, Change::AddTags { id, tags }).await;
        }
        if let (Some(before), RowResult::Updated { .. }) = (&before, &result) {
            self.verify_update(row, budget, id, before, payload, sync.collections)
                .await;
        }
        result
    }

    async fn change(&self, row: RowKey, budget: &mut Budget, change: Change<'_>) -> RowResult {
        self.change_contact(Some(row), budget, change).await
    }

    async fn change_contact(
        &self,
        row: Option<RowKey>,
        budget: &mut Budget,
        mut change: Change<'_>,
    ) -> RowResult {
        self.attempt(row, budget, &mut change)
            .await
            .unwrap_or_else(|ended| ended)
    }

    /// Puts back what an update changed in contact `id`: its fields and customData (one
    /// PATCH), then the tags it added taken off (one request). `Updated` when both went
    /// through (or there was nothing to do), else the first failure.
    pub async fn restore_contact(&self, id: i64, before: &crate::restore::Before) -> RowResult {
        let mut budget = Budget::new(&self.retry);
        let mut result = RowResult::Updated { id };
        if let Some(body) = before.patch() {
            result = self
                .change_contact(None, &mut budget, Change::Restore { id, body: &body })
                .await;
        }
        let tags = before.tags();
        if !tags.is_empty() && matches!(result, RowResult::Updated { .. }) {
            let change = Change::RemoveTags { id, tags: &tags };
            result = self.change_contact(None, &mut budget, change).await;
        }
        result
    }

    /// Adds `tags` to contact `id` (the tag endpoint only adds).
    pub async fn tag_contact(&self, id: i64, tags: &[Tag]) -> RowResult {
        let mut budget = Budget::new(&self.retry);
        self.change_contact(None, &mut budget, Change::AddTags { id, tags })
            .await
    }
}
