//! How a served model is declared: the endpoint that answers for the model
//! file whose digest the evidence is bound to.
//!
//! A [`Serve`] says how predictions are obtained instead of loading
//! the file: an Open Inference Protocol v2 server (KServe, Triton,
//! MLServer), an MLflow scoring server, or a JSON-lines subprocess. The
//! endpoint is recorded as an input of the gate (role `model-endpoint` or
//! `reference-endpoint`), so evidence says the predictions came from it.
//!
//! An HTTP endpoint does not describe its classes, so they come from the
//! serve declaration (`classes`, `n_features`) or, when absent, from the
//! ONNX file at `path` (its signature and class labels; the file is parsed,
//! its predictions are not used). A subprocess describes itself.
//!
//! This module only describes endpoints and depends on no other module of
//! the crate; [`crate::ml::model`] turns a declaration into a classifier.

use std::time::Duration;

use portcullis_evidence::ServeDecl;
use portcullis_runtime::RetryPolicy;

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

    /// The client retry policy these limits ask for.
    pub(crate) fn retry(&self) -> RetryPolicy {
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
}
