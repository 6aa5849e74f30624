//! One self-contained HTML page: the decision, every reason, and each gate
//! with its verdict, thresholds, inputs, findings and a plot of what it
//! measured.
//!
//! The page fetches nothing (inline CSS and SVG, no script, a
//! Content-Security-Policy that forbids scripts and remote loads), so it
//! works from `file://`, as a CI artifact and in a mail client, and reads
//! the same without JavaScript. It is written with `maud`, which escapes
//! every interpolated value: model labels, dataset values, column names
//! and LLM replies are data, never markup. The pieces ([`page`],
//! [`decision_section`], [`gate_section`], [`findings_table`]) are public
//! so the registry's web UI draws the same thing.

mod gates;
pub mod plot;

use maud::{html, Markup, PreEscaped, DOCTYPE};
use portcullis_evidence::{Finding, Severity, Verdict};

use crate::view::{GateView, Report};

/// The page's style sheet: system fonts, readable at 375 px, print-friendly.
pub const CSS: &str = include_str!("report.css");

/// What the page is about, for its title and header.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// The model's name (a path or a registry name).
    pub model: Option<String>,
    /// The command that made the report (`run`, `decide`, `verify`, …).
    pub command: Option<String>,
}

/// The whole report as an HTML document.
pub fn render(report: &Report, meta: &Meta) -> String {
    let title = match &report.decision {
        Some(d) => format!(
            "portcullis: {} {}{}",
            d.stage,
            if d.allowed { "allowed" } else { "denied" },
            meta.model
                .as_deref()
                .map(|m| format!(" · {m}"))
                .unwrap_or_default()
        ),
        None => format!(
            "portcullis: {}{}",
            if report.gates.iter().all(GateView::passed) {
                "passed"
            } else {
                "failed"
            },
            meta.model
                .as_deref()
                .map(|m| format!(" · {m}"))
                .unwrap_or_default()
        ),
    };
    page(&title, report_body(report, meta)).into_string()
}

/// Several stages of one model on one page (`show`): each stage's decision,
/// then every gate that any stage requires, once.
pub fn render_stages(reports: &[Report], meta: &Meta) -> String {
    let mut gates: Vec<&GateView> = Vec::new();
    for r in reports {
        for g in &r.gates {
            if !gates.iter().any(|x| x.name == g.name) {
                gates.push(g);
            }
        }
    }
    let gates: Vec<GateView> = gates.into_iter().cloned().collect();
    let title = format!("portcullis: {}", meta.model.as_deref().unwrap_or("model"));
    let body = html! {
        header class="top" {
            span class="brand" { "portcullis" }
            @if let Some(cmd) = &meta.command { span class="muted" { " " (cmd) } }
        }
        main {
            @for r in reports {
                (decision_section(r, meta))
            }
            @if !gates.is_empty() {
                (gate_summary(&gates))
                @for g in &gates { (gate_section(g)) }
            }
        }
    };
    page(&title, body).into_string()
}

/// The page of a findings command (`scan`, `audit-ci`): passed or failed
/// at the `--fail-on` bar, counts per severity, the findings table, and the
/// files looked at.
pub fn render_findings(tool: &str, findings: &[Finding], bar: Severity, files: &[String]) -> String {
    let failed = findings.iter().any(|f| f.severity >= bar);
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let body = html! {
        header class="top" { span class="brand" { "portcullis" } span class="muted" { " " (tool) } }
        main {
            section class={"decision " (if failed { "bad" } else { "ok" })} id="decision" {
                h1 { span class="verdict" { (if failed { "FAILED" } else { "PASSED" }) } " " (tool) }
                dl class="facts" {
                    dt { "Fails at" } dd { (bar.to_string()) " and above" }
                    dt { "Findings" } dd class="counts" {
                        @for s in [Severity::Critical, Severity::High, Severity::Medium, Severity::Low] {
                            span class={"sev " (severity_class(s))} data-severity=(s.to_string()) { (count(s)) " " (s.to_string()) } " "
                        }
                    }
                    dt { "Files" } dd { (files.len()) }
                }
            }
            @if findings.is_empty() { p class="empty" { "No findings." } } @else { (findings_table(findings)) }
            @if !files.is_empty() {
                details class="files" {
                    summary { "Files (" (files.len()) ")" }
                    ul { @for f in files.iter().take(5000) { li class="wrap" { code { (f) } } } }
                }
            }
        }
    };
    page(
        &format!("portcullis {tool}: {}", if failed { "failed" } else { "passed" }),
        body,
    )
    .into_string()
}

/// A complete document around `body`, with the style sheet and a policy
/// that lets the page run no script and load nothing.
pub fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="Content-Security-Policy"
                    content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'";
                meta name="generator" content=(concat!("portcullis ", env!("CARGO_PKG_VERSION")));
                title { (title) }
                style { (PreEscaped(CSS)) }
            }
            body { (body) }
        }
    }
}

fn report_body(report: &Report, meta: &Meta) -> Markup {
    html! {
        header class="top" {
            span class="brand" { "portcullis" }
            @if let Some(cmd) = &meta.command { span class="muted" { " " (cmd) } }
        }
        main {
            (decision_section(report, meta))
            @if !report.gates.is_empty() {
                (gate_summary(&report.gates))
                @for g in &report.gates { (gate_section(g)) }
            }
        }
        footer class="muted" {
            "Generated by portcullis " (env!("CARGO_PKG_VERSION"))
            ". Verdicts come from the signed evidence; this page is a view of it, not a substitute."
        }
    }
}

/// The verdict banner: stage, allowed or denied, the model digest, every
/// reason with its code, approvals and notes.
pub fn decision_section(report: &Report, meta: &Meta) -> Markup {
    let ok = report
        .decision
        .as_ref()
        .map_or_else(|| report.gates.iter().all(GateView::passed), |d| d.allowed);
    html! {
        @let id = report.decision.as_ref().map_or_else(|| "decision".to_string(), |d| format!("decision-{}", anchor(&d.stage)));
        section class={"decision " (if ok { "ok" } else { "bad" })} id=(id) data-stage=(report.decision.as_ref().map_or("", |d| d.stage.as_str())) aria-labelledby={(id) "-h"} {
            h1 id={(id) "-h"} {
                @if let Some(d) = &report.decision {
                    span class="verdict" { (if d.allowed { "ALLOWED" } else { "DENIED" }) }
                    " stage " span class="stage" { (d.stage) }
                } @else {
                    span class="verdict" { (if ok { "PASSED" } else { "FAILED" }) }
                    " " (report.gates.len()) " gate" (if report.gates.len() == 1 { "" } else { "s" })
                }
            }
            dl class="facts" {
                @if let Some(m) = &meta.model { dt { "Model" } dd class="model" { (m) } }
                @if let Some(h) = &report.digest { dt { "Digest" } dd { code class="digest" { "sha256:" (h) } } }
                @if let Some(d) = &report.decision {
                    @if d.approvals_required > 0 {
                        dt { "Approvals" }
                        dd class="approvals" {
                            (d.approvers.len()) " of " (d.approvals_required)
                            @if !d.approvers.is_empty() { " (" (d.approvers.join(", ")) ")" }
                        }
                    }
                }
            }
            @if let Some(d) = &report.decision {
                @if !d.reasons.is_empty() {
                    h2 { "Why it is denied" }
                    ul class="reasons" {
                        @for r in &d.reasons {
                            li data-code=(r.code.to_string()) {
                                code { (r.code.to_string()) }
                                @if let Some(g) = &r.gate { " " a href={"#" (anchor(g))} { (g) } }
                                ": " (r.message)
                            }
                        }
                    }
                }
                @if !d.notes.is_empty() {
                    details class="notes" {
                        summary { "Notes (" (d.notes.len()) ")" }
                        ul { @for n in &d.notes { li { (n) } } }
                    }
                }
            }
        }
    }
}

fn verdict_badge(v: Option<Verdict>) -> Markup {
    let (class, text) = match v {
        Some(Verdict::Pass) => ("pass", "pass"),
        Some(Verdict::Fail) => ("fail", "fail"),
        Some(Verdict::Error) => ("fail", "error"),
        None => ("missing", "missing"),
    };
    html! { span class={"badge " (class)} { (text) } }
}

/// An id for a gate's section that survives any gate name.
fn anchor(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("gate-{safe}")
}

/// The table of gates: name (linked to its section), kind, verdict, signer.
pub fn gate_summary(gates: &[GateView]) -> Markup {
    html! {
        section class="summary" aria-labelledby="summary-h" {
            h2 id="summary-h" { "Gates" }
            table class="gates" {
                thead { tr { th scope="col" { "Gate" } th scope="col" { "Kind" } th scope="col" { "Verdict" } th scope="col" { "Signed by" } } }
                tbody {
                    @for g in gates {
                        tr data-gate=(g.name) data-verdict=(g.verdict.map_or("missing", Verdict::as_str)) {
                            td { a href={"#" (anchor(&g.name))} { (g.name) } }
                            td { (g.kind) }
                            td { (verdict_badge(g.verdict)) }
                            td { (g.signer.as_deref().unwrap_or("—")) }
                        }
                    }
                }
            }
        }
    }
}

/// One gate: verdict, reasons, the plot of its kind, threshold checks,
/// findings, inputs with digests, and all metrics and details folded away.
pub fn gate_section(g: &GateView) -> Markup {
    let plot = gates::plot(g);
    html! {
        section class="gate" id=(anchor(&g.name)) data-kind=(g.kind) data-verdict=(g.verdict.map_or("missing", Verdict::as_str)) {
            h2 { (g.name) " " span class="kind" { (g.kind) } " " (verdict_badge(g.verdict)) }
            p class="meta muted" {
                @if let Some(s) = &g.signer { "signed by " strong { (s) } " · " }
                @if let Some(t) = &g.finished { "finished " (t) }
                @if let Some(ms) = g.duration_ms { " · " (ms) " ms" }
            }
            @if let Some(e) = &g.error { p class="error" { strong { "Error: " } (e) } }
            @if !g.passed() && !g.reasons.is_empty() {
                ul class="reasons" { @for r in &g.reasons { li { (r) } } }
            }
            @if let Some(p) = plot { div class="figure" { (p) } }
            @if !g.checks.is_empty() {
                h3 { "Thresholds" }
                table class="checks" {
                    thead { tr { th scope="col" { "Metric" } th scope="col" { "Required" } th scope="col" { "Measured" } th scope="col" { "" } } }
                    tbody {
                        @for c in &g.checks {
                            tr class=(if c.passed { "ok" } else { "bad" }) data-metric=(c.metric) {
                                td { code { (c.metric) } }
                                td { (c.threshold.to_string()) }
                                td { (c.measured.map_or_else(|| "not produced".to_string(), crate::fmt_metric)) }
                                td { (if c.passed { "✓" } else { "✗" }) }
                            }
                        }
                    }
                }
            }
            @if !g.findings.is_empty() { h3 { "Findings (" (g.findings.len()) ")" } (findings_table(&g.findings)) }
            @if !g.inputs.is_empty() {
                h3 { "Inputs" }
                table class="inputs" {
                    thead { tr { th scope="col" { "Role" } th scope="col" { "Path or URL" } th scope="col" { "sha256" } } }
                    tbody {
                        @for i in &g.inputs {
                            tr {
                                td { (i.role) }
                                td class="wrap" { (i.uri) }
                                td { @if let Some(d) = &i.sha256 { code class="digest" title=(d.to_hex()) { (short(&d.to_hex())) } } @else { "—" } }
                            }
                        }
                    }
                }
            }
            @if !g.metrics.is_empty() {
                details class="metrics" {
                    summary { "All metrics (" (g.metrics.len()) ")" }
                    table {
                        tbody {
                            @for (k, v) in &g.metrics { tr { td { code { (k) } } td { (crate::fmt_metric(*v)) } } }
                        }
                    }
                }
            }
            @if !g.details.is_null() {
                details class="raw" {
                    summary { "Details (JSON)" }
                    pre { (serde_json::to_string_pretty(&g.details).unwrap_or_default()) }
                }
            }
        }
    }
}

fn short(hex: &str) -> String {
    format!("{}…", hex.get(..16).unwrap_or(hex))
}

fn severity_class(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "sev-high",
        Severity::Medium => "sev-medium",
        Severity::Low => "sev-low",
    }
}

/// Findings, most severe first: severity, rule, message, where, and how to
/// fix it.
pub fn findings_table(findings: &[Finding]) -> Markup {
    let mut sorted: Vec<&Finding> = findings.iter().collect();
    sorted.sort_by_key(|f| std::cmp::Reverse(f.severity));
    html! {
        table class="findings" {
            thead { tr { th scope="col" { "Severity" } th scope="col" { "Rule" } th scope="col" { "Finding" } th scope="col" { "Where" } } }
            tbody {
                @for f in sorted {
                    tr class=(severity_class(f.severity)) data-rule=(f.rule) data-severity=(f.severity.to_string()) {
                        td { span class={"sev " (severity_class(f.severity))} { (f.severity.to_string()) } }
                        td { code { (f.rule) } }
                        td class="wrap" {
                            (f.message)
                            @if let Some(frag) = &f.fragment { br; code class="fragment" { (frag) } }
                            @if let Some(fix) = &f.fix { div class="fix" { strong { "Fix: " } (fix) } }
                        }
                        td class="wrap" {
                            @if let Some(l) = &f.location { (l.to_string()) }
                            @for r in &f.related { br; span class="muted" { (r.to_string()) } }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
