//! `pipeline-not-analysable`: parts of a pipeline the parser could not
//! follow (remote includes, missing templates). A whole Jenkinsfile that is
//! not declarative is reported by the driver with the same rule.

use std::collections::{HashMap, HashSet};

use portcullis_evidence::{Confidence, Finding, RuleInfo};

use super::facts::loc;
use super::{Facts, Rule};

rule!(PIPELINE_NOT_ANALYSABLE, "pipeline-not-analysable", "Pipeline or part of it not analysable", Medium,
    "A file or a referenced part could not be analysed (a template or reusable workflow in another repository, a remote include, a missing file or script), so gates in it are not seen.",
    "Give the auditor what the pipeline references: a local include, or a checkout of the other repository with --resolve ORG/REPO=PATH.");

/// The check of [`PIPELINE_NOT_ANALYSABLE`].
pub(crate) struct PipelineNotAnalysable;

impl Rule for PipelineNotAnalysable {
    fn info(&self) -> &RuleInfo {
        &PIPELINE_NOT_ANALYSABLE
    }

    fn check(&self, f: &Facts<'_>, out: &mut Vec<Finding>) {
        let p = f.p;
        // Many steps from one other repository are one blind spot: report the
        // first, with the count, rather than one finding per template line.
        let mut seen_repos: HashMap<&str, usize> = HashMap::new();
        for m in &p.unresolved {
            if let Some(r) = template_repo(&m.what) {
                *seen_repos.entry(r).or_insert(0) += 1;
            }
        }
        let mut reported_repos: HashSet<&str> = HashSet::new();
        for m in &p.unresolved {
            let repo = template_repo(&m.what);
            if let Some(r) = repo {
                if !reported_repos.insert(r) {
                    continue;
                }
            }
            let more = repo
                .and_then(|r| seen_repos.get(r))
                .filter(|n| **n > 1)
                .map(|n| {
                    format!(
                        " (and {} more templates from '{}')",
                        n - 1,
                        repo.unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            out.push(
                self.finding(format!(
                    "not analysed: {}{more}; gates defined there are not seen",
                    m.what
                ))
                .at(loc(m.file.as_deref().unwrap_or(&p.file), m.pos, "unresolved"))
                .confidence(Confidence::High),
            );
        }
    }
}

/// The repository alias of an unresolved `template: path@repo` marker.
fn template_repo(what: &str) -> Option<&str> {
    let rest = what.strip_prefix("template '")?;
    let tpl = rest.split('\'').next()?;
    let (_, repo) = tpl.rsplit_once('@')?;
    (!repo.is_empty()).then_some(repo)
}
