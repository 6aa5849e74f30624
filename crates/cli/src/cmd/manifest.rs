//! `portcullis manifest DIR`: a signed data manifest (path → sha256) that the
//! provenance gate checks datasets against.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};

use crate::common::{self, Exit};

/// Arguments of `manifest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The directory whose files to attest (walked recursively, hidden files included).
    pub dir: PathBuf,
    /// Where to write the signed manifest [default: DIR/data.manifest.intoto.json].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The signing key (PKCS#8 PEM); also PORTCULLIS_KEY.
    #[arg(long)]
    pub key: Option<PathBuf>,
}

/// Runs `manifest`.
pub fn run(args: Args) -> Result<Exit> {
    if !args.dir.is_dir() {
        bail!("{} is not a directory", args.dir.display());
    }
    let key = common::signing_key(args.key.as_deref(), "manifest")?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.dir.join("data.manifest.intoto.json"));
    let done = portcullis_engine::attest_data(&args.dir, &out, &key)?;
    std::fs::write(&out, serde_json::to_string_pretty(&done.envelope)? + "\n")
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!(
        "attested {} files under {} in {}",
        done.files.len(),
        args.dir.display(),
        out.display()
    );
    Ok(Exit::Ok)
}
