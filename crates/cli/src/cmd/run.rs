//! `portcullis run`: run a stage's gates, sign each result, decide.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use portcullis_evidence::predicate::GATE_RESULT_V1;
use portcullis_evidence::EvidenceStore;
use portcullis_gates::{run_gate, DataSource, GateContext, ModelRef};

use crate::common::{self, Exit, OutputArgs};
use crate::progress::Bars;

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
    let policy = common::load_policy(&args.policy)?;
    let Some(stage) = policy.stage(&args.stage) else {
        bail!(
            "stage '{}' is not in {} (stages: {})",
            args.stage,
            args.policy.display(),
            policy.stages.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    };
    let mut selected = stage.gates.clone();
    if !args.gates.is_empty() {
        for g in &args.gates {
            if !stage.gates.contains(g) {
                bail!(
                    "gate '{g}' is not required by stage '{}' (its gates: {})",
                    stage.name,
                    stage.gates.join(", ")
                );
            }
        }
        selected.retain(|g| args.gates.contains(g));
    }
    let key = common::signing_key(args.key.as_deref(), "run")?;
    let public = key.public();
    if !policy.runners.iter().any(|r| r.keys.contains(&public)) {
        eprintln!(
            "warning: the signing key (keyid {}) is not a trusted runner in {}; `verify` will not count these results",
            &public.keyid()[..12],
            args.policy.display()
        );
    }
    let model_path = args
        .model
        .clone()
        .or_else(|| policy.model.as_ref().map(|m| m.path.clone()))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no model: set model.path in {} or pass --model",
                args.policy.display()
            )
        })?;
    let manifest = common::digest_with_progress(&model_path, &Default::default())?;
    let digest = manifest.digest;
    let author = common::detect_author(args.author.as_deref());
    let deadline = match &args.deadline {
        Some(d) => Some(
            Instant::now()
                + portcullis_gates::params::parse_duration(d)
                    .map_err(|e| anyhow::anyhow!("--deadline: {e}"))?,
        ),
        None => None,
    };
    // Policy paths are already resolved against the policy's directory;
    // make them absolute so gates resolving spec paths don't join them twice.
    let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let model = ModelRef {
        path: Some(abs(&model_path)),
        digest: Some(digest),
        kind: policy.model.as_ref().and_then(|m| m.kind.clone()),
        serve: policy
            .model
            .as_ref()
            .and_then(|m| m.serve.as_ref())
            .map(|s| super::eval::serve_from_policy(s, "model"))
            .transpose()?,
    };
    let reference = match policy.reference.as_ref() {
        Some(r) => Some(ModelRef {
            path: Some(abs(&r.path)),
            digest: None,
            kind: r.kind.clone(),
            serve: r
                .serve
                .as_ref()
                .map(|s| super::eval::serve_from_policy(s, "reference"))
                .transpose()?,
        }),
        None => None,
    };
    let data: BTreeMap<String, DataSource> = policy
        .data
        .iter()
        .map(|(k, d)| {
            (
                k.clone(),
                DataSource {
                    path: abs(&d.path),
                    label: d.label.clone(),
                    sensitive: d.sensitive.clone(),
                    slices: d.slices.clone(),
                    weight: d.weight.clone(),
                },
            )
        })
        .collect();
    let base_dir = match args.policy.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let bars = Bars::new();
    // Gates are independent: run them side by side.
    let outcomes = std::thread::scope(|s| {
        let handles: Vec<_> = selected
            .iter()
            .map(|name| {
                let bar = bars.gate(name);
                let spec = policy.gates.get(name).map(|d| d.spec.clone());
                let (model, reference, data, base_dir) = (&model, &reference, &data, &base_dir);
                s.spawn(move || {
                    let spec = spec?;
                    let ctx = GateContext {
                        name,
                        model,
                        reference: reference.as_ref(),
                        data,
                        base_dir,
                        seed: args.seed,
                        progress: &bar,
                        deadline,
                    };
                    let out = run_gate(&spec, &ctx);
                    bar.0.finish_and_clear();
                    Some(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .collect::<Vec<_>>()
    });
    if outcomes.len() != selected.len() {
        bail!("a gate thread stopped unexpectedly; no decision was made");
    }
    let store = EvidenceStore::new(&args.evidence);
    for o in &outcomes {
        let predicate = common::predicate_of(o, Some(&policy), Some(&stage.name), author.as_deref());
        common::sign_and_append(
            &store,
            &digest,
            &manifest.model_name,
            GATE_RESULT_V1,
            &predicate,
            &key,
        )?;
        eprintln!(
            "{:>12} {} in {:.1}s",
            o.name,
            o.verdict,
            Duration::from_millis(o.duration_ms).as_secs_f64()
        );
    }
    eprintln!("evidence: {}", store.bundle_path(&digest).display());
    let (decision, mut report) = common::decide_from_store(&policy, &stage.name, &store, &digest)?;
    // Show this run's timings.
    for g in &mut report.gates {
        if let Some(o) = outcomes.iter().find(|o| o.name == g.name) {
            g.duration_ms = Some(o.duration_ms);
        }
    }
    args.out.emit(&report, Some(&args.policy.display().to_string()))?;
    Ok(common::exit_of(&decision))
}
