//! What the commands share at the terminal: exit codes, output options,
//! naming a model, finding the author and the signing key.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _, Result};
use clap::ValueEnum;
use portcullis_evidence::{Sha256Digest, SigningKey};
use portcullis_policy::Decision;
use portcullis_report::{Format, Report};

use crate::progress::Terminal;

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
    /// One self-contained HTML page with plots (no network, no script).
    Html,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Human => Format::Human,
            FormatArg::Json => Format::Json,
            FormatArg::Junit => Format::Junit,
            FormatArg::Sarif => Format::Sarif,
            FormatArg::Markdown => Format::Markdown,
            FormatArg::Html => Format::Html,
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
        let m = portcullis_engine::digest_artifact(path, &Default::default(), &Terminal::new())?;
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
    Ok(SigningKey::from_pem_file(&path)?)
}

/// The exit code of a decision.
pub fn exit_of(decision: &Decision) -> Exit {
    if decision.allowed {
        Exit::Ok
    } else {
        Exit::Denied
    }
}
