//! Argo Workflows and Tekton pipelines: Kubernetes documents with a DAG.
//!
//! Argo orders DAG tasks by `dependencies` or a `depends` expression, where
//! `task.Failed` or `task.Completed` lets a dependent run after a failure,
//! and `continueOn` ignores one; `suspend` is the human pause. Tekton orders
//! tasks by `runAfter`; `finally` tasks run whatever happened and
//! `onError: continue` ignores a failing step. A skipped task does not skip
//! its dependents in either system.

use crate::model::{Approval, Edge, Job, Marker, Pipeline, Step, System, Text, UserInput};
use crate::yaml::{Node, Value};

fn text_of(node: &Node) -> Option<Text> {
    match &node.value {
        Value::Str(..) => Text::from_node(node),
        _ => {
            let flat = node.flat_text();
            (!flat.trim().is_empty()).then(|| Text::new(flat.replace('\n', " "), node.pos))
        }
    }
}

/// Argo `depends` atoms: `(task, on_failure)`.
fn depends_atoms(expr: &str) -> Vec<(String, bool)> {
    expr.split(|c: char| c == '&' || c == '|' || c == '(' || c == ')' || c == '!' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(|atom| match atom.split_once('.') {
            Some((task, result)) => (
                task.to_string(),
                matches!(
                    result,
                    "Failed" | "Errored" | "Completed" | "AnyFailed" | "AllFailed" | "Omitted"
                ),
            ),
            None => (atom.to_string(), false),
        })
        .collect()
}

fn argo_template_steps(
    tpl: Option<&Node>,
    task_name: &str,
    pos: crate::yaml::Pos,
) -> (Vec<Step>, Option<Approval>) {
    let Some(tpl) = tpl else {
        return (Vec::new(), None);
    };
    let name = tpl.get_str("name").unwrap_or(task_name).to_string();
    if let Some(s) = tpl.get("suspend") {
        return (
            Vec::new(),
            Some(Approval {
                what: "suspend".into(),
                pos: s.pos,
                submitter: None,
                settings_only: false,
            }),
        );
    }
    let mut step = Step {
        name: Some(name),
        pos,
        ..Step::default()
    };
    let mut parts: Vec<Text> = Vec::new();
    if let Some(c) = tpl.get("container").or_else(|| tpl.get("script")) {
        for key in ["command", "args"] {
            if let Some(t) = c.get(key).and_then(text_of) {
                parts.push(t);
            }
        }
        if let Some(src) = c.get("source").and_then(Text::from_node) {
            parts.push(src);
        }
        if let Some(img) = c.get("image").and_then(Text::from_node) {
            step.uses = Some(img);
        }
    }
    if let Some(r) = tpl.get("resource") {
        if let Some(m) = r.get("manifest").and_then(Text::from_node) {
            let action = r.get_str("action").unwrap_or("apply");
            parts.push(Text {
                value: format!("kubectl {action}\n{}", m.value),
                ..m
            });
        }
    }
    if parts.len() == 1 {
        step.run = parts.pop();
    } else if let Some(first) = parts.first() {
        let pos = first.pos;
        step.run = Some(Text::new(
            parts
                .iter()
                .map(|t| t.value.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            pos,
        ));
    }
    (vec![step], None)
}

fn argo(file: &str, doc: &Node) -> Option<Pipeline> {
    let kind = doc.get_str("kind")?;
    let spec = match kind {
        "Workflow" | "WorkflowTemplate" | "ClusterWorkflowTemplate" => doc.get("spec")?,
        "CronWorkflow" => doc.get("spec")?.get("workflowSpec")?,
        _ => return None,
    };
    let mut p = Pipeline::new(file, System::Argo);
    if let Some(params) = spec
        .get("arguments")
        .and_then(|a| a.get("parameters"))
        .and_then(Node::as_seq)
    {
        for prm in params {
            if let Some(n) = prm.get("name") {
                p.inputs.push(UserInput {
                    name: n.as_str().unwrap_or_default().to_string(),
                    free_text: prm.get("enum").is_none(),
                    pos: n.pos,
                });
            }
        }
    }
    let templates = spec.get("templates").and_then(Node::as_seq).unwrap_or_default();
    let find = |name: &str| templates.iter().find(|t| t.get_str("name") == Some(name));
    let entry = spec
        .get_str("entrypoint")
        .and_then(find)
        .or_else(|| templates.first())?;
    let mut task_nodes: Vec<(Node, Vec<Edge>)> = Vec::new();
    if let Some(tasks) = entry
        .get("dag")
        .and_then(|d| d.get("tasks"))
        .and_then(Node::as_seq)
    {
        for t in tasks {
            let mut edges = Vec::new();
            for (d, pos) in t.get("dependencies").map(Node::str_items).unwrap_or_default() {
                edges.push(Edge {
                    to: d.to_string(),
                    optional: false,
                    on_failure: None,
                    pos,
                });
            }
            if let Some(dep) = t.get("depends") {
                let expr = dep.as_str().unwrap_or_default();
                for (to, fail) in depends_atoms(expr) {
                    if let Some(e) = edges.iter_mut().find(|e| e.to == to) {
                        if fail && e.on_failure.is_none() {
                            e.on_failure = Some(Marker::new(format!("depends: {expr}"), dep.pos));
                        }
                        continue;
                    }
                    edges.push(Edge {
                        to,
                        optional: false,
                        on_failure: fail.then(|| Marker::new(format!("depends: {expr}"), dep.pos)),
                        pos: dep.pos,
                    });
                }
            }
            task_nodes.push((t.clone(), edges));
        }
    } else if let Some(groups) = entry.get("steps").and_then(Node::as_seq) {
        let mut prev: Vec<String> = Vec::new();
        for g in groups {
            let items: Vec<&Node> = match g.as_seq() {
                Some(items) => items.iter().collect(),
                None => vec![g],
            };
            let mut names = Vec::new();
            for t in items {
                let edges = prev
                    .iter()
                    .map(|to| Edge {
                        to: to.clone(),
                        optional: false,
                        on_failure: None,
                        pos: t.pos,
                    })
                    .collect();
                names.push(t.get_str("name").unwrap_or_default().to_string());
                task_nodes.push((t.clone(), edges));
            }
            prev = names;
        }
    } else {
        let (steps, approval) = argo_template_steps(Some(entry), "main", entry.pos);
        p.jobs.push(Job {
            id: entry.get_str("name").unwrap_or("main").to_string(),
            pos: entry.pos,
            steps,
            approval,
            ..Job::default()
        });
        return Some(p);
    }
    for (t, edges) in task_nodes {
        let id_node = t.get("name");
        let id = id_node.and_then(Node::as_str).unwrap_or("task").to_string();
        let pos = id_node.map_or(t.pos, |n| n.pos);
        let tpl_name = t.get_str("template");
        let (mut steps, approval) = if let Some(tr) = t.get("templateRef") {
            let name = tr
                .get_str("template")
                .or_else(|| tr.get_str("name"))
                .unwrap_or("template");
            (
                vec![Step {
                    name: Some(name.to_string()),
                    pos,
                    uses: Some(Text::new(format!("templateRef {name}"), tr.pos)),
                    ..Step::default()
                }],
                None,
            )
        } else {
            argo_template_steps(tpl_name.and_then(find), &id, pos)
        };
        if let Some(args) = t
            .get("arguments")
            .and_then(|a| a.get("parameters"))
            .and_then(Node::as_seq)
        {
            for a in args {
                if let (Some(n), Some(v)) = (a.get_str("name"), a.get("value").and_then(Text::from_node)) {
                    for s in &mut steps {
                        s.with.push((n.to_string(), v.clone()));
                    }
                }
            }
        }
        let mut job = Job {
            id,
            pos,
            needs: edges,
            steps,
            approval,
            ..Job::default()
        };
        if let Some(w) = t.get("when").and_then(Text::from_node) {
            job.conditions.push(w);
        }
        if let Some(c) = t.get("continueOn") {
            if c.get("failed").is_some_and(Node::is_true) || c.get("error").is_some_and(Node::is_true) {
                let at = t.key_node("continueOn").map_or(c.pos, |k| k.pos);
                job.allow_failure = Some(Marker::new("continueOn", at));
            }
        }
        p.jobs.push(job);
    }
    if let Some(exit) = spec.get("onExit") {
        let name = exit.as_str().unwrap_or_default();
        let (steps, _) = argo_template_steps(find(name), name, exit.pos);
        let needs = p
            .jobs
            .iter()
            .map(|j| Edge {
                to: j.id.clone(),
                optional: false,
                on_failure: None,
                pos: exit.pos,
            })
            .collect();
        p.jobs.push(Job {
            id: format!("onExit:{name}"),
            pos: exit.pos,
            needs,
            steps,
            runs_on_failure: Some(Marker::new(format!("onExit: {name}"), exit.pos)),
            ..Job::default()
        });
    }
    Some(p)
}

fn tekton_steps(steps: &Node) -> Vec<Step> {
    steps
        .as_seq()
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let mut parts: Vec<Text> = Vec::new();
            for key in ["command", "args"] {
                if let Some(t) = s.get(key).and_then(text_of) {
                    parts.push(t);
                }
            }
            if let Some(t) = s.get("script").and_then(Text::from_node) {
                parts.push(t);
            }
            let run = if parts.len() == 1 {
                parts.pop()
            } else {
                parts.first().map(|f| {
                    Text::new(
                        parts
                            .iter()
                            .map(|t| t.value.as_str())
                            .collect::<Vec<_>>()
                            .join(" "),
                        f.pos,
                    )
                })
            };
            let allow_failure = s
                .get("onError")
                .filter(|v| v.as_str() == Some("continue"))
                .map(|v| Marker::new("onError: continue", v.pos));
            Step {
                name: s.get_str("name").map(str::to_string),
                pos: s.pos,
                run,
                allow_failure,
                ..Step::default()
            }
        })
        .collect()
}

fn tekton(file: &str, doc: &Node, all: &[Node]) -> Option<Pipeline> {
    let kind = doc.get_str("kind")?;
    let spec = match kind {
        "Pipeline" => doc.get("spec")?,
        "PipelineRun" => doc.get("spec")?.get("pipelineSpec")?,
        _ => return None,
    };
    let mut p = Pipeline::new(file, System::Tekton);
    for prm in spec.get("params").and_then(Node::as_seq).unwrap_or_default() {
        if let Some(n) = prm.get("name") {
            p.inputs.push(UserInput {
                name: n.as_str().unwrap_or_default().to_string(),
                free_text: prm.get_str("type").unwrap_or("string") == "string" && prm.get("enum").is_none(),
                pos: n.pos,
            });
        }
    }
    let task_def = |name: &str| {
        all.iter().find(|d| {
            d.get_str("kind") == Some("Task")
                && d.get("metadata").and_then(|m| m.get_str("name")) == Some(name)
        })
    };
    let tasks = spec.get("tasks").and_then(Node::as_seq).unwrap_or_default();
    let finally = spec.get("finally").and_then(Node::as_seq).unwrap_or_default();
    let main_ids: Vec<String> = tasks
        .iter()
        .filter_map(|t| t.get_str("name"))
        .map(str::to_string)
        .collect();
    for (t, is_finally) in tasks
        .iter()
        .map(|t| (t, false))
        .chain(finally.iter().map(|t| (t, true)))
    {
        let id_node = t.get("name");
        let id = id_node.and_then(Node::as_str).unwrap_or("task").to_string();
        let pos = id_node.map_or(t.pos, |n| n.pos);
        let mut job = Job {
            id,
            pos,
            ..Job::default()
        };
        for (to, epos) in t.get("runAfter").map(Node::str_items).unwrap_or_default() {
            job.needs.push(Edge {
                to: to.to_string(),
                optional: false,
                on_failure: None,
                pos: epos,
            });
        }
        if is_finally {
            job.runs_on_failure = Some(Marker::new("finally", pos));
            for to in &main_ids {
                job.needs.push(Edge {
                    to: to.clone(),
                    optional: false,
                    on_failure: None,
                    pos,
                });
            }
        }
        if let Some(w) = t.get("when").and_then(text_of) {
            job.conditions.push(w);
        }
        let mut with = Vec::new();
        for prm in t.get("params").and_then(Node::as_seq).unwrap_or_default() {
            if let (Some(n), Some(v)) = (prm.get_str("name"), prm.get("value").and_then(Text::from_node)) {
                with.push((n.to_string(), v));
            }
        }
        if let Some(spec) = t.get("taskSpec").and_then(|s| s.get("steps")) {
            job.steps = tekton_steps(spec);
        } else if let Some(tr) = t.get("taskRef") {
            let name = tr.get_str("name").unwrap_or("task");
            let tkind = tr.get_str("kind").unwrap_or("Task");
            if tkind == "ApprovalTask" || name.contains("approval") {
                job.approval = Some(Approval {
                    what: format!("taskRef {name}"),
                    pos: tr.pos,
                    submitter: None,
                    settings_only: false,
                });
            } else if let Some(def) = task_def(name)
                .and_then(|d| d.get("spec"))
                .and_then(|s| s.get("steps"))
            {
                job.steps = tekton_steps(def);
            } else {
                job.steps.push(Step {
                    name: Some(name.to_string()),
                    pos: tr.pos,
                    uses: Some(Text::new(format!("taskRef {name}"), tr.pos)),
                    ..Step::default()
                });
            }
        }
        for s in &mut job.steps {
            s.with.extend(with.iter().cloned());
        }
        p.jobs.push(job);
    }
    Some(p)
}

/// Lowers every Argo workflow or Tekton pipeline document of one file.
pub fn parse_all(file: &str, docs: &[Node]) -> Vec<Pipeline> {
    docs.iter()
        .filter_map(|d| {
            let api = d.get_str("apiVersion").unwrap_or_default();
            if api.starts_with("argoproj.io") {
                argo(file, d)
            } else if api.starts_with("tekton.dev") {
                tekton(file, d, docs)
            } else {
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_expressions_mark_failure_edges() {
        let atoms = depends_atoms("(eval.Succeeded || eval.Failed) && build");
        assert!(atoms.contains(&("eval".into(), true)));
        assert!(atoms.contains(&("build".into(), false)));
    }
}
