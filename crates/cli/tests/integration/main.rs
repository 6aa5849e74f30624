//! CLI end-to-end tests: the real binary on fixtures in temp directories.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]

mod audit_ci;
mod flow;
mod html_report;
mod inputs;
mod json_formats;
mod json_snapshots;
mod llm;
mod ml_gates;
mod oci;
mod recheck;
mod registry;
mod sarif_schema;
mod scan;
mod served;
mod support;
