//! From raw envelopes to trusted evidence, using only the policy's keys.
//!
//! Each envelope is accepted only if it is an in-toto statement about this
//! exact model digest, of a known predicate type, signed by a key of the
//! right kind: runner keys for gate results, approver keys for approvals and
//! waivers. Everything else is rejected with a reason, and rejected evidence
//! never counts. The signer's identity is the policy's name for the key,
//! never a name written inside the predicate, with one exception the policy
//! opts into: an approval signed by a key under `trust.services` (the
//! registry server, which authenticated the person) counts for the approver
//! it names, who must be listed under `trust.approvers`. A person approving
//! both ways counts once, since both resolve to the same name.

use portcullis_evidence::predicate::{
    ApprovalPredicate, GateResultPredicate, WaiverPredicate, APPROVAL_V1, GATE_RESULT_V1, WAIVER_V1,
};
use portcullis_evidence::{Bundle, Envelope, Sha256Digest};
use serde::de::DeserializeOwned;

use crate::model::{Policy, Signer};

/// An accepted statement: its predicate and who signed it.
#[derive(Debug, Clone)]
pub struct Accepted<P> {
    /// The predicate.
    pub predicate: P,
    /// The signer's identity in the policy.
    pub signer: String,
    /// The service that signed on the signer's behalf, when it was not the
    /// signer's own key.
    pub via: Option<String>,
    /// The bundle line it came from.
    pub line: usize,
}

/// A line of the bundle that does not count, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The bundle line.
    pub line: usize,
    /// Why it does not count.
    pub reason: String,
}

/// The trusted evidence for one model digest.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Gate results signed by runners.
    pub gate_results: Vec<Accepted<GateResultPredicate>>,
    /// Approvals signed by approvers.
    pub approvals: Vec<Accepted<ApprovalPredicate>>,
    /// Waivers signed by approvers.
    pub waivers: Vec<Accepted<WaiverPredicate>>,
    /// Everything that did not count.
    pub rejected: Vec<Rejected>,
}

fn find_signer<'a>(env: &Envelope, signers: &'a [Signer]) -> Option<&'a Signer> {
    signers.iter().find(|s| env.verify(s.keys.iter()).is_ok())
}

fn keyids(env: &Envelope) -> String {
    let ids: Vec<String> = env
        .signatures
        .iter()
        .map(|s| {
            if s.keyid.is_empty() {
                "(no keyid)".to_string()
            } else {
                s.keyid.chars().take(12).collect()
            }
        })
        .collect();
    ids.join(", ")
}

/// Sorts a bundle's envelopes into accepted evidence and rejected lines.
pub fn classify(policy: &Policy, digest: &Sha256Digest, bundle: &Bundle) -> Evidence {
    let mut ev = Evidence::default();
    for c in &bundle.corrupt {
        ev.rejected.push(Rejected {
            line: c.line,
            reason: format!("corrupt line skipped: {}", c.reason),
        });
    }
    for (line, env) in &bundle.envelopes {
        let line = *line;
        let reject = |ev: &mut Evidence, reason: String| ev.rejected.push(Rejected { line, reason });
        let statement = match env.statement_unverified() {
            Ok(s) => s,
            Err(e) => {
                reject(&mut ev, format!("not an in-toto statement: {e}"));
                continue;
            }
        };
        if !statement.is_about(digest) {
            let other = statement
                .subject
                .first()
                .and_then(|s| s.digest.get("sha256"))
                .map_or("none".to_string(), |d| d.chars().take(12).collect());
            reject(
                &mut ev,
                format!("statement is about another model (sha256 {other}…), ignored"),
            );
            continue;
        }
        let (right, wrong, right_kind, wrong_kind) = match statement.predicate_type.as_str() {
            GATE_RESULT_V1 => (&policy.runners, &policy.approvers, "runner", "approver"),
            APPROVAL_V1 | WAIVER_V1 => (&policy.approvers, &policy.runners, "approver", "runner"),
            other => {
                reject(&mut ev, format!("unknown predicate type '{other}', ignored"));
                continue;
            }
        };
        let via_service = if statement.predicate_type == APPROVAL_V1 && find_signer(env, right).is_none() {
            find_signer(env, &policy.services)
        } else {
            None
        };
        if let Some(service) = via_service {
            match on_behalf(policy, &statement.predicate, &service.name) {
                Ok(person) => push(
                    &mut ev.approvals,
                    &mut ev.rejected,
                    &statement.predicate,
                    Signed {
                        signer: person,
                        via: Some(service.name.clone()),
                        line,
                    },
                ),
                Err(reason) => reject(&mut ev, reason),
            }
            continue;
        }
        let Some(signer) = find_signer(env, right) else {
            let other = find_signer(env, wrong)
                .map(|s| (wrong_kind, s))
                .or_else(|| find_signer(env, &policy.services).map(|s| ("service", s)));
            let reason = match other {
                Some((kind, s)) => format!(
                    "{} signed by {kind} '{}'; only {right_kind} keys may sign it",
                    kind_name(&statement.predicate_type),
                    s.name
                ),
                None => format!(
                    "{}: no signature verifies against a trusted {right_kind} key (keyid {})",
                    kind_name(&statement.predicate_type),
                    keyids(env)
                ),
            };
            reject(&mut ev, reason);
            continue;
        };
        let signed = Signed {
            signer: signer.name.clone(),
            via: None,
            line,
        };
        match statement.predicate_type.as_str() {
            GATE_RESULT_V1 => push(
                &mut ev.gate_results,
                &mut ev.rejected,
                &statement.predicate,
                signed,
            ),
            APPROVAL_V1 => push(&mut ev.approvals, &mut ev.rejected, &statement.predicate, signed),
            _ => push(&mut ev.waivers, &mut ev.rejected, &statement.predicate, signed),
        }
    }
    ev
}

fn kind_name(predicate_type: &str) -> &'static str {
    match predicate_type {
        GATE_RESULT_V1 => "gate result",
        APPROVAL_V1 => "approval",
        _ => "waiver",
    }
}

/// Who an approval signed by `service` counts for: the policy approver its
/// predicate names.
fn on_behalf(policy: &Policy, predicate: &serde_json::Value, service: &str) -> Result<String, String> {
    let named = predicate
        .get("approver")
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    if named.is_empty() {
        return Err(format!(
            "approval signed by service '{service}' names no approver"
        ));
    }
    policy
        .approvers
        .iter()
        .find(|a| a.name == named)
        .map(|a| a.name.clone())
        .ok_or_else(|| {
            format!("approval signed by service '{service}' for '{named}', who is not an approver under `trust.approvers`")
        })
}

struct Signed {
    signer: String,
    via: Option<String>,
    line: usize,
}

fn push<P: DeserializeOwned>(
    out: &mut Vec<Accepted<P>>,
    rejected: &mut Vec<Rejected>,
    value: &serde_json::Value,
    signed: Signed,
) {
    match serde_json::from_value::<P>(value.clone()) {
        Ok(predicate) => out.push(Accepted {
            predicate,
            signer: signed.signer,
            via: signed.via,
            line: signed.line,
        }),
        Err(e) => rejected.push(Rejected {
            line: signed.line,
            reason: format!(
                "signed by '{}' but the predicate is malformed: {e}",
                signed.signer
            ),
        }),
    }
}
