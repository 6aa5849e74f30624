//! Deciding from recorded evidence: `decide`, the deploy-side `verify`, and
//! `show`. Trust comes only from the policy's keys ([`portcullis_policy::classify`]);
//! the decision is [`portcullis_policy::decide`], a pure function.

use std::collections::BTreeMap;
use std::path::Path;

use portcullis_evidence::predicate::{
    digest_set, format_time, ResourceDescriptor, VerificationResult, VerificationSummaryPredicate, Verifier,
    VSA_V1,
};
use portcullis_evidence::{DigestOptions, Envelope, Sha256Digest, SigningKey, Statement, Subject};
use portcullis_policy::{Decision, Evidence, Policy, Stage};

use crate::observe::Observer;
use crate::{digest_artifact, Clock, EngineError, EvidenceStore};

/// A stage's decision and the trusted evidence it was made from.
#[derive(Debug, Clone)]
pub struct Decided {
    /// The model's digest.
    pub digest: Sha256Digest,
    /// The decision.
    pub decision: Decision,
    /// What counted, and what did not and why.
    pub evidence: Evidence,
    /// Where the model's bundle is.
    pub bundle: String,
    /// sha256 of the bundle's bytes as read (`None`: no evidence yet).
    pub bundle_sha256: Option<Sha256Digest>,
}

pub(crate) fn stage_of<'p>(policy: &'p Policy, stage: &str) -> Result<&'p Stage, EngineError> {
    policy.stage(stage).ok_or_else(|| EngineError::UnknownStage {
        stage: stage.to_string(),
        policy: policy.path.display().to_string(),
        known: policy.stages.keys().cloned().collect(),
    })
}

pub(crate) fn decide_bundle(
    policy: &Policy,
    stage: &str,
    store: &dyn EvidenceStore,
    digest: &Sha256Digest,
    clock: &dyn Clock,
) -> Result<Decided, EngineError> {
    let bundle = store.read(digest)?;
    let evidence = portcullis_policy::classify(policy, digest, &bundle);
    let decision = portcullis_policy::decide(policy, stage, &evidence, clock.now());
    Ok(Decided {
        digest: *digest,
        decision,
        evidence,
        bundle: bundle.location,
        bundle_sha256: bundle.sha256,
    })
}

/// Decides `stage` for the model with `digest` from what `store` holds,
/// running nothing.
///
/// # Errors
/// [`EngineError::UnknownStage`]; store failures.
pub fn decide(
    policy: &Policy,
    stage: &str,
    store: &dyn EvidenceStore,
    digest: &Sha256Digest,
    clock: &dyn Clock,
) -> Result<Decided, EngineError> {
    stage_of(policy, stage)?;
    decide_bundle(policy, stage, store, digest, clock)
}

/// The deploy-side check.
#[derive(Clone, Copy)]
pub struct VerifyRequest<'a> {
    /// The deployer's policy (never one that came with the evidence).
    pub policy: &'a Policy,
    /// The stage being deployed to.
    pub stage: &'a str,
    /// The model as it will be deployed; its digest is recomputed.
    pub model: &'a Path,
    /// Also state the decision as a SLSA Verification Summary.
    pub summarise: bool,
    /// Sign the summary into a DSSE envelope with this key.
    pub summary_key: Option<&'a SigningKey>,
}

/// A Verification Summary, as a bare statement or signed.
#[derive(Debug, Clone)]
pub enum Summary {
    /// Unsigned.
    Statement(Statement),
    /// Signed.
    Envelope(Envelope),
}

/// What [`verify`] found.
#[derive(Debug, Clone)]
pub struct Verification {
    /// The model's name (its path's final component).
    pub model_name: String,
    /// The decision.
    pub decided: Decided,
    /// The Verification Summary, when asked for.
    pub summary: Option<Summary>,
}

impl Summary {
    /// Pretty JSON of the statement or envelope.
    ///
    /// # Errors
    /// Serialisation failure.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        match self {
            Summary::Statement(s) => serde_json::to_string_pretty(s),
            Summary::Envelope(e) => serde_json::to_string_pretty(e),
        }
    }
}

/// Recomputes the model's digest, checks every signature against the
/// policy's keys, decides the stage, and optionally states the decision as a
/// SLSA Verification Summary.
///
/// # Errors
/// An unknown stage, an unreadable model, store or signing failures.
pub fn verify(
    req: &VerifyRequest<'_>,
    store: &dyn EvidenceStore,
    clock: &dyn Clock,
    observer: &dyn Observer,
) -> Result<Verification, EngineError> {
    stage_of(req.policy, req.stage)?;
    let manifest = digest_artifact(req.model, &DigestOptions::default(), observer)?;
    let decided = decide_bundle(req.policy, req.stage, store, &manifest.digest, clock)?;
    let summary = if req.summarise {
        Some(summarise(
            req.policy,
            req.stage,
            &manifest.model_name,
            &decided,
            clock,
            req.summary_key,
        )?)
    } else {
        None
    };
    Ok(Verification {
        model_name: manifest.model_name,
        decided,
        summary,
    })
}

/// States a decision as a SLSA Verification Summary about the model
/// (`model_name`, the decided digest), signed when `key` is given. `verify`
/// uses it after recomputing the digest; the registry uses it to answer the
/// deploy-time question for a digest it already knows.
///
/// # Errors
/// Serialisation or signing failures.
pub fn summarise(
    policy: &Policy,
    stage: &str,
    model_name: &str,
    decided: &Decided,
    clock: &dyn Clock,
    key: Option<&SigningKey>,
) -> Result<Summary, EngineError> {
    let predicate = VerificationSummaryPredicate {
        input_attestations: decided
            .bundle_sha256
            .map(|d| ResourceDescriptor {
                digest: digest_set(&d),
                uri: decided.bundle.clone(),
            })
            .into_iter()
            .collect(),
        policy: ResourceDescriptor {
            digest: digest_set(&policy.digest),
            uri: policy.path.display().to_string(),
        },
        resource_uri: format!("file:{model_name}"),
        time_verified: format_time(clock.now()),
        verification_result: if decided.decision.allowed {
            VerificationResult::Passed
        } else {
            VerificationResult::Failed
        },
        verified_levels: vec![format!("PORTCULLIS_STAGE_{}", stage.to_uppercase())],
        verifier: Verifier {
            id: "https://portcullis.dev/verifier".into(),
            version: BTreeMap::from([("portcullis".to_string(), env!("CARGO_PKG_VERSION").to_string())]),
        },
    };
    let statement = Statement::new(
        Subject::sha256(model_name, &decided.digest),
        VSA_V1,
        serde_json::to_value(&predicate)?,
    );
    Ok(match key {
        Some(key) => Summary::Envelope(Envelope::sign(&statement, key)?),
        None => Summary::Statement(statement),
    })
}

/// Everything recorded about a model, and each stage's decision.
#[derive(Debug, Clone)]
pub struct Shown {
    /// The model's digest.
    pub digest: Sha256Digest,
    /// Where its bundle is.
    pub bundle: String,
    /// The trusted evidence, and what did not count.
    pub evidence: Evidence,
    /// Every stage's decision, in stage-name order.
    pub decisions: Vec<Decision>,
}

/// What an approver should see before signing: the trusted evidence and
/// what each stage still needs.
///
/// # Errors
/// Store failures.
pub fn show(
    policy: &Policy,
    store: &dyn EvidenceStore,
    digest: &Sha256Digest,
    clock: &dyn Clock,
) -> Result<Shown, EngineError> {
    let bundle = store.read(digest)?;
    let evidence = portcullis_policy::classify(policy, digest, &bundle);
    let now = clock.now();
    let decisions = policy
        .stages
        .keys()
        .map(|s| portcullis_policy::decide(policy, s, &evidence, now))
        .collect();
    Ok(Shown {
        digest: *digest,
        bundle: bundle.location,
        evidence,
        decisions,
    })
}
