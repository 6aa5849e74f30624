//! Bitbucket Pipelines (`bitbucket-pipelines.yml`): each pipeline (`default`,
//! `branches: x`, `tags: x`, `pull-requests: x`, `custom: x`) runs its steps
//! in order, a `parallel` group side by side; `trigger: manual` makes a step
//! wait for a person, and `deployment:` names its environment (whose
//! permissions live in repository settings).

use crate::model::{Approval, Edge, Job, Pipeline, Step, System, Text};
use crate::yaml::Node;

/// Lowers a Bitbucket Pipelines file into one pipeline per pipeline entry.
pub fn parse_all(file: &str, doc: &Node) -> Vec<Pipeline> {
    let mut out = Vec::new();
    let Some(pipelines) = doc.get("pipelines") else {
        return out;
    };
    let mut named: Vec<(String, &Node)> = Vec::new();
    if let Some(d) = pipelines.get("default") {
        named.push(("default".into(), d));
    }
    for group in ["branches", "tags", "pull-requests", "custom", "bookmarks"] {
        for (k, v) in pipelines.get(group).and_then(Node::as_map).unwrap_or(&[]) {
            named.push((format!("{group}: {}", k.as_str().unwrap_or("?")), v));
        }
    }
    for (name, items) in named {
        let mut p = Pipeline::new(file, System::Bitbucket);
        p.triggers.push(Text::new(name.clone(), items.pos));
        let mut previous: Vec<String> = Vec::new();
        for item in items.as_seq().unwrap_or(&[]) {
            let mut group: Vec<&Node> = Vec::new();
            if let Some(s) = item.get("step") {
                group.push(s);
            } else if let Some(par) = item.get("parallel") {
                let list = par
                    .get("steps")
                    .and_then(Node::as_seq)
                    .or(par.as_seq())
                    .unwrap_or(&[]);
                group.extend(list.iter().filter_map(|n| n.get("step")));
            }
            let mut ids = Vec::new();
            for s in group {
                let id = format!("{}#{}", s.get_str("name").unwrap_or("step"), p.jobs.len() + 1);
                let mut job = Job {
                    id: id.clone(),
                    name: s.get_str("name").map(str::to_string),
                    pos: s.pos,
                    needs: previous.iter().map(|to| Edge::after(to, s.pos)).collect(),
                    ..Job::default()
                };
                if let Some(t) = s.get("trigger").filter(|t| t.as_str() == Some("manual")) {
                    job.approval = Some(Approval {
                        what: "trigger: manual".into(),
                        pos: t.pos,
                        submitter: None,
                        settings_only: true,
                    });
                }
                if let Some(d) = s.get("deployment").and_then(Text::from_node) {
                    job.environment = Some(d);
                }
                for line in s.get("script").and_then(Node::as_seq).unwrap_or(&[]) {
                    if let Some(t) = Text::from_node(line) {
                        job.steps.push(Step {
                            pos: line.pos,
                            run: Some(t),
                            ..Step::default()
                        });
                    } else if let Some(pipe) = line.get("pipe").and_then(Text::from_node) {
                        // `- pipe: atlassian/aws-sagemaker-deploy:1.0` with variables.
                        let mut step = Step {
                            pos: line.pos,
                            uses: Some(pipe),
                            ..Step::default()
                        };
                        for (k, v) in line.get("variables").and_then(Node::as_map).unwrap_or(&[]) {
                            if let (Some(k), Some(t)) = (k.as_str(), Text::from_node(v)) {
                                step.with.push((k.to_string(), t));
                            }
                        }
                        job.steps.push(step);
                    }
                }
                ids.push(id);
                p.jobs.push(job);
            }
            if !ids.is_empty() {
                previous = ids;
            }
        }
        out.push(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{parse, Limits};

    #[test]
    fn steps_run_in_order_and_a_parallel_group_side_by_side() {
        let src = "pipelines:\n  default:\n    - step:\n        name: a\n        script: [make a]\n    - parallel:\n        - step:\n            name: b\n            script: [make b]\n        - step:\n            name: c\n            script: [make c]\n    - step:\n        name: d\n        trigger: manual\n        script:\n          - pipe: atlassian/aws-s3-deploy:1.1.0\n            variables:\n              S3_BUCKET: models\n";
        let doc = parse(src, Limits::default()).unwrap();
        let p = &parse_all("bitbucket-pipelines.yml", &doc[0])[0];
        let needs = |i: usize| p.jobs[i].needs.iter().map(|e| e.to.clone()).collect::<Vec<_>>();
        assert_eq!(p.jobs.len(), 4);
        assert_eq!(needs(1), vec!["a#1"]);
        assert_eq!(needs(2), vec!["a#1"]);
        assert_eq!(needs(3), vec!["b#2", "c#3"]);
        assert!(p.jobs[3].approval.is_some());
        assert_eq!(
            p.jobs[3].steps[0].uses.as_ref().unwrap().value,
            "atlassian/aws-s3-deploy:1.1.0"
        );
    }
}
