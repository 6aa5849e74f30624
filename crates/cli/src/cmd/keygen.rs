//! `portcullis keygen`: an ed25519 key pair for a runner or an approver.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use portcullis_evidence::SigningKey;

use crate::common::Exit;

/// Arguments of `keygen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// DIR/NAME: writes DIR/NAME.key (private, mode 0600) and DIR/NAME.pub.
    #[arg(long, value_name = "DIR/NAME")]
    pub out: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

/// Runs `keygen`.
pub fn run(args: Args) -> Result<Exit> {
    let key_path = args.out.with_extension("key");
    let pub_path = args.out.with_extension("pub");
    for p in [&key_path, &pub_path] {
        if p.exists() && !args.force {
            bail!("{} exists; pass --force to overwrite it", p.display());
        }
    }
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let key = SigningKey::generate();
    write_private(&key_path, &key.to_pem()?)?;
    std::fs::write(&pub_path, key.public().to_pem())
        .with_context(|| format!("cannot write {}", pub_path.display()))?;
    eprintln!(
        "wrote {} (private, keep secret) and {} (public, list it under trust: in the policy)\nkeyid {}",
        key_path.display(),
        pub_path.display(),
        key.public().keyid()
    );
    Ok(Exit::Ok)
}

/// Writes a private key readable by its owner only (mode 0600).
pub fn write_private(path: &std::path::Path, pem: &str) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(pem.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}
