//! The `command` gate: any external tool as a gate.
//!
//! Runs a program (argv, never a shell string, so nothing is re-parsed) with a
//! timeout; passes on exit 0. Optionally reads a JSON report the program wrote
//! and lifts numbers out of it by JSON pointer, so garak, promptfoo or an
//! in-house script become metrics that `require:` thresholds can judge.
//! With `format: garak` or `format: promptfoo` the report is imported by
//! [`crate::llm::import`] into pass rates per probe/detector or per
//! plugin/strategy.
//!
//! The program learns what to evaluate from the environment:
//! `PORTCULLIS_MODEL` (path), `PORTCULLIS_MODEL_DIGEST`, `PORTCULLIS_SEED`,
//! `PORTCULLIS_REFERENCE` (when declared).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use portcullis_evidence::{Finding, Severity};
use serde::Deserialize;
use serde_json::json;

use crate::gate::{Evaluation, Gate, GateContext, GateError, Input};
use crate::params::parse_duration;

/// The largest report file read, in bytes.
pub const MAX_REPORT_BYTES: u64 = 64 * 1024 * 1024;
/// How much of stdout and stderr is kept (the tail), in bytes.
pub const OUTPUT_TAIL_BYTES: usize = 8 * 1024;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// The `command` gate's spec keys; unknown keys are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandParams {
    argv: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    cwd: Option<PathBuf>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default)]
    report: Option<PathBuf>,
    #[serde(default)]
    metrics: BTreeMap<String, String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    format: Option<ReportFormat>,
}

/// How the report is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ReportFormat {
    /// Plain JSON; `metrics` pick numbers by JSON pointer.
    Json,
    /// garak `report.jsonl`: eval rows become pass rates.
    Garak,
    /// promptfoo results JSON: per-plugin and per-strategy pass rates.
    Promptfoo,
}

/// The `command` gate.
#[derive(Debug)]
pub struct CommandGate {
    params: CommandParams,
    timeout: Duration,
}

impl CommandGate {
    /// Builds the gate from its spec parameters.
    ///
    /// # Errors
    /// [`GateError::Spec`] for an empty `argv`, a bad timeout,
    /// or `metrics` without a `report`.
    pub fn new(params: CommandParams) -> Result<Self, GateError> {
        let spec_err = |message: String| GateError::Spec {
            kind: CommandGate::KIND.into(),
            message,
        };
        if params.argv.first().is_none_or(|p| p.is_empty()) {
            return Err(spec_err(
                "`argv` must name a program, e.g. argv: [python, eval.py]".into(),
            ));
        }
        if params.format.is_some_and(|f| f != ReportFormat::Json) && params.report.is_none() {
            return Err(spec_err(
                "`format` imports a report: set `report` to the file garak or promptfoo writes".into(),
            ));
        }
        if params.format == Some(ReportFormat::Garak) && !params.metrics.is_empty() {
            return Err(spec_err(
                "a garak report is JSON lines: `metrics` pointers do not apply (the importer names the metrics)".into(),
            ));
        }
        if !params.metrics.is_empty() && params.report.is_none() {
            return Err(spec_err(
                "`metrics` reads from a JSON report: set `report` to the file the command writes".into(),
            ));
        }
        for (name, pointer) in &params.metrics {
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return Err(spec_err(format!(
                    "metric '{name}': '{pointer}' is not a JSON pointer (they start with '/', e.g. /results/accuracy)"
                )));
            }
        }
        let timeout = match &params.timeout {
            Some(t) => parse_duration(t).map_err(|e| spec_err(format!("`timeout`: {e}")))?,
            None => DEFAULT_TIMEOUT,
        };
        Ok(CommandGate { params, timeout })
    }
}

impl Gate for CommandGate {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    fn evaluate(&self, ctx: &GateContext<'_>) -> Result<Evaluation, GateError> {
        let p = &self.params;
        let program = p.argv.first().map(String::as_str).unwrap_or_default();
        let cwd = p
            .cwd
            .as_deref()
            .map_or_else(|| ctx.base_dir.to_path_buf(), |c| ctx.resolve(c));
        let mut cmd = Command::new(program);
        cmd.args(p.argv.iter().skip(1))
            .current_dir(&cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("PORTCULLIS_SEED", ctx.seed.to_string());
        // The command runs in its own directory: hand it absolute paths.
        if let Some(path) = &ctx.model.path {
            cmd.env("PORTCULLIS_MODEL", absolute(path));
        }
        if let Some(d) = &ctx.model.digest {
            cmd.env("PORTCULLIS_MODEL_DIGEST", d.to_hex());
        }
        if let Some(path) = ctx.reference.and_then(|r| r.path.as_ref()) {
            cmd.env("PORTCULLIS_REFERENCE", absolute(path));
        }
        cmd.envs(&p.env);
        // A stale report from an earlier run must never be read as this run's.
        let report_path = p.report.as_deref().map(|r| {
            if r.is_absolute() {
                r.to_path_buf()
            } else {
                cwd.join(r)
            }
        });
        if let Some(rp) = &report_path {
            if rp.exists() {
                std::fs::remove_file(rp).map_err(|e| {
                    GateError::Input(format!("cannot remove the old report {}: {e}", rp.display()))
                })?;
            }
        }
        ctx.progress.message(&format!("running {}", p.argv.join(" ")));
        let mut child = cmd.spawn().map_err(|e| {
            GateError::Input(format!(
                "cannot start '{program}' in {}: {e} (is it installed and on PATH?)",
                cwd.display()
            ))
        })?;
        let stdout = child.stdout.take().map(|s| thread::spawn(move || read_tail(s)));
        let stderr = child.stderr.take().map(|s| thread::spawn(move || read_tail(s)));
        let start = Instant::now();
        let mut deadline = start + self.timeout;
        if let Some(d) = ctx.deadline {
            deadline = deadline.min(d);
        }
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(GateError::Deadline(format!(
                        "'{}' was still running after {:.1}s and was killed",
                        p.argv.join(" "),
                        start.elapsed().as_secs_f64()
                    )));
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(GateError::Other(format!("waiting for '{program}': {e}"))),
            }
        };
        let stdout = stdout.and_then(|h| h.join().ok()).unwrap_or_default();
        let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
        let mut eval = Evaluation::default();
        let code = status.code();
        eval.metrics
            .insert("exit_code".into(), code.map_or(-1.0, f64::from));
        // promptfoo exits 100 when any test fails: that is its verdict on
        // the model, which the imported metrics and `require:` judge here.
        let tests_failed = p.format == Some(ReportFormat::Promptfoo) && code == Some(100);
        let ran_ok = code == Some(0) || tests_failed;
        if !ran_ok {
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).map(str::trim);
            let why = match (code, last) {
                (Some(c), Some(l)) => format!("'{}' exited with status {c}: {l}", p.argv.join(" ")),
                (Some(c), None) => format!("'{}' exited with status {c}", p.argv.join(" ")),
                (None, _) => format!("'{}' was killed by a signal", p.argv.join(" ")),
            };
            eval.findings.push(
                Finding::new("command-failed", Severity::High, why.clone())
                    .fix("read the command's stderr in the gate details and fix what it reports"),
            );
            eval.failures.push(why);
        }
        // A command that failed has already failed the gate; its report, if
        // any, is not read (a failing tool often writes none).
        if let Some(rp) = report_path.as_ref().filter(|_| ran_ok) {
            let (metrics, digest) = read_report(rp, &p.metrics, p.format.unwrap_or(ReportFormat::Json))?;
            eval.metrics.extend(metrics);
            eval.inputs.push(Input {
                role: "report".into(),
                uri: rp.display().to_string(),
                sha256: Some(digest),
                model: None,
            });
        }
        eval.details = json!({
            "argv": p.argv,
            "cwd": cwd.display().to_string(),
            "description": p.description,
            "exit_code": code,
            "stdout_tail": stdout,
            "stderr_tail": stderr,
        });
        Ok(eval)
    }
}

fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn read_tail(mut r: impl Read) -> String {
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(buf.get(..n).unwrap_or_default());
                if tail.len() > OUTPUT_TAIL_BYTES * 2 {
                    let cut = tail.len() - OUTPUT_TAIL_BYTES;
                    tail.drain(..cut);
                }
            }
        }
    }
    if tail.len() > OUTPUT_TAIL_BYTES {
        let cut = tail.len() - OUTPUT_TAIL_BYTES;
        tail.drain(..cut);
    }
    String::from_utf8_lossy(&tail).into_owned()
}

fn read_report(
    path: &std::path::Path,
    pointers: &BTreeMap<String, String>,
    format: ReportFormat,
) -> Result<(BTreeMap<String, f64>, portcullis_evidence::Sha256Digest), GateError> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        GateError::Input(format!(
            "the command did not write its report {shown}: {e} (check `report:` and the command's arguments)"
        ))
    })?;
    if meta.len() > MAX_REPORT_BYTES {
        return Err(GateError::Input(format!(
            "report {shown} is {} bytes, over the {MAX_REPORT_BYTES}-byte limit",
            meta.len()
        )));
    }
    let bytes =
        std::fs::read(path).map_err(|e| GateError::Input(format!("cannot read report {shown}: {e}")))?;
    let digest = crate::params::sha256(&bytes);
    if format == ReportFormat::Garak {
        let text = String::from_utf8_lossy(&bytes);
        let metrics = crate::llm::import::garak(&text, &shown.to_string())
            .map_err(|e| GateError::Input(e.to_string()))?;
        return Ok((metrics, digest));
    }
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        GateError::Input(format!(
            "report {shown} is not valid JSON at line {}, column {}: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let mut metrics = BTreeMap::new();
    if format == ReportFormat::Promptfoo {
        metrics = crate::llm::import::promptfoo(&value, &shown.to_string())
            .map_err(|e| GateError::Input(e.to_string()))?;
    }
    for (name, pointer) in pointers {
        let v = value.pointer(pointer).ok_or_else(|| {
            GateError::Input(format!(
                "report {shown} has nothing at JSON pointer '{pointer}' (metric '{name}')"
            ))
        })?;
        let n = match v {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            _ => None,
        }
        .ok_or_else(|| {
            GateError::Input(format!(
                "report {shown}: '{pointer}' (metric '{name}') is {v}, not a number or boolean"
            ))
        })?;
        metrics.insert(name.clone(), n);
    }
    Ok((metrics, digest))
}
