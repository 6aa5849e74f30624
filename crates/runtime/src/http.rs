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
//! The transport is `reqwest`'s blocking client over rustls, so `https://`
//! endpoints work as well as plain `http://` ones inside a cluster or on
//! loopback: timeouts on connect and on the whole request, replies bounded in
//! size, extra headers (e.g. `Authorization`) on every request. Connection
//! failures, timeouts, 408/429/5xx are retried with exponential backoff;
//! other statuses fail at once.

use std::io::Read;

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
    /// Feature names in column order, when known (e.g. from the model file
    /// the endpoint serves), so datasets are matched by name; may be empty.
    pub feature_names: Vec<String>,
    /// Extra request headers, e.g. `("Authorization", "Bearer …")`.
    pub headers: Vec<(String, String)>,
}

impl HttpConfig {
    /// A config with default batching (256 rows), retries and no headers.
    pub fn new(
        url: impl Into<String>,
        protocol: Protocol,
        n_features: usize,
        classes: Vec<ClassLabel>,
    ) -> Self {
        HttpConfig {
            url: url.into(),
            protocol,
            n_features,
            classes,
            batch_rows: 256,
            retry: RetryPolicy::default(),
            feature_names: Vec::new(),
            headers: Vec::new(),
        }
    }
}

/// A classifier behind an HTTP endpoint.
pub struct HttpClassifier {
    config: HttpConfig,
    endpoint: String,
    client: reqwest::blocking::Client,
    headers: reqwest::header::HeaderMap,
    signature: InputSignature,
}

impl std::fmt::Debug for HttpClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values may hold credentials: show names only.
        f.debug_struct("HttpClassifier")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.config.protocol)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
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
    /// Validates the configuration and builds the client; no request is made.
    ///
    /// # Errors
    /// [`RuntimeError::Load`] for a URL that is not `http://` or `https://`
    /// with a host, a malformed header, no features, fewer than two classes,
    /// or feature names that do not match `n_features`.
    pub fn new(config: HttpConfig) -> Result<Self, RuntimeError> {
        let load = |m: String| RuntimeError::Load {
            path: config.url.clone(),
            message: m,
        };
        let url = reqwest::Url::parse(&config.url).map_err(|e| load(format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(load("only http:// and https:// URLs are supported".into()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(load("the URL has no host".into()));
        }
        if config.n_features == 0 || config.classes.len() < 2 {
            return Err(load("declare n_features and at least two classes".into()));
        }
        if !config.feature_names.is_empty() && config.feature_names.len() != config.n_features {
            return Err(load(format!(
                "{} feature names for {} features",
                config.feature_names.len(),
                config.n_features
            )));
        }
        let base = config.url.trim_end_matches('/');
        let endpoint = match &config.protocol {
            Protocol::OpenInferenceV2 { model, .. } => format!("{base}/v2/models/{model}/infer"),
            Protocol::Mlflow => format!("{base}/invocations"),
        };
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in &config.headers {
            let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|e| load(format!("header name '{k}': {e}")))?;
            let mut value = reqwest::header::HeaderValue::from_str(v)
                .map_err(|e| load(format!("header '{k}' has an invalid value: {e}")))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(config.retry.timeout)
            .timeout(config.retry.timeout)
            // One connection per request: a server that closes idle
            // connections can then never turn a reused socket into a
            // spurious failure that spends a retry.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| load(format!("cannot build the HTTP client: {e}")))?;
        Ok(HttpClassifier {
            endpoint,
            client,
            headers,
            signature: InputSignature {
                n_features: config.n_features,
                names: config.feature_names.clone(),
                shape: Some(vec![config.n_features]),
            },
            config,
        })
    }

    /// The URL requests are posted to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn post(&self, body: &[u8]) -> Result<Value, Failure> {
        let reply = self
            .client
            .post(&self.endpoint)
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .map_err(|e| {
                if e.is_builder() {
                    fatal(format!("cannot build the request: {e}"))
                } else {
                    retryable(format!("no reply: {}", error_chain(&e)))
                }
            })?;
        let status = reply.status().as_u16();
        if reply.content_length().is_some_and(|n| n > MAX_REPLY_BYTES as u64) {
            return Err(fatal(format!("the reply is over {MAX_REPLY_BYTES} bytes")));
        }
        let mut buf = Vec::new();
        reply
            .take(MAX_REPLY_BYTES as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|e| retryable(format!("the reply was cut: {e}")))?;
        if buf.len() > MAX_REPLY_BYTES {
            return Err(fatal(format!("the reply is over {MAX_REPLY_BYTES} bytes")));
        }
        if !(200..300).contains(&status) {
            let snippet: String = String::from_utf8_lossy(&buf).chars().take(200).collect();
            let msg = format!("HTTP {status}: {snippet}");
            return Err(if matches!(status, 408 | 429 | 500 | 502 | 503 | 504) {
                retryable(msg)
            } else {
                fatal(msg)
            });
        }
        serde_json::from_slice(&buf).map_err(|e| fatal(format!("the reply is not JSON: {e}")))
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
                        .map_err(|e| RuntimeError::Backend(format!("{}: {e}", self.endpoint)))
                }
                Err(f) if !f.retry => {
                    return Err(RuntimeError::Backend(format!("{}: {}", self.endpoint, f.message)))
                }
                Err(f) => last = f.message,
            }
            if n + 1 < attempts {
                std::thread::sleep(policy.pause(n));
            }
        }
        Err(RuntimeError::Backend(format!(
            "{}: failed after {attempts} attempts: {last}",
            self.endpoint
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

/// An error and its causes on one line (reqwest's own message omits them).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
