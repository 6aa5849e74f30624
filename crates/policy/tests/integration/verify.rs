//! `classify`: only the right kind of trusted key, about this digest.

use portcullis_evidence::predicate::{ApprovalPredicate, APPROVAL_V1, GATE_RESULT_V1};
use portcullis_evidence::{Bundle, Envelope, Sha256Digest, SigningKey, Statement, Subject, Verdict};
use portcullis_policy::classify;

use crate::support::{ago, fixture, result};

fn env(key: &SigningKey, digest: &Sha256Digest, ptype: &str, predicate: serde_json::Value) -> Envelope {
    Envelope::sign(
        &Statement::new(Subject::sha256("m", digest), ptype, predicate),
        key,
    )
    .unwrap()
}

#[test]
fn accepts_the_right_keys_and_rejects_everything_else_with_a_reason() {
    let (f, p) = fixture();
    let d = Sha256Digest([9; 32]);
    let gr = serde_json::to_value(&result(&p, "smoke", Verdict::Pass, &ago(1), "dev").predicate).unwrap();
    let ap = serde_json::to_value(ApprovalPredicate {
        stage: "prod".into(),
        approver: "ci".into(),
        comment: None,
        signed_on: ago(1),
        expires: None,
    })
    .unwrap();
    let mut tampered = env(f.key("ci"), &d, GATE_RESULT_V1, gr.clone());
    {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut raw = b64.decode(&tampered.signatures[0].sig).unwrap();
        raw[3] ^= 0x40;
        tampered.signatures[0].sig = b64.encode(raw);
    }
    let bundle = Bundle {
        location: "b".into(),
        sha256: None,
        envelopes: vec![
            (1, env(f.key("ci"), &d, GATE_RESULT_V1, gr.clone())),
            (2, env(f.key("alice2"), &d, APPROVAL_V1, ap.clone())),
            (3, env(f.key("ci"), &d, APPROVAL_V1, ap.clone())),
            (4, env(f.key("alice"), &d, GATE_RESULT_V1, gr.clone())),
            (5, env(f.key("mallory"), &d, GATE_RESULT_V1, gr.clone())),
            (
                6,
                env(f.key("ci"), &Sha256Digest([8; 32]), GATE_RESULT_V1, gr.clone()),
            ),
            (
                7,
                env(f.key("ci"), &d, "https://example.com/other/v1", gr.clone()),
            ),
            (
                8,
                env(
                    f.key("ci"),
                    &d,
                    GATE_RESULT_V1,
                    serde_json::json!({"verdict": "pass"}),
                ),
            ),
            (9, tampered),
        ],
        corrupt: vec![portcullis_evidence::store::CorruptLine {
            line: 10,
            reason: "not a DSSE envelope".into(),
        }],
    };
    let ev = classify(&p, &d, &bundle);
    assert_eq!(ev.gate_results.len(), 1);
    assert_eq!(ev.gate_results[0].signer, "ci");
    assert_eq!(ev.approvals.len(), 1);
    // Identity comes from the key, not from the predicate's `approver` field.
    assert_eq!(ev.approvals[0].signer, "alice");
    let reasons: Vec<(usize, &str)> = ev.rejected.iter().map(|r| (r.line, r.reason.as_str())).collect();
    let expect = [
        (3, "signed by runner 'ci'; only approver keys"),
        (4, "signed by approver 'alice'; only runner keys"),
        (5, "no signature verifies against a trusted runner key"),
        (6, "about another model"),
        (7, "unknown predicate type"),
        (8, "predicate is malformed"),
        (9, "no signature verifies"),
        (10, "corrupt line"),
    ];
    for (line, needle) in expect {
        assert!(
            reasons.iter().any(|(l, r)| *l == line && r.contains(needle)),
            "line {line}: '{needle}' not in {reasons:?}"
        );
    }
}

fn approval_by(name: &str, stage: &str) -> serde_json::Value {
    serde_json::to_value(ApprovalPredicate {
        stage: stage.into(),
        approver: name.into(),
        comment: None,
        signed_on: ago(1),
        expires: None,
    })
    .unwrap()
}

#[test]
fn a_service_signed_approval_counts_for_the_approver_it_names_and_only_once() {
    let f = crate::support::Fixture::new(&["ci", "alice", "alice2", "bob", "carol", "mallory", "registry"]);
    let yaml = crate::support::POLICY.replace(
        "  approvers:\n",
        "  services:\n    - { name: registry, key: registry.pub }\n  approvers:\n",
    );
    let p = f.load(&yaml);
    assert_eq!(p.services.len(), 1);
    let d = Sha256Digest([9; 32]);
    let gr = serde_json::to_value(&result(&p, "smoke", Verdict::Pass, &ago(1), "dev").predicate).unwrap();
    let reg = f.key("registry");
    let bundle = Bundle {
        location: "b".into(),
        sha256: None,
        envelopes: vec![
            // alice through the server, and again with her own key: one person.
            (1, env(reg, &d, APPROVAL_V1, approval_by("alice", "prod"))),
            (
                2,
                env(f.key("alice"), &d, APPROVAL_V1, approval_by("alice", "prod")),
            ),
            // bob through the server only.
            (3, env(reg, &d, APPROVAL_V1, approval_by("bob", "prod"))),
            // The server may not vouch for someone the policy does not trust…
            (4, env(reg, &d, APPROVAL_V1, approval_by("mallory", "prod"))),
            // …nor sign gate results.
            (5, env(reg, &d, GATE_RESULT_V1, gr)),
            (6, env(reg, &d, APPROVAL_V1, approval_by("  ", "prod"))),
        ],
        corrupt: vec![],
    };
    let ev = classify(&p, &d, &bundle);
    let who: Vec<(&str, Option<&str>)> = ev
        .approvals
        .iter()
        .map(|a| (a.signer.as_str(), a.via.as_deref()))
        .collect();
    assert_eq!(
        who,
        [
            ("alice", Some("registry")),
            ("alice", None),
            ("bob", Some("registry"))
        ]
    );
    let reasons: Vec<(usize, &str)> = ev.rejected.iter().map(|r| (r.line, r.reason.as_str())).collect();
    assert_eq!(reasons.len(), 3, "{reasons:?}");
    assert!(
        reasons[0].1.contains("for 'mallory', who is not an approver"),
        "{reasons:?}"
    );
    assert!(
        reasons[1]
            .1
            .contains("signed by service 'registry'; only runner keys"),
        "{reasons:?}"
    );
    assert!(reasons[2].1.contains("names no approver"), "{reasons:?}");

    let decision = portcullis_policy::decide(&p, "prod", &ev, std::time::SystemTime::now());
    assert_eq!(decision.approvers, ["alice", "bob"]);
}

#[test]
fn a_service_with_roles_is_a_policy_error() {
    let f = crate::support::Fixture::new(&["ci", "alice", "alice2", "bob", "carol", "registry"]);
    let yaml = crate::support::POLICY.replace(
        "  approvers:\n",
        "  services:\n    - { name: registry, key: registry.pub, roles: [model-risk] }\n  approvers:\n",
    );
    let err = portcullis_policy::load(&f.write(&yaml)).unwrap_err().to_string();
    assert!(err.contains("service 'registry' has `roles`"), "{err}");
}
