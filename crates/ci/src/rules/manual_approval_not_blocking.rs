//! `manual-approval-not-blocking`: a manual job before a deploy that the
//! pipeline does not wait for (GitLab's `allow_failure` default).

use portcullis_evidence::{Finding, RuleInfo};

use super::facts::{loc, StepFacts};
use super::{Facts, Rule};

rule!(MANUAL_APPROVAL_NOT_BLOCKING, "manual-approval-not-blocking", "Manual approval job that does not block", High,
    "A GitLab manual job meant as an approval has allow_failure true (the default for manual jobs), so later jobs run without anyone clicking it.",
    "Set allow_failure: false on the manual job, or use a protected environment.");

/// The check of [`MANUAL_APPROVAL_NOT_BLOCKING`].
pub(crate) struct ManualApprovalNotBlocking;

impl Rule for ManualApprovalNotBlocking {
    fn info(&self) -> &RuleInfo {
        &MANUAL_APPROVAL_NOT_BLOCKING
    }

    fn check(&self, f: &Facts<'_>, out: &mut Vec<Finding>) {
        for d in &f.deploys {
            for &a in &d.approvers {
                if a == d.j {
                    continue;
                }
                let Some(jb) = f.p.jobs.get(a) else { continue };
                let Some((m, false)) = &jb.manual else { continue };
                if f.steps.get(a).is_some_and(|v| v.iter().any(StepFacts::is_deploy)) {
                    continue;
                }
                out.push(
                    self.finding(format!(
                            "manual job '{}' does not block deploy step {}: without allow_failure: false the pipeline continues without it",
                            jb.label(),
                            d.desc
                        ),
                    )
                    .at(loc(f.file(a), m.pos, "manual job"))
                    .related(d.loc.clone()),
                );
            }
        }
    }
}
