//! The `scan` gate: the model's files hold no code-execution or
//! exfiltration payload.
//!
//! Runs the model-file scanner (`portcullis-scan`) over every file of the
//! artifact. The scanner never loads what it reads; it detects formats by
//! content. The gate fails when any finding reaches `fail_on` (default
//! `high`), and errors — fails closed — when nothing could be scanned.

use std::path::PathBuf;

use portcullis_evidence::Severity;
use portcullis_scan::{scan_paths, Allowlist, ScanOptions};
use serde::Deserialize;
use serde_json::json;

use crate::gate::{Evaluation, Gate, GateContext, GateError, Input};

/// The `scan` gate's spec keys; unknown keys are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanParams {
    #[serde(default)]
    fail_on: Option<String>,
    #[serde(default)]
    strict: bool,
    #[serde(default)]
    allowlist: Option<PathBuf>,
    #[serde(default)]
    description: Option<String>,
}

/// The `scan` gate.
#[derive(Debug)]
pub struct ScanGate {
    fail_on: Severity,
    strict: bool,
    allowlist: Option<PathBuf>,
}

impl ScanGate {
    /// Builds the gate from its spec parameters.
    ///
    /// # Errors
    /// [`GateError::Spec`] for a bad `fail_on`.
    pub fn new(p: ScanParams) -> Result<Self, GateError> {
        let fail_on = match &p.fail_on {
            Some(s) => s.parse().map_err(|e| GateError::Spec {
                kind: ScanGate::KIND.into(),
                message: format!("`fail_on`: {e}"),
            })?,
            None => Severity::High,
        };
        let _ = p.description;
        Ok(ScanGate {
            fail_on,
            strict: p.strict,
            allowlist: p.allowlist,
        })
    }
}

impl Gate for ScanGate {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    fn evaluate(&self, ctx: &GateContext<'_>) -> Result<Evaluation, GateError> {
        let path = ctx.model.path.as_ref().ok_or_else(|| {
            GateError::Input("the scan gate needs a model path (model.path or --model)".into())
        })?;
        let allowlist = match &self.allowlist {
            Some(a) => {
                let p = ctx.resolve(a);
                Some(Allowlist::from_file(&p).map_err(|e| GateError::Input(e.to_string()))?)
            }
            None => None,
        };
        let options = ScanOptions {
            strict: self.strict,
            allowlist,
            // Evidence records every input file's digest.
            digests: true,
            ..ScanOptions::default()
        };
        ctx.progress.message("scanning model files");
        let report =
            scan_paths(std::slice::from_ref(path), &options).map_err(|e| GateError::Input(e.to_string()))?;
        let mut eval = Evaluation::default();
        eval.metrics
            .insert("files_scanned".into(), report.files.len() as f64);
        for s in Severity::ALL {
            let n = report.findings.iter().filter(|f| f.severity == s).count();
            eval.metrics.insert(format!("findings[{s}]"), n as f64);
        }
        let blocking: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.severity >= self.fail_on)
            .collect();
        if !blocking.is_empty() {
            let first = blocking
                .first()
                .map(|f| format!(": {} ({})", f.message, f.rule))
                .unwrap_or_default();
            eval.failures.push(format!(
                "{} finding{} at or above '{}'{first}",
                blocking.len(),
                if blocking.len() == 1 { "" } else { "s" },
                self.fail_on
            ));
        }
        for f in &report.files {
            eval.inputs.push(Input {
                role: "model-file".into(),
                uri: f.path.clone(),
                sha256: f.sha256,
                model: None,
            });
        }
        eval.details = json!({
            "fail_on": self.fail_on.as_str(),
            "strict": self.strict,
            "files": report.files,
        });
        eval.findings = report.findings;
        Ok(eval)
    }
}
