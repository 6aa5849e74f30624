//! The performance gate against scikit-learn's metrics on the same files.

use portcullis_evidence::Verdict;
use serde_json::json;

use crate::support::{adult_data, classic_expected, close, digits_data, run_classic, spec};

const HEADLINE: [&str; 13] = [
    "accuracy",
    "balanced_accuracy",
    "precision",
    "recall",
    "f1",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "roc_auc",
    "log_loss",
];

#[test]
fn binary_metrics_and_confusion_match_sklearn() {
    let exp = classic_expected();
    for model in ["adult_rf", "adult_logreg"] {
        let out = run_classic(
            &spec(json!({"kind": "performance"})),
            &format!("{model}.onnx"),
            None,
            adult_data(),
        );
        assert_eq!(out.verdict, Verdict::Pass, "{model}: {:?}", out.reasons);
        let want = &exp[model]["performance"];
        for m in HEADLINE {
            close(
                &format!("{model} {m}"),
                out.metrics.get(m).copied(),
                want[m].as_f64().unwrap(),
            );
        }
        assert_eq!(
            out.details["confusion_matrix"],
            exp[model]["confusion_matrix"]
                .clone()
                .as_array()
                .map(|rows| {
                    json!(rows
                        .iter()
                        .map(|r| r
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_f64().unwrap())
                            .collect::<Vec<_>>())
                        .collect::<Vec<_>>())
                })
                .unwrap()
        );
        assert_eq!(out.inputs.len(), 2);
        assert!(out.inputs.iter().all(|i| i.sha256.is_some()));
    }
}

#[test]
fn sample_weights_match_sklearn_sample_weight() {
    let exp = classic_expected();
    let mut data = adult_data();
    data.path = "adult_weighted.csv".into();
    data.weight = Some("weight".into());
    let out = run_classic(&spec(json!({"kind": "performance"})), "adult_rf.onnx", None, data);
    let want = &exp["adult_rf"]["weighted"];
    for m in HEADLINE {
        close(m, out.metrics.get(m).copied(), want[m].as_f64().unwrap());
    }
}

#[test]
fn slices_match_sklearn_and_small_slices_are_reported_not_judged() {
    let exp = classic_expected();
    let out = run_classic(
        &spec(json!({"kind": "performance", "slices": "sex,race", "require": {"accuracy[*]": ">= 0.5"}})),
        "adult_rf.onnx",
        None,
        adult_data(),
    );
    let slices = exp["adult_rf"]["slices"].as_object().unwrap();
    let mut judged = 0;
    for (slice, want) in slices {
        let key = format!("accuracy[{slice}]");
        if want.is_null() {
            assert!(
                !out.metrics.contains_key(&key),
                "{key} is below min_slice_size and must not be judged"
            );
            let (col, val) = slice.split_once('=').unwrap();
            assert_eq!(out.details["slices"][col][val]["judged"], json!(false));
        } else {
            judged += 1;
            for m in ["accuracy", "f1", "roc_auc", "balanced_accuracy"] {
                close(
                    &format!("{m}[{slice}]"),
                    out.metrics.get(&format!("{m}[{slice}]")).copied(),
                    want[m].as_f64().unwrap(),
                );
            }
        }
    }
    assert!(judged >= 3);
    assert!(
        slices.values().any(serde_json::Value::is_null),
        "the fixture has a small slice"
    );
    assert_eq!(out.verdict, Verdict::Pass, "{:?}", out.reasons);
}

#[test]
fn multiclass_macro_weighted_and_ovr_auc_match_sklearn() {
    let exp = classic_expected();
    let out = run_classic(
        &spec(json!({"kind": "performance"})),
        "digits_production.onnx",
        None,
        digits_data(),
    );
    let want = &exp["digits_production"]["performance"];
    for m in HEADLINE
        .iter()
        .filter(|m| !matches!(**m, "precision" | "recall" | "f1"))
    {
        close(m, out.metrics.get(*m).copied(), want[*m].as_f64().unwrap());
    }
    assert!(
        !out.metrics.contains_key("f1"),
        "binary f1 is not reported for 10 classes"
    );
}

#[test]
fn bootstrap_intervals_are_seeded_and_bracket_the_estimate() {
    let s =
        spec(json!({"kind": "performance", "bootstrap": 200, "require": {"accuracy_ci_lower": ">= 0.7"}}));
    let a = run_classic(&s, "adult_rf.onnx", None, adult_data());
    let b = run_classic(&s, "adult_rf.onnx", None, adult_data());
    assert_eq!(a.verdict, Verdict::Pass, "{:?}", a.reasons);
    let (lo, hi, acc) = (
        a.metrics["accuracy_ci_lower"],
        a.metrics["accuracy_ci_upper"],
        a.metrics["accuracy"],
    );
    assert!(lo < acc && acc < hi, "{lo} {acc} {hi}");
    assert!(hi - lo < 0.1);
    assert_eq!(a.metrics, b.metrics, "same seed, same intervals");
    let strict =
        spec(json!({"kind": "performance", "bootstrap": 200, "require": {"accuracy_ci_lower": ">= 0.99"}}));
    assert_eq!(
        run_classic(&strict, "adult_rf.onnx", None, adult_data()).verdict,
        Verdict::Fail
    );
}

#[test]
fn bad_inputs_are_error_verdicts_naming_the_cause() {
    let cases = [
        (
            json!({"kind": "performance", "label": "nope"}),
            "label column 'nope' is not in the data",
        ),
        (
            json!({"kind": "performance", "label": "race",
                   "features": "age,education_num,capital_gain,capital_loss,hours_per_week,married,sex_male,white_collar"}),
            "is not one of the model's classes",
        ),
        (
            json!({"kind": "performance", "data": "train"}),
            "no dataset named 'train'",
        ),
        (json!({"kind": "performance", "pos_label": "7"}), "pos_label '7'"),
        (json!({"kind": "performance", "bogus": 1}), "unknown field"),
    ];
    for (s, want) in cases {
        let out = run_classic(&spec(s.clone()), "adult_rf.onnx", None, adult_data());
        assert_eq!(out.verdict, Verdict::Error, "{s}");
        let err = out.error.unwrap();
        assert!(err.contains(want), "{s}: {err}");
    }
    // A model file that is not ONNX.
    let out = run_classic(
        &spec(json!({"kind": "performance"})),
        "adult.csv",
        None,
        adult_data(),
    );
    assert_eq!(out.verdict, Verdict::Error);
    // Features that do not fit the model: digits data for the adult model.
    let out = run_classic(
        &spec(json!({"kind": "performance"})),
        "adult_rf.onnx",
        None,
        digits_data(),
    );
    assert_eq!(out.verdict, Verdict::Error);
    assert!(out.error.unwrap().contains("takes 8 features"));
}
