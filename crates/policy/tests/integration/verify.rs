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
