//! Integration tests for the evidence crate: one binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]

mod digest;
