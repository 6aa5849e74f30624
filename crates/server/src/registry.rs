//! The registry's use cases, synchronous and transport-free: the HTTP
//! handlers in [`crate::api`] only parse, call one of these, and render.
//!
//! Every rule is the engine's: evidence is sorted with the server's own
//! policy by `policy::classify`, stages are decided by `engine::decide`,
//! approvals through the API are signed by `engine::approve` with the
//! server's service key, and the deploy-time answer is
//! `engine::summarise`. Nothing that came with an upload (a signer, a
//! predicate, a policy) is trusted.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use portcullis_engine::store::{Bundle, CorruptLine, StoreError as EvidenceStoreError};
use portcullis_engine::{Clock, EvidenceStore, Policy, SigningKey, Summary};
use portcullis_evidence::predicate::{format_time, parse_time};
use portcullis_evidence::{Envelope, Sha256Digest};
use portcullis_report::json::v1;
use portcullis_report::Report;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::auth::{check_identity, hash_secret, new_secret, Caller, Role};
use crate::error::ApiError;
use crate::log::AuditLog;
use crate::store::{AliasMove, MoveOutcome, NewEvidence, Pushed, RequestRow, Store};

mod recheck;
pub use recheck::{Finish, JobView, RiskView, LEASE, MAX_ATTEMPTS};

/// Bounds on what a client can send.
pub mod limits {
    /// The largest request body.
    pub const BODY: usize = 16 << 20;
    /// The longest evidence line (one DSSE envelope).
    pub const LINE: usize = 1 << 20;
    /// The most lines in one push.
    pub const LINES: usize = 10_000;
    /// The most log entries one call returns.
    pub const ENTRIES: u64 = 1_000;
    /// The longest comment.
    pub const COMMENT: usize = 4_000;
}

/// How the registry is set up.
pub struct Config {
    /// Each model name the registry serves and its policy file. A model's
    /// policy comes only from here, never from an upload.
    pub policies: Vec<(String, PathBuf)>,
    /// The service key: signs API approvals, deploy-time verification
    /// summaries and log checkpoints. Policies trust it under
    /// `trust.services`.
    pub key: SigningKey,
    /// The log's origin line (and checkpoint key name).
    pub origin: String,
    /// On an empty token table, this secret becomes the first admin token.
    pub bootstrap_token: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("policies", &self.policies)
            .field("origin", &self.origin)
            .field(
                "bootstrap_token",
                &self.bootstrap_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// The registry.
pub struct Registry {
    store: Arc<dyn Store>,
    policies: BTreeMap<String, Policy>,
    key: SigningKey,
    clock: Arc<dyn Clock>,
    log: AuditLog,
    /// Serialises promotions so a decision and the alias move it allows
    /// see the same evidence; the alias itself is compare-and-swapped in
    /// the store, so racing servers are still safe.
    promote: Mutex<()>,
    /// Deploy-time answers per (model, stage), reused for at most
    /// [`STAGE_TTL`] by the registry's clock while the alias has not moved
    /// and no evidence for the model arrived at this server. Evidence that
    /// arrives at another server sharing the database shows within the TTL.
    stage_cache: Mutex<HashMap<(String, String), CachedStage>>,
}

/// How long a deploy-time answer is reused.
pub const STAGE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, Clone)]
struct CachedStage {
    at: std::time::SystemTime,
    digest: String,
    moved_at: String,
    view: StageView,
}

/// Parses a digest from a path or body, as a client error when malformed.
///
/// # Errors
/// Not 64 lowercase or uppercase hex characters.
pub fn parse_digest(s: &str) -> Result<Sha256Digest, ApiError> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::BadRequest(format!(
            "'{}' is not a sha256 digest (64 hex characters); `portcullis digest MODEL` prints one",
            s.chars().take(80).collect::<String>()
        )));
    }
    Sha256Digest::from_hex(&s.to_ascii_lowercase()).map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn audit(time: &str, actor: &str, event: &str, detail: Value) -> Vec<u8> {
    let mut entry = serde_json::Map::new();
    entry.insert("time".into(), time.into());
    entry.insert("actor".into(), actor.into());
    entry.insert("event".into(), event.into());
    if let Value::Object(m) = detail {
        entry.extend(m);
    }
    serde_json::to_vec(&Value::Object(entry)).unwrap_or_default()
}

/// Evidence for one model digest as the engine sees it: the accepted lines
/// in the database, and appends that go through the same ingest path as a
/// push.
struct DbEvidence<'a> {
    registry: &'a Registry,
    model: &'a str,
    actor: &'a str,
}

impl EvidenceStore for DbEvidence<'_> {
    fn append(&self, digest: &Sha256Digest, envelope: &Envelope) -> Result<String, EvidenceStoreError> {
        let policy = self
            .registry
            .policies
            .get(self.model)
            .ok_or_else(|| db_err(format!("no policy for '{}'", self.model)))?;
        let line = self.registry.ingest_line(
            policy,
            self.model,
            digest,
            envelope,
            self.actor,
            &format_time(self.registry.clock.now()),
        );
        self.registry
            .store
            .push_evidence(
                self.model,
                &digest.to_hex(),
                std::slice::from_ref(&line),
                &format_time(self.registry.clock.now()),
            )
            .map_err(db_err)?;
        Ok(self.location(digest))
    }

    fn read(&self, digest: &Sha256Digest) -> Result<Bundle, EvidenceStoreError> {
        let lines = self.registry.store.evidence(&digest.to_hex()).map_err(db_err)?;
        let mut h = Sha256::new();
        let mut envelopes = Vec::with_capacity(lines.len());
        let mut corrupt = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            h.update(l.as_bytes());
            h.update(b"\n");
            match serde_json::from_str::<Envelope>(l) {
                Ok(e) => envelopes.push((i + 1, e)),
                Err(e) => corrupt.push(CorruptLine {
                    line: i + 1,
                    reason: e.to_string(),
                }),
            }
        }
        Ok(Bundle {
            location: self.location(digest),
            sha256: (!lines.is_empty()).then(|| Sha256Digest(h.finalize().into())),
            envelopes,
            corrupt,
        })
    }

    fn list(&self) -> Result<Vec<Sha256Digest>, EvidenceStoreError> {
        let versions = self.registry.store.versions(self.model).map_err(db_err)?;
        let mut out: Vec<Sha256Digest> = versions
            .iter()
            .filter_map(|v| Sha256Digest::from_hex(v).ok())
            .collect();
        out.sort_by_key(Sha256Digest::to_hex);
        Ok(out)
    }

    fn location(&self, digest: &Sha256Digest) -> String {
        format!("registry:{}@sha256:{}", self.model, digest.to_hex())
    }
}

fn db_err(e: impl std::fmt::Display) -> EvidenceStoreError {
    EvidenceStoreError::Io {
        path: "registry database".into(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// What a push did.
#[derive(Debug, Serialize)]
pub struct PushReport {
    /// Lines stored for the first time.
    pub accepted: usize,
    /// Lines already held.
    pub duplicate: usize,
    /// Lines that do not count under the server's policy, and why.
    pub rejected: Vec<RejectedLine>,
}

/// One rejected line.
#[derive(Debug, Serialize)]
pub struct RejectedLine {
    /// 1-based line in the upload.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// A promotion request as clients see it.
#[derive(Debug, Serialize)]
pub struct RequestView {
    /// Id.
    pub id: i64,
    /// Model.
    pub model: String,
    /// Stage.
    pub stage: String,
    /// Digest.
    pub digest: String,
    /// `open`, `promoted`, `rejected` or `conflict`.
    pub state: String,
    /// Who opened it.
    pub opened_by: String,
    /// When.
    pub opened_at: String,
    /// Who closed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
    /// When.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    /// The rejection's comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The stage's decision for the digest now (open requests), as the CLI's
    /// JSON prints it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<v1::Output>,
}

/// The deploy-time answer.
#[derive(Debug, Clone, Serialize)]
pub struct StageView {
    /// Model.
    pub model: String,
    /// Stage.
    pub stage: String,
    /// The digest the stage holds.
    pub digest: String,
    /// When it moved there.
    pub moved_at: String,
    /// The request that moved it.
    pub request: i64,
    /// Allowed now (evidence may have expired since the move).
    pub allowed: bool,
    /// The decision now.
    pub decision: v1::Output,
    /// The decision as a SLSA Verification Summary signed by the service
    /// key (a DSSE envelope).
    pub summary: Value,
    /// Failed re-checks of the digest not yet cleared: the stage is at risk
    /// when this is not empty.
    pub at_risk: Vec<RiskView>,
    /// A re-check failed under `on_fail: revoke`: denied whatever the
    /// evidence says.
    pub revoked: bool,
}

/// One alias move, for history.
#[derive(Debug, Serialize)]
pub struct MoveView {
    /// The digest.
    pub digest: String,
    /// What it replaced.
    pub previous: Option<String>,
    /// When.
    pub moved_at: String,
    /// Whose action completed it.
    pub by: String,
    /// The request.
    pub request: i64,
    /// The approvers the decision counted.
    pub approvers: Vec<String>,
    /// sha256 of the evidence the decision was made on.
    pub evidence_sha256: Option<String>,
    /// Its audit-log index (ask for an inclusion proof).
    pub log_index: u64,
}

/// A token as listed (never its secret).
#[derive(Debug, Serialize)]
pub struct TokenView {
    /// Id.
    pub id: i64,
    /// Identity.
    pub identity: String,
    /// Role.
    pub role: String,
    /// When.
    pub created: String,
    /// When revoked.
    pub revoked: Option<String>,
}

impl Registry {
    /// Loads every policy, records policy changes in the log, and creates
    /// the bootstrap admin token on an empty database.
    ///
    /// # Errors
    /// A policy that does not load (every problem listed), or a store
    /// failure.
    pub fn open(store: Arc<dyn Store>, config: Config, clock: Arc<dyn Clock>) -> Result<Registry, String> {
        let mut policies = BTreeMap::new();
        for (name, path) in &config.policies {
            check_identity(name).map_err(|e| format!("model name: {e}"))?;
            let policy = portcullis_engine::load_policy(path).map_err(|e| e.to_string())?;
            policies.insert(name.clone(), policy);
        }
        let log =
            AuditLog::open(store.clone(), config.origin.clone(), &config.key).map_err(|e| e.to_string())?;
        let reg = Registry {
            store,
            policies,
            key: config.key,
            clock,
            log,
            promote: Mutex::new(()),
            stage_cache: Mutex::new(HashMap::new()),
        };
        let now = format_time(reg.clock.now());
        for (name, policy) in &reg.policies {
            let digest = policy.digest.to_hex();
            if reg
                .store
                .policy_digest(name)
                .map_err(|e| e.to_string())?
                .as_deref()
                != Some(digest.as_str())
            {
                let entry = audit(
                    &now,
                    "server",
                    "policy.changed",
                    json!({"model": name, "policy_sha256": digest, "path": policy.path.display().to_string()}),
                );
                reg.store
                    .set_policy_digest(name, &digest, &entry)
                    .map_err(|e| e.to_string())?;
            }
        }
        if let Some(secret) = config.bootstrap_token.filter(|s| !s.trim().is_empty()) {
            if reg.store.token_count().map_err(|e| e.to_string())? == 0 {
                let entry = audit(
                    &now,
                    "server",
                    "token.created",
                    json!({"identity": "bootstrap", "role": "admin"}),
                );
                reg.store
                    .insert_token(&hash_secret(secret.trim()), "bootstrap", "admin", &now, &entry)
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(reg)
    }

    /// The audit log.
    pub fn log(&self) -> &AuditLog {
        &self.log
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    fn now(&self) -> String {
        format_time(self.clock.now())
    }

    /// Drops `model`'s cached deploy-time answers (evidence arrived, a
    /// re-check ended or its risk was cleared).
    fn forget_stages(&self, model: &str) {
        if let Ok(mut cache) = self.stage_cache.lock() {
            cache.retain(|(m, _), _| m != model);
        }
    }

    fn policy(&self, model: &str) -> Result<&Policy, ApiError> {
        self.policies.get(model).ok_or_else(|| {
            ApiError::NotFound(format!(
                "no model '{model}' on this registry; it serves: {}",
                if self.policies.is_empty() {
                    "none (start it with --policy NAME=FILE)".to_string()
                } else {
                    self.policies.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            ))
        })
    }

    fn stage_of<'p>(
        policy: &'p Policy,
        model: &str,
        stage: &str,
    ) -> Result<&'p portcullis_policy::Stage, ApiError> {
        policy.stage(stage).ok_or_else(|| {
            ApiError::NotFound(format!(
                "model '{model}' has no stage '{stage}'; its policy defines: {}",
                policy.stages.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    // ---- tokens --------------------------------------------------------

    /// Creates a token; returns its id and the secret (shown once).
    ///
    /// # Errors
    /// Not an admin; a malformed identity or role.
    pub fn create_token(
        &self,
        caller: &Caller,
        identity: &str,
        role: &str,
    ) -> Result<(i64, String), ApiError> {
        require(caller.role == Role::Admin, caller, "create tokens", "admin")?;
        check_identity(identity).map_err(ApiError::BadRequest)?;
        let role = Role::parse(role).map_err(ApiError::BadRequest)?;
        let secret = new_secret();
        let now = self.now();
        let entry = audit(
            &now,
            &caller.identity,
            "token.created",
            json!({"identity": identity, "role": role.to_string()}),
        );
        let id = self
            .store
            .insert_token(&hash_secret(&secret), identity, &role.to_string(), &now, &entry)?;
        Ok((id, secret))
    }

    /// Every token (no secrets).
    ///
    /// # Errors
    /// Not an admin.
    pub fn tokens(&self, caller: &Caller) -> Result<Vec<TokenView>, ApiError> {
        require(caller.role == Role::Admin, caller, "list tokens", "admin")?;
        Ok(self
            .store
            .tokens()?
            .into_iter()
            .map(|t| TokenView {
                id: t.id,
                identity: t.identity,
                role: t.role,
                created: t.created,
                revoked: t.revoked,
            })
            .collect())
    }

    /// Revokes a token.
    ///
    /// # Errors
    /// Not an admin; no such live token.
    pub fn revoke_token(&self, caller: &Caller, id: i64) -> Result<(), ApiError> {
        require(caller.role == Role::Admin, caller, "revoke tokens", "admin")?;
        let now = self.now();
        let entry = audit(&now, &caller.identity, "token.revoked", json!({"id": id}));
        if self.store.revoke_token(id, &now, &entry)? {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!("no live token with id {id}")))
        }
    }

    // ---- evidence ------------------------------------------------------

    fn ingest_line(
        &self,
        policy: &Policy,
        model: &str,
        digest: &Sha256Digest,
        envelope: &Envelope,
        actor: &str,
        now: &str,
    ) -> NewEvidence {
        let canonical = serde_json::to_string(envelope).unwrap_or_default();
        let sha = Sha256Digest(Sha256::digest(canonical.as_bytes()).into()).to_hex();
        let bundle = Bundle {
            location: String::new(),
            sha256: None,
            envelopes: vec![(1, envelope.clone())],
            corrupt: vec![],
        };
        let ev = portcullis_policy::classify(policy, digest, &bundle);
        let reason = ev.rejected.first().map(|r| r.reason.clone());
        let accepted = reason.is_none();
        let event = if accepted {
            "evidence.accepted"
        } else {
            "evidence.rejected"
        };
        let mut detail = json!({"model": model, "digest": digest.to_hex(), "envelope_sha256": sha});
        if let (Some(r), Value::Object(m)) = (&reason, &mut detail) {
            m.insert("reason".into(), r.clone().into());
        }
        NewEvidence {
            sha256: sha,
            envelope: canonical,
            accepted,
            reason,
            audit: audit(now, actor, event, detail),
        }
    }

    /// Stores an uploaded bundle (JSON Lines of DSSE envelopes) for
    /// `digest` under `model`, each line verified against the server's
    /// policy for `model`.
    ///
    /// # Errors
    /// Not a runner; an unknown model; a malformed or oversized body.
    pub fn push(
        &self,
        caller: &Caller,
        model: &str,
        digest: &str,
        body: &str,
    ) -> Result<PushReport, ApiError> {
        require(
            caller.role.may_write_evidence(),
            caller,
            "push evidence",
            "runner or admin",
        )?;
        let policy = self.policy(model)?;
        let digest = parse_digest(digest)?;
        let mut envelopes = Vec::new();
        for (i, line) in body.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            if envelopes.len() == limits::LINES {
                return Err(ApiError::TooLarge(format!(
                    "more than {} evidence lines in one push; split it",
                    limits::LINES
                )));
            }
            if line.len() > limits::LINE {
                return Err(ApiError::TooLarge(format!(
                    "line {}: {} bytes, over the {}-byte limit for one envelope",
                    i + 1,
                    line.len(),
                    limits::LINE
                )));
            }
            let env: Envelope = serde_json::from_str(line)
                .map_err(|e| ApiError::BadRequest(format!("line {}: not a DSSE envelope: {e}", i + 1)))?;
            envelopes.push((i + 1, env));
        }
        if envelopes.is_empty() {
            return Err(ApiError::BadRequest(
                "empty upload: send the evidence bundle (one DSSE envelope per line)".into(),
            ));
        }
        let now = self.now();
        let lines: Vec<NewEvidence> = envelopes
            .iter()
            .map(|(_, e)| self.ingest_line(policy, model, &digest, e, &caller.identity, &now))
            .collect();
        let outcomes = self.store.push_evidence(model, &digest.to_hex(), &lines, &now)?;
        self.forget_stages(model);
        let mut report = PushReport {
            accepted: 0,
            duplicate: 0,
            rejected: Vec::new(),
        };
        for (((line, _), l), o) in envelopes.iter().zip(&lines).zip(outcomes) {
            match (o, &l.reason) {
                (Pushed::Duplicate, _) => report.duplicate += 1,
                (Pushed::New, None) => report.accepted += 1,
                (Pushed::New, Some(r)) => report.rejected.push(RejectedLine {
                    line: *line,
                    reason: r.clone(),
                }),
            }
        }
        Ok(report)
    }

    /// The accepted evidence for a digest, as a JSON Lines bundle.
    ///
    /// # Errors
    /// Unknown model, malformed digest.
    pub fn evidence(&self, _caller: &Caller, model: &str, digest: &str) -> Result<String, ApiError> {
        self.policy(model)?;
        let digest = parse_digest(digest)?;
        let mut out = String::new();
        for l in self.store.evidence(&digest.to_hex())? {
            out.push_str(&l);
            out.push('\n');
        }
        Ok(out)
    }

    /// A model: its versions, its stages and what each holds.
    ///
    /// # Errors
    /// Unknown model.
    pub fn model(&self, _caller: &Caller, model: &str) -> Result<Value, ApiError> {
        let policy = self.policy(model)?;
        let mut stages = serde_json::Map::new();
        for s in policy.stages.keys() {
            let a = self.store.alias(model, s)?;
            stages.insert(
                s.clone(),
                a.map_or(
                    Value::Null,
                    |a| json!({"digest": a.digest, "moved_at": a.moved_at, "request": a.request}),
                ),
            );
        }
        Ok(json!({
            "name": model,
            "policy_sha256": policy.digest.to_hex(),
            "versions": self.store.versions(model)?,
            "stages": stages,
        }))
    }

    /// The names of the models the registry serves.
    pub fn model_names(&self) -> Vec<String> {
        self.policies.keys().cloned().collect()
    }

    /// Every model the registry serves.
    pub fn models(&self) -> Vec<Value> {
        self.policies
            .iter()
            .map(|(n, p)| json!({"name": n, "policy_sha256": p.digest.to_hex(), "stages": p.stages.keys().collect::<Vec<_>>()}))
            .collect()
    }

    fn decide(
        &self,
        policy: &Policy,
        model: &str,
        stage: &str,
        digest: &Sha256Digest,
    ) -> Result<portcullis_engine::Decided, ApiError> {
        let view = DbEvidence {
            registry: self,
            model,
            actor: "server",
        };
        Ok(portcullis_engine::decide(
            policy,
            stage,
            &view,
            digest,
            self.clock.as_ref(),
        )?)
    }

    fn view(&self, r: RequestRow) -> Result<RequestView, ApiError> {
        let decision = if r.state == "open" {
            let policy = self.policy(&r.model)?;
            let digest = parse_digest(&r.digest)?;
            let d = self.decide(policy, &r.model, &r.stage, &digest)?;
            Some(portcullis_report::json::output_v1(&Report::of_decision(
                policy,
                &d.decision,
                &digest,
            )))
        } else {
            None
        };
        Ok(RequestView {
            id: r.id,
            model: r.model,
            stage: r.stage,
            digest: r.digest,
            state: r.state,
            opened_by: r.opened_by,
            opened_at: r.opened_at,
            closed_by: r.closed_by,
            closed_at: r.closed_at,
            comment: r.comment,
            decision,
        })
    }

    // ---- promotion -----------------------------------------------------

    /// Opens a request to move `model`'s `stage` alias to `digest`, and
    /// moves it at once if the stage already allows it.
    ///
    /// # Errors
    /// A reader; unknown model or stage; malformed digest; a conflicting
    /// move.
    pub fn open_request(
        &self,
        caller: &Caller,
        model: &str,
        stage: &str,
        digest: &str,
    ) -> Result<RequestView, ApiError> {
        require(
            caller.role.may_request(),
            caller,
            "open promotion requests",
            "runner, approver or admin",
        )?;
        let policy = self.policy(model)?;
        Self::stage_of(policy, model, stage)?;
        let digest = parse_digest(digest)?;
        let now = self.now();
        let base = self.store.alias(model, stage)?.map(|a| a.digest);
        let row = RequestRow {
            id: 0,
            model: model.to_string(),
            stage: stage.to_string(),
            digest: digest.to_hex(),
            base: base.clone(),
            state: "open".into(),
            opened_by: caller.identity.clone(),
            opened_at: now.clone(),
            closed_by: None,
            closed_at: None,
            comment: None,
        };
        let entry = audit(
            &now,
            &caller.identity,
            "request.opened",
            json!({"model": model, "stage": stage, "digest": digest.to_hex(), "base": base}),
        );
        let id = self.store.open_request(&row, &entry)?;
        self.try_promote(id, &caller.identity)?;
        self.request(caller, id)
    }

    /// Moves the alias if the request's stage now allows its digest.
    fn try_promote(&self, id: i64, actor: &str) -> Result<(), ApiError> {
        let _one = self
            .promote
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let r = self
            .store
            .request(id)?
            .ok_or_else(|| ApiError::NotFound(format!("no request {id}")))?;
        if r.state != "open" {
            return Ok(());
        }
        let policy = self.policy(&r.model)?;
        let digest = parse_digest(&r.digest)?;
        let d = self.decide(policy, &r.model, &r.stage, &digest)?;
        if !d.decision.allowed {
            return Ok(());
        }
        let now = self.now();
        let evidence_sha256 = d.bundle_sha256.map(|s| s.to_hex());
        let mv = AliasMove {
            model: r.model.clone(),
            stage: r.stage.clone(),
            digest: r.digest.clone(),
            previous: r.base.clone(),
            moved_at: now.clone(),
            by: actor.to_string(),
            request: id,
            approvers: serde_json::to_string(&d.decision.approvers).unwrap_or_else(|_| "[]".into()),
            evidence_sha256: evidence_sha256.clone(),
            log_index: 0,
        };
        let entry = audit(
            &now,
            actor,
            "alias.moved",
            json!({
                "model": r.model, "stage": r.stage, "digest": r.digest, "previous": r.base,
                "request": id, "approvers": d.decision.approvers, "evidence_sha256": evidence_sha256,
                "policy_sha256": policy.digest.to_hex(),
            }),
        );
        match self.store.move_alias(r.base.as_deref(), &mv, &entry)? {
            MoveOutcome::Moved(_) => Ok(()),
            MoveOutcome::Conflict { current } => {
                let entry = audit(
                    &now,
                    actor,
                    "request.conflict",
                    json!({"request": id, "expected": r.base, "current": current}),
                );
                self.store
                    .close_request(id, "conflict", actor, None, &now, &entry)?;
                Err(ApiError::Conflict(format!(
                    "stage '{}' of '{}' moved to {} after request {id} was opened (it held {}); nothing changed: open a new request",
                    r.stage,
                    r.model,
                    current.as_deref().map_or("nothing".to_string(), short),
                    r.base.as_deref().map_or("nothing".to_string(), short),
                )))
            }
        }
    }

    /// One request, with the decision now.
    ///
    /// # Errors
    /// No such request.
    pub fn request(&self, _caller: &Caller, id: i64) -> Result<RequestView, ApiError> {
        let r = self
            .store
            .request(id)?
            .ok_or_else(|| ApiError::NotFound(format!("no request {id}")))?;
        self.view(r)
    }

    /// One request and the report of its stage decided now (the same
    /// [`Report`] the CLI renders), for the web UI.
    ///
    /// # Errors
    /// No such request.
    pub fn request_report(&self, caller: &Caller, id: i64) -> Result<(RequestView, Report), ApiError> {
        let view = self.request(caller, id)?;
        let policy = self.policy(&view.model)?;
        let digest = parse_digest(&view.digest)?;
        let d = self.decide(policy, &view.model, &view.stage, &digest)?;
        let mut report = Report::of_decision(policy, &d.decision, &digest);
        report.model = Some(view.model.clone());
        Ok((view, report))
    }

    /// Whether open request `r` waits for the caller: an approver token, a
    /// person the policy lists as an approver holding one of the stage's
    /// approval roles (the token's scoped role, if it has one), who did not
    /// open the request. What counts in the end is still `decide`'s call.
    pub fn waits_for(&self, caller: &Caller, r: &RequestView) -> bool {
        let Role::Approver(scope) = &caller.role else {
            return false;
        };
        if r.state != "open" || r.opened_by == caller.identity {
            return false;
        }
        let Ok(policy) = self.policy(&r.model) else {
            return false;
        };
        let Some(rule) = policy.stage(&r.stage).and_then(|s| s.approvals.as_ref()) else {
            return false;
        };
        let Some(person) = policy.approvers.iter().find(|a| a.name == caller.identity) else {
            return false;
        };
        let eligible = |role: &String| rule.roles.is_empty() || rule.roles.contains(role);
        match scope {
            Some(s) => person.roles.contains(s) && eligible(s),
            None => rule.roles.is_empty() || person.roles.iter().any(eligible),
        }
    }

    /// Requests in `state` (open ones: the approval inbox).
    ///
    /// # Errors
    /// An unknown state.
    pub fn requests(&self, _caller: &Caller, state: Option<&str>) -> Result<Vec<RequestView>, ApiError> {
        if let Some(s) = state {
            if !["open", "promoted", "rejected", "conflict"].contains(&s) {
                return Err(ApiError::BadRequest(format!(
                    "unknown state '{s}'; expected open, promoted, rejected or conflict"
                )));
            }
        }
        self.store
            .requests(state)?
            .into_iter()
            .take(500)
            .map(|r| self.view(r))
            .collect()
    }

    /// Approves request `id` as the caller: the server signs an approval
    /// naming the caller with its service key, or stores the caller's own
    /// CLI-signed `envelope`; then the alias moves if the stage now allows it.
    ///
    /// # Errors
    /// Not an approver; no such open request; a closed request; the
    /// envelope does not count; a conflicting move.
    pub fn approve(
        &self,
        caller: &Caller,
        id: i64,
        comment: Option<&str>,
        envelope: Option<&Envelope>,
    ) -> Result<RequestView, ApiError> {
        require(caller.role.may_approve(), caller, "approve", "approver")?;
        let r = self.open_req(id)?;
        if comment.is_some_and(|c| c.len() > limits::COMMENT) {
            return Err(ApiError::BadRequest(format!(
                "comment over {} bytes",
                limits::COMMENT
            )));
        }
        let policy = self.policy(&r.model)?;
        let digest = parse_digest(&r.digest)?;
        let view = DbEvidence {
            registry: self,
            model: &r.model,
            actor: &caller.identity,
        };
        match envelope {
            Some(env) => {
                let line = self.ingest_line(policy, &r.model, &digest, env, &caller.identity, &self.now());
                if let Some(reason) = &line.reason {
                    return Err(ApiError::BadRequest(format!(
                        "the approval does not count: {reason}"
                    )));
                }
                let statement = env
                    .statement_unverified()
                    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                if statement.predicate_type != portcullis_evidence::predicate::APPROVAL_V1 {
                    return Err(ApiError::BadRequest(format!(
                        "expected an approval statement, got '{}'",
                        statement.predicate_type
                    )));
                }
                self.store
                    .push_evidence(&r.model, &r.digest, std::slice::from_ref(&line), &self.now())?;
            }
            None => {
                self.may_sign_for(policy, caller, &r.model)?;
                portcullis_engine::approve(
                    &portcullis_engine::ApprovalRequest {
                        digest: &digest,
                        model_name: &r.model,
                        stage: &r.stage,
                        approver: &caller.identity,
                        comment,
                        expires: None,
                    },
                    &view,
                    &self.key,
                    self.clock.as_ref(),
                )?;
            }
        }
        self.try_promote(id, &caller.identity)?;
        self.request(caller, id)
    }

    /// Refuses, before signing, an approval that could never count: the
    /// policy must trust this server's key and list the caller as an
    /// approver (holding the token's scoped role, if any).
    fn may_sign_for(&self, policy: &Policy, caller: &Caller, model: &str) -> Result<(), ApiError> {
        let ours = self.key.public();
        if !policy.services.iter().any(|s| s.keys.contains(&ours)) {
            return Err(ApiError::Conflict(format!(
                "the policy for '{model}' ({}) does not trust this registry's approval key under `trust.services`; \
                 add `services: [{{ name: registry, key: <the registry's .pub file> }}]`, or approve with \
                 `portcullis approve --key KEY` and push the envelope",
                policy.path.display()
            )));
        }
        let Some(person) = policy.approvers.iter().find(|a| a.name == caller.identity) else {
            return Err(ApiError::Forbidden(format!(
                "'{}' is not an approver in the policy for '{model}' (trust.approvers); an approval would not count",
                caller.identity
            )));
        };
        if let Role::Approver(Some(scope)) = &caller.role {
            if !person.roles.contains(scope) {
                return Err(ApiError::Forbidden(format!(
                    "this token approves as role '{scope}', which '{}' does not hold in the policy for '{model}'",
                    caller.identity
                )));
            }
        }
        Ok(())
    }

    /// Rejects request `id` with a comment.
    ///
    /// # Errors
    /// Not an approver; no such open request; no comment.
    pub fn reject(&self, caller: &Caller, id: i64, comment: &str) -> Result<RequestView, ApiError> {
        require(caller.role.may_approve(), caller, "reject", "approver")?;
        if comment.trim().is_empty() || comment.len() > limits::COMMENT {
            return Err(ApiError::BadRequest(format!(
                "a rejection needs a comment (1 to {} bytes) saying why",
                limits::COMMENT
            )));
        }
        let r = self.open_req(id)?;
        let now = self.now();
        let entry = audit(
            &now,
            &caller.identity,
            "request.rejected",
            json!({"request": id, "model": r.model, "stage": r.stage, "digest": r.digest, "comment": comment}),
        );
        if !self
            .store
            .close_request(id, "rejected", &caller.identity, Some(comment), &now, &entry)?
        {
            return Err(ApiError::Conflict(format!("request {id} was closed meanwhile")));
        }
        self.request(caller, id)
    }

    fn open_req(&self, id: i64) -> Result<RequestRow, ApiError> {
        let r = self
            .store
            .request(id)?
            .ok_or_else(|| ApiError::NotFound(format!("no request {id}")))?;
        if r.state != "open" {
            return Err(ApiError::Conflict(format!(
                "request {id} is {}, not open",
                r.state
            )));
        }
        Ok(r)
    }

    // ---- the deploy-time question -------------------------------------

    /// What `stage` holds for `model`, decided now, with a signed
    /// Verification Summary.
    ///
    /// # Errors
    /// Unknown model or stage; nothing promoted to the stage yet.
    pub fn stage(&self, _caller: &Caller, model: &str, stage: &str) -> Result<StageView, ApiError> {
        let policy = self.policy(model)?;
        Self::stage_of(policy, model, stage)?;
        let alias = self.store.alias(model, stage)?.ok_or_else(|| {
            ApiError::NotFound(format!(
                "nothing has been promoted to '{stage}' of '{model}'; `portcullis promote --stage {stage} {model} DIGEST` opens a request"
            ))
        })?;
        let now = self.clock.now();
        let key = (model.to_string(), stage.to_string());
        let cached = self.stage_cache.lock().ok().and_then(|c| c.get(&key).cloned());
        if let Some(c) = cached {
            let fresh = now.duration_since(c.at).is_ok_and(|age| age < STAGE_TTL);
            if fresh && c.digest == alias.digest && c.moved_at == alias.moved_at {
                return Ok(c.view);
            }
        }
        let digest = parse_digest(&alias.digest)?;
        let mut d = self.decide(policy, model, stage, &digest)?;
        let at_risk = self.risks(model, stage, &alias.digest)?;
        Self::apply_revocations(&mut d.decision, &alias.digest, &at_risk);
        let summary =
            portcullis_engine::summarise(policy, stage, model, &d, self.clock.as_ref(), Some(&self.key))?;
        let summary = match summary {
            Summary::Envelope(e) => serde_json::to_value(e),
            Summary::Statement(s) => serde_json::to_value(s),
        }
        .map_err(|e| ApiError::Internal(e.to_string()))?;
        let view = StageView {
            model: model.to_string(),
            stage: stage.to_string(),
            digest: alias.digest.clone(),
            moved_at: alias.moved_at.clone(),
            request: alias.request,
            allowed: d.decision.allowed,
            decision: portcullis_report::json::output_v1(&Report::of_decision(policy, &d.decision, &digest)),
            summary,
            revoked: at_risk.iter().any(|r| r.revokes),
            at_risk,
        };
        if let Ok(mut cache) = self.stage_cache.lock() {
            cache.insert(
                key,
                CachedStage {
                    at: now,
                    digest: alias.digest,
                    moved_at: alias.moved_at,
                    view: view.clone(),
                },
            );
        }
        Ok(view)
    }

    /// Every move of the alias; with `at`, only the one in effect then.
    ///
    /// # Errors
    /// Unknown model or stage; an unparsable time.
    pub fn history(
        &self,
        _caller: &Caller,
        model: &str,
        stage: &str,
        at: Option<&str>,
    ) -> Result<Vec<MoveView>, ApiError> {
        let policy = self.policy(model)?;
        Self::stage_of(policy, model, stage)?;
        let moves = self.store.alias_history(model, stage)?;
        let mut views = moves.into_iter().map(|m| MoveView {
            approvers: serde_json::from_str(&m.approvers).unwrap_or_default(),
            digest: m.digest,
            previous: m.previous,
            moved_at: m.moved_at,
            by: m.by,
            request: m.request,
            evidence_sha256: m.evidence_sha256,
            log_index: m.log_index,
        });
        match at {
            None => Ok(views.collect()),
            Some(t) => {
                let at = parse_time(t).map_err(|e| {
                    ApiError::BadRequest(format!(
                        "at: {e}; write an RFC 3339 time such as 2026-03-03T12:00:00Z"
                    ))
                })?;
                let held = views.rfind(|v| parse_time(&v.moved_at).is_ok_and(|m| m <= at));
                Ok(held.into_iter().collect())
            }
        }
    }

    /// The clock's now (for callers that stamp responses).
    pub fn clock_now(&self) -> SystemTime {
        self.clock.now()
    }
}

fn short(d: &str) -> String {
    format!("{}…", d.chars().take(12).collect::<String>())
}

fn require(ok: bool, caller: &Caller, what: &str, needs: &str) -> Result<(), ApiError> {
    if ok {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "'{}' has role {}; to {what} a token needs role {needs}",
            caller.identity, caller.role
        )))
    }
}
