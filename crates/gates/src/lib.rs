//! Gates: the evaluations a model must pass.
//!
//! Each gate kind is a module implementing [`Gate`]: it reads the model and
//! its inputs and returns metrics, findings and details. Thresholds
//! (`require: {metric: "op value"}`) are applied once, by [`run_gate`], for
//! every kind, so no gate re-implements threshold logic and every failed
//! check is explained the same way. Gates know nothing about policy or
//! promotion: they say what they measured; the policy engine decides.
#![deny(missing_docs)]

pub mod backdoor;
pub mod classic;
pub mod command;
pub mod fairness;
pub mod gate;
pub mod llm;
pub mod metrics;
pub mod ml;
pub mod params;
pub mod performance;
pub mod provenance;
pub mod reference;
pub mod registry;
pub mod require;
pub mod robustness;
pub mod run;
pub mod scan;
pub mod serve;
pub mod stats;

pub use gate::{
    Check, DataSource, Evaluation, Gate, GateContext, GateError, GateErrorKind, GateOutcome, Input, ModelRef,
    NoProgress, Progress,
};
pub use registry::{build, kind, kinds, GateKind};
pub use run::run_gate;
