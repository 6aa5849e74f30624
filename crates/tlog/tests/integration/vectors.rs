//! Known-answer tests from the Certificate Transparency reference tests.
//!
//! The leaf inputs, roots, audit paths and consistency proofs are the
//! RFC 6962 test vectors of google/certificate-transparency
//! `cpp/merkletree/merkle_tree_test.cc` (`kInputs`, `kSHA256Roots`,
//! `kSHA256Paths`, `kSHA256Proofs`), also carried by transparency-dev/merkle
//! `proof/verify_test.go`, which adds the 6 → 7 consistency proof. The
//! single-hash values are from transparency-dev/merkle
//! `rfc6962/rfc6962_test.go`. The tampering probes mirror those files'
//! `VerifierCheck` / `corruptInclusionProof` cases.

use portcullis_tlog::{
    leaf_hash, root_from_inclusion, verify_consistency, verify_inclusion, Hash, ProofError, Tree, EMPTY_ROOT,
};

use crate::{h, unhex};

/// The eight leaf inputs of the reference tree, in hex.
const INPUTS: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// The roots after appending each input in turn (sizes 1..=8).
const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// Audit paths: (leaf index, 0-based; tree size; path). The source numbers
/// leaves from 1.
const PATHS: [(u64, u64, &[&str]); 4] = [
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// Consistency proofs: (size1, size2, proof).
const PROOFS: [(u64, u64, &[&str]); 5] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn hashes(hex: &[&str]) -> Vec<Hash> {
    hex.iter().map(|s| h(s)).collect()
}

fn reference_tree() -> Tree {
    Tree::from_leaf_hashes(INPUTS.iter().map(|i| leaf_hash(&unhex(i))))
}

fn root(size: u64) -> Hash {
    h(ROOTS[size as usize - 1])
}

#[test]
fn single_hashes() {
    assert_eq!(
        EMPTY_ROOT,
        h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    assert_eq!(
        leaf_hash(b""),
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    );
    assert_eq!(
        leaf_hash(b"L123456"),
        h("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56")
    );
}

#[test]
fn roots_for_every_size() {
    let mut tree = Tree::new();
    assert_eq!(tree.root(), EMPTY_ROOT);
    for (i, input) in INPUTS.iter().enumerate() {
        assert_eq!(tree.push(leaf_hash(&unhex(input))), i as u64);
        assert_eq!(tree.len(), i as u64 + 1);
        assert_eq!(tree.root(), h(ROOTS[i]), "size {}", i + 1);
        assert_eq!(tree.root_at(0).unwrap(), EMPTY_ROOT);
        for size in 1..=tree.len() {
            assert_eq!(
                tree.root_at(size).unwrap(),
                root(size),
                "size {size} of {}",
                tree.len()
            );
        }
    }
}

#[test]
fn inclusion_proofs_match_the_vectors() {
    let tree = reference_tree();
    for (index, size, path) in PATHS {
        assert_eq!(
            tree.inclusion_proof(index, size).unwrap(),
            hashes(path),
            "{index} in {size}"
        );
    }
    assert_eq!(tree.inclusion_proof(0, 1).unwrap(), Vec::<Hash>::new());
    assert!(tree.inclusion_proof(8, 8).is_err());
}

#[test]
fn consistency_proofs_match_the_vectors() {
    let tree = reference_tree();
    for (size1, size2, proof) in PROOFS {
        assert_eq!(
            tree.consistency_proof(size1, size2).unwrap(),
            hashes(proof),
            "{size1} -> {size2}"
        );
    }
}

#[test]
fn inclusion_vectors_verify_and_tampering_fails() {
    for (index, size, path) in PATHS {
        let proof = hashes(path);
        let leaf = leaf_hash(&unhex(INPUTS[index as usize]));
        let root = root(size);
        assert_eq!(root_from_inclusion(&leaf, index, size, &proof).unwrap(), root);
        verify_inclusion(&leaf, index, size, &proof, &root).unwrap();

        let fails = |leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash, what: &str| {
            assert!(
                verify_inclusion(leaf, index, size, proof, root).is_err(),
                "{what}: {index} in {size} verified"
            );
        };
        fails(&leaf, index.wrapping_sub(1), size, &proof, &root, "index - 1");
        fails(&leaf, index + 1, size, &proof, &root, "index + 1");
        fails(&leaf, index ^ 2, size, &proof, &root, "index ^ 2");
        fails(&leaf, index, size * 2, &proof, &root, "size * 2");
        fails(&leaf, index, size / 2, &proof, &root, "size / 2");
        fails(&leaf_hash(b"WrongLeaf"), index, size, &proof, &root, "wrong leaf");
        fails(&leaf, index, size, &proof, &EMPTY_ROOT, "empty root");
        for i in 0..proof.len() {
            let mut wrong = proof.clone();
            wrong[i] = EMPTY_ROOT;
            fails(&leaf, index, size, &wrong, &root, "replaced element");
        }
        let mut longer = proof.clone();
        longer.push(root);
        fails(&leaf, index, size, &longer, &root, "trailing root");
        let mut longer = vec![root];
        longer.extend(&proof);
        fails(&leaf, index, size, &longer, &root, "preceding root");
        fails(
            &leaf,
            index,
            size,
            &proof[..proof.len() - 1],
            &root,
            "removed last",
        );
    }
}

#[test]
fn consistency_vectors_verify_and_tampering_fails() {
    for (size1, size2, proof) in PROOFS {
        let proof = hashes(proof);
        let (root1, root2) = (root(size1), root(size2));
        verify_consistency(size1, size2, &root1, &root2, &proof).unwrap();
        if proof.is_empty() {
            continue;
        }
        let fails = |size1: u64, size2: u64, root1: &Hash, root2: &Hash, proof: &[Hash], what: &str| {
            assert!(
                verify_consistency(size1, size2, root1, root2, proof).is_err(),
                "{what}: {size1} -> {size2} verified"
            );
        };
        fails(size1 - 1, size2, &root1, &root2, &proof, "size1 - 1");
        fails(size1 + 1, size2, &root1, &root2, &proof, "size1 + 1");
        fails(size1 ^ 2, size2, &root1, &root2, &proof, "size1 ^ 2");
        fails(size1, size2 * 2, &root1, &root2, &proof, "size2 * 2");
        fails(size1, size2 / 2, &root1, &root2, &proof, "size2 / 2");
        fails(
            size1,
            size2,
            &leaf_hash(b"WrongRoot"),
            &root2,
            &proof,
            "wrong root1",
        );
        fails(
            size1,
            size2,
            &root1,
            &leaf_hash(b"WrongRoot"),
            &proof,
            "wrong root2",
        );
        fails(size1, size2, &root2, &root1, &proof, "swapped roots");
        fails(size1, size2, &root1, &root2, &[], "empty proof");
        for i in 0..proof.len() {
            let mut wrong = proof.clone();
            wrong[i] = EMPTY_ROOT;
            fails(size1, size2, &root1, &root2, &wrong, "replaced element");
        }
        let mut longer = proof.clone();
        longer.push(*proof.last().unwrap());
        fails(size1, size2, &root1, &root2, &longer, "repeated last");
        let mut longer = vec![proof[0]];
        longer.extend(&proof);
        fails(size1, size2, &root1, &root2, &longer, "repeated first");
        fails(
            size1,
            size2,
            &root1,
            &root2,
            &proof[..proof.len() - 1],
            "removed last",
        );
    }
}

#[test]
fn trivial_consistency_cases() {
    let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
    // From the empty tree: only the empty root, and no proof.
    verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]).unwrap();
    verify_consistency(0, 5, &EMPTY_ROOT, &a, &[]).unwrap();
    assert!(matches!(
        verify_consistency(0, 5, &a, &b, &[]),
        Err(ProofError::RootMismatch { size: 0, .. })
    ));
    assert!(matches!(
        verify_consistency(0, 5, &EMPTY_ROOT, &a, &[a]),
        Err(ProofError::WrongProofLength { expected: 0, got: 1 })
    ));
    // Same size: same root, no proof.
    verify_consistency(3, 3, &a, &a, &[]).unwrap();
    assert!(matches!(
        verify_consistency(3, 3, &a, &b, &[]),
        Err(ProofError::RootMismatch { size: 3, .. })
    ));
    assert!(matches!(
        verify_consistency(3, 3, &a, &a, &[a]),
        Err(ProofError::WrongProofLength { .. })
    ));
    // Backwards in time.
    assert!(matches!(
        verify_consistency(2, 1, &a, &b, &[]),
        Err(ProofError::SizesReversed { from: 2, to: 1 })
    ));
    // A growing tree needs a proof.
    assert!(matches!(
        verify_consistency(1, 2, &a, &b, &[]),
        Err(ProofError::WrongProofLength { expected: 1, got: 0 })
    ));
}

#[test]
fn inclusion_errors_say_what_failed() {
    let leaf = leaf_hash(b"x");
    for (index, size) in [(0, 0), (1, 0), (2, 1), (u64::MAX, u64::MAX)] {
        assert!(matches!(
            verify_inclusion(&leaf, index, size, &[], &leaf),
            Err(ProofError::IndexOutOfRange { .. })
        ));
    }
    // A one-leaf tree's root is its leaf hash.
    verify_inclusion(&leaf, 0, 1, &[], &leaf).unwrap();
    let err = verify_inclusion(&leaf, 0, 1, &[], &EMPTY_ROOT).unwrap_err();
    assert!(matches!(err, ProofError::RootMismatch { size: 1, .. }));
    assert!(err.to_string().contains("e3b0c442"), "{err}");
    assert!(matches!(
        verify_inclusion(&leaf, 0, 1, &[leaf], &leaf),
        Err(ProofError::WrongProofLength { expected: 0, got: 1 })
    ));
    assert!(matches!(
        verify_inclusion(&leaf, 3, 8, &[leaf], &leaf),
        Err(ProofError::WrongProofLength { expected: 3, got: 1 })
    ));
}
