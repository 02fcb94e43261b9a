//! The customers endpoints, after the gate has let a request through.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::conn::Severer;
use super::reply::ApiError;
use super::search::{Page, Search};
use super::server::{Counters, Shared};
use super::store::{StoreError, TagChange, Update};
use super::validate::{self, FieldError};
use super::{SandboxStats, SearchEmpty};

/// Most customers one `PUT /customers/batch` may carry.
const MAX_BATCH: usize = 10;

type Reply = Result<Response, ApiError>;

pub(crate) async fn create(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(connection): ConnectInfo<Severer>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let fields = validate::customer_body(&json_body(body)?, &shared.attributes)
        .map_err(ApiError::invalid)?;
    let customer = shared.store().create(fields).map_err(store_error)?;
    Counters::bump(&shared.counters.created);
    if shared.faults.drop_answer() {
        connection.sever();
        Counters::bump(&shared.counters.dropped);
        tracing::debug!(id = %customer["id"], "sandbox drops the answer to a stored customer");
    }
    Ok((StatusCode::CREATED, Json(customer)).into_response())
}

pub(crate) async fn list(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Reply {
    let Query(params) = query.map_err(|rejection| {
        ApiError::invalid(vec![FieldError::new("query", rejection.body_text())])
    })?;
    let page = Page::from_query(&params).map_err(ApiError::invalid)?;
    let (data, total) = shared.store().list(page);
    Ok(Json(json!({ "data": data, "total": total })).into_response())
}

pub(crate) async fn search(
    State(shared): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let search = Search::parse(&json_body(body)?).map_err(ApiError::invalid)?;
    let (data, total) = shared.store().search(&search);
    if total == 0 && shared.search_empty == SearchEmpty::NotFound {
        return Err(ApiError::not_found("No customer matches the search"));
    }
    Ok(Json(json!({ "data": data, "total": total })).into_response())
}

pub(crate) async fn show(
    State(shared): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
) -> Reply {
    let id = customer_id(id)?;
    let customer = shared.store().get(id).ok_or_else(|| not_found(id))?;
    Ok(Json(customer).into_response())
}

pub(crate) async fn patch(
    State(shared): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    update(&shared, id, body, Update::Patch(shared.patch_collections))
}

pub(crate) async fn replace(
    State(shared): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    update(&shared, id, body, Update::Replace)
}

fn update(
    shared: &Shared,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
    mode: Update,
) -> Reply {
    let id = customer_id(id)?;
    let fields = validate::customer_body(&json_body(body)?, &shared.attributes)
        .map_err(ApiError::invalid)?;
    let customer = shared
        .store()
        .update(id, fields, mode)
        .map_err(store_error)?;
    Ok(Json(customer).into_response())
}

pub(crate) async fn remove(
    State(shared): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
) -> Reply {
    let id = customer_id(id)?;
    shared.store().delete(id).map_err(store_error)?;
    Counters::bump(&shared.counters.deleted);
    // The documented answer: 200 with the plain text `Ok`.
    Ok("Ok".into_response())
}

/// `PUT /customers/{id}/tags`: adds tags, creating unknown ones; never removes one.
pub(crate) async fn tag(
    State(shared): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    change_tags(&shared, id, body, TagChange::Add)
}

/// `DELETE /customers/{id}/tags`: removes the tags named.
pub(crate) async fn untag(
    State(shared): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    change_tags(&shared, id, body, TagChange::Remove)
}

fn change_tags(
    shared: &Shared,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
    change: TagChange,
) -> Reply {
    let id = customer_id(id)?;
    let tags = validate::tags_body(&json_body(body)?).map_err(ApiError::invalid)?;
    let customer = shared
        .store()
        .change_tags(id, tags, change)
        .map_err(store_error)?;
    Ok(Json(customer).into_response())
}

/// `PUT /customers/batch`: one to ten `{"customer": id, ...fields}` replaces, all or none.
pub(crate) async fn batch(
    State(shared): State<Arc<Shared>>,
    body: Result<Bytes, BytesRejection>,
) -> Reply {
    let body = json_body(body)?;
    let Some(items) = body.as_array() else {
        return Err(ApiError::invalid(vec![FieldError::new(
            "body",
            "must be a JSON array of customers",
        )]));
    };
    if !(1..=MAX_BATCH).contains(&items.len()) {
        return Err(ApiError::invalid(vec![FieldError::new(
            "body",
            format!(
                "a batch holds 1 to {MAX_BATCH} customers, not {}",
                items.len()
            ),
        )]));
    }
    let mut errors = Vec::new();
    let mut updates = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let Some(object) = item.as_object() else {
            errors.push(FieldError::new(format!("[{index}]"), "must be an object"));
            continue;
        };
        let mut fields = object.clone();
        let id = fields.remove("customer").and_then(|id| id.as_u64());
        if id.is_none() {
            errors.push(FieldError::new(
                format!("[{index}].customer"),
                "must be a customer id",
            ));
        }
        match (
            id,
            validate::customer_object(&fields, &format!("[{index}]."), &shared.attributes),
        ) {
            (Some(id), Ok(fields)) => updates.push((id, fields)),
            (_, Err(problems)) => errors.extend(problems),
            (None, Ok(_)) => {}
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let data = shared
        .store()
        .replace_batch(updates)
        .map_err(ApiError::invalid)?;
    Ok(Json(json!({ "data": data })).into_response())
}

/// `GET /sandbox/stats`: outside the API, so neither gated nor counted.
pub(crate) async fn stats(State(shared): State<Arc<Shared>>) -> Json<SandboxStats> {
    Json(shared.stats())
}

pub(crate) async fn no_route() -> ApiError {
    ApiError::not_found("No such endpoint")
}

pub(crate) async fn wrong_method() -> ApiError {
    ApiError::other(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed on this endpoint",
    )
}

/// The body as JSON; an unreadable or malformed body is a 400 like any invalid request.
fn json_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let bytes = body
        .map_err(|rejection| ApiError::other(rejection.status(), "body", rejection.body_text()))?;
    serde_json::from_slice(&bytes).map_err(|error| {
        ApiError::invalid(vec![FieldError::new(
            "body",
            format!("is not valid JSON: {error}"),
        )])
    })
}

/// A path id that is not a number names no customer, so it is a 404 like an unknown one.
fn customer_id(id: Result<Path<String>, PathRejection>) -> Result<u64, ApiError> {
    let Path(text) = id.map_err(|_| ApiError::not_found("No such customer"))?;
    text.parse()
        .map_err(|_| ApiError::not_found(format!("Customer {text} not found")))
}

fn not_found(id: u64) -> ApiError {
    ApiError::not_found(format!("Customer {id} not found"))
}

fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound(id) => not_found(id),
        StoreError::DuplicateUserId => ApiError::duplicate_user_id(),
    }
}
