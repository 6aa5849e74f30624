//! The gates end to end on committed ONNX files: the digits-backdoor
//! example (clean and BadNets-poisoned) through `run_gate`, exactly as a
//! policy or `portcullis eval` runs them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use portcullis_evidence::Verdict;
use portcullis_gates::{run_gate, DataSource, GateContext, GateOutcome, ModelRef, NoProgress};
use portcullis_runtime::{Classifier, OnnxClassifier};

use crate::fixture_model::{fixtures, read_csv, Mlp};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/digits-backdoor")
}

fn run(model: &str, spec: serde_json::Value) -> GateOutcome {
    let dir = example();
    let model = ModelRef {
        path: Some(dir.join("models").join(model)),
        digest: None,
        kind: None,
        serve: None,
    };
    let mut data = BTreeMap::new();
    data.insert(
        "eval".to_string(),
        DataSource {
            path: PathBuf::from("data/test.csv"),
            label: Some("label".into()),
            ..Default::default()
        },
    );
    let ctx = GateContext {
        name: "g",
        model: &model,
        reference: None,
        data: &data,
        base_dir: &dir,
        seed: 0,
        progress: &NoProgress,
        deadline: None,
    };
    run_gate(&crate::support::spec(spec), &ctx)
}

#[test]
fn backdoor_gate_blocks_the_poisoned_example_naming_class_7_and_the_corner_patch() {
    // The example policy's spec (examples/digits-backdoor/backdoor.yaml):
    // the gate's default thresholds.
    let spec = serde_json::json!({"kind": "backdoor", "input_shape": [1, 8, 8], "clip": [0, 16]});
    let bad = run("poisoned.onnx", spec.clone());
    assert_eq!(bad.verdict, Verdict::Fail, "{:?} {:?}", bad.reasons, bad.error);
    assert_eq!(bad.metrics["suspected_target_class"], 7.0, "{:?}", bad.metrics);
    let f = bad
        .findings
        .iter()
        .find(|f| f.rule == "backdoor-suspected-target")
        .unwrap();
    assert!(
        f.message.contains("class 7") && f.message.contains("row 5"),
        "{}",
        f.message
    );
    assert_eq!(bad.inputs.len(), 2, "model and data are recorded with digests");
    assert!(bad.inputs.iter().all(|i| i.sha256.is_some()));
    let good = run("clean.onnx", spec);
    assert_eq!(
        good.verdict,
        Verdict::Pass,
        "{:?} {:?} {:?}",
        good.reasons,
        good.error,
        good.metrics
    );
}

#[test]
fn robustness_gate_runs_on_an_onnx_model_and_fails_closed_without_epsilon() {
    let out = run(
        "clean.onnx",
        serde_json::json!({"kind": "robustness", "epsilon": 4, "samples": 8, "max_queries": 500,
                           "input_shape": [1, 8, 8], "clip": [0, 16], "max_iter": 10}),
    );
    assert_ne!(out.verdict, Verdict::Error, "{:?}", out.error);
    assert!(out.metrics["robust_accuracy"] <= out.metrics["clean_accuracy"]);
    let out = run("clean.onnx", serde_json::json!({"kind": "robustness"}));
    assert_eq!(out.verdict, Verdict::Error);
}

#[test]
fn fixture_onnx_files_agree_with_the_weights_the_tests_read() {
    let data = read_csv(&fixtures().join("digits-test.csv"));
    for id in ["p1-digits-square-br", "c2-digits"] {
        let onnx = OnnxClassifier::load(&fixtures().join(id).join("model.onnx")).unwrap();
        let mlp = Mlp::load(&fixtures().join(id));
        let a = onnx.predict_proba(&data.x).unwrap();
        let b = mlp.predict_proba(&data.x).unwrap();
        let worst = a
            .data
            .iter()
            .zip(&b.data)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-4, "{id}: {worst}");
    }
}
