//! Detector behaviour on a model with a planted backdoor.

use super::*;
use crate::gate::NoProgress;
use portcullis_runtime::{ClassLabel, InputSignature, Matrix, RuntimeError};
use rand::Rng;
use std::time::Duration;

/// Three classes scored by a fixed linear map; with `planted`, any input
/// with feature 3 above 9.9 goes to class 1.
struct Planted {
    w: Vec<Vec<f32>>,
    planted: bool,
    nan: bool,
    sig: InputSignature,
    classes: Vec<ClassLabel>,
}

impl Planted {
    fn new(planted: bool) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        Planted {
            w: (0..3)
                .map(|_| (0..16).map(|_| rng.gen_range(-1.0..1.0)).collect())
                .collect(),
            planted,
            nan: false,
            sig: InputSignature {
                n_features: 16,
                ..Default::default()
            },
            classes: vec![ClassLabel::Int(0), ClassLabel::Int(1), ClassLabel::Int(2)],
        }
    }
}

impl Classifier for Planted {
    fn signature(&self) -> &InputSignature {
        &self.sig
    }
    fn classes(&self) -> &[ClassLabel] {
        &self.classes
    }
    fn predict_proba(&self, x: &Matrix) -> Result<Matrix, RuntimeError> {
        let mut out = Vec::new();
        for i in 0..x.rows {
            let r = x.row(i);
            let mut s: Vec<f32> = self
                .w
                .iter()
                .map(|w| w.iter().zip(r).map(|(a, b)| a * (b - 5.0)).sum::<f32>() * 0.3)
                .collect();
            if self.planted && r[3] > 9.9 {
                s = vec![0.0, 20.0, 0.0];
            }
            let m = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f32> = s.iter().map(|v| (v - m).exp()).collect();
            let z: f32 = e.iter().sum();
            out.extend(e.iter().map(|v| if self.nan { f32::NAN } else { v / z }));
        }
        Matrix::new(out, x.rows, 3)
    }
}

fn data(model: &Planted, n: usize) -> LabelledData {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let x: Vec<f32> = (0..n * 16).map(|_| rng.gen_range(0.0..10.0)).collect();
    let m = Matrix::new(x, n, 16).unwrap();
    let y = model.predict(&m).unwrap();
    LabelledData {
        x: m,
        y,
        feature_names: (0..16).map(|j| format!("f{j}")).collect(),
        extra: Vec::new(),
        source: "clean.csv".into(),
    }
}

fn config(v: serde_json::Value) -> BackdoorConfig {
    BackdoorConfig::from_params(v.as_object().unwrap()).unwrap()
}

#[test]
fn a_planted_tabular_trigger_is_found_and_names_its_class() {
    let model = Planted::new(true);
    let clean = data(&model, 300);
    let cfg = config(json!({"scan_rows": 150, "strip_rows": 60}));
    let e = assess(&model, &clean, None, None, &cfg, 1, &NoProgress, None).unwrap();
    assert!(e.metrics["trigger_flip_rate"] >= 0.9, "{:?}", e.metrics);
    assert_eq!(e.metrics["suspected_target_class"], 1.0, "{:?}", e.metrics);
    let scan = e
        .findings
        .iter()
        .find(|f| f.rule == "backdoor-trigger-scan")
        .unwrap();
    assert!(scan.message.contains("f3"), "{}", scan.message);
    assert!(e.metrics["reverse_mask_norm[1]"] <= 1.0, "{:?}", e.metrics);

    let honest = Planted::new(false);
    let clean = data(&honest, 300);
    let e2 = assess(&honest, &clean, None, None, &cfg, 1, &NoProgress, None).unwrap();
    assert!(
        e2.metrics["trigger_flip_rate"] < e.metrics["trigger_flip_rate"],
        "{:?}",
        e2.metrics
    );
    let again = assess(&honest, &clean, None, None, &cfg, 1, &NoProgress, None).unwrap();
    assert_eq!(e2.metrics, again.metrics, "same seed, same metrics");
}

#[test]
fn bad_models_and_data_fail_closed() {
    let cfg = config(json!({"scan_rows": 50, "strip_rows": 20}));
    let mut model = Planted::new(true);
    let clean = data(&model, 100);
    model.nan = true;
    let e = assess(&model, &clean, None, None, &cfg, 1, &NoProgress, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("non-finite"), "{e}");
    model.nan = false;
    let mut one = clean.clone();
    one.y = vec![2; one.len()];
    let e = assess(&model, &one, None, None, &cfg, 1, &NoProgress, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("single class"), "{e}");
    let past = Instant::now() - Duration::from_secs(1);
    let e = assess(&model, &clean, None, None, &cfg, 1, &NoProgress, Some(past)).unwrap_err();
    assert!(matches!(e, GateError::Deadline(_)), "{e}");
    let bad = BackdoorConfig::from_params(json!({"detectors": "spectral"}).as_object().unwrap()).unwrap_err();
    assert!(bad.to_string().contains("train_data"), "{bad}");
    let bad = BackdoorConfig::from_params(json!({"train_data": 3}).as_object().unwrap()).unwrap_err();
    assert!(bad.to_string().contains("backdoor"), "{bad}");
}

#[test]
fn default_require_covers_exactly_the_detectors_that_run() {
    let r = default_require(&config(json!({})));
    assert_eq!(
        r.keys().collect::<Vec<_>>(),
        ["strip_flagged_fraction", "trigger_flip_rate"]
    );
    let r = default_require(&config(json!({"reverse_gates": "true"})));
    assert!(r.contains_key("reverse_anomaly_index"));
    let r = default_require(&config(json!({"train_data": "t.csv"})));
    assert!(r.contains_key("ac_flagged_classes"));
}

#[test]
fn an_advisory_detector_reports_without_gating_and_every_other_high_finding_fails() {
    let model = Planted::new(true);
    let clean = data(&model, 300);
    // Gating (the default): the trigger scan's high finding is a failure
    // of its own, whatever a policy's `require:` says about the metric.
    let cfg = config(json!({"scan_rows": 150, "strip_rows": 60}));
    let e = assess(&model, &clean, None, None, &cfg, 1, &NoProgress, None).unwrap();
    assert!(
        e.failures.iter().any(|f| f.starts_with("backdoor-trigger-scan")),
        "{:?}",
        e.failures
    );
    assert!(e
        .findings
        .iter()
        .any(|f| f.rule == "backdoor-suspected-target" && f.severity == Severity::High));
    // Advisory: the same findings are reported as advisory, nothing gates.
    let cfg = config(json!({"scan_rows": 150, "strip_rows": 60, "advisory": "trigger-scan,strip,reverse"}));
    let e = assess(&model, &clean, None, None, &cfg, 1, &NoProgress, None).unwrap();
    assert!(e.failures.is_empty(), "{:?}", e.failures);
    let scan = e
        .findings
        .iter()
        .find(|f| f.rule == "backdoor-trigger-scan")
        .unwrap();
    assert_eq!(scan.severity, Severity::Low);
    assert!(
        scan.message.starts_with("advisory, did not gate"),
        "{}",
        scan.message
    );
    let target = e
        .findings
        .iter()
        .find(|f| f.rule == "backdoor-suspected-target")
        .unwrap();
    assert_eq!(target.severity, Severity::Low, "{}", target.message);
    assert!(
        e.findings.iter().all(|f| f.severity < Severity::High),
        "{:?}",
        e.findings
    );
    assert!(default_require(&cfg).is_empty(), "{:?}", default_require(&cfg));
}

#[test]
fn reverse_is_advisory_by_default_and_the_two_keys_cannot_contradict() {
    assert_eq!(config(json!({})).advisory, vec![Detector::Reverse]);
    assert!(config(json!({"reverse_gates": true})).advisory.is_empty());
    assert!(config(json!({"advisory": []})).advisory.is_empty());
    let e = BackdoorConfig::from_params(
        json!({"reverse_gates": true, "advisory": "reverse"})
            .as_object()
            .unwrap(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("contradicts"), "{e}");
    let e = BackdoorConfig::from_params(json!({"advisory": "nope"}).as_object().unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown detector 'nope' in `advisory`"), "{e}");
    let r = default_require(&config(json!({"train_data": "t.csv"})));
    assert!(r.contains_key("subgroup_flagged"), "{r:?}");
}
