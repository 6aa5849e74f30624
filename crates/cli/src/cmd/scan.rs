//! `portcullis scan`: scan model files for code-execution and exfiltration
//! payloads without loading them.
//!
//! Exit codes follow the CLI table: 0 when no finding reaches `--fail-on`,
//! 1 when one does, 2 when nothing could be scanned (no files, a missing path,
//! an unreadable allowlist). Rendering reuses the report crate: the terminal
//! finding line and the SARIF log with the scanner's rule registry.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::ValueEnum;
use portcullis_evidence::Severity;
use portcullis_report::human::{finding_line, Style};
use portcullis_scan::{rules, scan_paths, Allowlist, ScanOptions, ScanReport};

use crate::common::Exit;

/// Output of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// Terminal text (coloured on a TTY).
    Human,
    /// JSON: files scanned and findings with fingerprints.
    Json,
    /// SARIF 2.1.0 with the scanner's rule metadata.
    Sarif,
}

/// A severity bar on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    /// Fail on any finding.
    Low,
    /// Fail on medium and above.
    Medium,
    /// Fail on high and above (the default).
    High,
    /// Fail on critical only.
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

/// Arguments of `scan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model files or directories (scanned recursively; formats are detected by content).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ScanFormat::Human)]
    pub format: ScanFormat,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = SeverityArg::High)]
    pub fail_on: SeverityArg,
    /// Treat medium findings (unknown third-party globals, foreign Keras modules) as high.
    #[arg(long)]
    pub strict: bool,
    /// Accepted (file digest, global) pairs, JSON or YAML; unused entries are reported.
    #[arg(long, value_name = "FILE")]
    pub allowlist: Option<PathBuf>,
    /// Compute each file's SHA-256 and list it in the JSON output (off by
    /// default: the scan then reads only the bytes its analysis needs).
    #[arg(long)]
    pub digests: bool,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Runs `scan`.
pub fn run(args: Args) -> Result<Exit> {
    let mut options = ScanOptions {
        strict: args.strict,
        digests: args.digests,
        ..ScanOptions::default()
    };
    if let Some(path) = &args.allowlist {
        options.allowlist = Some(Allowlist::from_file(path)?);
    }
    let report = scan_paths(&args.paths, &options)?;
    let bar = Severity::from(args.fail_on);
    let failed = report.at_or_above(bar).next().is_some();
    let text = match args.format {
        ScanFormat::Human => {
            let color = args.output.is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stdout())
                && std::env::var_os("NO_COLOR").is_none();
            human(&report, bar, Style::new(color))
        }
        ScanFormat::Json => json(&report)?,
        ScanFormat::Sarif => {
            let mut log = portcullis_report::sarif::from_findings(rules(), &report.findings);
            // One fingerprint definition for JSON and SARIF: the scanner's,
            // keyed on the path relative to the scan root.
            if let Some(results) = log.pointer_mut("/runs/0/results").and_then(|r| r.as_array_mut()) {
                for (r, f) in results.iter_mut().zip(&report.findings) {
                    r["partialFingerprints"] =
                        serde_json::json!({"portcullisFinding/v1": report.fingerprint(f)});
                }
            }
            format!("{}\n", serde_json::to_string_pretty(&log)?)
        }
    };
    match &args.output {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write the report to {}", p.display()))?
        }
        None => print!("{text}"),
    }
    Ok(if failed { Exit::Denied } else { Exit::Ok })
}

fn human(report: &ScanReport, bar: Severity, st: Style) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let _ = writeln!(out, "{}", finding_line(f, st));
    }
    let bytes: u64 = report.files.iter().map(|f| f.size).sum();
    let mut counts = String::new();
    for s in Severity::ALL.iter().rev() {
        let n = report.findings.iter().filter(|f| f.severity == *s).count();
        if n > 0 {
            let _ = write!(counts, "{}{n} {s}", if counts.is_empty() { "" } else { ", " });
        }
    }
    if counts.is_empty() {
        counts.push_str("no findings");
    }
    let failing = report.at_or_above(bar).count();
    let verdict = if failing > 0 {
        st.red(&format!("FAIL: {failing} at or above {bar}"))
    } else {
        st.green(&format!("PASS: nothing at or above {bar}"))
    };
    let _ = writeln!(
        out,
        "scanned {} files ({bytes} bytes): {counts}. {verdict}",
        report.files.len()
    );
    out
}

fn json(report: &ScanReport) -> Result<String> {
    let findings: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(f).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("fingerprint".into(), report.fingerprint(f).into());
            }
            v
        })
        .collect();
    let out = serde_json::json!({
        "version": 1,
        "files": report.files,
        "findings": findings,
    });
    Ok(format!("{}\n", serde_json::to_string_pretty(&out)?))
}
