//! Azure Pipelines: stages, jobs, deployment jobs and same-repo templates.
//!
//! Stages run in order unless `dependsOn` says otherwise; jobs in a stage run
//! in parallel unless they depend on each other. A skipped dependency skips
//! its dependents under the default `succeeded()` condition, so what matters
//! are conditions like `always()` and `succeededOrFailed()`. Approvals and
//! checks are attached to environments in project settings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::load::Loader;
use crate::model::{Approval, Edge, Job, Marker, Pipeline, Step, System, Text, UserInput};
use crate::yaml::{Node, Value};

const MAX_TEMPLATE_DEPTH: usize = 8;

/// Whether an Azure condition also runs after a failure.
pub fn runs_on_failure(cond: &str) -> bool {
    let c: String = cond
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    c.contains("always()")
        || c.contains("succeededorfailed()")
        || c.contains("failed()")
        || c.contains("not(canceled())")
}

/// An item after template expansion: the node, the file it came from (when
/// not the including one) and the directory its own templates resolve in.
type Expanded = (Node, Option<String>, PathBuf);

struct Ctx<'a, 'b> {
    loader: &'a Loader<'b>,
    pipeline: &'a mut Pipeline,
    /// `resources.repositories`: alias to repository name (`org/repo`).
    repositories: BTreeMap<String, String>,
}

impl Ctx<'_, '_> {
    /// Expands `- template: x.yml` items of a list under `key`. Each item
    /// comes with the file it is written in (`None`: the including file) and
    /// that file's directory, which templates it references in turn are
    /// relative to.
    ///
    /// `from` is the including file when it is a template (`None`: the
    /// pipeline's own file), for markers placed in it.
    fn expand(
        &mut self,
        items: &[Node],
        key: &str,
        dir: &Path,
        from: Option<&str>,
        depth: usize,
    ) -> Vec<Expanded> {
        let mut out = Vec::new();
        for item in items {
            let Some(tpl) = item.get_str("template") else {
                out.push((item.clone(), None, dir.to_path_buf()));
                continue;
            };
            let pos = item.get("template").map_or(item.pos, |n| n.pos);
            // `x.yml@alias`: a repository resource, read when its checkout
            // was given (`--resolve org/repo=PATH`); `@self` is this one.
            let (file, repo) = match tpl.rsplit_once('@') {
                Some((f, "self")) => (f, None),
                Some((f, alias)) => (f, Some(alias)),
                None => (tpl, None),
            };
            let checkout = repo.and_then(|alias| {
                let name = self.repositories.get(alias)?;
                self.loader
                    .resolve
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            });
            if (repo.is_some() && checkout.is_none()) || tpl.contains("${{") || depth >= MAX_TEMPLATE_DEPTH {
                let hint = repo
                    .and_then(|a| self.repositories.get(a))
                    .map(|name| format!("; pass --resolve {name}=PATH to read it"))
                    .unwrap_or_default();
                let mut m = Marker::new(
                    format!("template '{tpl}' (another repository or computed{hint})"),
                    pos,
                );
                m.file = from.map(str::to_string);
                self.pipeline.unresolved.push(m);
                continue;
            }
            let path = match (&checkout, file.strip_prefix('/')) {
                (Some(c), _) => c.join(file.trim_start_matches('/')),
                (None, Some(rest)) => self.loader.root.join(rest),
                (None, None) => dir.join(file),
            };
            match self.loader.load(&path) {
                Ok(docs) => {
                    let shown = path
                        .strip_prefix(&self.loader.root)
                        .unwrap_or(&path)
                        .to_string_lossy()
                        .replace('\\', "/");
                    let sub_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                    if let Some(list) = docs.first().and_then(|d| d.get(key)).and_then(Node::as_seq) {
                        for (n, f, d) in self.expand(list, key, &sub_dir, Some(&shown), depth + 1) {
                            out.push((n, f.or_else(|| Some(shown.clone())), d));
                        }
                    }
                }
                Err(e) => {
                    let mut m = Marker::new(format!("template '{tpl}': {e}"), pos);
                    m.file = from.map(str::to_string);
                    self.pipeline.unresolved.push(m);
                }
            }
        }
        out
    }
}

fn parse_step(node: &Node) -> Option<Step> {
    let mut step = Step {
        name: node
            .get_str("displayName")
            .or_else(|| node.get_str("name"))
            .map(str::to_string),
        pos: node.pos,
        ..Step::default()
    };
    for key in ["script", "bash", "pwsh", "powershell"] {
        if let Some(t) = node.get(key).and_then(Text::from_node) {
            step.run = Some(t);
        }
    }
    if let Some(task) = node.get("task").and_then(Text::from_node) {
        if let Some(inputs) = node.get("inputs").and_then(Node::as_map) {
            for (k, v) in inputs {
                let (Some(k), Some(t)) = (k.as_str(), Text::from_node(v)) else {
                    continue;
                };
                if matches!(k, "inlineScript" | "script" | "Inline" | "arguments") && step.run.is_none() {
                    step.run = Some(t.clone());
                }
                step.with.push((k.to_string(), t));
            }
        }
        step.uses = Some(task);
    }
    if step.run.is_none() && step.uses.is_none() {
        return None;
    }
    if let Some(c) = node.get("condition").and_then(Text::from_node) {
        if runs_on_failure(&c.value) {
            step.runs_on_failure = Some(Marker::new(format!("condition: {}", c.value), c.pos));
        }
        step.conditions.push(c);
    }
    if let Some(v) = node.get("continueOnError") {
        if v.is_true() {
            step.allow_failure = Some(Marker::new("continueOnError: true", v.pos));
        }
    }
    Some(step)
}

fn collect_strategy_steps(node: &Node, out: &mut Vec<Node>, depth: usize) {
    if depth > 6 {
        return;
    }
    if let Some(steps) = node.get("steps").and_then(Node::as_seq) {
        out.extend(steps.iter().cloned());
    }
    for (_, v) in node.as_map().unwrap_or_default() {
        if v.as_map().is_some() {
            collect_strategy_steps(v, out, depth + 1);
        }
    }
}

fn parse_job(ctx: &mut Ctx<'_, '_>, node: &Node, prefix: &str, dir: &Path, file: Option<String>) -> Job {
    let (name_node, deployment) = match node.get("deployment") {
        Some(n) => (Some(n), true),
        None => (node.get("job"), false),
    };
    let name = name_node.and_then(Node::as_str).unwrap_or("job").to_string();
    let mut job = Job {
        id: format!("{prefix}{name}"),
        name: node.get_str("displayName").map(str::to_string),
        pos: name_node.map_or(node.pos, |n| n.pos),
        file,
        ..Job::default()
    };
    for (dep, pos) in node.get("dependsOn").map(Node::str_items).unwrap_or_default() {
        job.needs.push(Edge {
            to: format!("{prefix}{dep}"),
            optional: false,
            on_failure: None,
            pos,
        });
    }
    if let Some(c) = node.get("condition").and_then(Text::from_node) {
        if runs_on_failure(&c.value) {
            job.runs_on_failure = Some(Marker::new(format!("condition: {}", c.value), c.pos));
        }
        job.conditions.push(c);
    }
    if let Some(v) = node.get("continueOnError") {
        if v.is_true() {
            job.allow_failure = Some(Marker::new("continueOnError: true", v.pos));
        }
    }
    if deployment {
        if let Some(env) = node.get("environment") {
            let nn = if env.as_str().is_some() {
                Some(env)
            } else {
                env.get("name")
            };
            if let Some(nn) = nn {
                let n = nn.as_str().unwrap_or_default();
                job.environment = Some(Text::new(n, nn.pos));
                job.approval = Some(Approval {
                    what: format!("environment: {n}"),
                    pos: nn.pos,
                    submitter: None,
                    settings_only: true,
                });
            }
        }
    }
    let mut raw_steps: Vec<Node> = Vec::new();
    if let Some(steps) = node.get("steps").and_then(Node::as_seq) {
        raw_steps.extend(steps.iter().cloned());
    }
    if let Some(strategy) = node.get("strategy") {
        collect_strategy_steps(strategy, &mut raw_steps, 0);
    }
    let job_file = job.file.clone();
    for (s, step_file, _) in ctx.expand(&raw_steps, "steps", dir, job_file.as_deref(), 0) {
        if let Some(mut step) = parse_step(&s) {
            step.file = step_file;
            if step
                .uses
                .as_ref()
                .is_some_and(|u| u.value.starts_with("ManualValidation"))
            {
                job.approval = Some(Approval {
                    what: "ManualValidation task".into(),
                    pos: step.pos,
                    submitter: None,
                    settings_only: false,
                });
            }
            job.steps.push(step);
        }
    }
    job
}

/// Lowers an Azure Pipelines document (with same-repo templates) into a pipeline.
pub fn parse(file: &str, path: &Path, doc: &Node, loader: &Loader<'_>) -> Pipeline {
    let mut pipeline = Pipeline::new(file, System::AzurePipelines);
    for key in ["trigger", "pr", "schedules"] {
        if let Some(k) = doc.key_node(key) {
            pipeline.triggers.push(Text::new(key, k.pos));
        }
    }
    if let Some(params) = doc.get("parameters").and_then(Node::as_seq) {
        for p in params {
            let Some(name) = p.get("name") else { continue };
            let ty = p.get_str("type").unwrap_or("string");
            pipeline.inputs.push(UserInput {
                name: name.as_str().unwrap_or_default().to_string(),
                free_text: ty == "string" && p.get("values").is_none(),
                pos: name.pos,
            });
        }
    }
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut jobs: Vec<Job> = Vec::new();
    {
        let repositories = doc
            .get("resources")
            .and_then(|r| r.get("repositories"))
            .and_then(Node::as_seq)
            .map(|repos| {
                repos
                    .iter()
                    .filter_map(|r| {
                        Some((
                            r.get_str("repository")?.to_string(),
                            r.get_str("name")?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut ctx = Ctx {
            loader,
            pipeline: &mut pipeline,
            repositories,
        };
        if let Some(stages) = doc.get("stages").and_then(Node::as_seq) {
            let stages = ctx.expand(stages, "stages", &dir, None, 0);
            let mut stage_jobs: Vec<(String, Vec<String>)> = Vec::new();
            let mut prev: Option<String> = None;
            for (stage, file, stage_dir) in &stages {
                let sname = stage.get_str("stage").unwrap_or("stage").to_string();
                let prefix = format!("{sname}.");
                let deps: Vec<String> = match stage.get("dependsOn") {
                    Some(d) => d.str_items().iter().map(|(s, _)| (*s).to_string()).collect(),
                    None => prev.iter().cloned().collect(),
                };
                let stage_cond = stage.get("condition").and_then(Text::from_node);
                let raw = stage
                    .get("jobs")
                    .and_then(Node::as_seq)
                    .unwrap_or_default()
                    .to_vec();
                let mut ids = Vec::new();
                for (jn, jf, job_dir) in ctx.expand(&raw, "jobs", stage_dir, file.as_deref(), 0) {
                    let mut job = parse_job(&mut ctx, &jn, &prefix, &job_dir, jf.or_else(|| file.clone()));
                    for d in &deps {
                        if let Some((_, dj)) = stage_jobs.iter().find(|(n, _)| n == d) {
                            for id in dj {
                                job.needs.push(Edge {
                                    to: id.clone(),
                                    optional: false,
                                    on_failure: None,
                                    pos: stage.pos,
                                });
                            }
                        }
                    }
                    if let Some(c) = &stage_cond {
                        if runs_on_failure(&c.value) && job.runs_on_failure.is_none() {
                            job.runs_on_failure = Some(Marker::new(format!("condition: {}", c.value), c.pos));
                        }
                        job.conditions.push(c.clone());
                    }
                    ids.push(job.id.clone());
                    jobs.push(job);
                }
                stage_jobs.push((sname.clone(), ids));
                prev = Some(sname);
            }
        } else if let Some(list) = doc.get("jobs").and_then(Node::as_seq) {
            for (jn, jf, job_dir) in ctx.expand(list, "jobs", &dir, None, 0) {
                jobs.push(parse_job(&mut ctx, &jn, "", &job_dir, jf));
            }
        } else if doc.get("steps").is_some() {
            let mut job = parse_job(&mut ctx, doc, "", &dir, None);
            job.pos = doc.key_node("steps").map_or(doc.pos, |k| k.pos);
            jobs.push(job);
        }
    }
    if let Value::Map(_) = &doc.value {
        pipeline.jobs = jobs;
    }
    pipeline
}
