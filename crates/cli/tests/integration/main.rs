//! CLI end-to-end tests: the real binary on fixtures in temp directories.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]

mod flow;
mod inputs;
mod scan;
mod llm;
mod support;
