//! `audit-ci` output: the human rendering, each finding with the source
//! lines it points at and carets under the spot like a compiler diagnostic,
//! and the frozen JSON document ([`crate::json::v1::AuditCiOutput`]).
//!
//! The auditor's report reaches this crate as an [`AuditView`] of the shared
//! types (findings, file statuses, sources, the rule registry), so the
//! auditor never depends on the renderers and the renderers never on the
//! auditor. SARIF goes through [`crate::sarif::from_findings`].
//!
//! Written by hand (a few dozen lines) rather than pulling a diagnostics
//! crate: findings carry 1-based line and character column, and that is all
//! a snippet needs.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use portcullis_evidence::{Finding, Location, RuleInfo, Severity};

use crate::json::{to_pretty, v1};

/// What happened to one audited file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState<'a> {
    /// Parsed and checked.
    Analysed,
    /// Read, but its form cannot be analysed; why.
    NotAnalysable(&'a str),
    /// Could not be read or parsed; the message.
    Error(&'a str),
}

/// One audited file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileView<'a> {
    /// The path as shown in findings.
    pub path: &'a str,
    /// What happened to it.
    pub state: FileState<'a>,
}

/// An audit as the renderers see it.
#[derive(Debug, Clone)]
pub struct AuditView<'a> {
    /// Findings, in output order.
    pub findings: &'a [Finding],
    /// Every file looked at, in output order.
    pub files: Vec<FileView<'a>>,
    /// File (as shown in findings) to its text, for snippets.
    pub sources: &'a BTreeMap<String, String>,
    /// The auditor's rule registry, for docs links.
    pub rules: &'a [RuleInfo],
}

fn paint(s: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn severity_code(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "1;35",
        Severity::High => "1;31",
        Severity::Medium => "1;33",
        Severity::Low => "1;36",
    }
}

fn snippet(out: &mut String, loc: &Location, sources: &BTreeMap<String, String>, color: bool, arrow: &str) {
    let file = loc.file.as_deref().unwrap_or("<unknown>");
    let _ = writeln!(out, "  {} {loc}", paint(arrow, "1;34", color));
    let (Some(line_no), Some(src)) = (loc.line, sources.get(file)) else {
        return;
    };
    let Some(line) = src.lines().nth((line_no as usize).saturating_sub(1)) else {
        return;
    };
    let col = loc.column.unwrap_or(1).max(1) as usize;
    let width = line_no.to_string().len();
    let gutter = " ".repeat(width);
    let rest: String = line.chars().skip(col - 1).collect();
    let len = match (loc.end_line, loc.end_column) {
        (Some(el), Some(ec)) if el == line_no && ec as usize > col => ec as usize - col,
        _ => rest
            .split_whitespace()
            .next()
            .map_or(1, |w| w.chars().count().max(1)),
    };
    let bar = paint("|", "1;34", color);
    let _ = writeln!(out, "{gutter} {bar}");
    let _ = writeln!(out, "{} {bar} {line}", paint(&line_no.to_string(), "1;34", color));
    let carets = format!(
        "{}{} {}",
        " ".repeat(col - 1),
        "^".repeat(len),
        loc.label.as_deref().unwrap_or("")
    );
    let _ = writeln!(out, "{gutter} {bar} {}", paint(carets.trim_end(), "1;31", color));
}

fn render_finding(
    out: &mut String,
    f: &Finding,
    sources: &BTreeMap<String, String>,
    rules: &[RuleInfo],
    color: bool,
) {
    let head = format!("{}[{}]", f.severity, f.rule);
    let _ = writeln!(
        out,
        "{}: {}",
        paint(&head, severity_code(f.severity), color),
        paint(&f.message, "1", color)
    );
    if let Some(loc) = &f.location {
        snippet(out, loc, sources, color, "-->");
    }
    for r in &f.related {
        snippet(out, r, sources, color, ":::");
    }
    if let Some(fix) = &f.fix {
        let _ = writeln!(out, "  = fix: {fix}");
    }
    let docs = rules
        .iter()
        .find(|r| r.id == f.rule)
        .map(portcullis_evidence::RuleInfo::help_uri)
        .unwrap_or_default();
    let _ = writeln!(out, "  = confidence: {}; docs: {docs}", f.confidence);
    out.push('\n');
}

/// Renders the audit for a terminal.
pub fn human(report: &AuditView<'_>, color: bool) -> String {
    let mut out = String::new();
    for f in report.findings {
        render_finding(&mut out, f, report.sources, report.rules, color);
    }
    for file in &report.files {
        match file.state {
            FileState::Analysed => {}
            FileState::NotAnalysable(why) => {
                let _ = writeln!(
                    out,
                    "{}: {}: {why}",
                    paint("not analysable", "1;33", color),
                    file.path
                );
            }
            FileState::Error(e) => {
                let _ = writeln!(out, "{}: {}: {e}", paint("error", "1;31", color), file.path);
            }
        }
    }
    let mut counts = BTreeMap::new();
    for f in report.findings {
        *counts.entry(std::cmp::Reverse(f.severity)).or_insert(0usize) += 1;
    }
    let by_sev: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {}", s.0)).collect();
    let analysed = report
        .files
        .iter()
        .filter(|f| f.state == FileState::Analysed)
        .count();
    let _ = writeln!(
        out,
        "{} finding(s){}; {} file(s) analysed, {} not analysable, {} error(s)",
        report.findings.len(),
        if by_sev.is_empty() {
            String::new()
        } else {
            format!(" ({})", by_sev.join(", "))
        },
        analysed,
        report
            .files
            .iter()
            .filter(|f| matches!(f.state, FileState::NotAnalysable(_)))
            .count(),
        report
            .files
            .iter()
            .filter(|f| matches!(f.state, FileState::Error(_)))
            .count(),
    );
    out
}

/// The `--format json` document (see [`v1::AuditCiOutput`]), pretty, with a
/// final newline.
pub fn json(findings: &[Finding]) -> String {
    to_pretty(&v1::AuditCiOutput {
        version: 1,
        findings: findings.iter().map(v1::AuditCiFinding::from).collect(),
    })
}
