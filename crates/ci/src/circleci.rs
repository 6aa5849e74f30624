//! CircleCI (`.circleci/config.yml`): each workflow is a pipeline whose jobs
//! are the workflow's job entries, ordered by `requires`; an entry of `type:
//! approval` is a hold that blocks the jobs requiring it. A job's steps come
//! from its definition under `jobs:` (`run` steps, orb commands as
//! references with their parameters).

use crate::model::{Approval, Edge, Job, Pipeline, Step, System, Text};
use crate::yaml::Node;

/// Lowers a CircleCI config into one pipeline per workflow.
pub fn parse_all(file: &str, doc: &Node) -> Vec<Pipeline> {
    let defs = doc.get("jobs");
    let mut out = Vec::new();
    let Some(workflows) = doc.get("workflows").and_then(Node::as_map) else {
        return out;
    };
    for (wname, wf) in workflows {
        let Some(wname) = wname.as_str() else { continue };
        if wname == "version" {
            continue;
        }
        let mut p = Pipeline::new(file, System::CircleCi);
        p.triggers.push(Text::new(format!("workflow {wname}"), wf.pos));
        for entry in wf.get("jobs").and_then(Node::as_seq).unwrap_or(&[]) {
            // `- train` or `- deploy: {requires: [...], name: ..., type: approval}`
            let (def_name, params, pos) = match entry.as_str() {
                Some(s) => (s.to_string(), None, entry.pos),
                None => match entry.as_map().and_then(|m| m.first()) {
                    Some((k, v)) => (k.as_str().unwrap_or_default().to_string(), Some(v), k.pos),
                    None => continue,
                },
            };
            let id = params
                .and_then(|v| v.get_str("name"))
                .map_or_else(|| def_name.clone(), str::to_string);
            let mut job = Job {
                id: id.clone(),
                pos,
                ..Job::default()
            };
            if let Some(v) = params {
                if let Some(r) = v.get("requires") {
                    for (to, p) in r.str_items() {
                        job.needs.push(Edge::after(to, p));
                    }
                }
                if let Some(t) = v.get("type").filter(|t| t.as_str() == Some("approval")) {
                    job.approval = Some(Approval {
                        what: "type: approval".into(),
                        pos: t.pos,
                        submitter: None,
                        settings_only: false,
                    });
                }
                if let Some(ctx) = v.get("context") {
                    if let Some((c, cp)) = ctx.str_items().first() {
                        job.environment = Some(Text::new(format!("context: {c}"), *cp));
                    }
                }
            }
            if job.approval.is_none() {
                match defs.and_then(|d| d.get(&def_name)) {
                    Some(def) => job.steps = steps(def),
                    None => {
                        // An orb job (`aws-ecr/build-and-push-image`): one
                        // reference step with its parameters.
                        let mut step = Step {
                            name: Some(def_name.clone()),
                            pos,
                            uses: Some(Text::new(def_name.clone(), pos)),
                            ..Step::default()
                        };
                        if let Some(m) = params.and_then(Node::as_map) {
                            for (k, v) in m {
                                if let (Some(k), Some(t)) = (k.as_str(), Text::from_node(v)) {
                                    step.with.push((k.to_string(), t));
                                }
                            }
                        }
                        job.steps.push(step);
                    }
                }
            }
            p.jobs.push(job);
        }
        out.push(p);
    }
    out
}

/// The steps of a job definition.
fn steps(def: &Node) -> Vec<Step> {
    let mut out = Vec::new();
    for s in def.get("steps").and_then(Node::as_seq).unwrap_or(&[]) {
        if let Some(name) = s.as_str() {
            // `- checkout`, or an orb command with no parameters.
            out.push(Step {
                pos: s.pos,
                uses: Some(Text::new(name, s.pos)),
                ..Step::default()
            });
            continue;
        }
        let Some((k, v)) = s.as_map().and_then(|m| m.first()) else {
            continue;
        };
        let Some(key) = k.as_str() else { continue };
        if key == "run" {
            let command = v.get("command").or(Some(v)).and_then(Text::from_node);
            out.push(Step {
                name: v.get_str("name").map(str::to_string),
                pos: k.pos,
                run: command,
                ..Step::default()
            });
        } else {
            let mut step = Step {
                name: v.get_str("name").map(str::to_string),
                pos: k.pos,
                uses: Some(Text::new(key, k.pos)),
                ..Step::default()
            };
            if let Some(m) = v.as_map() {
                for (pk, pv) in m {
                    if let (Some(pk), Some(t)) = (pk.as_str(), Text::from_node(pv)) {
                        step.with.push((pk.to_string(), t));
                    }
                }
            }
            out.push(step);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{parse, Limits};

    #[test]
    fn workflow_entries_become_jobs_with_requires_holds_and_orb_jobs() {
        let src = "version: 2.1\njobs:\n  build:\n    steps:\n      - checkout\n      - run: make\nworkflows:\n  main:\n    jobs:\n      - build\n      - hold:\n          type: approval\n          requires: [build]\n      - aws-ecr/build-and-push-image:\n          name: push\n          repo: model-server\n          requires: [hold]\n";
        let doc = parse(src, Limits::default()).unwrap();
        let p = &parse_all(".circleci/config.yml", &doc[0])[0];
        assert_eq!(
            p.jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
            ["build", "hold", "push"]
        );
        assert_eq!(p.jobs[0].steps[1].run.as_ref().unwrap().value, "make");
        assert!(p.jobs[1].approval.is_some() && p.jobs[1].steps.is_empty());
        let push = &p.jobs[2];
        assert_eq!(push.needs[0].to, "hold");
        assert_eq!(
            push.steps[0].uses.as_ref().unwrap().value,
            "aws-ecr/build-and-push-image"
        );
        assert!(push.steps[0]
            .with
            .iter()
            .any(|(k, v)| k == "repo" && v.value == "model-server"));
    }
}
