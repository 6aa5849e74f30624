//! `portcullis decide` and `portcullis verify`.
//!
//! Both decide from recorded evidence and check every signature against the
//! policy's keys. `verify` is the deploy-side form: the policy must be given
//! explicitly (it never comes from the evidence), can be pinned by digest,
//! and the decision can be written as a SLSA Verification Summary.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use portcullis_engine::store::DirStore;
use portcullis_engine::{SystemClock, VerifyRequest};
use portcullis_evidence::Sha256Digest;
use portcullis_report::Report;

use crate::common::{self, Exit, ModelArgs, OutputArgs};
use crate::progress::Terminal;

/// Which decision `decide` and `report` render.
#[derive(Debug, clap::Args)]
pub struct StageArgs {
    /// The stage.
    #[arg(long)]
    pub stage: String,
    /// The policy file.
    #[arg(long, default_value = common::DEFAULT_POLICY)]
    pub policy: PathBuf,
    /// The evidence directory.
    #[arg(long, default_value = portcullis_evidence::store::DEFAULT_DIR)]
    pub evidence: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Arguments of `decide`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub on: StageArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The stage being deployed to.
    #[arg(long)]
    pub stage: String,
    /// The deployer's policy (required: it never comes from the evidence),
    /// unless --server asks the registry, which holds its own.
    #[arg(long, required_unless_present = "server")]
    pub policy: Option<PathBuf>,
    /// Refuse unless the policy file's sha256 is exactly this.
    #[arg(long, value_name = "SHA256")]
    pub policy_sha256: Option<String>,
    /// The evidence directory, or the model's OCI artifact
    /// (oci://REGISTRY/REPOSITORY@sha256:DIGEST) whose attached evidence
    /// decides; then MODEL_PATH is optional and, when given, must be the
    /// artifact's files.
    #[arg(long, required_unless_present = "server", value_name = "DIR|OCI_REF")]
    pub evidence: Option<PathBuf>,
    /// Ask the registry at URL instead: the stage must hold this model's
    /// recomputed digest and allow it now.
    #[arg(long, value_name = "URL", conflicts_with_all = ["policy", "evidence", "policy_sha256", "key"])]
    pub server: Option<String>,
    /// The model's name in the registry (default: the path's final component).
    #[arg(long, requires = "server")]
    pub name: Option<String>,
    /// Trust this PEM CA certificate for an https:// registry, in addition
    /// to the system's roots; also PORTCULLIS_CA_CERT.
    #[arg(long, env = "PORTCULLIS_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// Write the decision as a SLSA Verification Summary statement to FILE
    /// (a DSSE envelope when --key is given).
    #[arg(long, value_name = "FILE")]
    pub attest: Option<PathBuf>,
    /// Key to sign the verification summary with.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The model file or directory (its digest is recomputed); optional
    /// with --evidence oci://….
    #[arg(value_name = "MODEL_PATH")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Arguments of `report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(flatten)]
    pub on: StageArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = common::FormatArg::Html)]
    pub format: common::FormatArg,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Runs `report`: the decision and its evidence for a reviewer. Unlike
/// `decide` it exits 0 when the stage is denied (the report was written);
/// deciding is `decide`'s and `verify`'s job.
pub fn report(args: ReportArgs) -> Result<Exit> {
    let out = OutputArgs {
        format: args.format,
        output: args.output.clone(),
    };
    decide(Args { on: args.on, out })?;
    if let Some(p) = &args.output {
        eprintln!("report: {}", p.display());
    }
    Ok(Exit::Ok)
}

/// Runs `decide`.
pub fn decide(args: Args) -> Result<Exit> {
    let on = &args.on;
    let policy = portcullis_engine::load_policy(&on.policy)?;
    portcullis_engine::stage_gates(&policy, &on.stage, &[])?;
    let fallback = policy.model.as_ref().map(|m| m.path.clone());
    let (digest, name) = on.model.resolve(fallback.as_deref())?;
    let store = DirStore::new(&on.evidence);
    let decided = portcullis_engine::decide(&policy, &on.stage, &store, &digest, &SystemClock)?;
    let mut report = Report::of_decision(&policy, &decided.decision, &digest);
    report.model = Some(name);
    args.out.emit(&report, Some(&on.policy.display().to_string()))?;
    Ok(common::exit_of(&decided.decision))
}

/// Runs `verify`.
pub fn verify(args: VerifyArgs) -> Result<Exit> {
    let model_required = || {
        args.model.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "no model given: pass MODEL_PATH (or --evidence oci://… to verify an OCI artifact)"
            )
        })
    };
    let (Some(policy_path), Some(evidence)) = (&args.policy, &args.evidence) else {
        let server = crate::cmd::registry::ServerArgs {
            server: args.server.clone().unwrap_or_default(),
            ca_cert: args.ca_cert.clone(),
        };
        return crate::cmd::registry::verify_remote(
            &server,
            args.name.as_deref(),
            &args.stage,
            model_required()?,
            args.attest.as_deref(),
        );
    };
    let pin = args
        .policy_sha256
        .as_deref()
        .map(Sha256Digest::from_hex)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--policy-sha256: {e}"))?;
    let policy = portcullis_engine::load_policy_pinned(policy_path, pin.as_ref())?;
    let key = match &args.key {
        Some(k) => Some(common::signing_key(Some(k), "verify --attest")?),
        None => None,
    };
    if crate::cmd::oci::is_oci(evidence) {
        return crate::cmd::oci::verify(&crate::cmd::oci::Verify {
            target: evidence,
            policy: &policy,
            policy_path,
            stage: &args.stage,
            files: args.model.as_deref(),
            attest: args.attest.as_deref(),
            key: key.as_ref(),
            ca_cert: args.ca_cert.as_deref(),
            out: &args.out,
        });
    }
    let model = model_required()?;
    if !evidence.is_dir() {
        bail!(
            "evidence directory {} does not exist; fetch the model's evidence bundle before verifying",
            evidence.display()
        );
    }
    let store = DirStore::new(evidence);
    let request = VerifyRequest {
        policy: &policy,
        stage: &args.stage,
        model,
        summarise: args.attest.is_some(),
        summary_key: key.as_ref(),
    };
    let done = portcullis_engine::verify(&request, &store, &SystemClock, &Terminal::new())?;
    if let (Some(path), Some(summary)) = (&args.attest, &done.summary) {
        let text = summary.to_json()?;
        std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut report = Report::of_decision(&policy, &done.decided.decision, &done.decided.digest);
    report.model = Some(model.display().to_string());
    args.out.emit(&report, Some(&policy_path.display().to_string()))?;
    Ok(common::exit_of(&done.decided.decision))
}
