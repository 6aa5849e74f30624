//! The registry against a real SQLite file and a real HTTP server on
//! 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]

mod admission;
mod api;
mod fuzz;
mod recheck;
mod store;
mod support;
mod tls;
mod ui;
