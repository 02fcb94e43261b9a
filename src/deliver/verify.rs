//! `--verify`: reading written contacts back (`GET /customers/{id}`) to prove the data
//! stuck, and stopping the run when it did not, before it spends the organization's
//! budget on rows that lose data (see [`crate::readback`] for what is compared).

use std::num::NonZeroU64;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde_json::{Map, Value};

use super::Courier;
use super::attempt::{Budget, Next, Operation, Then};
use super::react::{Reaction, react_to_failure};
use crate::client::{Answer, Request, Success};
use crate::error::RunError;
use crate::ledger::RowKey;
use crate::outcome::RowResult;
use crate::payload::CreateCustomer;
use crate::readback::{self, Collections, Mismatch};

/// Which written contacts are read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verify {
    /// None: the run trusts the API's answers.
    Off,
    /// The first contact the run creates, and the first it updates.
    #[default]
    First,
    /// The first, then one in N of each.
    Sample(NonZeroU64),
}

impl FromStr for Verify {
    type Err = String;

    fn from_str(text: &str) -> Result<Verify, String> {
        let text = text.trim();
        match text {
            "off" => Ok(Verify::Off),
            "first" => Ok(Verify::First),
            _ => text
                .strip_prefix("sample:")
                .and_then(|n| n.trim().parse().ok())
                .map(Verify::Sample)
                .ok_or_else(|| format!("{text:?} is not first, sample:N (N ≥ 1) or off")),
        }
    }
}

/// Decides, across every worker, which writes are read back.
#[derive(Debug, Default)]
pub struct Verifier {
    policy: Verify,
    /// Creates and updates so far: the sample is drawn from their order.
    creates: AtomicU64,
    updates: AtomicU64,
}

impl Verifier {
    pub fn new(policy: Verify) -> Verifier {
        Verifier {
            policy,
            ..Verifier::default()
        }
    }

    /// Whether the write counted by `writes` is one to read back.
    fn pick(&self, writes: &AtomicU64) -> bool {
        let n = writes.fetch_add(1, Relaxed);
        match self.policy {
            Verify::Off => false,
            Verify::First => n == 0,
            Verify::Sample(every) => n.is_multiple_of(every.get()),
        }
    }
}

/// `GET /customers/{id}`, as an [`Operation`]: the contact, or why it could not be read.
struct Fetch {
    id: i64,
}

impl<'a> Operation<'a> for Fetch {
    type Output = Result<Map<String, Value>, String>;

    fn next(&mut self) -> Next<'a, Self::Output> {
        Next::Send(Request::Get { id: self.id })
    }

    fn react(&mut self, answer: Answer) -> Then<Self::Output> {
        if let Answer::Ok(Success::Fetched { customer }) = answer {
            return Then::Done(Ok(customer));
        }
        match react_to_failure(answer) {
            Reaction::Fatal(result) => Then::Fatal(result),
            Reaction::Retry(retry) => Then::Retry(retry),
            Reaction::Done(RowResult::Failed { errors, .. }) => Then::Done(Err(errors.join("; "))),
            other => Then::Done(Err(format!("{other:?}"))),
        }
    }
}

impl Courier {
    /// Reads contact `id` back, counting the request as a verification. None (and a
    /// warning) when it cannot be read: the check is skipped, the row stands.
    async fn fetch(&self, row: RowKey, budget: &mut Budget, id: i64) -> Option<Map<String, Value>> {
        self.counters.add_verification();
        match self.attempt(Some(row), budget, &mut Fetch { id }).await {
            Ok(Ok(customer)) => Some(customer),
            Ok(Err(reason)) => {
                tracing::warn!(
                    "could not read contact {id} back to check it ({reason}): not checked"
                );
                None
            }
            // Stopped or out of retries: the run's own stop says why.
            Err(_) => None,
        }
    }

    /// After a create: when this one is to be checked, reads it back and stops the run if
    /// what was sent did not stick. The row stays created either way (nothing is lost).
    pub(super) async fn verify_create(
        &self,
        row: RowKey,
        budget: &mut Budget,
        id: i64,
        payload: &CreateCustomer,
    ) {
        if !self.verifier.pick(&self.verifier.creates) {
            return;
        }
        if let Some(stored) = self.fetch(row, budget, id).await {
            self.judge(id, "created", &readback::after_create(payload, &stored));
        }
    }

    /// Before an update: the contact as it is, when this update is to be checked.
    pub(super) async fn before_update(
        &self,
        row: RowKey,
        budget: &mut Budget,
        id: i64,
    ) -> Option<Map<String, Value>> {
        if !self.verifier.pick(&self.verifier.updates) {
            return None;
        }
        self.fetch(row, budget, id).await
    }

    /// After an update that [`Courier::before_update`] read first: reads the contact again
    /// and stops the run if what was sent did not stick, or what was not sent changed
    /// beyond what `collections` allows.
    pub(super) async fn verify_update(
        &self,
        row: RowKey,
        budget: &mut Budget,
        id: i64,
        before: &Map<String, Value>,
        payload: &CreateCustomer,
        collections: Collections,
    ) {
        if let Some(after) = self.fetch(row, budget, id).await {
            let found = readback::after_update(before, payload, &after, collections);
            self.judge(id, "updated", &found);
        }
    }

    fn judge(&self, id: i64, written: &str, mismatches: &[Mismatch]) {
        let Some(first) = mismatches.first() else {
            tracing::info!("read contact {id} back: everything sent was stored");
            return;
        };
        let details: Vec<String> = mismatches.iter().map(Mismatch::to_string).collect();
        self.shutdown.fail(RunError::NotStored {
            id,
            written: written.to_string(),
            details: details.join("; "),
            cause: first.cause().to_string(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_reads_first_sample_and_off() {
        assert_eq!("first".parse(), Ok(Verify::First));
        assert_eq!("off".parse(), Ok(Verify::Off));
        assert_eq!(
            " sample:50 ".parse(),
            Ok(Verify::Sample(NonZeroU64::new(50).expect("not zero")))
        );
        for bad in ["sample:0", "sample:", "sample:x", "all", ""] {
            assert!(bad.parse::<Verify>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_first_write_and_then_one_in_n_are_picked() {
        let picked = |policy, n: usize| {
            let verifier = Verifier::new(policy);
            (0..n).filter(|_| verifier.pick(&verifier.creates)).count()
        };
        assert_eq!(picked(Verify::Off, 10), 0);
        assert_eq!(picked(Verify::First, 10), 1);
        let every_four = Verify::Sample(NonZeroU64::new(4).expect("not zero"));
        assert_eq!(picked(every_four, 10), 3); // the 1st, 5th and 9th
    }
}
