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

/// A list of names given as a YAML sequence or as one comma-separated
/// string (`race,sex` or `[race, sex]`), so `--set sensitive=race,sex` on
/// the command line and `sensitive: [race, sex]` in a policy mean the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameList(pub Vec<String>);

impl<'de> serde::Deserialize<'de> for NameList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<String>),
            Text(String),
        }
        let items = match Raw::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected a list of names or a comma-separated string"))?
        {
            Raw::List(v) => v,
            Raw::Text(s) => {
                let inner = s.trim();
                let inner = inner
                    .strip_prefix('[')
                    .and_then(|r| r.strip_suffix(']'))
                    .unwrap_or(inner);
                inner.split(',').map(str::to_string).collect()
            }
        };
        let items: Vec<String> = items
            .into_iter()
            .map(|s| s.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        Ok(NameList(items))
    }
}

/// A number or boolean that may also arrive as a string (`--set
/// bootstrap=1000`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lenient<T>(pub T);

impl<'de, T> serde::Deserialize<'de> for Lenient<T>
where
    T: serde::Deserialize<'de> + std::str::FromStr,
{
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        if let serde_json::Value::String(s) = &v {
            return s
                .trim()
                .parse::<T>()
                .map(Lenient)
                .map_err(|_| serde::de::Error::custom(format!("'{s}' is not a valid value here")));
        }
        T::deserialize(v).map(Lenient).map_err(serde::de::Error::custom)
    }
}

/// A class label as written in a spec: a string or an integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelText(pub String);

impl<'de> serde::Deserialize<'de> for LabelText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(LabelText(s)),
            serde_json::Value::Number(n) => Ok(LabelText(n.to_string())),
            serde_json::Value::Bool(b) => Ok(LabelText(b.to_string())),
            _ => Err(serde::de::Error::custom(
                "expected a class label (a string or an integer)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_lists_accept_sequences_and_comma_strings() {
        for v in [
            serde_json::json!(["race", "sex"]),
            serde_json::json!("race,sex"),
            serde_json::json!("[race, sex]"),
        ] {
            let l: NameList = serde_json::from_value(v).unwrap();
            assert_eq!(l.0, vec!["race", "sex"]);
        }
        assert!(serde_json::from_value::<NameList>(serde_json::json!(3)).is_err());
    }

    #[test]
    fn lenient_numbers_accept_strings() {
        let n: Lenient<usize> = serde_json::from_value(serde_json::json!("1000")).unwrap();
        assert_eq!(n.0, 1000);
        let b: Lenient<bool> = serde_json::from_value(serde_json::json!("true")).unwrap();
        assert!(b.0);
        assert!(serde_json::from_value::<Lenient<usize>>(serde_json::json!("many")).is_err());
    }
}
