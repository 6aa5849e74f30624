//! The audit log: every state change is a leaf of an RFC 6962 Merkle tree
//! whose leaves live in the store (written in the same transaction as the
//! change). The tree's interior hashes are kept in memory and caught up
//! from the store before each answer, so a restart, or another server on
//! the same database, never serves a stale root.
//!
//! Checkpoints are C2SP signed notes (`tlog-checkpoint`) signed with the
//! service key under the log's origin; `portcullis log verify` checks them
//! against the pinned verifier key and proves each new checkpoint extends
//! the last one it saw.

use std::sync::{Arc, Mutex, MutexGuard};

use portcullis_evidence::SigningKey;
use portcullis_tlog::{Checkpoint, Tree, VerifierKey};
use serde::Serialize;

use crate::error::ApiError;
use crate::registry::limits;
use crate::store::{Store, StoreError};

/// The log.
pub struct AuditLog {
    store: Arc<dyn Store>,
    tree: Mutex<Tree>,
    origin: String,
    key: ed25519_dalek::SigningKey,
}

fn hexes(hashes: &[[u8; 32]]) -> Vec<String> {
    hashes
        .iter()
        .map(|h| h.iter().map(|b| format!("{b:02x}")).collect())
        .collect()
}

/// A proof as the API returns it: hex hashes in RFC 6962 order.
#[derive(Debug, Serialize)]
pub struct ProofView {
    /// The proof's hashes.
    pub hashes: Vec<String>,
}

impl AuditLog {
    /// Builds the in-memory tree from the store's leaves.
    ///
    /// # Errors
    /// Store failures; a bad origin (it is the checkpoint key name: no
    /// spaces or `+`).
    pub fn open(store: Arc<dyn Store>, origin: String, key: &SigningKey) -> Result<AuditLog, String> {
        VerifierKey::new(&origin, key.ed25519().verifying_key())
            .map_err(|e| format!("log origin '{origin}': {e}"))?;
        let leaves = store.log_leaf_hashes(0).map_err(|e| e.to_string())?;
        Ok(AuditLog {
            store,
            tree: Mutex::new(Tree::from_leaf_hashes(leaves)),
            origin,
            key: key.ed25519().clone(),
        })
    }

    fn synced(&self) -> Result<MutexGuard<'_, Tree>, StoreError> {
        let mut tree = self
            .tree
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for leaf in self.store.log_leaf_hashes(tree.len())? {
            tree.push(leaf);
        }
        Ok(tree)
    }

    /// The verifier key operators pin (`<origin>+<keyid>+<key>`).
    pub fn verifier_key(&self) -> String {
        VerifierKey::new(&self.origin, self.key.verifying_key())
            .map(|k| k.to_string())
            .unwrap_or_default()
    }

    /// The log's origin.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// A freshly signed checkpoint of the whole log.
    ///
    /// # Errors
    /// Store or signing failures.
    pub fn checkpoint(&self) -> Result<String, ApiError> {
        let tree = self.synced()?;
        Checkpoint::new(self.origin.clone(), tree.len(), tree.root())
            .sign(&self.origin, &self.key)
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// The number of entries.
    ///
    /// # Errors
    /// Store failures.
    pub fn size(&self) -> Result<u64, ApiError> {
        Ok(self.synced()?.len())
    }

    /// Entries `[start, end)`, exact bytes.
    ///
    /// # Errors
    /// A range that is empty, reversed, past the end or over the limit.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, ApiError> {
        let size = self.synced()?.len();
        if start >= end || end > size {
            return Err(ApiError::BadRequest(format!(
                "entries: need start < end <= {size} (the log's size), got start={start} end={end}"
            )));
        }
        if end - start > limits::ENTRIES {
            return Err(ApiError::BadRequest(format!(
                "entries: at most {} per call; page with start and end",
                limits::ENTRIES
            )));
        }
        Ok(self.store.log_entries(start, end)?)
    }

    /// The inclusion proof of leaf `index` in the tree of `size`.
    ///
    /// # Errors
    /// `index >= size` or `size` past the end.
    pub fn inclusion(&self, index: u64, size: u64) -> Result<ProofView, ApiError> {
        let tree = self.synced()?;
        let hashes = tree
            .inclusion_proof(index, size)
            .map_err(|e| ApiError::BadRequest(format!("inclusion proof: {e}")))?;
        Ok(ProofView {
            hashes: hexes(&hashes),
        })
    }

    /// The consistency proof from the tree of `from` to the tree of `to`.
    ///
    /// # Errors
    /// `from > to` or `to` past the end.
    pub fn consistency(&self, from: u64, to: u64) -> Result<ProofView, ApiError> {
        let tree = self.synced()?;
        let hashes = tree
            .consistency_proof(from, to)
            .map_err(|e| ApiError::BadRequest(format!("consistency proof: {e}")))?;
        Ok(ProofView {
            hashes: hexes(&hashes),
        })
    }
}
