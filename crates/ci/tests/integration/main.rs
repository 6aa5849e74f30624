//! Integration tests for portcullis-ci: fixtures per rule with expected
//! findings, held-out precision/recall, output formats and hostile input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers panic on broken fixtures"
)]

mod bad_input;
mod fixtures;
mod output;
mod resolve;
