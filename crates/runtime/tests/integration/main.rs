//! Integration tests for the runtime crate: one binary, one module per area.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]

mod http;
mod npz;
mod onnx;
mod subprocess;
mod support;
