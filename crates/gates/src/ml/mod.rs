//! The plumbing every classifier gate shares, in one place: loading a
//! declared model as a classifier ([`model`]).
//!
//! Nothing here is a gate: the gate modules depend on this one, never the
//! reverse.

pub mod model;
