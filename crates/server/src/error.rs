//! One error-to-response conversion: every failure is a JSON body
//! `{"error": {"code": "...", "message": "..."}}` with a 4xx status naming
//! what the client did wrong, or a 500 that says only "internal error"
//! (the cause goes to the server's log, never to the client).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

/// What a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no token, or not a token this server issued.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the token's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409: the state moved under the request (an alias changed, a request
    /// is closed).
    #[error("{0}")]
    Conflict(String),
    /// 405: the path exists, the method does not.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 413: the body is over the limit.
    #[error("{0}")]
    TooLarge(String),
    /// 500.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status and the stable error code.
    pub(crate) fn status(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl ApiError {
    /// What the client may see: the message, or for an internal error only
    /// a pointer to the server's log (where the cause is written now).
    pub(crate) fn public_message(&self) -> String {
        match self {
            ApiError::Internal(cause) => {
                eprintln!("portcullis server: internal error: {cause}");
                "internal error; the server's log has the cause".to_string()
            }
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<portcullis_engine::EngineError> for ApiError {
    fn from(e: portcullis_engine::EngineError) -> Self {
        ApiError::Internal(format!("{e} ({})", e.code()))
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status();
        let message = self.public_message();
        (
            status,
            axum::Json(Body {
                error: Inner { code, message },
            }),
        )
            .into_response()
    }
}
