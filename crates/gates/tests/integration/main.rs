//! Integration tests for the gates crate: one binary, one module per kind.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]

mod backdoor;
mod command;
mod fixture_model;
mod onnx;
mod robustness;
mod support;
