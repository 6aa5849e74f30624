//! `portcullis eval KIND`: one gate, ad hoc, no policy and no signing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use portcullis_evidence::{GateSpec, Threshold, Verdict};
use portcullis_gates::{run_gate, DataSource, GateContext, ModelRef};
use portcullis_report::{GateView, Report};

use crate::common::{self, Exit, OutputArgs};
use crate::progress::Bars;

/// Arguments of `eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The gate kind (command, performance, fairness, …).
    pub kind: String,
    /// The model file or directory, or an endpoint URL.
    #[arg(long)]
    pub model: Option<String>,
    /// A target endpoint spec, e.g. openai:http://127.0.0.1:8000/v1 (sets the spec key `target`).
    #[arg(long)]
    pub target: Option<String>,
    /// The reference (production) model.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// The evaluation dataset (CSV, Parquet, NPY/NPZ).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The label column of --data.
    #[arg(long)]
    pub label: Option<String>,
    /// A YAML file holding the gate spec (the same keys as under `gates:` in a policy).
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Set a spec key: KEY=VALUE, VALUE parsed as YAML (0.1, true, [a,b]); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Add a threshold: METRIC=EXPR, e.g. --require 'accuracy=>= 0.9'; repeatable.
    #[arg(long = "require", value_name = "METRIC=EXPR")]
    pub requires: Vec<String>,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop after this long and fail closed (e.g. 10m).
    #[arg(long)]
    pub deadline: Option<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Parses a `--set` value as a YAML scalar or flow collection.
pub fn parse_value(text: &str) -> serde_json::Value {
    let t = text.trim();
    if t.is_empty() {
        return serde_json::Value::String(String::new());
    }
    serde_saphyr::from_str::<serde_json::Value>(t)
        .unwrap_or_else(|_| serde_json::Value::String(t.to_string()))
}

/// Builds the gate spec from `--spec`, `--set` and `--require`.
pub fn build_spec(args: &Args) -> Result<GateSpec> {
    let mut spec = match &args.spec {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("cannot read --spec {}", p.display()))?;
            let mut s: GateSpec = serde_saphyr::from_str(&text).map_err(|e| {
                let at = e
                    .location()
                    .map(|l| format!(":{}:{}", l.line(), l.column()))
                    .unwrap_or_default();
                anyhow::anyhow!(
                    "{}{at}: {}",
                    p.display(),
                    e.to_string().lines().next().unwrap_or("")
                )
            })?;
            if s.kind != args.kind {
                bail!(
                    "{} is a '{}' spec, but you asked for `eval {}`",
                    p.display(),
                    s.kind,
                    args.kind
                );
            }
            s.kind = args.kind.clone();
            s
        }
        None => GateSpec::new(&args.kind),
    };
    if let Some(t) = &args.target {
        spec.params
            .insert("target".into(), serde_json::Value::String(t.clone()));
    }
    for kv in &args.sets {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--set '{kv}': expected KEY=VALUE"))?;
        let k = k.trim();
        if k == "kind" || k == "require" {
            bail!("--set {k}=…: use the KIND argument and --require instead");
        }
        spec.params.insert(k.to_string(), parse_value(v));
    }
    for kv in &args.requires {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("--require '{kv}': expected METRIC=EXPR, e.g. 'accuracy=>= 0.9'")
        })?;
        let t: Threshold = v.parse().map_err(|e| anyhow::anyhow!("--require {k}: {e}"))?;
        spec.require
            .get_or_insert_with(BTreeMap::new)
            .insert(k.trim().to_string(), t);
    }
    Ok(spec)
}

/// Runs `eval`.
pub fn run(args: Args) -> Result<Exit> {
    if portcullis_gates::kind(&args.kind).is_none() {
        let known: Vec<&str> = portcullis_gates::kinds().iter().map(|k| k.id).collect();
        bail!("unknown gate kind '{}' (known: {})", args.kind, known.join(", "));
    }
    let spec = build_spec(&args)?;
    portcullis_gates::build(&spec).map_err(|e| anyhow::anyhow!("{e}"))?;
    let model_path = args.model.as_ref().map(PathBuf::from);
    let digest = match &model_path {
        Some(p) if p.exists() => Some(common::digest_with_progress(p, &Default::default())?.digest),
        Some(p) if !args.model.as_deref().unwrap_or("").contains("://") => {
            bail!("--model {}: no such file or directory", p.display())
        }
        _ => None,
    };
    let model = ModelRef {
        path: model_path,
        digest,
        kind: None,
    };
    let reference = args.reference.as_ref().map(|r| ModelRef {
        path: Some(r.clone()),
        digest: None,
        kind: None,
    });
    let mut data = BTreeMap::new();
    if let Some(d) = &args.data {
        if !d.exists() {
            bail!("--data {}: no such file", d.display());
        }
        data.insert(
            "eval".to_string(),
            DataSource {
                path: d.clone(),
                label: args.label.clone(),
                ..DataSource::default()
            },
        );
    }
    let deadline = match &args.deadline {
        Some(d) => Some(
            Instant::now()
                + portcullis_gates::params::parse_duration(d)
                    .map_err(|e| anyhow::anyhow!("--deadline: {e}"))?,
        ),
        None => None,
    };
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let bars = Bars::new();
    let bar = bars.gate(&args.kind);
    let ctx = GateContext {
        name: &args.kind,
        model: &model,
        reference: reference.as_ref(),
        data: &data,
        base_dir: &cwd,
        seed: args.seed,
        progress: &bar,
        deadline,
    };
    let outcome = run_gate(&spec, &ctx);
    bar.0.finish_and_clear();
    let predicate = common::predicate_of(&outcome, None, None, None);
    let mut view = GateView::from_predicate(&predicate, None);
    view.duration_ms = Some(outcome.duration_ms);
    let report = Report {
        digest: digest.map(|d| d.to_hex()),
        decision: None,
        gates: vec![view],
    };
    if args.out.format == common::FormatArg::Json {
        // `eval` prints one gate object.
        let g = portcullis_report::json::gate_v1(&report.gates[0]);
        args.out.write(&portcullis_report::json::to_pretty(&g))?;
    } else {
        args.out.emit(&report, None)?;
    }
    Ok(match outcome.verdict {
        Verdict::Pass => Exit::Ok,
        Verdict::Fail => Exit::Denied,
        Verdict::Error => Exit::Error,
    })
}
