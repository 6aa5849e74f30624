//! `gate-allowed-to-fail`: a gate job or step whose failure is ignored.

use portcullis_evidence::{Finding, RuleInfo};

use super::facts::{loc, StepFacts};
use super::{Facts, Rule};

rule!(GATE_ALLOWED_TO_FAIL, "gate-allowed-to-fail", "Gate allowed to fail", High,
    "A gate step or job is marked so its failure is ignored (continue-on-error, allow_failure, continueOnError, catchError, onError: continue, continueOn).",
    "Remove the failure override from the gate so a failing evaluation stops the pipeline.");

/// The check of [`GATE_ALLOWED_TO_FAIL`].
pub(crate) struct GateAllowedToFail;

impl Rule for GateAllowedToFail {
    fn info(&self) -> &RuleInfo {
        &GATE_ALLOWED_TO_FAIL
    }

    fn check(&self, f: &Facts<'_>, out: &mut Vec<Finding>) {
        for (j, job) in f.p.jobs.iter().enumerate() {
            let sfs = f.steps.get(j).map(Vec::as_slice).unwrap_or_default();
            if sfs.iter().any(StepFacts::is_real_gate) {
                if let Some(m) = &job.allow_failure {
                    out.push(
                        self.finding(format!(
                            "gate job '{}' may fail without stopping the pipeline (`{}`)",
                            job.label(),
                            m.what
                        ))
                        .at(loc(f.file(j), m.pos, "failure override")),
                    );
                }
            }
            for (s, (step, sf)) in job.steps.iter().zip(sfs).enumerate() {
                if !sf.is_real_gate() {
                    continue;
                }
                if let Some(m) = &step.allow_failure {
                    out.push(
                        self.finding(format!(
                            "gate step {} may fail without failing the job (`{}`)",
                            f.step_desc(j, s),
                            m.what
                        ))
                        .at(loc(f.file(j), m.pos, "failure override"))
                        .related(f.step_loc(j, s, "gate")),
                    );
                }
            }
        }
    }
}
