//! The robustness gate on a real scikit-learn MLP (digits fixture).

use portcullis_gates::robustness::{assess, RobustnessConfig};
use portcullis_gates::NoProgress;

use crate::fixture_model::{fixtures, read_csv, Mlp};

fn config(v: serde_json::Value) -> RobustnessConfig {
    RobustnessConfig::from_params(v.as_object().unwrap()).unwrap()
}

#[test]
fn attacks_beat_noise_on_a_digits_mlp_and_repeat_with_the_same_seed() {
    let model = Mlp::load(&fixtures().join("c1-digits"));
    let data = read_csv(&fixtures().join("digits-test.csv"));
    let cfg = config(serde_json::json!({
        "epsilon": 3, "norm": "linf", "samples": 16, "max_queries": 1000,
        "input_shape": [1, 8, 8], "clip": [0, 16], "max_iter": 20,
    }));
    let a = assess(&model, &data, &cfg, 11, &NoProgress, None).unwrap();
    let m = &a.metrics;
    assert!(m["clean_accuracy"] >= 0.8, "{m:?}");
    assert!(
        m["attack_success_rate[square]"] > m["attack_success_rate[noise]"],
        "{m:?}"
    );
    assert!(m["robust_accuracy"] < m["clean_accuracy"], "{m:?}");
    assert!(m["median_perturbation[square]"] <= 3.0 + 1e-4, "{m:?}");
    let b = assess(&model, &data, &cfg, 11, &NoProgress, None).unwrap();
    assert_eq!(a.metrics, b.metrics);
    assert!(!a.findings.is_empty());
}

#[test]
fn l2_hopskipjump_on_a_digits_mlp_reports_distances_in_the_l2_norm() {
    let model = Mlp::load(&fixtures().join("c2-digits"));
    let data = read_csv(&fixtures().join("digits-test.csv"));
    let cfg = config(serde_json::json!({
        "epsilon": 8, "norm": "l2", "samples": 10, "max_queries": 3000,
        "input_shape": "1,8,8", "clip": "0,16", "attack": "noise,hopskipjump", "max_iter": 20,
    }));
    let e = assess(&model, &data, &cfg, 3, &NoProgress, None).unwrap();
    let m = &e.metrics;
    assert!(
        m["attack_success_rate[hopskipjump]"] > m["attack_success_rate[noise]"],
        "{m:?}"
    );
    // HopSkipJump minimises distance, so its median is far below a random
    // point of the domain (diameter 128).
    assert!(m["median_perturbation[hopskipjump]"] < 20.0, "{m:?}");
}

#[test]
fn bad_specs_give_an_error_verdict_never_a_pass() {
    use portcullis_evidence::Verdict;
    let dir = tempfile::tempdir().unwrap();
    for spec in [
        serde_json::json!({"kind": "robustness", "norm": "l2"}),
        serde_json::json!({"kind": "robustness", "epsilon": 0.1, "max_queries": 0}),
        serde_json::json!({"kind": "robustness", "epsilon": 0.1, "atack": "noise"}),
        serde_json::json!({"kind": "backdoor", "detectors": "spectral"}),
        serde_json::json!({"kind": "backdoor", "scan_rows": 0}),
    ] {
        let out = crate::support::run_in(dir.path(), &crate::support::spec(spec.clone()));
        assert_eq!(out.verdict, Verdict::Error, "{spec}: {:?}", out.reasons);
        assert!(out.error.is_some());
    }
}
