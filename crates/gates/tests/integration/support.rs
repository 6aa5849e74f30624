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
