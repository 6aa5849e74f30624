//! Loading a declared model as a [`Classifier`], for every classifier gate
//! (performance, reference, fairness, robustness, backdoor): from its ONNX
//! file, or through the endpoint its [`Serve`] declaration names.
//!
//! The model's `path` is what the evidence is bound to (its digest); the
//! endpoint, when there is one, is recorded as a further input (role
//! `model-endpoint` or `reference-endpoint`), so evidence says the
//! predictions came from it. This lives apart from [`crate::serve`], which
//! only describes endpoints, so that the gate vocabulary ([`crate::gate`])
//! may name a serve declaration without the declaration depending back on it.

use std::path::Path;

use portcullis_runtime::{
    ClassLabel, Classifier, HttpClassifier, HttpConfig, OnnxClassifier, Protocol, SubprocessClassifier,
    SubprocessConfig,
};

use crate::gate::{GateContext, GateError, Input, ModelRef};
use crate::params::sha256;
use crate::serve::{Endpoint, Serve, DEFAULT_V2_INPUT};

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
