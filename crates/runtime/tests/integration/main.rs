//! Integration tests for the runtime crate: one binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]

mod onnx;
mod support;
