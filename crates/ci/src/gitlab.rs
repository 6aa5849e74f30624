//! GitLab CI: `.gitlab-ci.yml` with local `include:`, `extends:` and anchors.
//!
//! Jobs are ordered by stage unless they declare `needs:`; a job left out of
//! the pipeline by its `rules:` does not stop later stages, which is how a
//! gate limited to merge requests gets bypassed on the default branch.
//! Manual jobs are allowed to fail by default, so a manual "approve" job only
//! blocks with `allow_failure: false`. Protected environments and their
//! approvers are project settings, invisible here.

use std::path::Path;

use crate::load::Loader;
use crate::model::{Approval, Edge, Job, Marker, Pipeline, Step, System, Text, UserInput};
use crate::yaml::{Node, Pos, Value};

const RESERVED: &[&str] = &[
    "image",
    "services",
    "stages",
    "types",
    "before_script",
    "after_script",
    "variables",
    "cache",
    "include",
    "default",
    "workflow",
    "spec",
];

const MAX_INCLUDES: usize = 64;

/// A top-level entry and the file it came from (None: the main file).
type Entry = (Node, Node, Option<String>);

fn collect_includes(
    doc: &Node,
    from: Option<&str>,
    loader: &Loader<'_>,
    out: &mut Vec<Entry>,
    unresolved: &mut Vec<Marker>,
    budget: &mut usize,
    depth: usize,
) {
    let Some(inc) = doc.get("include") else {
        return;
    };
    let items: Vec<&Node> = match &inc.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![inc],
    };
    for item in items {
        let (local, pos) = match (&item.value, item.get("local")) {
            (Value::Str(s, _), _) if !s.contains("://") => (Some(s.clone()), item.pos),
            (_, Some(l)) => (l.as_str().map(str::to_string), l.pos),
            _ => (None, item.pos),
        };
        let Some(local) = local else {
            let what = if item.get("remote").is_some() || item.as_str().is_some() {
                "remote include"
            } else if item.get("project").is_some() {
                "include from another project"
            } else if item.get("template").is_some() {
                "GitLab template include"
            } else {
                "include"
            };
            unresolved.push(Marker::new(what, pos));
            continue;
        };
        if local.contains('*') || local.contains('$') {
            unresolved.push(Marker::new(
                format!("include of '{local}' (wildcard or variable)"),
                pos,
            ));
            continue;
        }
        if *budget == 0 || depth > 8 {
            unresolved.push(Marker::new(
                format!("include of '{local}' (include limit reached)"),
                pos,
            ));
            continue;
        }
        *budget -= 1;
        let rel = local.trim_start_matches('/');
        let path = loader.root.join(rel);
        match loader.load(&path) {
            Ok(docs) => {
                if let Some(d) = docs.first() {
                    let shown = rel.to_string();
                    collect_includes(d, Some(&shown), loader, out, unresolved, budget, depth + 1);
                    for (k, v) in d.as_map().unwrap_or_default() {
                        out.push((k.clone(), v.clone(), Some(shown.clone())));
                    }
                }
            }
            Err(e) => unresolved.push(Marker::new(format!("include of '{local}': {e}"), pos)),
        }
    }
    let _ = from;
}

/// Deep-merges `over` onto `base` (maps merge, everything else replaces).
fn deep_merge(base: &Node, over: &Node) -> Node {
    match (&base.value, &over.value) {
        (Value::Map(b), Value::Map(o)) => {
            let mut entries: Vec<(Node, Node)> = b.clone();
            for (ok, ov) in o {
                if let Some(slot) = entries.iter_mut().find(|(k, _)| k.as_str() == ok.as_str()) {
                    slot.1 = deep_merge(&slot.1, ov);
                } else {
                    entries.push((ok.clone(), ov.clone()));
                }
            }
            Node {
                value: Value::Map(entries),
                pos: over.pos,
            }
        }
        _ => over.clone(),
    }
}

fn resolve_extends(node: &Node, entries: &[Entry], depth: usize) -> Node {
    let Some(ext) = node.get("extends") else {
        return node.clone();
    };
    if depth > 10 {
        return node.clone();
    }
    let mut base: Option<Node> = None;
    for (name, _) in ext.str_items() {
        if let Some((_, tpl, _)) = entries.iter().rev().find(|(k, _, _)| k.as_str() == Some(name)) {
            let tpl = resolve_extends(tpl, entries, depth + 1);
            base = Some(match base {
                None => tpl,
                Some(b) => deep_merge(&b, &tpl),
            });
        }
    }
    match base {
        Some(b) => deep_merge(&b, node),
        None => node.clone(),
    }
}

fn script_steps(job: &Node, key: &str) -> Vec<Step> {
    let Some(script) = job.get(key) else {
        return Vec::new();
    };
    let items: Vec<&Node> = match &script.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![script],
    };
    items
        .into_iter()
        .filter_map(|n| {
            Text::from_node(n).map(|t| Step {
                pos: n.pos,
                run: Some(t),
                ..Step::default()
            })
        })
        .collect()
}

fn when_markers(job: &mut Job, when: &Node, allow_false: bool) {
    match when.as_str() {
        Some("manual") => {
            job.manual = Some((Marker::new("when: manual", when.pos), allow_false));
        }
        Some(w @ ("always" | "on_failure")) => {
            job.runs_on_failure = Some(Marker::new(format!("when: {w}"), when.pos));
        }
        _ => {}
    }
}

fn parse_job(id: &Node, node: &Node, file: Option<String>) -> (Job, String) {
    let stage = node.get_str("stage").unwrap_or("test").to_string();
    let mut job = Job {
        id: id.as_str().unwrap_or_default().to_string(),
        pos: id.pos,
        file,
        ..Job::default()
    };
    let allow = node.get("allow_failure");
    let allow_false = allow.is_some_and(Node::is_false);
    if let Some(a) = allow {
        if a.is_true() || a.as_map().is_some() {
            let at = node.key_node("allow_failure").map_or(a.pos, |k| k.pos);
            job.allow_failure = Some(Marker::new("allow_failure: true", at));
        }
    }
    if let Some(when) = node.get("when") {
        when_markers(&mut job, when, allow_false);
    }
    if let Some(rules) = node.get("rules").and_then(Node::as_seq) {
        for r in rules {
            let when = r.get_str("when").unwrap_or("on_success");
            if let Some(cond) = r.get("if").and_then(Text::from_node) {
                let cond = if when == "never" {
                    Text::new(format!("not({})", cond.value), cond.pos)
                } else {
                    cond
                };
                job.conditions.push(cond);
            }
            let rule_allow_false = r.get("allow_failure").map_or(allow_false, Node::is_false);
            if let Some(w) = r.get("when") {
                when_markers(&mut job, w, rule_allow_false);
            }
            if let Some(a) = r.get("allow_failure") {
                if a.is_true() {
                    job.allow_failure = Some(Marker::new("allow_failure: true", a.pos));
                }
            }
        }
    }
    for key in ["only", "except"] {
        if let (Some(k), Some(v)) = (node.key_node(key), node.get(key)) {
            let list: Vec<String> = match v.get("refs") {
                Some(refs) => refs.str_items().iter().map(|(s, _)| s.to_string()).collect(),
                None => v.str_items().iter().map(|(s, _)| s.to_string()).collect(),
            };
            job.conditions
                .push(Text::new(format!("{key}: {}", list.join(", ")), k.pos));
        }
    }
    if let Some(env) = node.get("environment") {
        let name_node = if env.as_str().is_some() {
            Some(env)
        } else {
            env.get("name")
        };
        let action = env.get_str("action").unwrap_or("start");
        if let Some(nn) = name_node {
            if let Some(name) = nn.as_str() {
                job.environment = Some(Text::new(name, nn.pos));
                if action == "start" {
                    job.approval = Some(Approval {
                        what: format!("environment: {name}"),
                        pos: nn.pos,
                        submitter: None,
                        settings_only: true,
                    });
                }
            }
        }
    }
    if let Some(needs) = node.get("needs") {
        match needs.as_seq() {
            Some([]) => job.empty_needs = Some(needs.pos),
            Some(items) => {
                for n in items {
                    let (to, optional) = match n.as_str() {
                        Some(s) => (Some(s.to_string()), false),
                        None => (
                            n.get_str("job").map(str::to_string),
                            n.get("optional").is_some_and(Node::is_true),
                        ),
                    };
                    if let Some(to) = to {
                        job.needs.push(Edge {
                            to,
                            optional,
                            on_failure: None,
                            pos: n.pos,
                        });
                    }
                }
            }
            None => {}
        }
    }
    job.steps.extend(script_steps(node, "before_script"));
    job.steps.extend(script_steps(node, "script"));
    if let Some(t) = node.get("trigger") {
        let what = t
            .as_str()
            .or_else(|| t.get_str("include"))
            .or_else(|| t.get_str("project"))
            .unwrap_or("child pipeline");
        job.steps.push(Step {
            pos: t.pos,
            uses: Some(Text::new(format!("trigger {what}"), t.pos)),
            ..Step::default()
        });
    }
    (job, stage)
}

fn default_stages() -> Vec<String> {
    [".pre", "build", "test", "deploy", ".post"]
        .iter()
        .map(|s| (*s).to_string())
        .collect()
}

/// Lowers a `.gitlab-ci.yml` document (with its local includes) into a pipeline.
pub fn parse(file: &str, path: &Path, doc: &Node, loader: &Loader<'_>) -> Pipeline {
    let mut pipeline = Pipeline::new(file, System::GitlabCi);
    let mut entries: Vec<Entry> = Vec::new();
    let mut budget = MAX_INCLUDES;
    collect_includes(
        doc,
        None,
        loader,
        &mut entries,
        &mut pipeline.unresolved,
        &mut budget,
        0,
    );
    let _ = path;
    for (k, v) in doc.as_map().unwrap_or_default() {
        entries.push((k.clone(), v.clone(), None));
    }
    // Later definitions win, as GitLab merges the main file over includes.
    let mut stages = default_stages();
    if let Some((_, s, _)) = entries
        .iter()
        .rev()
        .find(|(k, _, _)| k.as_str() == Some("stages"))
    {
        let mut list: Vec<String> = vec![".pre".into()];
        list.extend(s.str_items().iter().map(|(x, _)| (*x).to_string()));
        list.push(".post".into());
        stages = list;
    }
    if let Some((_, vars, _)) = entries
        .iter()
        .rev()
        .find(|(k, _, _)| k.as_str() == Some("variables"))
    {
        for (k, v) in vars.as_map().unwrap_or_default() {
            if v.get("description").is_some() {
                pipeline.inputs.push(UserInput {
                    name: k.as_str().unwrap_or_default().to_string(),
                    free_text: v.get("options").is_none(),
                    pos: k.pos,
                });
            }
        }
    }
    let mut jobs: Vec<(Job, usize)> = Vec::new();
    for (i, (k, v, from)) in entries.iter().enumerate() {
        let Some(name) = k.as_str() else { continue };
        if name.starts_with('.') || RESERVED.contains(&name) || v.as_map().is_none() {
            continue;
        }
        if entries
            .iter()
            .skip(i + 1)
            .any(|(k2, _, _)| k2.as_str() == Some(name))
        {
            continue; // overridden later
        }
        let resolved = resolve_extends(v, &entries, 0);
        let (job, stage) = parse_job(k, &resolved, from.clone());
        let idx = stages.iter().position(|s| *s == stage).unwrap_or(usize::MAX);
        jobs.push((job, idx));
    }
    // Stage order: without `needs`, a job waits for every job of earlier stages.
    let snapshot: Vec<(String, usize)> = jobs.iter().map(|(j, s)| (j.id.clone(), *s)).collect();
    for (job, stage) in &mut jobs {
        if job.needs.is_empty() && job.empty_needs.is_none() {
            let pos: Pos = job.pos;
            for (id, s) in &snapshot {
                if s < stage {
                    job.needs.push(Edge {
                        to: id.clone(),
                        optional: false,
                        on_failure: None,
                        pos,
                    });
                }
            }
        }
    }
    pipeline.jobs = jobs.into_iter().map(|(j, _)| j).collect();
    pipeline
}
