//! `conditional-gate-bypass`: a gate on the deploy's path has a restricting
//! condition the deploy lacks, and skipping the gate does not skip the
//! deploy.

use portcullis_evidence::{Confidence, Finding, RuleInfo};

use super::facts::loc;
use super::{Facts, Rule};
use crate::model::{Job, Step, Text};

rule!(CONDITIONAL_GATE_BYPASS, "conditional-gate-bypass", "Gate skipped by a condition the deploy lacks", High,
    "The gate runs on fewer events, branches or inputs than the deploy, so some runs deploy without it (gate only on pull requests, an input that skips evaluation).",
    "Give the gate no condition the deploy lacks, or give the deploy the same condition.");

/// The check of [`CONDITIONAL_GATE_BYPASS`].
pub(crate) struct ConditionalGateBypass;

impl Rule for ConditionalGateBypass {
    fn info(&self) -> &RuleInfo {
        &CONDITIONAL_GATE_BYPASS
    }

    fn check(&self, f: &Facts<'_>, out: &mut Vec<Finding>) {
        let p = f.p;
        for d in &f.deploys {
            if d.gates.is_empty() {
                continue;
            }
            let deploy_conds: String = conditions_of(d.job, Some(d.step))
                .iter()
                .map(|t| normalise(&t.value))
                .collect::<Vec<_>>()
                .join("&&");
            for &(gj, gs) in &d.gates {
                let Some(gjob) = p.jobs.get(gj) else { continue };
                let gstep = gs.and_then(|i| gjob.steps.get(i));
                let mut conds: Vec<(Text, bool)> = gstep
                    .map(|st| st.conditions.iter().map(|c| (c.clone(), true)).collect())
                    .unwrap_or_default();
                if gj != d.j {
                    conds.extend(gjob.conditions.iter().map(|c| (c.clone(), false)));
                }
                for (cond, step_level) in conds {
                    if !restricts(&cond.value) || deploy_conds.contains(&normalise(&cond.value)) {
                        continue;
                    }
                    let skip_blocks =
                        !step_level && p.system.skip_propagates() && d.job.runs_on_failure.is_none();
                    if skip_blocks {
                        continue;
                    }
                    out.push(
                        self.finding(format!(
                            "gate only runs when `{}`, but deploy step {} does not have that condition",
                            cond.value.trim(),
                            d.desc
                        ))
                        .at(d.loc.clone())
                        .related(loc(f.file(gj), cond.pos, "gate condition"))
                        .confidence(Confidence::Medium),
                    );
                }
            }
        }
    }
}

fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Whether a gate condition restricts when the gate runs in a way a deploy
/// could avoid (event, branch, input, variable), as opposed to a pure status
/// check like `success()`.
fn restricts(cond: &str) -> bool {
    let c = normalise(cond);
    let status_only = [
        "success()",
        "succeeded()",
        "${{success()}}",
        "on_success",
        "always",
    ];
    !status_only.contains(&c.as_str())
        && !c.is_empty()
        && !crate::github::runs_on_failure(&c)
        && !crate::azure::runs_on_failure(&c)
}

fn conditions_of(job: &Job, step: Option<&Step>) -> Vec<Text> {
    let mut v = job.conditions.clone();
    if let Some(s) = step {
        v.extend(s.conditions.iter().cloned());
    }
    v
}
