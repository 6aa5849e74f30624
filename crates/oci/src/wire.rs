//! OCI image-spec v1.1 JSON: descriptors, image manifests, image indexes.

use std::collections::BTreeMap;

use portcullis_evidence::Sha256Digest;
use serde::{Deserialize, Serialize};

/// `application/vnd.oci.image.manifest.v1+json`.
pub const MANIFEST_V1: &str = "application/vnd.oci.image.manifest.v1+json";
/// `application/vnd.oci.image.index.v1+json`.
pub const INDEX_V1: &str = "application/vnd.oci.image.index.v1+json";
/// The empty config of artifacts: `{}`.
pub const EMPTY_V1: &str = "application/vnd.oci.empty.v1+json";
/// The file name annotation ORAS and others set on file layers.
pub const TITLE: &str = "org.opencontainers.image.title";

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of what it points at.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// The artifact type (of a manifest in an index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// A descriptor with no annotations.
    pub fn new(media_type: &str, digest: Sha256Digest, size: u64) -> Self {
        Descriptor {
            media_type: media_type.to_string(),
            digest: format!("sha256:{}", digest.to_hex()),
            size,
            artifact_type: None,
            annotations: BTreeMap::new(),
        }
    }

    /// The sha256 digest, when it is one.
    pub fn sha256(&self) -> Option<Sha256Digest> {
        self.digest
            .strip_prefix("sha256:")
            .and_then(|h| Sha256Digest::from_hex(h).ok())
    }
}

/// An image manifest (also the shape of artifacts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    /// Always 2.
    pub schema_version: u32,
    /// [`MANIFEST_V1`] (optional in the spec, always written here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// What kind of artifact this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// The manifest this one refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index (also the referrers list).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// [`INDEX_V1`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The manifests.
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
}

/// The empty config blob's descriptor (`{}`, two bytes).
pub fn empty_config() -> Descriptor {
    Descriptor::new(EMPTY_V1, portcullis_evidence::sha256_bytes(b"{}"), 2)
}
