//! Shared helpers: a context over a temp directory.

use std::collections::BTreeMap;
use std::path::Path;

use portcullis_evidence::GateSpec;
use portcullis_gates::{run_gate, DataSource, GateContext, GateOutcome, ModelRef, NoProgress};

pub fn spec(yaml_json: serde_json::Value) -> GateSpec {
    serde_json::from_value(yaml_json).unwrap()
}

pub fn run_in(dir: &Path, spec: &GateSpec) -> GateOutcome {
    let model = ModelRef {
        path: Some(dir.join("model.onnx")),
        digest: None,
        kind: None,
        serve: None,
    };
    let data: BTreeMap<String, DataSource> = BTreeMap::new();
    let ctx = GateContext {
        name: "g",
        model: &model,
        reference: None,
        data: &data,
        base_dir: dir,
        seed: 7,
        progress: &NoProgress,
        deadline: None,
    };
    run_gate(spec, &ctx)
}

/// Runs a gate whose model is `model` (a file or directory).
pub fn run_model(model: &Path, spec: &GateSpec) -> GateOutcome {
    run_model_in(model, model, spec)
}

/// Runs a gate on `model` with spec paths relative to `base`.
pub fn run_model_in(model: &Path, base: &Path, spec: &GateSpec) -> GateOutcome {
    let m = ModelRef {
        path: Some(model.to_path_buf()),
        digest: None,
        kind: None,
        serve: None,
    };
    let data: BTreeMap<String, DataSource> = BTreeMap::new();
    let ctx = GateContext {
        name: "g",
        model: &m,
        reference: None,
        data: &data,
        base_dir: base,
        seed: 7,
        progress: &NoProgress,
        deadline: None,
    };
    run_gate(spec, &ctx)
}

/// The classic-gate fixture directory.
pub fn classic_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/classic")
}

pub fn classic_expected() -> serde_json::Value {
    let text = std::fs::read_to_string(classic_dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs `spec` on fixture files: `model` (and `reference`) are file names in
/// the classic fixture directory, `data` is declared as dataset `eval`.
pub fn run_classic(spec: &GateSpec, model: &str, reference: Option<&str>, data: DataSource) -> GateOutcome {
    let dir = classic_dir();
    let model = ModelRef {
        path: Some(model.into()),
        digest: None,
        kind: None,
        serve: None,
    };
    let reference = reference.map(|r| ModelRef {
        path: Some(r.into()),
        digest: None,
        kind: None,
        serve: None,
    });
    let data = BTreeMap::from([("eval".to_string(), data)]);
    let ctx = GateContext {
        name: "g",
        model: &model,
        reference: reference.as_ref(),
        data: &data,
        base_dir: &dir,
        seed: 7,
        progress: &NoProgress,
        deadline: None,
    };
    run_gate(spec, &ctx)
}

pub fn adult_data() -> DataSource {
    DataSource {
        path: "adult.csv".into(),
        label: Some("label".into()),
        sensitive: vec!["sex".into(), "race".into()],
        slices: Vec::new(),
        weight: None,
    }
}

pub fn digits_data() -> DataSource {
    DataSource {
        path: "digits.csv".into(),
        label: Some("digit".into()),
        ..Default::default()
    }
}

/// Asserts `|a - b| <= 1e-6`, naming the metric.
pub fn close(name: &str, got: Option<f64>, want: f64) {
    let got = got.unwrap_or_else(|| panic!("metric {name} missing"));
    assert!((got - want).abs() <= 1e-6, "{name}: got {got}, want {want}");
}
