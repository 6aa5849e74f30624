//! Verifying inclusion and consistency proofs (RFC 9162 §2.1.3.2 and
//! §2.1.4.2).
//!
//! Both verifiers first work out, from the sizes alone, how many hashes the
//! proof must have, so a truncated or padded proof is reported as such
//! rather than as a root mismatch. They then run the RFC's algorithms
//! unchanged.

use crate::hash::{hex, node_hash, Hash, EMPTY_ROOT};

/// Why a proof could not be produced or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexOutOfRange {
        /// The leaf index asked about.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A tree size larger than the tree has ever been.
    #[error("tree size {size} is beyond the {len} leaves the tree holds")]
    SizeBeyondTree {
        /// The size asked about.
        size: u64,
        /// The number of leaves the tree holds.
        len: u64,
    },
    /// A consistency proof from a larger tree to a smaller one.
    #[error("no consistency proof from tree size {from} back to the smaller size {to}")]
    SizesReversed {
        /// The first (older) size.
        from: u64,
        /// The second (newer) size.
        to: u64,
    },
    /// The proof has the wrong number of hashes for the sizes given.
    #[error("the proof has {got} hashes, but these sizes need exactly {expected}")]
    WrongProofLength {
        /// The number the sizes call for.
        expected: usize,
        /// The number supplied.
        got: usize,
    },
    /// The proof leads to a different root.
    #[error("root mismatch at tree size {size}: expected {}, the proof gives {}", hex(.expected), hex(.computed))]
    RootMismatch {
        /// The size of the tree whose root did not match.
        size: u64,
        /// The root the caller expected.
        expected: Hash,
        /// The root the proof leads to.
        computed: Hash,
    },
}

/// How many hashes RFC 9162 §2.1.3.2 consumes for leaf `index` in a tree of
/// `size` leaves (`index < size`): the same walk as the verifier, without
/// the hashing.
fn inclusion_len(index: u64, size: u64) -> usize {
    let (mut fn_, mut sn) = (index, size - 1);
    let mut len = 0;
    while sn != 0 {
        if fn_ & 1 == 0 && fn_ == sn {
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        }
        fn_ >>= 1;
        sn >>= 1;
        len += 1;
    }
    len
}

/// How many hashes RFC 9162 §2.1.4.2 consumes from `size1` to `size2`
/// (`0 < size1 < size2`), counting the old subtree's hash, which the proof
/// omits when `size1` is a power of two.
fn consistency_len(size1: u64, size2: u64) -> usize {
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut len = usize::from(!size1.is_power_of_two());
    while sn != 0 {
        if fn_ & 1 == 0 && fn_ == sn {
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        }
        fn_ >>= 1;
        sn >>= 1;
        len += 1;
    }
    len
}

/// The root that an inclusion proof leads to for `leaf_hash` at `index` in
/// a tree of `size` leaves. Compare it with a trusted root, or use
/// [`verify_inclusion`].
///
/// # Errors
/// [`ProofError::IndexOutOfRange`] when `index >= size`;
/// [`ProofError::WrongProofLength`] when the proof is too short or too long.
pub fn root_from_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    Ok(r)
}

/// Checks that `leaf_hash` is leaf `index` of the tree of `size` leaves
/// whose root is `root`.
///
/// # Errors
/// [`ProofError::IndexOutOfRange`], [`ProofError::WrongProofLength`], or
/// [`ProofError::RootMismatch`] when the proof leads elsewhere.
pub fn verify_inclusion(
    leaf_hash: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let computed = root_from_inclusion(leaf_hash, index, size, proof)?;
    if computed != *root {
        return Err(ProofError::RootMismatch {
            size,
            expected: *root,
            computed,
        });
    }
    Ok(())
}

/// Checks that the tree of `size1` leaves with root `root1` is a prefix of
/// the tree of `size2` leaves with root `root2`.
///
/// From size 0 the proof must be empty and `root1` must be [`EMPTY_ROOT`];
/// between equal sizes the proof must be empty and the roots equal.
///
/// # Errors
/// [`ProofError::SizesReversed`] when `size1 > size2`;
/// [`ProofError::WrongProofLength`]; [`ProofError::RootMismatch`] naming the
/// size whose root the proof does not reproduce.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    root1: &Hash,
    root2: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if size1 > size2 {
        return Err(ProofError::SizesReversed {
            from: size1,
            to: size2,
        });
    }
    if size1 == 0 || size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongProofLength {
                expected: 0,
                got: proof.len(),
            });
        }
        let (want, got) = if size1 == 0 {
            (root1, &EMPTY_ROOT)
        } else {
            (root2, root1)
        };
        if want != got {
            return Err(ProofError::RootMismatch {
                size: size1,
                expected: *want,
                computed: *got,
            });
        }
        return Ok(());
    }

    let expected = consistency_len(size1, size2);
    if proof.len() != expected {
        return Err(ProofError::WrongProofLength {
            expected,
            got: proof.len(),
        });
    }
    // "If first is an exact power of 2, then prepend first_hash to the
    // consistency_path array."
    let (seed, rest) = match proof.split_first() {
        _ if size1.is_power_of_two() => (*root1, proof),
        Some((first, rest)) => (*first, rest),
        // Unreachable: a non-power-of-two size1 needs at least one hash.
        None => {
            return Err(ProofError::WrongProofLength { expected, got: 0 });
        }
    };
    let (mut fn_, mut sn) = (size1 - 1, size2 - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (seed, seed);
    for c in rest {
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fn_ & 1 == 0 && fn_ != 0 {
                fn_ >>= 1;
                sn >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if fr != *root1 {
        return Err(ProofError::RootMismatch {
            size: size1,
            expected: *root1,
            computed: fr,
        });
    }
    if sr != *root2 {
        return Err(ProofError::RootMismatch {
            size: size2,
            expected: *root2,
            computed: sr,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusion_lengths() {
        // (index, size, hashes): a single leaf needs none; a perfect tree of
        // 2^k needs k; the last leaf of a ragged tree skips missing levels.
        let cases = [
            (0, 1, 0),
            (0, 2, 1),
            (1, 2, 1),
            (2, 3, 1),
            (0, 8, 3),
            (6, 7, 2),
            (4, 5, 1),
            (4, 7, 3),
        ];
        for (index, size, len) in cases {
            assert_eq!(inclusion_len(index, size), len, "index {index} size {size}");
        }
        // 2^64 - 1 leaves are 64 perfect pieces; the last leaf is the smallest.
        assert_eq!(inclusion_len(u64::MAX - 1, u64::MAX), 63);
    }

    #[test]
    fn consistency_lengths() {
        // (size1, size2, hashes), counting what RFC 9162 §2.1.4.1 emits.
        let cases = [
            (1, 2, 1),
            (1, 8, 3),
            (2, 5, 2),
            (6, 8, 3),
            (6, 7, 3),
            (4, 7, 1),
            (3, 7, 4),
        ];
        for (size1, size2, len) in cases {
            assert_eq!(consistency_len(size1, size2), len, "{size1} -> {size2}");
        }
    }
}
