//! The HTTP backends against a scripted local server on 127.0.0.1.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use portcullis_runtime::{ClassLabel, Classifier, HttpClassifier, HttpConfig, Matrix, Protocol, RetryPolicy};

#[derive(Clone, Copy)]
enum Act {
    Ok,
    TooMany,
    Stall,
    Drop,
}

/// Serves `script` (then `Ok` forever) and counts requests.
fn server(script: Vec<Act>, mlflow: bool) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(50) {
            let Ok(mut s) = stream else { continue };
            let n = c.fetch_add(1, Ordering::SeqCst);
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            // Read the head and the declared body.
            while let Ok(r) = s.read(&mut buf) {
                if r == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..r]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(i) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap_or(0);
                    if got.len() >= i + 4 + len {
                        break;
                    }
                }
            }
            let body = String::from_utf8_lossy(&got).to_string();
            assert!(body.contains("authorization: Bearer t0ken"), "{body}");
            let rows = body.matches("],[").count() + 1;
            match script.get(n).copied().unwrap_or(Act::Ok) {
                Act::Drop => drop(s),
                Act::Stall => std::thread::sleep(Duration::from_millis(600)),
                Act::TooMany => {
                    let _ = s.write_all(b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 4\r\n\r\nslow");
                }
                Act::Ok => {
                    let reply = if mlflow {
                        let row = "[0.3,0.7]";
                        format!("{{\"predictions\": [{}]}}", vec![row; rows].join(","))
                    } else {
                        let n = body
                            .split("\"shape\":[")
                            .nth(1)
                            .and_then(|r| r.split(',').next())
                            .unwrap()
                            .parse::<usize>()
                            .unwrap();
                        let data = vec!["0.3,0.7"; n].join(",");
                        format!("{{\"outputs\": [{{\"name\": \"probabilities\", \"shape\": [{n}, 2], \"datatype\": \"FP32\", \"data\": [{data}]}}]}}")
                    };
                    let _ = s.write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{reply}",
                            reply.len()
                        )
                        .as_bytes(),
                    );
                }
            }
        }
    });
    (format!("http://{addr}"), count)
}

fn config(url: String, protocol: Protocol) -> HttpConfig {
    HttpConfig {
        url,
        protocol,
        n_features: 2,
        classes: vec![ClassLabel::Int(0), ClassLabel::Int(1)],
        batch_rows: 3,
        retry: RetryPolicy {
            timeout: Duration::from_millis(300),
            attempts: 3,
            backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(50),
        },
        feature_names: Vec::new(),
        headers: vec![("Authorization".into(), "Bearer t0ken".into())],
    }
}

fn v2() -> Protocol {
    Protocol::OpenInferenceV2 {
        model: "credit".into(),
        input: "X".into(),
        output: None,
    }
}

#[test]
fn open_inference_v2_answers_in_batches_after_429_stall_and_drop() {
    let (url, count) = server(vec![Act::TooMany, Act::Stall, Act::Ok, Act::Drop], false);
    let m = HttpClassifier::new(config(url, v2())).unwrap();
    let p = m.predict_proba(&Matrix::zeros(7, 2)).unwrap();
    assert_eq!((p.rows, p.cols), (7, 2));
    assert_eq!(m.predict(&Matrix::zeros(1, 2)).unwrap(), vec![1]);
    // Batch 1: 429, stall, ok; batch 2: dropped, ok; batch 3: ok; then 1.
    assert_eq!(count.load(Ordering::SeqCst), 7);
}

#[test]
fn mlflow_invocations_returns_probability_rows() {
    let (url, _) = server(vec![], true);
    let m = HttpClassifier::new(config(url, Protocol::Mlflow)).unwrap();
    let p = m.predict_proba(&Matrix::zeros(4, 2)).unwrap();
    assert_eq!(p.row(3), &[0.3, 0.7]);
    // The header value is a credential: never shown.
    assert!(!format!("{m:?}").contains("t0ken"));
}

#[test]
fn a_server_that_keeps_failing_is_an_error_after_retries() {
    let (url, count) = server(vec![Act::TooMany, Act::Stall, Act::Drop, Act::TooMany], false);
    let m = HttpClassifier::new(config(url, v2())).unwrap();
    let err = m.predict_proba(&Matrix::zeros(1, 2)).unwrap_err().to_string();
    assert!(err.contains("failed after 3 attempts"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(HttpClassifier::new(config("ftp://x".into(), v2())).is_err());
    assert!(HttpClassifier::new(config("https://models.example".into(), v2())).is_ok());
}
