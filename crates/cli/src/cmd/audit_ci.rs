//! `portcullis audit-ci`: find missing and skippable model gates in CI/CD
//! pipeline definitions.
//!
//! Exit codes: 0 no finding at or above `--fail-on`; 1 findings at or above
//! it; 2 a config error, or a pipeline file that could not be read or parsed.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::ValueEnum;
use portcullis_ci::{audit_paths, render_human, sarif, AuditConfig, AuditOptions};
use portcullis_evidence::Severity;

use crate::common::Exit;

/// Output of `audit-ci`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// Findings with source lines and carets.
    Human,
    /// `{"findings": [...]}` of the shared finding type.
    Json,
    /// SARIF 2.1.0.
    Sarif,
}

/// Severity names on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl From<SeverityArg> for Severity {
    fn from(s: SeverityArg) -> Severity {
        match s {
            SeverityArg::Low => Severity::Low,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::High => Severity::High,
            SeverityArg::Critical => Severity::Critical,
        }
    }
}

/// Arguments of `audit-ci`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to audit (default: the current directory).
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AuditFormat::Human)]
    pub format: AuditFormat,
    /// Drop findings below this severity.
    #[arg(long, value_enum, default_value_t = SeverityArg::Low)]
    pub min_severity: SeverityArg,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = SeverityArg::High)]
    pub fail_on: SeverityArg,
    /// Config file with ignores and severity overrides.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
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
    let options = AuditOptions {
        config,
        min_severity: args.min_severity.into(),
        ..AuditOptions::default()
    };
    let report = audit_paths(&paths, &options);
    match args.format {
        AuditFormat::Human => {
            let color = std::io::IsTerminal::is_terminal(&std::io::stdout())
                && std::env::var_os("NO_COLOR").is_none();
            print!("{}", render_human(&report, &report.sources, color));
        }
        AuditFormat::Json => {
            let v = serde_json::json!({ "findings": report.findings });
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        AuditFormat::Sarif => println!("{}", serde_json::to_string_pretty(&sarif::to_sarif(&report))?),
    }
    if report.has_errors() {
        for f in &report.files {
            if let portcullis_ci::FileStatus::Error(e) = &f.status {
                eprintln!("error: {}: {e}", f.path);
            }
        }
        return Ok(Exit::Error);
    }
    let bar: Severity = args.fail_on.into();
    if report.findings.iter().any(|f| f.severity >= bar) {
        Ok(Exit::Denied)
    } else {
        Ok(Exit::Ok)
    }
}
