//! `portcullis eval KIND`: one gate, ad hoc, no policy and no signing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use portcullis_engine::{GateRequest, SystemClock};
use portcullis_evidence::{GateSpec, Threshold, Verdict};
use portcullis_gates::serve::{Endpoint, Serve};
use portcullis_gates::{DataSource, ModelRef};
use portcullis_report::{GateView, Report};

use crate::common::{self, Exit, OutputArgs};
use crate::progress::Terminal;

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
    /// Get the model's predictions from a server instead of loading --model:
    /// PROTOCOL+URL, e.g. kserve-v2+http://127.0.0.1:8080/v2/models/adult or
    /// mlflow+https://host/invocations. --model stays the file the result is bound to.
    #[arg(long, value_name = "PROTOCOL+URL", conflicts_with = "endpoint_command")]
    pub endpoint: Option<String>,
    /// Get the model's predictions from a JSON-lines process, e.g. 'python serve.py'
    /// (split on whitespace, no shell).
    #[arg(long, value_name = "COMMAND")]
    pub endpoint_command: Option<String>,
    /// An HTTP header for --endpoint, 'NAME: VALUE'; repeatable.
    #[arg(long = "endpoint-header", value_name = "NAME: VALUE")]
    pub endpoint_headers: Vec<String>,
    /// Per-request timeout for the endpoint (default 30s).
    #[arg(long, value_name = "DURATION")]
    pub endpoint_timeout: Option<String>,
    /// Retries after a failed endpoint request (default 3).
    #[arg(long, value_name = "N")]
    pub endpoint_retries: Option<u32>,
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

/// The `--endpoint*` flags as a serve declaration.
fn serve_of(args: &Args) -> Result<Option<Serve>> {
    let endpoint = match (&args.endpoint, &args.endpoint_command) {
        (Some(e), _) => Serve::parse_endpoint(e).map_err(|m| anyhow::anyhow!("--endpoint {m}"))?,
        (None, Some(c)) => {
            let argv: Vec<String> = c.split_whitespace().map(str::to_string).collect();
            if argv.is_empty() {
                bail!("--endpoint-command is empty");
            }
            Endpoint::Command { argv }
        }
        (None, None) => {
            if !args.endpoint_headers.is_empty()
                || args.endpoint_timeout.is_some()
                || args.endpoint_retries.is_some()
            {
                bail!("--endpoint-header, --endpoint-timeout and --endpoint-retries need --endpoint or --endpoint-command");
            }
            return Ok(None);
        }
    };
    let mut serve = Serve::new(endpoint);
    serve.retries = args.endpoint_retries;
    if let Some(t) = &args.endpoint_timeout {
        serve.timeout = Some(
            portcullis_gates::params::parse_duration(t)
                .map_err(|e| anyhow::anyhow!("--endpoint-timeout: {e}"))?,
        );
    }
    for h in &args.endpoint_headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("--endpoint-header '{h}': expected 'NAME: VALUE'"))?;
        serve.headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(Some(serve))
}

/// Runs `eval`.
pub fn run(args: Args) -> Result<Exit> {
    if portcullis_gates::kind(&args.kind).is_none() {
        let known: Vec<&str> = portcullis_gates::kinds().iter().map(|k| k.id).collect();
        bail!("unknown gate kind '{}' (known: {})", args.kind, known.join(", "));
    }
    let spec = build_spec(&args)?;
    portcullis_gates::build(&spec)?;
    let model_path = args.model.as_ref().map(PathBuf::from);
    let digest = match &model_path {
        Some(p) if p.exists() => {
            Some(portcullis_engine::digest_artifact(p, &Default::default(), &Terminal::new())?.digest)
        }
        Some(p) if !args.model.as_deref().unwrap_or("").contains("://") => {
            bail!("--model {}: no such file or directory", p.display())
        }
        _ => None,
    };
    let model = ModelRef {
        path: model_path,
        digest,
        kind: None,
        serve: serve_of(&args)?,
    };
    let reference = args.reference.as_ref().map(|r| ModelRef {
        path: Some(r.clone()),
        digest: None,
        kind: None,
        serve: None,
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
    let request = GateRequest {
        name: &args.kind,
        spec: &spec,
        model: &model,
        reference: reference.as_ref(),
        data: &data,
        base_dir: &cwd,
        seed: args.seed,
        deadline,
    };
    let (outcome, predicate) = portcullis_engine::evaluate_gate(&request, &SystemClock, &Terminal::new())?;
    let mut view = GateView::from_predicate(&predicate, None);
    view.duration_ms = Some(outcome.duration_ms);
    let report = Report {
        digest: digest.map(|d| d.to_hex()),
        model: args.model.clone(),
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
