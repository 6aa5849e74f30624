//! An in-memory Merkle tree that answers roots and proofs for every size it
//! has been.

use std::fmt;

use crate::hash::{hex, node_hash, Hash, EMPTY_ROOT};
use crate::proof::ProofError;

/// An append-only RFC 9162 Merkle tree over leaf hashes.
///
/// `levels[k][i]` is the hash of the perfect subtree over leaves
/// `[i·2^k, (i+1)·2^k)`; level 0 holds the leaf hashes themselves. A level
/// only holds complete subtrees, so `levels[k].len() == len >> k` and the
/// whole structure is just under twice the size of the leaf hashes.
///
/// Every subtree that RFC 9162 hashes, at any tree size up to [`Tree::len`],
/// is either perfect (one lookup) or a right edge made of at most 64 perfect
/// pieces, and a proof touches at most one right edge. Roots and proofs are
/// therefore O(log n) lookups and at most O(log n) node hashes.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tree {
    levels: Vec<Vec<Hash>>,
}

impl fmt::Debug for Tree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tree")
            .field("len", &self.len())
            .field("root", &hex(&self.root()))
            .finish()
    }
}

/// The largest power of two strictly below `n`; `n` must be at least 2.
fn split_point(n: u64) -> u64 {
    1 << (63 - (n - 1).leading_zeros())
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree over `leaf_hashes`, in order.
    pub fn from_leaf_hashes<I: IntoIterator<Item = Hash>>(leaf_hashes: I) -> Self {
        let mut tree = Tree::new();
        tree.extend(leaf_hashes);
        tree
    }

    /// Appends a leaf hash (see [`crate::leaf_hash`]) and returns its index.
    pub fn push(&mut self, leaf_hash: Hash) -> u64 {
        let index = self.len();
        let mut node = leaf_hash;
        let mut k = 0;
        loop {
            if self.levels.len() == k {
                self.levels.push(Vec::new());
            }
            let level = &mut self.levels[k];
            level.push(node);
            let n = level.len();
            if n % 2 == 1 {
                break;
            }
            // The new node completed a pair: its parent is now perfect too.
            node = node_hash(&level[n - 2], &level[n - 1]);
            k += 1;
        }
        index
    }

    /// The number of leaves.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The hash of leaf `index`, if the tree has it.
    pub fn leaf_hash(&self, index: u64) -> Option<Hash> {
        let leaves = self.levels.first()?;
        usize::try_from(index).ok().and_then(|i| leaves.get(i)).copied()
    }

    /// The root at the current size.
    pub fn root(&self) -> Hash {
        let n = self.len();
        if n == 0 {
            EMPTY_ROOT
        } else {
            self.subtree(0, n)
        }
    }

    /// The root the tree had when it held `size` leaves.
    ///
    /// # Errors
    /// [`ProofError::SizeBeyondTree`] when `size` is more than [`Tree::len`].
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        self.check_size(size)?;
        if size == 0 {
            Ok(EMPTY_ROOT)
        } else {
            Ok(self.subtree(0, size))
        }
    }

    /// The inclusion proof (RFC 9162 §2.1.3.1) of leaf `index` in the tree of
    /// `size` leaves: sibling hashes from the leaf up to the root.
    ///
    /// # Errors
    /// [`ProofError::SizeBeyondTree`] when `size` is more than [`Tree::len`];
    /// [`ProofError::IndexOutOfRange`] when `index` is not below `size`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        self.check_size(size)?;
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        // Walk PATH(m, D[start:start+n]) from the root down, collecting the
        // sibling at each split; the proof lists them leaf first.
        let mut proof = Vec::new();
        let (mut start, mut n, mut m) = (0, size, index);
        while n > 1 {
            let k = split_point(n);
            if m < k {
                proof.push(self.subtree(start + k, n - k));
                n = k;
            } else {
                proof.push(self.subtree(start, k));
                start += k;
                n -= k;
                m -= k;
            }
        }
        proof.reverse();
        Ok(proof)
    }

    /// The consistency proof (RFC 9162 §2.1.4.1) that the tree of `from`
    /// leaves is a prefix of the tree of `to` leaves. Empty when `from` is 0
    /// or equals `to`.
    ///
    /// # Errors
    /// [`ProofError::SizesReversed`] when `from > to`;
    /// [`ProofError::SizeBeyondTree`] when `to` is more than [`Tree::len`].
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, ProofError> {
        if from > to {
            return Err(ProofError::SizesReversed { from, to });
        }
        self.check_size(to)?;
        let mut proof = Vec::new();
        if from == 0 {
            return Ok(proof);
        }
        // SUBPROOF(m, D[start:start+n], whole): `whole` stays true while the
        // old tree is the left part of the subtree being descended, i.e. while
        // the verifier already knows the old subtree's hash.
        let (mut start, mut n, mut m, mut whole) = (0, to, from, true);
        while m < n {
            let k = split_point(n);
            if m <= k {
                proof.push(self.subtree(start + k, n - k));
                n = k;
            } else {
                proof.push(self.subtree(start, k));
                start += k;
                n -= k;
                m -= k;
                whole = false;
            }
        }
        if !whole {
            proof.push(self.subtree(start, m));
        }
        proof.reverse();
        Ok(proof)
    }

    fn check_size(&self, size: u64) -> Result<(), ProofError> {
        let len = self.len();
        if size > len {
            return Err(ProofError::SizeBeyondTree { size, len });
        }
        Ok(())
    }

    /// MTH(D[start:start+n]) for a subtree RFC 9162 can ask for: `n >= 1`,
    /// `start + n <= len`, and `start` a multiple of the largest power of two
    /// not above `n`. The range splits into perfect pieces, one per set bit
    /// of `n` from the largest at `start`; folding them right to left is the
    /// RFC's recursive split.
    fn subtree(&self, start: u64, n: u64) -> Hash {
        let mut rest = n;
        let mut end = start + n;
        let mut acc: Option<Hash> = None;
        while rest != 0 {
            let k = rest.trailing_zeros();
            end -= 1 << k;
            let piece = self.levels[k as usize][(end >> k) as usize];
            acc = Some(match acc {
                None => piece,
                Some(right) => node_hash(&piece, &right),
            });
            rest &= rest - 1;
        }
        acc.unwrap_or(EMPTY_ROOT)
    }
}

impl Extend<Hash> for Tree {
    fn extend<I: IntoIterator<Item = Hash>>(&mut self, leaf_hashes: I) {
        for h in leaf_hashes {
            self.push(h);
        }
    }
}

impl FromIterator<Hash> for Tree {
    fn from_iter<I: IntoIterator<Item = Hash>>(leaf_hashes: I) -> Self {
        Tree::from_leaf_hashes(leaf_hashes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;

    #[test]
    fn split_point_is_the_largest_power_of_two_below() {
        let cases = [
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 4),
            (8, 4),
            (9, 8),
            (u64::MAX, 1 << 63),
        ];
        for (n, k) in cases {
            assert_eq!(split_point(n), k, "n = {n}");
        }
    }

    #[test]
    fn levels_hold_only_complete_subtrees() {
        let mut tree = Tree::new();
        for i in 0..37u64 {
            tree.push(leaf_hash(&i.to_be_bytes()));
            let len = tree.len() as usize;
            for (k, level) in tree.levels.iter().enumerate() {
                assert_eq!(level.len(), len >> k, "len {len}, level {k}");
            }
        }
    }

    #[test]
    fn out_of_range_is_an_error_not_a_panic() {
        let tree = Tree::from_leaf_hashes((0..5u8).map(|i| leaf_hash(&[i])));
        assert!(matches!(
            tree.root_at(6),
            Err(ProofError::SizeBeyondTree { size: 6, len: 5 })
        ));
        assert!(tree.root_at(u64::MAX).is_err());
        assert!(matches!(
            tree.inclusion_proof(5, 5),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        ));
        assert!(matches!(
            tree.inclusion_proof(0, 0),
            Err(ProofError::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            tree.inclusion_proof(0, 6),
            Err(ProofError::SizeBeyondTree { .. })
        ));
        assert!(tree.inclusion_proof(u64::MAX, u64::MAX).is_err());
        assert!(matches!(
            tree.consistency_proof(3, 2),
            Err(ProofError::SizesReversed { from: 3, to: 2 })
        ));
        assert!(matches!(
            tree.consistency_proof(2, 6),
            Err(ProofError::SizeBeyondTree { .. })
        ));
        assert!(tree.consistency_proof(u64::MAX, u64::MAX).is_err());
        assert_eq!(tree.leaf_hash(5), None);
        assert_eq!(tree.leaf_hash(u64::MAX), None);
        assert_eq!(Tree::new().inclusion_proof(0, 0).ok(), None);
        assert_eq!(Tree::new().root_at(0).ok(), Some(EMPTY_ROOT));
    }
}
