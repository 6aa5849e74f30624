//! `approval-without-submitter`: a Jenkins `input` approves a deploy but
//! names nobody who may submit it.

use portcullis_evidence::{Finding, RuleInfo};

use super::facts::loc;
use super::{Facts, Rule};
use crate::model::System;

rule!(
    APPROVAL_WITHOUT_SUBMITTER,
    "approval-without-submitter",
    "Anyone can approve",
    Medium,
    "A Jenkins input approves a deploy without a submitter list, so anyone with build access can approve.",
    "Add submitter: 'group-or-user' to the input."
);

/// The check of [`APPROVAL_WITHOUT_SUBMITTER`].
pub(crate) struct ApprovalWithoutSubmitter;

impl Rule for ApprovalWithoutSubmitter {
    fn info(&self) -> &RuleInfo {
        &APPROVAL_WITHOUT_SUBMITTER
    }

    fn check(&self, f: &Facts<'_>, out: &mut Vec<Finding>) {
        if f.p.system != System::Jenkins {
            return;
        }
        for d in &f.deploys {
            for &a in &d.approvers {
                let Some(jb) = f.p.jobs.get(a) else { continue };
                let Some(ap) = &jb.approval else { continue };
                if ap.submitter.is_none() && !ap.settings_only {
                    out.push(
                        self.finding(format!(
                                "`{}` approves deploy step {} but names no submitter, so anyone with build access can approve",
                                ap.what, d.desc
                            ),
                        )
                        .at(loc(f.file(a), ap.pos, "approval"))
                        .related(d.loc.clone()),
                    );
                }
            }
        }
    }
}
