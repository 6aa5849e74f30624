//! `portcullis init` and `portcullis schema`.

use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};

use crate::common::Exit;

/// The commented starter policy.
pub const STARTER: &str = r#"# portcullis policy: what a model must prove before each stage.
# Reference: docs/policy.md. Editors: `portcullis schema > portcullis.schema.json`.
version: 1

# The candidate model (a file or a directory) and, optionally, the
# production model it must not regress against.
model: { path: models/candidate.onnx, kind: onnx-classifier }
# reference: { path: models/production.onnx }

# Named datasets; a gate spec may pick one with `data: NAME`.
data:
  eval: { path: data/test.csv, label: label }

# Who may sign what. Runner keys sign gate results (your CI); approver keys
# sign approvals and waivers (people). Create keys with
# `portcullis keygen --out keys/NAME`; commit only the .pub files.
trust:
  runners:
    - { name: ci, key: keys/ci.pub }
  approvers:
    - { name: alice, key: keys/alice.pub, roles: [model-risk] }

stages:
  staging:
    gates: [smoke]
    max_evidence_age: 14d
  prod:
    extends: staging            # prod requires staging's gates too
    gates: []
    approvals:
      required: 1               # distinct people, however many keys each has
      roles: [model-risk]
      forbid_author: true       # whoever triggered the run cannot approve it
      max_age: 7d
    # waivable:                 # gates a signed, expiring waiver may excuse
    #   smoke: { roles: [model-risk], max_duration: 14d }

gates:
  # Any tool as a gate: exit 0 passes; numbers from its JSON report can be
  # held to thresholds. The model path is in $PORTCULLIS_MODEL.
  smoke:
    kind: command
    argv: [python, eval.py, --out, report.json]
    timeout: 10m
    report: report.json
    metrics: { accuracy: /accuracy }
    require: { accuracy: ">= 0.85" }
"#;

/// Arguments of `init`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the policy.
    #[arg(long, default_value = crate::common::DEFAULT_POLICY)]
    pub out: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// Runs `init`.
pub fn run(args: Args) -> Result<Exit> {
    if args.out.exists() && !args.force {
        bail!("{} exists; pass --force to overwrite it", args.out.display());
    }
    std::fs::write(&args.out, STARTER).with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "wrote {}; next: `portcullis keygen --out keys/ci`, `portcullis keygen --out keys/alice`, edit the gates, then `portcullis run --stage staging --key keys/ci.key`",
        args.out.display()
    );
    Ok(Exit::Ok)
}

/// Runs `schema`.
pub fn schema() -> Result<Exit> {
    print!(
        "{}",
        portcullis_report::json::to_pretty(&portcullis_policy::schema::json_schema())
    );
    Ok(Exit::Ok)
}
