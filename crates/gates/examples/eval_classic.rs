//! Runs one classic-ML gate the way `portcullis eval` will, for benchmarks
//! and trying gates before the CLI wires them:
//!
//! ```text
//! eval_classic KIND --model M [--reference R] --data D [--set key=value]...
//! ```
//!
//! Prints the verdict, the reasons and the metrics as JSON; exits 0 on pass,
//! 1 on fail, 2 on error or bad usage.
#![allow(clippy::print_stdout, clippy::print_stderr, reason = "an example binary")]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use portcullis_evidence::{GateSpec, Verdict};
use portcullis_gates::{run_gate, DataSource, GateContext, ModelRef, NoProgress};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(kind) = args.first() else {
        eprintln!("usage: eval_classic KIND --model M [--reference R] --data D [--set key=value]...");
        return ExitCode::from(2);
    };
    let (mut model, mut reference, mut data) = (None, None, None);
    let mut spec = GateSpec::new(kind.clone());
    let mut it = args.iter().skip(1);
    while let Some(flag) = it.next() {
        let Some(value) = it.next() else {
            eprintln!("{flag} needs a value");
            return ExitCode::from(2);
        };
        match flag.as_str() {
            "--model" => model = Some(PathBuf::from(value)),
            "--reference" => reference = Some(PathBuf::from(value)),
            "--data" => data = Some(PathBuf::from(value)),
            "--set" => {
                let Some((k, v)) = value.split_once('=') else {
                    eprintln!("--set takes key=value");
                    return ExitCode::from(2);
                };
                if k == "require" {
                    match serde_json::from_str(v) {
                        Ok(r) => spec.require = Some(r),
                        Err(e) => {
                            eprintln!("--set require=: {e}");
                            return ExitCode::from(2);
                        }
                    }
                } else {
                    spec.params
                        .insert(k.to_string(), serde_json::Value::String(v.to_string()));
                }
            }
            other => {
                eprintln!("unknown flag {other}");
                return ExitCode::from(2);
            }
        }
    }
    let (Some(model), Some(data)) = (model, data) else {
        eprintln!("--model and --data are required");
        return ExitCode::from(2);
    };
    let model = ModelRef {
        path: Some(model),
        ..Default::default()
    };
    let reference = reference.map(|r| ModelRef {
        path: Some(r),
        ..Default::default()
    });
    let datasets = BTreeMap::from([(
        "eval".to_string(),
        DataSource {
            path: data,
            ..Default::default()
        },
    )]);
    let cwd = std::env::current_dir().unwrap_or_default();
    let ctx = GateContext {
        name: kind,
        model: &model,
        reference: reference.as_ref(),
        data: &datasets,
        base_dir: &cwd,
        seed: 0,
        progress: &NoProgress,
        deadline: None,
    };
    let out = run_gate(&spec, &ctx);
    let report = serde_json::json!({
        "verdict": out.verdict.as_str(),
        "reasons": out.reasons,
        "metrics": out.metrics,
    });
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = writeln!(std::io::stdout(), "{text}");
    match out.verdict {
        Verdict::Pass => ExitCode::SUCCESS,
        Verdict::Fail => ExitCode::from(1),
        Verdict::Error => ExitCode::from(2),
    }
}
