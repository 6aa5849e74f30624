//! Evaluating: digest the artifact, run gates side by side, turn each
//! outcome into a signed gate-result statement, append it, decide.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use portcullis_evidence::predicate::{
    format_time, GateIdentity, GateResultPredicate, ToolInfo, GATE_RESULT_V1,
};
use portcullis_evidence::{digest_model, DataSource, DigestOptions, GateSpec, Manifest, SigningKey};
use portcullis_gates::serve::Serve;
use portcullis_gates::{run_gate, GateContext, GateOutcome, ModelRef};
use portcullis_policy::{ModelDecl, Policy};

use crate::decide::{decide_bundle, Decided};
use crate::observe::{Observer, Warning};
use crate::sign::sign_and_append;
use crate::{Clock, EngineError, EvidenceStore};

/// What to evaluate: a stage of a policy, for a model.
#[derive(Debug, Clone, Copy)]
pub struct StageRequest<'a> {
    /// The checked policy.
    pub policy: &'a Policy,
    /// The stage; its gates include those of the stages it extends.
    pub stage: &'a str,
    /// Run only these of the stage's gates (empty: all of them).
    pub only: &'a [String],
    /// The model, instead of the policy's `model.path`.
    pub model: Option<&'a Path>,
    /// Who triggered the run (recorded; forbids self-approval).
    pub author: Option<&'a str>,
    /// The seed for every random choice (recorded).
    pub seed: u64,
    /// Stop every gate at this instant and fail it closed.
    pub deadline: Option<Instant>,
}

/// What [`evaluate_stage`] did.
#[derive(Debug, Clone)]
pub struct StageEvaluation {
    /// The model's manifest (its digest is what everything is bound to).
    pub manifest: Manifest,
    /// Each gate's outcome, in stage order.
    pub outcomes: Vec<GateOutcome>,
    /// Where the signed results were appended.
    pub bundle: String,
    /// The stage's decision from the evidence, this run's results included.
    pub decided: Decided,
}

/// One gate run ad hoc, with no policy and nothing signed (`eval`).
#[derive(Clone, Copy)]
pub struct GateRequest<'a> {
    /// The name to report it under (the kind, for `eval`).
    pub name: &'a str,
    /// The spec.
    pub spec: &'a GateSpec,
    /// The candidate model.
    pub model: &'a ModelRef,
    /// The production model, if any.
    pub reference: Option<&'a ModelRef>,
    /// Named datasets.
    pub data: &'a BTreeMap<String, DataSource>,
    /// Relative spec paths resolve against this directory.
    pub base_dir: &'a Path,
    /// The seed.
    pub seed: u64,
    /// Stop at this instant and fail closed.
    pub deadline: Option<Instant>,
}

/// This tool's name and version, as recorded in every statement.
pub fn tool_info() -> ToolInfo {
    ToolInfo {
        name: "portcullis".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// The gate-result predicate of an outcome: what evidence records of it.
pub fn predicate_of(
    outcome: &GateOutcome,
    policy: Option<&Policy>,
    stage: Option<&str>,
    author: Option<&str>,
    clock: &dyn Clock,
) -> GateResultPredicate {
    GateResultPredicate {
        gate: GateIdentity {
            name: outcome.name.clone(),
            kind: outcome.kind.clone(),
            spec: serde_json::to_value(&outcome.spec).unwrap_or_default(),
            spec_digest: portcullis_evidence::predicate::digest_set(&outcome.spec.digest()),
        },
        policy_digest: policy.map(|p| portcullis_evidence::predicate::digest_set(&p.digest)),
        stage: stage.map(str::to_string),
        verdict: outcome.verdict,
        metrics: outcome.metrics.clone(),
        checks: outcome.checks.clone(),
        findings: outcome.findings.clone(),
        reasons: outcome.reasons.clone(),
        details: outcome.details.clone(),
        inputs: outcome.inputs.clone(),
        error: outcome.error.clone(),
        author: author.map(str::to_string),
        seed: outcome.seed,
        started_on: outcome.started.clone(),
        finished_on: format_time(clock.now()),
        tool: tool_info(),
    }
}

/// Digests a model (file or directory) into its OpenSSF model-signing
/// manifest (the default options are what `run` and `verify` bind
/// evidence to), reporting bytes hashed to the observer.
///
/// # Errors
/// [`EngineError::Model`] when the model cannot be read.
pub fn digest_artifact(
    path: &Path,
    options: &DigestOptions,
    observer: &dyn Observer,
) -> Result<Manifest, EngineError> {
    let total = portcullis_evidence::total_bytes(path, options)?;
    let progress = observer.digest(total);
    let cb = |n: u64| progress.inc(n);
    Ok(digest_model(path, options, Some(&cb))?)
}

/// Gates resolving spec paths must not join the policy's directory twice:
/// the policy already resolved them, so make them absolute.
fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

fn model_ref(decl: Option<&ModelDecl>, path: &Path, what: &str) -> Result<ModelRef, EngineError> {
    Ok(ModelRef {
        path: Some(absolute(path)),
        digest: None,
        kind: decl.and_then(|m| m.kind.clone()),
        serve: decl
            .and_then(|m| m.serve.as_ref())
            .map(|s| Serve::from_decl(s, what))
            .transpose()
            .map_err(EngineError::Serve)?,
    })
}

/// The gates a run of `stage` runs: all the stage's gates (those of the
/// stages it extends first), or those of `only`, in stage order; `only`
/// may also name the stage's `recheck` gates (what an agent re-runs).
///
/// # Errors
/// [`EngineError::UnknownStage`]; [`EngineError::UnknownGate`] when `only`
/// names a gate the stage neither requires nor re-checks.
pub fn stage_gates(policy: &Policy, stage: &str, only: &[String]) -> Result<Vec<String>, EngineError> {
    let stage = crate::decide::stage_of(policy, stage)?;
    // A stage's re-check gates run through the same path as its required
    // ones (the agent asks for them by name), though they need not be required.
    let mut known = stage.gates.clone();
    for g in stage.recheck.iter().flat_map(|r| &r.gates) {
        if !known.contains(g) {
            known.push(g.clone());
        }
    }
    if let Some(g) = only.iter().find(|g| !known.contains(g)) {
        return Err(EngineError::UnknownGate {
            gate: g.clone(),
            stage: stage.name.clone(),
            known,
        });
    }
    if only.is_empty() {
        return Ok(stage.gates.clone());
    }
    known.retain(|g| only.contains(g));
    Ok(known)
}

/// Runs a stage's gates side by side on the model, signs each outcome as a
/// gate-result statement with `key`, appends it to `store`, and decides the
/// stage from everything the store holds for the model.
///
/// # Errors
/// An unknown stage or gate, no model, an unreadable model, an invalid
/// `serve:` declaration, or a store or signing failure. A gate that errors
/// is not an error here: its outcome has verdict `error` and fails closed.
pub fn evaluate_stage(
    req: &StageRequest<'_>,
    store: &dyn EvidenceStore,
    key: &SigningKey,
    clock: &dyn Clock,
    observer: &dyn Observer,
) -> Result<StageEvaluation, EngineError> {
    let policy = req.policy;
    let stage = crate::decide::stage_of(policy, req.stage)?;
    let selected = stage_gates(policy, req.stage, req.only)?;
    let public = key.public();
    if !policy.runners.iter().any(|r| r.keys.contains(&public)) {
        observer.warn(&Warning::UntrustedRunner {
            keyid: public.keyid(),
            policy: policy.path.display().to_string(),
        });
    }
    let model_path = req
        .model
        .map(Path::to_path_buf)
        .or_else(|| policy.model.as_ref().map(|m| m.path.clone()))
        .ok_or_else(|| EngineError::NoModel {
            policy: policy.path.display().to_string(),
        })?;
    let manifest = digest_artifact(&model_path, &DigestOptions::default(), observer)?;
    let digest = manifest.digest;
    let mut model = model_ref(policy.model.as_ref(), &model_path, "model")?;
    model.digest = Some(digest);
    let reference = policy
        .reference
        .as_ref()
        .map(|r| model_ref(Some(r), &r.path, "reference"))
        .transpose()?;
    let data: BTreeMap<String, DataSource> = policy
        .data
        .iter()
        .map(|(k, d)| {
            let mut d = d.clone();
            d.path = absolute(&d.path);
            (k.clone(), d)
        })
        .collect();
    let base_dir = match policy.path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // Gates are independent: run them side by side.
    let outcomes = std::thread::scope(|s| {
        let handles: Vec<_> = selected
            .iter()
            .map(|name| {
                let spec = policy.gates.get(name).map(|d| &d.spec);
                let (model, reference, data, base_dir) = (&model, &reference, &data, &base_dir);
                s.spawn(move || {
                    let spec = spec?;
                    let progress = observer.gate(name);
                    let ctx = GateContext {
                        name,
                        model,
                        reference: reference.as_ref(),
                        data,
                        base_dir,
                        seed: req.seed,
                        progress: progress.as_ref(),
                        deadline: req.deadline,
                    };
                    Some(run_gate(spec, &ctx))
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .collect::<Vec<_>>()
    });
    if outcomes.len() != selected.len() {
        return Err(EngineError::GateAborted);
    }
    let mut bundle = store.location(&digest);
    for o in &outcomes {
        let predicate = predicate_of(o, Some(policy), Some(&stage.name), req.author, clock);
        bundle = sign_and_append(
            store,
            &digest,
            &manifest.model_name,
            GATE_RESULT_V1,
            &predicate,
            key,
        )?;
        observer.gate_done(o);
    }
    let decided = decide_bundle(policy, &stage.name, store, &digest, clock)?;
    Ok(StageEvaluation {
        manifest,
        outcomes,
        bundle,
        decided,
    })
}

/// Runs one gate ad hoc: no policy, nothing signed or stored. Returns the
/// outcome and the predicate evidence would record of it.
///
/// # Errors
/// [`EngineError::Spec`] when the spec is invalid for its kind; a gate that
/// errors while running is an outcome with verdict `error`, not an error.
pub fn evaluate_gate(
    req: &GateRequest<'_>,
    clock: &dyn Clock,
    observer: &dyn Observer,
) -> Result<(GateOutcome, GateResultPredicate), EngineError> {
    portcullis_gates::build(req.spec)?;
    let progress = observer.gate(req.name);
    let ctx = GateContext {
        name: req.name,
        model: req.model,
        reference: req.reference,
        data: req.data,
        base_dir: req.base_dir,
        seed: req.seed,
        progress: progress.as_ref(),
        deadline: req.deadline,
    };
    let outcome = run_gate(req.spec, &ctx);
    drop(progress);
    observer.gate_done(&outcome);
    let predicate = predicate_of(&outcome, None, None, None, clock);
    Ok((outcome, predicate))
}
