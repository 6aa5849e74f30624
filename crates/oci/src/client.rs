//! The parts of the OCI distribution API (v1.1) that evidence needs:
//! manifests by tag or digest, blobs, the referrers API and its tag-schema
//! fallback. Blocking, bounded, and with the registry token dance
//! (`WWW-Authenticate: Bearer realm=…`) that every public registry asks
//! for.
//!
//! Everything fetched by digest is checked against that digest before it
//! is used; a registry cannot substitute bytes.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use portcullis_evidence::{sha256_bytes, Sha256Digest};
use reqwest::blocking::{RequestBuilder, Response};
use reqwest::header::{HeaderMap, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION, WWW_AUTHENTICATE};
use reqwest::StatusCode;

use crate::wire::{Descriptor, Index, INDEX_V1, MANIFEST_V1};
use crate::Reference;

/// The largest manifest or index read (distribution's own limit).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST_V2: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// What went wrong talking to a registry. Every message names the URL or
/// reference and what to do next where there is something to do.
#[derive(Debug, thiserror::Error)]
pub enum OciError {
    /// The request did not complete (connection, TLS, timeout).
    #[error("{url}: {source}")]
    Http {
        /// The URL asked.
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered with an error status.
    #[error("{url}: the registry answered {status}{detail}")]
    Status {
        /// The URL asked.
        url: String,
        /// The status.
        status: StatusCode,
        /// The registry's error text and a hint, with a leading separator.
        detail: String,
    },
    /// The registry sent something that is not what the API promises.
    #[error("{what}: {why}")]
    Invalid {
        /// What was read.
        what: String,
        /// What is wrong with it.
        why: String,
    },
}

impl OciError {
    pub(crate) fn invalid(what: impl Into<String>, why: impl Into<String>) -> Self {
        OciError::Invalid {
            what: what.into(),
            why: why.into(),
        }
    }

    /// Whether this is the registry saying "not found".
    pub fn is_not_found(&self) -> bool {
        matches!(self, OciError::Status { status, .. } if *status == StatusCode::NOT_FOUND)
    }
}

/// A user name and password (or token) for one registry.
#[derive(Clone)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password or access token.
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// The credentials for `registry`: `PORTCULLIS_REGISTRY_USERNAME` and
    /// `PORTCULLIS_REGISTRY_PASSWORD` when both are set, otherwise the
    /// `auths` entry that `docker login` / `oras login` wrote to
    /// `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`).
    /// Credential helpers are not run.
    pub fn lookup(registry: &str) -> Option<Credentials> {
        if let (Ok(username), Ok(password)) = (
            std::env::var("PORTCULLIS_REGISTRY_USERNAME"),
            std::env::var("PORTCULLIS_REGISTRY_PASSWORD"),
        ) {
            return Some(Credentials { username, password });
        }
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker")))?;
        let text = std::fs::read(dir.join("config.json")).ok()?;
        let config: serde_json::Value = serde_json::from_slice(&text).ok()?;
        let auths = config.get("auths")?.as_object()?;
        let entry = auths.iter().find_map(|(k, v)| {
            let host = k
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or_default();
            (host == registry).then_some(v)
        })?;
        let encoded = entry.get("auth")?.as_str()?;
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
        let (user, pass) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
        Some(Credentials {
            username: user.to_string(),
            password: pass.to_string(),
        })
    }
}

/// How to reach registries.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A PEM CA certificate to trust besides the system's roots.
    pub ca_cert: Option<Vec<u8>>,
    /// Credentials to use for every registry; `None` looks them up per
    /// registry ([`Credentials::lookup`]).
    pub credentials: Option<Credentials>,
    /// Per-request timeout (default 30 s).
    pub timeout: Option<Duration>,
}

/// A registry client.
#[derive(Debug)]
pub struct Client {
    http: reqwest::blocking::Client,
    credentials: Option<Credentials>,
    /// `Authorization` header values per `registry/repository`, learnt
    /// from challenges.
    auth: Mutex<HashMap<String, String>>,
}

/// A manifest as fetched: its bytes, media type and digest.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The bytes exactly as served (the digest is over them).
    pub bytes: Vec<u8>,
    /// The manifest's media type.
    pub media_type: String,
    /// sha256 of `bytes`.
    pub digest: Sha256Digest,
}

impl Fetched {
    /// The descriptor that points at this manifest.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(&self.media_type, self.digest, self.bytes.len() as u64)
    }
}

fn read_limited(resp: Response, max: u64, url: &str) -> Result<Vec<u8>, OciError> {
    if resp.content_length().is_some_and(|n| n > max) {
        return Err(OciError::invalid(
            url,
            format!("the response is over the {max}-byte limit"),
        ));
    }
    let mut bytes = Vec::new();
    resp.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| OciError::invalid(url, format!("cannot read the response: {e}")))?;
    if bytes.len() as u64 > max {
        return Err(OciError::invalid(
            url,
            format!("the response is over the {max}-byte limit"),
        ));
    }
    Ok(bytes)
}

/// The parameters of a `WWW-Authenticate` challenge.
fn challenge(headers: &HeaderMap) -> Option<(String, HashMap<String, String>)> {
    let value = headers.get(WWW_AUTHENTICATE)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, tail)) = rest.split_once('=') else {
            break;
        };
        let (val, tail) = match tail.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((v, t)) => (v, t),
                None => (quoted, ""),
            },
            None => tail.split_once(',').unwrap_or((tail, "")),
        };
        params.insert(key.trim().to_ascii_lowercase(), val.to_string());
        rest = tail.trim_start_matches([',', ' ']);
    }
    Some((scheme.to_ascii_lowercase(), params))
}

impl Client {
    /// A client with `options`.
    ///
    /// # Errors
    /// [`OciError::Invalid`] when the CA certificate is not PEM.
    pub fn new(options: &Options) -> Result<Client, OciError> {
        let mut builder = reqwest::blocking::Client::builder()
            .timeout(options.timeout.unwrap_or(Duration::from_secs(30)))
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(5))
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &options.ca_cert {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| OciError::invalid("the CA certificate", e.to_string()))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| OciError::invalid("the HTTP client", e.to_string()))?;
        Ok(Client {
            http,
            credentials: options.credentials.clone(),
            auth: Mutex::new(HashMap::new()),
        })
    }

    fn credentials_for(&self, registry: &str) -> Option<Credentials> {
        self.credentials.clone().or_else(|| Credentials::lookup(registry))
    }

    /// Answers a 401 challenge: the `Authorization` value to retry with.
    fn authorize(&self, r: &Reference, headers: &HeaderMap, push: bool) -> Result<Option<String>, OciError> {
        let Some((scheme, params)) = challenge(headers) else {
            return Ok(None);
        };
        let creds = self.credentials_for(&r.registry);
        let basic = |c: &Credentials| {
            let raw = format!("{}:{}", c.username, c.password);
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
        };
        match scheme.as_str() {
            "basic" => Ok(creds.as_ref().map(basic)),
            "bearer" => {
                let Some(realm) = params.get("realm") else {
                    return Ok(None);
                };
                let actions = if push { "pull,push" } else { "pull" };
                let scope = format!("repository:{}:{actions}", r.repository);
                let mut req = self.http.get(realm).query(&[("scope", scope.as_str())]);
                if let Some(service) = params.get("service") {
                    req = req.query(&[("service", service.as_str())]);
                }
                if let Some(c) = &creds {
                    req = req.header(AUTHORIZATION, basic(c));
                }
                let resp = req.send().map_err(|source| OciError::Http {
                    url: realm.clone(),
                    source,
                })?;
                if !resp.status().is_success() {
                    return Err(OciError::Status {
                        url: realm.clone(),
                        status: resp.status(),
                        detail: format!(
                            ": the token service refused {scope}; log in with `docker login {}` or set PORTCULLIS_REGISTRY_USERNAME and PORTCULLIS_REGISTRY_PASSWORD",
                            r.registry
                        ),
                    });
                }
                let body = read_limited(resp, 1024 * 1024, realm)?;
                let token: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|e| OciError::invalid(realm.as_str(), format!("the token is not JSON: {e}")))?;
                let token = token
                    .get("token")
                    .or_else(|| token.get("access_token"))
                    .and_then(serde_json::Value::as_str)
                    .ok_or_else(|| OciError::invalid(realm.as_str(), "the answer holds no token"))?;
                Ok(Some(format!("Bearer {token}")))
            }
            _ => Ok(None),
        }
    }

    /// Sends the request `make` builds, answering one auth challenge.
    fn send(
        &self,
        r: &Reference,
        url: &str,
        push: bool,
        make: &dyn Fn() -> RequestBuilder,
    ) -> Result<Response, OciError> {
        let key = format!("{}/{}", r.registry, r.repository);
        let cached = self.auth.lock().ok().and_then(|m| m.get(&key).cloned());
        let with_auth = |auth: Option<&String>| {
            let req = make();
            match auth {
                Some(a) => req.header(AUTHORIZATION, a.as_str()),
                None => req,
            }
        };
        let http = |source| OciError::Http {
            url: url.to_string(),
            source,
        };
        let resp = with_auth(cached.as_ref()).send().map_err(http)?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let Some(auth) = self.authorize(r, resp.headers(), push)? else {
            return Ok(resp);
        };
        if let Ok(mut m) = self.auth.lock() {
            m.insert(key, auth.clone());
        }
        with_auth(Some(&auth)).send().map_err(http)
    }

    fn check(resp: Response, url: &str, r: &Reference) -> Result<Response, OciError> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body = read_limited(resp, 64 * 1024, url).unwrap_or_default();
        let text = String::from_utf8_lossy(&body);
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| {
                let errors = v.get("errors")?.as_array()?;
                Some(
                    errors
                        .iter()
                        .filter_map(|e| {
                            let code = e.get("code").and_then(serde_json::Value::as_str).unwrap_or("");
                            let msg = e.get("message").and_then(serde_json::Value::as_str).unwrap_or("");
                            (!(code.is_empty() && msg.is_empty())).then(|| format!("{code} {msg}"))
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })
            .unwrap_or_else(|| text.chars().take(200).collect());
        let hint = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => format!(
                "; log in with `docker login {}` or set PORTCULLIS_REGISTRY_USERNAME and PORTCULLIS_REGISTRY_PASSWORD",
                r.registry
            ),
            _ => String::new(),
        };
        let message = message.trim();
        let detail = if message.is_empty() {
            hint
        } else {
            format!(": {message}{hint}")
        };
        Err(OciError::Status {
            url: url.to_string(),
            status,
            detail,
        })
    }

    /// Fetches the manifest `reference` (a tag or `sha256:…`) names; when
    /// it is a digest, the bytes are checked against it.
    ///
    /// # Errors
    /// Transport and status errors; a digest mismatch; an oversized body.
    pub fn manifest(&self, r: &Reference, reference: &str) -> Result<Fetched, OciError> {
        let url = format!("{}/manifests/{reference}", r.api_base());
        let accept = [MANIFEST_V1, INDEX_V1, DOCKER_MANIFEST_V2, DOCKER_LIST_V2].join(", ");
        let resp = self.send(r, &url, false, &|| {
            self.http.get(&url).header(ACCEPT, accept.as_str())
        })?;
        let resp = Self::check(resp, &url, r)?;
        let media_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
            .unwrap_or_default();
        let bytes = read_limited(resp, MAX_MANIFEST_BYTES, &url)?;
        let digest = sha256_bytes(&bytes);
        if let Some(hex) = reference.strip_prefix("sha256:") {
            if digest.to_hex() != hex.to_ascii_lowercase() {
                return Err(OciError::invalid(
                    url,
                    format!(
                        "the manifest served has digest sha256:{}, not {reference}",
                        digest.to_hex()
                    ),
                ));
            }
        }
        // The body's own mediaType wins over a generic Content-Type.
        let declared = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("mediaType").and_then(|m| m.as_str().map(str::to_string)));
        Ok(Fetched {
            bytes,
            media_type: declared.unwrap_or(media_type),
            digest,
        })
    }

    /// Fetches a blob of at most `max` bytes and checks its digest.
    ///
    /// # Errors
    /// Transport and status errors; a digest mismatch; an oversized blob.
    pub fn blob(&self, r: &Reference, digest: &Sha256Digest, max: u64) -> Result<Vec<u8>, OciError> {
        let url = format!("{}/blobs/sha256:{}", r.api_base(), digest.to_hex());
        let resp = self.send(r, &url, false, &|| self.http.get(&url))?;
        let bytes = read_limited(Self::check(resp, &url, r)?, max, &url)?;
        let got = sha256_bytes(&bytes);
        if got != *digest {
            return Err(OciError::invalid(
                url,
                format!("the blob served has digest sha256:{}", got.to_hex()),
            ));
        }
        Ok(bytes)
    }

    /// Uploads `bytes` as a blob unless the repository has it already;
    /// returns its digest.
    ///
    /// # Errors
    /// Transport and status errors.
    pub fn push_blob(&self, r: &Reference, bytes: &[u8]) -> Result<Sha256Digest, OciError> {
        let digest = sha256_bytes(bytes);
        let blob_url = format!("{}/blobs/sha256:{}", r.api_base(), digest.to_hex());
        let head = self.send(r, &blob_url, true, &|| self.http.head(&blob_url))?;
        if head.status().is_success() {
            return Ok(digest);
        }
        let start = format!("{}/blobs/uploads/", r.api_base());
        let resp = self.send(r, &start, true, &|| {
            self.http.post(&start).header("Content-Length", "0")
        })?;
        let resp = Self::check(resp, &start, r)?;
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| OciError::invalid(start.as_str(), "the upload answer has no Location"))?;
        let location = if location.starts_with('/') {
            let scheme = if r.is_loopback() { "http" } else { "https" };
            format!("{scheme}://{}{location}", r.registry)
        } else {
            location.to_string()
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest=sha256:{}", digest.to_hex());
        let resp = self.send(r, &start, true, &|| {
            self.http
                .put(&put)
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(bytes.to_vec())
        })?;
        Self::check(resp, &start, r)?;
        Ok(digest)
    }

    /// Stores a manifest under `reference` (a tag or its digest); returns
    /// its digest and whether the registry said it indexed the manifest's
    /// `subject` (the `OCI-Subject` header of a referrers-API registry).
    ///
    /// # Errors
    /// Transport and status errors.
    pub fn push_manifest(
        &self,
        r: &Reference,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<(Sha256Digest, bool), OciError> {
        let url = format!("{}/manifests/{reference}", r.api_base());
        let resp = self.send(r, &url, true, &|| {
            self.http
                .put(&url)
                .header(CONTENT_TYPE, media_type)
                .body(bytes.to_vec())
        })?;
        let resp = Self::check(resp, &url, r)?;
        let indexed = resp.headers().contains_key("oci-subject");
        Ok((sha256_bytes(bytes), indexed))
    }

    /// The referrers of `subject`: from the referrers API, or from the
    /// `sha256-<hex>` tag index for registries without it. The second
    /// value says which (`true`: the API).
    ///
    /// # Errors
    /// Transport and status errors other than "not found"; a malformed
    /// index.
    pub fn referrers(
        &self,
        r: &Reference,
        subject: &Sha256Digest,
    ) -> Result<(Vec<Descriptor>, bool), OciError> {
        let url = format!("{}/referrers/sha256:{}", r.api_base(), subject.to_hex());
        let resp = self.send(r, &url, false, &|| self.http.get(&url).header(ACCEPT, INDEX_V1))?;
        let api_content = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(INDEX_V1));
        if resp.status().is_success() && api_content {
            let bytes = read_limited(resp, MAX_MANIFEST_BYTES, &url)?;
            let index: Index = serde_json::from_slice(&bytes)
                .map_err(|e| OciError::invalid(url.as_str(), format!("not an image index: {e}")))?;
            return Ok((index.manifests, true));
        }
        if resp.status() != StatusCode::NOT_FOUND && !resp.status().is_success() {
            Self::check(resp, &url, r)?;
        }
        match self.manifest(r, &fallback_tag(subject)) {
            Ok(f) => {
                let index: Index = serde_json::from_slice(&f.bytes).map_err(|e| {
                    OciError::invalid(
                        format!("{}:{}", r.at(*subject), fallback_tag(subject)),
                        format!("the referrers tag is not an image index: {e}"),
                    )
                })?;
                Ok((index.manifests, false))
            }
            Err(e) if e.is_not_found() => Ok((Vec::new(), false)),
            Err(e) => Err(e),
        }
    }
}

/// The referrers tag of the OCI 1.1 tag schema: `sha256-<hex>`.
pub fn fallback_tag(subject: &Sha256Digest) -> String {
    format!("sha256-{}", subject.to_hex())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn bearer_challenges_are_read() {
        let mut h = HeaderMap::new();
        h.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull""#,
            ),
        );
        let (scheme, p) = challenge(&h).unwrap();
        assert_eq!(scheme, "bearer");
        assert_eq!(p["realm"], "https://ghcr.io/token");
        assert_eq!(p["service"], "ghcr.io");
        assert_eq!(p["scope"], "repository:a/b:pull");
        h.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="basic-realm""#),
        );
        assert_eq!(challenge(&h).unwrap().0, "basic");
    }
}
