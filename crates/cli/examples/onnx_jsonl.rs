//! A JSON-lines model process (the protocol of `docs/runtime.md`) serving
//! an ONNX file through the runtime, for testing the subprocess backend
//! end to end without Python: `onnx_jsonl MODEL.onnx`.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helper")]

use std::io::{BufRead, Write};

use portcullis_runtime::{ClassLabel, Classifier, Matrix, OnnxClassifier};
use serde_json::{json, Value};

fn main() {
    let path = std::env::args().nth(1).expect("usage: onnx_jsonl MODEL.onnx");
    let model = OnnxClassifier::load(std::path::Path::new(&path)).unwrap();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let req: Value = serde_json::from_str(&line.unwrap()).unwrap();
        let reply = if req["op"] == "describe" {
            let classes: Vec<Value> = model
                .classes()
                .iter()
                .map(|c| match c {
                    ClassLabel::Int(i) => json!(i),
                    ClassLabel::Str(s) => json!(s),
                })
                .collect();
            json!({"classes": classes, "n_features": model.signature().n_features,
                   "feature_names": model.signature().names})
        } else {
            let rows = req["rows"].as_array().unwrap();
            let cols = model.signature().n_features;
            let data: Vec<f32> = rows
                .iter()
                .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32))
                .collect();
            let p = model
                .predict_proba(&Matrix::new(data, rows.len(), cols).unwrap())
                .unwrap();
            let rows: Vec<&[f32]> = (0..p.rows).map(|i| p.row(i)).collect();
            json!({"probabilities": rows})
        };
        writeln!(out, "{reply}").unwrap();
        out.flush().unwrap();
    }
}
