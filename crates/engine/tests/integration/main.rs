//! The engine's use cases, called as the CLI and the server call them.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]

mod codes;
mod flow;
mod store;
