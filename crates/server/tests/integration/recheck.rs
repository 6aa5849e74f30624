//! Re-check jobs through the API: what an agent may and may not make the
//! registry believe, and what a failed re-check does to the deploy-time
//! answer under `flag` and under `revoke`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use portcullis_engine::store::DirStore;
use portcullis_engine::{Clock, FixedClock, Silent, StageRequest};
use portcullis_evidence::SigningKey;
use portcullis_server::auth::{Caller, Role};
use portcullis_server::store::{SqliteStore, Store};
use portcullis_server::{Config, Registry};
use serde_json::{json, Value};

use crate::support::{dup, start_on, start_with, write_keys, Backend, Server, TestDb, BOOT};

fn policy(on_fail: &str) -> String {
    format!(
        r#"
version: 1
model: {{ path: model }}
trust:
  runners:
    - {{ name: ci, key: ci.pub }}
stages:
  dev:
    gates: [smoke]
    recheck: {{ every: 1h, gates: [probe]{on_fail} }}
gates:
  smoke: {{ kind: command, argv: ["true"] }}
  probe: {{ kind: command, argv: [sh, -c, "test ! -e drifted"] }}
"#
    )
}

/// The probe gate's signed result, as an agent would produce it, signed
/// with `key` at `clock`'s time.
fn probe_result(s: &Server, key: &SigningKey, clock: &dyn Clock) -> Value {
    let policy = portcullis_engine::load_policy(&s.path().join("portcullis.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = DirStore::new(dir.path());
    let only = ["probe".to_string()];
    let eval = portcullis_engine::evaluate_stage(
        &StageRequest {
            policy: &policy,
            stage: "dev",
            only: &only,
            model: None,
            author: Some("agent"),
            seed: 0,
            deadline: None,
        },
        &store,
        key,
        clock,
        &Silent,
    )
    .unwrap();
    let text = std::fs::read_to_string(store.bundle_path(&eval.manifest.digest)).unwrap();
    serde_json::from_str(text.lines().last().unwrap()).unwrap()
}

fn promoted(s: &Server) -> (String, String) {
    let ci = s.token("ci", "runner");
    let (digest, bundle) = s.run_dev("dev");
    assert_eq!(s.push(&ci, &digest, &bundle).0, 200);
    let (_, r) = s.promote(&ci, "dev", &digest);
    assert_eq!(r["state"], "promoted", "{r}");
    (ci, bundle)
}

fn claim(s: &Server, token: &str, agent: &str) -> (u16, Value) {
    s.call(
        "POST",
        "/v1/jobs/claim",
        Some(token),
        Some(&json!({"agent": agent, "models": ["m"]}).to_string()),
    )
}

fn finish(s: &Server, token: &str, id: &Value, body: Value) -> (u16, Value) {
    s.call(
        "POST",
        &format!("/v1/jobs/{id}/finish"),
        Some(token),
        Some(&body.to_string()),
    )
}

fn recheck_now(s: &Server) -> Value {
    let (st, v) = s.call("POST", "/v1/models/m/stages/dev/recheck", Some(BOOT), Some("{}"));
    assert_eq!(st, 201, "{v}");
    v
}

fn stage(s: &Server, token: &str) -> Value {
    let (st, v) = s.call("GET", "/v1/models/m/stages/dev", Some(token), None);
    assert_eq!(st, 200, "{v}");
    v
}

#[test]
fn only_a_verified_fresh_result_of_the_jobs_gate_ends_a_job_and_revoke_denies() {
    let s = start_with(&policy(", on_fail: revoke"));
    revoke_flow(&s);
    // The reviewer sees it on the models page: the stage revoked, with the
    // job and what it found, and the recent re-checks.
    let Some(b) = portcullis_webdriver::Browser::for_test("recheck_ui") else {
        return;
    };
    let reader = s.token("reviewer", "reader");
    b.goto(&format!("{}/ui/login", s.url)).unwrap();
    b.type_text(&b.find("input#token").unwrap(), &reader).unwrap();
    b.click(&b.find("form.decide button[type='submit']").unwrap())
        .unwrap();
    b.wait_for("strong.who").unwrap();
    b.goto(&format!("{}/ui/models", s.url)).unwrap();
    let risk = b.text(&b.find("tr[data-stage='dev'] td.risk").unwrap()).unwrap();
    assert!(
        risk.contains("revoked") && risk.contains("probe failed"),
        "{risk}"
    );
    let jobs = b.find_all("table.jobs tbody tr").unwrap();
    assert_eq!(jobs.len(), 3);
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    b.screenshot(&shots.join("ui-models-revoked.png"), true).unwrap();
}

#[test]
fn only_a_verified_fresh_result_of_the_jobs_gate_ends_a_job_and_revoke_denies_on_postgres() {
    let Some(db) = TestDb::create() else { return };
    revoke_flow(&start_on(
        &policy(", on_fail: revoke"),
        Backend::Postgres(db.url.clone()),
    ));
}

fn revoke_flow(s: &Server) {
    let (ci, bundle) = promoted(s);
    let reader = s.token("deploy", "reader");
    let v = recheck_now(s);
    assert_eq!(v["jobs"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["jobs"][0]["on_fail"], "revoke");
    // A second request while one is pending adds nothing.
    assert_eq!(recheck_now(s)["jobs"].as_array().unwrap().len(), 0);
    // Readers and approvers cannot claim; admins only enqueue.
    assert_eq!(claim(s, &reader, "x").0, 403);
    assert_eq!(
        s.call("POST", "/v1/models/m/stages/dev/recheck", Some(&ci), Some("{}"))
            .0,
        403
    );

    // 1: the agent could not run it: given back for another attempt.
    let (st, job) = claim(s, &ci, "a");
    assert_eq!(st, 200, "{job}");
    assert_eq!(job["gate"], "probe");
    let id = job["id"].clone();
    let (_, v) = finish(s, &ci, &id, json!({"agent": "a", "error": "no GPU"}));
    assert_eq!(v["state"], "queued", "{v}");
    // 2: a result signed by a key the policy does not trust does not count.
    let (_, job) = claim(s, &ci, "a");
    assert_eq!(job["attempts"], 2, "{job}");
    let forged = probe_result(s, s.key("mallory"), &portcullis_engine::SystemClock);
    let (_, v) = finish(s, &ci, &id, json!({"agent": "a", "envelope": forged}));
    assert_eq!(v["state"], "queued", "{v}");
    assert!(v["reason"].as_str().unwrap().contains("does not count"), "{v}");
    // Another agent of the same token cannot finish a job it does not hold.
    let (st, _) = finish(s, &ci, &id, json!({"agent": "b", "error": "x"}));
    assert_eq!(st, 409);
    // 3: a trusted result of another gate does not count either; the third
    // failed attempt ends the job as an error: at risk, not revoked.
    let (_, job) = claim(s, &ci, "a");
    assert_eq!(job["attempts"], 3, "{job}");
    let smoke: Value = serde_json::from_str(bundle.lines().next().unwrap()).unwrap();
    let (_, v) = finish(s, &ci, &id, json!({"agent": "a", "envelope": smoke}));
    assert_eq!(v["state"], "error", "{v}");
    assert!(
        v["reason"].as_str().unwrap().contains("the job re-runs 'probe'"),
        "{v}"
    );
    let view = stage(s, &reader);
    assert_eq!(view["at_risk"].as_array().unwrap().len(), 1, "{view}");
    assert_eq!(view["at_risk"][0]["revokes"], false, "{view}");
    assert_eq!(view["allowed"], true, "an agent's error never revokes: {view}");
    let (st, v) = s.call(
        "POST",
        "/v1/models/m/stages/dev/risks/clear",
        Some(BOOT),
        Some(r#"{"comment":"agent misconfigured"}"#),
    );
    assert_eq!((st, v["cleared"].clone()), (200, json!(1)), "{v}");
    assert!(stage(s, &reader)["at_risk"].as_array().unwrap().is_empty());

    // A trusted result signed before the job was queued is a replay.
    recheck_now(s);
    let (_, job) = claim(s, &ci, "a");
    let id = job["id"].clone();
    let old = FixedClock(SystemTime::now() - Duration::from_secs(3 * 3600));
    let stale = probe_result(s, s.key("ci"), &old);
    let (_, v) = finish(s, &ci, &id, json!({"agent": "a", "envelope": stale}));
    assert!(
        v["reason"]
            .as_str()
            .unwrap()
            .contains("before the job was queued"),
        "{v}"
    );
    // A fresh passing result ends it passed.
    let (_, job) = claim(s, &ci, "a");
    assert_eq!(job["id"], id);
    let (_, v) = finish(
        s,
        &ci,
        &id,
        json!({"agent": "a", "envelope": probe_result(s, s.key("ci"), &portcullis_engine::SystemClock)}),
    );
    assert_eq!(v["state"], "passed", "{v}");
    assert_eq!(stage(s, &reader)["allowed"], true);

    // The model drifts: a fresh failing result revokes the digest, and the
    // signed summary says so.
    std::fs::write(s.path().join("drifted"), b"").unwrap();
    recheck_now(s);
    let (_, job) = claim(s, &ci, "a");
    let failing = probe_result(s, s.key("ci"), &portcullis_engine::SystemClock);
    let (_, v) = finish(s, &ci, &job["id"], json!({"agent": "a", "envelope": failing}));
    assert_eq!(v["state"], "failed", "{v}");
    let view = stage(s, &reader);
    assert_eq!(
        (view["allowed"].clone(), view["revoked"].clone()),
        (json!(false), json!(true)),
        "{view}"
    );
    let reasons = view["decision"]["decision"]["reasons"].as_array().unwrap();
    assert!(
        reasons
            .iter()
            .any(|r| r["code"] == "revoked" && r["gate"] == "probe"),
        "{view}"
    );
    let payload = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        view["summary"]["payload"].as_str().unwrap(),
    )
    .unwrap();
    let summary: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(summary["predicate"]["verificationResult"], "FAILED", "{summary}");
    // Listed, newest first, with who ran them.
    let (_, jobs) = s.call("GET", "/v1/jobs?model=m", Some(&reader), None);
    let states: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["failed", "passed", "error"], "{jobs}");
    assert_eq!(jobs["jobs"][0]["agent"], "ci/a");
    // The log has every enqueue and every end.
    let (_, cp) = s.call("GET", "/v1/log/checkpoint", Some(&reader), None);
    let size = cp.as_str().unwrap().lines().nth(1).unwrap().to_string();
    let (st, entries) = s.call(
        "GET",
        &format!("/v1/log/entries?start=0&end={size}"),
        Some(&reader),
        None,
    );
    assert_eq!(st, 200, "{entries}");
    for e in [
        "recheck.queued",
        "recheck.retry",
        "recheck.finished",
        "recheck.cleared",
    ] {
        assert!(entries_contain(&entries, e), "{e} not logged");
    }
}

fn entries_contain(entries: &Value, event: &str) -> bool {
    entries["entries"].as_array().is_some_and(|es| {
        es.iter().any(|e| {
            e.as_str()
                .and_then(|b| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b).ok())
                .is_some_and(|bytes| String::from_utf8_lossy(&bytes).contains(event))
        })
    })
}

#[test]
fn under_flag_a_failed_recheck_marks_the_stage_at_risk_and_denies_nothing() {
    let s = start_with(&policy(""));
    let (ci, _) = promoted(&s);
    let reader = s.token("deploy", "reader");
    std::fs::write(s.path().join("drifted"), b"").unwrap();
    let v = recheck_now(&s);
    assert_eq!(v["jobs"][0]["on_fail"], "flag");
    let (_, job) = claim(&s, &ci, "a");
    let failing = probe_result(&s, s.key("ci"), &portcullis_engine::SystemClock);
    let (_, v) = finish(&s, &ci, &job["id"], json!({"agent": "a", "envelope": failing}));
    assert_eq!(v["state"], "failed", "{v}");
    let view = stage(&s, &reader);
    assert_eq!(view["allowed"], true, "{view}");
    assert_eq!(view["revoked"], false, "{view}");
    assert_eq!(view["at_risk"][0]["gate"], "probe", "{view}");
}

/// A clock the test moves.
struct Manual(Mutex<SystemTime>);

impl Clock for Manual {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

impl Manual {
    fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += d;
    }
}

#[test]
fn rechecks_are_due_every_interval_after_the_move_and_a_dead_agents_lease_passes_on() {
    let dir = tempfile::tempdir().unwrap();
    let keys = write_keys(dir.path(), &["ci"]);
    std::fs::write(dir.path().join("portcullis.yaml"), policy(", on_fail: revoke")).unwrap();
    std::fs::create_dir_all(dir.path().join("model")).unwrap();
    std::fs::write(dir.path().join("model/w.bin"), b"w").unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::memory().unwrap());
    let clock = Arc::new(Manual(Mutex::new(SystemTime::now())));
    let reg = Registry::open(
        store,
        Config {
            policies: vec![("m".into(), dir.path().join("portcullis.yaml"))],
            key: SigningKey::generate(),
            origin: "test".into(),
            bootstrap_token: None,
        },
        clock.clone(),
    )
    .unwrap();
    let runner = Caller {
        identity: "ci".into(),
        role: Role::Runner,
    };
    // Nothing in the stage: nothing to schedule.
    assert!(reg.schedule_rechecks().unwrap().is_empty());
    let policy = portcullis_engine::load_policy(&dir.path().join("portcullis.yaml")).unwrap();
    let ev = DirStore::new(dir.path().join("evidence"));
    let eval = portcullis_engine::evaluate_stage(
        &StageRequest {
            policy: &policy,
            stage: "dev",
            only: &[],
            model: None,
            author: Some("dev"),
            seed: 0,
            deadline: None,
        },
        &ev,
        &dup(&keys[0].1),
        clock.as_ref(),
        &Silent,
    )
    .unwrap();
    let bundle = std::fs::read_to_string(ev.bundle_path(&eval.manifest.digest)).unwrap();
    let digest = eval.manifest.digest.to_hex();
    reg.push(&runner, "m", &digest, &bundle).unwrap();
    reg.open_request(&runner, "m", "dev", &digest).unwrap();

    clock.advance(Duration::from_secs(30 * 60));
    assert!(
        reg.schedule_rechecks().unwrap().is_empty(),
        "not due 30 min after the move"
    );
    clock.advance(Duration::from_secs(31 * 60));
    assert_eq!(
        reg.schedule_rechecks().unwrap().len(),
        1,
        "due an hour after the move"
    );
    assert!(
        reg.schedule_rechecks().unwrap().is_empty(),
        "one pending job per gate"
    );

    let first = reg.claim_job(&runner, "a", &[]).unwrap().unwrap();
    assert!(reg.claim_job(&runner, "b", &[]).unwrap().is_none(), "leased");
    // Agent a dies; its lease runs out and b takes the job over.
    clock.advance(portcullis_server::registry::LEASE + Duration::from_secs(1));
    let taken = reg.claim_job(&runner, "b", &[]).unwrap().unwrap();
    assert_eq!((taken.id, taken.attempts), (first.id, 2));
    assert_eq!(taken.agent.as_deref(), Some("ci/b"));
    // a comes back: its renewal is refused.
    assert!(reg.renew_job(&runner, "a", first.id).is_err());
    reg.renew_job(&runner, "b", first.id).unwrap();
    // Lost agents again and again: the job ends as an error rather than loop.
    for _ in 0..3 {
        clock.advance(portcullis_server::registry::LEASE + Duration::from_secs(1));
        let _ = reg.claim_job(&runner, "c", &[]).unwrap();
    }
    let jobs = reg.jobs(&runner, Some("m")).unwrap();
    assert_eq!(jobs[0].state, "error", "{jobs:?}");
    assert!(jobs[0]
        .reason
        .as_deref()
        .unwrap()
        .contains("claims ended without a result"));

    // The next run is due an interval after the last one was queued.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(reg.schedule_rechecks().unwrap().len(), 1, "{jobs:?}");
}
