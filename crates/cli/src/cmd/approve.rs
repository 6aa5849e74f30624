//! `portcullis approve` and `portcullis waive`: signed human decisions.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use portcullis_engine::store::DirStore;
use portcullis_engine::{parse_expiry, ApprovalRequest, SystemClock, WaiverRequest};

use crate::common::{self, Exit, ModelArgs};

/// Arguments of `approve`.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// The stage approved for.
    #[arg(long)]
    pub stage: String,
    /// The approver's signing key (PKCS#8 PEM); also PORTCULLIS_KEY.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Why you approve (shown in every report).
    #[arg(long)]
    pub comment: Option<String>,
    /// Your name as recorded in the statement (identity is the key; default: the key file's name).
    #[arg(long)]
    pub name: Option<String>,
    /// When the approval stops counting: a date (2026-12-31), an RFC 3339 time, or a duration (7d).
    #[arg(long)]
    pub expires: Option<String>,
    /// The evidence directory.
    #[arg(long, default_value = portcullis_evidence::store::DEFAULT_DIR)]
    pub evidence: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Arguments of `waive`.
#[derive(Debug, clap::Args)]
pub struct WaiveArgs {
    /// The gate to waive.
    #[arg(long)]
    pub gate: String,
    /// The stage.
    #[arg(long)]
    pub stage: String,
    /// The approver's signing key; also PORTCULLIS_KEY.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Why shipping without this gate is acceptable (shown in every report).
    #[arg(long)]
    pub reason: String,
    /// When the waiver ends (required): a date, an RFC 3339 time, or a duration (7d).
    #[arg(long)]
    pub expires: String,
    /// Your name as recorded in the statement (default: the key file's name).
    #[arg(long)]
    pub name: Option<String>,
    /// The evidence directory.
    #[arg(long, default_value = portcullis_evidence::store::DEFAULT_DIR)]
    pub evidence: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
}

fn signer_name(explicit: Option<&str>, key: Option<&PathBuf>) -> String {
    explicit
        .map(str::to_string)
        .or_else(|| {
            key.and_then(|k| k.file_stem())
                .map(|s| s.to_string_lossy().into_owned())
        })
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// Runs `approve`.
pub fn approve(args: ApproveArgs) -> Result<Exit> {
    let key = common::signing_key(args.key.as_deref(), "approve")?;
    let (digest, name) = args.model.resolve(None)?;
    let expires = args
        .expires
        .as_deref()
        .map(|t| parse_expiry(t, SystemTime::now()))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--expires: {e}"))?;
    let approver = signer_name(args.name.as_deref(), args.key.as_ref());
    let request = ApprovalRequest {
        digest: &digest,
        model_name: &name,
        stage: &args.stage,
        approver: &approver,
        comment: args.comment.as_deref(),
        expires,
    };
    let done = portcullis_engine::approve(&request, &DirStore::new(&args.evidence), &key, &SystemClock)?;
    eprintln!(
        "approved sha256:{} for stage '{}' as {approver} (keyid {}…)\nevidence: {}",
        digest.to_hex(),
        args.stage,
        done.keyid.get(..12).unwrap_or(&done.keyid),
        done.bundle
    );
    Ok(Exit::Ok)
}

/// Runs `waive`.
pub fn waive(args: WaiveArgs) -> Result<Exit> {
    let key = common::signing_key(args.key.as_deref(), "waive")?;
    let (digest, name) = args.model.resolve(None)?;
    let now = SystemTime::now();
    let expires = parse_expiry(&args.expires, now).map_err(|e| anyhow::anyhow!("--expires: {e}"))?;
    let approver = signer_name(args.name.as_deref(), args.key.as_ref());
    let request = WaiverRequest {
        digest: &digest,
        model_name: &name,
        stage: &args.stage,
        gate: &args.gate,
        reason: &args.reason,
        approver: &approver,
        expires,
    };
    let done = portcullis_engine::waive(&request, &DirStore::new(&args.evidence), &key, &SystemClock)?;
    let days = expires.duration_since(now).unwrap_or(Duration::ZERO).as_secs() / 86_400;
    eprintln!(
        "waived gate '{}' for stage '{}' on sha256:{} as {approver}, for {days} days (honoured only if the policy allows it)\nevidence: {}",
        args.gate,
        args.stage,
        digest.to_hex(),
        done.bundle
    );
    Ok(Exit::Ok)
}
