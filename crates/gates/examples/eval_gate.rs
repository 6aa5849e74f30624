//! Runs one gate ad hoc, like `portcullis eval`, for benchmarks:
//!
//! ```text
//! cargo run --release -p portcullis-gates --example eval_gate -- \
//!     KIND MODEL.onnx DATA.csv LABEL [KEY=VALUE]...
//! ```
//!
//! Values are JSON when they parse as JSON, strings otherwise. Prints the
//! verdict, the metrics and the reasons as one JSON object.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark driver")]

use std::collections::BTreeMap;
use std::path::PathBuf;

use portcullis_evidence::GateSpec;
use portcullis_gates::{run_gate, DataSource, GateContext, ModelRef, NoProgress};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [kind, model, data, label, rest @ ..] = args.as_slice() else {
        eprintln!("usage: eval_gate KIND MODEL DATA LABEL [KEY=VALUE]...");
        std::process::exit(2);
    };
    let mut spec = GateSpec::new(kind);
    for kv in rest {
        let (k, v) = kv.split_once('=').expect("KEY=VALUE");
        let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
        spec.params.insert(k.to_string(), value);
    }
    let model = ModelRef {
        path: Some(PathBuf::from(model)),
        digest: None,
        kind: None,
        serve: None,
    };
    let mut sources = BTreeMap::new();
    sources.insert(
        "eval".to_string(),
        DataSource {
            path: PathBuf::from(data),
            label: Some(label.clone()),
            ..Default::default()
        },
    );
    let cwd = std::env::current_dir().unwrap();
    let ctx = GateContext {
        name: kind,
        model: &model,
        reference: None,
        data: &sources,
        base_dir: &cwd,
        seed: 0,
        progress: &NoProgress,
        deadline: None,
    };
    let outcome = run_gate(&spec, &ctx);
    let out = serde_json::json!({
        "verdict": outcome.verdict,
        "metrics": outcome.metrics,
        "reasons": outcome.reasons,
        "error": outcome.error,
        "duration_ms": outcome.duration_ms,
    });
    println!("{out}");
}
