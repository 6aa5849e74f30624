//! Stable JSON output. Users script against it, so it is written from the
//! frozen `v1` types below, converted from internal ones: refactors inside
//! the workspace never change this shape.

use serde::Serialize;

use crate::view::{GateView, Report};

/// Frozen output types, version 1.
pub mod v1 {
    use std::collections::BTreeMap;

    use portcullis_evidence::{Confidence, Finding, Location, Severity, Sha256Digest};
    use serde::Serialize;

    /// The top-level object of a deciding command.
    #[derive(Debug, Clone, Serialize)]
    pub struct Output {
        /// Always 1.
        pub version: u32,
        /// The model digest.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub digest: Option<String>,
        /// The decision, when the command decides.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub decision: Option<Decision>,
        /// Gate results.
        pub gates: Vec<Gate>,
    }

    /// The decision.
    #[derive(Debug, Clone, Serialize)]
    pub struct Decision {
        /// Stage.
        pub stage: String,
        /// Allowed?
        pub allowed: bool,
        /// Why not.
        pub reasons: Vec<Reason>,
        /// Approvers counted.
        pub approvers: Vec<String>,
        /// Approvals required.
        pub approvals_required: u32,
        /// Non-blocking notes (waivers, rejected evidence).
        pub notes: Vec<String>,
    }

    /// One reason.
    #[derive(Debug, Clone, Serialize)]
    pub struct Reason {
        /// Stable code.
        pub code: String,
        /// Gate concerned.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub gate: Option<String>,
        /// Message.
        pub message: String,
    }

    /// One gate.
    #[derive(Debug, Clone, Serialize)]
    pub struct Gate {
        /// Name.
        pub name: String,
        /// Kind.
        pub kind: String,
        /// `pass`, `fail`, `error` or `missing`.
        pub verdict: String,
        /// Metrics (NaN becomes null).
        pub metrics: BTreeMap<String, Option<f64>>,
        /// Threshold checks.
        pub checks: Vec<Check>,
        /// Findings.
        pub findings: Vec<Finding>,
        /// Why it failed.
        pub reasons: Vec<String>,
        /// Details.
        pub details: serde_json::Value,
        /// The error.
        pub error: Option<String>,
        /// Signer, when read from evidence.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub signer: Option<String>,
    }

    /// One threshold check.
    #[derive(Debug, Clone, Serialize)]
    pub struct Check {
        /// Metric.
        pub metric: String,
        /// Threshold text, e.g. ">= 0.85".
        pub threshold: String,
        /// Measured value.
        pub measured: Option<f64>,
        /// Held?
        pub passed: bool,
    }

    /// The `audit-ci --format json` document:
    /// `{"version": 1, "findings": [...]}`.
    #[derive(Debug, Clone, Serialize)]
    pub struct AuditCiOutput<'a> {
        /// Always 1.
        pub version: u32,
        /// Findings sorted by file, line, column, rule, message.
        pub findings: Vec<AuditCiFinding<'a>>,
    }

    /// One `audit-ci` finding. The fields of the shared finding type, in
    /// alphabetical order: the order the document had before it carried a
    /// version, kept so scripts and diffs see no change.
    #[derive(Debug, Clone, Serialize)]
    pub struct AuditCiFinding<'a> {
        /// How sure the auditor is.
        pub confidence: Confidence,
        /// How to fix it.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub fix: Option<&'a str>,
        /// The offending fragment.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub fragment: Option<&'a str>,
        /// The primary place (usually the deploy step).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub location: Option<AuditCiLocation<'a>>,
        /// What was found.
        pub message: &'a str,
        /// Other places involved, each with a label.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub related: Vec<AuditCiLocation<'a>>,
        /// The rule id.
        pub rule: &'a str,
        /// How bad it is.
        pub severity: Severity,
    }

    impl<'a> From<&'a Finding> for AuditCiFinding<'a> {
        fn from(f: &'a Finding) -> Self {
            AuditCiFinding {
                confidence: f.confidence,
                fix: f.fix.as_deref(),
                fragment: f.fragment.as_deref(),
                location: f.location.as_ref().map(AuditCiLocation::from),
                message: &f.message,
                related: f.related.iter().map(AuditCiLocation::from).collect(),
                rule: &f.rule,
                severity: f.severity,
            }
        }
    }

    /// A place in an `audit-ci` finding, fields in alphabetical order.
    #[derive(Debug, Clone, Serialize)]
    pub struct AuditCiLocation<'a> {
        /// 1-based column, in characters.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub column: Option<u32>,
        /// 1-based column just past the region.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub end_column: Option<u32>,
        /// 1-based last line of the region.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub end_line: Option<u32>,
        /// The file, as the auditor showed it.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub file: Option<&'a str>,
        /// What is at this place ("deploy step", "gate", "condition").
        #[serde(skip_serializing_if = "Option::is_none")]
        pub label: Option<&'a str>,
        /// 1-based line.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub line: Option<u32>,
        /// A member inside the file.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub member: Option<&'a str>,
        /// 0-based byte offset.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub offset: Option<u64>,
    }

    impl<'a> From<&'a Location> for AuditCiLocation<'a> {
        fn from(l: &'a Location) -> Self {
            AuditCiLocation {
                column: l.column,
                end_column: l.end_column,
                end_line: l.end_line,
                file: l.file.as_deref(),
                label: l.label.as_deref(),
                line: l.line,
                member: l.member.as_deref(),
                offset: l.offset,
            }
        }
    }

    /// The `scan --format json` document:
    /// `{"version": 1, "files": [...], "findings": [...]}`. The CLI writes
    /// it in two halves on two threads (see [`crate::scan::json`]); this
    /// type is the whole document, for tests and library users.
    #[derive(Debug, Clone, Serialize)]
    pub struct ScanOutput<'a> {
        /// Always 1.
        pub version: u32,
        /// Every file scanned, in path order.
        pub files: Vec<ScannedFile<'a>>,
        /// Every finding with its fingerprint, grouped by file in path order.
        pub findings: Vec<ScanFinding<'a>>,
    }

    /// One scanned file.
    #[derive(Debug, Clone, Serialize)]
    pub struct ScannedFile<'a> {
        /// The path as given or found while walking.
        pub path: &'a str,
        /// The path relative to its scan root, `/`-separated.
        pub relative_path: &'a str,
        /// Size in bytes.
        pub size: u64,
        /// Formats recognised at the top level, kebab-case.
        pub formats: Vec<&'a str>,
        /// SHA-256 of the bytes, when computed.
        pub sha256: Option<&'a Sha256Digest>,
    }

    /// One scan finding: the fields of the shared finding type in its
    /// declaration order, then the fingerprint.
    #[derive(Debug, Clone, Serialize)]
    pub struct ScanFinding<'a> {
        /// The rule id.
        pub rule: &'a str,
        /// How bad it is.
        pub severity: Severity,
        /// How sure the scanner is.
        pub confidence: Confidence,
        /// What was found.
        pub message: &'a str,
        /// Where (file, archive member, byte offset).
        #[serde(skip_serializing_if = "Option::is_none")]
        pub location: Option<&'a Location>,
        /// Other places involved.
        #[serde(skip_serializing_if = "no_locations")]
        pub related: &'a [Location],
        /// The global, op or name matched.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub fragment: Option<&'a str>,
        /// How to fix it.
        #[serde(skip_serializing_if = "Option::is_none")]
        pub fix: Option<&'a str>,
        /// Stable id of the finding (the scanner's fingerprint; the same as
        /// the SARIF `partialFingerprints`).
        pub fingerprint: String,
    }

    // serde passes a reference to the field, here itself a slice reference.
    fn no_locations(l: &&[Location]) -> bool {
        l.is_empty()
    }

    impl<'a> ScanFinding<'a> {
        /// A finding with its fingerprint.
        pub fn new(f: &'a Finding, fingerprint: String) -> Self {
            ScanFinding {
                rule: &f.rule,
                severity: f.severity,
                confidence: f.confidence,
                message: &f.message,
                location: f.location.as_ref(),
                related: &f.related,
                fragment: f.fragment.as_deref(),
                fix: f.fix.as_deref(),
                fingerprint,
            }
        }
    }
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Converts one gate view to the frozen shape.
pub fn gate_v1(g: &GateView) -> v1::Gate {
    v1::Gate {
        name: g.name.clone(),
        kind: g.kind.clone(),
        verdict: g
            .verdict
            .map_or("missing".to_string(), |v| v.as_str().to_string()),
        metrics: g.metrics.iter().map(|(k, v)| (k.clone(), finite(*v))).collect(),
        checks: g
            .checks
            .iter()
            .map(|c| v1::Check {
                metric: c.metric.clone(),
                threshold: c.threshold.to_string(),
                measured: c.measured.and_then(finite),
                passed: c.passed,
            })
            .collect(),
        findings: g.findings.clone(),
        reasons: g.reasons.clone(),
        details: g.details.clone(),
        error: g.error.clone(),
        signer: g.signer.clone(),
    }
}

/// Converts a report to the frozen shape.
pub fn output_v1(report: &Report) -> v1::Output {
    v1::Output {
        version: 1,
        digest: report.digest.clone(),
        decision: report.decision.as_ref().map(|d| v1::Decision {
            stage: d.stage.clone(),
            allowed: d.allowed,
            reasons: d
                .reasons
                .iter()
                .map(|r| v1::Reason {
                    code: r.code.to_string(),
                    gate: r.gate.clone(),
                    message: r.message.clone(),
                })
                .collect(),
            approvers: d.approvers.clone(),
            approvals_required: d.approvals_required,
            notes: d.notes.clone(),
        }),
        gates: report.gates.iter().map(gate_v1).collect(),
    }
}

/// Pretty JSON of any serialisable value, with a trailing newline.
pub fn to_pretty<T: Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

/// The report as JSON.
pub fn render(report: &Report) -> String {
    to_pretty(&output_v1(report))
}
