//! `portcullis decide` and `portcullis verify`.
//!
//! Both decide from recorded evidence and check every signature against the
//! policy's keys. `verify` is the deploy-side form: the policy must be given
//! explicitly (it never comes from the evidence), can be pinned by digest,
//! and the decision can be written as a SLSA Verification Summary.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::{bail, Context as _, Result};
use portcullis_evidence::predicate::{digest_set, format_time, VSA_V1};
use portcullis_evidence::{Envelope, EvidenceStore, Sha256Digest, Statement, Subject};

use crate::common::{self, Exit, ModelArgs, OutputArgs};

/// Arguments of `decide`.
#[derive(Debug, clap::Args)]
pub struct Args {
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
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Arguments of `verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The stage being deployed to.
    #[arg(long)]
    pub stage: String,
    /// The deployer's policy (required: it never comes from the evidence).
    #[arg(long)]
    pub policy: PathBuf,
    /// Refuse unless the policy file's sha256 is exactly this.
    #[arg(long, value_name = "SHA256")]
    pub policy_sha256: Option<String>,
    /// The evidence directory.
    #[arg(long)]
    pub evidence: PathBuf,
    /// Write the decision as a SLSA Verification Summary statement to FILE
    /// (a DSSE envelope when --key is given).
    #[arg(long, value_name = "FILE")]
    pub attest: Option<PathBuf>,
    /// Key to sign the verification summary with.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The model file or directory (its digest is recomputed).
    #[arg(value_name = "MODEL_PATH")]
    pub model: PathBuf,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Runs `decide`.
pub fn decide(args: Args) -> Result<Exit> {
    let policy = common::load_policy(&args.policy)?;
    let fallback = policy.model.as_ref().map(|m| m.path.clone());
    let (digest, _) = args.model.resolve(fallback.as_deref())?;
    let store = EvidenceStore::new(&args.evidence);
    let (decision, report) = common::decide_from_store(&policy, &args.stage, &store, &digest)?;
    if decision.reasons.iter().any(|r| r.code == "unknown-stage") {
        bail!(
            "{}",
            decision
                .reasons
                .first()
                .map(|r| r.message.clone())
                .unwrap_or_default()
        );
    }
    args.out.emit(&report, Some(&args.policy.display().to_string()))?;
    Ok(common::exit_of(&decision))
}

/// Runs `verify`.
pub fn verify(args: VerifyArgs) -> Result<Exit> {
    if let Some(pin) = &args.policy_sha256 {
        let want = Sha256Digest::from_hex(pin).map_err(|e| anyhow::anyhow!("--policy-sha256: {e}"))?;
        let bytes =
            std::fs::read(&args.policy).with_context(|| format!("cannot read {}", args.policy.display()))?;
        let got = portcullis_evidence::sha256_bytes(&bytes);
        if got != want {
            bail!(
                "{} has sha256 {}, not the pinned {}; refusing to verify against an unexpected policy",
                args.policy.display(),
                got.to_hex(),
                want.to_hex()
            );
        }
    }
    if !args.evidence.is_dir() {
        bail!(
            "evidence directory {} does not exist; fetch the model's evidence bundle before verifying",
            args.evidence.display()
        );
    }
    let policy = common::load_policy(&args.policy)?;
    let model = ModelArgs {
        model: Some(args.model.clone()),
        digest: None,
    };
    let (digest, name) = model.resolve(None)?;
    let store = EvidenceStore::new(&args.evidence);
    let (decision, report) = common::decide_from_store(&policy, &args.stage, &store, &digest)?;
    if decision.reasons.iter().any(|r| r.code == "unknown-stage") {
        bail!(
            "{}",
            decision
                .reasons
                .first()
                .map(|r| r.message.clone())
                .unwrap_or_default()
        );
    }
    if let Some(path) = &args.attest {
        let bundle_path = store.bundle_path(&digest);
        let bundle_digest = std::fs::read(&bundle_path)
            .map(|b| portcullis_evidence::sha256_bytes(&b))
            .ok();
        let predicate = serde_json::json!({
            "verifier": {"id": "https://portcullis.dev/verifier", "version": {"portcullis": env!("CARGO_PKG_VERSION")}},
            "timeVerified": format_time(SystemTime::now()),
            "resourceUri": format!("file:{name}"),
            "policy": {"uri": args.policy.display().to_string(), "digest": digest_set(&policy.digest)},
            "inputAttestations": bundle_digest.map(|d| vec![serde_json::json!({"uri": bundle_path.display().to_string(), "digest": digest_set(&d)})]).unwrap_or_default(),
            "verificationResult": if decision.allowed { "PASSED" } else { "FAILED" },
            "verifiedLevels": [format!("PORTCULLIS_STAGE_{}", args.stage.to_uppercase())],
        });
        let statement = Statement::new(Subject::sha256(&name, &digest), VSA_V1, predicate);
        let text = match &args.key {
            Some(k) => {
                let key = common::signing_key(Some(k), "verify --attest")?;
                let env = Envelope::sign(&statement, &key).map_err(|e| anyhow::anyhow!("{e}"))?;
                serde_json::to_string_pretty(&env)?
            }
            None => serde_json::to_string_pretty(&statement)?,
        };
        std::fs::write(path, text + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    }
    args.out.emit(&report, Some(&args.policy.display().to_string()))?;
    Ok(common::exit_of(&decision))
}
