//! A gate's spec as the policy states it, and its digest.
//!
//! The policy carries gate specs through without understanding them; the
//! gates crate interprets `kind` and `params`. Each gate result records the
//! digest of the spec it ran under, so editing one gate's spec invalidates
//! that gate's evidence only.
//!
//! Beside the spec live the declarations a policy hands the gates as they
//! are: datasets ([`DataSource`]) and served endpoints ([`ServeDecl`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Sha256Digest, Threshold};

/// One gate's spec: its kind, optional thresholds, and kind-specific keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateSpec {
    /// The gate kind (`command`, `performance`, `scan`, …).
    pub kind: String,
    /// Metric thresholds. `None` means "the kind's documented defaults".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require: Option<BTreeMap<String, Threshold>>,
    /// Every other key of the spec, for the gate kind to interpret.
    #[serde(flatten)]
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl GateSpec {
    /// A spec of `kind` with no thresholds and no parameters.
    pub fn new(kind: impl Into<String>) -> Self {
        GateSpec {
            kind: kind.into(),
            require: None,
            params: serde_json::Map::new(),
        }
    }

    /// SHA-256 over the spec's canonical JSON (keys sorted, no whitespace).
    pub fn digest(&self) -> Sha256Digest {
        Sha256Digest(Sha256::digest(self.canonical_json()).into())
    }

    /// The canonical JSON bytes the digest is computed over.
    pub fn canonical_json(&self) -> Vec<u8> {
        // serde_json's Map is a BTreeMap (no preserve_order feature), so
        // converting to a Value sorts every object's keys recursively.
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        serde_json::to_vec(&value).unwrap_or_default()
    }
}

/// A labelled dataset as a policy's `data:` (or `eval --data`) declares it,
/// and as the gates read it. A gate spec may override the column roles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSource {
    /// CSV, Parquet or NPY/NPZ file (a policy resolves it against its own
    /// directory).
    pub path: PathBuf,
    /// The label column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Sensitive-attribute columns (fairness groups).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive: Vec<String>,
    /// Columns to report metrics per value of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slices: Vec<String>,
    /// A per-row weight column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<String>,
}

/// A served model's endpoint as a policy's `model.serve:` or
/// `reference.serve:` declares it, carried to the gates as written; the
/// gates crate resolves it (protocol, URL, `${VAR}` in headers) into the
/// client it runs. Exactly one of `url` (with `protocol`) and `command` is
/// set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServeDecl {
    /// `kserve-v2` or `mlflow`, with `url`.
    pub protocol: Option<String>,
    /// The server's URL (`http://` or `https://`).
    pub url: Option<String>,
    /// A JSON-lines model process: program and arguments.
    pub command: Vec<String>,
    /// The served model's name (v2; else taken from the URL).
    pub model_name: Option<String>,
    /// The v2 input tensor's name.
    pub input: Option<String>,
    /// The v2 output holding probabilities.
    pub output: Option<String>,
    /// Per-request timeout.
    pub timeout: Option<Duration>,
    /// Rows per request.
    pub batch_size: Option<u64>,
    /// Retries after the first attempt.
    pub retries: Option<u32>,
    /// Extra HTTP headers; a value may hold `${VAR}`, expanded from the
    /// environment when the gate runs.
    pub headers: BTreeMap<String, String>,
    /// Class labels in probability-column order, as text.
    pub classes: Vec<String>,
    /// Features per row.
    pub n_features: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_ignores_key_order_but_not_values() {
        let a: GateSpec =
            serde_json::from_str(r#"{"kind":"command","argv":["true"],"timeout":"5s"}"#).unwrap();
        let b: GateSpec =
            serde_json::from_str(r#"{"timeout":"5s","argv":["true"],"kind":"command"}"#).unwrap();
        let c: GateSpec =
            serde_json::from_str(r#"{"kind":"command","argv":["false"],"timeout":"5s"}"#).unwrap();
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a.digest(), c.digest());
    }

    #[test]
    fn require_is_part_of_the_digest() {
        let mut a = GateSpec::new("performance");
        let before = a.digest();
        a.require = Some(BTreeMap::from([(
            "accuracy".to_string(),
            ">= 0.9".parse().unwrap(),
        )]));
        assert_ne!(a.digest(), before);
    }
}
