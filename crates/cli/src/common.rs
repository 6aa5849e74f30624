//! Wiring shared by the commands: exit codes, output, digests, policy
//! loading, signing and deciding.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{bail, Context as _, Result};
use clap::ValueEnum;
use portcullis_evidence::predicate::{
    digest_set, format_time, GateIdentity, GateResultPredicate, RecordedCheck, RecordedInput, ToolInfo,
};
use portcullis_evidence::{
    digest_model, DigestOptions, Envelope, EvidenceStore, Sha256Digest, SigningKey, Statement, Subject,
};
use portcullis_gates::GateOutcome;
use portcullis_policy::{Decision, Policy};
use portcullis_report::{Format, GateView, Report};

use crate::progress::Bars;

/// The CLI's exit codes (see the README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Allowed / passed.
    Ok = 0,
    /// Denied / failed.
    Denied = 1,
    /// Could not do the job.
    Error = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// `--format` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Terminal text (coloured on a TTY).
    Human,
    /// Stable JSON (v1).
    Json,
    /// JUnit XML: each gate a test case.
    Junit,
    /// SARIF 2.1.0.
    Sarif,
    /// Markdown (for $GITHUB_STEP_SUMMARY).
    Markdown,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Human => Format::Human,
            FormatArg::Json => Format::Json,
            FormatArg::Junit => Format::Junit,
            FormatArg::Sarif => Format::Sarif,
            FormatArg::Markdown => Format::Markdown,
        }
    }
}

/// Output options shared by every reporting command.
#[derive(Debug, Clone, clap::Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Human)]
    pub format: FormatArg,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl OutputArgs {
    /// Renders and writes a report.
    pub fn emit(&self, report: &Report, policy_file: Option<&str>) -> Result<()> {
        let color = use_color(self.output.as_deref());
        let text = portcullis_report::render(report, self.format.into(), color, policy_file);
        self.write(&text)
    }

    /// Writes text to `--output` or stdout.
    pub fn write(&self, text: &str) -> Result<()> {
        write_output(self.output.as_deref(), text)
    }
}

/// Whether terminal output may use colour: no `--output` file, stdout is a
/// terminal, and `NO_COLOR` is unset.
pub fn use_color(output: Option<&Path>) -> bool {
    output.is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none()
}

/// Writes a rendered report to the `--output` file, or to stdout.
///
/// # Errors
/// The file cannot be written.
pub fn write_output(output: Option<&Path>, text: &str) -> Result<()> {
    match output {
        Some(p) => {
            std::fs::write(p, text).with_context(|| format!("cannot write the report to {}", p.display()))
        }
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// The default policy file name.
pub const DEFAULT_POLICY: &str = "portcullis.yaml";

/// Loads a policy and checks every gate spec with the gate registry, so a
/// bad spec is reported with its position before anything runs.
pub fn load_policy(path: &Path) -> Result<Policy> {
    let mut policy = match portcullis_policy::load(path) {
        Ok(p) => p,
        Err(e) => bail!("{e}"),
    };
    policy.path = path.to_path_buf();
    let mut problems = Vec::new();
    for (name, decl) in &policy.gates {
        if let Err(e) = portcullis_gates::build(&decl.spec) {
            problems.push(format!("  {}:{}: gate '{name}': {e}", path.display(), decl.pos));
        }
    }
    if !problems.is_empty() {
        bail!(
            "{}: {} problem{} in the gate specs\n{}",
            path.display(),
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
            problems.join("\n")
        );
    }
    Ok(policy)
}

/// Digests a model with a progress bar on a TTY.
pub fn digest_with_progress(path: &Path, options: &DigestOptions) -> Result<portcullis_evidence::Manifest> {
    let total = portcullis_evidence::total_bytes(path, options).map_err(|e| anyhow::anyhow!("{e}"))?;
    let bars = Bars::new();
    let pb = bars.bytes("digest", total);
    let cb = |n: u64| pb.inc(n);
    let manifest = digest_model(path, options, Some(&cb)).map_err(|e| anyhow::anyhow!("{e}"))?;
    pb.finish_and_clear();
    Ok(manifest)
}

/// A model named by path (digest computed) or by `--digest`.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// The model file or directory.
    #[arg(value_name = "MODEL_PATH")]
    pub model: Option<PathBuf>,
    /// The model's digest, instead of a path (64 hex digits).
    #[arg(long, value_name = "SHA256", conflicts_with = "model")]
    pub digest: Option<String>,
}

impl ModelArgs {
    /// The digest and a display name.
    pub fn resolve(&self, fallback: Option<&Path>) -> Result<(Sha256Digest, String)> {
        if let Some(d) = &self.digest {
            let digest = Sha256Digest::from_hex(d).map_err(|e| anyhow::anyhow!("--digest: {e}"))?;
            return Ok((digest, format!("sha256:{}", digest.to_hex())));
        }
        let path = self.model.as_deref().or(fallback).ok_or_else(|| {
            anyhow::anyhow!(
                "no model given: pass MODEL_PATH or --digest SHA256 (or set model.path in the policy)"
            )
        })?;
        let m = digest_with_progress(path, &DigestOptions::default())?;
        Ok((m.digest, m.model_name))
    }
}

/// The run's author: `--author`, else the CI actor, else git's user.name.
pub fn detect_author(explicit: Option<&str>) -> Option<String> {
    if let Some(a) = explicit {
        return Some(a.to_string());
    }
    for var in [
        "GITHUB_ACTOR",
        "GITLAB_USER_LOGIN",
        "BUILD_REQUESTEDFOREMAIL",
        "BUILD_REQUESTEDFOR",
        "BUILDKITE_BUILD_CREATOR",
        "CIRCLE_USERNAME",
        "CHANGE_AUTHOR",
        "BUILD_USER_ID",
    ] {
        if let Ok(v) = std::env::var(var) {
            if !v.trim().is_empty() {
                return Some(v.trim().to_string());
            }
        }
    }
    std::process::Command::new("git")
        .args(["config", "user.name"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// Reads a signing key named by `--key` or `PORTCULLIS_KEY`.
pub fn signing_key(path: Option<&Path>, what: &str) -> Result<SigningKey> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => match std::env::var_os("PORTCULLIS_KEY") {
            Some(p) => PathBuf::from(p),
            None => bail!("{what} needs a signing key: pass --key FILE (or set PORTCULLIS_KEY); create one with `portcullis keygen --out keys/NAME`"),
        },
    };
    SigningKey::from_pem_file(&path).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The gate-result predicate for an outcome.
pub fn predicate_of(
    outcome: &GateOutcome,
    policy: Option<&Policy>,
    stage: Option<&str>,
    author: Option<&str>,
) -> GateResultPredicate {
    GateResultPredicate {
        gate: GateIdentity {
            name: outcome.name.clone(),
            kind: outcome.kind.clone(),
            spec: serde_json::to_value(&outcome.spec).unwrap_or_default(),
            spec_digest: digest_set(&outcome.spec.digest()),
        },
        policy_digest: policy.map(|p| digest_set(&p.digest)),
        stage: stage.map(str::to_string),
        verdict: outcome.verdict,
        metrics: outcome.metrics.clone(),
        checks: outcome
            .checks
            .iter()
            .map(|c| RecordedCheck {
                metric: c.metric.clone(),
                threshold: c.threshold,
                measured: c.measured,
                passed: c.passed,
            })
            .collect(),
        findings: outcome.findings.clone(),
        reasons: outcome.reasons.clone(),
        details: outcome.details.clone(),
        inputs: outcome
            .inputs
            .iter()
            .map(|i| RecordedInput {
                role: i.role.clone(),
                uri: i.uri.clone(),
                digest: i.sha256.as_ref().map(digest_set),
                model: i.model.clone(),
            })
            .collect(),
        error: outcome.error.clone(),
        author: author.map(str::to_string),
        seed: outcome.seed,
        started_on: outcome.started.clone(),
        finished_on: format_time(SystemTime::now()),
        tool: tool_info(),
    }
}

/// This tool's name and version.
pub fn tool_info() -> ToolInfo {
    ToolInfo {
        name: "portcullis".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// Signs a predicate about `digest` and appends it to the bundle.
pub fn sign_and_append<P: serde::Serialize>(
    store: &EvidenceStore,
    digest: &Sha256Digest,
    name: &str,
    predicate_type: &str,
    predicate: &P,
    key: &SigningKey,
) -> Result<PathBuf> {
    let statement = Statement::new(
        Subject::sha256(name, digest),
        predicate_type,
        serde_json::to_value(predicate).context("cannot serialise the predicate")?,
    );
    let env = Envelope::sign(&statement, key).map_err(|e| anyhow::anyhow!("{e}"))?;
    store.append(digest, &env).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Reads, verifies and decides; returns the decision and a report of it.
pub fn decide_from_store(
    policy: &Policy,
    stage: &str,
    store: &EvidenceStore,
    digest: &Sha256Digest,
) -> Result<(Decision, Report)> {
    let bundle = store.read(digest).map_err(|e| anyhow::anyhow!("{e}"))?;
    let evidence = portcullis_policy::classify(policy, digest, &bundle);
    let decision = portcullis_policy::decide(policy, stage, &evidence, SystemTime::now());
    let report = report_of(policy, &decision, digest);
    Ok((decision, report))
}

/// A report of a decision: one gate view per required gate.
pub fn report_of(policy: &Policy, decision: &Decision, digest: &Sha256Digest) -> Report {
    let gates = decision
        .gates
        .iter()
        .map(|g| {
            let kind = policy.gates.get(&g.gate).map_or("?", |d| d.spec.kind.as_str());
            match &g.result {
                Some(p) => {
                    let mut v = GateView::from_predicate(p, g.signer.clone());
                    if g.state == portcullis_policy::GateState::Waived
                        || (v.reasons.is_empty() && !v.passed())
                    {
                        v.reasons.push(g.detail.clone());
                    }
                    v
                }
                None => GateView::missing(&g.gate, kind, &g.detail),
            }
        })
        .collect();
    Report {
        digest: Some(digest.to_hex()),
        decision: Some(decision.clone()),
        gates,
    }
}

/// The exit code of a decision.
pub fn exit_of(decision: &Decision) -> Exit {
    if decision.allowed {
        Exit::Ok
    } else {
        Exit::Denied
    }
}
