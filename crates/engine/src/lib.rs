//! The portcullis engine: every use case as a library call, so the CLI, the
//! registry server, its web UI and the admission webhook run one code path.
//!
//! Data flows one way, from the artifact to the decision:
//!
//! ```text
//!  policy file ──► load_policy ──────────────────────────────┐ (policy + gate specs,
//!                  (policy problems and gate-spec problems     │  checked in one pass)
//!                   in one pass)                               ▼
//!  model path ───► digest (model-signing v1.0) ──► evaluate_stage ──► gates run side by side
//!                                                              │        (portcullis-gates)
//!                                                              ▼
//!                              each GateOutcome ──► gate-result/v1 predicate
//!                                                   ──► in-toto Statement ──► DSSE envelope
//!                                                              │  (signer)
//!                                                              ▼
//!  approve / waive ─► approval/v1, waiver/v1 ──────────► EvidenceStore::append
//!                                                              │
//!  decide / verify / show ◄── classify (policy keys) ◄── EvidenceStore::read
//!          │
//!          ▼
//!      Decision (typed reasons) ──► verify: optional SLSA Verification Summary
//!          │
//!          ▼
//!      callers render it (portcullis-report) and pick exit codes
//! ```
//!
//! Every call takes plain inputs: a checked [`Policy`], an artifact (path or
//! digest), an [`EvidenceStore`], a [`SigningKey`] where something is signed,
//! and a [`Clock`]. Every call returns typed results and an [`EngineError`]
//! with a stable [`ErrorCode`]; none prints, reads the environment or exits.
//! Long work reports through an [`Observer`], which the CLI turns into
//! progress bars and the server into job status.
//!
//! | use case | call |
//! |---|---|
//! | load and check a policy | [`load_policy`], [`load_policy_pinned`] |
//! | run a stage's gates, sign, append, decide | [`evaluate_stage`] |
//! | run one gate ad hoc (no policy, no signing) | [`evaluate_gate`] |
//! | decide from recorded evidence | [`decide`] |
//! | deploy-side verification (+ VSA) | [`verify`], [`summarise`] |
//! | sign an approval or a waiver | [`approve`], [`waive`] |
//! | everything recorded about a model, and each stage's decision | [`show`] |
//! | a signed data manifest for the provenance gate | [`attest_data`] |
#![deny(missing_docs)]

mod clock;
mod data;
mod decide;
mod error;
mod evaluate;
mod load;
mod observe;
mod sign;
pub mod store;

pub use clock::{Clock, FixedClock, SystemClock};
pub use data::{attest_data, DataAttestation};
pub use decide::{decide, show, summarise, verify, Decided, Shown, Summary, Verification, VerifyRequest};
pub use error::{EngineError, ErrorCode};
pub use evaluate::{
    digest_artifact, evaluate_gate, evaluate_stage, predicate_of, stage_gates, tool_info, GateRequest,
    StageEvaluation, StageRequest,
};
pub use load::{load_policy, load_policy_pinned};
pub use observe::{Observer, Silent, Warning};
pub use sign::{approve, parse_expiry, waive, Appended, ApprovalRequest, WaiverRequest};
pub use store::EvidenceStore;

pub use portcullis_evidence::SigningKey;
pub use portcullis_policy::Policy;
