//! The explicit registry of gate kinds: one line per kind.
//!
//! The kind id is the module name, the docs page (`docs/gates/<kind>.md`)
//! and the `kind:` value in a policy.

use portcullis_evidence::GateSpec;

use crate::backdoor::BackdoorGate;
use crate::command::CommandGate;
use crate::fairness::FairnessGate;
use crate::gate::{Gate, GateError};
use crate::llm::backdoor::LlmBackdoorGate;
use crate::llm::redteam::LlmRedteamGate;
use crate::llm::safety::LlmSafetyGate;
use crate::performance::PerformanceGate;
use crate::provenance::ProvenanceGate;
use crate::reference::ReferenceGate;
use crate::robustness::RobustnessGate;
use crate::scan::ScanGate;

/// Builds a gate from its parameters.
pub type BuildFn = fn(&serde_json::Map<String, serde_json::Value>) -> Result<Box<dyn Gate>, GateError>;

/// One registered gate kind.
#[derive(Clone, Copy)]
pub struct GateKind {
    /// The kind id used in policies and `portcullis eval KIND`.
    pub id: &'static str,
    /// One line: what a pass proves.
    pub summary: &'static str,
    /// Builds an instance from a spec's parameters.
    pub build: BuildFn,
}

impl std::fmt::Debug for GateKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateKind").field("id", &self.id).finish()
    }
}

fn build_command(p: &serde_json::Map<String, serde_json::Value>) -> Result<Box<dyn Gate>, GateError> {
    Ok(Box::new(CommandGate::from_params(p)?))
}

fn build_scan(p: &serde_json::Map<String, serde_json::Value>) -> Result<Box<dyn Gate>, GateError> {
    Ok(Box::new(ScanGate::from_params(p)?))
}

fn build_provenance(p: &serde_json::Map<String, serde_json::Value>) -> Result<Box<dyn Gate>, GateError> {
    Ok(Box::new(ProvenanceGate::from_params(p)?))
}

fn build_llm_safety(p: &serde_json::Map<String, serde_json::Value>) -> Result<Box<dyn Gate>, GateError> {
    Ok(Box::new(LlmSafetyGate::from_params(p)?))
}

fn build_llm_redteam(p: &serde_json::Map<String, serde_json::Value>) -> Result<Box<dyn Gate>, GateError> {
    Ok(Box::new(LlmRedteamGate::from_params(p)?))
}

fn build_llm_backdoor(p: &serde_json::Map<String, serde_json::Value>) -> Result<Box<dyn Gate>, GateError> {
    Ok(Box::new(LlmBackdoorGate::from_params(p)?))
}

fn build_performance(p: &serde_json::Map<String, serde_json::Value>) -> Result<Box<dyn Gate>, GateError> {
    Ok(Box::new(PerformanceGate::from_params(p)?))
}

fn build_reference(p: &serde_json::Map<String, serde_json::Value>) -> Result<Box<dyn Gate>, GateError> {
    Ok(Box::new(ReferenceGate::from_params(p)?))
}

fn build_fairness(p: &serde_json::Map<String, serde_json::Value>) -> Result<Box<dyn Gate>, GateError> {
    Ok(Box::new(FairnessGate::from_params(p)?))
}

fn build_robustness(p: &serde_json::Map<String, serde_json::Value>) -> Result<Box<dyn Gate>, GateError> {
    Ok(Box::new(RobustnessGate::from_params(p)?))
}

fn build_backdoor(p: &serde_json::Map<String, serde_json::Value>) -> Result<Box<dyn Gate>, GateError> {
    Ok(Box::new(BackdoorGate::from_params(p)?))
}

static KINDS: &[GateKind] = &[
    GateKind {
        id: "command",
        summary: "an external tool (garak, promptfoo, an in-house script) passes: exit 0 and report metrics within thresholds",
        build: build_command,
    },
    GateKind {
        id: "scan",
        summary: "the model files hold no code-execution or exfiltration payload (pickle, zip, Keras, SavedModel, ONNX, GGUF, safetensors)",
        build: build_scan,
    },
    GateKind {
        id: "provenance",
        summary: "the model, its training data and its base model are the attested, allowed bytes (model-signing bundles, signed data manifests, base-model allowlist)",
        build: build_provenance,
    },
    GateKind {
        id: "llm-safety",
        summary: "a chat model refuses harmful requests per category and does not over-refuse benign ones",
        build: build_llm_safety,
    },
    GateKind {
        id: "llm-redteam",
        summary: "jailbreak, injection, leakage, encoding, PII and insecure-code attacks succeed below a rate",
        build: build_llm_redteam,
    },
    GateKind {
        id: "llm-backdoor",
        summary: "no trigger string flips refusals into compliance; no divergence from a reference endpoint",
        build: build_llm_backdoor,
    },
    GateKind {
        id: "performance",
        summary: "functional quality (accuracy, F1, ROC-AUC, …) meets thresholds overall and per slice",
        build: build_performance,
    },
    GateKind {
        id: "reference",
        summary: "the candidate does not regress against the production model and its disagreements are not concentrated on one class",
        build: build_reference,
    },
    GateKind {
        id: "fairness",
        summary: "group metrics (demographic parity, equalized odds, four-fifths rule) stay within bounds",
        build: build_fairness,
    },
    GateKind {
        id: "robustness",
        summary: "accuracy under black-box evasion attacks (noise, HopSkipJump, Square) at a stated budget",
        build: build_robustness,
    },
    GateKind {
        id: "backdoor",
        summary: "no small trigger sends inputs to one class and no poisoned cluster in the training data",
        build: build_backdoor,
    },
];

/// Every registered gate kind, in registry order.
pub fn kinds() -> &'static [GateKind] {
    KINDS
}

/// Looks a kind up by id.
pub fn kind(id: &str) -> Option<&'static GateKind> {
    KINDS.iter().find(|k| k.id == id)
}

/// Builds the gate a spec describes.
///
/// # Errors
/// [`GateError::Spec`] for an unknown kind (listing the known ones) or
/// parameters the kind rejects.
pub fn build(spec: &GateSpec) -> Result<Box<dyn Gate>, GateError> {
    let kind = kind(&spec.kind).ok_or_else(|| GateError::Spec {
        kind: spec.kind.clone(),
        message: format!(
            "unknown gate kind (known kinds: {})",
            KINDS.iter().map(|k| k.id).collect::<Vec<_>>().join(", ")
        ),
    })?;
    (kind.build)(&spec.params)
}
