//! Classifier gates over served models: an Open Inference Protocol v2 or
//! MLflow server on 127.0.0.1 (answering with the runtime's own ONNX
//! backend) and a JSON-lines process give the same metrics as the file.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use portcullis_runtime::{Classifier, Matrix, OnnxClassifier};
use serde_json::{json, Value};

use crate::support::{repo_root, stdout, Quickstart};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Serve,
    Fail,
    Stall,
}

fn fixture(name: &str) -> PathBuf {
    repo_root().join("crates/gates/tests/fixtures/classic").join(name)
}

fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..i]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if got.len() >= i + 4 + len {
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                return Some((path, got[i + 4..i + 4 + len].to_vec()));
            }
        }
    }
}

/// Serves `model` on 127.0.0.1 for both protocols; returns the base URL.
fn server(model: Arc<OnnxClassifier>, mode: Mode) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let model = model.clone();
            std::thread::spawn(move || {
                let Some((path, body)) = read_request(&mut s) else {
                    return;
                };
                match mode {
                    Mode::Stall => {
                        std::thread::sleep(Duration::from_secs(3));
                        return;
                    }
                    Mode::Fail => {
                        let _ =
                            s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy");
                        return;
                    }
                    Mode::Serve => {}
                }
                let req: Value = serde_json::from_slice(&body).unwrap();
                let n = model.signature().n_features;
                let reply = if path == "/v2/models/adult/infer" {
                    let input = &req["inputs"][0];
                    assert_eq!(input["datatype"], "FP32");
                    let data: Vec<f32> = input["data"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap() as f32)
                        .collect();
                    let rows = data.len() / n;
                    let p = model.predict_proba(&Matrix::new(data, rows, n).unwrap()).unwrap();
                    json!({"model_name": "adult", "outputs": [
                        {"name": "label", "shape": [rows], "datatype": "INT64", "data": p.argmax_rows()},
                        {"name": "probabilities", "shape": [rows, p.cols], "datatype": "FP32", "data": p.data}]})
                } else if path == "/invocations" {
                    let rows = req["inputs"].as_array().unwrap();
                    let data: Vec<f32> = rows
                        .iter()
                        .flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32))
                        .collect();
                    let p = model
                        .predict_proba(&Matrix::new(data, rows.len(), n).unwrap())
                        .unwrap();
                    json!({"predictions": (0..p.rows).map(|i| p.row(i).to_vec()).collect::<Vec<_>>()})
                } else {
                    let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    return;
                };
                let text = reply.to_string();
                let _ = s.write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}", text.len()).as_bytes());
            });
        }
    });
    format!("http://{addr}")
}

/// `eval KIND` over the adult fixture with extra flags; the gate's JSON.
fn eval(q: &Quickstart, kind: &str, extra: &[&str]) -> (Value, i32) {
    let model = fixture("adult_rf.onnx");
    let data = fixture("adult.csv");
    let mut args = vec![
        "eval",
        kind,
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--label",
        "label",
        "--set",
        // fairness groups by the sensitive columns, performance slices
        if kind == "fairness" {
            "sensitive=[sex, race]"
        } else {
            "slices=[sex, race]"
        },
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let a = q.cmd(&args).assert();
    let code = a.get_output().status.code().unwrap();
    (serde_json::from_str(&stdout(&a)).unwrap(), code)
}

fn load_model() -> Arc<OnnxClassifier> {
    Arc::new(OnnxClassifier::load(&fixture("adult_rf.onnx")).unwrap())
}

#[test]
fn performance_and_fairness_over_http_match_the_file() {
    let q = Quickstart::new();
    let base = server(load_model(), Mode::Serve);
    for kind in ["performance", "fairness"] {
        let (file, _) = eval(&q, kind, &[]);
        assert_ne!(file["verdict"], "error", "{file}");
        assert!(file["metrics"].as_object().unwrap().len() > 5, "{file}");
        for endpoint in [
            format!("kserve-v2+{base}/v2/models/adult"),
            format!("mlflow+{base}/invocations"),
        ] {
            let (served, _) = eval(&q, kind, &["--endpoint", &endpoint]);
            assert_eq!(served["metrics"], file["metrics"], "{kind} via {endpoint}");
            assert_eq!(served["verdict"], file["verdict"], "{kind} via {endpoint}");
        }
    }
}

#[test]
fn performance_over_a_json_lines_process_matches_the_file() {
    let q = Quickstart::new();
    // Cargo builds examples for `cargo test`; they sit beside the test's deps directory.
    let exe = std::env::current_exe().unwrap();
    let helper = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/onnx_jsonl");
    assert!(
        helper.exists(),
        "{} is missing: run `cargo test -p portcullis-cli` (it builds examples)",
        helper.display()
    );
    let command = format!("{} {}", helper.display(), fixture("adult_rf.onnx").display());
    for kind in ["performance", "fairness"] {
        let (file, _) = eval(&q, kind, &[]);
        let (served, _) = eval(&q, kind, &["--endpoint-command", &command]);
        assert_eq!(served["metrics"], file["metrics"], "{kind}");
    }
}

#[test]
fn a_failing_or_stalling_server_makes_the_verdict_error_after_retries() {
    let q = Quickstart::new();
    for (mode, cause) in [(Mode::Fail, "HTTP 503"), (Mode::Stall, "no reply")] {
        let base = server(load_model(), mode);
        let endpoint = format!("kserve-v2+{base}/v2/models/adult");
        let (out, code) = eval(
            &q,
            "performance",
            &[
                "--endpoint",
                &endpoint,
                "--endpoint-retries",
                "1",
                "--endpoint-timeout",
                "500ms",
            ],
        );
        assert_eq!(out["verdict"], "error", "{out}");
        assert_eq!(code, 2, "{out}");
        let err = out["error"].as_str().unwrap();
        assert!(
            err.contains("failed after 2 attempts") && err.contains(cause),
            "{err}"
        );
    }
}
