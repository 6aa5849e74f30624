//! The use cases end to end on the shipped quickstart: evaluate, approve,
//! decide, verify, show, called the way the CLI and the server call them.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use portcullis_engine::store::DirStore;
use portcullis_engine::{
    ApprovalRequest, EngineError, ErrorCode, FixedClock, Silent, StageRequest, Summary, VerifyRequest,
    WaiverRequest,
};
use portcullis_evidence::predicate::{VerificationResult, VerificationSummaryPredicate};
use portcullis_evidence::SigningKey;
use portcullis_policy::ReasonCode;

struct Quickstart {
    dir: tempfile::TempDir,
}

impl Quickstart {
    fn new() -> Self {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart");
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&src, dir.path());
        Quickstart { dir }
    }
    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }
    fn key(&self, name: &str) -> SigningKey {
        SigningKey::from_pem_file(&self.path(&format!("keys/{name}.key"))).unwrap()
    }
    fn store(&self) -> DirStore {
        DirStore::new(self.path("evidence"))
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn now() -> FixedClock {
    FixedClock(SystemTime::now())
}

#[test]
fn evaluate_approve_decide_verify_show() {
    let q = Quickstart::new();
    let policy = portcullis_engine::load_policy(&q.path("portcullis.yaml")).unwrap();
    let store = q.store();
    let request = StageRequest {
        policy: &policy,
        stage: "prod",
        only: &[],
        model: None,
        author: Some("carol"),
        seed: 0,
        deadline: None,
    };
    let run =
        portcullis_engine::evaluate_stage(&request, &store, &q.key("demo-ci"), &now(), &Silent).unwrap();
    assert_eq!(run.outcomes.len(), 1);
    assert!(run.outcomes[0].verdict.passed(), "{:?}", run.outcomes[0]);
    let d = &run.decided.decision;
    assert!(!d.allowed);
    assert_eq!(
        d.reasons.iter().map(|r| r.code).collect::<Vec<_>>(),
        vec![ReasonCode::ApprovalsMissing]
    );
    let digest = run.manifest.digest;

    // The staging stage needs no approval.
    let staging = portcullis_engine::decide(&policy, "staging", &store, &digest, &now()).unwrap();
    assert!(staging.decision.allowed, "{:?}", staging.decision.reasons);

    // bob is an approver without the model-risk role: not counted.
    fn approval<'a>(digest: &'a portcullis_evidence::Sha256Digest, who: &'a str) -> ApprovalRequest<'a> {
        ApprovalRequest {
            digest,
            model_name: "model",
            stage: "prod",
            approver: who,
            comment: Some("looked at the holdout report"),
            expires: Some(SystemTime::now() + Duration::from_secs(86_400)),
        }
    }
    portcullis_engine::approve(&approval(&digest, "bob"), &store, &q.key("demo-bob"), &now()).unwrap();
    let d = portcullis_engine::decide(&policy, "prod", &store, &digest, &now()).unwrap();
    assert!(!d.decision.allowed);
    portcullis_engine::approve(&approval(&digest, "alice"), &store, &q.key("demo-alice"), &now()).unwrap();
    let d = portcullis_engine::decide(&policy, "prod", &store, &digest, &now()).unwrap();
    assert!(d.decision.allowed, "{:?}", d.decision.reasons);
    assert_eq!(d.decision.approvers, vec!["alice".to_string()]);

    // Verify recomputes the digest and states the decision as a VSA.
    let key = q.key("demo-ci");
    let v = portcullis_engine::verify(
        &VerifyRequest {
            policy: &policy,
            stage: "prod",
            model: &q.path("model"),
            summarise: true,
            summary_key: Some(&key),
        },
        &store,
        &now(),
        &Silent,
    )
    .unwrap();
    assert!(v.decided.decision.allowed);
    let Some(Summary::Envelope(env)) = &v.summary else {
        panic!("expected a signed summary")
    };
    env.verify([key.public()].iter()).unwrap();
    let statement = env.statement_unverified().unwrap();
    assert_eq!(statement.predicate_type, portcullis_evidence::predicate::VSA_V1);
    assert!(statement.is_about(&digest));
    let vsa: VerificationSummaryPredicate = serde_json::from_value(statement.predicate).unwrap();
    assert_eq!(vsa.verification_result, VerificationResult::Passed);
    assert_eq!(vsa.verified_levels, vec!["PORTCULLIS_STAGE_PROD".to_string()]);
    let bundle = std::fs::read(store.bundle_path(&digest)).unwrap();
    assert_eq!(
        vsa.input_attestations[0].digest["sha256"],
        portcullis_evidence::sha256_bytes(&bundle).to_hex()
    );
    assert_eq!(vsa.policy.digest["sha256"], policy.digest.to_hex());

    // Show: every stage's decision, and the trusted evidence.
    let shown = portcullis_engine::show(&policy, &store, &digest, &now()).unwrap();
    assert_eq!(shown.evidence.gate_results.len(), 1);
    assert_eq!(shown.evidence.approvals.len(), 2);
    assert_eq!(
        shown
            .decisions
            .iter()
            .map(|d| (d.stage.as_str(), d.allowed))
            .collect::<Vec<_>>(),
        vec![("prod", true), ("staging", true)]
    );
}

#[test]
fn the_runs_author_cannot_approve_their_own_model() {
    let q = Quickstart::new();
    let policy = portcullis_engine::load_policy(&q.path("portcullis.yaml")).unwrap();
    let store = q.store();
    let request = StageRequest {
        policy: &policy,
        stage: "prod",
        only: &[],
        model: None,
        author: Some("Alice"),
        seed: 0,
        deadline: None,
    };
    let run =
        portcullis_engine::evaluate_stage(&request, &store, &q.key("demo-ci"), &now(), &Silent).unwrap();
    let digest = run.manifest.digest;
    let approval = ApprovalRequest {
        digest: &digest,
        model_name: "model",
        stage: "prod",
        approver: "alice",
        comment: None,
        expires: None,
    };
    portcullis_engine::approve(&approval, &store, &q.key("demo-alice"), &now()).unwrap();
    let d = portcullis_engine::decide(&policy, "prod", &store, &digest, &now()).unwrap();
    assert!(!d.decision.allowed);
    assert_eq!(d.decision.reasons[0].code, ReasonCode::ApprovalsMissing);
}

#[test]
fn a_gate_result_signed_by_an_untrusted_key_warns_and_does_not_count() {
    struct Warnings(std::sync::Mutex<Vec<String>>);
    impl portcullis_engine::Observer for Warnings {
        fn warn(&self, w: &portcullis_engine::Warning) {
            self.0.lock().unwrap().push(w.to_string());
        }
    }
    let q = Quickstart::new();
    let policy = portcullis_engine::load_policy(&q.path("portcullis.yaml")).unwrap();
    let store = q.store();
    let request = StageRequest {
        policy: &policy,
        stage: "staging",
        only: &[],
        model: None,
        author: None,
        seed: 0,
        deadline: None,
    };
    let seen = Warnings(Default::default());
    let run =
        portcullis_engine::evaluate_stage(&request, &store, &SigningKey::generate(), &now(), &seen).unwrap();
    assert!(seen.0.lock().unwrap()[0].contains("not a trusted runner"));
    assert!(run.outcomes[0].verdict.passed());
    assert!(!run.decided.decision.allowed);
    assert_eq!(run.decided.decision.reasons[0].code, ReasonCode::GateMissing);
    assert_eq!(run.decided.evidence.rejected.len(), 1);
}

#[test]
fn waivers_and_requests_are_checked_before_signing() {
    let q = Quickstart::new();
    let store = q.store();
    let digest = portcullis_evidence::Sha256Digest([7; 32]);
    let past = SystemTime::now() - Duration::from_secs(60);
    let waiver = WaiverRequest {
        digest: &digest,
        model_name: "model",
        stage: "prod",
        gate: "holdout-accuracy",
        reason: "  ",
        approver: "alice",
        expires: SystemTime::now() + Duration::from_secs(3600),
    };
    let e = portcullis_engine::waive(&waiver, &store, &q.key("demo-alice"), &now()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::RequestInvalid);
    let e = portcullis_engine::waive(
        &WaiverRequest {
            reason: "known flaky",
            expires: past,
            ..waiver.clone()
        },
        &store,
        &q.key("demo-alice"),
        &now(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("in the past"), "{e}");
    assert!(
        store.list().unwrap().is_empty(),
        "nothing may be signed for a refused request"
    );
}

#[test]
fn unknown_stages_and_gates_have_stable_codes() {
    let q = Quickstart::new();
    let policy = portcullis_engine::load_policy(&q.path("portcullis.yaml")).unwrap();
    let e = portcullis_engine::decide(
        &policy,
        "production",
        &q.store(),
        &portcullis_evidence::Sha256Digest([0; 32]),
        &now(),
    )
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnknownStage);
    assert!(
        e.to_string().contains("stage 'production' is not in") && e.to_string().contains("prod, staging")
    );
    let e = portcullis_engine::stage_gates(&policy, "prod", &["fairness".to_string()]).unwrap_err();
    assert_eq!(e.code(), ErrorCode::UnknownGate);
}

#[test]
fn one_pass_reports_policy_and_gate_spec_problems_together() {
    let q = Quickstart::new();
    let path = q.path("bad.yaml");
    std::fs::write(
        &path,
        "version: 1\nstages:\n  prod: { gates: [missing, g] }\ngates:\n  g: { kind: command, argv: [\"true\"], colour: red }\n  h: { kind: telepathy }\n",
    )
    .unwrap();
    let e = portcullis_engine::load_policy(&path).unwrap_err();
    assert_eq!(e.code(), ErrorCode::PolicyInvalid);
    let EngineError::Policy(p) = &e else { panic!("{e}") };
    let lines: Vec<u64> = p.problems().iter().map(|p| p.pos.line).collect();
    assert_eq!(lines, vec![3, 5, 6], "{e}");
    let text = e.to_string();
    assert!(text.contains("3 problems in the policy"), "{text}");
    assert!(
        text.contains("gate 'missing'")
            && text.contains("unknown field `colour`")
            && text.contains("unknown gate kind"),
        "{text}"
    );
}

#[test]
fn a_pinned_policy_is_refused_when_its_bytes_differ() {
    let q = Quickstart::new();
    let path = q.path("portcullis.yaml");
    let wrong = portcullis_evidence::Sha256Digest([1; 32]);
    let e = portcullis_engine::load_policy_pinned(&path, Some(&wrong)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::PolicyPinMismatch);
    let right = portcullis_evidence::sha256_bytes(&std::fs::read(&path).unwrap());
    let p = portcullis_engine::load_policy_pinned(&path, Some(&right)).unwrap();
    assert_eq!(p.digest, right);
}
