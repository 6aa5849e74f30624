//! `portcullis scan`: scan model files for code-execution and exfiltration
//! payloads without loading them.
//!
//! Exit codes follow the CLI table: 0 when no finding reaches `--fail-on`,
//! 1 when one does, 2 when nothing could be scanned (no files, a missing path,
//! an unreadable allowlist). Rendering reuses the report crate: the terminal
//! finding line and the SARIF log with the scanner's rule registry.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use portcullis_evidence::Severity;
use portcullis_report::human::{finding_line, Style};
use portcullis_scan::{rules, scan_paths, Allowlist, ScanOptions, ScanReport};

use crate::common::Exit;
use crate::findings::{FindingsArgs, FindingsFormat};

/// Arguments of `scan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model files or directories (scanned recursively; formats are detected by content).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// `--format`, `--fail-on`, `--output`.
    #[command(flatten)]
    pub out: FindingsArgs,
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
    let bar = Severity::from(args.out.fail_on);
    let failed = args.out.fails(&report.findings);
    let text = match args.out.format {
        FindingsFormat::Human => human(&report, bar, Style::new(args.out.color())),
        FindingsFormat::Json => json(&report)?,
        FindingsFormat::Sarif => {
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
    args.out.write(&text)?;
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
