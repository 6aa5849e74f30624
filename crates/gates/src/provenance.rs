//! The `provenance` gate: the model, its training data and its base model
//! are the attested, allowed bytes.
//!
//! Three independent checks, each optional but at least one required:
//!
//! - **signature**: an OpenSSF model-signing bundle (a Sigstore bundle
//!   holding a DSSE envelope with an in-toto statement of predicate type
//!   `https://model_signing/signature/v1.0`) signed by one of `keys`
//!   (ECDSA P-256 or ed25519). The model is re-hashed with the serialization
//!   the signature recorded; every file whose digest differs is named with
//!   both digests. Keyless Sigstore bundles (certificate plus transparency
//!   log) cannot be verified offline here: they fail closed with that reason.
//!   An in-toto provenance statement (e.g. SLSA) in a DSSE envelope whose
//!   subject is the model digest is accepted the same way.
//! - **data manifest**: an in-toto statement whose subjects are dataset files
//!   (written by `portcullis manifest`), signed by one of `keys`; every file
//!   must still hash to its attested digest.
//! - **base model**: the declared base model's digest is on
//!   `allowed_base_models`.

use std::path::{Path, PathBuf};

use portcullis_evidence::{
    digest_model, sha256_file, DigestOptions, Envelope, Finding, Location, PublicKey, Serialization,
    Severity, Sha256Digest, Statement,
};
use serde::Deserialize;
use serde_json::json;

use crate::gate::{Evaluation, Gate, GateContext, GateError, Input};

/// Predicate type of an OpenSSF model-signing v1.0 signature.
pub const MODEL_SIGNING_V1: &str = "https://model_signing/signature/v1.0";
/// Predicate type of a portcullis data manifest.
pub const DATA_MANIFEST_V1: &str = "https://portcullis.dev/data-manifest/v1";
/// The largest signature, provenance or manifest file read.
pub const MAX_ATTESTATION_BYTES: u64 = 16 * 1024 * 1024;

/// The `provenance` gate's spec keys; unknown keys are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenanceParams {
    #[serde(default)]
    signature: Option<PathBuf>,
    #[serde(default, deserialize_with = "crate::params::string_or_list")]
    keys: Vec<PathBuf>,
    #[serde(default)]
    data_manifest: Option<PathBuf>,
    #[serde(default)]
    base_model: Option<PathBuf>,
    #[serde(default, deserialize_with = "crate::params::string_or_list")]
    allowed_base_models: Vec<String>,
    #[serde(default)]
    description: Option<String>,
}

/// The `provenance` gate.
#[derive(Debug)]
pub struct ProvenanceGate {
    p: ProvenanceParams,
    allowed: Vec<Sha256Digest>,
}

fn spec_err(message: impl Into<String>) -> GateError {
    GateError::Spec {
        kind: ProvenanceGate::KIND.into(),
        message: message.into(),
    }
}

impl ProvenanceGate {
    /// Builds the gate from its spec parameters.
    ///
    /// # Errors
    /// [`GateError::Spec`] for no check configured, a
    /// signature or manifest without `keys`, or a malformed digest.
    pub fn new(p: ProvenanceParams) -> Result<Self, GateError> {
        if p.signature.is_none() && p.data_manifest.is_none() && p.base_model.is_none() {
            return Err(spec_err(
                "nothing to check: set `signature` (a model-signing bundle), `data_manifest`, or `base_model`",
            ));
        }
        if (p.signature.is_some() || p.data_manifest.is_some()) && p.keys.is_empty() {
            return Err(spec_err(
                "`keys` must list the trusted signers' public keys (PEM, ECDSA P-256 or ed25519)",
            ));
        }
        if p.base_model.is_some() && p.allowed_base_models.is_empty() {
            return Err(spec_err(
                "`base_model` needs `allowed_base_models`: the digests you accept",
            ));
        }
        let allowed = p
            .allowed_base_models
            .iter()
            .map(|h| Sha256Digest::from_hex(h).map_err(|e| spec_err(format!("`allowed_base_models`: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let _ = &p.description;
        Ok(ProvenanceGate { p, allowed })
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, GateError> {
    let meta = std::fs::metadata(path).map_err(|e| GateError::Input(format!("{}: {e}", path.display())))?;
    if meta.len() > MAX_ATTESTATION_BYTES {
        return Err(GateError::Input(format!(
            "{}: {} bytes is over the {MAX_ATTESTATION_BYTES}-byte limit",
            path.display(),
            meta.len()
        )));
    }
    std::fs::read(path).map_err(|e| GateError::Input(format!("{}: {e}", path.display())))
}

/// Pulls the DSSE envelope out of a Sigstore bundle, or takes the file as an
/// envelope. Returns the envelope and whether the bundle is keyless.
fn envelope_of(path: &Path, bytes: &[u8]) -> Result<(Envelope, bool), GateError> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        GateError::Input(format!(
            "{}: not JSON at line {}, column {}: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    let material = v.get("verificationMaterial");
    let keyless =
        material.is_some_and(|m| m.get("certificate").is_some() || m.get("x509CertificateChain").is_some());
    let env_value = v.get("dsseEnvelope").cloned().unwrap_or(v);
    let env: Envelope = serde_json::from_value(env_value).map_err(|e| {
        GateError::Input(format!(
            "{}: neither a Sigstore bundle with a DSSE envelope nor a DSSE envelope: {e}",
            path.display()
        ))
    })?;
    Ok((env, keyless))
}

impl ProvenanceGate {
    fn keys(&self, ctx: &GateContext<'_>) -> Result<Vec<PublicKey>, GateError> {
        self.p
            .keys
            .iter()
            .map(|k| PublicKey::from_pem_file(&ctx.resolve(k)).map_err(|e| GateError::Input(e.to_string())))
            .collect()
    }

    fn check_signature(
        &self,
        ctx: &GateContext<'_>,
        sig: &Path,
        keys: &[PublicKey],
        model: &Path,
        eval: &mut Evaluation,
    ) -> Result<(), GateError> {
        let path = ctx.resolve(sig);
        let bytes = read_bounded(&path)?;
        eval.inputs.push(Input {
            role: "signature".into(),
            uri: path.display().to_string(),
            sha256: Some(crate::params::sha256(&bytes)),
            model: None,
        });
        let (env, keyless) = envelope_of(&path, &bytes)?;
        eval.metrics.insert("signature_verified".into(), 0.0);
        let statement = match env.verify(keys.iter()) {
            Ok((st, _)) => st,
            Err(e) => {
                let why = if keyless {
                    format!(
                        "{} is a keyless Sigstore bundle (certificate + transparency log); it cannot be verified offline here. Sign with a key (model_signing sign key) or verify it with model_signing in a command gate",
                        path.display()
                    )
                } else {
                    format!(
                        "{}: the signature does not verify against any of `keys` ({e})",
                        path.display()
                    )
                };
                eval.findings.push(
                    Finding::new("provenance-signature-invalid", Severity::Critical, why.clone())
                        .at(Location::file(path.display().to_string())),
                );
                eval.failures.push(why);
                return Ok(());
            }
        };
        self.check_statement_binds_model(&statement, &path, model, eval)
    }

    fn check_statement_binds_model(
        &self,
        statement: &Statement,
        path: &Path,
        model: &Path,
        eval: &mut Evaluation,
    ) -> Result<(), GateError> {
        let mut options = DigestOptions::default();
        let pred = &statement.predicate;
        if statement.predicate_type == MODEL_SIGNING_V1 {
            let ser = &pred["serialization"];
            options.serialization = match ser["method"].as_str() {
                Some("shards") => Serialization::Shards {
                    shard_size: ser["shard_size"]
                        .as_u64()
                        .unwrap_or(portcullis_evidence::DEFAULT_SHARD_SIZE),
                },
                _ => Serialization::Files,
            };
            options.allow_symlinks = ser["allow_symlinks"].as_bool().unwrap_or(false);
            let defaults = [".git", ".github", ".gitattributes", ".gitignore"];
            let model_abs = std::path::absolute(model).unwrap_or_else(|_| model.to_path_buf());
            for ig in ser["ignore_paths"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
            {
                let p = Path::new(ig);
                let rel = if p.is_absolute() {
                    p.strip_prefix(&model_abs).ok().map(Path::to_path_buf)
                } else {
                    Some(p.to_path_buf())
                };
                if let Some(rel) = rel.filter(|r| !r.as_os_str().is_empty()) {
                    let s = rel.to_string_lossy().to_string();
                    if !defaults.contains(&s.as_str()) && !s.contains("..") {
                        options.ignore.push(s);
                    }
                }
            }
        }
        // The signature file itself is never part of what it signs.
        if let Ok(rel) = std::path::absolute(path)
            .unwrap_or_else(|_| path.to_path_buf())
            .strip_prefix(std::path::absolute(model).unwrap_or_else(|_| model.to_path_buf()))
        {
            let s = rel.to_string_lossy().to_string();
            if !s.is_empty() && !options.ignore.contains(&s) {
                options.ignore.push(s);
            }
        }
        let manifest = digest_model(model, &options, None).map_err(|e| GateError::Input(e.to_string()))?;
        if statement.is_about(&manifest.digest) {
            eval.metrics.insert("signature_verified".into(), 1.0);
            return Ok(());
        }
        // Name each file that differs, with both digests.
        let signed: std::collections::BTreeMap<String, String> = pred["resources"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| Some((r["name"].as_str()?.to_string(), r["digest"].as_str()?.to_string())))
            .collect();
        let mut diffs = Vec::new();
        for r in &manifest.resources {
            match signed.get(&r.name) {
                Some(d) if *d == r.digest.to_hex() => {}
                Some(d) => diffs.push(format!(
                    "{}: signed sha256 {d}, now {}",
                    r.name,
                    r.digest.to_hex()
                )),
                None => diffs.push(format!(
                    "{}: not in the signed manifest (now {})",
                    r.name,
                    r.digest.to_hex()
                )),
            }
        }
        for name in signed.keys() {
            if !manifest.resources.iter().any(|r| &r.name == name) {
                diffs.push(format!("{name}: signed but missing now"));
            }
        }
        let subject = statement
            .subject
            .first()
            .and_then(|s| s.digest.get("sha256"))
            .cloned()
            .unwrap_or_default();
        let why = format!(
            "{} is signed for model digest {subject}, but the model now hashes to {}{}",
            path.display(),
            manifest.digest.to_hex(),
            if diffs.is_empty() {
                String::new()
            } else {
                format!(" ({})", diffs.join("; "))
            }
        );
        for d in &diffs {
            eval.findings.push(
                Finding::new("provenance-file-changed", Severity::Critical, d.clone())
                    .at(Location::file(model.display().to_string()))
                    .fix("rebuild from the attested source or re-sign after review"),
            );
        }
        eval.failures.push(why);
        Ok(())
    }

    fn check_data_manifest(
        &self,
        ctx: &GateContext<'_>,
        manifest: &Path,
        keys: &[PublicKey],
        eval: &mut Evaluation,
    ) -> Result<(), GateError> {
        let path = ctx.resolve(manifest);
        let bytes = read_bounded(&path)?;
        eval.inputs.push(Input {
            role: "data-manifest".into(),
            uri: path.display().to_string(),
            sha256: Some(crate::params::sha256(&bytes)),
            model: None,
        });
        let (env, _) = envelope_of(&path, &bytes)?;
        let statement = match env.verify(keys.iter()) {
            Ok((st, _)) => st,
            Err(e) => {
                let why = format!(
                    "{}: the data manifest's signature does not verify against any of `keys` ({e})",
                    path.display()
                );
                eval.failures.push(why);
                return Ok(());
            }
        };
        if statement.predicate_type != DATA_MANIFEST_V1 {
            eval.failures.push(format!(
                "{}: predicate type '{}' is not a data manifest",
                path.display(),
                statement.predicate_type
            ));
            return Ok(());
        }
        let root = statement.predicate["root"].as_str().map_or_else(
            || path.parent().map(Path::to_path_buf).unwrap_or_default(),
            |r| {
                let p = PathBuf::from(r);
                if p.is_absolute() {
                    p
                } else {
                    path.parent().map(|d| d.join(&p)).unwrap_or(p)
                }
            },
        );
        let (mut checked, mut bad) = (0usize, 0usize);
        for s in &statement.subject {
            let Some(want) = s.sha256_digest() else { continue };
            let file = root.join(&s.name);
            checked += 1;
            ctx.progress.message(&format!("hashing {}", s.name));
            match sha256_file(&file) {
                Ok(got) if got == want => {}
                Ok(got) => {
                    bad += 1;
                    let m = format!(
                        "dataset {} changed: attested sha256 {}, now {}",
                        s.name,
                        want.to_hex(),
                        got.to_hex()
                    );
                    eval.findings.push(
                        Finding::new("provenance-data-changed", Severity::Critical, m.clone())
                            .at(Location::file(file.display().to_string())),
                    );
                    eval.failures.push(m);
                }
                Err(e) => {
                    bad += 1;
                    let m = format!(
                        "dataset {} (attested sha256 {}) cannot be read: {e}",
                        s.name,
                        want.to_hex()
                    );
                    eval.failures.push(m);
                }
            }
        }
        if checked == 0 {
            eval.failures
                .push(format!("{}: the data manifest lists no files", path.display()));
        }
        eval.metrics.insert("data_files_checked".into(), checked as f64);
        eval.metrics.insert("data_files_changed".into(), bad as f64);
        Ok(())
    }
}

impl Gate for ProvenanceGate {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    fn evaluate(&self, ctx: &GateContext<'_>) -> Result<Evaluation, GateError> {
        let mut eval = Evaluation::default();
        let keys = self.keys(ctx)?;
        if let Some(sig) = &self.p.signature {
            let model = ctx
                .model
                .path
                .as_ref()
                .ok_or_else(|| GateError::Input("a signature check needs the model path".into()))?;
            self.check_signature(ctx, sig, &keys, model, &mut eval)?;
        }
        if let Some(m) = &self.p.data_manifest {
            self.check_data_manifest(ctx, m, &keys, &mut eval)?;
        }
        if let Some(base) = &self.p.base_model {
            let path = ctx.resolve(base);
            let m = digest_model(&path, &DigestOptions::default(), None)
                .map_err(|e| GateError::Input(e.to_string()))?;
            eval.inputs.push(Input {
                role: "base-model".into(),
                uri: path.display().to_string(),
                sha256: Some(m.digest),
                model: None,
            });
            let ok = self.allowed.contains(&m.digest);
            eval.metrics
                .insert("base_model_allowed".into(), if ok { 1.0 } else { 0.0 });
            if !ok {
                let why = format!(
                    "base model {} has digest {}, which is not on allowed_base_models",
                    path.display(),
                    m.digest.to_hex()
                );
                eval.findings.push(
                    Finding::new("provenance-base-model-not-allowed", Severity::High, why.clone())
                        .at(Location::file(path.display().to_string())),
                );
                eval.failures.push(why);
            }
        }
        eval.details = json!({"checks": {
            "signature": self.p.signature.is_some(),
            "data_manifest": self.p.data_manifest.is_some(),
            "base_model": self.p.base_model.is_some(),
        }});
        Ok(eval)
    }
}

/// Builds (unsigned) the data-manifest statement for `files` under `root`;
/// `root_field` is how the statement names `root` (relative to the
/// manifest file's directory, or absolute).
///
/// # Errors
/// A message naming the unreadable file.
pub fn data_manifest_statement(
    root: &Path,
    root_field: &str,
    files: &[PathBuf],
) -> Result<Statement, String> {
    let mut subjects = Vec::new();
    for f in files {
        let rel = f.strip_prefix(root).unwrap_or(f);
        let d = sha256_file(f).map_err(|e| e.to_string())?;
        subjects.push(portcullis_evidence::Subject::sha256(
            rel.to_string_lossy().replace('\\', "/"),
            &d,
        ));
    }
    subjects.sort_by(|a, b| a.name.cmp(&b.name));
    let mut st = Statement::new(
        subjects
            .first()
            .cloned()
            .unwrap_or_else(|| portcullis_evidence::Subject::sha256("", &Sha256Digest([0; 32]))),
        DATA_MANIFEST_V1,
        json!({"root": root_field}),
    );
    st.subject = subjects;
    Ok(st)
}
