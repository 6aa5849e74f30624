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

/// Deserialises a list that may also be written as one comma-separated
/// string (`--set keys=a.pub,b.pub` on the command line).
///
/// # Errors
/// serde's error when the value is neither a string nor a list of strings.
pub fn string_or_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: From<String>,
{
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match <OneOrMany as serde::Deserialize>::deserialize(d)? {
        OneOrMany::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| T::from(s.to_string()))
            .collect(),
        OneOrMany::Many(v) => v.into_iter().map(T::from).collect(),
    })
}
