//! `always-true-condition`: a GitHub `if:` with text outside `${{ }}`,
//! which makes it a non-empty string and so always true.

use portcullis_evidence::{Finding, RuleInfo};

use super::facts::loc;
use super::{Facts, Rule};
use crate::model::System;

rule!(
    ALWAYS_TRUE_CONDITION,
    "always-true-condition",
    "Condition that is always true",
    High,
    "An if: mixes text outside ${{ }} with an expression, so it is a non-empty string and always true.",
    "Put the whole condition inside one ${{ }} expression, or write it without ${{ }}."
);

/// The check of [`ALWAYS_TRUE_CONDITION`].
pub(crate) struct AlwaysTrueCondition;

impl Rule for AlwaysTrueCondition {
    fn info(&self) -> &RuleInfo {
        &ALWAYS_TRUE_CONDITION
    }

    fn check(&self, f: &Facts<'_>, out: &mut Vec<Finding>) {
        let p = f.p;
        if p.system != System::GithubActions {
            return;
        }
        for job in &p.jobs {
            let conds = job
                .conditions
                .iter()
                .chain(job.steps.iter().flat_map(|s| s.conditions.iter()));
            for c in conds {
                if always_true(&c.value) {
                    out.push(
                        self.finding(format!(
                                "`if: {}` has text outside ${{{{ }}}}, so it is a non-empty string and always true",
                                c.value
                            ),
                        )
                        .at(loc(&p.file, c.pos, "condition")),
                    );
                }
            }
        }
    }
}

/// Whether a GitHub `if:` mixes literal text with an expression.
fn always_true(cond: &str) -> bool {
    let t = cond.trim();
    if !t.contains("${{") {
        return false;
    }
    let single = t.starts_with("${{") && t.ends_with("}}") && t.matches("${{").count() == 1;
    !single
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn always_true_spots_text_outside_the_expression() {
        assert!(always_true("${{ github.ref }} == 'refs/heads/main'"));
        assert!(!always_true("${{ github.ref == 'refs/heads/main' }}"));
        assert!(!always_true("github.ref == 'refs/heads/main'"));
    }
}
