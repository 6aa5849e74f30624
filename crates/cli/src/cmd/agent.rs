//! `portcullis agent`: runs the registry's re-check jobs, and `portcullis
//! recheck`: enqueues, lists and clears them.
//!
//! An agent holds one or more policies (`--policy NAME=FILE`, the same
//! files the registry serves, with the data and probe packs they name) and
//! a runner key. It claims a job for one of its models, checks that its
//! policy is the registry's (by sha256) and that the model files it has
//! are the digest the job re-checks, runs the one gate with the engine
//! (`evaluate_stage`, the code path of `portcullis run`), signs the result
//! and hands it back. The registry verifies that envelope itself; the
//! agent's word counts for nothing. While the gate runs the agent renews
//! its lease, so a long red-team run is not taken over; when an agent dies
//! its lease runs out and another agent takes the job.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use portcullis_engine::{Policy, StageRequest, SystemClock};
use portcullis_evidence::DigestOptions;
use serde_json::{json, Value};

use crate::cmd::registry::{enc, print_json, Capture, Client, ServerArgs};
use crate::common::{self, Exit};

/// `agent`: run re-check jobs, or print Kubernetes manifests that do.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<AgentCommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// `agent` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AgentCommand {
    /// Print a Deployment (or a CronJob with --schedule) that runs agents.
    Manifests(ManifestArgs),
}

/// Arguments of `agent` (running jobs).
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The registry's URL; also PORTCULLIS_SERVER. The token (a runner's)
    /// is read from PORTCULLIS_TOKEN.
    #[arg(long, env = "PORTCULLIS_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Trust this PEM CA certificate (or bundle) for an https:// registry;
    /// also PORTCULLIS_CA_CERT.
    #[arg(long, env = "PORTCULLIS_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<PathBuf>,
    /// A model this agent re-checks and its policy: NAME=FILE, as the
    /// registry serves it (repeat). Only jobs of these models are claimed.
    #[arg(long = "policy", value_name = "NAME=FILE")]
    pub policies: Vec<String>,
    /// Where a model's deployed files are: NAME=PATH (repeat); default: the
    /// policy's model.path.
    #[arg(long = "model", value_name = "NAME=PATH")]
    pub models: Vec<String>,
    /// The runner's signing key (PKCS#8 PEM); also PORTCULLIS_KEY. The
    /// policy must trust it under `trust.runners`.
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// This agent's name, unique among agents sharing a token (default:
    /// host name and process id).
    #[arg(long)]
    pub name: Option<String>,
    /// Run the jobs waiting now, then exit (for a Kubernetes Job or CI).
    #[arg(long)]
    pub once: bool,
    /// How long to wait between polls when there is nothing to do.
    #[arg(long, default_value = "15s")]
    pub poll: String,
    /// Seed for every random choice (recorded in the evidence).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Arguments of `agent manifests`.
#[derive(Debug, clap::Args)]
pub struct ManifestArgs {
    /// The registry's URL as seen from the cluster.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// An image with portcullis and the policy checkout (policy, keys, data,
    /// probe packs) at /work.
    #[arg(long)]
    pub image: String,
    /// The model and policy inside the image: NAME=FILE (repeat).
    #[arg(long = "policy", value_name = "NAME=FILE", required = true)]
    pub policies: Vec<String>,
    /// Namespace.
    #[arg(long, default_value = "portcullis-system")]
    pub namespace: String,
    /// Run as a CronJob with `--once` on this schedule (e.g. "*/30 * * * *")
    /// instead of a Deployment of long-running agents.
    #[arg(long)]
    pub schedule: Option<String>,
    /// Agents in the Deployment.
    #[arg(long, default_value_t = 2)]
    pub replicas: u32,
}

/// `recheck`: the registry's re-check queue.
#[derive(Debug, clap::Subcommand)]
pub enum RecheckCommand {
    /// Enqueue a stage's re-checks now, due or not (admin).
    Now {
        #[command(flatten)]
        server: ServerArgs,
        /// The model.
        model: String,
        /// The stage.
        #[arg(long)]
        stage: String,
    },
    /// List re-check jobs, newest first.
    Jobs {
        #[command(flatten)]
        server: ServerArgs,
        /// Only this model's.
        model: Option<String>,
    },
    /// Clear the risks failed re-checks raised against the digest a stage
    /// holds, lifting a revocation (admin; logged with the comment).
    Clear {
        #[command(flatten)]
        server: ServerArgs,
        /// The model.
        model: String,
        /// The stage.
        #[arg(long)]
        stage: String,
        /// Why (required, recorded in the audit log).
        #[arg(long)]
        comment: String,
    },
}

fn pairs(values: &[String], flag: &str, example: &str) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for v in values {
        let Some((name, path)) = v.split_once('=') else {
            bail!("{flag} {v}: expected NAME=PATH, e.g. {flag} {example}");
        };
        out.insert(name.trim().to_string(), PathBuf::from(path.trim()));
    }
    Ok(out)
}

/// Runs `agent`.
pub fn run(args: Args) -> Result<Exit> {
    match args.command {
        Some(AgentCommand::Manifests(m)) => manifests(&m),
        None => agent(&args.run),
    }
}

struct Model {
    policy: Policy,
    path: PathBuf,
}

fn agent(args: &RunArgs) -> Result<Exit> {
    let Some(server) = args.server.clone() else {
        bail!("give the registry with --server URL (or PORTCULLIS_SERVER), or run `agent manifests`");
    };
    if args.policies.is_empty() {
        bail!("give the models to re-check with --policy NAME=FILE (the registry's policy for NAME)");
    }
    let mut models = BTreeMap::new();
    let paths = pairs(&args.models, "--model", "fraud=models/current")?;
    for (name, file) in pairs(&args.policies, "--policy", "fraud=portcullis.yaml")? {
        let policy = portcullis_engine::load_policy(&file)?;
        let path = match paths.get(&name) {
            Some(p) => p.clone(),
            None => policy.model.as_ref().map(|m| m.path.clone()).with_context(|| {
                format!(
                    "--policy {name}={}: the policy has no model.path; give --model {name}=PATH",
                    file.display()
                )
            })?,
        };
        models.insert(name, Model { policy, path });
    }
    if let Some(unknown) = paths.keys().find(|n| !models.contains_key(*n)) {
        bail!("--model {unknown}=…: no --policy {unknown}=FILE given");
    }
    let key = common::signing_key(args.key.as_deref(), "agent")?;
    let poll =
        portcullis_gates::params::parse_duration(&args.poll).map_err(|e| anyhow::anyhow!("--poll: {e}"))?;
    let name = args.name.clone().unwrap_or_else(default_name);
    let client = Client::new(&ServerArgs {
        server,
        ca_cert: args.ca_cert.clone(),
    })?;
    let names: Vec<&String> = models.keys().collect();
    eprintln!(
        "agent {name}: re-checking {} for {}",
        names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
        client.base()
    );
    let mut ran = 0usize;
    loop {
        let claim = client.post_opt(
            "/v1/jobs/claim",
            &json!({"agent": name, "models": names}),
            "claim a re-check job",
        )?;
        let Some(job) = claim else {
            if args.once {
                eprintln!("agent {name}: no jobs waiting; ran {ran}");
                return Ok(Exit::Ok);
            }
            std::thread::sleep(poll);
            continue;
        };
        ran += 1;
        run_job(&client, &name, &job, &models, &key, args.seed)?;
    }
}

fn default_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty() && h.len() <= 100)
        .unwrap_or_else(|| "agent".into());
    format!("{host}-{}", std::process::id())
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn run_job(
    client: &Client,
    name: &str,
    job: &Value,
    models: &BTreeMap<String, Model>,
    key: &portcullis_engine::SigningKey,
    seed: u64,
) -> Result<()> {
    let id = job
        .get("id")
        .and_then(Value::as_i64)
        .context("the registry sent a job without an id")?;
    let (model, stage, gate, digest) = (
        text(job, "model"),
        text(job, "stage"),
        text(job, "gate"),
        text(job, "digest"),
    );
    eprintln!(
        "job {id}: gate '{gate}' for {model}@{stage} (sha256:{})",
        digest.chars().take(12).collect::<String>()
    );
    let finish = |body: Value| -> Result<Value> {
        client.post(&format!("/v1/jobs/{id}/finish"), &body, "finish a re-check job")
    };
    let outcome = match prepare(job, models) {
        Err(why) => {
            eprintln!("job {id}: cannot run: {why}");
            finish(json!({"agent": name, "error": why}))?
        }
        Ok(m) => {
            // Keep the lease while the gate runs.
            let (stop, stopped) = mpsc::channel::<()>();
            let renew = {
                let path = format!("/v1/jobs/{id}/renew");
                let body = json!({"agent": name});
                move || {
                    while let Err(mpsc::RecvTimeoutError::Timeout) =
                        stopped.recv_timeout(Duration::from_secs(60))
                    {
                        if let Err(e) = client.post(&path, &body, "renew the job's lease") {
                            eprintln!("job {id}: {e:#}");
                        }
                    }
                }
            };
            let result = std::thread::scope(|s| {
                s.spawn(renew);
                let r = evaluate(m, stage, gate, key, seed);
                let _ = stop.send(());
                r
            });
            match result {
                Ok(envelope) => finish(json!({"agent": name, "envelope": envelope}))?,
                Err(e) => {
                    let why = format!("{e:#}");
                    eprintln!("job {id}: gate run failed: {why}");
                    finish(json!({"agent": name, "error": why}))?
                }
            }
        }
    };
    eprintln!(
        "job {id}: {}{}",
        text(&outcome, "state"),
        outcome
            .get("reason")
            .and_then(Value::as_str)
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    Ok(())
}

/// The model the job needs, when this agent has the registry's policy and
/// the deployed files.
fn prepare<'m>(job: &Value, models: &'m BTreeMap<String, Model>) -> Result<&'m Model, String> {
    let name = text(job, "model");
    let m = models
        .get(name)
        .ok_or_else(|| format!("this agent has no policy for '{name}'"))?;
    let want = text(job, "policy_sha256");
    let have = m.policy.digest.to_hex();
    if want != have {
        return Err(format!(
            "the agent's policy {} has sha256 {have}, the registry's is {want}; deploy the registry's policy to the agent",
            m.policy.path.display()
        ));
    }
    let digest =
        portcullis_engine::digest_artifact(&m.path, &DigestOptions::default(), &portcullis_engine::Silent)
            .map_err(|e| format!("{}: {e}", m.path.display()))?
            .digest
            .to_hex();
    if digest != text(job, "digest") {
        return Err(format!(
            "the model files at {} have digest {digest}, the job re-checks {}; point --model {name}=PATH at the deployed model",
            m.path.display(),
            text(job, "digest")
        ));
    }
    Ok(m)
}

fn evaluate(
    m: &Model,
    stage: &str,
    gate: &str,
    key: &portcullis_engine::SigningKey,
    seed: u64,
) -> Result<portcullis_evidence::Envelope> {
    let only = [gate.to_string()];
    let request = StageRequest {
        policy: &m.policy,
        stage,
        only: &only,
        model: Some(&m.path),
        author: Some("portcullis-agent"),
        seed,
        deadline: None,
    };
    let capture = Capture(std::sync::Mutex::new(None));
    portcullis_engine::evaluate_stage(&request, &capture, key, &SystemClock, &portcullis_engine::Silent)?;
    let envelope = capture
        .0
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .context("the gate produced no signed result")?;
    Ok(envelope)
}

fn manifests(m: &ManifestArgs) -> Result<Exit> {
    let policies = pairs(&m.policies, "--policy", "fraud=portcullis.yaml")?;
    let mut args = vec![
        "agent".to_string(),
        "--server".into(),
        m.server.clone(),
        "--key".into(),
        "/etc/portcullis/runner/runner.key".into(),
    ];
    for (name, file) in &policies {
        args.push("--policy".into());
        args.push(format!("{name}={}", file.display()));
    }
    if m.schedule.is_some() {
        args.push("--once".into());
    }
    let args = serde_json::to_string(&args)?;
    let (ns, image) = (&m.namespace, serde_json::to_string(&m.image)?);
    let pod = format!(
        "      automountServiceAccountToken: false\n\
         \x20     securityContext: {{runAsNonRoot: true, runAsUser: 65532, seccompProfile: {{type: RuntimeDefault}}}}\n\
         \x20     containers:\n        - name: agent\n          image: {image}\n\
         \x20         workingDir: /work\n          command: [portcullis]\n          args: {args}\n\
         \x20         env:\n\
         \x20           - {{name: PORTCULLIS_TOKEN, valueFrom: {{secretKeyRef: {{name: portcullis-agent, key: token}}}}}}\n\
         \x20         resources: {{requests: {{cpu: 500m, memory: 512Mi}}, limits: {{memory: 4Gi}}}}\n\
         \x20         securityContext: {{allowPrivilegeEscalation: false, capabilities: {{drop: [ALL]}}}}\n\
         \x20         volumeMounts:\n\
         \x20           - {{name: runner, mountPath: /etc/portcullis/runner, readOnly: true}}\n\
         \x20     volumes:\n\
         \x20       - {{name: runner, secret: {{secretName: portcullis-agent, items: [{{key: runner.key, path: runner.key}}]}}}}\n"
    );
    let header = format!(
        "# Re-check agents: kubectl -n {ns} create secret generic portcullis-agent \\\n\
         #   --from-literal=token=$(portcullis token create --identity agent --role runner) --from-file=runner.key\n"
    );
    let doc = match &m.schedule {
        None => format!(
            "{header}apiVersion: apps/v1\nkind: Deployment\n\
             metadata:\n  name: portcullis-agent\n  namespace: {ns}\n  labels: {{app.kubernetes.io/name: portcullis-agent}}\n\
             spec:\n  replicas: {}\n  selector:\n    matchLabels: {{app.kubernetes.io/name: portcullis-agent}}\n\
             \x20 template:\n    metadata:\n      labels: {{app.kubernetes.io/name: portcullis-agent}}\n    spec:\n{pod}",
            m.replicas
        ),
        Some(schedule) => {
            let pod = pod.replace("\n      ", "\n          ").replacen("      ", "          ", 1);
            format!(
                "{header}apiVersion: batch/v1\nkind: CronJob\n\
                 metadata:\n  name: portcullis-agent\n  namespace: {ns}\n\
                 spec:\n  schedule: {}\n  concurrencyPolicy: Forbid\n  jobTemplate:\n    spec:\n      backoffLimit: 2\n\
                 \x20     template:\n        spec:\n          restartPolicy: Never\n{pod}",
                serde_json::to_string(schedule)?
            )
        }
    };
    print!("{doc}");
    Ok(Exit::Ok)
}

/// Runs a `recheck` subcommand.
pub fn recheck(cmd: RecheckCommand) -> Result<Exit> {
    match cmd {
        RecheckCommand::Now { server, model, stage } => {
            let client = Client::new(&server)?;
            let v = client.post(
                &format!("/v1/models/{}/stages/{}/recheck", enc(&model), enc(&stage)),
                &json!({}),
                "recheck now",
            )?;
            let n = v.get("jobs").and_then(Value::as_array).map_or(0, Vec::len);
            eprintln!("{n} re-check job(s) queued for {model}@{stage} (a gate with a job pending gets no second one)");
            print_json(&v)?;
        }
        RecheckCommand::Jobs { server, model } => {
            let client = Client::new(&server)?;
            let q = model.map(|m| format!("?model={}", enc(&m))).unwrap_or_default();
            print_json(&client.get(&format!("/v1/jobs{q}"), "recheck jobs")?)?;
        }
        RecheckCommand::Clear {
            server,
            model,
            stage,
            comment,
        } => {
            let client = Client::new(&server)?;
            let v = client.post(
                &format!("/v1/models/{}/stages/{}/risks/clear", enc(&model), enc(&stage)),
                &json!({"comment": comment}),
                "recheck clear",
            )?;
            eprintln!(
                "cleared {} risk(s) against {model}@{stage}",
                v.get("cleared").and_then(Value::as_u64).unwrap_or(0)
            );
        }
    }
    Ok(Exit::Ok)
}
