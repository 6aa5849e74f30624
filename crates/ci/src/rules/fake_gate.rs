//! `fake-gate`: a job or step named as a check that only prints or
//! succeeds.

use portcullis_evidence::{Finding, RuleInfo};

use super::facts::loc;
use super::{Facts, Rule};
use crate::classify::{self, Kind};

rule!(
    FAKE_GATE,
    "fake-gate",
    "Fake gate",
    High,
    "A job or step named as a test, evaluation or scan only echoes or succeeds without checking anything.",
    "Make the job run the real evaluation, or rename it so nobody mistakes it for a gate."
);

/// The check of [`FAKE_GATE`].
pub(crate) struct FakeGate;

impl Rule for FakeGate {
    fn info(&self) -> &RuleInfo {
        &FAKE_GATE
    }

    fn check(&self, f: &Facts<'_>, out: &mut Vec<Finding>) {
        let has_deploy = !f.deploys.is_empty();
        for (j, job) in f.p.jobs.iter().enumerate() {
            let sfs = f.steps.get(j).map(Vec::as_slice).unwrap_or_default();
            let fake_job = f.fake_job.get(j).copied().unwrap_or(false);
            if fake_job && (has_deploy || classify::classify_name(job.label()) == Some(Kind::Gate)) {
                out.push(
                    self.finding(format!(
                        "job '{}' looks like a check but its steps only print or succeed",
                        job.label()
                    ))
                    .at(loc(f.file(j), job.pos, "job")),
                );
            }
            for (i, (step, sf)) in job.steps.iter().zip(sfs).enumerate() {
                if sf.fake && !fake_job {
                    out.push(
                        self.finding(format!(
                            "step '{}' in job '{}' is named as a gate but only prints or succeeds",
                            step.label(),
                            job.label()
                        ))
                        .at(loc(f.step_file(j, i), step.pos, "step")),
                    );
                }
            }
        }
    }
}
