//! Listing the account into the state's index (`GET /customers?limit=100&offset=N`,
//! `helpcrunch-api.md`, "List, get, delete"), paced by the same limiter as every request,
//! so a first sync compares rows with the contacts HelpCrunch holds instead of looking
//! each one up (see [`crate::state::index`]).

use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::Courier;
use super::attempt::{Budget, Next, Operation, Then};
use super::react::{Reaction, react_to_failure};
use crate::client::{Answer, PAGE_SIZE, Request, Success};
use crate::outcome::RowResult;
use crate::state::{IndexStatus, State, index};

/// `--index`: whether to list the account before sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IndexPolicy {
    /// List it when the state holds no index yet and listing costs fewer requests than
    /// the rows the state does not know (each would need a lookup); use an index the
    /// state holds.
    #[default]
    Auto,
    /// List it now (again, if the state holds one).
    Always,
    /// Neither list it nor use an index the state holds.
    Never,
}

/// What came of the account index, for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct IndexReport {
    /// `listed` (this run listed it), `used` (one the state held), `skipped` (auto found
    /// listing dearer than the lookups), `incomplete` (a listing that could not finish,
    /// not used), or `none`.
    pub index: &'static str,
    /// Contacts the index holds.
    pub contacts: u64,
    /// Listing requests this run spent.
    pub requests: u64,
}

/// A page of the listing, or why it could not be read.
type PageAnswer = Result<(Vec<Map<String, Value>>, Option<u64>), String>;

/// `GET /customers?limit=100&offset=N`, as an [`Operation`].
struct ListPage {
    offset: u64,
}

impl<'a> Operation<'a> for ListPage {
    type Output = PageAnswer;

    fn next(&mut self) -> Next<'a, PageAnswer> {
        Next::Send(Request::List {
            offset: self.offset,
        })
    }

    fn react(&mut self, answer: Answer) -> Then<PageAnswer> {
        if let Answer::Ok(Success::Page { customers, total }) = answer {
            return Then::Done(Ok((customers, total)));
        }
        match react_to_failure(answer) {
            Reaction::Fatal(result) => Then::Fatal(result),
            Reaction::Retry(retry) => Then::Retry(retry),
            Reaction::Done(RowResult::Failed { errors, .. }) => Then::Done(Err(errors.join("; "))),
            other => Then::Done(Err(format!("{other:?}"))),
        }
    }
}

/// How often a long listing says how far it is.
const LOG_EVERY: Duration = Duration::from_secs(10);

impl Courier {
    /// Lists or reuses the account index as `policy` says, before any row is sent.
    /// `unknown_rows`: rows of the inputs the state does not know (None: not countable,
    /// as stdin). A listing that cannot finish is logged and left for the next run to go
    /// on with; the run goes on without it.
    pub async fn prepare_index(
        &self,
        state: &State,
        policy: IndexPolicy,
        unknown_rows: Option<u64>,
    ) -> Result<IndexReport, crate::state::StateError> {
        let status = state.index_status().await?;
        let report = |index, contacts| IndexReport {
            index,
            contacts,
            requests: 0,
        };
        let mut offset = match (policy, &status) {
            (IndexPolicy::Never, _) => return Ok(report("none", 0)),
            (
                IndexPolicy::Auto,
                IndexStatus::Complete {
                    contacts,
                    listed_at,
                },
            ) => {
                tracing::info!(
                    "using the account index the state holds: {contacts} contacts, listed {listed_at} UTC (--index always lists them again)"
                );
                return Ok(report("used", *contacts));
            }
            // A new listing, from the first page (one left half done is started again).
            (IndexPolicy::Always, _) => {
                state.index_restart().await?;
                0
            }
            (IndexPolicy::Auto, IndexStatus::Listing { offset }) => *offset,
            // The state knows every row: there is nothing a listing could spare.
            (IndexPolicy::Auto, IndexStatus::Absent) if unknown_rows == Some(0) => {
                return Ok(report("skipped", 0));
            }
            (IndexPolicy::Auto, IndexStatus::Absent) => 0,
        };
        let mut requests = 0;
        let mut listed = 0u64;
        let started = Instant::now();
        let mut last_log = started;
        let mut last_first = None;
        loop {
            let mut budget = Budget::new(&self.retry);
            requests += 1;
            let answer = self
                .attempt(None, &mut budget, &mut ListPage { offset })
                .await;
            let (customers, total) = match answer {
                Ok(Ok(page)) => page,
                Ok(Err(reason)) => return Ok(self.incomplete(reason, listed, requests)),
                Err(ended) => {
                    let reason = match ended {
                        RowResult::Failed { errors, .. } => errors.join("; "),
                        other => format!("{other:?}"),
                    };
                    return Ok(self.incomplete(reason, listed, requests));
                }
            };
            let pages = total.map(|total| total.div_ceil(PAGE_SIZE).max(1));
            if offset == 0 && policy == IndexPolicy::Auto {
                if let Some(skip) = too_dear(pages, unknown_rows) {
                    tracing::info!(
                        "not indexing the account: {skip} (--index always to list it anyway)"
                    );
                    return Ok(IndexReport {
                        index: "skipped",
                        contacts: 0,
                        requests,
                    });
                }
                if let Some(pages) = pages {
                    tracing::info!(
                        "indexing the account: {} contacts in {pages} requests, fewer than the lookups the {} rows the state does not know would need",
                        total.unwrap_or(0),
                        unknown_rows.unwrap_or(0)
                    );
                }
            }
            let count = customers.len() as u64;
            let entries: Vec<_> = customers.iter().filter_map(index::entry).collect();
            // An API that ignored `offset` would answer the first page forever.
            let first = entries.first().map(|entry| entry.id);
            if count == PAGE_SIZE && first.is_some() && first == last_first {
                let reason = format!(
                    "the page at offset {offset} began with the same contact as the one before (the API seems to ignore offset)"
                );
                return Ok(self.incomplete(reason, listed, requests));
            }
            last_first = first;
            offset += count;
            listed += count;
            state.index_page(entries, offset).await?;
            if count < PAGE_SIZE || total.is_some_and(|total| offset >= total) {
                state.index_complete().await?;
                let contacts = match state.index_status().await? {
                    IndexStatus::Complete { contacts, .. } => contacts,
                    _ => listed,
                };
                tracing::info!(
                    "indexed the account: {} in {} ({:.0}s)",
                    crate::planning::count(contacts, "contact"),
                    crate::planning::count(requests, "request"),
                    started.elapsed().as_secs_f64()
                );
                return Ok(IndexReport {
                    index: "listed",
                    contacts,
                    requests,
                });
            }
            if last_log.elapsed() >= LOG_EVERY {
                last_log = Instant::now();
                let of = total.map_or(String::new(), |total| format!(" of {total}"));
                tracing::info!("indexing the account: {offset}{of} contacts listed");
            }
        }
    }

    /// A listing that stopped before its end: the state keeps where it was, and the run
    /// goes on without the index (each row is looked up as without one).
    fn incomplete(&self, reason: String, listed: u64, requests: u64) -> IndexReport {
        if !self.shutdown.is_stopping() {
            tracing::warn!(
                "the account could not be indexed ({reason}); going on without the index (the next run goes on listing where this one stopped)"
            );
        }
        IndexReport {
            index: "incomplete",
            contacts: listed,
            requests,
        }
    }
}

/// Why listing `pages` is dearer than the lookups of `unknown_rows`; None when it is not.
fn too_dear(pages: Option<u64>, unknown_rows: Option<u64>) -> Option<String> {
    match (pages, unknown_rows) {
        (_, None) => Some("the rows cannot be counted before they are read (stdin)".into()),
        (None, _) => Some("the API did not say how many contacts the account holds".into()),
        (Some(pages), Some(rows)) if pages > rows => Some(format!(
            "listing it takes {pages} requests, more than the lookups of the {rows} rows the state does not know"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_lists_only_when_it_costs_fewer_requests_than_the_lookups() {
        assert_eq!(too_dear(Some(11), Some(1_020)), None);
        assert_eq!(too_dear(Some(1), Some(1)), None);
        assert!(
            too_dear(Some(2_000), Some(1_000)).is_some_and(|why| why.contains("2000 requests"))
        );
        assert!(too_dear(Some(1), None).is_some_and(|why| why.contains("stdin")));
        assert!(too_dear(None, Some(10)).is_some());
    }
}
