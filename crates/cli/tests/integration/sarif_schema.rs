//! SARIF checked against the OASIS SARIF 2.1.0 JSON Schema (draft-07),
//! vendored byte-identical under `tests/fixtures/sarif-schema/`. Every
//! command that emits SARIF (`scan`, `audit-ci`, `run`, `decide`, `eval`)
//! feeds its output to [`assert_valid_sarif`] from its own test file.

use std::path::PathBuf;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// The `$id` the schema declares; used as its resource name so nothing is
/// ever fetched.
const SCHEMA_ID: &str =
    "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json";

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sarif-schema/sarif-schema-2.1.0.json")
}

/// The schema's validation of `log`, with every error and its instance
/// path as text (`Ok` when valid). Format assertions (`uri`, `date-time`,
/// …) are on: a SARIF consumer parses them.
pub fn sarif_schema_errors(log: &Value) -> Result<(), String> {
    let schema: Value = serde_json::from_slice(&std::fs::read(schema_path()).unwrap()).unwrap();
    let mut compiler = boon::Compiler::new();
    compiler.enable_format_assertions();
    compiler.add_resource(SCHEMA_ID, schema).unwrap();
    let mut schemas = boon::Schemas::new();
    let index = compiler.compile(SCHEMA_ID, &mut schemas).unwrap();
    schemas.validate(log, index).map_err(|e| format!("{e:#}"))
}

/// Panics with the schema's complaints when `log` is not valid SARIF 2.1.0.
pub fn assert_valid_sarif(log: &Value, what: &str) {
    if let Err(e) = sarif_schema_errors(log) {
        panic!("{what}: SARIF rejected by the 2.1.0 schema:\n{e}");
    }
}

/// Parses stdout as JSON and checks it against the schema.
pub fn valid_sarif_stdout(stdout: &[u8], what: &str) -> Value {
    let log: Value =
        serde_json::from_slice(stdout).unwrap_or_else(|e| panic!("{what}: stdout is not JSON: {e}"));
    assert_valid_sarif(&log, what);
    log
}

#[test]
fn the_vendored_schema_is_the_published_file() {
    let bytes = std::fs::read(schema_path()).unwrap();
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        digest,
        "dab33ff9cba60ce2786f72fcb93ca129d00ccc0c6b25815fdd80d21d69c7a70a"
    );
}

#[test]
fn the_validator_rejects_logs_that_break_the_schema() {
    let ok = serde_json::json!({
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "t"}}, "results": [
            {"message": {"text": "m"}, "level": "error", "locations": [
                {"physicalLocation": {"artifactLocation": {"uri": "a/b.yml"},
                 "region": {"startLine": 1, "startColumn": 1}}}]}]}]
    });
    assert_valid_sarif(&ok, "minimal log");
    let mut bad_level = ok.clone();
    bad_level["runs"][0]["results"][0]["level"] = "fatal".into();
    let mut zero_line = ok.clone();
    zero_line["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0.into();
    let mut bad_uri = ok.clone();
    bad_uri["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] =
        "a b/{{x}}.yml".into();
    let mut unknown_key = ok.clone();
    unknown_key["runs"][0]["results"][0]["severity"] = "high".into();
    let mut no_message = ok;
    no_message["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    for (name, log) in [
        ("level", bad_level),
        ("startLine", zero_line),
        ("uri", bad_uri),
        ("unknown key", unknown_key),
        ("message", no_message),
    ] {
        assert!(sarif_schema_errors(&log).is_err(), "{name} accepted");
    }
}
