//! Kubernetes admission: a `ValidatingAdmissionWebhook` endpoint that asks
//! the registry's deploy-time question for every model a workload loads.
//!
//! `POST /v1/admission/prod` (or `/v1/admission?stage=prod`; the API server
//! forbids a query in a webhook URL, so the manifests use the path) takes an
//! `admission.k8s.io/v1`
//! `AdmissionReview` and answers with one. The stage comes from the URL, so
//! a cluster maps namespaces to stages with one webhook entry per stage
//! whose `namespaceSelector` matches the namespace label
//! (`portcullis.dev/stage: prod`) and whose path names that stage.
//!
//! Model references are read from
//! - the annotations `portcullis.dev/model-digest` (and optionally
//!   `portcullis.dev/model`, the registry's model name) on the object or its
//!   pod template;
//! - KServe `InferenceService` `spec.predictor.model.storageUri` and the
//!   older per-framework `spec.predictor.<framework>.storageUri`;
//! - Seldon `SeldonDeployment` `spec.predictors[].graph.modelUri` (and its
//!   children) and Seldon v2 `Model` `spec.storageUri`;
//! - `oci://` URIs in pod containers' args, commands and `*MODEL*` /
//!   `*STORAGE*` environment variables, for Pods, Deployments, StatefulSets,
//!   DaemonSets, ReplicaSets, Jobs and CronJobs.
//!
//! Every reference must resolve to a digest (`oci://…@sha256:…` or the
//! annotation) and that digest must be what the stage holds and what the
//! policy allows now; otherwise the review is denied with what is missing.
//! A kind this endpoint cannot read is denied (fail closed). With
//! `mode=warn` nothing is denied: the problems come back as `warnings`, for
//! rollout.

use std::sync::OnceLock;
use std::time::Duration;

use portcullis_engine::Clock;
use portcullis_oci::{Client as OciClient, Options as OciOptions, Reference};
use portcullis_policy::Policy;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::registry::Registry;

/// One model a workload loads.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRef {
    /// The registry's model name, when the object names it.
    pub model: Option<String>,
    /// The digest, lowercase hex, when the reference has one.
    pub digest: Option<String>,
    /// Where it was found (`spec.predictor.model.storageUri`).
    pub at: String,
    /// The reference as written.
    pub raw: String,
}

const DIGEST_ANNOTATION: &str = "portcullis.dev/model-digest";
const MODEL_ANNOTATION: &str = "portcullis.dev/model";

/// The hex digest of `oci://…@sha256:<hex>` or `sha256:<hex>` / `<hex>`.
fn digest_of(s: &str) -> Option<String> {
    let tail = s.rsplit_once("@sha256:").map(|(_, t)| t).unwrap_or(s);
    let hex = tail.strip_prefix("sha256:").unwrap_or(tail);
    let hex: String = hex.chars().take_while(char::is_ascii_hexdigit).collect();
    (hex.len() == 64).then(|| hex.to_ascii_lowercase())
}

fn annotations(meta: Option<&Value>) -> (Option<&str>, Option<&str>) {
    let a = meta.and_then(|m| m.get("annotations"));
    (
        a.and_then(|a| a.get(DIGEST_ANNOTATION)).and_then(Value::as_str),
        a.and_then(|a| a.get(MODEL_ANNOTATION)).and_then(Value::as_str),
    )
}

fn uri_ref(out: &mut Vec<ModelRef>, model: Option<&str>, at: String, raw: &str) {
    out.push(ModelRef {
        model: model.map(str::to_string),
        digest: digest_of(raw),
        at,
        raw: raw.to_string(),
    });
}

/// `oci://` references in a pod spec's containers.
fn pod_refs(out: &mut Vec<ModelRef>, spec: Option<&Value>, model: Option<&str>, at: &str) {
    let Some(spec) = spec else { return };
    for list in ["initContainers", "containers"] {
        for (i, c) in spec
            .get(list)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
            for key in ["args", "command"] {
                for v in c.get(key).and_then(Value::as_array).into_iter().flatten() {
                    if let Some(s) = v.as_str() {
                        for word in s.split(|ch: char| ch.is_whitespace() || ch == '=') {
                            if word.starts_with("oci://") {
                                uri_ref(out, model, format!("{at}.{list}[{i}] ({name}) {key}"), word);
                            }
                        }
                    }
                }
            }
            for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
                let n = e.get("name").and_then(Value::as_str).unwrap_or("");
                let upper = n.to_ascii_uppercase();
                if let Some(v) = e.get("value").and_then(Value::as_str) {
                    if v.starts_with("oci://")
                        || ((upper.contains("MODEL") || upper.contains("STORAGE")) && v.contains("://"))
                    {
                        uri_ref(out, model, format!("{at}.{list}[{i}] ({name}) env {n}"), v);
                    }
                }
            }
        }
    }
}

fn seldon_graph(out: &mut Vec<ModelRef>, g: &Value, model: Option<&str>, at: String) {
    if let Some(u) = g.get("modelUri").and_then(Value::as_str) {
        uri_ref(out, model, format!("{at}.modelUri"), u);
    }
    for (i, c) in g
        .get("children")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        seldon_graph(out, c, model, format!("{at}.children[{i}]"));
    }
}

/// The model references of one object.
///
/// # Errors
/// A kind this endpoint cannot read, named.
pub fn references(kind: &str, object: &Value) -> Result<Vec<ModelRef>, String> {
    let mut out = Vec::new();
    let meta = object.get("metadata");
    let (ann_digest, ann_model) = annotations(meta);
    let spec = object.get("spec");
    let template = match kind {
        "Pod" => None,
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            spec.and_then(|s| s.get("template"))
        }
        "CronJob" => spec
            .and_then(|s| s.get("jobTemplate"))
            .and_then(|j| j.get("spec"))
            .and_then(|s| s.get("template")),
        _ => None,
    };
    let (tpl_digest, tpl_model) = annotations(template.and_then(|t| t.get("metadata")));
    let model = ann_model.or(tpl_model);
    if let Some(d) = ann_digest.or(tpl_digest) {
        out.push(ModelRef {
            model: model.map(str::to_string),
            digest: digest_of(d),
            at: format!("annotation {DIGEST_ANNOTATION}"),
            raw: d.to_string(),
        });
    }
    match kind {
        "Pod" => pod_refs(&mut out, spec, model, "spec"),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" | "CronJob" => {
            let at = if kind == "CronJob" {
                "spec.jobTemplate.spec.template.spec"
            } else {
                "spec.template.spec"
            };
            pod_refs(&mut out, template.and_then(|t| t.get("spec")), model, at);
        }
        "InferenceService" => {
            let predictor = spec.and_then(|s| s.get("predictor"));
            if let Some(p) = predictor.and_then(Value::as_object) {
                for (k, v) in p {
                    if let Some(u) = v.get("storageUri").and_then(Value::as_str) {
                        uri_ref(&mut out, model, format!("spec.predictor.{k}.storageUri"), u);
                    }
                }
            }
        }
        "SeldonDeployment" => {
            for (i, p) in spec
                .and_then(|s| s.get("predictors"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                if let Some(g) = p.get("graph") {
                    seldon_graph(&mut out, g, model, format!("spec.predictors[{i}].graph"));
                }
            }
        }
        "Model" => {
            if let Some(u) = spec.and_then(|s| s.get("storageUri")).and_then(Value::as_str) {
                uri_ref(&mut out, model, "spec.storageUri".into(), u);
            }
        }
        other => {
            return Err(format!(
                "portcullis cannot read kind '{other}'; list only Pods, workloads, InferenceService, SeldonDeployment and Model in the webhook's rules"
            ))
        }
    }
    // A URI naming the annotation's digest is the same model: check it once.
    // A URI with another digest, or none, stays: it must pass on its own.
    if let Some(ann) = out
        .first()
        .filter(|r| r.at.starts_with("annotation"))
        .map(|r| r.digest.clone())
    {
        let mut first = true;
        out.retain(|r| std::mem::take(&mut first) || ann.is_none() || r.digest != ann);
    }
    Ok(out)
}

/// The webhook's query: `?stage=STAGE[&mode=enforce|warn]`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdmissionQuery {
    stage: String,
    #[serde(default)]
    mode: Option<String>,
}

/// The stage and whether to only warn.
pub(crate) fn parse_query(
    q: Result<axum::extract::Query<AdmissionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(String, bool), ApiError> {
    let axum::extract::Query(q) = q.map_err(|e| {
        ApiError::BadRequest(format!(
            "query: {} (the webhook path is /v1/admission/STAGE or /v1/admission?stage=STAGE, optionally &mode=warn)",
            e.body_text()
        ))
    })?;
    let warn = match q.mode.as_deref() {
        None | Some("enforce") => false,
        Some("warn") => true,
        Some(m) => {
            return Err(ApiError::BadRequest(format!(
                "mode '{m}': expected enforce or warn"
            )))
        }
    };
    Ok((q.stage, warn))
}

/// The stage and mode of `/v1/admission/{stage}[/{mode}]`.
pub(crate) fn parse_path(
    params: &std::collections::HashMap<String, String>,
) -> Result<(String, bool), ApiError> {
    let stage = params.get("stage").cloned().unwrap_or_default();
    let warn = match params.get("mode").map(String::as_str) {
        None | Some("enforce") => false,
        Some("warn") => true,
        Some(m) => {
            return Err(ApiError::BadRequest(format!(
                "/v1/admission/{stage}/{m}: expected /v1/admission/STAGE or /v1/admission/STAGE/warn"
            )))
        }
    };
    Ok((stage, warn))
}

/// How a reference is judged: by the registry's stages, or offline from
/// evidence attached in the OCI registry.
pub trait Check {
    /// What is wrong with one reference in `stage`, or `None` when allowed.
    fn problem(&self, stage: &str, r: &ModelRef) -> Option<String>;
}

/// The OCI artifact a reference names by digest, when it does.
fn oci_artifact(r: &ModelRef) -> Option<Reference> {
    r.raw.parse::<Reference>().ok().filter(|at| at.digest.is_some())
}

/// The client that reads model manifests and evidence from OCI
/// registries: short timeouts, because the API server waits for the
/// answer (a timeout denies); credentials from the environment or the
/// docker config; `PORTCULLIS_OCI_CA_CERT` for a private CA.
pub fn oci_client() -> Result<&'static OciClient, String> {
    static CLIENT: OnceLock<Result<OciClient, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let ca_cert = match std::env::var_os("PORTCULLIS_OCI_CA_CERT") {
                Some(p) => Some(std::fs::read(&p).map_err(|e| {
                    format!(
                        "PORTCULLIS_OCI_CA_CERT {}: {e}",
                        std::path::Path::new(&p).display()
                    )
                })?),
                None => None,
            };
            OciClient::new(&OciOptions {
                ca_cert,
                credentials: None,
                timeout: Some(Duration::from_secs(4)),
            })
            .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

static ALLOWED_REGISTRIES: OnceLock<Vec<String>> = OnceLock::new();

/// Limits the OCI registries the webhook reads to `hosts` (`host[:port]`),
/// so a workload cannot make it connect anywhere it names. Set once, before
/// serving; an empty list (or never calling this) allows any registry.
pub fn allow_oci_registries(hosts: Vec<String>) {
    let _ = ALLOWED_REGISTRIES.set(hosts);
}

fn registry_allowed(at: &Reference) -> Result<(), String> {
    match ALLOWED_REGISTRIES.get() {
        Some(list) if !list.is_empty() && !list.contains(&at.registry) => Err(format!(
            "{} is not an OCI registry this webhook reads (allowed: {}); the operator adds it with --oci-registry",
            at.registry,
            list.join(", ")
        )),
        _ => Ok(()),
    }
}

/// The model digest of the OCI artifact `at`: its files' digest, read
/// from its manifest.
fn model_of(at: &Reference) -> Result<portcullis_oci::ModelDigest, String> {
    registry_allowed(at)?;
    let client = oci_client()?;
    portcullis_oci::resolve(client, at)
        .map(|(_, m)| m)
        .map_err(|e| e.to_string())
}

/// The registry's deploy-time question: the stage must hold the digest
/// and the policy allow it now. An `oci://…@sha256:` reference names the
/// artifact's manifest; its model digest is read from the manifest.
pub struct RegistryCheck<'a> {
    /// The registry.
    pub reg: &'a Registry,
    /// Who asks.
    pub caller: &'a Caller,
}

impl RegistryCheck<'_> {
    fn held(&self, stage: &str, model: Option<&String>, digest: &str) -> Result<(), Vec<String>> {
        let models: Vec<String> = match model {
            Some(m) => vec![m.clone()],
            None => self.reg.model_names(),
        };
        let mut reasons = Vec::new();
        for m in &models {
            match self.reg.stage(self.caller, m, stage) {
                Ok(v) if v.digest == *digest && v.allowed => return Ok(()),
                Ok(v) if v.digest == *digest => {
                    let why: Vec<String> = v
                        .decision
                        .decision
                        .iter()
                        .flat_map(|d| &d.reasons)
                        .map(|r| format!("[{}] {}", r.code, r.message))
                        .collect();
                    reasons.push(format!(
                        "'{m}' holds sha256:{digest} in '{stage}' but it is not allowed now: {}",
                        if why.is_empty() {
                            "no reason recorded".to_string()
                        } else {
                            why.join("; ")
                        }
                    ));
                }
                Ok(v) if model.is_some() => reasons.push(format!(
                    "'{m}' holds sha256:{} in '{stage}', not sha256:{digest}",
                    v.digest
                )),
                Ok(_) => {}
                Err(e) if model.is_some() => reasons.push(format!("'{m}': {e}")),
                Err(_) => {}
            }
        }
        if reasons.is_empty() {
            reasons.push(format!(
                "sha256:{digest} has not been promoted to '{stage}' for any model (`portcullis promote --stage {stage} MODEL {digest}` opens a request)"
            ));
        }
        Err(reasons)
    }
}

impl Check for RegistryCheck<'_> {
    fn problem(&self, stage: &str, r: &ModelRef) -> Option<String> {
        let Some(digest) = &r.digest else {
            return Some(no_digest(r));
        };
        let reasons = match self.held(stage, r.model.as_ref(), digest) {
            Ok(()) => return None,
            Err(reasons) => reasons,
        };
        let Some(at) = oci_artifact(r) else {
            return Some(format!("{}: {}", r.at, reasons.join("; ")));
        };
        match model_of(&at) {
            Ok(m) => {
                let hex = m.digest.to_hex();
                match self.held(stage, r.model.as_ref(), &hex) {
                    Ok(()) => None,
                    Err(reasons) => Some(format!(
                        "{}: {at} holds the model sha256:{hex}: {}",
                        r.at,
                        reasons.join("; ")
                    )),
                }
            }
            Err(e) => Some(format!(
                "{}: {}; and the model digest of {at} could not be read: {e}",
                r.at,
                reasons.join("; ")
            )),
        }
    }
}

fn no_digest(r: &ModelRef) -> String {
    format!(
        "{} ({}) names no digest: reference the model as oci://…@sha256:<digest> or set the {DIGEST_ANNOTATION} annotation",
        r.at, r.raw
    )
}

/// Offline: no registry server; each model's evidence is fetched from the
/// OCI registry it is attached to (`portcullis push oci://…`) and decided
/// with the deployer's policy, by the same engine call as `verify`.
pub struct OfflineCheck<'a> {
    /// The deployer's policy.
    pub policy: &'a Policy,
    /// The time source.
    pub clock: &'a dyn Clock,
}

impl Check for OfflineCheck<'_> {
    fn problem(&self, stage: &str, r: &ModelRef) -> Option<String> {
        if r.digest.is_none() {
            return Some(no_digest(r));
        }
        let Some(at) = oci_artifact(r) else {
            return Some(format!(
                "{} ({}): without a registry server, only an oci://…@sha256: reference can be checked (its evidence is read from the OCI registry)",
                r.at, r.raw
            ));
        };
        let decided = registry_allowed(&at)
            .and_then(|()| oci_client())
            .and_then(|client| {
                let (fetched, m) = portcullis_oci::resolve(client, &at).map_err(|e| e.to_string())?;
                let store = portcullis_oci::OciStore::fetch(client, &at, &fetched.digest, m.digest)
                    .map_err(|e| e.to_string())?;
                portcullis_engine::decide(self.policy, stage, &store, &m.digest, self.clock)
                    .map_err(|e| e.to_string())
            });
        match decided {
            Ok(d) if d.decision.allowed => None,
            Ok(d) => Some(format!(
                "{}: the model sha256:{} in {at} is not allowed in '{stage}': {}",
                r.at,
                d.digest.to_hex(),
                d.decision
                    .reasons
                    .iter()
                    .map(|x| format!("[{}] {}", x.code, x.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            Err(e) => Some(format!("{}: {at}: {e}", r.at)),
        }
    }
}

/// Answers an `AdmissionReview` for `stage`; `warn` reports instead of
/// denying.
///
/// # Errors
/// [`ApiError::BadRequest`] when the body is not an `admission.k8s.io/v1`
/// `AdmissionReview` with a request.
pub fn review(check: &dyn Check, body: &Value, stage: &str, warn: bool) -> Result<Value, ApiError> {
    if body.get("apiVersion").and_then(Value::as_str) != Some("admission.k8s.io/v1")
        || body.get("kind").and_then(Value::as_str) != Some("AdmissionReview")
    {
        return Err(ApiError::BadRequest(
            "expected an admission.k8s.io/v1 AdmissionReview".into(),
        ));
    }
    let req = body
        .get("request")
        .ok_or_else(|| ApiError::BadRequest("the AdmissionReview has no request".into()))?;
    let uid = req.get("uid").and_then(Value::as_str).unwrap_or_default();
    let kind = req
        .get("kind")
        .and_then(|k| k.get("kind"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let operation = req.get("operation").and_then(Value::as_str).unwrap_or("CREATE");
    let mut problems = Vec::new();
    if operation != "DELETE" {
        let object = req.get("object").unwrap_or(&Value::Null);
        match references(kind, object) {
            Ok(refs) => problems.extend(refs.iter().filter_map(|r| check.problem(stage, r))),
            Err(e) => problems.push(e),
        }
    }
    let mut response = json!({"uid": uid, "allowed": problems.is_empty() || warn});
    if !problems.is_empty() {
        let name = req
            .get("name")
            .and_then(Value::as_str)
            .or_else(|| {
                req.get("object")
                    .and_then(|o| o.get("metadata"))
                    .and_then(|m| m.get("name"))
                    .and_then(Value::as_str)
            })
            .unwrap_or("");
        let message = format!(
            "portcullis: {kind} {name} is not allowed in stage '{stage}': {}",
            problems.join("; ")
        );
        if warn {
            response["warnings"] = json!(problems
                .iter()
                .map(|p| format!("portcullis ({stage}): {p}"))
                .collect::<Vec<_>>());
        } else {
            response["status"] = json!({"code": 403, "reason": "Forbidden", "message": message});
        }
    }
    Ok(json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_are_found_in_each_kind() {
        let isvc =
            json!({"spec": {"predictor": {"model": {"storageUri": format!("oci://r.io/churn@sha256:{D}")}}}});
        let r = references("InferenceService", &isvc).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].digest.as_deref(), Some(D));
        assert_eq!(r[0].at, "spec.predictor.model.storageUri");
        let old = json!({"spec": {"predictor": {"sklearn": {"storageUri": "gs://b/model"}}}});
        let r = references("InferenceService", &old).unwrap();
        assert_eq!(
            (r[0].at.as_str(), r[0].digest.as_deref()),
            ("spec.predictor.sklearn.storageUri", None)
        );
        let seldon = json!({"spec": {"predictors": [{"graph": {"modelUri": "s3://m", "children": [{"modelUri": format!("oci://x@sha256:{D}")}]}}]}});
        assert_eq!(references("SeldonDeployment", &seldon).unwrap().len(), 2);
        let dep = json!({"spec": {"template": {"metadata": {"annotations": {DIGEST_ANNOTATION: format!("sha256:{D}"), MODEL_ANNOTATION: "churn"}},
            "spec": {"containers": [{"name": "s", "env": [{"name": "DB_URL", "value": "postgres://db"}], "args": ["--model", format!("oci://r.io/churn@sha256:{D}")]}]}}}});
        let r = references("Deployment", &dep).unwrap();
        assert_eq!(
            r.len(),
            1,
            "the annotation and the same digest in args are one model: {r:?}"
        );
        assert_eq!(r[0].model.as_deref(), Some("churn"));
        let plain = json!({"spec": {"containers": [{"name": "web", "image": "nginx", "env": [{"name": "DB_URL", "value": "postgres://db"}]}]}});
        assert!(
            references("Pod", &plain).unwrap().is_empty(),
            "no model, nothing to check"
        );
        assert!(references("ConfigMap", &json!({}))
            .unwrap_err()
            .contains("cannot read kind 'ConfigMap'"));
    }
}
