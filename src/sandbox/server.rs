//! The server's shared state, its routes, and the gate every API request passes first:
//! count, latency, auth, rate limit, injected 503, in that order.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::conn::{SeverableListener, Severer};
use super::faults::Faults;
use super::handlers;
use super::limit::Limiter;
use super::other;
use super::reply::{ApiError, retry_after};
use super::seed::seeded_store;
use super::store::Store;
use super::validate::Attributes;
use super::{PatchCollections, RetryAfterMode, SandboxConfig, SandboxStats, SearchEmpty};

/// The wait an injected 503 asks for.
const UNAVAILABLE_WAIT: Duration = Duration::from_secs(1);
/// The longest search delay: enough for any rehearsal, and far from an `Instant` overflow.
const MAX_SEARCH_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Everything the handlers share, built once from a checked `SandboxConfig`.
pub(crate) struct Shared {
    api_key: Option<String>,
    retry_after: RetryAfterMode,
    latency: Duration,
    /// The one limiter all requests draw from, as the real limit is per organization.
    limiter: Option<Limiter>,
    pub(crate) faults: Faults,
    pub(crate) counters: Counters,
    /// The account's customData attributes, and what a body's unknown one meets.
    pub(crate) attributes: Attributes,
    pub(crate) search_empty: SearchEmpty,
    pub(crate) patch_collections: PatchCollections,
    /// The time between two requests of the background client; None: no such client.
    pub(crate) other_client: Option<Duration>,
    /// The customers; a plain mutex since no handler holds it across an `.await`.
    store: Mutex<Store>,
}

/// The API's endpoints, as `(method, route)`: the keys of `SandboxStats::by_endpoint`.
const ENDPOINTS: [(&str, &str); 10] = [
    ("POST", "/customers"),
    ("GET", "/customers"),
    ("POST", "/customers/search"),
    ("PUT", "/customers/batch"),
    ("GET", "/customers/{id}"),
    ("PATCH", "/customers/{id}"),
    ("PUT", "/customers/{id}"),
    ("DELETE", "/customers/{id}"),
    ("PUT", "/customers/{id}/tags"),
    ("DELETE", "/customers/{id}/tags"),
];

/// Which of `ENDPOINTS` a request goes to, from its method and its path under `/v1`.
fn endpoint(method: &Method, path: &str) -> Option<usize> {
    let path = path.strip_prefix("/v1").unwrap_or(path);
    let mut segments = path.strip_prefix("/customers")?.split('/');
    let route = match (segments.next(), segments.next(), segments.next()) {
        (Some(""), None, _) => "/customers",
        (Some(""), Some("search"), None) => "/customers/search",
        (Some(""), Some("batch"), None) => "/customers/batch",
        (Some(""), Some(id), None) if !id.is_empty() => "/customers/{id}",
        (Some(""), Some(id), Some("tags")) if !id.is_empty() && segments.next().is_none() => {
            "/customers/{id}/tags"
        }
        _ => return None,
    };
    ENDPOINTS
        .iter()
        .position(|&(known, known_route)| known == method.as_str() && known_route == route)
}

/// Running totals behind `SandboxStats`; atomics so the gate never waits on a lock to count.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    /// Indexed as `ENDPOINTS`.
    pub by_endpoint: [AtomicU64; ENDPOINTS.len()],
    pub rate_limited: AtomicU64,
    pub unauthorized: AtomicU64,
    pub server_errors: AtomicU64,
    pub rejected: AtomicU64,
    pub created: AtomicU64,
    pub dropped: AtomicU64,
    pub deleted: AtomicU64,
    pub other_client_requests: AtomicU64,
    pub other_client_rate_limited: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl Shared {
    /// Checks the config and builds the state; an impossible setting is `InvalidInput`.
    pub(crate) fn new(config: SandboxConfig) -> io::Result<Shared> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        if config.api_key.as_deref() == Some("") {
            return Err(invalid("the sandbox API key must not be empty"));
        }
        for (name, rate) in [
            ("error_rate", config.error_rate),
            ("drop_rate", config.drop_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(invalid(&format!("{name} must be between 0 and 1")));
            }
        }
        if config.search_delay > MAX_SEARCH_DELAY {
            return Err(invalid("search_delay must be at most a day"));
        }
        let other_client = other::period(config.other_client_rps).map_err(|e| invalid(&e))?;
        let limiter = match &config.limit {
            Some(limit) => Some(Limiter::new(limit, Instant::now())?),
            None => None,
        };
        let attributes = Attributes::new(
            config.custom_attributes.as_deref(),
            config.unknown_attribute,
        );
        let store = seeded_store(&config.seed_contacts, &attributes, config.search_delay)?;
        Ok(Shared {
            api_key: config.api_key,
            retry_after: config.retry_after,
            latency: config.latency,
            limiter,
            faults: Faults::new(config.error_rate, config.drop_rate, config.seed),
            counters: Counters::default(),
            attributes,
            search_empty: config.search_empty,
            patch_collections: config.patch_collections,
            other_client,
            store: Mutex::new(store),
        })
    }

    /// The store, even if a thread panicked while holding it: its data is still consistent
    /// enough for an emulator, and one bad request must not take the server down.
    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn stats(&self) -> SandboxStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let c = &self.counters;
        let by_endpoint = ENDPOINTS
            .iter()
            .zip(&c.by_endpoint)
            .map(|((method, route), count)| (format!("{method} {route}"), read(count)))
            .collect();
        SandboxStats {
            requests: read(&c.requests),
            by_endpoint,
            rate_limited: read(&c.rate_limited),
            unauthorized: read(&c.unauthorized),
            server_errors: read(&c.server_errors),
            rejected: read(&c.rejected),
            created: read(&c.created),
            dropped: read(&c.dropped),
            deleted: read(&c.deleted),
            other_client_requests: read(&c.other_client_requests),
            other_client_rate_limited: read(&c.other_client_rate_limited),
            customers: self.store().len() as u64,
        }
    }

    /// One request of the background client: it draws from the same limiter as the API's
    /// requests and is counted apart.
    pub(crate) fn spend_for_other_client(&self) {
        Counters::bump(&self.counters.other_client_requests);
        if let Some(Err(_)) = self.limiter.as_ref().map(Limiter::check) {
            Counters::bump(&self.counters.other_client_rate_limited);
        }
    }

    /// Auth, then the rate limit, then an injected 503: the first refusal answers.
    fn admit(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if let Err(message) = authorize(self.api_key.as_deref(), headers.get(AUTHORIZATION)) {
            Counters::bump(&self.counters.unauthorized);
            return Err(ApiError::unauthorized(message));
        }
        if let Some(Err(wait)) = self.limiter.as_ref().map(Limiter::check) {
            Counters::bump(&self.counters.rate_limited);
            let header = retry_after(self.retry_after, wait, SystemTime::now());
            return Err(ApiError::too_many_requests(header));
        }
        if self.faults.inject_error() {
            Counters::bump(&self.counters.server_errors);
            let header = retry_after(self.retry_after, UNAVAILABLE_WAIT, SystemTime::now());
            return Err(ApiError::service_unavailable(header));
        }
        Ok(())
    }
}

/// Checks `Authorization: Bearer <key>`; the error is the message for the 401.
pub(crate) fn authorize(
    expected: Option<&str>,
    header: Option<&HeaderValue>,
) -> Result<(), &'static str> {
    const MALFORMED: &str = "Authorization must be \"Bearer <api key>\"";
    let header = header.ok_or("Missing Authorization header")?;
    let text = header.to_str().map_err(|_| MALFORMED)?;
    let (scheme, token) = text.split_once(' ').ok_or(MALFORMED)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(MALFORMED);
    }
    match expected {
        Some(key) if key != token => Err("Invalid API key"),
        _ => Ok(()),
    }
}

async fn gate(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    Counters::bump(&shared.counters.requests);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    if let Some(index) = endpoint(&method, &path) {
        Counters::bump(&shared.counters.by_endpoint[index]);
    }
    if !shared.latency.is_zero() {
        tokio::time::sleep(shared.latency).await;
    }
    let response = match shared.admit(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    };
    if response.status() == StatusCode::BAD_REQUEST {
        Counters::bump(&shared.counters.rejected);
    }
    // The path and status only: headers hold the bearer token.
    tracing::debug!(%method, path, status = response.status().as_u16(), "sandbox request");
    response
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/customers", post(handlers::create).get(handlers::list))
        .route("/customers/search", post(handlers::search))
        .route("/customers/batch", put(handlers::batch))
        .route(
            "/customers/{id}",
            get(handlers::show)
                .patch(handlers::patch)
                .put(handlers::replace)
                .delete(handlers::remove),
        )
        .route(
            "/customers/{id}/tags",
            put(handlers::tag).delete(handlers::untag),
        )
        .fallback(handlers::no_route)
        .method_not_allowed_fallback(handlers::wrong_method)
        .layer(from_fn_with_state(Arc::clone(&shared), gate));
    Router::new()
        .nest("/v1", api)
        .route("/sandbox/stats", get(handlers::stats))
        .fallback(handlers::no_route)
        .with_state(shared)
}

/// Serves `listener` until `shutdown` is cancelled, then lets open requests finish.
pub(crate) async fn run(
    listener: TcpListener,
    shared: Arc<Shared>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    tracing::debug!(addr = ?listener.local_addr().ok(), "sandbox listening");
    // The background client stops with the server, however the server stops.
    let stop = shutdown.child_token();
    let _stop_on_return = stop.clone().drop_guard();
    if let Some(period) = shared.other_client {
        tokio::spawn(other::run(Arc::clone(&shared), period, stop));
    }
    let app = router(shared).into_make_service_with_connect_info::<Severer>();
    axum::serve(SeverableListener(listener), app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_needs_a_bearer_token_and_the_right_key() {
        let header = |text: &str| HeaderValue::from_str(text).ok();
        let check =
            |expected, text: Option<&str>| authorize(expected, text.and_then(header).as_ref());
        assert_eq!(check(None, Some("Bearer anything")), Ok(()));
        assert_eq!(check(Some("k1"), Some("Bearer k1")), Ok(()));
        assert_eq!(check(Some("k1"), Some("bearer k1")), Ok(()));
        assert_eq!(check(Some("k1"), Some("Bearer k2")), Err("Invalid API key"));
        assert_eq!(check(None, None), Err("Missing Authorization header"));
        for malformed in ["Bearer", "Bearer ", "Basic k1", "k1", ""] {
            assert!(check(None, Some(malformed)).is_err(), "{malformed:?}");
        }
    }

    #[test]
    fn each_route_is_one_endpoint_and_other_paths_none() {
        let key = |method: Method, path: &str| {
            endpoint(&method, path).map(|i| format!("{} {}", ENDPOINTS[i].0, ENDPOINTS[i].1))
        };
        let cases = [
            (Method::POST, "/customers", Some("POST /customers")),
            (Method::GET, "/v1/customers", Some("GET /customers")),
            (
                Method::POST,
                "/customers/search",
                Some("POST /customers/search"),
            ),
            (
                Method::PUT,
                "/customers/batch",
                Some("PUT /customers/batch"),
            ),
            (Method::GET, "/customers/12", Some("GET /customers/{id}")),
            (
                Method::PATCH,
                "/customers/abc",
                Some("PATCH /customers/{id}"),
            ),
            (Method::PUT, "/customers/12", Some("PUT /customers/{id}")),
            (
                Method::DELETE,
                "/customers/12",
                Some("DELETE /customers/{id}"),
            ),
            (
                Method::PUT,
                "/customers/12/tags",
                Some("PUT /customers/{id}/tags"),
            ),
            (
                Method::DELETE,
                "/customers/12/tags",
                Some("DELETE /customers/{id}/tags"),
            ),
            (Method::GET, "/customers/search", None),
            (Method::DELETE, "/customers", None),
            (Method::GET, "/customers/", None),
            (Method::GET, "/customers/12/tags/x", None),
            (Method::GET, "/customers//tags", None),
            (Method::GET, "/customersx", None),
            (Method::GET, "/contacts", None),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                key(method.clone(), path).as_deref(),
                expected,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn impossible_configs_are_refused() {
        let configs = [
            SandboxConfig {
                api_key: Some(String::new()),
                ..SandboxConfig::default()
            },
            SandboxConfig {
                error_rate: 1.5,
                ..SandboxConfig::default()
            },
            SandboxConfig {
                drop_rate: f64::NAN,
                ..SandboxConfig::default()
            },
            SandboxConfig {
                other_client_rps: -1.0,
                ..SandboxConfig::default()
            },
            SandboxConfig {
                search_delay: Duration::from_millis(u64::MAX),
                ..SandboxConfig::default()
            },
        ];
        for config in configs {
            let kind = Shared::new(config).err().map(|e| e.kind());
            assert_eq!(kind, Some(io::ErrorKind::InvalidInput));
        }
        assert!(Shared::new(SandboxConfig::default()).is_ok());
    }
}
