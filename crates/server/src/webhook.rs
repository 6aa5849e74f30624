//! The admission webhook without a registry server: each model's evidence
//! is read from the OCI registry it is attached to and decided with the
//! deployer's policy ([`crate::admission::OfflineCheck`]). For clusters
//! whose models and evidence travel together as OCI artifacts, or as a
//! second line behind the registry.
//!
//! `POST /v1/admission/STAGE[/warn]` (or `?stage=STAGE[&mode=warn]`) as on
//! the registry;
//! `GET /healthz` for probes. It holds no state and no secrets, so it has
//! no tokens: it answers only "is this model allowed", which the evidence
//! in the OCI registry already tells anyone who can read it.

use std::sync::Arc;

use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{body::Bytes, Json, Router};
use portcullis_engine::Clock;
use portcullis_policy::Policy;

use crate::admission::{parse_path, parse_query, AdmissionQuery, OfflineCheck};
use crate::error::ApiError;

/// What the offline webhook decides with.
pub struct Offline {
    /// The deployer's policy.
    pub policy: Policy,
    /// The time source.
    pub clock: Arc<dyn Clock + Send + Sync>,
}

/// The largest AdmissionReview accepted (the API server's own request
/// limit is 3 MiB).
const BODY: usize = 3 * 1024 * 1024;

async fn admission(
    State(offline): State<Arc<Offline>>,
    q: Result<Query<AdmissionQuery>, QueryRejection>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (stage, warn) = parse_query(q)?;
    answer(offline, stage, warn, b).await
}

async fn admission_at(
    State(offline): State<Arc<Offline>>,
    Path(params): Path<std::collections::HashMap<String, String>>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (stage, warn) = parse_path(&params)?;
    answer(offline, stage, warn, b).await
}

async fn answer(
    offline: Arc<Offline>,
    stage: String,
    warn: bool,
    b: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let b = b.map_err(|e| ApiError::BadRequest(format!("cannot read the request body: {e}")))?;
    let body: serde_json::Value =
        serde_json::from_slice(&b).map_err(|e| ApiError::BadRequest(format!("request body: {e}")))?;
    let answer = tokio::task::spawn_blocking(move || {
        let check = OfflineCheck {
            policy: &offline.policy,
            clock: offline.clock.as_ref(),
        };
        crate::admission::review(&check, &body, &stage, warn)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("handler task: {e}")))??;
    Ok(Json(answer).into_response())
}

/// The offline webhook's routes.
pub fn router(offline: Arc<Offline>) -> Router {
    Router::new()
        .route("/v1/admission", post(admission))
        .route("/v1/admission/{stage}", post(admission_at))
        .route("/v1/admission/{stage}/{mode}", post(admission_at))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(BODY))
        .with_state(offline)
}
