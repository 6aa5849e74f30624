//! Signing statements about a model and appending them: gate results (from
//! [`crate::evaluate_stage`]), approvals and waivers.

use std::time::SystemTime;

use portcullis_evidence::predicate::{
    format_time, parse_time, ApprovalPredicate, WaiverPredicate, APPROVAL_V1, WAIVER_V1,
};
use portcullis_evidence::{Envelope, Sha256Digest, SigningKey, Statement, Subject};

use crate::{Clock, EngineError, EvidenceStore};

/// Signs a predicate about `digest` with `key` and appends it to the
/// model's bundle; returns the bundle's location.
///
/// # Errors
/// A predicate that cannot be serialised, a signing or a store failure.
pub(crate) fn sign_and_append<P: serde::Serialize>(
    store: &dyn EvidenceStore,
    digest: &Sha256Digest,
    name: &str,
    predicate_type: &str,
    predicate: &P,
    key: &SigningKey,
) -> Result<String, EngineError> {
    let statement = Statement::new(
        Subject::sha256(name, digest),
        predicate_type,
        serde_json::to_value(predicate)?,
    );
    let envelope = Envelope::sign(&statement, key)?;
    Ok(store.append(digest, &envelope)?)
}

/// A statement appended to a model's bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Where it was appended.
    pub bundle: String,
    /// The signing key's id (hex).
    pub keyid: String,
    /// When it expires.
    pub expires: Option<SystemTime>,
}

/// An approval of a model for a stage.
#[derive(Debug, Clone)]
pub struct ApprovalRequest<'a> {
    /// The model's digest.
    pub digest: &'a Sha256Digest,
    /// The model's name (the statement's subject name).
    pub model_name: &'a str,
    /// The stage approved for.
    pub stage: &'a str,
    /// The approver's name as they give it (informational: identity is the
    /// key).
    pub approver: &'a str,
    /// Why.
    pub comment: Option<&'a str>,
    /// When it stops counting.
    pub expires: Option<SystemTime>,
}

/// A waiver of one gate for a stage.
#[derive(Debug, Clone)]
pub struct WaiverRequest<'a> {
    /// The model's digest.
    pub digest: &'a Sha256Digest,
    /// The model's name.
    pub model_name: &'a str,
    /// The stage.
    pub stage: &'a str,
    /// The gate waived.
    pub gate: &'a str,
    /// Why shipping without it is acceptable.
    pub reason: &'a str,
    /// The approver's name (informational).
    pub approver: &'a str,
    /// When it ends (required).
    pub expires: SystemTime,
}

/// Signs an approval and appends it. Whether it counts is for
/// [`crate::decide`]: the policy's approvers, roles, expiry and the
/// no-self-approval rule.
///
/// # Errors
/// [`EngineError::Request`] for an expiry in the past; store and signing
/// failures.
pub fn approve(
    req: &ApprovalRequest<'_>,
    store: &dyn EvidenceStore,
    key: &SigningKey,
    clock: &dyn Clock,
) -> Result<Appended, EngineError> {
    let now = clock.now();
    if req.expires.is_some_and(|e| e <= now) {
        return Err(EngineError::Request(
            "--expires is in the past; an approval that has already expired would never count".into(),
        ));
    }
    let predicate = ApprovalPredicate {
        stage: req.stage.to_string(),
        approver: req.approver.to_string(),
        comment: req.comment.map(str::to_string),
        signed_on: format_time(now),
        expires: req.expires.map(format_time),
    };
    let bundle = sign_and_append(store, req.digest, req.model_name, APPROVAL_V1, &predicate, key)?;
    Ok(Appended {
        bundle,
        keyid: key.public().keyid(),
        expires: req.expires,
    })
}

/// Signs an expiring waiver of one gate and appends it. It counts only if
/// the stage declares the gate waivable by one of the signer's roles.
///
/// # Errors
/// [`EngineError::Request`] for an empty reason or an expiry in the past;
/// store and signing failures.
pub fn waive(
    req: &WaiverRequest<'_>,
    store: &dyn EvidenceStore,
    key: &SigningKey,
    clock: &dyn Clock,
) -> Result<Appended, EngineError> {
    if req.reason.trim().is_empty() {
        return Err(EngineError::Request(format!(
            "--reason must say why shipping without '{}' is acceptable",
            req.gate
        )));
    }
    let now = clock.now();
    if req.expires <= now {
        return Err(EngineError::Request("--expires is in the past".into()));
    }
    let predicate = WaiverPredicate {
        stage: req.stage.to_string(),
        gate: req.gate.to_string(),
        reason: req.reason.to_string(),
        approver: req.approver.to_string(),
        signed_on: format_time(now),
        expires: format_time(req.expires),
    };
    let bundle = sign_and_append(store, req.digest, req.model_name, WAIVER_V1, &predicate, key)?;
    Ok(Appended {
        bundle,
        keyid: key.public().keyid(),
        expires: Some(req.expires),
    })
}

/// Parses an expiry: a date (`2026-12-31`, midnight UTC), an RFC 3339 time,
/// or a duration from `now` (`7d`).
///
/// # Errors
/// A message saying which forms are accepted.
pub fn parse_expiry(text: &str, now: SystemTime) -> Result<SystemTime, String> {
    let t = text.trim();
    if let Ok(d) = humantime::parse_duration(t) {
        return Ok(now + d);
    }
    if t.len() == 10 && t.as_bytes().get(4) == Some(&b'-') {
        return parse_time(&format!("{t}T00:00:00Z"));
    }
    parse_time(t).map_err(|e| format!("{e}; write a date (2026-12-31), an RFC 3339 time or a duration (7d)"))
}
