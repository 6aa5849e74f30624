//! Integration tests for the gates crate: one binary, one module per kind.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]

mod command;
mod llm;
mod llm_detectors;
mod llm_import;
mod provenance;
mod scan;
mod fairness;
mod performance;
mod reference;
mod support;
