//! AWS CodeBuild (`buildspec*.yml`): the phases `install`, `pre_build`,
//! `build` and `post_build` run in that order, each a job of its
//! `commands`; `on-failure: CONTINUE` lets the build go on after a phase
//! fails. A CodePipeline manual approval lives outside the buildspec.

use crate::model::{Edge, Job, Marker, Pipeline, Step, System, Text};
use crate::yaml::Node;

const PHASES: &[&str] = &["install", "pre_build", "build", "post_build"];

/// Lowers a buildspec.
pub fn parse(file: &str, doc: &Node) -> Pipeline {
    let mut p = Pipeline::new(file, System::CodeBuild);
    let Some(phases) = doc.get("phases") else {
        return p;
    };
    let mut previous: Option<String> = None;
    for name in PHASES {
        let Some(phase) = phases.get(name) else { continue };
        let mut job = Job {
            id: (*name).to_string(),
            pos: phase.pos,
            needs: previous.iter().map(|to| Edge::after(to, phase.pos)).collect(),
            ..Job::default()
        };
        if let Some(f) = phase
            .get("on-failure")
            .filter(|f| f.as_str().is_some_and(|v| v.eq_ignore_ascii_case("continue")))
        {
            job.allow_failure = Some(Marker::new("on-failure: CONTINUE", f.pos));
        }
        for c in phase.get("commands").and_then(Node::as_seq).unwrap_or(&[]) {
            if let Some(t) = Text::from_node(c) {
                job.steps.push(Step {
                    pos: c.pos,
                    run: Some(t),
                    ..Step::default()
                });
            }
        }
        previous = Some((*name).to_string());
        p.jobs.push(job);
    }
    p
}
