//! The `command` gate against real child processes.

use portcullis_evidence::Verdict;
use serde_json::json;

use crate::support::{run_in, spec};

#[test]
fn exit_zero_passes_and_nonzero_fails_with_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let ok = run_in(dir.path(), &spec(json!({"kind": "command", "argv": ["true"]})));
    assert_eq!(ok.verdict, Verdict::Pass, "{:?}", ok.reasons);
    assert_eq!(ok.metrics["exit_code"], 0.0);
    let bad = run_in(
        dir.path(),
        &spec(json!({"kind": "command", "argv": ["sh", "-c", "echo oops >&2; exit 3"]})),
    );
    assert_eq!(bad.verdict, Verdict::Fail);
    assert!(bad.reasons[0].contains("status 3"), "{:?}", bad.reasons);
    assert_eq!(bad.details["stderr_tail"], "oops\n");
}

#[test]
fn report_metrics_are_read_by_pointer_and_judged() {
    let dir = tempfile::tempdir().unwrap();
    let write = r#"echo '{"results": {"asr": 0.25, "ok": true}}' > out.json"#;
    let s = spec(json!({
        "kind": "command",
        "argv": ["sh", "-c", write],
        "report": "out.json",
        "metrics": {"attack_success_rate": "/results/asr", "ok": "/results/ok"},
        "require": {"attack_success_rate": "<= 0.1", "ok": "== 1"}
    }));
    let out = run_in(dir.path(), &s);
    assert_eq!(out.verdict, Verdict::Fail);
    assert_eq!(out.metrics["attack_success_rate"], 0.25);
    assert_eq!(out.reasons.len(), 1, "{:?}", out.reasons);
    assert!(out.reasons[0].contains("attack_success_rate = 0.25 does not meet the threshold <= 0.1"));
    assert_eq!(out.inputs[0].role, "report");
    assert!(out.inputs[0].sha256.is_some());
}

#[test]
fn a_stale_report_from_an_earlier_run_is_never_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("out.json"), r#"{"score": 1}"#).unwrap();
    let s = spec(json!({
        "kind": "command", "argv": ["true"], "report": "out.json",
        "metrics": {"score": "/score"}, "require": {"score": ">= 1"}
    }));
    let out = run_in(dir.path(), &s);
    assert_eq!(out.verdict, Verdict::Error);
    assert!(out.error.unwrap().contains("did not write its report"));
}

#[test]
fn a_missing_pointer_or_non_numeric_value_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec(json!({
        "kind": "command", "argv": ["sh", "-c", "echo '{\"a\": \"x\"}' > r.json"], "report": "r.json",
        "metrics": {"a": "/a"}
    }));
    let out = run_in(dir.path(), &s);
    assert_eq!(out.verdict, Verdict::Error);
    assert!(out.error.unwrap().contains("not a number"));
}

#[test]
fn timeout_kills_the_command_and_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = run_in(
        dir.path(),
        &spec(json!({"kind": "command", "argv": ["sleep", "30"], "timeout": "300ms"})),
    );
    assert!(started.elapsed().as_secs() < 10);
    assert_eq!(out.verdict, Verdict::Error);
    assert!(out.error.unwrap().contains("killed"));
}

#[test]
fn missing_program_and_bad_specs_are_errors_not_passes() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_in(
        dir.path(),
        &spec(json!({"kind": "command", "argv": ["no-such-program-xyz"]})),
    );
    assert_eq!(out.verdict, Verdict::Error);
    assert!(out.error.unwrap().contains("is it installed"));
    for bad in [
        json!({"kind": "command", "argv": []}),
        json!({"kind": "command", "argv": ["true"], "colour": "red"}),
        json!({"kind": "command", "argv": ["true"], "metrics": {"a": "/a"}}),
        json!({"kind": "command", "argv": ["true"], "timeout": "soon"}),
        json!({"kind": "no-such-kind"}),
    ] {
        let out = run_in(dir.path(), &spec(bad.clone()));
        assert_eq!(out.verdict, Verdict::Error, "{bad}");
    }
}

#[test]
fn the_command_sees_the_model_and_seed_in_its_environment() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec(json!({
        "kind": "command",
        "argv": ["sh", "-c", "test \"$PORTCULLIS_SEED\" = 7 && test -n \"$PORTCULLIS_MODEL\" && test \"$X\" = y"],
        "env": {"X": "y"}
    }));
    assert_eq!(run_in(dir.path(), &s).verdict, Verdict::Pass);
}
