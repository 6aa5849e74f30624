//! `portcullis scan` end to end on the scanner's committed fixtures.

use assert_cmd::Command;

use crate::sarif_schema::valid_sarif_stdout;
use crate::support::repo_root;

fn fixture(rel: &str) -> String {
    repo_root()
        .join("crates/scan/tests/fixtures")
        .join(rel)
        .display()
        .to_string()
}

fn scan(args: &[&str]) -> assert_cmd::assert::Assert {
    let mut c = Command::cargo_bin("portcullis").unwrap();
    c.arg("scan").args(args).env("NO_COLOR", "1");
    c.assert()
}

#[test]
fn scan_fails_a_code_execution_pickle_with_exit_1() {
    let out = scan(&[&fixture("pickle-code-exec/pytorch_zip_payload.pt")]).code(1);
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("[critical] pickle-code-exec"), "{text}");
    assert!(text.contains("archive/data.pkl@2"), "{text}");
    assert!(text.contains("FAIL: 1 at or above high"), "{text}");
}

#[test]
fn scan_passes_a_scikit_learn_model_with_a_note_and_strict_fails_it() {
    let out = scan(&[&fixture("benign/logreg.joblib")]).code(0);
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("[medium] pickle-unknown-global"), "{text}");
    scan(&["--strict", &fixture("benign/logreg.joblib")]).code(1);
    scan(&["--fail-on", "medium", &fixture("benign/logreg.joblib")]).code(1);
}

#[test]
fn scan_emits_sarif_with_rule_metadata_and_fingerprints() {
    let out = scan(&["--format", "sarif", &fixture("gguf-template-injection/ssti.gguf")]).code(1);
    let log = valid_sarif_stdout(&out.get_output().stdout, "scan ssti.gguf");
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["id"] == "gguf-template-injection"
        && r["helpUri"]
            .as_str()
            .unwrap()
            .ends_with("scan.md#gguf-template-injection")));
    let result = &run["results"][0];
    assert_eq!(result["ruleId"], "gguf-template-injection");
    assert_eq!(
        result["partialFingerprints"]["portcullisFinding/v1"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
}

#[test]
fn scan_json_lists_files_with_digests_when_asked() {
    let out = scan(&["--format", "json", &fixture("benign/tiny.safetensors")]).code(0);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["files"][0]["formats"][0], "safetensors");
    assert!(v["files"][0]["sha256"].is_null());
    let out = scan(&[
        "--format",
        "json",
        "--digests",
        &fixture("benign/tiny.safetensors"),
    ])
    .code(0);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["files"][0]["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn json_and_sarif_carry_the_same_fingerprints() {
    let dir = fixture("pickle-nested-load");
    let json = scan(&["--format", "json", &dir]).code(1);
    let json: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    let sarif = scan(&["--format", "sarif", "--digests", &dir]).code(1);
    let sarif: serde_json::Value = serde_json::from_slice(&sarif.get_output().stdout).unwrap();
    let from_json: Vec<&str> = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fingerprint"].as_str().unwrap())
        .collect();
    let from_sarif: Vec<&str> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["partialFingerprints"]["portcullisFinding/v1"].as_str().unwrap())
        .collect();
    assert!(from_json.len() >= 3, "{from_json:?}");
    assert_eq!(from_json, from_sarif);
}

#[test]
fn scan_of_an_empty_directory_is_exit_2_not_clean() {
    let dir = tempfile::tempdir().unwrap();
    let out = scan(&[&dir.path().display().to_string()]).code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("nothing scanned"), "{err}");
}

#[test]
fn scan_sarif_of_every_scanner_fixture_passes_the_schema() {
    let out = scan(&["--format", "sarif", &fixture("")]).code(1);
    let log = valid_sarif_stdout(&out.get_output().stdout, "scan of the scanner's fixtures");
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert!(results.len() > 30, "{}", results.len());
}
