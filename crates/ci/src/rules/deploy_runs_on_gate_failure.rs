//! `deploy-runs-on-gate-failure`: the deploy after a gate is guarded by a
//! condition that also runs it when the gate failed.

use portcullis_evidence::{Confidence, Finding, RuleInfo};

use super::facts::loc;
use super::{Facts, Rule};

rule!(DEPLOY_RUNS_ON_GATE_FAILURE, "deploy-runs-on-gate-failure", "Deploy runs even if the gate fails", Critical,
    "The deploy is guarded by a condition that also runs it after a failure (always(), !cancelled(), failure(), when: always, succeededOrFailed(), post always, finally, depends on .Failed).",
    "Use the default success condition on the deploy, or test the gate's result explicitly.");

/// The check of [`DEPLOY_RUNS_ON_GATE_FAILURE`].
pub(crate) struct DeployRunsOnGateFailure;

impl Rule for DeployRunsOnGateFailure {
    fn info(&self) -> &RuleInfo {
        &DEPLOY_RUNS_ON_GATE_FAILURE
    }

    fn check(&self, f: &Facts<'_>, out: &mut Vec<Finding>) {
        for d in &f.deploys {
            let Some(&g) = d.gates.first() else { continue };
            // Runs on failure: step-level when the gate is in the same job,
            // job-level or edge-level otherwise.
            let same_job = d.gates.iter().any(|x| x.0 == d.j);
            let marker = if same_job {
                d.step.runs_on_failure.clone()
            } else {
                None
            }
            .or_else(|| d.job.runs_on_failure.clone())
            .or_else(|| d.job.needs.iter().find_map(|e| e.on_failure.clone()));
            if let Some(m) = marker {
                out.push(
                    self.finding(format!(
                        "deploy step {} runs even when the gate fails, because of `{}`",
                        d.desc, m.what
                    ))
                    .at(loc(f.file(d.j), m.pos, "condition"))
                    .related(d.loc.clone())
                    .related(f.gate_loc(g))
                    .confidence(Confidence::High),
                );
            }
        }
    }
}
