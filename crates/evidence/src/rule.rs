//! Static metadata for a rule, check or gate kind.
//!
//! The scanner and the CI auditor each keep a registry of these, one line per
//! rule; renderers use them for SARIF `tool.driver.rules`, help links and the
//! terminal's "why" line. The id is also the docs anchor and the ignore key.

use serde::Serialize;

use crate::Severity;

/// Where the rule documentation lives; a rule's `docs` path is joined to it.
pub const DOCS_BASE: &str = "https://github.com/portcullis-dev/portcullis/blob/main/docs/";

/// Metadata for one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// Stable kebab-case id, e.g. `pickle-code-exec`.
    pub id: &'static str,
    /// A short human name, e.g. "Pickle imports a code-execution global".
    pub name: &'static str,
    /// One or two sentences: what it detects and why it matters.
    pub description: &'static str,
    /// How to fix it.
    pub help: &'static str,
    /// The severity used when the finding itself does not say otherwise.
    pub default_severity: Severity,
    /// Docs page and anchor relative to [`DOCS_BASE`], e.g. `scan.md#pickle-code-exec`.
    pub docs: &'static str,
}

impl RuleInfo {
    /// The full documentation URL.
    pub fn help_uri(&self) -> String {
        format!("{DOCS_BASE}{}", self.docs)
    }
}
