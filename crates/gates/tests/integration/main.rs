//! Integration tests for the gates crate: one binary, one module per kind.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]

mod backdoor;
mod backdoor_field;
mod command;
mod fairness;
mod fixture_model;
mod llm;
mod llm_detectors;
mod llm_import;
mod onnx;
mod performance;
mod provenance;
mod reference;
mod robustness;
mod scan;
mod support;
