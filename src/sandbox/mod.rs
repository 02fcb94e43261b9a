//! The built-in HelpCrunch emulator: the customers endpoints of HelpCrunch's REST API v1
//! served on loopback, with a configurable rate limit, key check, latency and injected faults,
//! for tests, benchmarks and rehearsing a migration.
//!
//! - [`Sandbox`] runs one in the background (tests, benchmarks); [`serve`] runs one in the
//!   foreground until cancelled (the `sandbox` command).
//! - API routes live under `/v1`; `GET /sandbox/stats` (outside `/v1`, never gated or
//!   counted) answers the [`SandboxStats`].
//!
//! Layout: `server` (state, routes, the gate), `handlers` (endpoints), `validate` (body
//! checks), `store` (customers), `search` (filters, paging), `index` (search lagging the
//! store), `limit` (rate limits), `other` (a background client sharing the limit), `faults`
//! (injected 503s and drops), `conn` (connections a handler can cut), `reply` (error
//! answers).

mod color;
mod conn;
mod faults;
mod handlers;
mod index;
mod limit;
mod other;
mod reply;
mod search;
mod seed;
mod server;
mod store;
mod validate;

#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod no_panic_tests;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::rate::Rate;
pub use seed::read_seed;
use server::Shared;

/// How the emulator behaves. Every setting defaults to the friendliest server.
#[derive(Clone)]
pub struct SandboxConfig {
    /// Key accepted as `Authorization: Bearer <key>`; None accepts any non-empty bearer token.
    pub api_key: Option<String>,
    /// None = no rate limit.
    pub limit: Option<Limit>,
    /// How 429 and injected 503 answers carry `Retry-After`.
    pub retry_after: RetryAfterMode,
    /// Share (0.0..=1.0) of API requests answered with an injected 503 before doing anything.
    pub error_rate: f64,
    /// Share (0.0..=1.0) of successful `POST /customers` where the contact is created and
    /// stored, then the connection is dropped without any answer.
    pub drop_rate: f64,
    /// Added to every API answer.
    pub latency: Duration,
    /// Seed for the random choices, so runs are repeatable.
    pub seed: u64,
    /// The customData attributes that exist in the account's settings (Settings → Contacts
    /// → Custom attributes); None: every attribute exists.
    pub custom_attributes: Option<Vec<String>>,
    /// What a customData property that is not in `custom_attributes` meets, on create,
    /// PATCH, PUT and batch alike (the docs leave it open).
    pub unknown_attribute: UnknownAttribute,
    /// How a search that matches no customer answers (the docs show 200 with an empty
    /// `data`; one public client met 404).
    pub search_empty: SearchEmpty,
    /// What PATCH does with the `tags` and `customData` it is sent (the docs leave it open
    /// and send tag changes through the tag endpoints).
    pub patch_collections: PatchCollections,
    /// How long (a day at most) after a contact is created, or changed, search shows it as it
    /// now is (the docs leave open how soon a new contact is searchable). The duplicate-`userId`
    /// check on create, GET by id and the list are immediate whatever it is.
    pub search_delay: Duration,
    /// Requests per second (0 to 1000) a background client inside the sandbox spends from
    /// the same rate limit, as other integrations of the organization do; 0: none. It creates
    /// nothing and is counted apart (`other_client_*` in the stats); it stops with the server.
    pub other_client_rps: f64,
    /// Customers stored at the start, in order, with ids given as to created ones: each a
    /// create body (`customData` as the documented array or as a `{property: value}` map),
    /// checked like one; a bad one fails the start with `InvalidInput` naming its place
    /// (from 1). Not counted as created. [`read_seed`] reads them from NDJSON.
    pub seed_contacts: Vec<Map<String, Value>>,
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            api_key: None,
            limit: None,
            retry_after: RetryAfterMode::None,
            error_rate: 0.0,
            drop_rate: 0.0,
            latency: Duration::ZERO,
            seed: 0,
            custom_attributes: None,
            unknown_attribute: UnknownAttribute::default(),
            search_empty: SearchEmpty::default(),
            patch_collections: PatchCollections::default(),
            search_delay: Duration::ZERO,
            other_client_rps: 0.0,
            seed_contacts: Vec::new(),
        }
    }
}

/// Leaves the key out, so logging a config never leaks it.
impl fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("limit", &self.limit)
            .field("retry_after", &self.retry_after)
            .field("error_rate", &self.error_rate)
            .field("drop_rate", &self.drop_rate)
            .field("latency", &self.latency)
            .field("seed", &self.seed)
            .field("custom_attributes", &self.custom_attributes)
            .field("unknown_attribute", &self.unknown_attribute)
            .field("search_empty", &self.search_empty)
            .field("patch_collections", &self.patch_collections)
            .field("search_delay", &self.search_delay)
            .field("other_client_rps", &self.other_client_rps)
            .field("seed_contacts", &self.seed_contacts.len())
            .finish()
    }
}

/// The emulated rate limit, shared by all API requests as HelpCrunch's is per organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// GCRA (governor): `rate` sustained, up to `burst` at once.
    TokenBucket { rate: Rate, burst: u32 },
    /// At most `max` requests in each `window`, windows counted from the server's start.
    FixedWindow { max: u32, window: Duration },
}

/// How 429 and injected 503 answers carry `Retry-After`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RetryAfterMode {
    /// Whole seconds, rounded up, at least 1.
    Seconds,
    /// An HTTP date, rounded up to the next whole second.
    Date,
    /// No header: the documented API documents none.
    #[default]
    None,
}

/// What happens to a customData property whose attribute does not exist in the account
/// (the docs say it "should exist" and leave the rest open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum UnknownAttribute {
    /// Stored as if it existed.
    #[default]
    Accept,
    /// The request is refused: a 400 whose entry's code is `customData.<property>` (with a
    /// batch item's `[i].` before it) and whose message names the attribute.
    Reject,
    /// Left out in silence: the answer is a success without it.
    Drop,
}

/// How a search that matches no customer answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SearchEmpty {
    /// 200 with `{"data": [], "total": 0}`.
    #[default]
    #[value(name = "200")]
    EmptyPage,
    /// 404 with `invalid_request` and `not_found`.
    #[value(name = "404")]
    NotFound,
}

/// What PATCH does with the `tags` and `customData` it is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PatchCollections {
    /// They replace the customer's whole tag list, or whole customData map.
    #[default]
    Replace,
    /// They merge into the customer's: tags by name (one it carries stays as it was),
    /// customData by property (a property sent takes the value sent).
    Merge,
}

/// What the sandbox has seen since it started. Every count but `other_client_*` is of the
/// requests that reach the server (the importer's), not of the background client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxStats {
    /// API requests received (everything under `/v1`), whatever their answer.
    pub requests: u64,
    /// Requests by endpoint, keyed `"METHOD /route"` as the docs name them (`"GET
    /// /customers/{id}"`, `"PUT /customers/{id}/tags"`, ...), every endpoint present: each
    /// request to a known endpoint counts, whether it passed the gate or was refused, whatever
    /// its answer.
    pub by_endpoint: BTreeMap<String, u64>,
    /// 429 answers.
    pub rate_limited: u64,
    /// 401 answers.
    pub unauthorized: u64,
    /// Injected 503 answers.
    pub server_errors: u64,
    /// 400 answers: invalid bodies, duplicate `userId`s, bad searches.
    pub rejected: u64,
    /// Contacts stored by `POST /customers`, including those whose answer was dropped.
    pub created: u64,
    /// Created contacts whose connection was dropped instead of answered.
    pub dropped: u64,
    /// Contacts deleted by `DELETE /customers/{id}`.
    pub deleted: u64,
    /// Customers stored now.
    pub customers: u64,
    /// Requests the background client (`other_client_rps`) made.
    pub other_client_requests: u64,
    /// Of those, the ones the rate limit refused.
    pub other_client_rate_limited: u64,
}

/// A sandbox server running in the background on its own task.
pub struct Sandbox {
    addr: SocketAddr,
    /// The server's state, read by `stats` and `customers` while it runs.
    shared: Arc<Shared>,
    /// Cancelled by `shutdown`, or on drop, to stop the server.
    shutdown: CancellationToken,
    /// The server task; `shutdown` awaits it so the port is closed when it returns. None once
    /// taken by `shutdown`.
    task: Option<JoinHandle<io::Result<()>>>,
}

impl Sandbox {
    /// Binds `addr` (port 0 picks a free port), starts serving, and returns at once.
    /// An impossible config (rate outside 0..=1, zero burst, empty key, a seed contact a
    /// create would refuse...) is `InvalidInput`.
    pub async fn start(config: SandboxConfig, addr: SocketAddr) -> io::Result<Sandbox> {
        let shared = Arc::new(Shared::new(config)?);
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(server::run(listener, Arc::clone(&shared), shutdown.clone()));
        Ok(Sandbox {
            addr,
            shared,
            shutdown,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`; a wildcard bind is reached through loopback.
    pub fn base_url(&self) -> String {
        let ip = match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}/v1", SocketAddr::new(ip, self.addr.port()))
    }

    pub fn stats(&self) -> SandboxStats {
        self.shared.stats()
    }

    /// Every stored customer object, in id order.
    pub fn customers(&self) -> Vec<serde_json::Value> {
        self.shared.store().all()
    }

    /// Stops accepting connections, lets open requests finish, and waits for the server.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        let Some(task) = self.task.take() else {
            return;
        };
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "sandbox server failed"),
            Err(error) => tracing::warn!(%error, "sandbox server task failed"),
        }
    }
}

impl Drop for Sandbox {
    /// A sandbox dropped without `shutdown` still stops, in the background.
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Serves until `shutdown` is cancelled (used by the foreground `helpcrunch-import sandbox`
/// command). An impossible config is `InvalidInput`.
pub async fn serve(
    listener: TcpListener,
    config: SandboxConfig,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let shared = Arc::new(Shared::new(config)?);
    server::run(listener, shared, shutdown).await
}
