//! Identities and roles. No anonymous request reaches a handler's logic:
//! every route names the role it needs, and a bearer token is looked up by
//! the sha256 of its secret (the secret itself is shown once, at creation,
//! and never stored).

use std::fmt;

use axum::http::HeaderMap;
use base64::Engine as _;
use rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::store::Store;

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Everything, including tokens.
    Admin,
    /// Push evidence and open promotion requests (CI).
    Runner,
    /// Approve or reject requests, optionally scoped to one policy role
    /// (`approver:model-risk`); the policy still decides whether the
    /// approval counts.
    Approver(Option<String>),
    /// Read models, requests, stages and the log.
    Reader,
}

impl Role {
    /// Parses `admin`, `runner`, `reader`, `approver` or `approver:<role>`.
    ///
    /// # Errors
    /// Anything else, with the accepted forms.
    pub fn parse(s: &str) -> Result<Role, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "runner" => Ok(Role::Runner),
            "reader" => Ok(Role::Reader),
            "approver" => Ok(Role::Approver(None)),
            _ => match s.strip_prefix("approver:") {
                Some(r)
                    if !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
                {
                    Ok(Role::Approver(Some(r.to_string())))
                }
                _ => Err(format!(
                    "unknown role '{s}'; expected admin, runner, reader, approver or approver:<policy role>"
                )),
            },
        }
    }

    /// Readers, runners and approvers are all allowed to read; what else
    /// each may do is checked by the `may_*` methods.
    pub fn may_write_evidence(&self) -> bool {
        matches!(self, Role::Admin | Role::Runner)
    }

    /// Opening a promotion request: runners (CI asks), approvers and admins.
    pub fn may_request(&self) -> bool {
        !matches!(self, Role::Reader)
    }

    /// Approving or rejecting.
    pub fn may_approve(&self) -> bool {
        matches!(self, Role::Approver(_))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Admin => f.write_str("admin"),
            Role::Runner => f.write_str("runner"),
            Role::Reader => f.write_str("reader"),
            Role::Approver(None) => f.write_str("approver"),
            Role::Approver(Some(r)) => write!(f, "approver:{r}"),
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The identity the token was issued to.
    pub identity: String,
    /// Its role.
    pub role: Role,
}

/// A fresh token secret: `pcr_` and 32 random bytes, base64url.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!(
        "pcr_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// What the store keeps of a secret.
pub fn hash_secret(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Identity names: what a policy's approver `name` can match.
///
/// # Errors
/// Empty, too long, or with characters outside `[A-Za-z0-9@._:/-]`.
pub fn check_identity(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 200 {
        return Err("identity must be 1 to 200 characters".into());
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "@._:/-+".contains(*c)))
    {
        return Err(format!(
            "identity '{s}' has '{c}'; use letters, digits and @._:/-+"
        ));
    }
    Ok(())
}

/// Authenticates the request's bearer token.
///
/// # Errors
/// [`ApiError::Unauthorized`] for a missing, malformed, unknown or revoked
/// token.
pub fn authenticate(store: &dyn Store, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let value = headers.get(axum::http::header::AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized(
            "no token: send `Authorization: Bearer <token>` (the CLI reads PORTCULLIS_TOKEN)".into(),
        )
    })?;
    let value = value
        .to_str()
        .map_err(|_| ApiError::Unauthorized("the Authorization header is not text".into()))?;
    let secret = value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 200)
        .ok_or_else(|| ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into()))?;
    let row = store
        .token_by_hash(&hash_secret(secret))?
        .ok_or_else(|| ApiError::Unauthorized("unknown token".into()))?;
    if row.revoked.is_some() {
        return Err(ApiError::Unauthorized("this token was revoked".into()));
    }
    let role = Role::parse(&row.role).map_err(ApiError::Internal)?;
    Ok(Caller {
        identity: row.identity,
        role,
    })
}
