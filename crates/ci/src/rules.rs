//! The rules: one file per rule behind the [`Rule`] trait, one registry
//! line each.
//!
//! Every rule reads the same per-pipeline facts (which steps deploy, which
//! gate, the job graph and the conditions), computed once in
//! `facts::Facts` and passed to each rule, so a rule only says what it
//! looks for. The id of a rule is its module name (in snake case), its docs
//! anchor in `docs/audit-ci.md`, its config key and its inline-ignore key,
//! so ids never change.

use portcullis_evidence::{Finding, RuleInfo};

use crate::model::Pipeline;

macro_rules! rule {
    ($name:ident, $id:literal, $title:literal, $sev:ident, $desc:literal, $help:literal) => {
        /// Registry entry for the rule of the same id.
        pub const $name: ::portcullis_evidence::RuleInfo = ::portcullis_evidence::RuleInfo {
            id: $id,
            name: $title,
            description: $desc,
            help: $help,
            default_severity: ::portcullis_evidence::Severity::$sev,
            docs: concat!("audit-ci.md#", $id),
        };
    };
}

mod facts;

mod always_true_condition;
mod approval_without_submitter;
mod conditional_gate_bypass;
mod deploy_runs_on_gate_failure;
mod deploy_target_from_input;
mod deploy_without_approval;
mod deploy_without_gate;
mod fake_gate;
mod gate_allowed_to_fail;
mod gate_not_on_deploy_path;
mod gate_result_swallowed;
mod gate_unpinned;
mod job_graph_cycle;
mod manual_approval_not_blocking;
mod pipeline_not_analysable;

pub use always_true_condition::ALWAYS_TRUE_CONDITION;
pub use approval_without_submitter::APPROVAL_WITHOUT_SUBMITTER;
pub use conditional_gate_bypass::CONDITIONAL_GATE_BYPASS;
pub use deploy_runs_on_gate_failure::DEPLOY_RUNS_ON_GATE_FAILURE;
pub use deploy_target_from_input::DEPLOY_TARGET_FROM_INPUT;
pub use deploy_without_approval::DEPLOY_WITHOUT_APPROVAL;
pub use deploy_without_gate::DEPLOY_WITHOUT_GATE;
pub use fake_gate::FAKE_GATE;
pub use gate_allowed_to_fail::GATE_ALLOWED_TO_FAIL;
pub use gate_not_on_deploy_path::GATE_NOT_ON_DEPLOY_PATH;
pub use gate_result_swallowed::GATE_RESULT_SWALLOWED;
pub use gate_unpinned::GATE_UNPINNED;
pub use job_graph_cycle::JOB_GRAPH_CYCLE;
pub use manual_approval_not_blocking::MANUAL_APPROVAL_NOT_BLOCKING;
pub use pipeline_not_analysable::PIPELINE_NOT_ANALYSABLE;

use facts::Facts;

/// One rule: its registry entry, and the check that reads the shared facts
/// of a pipeline and pushes what it finds.
pub(crate) trait Rule: Sync {
    /// The registry entry.
    fn info(&self) -> &RuleInfo;
    /// Pushes this rule's findings on the pipeline the facts describe.
    fn check(&self, facts: &Facts<'_>, out: &mut Vec<Finding>);

    /// Starts a finding of this rule at its default severity, with its fix.
    fn finding(&self, message: impl Into<String>) -> Finding
    where
        Self: Sized,
    {
        finding(self.info(), message)
    }
}

/// Every rule, one line each.
pub static RULES: &[RuleInfo] = &[
    DEPLOY_WITHOUT_GATE,
    DEPLOY_WITHOUT_APPROVAL,
    GATE_ALLOWED_TO_FAIL,
    DEPLOY_RUNS_ON_GATE_FAILURE,
    GATE_RESULT_SWALLOWED,
    FAKE_GATE,
    GATE_NOT_ON_DEPLOY_PATH,
    CONDITIONAL_GATE_BYPASS,
    ALWAYS_TRUE_CONDITION,
    MANUAL_APPROVAL_NOT_BLOCKING,
    APPROVAL_WITHOUT_SUBMITTER,
    DEPLOY_TARGET_FROM_INPUT,
    GATE_UNPINNED,
    JOB_GRAPH_CYCLE,
    PIPELINE_NOT_ANALYSABLE,
];

/// The check of every rule, in [`RULES`] order.
static CHECKS: &[&dyn Rule] = &[
    &deploy_without_gate::DeployWithoutGate,
    &deploy_without_approval::DeployWithoutApproval,
    &gate_allowed_to_fail::GateAllowedToFail,
    &deploy_runs_on_gate_failure::DeployRunsOnGateFailure,
    &gate_result_swallowed::GateResultSwallowed,
    &fake_gate::FakeGate,
    &gate_not_on_deploy_path::GateNotOnDeployPath,
    &conditional_gate_bypass::ConditionalGateBypass,
    &always_true_condition::AlwaysTrueCondition,
    &manual_approval_not_blocking::ManualApprovalNotBlocking,
    &approval_without_submitter::ApprovalWithoutSubmitter,
    &deploy_target_from_input::DeployTargetFromInput,
    &gate_unpinned::GateUnpinned,
    &job_graph_cycle::JobGraphCycle,
    &pipeline_not_analysable::PipelineNotAnalysable,
];

/// Starts a finding for `rule` at its default severity.
pub fn finding(rule: &RuleInfo, message: impl Into<String>) -> Finding {
    Finding::new(rule.id, rule.default_severity, message).fix(rule.help)
}

/// Runs every rule over one pipeline.
pub fn check(p: &Pipeline, lines: &[&str]) -> Vec<Finding> {
    let facts = Facts::new(p, lines);
    let mut out = Vec::new();
    for rule in CHECKS {
        rule.check(&facts, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn rule_ids_are_unique_kebab_case_and_anchor_their_docs() {
        let mut seen = HashSet::new();
        for r in RULES {
            assert!(seen.insert(r.id), "duplicate {}", r.id);
            assert!(r.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert_eq!(r.docs, format!("audit-ci.md#{}", r.id));
        }
    }

    #[test]
    fn every_registered_rule_has_one_check_in_registry_order() {
        let checks: Vec<&str> = CHECKS.iter().map(|c| c.info().id).collect();
        let rules: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        assert_eq!(checks, rules);
    }
}
