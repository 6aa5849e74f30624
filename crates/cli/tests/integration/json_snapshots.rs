//! The `--format json` documents of `scan`, `audit-ci` and `digest` on
//! committed fixtures, as insta snapshots: any change to a format users
//! script against shows up as a reviewed diff of `snapshots/`.
//!
//! Each command runs in the fixtures' own directory with relative paths, so
//! the documents hold no machine path; a filter still redacts the checkout's
//! absolute path in case one slips in.

use std::path::Path;

use assert_cmd::Command;

use crate::support::repo_root;

/// `portcullis ARGS` in `dir`, environment cleaned; stdout as text, after
/// checking the exit code.
fn run_in(dir: &Path, args: &[&str], code: i32) -> String {
    let out = Command::cargo_bin("portcullis")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env("PORTCULLIS_NO_PROGRESS", "1")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(code),
        "portcullis {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Snapshots `text` with the checkout's path and the operating system's
/// wording of I/O errors redacted.
fn snapshot(name: &str, text: &str) {
    let root = regex_escape(&repo_root().display().to_string());
    insta::with_settings!({
        filters => vec![
            (root.as_str(), "[REPO]"),
            (r": [^:;]*\(os error \d+\)", ": [IO ERROR]"),
        ],
        prepend_module_to_snapshot => true,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn scan_fixtures() -> std::path::PathBuf {
    repo_root().join("crates/scan/tests/fixtures")
}

fn ci_fixtures() -> std::path::PathBuf {
    repo_root().join("crates/ci/tests/fixtures")
}

#[test]
fn scan_json_of_code_execution_pickles_is_unchanged() {
    let text = run_in(
        &scan_fixtures(),
        &["scan", "--format", "json", "pickle-code-exec"],
        1,
    );
    snapshot("scan_pickle_code_exec", &text);
}

#[test]
fn scan_json_of_archive_and_gguf_fixtures_with_digests_is_unchanged() {
    let text = run_in(
        &scan_fixtures(),
        &[
            "scan",
            "--format",
            "json",
            "--digests",
            "zip-path-traversal",
            "gguf-template-injection",
            "safetensors-malformed",
        ],
        1,
    );
    snapshot("scan_archives_gguf_safetensors_digests", &text);
}

#[test]
fn scan_json_of_benign_models_is_unchanged() {
    let text = run_in(&scan_fixtures(), &["scan", "--format", "json", "benign"], 0);
    snapshot("scan_benign", &text);
}

#[test]
fn audit_ci_json_of_gate_fixtures_is_unchanged() {
    let text = run_in(
        &ci_fixtures(),
        &[
            "audit-ci",
            "--format",
            "json",
            "deploy-runs-on-gate-failure/gh-always",
            "gate-not-on-deploy-path/gh-sibling",
            "gate-result-swallowed/gitlab-set-e",
            "approval-without-submitter/jenkins-no-submitter",
        ],
        1,
    );
    snapshot("audit_ci_gate_fixtures", &text);
}

#[test]
fn audit_ci_json_of_a_gated_pipeline_is_unchanged() {
    let text = run_in(
        &ci_fixtures(),
        &["audit-ci", "--format", "json", "deploy-without-gate/gh-gated"],
        0,
    );
    snapshot("audit_ci_gated", &text);
}

#[test]
fn audit_ci_json_of_unanalysable_and_other_systems_pipelines_is_unchanged() {
    let text = run_in(
        &ci_fixtures(),
        &[
            "audit-ci",
            "--format",
            "json",
            "--min-severity",
            "medium",
            "pipeline-not-analysable",
            "heldout/azure-swallowed",
            "heldout/argo-steps",
            "heldout/jenkins-bad",
            "heldout/tekton-when",
        ],
        1,
    );
    snapshot("audit_ci_not_analysable_and_other_systems", &text);
}

#[test]
fn digest_hex_and_json_manifests_are_unchanged() {
    let models = repo_root().join("crates/evidence/tests/fixtures/digest/models");
    let hex = run_in(&models, &["digest", "nested"], 0);
    snapshot("digest_nested_hex", &hex);
    let files = run_in(&models, &["digest", "--format", "json", "nested"], 0);
    snapshot("digest_nested_json", &files);
    let shards = run_in(
        &models,
        &[
            "digest",
            "--format",
            "json",
            "--serialization",
            "shards",
            "--shard-size",
            "8",
            "single.bin",
        ],
        0,
    );
    snapshot("digest_single_shards_json", &shards);
}
