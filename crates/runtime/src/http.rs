//! HTTP backends: a model behind an Open Inference Protocol v2 (KServe,
//! Triton, MLServer) REST endpoint or an MLflow scoring server.
//!
//! - v2: `POST {base}/v2/models/{model}/infer` with
//!   `{"inputs": [{"name", "shape": [n, d], "datatype": "FP32", "data": [...]}]}`;
//!   the reply's 2-D float output (or the one named `output`) holds the
//!   probabilities, row-major.
//! - MLflow: `POST {base}/invocations` with `{"inputs": [[...], ...]}`; the
//!   reply's `predictions` must be probability rows (a pyfunc returning
//!   `predict_proba`).
//!
//! The transport is a small HTTP/1.1 client over `std::net` for plain
//! `http://` endpoints (model servers inside a cluster or on loopback): one
//! connection per request, timeouts on connect, write and read, replies
//! bounded in size. Connection failures, timeouts, 408/429/5xx are retried
//! with exponential backoff; other statuses fail at once.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

use serde_json::{json, Value};

use crate::classifier::{ClassLabel, Classifier, InputSignature, Matrix, RuntimeError};
use crate::retry::{in_batches, RetryPolicy};
use crate::subprocess::probabilities_from_json;

/// The largest reply read, in bytes.
pub const MAX_REPLY_BYTES: usize = 256 * 1024 * 1024;

/// The inference protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Protocol {
    /// Open Inference Protocol v2.
    OpenInferenceV2 {
        /// Model name in the path.
        model: String,
        /// Input tensor name.
        input: String,
        /// Output holding probabilities; `None` takes the only 2-D float one.
        output: Option<String>,
    },
    /// MLflow `/invocations`.
    Mlflow,
}

/// An HTTP model endpoint.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Base URL, `http://host:port[/prefix]`.
    pub url: String,
    /// The protocol.
    pub protocol: Protocol,
    /// Features per row.
    pub n_features: usize,
    /// Class labels in probability-column order.
    pub classes: Vec<ClassLabel>,
    /// Rows per request.
    pub batch_rows: usize,
    /// Timeouts, retries and backoff.
    pub retry: RetryPolicy,
}

/// A classifier behind an HTTP endpoint.
#[derive(Debug)]
pub struct HttpClassifier {
    config: HttpConfig,
    host: String,
    path: String,
    signature: InputSignature,
}

struct Failure {
    message: String,
    retry: bool,
}

fn retryable(message: String) -> Failure {
    Failure { message, retry: true }
}

fn fatal(message: String) -> Failure {
    Failure {
        message,
        retry: false,
    }
}

impl HttpClassifier {
    /// Validates the configuration; no request is made.
    ///
    /// # Errors
    /// [`RuntimeError::Load`] for a URL that is not `http://host:port`, no
    /// features, or fewer than two classes.
    pub fn new(config: HttpConfig) -> Result<Self, RuntimeError> {
        let load = |m: &str| RuntimeError::Load {
            path: config.url.clone(),
            message: m.to_string(),
        };
        let rest = config
            .url
            .strip_prefix("http://")
            .ok_or_else(|| load("only http:// URLs are supported by this transport"))?;
        let (host, prefix) = rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p));
        if host.is_empty() {
            return Err(load("the URL has no host"));
        }
        if config.n_features == 0 || config.classes.len() < 2 {
            return Err(load("declare n_features and at least two classes"));
        }
        let prefix = prefix.trim_end_matches('/');
        let base = if prefix.is_empty() {
            String::new()
        } else {
            format!("/{prefix}")
        };
        let path = match &config.protocol {
            Protocol::OpenInferenceV2 { model, .. } => format!("{base}/v2/models/{model}/infer"),
            Protocol::Mlflow => format!("{base}/invocations"),
        };
        Ok(HttpClassifier {
            host: host.to_string(),
            path,
            signature: InputSignature {
                n_features: config.n_features,
                names: Vec::new(),
                shape: Some(vec![config.n_features]),
            },
            config,
        })
    }

    fn post(&self, body: &[u8]) -> Result<Value, Failure> {
        let t = self.config.retry.timeout;
        let addr = self
            .host
            .to_socket_addrs()
            .map_err(|e| retryable(format!("cannot resolve {}: {e}", self.host)))?
            .next()
            .ok_or_else(|| fatal(format!("{} resolves to no address", self.host)))?;
        let mut s = TcpStream::connect_timeout(&addr, t).map_err(|e| retryable(format!("connect: {e}")))?;
        s.set_read_timeout(Some(t))
            .map_err(|e| retryable(e.to_string()))?;
        s.set_write_timeout(Some(t))
            .map_err(|e| retryable(e.to_string()))?;
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.path,
            self.host,
            body.len()
        );
        s.write_all(head.as_bytes())
            .and_then(|()| s.write_all(body))
            .map_err(|e| retryable(format!("send: {e}")))?;
        let mut buf = Vec::new();
        s.take(MAX_REPLY_BYTES as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|e| retryable(format!("no complete reply: {e}")))?;
        if buf.len() > MAX_REPLY_BYTES {
            return Err(fatal(format!("the reply is over {MAX_REPLY_BYTES} bytes")));
        }
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| retryable("the connection closed before a full reply".into()))?;
        let head = String::from_utf8_lossy(buf.get(..split).unwrap_or_default()).into_owned();
        let body = buf.get(split + 4..).unwrap_or_default();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| fatal("malformed status line".into()))?;
        let lower = head.to_ascii_lowercase();
        if lower.contains("transfer-encoding: chunked") {
            return Err(fatal("chunked replies are not supported".into()));
        }
        if let Some(len) = lower
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            if body.len() < len {
                return Err(retryable(format!(
                    "the reply was cut after {} of {len} bytes",
                    body.len()
                )));
            }
        }
        if !(200..300).contains(&status) {
            let snippet: String = String::from_utf8_lossy(body).chars().take(200).collect();
            let msg = format!("HTTP {status}: {snippet}");
            return Err(if matches!(status, 408 | 429 | 500 | 502 | 503 | 504) {
                retryable(msg)
            } else {
                fatal(msg)
            });
        }
        serde_json::from_slice(body).map_err(|e| fatal(format!("the reply is not JSON: {e}")))
    }

    fn parse(&self, v: &Value, rows: usize) -> Result<Matrix, String> {
        let k = self.config.classes.len();
        match &self.config.protocol {
            Protocol::OpenInferenceV2 { output, .. } => {
                let outs = v
                    .get("outputs")
                    .and_then(Value::as_array)
                    .ok_or("the reply has no `outputs`")?;
                let chosen: Vec<&Value> = outs
                    .iter()
                    .filter(|o| match output {
                        Some(n) => o.get("name").and_then(Value::as_str) == Some(n),
                        None => o
                            .get("shape")
                            .and_then(Value::as_array)
                            .is_some_and(|s| s.len() == 2),
                    })
                    .collect();
                let [o] = chosen.as_slice() else {
                    return Err("the reply has no single probability output; name it with `output`".into());
                };
                let data = o
                    .get("data")
                    .and_then(Value::as_array)
                    .ok_or("the output has no `data`")?;
                if data.len() != rows * k {
                    return Err(format!("{} values for {rows} rows × {k} classes", data.len()));
                }
                let vals: Option<Vec<f32>> = data
                    .iter()
                    .map(|x| x.as_f64().filter(|f| f.is_finite()).map(|f| f as f32))
                    .collect();
                Matrix::new(vals.ok_or("a non-finite or non-numeric probability")?, rows, k)
                    .map_err(|e| e.to_string())
            }
            Protocol::Mlflow => probabilities_from_json(
                v.get("predictions").ok_or("the reply has no `predictions`")?,
                rows,
                k,
            ),
        }
    }

    fn request(&self, x: &Matrix) -> Result<Matrix, RuntimeError> {
        let body = match &self.config.protocol {
            Protocol::OpenInferenceV2 { input, .. } => json!({"inputs": [{
                "name": input, "shape": [x.rows, x.cols], "datatype": "FP32", "data": x.data}]}),
            Protocol::Mlflow => json!({"inputs": (0..x.rows).map(|i| x.row(i)).collect::<Vec<_>>()}),
        };
        let body = serde_json::to_vec(&body).map_err(|e| RuntimeError::Backend(e.to_string()))?;
        let policy = self.config.retry;
        let attempts = policy.attempts.max(1);
        let mut last = String::new();
        for n in 0..attempts {
            match self.post(&body) {
                Ok(v) => {
                    return self
                        .parse(&v, x.rows)
                        .map_err(|e| RuntimeError::Backend(format!("{}: {e}", self.config.url)))
                }
                Err(f) if !f.retry => {
                    return Err(RuntimeError::Backend(format!(
                        "{}: {}",
                        self.config.url, f.message
                    )))
                }
                Err(f) => last = f.message,
            }
            if n + 1 < attempts {
                std::thread::sleep(policy.pause(n));
            }
        }
        Err(RuntimeError::Backend(format!(
            "{}: failed after {attempts} attempts: {last}",
            self.config.url
        )))
    }
}

impl Classifier for HttpClassifier {
    fn signature(&self) -> &InputSignature {
        &self.signature
    }

    fn classes(&self) -> &[ClassLabel] {
        &self.config.classes
    }

    fn predict_proba(&self, x: &Matrix) -> Result<Matrix, RuntimeError> {
        if x.cols != self.signature.n_features {
            return Err(RuntimeError::Shape(format!(
                "the endpoint takes {} features per row, got {}",
                self.signature.n_features, x.cols
            )));
        }
        in_batches(x, self.config.batch_rows, self.config.classes.len(), |b| {
            self.request(b)
        })
    }
}
