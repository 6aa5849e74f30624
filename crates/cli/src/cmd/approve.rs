//! `portcullis approve` and `portcullis waive`: signed human decisions.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Result};
use portcullis_evidence::predicate::{
    format_time, parse_time, ApprovalPredicate, WaiverPredicate, APPROVAL_V1, WAIVER_V1,
};
use portcullis_evidence::EvidenceStore;

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

/// Parses `2026-12-31`, an RFC 3339 time, or a duration from now.
pub fn parse_expiry(text: &str) -> Result<SystemTime> {
    let t = text.trim();
    if let Ok(d) = humantime::parse_duration(t) {
        return Ok(SystemTime::now() + d);
    }
    if t.len() == 10 && t.as_bytes().get(4) == Some(&b'-') {
        return parse_time(&format!("{t}T00:00:00Z")).map_err(|e| anyhow::anyhow!("--expires: {e}"));
    }
    parse_time(t).map_err(|e| {
        anyhow::anyhow!("--expires: {e}; write a date (2026-12-31), an RFC 3339 time or a duration (7d)")
    })
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
    let now = SystemTime::now();
    let expires = args.expires.as_deref().map(parse_expiry).transpose()?;
    if let Some(e) = expires {
        if e <= now {
            bail!("--expires is in the past; an approval that has already expired would never count");
        }
    }
    let approver = signer_name(args.name.as_deref(), args.key.as_ref());
    let predicate = ApprovalPredicate {
        stage: args.stage.clone(),
        approver: approver.clone(),
        comment: args.comment.clone(),
        signed_on: format_time(now),
        expires: expires.map(format_time),
    };
    let store = EvidenceStore::new(&args.evidence);
    let path = common::sign_and_append(&store, &digest, &name, APPROVAL_V1, &predicate, &key)?;
    eprintln!(
        "approved sha256:{} for stage '{}' as {approver} (keyid {}…)\nevidence: {}",
        digest.to_hex(),
        args.stage,
        &key.public().keyid()[..12],
        path.display()
    );
    Ok(Exit::Ok)
}

/// Runs `waive`.
pub fn waive(args: WaiveArgs) -> Result<Exit> {
    let key = common::signing_key(args.key.as_deref(), "waive")?;
    if args.reason.trim().is_empty() {
        bail!(
            "--reason must say why shipping without '{}' is acceptable",
            args.gate
        );
    }
    let (digest, name) = args.model.resolve(None)?;
    let now = SystemTime::now();
    let expires = parse_expiry(&args.expires)?;
    if expires <= now {
        bail!("--expires is in the past");
    }
    let approver = signer_name(args.name.as_deref(), args.key.as_ref());
    let predicate = WaiverPredicate {
        stage: args.stage.clone(),
        gate: args.gate.clone(),
        reason: args.reason.clone(),
        approver: approver.clone(),
        signed_on: format_time(now),
        expires: format_time(expires),
    };
    let store = EvidenceStore::new(&args.evidence);
    let path = common::sign_and_append(&store, &digest, &name, WAIVER_V1, &predicate, &key)?;
    let days = expires.duration_since(now).unwrap_or(Duration::ZERO).as_secs() / 86_400;
    eprintln!(
        "waived gate '{}' for stage '{}' on sha256:{} as {approver}, for {days} days (honoured only if the policy allows it)\nevidence: {}",
        args.gate,
        args.stage,
        digest.to_hex(),
        path.display()
    );
    Ok(Exit::Ok)
}
