//! in-toto Attestation Framework v1 Statements.
//!
//! A statement says something (`predicate`, of `predicateType`) about
//! subjects identified by digest. portcullis statements have exactly one
//! subject: the model, named by its model-signing digest.
//! Spec: <https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md>

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Sha256Digest;

/// The `_type` of every v1 statement.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// One subject: a name and its digests by algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The artifact's name (the model directory or file name).
    pub name: String,
    /// Algorithm → lowercase hex digest.
    pub digest: BTreeMap<String, String>,
}

impl Subject {
    /// A subject with a sha256 digest.
    pub fn sha256(name: impl Into<String>, digest: &Sha256Digest) -> Self {
        Subject {
            name: name.into(),
            digest: BTreeMap::from([("sha256".to_string(), digest.to_hex())]),
        }
    }

    /// The subject's sha256 digest, if present and well-formed.
    pub fn sha256_digest(&self) -> Option<Sha256Digest> {
        self.digest
            .get("sha256")
            .and_then(|h| Sha256Digest::from_hex(h).ok())
    }
}

/// An in-toto v1 statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    /// Always [`STATEMENT_TYPE`].
    #[serde(rename = "_type")]
    pub type_: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// The predicate's type URI.
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// The predicate.
    pub predicate: serde_json::Value,
}

impl Statement {
    /// A statement about one subject.
    pub fn new(subject: Subject, predicate_type: &str, predicate: serde_json::Value) -> Self {
        Statement {
            type_: STATEMENT_TYPE.to_string(),
            subject: vec![subject],
            predicate_type: predicate_type.to_string(),
            predicate,
        }
    }

    /// True when some subject carries exactly this sha256 digest.
    pub fn is_about(&self, digest: &Sha256Digest) -> bool {
        self.subject
            .iter()
            .any(|s| s.sha256_digest().as_ref() == Some(digest))
    }
}
