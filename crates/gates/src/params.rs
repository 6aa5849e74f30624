//! Parsing helpers shared by gate kinds: typed spec parameters, durations,
//! digests of inputs.

use std::time::Duration;

use portcullis_evidence::Sha256Digest;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::gate::GateError;

/// Deserialises a kind's parameters into its typed params struct. Every
/// gate kind's parameters go through here: unknown keys are errors when the
/// struct denies them (all do), and a value that does not fit its key is
/// reported with the key's name ("`samples`: …").
///
/// # Errors
/// [`GateError::Spec`] naming the kind and serde's reason.
pub fn parse_params<T: DeserializeOwned>(
    kind: &str,
    params: &serde_json::Map<String, serde_json::Value>,
) -> Result<T, GateError> {
    T::deserialize(Keyed(params)).map_err(|e| GateError::Spec {
        kind: kind.to_string(),
        message: e.to_string(),
    })
}

/// A spec's parameter map as a serde deserialiser that names the key
/// whose value failed to deserialise.
struct Keyed<'a>(&'a serde_json::Map<String, serde_json::Value>);

impl<'de> serde::Deserializer<'de> for Keyed<'_> {
    type Error = serde_json::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_map(KeyedEntries {
            entries: self.0.iter(),
            pending: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct KeyedEntries<'a> {
    entries: serde_json::map::Iter<'a>,
    pending: Option<(&'a String, &'a serde_json::Value)>,
}

impl<'de> serde::de::MapAccess<'de> for KeyedEntries<'_> {
    type Error = serde_json::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.pending = Some((key, value));
        seed.deserialize(serde::de::value::StrDeserializer::<serde_json::Error>::new(key))
            .map(Some)
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let (key, value) = self
            .pending
            .take()
            .ok_or_else(|| <serde_json::Error as serde::de::Error>::custom("a value without a key"))?;
        seed.deserialize(value.clone())
            .map_err(|e| <serde_json::Error as serde::de::Error>::custom(format_args!("`{key}`: {e}")))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
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
    fn a_bad_value_names_its_key_and_an_unknown_key_lists_the_known_ones() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code, reason = "only deserialised")]
        struct P {
            #[serde(default)]
            samples: Option<Lenient<usize>>,
        }
        let map = |v: serde_json::Value| v.as_object().cloned().unwrap();
        let err = parse_params::<P>("k", &map(serde_json::json!({"samples": "many"}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid spec for gate kind 'k': `samples`: 'many' is not a valid value here"
        );
        let err = parse_params::<P>("k", &map(serde_json::json!({"bogus": 1}))).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid spec for gate kind 'k': unknown field `bogus`, expected `samples`"
        );
        let ok = parse_params::<P>("k", &map(serde_json::json!({"samples": 3}))).unwrap();
        assert_eq!(ok.samples, Some(Lenient(3)));
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
