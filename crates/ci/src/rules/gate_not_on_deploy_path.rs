//! `gate-not-on-deploy-path`: the pipeline has a gate, but a deploy does not
//! wait for it (a sibling job, `needs: []`, an optional need).

use portcullis_evidence::{Finding, RuleInfo};

use super::facts::StepFacts;
use super::{Facts, Rule};
use crate::model::Job;

rule!(GATE_NOT_ON_DEPLOY_PATH, "gate-not-on-deploy-path", "Gate not on the deploy path", High,
    "The pipeline has a gate, but the deploy does not wait for it (a sibling job, GitLab needs: [], an optional need).",
    "Make the deploy job need the gate job (directly or through jobs that need it).");

/// The check of [`GATE_NOT_ON_DEPLOY_PATH`].
pub(crate) struct GateNotOnDeployPath;

impl Rule for GateNotOnDeployPath {
    fn info(&self) -> &RuleInfo {
        &GATE_NOT_ON_DEPLOY_PATH
    }

    fn check(&self, f: &Facts<'_>, out: &mut Vec<Finding>) {
        for d in &f.deploys {
            if !f.ungated(d) {
                continue;
            }
            let Some((g, optional)) = f.stray_gate(d) else {
                continue;
            };
            let how = if optional {
                "only through an optional need"
            } else if d.job.empty_needs.is_some() {
                "because it declares needs: []"
            } else {
                "from a job it does not wait for"
            };
            let gl = f
                .steps
                .get(g)
                .and_then(|v| v.iter().position(StepFacts::is_gate_like));
            out.push(
                self.finding(format!(
                    "deploy step {} can run without gate job '{}': reached {how}",
                    d.desc,
                    f.p.jobs.get(g).map(Job::label).unwrap_or_default()
                ))
                .at(d.loc.clone())
                .related(f.gate_loc((g, gl)))
                .confidence(d.confidence),
            );
        }
    }
}
