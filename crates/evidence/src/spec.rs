//! A gate's spec as the policy states it, and its digest.
//!
//! The policy carries gate specs through without understanding them; the
//! gates crate interprets `kind` and `params`. Each gate result records the
//! digest of the spec it ran under, so editing one gate's spec invalidates
//! that gate's evidence only.

use std::collections::BTreeMap;

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
