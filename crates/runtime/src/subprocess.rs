//! The subprocess backend: any framework behind a ten-line script that
//! speaks JSON lines on stdin and stdout.
//!
//! Protocol, one JSON object per line each way:
//!
//! ```text
//! → {"op": "describe"}
//! ← {"classes": [0, 1], "n_features": 30}            (optional "feature_names")
//! → {"op": "predict", "rows": [[…], […]]}
//! ← {"probabilities": [[0.9, 0.1], [0.2, 0.8]]}      (or {"error": "…"})
//! ```
//!
//! A Python model is wrapped like this:
//!
//! ```python
//! import json, sys, joblib
//! model = joblib.load("model.joblib")
//! for line in sys.stdin:
//!     req = json.loads(line)
//!     if req["op"] == "describe":
//!         out = {"classes": model.classes_.tolist(), "n_features": model.n_features_in_}
//!     else:
//!         out = {"probabilities": model.predict_proba(req["rows"]).tolist()}
//!     print(json.dumps(out), flush=True)
//! ```
//!
//! Each reply is awaited with a timeout; a process that stalls, dies or
//! answers garbage is killed and restarted, with backoff, up to the retry
//! limit, after which the call fails.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use crate::classifier::{ClassLabel, Classifier, InputSignature, Matrix, RuntimeError};
use crate::retry::RetryPolicy;

/// The longest reply line accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 256 * 1024 * 1024;

/// How to run the model process.
#[derive(Debug, Clone)]
pub struct SubprocessConfig {
    /// Program and arguments (never a shell string).
    pub argv: Vec<String>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// Rows per request.
    pub batch_rows: usize,
    /// Timeouts, retries and backoff.
    pub retry: RetryPolicy,
}

impl SubprocessConfig {
    /// A config for `argv` with default batching and retries.
    pub fn new(argv: Vec<String>) -> Self {
        SubprocessConfig {
            argv,
            cwd: None,
            batch_rows: 1024,
            retry: RetryPolicy::default(),
        }
    }
}

struct Running {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Result<String, String>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A classifier served by a child process.
pub struct SubprocessClassifier {
    config: SubprocessConfig,
    signature: InputSignature,
    classes: Vec<ClassLabel>,
    process: Mutex<Option<Running>>,
}

impl std::fmt::Debug for SubprocessClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubprocessClassifier")
            .field("argv", &self.config.argv)
            .field("classes", &self.classes)
            .finish_non_exhaustive()
    }
}

fn spawn(config: &SubprocessConfig) -> Result<Running, String> {
    let program = config.argv.first().ok_or("argv is empty")?;
    let mut cmd = Command::new(program);
    cmd.args(config.argv.iter().skip(1))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(cwd) = &config.cwd {
        cmd.current_dir(cwd);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start '{program}': {e}"))?;
    let stdin = child.stdin.take().ok_or("no stdin")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        loop {
            let mut line = String::new();
            // Bound a line's length: a runaway process must not exhaust memory.
            let mut limited = std::io::Read::take(&mut reader, MAX_LINE_BYTES as u64);
            match limited.read_line(&mut line) {
                Ok(0) => {
                    let _ = tx.send(Err("the process closed its output".to_string()));
                    return;
                }
                Ok(_) if !line.ends_with('\n') && line.len() >= MAX_LINE_BYTES => {
                    let _ = tx.send(Err(format!("a reply line is over {MAX_LINE_BYTES} bytes")));
                    return;
                }
                Ok(_) => {
                    if tx.send(Ok(line)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(format!("cannot read the process output: {e}")));
                    return;
                }
            }
        }
    });
    Ok(Running {
        child,
        stdin,
        lines: rx,
    })
}

fn exchange(run: &mut Running, request: &Value, timeout: Duration) -> Result<Value, String> {
    let mut text = serde_json::to_string(request).map_err(|e| e.to_string())?;
    text.push('\n');
    run.stdin
        .write_all(text.as_bytes())
        .and_then(|()| run.stdin.flush())
        .map_err(|e| format!("cannot write to the process: {e}"))?;
    let line = match run.lines.recv_timeout(timeout) {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => return Err(e),
        Err(RecvTimeoutError::Timeout) => return Err(format!("no reply within {timeout:?}")),
        Err(RecvTimeoutError::Disconnected) => return Err("the process exited".into()),
    };
    let v: Value = serde_json::from_str(line.trim()).map_err(|e| format!("the reply is not JSON: {e}"))?;
    if let Some(err) = v.get("error") {
        return Err(format!("the model process reported an error: {err}"));
    }
    Ok(v)
}

/// Parses class labels from JSON: integers or strings.
///
/// # Errors
/// A message naming the bad entry.
pub fn labels_from_json(v: &Value) -> Result<Vec<ClassLabel>, String> {
    let arr = v.as_array().ok_or("`classes` must be a list")?;
    arr.iter()
        .map(|c| match c {
            Value::Number(n) => n
                .as_i64()
                .map(ClassLabel::Int)
                .ok_or_else(|| format!("class {n} is not an integer")),
            Value::String(s) => Ok(ClassLabel::Str(s.clone())),
            other => Err(format!("class {other} is neither an integer nor a string")),
        })
        .collect()
}

/// Reads a `rows × k` probability matrix from JSON.
///
/// # Errors
/// A message naming the bad row.
pub fn probabilities_from_json(v: &Value, rows: usize, k: usize) -> Result<Matrix, String> {
    let arr = v.as_array().ok_or("probabilities must be a list of rows")?;
    if arr.len() != rows {
        return Err(format!("{} rows of probabilities for {rows} inputs", arr.len()));
    }
    let mut data = Vec::with_capacity(rows * k);
    for (i, row) in arr.iter().enumerate() {
        let r = row.as_array().ok_or_else(|| {
            format!("row {i} is not a list of probabilities (a label instead of predict_proba?)")
        })?;
        if r.len() != k {
            return Err(format!("row {i} has {} probabilities for {k} classes", r.len()));
        }
        for p in r {
            let p = p.as_f64().ok_or_else(|| format!("row {i} holds a non-number"))?;
            if !p.is_finite() {
                return Err(format!("row {i} holds a non-finite probability"));
            }
            data.push(p as f32);
        }
    }
    Matrix::new(data, rows, k).map_err(|e| e.to_string())
}

impl SubprocessClassifier {
    /// Starts the process and asks it to describe the model.
    ///
    /// # Errors
    /// [`RuntimeError::Backend`] when the process cannot start or describe
    /// itself within the retry budget; [`RuntimeError::Load`] for a
    /// malformed description.
    pub fn start(config: SubprocessConfig) -> Result<Self, RuntimeError> {
        let origin = config.argv.join(" ");
        let mut run = None;
        let desc = config
            .retry
            .run(|| {
                let mut r = spawn(&config)?;
                let v = exchange(&mut r, &json!({"op": "describe"}), config.retry.timeout)?;
                run = Some(r);
                Ok(v)
            })
            .map_err(|e| RuntimeError::Backend(format!("{origin}: {e}")))?;
        let load = |m: String| RuntimeError::Load {
            path: origin.clone(),
            message: m,
        };
        let classes = labels_from_json(desc.get("classes").unwrap_or(&Value::Null)).map_err(load)?;
        if classes.len() < 2 {
            return Err(load("the model describes fewer than two classes".into()));
        }
        let n_features = desc
            .get("n_features")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| load("`n_features` must be a positive integer".into()))?;
        let names: Vec<String> = desc
            .get("feature_names")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        if !names.is_empty() && names.len() != n_features {
            return Err(load(format!(
                "{} feature names for {n_features} features",
                names.len()
            )));
        }
        Ok(SubprocessClassifier {
            signature: InputSignature {
                n_features,
                names,
                shape: Some(vec![n_features]),
            },
            classes,
            process: Mutex::new(run),
            config,
        })
    }

    fn predict_batch(&self, x: &Matrix) -> Result<Matrix, RuntimeError> {
        let rows: Vec<&[f32]> = (0..x.rows).map(|i| x.row(i)).collect();
        let request = json!({"op": "predict", "rows": rows});
        let mut guard = self
            .process
            .lock()
            .map_err(|_| RuntimeError::Backend("the process lock is poisoned".into()))?;
        let k = self.classes.len();
        let origin = self.config.argv.join(" ");
        self.config
            .retry
            .run(|| {
                if guard.is_none() {
                    *guard = Some(spawn(&self.config)?);
                }
                let run = guard.as_mut().ok_or("no process")?;
                let result = exchange(run, &request, self.config.retry.timeout).and_then(|v| {
                    probabilities_from_json(v.get("probabilities").unwrap_or(&Value::Null), x.rows, k)
                });
                if result.is_err() {
                    // Whatever state the process is in, start afresh.
                    *guard = None;
                }
                result
            })
            .map_err(|e| RuntimeError::Backend(format!("{origin}: {e}")))
    }
}

impl Classifier for SubprocessClassifier {
    fn signature(&self) -> &InputSignature {
        &self.signature
    }

    fn classes(&self) -> &[ClassLabel] {
        &self.classes
    }

    fn predict_proba(&self, x: &Matrix) -> Result<Matrix, RuntimeError> {
        if x.cols != self.signature.n_features {
            return Err(RuntimeError::Shape(format!(
                "the model takes {} features per row, got {}",
                self.signature.n_features, x.cols
            )));
        }
        crate::retry::in_batches(x, self.config.batch_rows, self.classes.len(), |b| {
            self.predict_batch(b)
        })
    }
}
