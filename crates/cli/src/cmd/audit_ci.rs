//! `portcullis audit-ci`: find missing and skippable model gates in CI/CD
//! pipeline definitions.
//!
//! Exit codes: 0 no finding at or above `--fail-on`; 1 findings at or above
//! it; 2 a config error, or a pipeline file that could not be read or parsed.
//! Every format comes from the report crate's audit-ci renderers, fed with
//! a view of the auditor's report and its rule registry.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use portcullis_ci::{audit_paths, AuditConfig, AuditOptions, AuditReport, FileStatus};
use portcullis_report::audit_ci::{self, AuditView, FileState, FileView};
use portcullis_report::sarif;

use crate::common::Exit;
use crate::findings::{FindingsArgs, FindingsFormat, SeverityArg};

/// Arguments of `audit-ci`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to audit (default: the current directory).
    pub paths: Vec<PathBuf>,
    /// `--format`, `--fail-on`, `--output`.
    #[command(flatten)]
    pub out: FindingsArgs,
    /// Drop findings below this severity.
    #[arg(long, value_enum, default_value_t = SeverityArg::Low)]
    pub min_severity: SeverityArg,
    /// Config file with ignores and severity overrides.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Read templates and reusable workflows of another repository from a
    /// local checkout: ORG/REPO=PATH; repeatable.
    #[arg(long = "resolve", value_name = "ORG/REPO=PATH")]
    pub resolve: Vec<String>,
}

/// Runs `audit-ci`.
pub fn run(args: Args) -> Result<Exit> {
    let config = match &args.config {
        Some(path) => Some(
            AuditConfig::from_file(path)
                .with_context(|| format!("loading audit config {}", path.display()))?,
        ),
        None => None,
    };
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let mut resolve = std::collections::BTreeMap::new();
    for r in &args.resolve {
        let Some((repo, dir)) = r
            .split_once('=')
            .filter(|(k, v)| k.contains('/') && !v.is_empty())
        else {
            anyhow::bail!(
                "--resolve {r}: expected ORG/REPO=PATH, e.g. --resolve acme/ml-templates=../ml-templates"
            );
        };
        let dir = PathBuf::from(dir);
        if !dir.is_dir() {
            anyhow::bail!(
                "--resolve {r}: {} is not a directory; give the path of a local checkout of {repo}",
                dir.display()
            );
        }
        resolve.insert(repo.trim().to_string(), dir);
    }
    let options = AuditOptions {
        config,
        min_severity: args.min_severity.into(),
        resolve,
        ..AuditOptions::default()
    };
    let report = audit_paths(&paths, &options);
    let text = match args.out.format {
        FindingsFormat::Human => audit_ci::human(&view(&report), args.out.color()),
        FindingsFormat::Json => audit_ci::json(&report.findings),
        FindingsFormat::Html => {
            let files: Vec<String> = report.files.iter().map(|f| f.path.clone()).collect();
            portcullis_report::html::render_findings(
                "audit-ci",
                &report.findings,
                portcullis_evidence::Severity::from(args.out.fail_on),
                &files,
            )
        }
        FindingsFormat::Sarif => {
            sarif::render_findings(portcullis_ci::rules(), &report.findings, sarif::fingerprint)
        }
    };
    args.out.write(&text)?;
    if report.has_errors() {
        for f in &report.files {
            if let FileStatus::Error(e) = &f.status {
                eprintln!("error: {}: {e}", f.path);
            }
        }
        return Ok(Exit::Error);
    }
    Ok(if args.out.fails(&report.findings) {
        Exit::Denied
    } else {
        Exit::Ok
    })
}

/// The renderers' view of the auditor's report.
fn view(report: &AuditReport) -> AuditView<'_> {
    AuditView {
        findings: &report.findings,
        files: report
            .files
            .iter()
            .map(|f| FileView {
                path: &f.path,
                state: match &f.status {
                    FileStatus::Analysed => FileState::Analysed,
                    FileStatus::NotAnalysable(why) => FileState::NotAnalysable(why),
                    FileStatus::Error(e) => FileState::Error(e),
                },
            })
            .collect(),
        sources: &report.sources,
        rules: portcullis_ci::rules(),
    }
}
