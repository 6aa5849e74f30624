//! GitHub Actions: workflows, reusable workflows and composite actions.
//!
//! Jobs are ordered by `needs`; a job skipped by its `if` skips its
//! dependents unless they opt out with a status function, which is why
//! `always()` and friends matter here. Environments are the approval
//! mechanism, but who must approve lives in repository settings.

use crate::model::{Approval, Edge, Job, Marker, Pipeline, Step, System, Text, UserInput};
use crate::yaml::Node;

/// Whether a GitHub `if:` (or `continue-on-error` expression) lets the job or
/// step run after an earlier failure.
pub fn runs_on_failure(cond: &str) -> bool {
    let c: String = cond
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    c.contains("always()")
        || c.contains("!cancelled()")
        || c.contains("failure()")
        || c.contains("cancelled()||")
        || c.contains(".result!='success'")
        || c.contains(".result=='failure'")
        || c.contains(".result!='failure'")
}

fn text(node: &Node) -> Option<Text> {
    Text::from_node(node)
}

fn allow_failure(node: &Node, key: &str) -> Option<Marker> {
    let v = node.get(key)?;
    let s = v.as_str()?;
    if v.is_true() || s.contains("${{") {
        Some(Marker::new(format!("{key}: {s}"), v.pos))
    } else {
        None
    }
}

fn parse_step(node: &Node) -> Step {
    let mut step = Step {
        name: node.get_str("name").map(str::to_string),
        pos: node.pos,
        run: node.get("run").and_then(text),
        uses: node.get("uses").and_then(text),
        allow_failure: allow_failure(node, "continue-on-error"),
        ..Step::default()
    };
    if let Some(with) = node.get("with").and_then(Node::as_map) {
        for (k, v) in with {
            if let (Some(k), Some(t)) = (k.as_str(), text(v)) {
                step.with.push((k.to_string(), t));
            }
        }
    }
    if let Some(cond) = node.get("if").and_then(text) {
        if runs_on_failure(&cond.value) {
            step.runs_on_failure = Some(Marker::new(format!("if: {}", cond.value), cond.pos));
        }
        step.conditions.push(cond);
    }
    step
}

fn parse_triggers(on: &Node, pipeline: &mut Pipeline) {
    match &on.value {
        crate::yaml::Value::Map(entries) => {
            for (k, v) in entries {
                let Some(name) = k.as_str() else { continue };
                pipeline.triggers.push(Text::new(name, k.pos));
                // Only a dispatch input is typed by the person starting the
                // run; a `workflow_call` input is set by the calling workflow,
                // which is audited where it is written.
                if name == "workflow_dispatch" {
                    if let Some(inputs) = v.get("inputs").and_then(Node::as_map) {
                        for (ik, iv) in inputs {
                            let Some(iname) = ik.as_str() else { continue };
                            let ty = iv.get_str("type").unwrap_or("string");
                            pipeline.inputs.push(UserInput {
                                name: iname.to_string(),
                                free_text: ty == "string" && iv.get("options").is_none(),
                                pos: ik.pos,
                            });
                        }
                    }
                }
                if name == "workflow_run" {
                    for (w, pos) in v.get("workflows").map(Node::str_items).unwrap_or_default() {
                        pipeline
                            .triggers
                            .push(Text::new(format!("workflow_run:{w}"), pos));
                    }
                }
            }
        }
        _ => {
            for (name, pos) in on.str_items() {
                pipeline.triggers.push(Text::new(name, pos));
            }
        }
    }
}

fn parse_job(id: &Node, node: &Node) -> Job {
    let mut job = Job {
        id: id.as_str().unwrap_or_default().to_string(),
        name: node.get_str("name").map(str::to_string),
        pos: id.pos,
        allow_failure: allow_failure(node, "continue-on-error"),
        ..Job::default()
    };
    if let Some(needs) = node.get("needs") {
        for (to, pos) in needs.str_items() {
            job.needs.push(Edge {
                to: to.to_string(),
                optional: false,
                on_failure: None,
                pos,
            });
        }
    }
    if let Some(cond) = node.get("if").and_then(text) {
        if runs_on_failure(&cond.value) {
            job.runs_on_failure = Some(Marker::new(format!("if: {}", cond.value), cond.pos));
        }
        job.conditions.push(cond);
    }
    if let Some(env) = node.get("environment") {
        let name = env.as_str().or_else(|| env.get_str("name"));
        let name_node = if env.as_str().is_some() {
            Some(env)
        } else {
            env.get("name")
        };
        if let (Some(name), Some(nn)) = (name, name_node) {
            job.environment = Some(Text::new(name, nn.pos));
            job.approval = Some(Approval {
                what: format!("environment: {name}"),
                pos: nn.pos,
                submitter: None,
                settings_only: true,
            });
        }
    }
    if let Some(uses) = node.get("uses").and_then(text) {
        let mut step = Step {
            name: job.name.clone(),
            pos: uses.pos,
            uses: Some(uses),
            ..Step::default()
        };
        if let Some(with) = node.get("with").and_then(Node::as_map) {
            for (k, v) in with {
                if let (Some(k), Some(t)) = (k.as_str(), text(v)) {
                    step.with.push((k.to_string(), t));
                }
            }
        }
        job.steps.push(step);
    }
    if let Some(steps) = node.get("steps").and_then(Node::as_seq) {
        job.steps.extend(steps.iter().map(parse_step));
    }
    job
}

/// Lowers a workflow (or composite action) document into a pipeline.
pub fn parse(file: &str, doc: &Node) -> Pipeline {
    let mut pipeline = Pipeline::new(file, System::GithubActions);
    if let Some(on) = doc.get("on").or_else(|| doc.get("true")) {
        parse_triggers(on, &mut pipeline);
    }
    if let Some(jobs) = doc.get("jobs").and_then(Node::as_map) {
        for (id, node) in jobs {
            pipeline.jobs.push(parse_job(id, node));
        }
    } else if let Some(runs) = doc.get("runs") {
        // A composite action: one job made of its steps.
        if let Some(inputs) = doc.get("inputs").and_then(Node::as_map) {
            for (ik, _) in inputs {
                if let Some(n) = ik.as_str() {
                    pipeline.inputs.push(UserInput {
                        name: n.to_string(),
                        free_text: false,
                        pos: ik.pos,
                    });
                }
            }
        }
        let mut job = Job {
            id: "composite".into(),
            name: doc.get_str("name").map(str::to_string),
            pos: runs.pos,
            ..Job::default()
        };
        if let Some(steps) = runs.get("steps").and_then(Node::as_seq) {
            job.steps.extend(steps.iter().map(parse_step));
        }
        pipeline.jobs.push(job);
    }
    pipeline
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{parse as parse_yaml, Limits, Pos};

    #[test]
    fn jobs_needs_conditions_and_environment_are_lowered_with_positions() {
        let src = "on:\n  push:\n  workflow_dispatch:\n    inputs:\n      target:\n        type: string\njobs:\n  eval:\n    runs-on: x\n    steps:\n      - run: pytest evals\n        continue-on-error: true\n  deploy:\n    needs: eval\n    if: always()\n    environment: prod\n    steps:\n      - name: ship\n        run: az ml online-deployment create\n";
        let docs = parse_yaml(src, Limits::default()).unwrap();
        let p = parse("w.yml", &docs[0]);
        assert_eq!(p.triggers.len(), 2);
        assert!(p.inputs[0].free_text);
        let eval = &p.jobs[0];
        assert_eq!(eval.steps[0].pos, Pos::new(11, 9));
        assert!(eval.steps[0].allow_failure.is_some());
        let deploy = &p.jobs[1];
        assert_eq!(deploy.needs[0].to, "eval");
        assert!(deploy.runs_on_failure.is_some());
        assert_eq!(deploy.approval.as_ref().unwrap().pos, Pos::new(16, 18));
    }
}
