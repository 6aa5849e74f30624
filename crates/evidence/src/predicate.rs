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

/// One `require:` threshold check: what a gate's thresholds found and what
/// evidence records, the same type on both sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// The metric name (a pattern such as `selection_rate[*]` is expanded to
    /// each concrete metric it matched).
    pub metric: String,
    /// The threshold.
    pub threshold: Threshold,
    /// The measured value; `None` when the gate did not produce the metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measured: Option<f64>,
    /// Whether it held.
    pub passed: bool,
}

/// One input a gate read, recorded so evidence says exactly what was tested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// What the input was for (`data`, `reference`, `probes`, `report`,
    /// `model-endpoint`, …).
    pub role: String,
    /// A path or URL, as given.
    pub uri: String,
    /// The content digest, for files; recorded as an in-toto digest set
    /// (`"digest": {"sha256": "…"}`).
    #[serde(
        rename = "digest",
        default,
        skip_serializing_if = "Option::is_none",
        with = "sha256_set"
    )]
    pub sha256: Option<Sha256Digest>,
    /// The model name served at an endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// `Option<Sha256Digest>` as an in-toto digest set `{"sha256": hex}`.
mod sha256_set {
    use serde::{Deserialize as _, Deserializer, Serialize as _, Serializer};

    use super::{digest_set, DigestSet};
    use crate::Sha256Digest;

    // serde's `with` hands `&Option<T>` to the serializer.
    pub fn serialize<S: Serializer>(d: &Option<Sha256Digest>, s: S) -> Result<S::Ok, S::Error> {
        d.as_ref().map(digest_set).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Sha256Digest>, D::Error> {
        let Some(set) = Option::<DigestSet>::deserialize(d)? else {
            return Ok(None);
        };
        let hex = set
            .get("sha256")
            .ok_or_else(|| serde::de::Error::custom("digest set has no sha256 entry"))?;
        Sha256Digest::from_hex(hex)
            .map(Some)
            .map_err(serde::de::Error::custom)
    }
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
    pub checks: Vec<Check>,
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
    pub inputs: Vec<Input>,
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

/// `https://slsa.dev/verification_summary/v1`: what `verify` decided, as a
/// SLSA Verification Summary Attestation. Fields are declared in key order so
/// the JSON reads the same as a sorted map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerificationSummaryPredicate {
    /// The evidence bundles the decision read.
    #[serde(rename = "inputAttestations", default)]
    pub input_attestations: Vec<ResourceDescriptor>,
    /// The policy the decision was made under.
    pub policy: ResourceDescriptor,
    /// The model verified.
    #[serde(rename = "resourceUri")]
    pub resource_uri: String,
    /// When, RFC 3339 UTC.
    #[serde(rename = "timeVerified")]
    pub time_verified: String,
    /// `PASSED` or `FAILED`.
    #[serde(rename = "verificationResult")]
    pub verification_result: VerificationResult,
    /// `PORTCULLIS_STAGE_<STAGE>` for the stage verified.
    #[serde(rename = "verifiedLevels")]
    pub verified_levels: Vec<String>,
    /// Who verified.
    pub verifier: Verifier,
}

/// A SLSA resource descriptor: a URI and its digest set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceDescriptor {
    /// The digest of the resource's bytes.
    pub digest: DigestSet,
    /// Where it is.
    pub uri: String,
}

/// The verifier of a Verification Summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verifier {
    /// `https://portcullis.dev/verifier`.
    pub id: String,
    /// Tool name → version.
    pub version: BTreeMap<String, String>,
}

/// The outcome a Verification Summary states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum VerificationResult {
    /// The stage is allowed.
    Passed,
    /// It is not.
    Failed,
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
