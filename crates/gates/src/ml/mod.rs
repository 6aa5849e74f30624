//! The plumbing every classifier gate shares, in one place: loading a
//! declared model as a classifier ([`model`]), and — for the attack gates
//! (robustness, backdoor) — the checked model view attacks and detectors
//! query ([`oracle`]), labelled rows ([`data`]) and how they are loaded
//! ([`load`]), the lenient spec values ([`values`]) and the image-layout
//! keys both gates take ([`layout`]).
//!
//! Nothing here is a gate: the gate modules depend on this one, never the
//! reverse, so the backdoor gate does not reach into the robustness gate.

pub mod data;
pub mod layout;
pub mod load;
pub mod model;
pub mod oracle;
pub(crate) mod values;
