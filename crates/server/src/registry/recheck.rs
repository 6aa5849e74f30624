//! Continuous re-evaluation: what a stage holds is re-checked on the
//! schedule its policy gives (`stages.X.recheck`), by `portcullis agent`
//! processes that claim jobs here.
//!
//! ```text
//!  scheduler (every tick) ── due? ──► job queued ──► agent claims (lease)
//!        agent runs the gate with the engine, signs the result ──┘
//!  finish: the envelope is verified with the server's policy ──► passed │ failed │ error
//!        failed/error ──► the stage is "at risk" for that digest
//!        on_fail: revoke and a signed failing result ──► the deploy-time answer denies
//! ```
//!
//! The server never takes an agent's word for a verdict: a job ends
//! `passed` or `failed` only from a gate-result envelope that verifies
//! under the model's policy, names the job's gate and digest, and was
//! signed after the job was queued. An agent that reports an error (or a
//! result that does not verify) gives the job back for another attempt;
//! after [`MAX_ATTEMPTS`] it ends `error`: at risk, but never revoked, since
//! nothing signed says the model failed. A revocation holds until the
//! stage moves to another digest or an admin clears it (logged).

use std::time::Duration;

use portcullis_engine::store::Bundle;
use portcullis_engine::EvidenceStore as _;
use portcullis_evidence::predicate::{format_time, parse_time};
use portcullis_evidence::{Envelope, Sha256Digest, Verdict};
use portcullis_policy::{OnFail, ReasonCode};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{audit, limits, parse_digest, require, short, DbEvidence, Registry};
use crate::auth::{check_identity, Caller, Role};
use crate::error::ApiError;
use crate::store::{JobEnd, JobRow, NewJob};

/// How long a claim holds before another agent may take the job over; an
/// agent renews it while its gate runs.
pub const LEASE: Duration = Duration::from_secs(600);
/// How many claims a job gets before an agent-side failure ends it `error`.
pub const MAX_ATTEMPTS: i64 = 3;
/// How far an agent's clock may lag the server's when it signs a result.
const MAX_SKEW: Duration = Duration::from_secs(300);
/// The most jobs one listing returns.
pub const MAX_LISTED: u32 = 500;

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    /// Id.
    pub id: i64,
    /// Model.
    pub model: String,
    /// Stage.
    pub stage: String,
    /// Digest re-checked.
    pub digest: String,
    /// Gate re-run.
    pub gate: String,
    /// `revoke` or `flag`.
    pub on_fail: &'static str,
    /// `queued`, `leased`, `passed`, `failed` or `error`.
    pub state: String,
    /// When.
    pub enqueued_at: String,
    /// By whom (`scheduler` or an admin).
    pub enqueued_by: String,
    /// Claims so far.
    pub attempts: i64,
    /// The agent holding or last holding it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// When the lease runs out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease_expires: Option<String>,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// What the run found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// sha256 of the signed result it ended with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_sha256: Option<String>,
    /// When an admin cleared the risk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleared_at: Option<String>,
    /// Who.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleared_by: Option<String>,
    /// The policy the job must run under (sha256 of the file), so an agent
    /// with another version of the policy refuses it.
    pub policy_sha256: String,
}

/// What stands against the digest a stage holds.
#[derive(Debug, Clone, Serialize)]
pub struct RiskView {
    /// The job that raised it.
    pub job: i64,
    /// Its gate.
    pub gate: String,
    /// `failed` or `error`.
    pub state: String,
    /// When.
    pub at: Option<String>,
    /// What it found.
    pub reason: Option<String>,
    /// Whether it revokes the digest (a signed failing result under
    /// `on_fail: revoke`).
    pub revokes: bool,
}

/// How an agent ends a job.
#[derive(Debug, Clone, Default)]
pub struct Finish {
    /// The signed gate result.
    pub envelope: Option<Envelope>,
    /// Why the agent could not run the gate.
    pub error: Option<String>,
}

impl Registry {
    fn job_view(&self, j: JobRow) -> JobView {
        let policy_sha256 = self
            .policies
            .get(&j.model)
            .map(|p| p.digest.to_hex())
            .unwrap_or_default();
        JobView {
            evidence_sha256: j
                .evidence
                .as_ref()
                .map(|e| Sha256Digest(Sha256::digest(e.as_bytes()).into()).to_hex()),
            id: j.id,
            model: j.model,
            stage: j.stage,
            digest: j.digest,
            gate: j.gate,
            on_fail: if j.revoke { "revoke" } else { "flag" },
            state: j.state,
            enqueued_at: j.enqueued_at,
            enqueued_by: j.enqueued_by,
            attempts: j.attempts,
            agent: j.agent,
            lease_expires: j.lease_expires,
            finished_at: j.finished_at,
            reason: j.reason,
            cleared_at: j.cleared_at,
            cleared_by: j.cleared_by,
            policy_sha256,
        }
    }

    /// Enqueues `stage`'s re-checks for the digest it holds; with `due_only`
    /// only those whose last run (or the stage's move) is at least
    /// `recheck.every` ago. Returns the jobs enqueued.
    fn enqueue_stage(
        &self,
        model: &str,
        stage: &str,
        by: &str,
        due_only: bool,
    ) -> Result<Vec<i64>, ApiError> {
        let policy = self.policy(model)?;
        let Some(recheck) = Self::stage_of(policy, model, stage)?.recheck.as_ref() else {
            return Ok(Vec::new());
        };
        let Some(alias) = self.store.alias(model, stage)? else {
            return Ok(Vec::new());
        };
        let now = self.clock.now();
        let at = format_time(now);
        let mut out = Vec::new();
        for gate in &recheck.gates {
            if due_only {
                let last = self.store.last_job(model, stage, &alias.digest, gate)?;
                let since = last.map_or(alias.moved_at.clone(), |j| j.enqueued_at);
                let due = parse_time(&since).map_or(true, |t| {
                    now.duration_since(t).is_ok_and(|age| age >= recheck.every)
                });
                if !due {
                    continue;
                }
            }
            let job = NewJob {
                model: model.to_string(),
                stage: stage.to_string(),
                digest: alias.digest.clone(),
                gate: gate.clone(),
                revoke: recheck.on_fail == OnFail::Revoke,
                at: at.clone(),
                by: by.to_string(),
            };
            let entry = audit(
                &at,
                by,
                "recheck.queued",
                json!({"model": model, "stage": stage, "digest": alias.digest, "gate": gate,
                       "on_fail": if job.revoke { "revoke" } else { "flag" }}),
            );
            if let Some(id) = self.store.enqueue_job(&job, &entry)? {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Enqueues every re-check that is due, across all models and stages
    /// (the server calls this on a timer). Returns the jobs enqueued.
    ///
    /// # Errors
    /// Store failures.
    pub fn schedule_rechecks(&self) -> Result<Vec<i64>, ApiError> {
        let mut out = Vec::new();
        for (model, policy) in &self.policies {
            for (stage, s) in &policy.stages {
                if s.recheck.is_some() {
                    out.extend(self.enqueue_stage(model, stage, "scheduler", true)?);
                }
            }
        }
        Ok(out)
    }

    /// Enqueues `stage`'s re-checks now, due or not (after a new probe pack
    /// lands, say). Returns the jobs enqueued (none for a gate that already
    /// has one pending).
    ///
    /// # Errors
    /// Not an admin; unknown model or stage; a stage without `recheck` or
    /// with nothing promoted to it.
    pub fn recheck_now(&self, caller: &Caller, model: &str, stage: &str) -> Result<Vec<JobView>, ApiError> {
        require(caller.role == Role::Admin, caller, "enqueue re-checks", "admin")?;
        let policy = self.policy(model)?;
        if Self::stage_of(policy, model, stage)?.recheck.is_none() {
            return Err(ApiError::BadRequest(format!(
                "stage '{stage}' of '{model}' has no `recheck` in its policy; add e.g. `recheck: {{ every: 24h, gates: [...] }}`"
            )));
        }
        if self.store.alias(model, stage)?.is_none() {
            return Err(ApiError::NotFound(format!(
                "nothing has been promoted to '{stage}' of '{model}'; there is nothing to re-check"
            )));
        }
        let ids = self.enqueue_stage(model, stage, &caller.identity, false)?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(j) = self.store.job(id)? {
                out.push(self.job_view(j));
            }
        }
        Ok(out)
    }

    fn agent_id(caller: &Caller, name: &str) -> Result<String, ApiError> {
        check_identity(name).map_err(|e| ApiError::BadRequest(format!("agent name: {e}")))?;
        Ok(format!("{}/{name}", caller.identity))
    }

    /// Leases the oldest claimable job of one of `models` (any when empty)
    /// to the agent `name` of the caller (a runner); `None` when there is
    /// nothing to do.
    ///
    /// # Errors
    /// Not a runner; a malformed name; store failures.
    pub fn claim_job(
        &self,
        caller: &Caller,
        name: &str,
        models: &[String],
    ) -> Result<Option<JobView>, ApiError> {
        require(
            caller.role.may_write_evidence(),
            caller,
            "run re-checks",
            "runner",
        )?;
        let agent = Self::agent_id(caller, name)?;
        loop {
            let now = self.clock.now();
            let until = format_time(now + LEASE);
            let Some(job) = self.store.claim_job(&agent, models, &format_time(now), &until)? else {
                return Ok(None);
            };
            // A job whose agents keep dying ends here rather than forever.
            if job.attempts > MAX_ATTEMPTS {
                self.end_job(
                    &job,
                    &agent,
                    "error",
                    Some(format!(
                        "{MAX_ATTEMPTS} claims ended without a result (agents died or their leases ran out); see the agents' logs"
                    )),
                    None,
                )?;
                continue;
            }
            return Ok(Some(self.job_view(job)));
        }
    }

    /// Extends the caller's lease on job `id`.
    ///
    /// # Errors
    /// Not a runner; the agent no longer holds the job (409).
    pub fn renew_job(&self, caller: &Caller, name: &str, id: i64) -> Result<JobView, ApiError> {
        require(
            caller.role.may_write_evidence(),
            caller,
            "run re-checks",
            "runner",
        )?;
        let agent = Self::agent_id(caller, name)?;
        let until = format_time(self.clock.now() + LEASE);
        if !self.store.renew_job(id, &agent, &until)? {
            return Err(lost(id));
        }
        let job = self.store.job(id)?.ok_or_else(|| lost(id))?;
        Ok(self.job_view(job))
    }

    fn end_job(
        &self,
        job: &JobRow,
        agent: &str,
        state: &str,
        reason: Option<String>,
        evidence: Option<String>,
    ) -> Result<bool, ApiError> {
        let at = format_time(self.clock.now());
        let mut detail = json!({"job": job.id, "model": job.model, "stage": job.stage, "digest": job.digest,
                                "gate": job.gate, "state": state, "agent": agent, "attempts": job.attempts});
        if let (Some(e), Some(m)) = (&evidence, detail.as_object_mut()) {
            m.insert(
                "envelope_sha256".into(),
                Sha256Digest(Sha256::digest(e.as_bytes()).into()).to_hex().into(),
            );
        }
        if let (Some(r), Some(m)) = (&reason, detail.as_object_mut()) {
            m.insert(
                "reason".into(),
                r.chars().take(limits::COMMENT).collect::<String>().into(),
            );
        }
        let event = if state == "queued" {
            "recheck.retry"
        } else {
            "recheck.finished"
        };
        let entry = audit(&at, agent, event, detail);
        let end = JobEnd {
            state: state.to_string(),
            at,
            reason,
            evidence,
        };
        let done = self.store.finish_job(job.id, agent, &end, &entry)?;
        if done {
            self.forget_stages(&job.model);
        }
        Ok(done)
    }

    /// Ends the caller's job `id` with a signed result or an error.
    ///
    /// # Errors
    /// Not a runner; no such job; the agent no longer holds it (409); a body
    /// with neither or both of a result and an error.
    pub fn finish_job(
        &self,
        caller: &Caller,
        name: &str,
        id: i64,
        finish: Finish,
    ) -> Result<JobView, ApiError> {
        require(
            caller.role.may_write_evidence(),
            caller,
            "run re-checks",
            "runner",
        )?;
        let agent = Self::agent_id(caller, name)?;
        let job = self
            .store
            .job(id)?
            .ok_or_else(|| ApiError::NotFound(format!("no job {id}")))?;
        if job.state != "leased" || job.agent.as_deref() != Some(agent.as_str()) {
            return Err(lost(id));
        }
        let retry_or_error = |reason: String| {
            let state = if job.attempts < MAX_ATTEMPTS {
                "queued"
            } else {
                "error"
            };
            (state, reason)
        };
        let (state, reason, counted) = match (finish.envelope, finish.error) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(ApiError::BadRequest(
                    "send either `envelope` (the signed gate result) or `error`".into(),
                ))
            }
            (None, Some(e)) => {
                let (s, r) = retry_or_error(format!(
                    "agent: {}",
                    e.chars().take(limits::COMMENT).collect::<String>()
                ));
                (s, r, None)
            }
            (Some(env), None) => match self.check_result(&job, &env) {
                Ok((verdict, why)) => {
                    let state = match verdict {
                        Verdict::Pass => "passed",
                        Verdict::Fail => "failed",
                        Verdict::Error => "error",
                    };
                    (state, why, Some(env))
                }
                Err(why) => {
                    let (s, r) = retry_or_error(format!("the result does not count: {why}"));
                    (s, r, None)
                }
            },
        };
        if let (Some(env), true) = (&counted, job.revoke) {
            // Under `revoke` the re-check's result is evidence like any
            // other (the newest result of the gate is what decides), stored
            // through the same ingest path as a push.
            let digest = parse_digest(&job.digest)?;
            DbEvidence {
                registry: self,
                model: &job.model,
                actor: &agent,
            }
            .append(&digest, env)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        }
        let evidence = counted
            .map(|env| serde_json::to_string(&env))
            .transpose()
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        if !self.end_job(&job, &agent, state, Some(reason), evidence)? {
            return Err(lost(id));
        }
        let job = self.store.job(id)?.ok_or_else(|| lost(id))?;
        Ok(self.job_view(job))
    }

    /// The verdict of a re-check's signed result, or why it does not count.
    fn check_result(&self, job: &JobRow, env: &Envelope) -> Result<(Verdict, String), String> {
        let policy = self
            .policies
            .get(&job.model)
            .ok_or_else(|| format!("the registry no longer serves '{}'", job.model))?;
        let digest = parse_digest(&job.digest).map_err(|e| e.to_string())?;
        let bundle = Bundle {
            location: String::new(),
            sha256: None,
            envelopes: vec![(1, env.clone())],
            corrupt: vec![],
        };
        let ev = portcullis_policy::classify(policy, &digest, &bundle);
        if let Some(r) = ev.rejected.first() {
            return Err(r.reason.clone());
        }
        let result = ev.gate_results.first().ok_or("it is not a gate result")?;
        let p = &result.predicate;
        if p.gate.name != job.gate {
            return Err(format!(
                "it is a result of gate '{}', the job re-runs '{}'",
                p.gate.name, job.gate
            ));
        }
        let queued = parse_time(&job.enqueued_at)?;
        let finished = parse_time(&p.finished_on)?;
        if finished + MAX_SKEW < queued {
            return Err(format!(
                "it was signed {} , before the job was queued ({}); run the gate again",
                p.finished_on, job.enqueued_at
            ));
        }
        let why = match p.verdict {
            Verdict::Pass => format!("passed (signed by '{}', {})", result.signer, p.finished_on),
            _ if !p.reasons.is_empty() => p.reasons.join("; "),
            _ => p.error.clone().unwrap_or_else(|| p.verdict.as_str().to_string()),
        };
        Ok((p.verdict, why))
    }

    /// Re-check jobs, newest first; only `model`'s when given.
    ///
    /// # Errors
    /// Unknown model; store failures.
    pub fn jobs(&self, _caller: &Caller, model: Option<&str>) -> Result<Vec<JobView>, ApiError> {
        if let Some(m) = model {
            self.policy(m)?;
        }
        Ok(self
            .store
            .jobs(model, MAX_LISTED)?
            .into_iter()
            .map(|j| self.job_view(j))
            .collect())
    }

    /// What stands against `digest` in `stage`: failed or errored re-checks
    /// not cleared.
    ///
    /// # Errors
    /// Store failures.
    pub fn risks(&self, model: &str, stage: &str, digest: &str) -> Result<Vec<RiskView>, ApiError> {
        Ok(self
            .store
            .risks(model, stage, digest)?
            .into_iter()
            .map(|j| RiskView {
                revokes: j.revoke && j.evidence.is_some(),
                job: j.id,
                gate: j.gate,
                state: j.state,
                at: j.finished_at,
                reason: j.reason,
            })
            .collect())
    }

    /// Denies `d` for every revoking risk in `risks`.
    pub(super) fn apply_revocations(
        decision: &mut portcullis_policy::Decision,
        digest: &str,
        risks: &[RiskView],
    ) {
        for r in risks.iter().filter(|r| r.revokes) {
            decision.deny(
                ReasonCode::Revoked,
                Some(&r.gate),
                format!(
                    "re-check job {} of gate '{}' failed for {} at {}: {}; the stage's recheck says on_fail: revoke, so the digest is denied until another digest is promoted or an admin clears the risk (`portcullis recheck clear`)",
                    r.job,
                    r.gate,
                    short(digest),
                    r.at.as_deref().unwrap_or("?"),
                    r.reason.as_deref().unwrap_or("no reason recorded")
                ),
            );
        }
    }

    /// Clears the risks standing against the digest `stage` holds, with a
    /// comment for the log; returns how many.
    ///
    /// # Errors
    /// Not an admin; unknown model or stage; nothing promoted; an empty or
    /// oversized comment.
    pub fn clear_risks(
        &self,
        caller: &Caller,
        model: &str,
        stage: &str,
        comment: &str,
    ) -> Result<u64, ApiError> {
        require(
            caller.role == Role::Admin,
            caller,
            "clear re-check risks",
            "admin",
        )?;
        let policy = self.policy(model)?;
        Self::stage_of(policy, model, stage)?;
        if comment.trim().is_empty() || comment.len() > limits::COMMENT {
            return Err(ApiError::BadRequest(format!(
                "say why the risk is cleared: a comment of 1 to {} bytes",
                limits::COMMENT
            )));
        }
        let alias = self.store.alias(model, stage)?.ok_or_else(|| {
            ApiError::NotFound(format!("nothing has been promoted to '{stage}' of '{model}'"))
        })?;
        let at = format_time(self.clock.now());
        let entry = audit(
            &at,
            &caller.identity,
            "recheck.cleared",
            json!({"model": model, "stage": stage, "digest": alias.digest, "comment": comment}),
        );
        let n = self
            .store
            .clear_risks(model, stage, &alias.digest, &caller.identity, &at, &entry)?;
        self.forget_stages(model);
        Ok(n)
    }
}

fn lost(id: i64) -> ApiError {
    ApiError::Conflict(format!(
        "job {id} is not leased to this agent (its lease expired and another agent took it, or it ended)"
    ))
}
