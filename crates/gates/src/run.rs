//! Running one gate: build it from its spec, evaluate, apply thresholds,
//! and turn every way of not finishing into an `error` verdict.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Instant, SystemTime};

use portcullis_evidence::Verdict;

use crate::gate::{Evaluation, GateContext, GateError, GateOutcome};
use crate::registry;
use crate::require::{check_thresholds, explain_check};
use portcullis_evidence::GateSpec;

/// Runs the gate `spec` describes under `ctx` and returns a complete outcome.
/// Never panics and never passes by accident: a spec error, an evaluation
/// error, a panic inside the gate, or a missing required metric all fail.
pub fn run_gate(spec: &GateSpec, ctx: &GateContext<'_>) -> GateOutcome {
    let started = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let clock = Instant::now();
    let mut outcome = GateOutcome {
        name: ctx.name.to_string(),
        kind: spec.kind.clone(),
        spec: spec.clone(),
        verdict: Verdict::Error,
        metrics: Default::default(),
        checks: Vec::new(),
        findings: Vec::new(),
        details: serde_json::Value::Null,
        inputs: Vec::new(),
        reasons: Vec::new(),
        error: None,
        seed: ctx.seed,
        started,
        duration_ms: 0,
    };
    let result: Result<(Evaluation, _), GateError> = registry::build(spec).and_then(|gate| {
        let require = spec.require.clone().unwrap_or_else(|| gate.default_require());
        match catch_unwind(AssertUnwindSafe(|| gate.evaluate(ctx))) {
            Ok(r) => r.map(|e| (e, require)),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(GateError::Other(format!("the gate crashed: {msg}")))
            }
        }
    });
    match result {
        Ok((eval, require)) => {
            let checks = check_thresholds(&eval.metrics, &require);
            let mut reasons = eval.failures.clone();
            reasons.extend(checks.iter().filter(|c| !c.passed).map(explain_check));
            outcome.verdict = if reasons.is_empty() {
                Verdict::Pass
            } else {
                Verdict::Fail
            };
            outcome.metrics = eval.metrics;
            outcome.checks = checks;
            outcome.findings = eval.findings;
            outcome.details = eval.details;
            outcome.inputs = eval.inputs;
            outcome.reasons = reasons;
        }
        Err(e) => {
            outcome.verdict = Verdict::Error;
            outcome.error = Some(e.to_string());
            outcome.reasons = vec![format!("the gate could not evaluate: {e}")];
        }
    }
    outcome.duration_ms = u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX);
    outcome
}
