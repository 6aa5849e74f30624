//! Audits CI definitions from the command line, for benchmarks and manual
//! runs without building the CLI.
//!
//! Usage: `audit [--format human|json] [--quiet] PATH...` (SARIF:
//! `portcullis audit-ci --format sarif`)
//! Exit codes: 0 clean, 1 findings at or above high, 2 error.

use std::path::PathBuf;
use std::process::ExitCode;

use portcullis_ci::{audit_paths, render_human, AuditOptions};
use portcullis_evidence::Severity;

fn main() -> ExitCode {
    let mut format = "human".to_string();
    let mut quiet = false;
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--format" => format = args.next().unwrap_or_default(),
            "--quiet" => quiet = true,
            _ => paths.push(PathBuf::from(a)),
        }
    }
    let report = audit_paths(&paths, &AuditOptions::default());
    if !quiet {
        match format.as_str() {
            "json" => println!("{}", serde_json::json!({ "findings": report.findings })),
            _ => print!("{}", render_human(&report, &report.sources, false)),
        }
    } else {
        eprintln!("{} files, {} findings", report.files.len(), report.findings.len());
    }
    if report.has_errors() {
        ExitCode::from(2)
    } else if report.findings.iter().any(|f| f.severity >= Severity::High) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
