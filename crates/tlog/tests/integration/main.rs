//! Integration tests for the tlog crate: one binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]

mod checkpoint;
mod note;
mod properties;
mod vectors;

use portcullis_tlog::Hash;

/// Decodes hex test data.
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Decodes a hex SHA-256 hash.
pub fn h(s: &str) -> Hash {
    unhex(s).try_into().expect("32 bytes")
}
