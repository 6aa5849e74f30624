//! `portcullis run`: run a stage's gates, sign each result, decide.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use portcullis_engine::store::DirStore;
use portcullis_engine::{StageRequest, SystemClock};
use portcullis_report::Report;

use crate::common::{self, Exit, OutputArgs};
use crate::progress::Terminal;

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The stage to run (its gates, including those of stages it extends).
    #[arg(long)]
    pub stage: String,
    /// The policy file.
    #[arg(long, default_value = common::DEFAULT_POLICY)]
    pub policy: PathBuf,
    /// Run only these gates of the stage (repeatable).
    #[arg(long = "gate", value_name = "NAME")]
    pub gates: Vec<String>,
    /// The runner's signing key (PKCS#8 PEM); also PORTCULLIS_KEY.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// Who triggered the run (default: the CI actor, else git's user.name).
    #[arg(long)]
    pub author: Option<String>,
    /// The model, overriding the policy's model.path.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// The evidence directory.
    #[arg(long, default_value = portcullis_evidence::store::DEFAULT_DIR)]
    pub evidence: PathBuf,
    /// Seed for every random choice (recorded in the evidence).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop every gate after this long and fail it closed (e.g. 30m).
    #[arg(long)]
    pub deadline: Option<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Runs the command.
pub fn run(args: Args) -> Result<Exit> {
    let policy = portcullis_engine::load_policy(&args.policy)?;
    // An unknown stage or gate is reported before asking for a key.
    portcullis_engine::stage_gates(&policy, &args.stage, &args.gates)?;
    let key = common::signing_key(args.key.as_deref(), "run")?;
    let author = common::detect_author(args.author.as_deref());
    let deadline = match &args.deadline {
        Some(d) => Some(
            Instant::now()
                + portcullis_gates::params::parse_duration(d)
                    .map_err(|e| anyhow::anyhow!("--deadline: {e}"))?,
        ),
        None => None,
    };
    let request = StageRequest {
        policy: &policy,
        stage: &args.stage,
        only: &args.gates,
        model: args.model.as_deref(),
        author: author.as_deref(),
        seed: args.seed,
        deadline,
    };
    let store = DirStore::new(&args.evidence);
    let done = portcullis_engine::evaluate_stage(
        &request,
        &store,
        &key,
        &SystemClock,
        &Terminal::with_gate_lines(),
    )?;
    eprintln!("evidence: {}", done.bundle);
    let mut report = Report::of_decision(&policy, &done.decided.decision, &done.manifest.digest);
    report.model = args
        .model
        .as_deref()
        .or(policy.model.as_ref().map(|m| m.path.as_path()))
        .map(|p| p.display().to_string());
    // Show this run's timings.
    for g in &mut report.gates {
        if let Some(o) = done.outcomes.iter().find(|o| o.name == g.name) {
            g.duration_ms = Some(o.duration_ms);
        }
    }
    args.out.emit(&report, Some(&args.policy.display().to_string()))?;
    Ok(common::exit_of(&done.decided.decision))
}
