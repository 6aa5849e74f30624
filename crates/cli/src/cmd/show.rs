//! `portcullis show`: what an approver should see before signing.

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Result;
use portcullis_engine::store::DirStore;
use portcullis_engine::SystemClock;
use portcullis_report::human;
use portcullis_report::show::{self, ShowView};

use crate::common::{self, Exit, ModelArgs};

/// Arguments of `show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The policy (its keys decide which evidence is trusted).
    #[arg(long, default_value = common::DEFAULT_POLICY)]
    pub policy: PathBuf,
    /// The evidence directory.
    #[arg(long, default_value = portcullis_evidence::store::DEFAULT_DIR)]
    pub evidence: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Runs `show`.
pub fn run(args: Args) -> Result<Exit> {
    let policy = portcullis_engine::load_policy(&args.policy)?;
    let fallback = policy.model.as_ref().map(|m| m.path.clone());
    let (digest, name) = args.model.resolve(fallback.as_deref())?;
    let shown = portcullis_engine::show(&policy, &DirStore::new(&args.evidence), &digest, &SystemClock)?;
    let hex = digest.to_hex();
    let view = ShowView {
        digest: &hex,
        model: &name,
        bundle: &shown.bundle,
        evidence: &shown.evidence,
        decisions: &shown.decisions,
        now: SystemTime::now(),
    };
    if args.json {
        print!("{}", show::json(&view));
    } else {
        print!(
            "{}",
            show::human(&view, human::Style::new(common::use_color(None)))
        );
    }
    Ok(Exit::Ok)
}
