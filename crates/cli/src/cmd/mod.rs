//! One module per command.

pub mod approve;
pub mod decide;
pub mod digest;
pub mod eval;
pub mod init;
pub mod keygen;
pub mod run;
pub mod show;
