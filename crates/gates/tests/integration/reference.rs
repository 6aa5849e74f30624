//! The reference gate: clean retrains pass, poisoned candidates fail.

use portcullis_evidence::Verdict;
use serde_json::json;

use crate::support::{adult_data, classic_expected, close, digits_data, run_classic, spec};

fn reference_spec() -> portcullis_evidence::GateSpec {
    spec(json!({"kind": "reference", "require": {
        "accuracy_delta": ">= -0.03",
        "agreement": ">= 0.9",
        "flip_concentration_p_value": ">= 0.01"
    }}))
}

#[test]
fn five_clean_retrains_pass_against_production() {
    let exp = classic_expected();
    for s in 1..=5 {
        let name = format!("digits_clean_{s}");
        let out = run_classic(
            &reference_spec(),
            &format!("{name}.onnx"),
            Some("digits_production.onnx"),
            digits_data(),
        );
        assert_eq!(
            out.verdict,
            Verdict::Pass,
            "{name}: {:?} {:?}",
            out.reasons,
            out.error
        );
        close(
            &format!("{name} agreement"),
            out.metrics.get("agreement").copied(),
            exp[&name]["agreement"].as_f64().unwrap(),
        );
        close(
            &format!("{name} accuracy_delta"),
            out.metrics.get("accuracy_delta").copied(),
            exp[&name]["accuracy_delta"].as_f64().unwrap(),
        );
        assert_eq!(
            out.inputs.iter().map(|i| i.role.as_str()).collect::<Vec<_>>(),
            ["model", "reference", "data"]
        );
    }
}

#[test]
fn poisoned_candidates_fail_on_flip_concentration() {
    let exp = classic_expected();
    for pct in [5, 10] {
        let name = format!("digits_poisoned_{pct}");
        let out = run_classic(
            &reference_spec(),
            &format!("{name}.onnx"),
            Some("digits_production.onnx"),
            digits_data(),
        );
        assert_eq!(out.verdict, Verdict::Fail, "{name}");
        assert!(
            out.reasons
                .iter()
                .any(|r| r.contains("flip_concentration_p_value")),
            "{name}: {:?}",
            out.reasons
        );
        assert_eq!(
            out.details["concentration_test"]["most_concentrated_class"],
            json!("3")
        );
        let flips: Vec<u64> = serde_json::from_value(exp[&name]["flips_to"].clone()).unwrap();
        for (c, f) in flips.iter().enumerate() {
            assert_eq!(
                out.metrics[&format!("flips_to[class={c}]")],
                *f as f64,
                "{name} class {c}"
            );
        }
        assert!(out
            .findings
            .iter()
            .any(|f| f.rule == "reference/flip-concentration"));
    }
}

#[test]
fn a_reference_with_another_signature_is_an_error() {
    let out = run_classic(
        &reference_spec(),
        "digits_clean_1.onnx",
        Some("adult_rf.onnx"),
        digits_data(),
    );
    assert_eq!(out.verdict, Verdict::Error);
    assert!(out.error.unwrap().contains("different input"));
    let out = run_classic(&reference_spec(), "adult_rf.onnx", None, adult_data());
    assert_eq!(out.verdict, Verdict::Error);
    assert!(out.error.unwrap().contains("needs a reference model"));
}
