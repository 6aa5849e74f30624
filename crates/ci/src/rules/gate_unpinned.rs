//! `gate-unpinned`: a gate action or reusable workflow referenced by a
//! branch or tag instead of a commit SHA.

use portcullis_evidence::{Finding, RuleInfo};

use super::facts::loc;
use super::{Facts, Rule};
use crate::model::System;

rule!(GATE_UNPINNED, "gate-unpinned", "Gate pinned to a branch or tag", Medium,
    "A gate action or reusable workflow is referenced by a branch or tag instead of a full commit SHA, so its content can change under the pipeline.",
    "Pin the gate to a full 40-character commit SHA.");

/// The check of [`GATE_UNPINNED`].
pub(crate) struct GateUnpinned;

impl Rule for GateUnpinned {
    fn info(&self) -> &RuleInfo {
        &GATE_UNPINNED
    }

    fn check(&self, f: &Facts<'_>, out: &mut Vec<Finding>) {
        // Only GitHub references can name a commit: an Azure `task:
        // Name@2` picks a major version of a marketplace task, and there
        // is no finer pin to ask for.
        if f.p.system != System::GithubActions {
            return;
        }
        for (j, job) in f.p.jobs.iter().enumerate() {
            let sfs = f.steps.get(j).map(Vec::as_slice).unwrap_or_default();
            for (i, (step, sf)) in job.steps.iter().zip(sfs).enumerate() {
                if !sf.is_real_gate() {
                    continue;
                }
                let Some(uses) = &step.uses else { continue };
                if let Some(r) = unpinned_ref(&uses.value) {
                    out.push(
                        self.finding(format!(
                            "gate `{}` is pinned to '{}', not a commit SHA",
                            uses.value, r
                        ))
                        .at(loc(f.step_file(j, i), uses.pos, "gate reference")),
                    );
                }
            }
        }
    }
}

fn unpinned_ref(uses: &str) -> Option<&str> {
    if uses.starts_with("./") || uses.starts_with("docker://") {
        return None;
    }
    let (_, r) = uses.rsplit_once('@')?;
    let pinned = r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit());
    (!pinned).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_shas_count_as_pinned() {
        assert_eq!(unpinned_ref("acme/eval@main"), Some("main"));
        assert_eq!(
            unpinned_ref("acme/eval@0123456789abcdef0123456789abcdef01234567"),
            None
        );
        assert_eq!(unpinned_ref("./.github/workflows/eval.yml"), None);
    }
}
