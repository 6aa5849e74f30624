//! A SHA-256 digest value, printed and serialised as lowercase hex.
//!
//! Every piece of evidence is bound to one of these: the model digest, the
//! digest of each gate input, of a gate spec, of the policy.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 32-byte SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sha256Digest(pub [u8; 32]);

/// The error for a string that is not 64 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a sha256 digest (expected 64 hex digits)")]
pub struct ParseDigestError(String);

impl Sha256Digest {
    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        let mut s = String::with_capacity(64);
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        s
    }

    /// Parses 64 hex digits (either case); a `sha256:` prefix is accepted.
    ///
    /// # Errors
    /// [`ParseDigestError`] when the text is not exactly 64 hex digits.
    pub fn from_hex(text: &str) -> Result<Self, ParseDigestError> {
        let t = text.trim();
        let t = t.strip_prefix("sha256:").unwrap_or(t);
        let bytes = t.as_bytes();
        if bytes.len() != 64 {
            return Err(ParseDigestError(text.to_string()));
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = nibble(pair[0]).ok_or_else(|| ParseDigestError(text.to_string()))?;
            let lo = nibble(pair[1]).ok_or_else(|| ParseDigestError(text.to_string()))?;
            if let Some(slot) = out.get_mut(i) {
                *slot = (hi << 4) | lo;
            }
        }
        Ok(Sha256Digest(out))
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

impl FromStr for Sha256Digest {
    type Err = ParseDigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Sha256Digest::from_hex(s)
    }
}

impl Serialize for Sha256Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Sha256Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Sha256Digest::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_bad_text() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let d: Sha256Digest = hex.parse().unwrap();
        assert_eq!(d.to_hex(), hex);
        assert_eq!(
            Sha256Digest::from_hex(&format!("sha256:{}", hex.to_uppercase())).unwrap(),
            d
        );
        assert!(Sha256Digest::from_hex("abc").is_err());
        assert!(Sha256Digest::from_hex(&"g".repeat(64)).is_err());
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, format!("\"{hex}\""));
    }
}
