//! The checked policy: every reference resolved, every key loaded, every
//! duration parsed. Built only by [`crate::load`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use portcullis_evidence::{DataSource, ServeDecl};
use portcullis_evidence::{GateSpec, PublicKey, Sha256Digest};
use serde::Serialize;

/// A position in the policy file (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Pos {
    /// Line.
    pub line: u64,
    /// Column.
    pub column: u64,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A model declared in the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDecl {
    /// Path, resolved against the policy's directory.
    pub path: PathBuf,
    /// Declared kind (`onnx-classifier`, …).
    pub kind: Option<String>,
    /// How predictions are obtained when the model is served, rather than
    /// loaded from `path` (which stays what evidence is bound to).
    pub serve: Option<ServeDecl>,
}

/// A trusted signer: a runner (signs gate results) or an approver (signs
/// approvals and waivers). One identity may hold several keys; it counts
/// once however many of them signed.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The identity.
    pub name: String,
    /// Its public keys.
    pub keys: Vec<PublicKey>,
    /// Its roles (approvers).
    pub roles: Vec<String>,
}

/// How many humans must approve, and who may.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalRule {
    /// Distinct approvers needed.
    pub required: u32,
    /// Roles that count (empty: any approver).
    pub roles: Vec<String>,
    /// The run's author cannot approve their own model.
    pub forbid_author: bool,
    /// Approvals older than this stop counting.
    #[serde(serialize_with = "ser_opt_duration")]
    pub max_age: Option<Duration>,
}

/// Who may waive one gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaiverRule {
    /// Roles allowed to sign a waiver.
    pub roles: Vec<String>,
    /// The longest a waiver may run (from signing to expiry).
    #[serde(serialize_with = "ser_opt_duration")]
    pub max_duration: Option<Duration>,
}

/// A stage with `extends` resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    /// The stage name.
    pub name: String,
    /// Required gates, parents' first, without duplicates.
    pub gates: Vec<String>,
    /// Approval rule (the nearest one along `extends`).
    pub approvals: Option<ApprovalRule>,
    /// Evidence older than this does not count.
    #[serde(serialize_with = "ser_opt_duration")]
    pub max_evidence_age: Option<Duration>,
    /// Gates that may be waived, and by whom.
    pub waivable: BTreeMap<String, WaiverRule>,
    /// Re-runs of gates for the digest the stage holds (the nearest one
    /// along `extends`).
    pub recheck: Option<Recheck>,
}

/// A stage's re-evaluation schedule: the registry re-runs `gates` for the
/// digest the stage holds every `every`, on `portcullis agent` processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recheck {
    /// How often.
    #[serde(serialize_with = "ser_duration")]
    pub every: Duration,
    /// The gates re-run (declared under `gates:`; need not be required by
    /// the stage, so a new probe pack can be its own gate).
    pub gates: Vec<String>,
    /// What a failing re-run does beyond marking the stage at risk.
    pub on_fail: OnFail,
}

/// What a failing re-check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFail {
    /// Mark the stage at risk; the deploy-time answer is unchanged.
    Flag,
    /// Mark it at risk and deny the digest from then on, until the stage
    /// moves to another digest or an admin clears the risk.
    Revoke,
}

fn ser_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&humantime::format_duration(*d).to_string())
}

/// A gate declared in the policy.
#[derive(Debug, Clone)]
pub struct GateDecl {
    /// The spec.
    pub spec: GateSpec,
    /// Where the spec starts in the policy file.
    pub pos: Pos,
}

/// A checked policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The file it was read from.
    pub path: PathBuf,
    /// sha256 of the file's bytes (what `--policy-sha256` pins).
    pub digest: Sha256Digest,
    /// The candidate model.
    pub model: Option<ModelDecl>,
    /// The production model.
    pub reference: Option<ModelDecl>,
    /// Named datasets.
    pub data: BTreeMap<String, DataSource>,
    /// Keys trusted to sign gate results.
    pub runners: Vec<Signer>,
    /// Keys trusted to sign approvals and waivers.
    pub approvers: Vec<Signer>,
    /// Approval services (the registry server): keys that sign approvals on
    /// behalf of the approver the statement names, who must be one of
    /// `approvers`. They can sign nothing else.
    pub services: Vec<Signer>,
    /// Stages by name.
    pub stages: BTreeMap<String, Stage>,
    /// Gate specs by name.
    pub gates: BTreeMap<String, GateDecl>,
}

impl Policy {
    /// A stage by name.
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.get(name)
    }
}

fn ser_opt_duration<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
        None => s.serialize_none(),
    }
}
