//! Audits CI definitions from the command line, for benchmarks and manual
//! runs without building the CLI.
//!
//! Usage: `audit [--format human|json] [--quiet] PATH...`
//! Exit codes: 0 clean, 1 findings at or above high, 2 error.
//!
//! The output is plain: one line per finding (human) or the findings list
//! (json). The renderers with source snippets, the versioned JSON document
//! and SARIF live in the report crate, which this crate does not depend on;
//! `portcullis audit-ci` uses them.

use std::path::PathBuf;
use std::process::ExitCode;

use portcullis_ci::{audit_paths, AuditOptions};
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
            _ => {
                for f in &report.findings {
                    let at = f.location.as_ref().map(ToString::to_string).unwrap_or_default();
                    println!("{}[{}]: {} ({at})", f.severity, f.rule, f.message);
                }
            }
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
