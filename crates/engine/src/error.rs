//! Why a use case could not do its job, with a stable code per kind.
//!
//! A denial is not an error: it is a [`portcullis_policy::Decision`] with
//! reasons. An [`EngineError`] means the question could not be answered
//! (unreadable policy, unknown stage, unreadable model or store), which every
//! caller treats as "not allowed" and the CLI exits 2 for.

use portcullis_evidence::{EnvelopeError, ManifestError, StoreError};
use portcullis_gates::GateError;
use portcullis_policy::PolicyError;

/// The stable code of an [`EngineError`], documented in
/// `docs/error-codes.md`; a code is never renamed or reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// The policy file is missing, unreadable, too large or invalid.
    PolicyInvalid,
    /// The policy file's sha256 is not the pinned one.
    PolicyPinMismatch,
    /// The stage is not in the policy.
    UnknownStage,
    /// A gate asked for is not required by the stage.
    UnknownGate,
    /// No model was given and the policy names none.
    NoModel,
    /// The model could not be digested.
    ModelUnreadable,
    /// A gate spec or a served-model declaration is invalid.
    SpecInvalid,
    /// The evidence store could not be read or written.
    StoreFailed,
    /// A statement could not be signed or serialised.
    SigningFailed,
    /// An approval or waiver request is incomplete or already expired.
    RequestInvalid,
    /// A gate's worker stopped without a result.
    GateAborted,
    /// A dataset to attest could not be read.
    DataUnreadable,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::PolicyInvalid,
        ErrorCode::PolicyPinMismatch,
        ErrorCode::UnknownStage,
        ErrorCode::UnknownGate,
        ErrorCode::NoModel,
        ErrorCode::ModelUnreadable,
        ErrorCode::SpecInvalid,
        ErrorCode::StoreFailed,
        ErrorCode::SigningFailed,
        ErrorCode::RequestInvalid,
        ErrorCode::GateAborted,
        ErrorCode::DataUnreadable,
    ];

    /// The code as text.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::PolicyInvalid => "policy-invalid",
            ErrorCode::PolicyPinMismatch => "policy-pin-mismatch",
            ErrorCode::UnknownStage => "unknown-stage",
            ErrorCode::UnknownGate => "unknown-gate",
            ErrorCode::NoModel => "no-model",
            ErrorCode::ModelUnreadable => "model-unreadable",
            ErrorCode::SpecInvalid => "spec-invalid",
            ErrorCode::StoreFailed => "store-failed",
            ErrorCode::SigningFailed => "signing-failed",
            ErrorCode::RequestInvalid => "request-invalid",
            ErrorCode::GateAborted => "gate-aborted",
            ErrorCode::DataUnreadable => "data-unreadable",
        }
    }

    /// One line: what the code means.
    pub fn summary(self) -> &'static str {
        match self {
            ErrorCode::PolicyInvalid => "the policy file is missing, unreadable, too large or invalid",
            ErrorCode::PolicyPinMismatch => "the policy file's sha256 is not the pinned one",
            ErrorCode::UnknownStage => "the stage is not in the policy",
            ErrorCode::UnknownGate => "a gate asked for is not required by the stage",
            ErrorCode::NoModel => "no model was given and the policy names none",
            ErrorCode::ModelUnreadable => "the model could not be read or digested",
            ErrorCode::SpecInvalid => "a gate spec or a served-model declaration is invalid",
            ErrorCode::StoreFailed => "the evidence store could not be read or written",
            ErrorCode::SigningFailed => "a statement could not be signed or serialised",
            ErrorCode::RequestInvalid => "an approval or waiver request is incomplete or already expired",
            ErrorCode::GateAborted => "a gate's worker stopped without a result",
            ErrorCode::DataUnreadable => "a dataset to attest could not be read, or holds a symbolic link",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a use case could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The policy could not be loaded; lists every problem.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The stage is not in the policy.
    #[error("stage '{stage}' is not in {policy} (stages: {})", known.join(", "))]
    UnknownStage {
        /// The stage asked for.
        stage: String,
        /// The policy file.
        policy: String,
        /// The stages it has.
        known: Vec<String>,
    },
    /// A selected gate is not required by the stage.
    #[error("gate '{gate}' is not required by stage '{stage}' (its gates: {})", known.join(", "))]
    UnknownGate {
        /// The gate asked for.
        gate: String,
        /// The stage.
        stage: String,
        /// The stage's gates.
        known: Vec<String>,
    },
    /// No model to evaluate.
    #[error("no model: set model.path in {policy} or pass --model")]
    NoModel {
        /// The policy file.
        policy: String,
    },
    /// The model could not be digested.
    #[error(transparent)]
    Model(#[from] ManifestError),
    /// A gate spec is invalid.
    #[error(transparent)]
    Spec(#[from] GateError),
    /// A served-model declaration is invalid.
    #[error("{0}")]
    Serve(String),
    /// The evidence store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A statement could not be signed.
    #[error(transparent)]
    Sign(#[from] EnvelopeError),
    /// A predicate could not be serialised.
    #[error("cannot serialise the predicate: {0}")]
    Serialise(#[from] serde_json::Error),
    /// An approval or waiver request is incomplete or expired.
    #[error("{0}")]
    Request(String),
    /// A dataset to attest could not be read.
    #[error("{0}")]
    Data(String),
    /// A gate's thread stopped without a result.
    #[error("a gate thread stopped unexpectedly; no decision was made")]
    GateAborted,
}

impl EngineError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::Policy(PolicyError::PinMismatch { .. }) => ErrorCode::PolicyPinMismatch,
            EngineError::Policy(_) => ErrorCode::PolicyInvalid,
            EngineError::UnknownStage { .. } => ErrorCode::UnknownStage,
            EngineError::UnknownGate { .. } => ErrorCode::UnknownGate,
            EngineError::NoModel { .. } => ErrorCode::NoModel,
            EngineError::Model(_) => ErrorCode::ModelUnreadable,
            EngineError::Spec(_) | EngineError::Serve(_) => ErrorCode::SpecInvalid,
            EngineError::Store(_) => ErrorCode::StoreFailed,
            EngineError::Sign(_) | EngineError::Serialise(_) => ErrorCode::SigningFailed,
            EngineError::Request(_) => ErrorCode::RequestInvalid,
            EngineError::GateAborted => ErrorCode::GateAborted,
            EngineError::Data(_) => ErrorCode::DataUnreadable,
        }
    }
}
