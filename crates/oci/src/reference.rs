//! `oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST]` references.

use std::fmt;
use std::str::FromStr;

use portcullis_evidence::Sha256Digest;

/// A model (or any artifact) in an OCI registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`.
    pub registry: String,
    /// `path/to/repo`, lowercase.
    pub repository: String,
    /// The tag, when one is written.
    pub tag: Option<String>,
    /// The manifest digest, when one is written.
    pub digest: Option<Sha256Digest>,
}

/// Why a string is not an `oci://` reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{input}' is not an OCI reference: {why} (expected oci://REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST])"
)]
pub struct ParseReferenceError {
    input: String,
    why: String,
}

fn valid_component(c: &str) -> bool {
    // distribution's path-component grammar: [a-z0-9]+ joined by one
    // separator (`.`, `_`, `__` or any run of `-`).
    if c.is_empty() || !c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit()) {
        return false;
    }
    if !c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit()) {
        return false;
    }
    let bytes = c.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_lowercase() || b.is_ascii_digit() {
            i += 1;
            continue;
        }
        let sep_start = i;
        while i < bytes.len() && !(bytes[i].is_ascii_lowercase() || bytes[i].is_ascii_digit()) {
            i += 1;
        }
        let sep = &c[sep_start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|b| b == b'-')) {
            return false;
        }
    }
    true
}

fn valid_tag(t: &str) -> bool {
    let mut chars = t.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && t.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn valid_registry(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 255
        && r.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

impl FromStr for Reference {
    type Err = ParseReferenceError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |why: &str| ParseReferenceError {
            input: input.to_string(),
            why: why.to_string(),
        };
        let rest = input
            .strip_prefix("oci://")
            .ok_or_else(|| fail("it does not start with oci://"))?;
        let (rest, digest) = match rest.split_once('@') {
            Some((name, d)) => {
                let hex = d
                    .strip_prefix("sha256:")
                    .ok_or_else(|| fail("only sha256 digests are supported"))?;
                let digest = Sha256Digest::from_hex(hex).map_err(|e| fail(&e.to_string()))?;
                (name, Some(digest))
            }
            None => (rest, None),
        };
        let (registry, path) = rest
            .split_once('/')
            .ok_or_else(|| fail("it names no repository"))?;
        if !valid_registry(registry) {
            return Err(fail("the registry must be host[:port]"));
        }
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag.to_string())),
            _ => (path, None),
        };
        if let Some(t) = &tag {
            if !valid_tag(t) {
                return Err(fail(
                    "the tag must be 1-128 of [A-Za-z0-9_.-], not starting with . or -",
                ));
            }
        }
        if repository.len() > 255 || !repository.split('/').all(valid_component) {
            return Err(fail(
                "the repository must be lowercase path components of [a-z0-9] joined by . _ __ or -",
            ));
        }
        Ok(Reference {
            registry: registry.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
        })
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci://{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@sha256:{}", d.to_hex())?;
        }
        Ok(())
    }
}

impl Reference {
    /// The same repository at `digest`, without a tag.
    pub fn at(&self, digest: Sha256Digest) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The tag or digest to ask the registry for: the digest when both are
    /// written (a digest pins; a tag moves).
    pub fn reference(&self) -> Option<String> {
        match (&self.digest, &self.tag) {
            (Some(d), _) => Some(format!("sha256:{}", d.to_hex())),
            (None, Some(t)) => Some(t.clone()),
            (None, None) => None,
        }
    }

    /// Whether the registry is on this machine's loopback interface, which
    /// is spoken to over plain HTTP (as `docker` and `oras` do for local
    /// registries); every other registry over HTTPS.
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.rsplit_once(':') {
            Some((h, port)) if !h.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => h,
            _ => self.registry.as_str(),
        };
        host == "localhost"
            || host == "[::1]"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// `http(s)://registry/v2/repository`.
    pub(crate) fn api_base(&self) -> String {
        let scheme = if self.is_loopback() { "http" } else { "https" };
        format!("{scheme}://{}/v2/{}", self.registry, self.repository)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test")]
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_parse_and_print_back() {
        for text in [
            format!("oci://127.0.0.1:5000/models/credit@sha256:{HEX}"),
            "oci://ghcr.io/acme/fraud-model:v1.2".to_string(),
            format!("oci://registry.example/a/b.c/d__e/f--g:t1@sha256:{HEX}"),
            "oci://localhost/m".to_string(),
        ] {
            let r: Reference = text.parse().unwrap();
            assert_eq!(r.to_string(), text);
        }
        let r: Reference = format!("oci://127.0.0.1:5000/m:v1@sha256:{HEX}").parse().unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.reference().unwrap(), format!("sha256:{HEX}"));
        assert!(r.is_loopback());
        assert!(!"oci://ghcr.io/x".parse::<Reference>().unwrap().is_loopback());
        assert!(!"oci://127.0.0.1.evil.example/x"
            .parse::<Reference>()
            .unwrap()
            .is_loopback());
        assert_eq!(r.api_base(), "http://127.0.0.1:5000/v2/m");
    }

    #[test]
    fn bad_references_say_why() {
        for (text, why) in [
            ("https://ghcr.io/x", "oci://"),
            ("oci://ghcr.io", "no repository"),
            ("oci://ghcr.io/Upper", "lowercase"),
            ("oci://ghcr.io/a//b", "lowercase"),
            ("oci://ghcr.io/a/b:-bad", "tag"),
            ("oci://ghcr.io/a@sha512:00", "sha256"),
            ("oci://ghcr.io/a@sha256:00", "64"),
            ("oci://gh cr.io/a", "host"),
        ] {
            let e = text.parse::<Reference>().unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
            assert!(e.contains(text), "{e}");
        }
    }
}
