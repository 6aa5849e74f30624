//! `deploy-without-gate`: a deploy with no gate on any path before it and
//! none anywhere else in the pipeline (with a gate elsewhere it is
//! `gate-not-on-deploy-path`).

use portcullis_evidence::{Confidence, Finding, RuleInfo, Severity};

use super::{Facts, Rule};

rule!(
    DEPLOY_WITHOUT_GATE,
    "deploy-without-gate",
    "Deploy with no gate before it",
    High,
    "A model deploy or publish step has no evaluation, scan or red-team gate on every path that leads to it.",
    "Add a gate job (portcullis, garak, modelscan, an eval suite) and make the deploy job need it."
);

/// The check of [`DEPLOY_WITHOUT_GATE`].
pub(crate) struct DeployWithoutGate;

impl Rule for DeployWithoutGate {
    fn info(&self) -> &RuleInfo {
        &DEPLOY_WITHOUT_GATE
    }

    fn check(&self, f: &Facts<'_>, out: &mut Vec<Finding>) {
        for d in &f.deploys {
            if !f.ungated(d) || f.stray_gate(d).is_some() {
                continue;
            }
            let c = if f.p.unresolved.is_empty() {
                d.confidence
            } else {
                Confidence::Low
            };
            let mut fd = self
                .finding(format!(
                    "deploy step {} has no evaluation or scan gate on any path before it{}",
                    d.desc,
                    if d.preprod {
                        " (the job names a pre-production target, so this is reported as low)"
                    } else {
                        ""
                    }
                ))
                .at(d.loc.clone())
                .confidence(c);
            if d.preprod {
                fd.severity = Severity::Low;
            }
            out.push(fd);
        }
    }
}
