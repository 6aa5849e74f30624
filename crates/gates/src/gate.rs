//! The `Gate` trait and what a gate is given and gives back.
//!
//! A gate computes: metrics, findings, details, and its own verdict for
//! checks that are not thresholds (an exit code, a scanner's severity bar).
//! It never decides promotion and never applies `require:` thresholds itself;
//! [`crate::run_gate`] does that once, for every kind, after the gate returns.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

pub use portcullis_evidence::predicate::{Check, Input};
pub use portcullis_evidence::DataSource;
use portcullis_evidence::{Finding, GateSpec, Metrics, Sha256Digest, Threshold, Verdict};

/// The model under evaluation.
#[derive(Debug, Clone, Default)]
pub struct ModelRef {
    /// The model file or directory, if the model is local.
    pub path: Option<PathBuf>,
    /// Its model-signing digest, when computed.
    pub digest: Option<Sha256Digest>,
    /// The declared kind (`onnx-classifier`, …), if any.
    pub kind: Option<String>,
    /// The endpoint serving the model, when predictions come from it
    /// rather than from the file at `path`.
    pub serve: Option<crate::serve::Serve>,
}

/// Reports progress of long work; the CLI draws bars from it.
pub trait Progress: Send + Sync {
    /// Sets the total amount of work.
    fn set_length(&self, len: u64);
    /// Adds finished work.
    fn inc(&self, delta: u64);
    /// Says what is being done now.
    fn message(&self, msg: &str);
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_length(&self, _len: u64) {}
    fn inc(&self, _delta: u64) {}
    fn message(&self, _msg: &str) {}
}

/// Everything a gate may read.
pub struct GateContext<'a> {
    /// The gate's name in the policy (the kind, for `eval`).
    pub name: &'a str,
    /// The candidate model.
    pub model: &'a ModelRef,
    /// The production model to compare against, if declared.
    pub reference: Option<&'a ModelRef>,
    /// Named datasets (`eval`, `train`, …).
    pub data: &'a BTreeMap<String, DataSource>,
    /// Relative paths in the spec resolve against this directory.
    pub base_dir: &'a Path,
    /// The seed for every random choice.
    pub seed: u64,
    /// Where to report progress.
    pub progress: &'a dyn Progress,
    /// After this instant the gate should stop and report how far it got.
    pub deadline: Option<Instant>,
}

impl GateContext<'_> {
    /// Resolves a spec path against [`GateContext::base_dir`].
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }

    /// True once the deadline has passed.
    pub fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// What a gate computed, before thresholds are applied.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Flat metrics (see `portcullis_evidence::outcome`).
    pub metrics: Metrics,
    /// Problems found.
    pub findings: Vec<Finding>,
    /// Free-form structured details (confusion matrices, transcripts, …).
    pub details: serde_json::Value,
    /// Inputs read, with their digests.
    pub inputs: Vec<Input>,
    /// Reasons the gate itself failed, besides thresholds (non-zero exit,
    /// findings at or above a bar). Empty means the gate's own checks held.
    pub failures: Vec<String>,
}

/// The final result of one gate run, ready to be signed.
#[derive(Debug, Clone)]
pub struct GateOutcome {
    /// The gate's name.
    pub name: String,
    /// The gate's kind.
    pub kind: String,
    /// The spec it ran under.
    pub spec: GateSpec,
    /// `pass`, `fail` or `error`.
    pub verdict: Verdict,
    /// Metrics.
    pub metrics: Metrics,
    /// Every threshold checked.
    pub checks: Vec<Check>,
    /// Findings.
    pub findings: Vec<Finding>,
    /// Structured details.
    pub details: serde_json::Value,
    /// Inputs read.
    pub inputs: Vec<Input>,
    /// Why it failed, one line each (thresholds, the gate's own failures).
    pub reasons: Vec<String>,
    /// Why it could not evaluate, when the verdict is `error`.
    pub error: Option<String>,
    /// The seed used.
    pub seed: u64,
    /// Start time, RFC 3339 UTC.
    pub started: String,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
}

/// Why a gate could not evaluate. Any of these makes the verdict `error`,
/// which fails closed.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// The spec is wrong for this kind (unknown key, bad value).
    #[error("invalid spec for gate kind '{kind}': {message}")]
    Spec {
        /// The gate kind.
        kind: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// An input could not be read or used.
    #[error("{0}")]
    Input(String),
    /// The deadline passed.
    #[error("deadline passed: {0}")]
    Deadline(String),
    /// Anything else that stopped the evaluation.
    #[error("{0}")]
    Other(String),
}

/// The stable kind of a [`GateError`], documented in
/// `docs/decision-codes.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GateErrorKind {
    /// The spec is wrong for its kind.
    Spec,
    /// An input could not be read or used.
    Input,
    /// The deadline passed.
    Deadline,
    /// Anything else that stopped the evaluation.
    Other,
}

impl GateErrorKind {
    /// Every kind, in documentation order.
    pub const ALL: [GateErrorKind; 4] = [
        GateErrorKind::Spec,
        GateErrorKind::Input,
        GateErrorKind::Deadline,
        GateErrorKind::Other,
    ];

    /// The kind as text.
    pub fn as_str(self) -> &'static str {
        match self {
            GateErrorKind::Spec => "gate-spec-invalid",
            GateErrorKind::Input => "gate-input-unusable",
            GateErrorKind::Deadline => "gate-deadline-passed",
            GateErrorKind::Other => "gate-evaluation-failed",
        }
    }

    /// One line: what the kind means.
    pub fn summary(self) -> &'static str {
        match self {
            GateErrorKind::Spec => "the gate's spec is wrong for its kind (unknown key, bad value)",
            GateErrorKind::Input => "an input (model, data, endpoint, report) could not be read or used",
            GateErrorKind::Deadline => "the deadline passed before the gate finished",
            GateErrorKind::Other => "anything else that stopped the evaluation",
        }
    }
}

impl GateError {
    /// The stable kind.
    pub fn kind(&self) -> GateErrorKind {
        match self {
            GateError::Spec { .. } => GateErrorKind::Spec,
            GateError::Input(_) => GateErrorKind::Input,
            GateError::Deadline(_) => GateErrorKind::Deadline,
            GateError::Other(_) => GateErrorKind::Other,
        }
    }
}

/// A gate kind's implementation.
pub trait Gate: Send + Sync {
    /// The kind id, e.g. `command`.
    fn kind(&self) -> &'static str;

    /// Thresholds applied when the spec has no `require:`. Documented per
    /// kind so that `eval` without a spec still gives a meaningful verdict.
    fn default_require(&self) -> BTreeMap<String, Threshold> {
        BTreeMap::new()
    }

    /// Computes metrics and findings.
    ///
    /// # Errors
    /// A [`GateError`] when the gate cannot evaluate; the verdict becomes
    /// `error`.
    fn evaluate(&self, ctx: &GateContext<'_>) -> Result<Evaluation, GateError>;
}
