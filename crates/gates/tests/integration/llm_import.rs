//! garak and promptfoo reports imported by the `command` gate.

use portcullis_evidence::Verdict;
use serde_json::{json, Value};

use crate::support::{run_in, spec};

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/llm-import/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn expected(tool: &str) -> serde_json::Map<String, Value> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap();
    v[tool].as_object().unwrap().clone()
}

fn assert_metrics(got: &portcullis_evidence::Metrics, want: &serde_json::Map<String, Value>) {
    for (k, v) in want {
        let g = got.get(k).unwrap_or_else(|| panic!("missing {k} in {got:?}"));
        assert!((g - v.as_f64().unwrap()).abs() < 1e-9, "{k}: {g} != {v}");
    }
    let imported = got.keys().filter(|k| *k != "exit_code").count();
    assert_eq!(imported, want.len(), "{got:?}");
}

#[test]
fn a_garak_report_imports_to_per_probe_and_detector_pass_rates() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec(json!({
        "kind": "command",
        "argv": ["cp", fixture("garak.report.jsonl"), "garak.report.jsonl"],
        "report": "garak.report.jsonl",
        "format": "garak",
        "require": {"attack_success_rate[*]": "<= 0.2"}
    }));
    let out = run_in(dir.path(), &s);
    assert_metrics(&out.metrics, &expected("garak"));
    assert_eq!(out.verdict, Verdict::Fail);
    let failed: Vec<_> = out
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.metric.as_str())
        .collect();
    assert_eq!(
        failed,
        vec![
            "attack_success_rate[dan.Dan_11_0/mitigation.MitigationBypass]",
            "attack_success_rate[dan.Dan_11_0]"
        ]
    );
}

#[test]
fn a_promptfoo_report_imports_to_plugin_and_strategy_pass_rates() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec(json!({
        "kind": "command",
        "argv": ["cp", fixture("promptfoo.results.json"), "results.json"],
        "report": "results.json",
        "format": "promptfoo",
        "require": {"pass_rate[plugin=*]": ">= 0.5", "errors": "== 0"}
    }));
    let out = run_in(dir.path(), &s);
    assert_metrics(&out.metrics, &expected("promptfoo"));
    assert_eq!(out.verdict, Verdict::Fail);
    assert!(
        out.reasons
            .iter()
            .any(|r| r.contains("pass_rate[plugin=pii:direct]")),
        "{:?}",
        out.reasons
    );
    assert!(
        out.reasons.iter().any(|r| r.contains("errors = 1")),
        "{:?}",
        out.reasons
    );
}

#[test]
fn unfinished_or_foreign_reports_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("partial.jsonl"),
        "{\"entry_type\": \"init\", \"garak_version\": \"0.13.0\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("cut.jsonl"),
        "{\"entry_type\": \"eval\", \"probe\": \"dan.X\", \"detec",
    )
    .unwrap();
    std::fs::write(dir.path().join("other.json"), "{\"results\": []}").unwrap();
    for (file, format, needle) in [
        ("partial.jsonl", "garak", "no `eval` rows"),
        ("cut.jsonl", "garak", "line 1"),
        ("other.json", "promptfoo", "not a promptfoo results file"),
    ] {
        let s = spec(json!({
            "kind": "command", "argv": ["true"], "report": file, "format": format
        }));
        // The gate removes a stale report before running; write it from the command instead.
        let body = std::fs::read_to_string(dir.path().join(file)).unwrap();
        let mut s2 = s.clone();
        s2.params.insert(
            "argv".into(),
            json!([
                "sh",
                "-c",
                format!("printf '%s' '{}' > {file}", body.replace('\'', "'\\''"))
            ]),
        );
        let out = run_in(dir.path(), &s2);
        assert_eq!(out.verdict, Verdict::Error, "{file}");
        let err = out.error.unwrap();
        assert!(err.contains(needle), "{file}: {err}");
    }
}
