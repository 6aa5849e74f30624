//! `portcullis audit-ci` end to end: the real binary on fixture pipelines.
#![allow(clippy::unwrap_used, reason = "test helpers panic on a missing binary")]

use std::path::PathBuf;

use assert_cmd::Command;

fn fixture(rule: &str, case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ci/tests/fixtures")
        .join(rule)
        .join(case)
}

fn portcullis() -> Command {
    let mut cmd = Command::cargo_bin("portcullis").unwrap();
    cmd.env("NO_COLOR", "1").env("PORTCULLIS_NO_PROGRESS", "1");
    cmd
}

#[test]
fn audit_ci_exits_1_on_a_deploy_without_gate_and_prints_json_findings() {
    let out = portcullis()
        .args(["audit-ci", "--format", "json"])
        .arg(fixture("deploy-without-gate", "gh-azureml-no-gate"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["rule"], "deploy-without-gate");
    assert_eq!(f["location"]["line"], 23);
}

#[test]
fn audit_ci_exits_0_on_a_gated_pipeline_and_respects_fail_on() {
    portcullis()
        .arg("audit-ci")
        .arg(fixture("deploy-without-gate", "gh-gated"))
        .assert()
        .code(0);
    // A medium finding passes the default bar (high) but fails a medium bar.
    let case = fixture("gate-unpinned", "gh-action-branch");
    portcullis().arg("audit-ci").arg(&case).assert().code(0);
    portcullis()
        .args(["audit-ci", "--fail-on", "medium"])
        .arg(&case)
        .assert()
        .code(1);
}

#[test]
fn audit_ci_exits_2_on_unparseable_pipelines_and_bad_config() {
    let dir = std::env::temp_dir().join(format!("portcullis-cli-audit-{}", std::process::id()));
    std::fs::create_dir_all(dir.join(".github/workflows")).unwrap();
    std::fs::write(dir.join(".github/workflows/x.yml"), "jobs: [\n").unwrap();
    let out = portcullis().arg("audit-ci").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid yaml"));
    std::fs::write(dir.join("cfg.yml"), "ignore:\n  - rule: nope\n").unwrap();
    let out = portcullis()
        .args(["audit-ci", "--config"])
        .arg(dir.join("cfg.yml"))
        .arg(fixture("deploy-without-gate", "gh-gated"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn audit_ci_sarif_lists_rules_with_help_uris() {
    let out = portcullis()
        .args(["audit-ci", "--format", "sarif"])
        .arg(fixture("fake-gate", "gh-echo-eval"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    assert!(v["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"]
        .as_str()
        .unwrap()
        .contains("audit-ci.md#"));
    assert_eq!(v["runs"][0]["results"][0]["ruleId"], "fake-gate");
}
