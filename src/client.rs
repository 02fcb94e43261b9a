//! One HTTP call to the API, and the classification of its answer.
//!
//! [`Client::send`] sends one [`Request`] (create, search, update); [`classify`] is pure:
//! the endpoint, status, headers and body in, an [`Answer`] out. The workers decide what
//! to do from the answer alone (retry, pause, fail the row, stop the run).

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::payload::{CreateCustomer, Tag};

/// The API key. Its `Debug` hides the value, so it cannot leak through logs or panics,
/// and it has no `Display`.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// Refuses an empty key or one that cannot be an HTTP header value.
    pub fn new(key: &str) -> Result<ApiKey, String> {
        let key = key.trim();
        if key.is_empty() {
            return Err("the API key is empty".into());
        }
        if HeaderValue::from_str(key).is_err() {
            return Err("the API key holds characters that cannot be sent in a header".into());
        }
        Ok(ApiKey(key.to_string()))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// One `{code, message}` from an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApiError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// What one request came to, whatever the operation: a success as that operation reads
/// it, or the kind of failure the workers react to.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 200 or 201, read as the request's endpoint answers (see [`Success`]).
    Ok(Success),
    /// 400 naming `invalid_userId_value`: a contact with this userId already exists.
    Duplicate { errors: Vec<ApiError> },
    /// Any other 4xx but 401 and 429: the row is wrong; never retried.
    Rejected { status: u16, errors: Vec<ApiError> },
    /// 401: the key is wrong; every later request would fail too.
    Unauthorized { errors: Vec<ApiError> },
    /// 429: retry after the pause the server asked for, if it said.
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, or the request could not be sent at all: safe to retry.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
        /// The status the server answered (a 5xx, or a 2xx that cannot be read); None
        /// when no answer came (no connection, no host, a timeout, the run stopped).
        status: Option<u16>,
    },
    /// The request may have reached the server (timeout, reset after sending): re-sending
    /// a create could create the contact twice.
    InDoubt { reason: String },
}

/// A success, as each endpoint answers it.
#[derive(Debug, Clone, PartialEq)]
pub enum Success {
    /// `POST /customers`: the new contact's id (None when the body could not be read:
    /// created all the same).
    Created { id: Option<i64> },
    /// `PATCH /customers/{id}` or `PUT /customers/{id}/tags`: the contact holds what was
    /// sent.
    Updated,
    /// `POST /customers/search`: the ids of the contacts found (none: no match; a 404
    /// reads as none too, as one public client sees it answer).
    Found { ids: Vec<i64> },
    /// `GET /customers/{id}`: the contact as HelpCrunch stores it.
    Fetched { customer: Map<String, Value> },
    /// `GET /customers?limit=&offset=`: a page of contacts, and how many the account holds
    /// (None when the answer does not say).
    Page {
        customers: Vec<Map<String, Value>>,
        total: Option<u64>,
    },
    /// `DELETE /customers/{id}`: the contact is gone (200 `Ok`).
    Deleted,
}

/// One request of an operation, as [`Client::send`] sends it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Request<'a> {
    /// `POST /customers` with the row's payload.
    Create(&'a CreateCustomer),
    /// `POST /customers/search` for contacts whose userId (or email) is the key.
    Search(LookupKey<'a>),
    /// `PATCH /customers/{id}` with the row's payload: only the fields sent change (PUT
    /// would null the others).
    Update {
        id: i64,
        payload: &'a CreateCustomer,
    },
    /// `PUT /customers/{id}/tags`: adds the tags (creating unknown ones), never removes
    /// the contact's others.
    AddTags { id: i64, tags: &'a [Tag] },
    /// `GET /customers/{id}`: what HelpCrunch stores, to check that what was sent stuck.
    Get { id: i64 },
    /// `GET /customers?limit=100&offset=N`: a page of the account's contacts, to index it.
    List { offset: u64 },
    /// `DELETE /customers/{id}`: permanent.
    Delete { id: i64 },
    /// `PATCH /customers/{id}` with a body of its own: values put back by an undo (`null`
    /// clears a field, as the docs say).
    Restore { id: i64, body: &'a Value },
    /// `DELETE /customers/{id}/tags`: removes the tags named, no other.
    RemoveTags { id: i64, tags: &'a [Tag] },
}

/// Contacts a listing page asks for: the most the API serves (`helpcrunch-api.md`, "List,
/// get, delete").
pub const PAGE_SIZE: u64 = 100;

/// Which endpoint a request goes to: it decides how a success is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Create,
    Search,
    Update,
    AddTags,
    Get,
    List,
    Delete,
    Restore,
    RemoveTags,
}

impl Request<'_> {
    pub fn endpoint(&self) -> Endpoint {
        match self {
            Request::Create(_) => Endpoint::Create,
            Request::Search(_) => Endpoint::Search,
            Request::Update { .. } => Endpoint::Update,
            Request::AddTags { .. } => Endpoint::AddTags,
            Request::Get { .. } => Endpoint::Get,
            Request::List { .. } => Endpoint::List,
            Request::Delete { .. } => Endpoint::Delete,
            Request::Restore { .. } => Endpoint::Restore,
            Request::RemoveTags { .. } => Endpoint::RemoveTags,
        }
    }

    /// Whether sending it again changes nothing more: every request but a create.
    fn is_idempotent(&self) -> bool {
        !matches!(self, Request::Create(_))
    }

    /// The answer a request stands for when the run stopped before it came: a create
    /// may have made the contact (in doubt); any other is simply sent again (a search or
    /// a read changes nothing, a PATCH sets the same fields however often it arrives, and
    /// adding a tag twice adds it once).
    pub fn abandoned(&self) -> Answer {
        let transient = |what: &str| Answer::Transient {
            reason: format!("the run stopped during the {what}"),
            retry_after: None,
            status: None,
        };
        match self {
            Request::Create(_) => Answer::InDoubt {
                reason: "the run stopped while the request was in flight".into(),
            },
            Request::Search(_) => transient("lookup"),
            Request::Update { .. } => transient("update"),
            Request::AddTags { .. } => transient("tagging"),
            Request::Get { .. } => transient("read-back"),
            Request::List { .. } => transient("listing"),
            // Deleting twice deletes once (the second is a 404, read as gone).
            Request::Delete { .. } => transient("deletion"),
            Request::Restore { .. } => transient("restore"),
            Request::RemoveTags { .. } => transient("untagging"),
        }
    }
}

/// What a contact is looked up by: its userId (unique in HelpCrunch), else its email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKey<'a> {
    UserId(&'a str),
    Email(&'a str),
}

impl<'a> LookupKey<'a> {
    /// The payload's userId, else its email; None when it has neither.
    pub fn of(payload: &'a CreateCustomer) -> Option<LookupKey<'a>> {
        match (&payload.user_id, &payload.email) {
            (Some(user_id), _) => Some(LookupKey::UserId(user_id)),
            (None, Some(email)) => Some(LookupKey::Email(email)),
            (None, None) => None,
        }
    }

    /// The `POST /customers/search` body finding contacts whose field equals the value.
    pub fn search_body(self) -> serde_json::Value {
        let (field, value) = match self {
            LookupKey::UserId(value) => ("customers.userId", value),
            LookupKey::Email(value) => ("customers.email", value),
        };
        serde_json::json!({
            "filter": [{"field": field, "operator": "=", "value": value}],
            "comparison": "AND",
            "limit": 100,
            "offset": 0
        })
    }
}

/// Timeouts for every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
}

/// The API over HTTP: one pooled connection set shared by every worker.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    customers_url: String,
    search_url: String,
    /// `Bearer <key>`, marked sensitive so reqwest never prints it.
    authorization: HeaderValue,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("customers_url", &self.customers_url)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(
        base_url: &str,
        key: &ApiKey,
        timeouts: Timeouts,
        pool: usize,
    ) -> Result<Client, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .pool_max_idle_per_host(pool)
            .user_agent(concat!("helpcrunch-import/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", key.0)).map_err(|_| {
                "the API key holds characters that cannot be sent in a header".to_string()
            })?;
        authorization.set_sensitive(true);
        let customers_url = format!("{}/customers", base_url.trim_end_matches('/'));
        Ok(Client {
            http,
            search_url: format!("{customers_url}/search"),
            customers_url,
            authorization,
        })
    }

    /// Sends one request and classifies its answer (see [`classify`]).
    pub async fn send(&self, request: Request<'_>) -> Answer {
        let endpoint = request.endpoint();
        let builder = match request {
            Request::Create(payload) => self.http.post(&self.customers_url).json(payload),
            Request::Search(key) => self.http.post(&self.search_url).json(&key.search_body()),
            Request::Update { id, payload } => self
                .http
                .patch(format!("{}/{id}", self.customers_url))
                .json(payload),
            Request::AddTags { id, tags } => self
                .http
                .put(format!("{}/{id}/tags", self.customers_url))
                .json(&serde_json::json!({ "tags": tags })),
            Request::Get { id } => self.http.get(format!("{}/{id}", self.customers_url)),
            Request::List { offset } => self.http.get(format!(
                "{}?limit={PAGE_SIZE}&offset={offset}",
                self.customers_url
            )),
            Request::Delete { id } => self.http.delete(format!("{}/{id}", self.customers_url)),
            Request::Restore { id, body } => self
                .http
                .patch(format!("{}/{id}", self.customers_url))
                .json(body),
            Request::RemoveTags { id, tags } => self
                .http
                .delete(format!("{}/{id}/tags", self.customers_url))
                .json(&serde_json::json!({ "tags": tags })),
        };
        let sent = builder
            .header(AUTHORIZATION, self.authorization.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return classify_send_error(request.is_idempotent(), &e),
        };
        let status = response.status();
        let headers = response.headers().clone();
        match response.bytes().await {
            Ok(body) => classify(endpoint, status, &headers, &body, SystemTime::now()),
            // The status line arrived, so the server processed the request; only a
            // create's success whose body was lost leaves us without the id.
            Err(_) if status.is_success() && endpoint == Endpoint::Create => {
                Answer::Ok(Success::Created { id: None })
            }
            Err(e) => classify(endpoint, status, &headers, &[], SystemTime::now()).with_reason(&e),
        }
    }
}

impl Answer {
    fn with_reason(self, error: &reqwest::Error) -> Answer {
        match self {
            Answer::Transient {
                retry_after,
                status,
                ..
            } => Answer::Transient {
                reason: describe(error),
                retry_after,
                status,
            },
            other => other,
        }
    }
}

/// A request that failed before an answer: retry only when it cannot have been sent, or
/// when sending it again changes nothing (anything but a create).
fn classify_send_error(idempotent: bool, error: &reqwest::Error) -> Answer {
    if error.is_connect() || idempotent {
        Answer::Transient {
            reason: describe(error),
            retry_after: None,
            status: None,
        }
    } else {
        Answer::InDoubt {
            reason: describe(error),
        }
    }
}

/// The error and its causes on one line (reqwest's own message alone says little).
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Classifies an answer to a request to `endpoint` from its status, headers and body.
pub fn classify(
    endpoint: Endpoint,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Answer {
    let header = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let retry_after = || {
        header(RETRY_AFTER.as_str())
            .and_then(|v| parse_retry_after(v, now))
            .or_else(|| header(RATE_LIMIT_RESET).and_then(|v| parse_rate_limit_reset(v, now)))
    };
    match status.as_u16() {
        201 | 200 => success(endpoint, status, body),
        401 => Answer::Unauthorized {
            errors: parse_errors(body),
        },
        // A search that matched nothing, as one public client sees the API answer it.
        404 if endpoint == Endpoint::Search => Answer::Ok(Success::Found { ids: vec![] }),
        429 => Answer::RateLimited {
            retry_after: retry_after(),
        },
        400..=499 => {
            let errors = parse_errors(body);
            if errors.iter().any(|e| e.code == DUPLICATE_USER_ID) {
                Answer::Duplicate { errors }
            } else {
                Answer::Rejected {
                    status: status.as_u16(),
                    errors,
                }
            }
        }
        code => Answer::Transient {
            reason: format!("HTTP {code}"),
            retry_after: retry_after(),
            status: Some(code),
        },
    }
}

/// A 200 or 201 read as `endpoint` answers it. A search or read-back answer that cannot
/// be read is a fault to retry (asking again changes nothing); a create's is a success
/// all the same, without the id.
fn success(endpoint: Endpoint, status: StatusCode, body: &[u8]) -> Answer {
    #[derive(Deserialize)]
    struct Found {
        data: Vec<CreatedBody>,
    }
    let unreadable = |what: &str, e: serde_json::Error| Answer::Transient {
        reason: format!(
            "HTTP {} with {what} that cannot be read: {e}",
            status.as_u16()
        ),
        retry_after: None,
        status: Some(status.as_u16()),
    };
    match endpoint {
        Endpoint::Create => Answer::Ok(Success::Created {
            id: serde_json::from_slice::<CreatedBody>(body)
                .ok()
                .and_then(|b| b.id),
        }),
        Endpoint::Update | Endpoint::AddTags | Endpoint::Restore | Endpoint::RemoveTags => {
            Answer::Ok(Success::Updated)
        }
        Endpoint::Delete => Answer::Ok(Success::Deleted),
        Endpoint::Search => match serde_json::from_slice::<Found>(body) {
            Ok(found) => Answer::Ok(Success::Found {
                ids: found.data.into_iter().filter_map(|c| c.id).collect(),
            }),
            Err(e) => unreadable("a search answer", e),
        },
        Endpoint::Get => match serde_json::from_slice::<Map<String, Value>>(body) {
            Ok(customer) => Answer::Ok(Success::Fetched { customer }),
            Err(e) => unreadable("a contact", e),
        },
        Endpoint::List => {
            #[derive(Deserialize)]
            struct Page {
                data: Vec<Map<String, Value>>,
                total: Option<u64>,
            }
            match serde_json::from_slice::<Page>(body) {
                Ok(page) => Answer::Ok(Success::Page {
                    customers: page.data,
                    total: page.total,
                }),
                Err(e) => unreadable("a page of contacts", e),
            }
        }
    }
}

/// The code HelpCrunch answers a duplicate `userId` with (seen in the wild, not documented).
pub const DUPLICATE_USER_ID: &str = "invalid_userId_value";

#[derive(Deserialize)]
struct CreatedBody {
    id: Option<i64>,
}

/// Reads both error shapes: `{"errors":[{code,message},...]}` and the older flat
/// `{code, message}`. A body that is neither gives one error holding its text.
pub fn parse_errors(body: &[u8]) -> Vec<ApiError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        List { errors: Vec<ApiError> },
        Flat(ApiError),
    }
    match serde_json::from_slice::<Shape>(body) {
        Ok(Shape::List { errors }) => errors,
        Ok(Shape::Flat(error)) if !error.code.is_empty() || !error.message.is_empty() => {
            vec![error]
        }
        _ if body.is_empty() => vec![],
        _ => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(200).collect();
            vec![ApiError {
                code: "unparsed_body".into(),
                message: text.trim().to_string(),
            }]
        }
    }
}

/// Not documented by HelpCrunch, but common: when the window resets.
pub const RATE_LIMIT_RESET: &str = "x-ratelimit-reset";

/// Values at or above this are UNIX times, below it delays in seconds: both forms are
/// seen in the wild (a delay of 31 years is not).
const EPOCH_THRESHOLD: u64 = 1_000_000_000;

/// `X-RateLimit-Reset` as a UNIX time or as seconds from now; a time in the past means
/// now. None for anything unreadable.
pub fn parse_rate_limit_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let value: u64 = value.trim().parse().ok()?;
    if value < EPOCH_THRESHOLD {
        return Some(Duration::from_secs(value));
    }
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(value);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `Retry-After` as delay-seconds or an HTTP date; a date in the past means now. None
/// for anything unreadable.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(list: &[(&str, &str)]) -> Vec<ApiError> {
        list.iter()
            .map(|(code, message)| ApiError {
                code: code.to_string(),
                message: message.to_string(),
            })
            .collect()
    }

    fn answer(status: u16, retry_after: Option<&str>, body: &str) -> Answer {
        let mut headers = HeaderMap::new();
        if let Some(value) = retry_after {
            headers.insert(
                RETRY_AFTER,
                HeaderValue::from_str(value).expect("test header"),
            );
        }
        let status = StatusCode::from_u16(status).expect("test status");
        classify(
            Endpoint::Create,
            status,
            &headers,
            body.as_bytes(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        )
    }

    #[test]
    fn created_reads_the_id() {
        assert_eq!(
            answer(201, None, r#"{"id":42,"name":"A"}"#),
            Answer::Ok(Success::Created { id: Some(42) })
        );
        assert_eq!(
            answer(201, None, "not json"),
            Answer::Ok(Success::Created { id: None })
        );
    }

    #[test]
    fn a_400_keeps_every_error_and_a_duplicate_user_id_is_its_own_answer() {
        let body = r#"{"errors":[{"code":"invalid_request","message":"Invalid request"},{"code":"email","message":"bad"}]}"#;
        assert_eq!(
            answer(400, None, body),
            Answer::Rejected {
                status: 400,
                errors: errors(&[("invalid_request", "Invalid request"), ("email", "bad")])
            }
        );
        let body = r#"{"errors":[{"code":"invalid_request","message":"x"},{"code":"invalid_userId_value","message":"taken"}]}"#;
        assert!(
            matches!(answer(400, None, body), Answer::Duplicate { errors } if errors.len() == 2)
        );
    }

    #[test]
    fn the_flat_error_shape_and_odd_bodies_are_read() {
        assert_eq!(
            parse_errors(br#"{"code":"not_found","message":"No customer"}"#),
            errors(&[("not_found", "No customer")])
        );
        assert_eq!(parse_errors(b""), vec![]);
        assert_eq!(
            parse_errors(b"<html>Bad Gateway</html>"),
            errors(&[("unparsed_body", "<html>Bad Gateway</html>")])
        );
        assert_eq!(parse_errors(b"{}"), errors(&[("unparsed_body", "{}")]));
    }

    #[test]
    fn statuses_map_to_their_reactions() {
        assert!(
            matches!(answer(401, None, r#"{"errors":[{"code":"unauthorized","message":"no"}]}"#), Answer::Unauthorized { errors } if errors.len() == 1)
        );
        assert!(matches!(
            answer(404, None, ""),
            Answer::Rejected { status: 404, .. }
        ));
        assert_eq!(
            answer(429, Some("3"), ""),
            Answer::RateLimited {
                retry_after: Some(Duration::from_secs(3))
            }
        );
        assert_eq!(
            answer(429, None, ""),
            Answer::RateLimited { retry_after: None }
        );
        assert_eq!(
            answer(503, Some("Tue, 14 Nov 2023 22:13:25 GMT"), ""),
            Answer::Transient {
                reason: "HTTP 503".into(),
                retry_after: Some(Duration::from_secs(5)),
                status: Some(503),
            }
        );
        assert!(matches!(
            answer(500, None, ""),
            Answer::Transient {
                retry_after: None,
                ..
            }
        ));
        // Each endpoint reads its own success.
        let update = |status: u16| {
            let status = StatusCode::from_u16(status).expect("test status");
            classify(
                Endpoint::Update,
                status,
                &HeaderMap::new(),
                b"{}",
                SystemTime::UNIX_EPOCH,
            )
        };
        assert_eq!(update(200), Answer::Ok(Success::Updated));
        assert!(matches!(update(404), Answer::Rejected { status: 404, .. }));
    }

    #[test]
    fn retry_after_reads_seconds_dates_past_dates_and_refuses_garbage() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000); // Tue, 14 Nov 2023 22:13:20 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:14:20 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        for garbage in ["", "soon", "-5", "1.5", "Tue, 99 Nov 2023"] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
        }
    }

    #[test]
    fn rate_limit_reset_reads_epochs_and_seconds_and_yields_to_retry_after() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            parse_rate_limit_reset("30", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_rate_limit_reset("1700000045", now),
            Some(Duration::from_secs(45))
        );
        assert_eq!(
            parse_rate_limit_reset("1699999000", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_rate_limit_reset("soon", now), None);
        assert_eq!(parse_rate_limit_reset("-3", now), None);

        let mut headers = HeaderMap::new();
        headers.insert(RATE_LIMIT_RESET, HeaderValue::from_static("1700000007"));
        let status = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(
            classify(Endpoint::Create, status, &headers, b"", now),
            Answer::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(
            classify(Endpoint::Create, status, &headers, b"", now),
            Answer::RateLimited {
                retry_after: Some(Duration::from_secs(2))
            }
        );
    }

    #[test]
    fn a_lookup_goes_by_user_id_else_email() {
        let mut payload = CreateCustomer {
            user_id: Some("u1".into()),
            email: Some("a@example.com".into()),
            ..CreateCustomer::default()
        };
        assert_eq!(LookupKey::of(&payload), Some(LookupKey::UserId("u1")));
        assert_eq!(
            LookupKey::UserId("u1").search_body(),
            serde_json::json!({"filter": [{"field": "customers.userId", "operator": "=", "value": "u1"}],
                "comparison": "AND", "limit": 100, "offset": 0})
        );
        payload.user_id = None;
        assert_eq!(
            LookupKey::of(&payload),
            Some(LookupKey::Email("a@example.com"))
        );
        assert_eq!(
            LookupKey::Email("a@example.com").search_body()["filter"][0]["field"],
            "customers.email"
        );
        payload.email = None;
        assert_eq!(LookupKey::of(&payload), None);
    }

    #[test]
    fn a_search_answer_gives_the_ids_or_the_reason_there_are_none() {
        let search = |status: u16, body: &str| match classify(
            Endpoint::Search,
            StatusCode::from_u16(status).expect("test status"),
            &HeaderMap::new(),
            body.as_bytes(),
            SystemTime::UNIX_EPOCH,
        ) {
            Answer::Ok(Success::Found { ids }) => Ok(ids),
            other => Err(other),
        };
        assert_eq!(
            search(
                200,
                r#"{"data":[{"id":5,"userId":"u1"},{"id":9}],"total":2}"#
            ),
            Ok(vec![5, 9])
        );
        assert_eq!(search(200, r#"{"data":[],"total":0}"#), Ok(vec![]));
        assert!(matches!(
            search(200, "<html>"),
            Err(Answer::Transient { .. })
        ));
        assert!(matches!(search(503, ""), Err(Answer::Transient { .. })));
        assert!(matches!(search(429, ""), Err(Answer::RateLimited { .. })));
        assert!(matches!(search(401, ""), Err(Answer::Unauthorized { .. })));
        assert!(matches!(
            search(400, r#"{"errors":[{"code":"filter","message":"bad"}]}"#),
            Err(Answer::Rejected { status: 400, .. })
        ));
        // A search that matched nothing may answer 404: no match, not a refusal.
        let not_found = r#"{"errors":[{"code":"invalid_request","message":"Invalid request"},{"code":"not_found","message":"No customers"}]}"#;
        assert_eq!(search(404, not_found), Ok(vec![]));
        assert_eq!(search(404, ""), Ok(vec![]));
    }

    #[test]
    fn a_read_back_gives_the_stored_contact_and_tags_read_as_updates() {
        let answer = |endpoint, status: u16, body: &str| {
            classify(
                endpoint,
                StatusCode::from_u16(status).expect("test status"),
                &HeaderMap::new(),
                body.as_bytes(),
                SystemTime::UNIX_EPOCH,
            )
        };
        let fetched = answer(
            Endpoint::Get,
            200,
            r#"{"id":7,"customData":{"plan":"pro"}}"#,
        );
        assert!(matches!(
            fetched,
            Answer::Ok(Success::Fetched { customer }) if customer["customData"]["plan"] == "pro"
        ));
        assert!(matches!(
            answer(Endpoint::Get, 200, "<html>"),
            Answer::Transient { .. }
        ));
        assert!(matches!(
            answer(Endpoint::Get, 404, ""),
            Answer::Rejected { status: 404, .. }
        ));
        assert_eq!(
            answer(Endpoint::AddTags, 200, r#"{"id":7}"#),
            Answer::Ok(Success::Updated)
        );
        let page = answer(
            Endpoint::List,
            200,
            r#"{"data":[{"id":7,"email":"a@x.io"},{"id":8}],"total":1042}"#,
        );
        assert!(matches!(
            page,
            Answer::Ok(Success::Page { customers, total: Some(1042) }) if customers.len() == 2
        ));
        assert!(matches!(
            answer(Endpoint::List, 200, r#"{"total":3}"#),
            Answer::Transient { .. }
        ));
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let key = ApiKey::new("  sk-secret-123 ").expect("valid key");
        assert!(!format!("{key:?}").contains("sk-secret"));
        let client = Client::new(
            "http://127.0.0.1:9/v1/",
            &key,
            Timeouts {
                connect: Duration::from_secs(1),
                request: Duration::from_secs(1),
            },
            1,
        )
        .expect("client builds");
        let debug = format!("{client:?}");
        assert!(!debug.contains("sk-secret"), "{debug}");
        assert!(debug.contains("http://127.0.0.1:9/v1/customers"), "{debug}");
        assert!(ApiKey::new("  ").is_err());
        assert!(ApiKey::new("bad\nkey").is_err());
    }
}
