//! The sandbox over real HTTP on loopback, as the importer and the benchmarks see it.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, Method};
use serde_json::{Value, json};

use super::*;

const KEY: &str = "test-key";

/// A fixed window of `max` requests a minute: in a test, the window never ends.
fn per_minute(max: u32) -> Option<Limit> {
    Some(Limit::FixedWindow {
        max,
        window: Duration::from_secs(60),
    })
}

async fn start(config: SandboxConfig) -> Sandbox {
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    Sandbox::start(config, addr).await.expect("sandbox starts")
}

struct Answer {
    status: u16,
    body: Value,
    headers: HeaderMap,
}

async fn call(sandbox: &Sandbox, method: Method, path: &str, body: Option<Value>) -> Answer {
    let url = format!("{}{path}", sandbox.base_url());
    let mut request = Client::new().request(method, url).bearer_auth(KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    // JSON, except DELETE's plain `Ok`, kept as a JSON string.
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        body,
        headers,
    }
}

async fn post(sandbox: &Sandbox, path: &str, body: Value) -> Answer {
    call(sandbox, Method::POST, path, Some(body)).await
}

async fn get(sandbox: &Sandbox, path: &str) -> Answer {
    call(sandbox, Method::GET, path, None).await
}

fn invalid(problems: &[(&str, &str)]) -> Value {
    let mut errors = vec![json!({"code": "invalid_request", "message": "Invalid request"})];
    errors.extend(
        problems
            .iter()
            .map(|(code, message)| json!({"code": code, "message": message})),
    );
    json!({ "errors": errors })
}

fn error_codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn ids(body: &Value) -> Vec<u64> {
    body["data"]
        .as_array()
        .map(|data| data.iter().filter_map(|c| c["id"].as_u64()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn create_answers_201_with_the_whole_customer() {
    let sandbox = start(SandboxConfig::default()).await;
    let answer = post(
        &sandbox,
        "/customers",
        json!({
            "name": "John Doe", "email": "john@example.com", "userId": "user_1",
            "firstSeen": "1603885746", "locale": "uk", "company": null,
            "tags": [{"name": "vip", "color": "#ff0000"}, {"name": "new"}],
            "customData": [
                {"property": "status", "value": "active"},
                {"property": "payments", "value": 15},
                {"property": "paid", "value": 15.99},
                {"property": "ok", "value": true}
            ]
        }),
    )
    .await;
    assert_eq!(answer.status, 201);
    let expected = json!({
        "id": 1000001,
        "name": "John Doe", "email": "john@example.com", "userId": "user_1",
        "company": null, "phone": null, "firstSeen": "1603885746", "source": null,
        "locale": "uk", "notes": null,
        "tags": [{"name": "vip", "color": "#ff0000"}, {"name": "new", "color": "#c377e0"}],
        "customData": {"status": "active", "payments": 15, "paid": 15.99, "ok": true},
        "lastSeen": null,
        "location": {"regionCode": null, "countryCode": null, "city": null},
        "device": {"id": null, "ip": null, "timezone": null, "platform": null, "userAgent": null},
        "unsubscribed": false, "blocked": false, "referer": null, "lastPage": null,
        "createdFrom": "api", "integrationId": null
    });
    assert_eq!(answer.body, expected);
    assert_eq!(sandbox.customers(), [expected]);
    let second = post(&sandbox, "/customers", json!({"name": "Jane"})).await;
    assert_eq!(second.body["id"], json!(1000002));
    sandbox.shutdown().await;
}

#[tokio::test]
async fn create_stores_every_documented_writable_field() {
    let sandbox = start(SandboxConfig::default()).await;
    let written = json!({
        "unsubscribed": true, "blocked": true, "lastSeen": "1603885800",
        "referer": "https://ref.example", "lastPage": "/pricing", "createdFrom": "crm",
        "integrationId": "int-7"
    });
    let answer = post(&sandbox, "/customers", written.clone()).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let stored = get(&sandbox, "/customers/1000001").await.body;
    for (field, value) in written.as_object().into_iter().flatten() {
        assert_eq!(&answer.body[field], value, "{field} answered");
        assert_eq!(&stored[field], value, "{field} stored");
    }
}

#[tokio::test]
async fn each_validation_rule_answers_400_with_its_field() {
    let sandbox = start(SandboxConfig::default()).await;
    let cases = [
        (json!([{"name": "x"}]), "body", "must be a JSON object"),
        (json!({"mail": "a@b.com"}), "mail", "unknown field"),
        (json!({"name": 42}), "name", "must be a string"),
        (json!({"userId": 7}), "userId", "must be a string"),
        (
            json!({"email": "a@@b.com"}),
            "email",
            "is not a valid email address",
        ),
        (
            json!({"email": "a b@c.com"}),
            "email",
            "is not a valid email address",
        ),
        (
            json!({"email": "@x.com"}),
            "email",
            "is not a valid email address",
        ),
        (
            json!({"email": "John <john@example.com>"}),
            "email",
            "is not a valid email address",
        ),
        (
            json!({"locale": "EN"}),
            "locale",
            "must be an ISO 639-1 code such as \"en\"",
        ),
        (
            json!({"locale": "zz"}),
            "locale",
            "must be an ISO 639-1 code such as \"en\"",
        ),
        (
            json!({"firstSeen": "2020-10-28T11:49:06Z"}),
            "firstSeen",
            "must be a UNIX timestamp such as \"1603885746\"",
        ),
        (
            json!({"firstSeen": 1603885746}),
            "firstSeen",
            "must be a string holding a UNIX timestamp",
        ),
        (
            json!({"lastSeen": "yesterday"}),
            "lastSeen",
            "must be a UNIX timestamp such as \"1603885746\"",
        ),
        (
            json!({"unsubscribed": "yes"}),
            "unsubscribed",
            "must be a boolean",
        ),
        (json!({"blocked": 0}), "blocked", "must be a boolean"),
        (json!({"referer": 1}), "referer", "must be a string"),
        (
            json!({"tags": [{"name": ""}]}),
            "tags[0].name",
            "must not be empty",
        ),
        (
            json!({"tags": [{"name": "a", "color": 1}]}),
            "tags[0].color",
            "must be a string",
        ),
        (
            json!({"customData": [{"property": "a", "value": 1}, {"property": "b", "value": 2}, {"property": "c", "value": {"x": 1}}]}),
            "customData[2].value",
            "must be a string, a number or a boolean",
        ),
        (
            json!({"customData": [{"property": "a", "value": [1]}]}),
            "customData[0].value",
            "must be a string, a number or a boolean",
        ),
        (
            json!({"customData": [{"property": "", "value": 1}]}),
            "customData[0].property",
            "must not be empty",
        ),
    ];
    for (body, code, message) in &cases {
        let answer = post(&sandbox, "/customers", body.clone()).await;
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(answer.body, invalid(&[(code, message)]), "{body}");
    }
    let malformed = Client::new()
        .post(format!("{}/customers", sandbox.base_url()))
        .bearer_auth(KEY)
        .body("{\"name\":")
        .send()
        .await
        .expect("an answer");
    assert_eq!(malformed.status().as_u16(), 400);
    let stats = sandbox.stats();
    assert_eq!(stats.rejected, cases.len() as u64 + 1);
    assert_eq!((stats.created, stats.customers), (0, 0));
}

#[tokio::test]
async fn a_taken_user_id_is_refused_with_its_own_code() {
    let sandbox = start(SandboxConfig::default()).await;
    assert_eq!(
        post(&sandbox, "/customers", json!({"userId": "u1"}))
            .await
            .status,
        201
    );
    let answer = post(&sandbox, "/customers", json!({"userId": "u1", "name": "B"})).await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body,
        json!({"errors": [
            {"code": "invalid_request", "message": "Invalid request"},
            {"code": "invalid_userId_value", "message": "Customer with such userId already exists"}
        ]})
    );
    assert_eq!(sandbox.customers().len(), 1);
}

#[tokio::test]
async fn the_key_is_checked_before_anything_else() {
    let sandbox = start(SandboxConfig {
        api_key: Some("right".into()),
        ..SandboxConfig::default()
    })
    .await;
    let url = format!("{}/customers", sandbox.base_url());
    let client = Client::new();
    let body = json!({"name": "x"});
    let missing = client.post(&url).json(&body).send().await.expect("answer");
    let wrong = client
        .post(&url)
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .expect("answer");
    let basic = client
        .post(&url)
        .header("Authorization", "Basic right")
        .json(&body)
        .send()
        .await
        .expect("answer");
    for (answer, message) in [
        (missing, "Missing Authorization header"),
        (wrong, "Invalid API key"),
        (basic, "Authorization must be \"Bearer <api key>\""),
    ] {
        assert_eq!(answer.status().as_u16(), 401);
        let body: Value = answer.json().await.expect("JSON");
        assert_eq!(
            body,
            json!({"errors": [
                {"code": "invalid_request", "message": "Invalid request"},
                {"code": "unauthorized", "message": message}
            ]})
        );
    }
    let right = client
        .post(&url)
        .bearer_auth("right")
        .json(&body)
        .send()
        .await
        .expect("answer");
    assert_eq!(right.status().as_u16(), 201);
    let stats = sandbox.stats();
    assert_eq!(
        (stats.requests, stats.unauthorized, stats.created),
        (4, 3, 1)
    );
}

#[tokio::test]
async fn without_a_key_any_non_empty_bearer_token_passes() {
    let sandbox = start(SandboxConfig::default()).await;
    let url = format!("{}/customers", sandbox.base_url());
    let client = Client::new();
    let empty = client
        .get(&url)
        .header("Authorization", "Bearer ")
        .send()
        .await
        .expect("answer");
    assert_eq!(empty.status().as_u16(), 401);
    let any = client
        .get(&url)
        .bearer_auth("whatever")
        .send()
        .await
        .expect("answer");
    assert_eq!(any.status().as_u16(), 200);
}

/// A fixed window of one request per minute: the second request is refused.
async fn second_request_refused(mode: RetryAfterMode) -> (Answer, SystemTime) {
    let sandbox = start(SandboxConfig {
        limit: per_minute(1),
        retry_after: mode,
        ..SandboxConfig::default()
    })
    .await;
    assert_eq!(get(&sandbox, "/customers").await.status, 200);
    let before = SystemTime::now();
    let answer = get(&sandbox, "/customers").await;
    assert_eq!(answer.status, 429);
    assert_eq!(
        answer.body,
        json!({"errors": [
            {"code": "invalid_request", "message": "Invalid request"},
            {"code": "too_many_requests", "message": "Too many requests"}
        ]})
    );
    assert_eq!(sandbox.stats().rate_limited, 1);
    (answer, before)
}

#[tokio::test]
async fn rate_limited_answers_carry_retry_after_in_seconds() {
    let (answer, _) = second_request_refused(RetryAfterMode::Seconds).await;
    let seconds: u64 = answer.headers[RETRY_AFTER]
        .to_str()
        .expect("text")
        .parse()
        .expect("whole seconds");
    // The window ends 60 s after the start, less the few milliseconds the test took.
    assert!((59..=60).contains(&seconds), "{seconds}");
}

#[tokio::test]
async fn rate_limited_answers_carry_retry_after_as_a_date() {
    let (answer, before) = second_request_refused(RetryAfterMode::Date).await;
    let text = answer.headers[RETRY_AFTER].to_str().expect("text");
    let date = httpdate::parse_http_date(text).expect("an HTTP date");
    assert!(date > before + Duration::from_secs(58), "{text}");
    assert!(date <= before + Duration::from_secs(61), "{text}");
}

#[tokio::test]
async fn rate_limited_answers_can_omit_retry_after() {
    let (answer, _) = second_request_refused(RetryAfterMode::None).await;
    assert_eq!(answer.headers.get(RETRY_AFTER), None);
}

#[tokio::test]
async fn by_default_429s_and_503s_carry_no_retry_after_as_documented() {
    assert_eq!(SandboxConfig::default().retry_after, RetryAfterMode::None);
    let sandbox = start(SandboxConfig {
        limit: per_minute(1),
        ..SandboxConfig::default()
    })
    .await;
    assert_eq!(get(&sandbox, "/customers").await.status, 200);
    let limited = get(&sandbox, "/customers").await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.headers.get(RETRY_AFTER), None);
    let failing = start(SandboxConfig {
        error_rate: 1.0,
        ..SandboxConfig::default()
    })
    .await;
    let unavailable = get(&failing, "/customers").await;
    assert_eq!(unavailable.status, 503);
    assert_eq!(unavailable.headers.get(RETRY_AFTER), None);
}

#[tokio::test]
async fn token_bucket_lets_the_burst_through_then_refuses() {
    let sandbox = start(SandboxConfig {
        limit: Some(Limit::TokenBucket {
            rate: "1/min".parse().expect("rate"),
            burst: 2,
        }),
        retry_after: RetryAfterMode::Seconds,
        ..SandboxConfig::default()
    })
    .await;
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let answer = get(&sandbox, "/customers").await;
        statuses.push(answer.status);
        last = Some(answer);
    }
    assert_eq!(statuses, [200, 200, 429, 429, 429]);
    let header = last.map(|a| a.headers[RETRY_AFTER].clone());
    let seconds: u64 = header
        .and_then(|h| h.to_str().ok()?.parse().ok())
        .expect("seconds");
    assert!((59..=60).contains(&seconds), "{seconds}");
    let stats = sandbox.stats();
    assert_eq!((stats.requests, stats.rate_limited), (5, 3));
}

#[tokio::test]
async fn fixed_window_allows_max_per_window() {
    let sandbox = start(SandboxConfig {
        limit: per_minute(3),
        ..SandboxConfig::default()
    })
    .await;
    let mut statuses = Vec::new();
    for n in 0..5 {
        statuses.push(
            post(&sandbox, "/customers", json!({ "userId": format!("u{n}") }))
                .await
                .status,
        );
    }
    assert_eq!(statuses, [201, 201, 201, 429, 429]);
    assert_eq!(sandbox.customers().len(), 3);
}

#[tokio::test]
async fn error_rate_one_answers_every_request_with_503() {
    let sandbox = start(SandboxConfig {
        error_rate: 1.0,
        retry_after: RetryAfterMode::Seconds,
        ..SandboxConfig::default()
    })
    .await;
    let answers = [
        post(&sandbox, "/customers", json!({"name": "x"})).await,
        get(&sandbox, "/customers").await,
        post(&sandbox, "/customers/search", json!({})).await,
        get(&sandbox, "/customers/1000001").await,
    ];
    for answer in answers {
        assert_eq!(answer.status, 503);
        assert_eq!(error_codes(&answer.body), ["service_unavailable"]);
        assert_eq!(answer.headers[RETRY_AFTER], "1");
    }
    let stats = sandbox.stats();
    assert_eq!(
        (stats.requests, stats.server_errors, stats.customers),
        (4, 4, 0)
    );
}

#[tokio::test]
async fn a_seed_repeats_which_requests_fail() {
    let mut runs = Vec::new();
    for _ in 0..2 {
        let sandbox = start(SandboxConfig {
            error_rate: 0.5,
            seed: 9,
            ..SandboxConfig::default()
        })
        .await;
        let mut statuses = Vec::new();
        for _ in 0..20 {
            statuses.push(get(&sandbox, "/customers").await.status);
        }
        sandbox.shutdown().await;
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(
        runs[0].contains(&200) && runs[0].contains(&503),
        "{:?}",
        runs[0]
    );
}

#[tokio::test]
async fn a_dropped_answer_is_a_client_error_but_the_contact_is_stored() {
    let sandbox = start(SandboxConfig {
        drop_rate: 1.0,
        ..SandboxConfig::default()
    })
    .await;
    let sent = Client::new()
        .post(format!("{}/customers", sandbox.base_url()))
        .bearer_auth(KEY)
        .json(&json!({"userId": "u1", "name": "Ann"}))
        .send()
        .await;
    let error = sent.expect_err("the connection is dropped before any answer");
    assert!(!error.is_status(), "{error}");
    let stored = sandbox.customers();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["userId"], json!("u1"));
    // The server itself lives on, and a retry meets the stored contact.
    let retry = post(&sandbox, "/customers", json!({"userId": "u1"})).await;
    assert_eq!(
        error_codes(&retry.body),
        ["invalid_request", "invalid_userId_value"]
    );
    let stats = sandbox.stats();
    assert_eq!(
        (
            stats.created,
            stats.dropped,
            stats.rejected,
            stats.customers
        ),
        (1, 1, 1, 1)
    );
    sandbox.shutdown().await;
}

async fn five_customers(sandbox: &Sandbox) {
    for (n, (name, email)) in [
        ("Ann", "ann@alpha.com"),
        ("Bob", "bob@beta.com"),
        ("Cid", "cid@alpha.com"),
        ("Dee", "dee@gamma.com"),
        ("Eve", "eve@alpha.com"),
    ]
    .into_iter()
    .enumerate()
    {
        // lastSeen counts down as ids count up; Ann and Cid are "vip", Cid and Eve "new".
        let tags: Vec<Value> = [("vip", n % 2 == 0 && n < 3), ("new", n >= 2 && n % 2 == 0)]
            .iter()
            .filter(|(_, on)| *on)
            .map(|(tag, _)| json!({"name": tag}))
            .collect();
        let body = json!({
            "name": name, "email": email, "userId": format!("u{}", n + 1),
            "lastSeen": (1_600_000_010 - n).to_string(), "tags": tags
        });
        assert_eq!(post(sandbox, "/customers", body).await.status, 201);
    }
}

fn filter(field: &str, operator: &str, value: Value) -> Value {
    json!({"filter": [{"field": field, "operator": operator, "value": value}]})
}

#[tokio::test]
async fn search_supports_each_operator_by_field_type() {
    let sandbox = start(SandboxConfig::default()).await;
    five_customers(&sandbox).await;
    let cases = [
        (filter("customers.userId", "=", json!("u3")), vec![1000003]),
        (
            filter("customers.name", "!=", json!("Bob")),
            vec![1000001, 1000003, 1000004, 1000005],
        ),
        (
            filter("customers.id", ">", json!(1000003)),
            vec![1000004, 1000005],
        ),
        (filter("customers.id", "<", json!(1000002)), vec![1000001]),
        (
            filter("customers.id", ">=", json!(1000004)),
            vec![1000004, 1000005],
        ),
        (
            filter("customers.lastSeen", "<=", json!("1600000007")),
            vec![1000004, 1000005],
        ),
        (
            filter("customers.lastSeen", "!=", json!("1600000010")),
            vec![1000002, 1000003, 1000004, 1000005],
        ),
        (
            filter("customers.email", "~", json!("@alpha.")),
            vec![1000001, 1000003, 1000005],
        ),
        (
            filter("customers.email", "!~", json!("@alpha.")),
            vec![1000002, 1000004],
        ),
        (
            filter("customers.tagsData", "=", json!([{"name": "vip"}])),
            vec![1000001, 1000003],
        ),
        (
            filter(
                "customers.tagsData",
                "=",
                json!([{"name": "vip"}, {"name": "new"}]),
            ),
            vec![1000003],
        ),
        (filter("customers.city", "=", json!("Kyiv")), vec![]),
        (
            json!({"filter": [
                {"field": "customers.userId", "operator": "=", "value": "u1"},
                {"field": "customers.email", "operator": "~", "value": "gamma"}
            ], "comparison": "OR"}),
            vec![1000001, 1000004],
        ),
    ];
    for (body, expected) in cases {
        let answer = post(&sandbox, "/customers/search", body.clone()).await;
        assert_eq!(answer.status, 200, "{body}");
        assert_eq!(ids(&answer.body), expected, "{body}");
        assert_eq!(answer.body["total"], json!(expected.len()), "{body}");
    }
}

#[tokio::test]
async fn search_pages_and_sorts_as_its_body_asks() {
    let sandbox = start(SandboxConfig::default()).await;
    five_customers(&sandbox).await;
    let page = post(
        &sandbox,
        "/customers/search",
        json!({"filter": [], "limit": 2, "offset": 1}),
    )
    .await;
    assert_eq!(ids(&page.body), [1000002, 1000003]);
    assert_eq!(page.body["total"], json!(5));
    let past_the_end = post(&sandbox, "/customers/search", json!({"offset": 5})).await;
    assert_eq!(
        (ids(&past_the_end.body), &past_the_end.body["total"]),
        (vec![], &json!(5))
    );
    let newest_first = post(
        &sandbox,
        "/customers/search",
        json!({"filter": [{"field": "customers.email", "operator": "~", "value": "alpha"}],
            "comparison": "AND", "limit": 2, "offset": 0,
            "sort": "customers.id", "order": "desc"}),
    )
    .await;
    assert_eq!(ids(&newest_first.body), [1000005, 1000003]);
    assert_eq!(newest_first.body["total"], json!(3));
    let by_last_seen = post(
        &sandbox,
        "/customers/search",
        json!({"sort": "customers.lastSeen", "order": "asc", "limit": 3}),
    )
    .await;
    assert_eq!(ids(&by_last_seen.body), [1000005, 1000004, 1000003]);
}

/// A search for a userId nobody has, and one past the end of what matches.
async fn empty_searches(search_empty: SearchEmpty) -> (Answer, Answer) {
    let sandbox = start(SandboxConfig {
        search_empty,
        ..SandboxConfig::default()
    })
    .await;
    five_customers(&sandbox).await;
    let none = post(
        &sandbox,
        "/customers/search",
        filter("customers.userId", "=", json!("nobody")),
    )
    .await;
    let past_the_end = post(&sandbox, "/customers/search", json!({"offset": 50})).await;
    (none, past_the_end)
}

#[tokio::test]
async fn a_search_matching_nothing_answers_200_empty_by_default() {
    assert_eq!(
        SandboxConfig::default().search_empty,
        SearchEmpty::EmptyPage
    );
    let (none, past_the_end) = empty_searches(SearchEmpty::EmptyPage).await;
    assert_eq!(
        (none.status, none.body),
        (200, json!({"data": [], "total": 0}))
    );
    assert_eq!(past_the_end.status, 200);
}

#[tokio::test]
async fn a_search_matching_nothing_answers_404_when_asked() {
    let (none, past_the_end) = empty_searches(SearchEmpty::NotFound).await;
    assert_eq!(none.status, 404);
    assert_eq!(error_codes(&none.body), ["invalid_request", "not_found"]);
    // A page past the end of what matched is no "nothing matched".
    assert_eq!(past_the_end.status, 200);
    assert_eq!(past_the_end.body["total"], json!(5));
}

fn by_email(email: &str) -> Value {
    filter("customers.email", "=", json!(email))
}

#[tokio::test]
async fn with_a_search_delay_new_and_changed_contacts_show_up_late_in_search_only() {
    const DELAY: Duration = Duration::from_millis(300);
    let sandbox = start(SandboxConfig {
        search_delay: DELAY,
        ..SandboxConfig::default()
    })
    .await;
    // The server writes between `sent` and `answered`: a search before `sent + DELAY` must
    // miss the write, one after `answered + DELAY` must see it.
    let sent = Instant::now();
    let created = post(
        &sandbox,
        "/customers",
        json!({"userId": "u1", "email": "a@x.com"}),
    )
    .await;
    let answered = Instant::now();
    assert_eq!(created.status, 201);
    let search = post(&sandbox, "/customers/search", by_email("a@x.com")).await;
    // Unless the machine stalled for the whole delay, the contact is not searchable yet.
    if sent.elapsed() < DELAY {
        assert_eq!(search.body, json!({"data": [], "total": 0}));
    }
    // Everything else sees it at once: GET, the list, and the userId constraint.
    assert_eq!(get(&sandbox, "/customers/1000001").await.status, 200);
    assert_eq!(ids(&get(&sandbox, "/customers").await.body), [1000001]);
    let twice = post(&sandbox, "/customers", json!({"userId": "u1"})).await;
    assert_eq!(
        error_codes(&twice.body),
        ["invalid_request", "invalid_userId_value"]
    );
    tokio::time::sleep(DELAY.saturating_sub(answered.elapsed())).await;
    let later = post(&sandbox, "/customers/search", by_email("a@x.com")).await;
    assert_eq!(ids(&later.body), [1000001]);

    // A change: search goes on matching the old email until the delay has passed, and
    // answers the customer as it now is.
    let sent = Instant::now();
    let patched = call(
        &sandbox,
        Method::PATCH,
        "/customers/1000001",
        Some(json!({"email": "b@x.com"})),
    )
    .await;
    let answered = Instant::now();
    assert_eq!(patched.status, 200);
    let old = post(&sandbox, "/customers/search", by_email("a@x.com")).await;
    let new = post(&sandbox, "/customers/search", by_email("b@x.com")).await;
    if sent.elapsed() < DELAY {
        assert_eq!(ids(&old.body), [1000001]);
        assert_eq!(old.body["data"][0]["email"], json!("b@x.com"));
        assert_eq!(ids(&new.body), Vec::<u64>::new());
    }
    tokio::time::sleep(DELAY.saturating_sub(answered.elapsed())).await;
    let old = post(&sandbox, "/customers/search", by_email("a@x.com")).await;
    let new = post(&sandbox, "/customers/search", by_email("b@x.com")).await;
    assert_eq!(ids(&old.body), Vec::<u64>::new());
    assert_eq!(ids(&new.body), [1000001]);

    // A delete is seen at once, in search too.
    call(&sandbox, Method::DELETE, "/customers/1000001", None).await;
    let gone = post(&sandbox, "/customers/search", by_email("b@x.com")).await;
    assert_eq!(gone.body["total"], json!(0));
}

#[tokio::test]
async fn without_a_search_delay_search_sees_writes_at_once() {
    assert_eq!(SandboxConfig::default().search_delay, Duration::ZERO);
    let sandbox = start(SandboxConfig::default()).await;
    post(&sandbox, "/customers", json!({"email": "a@x.com"})).await;
    let found = post(&sandbox, "/customers/search", by_email("a@x.com")).await;
    assert_eq!(ids(&found.body), [1000001]);
    call(
        &sandbox,
        Method::PUT,
        "/customers/1000001/tags",
        Some(json!({"tags": [{"name": "vip"}]})),
    )
    .await;
    let tagged = post(
        &sandbox,
        "/customers/search",
        filter("customers.tagsData", "=", json!([{"name": "vip"}])),
    )
    .await;
    assert_eq!(ids(&tagged.body), [1000001]);
}

#[tokio::test]
async fn bad_searches_are_400() {
    let sandbox = start(SandboxConfig::default()).await;
    let cases = [
        (
            filter("customers.notes", "=", json!("1")),
            "filter[0].field",
        ),
        (
            filter("customers.name", "LIKE", json!("a")),
            "filter[0].operator",
        ),
        (
            filter("customers.name", ">", json!("a")),
            "filter[0].operator",
        ),
        (
            filter("customers.tagsData", "!=", json!([{"name": "a"}])),
            "filter[0].operator",
        ),
        (
            filter("customers.id", "=", json!("1000001")),
            "filter[0].value",
        ),
        (
            filter("customers.lastSeen", ">", json!(1600000000)),
            "filter[0].value",
        ),
        (json!({"limit": 101}), "limit"),
        (json!({"sort": "customers.name"}), "sort"),
        (json!({"order": "DESC"}), "order"),
    ];
    for (body, code) in cases {
        let answer = post(&sandbox, "/customers/search", body.clone()).await;
        assert_eq!(answer.status, 400, "{body}");
        assert_eq!(
            error_codes(&answer.body),
            ["invalid_request", code],
            "{body}"
        );
    }
}

#[tokio::test]
async fn list_pages_and_sorts_then_show_and_delete() {
    let sandbox = start(SandboxConfig::default()).await;
    five_customers(&sandbox).await;
    let all = get(&sandbox, "/customers").await;
    assert_eq!(ids(&all.body).len(), 5);
    assert_eq!(all.body["total"], json!(5));
    let page = get(&sandbox, "/customers?limit=2&offset=3").await;
    assert_eq!(ids(&page.body), [1000004, 1000005]);
    assert_eq!(page.body["total"], json!(5));
    let bad_page = get(&sandbox, "/customers?limit=0").await;
    assert_eq!(error_codes(&bad_page.body), ["invalid_request", "limit"]);
    let too_big = get(&sandbox, "/customers?limit=101").await;
    assert_eq!(error_codes(&too_big.body), ["invalid_request", "limit"]);
    let newest = get(&sandbox, "/customers?limit=2&order=desc").await;
    assert_eq!(ids(&newest.body), [1000005, 1000004]);
    // lastSeen counts down as ids count up.
    let seen_last = get(
        &sandbox,
        "/customers?sort=customers.lastSeen&order=asc&offset=3",
    )
    .await;
    assert_eq!(ids(&seen_last.body), [1000002, 1000001]);
    assert_eq!(seen_last.body["total"], json!(5));
    let bad_sort = get(&sandbox, "/customers?sort=name&order=up").await;
    assert_eq!(
        error_codes(&bad_sort.body),
        ["invalid_request", "sort", "order"]
    );

    let one = get(&sandbox, "/customers/1000002").await;
    assert_eq!((one.status, &one.body["userId"]), (200, &json!("u2")));
    let deleted = call(&sandbox, Method::DELETE, "/customers/1000002", None).await;
    assert_eq!((deleted.status, deleted.body), (200, json!("Ok")));
    assert_eq!(deleted.headers["content-type"], "text/plain; charset=utf-8");
    for path in ["/customers/1000002", "/customers/42", "/customers/abc"] {
        let gone = get(&sandbox, path).await;
        assert_eq!(gone.status, 404, "{path}");
        assert_eq!(
            error_codes(&gone.body),
            ["invalid_request", "not_found"],
            "{path}"
        );
    }
    let again = call(&sandbox, Method::DELETE, "/customers/1000002", None).await;
    assert_eq!(again.status, 404);
    assert_eq!(sandbox.stats().customers, 4);
}

#[tokio::test]
async fn patch_updates_what_it_sends_and_put_replaces_everything() {
    let sandbox = start(SandboxConfig::default()).await;
    let created = post(
        &sandbox,
        "/customers",
        json!({"name": "Ann", "userId": "u1", "phone": "1", "customData": [{"property": "a", "value": 1}]}),
    )
    .await;
    assert_eq!(created.status, 201);
    post(&sandbox, "/customers", json!({"userId": "u2"})).await;

    let patched = call(
        &sandbox,
        Method::PATCH,
        "/customers/1000001",
        Some(json!({"phone": "2", "unsubscribed": true})),
    )
    .await;
    assert_eq!(patched.status, 200);
    let mut expected = created.body.clone();
    expected["phone"] = json!("2");
    expected["unsubscribed"] = json!(true);
    assert_eq!(patched.body, expected);
    // Sending null clears a field, as the docs say.
    let cleared = call(
        &sandbox,
        Method::PATCH,
        "/customers/1000001",
        Some(json!({"phone": null})),
    )
    .await;
    expected["phone"] = Value::Null;
    assert_eq!(cleared.body, expected);

    let taken = call(
        &sandbox,
        Method::PATCH,
        "/customers/1000001",
        Some(json!({"userId": "u2"})),
    )
    .await;
    assert_eq!(
        error_codes(&taken.body),
        ["invalid_request", "invalid_userId_value"]
    );
    let invalid = call(
        &sandbox,
        Method::PATCH,
        "/customers/1000001",
        Some(json!({"email": "nope"})),
    )
    .await;
    assert_eq!(error_codes(&invalid.body), ["invalid_request", "email"]);

    let replaced = call(
        &sandbox,
        Method::PUT,
        "/customers/1000001",
        Some(json!({"name": "Anna"})),
    )
    .await;
    assert_eq!(replaced.status, 200);
    let mut expected = created.body.clone();
    // Every writable field not sent becomes null, the create's defaults too.
    for field in [
        "userId",
        "phone",
        "customData",
        "unsubscribed",
        "blocked",
        "createdFrom",
    ] {
        expected[field] = Value::Null;
    }
    expected["name"] = json!("Anna");
    assert_eq!(replaced.body, expected);
    assert_eq!(sandbox.customers()[0], expected);

    let unknown = call(&sandbox, Method::PUT, "/customers/7", Some(json!({}))).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(error_codes(&unknown.body), ["invalid_request", "not_found"]);
    let unknown = call(&sandbox, Method::PATCH, "/customers/7", Some(json!({}))).await;
    assert_eq!(unknown.status, 404);
}

#[tokio::test]
async fn tag_endpoints_add_without_removing_and_remove_by_name() {
    let sandbox = start(SandboxConfig::default()).await;
    let created = post(
        &sandbox,
        "/customers",
        json!({"name": "Ann", "tags": [{"name": "agent-added", "color": "red"}]}),
    )
    .await;
    assert_eq!(created.status, 201);
    let added = call(
        &sandbox,
        Method::PUT,
        "/customers/1000001/tags",
        Some(json!({"tags": [{"name": "vip", "color": "#ff0000"}, {"name": "agent-added"}, {"name": "new"}]})),
    )
    .await;
    assert_eq!(added.status, 200);
    assert_eq!(
        added.body["tags"],
        json!([
            {"name": "agent-added", "color": "red"},
            {"name": "vip", "color": "#ff0000"},
            {"name": "new", "color": "#c377e0"}
        ])
    );
    assert_eq!(added.body["name"], json!("Ann"));
    let removed = call(
        &sandbox,
        Method::DELETE,
        "/customers/1000001/tags",
        Some(json!({"tags": [{"name": "vip"}, {"name": "never-there"}]})),
    )
    .await;
    assert_eq!(removed.status, 200);
    assert_eq!(
        removed.body["tags"],
        json!([{"name": "agent-added", "color": "red"}, {"name": "new", "color": "#c377e0"}])
    );
    assert_eq!(sandbox.customers()[0], removed.body);

    for method in [Method::PUT, Method::DELETE] {
        let unknown = call(
            &sandbox,
            method.clone(),
            "/customers/7/tags",
            Some(json!({"tags": [{"name": "a"}]})),
        )
        .await;
        assert_eq!(unknown.status, 404, "{method}");
        assert_eq!(error_codes(&unknown.body), ["invalid_request", "not_found"]);
        let bad = call(
            &sandbox,
            method.clone(),
            "/customers/1000001/tags",
            Some(json!({"tags": [{"name": "a", "color": "blurple"}]})),
        )
        .await;
        assert_eq!(bad.status, 400, "{method}");
        assert_eq!(error_codes(&bad.body), ["invalid_request", "tags[0].color"]);
        let no_tags = call(
            &sandbox,
            method.clone(),
            "/customers/1000001/tags",
            Some(json!({})),
        )
        .await;
        assert_eq!(error_codes(&no_tags.body), ["invalid_request", "tags"]);
    }
}

/// A customer with an agent's tag and a property, then a PATCH sending another of each;
/// answers what the PATCH left.
async fn patch_collections(mode: PatchCollections) -> Value {
    let sandbox = start(SandboxConfig {
        patch_collections: mode,
        ..SandboxConfig::default()
    })
    .await;
    let created = post(
        &sandbox,
        "/customers",
        json!({"userId": "u1", "tags": [{"name": "agent", "color": "red"}],
            "customData": [{"property": "seats", "value": 3}]}),
    )
    .await;
    assert_eq!(created.status, 201);
    let patched = call(
        &sandbox,
        Method::PATCH,
        "/customers/1000001",
        Some(json!({"tags": [{"name": "import"}],
            "customData": [{"property": "plan", "value": "pro"}]})),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(sandbox.customers()[0], patched.body);
    patched.body
}

#[tokio::test]
async fn patch_replaces_tags_and_custom_data_by_default() {
    assert_eq!(
        SandboxConfig::default().patch_collections,
        PatchCollections::Replace
    );
    let customer = patch_collections(PatchCollections::Replace).await;
    assert_eq!(
        customer["tags"],
        json!([{"name": "import", "color": "#c377e0"}])
    );
    assert_eq!(customer["customData"], json!({"plan": "pro"}));
    assert_eq!(customer["userId"], json!("u1"));
}

#[tokio::test]
async fn patch_merges_tags_and_custom_data_when_asked() {
    let customer = patch_collections(PatchCollections::Merge).await;
    assert_eq!(
        customer["tags"],
        json!([{"name": "agent", "color": "red"}, {"name": "import", "color": "#c377e0"}])
    );
    assert_eq!(customer["customData"], json!({"seats": 3, "plan": "pro"}));
}

#[tokio::test]
async fn batches_hold_one_to_ten_replaces() {
    let sandbox = start(SandboxConfig::default()).await;
    five_customers(&sandbox).await;
    let eleven: Vec<Value> = (0..11).map(|_| json!({"customer": 1000001})).collect();
    let too_many = call(
        &sandbox,
        Method::PUT,
        "/customers/batch",
        Some(json!(eleven)),
    )
    .await;
    assert_eq!(too_many.status, 400);
    assert_eq!(error_codes(&too_many.body), ["invalid_request", "body"]);
    let empty = call(&sandbox, Method::PUT, "/customers/batch", Some(json!([]))).await;
    assert_eq!(empty.status, 400);
    assert_eq!(
        empty.body,
        invalid(&[("body", "a batch holds 1 to 10 customers, not 0")])
    );

    let unknown = call(
        &sandbox,
        Method::PUT,
        "/customers/batch",
        Some(json!([{"customer": 1000001, "name": "A"}, {"customer": 999, "name": "B"}])),
    )
    .await;
    assert_eq!(
        error_codes(&unknown.body),
        ["invalid_request", "[1].customer"]
    );
    let invalid = call(
        &sandbox,
        Method::PUT,
        "/customers/batch",
        Some(json!([{"customer": 1000001, "locale": "english"}])),
    )
    .await;
    assert_eq!(
        error_codes(&invalid.body),
        ["invalid_request", "[0].locale"]
    );
    // Nothing of a refused batch applies.
    assert_eq!(sandbox.customers()[0]["name"], json!("Ann"));

    let ten: Vec<Value> = (1..=5)
        .map(|n| json!({"customer": 1000000 + n, "name": format!("N{n}"), "userId": format!("u{n}")}))
        .collect();
    let done = call(&sandbox, Method::PUT, "/customers/batch", Some(json!(ten))).await;
    assert_eq!(done.status, 200);
    assert_eq!(
        ids(&done.body),
        [1000001, 1000002, 1000003, 1000004, 1000005]
    );
    assert_eq!(done.body["data"][2]["name"], json!("N3"));
    // A replace: the email was not sent, so it is gone.
    assert_eq!(done.body["data"][2]["email"], Value::Null);
    assert_eq!(sandbox.customers()[4]["name"], json!("N5"));
}

/// A sandbox whose account has the attribute "plan" only, meeting an unknown one with
/// `unknown`: the answers to create, PATCH, PUT and batch, each sending "plan" and "ghost".
async fn unknown_attribute_answers(unknown: UnknownAttribute) -> (Sandbox, Vec<Answer>) {
    let sandbox = start(SandboxConfig {
        custom_attributes: Some(vec!["plan".into()]),
        unknown_attribute: unknown,
        ..SandboxConfig::default()
    })
    .await;
    // A contact to update, created without customData.
    assert_eq!(
        post(&sandbox, "/customers", json!({"name": "A"}))
            .await
            .status,
        201
    );
    let data = json!([{"property": "plan", "value": "pro"}, {"property": "ghost", "value": 1}]);
    let body = json!({ "customData": data });
    let batch = json!([{"customer": 1000001, "customData": data}]);
    let mut answers = Vec::new();
    for (method, path, body) in [
        (Method::POST, "/customers", &body),
        (Method::PATCH, "/customers/1000001", &body),
        (Method::PUT, "/customers/1000001", &body),
        (Method::PUT, "/customers/batch", &batch),
    ] {
        answers.push(call(&sandbox, method, path, Some(body.clone())).await);
    }
    (sandbox, answers)
}

/// Each answer's customData: the customer's, or the first of a batch's.
fn custom_data_of(answer: &Answer) -> &Value {
    match answer.body.get("data") {
        Some(data) => &data[0]["customData"],
        None => &answer.body["customData"],
    }
}

#[tokio::test]
async fn unknown_attributes_are_stored_by_default_and_with_accept() {
    assert_eq!(
        SandboxConfig::default().unknown_attribute,
        UnknownAttribute::Accept
    );
    let (sandbox, answers) = unknown_attribute_answers(UnknownAttribute::Accept).await;
    for answer in &answers {
        assert!(matches!(answer.status, 200 | 201), "{}", answer.body);
        assert_eq!(custom_data_of(answer), &json!({"plan": "pro", "ghost": 1}));
    }
    assert_eq!(sandbox.customers()[0]["customData"]["ghost"], json!(1));
}

#[tokio::test]
async fn unknown_attributes_are_refused_with_a_400_naming_them_with_reject() {
    let (sandbox, answers) = unknown_attribute_answers(UnknownAttribute::Reject).await;
    let codes: Vec<_> = answers.iter().map(|a| error_codes(&a.body)).collect();
    assert_eq!(
        codes,
        [
            ["invalid_request", "customData.ghost"],
            ["invalid_request", "customData.ghost"],
            ["invalid_request", "customData.ghost"],
            ["invalid_request", "[0].customData.ghost"],
        ]
    );
    for answer in &answers {
        assert_eq!(answer.status, 400);
        assert!(
            answer.body["errors"][1]["message"]
                .as_str()
                .is_some_and(|m| m.contains("\"ghost\"")),
            "{}",
            answer.body
        );
    }
    // Nothing was written: one customer, still without customData.
    let customers = sandbox.customers();
    assert_eq!(customers.len(), 1);
    assert_eq!(customers[0]["customData"], Value::Null);
}

#[tokio::test]
async fn unknown_attributes_are_left_out_in_silence_with_drop() {
    let (sandbox, answers) = unknown_attribute_answers(UnknownAttribute::Drop).await;
    for answer in &answers {
        assert!(matches!(answer.status, 200 | 201), "{}", answer.body);
        assert_eq!(custom_data_of(answer), &json!({"plan": "pro"}));
    }
    for customer in sandbox.customers() {
        assert_eq!(customer["customData"], json!({"plan": "pro"}));
    }
}

#[tokio::test]
async fn stats_count_every_outcome_and_are_not_counted_themselves() {
    let sandbox = start(SandboxConfig {
        api_key: Some(KEY.into()),
        limit: per_minute(4),
        ..SandboxConfig::default()
    })
    .await;
    post(&sandbox, "/customers", json!({"userId": "a"})).await;
    post(&sandbox, "/customers", json!({"userId": "a"})).await;
    post(&sandbox, "/customers", json!({"email": "bad"})).await;
    get(&sandbox, "/customers").await;
    get(&sandbox, "/customers").await;
    let unauthorized = Client::new()
        .get(format!("{}/customers", sandbox.base_url()))
        .send()
        .await
        .expect("answer");
    assert_eq!(unauthorized.status().as_u16(), 401);

    let url = format!("http://{}/sandbox/stats", sandbox.addr());
    let first: SandboxStats = Client::new()
        .get(&url)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("stats");
    let second: SandboxStats = Client::new()
        .get(&url)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("stats");
    let mut by_endpoint = no_requests_by_endpoint();
    by_endpoint.insert("POST /customers".into(), 3);
    by_endpoint.insert("GET /customers".into(), 3);
    let expected = SandboxStats {
        requests: 6,
        by_endpoint,
        rate_limited: 1,
        unauthorized: 1,
        server_errors: 0,
        rejected: 2,
        created: 1,
        dropped: 0,
        deleted: 0,
        customers: 1,
        other_client_requests: 0,
        other_client_rate_limited: 0,
    };
    assert_eq!(first, expected);
    assert_eq!(second, expected);
    assert_eq!(sandbox.stats(), expected);
}

/// Every endpoint's key, each at zero.
fn no_requests_by_endpoint() -> std::collections::BTreeMap<String, u64> {
    [
        "POST /customers",
        "POST /customers/search",
        "GET /customers",
        "GET /customers/{id}",
        "PATCH /customers/{id}",
        "PUT /customers/{id}",
        "DELETE /customers/{id}",
        "PUT /customers/{id}/tags",
        "DELETE /customers/{id}/tags",
        "PUT /customers/batch",
    ]
    .into_iter()
    .map(|key| (key.to_string(), 0))
    .collect()
}

#[tokio::test]
async fn stats_count_each_endpoint_whatever_the_answer_and_deletes() {
    let sandbox = start(SandboxConfig {
        limit: per_minute(12),
        ..SandboxConfig::default()
    })
    .await;
    let tags = || Some(json!({"tags": [{"name": "a"}]}));
    let requests = [
        (
            Method::POST,
            "/customers",
            Some(json!({"userId": "u1"})),
            201,
        ),
        (Method::POST, "/customers/search", Some(json!({})), 200),
        (Method::GET, "/customers", None, 200),
        (Method::GET, "/customers/1000001", None, 200),
        (Method::PATCH, "/customers/1000001", Some(json!({})), 200),
        (Method::PUT, "/customers/1000001", Some(json!({})), 200),
        (Method::PUT, "/customers/1000001/tags", tags(), 200),
        (Method::DELETE, "/customers/1000001/tags", tags(), 200),
        (Method::PUT, "/customers/batch", Some(json!([])), 400),
        (Method::DELETE, "/customers/1000001", None, 200),
        (Method::DELETE, "/customers/1000001", None, 404),
        (Method::GET, "/customers/search", None, 405),
        // Over the limit: refused, and still counted.
        (Method::GET, "/customers/1000001", None, 429),
    ];
    for (method, path, body, status) in requests {
        let answer = call(&sandbox, method.clone(), path, body).await;
        assert_eq!(answer.status, status, "{method} {path}");
    }
    let mut expected = no_requests_by_endpoint();
    for value in expected.values_mut() {
        *value = 1;
    }
    expected.insert("GET /customers/{id}".into(), 2);
    expected.insert("DELETE /customers/{id}".into(), 2);
    let stats = sandbox.stats();
    assert_eq!(stats.by_endpoint, expected);
    assert_eq!(stats.requests, 13);
    assert_eq!((stats.created, stats.deleted, stats.customers), (1, 1, 0));
}

/// Waits (a few seconds at most) until `done` holds for the sandbox's stats.
async fn wait_for_stats(sandbox: &Sandbox, done: impl Fn(&SandboxStats) -> bool) -> SandboxStats {
    let started = Instant::now();
    loop {
        let stats = sandbox.stats();
        if done(&stats) || started.elapsed() > Duration::from_secs(5) {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn another_client_spends_the_same_limit_and_is_counted_apart() {
    let sandbox = start(SandboxConfig {
        limit: per_minute(5),
        other_client_rps: 200.0,
        ..SandboxConfig::default()
    })
    .await;
    // The other client empties the window on its own...
    let stats = wait_for_stats(&sandbox, |s| s.other_client_rate_limited > 0).await;
    assert!(stats.other_client_requests > 5, "{stats:?}");
    assert_eq!(
        stats.other_client_requests - stats.other_client_rate_limited,
        5,
        "{stats:?}"
    );
    // ...so the importer's first request meets a 429; the other client's requests are in
    // none of the importer's counts, and created nothing.
    let answer = post(&sandbox, "/customers", json!({"name": "x"})).await;
    assert_eq!(answer.status, 429);
    let stats = sandbox.stats();
    assert_eq!(
        (
            stats.requests,
            stats.rate_limited,
            stats.created,
            stats.customers
        ),
        (1, 1, 0, 0),
        "{stats:?}"
    );
    assert_eq!(stats.by_endpoint["POST /customers"], 1);
}

#[tokio::test]
async fn the_other_client_stops_with_the_server() {
    let sandbox = start(SandboxConfig {
        other_client_rps: 200.0,
        ..SandboxConfig::default()
    })
    .await;
    let stats = wait_for_stats(&sandbox, |s| s.other_client_requests >= 3).await;
    assert!(stats.other_client_requests >= 3, "{stats:?}");
    let shared = Arc::clone(&sandbox.shared);
    sandbox.shutdown().await;
    let stopped = shared.stats().other_client_requests;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(shared.stats().other_client_requests, stopped);
}

#[tokio::test]
async fn there_is_no_other_client_by_default() {
    assert_eq!(SandboxConfig::default().other_client_rps, 0.0);
    let sandbox = start(SandboxConfig {
        limit: per_minute(1),
        ..SandboxConfig::default()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The one request of the window is still there for the importer.
    assert_eq!(get(&sandbox, "/customers").await.status, 200);
    assert_eq!(sandbox.stats().other_client_requests, 0);
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let sandbox = start(SandboxConfig {
        latency: Duration::from_millis(150),
        ..SandboxConfig::default()
    })
    .await;
    let started = Instant::now();
    assert_eq!(get(&sandbox, "/customers").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn unknown_routes_answer_in_the_api_shape() {
    let sandbox = start(SandboxConfig::default()).await;
    let missing = get(&sandbox, "/contacts").await;
    assert_eq!(missing.status, 404);
    assert_eq!(error_codes(&missing.body), ["invalid_request", "not_found"]);
    let wrong = call(&sandbox, Method::DELETE, "/customers", None).await;
    assert_eq!(wrong.status, 405);
    assert_eq!(
        error_codes(&wrong.body),
        ["invalid_request", "method_not_allowed"]
    );
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let sandbox = start(SandboxConfig::default()).await;
    let url = format!("{}/customers", sandbox.base_url());
    assert_eq!(get(&sandbox, "/customers").await.status, 200);
    sandbox.shutdown().await;
    let after = Client::new().get(url).bearer_auth(KEY).send().await;
    assert!(after.is_err(), "{after:?}");
}

#[tokio::test]
async fn serve_runs_until_cancelled() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let token = CancellationToken::new();
    let server = tokio::spawn(serve(listener, SandboxConfig::default(), token.clone()));
    let answer = Client::new()
        .get(format!("http://{addr}/v1/customers"))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status().as_u16(), 200);
    token.cancel();
    let result = server.await.expect("joined");
    assert!(result.is_ok(), "{result:?}");
}

fn seeds(values: &[Value]) -> Vec<serde_json::Map<String, Value>> {
    values
        .iter()
        .filter_map(|v| v.as_object().cloned())
        .collect()
}

#[tokio::test]
async fn seeded_contacts_are_there_from_the_start_and_not_counted_as_created() {
    let sandbox = start(SandboxConfig {
        seed_contacts: seeds(&[
            json!({"userId": "s1", "email": "one@seed.com", "customData": {"plan": "pro"}}),
            json!({"userId": "s2", "tags": [{"name": "agent"}]}),
        ]),
        // Seeds were there before: searchable at once, whatever the delay.
        search_delay: Duration::from_secs(60),
        ..SandboxConfig::default()
    })
    .await;
    let listed = get(&sandbox, "/customers").await;
    assert_eq!(ids(&listed.body), [1000001, 1000002]);
    assert_eq!(listed.body["data"][0]["customData"], json!({"plan": "pro"}));
    let found = post(&sandbox, "/customers/search", by_email("one@seed.com")).await;
    assert_eq!(ids(&found.body), [1000001]);
    let taken = post(&sandbox, "/customers", json!({"userId": "s2"})).await;
    assert_eq!(
        error_codes(&taken.body),
        ["invalid_request", "invalid_userId_value"]
    );
    let created = post(&sandbox, "/customers", json!({"userId": "n1"})).await;
    assert_eq!(created.body["id"], json!(1000003));
    let stats = sandbox.stats();
    assert_eq!((stats.created, stats.customers), (1, 3), "{stats:?}");
}

#[tokio::test]
async fn a_bad_seed_contact_stops_the_start_naming_it() {
    let result = Sandbox::start(
        SandboxConfig {
            seed_contacts: seeds(&[json!({"userId": "s1"}), json!({"locale": "English"})]),
            ..SandboxConfig::default()
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await;
    let error = result.err().expect("refused");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(
        error.to_string().starts_with("seed contact 2: locale "),
        "{error}"
    );
}

#[tokio::test]
async fn impossible_configs_do_not_start() {
    let result = Sandbox::start(
        SandboxConfig {
            limit: Some(Limit::TokenBucket {
                rate: "1/s".parse().expect("rate"),
                burst: 0,
            }),
            ..SandboxConfig::default()
        },
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .await;
    assert_eq!(
        result.err().map(|e| e.kind()),
        Some(io::ErrorKind::InvalidInput)
    );
}

#[test]
fn debug_output_hides_the_key() {
    let config = SandboxConfig {
        api_key: Some("secret-key".into()),
        ..SandboxConfig::default()
    };
    let text = format!("{config:?}");
    assert!(!text.contains("secret-key"), "{text}");
    assert!(text.contains("<redacted>"), "{text}");
}
