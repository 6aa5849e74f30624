//! portcullis predicate types: gate results, approvals and waivers, and the
//! decision as a SLSA Verification Summary.
//!
//! Predicates are data. Trust in who made a statement comes from the key that
//! signed its envelope, never from names inside the predicate: an approval's
//! `approver` field is informational; the approver's identity is whatever
//! the deployer's policy maps the signing key to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Finding, Metrics, Sha256Digest, Threshold, Verdict};

/// Predicate type of a gate result.
pub const GATE_RESULT_V1: &str = "https://portcullis.dev/gate-result/v1";
/// Predicate type of a human approval.
pub const APPROVAL_V1: &str = "https://portcullis.dev/approval/v1";
/// Predicate type of a gate waiver.
pub const WAIVER_V1: &str = "https://portcullis.dev/waiver/v1";
/// Predicate type of the decision (SLSA Verification Summary v1).
pub const VSA_V1: &str = "https://slsa.dev/verification_summary/v1";

/// A digest set as in-toto writes them: `{"sha256": "…"}`.
pub type DigestSet = BTreeMap<String, String>;

/// `{"sha256": hex}`.
pub fn digest_set(d: &Sha256Digest) -> DigestSet {
    BTreeMap::from([("sha256".to_string(), d.to_hex())])
}

/// One threshold check as recorded in evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedCheck {
    /// The metric.
    pub metric: String,
    /// The threshold.
    pub threshold: Threshold,
    /// The measured value, if produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<f64>,
    /// Whether it held.
    pub passed: bool,
}

/// One input the gate read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedInput {
    /// What it was for.
    pub role: String,
    /// Path or URL.
    pub uri: String,
    /// Content digest, for files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<DigestSet>,
    /// Model name at an endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// The gate identity inside a gate result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateIdentity {
    /// The gate's name in the policy.
    pub name: String,
    /// The gate kind.
    pub kind: String,
    /// The spec it ran under.
    pub spec: serde_json::Value,
    /// Digest of the spec's canonical JSON.
    #[serde(rename = "specDigest")]
    pub spec_digest: DigestSet,
}

/// The tool that produced a statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// `portcullis`.
    pub name: String,
    /// The version.
    pub version: String,
}

/// `https://portcullis.dev/gate-result/v1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResultPredicate {
    /// Which gate, under which spec.
    pub gate: GateIdentity,
    /// Digest of the policy file the run used (informational: `verify`
    /// binds to the gate spec digest, so unrelated policy edits don't void
    /// evidence).
    #[serde(rename = "policyDigest", default, skip_serializing_if = "Option::is_none")]
    pub policy_digest: Option<DigestSet>,
    /// The stage the run was for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// pass, fail or error.
    pub verdict: Verdict,
    /// Metrics.
    #[serde(default)]
    pub metrics: Metrics,
    /// Threshold checks.
    #[serde(default)]
    pub checks: Vec<RecordedCheck>,
    /// Findings.
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Why it failed.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Structured details.
    #[serde(default)]
    pub details: serde_json::Value,
    /// Inputs read, with digests.
    #[serde(default)]
    pub inputs: Vec<RecordedInput>,
    /// The error, when the verdict is `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Who triggered the run (the CI actor), as the runner reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// The seed.
    pub seed: u64,
    /// Start, RFC 3339 UTC.
    #[serde(rename = "startedOn")]
    pub started_on: String,
    /// End, RFC 3339 UTC.
    #[serde(rename = "finishedOn")]
    pub finished_on: String,
    /// The producing tool.
    pub tool: ToolInfo,
}

/// `https://portcullis.dev/approval/v1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalPredicate {
    /// The stage approved for.
    pub stage: String,
    /// The approver's name as they gave it (informational; identity comes
    /// from the signing key).
    pub approver: String,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// When the approval was signed, RFC 3339 UTC.
    #[serde(rename = "signedOn")]
    pub signed_on: String,
    /// When it stops counting, RFC 3339 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// `https://portcullis.dev/waiver/v1`: a signed, expiring exception for one
/// gate at one stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverPredicate {
    /// The stage.
    pub stage: String,
    /// The waived gate's name.
    pub gate: String,
    /// Why it is acceptable to ship without it.
    pub reason: String,
    /// Who signed it (informational).
    pub approver: String,
    /// When it was signed.
    #[serde(rename = "signedOn")]
    pub signed_on: String,
    /// When it expires (required).
    pub expires: String,
}

/// Parses an RFC 3339 timestamp.
///
/// # Errors
/// A message naming the text.
pub fn parse_time(text: &str) -> Result<std::time::SystemTime, String> {
    humantime::parse_rfc3339_weak(text.trim()).map_err(|e| format!("'{text}' is not an RFC 3339 time ({e})"))
}

/// Formats a time as RFC 3339 UTC to the second.
pub fn format_time(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}
