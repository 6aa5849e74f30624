//! The bottom crate of portcullis: the vocabulary every other crate shares,
//! and the evidence formats.
//!
//! Gates, the model-file scanner and the CI auditor all speak in [`Finding`]s
//! with a [`Severity`] and a [`Location`]; gates add a [`Verdict`] and a flat
//! [`Metrics`] map. Evidence is bound to a model's exact bytes through the
//! OpenSSF model-signing manifest digest, carried in in-toto statements inside
//! DSSE envelopes. This crate knows nothing about machine learning and nothing
//! about policy: it is the shared language and the cryptographic envelope.
#![deny(missing_docs)]

pub mod dsse;
pub mod finding;
pub mod hash;
pub mod keys;
pub mod manifest;
pub mod outcome;
pub mod predicate;
pub mod rule;
pub mod spec;
pub mod statement;
pub mod store;
pub mod threshold;

pub use dsse::{Envelope, EnvelopeError};
pub use finding::{Confidence, Finding, Location, ParseLevelError, Severity};
pub use hash::{ParseDigestError, Sha256Digest};
pub use keys::{KeyError, PublicKey, SigningKey};
pub use manifest::{
    digest_model, sha256_bytes, sha256_file, total_bytes, DigestOptions, Manifest, ManifestError,
    ResourceDigest, Serialization, DEFAULT_SHARD_SIZE,
};
pub use outcome::{Metrics, Verdict};
pub use rule::RuleInfo;
pub use spec::{DataSource, GateSpec, ServeDecl};
pub use statement::{Statement, Subject};
pub use store::{Bundle, DirStore, StoreError};
pub use threshold::{Op, ParseThresholdError, Threshold};
