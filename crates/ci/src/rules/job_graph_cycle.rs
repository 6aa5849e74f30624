//! `job-graph-cycle`: jobs that wait for each other in a cycle.

use portcullis_evidence::{Finding, RuleInfo};

use super::facts::loc;
use super::{Facts, Rule};

rule!(JOB_GRAPH_CYCLE, "job-graph-cycle", "Job graph has a cycle", High,
    "Jobs wait for each other in a cycle; the platform rejects or never runs them and no path can be proven gated.",
    "Remove one of the edges in the cycle.");

/// The check of [`JOB_GRAPH_CYCLE`].
pub(crate) struct JobGraphCycle;

impl Rule for JobGraphCycle {
    fn info(&self) -> &RuleInfo {
        &JOB_GRAPH_CYCLE
    }

    fn check(&self, f: &Facts<'_>, out: &mut Vec<Finding>) {
        let mut cyclic: Vec<usize> = f.cyclic.iter().copied().collect();
        cyclic.sort_unstable();
        for j in cyclic {
            if let Some(job) = f.p.jobs.get(j) {
                out.push(
                    self.finding(format!("job '{}' is part of a dependency cycle", job.label()))
                        .at(loc(f.file(j), job.pos, "job")),
                );
            }
        }
    }
}
