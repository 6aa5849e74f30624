//! `portcullis manifest DIR`: a signed data manifest (path → sha256) that the
//! provenance gate checks datasets against.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use portcullis_evidence::Envelope;
use portcullis_gates::provenance::data_manifest_statement;

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

fn walk(dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let p = e.path();
        let t = e.file_type()?;
        if t.is_symlink() {
            bail!(
                "{} is a symbolic link; attest the file it points to instead",
                p.display()
            );
        } else if t.is_dir() {
            if e.file_name() != ".git" {
                walk(&p, skip, out)?;
            }
        } else if t.is_file() && std::path::absolute(&p)? != skip {
            out.push(p);
        }
    }
    Ok(())
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
    let out_abs = std::path::absolute(&out)?;
    let dir_abs = std::path::absolute(&args.dir)?;
    let mut files = Vec::new();
    walk(&args.dir, &out_abs, &mut files)?;
    if files.is_empty() {
        bail!("{} holds no files to attest", args.dir.display());
    }
    // Name the root relative to the manifest when it sits inside it.
    let root_field = match out_abs.parent().and_then(|p| dir_abs.strip_prefix(p).ok()) {
        Some(rel) if rel.as_os_str().is_empty() => ".".to_string(),
        Some(rel) => rel.to_string_lossy().into_owned(),
        None => dir_abs.to_string_lossy().into_owned(),
    };
    let statement =
        data_manifest_statement(&args.dir, &root_field, &files).map_err(|e| anyhow::anyhow!("{e}"))?;
    let env = Envelope::sign(&statement, &key).map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::write(&out, serde_json::to_string_pretty(&env)? + "\n")
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!(
        "attested {} files under {} in {}",
        files.len(),
        args.dir.display(),
        out.display()
    );
    Ok(Exit::Ok)
}
