//! Policy engine tests: loading with positions, extends, verify, decide.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]

mod decide;
mod load;
mod support;
mod verify;
