//! Integration tests for the gates crate: one binary, one module per kind.

mod command;
mod support;
