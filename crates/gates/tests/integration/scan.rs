//! The `scan` gate over real fixture files.

use std::path::Path;

use portcullis_evidence::Verdict;
use serde_json::json;

use crate::support::{run_model, spec};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn a_pickle_that_runs_code_fails_the_gate_with_critical_findings() {
    let dir = tempfile::tempdir().unwrap();
    let src = root().join("crates/scan/tests/fixtures/pickle-code-exec/builtins_exec.pkl");
    std::fs::copy(src, dir.path().join("model.pkl")).unwrap();
    let out = run_model(dir.path(), &spec(json!({"kind": "scan"})));
    assert_eq!(out.verdict, Verdict::Fail, "{:?}", out.reasons);
    assert!(out.metrics["findings[critical]"] >= 1.0);
    assert!(out.reasons[0].contains("at or above 'high'"), "{:?}", out.reasons);
    assert_eq!(out.inputs.len(), 1);
    // Evidence binds the scanned file: the gate asks the scanner for digests.
    let bytes = std::fs::read(dir.path().join("model.pkl")).unwrap();
    let want = portcullis_evidence::Sha256Digest(<sha2::Sha256 as sha2::Digest>::digest(&bytes).into());
    assert_eq!(out.inputs[0].sha256, Some(want));
}

#[test]
fn a_benign_safetensors_model_passes() {
    let out = run_model(
        &root().join("examples/quickstart/model"),
        &spec(json!({"kind": "scan"})),
    );
    assert_eq!(out.verdict, Verdict::Pass, "{:?} {:?}", out.reasons, out.findings);
    assert_eq!(out.metrics["files_scanned"], 3.0);
}

#[test]
fn an_empty_model_directory_is_an_error_not_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_model(dir.path(), &spec(json!({"kind": "scan"})));
    assert_eq!(out.verdict, Verdict::Error);
    assert!(out.error.unwrap().contains("nothing scanned"));
    let out = run_model(dir.path(), &spec(json!({"kind": "scan", "fail_on": "severe"})));
    assert_eq!(out.verdict, Verdict::Error);
}
