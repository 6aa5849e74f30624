//! A verifiable append-only log: the Merkle tree, its proofs, and the signed
//! checkpoints that pin it.
//!
//! The registry keeps an audit log of what it promoted and why. Storing that
//! log is easy; making it *checkable* is what this crate is for. A client
//! that once saw the log at some size can later ask for a newer checkpoint
//! and a short proof that the new log extends the old one without rewriting
//! it, and it can ask for proof that one particular entry is in the log.
//! Both proofs are a few dozen hashes whatever the log's length.
//!
//! # The tree
//!
//! The log is an [RFC 9162] (Certificate Transparency v2; same hashing as
//! RFC 6962) Merkle tree. Entries are hashed as leaves,
//! `SHA-256(0x00 ‖ entry)` ([`leaf_hash`]), interior nodes as
//! `SHA-256(0x01 ‖ left ‖ right)` ([`node_hash`]), and the tree over `n`
//! leaves splits at the largest power of two below `n`, so the left part is
//! always a perfect tree and only the right edge is ragged. The empty tree's
//! root is the hash of the empty string ([`EMPTY_ROOT`]).
//!
//! [`Tree`] keeps, for every level `k`, the hashes of the *perfect* subtrees
//! of that height: `levels[k][i]` covers leaves `[i·2^k, (i+1)·2^k)`.
//! Appending a leaf adds at most one node per level, and those nodes never
//! change again, which is exactly what an append-only log needs (and what a
//! database table of levels can mirror). Every subtree the RFC hashes, for
//! any size the tree has ever had, is then either one stored perfect
//! subtree or a right edge assembled from at most one stored subtree per
//! level. So [`Tree::root_at`], [`Tree::inclusion_proof`] and
//! [`Tree::consistency_proof`] cost O(log n) lookups and hashes for any past
//! size, at the price of about twice the leaf hashes in memory.
//!
//! # Proofs
//!
//! [`verify_inclusion`] and [`verify_consistency`] implement the
//! verification algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2. They need only
//! hashes and sizes, never the tree, and they say why a proof failed: a
//! proof of the wrong length for its sizes, a leaf index outside the tree,
//! or the root the proof leads to (see [`ProofError`]).
//!
//! # Checkpoints
//!
//! A root on its own proves nothing; the log signs it. A [`Checkpoint`] is
//! the [C2SP tlog-checkpoint] body, three lines (origin, decimal size, base64
//! root) and optional extension lines, carried in a [C2SP signed-note] with
//! an Ed25519 signature line:
//!
//! ```text
//! registry.example.com/audit
//! 8
//! XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=
//!
//! — registry.example.com/audit <base64(key id ‖ signature)>
//! ```
//!
//! The key id is the first four bytes of `SHA-256(name ‖ 0x0A ‖ 0x01 ‖
//! public key)`. Operators pin the log's public key as a `vkey` string,
//! `<name>+<hex key id>+<base64(0x01 ‖ public key)>` ([`VerifierKey`]), the
//! same form Go's `sumdb/note` and other transparency-log tools use, so
//! checkpoints can be checked (and witnessed) by tools outside portcullis.
//! [`Checkpoint::open`] ignores signatures by other keys, as the spec
//! requires, which leaves room for witness cosignatures and key rotation.
//!
//! [RFC 9162]: https://www.rfc-editor.org/rfc/rfc9162.html
//! [C2SP tlog-checkpoint]: https://c2sp.org/tlog-checkpoint
//! [C2SP signed-note]: https://c2sp.org/signed-note
#![deny(missing_docs)]

pub mod checkpoint;
pub mod hash;
pub mod note;
pub mod proof;
pub mod tree;

pub use checkpoint::Checkpoint;
pub use hash::{leaf_hash, node_hash, Hash, EMPTY_ROOT};
pub use note::{NoteError, VerifierKey};
pub use proof::{root_from_inclusion, verify_consistency, verify_inclusion, ProofError};
pub use tree::Tree;
