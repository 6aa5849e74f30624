//! Parsing helpers shared by gate kinds: typed spec parameters, durations,
//! digests of inputs.

use std::time::Duration;

use portcullis_evidence::Sha256Digest;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::gate::GateError;

/// Deserialises a kind's parameters (unknown keys are errors when the target
/// type denies them).
///
/// # Errors
/// [`GateError::Spec`] naming the kind and serde's reason.
pub fn parse_params<T: DeserializeOwned>(
    kind: &str,
    params: &serde_json::Map<String, serde_json::Value>,
) -> Result<T, GateError> {
    serde_json::from_value(serde_json::Value::Object(params.clone())).map_err(|e| GateError::Spec {
        kind: kind.to_string(),
        message: e.to_string(),
    })
}

/// Parses `30s`, `10m`, `2h`, `7d`, `1h 30m`.
///
/// # Errors
/// A message saying what was expected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("'{text}' is not a duration ({e}); write e.g. 30s, 10m, 2h or 7d"))
}

/// SHA-256 of a byte slice.
pub fn sha256(bytes: &[u8]) -> Sha256Digest {
    Sha256Digest(Sha256::digest(bytes).into())
}
