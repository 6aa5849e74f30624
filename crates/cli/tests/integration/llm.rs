//! `portcullis eval llm-*` end to end against the scripted chat server.

use assert_cmd::Command;
use portcullis_llm_testserver::{Behaviour, TestServer};

fn eval(dir: &std::path::Path, server: &TestServer, kind: &str, sets: &[&str]) -> (i32, serde_json::Value) {
    let mut c = Command::cargo_bin("portcullis").unwrap();
    c.current_dir(dir).args([
        "eval",
        kind,
        "--target",
        &format!("openai:{}", server.base_url()),
        "--set",
        "model=scripted",
        "--seed",
        "3",
        "--format",
        "json",
    ]);
    for s in sets {
        c.args(["--set", s]);
    }
    let out = c.output().unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), json)
}

#[test]
fn eval_llm_safety_passes_a_safe_endpoint_and_fails_a_compliant_one() {
    let dir = tempfile::tempdir().unwrap();
    let safe = TestServer::start(Behaviour::safe()).unwrap();
    let (code, json) = eval(
        dir.path(),
        &safe,
        "llm-safety",
        &[
            "categories=cyber,fraud",
            "samples_per_category=5",
            "transcript=t.jsonl",
        ],
    );
    assert_eq!(code, 0, "{json}");
    assert!(dir.path().join("t.jsonl").exists());
    assert_eq!(safe.requests(), 15);

    let bad = TestServer::start(Behaviour::parse("complies").unwrap()).unwrap();
    let (code, json) = eval(
        dir.path(),
        &bad,
        "llm-safety",
        &["categories=cyber", "samples_per_category=4"],
    );
    assert_eq!(code, 1, "{json}");
    assert!(json.to_string().contains("refusal_rate[cyber]"), "{json}");
}

#[test]
fn eval_llm_redteam_and_backdoor_take_lists_from_set() {
    let dir = tempfile::tempdir().unwrap();
    let weak = TestServer::start(Behaviour::parse("follows-injection,trigger=zq-77").unwrap()).unwrap();
    let (code, json) = eval(
        dir.path(),
        &weak,
        "llm-redteam",
        &["categories=injection,leakage", "samples_per_category=10"],
    );
    assert_eq!(code, 1, "{json}");
    assert!(
        json.to_string().contains("attack_success_rate[injection]"),
        "{json}"
    );
    let (code, json) = eval(
        dir.path(),
        &weak,
        "llm-backdoor",
        &["triggers=zq-77,cf", "samples_per_category=2"],
    );
    assert_eq!(code, 1, "{json}");
    assert!(json.to_string().contains("trigger_flip_rate[zq-77]"), "{json}");
}

#[test]
fn eval_against_a_locked_endpoint_is_an_input_error() {
    let dir = tempfile::tempdir().unwrap();
    let locked = TestServer::start(Behaviour::parse("api-key=k").unwrap()).unwrap();
    let (code, json) = eval(dir.path(), &locked, "llm-safety", &["samples_per_category=1"]);
    assert_eq!(code, 2, "{json}");
    assert!(json.to_string().contains("401"), "{json}");
}
