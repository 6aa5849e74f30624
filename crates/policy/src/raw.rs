//! The policy file as written: serde types with source positions.
//!
//! Parsing is strict (`deny_unknown_fields` everywhere) and keeps the
//! position of every value a later check may need to point at. These types
//! are converted into the checked [`crate::Policy`] by [`crate::load`], which
//! collects every problem so the user sees all of them at once.

use std::collections::BTreeMap;

use portcullis_evidence::GateSpec;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// A string or a list of strings (`roles: model-risk` or `roles: [a, b]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    pub version: Spanned<u32>,
    #[serde(default)]
    pub model: Option<RawModel>,
    #[serde(default)]
    pub reference: Option<RawModel>,
    #[serde(default)]
    pub data: BTreeMap<String, Spanned<RawData>>,
    #[serde(default)]
    pub trust: RawTrust,
    pub stages: BTreeMap<String, Spanned<RawStage>>,
    #[serde(default)]
    pub gates: BTreeMap<String, Spanned<GateSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub path: Spanned<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub serve: Option<Spanned<RawServe>>,
}

/// A class label as written: `0` or `approve`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Int(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServe {
    #[serde(default)]
    pub protocol: Option<Spanned<String>>,
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    #[serde(default)]
    pub command: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub model_name: Option<String>,
    #[serde(default)]
    pub input: Option<String>,
    #[serde(default)]
    pub output: Option<String>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub batch_size: Option<Spanned<u64>>,
    #[serde(default)]
    pub retries: Option<u32>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub classes: Vec<Scalar>,
    #[serde(default)]
    pub n_features: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawData {
    pub path: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub sensitive: Option<OneOrMany>,
    #[serde(default)]
    pub slices: Option<OneOrMany>,
    #[serde(default)]
    pub weight: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrust {
    #[serde(default)]
    pub runners: Vec<Spanned<RawSigner>>,
    #[serde(default)]
    pub approvers: Vec<Spanned<RawSigner>>,
    #[serde(default)]
    pub services: Vec<Spanned<RawSigner>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSigner {
    pub name: String,
    #[serde(default)]
    pub key: Option<Spanned<String>>,
    #[serde(default)]
    pub keys: Vec<Spanned<String>>,
    #[serde(default)]
    pub roles: Option<OneOrMany>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    #[serde(default)]
    pub extends: Option<Spanned<String>>,
    #[serde(default)]
    pub gates: Vec<Spanned<String>>,
    #[serde(default)]
    pub approvals: Option<Spanned<RawApprovals>>,
    #[serde(default)]
    pub max_evidence_age: Option<Spanned<String>>,
    #[serde(default)]
    pub waivable: BTreeMap<String, Spanned<RawWaivable>>,
    #[serde(default)]
    pub recheck: Option<Spanned<RawRecheck>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRecheck {
    pub every: Spanned<String>,
    pub gates: Vec<Spanned<String>>,
    #[serde(default)]
    pub on_fail: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApprovals {
    pub required: u32,
    #[serde(default)]
    pub roles: Option<OneOrMany>,
    #[serde(default = "default_true")]
    pub forbid_author: bool,
    #[serde(default)]
    pub max_age: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWaivable {
    pub roles: OneOrMany,
    #[serde(default)]
    pub max_duration: Option<Spanned<String>>,
}

fn default_true() -> bool {
    true
}
