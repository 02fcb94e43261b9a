//! Error answers in the API's shape, and the `Retry-After` header in each mode.

use std::time::{Duration, SystemTime};

use axum::Json;
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::RetryAfterMode;
use super::validate::FieldError;

/// An answer other than success: `{"errors":[{code, message}, ...]}`. Every 4xx starts with
/// `invalid_request`, as the documented 400, 401, 404 and 429 bodies do.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    errors: Vec<FieldError>,
    retry_after: Option<HeaderValue>,
}

impl ApiError {
    fn new(status: StatusCode, problems: Vec<FieldError>) -> ApiError {
        let mut errors = Vec::with_capacity(problems.len() + 1);
        if status.is_client_error() {
            errors.push(FieldError::new("invalid_request", "Invalid request"));
        }
        errors.extend(problems);
        ApiError {
            status,
            errors,
            retry_after: None,
        }
    }

    /// 400: `invalid_request`, then one entry per problem.
    pub(crate) fn invalid(problems: Vec<FieldError>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, problems)
    }

    /// 400 for a `userId` another customer already has, with the code seen in the wild.
    pub(crate) fn duplicate_user_id() -> ApiError {
        ApiError::invalid(vec![FieldError::new(
            "invalid_userId_value",
            "Customer with such userId already exists",
        )])
    }

    pub(crate) fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            vec![FieldError::new("not_found", message)],
        )
    }

    pub(crate) fn unauthorized(message: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            vec![FieldError::new("unauthorized", message)],
        )
    }

    pub(crate) fn too_many_requests(retry_after: Option<HeaderValue>) -> ApiError {
        ApiError {
            retry_after,
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                vec![FieldError::new("too_many_requests", "Too many requests")],
            )
        }
    }

    pub(crate) fn service_unavailable(retry_after: Option<HeaderValue>) -> ApiError {
        ApiError {
            retry_after,
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                vec![FieldError::new(
                    "service_unavailable",
                    "Service temporarily unavailable (injected by the sandbox)",
                )],
            )
        }
    }

    /// A status the sandbox has no special body for (405, 413, ...), from axum's own text.
    pub(crate) fn other(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(status, vec![FieldError::new(code, message)])
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "errors": self.errors }))).into_response();
        if let Some(value) = self.retry_after {
            response.headers_mut().insert(RETRY_AFTER, value);
        }
        response
    }
}

/// The `Retry-After` value for a wait of `wait` from `now`. Both forms round up so a client
/// that honours them to the letter never comes back too early.
pub(crate) fn retry_after(
    mode: RetryAfterMode,
    wait: Duration,
    now: SystemTime,
) -> Option<HeaderValue> {
    match mode {
        RetryAfterMode::None => None,
        RetryAfterMode::Seconds => {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            Some(HeaderValue::from(seconds.max(1)))
        }
        RetryAfterMode::Date => {
            let at = now + wait;
            let nanos = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |since| since.subsec_nanos());
            let at = if nanos > 0 {
                at + Duration::from_nanos(u64::from(1_000_000_000 - nanos))
            } else {
                at
            };
            HeaderValue::from_str(&httpdate::fmt_http_date(at)).ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: Option<HeaderValue>) -> Option<String> {
        value.and_then(|v| v.to_str().ok().map(str::to_string))
    }

    #[test]
    fn seconds_round_up_and_are_at_least_one() {
        let now = SystemTime::now();
        let seconds = |ms| {
            text(retry_after(
                RetryAfterMode::Seconds,
                Duration::from_millis(ms),
                now,
            ))
        };
        assert_eq!(seconds(0), Some("1".into()));
        assert_eq!(seconds(1), Some("1".into()));
        assert_eq!(seconds(1_000), Some("1".into()));
        assert_eq!(seconds(1_001), Some("2".into()));
        assert_eq!(seconds(59_400), Some("60".into()));
    }

    #[test]
    fn dates_round_up_to_the_next_whole_second() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_600_000_000_500);
        let date = |ms| {
            text(retry_after(
                RetryAfterMode::Date,
                Duration::from_millis(ms),
                now,
            ))
        };
        // 1_600_000_000 is Sun, 13 Sep 2020 12:26:40 GMT.
        assert_eq!(date(200), Some("Sun, 13 Sep 2020 12:26:41 GMT".into()));
        assert_eq!(date(500), Some("Sun, 13 Sep 2020 12:26:41 GMT".into()));
        assert_eq!(date(501), Some("Sun, 13 Sep 2020 12:26:42 GMT".into()));
    }

    fn codes(error: ApiError) -> Vec<String> {
        error.errors.into_iter().map(|e| e.code).collect()
    }

    #[test]
    fn client_errors_start_with_invalid_request_and_server_errors_do_not() {
        let expect = |codes: &[&str]| codes.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        assert_eq!(
            codes(ApiError::invalid(vec![FieldError::new("email", "bad")])),
            expect(&["invalid_request", "email"])
        );
        assert_eq!(
            codes(ApiError::unauthorized("no")),
            expect(&["invalid_request", "unauthorized"])
        );
        assert_eq!(
            codes(ApiError::not_found("no")),
            expect(&["invalid_request", "not_found"])
        );
        assert_eq!(
            codes(ApiError::too_many_requests(None)),
            expect(&["invalid_request", "too_many_requests"])
        );
        assert_eq!(
            codes(ApiError::other(StatusCode::METHOD_NOT_ALLOWED, "m", "x")),
            expect(&["invalid_request", "m"])
        );
        assert_eq!(
            codes(ApiError::service_unavailable(None)),
            expect(&["service_unavailable"])
        );
    }

    #[test]
    fn none_sends_no_header() {
        let wait = Duration::from_secs(3);
        assert_eq!(
            retry_after(RetryAfterMode::None, wait, SystemTime::now()),
            None
        );
    }
}
