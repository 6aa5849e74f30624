//! CLI end-to-end tests.

mod audit_ci;
