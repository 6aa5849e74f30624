//! The policy engine: what each stage requires, and the decision.
//!
//! A policy (`portcullis.yaml`) names the model, its data, who is trusted to
//! sign what, and per stage the required gates, approvals and waivable
//! gates. [`load`] parses it strictly and reports every problem with its
//! position. [`decide()`] is a pure function of (policy, stage, evidence,
//! now); [`verify`] turns raw envelopes into trusted evidence using only the
//! policy's keys. The policy knows nothing about machine learning: gate specs
//! are carried through to the gates crate untouched.
#![deny(missing_docs)]

pub mod decide;
mod load;
pub mod model;
mod raw;
pub mod schema;
pub mod verify;

pub use decide::{decide, Decision, GateState, GateStatus, Reason, ReasonCode};
pub use load::{
    from_str, from_str_checked, load, load_checked, PolicyError, Problem, SpecCheck, MAX_POLICY_BYTES,
};
pub use model::{
    ApprovalRule, DataSource, GateDecl, ModelDecl, OnFail, Policy, Pos, Recheck, ServeDecl, Signer, Stage,
    WaiverRule,
};
pub use verify::{classify, Accepted, Evidence, Rejected};
