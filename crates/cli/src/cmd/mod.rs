//! One module per command.

pub mod admission;
pub mod agent;
pub mod approve;
pub mod audit_ci;
pub mod decide;
pub mod digest;
pub mod eval;
pub mod init;
pub mod keygen;
pub mod manifest;
pub mod oci;
pub mod registry;
pub mod run;
pub mod scan;
pub mod server;
pub mod show;
