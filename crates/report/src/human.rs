//! The terminal report: short, failing things first, each with the measured
//! value, the threshold and where to look. Colour only when asked (a TTY).

use std::fmt::Write as _;

use portcullis_evidence::{Finding, Severity, Verdict};

use crate::view::{GateView, Report};

/// ANSI styling, off unless enabled.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    on: bool,
}

impl Style {
    /// Colour on or off.
    pub fn new(color: bool) -> Self {
        Style { on: color }
    }
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    /// Red.
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    /// Green.
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    /// Yellow.
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    /// Bold.
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    /// Dim.
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
}

fn verdict_mark(v: Option<Verdict>, st: Style) -> String {
    match v {
        Some(Verdict::Pass) => st.green("✓ pass "),
        Some(Verdict::Fail) => st.red("✗ fail "),
        Some(Verdict::Error) => st.red("✗ error"),
        None => st.yellow("? none "),
    }
}

/// A severity tag like `[high]`, coloured.
pub fn severity_tag(s: Severity, st: Style) -> String {
    let tag = format!("[{s}]");
    match s {
        Severity::Critical | Severity::High => st.red(&tag),
        Severity::Medium => st.yellow(&tag),
        Severity::Low => st.dim(&tag),
    }
}

/// One finding as one or two lines.
pub fn finding_line(f: &Finding, st: Style) -> String {
    let mut s = format!("{} {}: {}", severity_tag(f.severity, st), f.rule, f.message);
    if let Some(loc) = &f.location {
        let _ = write!(s, "\n      at {loc}");
    }
    if let Some(frag) = &f.fragment {
        let _ = write!(s, "  {}", st.dim(&format!("({frag})")));
    }
    if let Some(fix) = &f.fix {
        let _ = write!(s, "\n      fix: {fix}");
    }
    s
}

fn gate_block(out: &mut String, g: &GateView, st: Style) {
    let signer = g
        .signer
        .as_deref()
        .map(|s| format!("  signed by {s}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  {} {} {}{}",
        verdict_mark(g.verdict, st),
        st.bold(&g.name),
        st.dim(&format!("({})", g.kind)),
        st.dim(&signer)
    );
    if !g.passed() {
        for r in &g.reasons {
            let _ = writeln!(out, "      {} {r}", st.red("•"));
        }
    }
    let mut findings: Vec<&Finding> = g.findings.iter().collect();
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    for f in findings.iter().take(10) {
        let _ = writeln!(out, "      {}", finding_line(f, st));
    }
    if findings.len() > 10 {
        let _ = writeln!(
            out,
            "      … and {} more findings (use --format json)",
            findings.len() - 10
        );
    }
    if !g.metrics.is_empty() && g.metrics.len() <= 12 {
        let list: Vec<String> = g
            .metrics
            .iter()
            .map(|(k, v)| format!("{k}={}", crate::fmt_metric(*v)))
            .collect();
        let _ = writeln!(out, "      {}", st.dim(&list.join("  ")));
    } else if g.metrics.len() > 12 {
        let _ = writeln!(
            out,
            "      {}",
            st.dim(&format!(
                "{} metrics (use --format json to see all)",
                g.metrics.len()
            ))
        );
    }
}

/// Renders a report for the terminal.
pub fn render(report: &Report, color: bool) -> String {
    let st = Style::new(color);
    let mut out = String::new();
    if let Some(d) = &report.decision {
        let head = if d.allowed {
            st.green(&st.bold("ALLOWED"))
        } else {
            st.red(&st.bold("DENIED"))
        };
        let digest = report
            .digest
            .as_deref()
            .map(|h| format!("  model sha256:{}", h.get(..12).unwrap_or(h)))
            .unwrap_or_default();
        let _ = writeln!(out, "{head}  stage {}{digest}", st.bold(&d.stage));
        for r in &d.reasons {
            let _ = writeln!(out, "  {} {}: {}", st.red("✗"), r.code, r.message);
        }
        if d.approvals_required > 0 {
            let _ = writeln!(
                out,
                "  approvals: {} of {}{}",
                d.approvers.len(),
                d.approvals_required,
                if d.approvers.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", d.approvers.join(", "))
                }
            );
        }
    }
    if !report.gates.is_empty() {
        if report.decision.is_some() {
            out.push('\n');
        }
        // Failing gates first, then the rest, each group in the given order.
        let (bad, good): (Vec<&GateView>, Vec<&GateView>) = report.gates.iter().partition(|g| !g.passed());
        for g in bad.into_iter().chain(good) {
            gate_block(&mut out, g, st);
        }
    }
    if let Some(d) = &report.decision {
        if !d.notes.is_empty() {
            let _ = writeln!(out, "\n  notes:");
            for n in &d.notes {
                let line = if n.starts_with("WAIVED") {
                    st.yellow(n)
                } else {
                    st.dim(n)
                };
                let _ = writeln!(out, "    - {line}");
            }
        }
    }
    out
}
