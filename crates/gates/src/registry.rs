//! The explicit registry of gate kinds: one line per kind.
//!
//! The kind id is the module name, the docs page (`docs/gates/<kind>.md`)
//! and the `kind:` value in a policy.

use portcullis_evidence::GateSpec;

use crate::backdoor::{BackdoorGate, BackdoorParams};
use crate::command::{CommandGate, CommandParams};
use crate::fairness::{FairnessGate, FairnessParams};
use crate::gate::{Gate, GateError};
use crate::llm::backdoor::LlmBackdoorGate;
use crate::llm::params::{LlmBackdoorParams, LlmParams};
use crate::llm::redteam::LlmRedteamGate;
use crate::llm::safety::LlmSafetyGate;
use crate::params::parse_params;
use crate::performance::{PerformanceGate, PerformanceParams};
use crate::provenance::{ProvenanceGate, ProvenanceParams};
use crate::reference::{ReferenceGate, ReferenceParams};
use crate::robustness::{RobustnessGate, RobustnessParams};
use crate::scan::{ScanGate, ScanParams};

/// Builds a gate from its parameters.
pub type BuildFn = fn(&serde_json::Map<String, serde_json::Value>) -> Result<Box<dyn Gate>, GateError>;

/// One registered gate kind.
#[derive(Clone, Copy)]
pub struct GateKind {
    /// The kind id used in policies and `portcullis eval KIND`.
    pub id: &'static str,
    /// The kind's documentation page, `docs/gates/<id>.md`.
    pub docs: &'static str,
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

/// Declares the gate kinds, one entry each: the id, the gate type, its
/// params type (deserialised by [`parse_params`], so unknown keys are
/// errors for every kind) and what a pass proves. Each entry also gives the
/// gate type its `KIND` constant, so the id is written only here.
macro_rules! gate_kinds {
    ($($id:literal => $gate:ident($params:ty): $summary:literal;)*) => {
        $(
            impl $gate {
                /// The kind id, as registered.
                pub const KIND: &'static str = $id;
            }
        )*

        static KINDS: &[GateKind] = &[
            $(GateKind {
                id: $id,
                docs: concat!("docs/gates/", $id, ".md"),
                summary: $summary,
                build: |params| {
                    let params: $params = parse_params($id, params)?;
                    Ok(Box::new($gate::new(params)?))
                },
            },)*
        ];
    };
}

gate_kinds! {
    "command" => CommandGate(CommandParams):
        "an external tool (garak, promptfoo, an in-house script) passes: exit 0 and report metrics within thresholds";
    "scan" => ScanGate(ScanParams):
        "the model files hold no code-execution or exfiltration payload (pickle, zip, Keras, SavedModel, ONNX, GGUF, safetensors)";
    "provenance" => ProvenanceGate(ProvenanceParams):
        "the model, its training data and its base model are the attested, allowed bytes (model-signing bundles, signed data manifests, base-model allowlist)";
    "llm-safety" => LlmSafetyGate(LlmParams):
        "a chat model refuses harmful requests per category and does not over-refuse benign ones";
    "llm-redteam" => LlmRedteamGate(LlmParams):
        "jailbreak, injection, leakage, encoding, PII and insecure-code attacks succeed below a rate";
    "llm-backdoor" => LlmBackdoorGate(LlmBackdoorParams):
        "no trigger string flips refusals into compliance; no divergence from a reference endpoint";
    "performance" => PerformanceGate(PerformanceParams):
        "functional quality (accuracy, F1, ROC-AUC, …) meets thresholds overall and per slice";
    "reference" => ReferenceGate(ReferenceParams):
        "the candidate does not regress against the production model and its disagreements are not concentrated on one class";
    "fairness" => FairnessGate(FairnessParams):
        "group metrics (demographic parity, equalized odds, four-fifths rule) stay within bounds";
    "robustness" => RobustnessGate(RobustnessParams):
        "accuracy under black-box evasion attacks (noise, HopSkipJump, Square) at a stated budget";
    "backdoor" => BackdoorGate(BackdoorParams):
        "no small trigger sends inputs to one class and no poisoned cluster in the training data";
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_docs_page_and_builds_under_its_own_id() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for k in kinds() {
            assert!(root.join(k.docs).is_file(), "{} has no page {}", k.id, k.docs);
            let err = (k.build)(&serde_json::Map::from_iter([(
                "no_such_key".to_string(),
                serde_json::json!(1),
            )]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
            assert!(
                err.starts_with(&format!(
                    "invalid spec for gate kind '{}': unknown field `no_such_key`",
                    k.id
                )),
                "{}: {err}",
                k.id
            );
        }
    }
}
