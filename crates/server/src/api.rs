//! HTTP routes: each handler authenticates, parses, calls one
//! [`Registry`] method on the blocking pool, and renders JSON. Every
//! rejection (bad JSON, unknown field, oversized body, bad query) becomes
//! the same JSON error body as the registry's own errors.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use portcullis_evidence::Envelope;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::auth::{authenticate, Caller};
use crate::error::ApiError;
use crate::registry::{limits, Registry};

type Reg = Arc<Registry>;

/// The router for a registry.
pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route(
            "/v1/health",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/v1/tokens", post(create_token).get(list_tokens))
        .route("/v1/tokens/{id}", axum::routing::delete(revoke_token))
        .route("/v1/models", get(models))
        .route("/v1/models/{name}", get(model))
        .route(
            "/v1/models/{name}/versions/{digest}/evidence",
            post(push).get(evidence),
        )
        .route("/v1/models/{name}/requests", post(open_request))
        .route("/v1/models/{name}/stages/{stage}", get(stage))
        .route("/v1/models/{name}/stages/{stage}/history", get(history))
        .route("/v1/models/{name}/stages/{stage}/recheck", post(recheck_now))
        .route("/v1/models/{name}/stages/{stage}/risks/clear", post(clear_risks))
        .route("/v1/jobs", get(jobs))
        .route("/v1/jobs/claim", post(claim_job))
        .route("/v1/jobs/{id}/renew", post(renew_job))
        .route("/v1/jobs/{id}/finish", post(finish_job))
        .route("/v1/requests", get(requests))
        .route("/v1/requests/{id}", get(request))
        .route("/v1/requests/{id}/approve", post(approve))
        .route("/v1/requests/{id}/reject", post(reject))
        .route("/v1/admission", post(admission))
        .route("/v1/admission/{stage}", post(admission_at))
        .route("/v1/admission/{stage}/{mode}", post(admission_at))
        .route("/v1/log/checkpoint", get(checkpoint))
        .route("/v1/log/key", get(log_key))
        .route("/v1/log/entries", get(entries))
        .route("/v1/log/proof/inclusion", get(inclusion))
        .route("/v1/log/proof/consistency", get(consistency))
        .fallback(|| async {
            ApiError::NotFound("no such endpoint; the API is under /v1 (see docs/server.md)".into())
        })
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            ApiError::MethodNotAllowed(format!(
                "{method} is not allowed on this endpoint (see docs/server.md for its methods)"
            ))
        })
        .layer(DefaultBodyLimit::max(limits::BODY))
        .with_state(registry)
}

async fn call<T: Send + 'static>(
    reg: Reg,
    headers: HeaderMap,
    f: impl FnOnce(&Registry, &Caller) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || {
        let caller = authenticate(reg.store(), &headers)?;
        f(&reg, &caller)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("handler task: {e}")))?
}

fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    b.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!("request body over the {}-byte limit", limits::BODY))
        } else {
            ApiError::BadRequest(format!("cannot read the request body: {e}"))
        }
    })
}

fn json_body<T: DeserializeOwned>(b: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let b = body(b)?;
    serde_json::from_slice(&b).map_err(|e| ApiError::BadRequest(format!("request body: {e}")))
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(t)| t)
        .map_err(|e| ApiError::BadRequest(format!("path: {}", e.body_text())))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t)
        .map_err(|e| ApiError::BadRequest(format!("query: {}", e.body_text())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    identity: String,
    role: String,
}

async fn create_token(
    State(reg): State<Reg>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let t: NewToken = json_body(b)?;
    let (id, token) = call(reg, headers, move |r, c| r.create_token(c, &t.identity, &t.role)).await?;
    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({"id": id, "token": token})),
    )
        .into_response())
}

async fn list_tokens(State(reg): State<Reg>, headers: HeaderMap) -> Result<Response, ApiError> {
    let t = call(reg, headers, |r, c| r.tokens(c)).await?;
    Ok(Json(serde_json::json!({ "tokens": t })).into_response())
}

async fn revoke_token(
    State(reg): State<Reg>,
    headers: HeaderMap,
    p: Result<Path<i64>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path(p)?;
    call(reg, headers, move |r, c| r.revoke_token(c, id)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn models(State(reg): State<Reg>, headers: HeaderMap) -> Result<Response, ApiError> {
    let m = call(reg, headers, |r, _| Ok(r.models())).await?;
    Ok(Json(serde_json::json!({ "models": m })).into_response())
}

async fn model(
    State(reg): State<Reg>,
    headers: HeaderMap,
    p: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let name = path(p)?;
    Ok(Json(call(reg, headers, move |r, c| r.model(c, &name)).await?).into_response())
}

async fn push(
    State(reg): State<Reg>,
    headers: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (name, digest) = path(p)?;
    let b = body(b)?;
    let text = String::from_utf8(b.to_vec()).map_err(|e| {
        ApiError::BadRequest(format!(
            "the bundle is not UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let report = call(reg, headers, move |r, c| r.push(c, &name, &digest, &text)).await?;
    Ok(Json(report).into_response())
}

async fn evidence(
    State(reg): State<Reg>,
    headers: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (name, digest) = path(p)?;
    let text = call(reg, headers, move |r, c| r.evidence(c, &name, &digest)).await?;
    Ok(([(header::CONTENT_TYPE, "application/jsonl")], text).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRequest {
    stage: String,
    digest: String,
}

async fn open_request(
    State(reg): State<Reg>,
    headers: HeaderMap,
    p: Result<Path<String>, PathRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let name = path(p)?;
    let req: NewRequest = json_body(b)?;
    let v = call(reg, headers, move |r, c| {
        r.open_request(c, &name, &req.stage, &req.digest)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateQuery {
    #[serde(default)]
    state: Option<String>,
}

async fn requests(
    State(reg): State<Reg>,
    headers: HeaderMap,
    q: Result<Query<StateQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let v = call(reg, headers, move |r, c| r.requests(c, q.state.as_deref())).await?;
    Ok(Json(serde_json::json!({ "requests": v })).into_response())
}

async fn request(
    State(reg): State<Reg>,
    headers: HeaderMap,
    p: Result<Path<i64>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path(p)?;
    Ok(Json(call(reg, headers, move |r, c| r.request(c, id)).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Approval {
    #[serde(default)]
    comment: Option<String>,
    /// A CLI-signed approval envelope, instead of the server signing one.
    #[serde(default)]
    envelope: Option<Envelope>,
}

async fn approve(
    State(reg): State<Reg>,
    headers: HeaderMap,
    p: Result<Path<i64>, PathRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path(p)?;
    let a: Approval = json_body(b)?;
    let v = call(reg, headers, move |r, c| {
        r.approve(c, id, a.comment.as_deref(), a.envelope.as_ref())
    })
    .await?;
    Ok(Json(v).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rejection {
    comment: String,
}

async fn reject(
    State(reg): State<Reg>,
    headers: HeaderMap,
    p: Result<Path<i64>, PathRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path(p)?;
    let rj: Rejection = json_body(b)?;
    let v = call(reg, headers, move |r, c| r.reject(c, id, &rj.comment)).await?;
    Ok(Json(v).into_response())
}

async fn stage(
    State(reg): State<Reg>,
    headers: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (name, stage) = path(p)?;
    Ok(Json(call(reg, headers, move |r, c| r.stage(c, &name, &stage)).await?).into_response())
}

async fn recheck_now(
    State(reg): State<Reg>,
    headers: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (name, stage) = path(p)?;
    let jobs = call(reg, headers, move |r, c| r.recheck_now(c, &name, &stage)).await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "jobs": jobs }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Clear {
    comment: String,
}

async fn clear_risks(
    State(reg): State<Reg>,
    headers: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (name, stage) = path(p)?;
    let c: Clear = json_body(b)?;
    let n = call(reg, headers, move |r, caller| {
        r.clear_risks(caller, &name, &stage, &c.comment)
    })
    .await?;
    Ok(Json(serde_json::json!({ "cleared": n })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JobsQuery {
    #[serde(default)]
    model: Option<String>,
}

async fn jobs(
    State(reg): State<Reg>,
    headers: HeaderMap,
    q: Result<Query<JobsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let jobs = call(reg, headers, move |r, c| r.jobs(c, q.model.as_deref())).await?;
    Ok(Json(serde_json::json!({ "jobs": jobs })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Agent {
    agent: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Claim {
    agent: String,
    /// The models the agent has policies for (any when empty).
    #[serde(default)]
    models: Vec<String>,
}

async fn claim_job(
    State(reg): State<Reg>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let a: Claim = json_body(b)?;
    if a.models.len() > 100 {
        return Err(ApiError::BadRequest("claim: at most 100 models".into()));
    }
    match call(reg, headers, move |r, c| r.claim_job(c, &a.agent, &a.models)).await? {
        Some(job) => Ok(Json(job).into_response()),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

async fn renew_job(
    State(reg): State<Reg>,
    headers: HeaderMap,
    p: Result<Path<i64>, PathRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path(p)?;
    let a: Agent = json_body(b)?;
    Ok(Json(call(reg, headers, move |r, c| r.renew_job(c, &a.agent, id)).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FinishBody {
    agent: String,
    #[serde(default)]
    envelope: Option<Envelope>,
    #[serde(default)]
    error: Option<String>,
}

async fn finish_job(
    State(reg): State<Reg>,
    headers: HeaderMap,
    p: Result<Path<i64>, PathRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path(p)?;
    let f: FinishBody = json_body(b)?;
    let finish = crate::registry::Finish {
        envelope: f.envelope,
        error: f.error,
    };
    Ok(Json(call(reg, headers, move |r, c| r.finish_job(c, &f.agent, id, finish)).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AtQuery {
    #[serde(default)]
    at: Option<String>,
}

async fn history(
    State(reg): State<Reg>,
    headers: HeaderMap,
    p: Result<Path<(String, String)>, PathRejection>,
    q: Result<Query<AtQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (name, stage) = path(p)?;
    let q = query(q)?;
    let v = call(reg, headers, move |r, c| {
        r.history(c, &name, &stage, q.at.as_deref())
    })
    .await?;
    Ok(Json(serde_json::json!({ "moves": v })).into_response())
}

async fn admission(
    State(reg): State<Reg>,
    headers: HeaderMap,
    q: Result<Query<crate::admission::AdmissionQuery>, QueryRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (stage, warn) = crate::admission::parse_query(q)?;
    admission_answer(reg, headers, stage, warn, b).await
}

/// `/v1/admission/{stage}[/warn]`: the stage in the path, because the API
/// server forbids query strings in a webhook's URL.
async fn admission_at(
    State(reg): State<Reg>,
    headers: HeaderMap,
    Path(params): Path<std::collections::HashMap<String, String>>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (stage, warn) = crate::admission::parse_path(&params)?;
    admission_answer(reg, headers, stage, warn, b).await
}

async fn admission_answer(
    reg: Reg,
    headers: HeaderMap,
    stage: String,
    warn: bool,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: serde_json::Value = json_body(b)?;
    Ok(Json(
        call(reg, headers, move |r, c| {
            crate::admission::review(
                &crate::admission::RegistryCheck { reg: r, caller: c },
                &body,
                &stage,
                warn,
            )
        })
        .await?,
    )
    .into_response())
}

async fn checkpoint(State(reg): State<Reg>, headers: HeaderMap) -> Result<Response, ApiError> {
    let note = call(reg, headers, |r, _| r.log().checkpoint()).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], note).into_response())
}

async fn log_key(State(reg): State<Reg>, headers: HeaderMap) -> Result<Response, ApiError> {
    let key = call(reg, headers, |r, _| Ok(r.log().verifier_key())).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{key}\n"),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Range {
    start: u64,
    end: u64,
}

async fn entries(
    State(reg): State<Reg>,
    headers: HeaderMap,
    q: Result<Query<Range>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let e = call(reg, headers, move |r, _| r.log().entries(q.start, q.end)).await?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let entries: Vec<String> = e.iter().map(|x| b64.encode(x)).collect();
    Ok(Json(serde_json::json!({ "start": q.start, "entries": entries })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    index: u64,
    size: u64,
}

async fn inclusion(
    State(reg): State<Reg>,
    headers: HeaderMap,
    q: Result<Query<InclusionQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let p = call(reg, headers, move |r, _| r.log().inclusion(q.index, q.size)).await?;
    Ok(Json(p).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    from: u64,
    to: u64,
}

async fn consistency(
    State(reg): State<Reg>,
    headers: HeaderMap,
    q: Result<Query<ConsistencyQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let p = call(reg, headers, move |r, _| r.log().consistency(q.from, q.to)).await?;
    Ok(Json(p).into_response())
}
