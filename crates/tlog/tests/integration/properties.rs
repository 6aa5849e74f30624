//! Exhaustive checks against a direct transcription of the RFC 9162
//! definitions (MTH, PATH, PROOF/SUBPROOF) for every size up to 64, every
//! leaf and every pair of sizes.

use portcullis_tlog::{
    leaf_hash, node_hash, root_from_inclusion, verify_consistency, verify_inclusion, Hash, ProofError, Tree,
    EMPTY_ROOT,
};

const MAX: usize = 64;

/// The largest power of two strictly below `n` (n >= 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]), RFC 9162 §2.1.1.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]), RFC 9162 §2.1.3.1.
fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n == 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

/// SUBPROOF(m, D[n], b), RFC 9162 §2.1.4.1.
fn subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if b { Vec::new() } else { vec![mth(leaves)] };
    }
    let k = split(n);
    if m <= k {
        let mut p = subproof(m, &leaves[..k], b);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = subproof(m - k, &leaves[k..], false);
        p.push(mth(&leaves[..k]));
        p
    }
}

fn leaves() -> Vec<Hash> {
    (0..MAX as u32).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

/// Flips one bit, a different one for each position, so every byte and bit
/// position gets exercised across the runs.
fn flip(proof: &[Hash], i: usize) -> Vec<Hash> {
    let mut wrong = proof.to_vec();
    wrong[i][(i * 7) % 32] ^= 1 << (i % 8);
    wrong
}

#[test]
fn roots_match_the_definition_at_every_size() {
    let leaves = leaves();
    let mut tree = Tree::new();
    for n in 1..=MAX {
        tree.push(leaves[n - 1]);
        assert_eq!(tree.root(), mth(&leaves[..n]), "size {n}");
    }
    for n in 0..=MAX {
        assert_eq!(tree.root_at(n as u64).unwrap(), mth(&leaves[..n]), "root_at({n})");
    }
}

#[test]
fn every_inclusion_proof() {
    let leaves = leaves();
    let tree = Tree::from_leaf_hashes(leaves.iter().copied());
    for n in 1..=MAX {
        let size = n as u64;
        let root = mth(&leaves[..n]);
        let other_root = mth(&leaves[..n - 1]);
        for m in 0..n {
            let index = m as u64;
            let proof = tree.inclusion_proof(index, size).unwrap();
            assert_eq!(proof, path(m, &leaves[..n]), "PATH({m}, D[{n}])");
            verify_inclusion(&leaves[m], index, size, &proof, &root).unwrap();
            assert_eq!(
                root_from_inclusion(&leaves[m], index, size, &proof).unwrap(),
                root
            );

            for i in 0..proof.len() {
                assert!(
                    verify_inclusion(&leaves[m], index, size, &flip(&proof, i), &root).is_err(),
                    "flipped proof[{i}] verified for {m} in {n}"
                );
            }
            for other in 0..n {
                if other != m {
                    assert!(
                        verify_inclusion(&leaves[m], other as u64, size, &proof, &root).is_err(),
                        "leaf {m}'s proof verified at index {other} in {n}"
                    );
                }
            }
            assert!(
                verify_inclusion(&leaves[m], index, size, &proof, &other_root).is_err(),
                "{m} in {n} verified against the root of size {}",
                n - 1
            );
            let mut flipped_root = root;
            flipped_root[m % 32] ^= 0x80;
            assert!(matches!(
                verify_inclusion(&leaves[m], index, size, &proof, &flipped_root),
                Err(ProofError::RootMismatch { .. })
            ));
            let wrong_leaf = leaves[(m + 1) % MAX];
            assert!(verify_inclusion(&wrong_leaf, index, size, &proof, &root).is_err());
        }
    }
}

#[test]
fn every_consistency_proof() {
    let leaves = leaves();
    let tree = Tree::from_leaf_hashes(leaves.iter().copied());
    for n in 1..=MAX {
        let root2 = mth(&leaves[..n]);
        for m in 1..=n {
            let (size1, size2) = (m as u64, n as u64);
            let root1 = mth(&leaves[..m]);
            let proof = tree.consistency_proof(size1, size2).unwrap();
            assert_eq!(proof, subproof(m, &leaves[..n], true), "PROOF({m}, D[{n}])");
            verify_consistency(size1, size2, &root1, &root2, &proof).unwrap();
            if m == n {
                assert!(proof.is_empty());
                continue;
            }

            for i in 0..proof.len() {
                assert!(
                    verify_consistency(size1, size2, &root1, &root2, &flip(&proof, i)).is_err(),
                    "flipped proof[{i}] verified for {m} -> {n}"
                );
            }
            // When size1 is a power of two the old root is the proof's seed,
            // so a wrong one surfaces as a wrong new root.
            let mut bad = root1;
            bad[0] ^= 1;
            let blamed = if m.is_power_of_two() { size2 } else { size1 };
            assert!(matches!(
                verify_consistency(size1, size2, &bad, &root2, &proof),
                Err(ProofError::RootMismatch { size, .. }) if size == blamed
            ));
            let mut bad = root2;
            bad[31] ^= 1;
            assert!(matches!(
                verify_consistency(size1, size2, &root1, &bad, &proof),
                Err(ProofError::RootMismatch { size, .. }) if size == size2
            ));
            assert!(
                verify_consistency(size1, size2, &root2, &root1, &proof).is_err(),
                "swapped roots"
            );
            // A proof for one old size must not pass for a neighbouring one.
            for wrong in [m - 1, m + 1] {
                if (1..n).contains(&wrong) {
                    let wrong_root = mth(&leaves[..wrong]);
                    assert!(
                        verify_consistency(wrong as u64, size2, &wrong_root, &root2, &proof).is_err(),
                        "proof {m} -> {n} verified as {wrong} -> {n}"
                    );
                }
            }
        }
    }
}

#[test]
fn larger_trees_agree_with_the_definition() {
    // Spot checks past 64, around powers of two, where the right edge is
    // deepest or empty.
    let all: Vec<Hash> = (0..1100u32).map(|i| leaf_hash(&i.to_le_bytes())).collect();
    let tree = Tree::from_leaf_hashes(all.iter().copied());
    for n in [127usize, 128, 129, 1000, 1023, 1024, 1025, 1100] {
        let root = mth(&all[..n]);
        assert_eq!(tree.root_at(n as u64).unwrap(), root, "size {n}");
        for m in [0, 1, n / 3, n / 2, n - 2, n - 1] {
            let proof = tree.inclusion_proof(m as u64, n as u64).unwrap();
            assert_eq!(proof, path(m, &all[..n]), "PATH({m}, D[{n}])");
            verify_inclusion(&all[m], m as u64, n as u64, &proof, &root).unwrap();
        }
        for m in [1, 2, 3, n / 3, n / 2, n - 1, n] {
            let proof = tree.consistency_proof(m as u64, n as u64).unwrap();
            assert_eq!(proof, subproof(m, &all[..n], true), "PROOF({m}, D[{n}])");
            verify_consistency(m as u64, n as u64, &mth(&all[..m]), &root, &proof).unwrap();
        }
    }
}
