//! A temp directory with keys and a policy.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use portcullis_evidence::predicate::{
    digest_set, format_time, ApprovalPredicate, GateIdentity, GateResultPredicate, ToolInfo, WaiverPredicate,
};
use portcullis_evidence::{SigningKey, Verdict};
use portcullis_policy::{Accepted, Evidence, Policy};

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub keys: Vec<(String, SigningKey)>,
}

impl Fixture {
    /// Keys named `names` written as `<name>.pub` in a temp dir.
    pub fn new(names: &[&str]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let keys = names
            .iter()
            .map(|n| {
                let k = SigningKey::generate();
                std::fs::write(dir.path().join(format!("{n}.pub")), k.public().to_pem()).unwrap();
                (n.to_string(), k)
            })
            .collect();
        Fixture { dir, keys }
    }

    pub fn key(&self, name: &str) -> &SigningKey {
        &self.keys.iter().find(|(n, _)| n == name).unwrap().1
    }

    pub fn write(&self, yaml: &str) -> PathBuf {
        let p = self.dir.path().join("portcullis.yaml");
        std::fs::write(&p, yaml).unwrap();
        p
    }

    pub fn load(&self, yaml: &str) -> Policy {
        portcullis_policy::load(&self.write(yaml)).unwrap()
    }
}

pub const POLICY: &str = r#"
version: 1
trust:
  runners:
    - { name: ci, key: ci.pub }
  approvers:
    - { name: alice, key: alice.pub, roles: [model-risk] }
    - { name: alice, key: alice2.pub }
    - { name: bob, key: bob.pub, roles: [model-risk] }
    - { name: carol, key: carol.pub, roles: [ml-lead] }
stages:
  staging:
    gates: [smoke]
    max_evidence_age: 14d
    waivable:
      smoke: { roles: [model-risk], max_duration: 30d }
  prod:
    extends: staging
    gates: [eval]
    approvals: { required: 2, roles: [model-risk], forbid_author: true, max_age: 7d }
gates:
  smoke: { kind: command, argv: ["true"] }
  eval: { kind: command, argv: ["true"], require: { accuracy: ">= 0.9" } }
"#;

pub fn fixture() -> (Fixture, Policy) {
    let f = Fixture::new(&["ci", "alice", "alice2", "bob", "carol", "mallory"]);
    let p = f.load(POLICY);
    (f, p)
}

pub fn ago(secs: u64) -> String {
    format_time(SystemTime::now() - Duration::from_secs(secs))
}

pub fn result(
    policy: &Policy,
    gate: &str,
    verdict: Verdict,
    finished: &str,
    author: &str,
) -> Accepted<GateResultPredicate> {
    let spec = &policy.gates[gate].spec;
    Accepted {
        predicate: GateResultPredicate {
            gate: GateIdentity {
                name: gate.into(),
                kind: spec.kind.clone(),
                spec: serde_json::to_value(spec).unwrap(),
                spec_digest: digest_set(&spec.digest()),
            },
            policy_digest: None,
            stage: None,
            verdict,
            metrics: Default::default(),
            checks: vec![],
            findings: vec![],
            reasons: if verdict == Verdict::Pass {
                vec![]
            } else {
                vec!["accuracy = 0.5 does not meet the threshold >= 0.9".into()]
            },
            details: serde_json::Value::Null,
            inputs: vec![],
            error: (verdict == Verdict::Error).then(|| "boom".to_string()),
            author: Some(author.into()),
            seed: 0,
            started_on: finished.into(),
            finished_on: finished.into(),
            tool: ToolInfo {
                name: "portcullis".into(),
                version: "0".into(),
            },
        },
        signer: "ci".into(),
        via: None,
        line: 1,
    }
}

pub fn approval(
    signer: &str,
    stage: &str,
    signed: &str,
    expires: Option<String>,
) -> Accepted<ApprovalPredicate> {
    Accepted {
        predicate: ApprovalPredicate {
            stage: stage.into(),
            approver: signer.into(),
            comment: None,
            signed_on: signed.into(),
            expires,
        },
        signer: signer.into(),
        via: None,
        line: 9,
    }
}

pub fn waiver(
    signer: &str,
    stage: &str,
    gate: &str,
    signed: &str,
    expires: &str,
) -> Accepted<WaiverPredicate> {
    Accepted {
        predicate: WaiverPredicate {
            stage: stage.into(),
            gate: gate.into(),
            reason: "known flaky".into(),
            approver: signer.into(),
            signed_on: signed.into(),
            expires: expires.into(),
        },
        signer: signer.into(),
        via: None,
        line: 7,
    }
}

pub fn passing(policy: &Policy) -> Evidence {
    Evidence {
        gate_results: vec![
            result(policy, "smoke", Verdict::Pass, &ago(60), "dev"),
            result(policy, "eval", Verdict::Pass, &ago(60), "dev"),
        ],
        approvals: vec![
            approval("alice", "prod", &ago(30), None),
            approval("bob", "prod", &ago(30), None),
        ],
        ..Evidence::default()
    }
}
