//! The fairness gate against fairlearn's MetricFrame on the same files.

use portcullis_evidence::Verdict;
use serde_json::json;

use crate::support::{adult_data, classic_expected, close, run_classic, spec};

#[test]
fn group_metrics_and_disparities_match_fairlearn() {
    let exp = classic_expected();
    for model in ["adult_rf", "adult_logreg"] {
        let out = run_classic(
            &spec(json!({"kind": "fairness", "require": {"count[*]": ">= 0"}})),
            &format!("{model}.onnx"),
            None,
            adult_data(),
        );
        assert_ne!(out.verdict, Verdict::Error, "{model}: {:?}", out.error);
        for attr in ["sex", "race"] {
            let want = &exp[model]["fairness"][attr];
            for m in [
                "demographic_parity_difference",
                "demographic_parity_ratio",
                "equalized_odds_difference",
                "equalized_odds_ratio",
                "equal_opportunity_difference",
                "equal_opportunity_ratio",
            ] {
                close(
                    &format!("{model} {m}[{attr}]"),
                    out.metrics.get(&format!("{m}[{attr}]")).copied(),
                    want[m].as_f64().unwrap(),
                );
            }
            close(
                &format!("disparate_impact[{attr}]"),
                out.metrics.get(&format!("disparate_impact[{attr}]")).copied(),
                want["demographic_parity_ratio"].as_f64().unwrap(),
            );
            for (group, rates) in want["groups"].as_object().unwrap() {
                for m in [
                    "selection_rate",
                    "true_positive_rate",
                    "false_positive_rate",
                    "accuracy",
                    "count",
                ] {
                    let key = format!("{m}[{attr}={group}]");
                    close(&key, out.metrics.get(&key).copied(), rates[m].as_f64().unwrap());
                }
            }
            for small in want["small_groups"].as_array().unwrap() {
                let key = format!("selection_rate[{attr}={}]", small.as_str().unwrap());
                assert!(!out.metrics.contains_key(&key), "{key} is below min_group_size");
            }
        }
    }
}

#[test]
fn four_fifths_default_fails_an_unfair_model_with_a_finding() {
    // The RandomForest's selection rate for women is far below men's.
    let out = run_classic(
        &spec(json!({"kind": "fairness"})),
        "adult_rf.onnx",
        None,
        adult_data(),
    );
    assert_eq!(out.verdict, Verdict::Fail, "{:?}", out.reasons);
    assert!(
        out.reasons.iter().any(|r| r.contains("disparate_impact[sex]")),
        "{:?}",
        out.reasons
    );
    assert!(out.findings.iter().any(|f| f.rule == "fairness/four-fifths-rule"));
}

#[test]
fn a_threshold_can_target_one_attribute() {
    let mut data = adult_data();
    data.sensitive = vec!["race".into()];
    data.slices = vec!["sex".into()];
    let out = run_classic(
        &spec(json!({"kind": "fairness", "require": {"demographic_parity_difference[race]": "<= 0.5"}})),
        "adult_logreg.onnx",
        None,
        data,
    );
    assert_eq!(out.verdict, Verdict::Pass, "{:?}", out.reasons);
    assert!(!out.metrics.contains_key("demographic_parity_difference[sex]"));
}

#[test]
fn intersectional_groups_are_named_by_both_attributes() {
    let out = run_classic(
        &spec(
            json!({"kind": "fairness", "intersectional": true, "min_group_size": "20",
                     "require": {"count[*]": ">= 0"}}),
        ),
        "adult_rf.onnx",
        None,
        adult_data(),
    );
    assert_ne!(out.verdict, Verdict::Error, "{:?}", out.error);
    assert!(
        out.metrics
            .contains_key("demographic_parity_difference[sex,race]"),
        "{:?}",
        out.metrics.keys()
    );
    assert!(out.metrics.contains_key("selection_rate[sex=Female,race=White]"));
    // The counts of the crossed groups add up to the judged rows.
    let total: f64 = out
        .metrics
        .iter()
        .filter(|(k, _)| k.starts_with("count[sex=") && k.contains(",race="))
        .map(|(_, v)| v)
        .sum();
    assert!(total > 1500.0 && total <= 2000.0, "{total}");
}

#[test]
fn a_group_without_positives_has_no_tpr_and_says_so() {
    // A min_group_size of 1 lets the tiny race groups be judged, among
    // them groups that may have no positive row.
    let out = run_classic(
        &spec(json!({"kind": "fairness", "min_group_size": 1, "require": {"count[*]": ">= 0"}})),
        "adult_rf.onnx",
        None,
        adult_data(),
    );
    assert_ne!(out.verdict, Verdict::Error, "{:?}", out.error);
    let notes = out.details["notes"].as_array().unwrap();
    let undefined: Vec<_> = notes
        .iter()
        .filter(|n| n.as_str().unwrap().contains("true_positive_rate"))
        .collect();
    for n in &undefined {
        let group = n.as_str().unwrap().split(':').next().unwrap();
        assert!(!out.metrics.contains_key(&format!("true_positive_rate[{group}]")));
    }
    assert!(out.metrics.values().all(|v| v.is_finite()));
}

#[test]
fn no_sensitive_columns_is_an_error() {
    let mut data = adult_data();
    data.sensitive.clear();
    let out = run_classic(&spec(json!({"kind": "fairness"})), "adult_rf.onnx", None, data);
    assert_eq!(out.verdict, Verdict::Error);
    assert!(out.error.unwrap().contains("no sensitive columns"));
}
