//! `deploy-without-approval`: no human approval construct on the deploy's
//! job or any job before it.

use portcullis_evidence::{Confidence, Finding, RuleInfo};

use super::{Facts, Rule};

rule!(DEPLOY_WITHOUT_APPROVAL, "deploy-without-approval", "Deploy with no human approval", Medium,
    "A model deploy runs without any human approval construct in the pipeline (GitHub environment, GitLab protected environment or blocking manual job, Azure deployment environment, Jenkins input, Argo suspend).",
    "Run the deploy in a protected environment with required reviewers, or add a blocking approval step; approval rules themselves live in platform settings.");

/// The check of [`DEPLOY_WITHOUT_APPROVAL`].
pub(crate) struct DeployWithoutApproval;

impl Rule for DeployWithoutApproval {
    fn info(&self) -> &RuleInfo {
        &DEPLOY_WITHOUT_APPROVAL
    }

    fn check(&self, f: &Facts<'_>, out: &mut Vec<Finding>) {
        for d in &f.deploys {
            let approved = d.approvers.iter().any(|&a| {
                f.p.jobs.get(a).is_some_and(|jb| {
                    jb.approval.is_some() || jb.manual.as_ref().is_some_and(|(_, b)| *b || a == d.j)
                })
            });
            if !approved && !f.reusable && !d.preprod {
                out.push(
                    self.finding(format!(
                            "deploy step {} has no human approval in the pipeline definition (approval rules that live only in platform settings cannot be seen in the file)",
                            d.desc
                        ),
                    )
                    .at(d.loc.clone())
                    .confidence(if d.confidence == Confidence::High {
                        Confidence::Medium
                    } else {
                        Confidence::Low
                    }),
                );
            }
        }
    }
}
