//! The driver: discover files, detect their CI system, parse, run the rules,
//! apply ignores and severity overrides, and sort the result.
//!
//! A file that fails is recorded with its reason and never stops the audit
//! of the others; the caller decides the exit code from [`AuditReport`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use portcullis_evidence::{Finding, Severity};

use crate::config::AuditConfig;
use crate::load::{display, Loader};
use crate::model::{Pipeline, System};
use crate::yaml::{self, Limits, Node};
use crate::{
    azure, bitbucket, circleci, cloudbuild, codebuild, github, gitlab, jenkins, k8s, rules, scripts,
};

/// How to audit.
#[derive(Debug, Clone)]
pub struct AuditOptions {
    /// Ignores and severity overrides.
    pub config: Option<AuditConfig>,
    /// Findings below this severity are dropped.
    pub min_severity: Severity,
    /// YAML limits per file.
    pub limits: Limits,
    /// Most files visited when walking directories.
    pub max_files: usize,
    /// Worker threads (0: as many as the machine has).
    pub threads: usize,
    /// Local checkouts of other repositories (`org/repo` to a directory),
    /// for templates and reusable workflows referenced from them.
    pub resolve: BTreeMap<String, PathBuf>,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            config: None,
            min_severity: Severity::Low,
            limits: Limits::default(),
            max_files: 100_000,
            threads: 0,
            resolve: BTreeMap::new(),
        }
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// Parsed and checked.
    Analysed,
    /// Read, but its form cannot be analysed (a scripted Jenkinsfile).
    NotAnalysable(String),
    /// Could not be read or parsed; the message names position and cause.
    Error(String),
}

/// One file the audit looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditedFile {
    /// The path as displayed in findings.
    pub path: String,
    /// The CI system, when detected.
    pub system: Option<System>,
    /// The outcome.
    pub status: FileStatus,
}

/// The result of an audit.
#[derive(Debug, Clone, Default)]
pub struct AuditReport {
    /// Every file looked at, sorted by path.
    pub files: Vec<AuditedFile>,
    /// Findings sorted by file, line, column, rule, message.
    pub findings: Vec<Finding>,
    /// Source text of the files that have findings, for rendering snippets.
    pub sources: BTreeMap<String, String>,
}

impl AuditReport {
    /// Whether any file ended in [`FileStatus::Error`].
    pub fn has_errors(&self) -> bool {
        self.files
            .iter()
            .any(|f| matches!(f.status, FileStatus::Error(_)))
    }
}

/// Which system a path's name says, if any.
fn system_by_name(path: &Path) -> Option<System> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let full = display(path).to_ascii_lowercase();
    let yamlish = name.ends_with(".yml") || name.ends_with(".yaml");
    if name.starts_with("jenkinsfile") || name.ends_with(".jenkinsfile") {
        return Some(System::Jenkins);
    }
    if !yamlish {
        return None;
    }
    if full.contains(".github/workflows/") || name == "action.yml" || name == "action.yaml" {
        return Some(System::GithubActions);
    }
    if name == ".gitlab-ci.yml" || name.ends_with(".gitlab-ci.yml") {
        return Some(System::GitlabCi);
    }
    if full.contains(".circleci/") && name.starts_with("config") {
        return Some(System::CircleCi);
    }
    if name == "bitbucket-pipelines.yml" || name == "bitbucket-pipelines.yaml" {
        return Some(System::Bitbucket);
    }
    if name.starts_with("cloudbuild") {
        return Some(System::CloudBuild);
    }
    if name.starts_with("buildspec") {
        return Some(System::CodeBuild);
    }
    if name.starts_with("azure-pipelines") || full.contains(".azure-pipelines/") {
        return Some(System::AzurePipelines);
    }
    None
}

/// A root `steps:` list whose items name a builder image and give `args` or
/// an `entrypoint` (and none of Azure's `script`/`task`/`bash`).
fn cloudbuild_shape(doc: &Node) -> bool {
    doc.get("steps").and_then(Node::as_seq).is_some_and(|steps| {
        !steps.is_empty()
            && steps.iter().all(|s| {
                s.get_str("name").is_some()
                    && (s.get("args").is_some() || s.get("entrypoint").is_some())
                    && ["script", "task", "bash", "pwsh", "powershell"]
                        .iter()
                        .all(|k| s.get(k).is_none())
            })
    })
}

/// Guesses the system of a YAML document by its shape.
fn system_by_content(doc: &Node) -> Option<System> {
    if let Some(api) = doc.get_str("apiVersion") {
        if api.starts_with("argoproj.io") {
            return Some(System::Argo);
        }
        if api.starts_with("tekton.dev") {
            return Some(System::Tekton);
        }
    }
    if doc.get("jobs").is_some() && (doc.get("on").is_some() || doc.get("true").is_some()) {
        return Some(System::GithubActions);
    }
    if doc
        .get("runs")
        .and_then(|r| r.get_str("using"))
        .is_some_and(|u| u == "composite")
    {
        return Some(System::GithubActions);
    }
    if cloudbuild_shape(doc) {
        return Some(System::CloudBuild);
    }
    if azure_header(doc) || azure_stages_or_jobs(doc) {
        return Some(System::AzurePipelines);
    }
    let gitlabish = doc.as_map().is_some_and(|m| {
        m.iter()
            .any(|(_, v)| v.get("script").is_some() || v.get("stage").is_some())
    });
    if gitlabish {
        return Some(System::GitlabCi);
    }
    None
}

/// Whether text may be a root Azure Pipelines file (a cheap test before
/// parsing a walked YAML file whose name says nothing): Azure pipelines are
/// registered by path in the project's settings, so they live in any folder
/// under any name (`.pipelines/ci.yml`, `mlops/devops-pipelines/deploy.yml`).
fn azure_root_text(src: &str) -> bool {
    let top = |key: &str| src.lines().any(|l| l.starts_with(key));
    (top("trigger:") || top("pr:") || top("pool:") || top("resources:"))
        && (top("stages:") || top("jobs:") || top("steps:"))
}

/// Whether a parsed document has a root Azure pipeline's shape: a trigger,
/// `pr` or pool, and stages of `stage:` items, jobs of `job:`/`deployment:`
/// items, or steps. A template file (only `parameters:` and `steps:`) is not a
/// root: the pipeline that includes it is audited with it.
fn azure_root_shape(doc: &Node) -> bool {
    azure_header(doc) && (azure_stages_or_jobs(doc) || doc.get("steps").and_then(Node::as_seq).is_some())
}

/// A trigger, `pr` or pool: keys only a root Azure pipeline has.
fn azure_header(doc: &Node) -> bool {
    doc.get("trigger").is_some() || doc.get("pr").is_some() || doc.get("pool").is_some()
}

/// Stages of `stage:` items or jobs of `job:`/`deployment:` items.
fn azure_stages_or_jobs(doc: &Node) -> bool {
    doc.get("stages")
        .and_then(Node::as_seq)
        .is_some_and(|s| s.iter().any(|x| x.get("stage").is_some()))
        || doc.get("jobs").and_then(Node::as_seq).is_some_and(|s| {
            s.iter()
                .any(|x| x.get("job").is_some() || x.get("deployment").is_some())
        })
}

/// Whether a walked file is worth opening.
fn interesting(path: &Path) -> bool {
    if system_by_name(path).is_some() {
        return true;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.ends_with(".yml") || name.ends_with(".yaml")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, max: usize, depth: usize) {
    if depth > 32 || out.len() >= max {
        return;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.filter_map(Result::ok).collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        if out.len() >= max {
            return;
        }
        let Ok(ft) = e.file_type() else { continue };
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if ft.is_dir() {
            if matches!(name.as_str(), ".git" | "node_modules" | "target" | ".venv") {
                continue;
            }
            walk(&path, out, max, depth + 1);
        } else if ft.is_file() && interesting(&path) {
            out.push(path);
        }
    }
}

/// The repository root of a file: the nearest ancestor holding `.git`, else
/// the walk root it was found under, else its directory.
fn repo_root(file: &Path, walk_root: &Path) -> PathBuf {
    let mut cur = file.parent();
    while let Some(d) = cur {
        if d.join(".git").exists() {
            return d.to_path_buf();
        }
        if d == walk_root {
            break;
        }
        cur = d.parent();
    }
    if walk_root.is_dir() {
        walk_root.to_path_buf()
    } else {
        file.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

struct FileResult {
    file: AuditedFile,
    findings: Vec<Finding>,
    source: Option<String>,
}

fn audit_one(path: &Path, walk_root: &Path, explicit: bool, options: &AuditOptions) -> Option<FileResult> {
    let name = display(path);
    let mk = |system, status| AuditedFile {
        path: name.clone(),
        system,
        status,
    };
    let by_name = system_by_name(path);
    let size = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) => {
            return Some(FileResult {
                file: mk(by_name, FileStatus::Error(format!("cannot read: {e}"))),
                findings: Vec::new(),
                source: None,
            })
        }
    };
    if size > options.limits.max_bytes as u64 {
        return Some(FileResult {
            file: mk(
                by_name,
                FileStatus::Error(format!(
                    "file is {size} bytes, larger than the {} byte limit",
                    options.limits.max_bytes
                )),
            ),
            findings: Vec::new(),
            source: None,
        });
    }
    let src = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            return Some(FileResult {
                file: mk(by_name, FileStatus::Error(format!("cannot read: {e}"))),
                findings: Vec::new(),
                source: None,
            })
        }
    };
    let lines: Vec<&str> = src.lines().collect();
    let mut pipelines: Vec<Pipeline> = Vec::new();
    let system;
    let mut status = FileStatus::Analysed;
    if by_name == Some(System::Jenkins) {
        system = Some(System::Jenkins);
        match jenkins::parse(&name, &src) {
            Ok(p) => pipelines.push(p),
            Err(jenkins::JenkinsError::NotDeclarative { line, col, reason }) => {
                status = FileStatus::NotAnalysable(reason.clone());
                let f = rules::finding(
                    &rules::PIPELINE_NOT_ANALYSABLE,
                    format!("Jenkinsfile is not analysable: {reason}; its gates cannot be checked"),
                )
                .at(portcullis_evidence::Location::file(&name)
                    .line_col(line, col)
                    .label("not analysable"));
                let mut findings = vec![f];
                apply_filters(&mut findings, &name, &lines, options);
                return Some(FileResult {
                    file: mk(system, status),
                    source: (!findings.is_empty()).then(|| src.clone()),
                    findings,
                });
            }
            Err(e) => {
                return Some(FileResult {
                    file: mk(system, FileStatus::Error(e.to_string())),
                    findings: Vec::new(),
                    source: None,
                })
            }
        }
    } else {
        let k8s_text = src.contains("argoproj.io") || src.contains("tekton.dev");
        let azure_text = azure_root_text(&src);
        // Cloud Build configs are passed by `--config` under any name.
        let cloudbuild_text = src.contains("steps:")
            && src.contains("args:")
            && (src.contains("gcr.io/") || src.contains("-docker.pkg.dev/") || src.contains("entrypoint:"));
        if by_name.is_none() && !explicit && !k8s_text && !azure_text && !cloudbuild_text {
            // A walked YAML file that names no CI system: not ours.
            return None;
        }
        let docs = match yaml::parse(&src, options.limits) {
            Ok(d) => d,
            Err(e) => {
                return Some(FileResult {
                    file: mk(by_name, FileStatus::Error(e.to_string())),
                    findings: Vec::new(),
                    source: None,
                })
            }
        };
        let mut detected = by_name.or_else(|| docs.iter().find_map(system_by_content));
        if by_name.is_none() && !explicit && !k8s_text {
            // Walked and unnamed, opened for its Azure shape: only a root
            // Azure pipeline counts (GitHub and GitLab run files by path).
            let root = docs.first().is_some_and(azure_root_shape);
            let azure_root = detected == Some(System::AzurePipelines) && root;
            let cloudbuild = detected == Some(System::CloudBuild);
            if !(azure_root || cloudbuild) {
                detected = None;
            }
        }
        system = detected;
        let loader = Loader {
            root: repo_root(path, walk_root),
            limits: &options.limits,
            resolve: &options.resolve,
        };
        match detected {
            Some(System::GithubActions) => {
                if let Some(d) = docs.first() {
                    pipelines.push(github::parse(&name, d));
                }
            }
            Some(System::GitlabCi) => {
                if let Some(d) = docs.first() {
                    pipelines.push(gitlab::parse(&name, path, d, &loader));
                }
            }
            Some(System::AzurePipelines) => {
                if let Some(d) = docs.first() {
                    pipelines.push(azure::parse(&name, path, d, &loader));
                }
            }
            Some(System::Argo | System::Tekton) => {
                pipelines.extend(k8s::parse_all(&name, &docs));
            }
            Some(System::CircleCi) => {
                if let Some(d) = docs.first() {
                    pipelines.extend(circleci::parse_all(&name, d));
                }
            }
            Some(System::Bitbucket) => {
                if let Some(d) = docs.first() {
                    pipelines.extend(bitbucket::parse_all(&name, d));
                }
            }
            Some(System::CloudBuild) => {
                if let Some(d) = docs.first() {
                    pipelines.push(cloudbuild::parse(&name, d));
                }
            }
            Some(System::CodeBuild) => {
                if let Some(d) = docs.first() {
                    pipelines.push(codebuild::parse(&name, d));
                }
            }
            Some(System::Jenkins) | None => {
                if !explicit {
                    return None;
                }
                status = FileStatus::NotAnalysable("no CI system recognised".into());
            }
        }
    }
    let root = repo_root(path, walk_root);
    for p in &mut pipelines {
        scripts::resolve(p, &root, &lines);
        if p.system == System::GithubActions {
            scripts::reusable_workflows(p, &options.resolve, &options.limits);
        }
    }
    let mut findings = Vec::new();
    for p in &pipelines {
        findings.extend(rules::check(p, &lines));
    }
    apply_filters(&mut findings, &name, &lines, options);
    let source = (!findings.is_empty()).then(|| src.clone());
    Some(FileResult {
        file: mk(system, status),
        findings,
        source,
    })
}

/// Whether `line` carries `portcullis: ignore[...]` naming `rule`.
fn inline_ignored(line: &str, rule: &str) -> bool {
    let Some(at) = line.find("portcullis: ignore[") else {
        return false;
    };
    let rest = line.get(at + "portcullis: ignore[".len()..).unwrap_or("");
    let list = rest.split(']').next().unwrap_or("");
    list.split(',').any(|r| r.trim() == rule)
}

fn apply_filters(findings: &mut Vec<Finding>, file: &str, lines: &[&str], options: &AuditOptions) {
    findings.retain(|f| {
        let same_file = f.location.as_ref().and_then(|l| l.file.as_deref()) == Some(file);
        let line = if same_file {
            f.location.as_ref().and_then(|l| l.line).unwrap_or(0) as usize
        } else {
            0
        };
        let here = line.checked_sub(1).and_then(|i| lines.get(i));
        let above = line.checked_sub(2).and_then(|i| lines.get(i));
        let inline = here.is_some_and(|l| inline_ignored(l, &f.rule))
            || above.is_some_and(|l| inline_ignored(l, &f.rule));
        let by_config = options.config.as_ref().is_some_and(|c| c.ignores(&f.rule, file));
        !(inline || by_config)
    });
    if let Some(cfg) = &options.config {
        for f in findings.iter_mut() {
            if let Some(sev) = cfg.severity.get(&f.rule) {
                f.severity = *sev;
            }
        }
    }
    findings.retain(|f| f.severity >= options.min_severity);
}

fn sort_key(f: &Finding) -> (String, u32, u32, String, String) {
    let l = f.location.as_ref();
    (
        l.and_then(|l| l.file.clone()).unwrap_or_default(),
        l.and_then(|l| l.line).unwrap_or(0),
        l.and_then(|l| l.column).unwrap_or(0),
        f.rule.clone(),
        f.message.clone(),
    )
}

/// Audits every CI definition under `paths` (files or directories).
///
/// Files named explicitly are always audited; directories are walked for
/// GitHub workflows and actions, `.gitlab-ci.yml`, `azure-pipelines*.yml`,
/// `Jenkinsfile`s and Argo/Tekton manifests. Never fails as a whole: each
/// file's problem is in its [`AuditedFile::status`].
pub fn audit_paths(paths: &[PathBuf], options: &AuditOptions) -> AuditReport {
    let mut work: Vec<(PathBuf, PathBuf, bool)> = Vec::new();
    let mut report = AuditReport::default();
    for p in paths {
        if p.is_dir() {
            let mut found = Vec::new();
            walk(p, &mut found, options.max_files, 0);
            work.extend(found.into_iter().map(|f| (f, p.clone(), false)));
        } else if p.exists() {
            work.push((p.clone(), p.clone(), true));
        } else {
            report.files.push(AuditedFile {
                path: display(p),
                system: None,
                status: FileStatus::Error("no such file or directory".into()),
            });
        }
    }
    let threads = if options.threads == 0 {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    } else {
        options.threads
    }
    .clamp(1, 64);
    let chunk = work.len().div_ceil(threads).max(1);
    let results: Vec<FileResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .filter_map(|(f, root, explicit)| audit_one(f, root, *explicit, options))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    for r in results {
        if let Some(src) = r.source {
            report.sources.insert(r.file.path.clone(), src);
        }
        report.findings.extend(r.findings);
        report.files.push(r.file);
    }
    report.files.sort_by(|a, b| a.path.cmp(&b.path));
    report.files.dedup_by(|a, b| a.path == b.path);
    report.findings.sort_by_key(sort_key);
    report.findings.dedup();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_ignores_name_rules_in_a_list() {
        assert!(inline_ignored(
            "  run: x # portcullis: ignore[fake-gate, gate-unpinned]",
            "gate-unpinned"
        ));
        assert!(!inline_ignored(
            "  run: x # portcullis: ignore[fake-gate]",
            "gate-unpinned"
        ));
    }

    #[test]
    fn system_is_detected_by_path_name() {
        assert_eq!(
            system_by_name(Path::new("r/.github/workflows/a.yml")),
            Some(System::GithubActions)
        );
        assert_eq!(
            system_by_name(Path::new("r/.gitlab-ci.yml")),
            Some(System::GitlabCi)
        );
        assert_eq!(system_by_name(Path::new("r/Jenkinsfile")), Some(System::Jenkins));
        assert_eq!(
            system_by_name(Path::new("r/azure-pipelines.yml")),
            Some(System::AzurePipelines)
        );
        assert_eq!(system_by_name(Path::new("r/k8s/wf.yaml")), None);
    }
}
