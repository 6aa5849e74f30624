//! `decide`: a pure function of (policy, stage, evidence, now).
//!
//! For each required gate the newest trusted result produced under the
//! policy's current gate spec counts; an older spec, an expired result or a
//! result from the future does not. Approvals count distinct approvers (a
//! person with two keys counts once) holding a required role, not expired,
//! and not the run's author when the policy forbids self-approval. Waivers
//! count only for gates the stage declares waivable, signed by a permitted
//! role, unexpired. Every reason a stage is denied is listed, not just the
//! first.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use portcullis_evidence::predicate::{parse_time, GateResultPredicate};
use portcullis_evidence::Verdict;
use serde::Serialize;

use crate::model::{Policy, Stage};
use crate::verify::{Accepted, Evidence};

/// How far in the future a signed time may be before it is treated as clock
/// skew and refused.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);

/// The state of one required gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GateState {
    /// A current, trusted pass.
    Passed,
    /// The newest current result failed.
    Failed,
    /// The newest current result was an error.
    Errored,
    /// No trusted result at all.
    Missing,
    /// Results exist, but only under another spec.
    SpecChanged,
    /// Results exist, but are older than `max_evidence_age`.
    Expired,
    /// Not passed, but a valid waiver covers it.
    Waived,
}

/// One required gate and what the evidence says of it.
#[derive(Debug, Clone, Serialize)]
pub struct GateStatus {
    /// The gate's name.
    pub gate: String,
    /// Its state.
    pub state: GateState,
    /// The bundle line of the result used, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// The result used, if any.
    #[serde(skip)]
    pub result: Option<GateResultPredicate>,
    /// Who signed the result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// A one-line explanation.
    pub detail: String,
}

/// Why a stage is denied: a stable code, documented in
/// `docs/decision-codes.md`. Codes are part of the JSON, SARIF and JUnit
/// formats: a code is never renamed or reused; new ones are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReasonCode {
    /// The newest current result of a required gate failed.
    GateFailed,
    /// The newest current result of a required gate was an error.
    GateErrored,
    /// No trusted result of a required gate exists.
    GateMissing,
    /// Results exist, but only under another version of the gate's spec.
    GateSpecChanged,
    /// The gate's results are older than the stage's `max_evidence_age`.
    EvidenceExpired,
    /// Fewer distinct, eligible approvers signed than the stage requires.
    ApprovalsMissing,
    /// The stage is not in the policy.
    UnknownStage,
    /// A re-check of the digest the stage holds failed, and the stage's
    /// `recheck.on_fail` is `revoke`.
    Revoked,
}

impl ReasonCode {
    /// Every code, in documentation order.
    pub const ALL: [ReasonCode; 8] = [
        ReasonCode::GateFailed,
        ReasonCode::GateErrored,
        ReasonCode::GateMissing,
        ReasonCode::GateSpecChanged,
        ReasonCode::EvidenceExpired,
        ReasonCode::ApprovalsMissing,
        ReasonCode::UnknownStage,
        ReasonCode::Revoked,
    ];

    /// The code as it appears in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::GateFailed => "gate-failed",
            ReasonCode::GateErrored => "gate-errored",
            ReasonCode::GateMissing => "gate-missing",
            ReasonCode::GateSpecChanged => "gate-spec-changed",
            ReasonCode::EvidenceExpired => "evidence-expired",
            ReasonCode::ApprovalsMissing => "approvals-missing",
            ReasonCode::UnknownStage => "unknown-stage",
            ReasonCode::Revoked => "revoked",
        }
    }

    /// One line: what the code means.
    pub fn summary(self) -> &'static str {
        match self {
            ReasonCode::GateFailed => "the newest current result of a required gate failed",
            ReasonCode::GateErrored => {
                "the newest current result of a required gate was an error (fails closed)"
            }
            ReasonCode::GateMissing => "no trusted result of a required gate is recorded",
            ReasonCode::GateSpecChanged => {
                "results exist only under another version of the gate's spec; run the gate again"
            }
            ReasonCode::EvidenceExpired => "the gate's results are older than the stage's max_evidence_age",
            ReasonCode::ApprovalsMissing => {
                "fewer distinct, eligible approvers signed than the stage requires"
            }
            ReasonCode::UnknownStage => "the stage is not in the policy",
            ReasonCode::Revoked => {
                "a re-check of the deployed digest failed and the stage's recheck says on_fail: revoke"
            }
        }
    }
}

impl std::fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a stage is denied, or a note worth showing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// The stable code.
    pub code: ReasonCode,
    /// The gate concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    /// What is wrong and what to do.
    pub message: String,
}

/// The decision for one stage.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// The stage.
    pub stage: String,
    /// True only when every requirement holds.
    pub allowed: bool,
    /// Why it is denied (empty when allowed).
    pub reasons: Vec<Reason>,
    /// Each required gate's state, in stage order.
    pub gates: Vec<GateStatus>,
    /// Approvers counted.
    pub approvers: Vec<String>,
    /// Approvals required.
    pub approvals_required: u32,
    /// Things worth knowing that do not block: waivers applied, approvals
    /// not counted and why, rejected evidence.
    pub notes: Vec<String>,
}

impl Decision {
    /// Denies the decision for a reason that is not in the evidence (a
    /// revocation the registry holds), keeping every other reason.
    pub fn deny(&mut self, code: ReasonCode, gate: Option<&str>, message: String) {
        self.allowed = false;
        self.reasons.push(Reason {
            code,
            gate: gate.map(str::to_string),
            message,
        });
    }
}

fn age(now: SystemTime, at: &str) -> Result<Duration, String> {
    let t = parse_time(at)?;
    match now.duration_since(t) {
        Ok(d) => Ok(d),
        Err(e) if e.duration() <= MAX_CLOCK_SKEW => Ok(Duration::ZERO),
        Err(e) => Err(format!(
            "signed {} in the future ({at}); check the signer's clock",
            humantime::format_duration(Duration::from_secs(e.duration().as_secs()))
        )),
    }
}

fn fmt_age(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// Decides whether `stage` is allowed for the model the evidence is about.
/// Pure: the same inputs give the same decision.
pub fn decide(policy: &Policy, stage_name: &str, evidence: &Evidence, now: SystemTime) -> Decision {
    let mut d = Decision {
        stage: stage_name.to_string(),
        allowed: false,
        reasons: Vec::new(),
        gates: Vec::new(),
        approvers: Vec::new(),
        approvals_required: 0,
        notes: Vec::new(),
    };
    let Some(stage) = policy.stage(stage_name) else {
        d.reasons.push(Reason {
            code: ReasonCode::UnknownStage,
            gate: None,
            message: format!(
                "stage '{stage_name}' is not in the policy (stages: {})",
                policy.stages.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        });
        return d;
    };
    for r in &evidence.rejected {
        d.notes
            .push(format!("evidence line {} not counted: {}", r.line, r.reason));
    }
    let mut authors: BTreeSet<String> = BTreeSet::new();
    for gate in &stage.gates {
        let status = gate_status(policy, stage, gate, evidence, now, &mut d.notes);
        if let Some(a) = status.result.as_ref().and_then(|r| r.author.clone()) {
            // Identities compare case-insensitively: CI actors and approver
            // names are often spelled with different case.
            authors.insert(a.trim().to_lowercase());
        }
        d.gates.push(status);
    }
    for g in &mut d.gates {
        if matches!(g.state, GateState::Passed) {
            continue;
        }
        if let Some(note) = waiver_for(stage, &g.gate, evidence, policy, now, &mut d.notes) {
            d.notes.push(note);
            g.detail = format!("{} — waived", g.detail);
            g.state = GateState::Waived;
            continue;
        }
        let code = match g.state {
            GateState::Failed => ReasonCode::GateFailed,
            GateState::Errored => ReasonCode::GateErrored,
            GateState::Missing => ReasonCode::GateMissing,
            GateState::SpecChanged => ReasonCode::GateSpecChanged,
            GateState::Expired => ReasonCode::EvidenceExpired,
            GateState::Passed | GateState::Waived => continue,
        };
        d.reasons.push(Reason {
            code,
            gate: Some(g.gate.clone()),
            message: g.detail.clone(),
        });
    }
    if let Some(rule) = &stage.approvals {
        d.approvals_required = rule.required;
        let mut counted: BTreeSet<String> = BTreeSet::new();
        for a in &evidence.approvals {
            let p = &a.predicate;
            if p.stage != stage.name {
                d.notes.push(format!(
                    "approval by '{}' (line {}) is for stage '{}', not '{}'",
                    a.signer, a.line, p.stage, stage.name
                ));
                continue;
            }
            let signed_age = match age(now, &p.signed_on) {
                Ok(x) => x,
                Err(e) => {
                    d.notes.push(format!(
                        "approval by '{}' (line {}) not counted: {e}",
                        a.signer, a.line
                    ));
                    continue;
                }
            };
            if let Some(exp) = &p.expires {
                match parse_time(exp) {
                    Ok(t) if t <= now => {
                        d.notes.push(format!(
                            "approval by '{}' (line {}) expired at {exp}",
                            a.signer, a.line
                        ));
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        d.notes.push(format!(
                            "approval by '{}' (line {}) not counted: {e}",
                            a.signer, a.line
                        ));
                        continue;
                    }
                }
            }
            if let Some(max) = rule.max_age {
                if signed_age > max {
                    d.notes.push(format!(
                        "approval by '{}' (line {}) is {} old, over the stage's max_age of {}",
                        a.signer,
                        a.line,
                        fmt_age(signed_age),
                        fmt_age(max)
                    ));
                    continue;
                }
            }
            let roles = policy
                .approvers
                .iter()
                .find(|s| s.name == a.signer)
                .map(|s| s.roles.clone())
                .unwrap_or_default();
            if !rule.roles.is_empty() && !roles.iter().any(|r| rule.roles.contains(r)) {
                d.notes.push(format!(
                    "approval by '{}' (line {}) not counted: needs role {}, has {}",
                    a.signer,
                    a.line,
                    rule.roles.join(" or "),
                    if roles.is_empty() {
                        "none".to_string()
                    } else {
                        roles.join(", ")
                    }
                ));
                continue;
            }
            if rule.forbid_author && authors.contains(&a.signer.to_lowercase()) {
                d.notes.push(format!(
                    "approval by '{}' (line {}) not counted: they authored this run, and the stage forbids self-approval",
                    a.signer, a.line
                ));
                continue;
            }
            counted.insert(a.signer.clone());
        }
        d.approvers = counted.into_iter().collect();
        let have = u32::try_from(d.approvers.len()).unwrap_or(u32::MAX);
        if have < rule.required {
            let roles = if rule.roles.is_empty() {
                String::new()
            } else {
                format!(" with role {}", rule.roles.join(" or "))
            };
            d.reasons.push(Reason {
                code: ReasonCode::ApprovalsMissing,
                gate: None,
                message: format!(
                    "{have} of {} required approval{}{roles} for stage '{}'{}; an approver runs `portcullis approve --stage {} --key KEY MODEL`",
                    rule.required,
                    if rule.required == 1 { "" } else { "s" },
                    stage.name,
                    if d.approvers.is_empty() { String::new() } else { format!(" (counted: {})", d.approvers.join(", ")) },
                    stage.name
                ),
            });
        }
    }
    d.allowed = d.reasons.is_empty();
    d
}

fn gate_status(
    policy: &Policy,
    stage: &Stage,
    gate: &str,
    evidence: &Evidence,
    now: SystemTime,
    notes: &mut Vec<String>,
) -> GateStatus {
    let mut status = GateStatus {
        gate: gate.to_string(),
        state: GateState::Missing,
        line: None,
        result: None,
        signer: None,
        detail: format!(
            "no signed result for gate '{gate}'; run `portcullis run --stage {} --gate {gate}`",
            stage.name
        ),
    };
    let Some(decl) = policy.gates.get(gate) else {
        return status;
    };
    let want = decl.spec.digest().to_hex();
    let mut best: Option<(&Accepted<GateResultPredicate>, SystemTime)> = None;
    let mut other_spec = 0usize;
    let mut expired: Option<Duration> = None;
    for r in evidence
        .gate_results
        .iter()
        .filter(|r| r.predicate.gate.name == gate)
    {
        let p = &r.predicate;
        if p.gate.spec_digest.get("sha256") != Some(&want) {
            other_spec += 1;
            continue;
        }
        let finished = match parse_time(&p.finished_on).and_then(|t| age(now, &p.finished_on).map(|a| (t, a)))
        {
            Ok(x) => x,
            Err(e) => {
                notes.push(format!(
                    "result for gate '{gate}' (line {}) not counted: {e}",
                    r.line
                ));
                continue;
            }
        };
        if let Some(max) = stage.max_evidence_age {
            if finished.1 > max {
                expired = Some(expired.map_or(finished.1, |e: Duration| e.min(finished.1)));
                continue;
            }
        }
        if best.is_none_or(|(_, t)| finished.0 >= t) {
            best = Some((r, finished.0));
        }
    }
    match best {
        Some((r, _)) => {
            let p = &r.predicate;
            status.line = Some(r.line);
            status.signer = Some(r.signer.clone());
            status.result = Some(p.clone());
            match p.verdict {
                Verdict::Pass => {
                    status.state = GateState::Passed;
                    status.detail = format!("passed (signed by '{}', {})", r.signer, p.finished_on);
                }
                Verdict::Fail => {
                    status.state = GateState::Failed;
                    status.detail = if p.reasons.is_empty() {
                        format!("gate '{gate}' failed")
                    } else {
                        format!("gate '{gate}' failed: {}", p.reasons.join("; "))
                    };
                }
                Verdict::Error => {
                    status.state = GateState::Errored;
                    status.detail = format!(
                        "gate '{gate}' could not evaluate (fails closed): {}",
                        p.error.clone().unwrap_or_else(|| "unknown error".into())
                    );
                }
            }
        }
        None if expired.is_some() => {
            status.state = GateState::Expired;
            status.detail = format!(
                "the newest result for gate '{gate}' is {} old, over the stage's max_evidence_age of {}; run the gate again",
                fmt_age(expired.unwrap_or_default()),
                fmt_age(stage.max_evidence_age.unwrap_or_default())
            );
        }
        None if other_spec > 0 => {
            status.state = GateState::SpecChanged;
            status.detail = format!(
                "{other_spec} result{} for gate '{gate}' were produced under a different spec than the policy now holds; run the gate again",
                if other_spec == 1 { "" } else { "s" }
            );
        }
        None => {}
    }
    status
}

fn waiver_for(
    stage: &Stage,
    gate: &str,
    evidence: &Evidence,
    policy: &Policy,
    now: SystemTime,
    notes: &mut Vec<String>,
) -> Option<String> {
    for w in evidence.waivers.iter().filter(|w| w.predicate.gate == gate) {
        let p = &w.predicate;
        let who = format!("waiver of '{gate}' by '{}' (line {})", w.signer, w.line);
        if p.stage != stage.name {
            notes.push(format!("{who} is for stage '{}', not '{}'", p.stage, stage.name));
            continue;
        }
        let Some(rule) = stage.waivable.get(gate) else {
            notes.push(format!(
                "{who} ignored: stage '{}' does not allow waiving '{gate}'",
                stage.name
            ));
            continue;
        };
        let roles = policy
            .approvers
            .iter()
            .find(|s| s.name == w.signer)
            .map(|s| s.roles.clone())
            .unwrap_or_default();
        if !roles.iter().any(|r| rule.roles.contains(r)) {
            notes.push(format!(
                "{who} ignored: waiving needs role {}",
                rule.roles.join(" or ")
            ));
            continue;
        }
        let (signed, expires) = match (parse_time(&p.signed_on), parse_time(&p.expires)) {
            (Ok(s), Ok(e)) => (s, e),
            (Err(e), _) | (_, Err(e)) => {
                notes.push(format!("{who} ignored: {e}"));
                continue;
            }
        };
        if let Err(e) = age(now, &p.signed_on) {
            notes.push(format!("{who} ignored: {e}"));
            continue;
        }
        if expires <= now {
            notes.push(format!("{who} expired at {}", p.expires));
            continue;
        }
        if let Some(max) = rule.max_duration {
            if expires.duration_since(signed).unwrap_or_default() > max {
                notes.push(format!(
                    "{who} ignored: it runs longer than the allowed {}",
                    fmt_age(max)
                ));
                continue;
            }
        }
        return Some(format!(
            "WAIVED: gate '{gate}' waived by '{}' until {}: {}",
            w.signer, p.expires, p.reason
        ));
    }
    None
}
