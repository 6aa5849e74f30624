//! What every renderer draws: a decision (optional) and gate results.
//!
//! Gate results reach the renderers in one shape, whether they were just
//! computed (`run`, `eval`) or read back from signed evidence (`decide`,
//! `verify`, `show`), so all formats agree.

use portcullis_evidence::predicate::{Check, GateResultPredicate, Input};
use portcullis_evidence::{Finding, Metrics, Sha256Digest, Verdict};
use portcullis_policy::{Decision, GateState, Policy};

/// One gate result as renderers see it.
#[derive(Debug, Clone)]
pub struct GateView {
    /// The gate's name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// The verdict; `None` when the gate has no result at all (missing).
    pub verdict: Option<Verdict>,
    /// Metrics.
    pub metrics: Metrics,
    /// Threshold checks.
    pub checks: Vec<Check>,
    /// Findings.
    pub findings: Vec<Finding>,
    /// Why it failed.
    pub reasons: Vec<String>,
    /// Details.
    pub details: serde_json::Value,
    /// Inputs read.
    pub inputs: Vec<Input>,
    /// The error, when the verdict is `error`.
    pub error: Option<String>,
    /// Who signed it, when it came from evidence.
    pub signer: Option<String>,
    /// When it finished.
    pub finished: Option<String>,
    /// Wall time in milliseconds, when known.
    pub duration_ms: Option<u64>,
}

impl GateView {
    /// A view of a gate-result predicate.
    pub fn from_predicate(p: &GateResultPredicate, signer: Option<String>) -> Self {
        GateView {
            name: p.gate.name.clone(),
            kind: p.gate.kind.clone(),
            verdict: Some(p.verdict),
            metrics: p.metrics.clone(),
            checks: p.checks.clone(),
            findings: p.findings.clone(),
            reasons: p.reasons.clone(),
            details: p.details.clone(),
            inputs: p.inputs.clone(),
            error: p.error.clone(),
            signer,
            finished: Some(p.finished_on.clone()),
            duration_ms: None,
        }
    }

    /// A placeholder for a required gate with no usable result.
    pub fn missing(name: &str, kind: &str, why: &str) -> Self {
        GateView {
            name: name.to_string(),
            kind: kind.to_string(),
            verdict: None,
            metrics: Metrics::new(),
            checks: Vec::new(),
            findings: Vec::new(),
            reasons: vec![why.to_string()],
            details: serde_json::Value::Null,
            inputs: Vec::new(),
            error: None,
            signer: None,
            finished: None,
            duration_ms: None,
        }
    }

    /// True when the gate passed.
    pub fn passed(&self) -> bool {
        self.verdict.is_some_and(Verdict::passed)
    }
}

/// Everything one command reports.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The model digest, hex.
    pub digest: Option<String>,
    /// The model's name (a path or a registry name), when known.
    pub model: Option<String>,
    /// The decision, for commands that decide.
    pub decision: Option<Decision>,
    /// Gate results.
    pub gates: Vec<GateView>,
}

impl Report {
    /// A report of a decision: one gate view per required gate, in stage
    /// order; a gate with no usable result shows why.
    pub fn of_decision(policy: &Policy, decision: &Decision, digest: &Sha256Digest) -> Report {
        let gates = decision
            .gates
            .iter()
            .map(|g| {
                let kind = policy.gates.get(&g.gate).map_or("?", |d| d.spec.kind.as_str());
                match &g.result {
                    Some(p) => {
                        let mut v = GateView::from_predicate(p, g.signer.clone());
                        if g.state == GateState::Waived || (v.reasons.is_empty() && !v.passed()) {
                            v.reasons.push(g.detail.clone());
                        }
                        v
                    }
                    None => GateView::missing(&g.gate, kind, &g.detail),
                }
            })
            .collect();
        Report {
            digest: Some(digest.to_hex()),
            model: None,
            decision: Some(decision.clone()),
            gates,
        }
    }
}
