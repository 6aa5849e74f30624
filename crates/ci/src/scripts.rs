//! Scripts a pipeline runs from its own repository.
//!
//! Many pipelines hide the deploy in `./deploy.sh` or `python deploy.py`.
//! Before giving up on a step, the auditor opens the scripts its `run` text
//! invokes by a repository-relative path (shell, Python, PowerShell), and
//! the classifier reads their lines shallowly: the commands and SDK calls
//! they contain, not what those call in turn. A script that looks like a
//! deploy by its name but cannot be read is said so (`pipeline-not-analysable`).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::model::{Marker, Pipeline, ScriptRef};
use crate::yaml::Limits;

/// Largest script read, in bytes.
const MAX_SCRIPT_BYTES: u64 = 256 * 1024;

/// Interpreters whose next argument is a script.
const INTERPRETERS: &[&str] = &[
    "bash",
    "sh",
    "zsh",
    "source",
    ".",
    "python",
    "python3",
    "pwsh",
    "powershell",
    "node",
];

const SCRIPT_EXT: &[&str] = &[".sh", ".bash", ".py", ".ps1"];

/// The repository-relative scripts one shell line invokes: a path ending
/// in a script extension that starts a command (`./deploy.sh`,
/// `ops/release.sh`) or follows an interpreter (`bash x.sh`, `python y.py`).
pub fn invoked(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    for command in line.split([';', '&', '|', '(', ')']) {
        let words: Vec<&str> = command
            .split_whitespace()
            .map(|w| w.trim_matches(|c| c == '"' || c == '\''))
            .filter(|w| !w.is_empty())
            .collect();
        // Skip `sudo`, `exec`, `env` and VAR=value prefixes.
        let start = words
            .iter()
            .position(|w| !matches!(*w, "sudo" | "exec" | "env" | "time") && !w.contains('='))
            .unwrap_or(words.len());
        for (i, w) in words.iter().enumerate().skip(start) {
            let scriptish = SCRIPT_EXT.iter().any(|e| w.to_ascii_lowercase().ends_with(e));
            if !scriptish || w.contains("://") || w.contains('$') {
                continue;
            }
            let after_interpreter = i > start
                && words
                    .get(i - 1)
                    .is_some_and(|p| INTERPRETERS.contains(&p.rsplit('/').next().unwrap_or(p)));
            let starts = i == start && w.contains('/');
            let rel = w.trim_start_matches("./").to_string();
            if (after_interpreter || starts) && !out.contains(&rel) {
                out.push(rel);
            }
        }
    }
    out
}

fn inside(rel: &str) -> bool {
    let p = Path::new(rel);
    !p.is_absolute()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn deployish_name(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel).to_ascii_lowercase();
    ["deploy", "release", "publish", "promote", "serve", "rollout"]
        .iter()
        .any(|w| name.contains(w))
}

/// Reads the scripts every step of `p` invokes, relative to `root`.
pub fn resolve(p: &mut Pipeline, root: &Path, lines: &[&str]) {
    let mut unread = Vec::new();
    for job in &mut p.jobs {
        for step in &mut job.steps {
            let Some(run) = &step.run else { continue };
            let mut offset = 0;
            let mut refs = Vec::new();
            for line in run.value.split_inclusive('\n') {
                let indent = line.len() - line.trim_start().len();
                for rel in invoked(line.trim()) {
                    if !inside(&rel) {
                        continue;
                    }
                    let path = root.join(&rel);
                    let read = std::fs::metadata(&path).map_err(|e| e.to_string()).and_then(|m| {
                        if m.len() > MAX_SCRIPT_BYTES {
                            Err(format!("larger than {} KiB", MAX_SCRIPT_BYTES / 1024))
                        } else {
                            std::fs::read_to_string(&path).map_err(|e| e.to_string())
                        }
                    });
                    match read {
                        Ok(text) => refs.push(ScriptRef {
                            path: rel,
                            run_offset: offset + indent,
                            text,
                        }),
                        Err(e) if deployish_name(&rel) => {
                            let pos = if step.file.is_none() {
                                run.pos_at(offset + indent, lines)
                            } else {
                                step.pos
                            };
                            let mut m = Marker::new(
                                format!("script '{rel}' run by the pipeline could not be read ({e})"),
                                pos,
                            );
                            m.file = step.file.clone();
                            unread.push(m);
                        }
                        Err(_) => {}
                    }
                }
                offset += line.len();
            }
            step.scripts = refs;
        }
    }
    p.unresolved.extend(unread);
}

/// Splits `owner/repo/.github/workflows/x.yml@ref` into `owner/repo`
/// and the path inside it; `None` for local (`./…`) and action references.
pub fn remote_workflow(uses: &str) -> Option<(&str, &str)> {
    let (target, _) = uses.split_once('@')?;
    if target.starts_with("./") {
        return None;
    }
    let at = target.find("/.github/workflows/")?;
    let repo = &target[..at];
    (repo.matches('/').count() == 1).then(|| (repo, &target[at + 1..]))
}

/// Reusable workflows of other repositories that GitHub jobs call: read
/// from a local checkout given with `--resolve owner/repo=PATH` (their
/// steps are then classified like a script the job runs), else reported as
/// not analysable with the reference.
pub fn reusable_workflows(p: &mut Pipeline, resolve: &BTreeMap<String, PathBuf>, limits: &Limits) {
    let mut unread = Vec::new();
    for job in &mut p.jobs {
        for step in &mut job.steps {
            let Some(uses) = &step.uses else { continue };
            let Some((repo, file)) = remote_workflow(uses.value.trim()) else {
                continue;
            };
            // Shared CI workflows (provenance generators, linters) are
            // everywhere; one matters here when its name or inputs speak of
            // models, deploys or evaluations.
            let text = std::iter::once(uses.value.as_str())
                .chain(step.with.iter().map(|(k, _)| k.as_str()))
                .chain(step.with.iter().map(|(_, v)| v.value.as_str()))
                .collect::<Vec<_>>()
                .join(" ")
                .to_ascii_lowercase();
            let stems = [
                "model", "deploy", "release", "promot", "serv", "infer", "predict", "endpoint", "eval",
                "scan", "redteam", "fairness", "bias", "robust",
            ];
            let relevant = text
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| stems.iter().any(|s| w.starts_with(s)));
            let resolvable = resolve.keys().any(|k| k.eq_ignore_ascii_case(repo));
            if !relevant && !resolvable {
                continue;
            }
            let checkout = resolve
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(repo))
                .map(|(_, v)| v.join(file));
            let read = match &checkout {
                Some(path) => std::fs::metadata(path)
                    .map_err(|e| format!("{}: {e}", path.display()))
                    .and_then(|m| {
                        if m.len() > limits.max_bytes as u64 {
                            Err(format!("{}: larger than the size limit", path.display()))
                        } else {
                            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
                        }
                    }),
                None => Err(format!(
                    "reusable workflow '{}' is in another repository; pass --resolve {repo}=PATH to read it",
                    uses.value.trim()
                )),
            };
            match read {
                Ok(text) => step.scripts.push(ScriptRef {
                    path: format!("{repo}/{file}"),
                    run_offset: 0,
                    text,
                }),
                Err(e) => {
                    let mut m = Marker::new(e, uses.pos);
                    m.file = step.file.clone();
                    unread.push(m);
                }
            }
        }
    }
    p.unresolved.extend(unread);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_found_after_interpreters_or_as_paths() {
        assert_eq!(invoked("bash scripts/deploy.sh prod"), vec!["scripts/deploy.sh"]);
        assert_eq!(invoked("./deploy.sh"), vec!["deploy.sh"]);
        assert_eq!(
            invoked("python3 ops/promote.py --stage prod"),
            vec!["ops/promote.py"]
        );
        assert_eq!(invoked("cd app && ./release.sh"), vec!["release.sh"]);
        assert!(invoked("echo run.sh").is_empty(), "an argument, not a command");
        assert!(invoked("curl https://x.io/install.sh | bash").is_empty());
        assert!(invoked("python $SCRIPT").is_empty());
        assert!(!inside("../other/deploy.sh"));
        assert!(!inside("/etc/deploy.sh"));
        assert!(inside("scripts/deploy.sh"));
    }

    #[test]
    fn remote_reusable_workflows_are_told_from_actions_and_local_ones() {
        assert_eq!(
            remote_workflow("acme/ml-templates/.github/workflows/deploy.yml@main"),
            Some(("acme/ml-templates", ".github/workflows/deploy.yml"))
        );
        assert_eq!(remote_workflow("./.github/workflows/deploy.yml"), None);
        assert_eq!(remote_workflow("actions/checkout@v4"), None);
        assert_eq!(remote_workflow("azure/login@v2"), None);
    }
}
