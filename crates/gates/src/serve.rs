//! One loader for every classifier gate (performance, reference, fairness,
//! robustness, backdoor): a declared model becomes a [`Classifier`], either
//! from its ONNX file or from the endpoint that serves it.
//!
//! The model's `path` is what the evidence is bound to (its digest); an
//! optional [`Serve`] says how predictions are obtained instead of loading
//! the file: an Open Inference Protocol v2 server (KServe, Triton,
//! MLServer), an MLflow scoring server, or a JSON-lines subprocess. The
//! endpoint is recorded as an input of the gate (role `model-endpoint` or
//! `reference-endpoint`), so evidence says the predictions came from it.
//!
//! An HTTP endpoint does not describe its classes, so they come from the
//! serve declaration (`classes`, `n_features`) or, when absent, from the
//! ONNX file at `path` (its signature and class labels; the file is parsed,
//! its predictions are not used). A subprocess describes itself.

use std::path::Path;
use std::time::Duration;

use portcullis_evidence::ServeDecl;
use portcullis_runtime::{
    ClassLabel, Classifier, HttpClassifier, HttpConfig, OnnxClassifier, Protocol, RetryPolicy,
    SubprocessClassifier, SubprocessConfig,
};

use crate::gate::{GateContext, GateError, Input, ModelRef};
use crate::params::sha256;

/// Where predictions come from when a model is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Open Inference Protocol v2: `POST {url}/v2/models/{model_name}/infer`.
    KserveV2 {
        /// Base URL (`http(s)://host:port[/prefix]`).
        url: String,
        /// The served model's name.
        model_name: String,
        /// The input tensor's name (`input` when not declared).
        input: Option<String>,
        /// The output holding probabilities (the only 2-D output when not declared).
        output: Option<String>,
    },
    /// MLflow scoring server: `POST {url}/invocations`.
    Mlflow {
        /// Base URL.
        url: String,
    },
    /// A JSON-lines process (see `docs/runtime.md`).
    Command {
        /// Program and arguments.
        argv: Vec<String>,
    },
}

/// How a model is served, with the client's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serve {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Per-request timeout (30 s by default).
    pub timeout: Option<Duration>,
    /// Rows per request (256 by default).
    pub batch_size: Option<usize>,
    /// Retries after the first attempt (3 by default).
    pub retries: Option<u32>,
    /// Extra HTTP headers (name, value); values are never recorded.
    pub headers: Vec<(String, String)>,
    /// Class labels in probability-column order (HTTP; default from the ONNX file).
    pub classes: Vec<String>,
    /// Features per row (HTTP; default from the ONNX file).
    pub n_features: Option<usize>,
}

/// The default input tensor name for Open Inference Protocol v2 requests.
pub const DEFAULT_V2_INPUT: &str = "input";

impl Serve {
    /// A serve declaration for `endpoint` with default limits.
    pub fn new(endpoint: Endpoint) -> Self {
        Serve {
            endpoint,
            timeout: None,
            batch_size: None,
            retries: None,
            headers: Vec::new(),
            classes: Vec::new(),
            n_features: None,
        }
    }

    /// Parses the command line's `PROTOCOL+URL` form:
    /// `kserve-v2+http://host:8080/v2/models/NAME` (or `…/NAME/infer`) and
    /// `mlflow+https://host/invocations` (or the base URL).
    ///
    /// # Errors
    /// A message saying which form was expected.
    pub fn parse_endpoint(text: &str) -> Result<Endpoint, String> {
        let (protocol, url) = text.split_once('+').ok_or_else(|| {
            format!("'{text}': expected PROTOCOL+URL, e.g. kserve-v2+http://127.0.0.1:8080/v2/models/NAME or mlflow+http://127.0.0.1:5000/invocations")
        })?;
        endpoint_of(protocol, url, None)
    }

    /// What the gate records about this endpoint: its URL (or command) and,
    /// for v2, the model name. Header values are left out.
    pub fn describe(&self) -> (String, Option<String>) {
        match &self.endpoint {
            Endpoint::KserveV2 { url, model_name, .. } => (
                format!("kserve-v2+{}/v2/models/{model_name}", url.trim_end_matches('/')),
                Some(model_name.clone()),
            ),
            Endpoint::Mlflow { url } => (format!("mlflow+{}/invocations", url.trim_end_matches('/')), None),
            Endpoint::Command { argv } => (format!("command:{}", argv.join(" ")), None),
        }
    }

    fn retry(&self) -> RetryPolicy {
        let d = RetryPolicy::default();
        RetryPolicy {
            timeout: self.timeout.unwrap_or(d.timeout),
            attempts: self.retries.map_or(d.attempts, |r| r.saturating_add(1)),
            ..d
        }
    }
}

impl Serve {
    /// Resolves a policy's `serve:` declaration (`what` names it in
    /// messages: `model`, `reference`). `${VAR}` in a header value is
    /// replaced by the environment variable, so tokens stay out of the
    /// policy file.
    ///
    /// # Errors
    /// An unknown protocol, a bad URL or an unset variable, as
    /// `WHAT.serve: …`.
    pub fn from_decl(d: &ServeDecl, what: &str) -> Result<Serve, String> {
        let endpoint = match (&d.url, &d.protocol) {
            (Some(url), Some(protocol)) => {
                let mut e = endpoint_of(protocol, url, d.model_name.as_deref())
                    .map_err(|m| format!("{what}.serve: {m}"))?;
                if let Endpoint::KserveV2 { input, output, .. } = &mut e {
                    input.clone_from(&d.input);
                    output.clone_from(&d.output);
                }
                e
            }
            _ => Endpoint::Command {
                argv: d.command.clone(),
            },
        };
        let mut serve = Serve::new(endpoint);
        serve.timeout = d.timeout;
        serve.retries = d.retries;
        serve.batch_size = d.batch_size.and_then(|b| usize::try_from(b).ok());
        serve.n_features = d.n_features.and_then(|b| usize::try_from(b).ok());
        serve.classes.clone_from(&d.classes);
        for (k, v) in &d.headers {
            let value = expand_env(v).map_err(|m| format!("{what}.serve.headers.{k}: {m}"))?;
            serve.headers.push((k.clone(), value));
        }
        Ok(serve)
    }
}

/// Replaces each `${NAME}` with the environment variable's value.
fn expand_env(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(rest.get(..i).unwrap_or(""));
        let after = rest.get(i + 2..).unwrap_or("");
        let end = after.find('}').ok_or("an unclosed ${")?;
        let name = after.get(..end).unwrap_or("");
        let value = std::env::var(name).map_err(|_| format!("the environment variable {name} is not set"))?;
        out.push_str(&value);
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    Ok(out)
}

/// Builds an endpoint from a protocol name and a URL; `model_name`
/// overrides the name found in a v2 URL.
///
/// # Errors
/// A message for an unknown protocol, a URL that is not http(s), or a v2
/// URL without a model name.
pub fn endpoint_of(protocol: &str, url: &str, model_name: Option<&str>) -> Result<Endpoint, String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("'{url}' is not an http:// or https:// URL"));
    }
    let url = url.trim_end_matches('/');
    match protocol {
        "kserve-v2" | "v2" | "open-inference-v2" => {
            let (base, name) = match url.split_once("/v2/models/") {
                Some((base, rest)) => {
                    let name = rest.trim_end_matches("/infer").split('/').next().unwrap_or("");
                    (base.to_string(), (!name.is_empty()).then(|| name.to_string()))
                }
                None => (url.to_string(), None),
            };
            let model_name = model_name.map(str::to_string).or(name).ok_or_else(|| {
                format!("'{url}' names no model: use …/v2/models/NAME or declare `model_name`")
            })?;
            Ok(Endpoint::KserveV2 {
                url: base,
                model_name,
                input: None,
                output: None,
            })
        }
        "mlflow" => Ok(Endpoint::Mlflow {
            url: url.trim_end_matches("/invocations").to_string(),
        }),
        other => Err(format!(
            "unknown serving protocol '{other}' (expected kserve-v2 or mlflow)"
        )),
    }
}

/// A model loaded for evaluation, with what was read to load it.
pub struct LoadedModel {
    /// The classifier.
    pub classifier: Box<dyn Classifier>,
    /// The model file (path and digest), role `model` or `reference`.
    pub record: Input,
    /// The endpoint predictions came from, role `{role}-endpoint`.
    pub endpoint: Option<Input>,
}

impl LoadedModel {
    /// The input records, file first.
    pub fn records(&self) -> Vec<Input> {
        std::iter::once(self.record.clone())
            .chain(self.endpoint.clone())
            .collect()
    }
}

/// Loads `m` as a classifier: from its ONNX file, or through its endpoint
/// when it declares [`Serve`].
///
/// # Errors
/// [`GateError::Input`] naming the model (or endpoint) and the cause: no
/// path, an unsupported kind, an unreadable or unloadable file, an endpoint
/// that cannot describe the model.
pub fn load_model(role: &str, m: &ModelRef, ctx: &GateContext<'_>) -> Result<LoadedModel, GateError> {
    let path = m.path.as_deref().ok_or_else(|| {
        GateError::Input(format!(
            "the {role} has no path; declare `{role}: {{path: …}}` or pass --{role}"
        ))
    })?;
    let path = ctx.resolve(path);
    let Some(serve) = &m.serve else {
        check_kind(role, m)?;
        let (bytes, record) = read_model_file(role, &path)?;
        let classifier = onnx_from_bytes(role, &path, &bytes)?;
        return Ok(LoadedModel {
            classifier,
            record,
            endpoint: None,
        });
    };
    // The file is what the evidence is bound to; hash it when it is one file
    // (a directory is bound by the artifact digest).
    let (bytes, record) = if path.is_file() {
        let (b, r) = read_model_file(role, &path)?;
        (Some(b), r)
    } else {
        (
            None,
            Input {
                role: role.to_string(),
                uri: path.display().to_string(),
                sha256: None,
                model: None,
            },
        )
    };
    let (uri, model_name) = serve.describe();
    let endpoint_record = Input {
        role: format!("{role}-endpoint"),
        uri: uri.clone(),
        sha256: None,
        model: model_name,
    };
    let classifier: Box<dyn Classifier> = match &serve.endpoint {
        Endpoint::Command { argv } => {
            let mut config = SubprocessConfig::new(argv.clone());
            config.cwd = Some(ctx.base_dir.to_path_buf());
            config.retry = serve.retry();
            if let Some(b) = serve.batch_size {
                config.batch_rows = b;
            }
            Box::new(
                SubprocessClassifier::start(config)
                    .map_err(|e| GateError::Input(format!("{role} endpoint {uri}: {e}")))?,
            )
        }
        Endpoint::KserveV2 { url, .. } | Endpoint::Mlflow { url } => {
            let protocol = match &serve.endpoint {
                Endpoint::KserveV2 {
                    model_name,
                    input,
                    output,
                    ..
                } => Protocol::OpenInferenceV2 {
                    model: model_name.clone(),
                    input: input.clone().unwrap_or_else(|| DEFAULT_V2_INPUT.to_string()),
                    output: output.clone(),
                },
                _ => Protocol::Mlflow,
            };
            let (n_features, classes, names) = describe_for_http(role, serve, &path, bytes.as_deref())?;
            let mut config = HttpConfig::new(url.clone(), protocol, n_features, classes);
            config.feature_names = names;
            config.retry = serve.retry();
            config.headers = serve.headers.clone();
            if let Some(b) = serve.batch_size {
                config.batch_rows = b;
            }
            Box::new(
                HttpClassifier::new(config)
                    .map_err(|e| GateError::Input(format!("{role} endpoint {uri}: {e}")))?,
            )
        }
    };
    Ok(LoadedModel {
        classifier,
        record,
        endpoint: Some(endpoint_record),
    })
}

fn check_kind(role: &str, m: &ModelRef) -> Result<(), GateError> {
    match m.kind.as_deref() {
        None | Some("onnx") | Some("onnx-classifier") => Ok(()),
        Some(other) => Err(GateError::Input(format!(
            "the {role} kind '{other}' cannot be evaluated from its file (supported: onnx-classifier); \
             declare `serve:` to evaluate it through an endpoint"
        ))),
    }
}

/// Classes and features for an HTTP endpoint: declared, else from the ONNX
/// file at `path`.
fn describe_for_http(
    role: &str,
    serve: &Serve,
    path: &Path,
    bytes: Option<&[u8]>,
) -> Result<(usize, Vec<ClassLabel>, Vec<String>), GateError> {
    if !serve.classes.is_empty() {
        let n = serve.n_features.ok_or_else(|| {
            GateError::Input(format!(
                "the {role}'s `serve` declares classes but not `n_features`"
            ))
        })?;
        let classes = serve
            .classes
            .iter()
            .map(|c| {
                c.parse::<i64>()
                    .map_or_else(|_| ClassLabel::Str(c.clone()), ClassLabel::Int)
            })
            .collect();
        return Ok((n, classes, Vec::new()));
    }
    let bytes = bytes.ok_or_else(|| {
        GateError::Input(format!(
            "{}: an HTTP endpoint does not say the model's classes; declare `classes` and `n_features` under the {role}'s `serve`",
            path.display()
        ))
    })?;
    let onnx = onnx_from_bytes(role, path, bytes).map_err(|e| {
        GateError::Input(format!(
            "{e}; declare `classes` and `n_features` under the {role}'s `serve` instead"
        ))
    })?;
    let sig = onnx.signature();
    Ok((sig.n_features, onnx.classes().to_vec(), sig.names.clone()))
}

fn onnx_from_bytes(role: &str, path: &Path, bytes: &[u8]) -> Result<Box<dyn Classifier>, GateError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    match OnnxClassifier::from_bytes_in_dir(bytes, &path.display().to_string(), dir, &Default::default()) {
        Ok(c) => Ok(Box::new(c)),
        #[cfg(feature = "ort")]
        Err(e) if e.to_string().contains("`ort` feature") => Ok(Box::new(
            portcullis_runtime::onnx::OrtClassifier::load(path)
                .map_err(|o| GateError::Input(format!("{role}: {e}; onnxruntime also failed: {o}")))?,
        )),
        Err(e) => Err(GateError::Input(format!("{role}: {e}"))),
    }
}

fn read_model_file(role: &str, path: &Path) -> Result<(Vec<u8>, Input), GateError> {
    let bytes = read_bounded(path, portcullis_runtime::onnx::MAX_MODEL_BYTES)?;
    let record = Input {
        role: role.to_string(),
        uri: path.display().to_string(),
        sha256: Some(sha256(&bytes)),
        model: None,
    };
    Ok((bytes, record))
}

/// Reads a file of at most `limit` bytes.
///
/// # Errors
/// [`GateError::Input`] naming the file when it is missing, unreadable or
/// over the limit.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, GateError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| GateError::Input(format!("cannot read {}: {e}", path.display())))?;
    if meta.is_dir() {
        return Err(GateError::Input(format!(
            "{} is a directory; point at the .onnx file, or declare `serve:` for a served model",
            path.display()
        )));
    }
    if meta.len() > limit {
        return Err(GateError::Input(format!(
            "{} is {} bytes, over the {limit}-byte limit",
            path.display(),
            meta.len()
        )));
    }
    std::fs::read(path).map_err(|e| GateError::Input(format!("cannot read {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls_split_into_base_and_model() {
        assert_eq!(
            Serve::parse_endpoint("kserve-v2+http://127.0.0.1:8080/v2/models/adult/infer").unwrap(),
            Endpoint::KserveV2 {
                url: "http://127.0.0.1:8080".into(),
                model_name: "adult".into(),
                input: None,
                output: None
            }
        );
        assert_eq!(
            Serve::parse_endpoint("mlflow+https://m.example/prefix/invocations").unwrap(),
            Endpoint::Mlflow {
                url: "https://m.example/prefix".into()
            }
        );
        assert!(Serve::parse_endpoint("kserve-v2+http://h:1/").is_err());
        assert!(Serve::parse_endpoint("grpc+http://h:1/").is_err());
        assert!(Serve::parse_endpoint("mlflow+ftp://h/").is_err());
        assert!(Serve::parse_endpoint("http://h/").is_err());
        let mut s = Serve::new(Endpoint::Command {
            argv: vec!["serve".into(), "--stdio".into()],
        });
        s.retries = Some(0);
        assert_eq!(s.retry().attempts, 1);
        assert_eq!(s.describe().0, "command:serve --stdio");
    }

    fn ctx_for<'a>(
        model: &'a ModelRef,
        data: &'a std::collections::BTreeMap<String, crate::DataSource>,
    ) -> GateContext<'a> {
        GateContext {
            name: "performance",
            model,
            reference: None,
            data,
            base_dir: Path::new("."),
            seed: 0,
            progress: &crate::NoProgress,
            deadline: None,
        }
    }

    #[test]
    fn a_served_model_records_its_file_and_its_endpoint() {
        let dir = std::env::temp_dir().join(format!("portcullis-serve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("model.bin");
        std::fs::write(&file, b"weights").unwrap();
        // A JSON-lines model process: two classes, one feature, always [0.4, 0.6].
        let program = r#"/"describe"/ { print "{\"classes\": [0, 1], \"n_features\": 1}"; fflush(); next }
            { n = gsub(/\],\[/, "&") + 1; out = "{\"probabilities\": ["
              for (i = 1; i <= n; i++) out = out (i > 1 ? "," : "") "[0.4,0.6]"
              print out "]}"; fflush() }"#;
        let mut argv = vec!["awk".to_string()];
        if std::fs::canonicalize("/usr/bin/awk").is_ok_and(|p| p.ends_with("mawk")) {
            argv.extend(["-W".to_string(), "interactive".to_string()]);
        }
        argv.push(program.into());
        let model = ModelRef {
            path: Some(file.clone()),
            serve: Some(Serve::new(Endpoint::Command { argv })),
            kind: Some("sklearn-pickle".into()),
            ..Default::default()
        };
        let data = Default::default();
        let loaded = load_model("model", &model, &ctx_for(&model, &data)).unwrap();
        let p = loaded
            .classifier
            .predict_proba(&portcullis_runtime::Matrix::zeros(3, 1))
            .unwrap();
        assert_eq!(p.row(2), &[0.4, 0.6]);
        let records = loaded.records();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].role, "model");
        assert_eq!(records[0].sha256, Some(sha256(b"weights")));
        assert_eq!(records[1].role, "model-endpoint");
        assert!(records[1].uri.starts_with("command:awk"), "{}", records[1].uri);
        // Without `serve`, the same non-ONNX kind is refused with a hint.
        let plain = ModelRef {
            serve: None,
            ..model.clone()
        };
        let err = load_model("model", &plain, &ctx_for(&plain, &data))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("declare `serve:`"), "{err}");
        // An HTTP endpoint needs classes from somewhere.
        let http = ModelRef {
            serve: Some(Serve::new(
                Serve::parse_endpoint("mlflow+http://127.0.0.1:9/invocations").unwrap(),
            )),
            ..model
        };
        let err = load_model("model", &http, &ctx_for(&http, &data))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("`classes` and `n_features`"), "{err}");
    }
}
