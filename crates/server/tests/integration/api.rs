//! The HTTP API end to end: promotion with approvals, protected aliases,
//! roles, bad input, the audit log's proofs, restarts.

use base64::Engine as _;
use portcullis_evidence::predicate::{ApprovalPredicate, APPROVAL_V1};
use portcullis_evidence::{Envelope, Sha256Digest, Statement, Subject};
use portcullis_tlog::{Checkpoint, Tree};

use crate::support::{boot, start, start_on, Backend, Server, TestDb, BOOT, POLICY};

fn approval_envelope(key: &portcullis_evidence::SigningKey, digest: &Sha256Digest, who: &str) -> Envelope {
    let p = ApprovalPredicate {
        stage: "prod".into(),
        approver: who.into(),
        comment: Some("looked at it".into()),
        signed_on: portcullis_evidence::predicate::format_time(std::time::SystemTime::now()),
        expires: None,
    };
    Envelope::sign(
        &Statement::new(
            Subject::sha256("m", digest),
            APPROVAL_V1,
            serde_json::to_value(p).unwrap(),
        ),
        key,
    )
    .unwrap()
}

#[test]
fn prod_moves_only_after_two_distinct_approvers_and_the_deploy_question_answers_with_a_signed_summary() {
    promotion_flow(start());
}

#[test]
fn prod_moves_only_after_two_distinct_approvers_and_the_deploy_question_answers_with_a_signed_summary_on_postgres(
) {
    if let Some(db) = TestDb::create() {
        promotion_flow(start_on(POLICY, Backend::Postgres(db.url.clone())));
    }
}

fn promotion_flow(s: Server) {
    let ci = s.token("ci", "runner");
    let alice = s.token("alice", "approver");
    let bob = s.token("bob", "approver:model-risk");
    let (digest, bundle) = s.run_dev("dev");

    let (st, v) = s.push(&ci, &digest, &bundle);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["accepted"], 1);
    // Pushing the same bundle again is a no-op.
    let (_, v) = s.push(&ci, &digest, &bundle);
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicate"].as_u64()),
        (Some(0), Some(1)),
        "{v}"
    );

    let (st, req) = s.promote(&ci, "prod", &digest);
    assert_eq!(st, 201, "{req}");
    assert_eq!(req["state"], "open");
    let id = req["id"].as_i64().unwrap();
    let missing = req["decision"]["decision"]["reasons"].to_string();
    assert!(missing.contains("approvals-missing"), "{missing}");

    // Nothing is in prod yet: the deploy-time question says so.
    let (st, _) = s.call("GET", "/v1/models/m/stages/prod", Some(&ci), None);
    assert_eq!(st, 404);

    // alice through the API (the registry signs for her) and again with
    // her own key: one person.
    let (st, v) = s.call(
        "POST",
        &format!("/v1/requests/{id}/approve"),
        Some(&alice),
        Some("{}"),
    );
    assert_eq!((st, v["state"].as_str()), (200, Some("open")), "{v}");
    let own = approval_envelope(s.key("alice"), &digest, "alice");
    let body = serde_json::json!({ "envelope": own }).to_string();
    let (st, v) = s.call(
        "POST",
        &format!("/v1/requests/{id}/approve"),
        Some(&alice),
        Some(&body),
    );
    assert_eq!((st, v["state"].as_str()), (200, Some("open")), "{v}");
    assert_eq!(
        v["decision"]["decision"]["approvers"],
        serde_json::json!(["alice"])
    );

    let (st, v) = s.call(
        "POST",
        &format!("/v1/requests/{id}/approve"),
        Some(&bob),
        Some(r#"{"comment":"fine"}"#),
    );
    assert_eq!((st, v["state"].as_str()), (200, Some("promoted")), "{v}");

    let (st, v) = s.call("GET", "/v1/models/m/stages/prod", Some(&ci), None);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["digest"], digest.to_hex());
    assert_eq!(v["allowed"], true);
    // The summary is a DSSE envelope over a VSA about this digest, signed by
    // the registry's key.
    let env: Envelope = serde_json::from_value(v["summary"].clone()).unwrap();
    env.verify([s.registry_key.public()].iter()).unwrap();
    let statement = env.statement_unverified().unwrap();
    assert!(statement.is_about(&digest));
    assert_eq!(statement.predicate["verificationResult"], "PASSED");

    let (_, h) = s.call("GET", "/v1/models/m/stages/prod/history", Some(&ci), None);
    let moves = h["moves"].as_array().unwrap();
    assert_eq!(moves.len(), 1);
    assert_eq!(moves[0]["approvers"], serde_json::json!(["alice", "bob"]));
    assert_eq!(moves[0]["by"], "bob");
    let (_, before) = s.call(
        "GET",
        "/v1/models/m/stages/prod/history?at=2000-01-01T00:00:00Z",
        Some(&ci),
        None,
    );
    assert_eq!(before["moves"], serde_json::json!([]));
}

#[test]
fn approvals_that_could_not_count_are_refused_before_signing() {
    let s = start();
    let ci = s.token("ci", "runner");
    let (digest, bundle) = s.run_dev("alice");
    s.push(&ci, &digest, &bundle);
    let (_, req) = s.promote(&ci, "prod", &digest);
    let id = req["id"].as_i64().unwrap();

    let mallory = s.token("mallory", "approver");
    let (st, v) = s.call(
        "POST",
        &format!("/v1/requests/{id}/approve"),
        Some(&mallory),
        Some("{}"),
    );
    assert_eq!(st, 403, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not an approver"),
        "{v}"
    );

    let carol = s.token("carol", "approver:model-risk");
    let (st, v) = s.call(
        "POST",
        &format!("/v1/requests/{id}/approve"),
        Some(&carol),
        Some("{}"),
    );
    assert_eq!(st, 403, "{v}");

    // alice authored the run: her approval is recorded but never counts.
    let alice = s.token("alice", "approver");
    let (st, v) = s.call(
        "POST",
        &format!("/v1/requests/{id}/approve"),
        Some(&alice),
        Some("{}"),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        v["decision"]["decision"]["approvers"],
        serde_json::json!([]),
        "{v}"
    );
    assert!(
        v["decision"]["decision"]["notes"]
            .to_string()
            .contains("self-approval"),
        "{v}"
    );

    // A CLI-signed approval by someone the policy does not trust.
    let forged = approval_envelope(s.key("mallory"), &digest, "bob");
    let body = serde_json::json!({ "envelope": forged }).to_string();
    let (st, v) = s.call(
        "POST",
        &format!("/v1/requests/{id}/approve"),
        Some(&alice),
        Some(&body),
    );
    assert_eq!(st, 400, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("does not count"),
        "{v}"
    );

    // Rejection closes it; approving a closed request is a conflict.
    let (st, v) = s.call(
        "POST",
        &format!("/v1/requests/{id}/reject"),
        Some(&alice),
        Some(r#"{"comment":"fairness report missing"}"#),
    );
    assert_eq!((st, v["state"].as_str()), (200, Some("rejected")), "{v}");
    let (st, _) = s.call(
        "POST",
        &format!("/v1/requests/{id}/approve"),
        Some(&alice),
        Some("{}"),
    );
    assert_eq!(st, 409);
}

#[test]
fn two_promotions_from_the_same_base_exactly_one_wins() {
    racing_promotions(start());
}

#[test]
fn two_promotions_from_the_same_base_exactly_one_wins_on_postgres() {
    if let Some(db) = TestDb::create() {
        racing_promotions(start_on(POLICY, Backend::Postgres(db.url.clone())));
    }
}

fn racing_promotions(s: Server) {
    let ci = s.token("ci", "runner");
    let alice = s.token("alice", "approver");
    let bob = s.token("bob", "approver");
    let other = s.path().join("model2");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("weights.bin"), b"weights v2").unwrap();
    let (d1, b1) = s.run_dev("dev");
    let (d2, b2) = s.run_dev_on(Some(&other), "dev");
    assert_ne!(d1, d2);
    s.push(&ci, &d1, &b1);
    s.push(&ci, &d2, &b2);
    let (_, r1) = s.promote(&ci, "prod", &d1);
    let (_, r2) = s.promote(&ci, "prod", &d2);
    for who in [&alice, &bob] {
        let (st, _) = s.call(
            "POST",
            &format!("/v1/requests/{}/approve", r1["id"]),
            Some(who),
            Some("{}"),
        );
        assert_eq!(st, 200);
    }
    let (st, _) = s.call(
        "POST",
        &format!("/v1/requests/{}/approve", r2["id"]),
        Some(&alice),
        Some("{}"),
    );
    assert_eq!(st, 200);
    let (st, v) = s.call(
        "POST",
        &format!("/v1/requests/{}/approve", r2["id"]),
        Some(&bob),
        Some("{}"),
    );
    assert_eq!(st, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("open a new request"),
        "{v}"
    );
    let (_, stage) = s.call("GET", "/v1/models/m/stages/prod", Some(&ci), None);
    assert_eq!(stage["digest"], d1.to_hex());

    // Racing dev promotions (no approvals needed): every one either wins
    // or gets a conflict, never both moving from the same base.
    let results: Vec<u16> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|i| {
                let s = &s;
                let ci = &ci;
                let d = if i % 2 == 0 { d1 } else { d2 };
                sc.spawn(move || s.promote(ci, "dev", &d).0)
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.iter().all(|c| *c == 201 || *c == 409), "{results:?}");
    let (_, h) = s.call("GET", "/v1/models/m/stages/dev/history", Some(&ci), None);
    let moves = h["moves"].as_array().unwrap();
    assert_eq!(moves.len(), results.iter().filter(|c| **c == 201).count());
    // Each move's `previous` is the move before it: no lost update.
    for w in moves.windows(2) {
        assert_eq!(w[1]["previous"], w[0]["digest"], "{moves:?}");
    }
}

#[test]
fn every_endpoint_refuses_missing_unknown_and_wrong_role_tokens() {
    let s = start();
    let reader = s.token("rita", "reader");
    let runner = s.token("ci", "runner");
    let approver = s.token("alice", "approver");
    let d = "ab".repeat(32);
    let revoked = s.token("old", "admin");
    let (_, list) = s.call("GET", "/v1/tokens", Some(BOOT), None);
    let old_id = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["identity"] == "old")
        .unwrap()["id"]
        .clone();
    assert_eq!(
        s.call("DELETE", &format!("/v1/tokens/{old_id}"), Some(BOOT), None)
            .0,
        204
    );

    let routes: Vec<(&str, String, Option<&str>, Vec<&str>)> = vec![
        (
            "POST",
            "/v1/tokens".into(),
            Some(r#"{"identity":"x","role":"reader"}"#),
            vec!["reader", "runner", "approver"],
        ),
        (
            "GET",
            "/v1/tokens".into(),
            None,
            vec!["reader", "runner", "approver"],
        ),
        (
            "DELETE",
            "/v1/tokens/1".into(),
            None,
            vec!["reader", "runner", "approver"],
        ),
        (
            "POST",
            format!("/v1/models/m/versions/{d}/evidence"),
            Some("{}"),
            vec!["reader", "approver"],
        ),
        (
            "POST",
            "/v1/models/m/requests".into(),
            Some(r#"{"stage":"dev","digest":"x"}"#),
            vec!["reader"],
        ),
        (
            "POST",
            "/v1/requests/1/approve".into(),
            Some("{}"),
            vec!["reader", "runner"],
        ),
        (
            "POST",
            "/v1/requests/1/reject".into(),
            Some(r#"{"comment":"no"}"#),
            vec!["reader", "runner"],
        ),
        ("GET", "/v1/models".into(), None, vec![]),
        ("GET", "/v1/models/m".into(), None, vec![]),
        ("GET", format!("/v1/models/m/versions/{d}/evidence"), None, vec![]),
        ("GET", "/v1/models/m/stages/prod".into(), None, vec![]),
        ("GET", "/v1/models/m/stages/prod/history".into(), None, vec![]),
        ("GET", "/v1/requests".into(), None, vec![]),
        ("GET", "/v1/requests/1".into(), None, vec![]),
        ("GET", "/v1/log/checkpoint".into(), None, vec![]),
        ("GET", "/v1/log/key".into(), None, vec![]),
        ("GET", "/v1/log/entries?start=0&end=1".into(), None, vec![]),
        (
            "GET",
            "/v1/log/proof/inclusion?index=0&size=1".into(),
            None,
            vec![],
        ),
        (
            "GET",
            "/v1/log/proof/consistency?from=0&to=1".into(),
            None,
            vec![],
        ),
    ];
    for (method, path, body, forbidden) in &routes {
        for (label, token) in [
            ("none", None),
            ("unknown", Some("pcr_nope")),
            ("revoked", Some(revoked.as_str())),
        ] {
            let (st, v) = s.call(method, path, token, *body);
            assert_eq!(st, 401, "{method} {path} with a {label} token: {v}");
            assert_eq!(v["error"]["code"], "unauthorized");
        }
        for role in forbidden {
            let token = match *role {
                "reader" => &reader,
                "runner" => &runner,
                _ => &approver,
            };
            let (st, v) = s.call(method, path, Some(token), *body);
            assert_eq!(st, 403, "{method} {path} as {role}: {v}");
            assert_eq!(v["error"]["code"], "forbidden");
        }
    }
}

#[test]
fn bad_input_gets_a_4xx_naming_the_problem() {
    let s = start();
    let ci = s.token("ci", "runner");
    let (digest, bundle) = s.run_dev("dev");
    let cases: Vec<(&str, String, String, u16, &str)> = vec![
        (
            "POST",
            "/v1/models/m/requests".into(),
            "{not json".into(),
            400,
            "request body",
        ),
        (
            "POST",
            "/v1/models/m/requests".into(),
            r#"{"stage":"dev","digest":"aa","extra":1}"#.into(),
            400,
            "unknown field",
        ),
        (
            "POST",
            "/v1/models/m/requests".into(),
            r#"{"stage":"dev","digest":"xyz"}"#.into(),
            400,
            "not a sha256 digest",
        ),
        (
            "POST",
            "/v1/models/m/requests".into(),
            format!(r#"{{"stage":"qa","digest":"{}"}}"#, digest.to_hex()),
            404,
            "no stage 'qa'",
        ),
        (
            "POST",
            "/v1/models/nope/requests".into(),
            format!(r#"{{"stage":"dev","digest":"{}"}}"#, digest.to_hex()),
            404,
            "no model 'nope'",
        ),
        (
            "POST",
            "/v1/models/m/versions/123/evidence".into(),
            bundle.clone(),
            400,
            "not a sha256 digest",
        ),
        (
            "POST",
            format!("/v1/models/m/versions/{}/evidence", digest.to_hex()),
            bundle[..bundle.len() / 2].to_string(),
            400,
            "line 1: not a DSSE envelope",
        ),
        (
            "POST",
            format!("/v1/models/m/versions/{}/evidence", digest.to_hex()),
            String::new(),
            400,
            "empty upload",
        ),
        (
            "GET",
            "/v1/log/entries?start=5&end=2".into(),
            String::new(),
            400,
            "start < end",
        ),
        (
            "GET",
            "/v1/log/entries?start=0".into(),
            String::new(),
            400,
            "query",
        ),
        (
            "GET",
            "/v1/log/proof/inclusion?index=99&size=1".into(),
            String::new(),
            400,
            "inclusion proof",
        ),
        (
            "GET",
            "/v1/models/m/stages/prod/history?at=yesterday".into(),
            String::new(),
            400,
            "RFC 3339",
        ),
        (
            "GET",
            "/v1/requests?state=pending".into(),
            String::new(),
            400,
            "unknown state",
        ),
        ("GET", "/v1/requests/abc".into(), String::new(), 400, "path"),
        (
            "GET",
            "/v1/nothing".into(),
            String::new(),
            404,
            "no such endpoint",
        ),
    ];
    for (method, path, body, status, needle) in cases {
        let (st, v) = s.call(
            method,
            &path,
            Some(&ci),
            (!body.is_empty() || method == "POST").then_some(body.as_str()),
        );
        assert_eq!(st, status, "{method} {path}: {v}");
        let msg = v["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{method} {path}: '{msg}' lacks '{needle}'");
    }
    // An oversized body: the server answers 413 without reading it all and
    // closes the connection, so this uses a client of its own.
    let r = reqwest::blocking::Client::new()
        .post(format!(
            "{}/v1/models/m/versions/{}/evidence",
            s.url,
            digest.to_hex()
        ))
        .bearer_auth(&ci)
        .body("x".repeat(17 << 20))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let v: serde_json::Value = r.json().unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("limit"), "{v}");

    // A line signed by a key the server's policy does not trust is stored
    // as rejected, with the reason, and never counts.
    let forged = approval_envelope(s.key("mallory"), &digest, "alice");
    let (st, v) = s.push(&ci, &digest, &serde_json::to_string(&forged).unwrap());
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["accepted"], 0);
    assert!(
        v["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no signature verifies"),
        "{v}"
    );
}

fn unhex(s: &serde_json::Value) -> [u8; 32] {
    Sha256Digest::from_hex(s.as_str().unwrap()).unwrap().0
}

#[test]
fn the_log_proves_every_change_and_survives_a_restart() {
    log_and_restart(start());
}

#[test]
fn the_log_proves_every_change_and_survives_a_restart_on_postgres() {
    if let Some(db) = TestDb::create() {
        log_and_restart(start_on(POLICY, Backend::Postgres(db.url.clone())));
    }
}

fn log_and_restart(s: Server) {
    let ci = s.token("ci", "runner");
    let (digest, bundle) = s.run_dev("dev");
    s.push(&ci, &digest, &bundle);
    let (_, r) = s.promote(&ci, "dev", &digest);
    assert_eq!(r["state"], "promoted", "{r}");

    let vkey = s.call("GET", "/v1/log/key", Some(&ci), None).1;
    let vkey = portcullis_tlog::VerifierKey::parse(vkey.as_str().unwrap().trim()).unwrap();
    let note1 = s.call("GET", "/v1/log/checkpoint", Some(&ci), None).1;
    let cp1 = Checkpoint::open(note1.as_str().unwrap(), vkey.name(), vkey.key()).unwrap();
    assert_eq!(cp1.origin, "test.local/registry");
    // policy loaded, bootstrap token, ci token, evidence, request, move.
    assert_eq!(cp1.size, 6);

    // The entries are the exact leaves: recompute the root.
    let (_, e) = s.call(
        "GET",
        &format!("/v1/log/entries?start=0&end={}", cp1.size),
        Some(&ci),
        None,
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    let entries: Vec<Vec<u8>> = e["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| b64.decode(x.as_str().unwrap()).unwrap())
        .collect();
    let tree: Tree = entries.iter().map(|x| portcullis_tlog::leaf_hash(x)).collect();
    assert_eq!(tree.root(), cp1.root);
    let events: Vec<String> = entries
        .iter()
        .map(|x| {
            serde_json::from_slice::<serde_json::Value>(x).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        events,
        [
            "policy.changed",
            "token.created",
            "token.created",
            "evidence.accepted",
            "request.opened",
            "alias.moved"
        ]
    );

    // The move's inclusion proof verifies against the signed root.
    let (_, h) = s.call("GET", "/v1/models/m/stages/dev/history", Some(&ci), None);
    let index = h["moves"][0]["log_index"].as_u64().unwrap();
    let (_, p) = s.call(
        "GET",
        &format!("/v1/log/proof/inclusion?index={index}&size={}", cp1.size),
        Some(&ci),
        None,
    );
    let proof: Vec<[u8; 32]> = p["hashes"].as_array().unwrap().iter().map(unhex).collect();
    portcullis_tlog::verify_inclusion(
        &tree.leaf_hash(index).unwrap(),
        index,
        cp1.size,
        &proof,
        &cp1.root,
    )
    .unwrap();

    // Restart over the same database: the new tree extends the old one.
    let (dir, keys, rk, backend) = s.stop();
    let s = boot(dir, keys, rk, backend);
    s.token("auditor", "reader");
    let note2 = s.call("GET", "/v1/log/checkpoint", Some(&ci), None).1;
    let cp2 = Checkpoint::open(note2.as_str().unwrap(), vkey.name(), vkey.key()).unwrap();
    assert_eq!(
        cp2.size,
        cp1.size + 1,
        "the policy did not change, so only the new token was logged"
    );
    let (_, c) = s.call(
        "GET",
        &format!("/v1/log/proof/consistency?from={}&to={}", cp1.size, cp2.size),
        Some(&ci),
        None,
    );
    let proof: Vec<[u8; 32]> = c["hashes"].as_array().unwrap().iter().map(unhex).collect();
    portcullis_tlog::verify_consistency(cp1.size, cp2.size, &cp1.root, &cp2.root, &proof).unwrap();
    let (_, stage) = s.call("GET", "/v1/models/m/stages/dev", Some(&ci), None);
    assert_eq!(stage["digest"], digest.to_hex());
}

/// The deploy-time answer is reused for a moment, but evidence that
/// arrives is in the very next answer.
#[test]
fn the_deploy_time_answer_sees_new_evidence_at_once() {
    let s = start();
    let ci = s.token("ci", "runner");
    let reader = s.token("deploy", "reader");
    let (digest, bundle) = s.run_dev("dev");
    assert_eq!(s.push(&ci, &digest, &bundle).0, 200);
    let (_, r) = s.promote(&ci, "dev", &digest);
    assert_eq!(r["state"], "promoted", "{r}");
    let inputs = |v: &serde_json::Value| v["summary"].to_string();
    let (st, first) = s.call("GET", "/v1/models/m/stages/dev", Some(&reader), None);
    assert_eq!(st, 200, "{first}");
    let (_, again) = s.call("GET", "/v1/models/m/stages/dev", Some(&reader), None);
    assert_eq!(first["allowed"], again["allowed"]);

    // Another author's run gives a new gate result for the same digest,
    // pushed well within the reuse window of the answer just given: the
    // bundle the summary cites changes in the next answer.
    let (_, grown) = s.run_dev("someone-else");
    let (st, pushed) = s.push(&ci, &digest, &grown);
    assert_eq!(st, 200, "{pushed}");
    assert_eq!(pushed["accepted"], 1, "{pushed}");
    let (_, after) = s.call("GET", "/v1/models/m/stages/dev", Some(&reader), None);
    let cited = |v: &serde_json::Value| v["summary"]["payload"].as_str().map(str::to_string);
    assert_ne!(
        cited(&first),
        cited(&after),
        "the answer after a push is decided anew: {}",
        inputs(&after)
    );
}
