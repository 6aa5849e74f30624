//! Renderers: terminal, JSON, JUnit XML, SARIF 2.1.0, Markdown and HTML.
//!
//! Every command that reports builds one [`Report`] (a decision and gate
//! results) or a view of its findings ([`audit_ci::AuditView`],
//! [`scan::ScanSource`]) and picks a renderer; no command formats output by
//! hand, so the formats never drift apart. JSON is always written from the
//! frozen types in [`json::v1`]. The analyzers (`scan`, `ci`) do not depend
//! on this crate, nor this crate on them: the CLI hands their reports over
//! as views of the shared evidence types.
#![deny(missing_docs)]

pub mod audit_ci;
pub mod html;
pub mod human;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod sarif;
pub mod scan;
pub mod show;
pub mod view;

pub use view::{GateView, Report};

/// Formats a metric value compactly (up to 6 decimals, no trailing zeros).
pub fn fmt_metric(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Output formats of deciding commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Terminal text.
    Human,
    /// Stable JSON (v1).
    Json,
    /// JUnit XML.
    Junit,
    /// SARIF 2.1.0.
    Sarif,
    /// Markdown.
    Markdown,
    /// A self-contained HTML page with plots.
    Html,
}

/// Renders `report` in `format`.
pub fn render(report: &Report, format: Format, color: bool, policy_file: Option<&str>) -> String {
    match format {
        Format::Human => human::render(report, color),
        Format::Json => json::render(report),
        Format::Junit => junit::render(report),
        Format::Sarif => sarif::render(report, policy_file),
        Format::Markdown => markdown::render(report),
        Format::Html => html::render(
            report,
            &html::Meta {
                model: report.model.clone(),
                command: None,
            },
        ),
    }
}
