//! Checkpoints: signing, opening, and everything opening must refuse.

use ed25519_dalek::SigningKey;
use portcullis_tlog::note::{self, MAX_SIGNATURES};
use portcullis_tlog::{leaf_hash, Checkpoint, NoteError, Tree, VerifierKey};

use crate::{h, unhex};

const ORIGIN: &str = "example.com/portcullis-test";

/// The secret key of RFC 8032 §7.1, test 1.
fn key() -> SigningKey {
    let seed = unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    SigningKey::from_bytes(&seed.try_into().unwrap())
}

fn other_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// The 8-leaf reference tree's root (see `vectors.rs`).
fn checkpoint() -> Checkpoint {
    Checkpoint::new(
        ORIGIN,
        8,
        h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
    )
}

/// The note for [`checkpoint`] signed by [`key`], produced independently of
/// this crate (Python `cryptography`'s Ed25519 over the same body).
const GOLDEN: &str = "example.com/portcullis-test\n\
8\n\
XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\
\n\
— example.com/portcullis-test jXMT8rN82/vAeEYKqKc5EyQC9vcBiWPVxO6dQRWU4n7DVPeN3Q++Lo2LHxJb9Z54ZlVf04K853qMsDojSavFEbOeqQQ=\n";

const GOLDEN_VKEY: &str = "example.com/portcullis-test+8d7313f2+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea";

fn open(note: &str) -> Result<Checkpoint, NoteError> {
    Checkpoint::open(note, ORIGIN, &key().verifying_key())
}

/// Signs arbitrary text as a note, to test what opening makes of bodies
/// that `Checkpoint::sign` would never produce.
fn signed_text(text: &str) -> String {
    note::sign(text, ORIGIN, &key()).unwrap()
}

#[test]
fn golden_note_byte_for_byte() {
    assert_eq!(checkpoint().sign(ORIGIN, &key()).unwrap(), GOLDEN);
    assert_eq!(open(GOLDEN).unwrap(), checkpoint());
    let vkey = VerifierKey::new(ORIGIN, key().verifying_key()).unwrap();
    assert_eq!(vkey.to_string(), GOLDEN_VKEY);
    let pinned: VerifierKey = GOLDEN_VKEY.parse().unwrap();
    assert_eq!(
        Checkpoint::open(GOLDEN, pinned.name(), pinned.key()).unwrap(),
        checkpoint()
    );
}

#[test]
fn round_trip_from_a_tree() {
    let mut tree = Tree::new();
    for size in 0..20u64 {
        let c = Checkpoint::new(ORIGIN, size, tree.root());
        let signed = c.sign(ORIGIN, &key()).unwrap();
        assert_eq!(open(&signed).unwrap(), c);
        tree.push(leaf_hash(&size.to_be_bytes()));
    }
    let c = Checkpoint::new(ORIGIN, u64::MAX, [0xff; 32]);
    assert_eq!(open(&c.sign(ORIGIN, &key()).unwrap()).unwrap(), c);
}

#[test]
fn extension_lines_are_preserved() {
    let mut c = checkpoint();
    c.extensions = vec!["first extension".into(), "— second, with a dash".into()];
    let signed = c.sign(ORIGIN, &key()).unwrap();
    assert!(signed.starts_with(&format!(
        "{ORIGIN}\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\nfirst extension\n— second, with a dash\n\n— "
    )));
    assert_eq!(open(&signed).unwrap(), c);
}

#[test]
fn other_keys_are_not_trusted() {
    // Signed by another key under the same name: an unknown key, skipped.
    let forged = checkpoint().sign(ORIGIN, &other_key()).unwrap();
    assert!(matches!(open(&forged), Err(NoteError::NoKnownSignature { .. })));
    // The right key under another name is another identity too.
    let renamed = checkpoint().sign("example.com/elsewhere", &key()).unwrap();
    assert!(matches!(open(&renamed), Err(NoteError::NoKnownSignature { .. })));
    // A cosignature by someone else alongside ours is fine.
    let witness = note::sign(&checkpoint().text().unwrap(), "witness.example", &other_key()).unwrap();
    let witness_line = witness.rsplit_once("\n\n").unwrap().1;
    let cosigned = format!("{GOLDEN}{witness_line}");
    assert_eq!(open(&cosigned).unwrap(), checkpoint());
    assert_eq!(
        Checkpoint::open(&cosigned, "witness.example", &other_key().verifying_key()).unwrap(),
        checkpoint()
    );
}

#[test]
fn tampering_is_detected() {
    let cases = [
        GOLDEN.replace("\n8\n", "\n9\n"),
        GOLDEN.replace("\n8\n", "\n7\n"),
        GOLDEN.replace("XcnaeacG", "XcnaeacH"),
        GOLDEN.replace(ORIGIN, "example.com/portcullis-tesT").replacen(
            "— example.com/portcullis-tesT",
            &format!("— {ORIGIN}"),
            1,
        ),
        GOLDEN.replace("\n\n", "\nextension\n\n"),
    ];
    for note in cases {
        assert!(
            matches!(open(&note), Err(NoteError::InvalidSignature { .. })),
            "{note:?} gave {:?}",
            open(&note)
        );
    }
    let unsigned = GOLDEN.rsplit_once("\n\n").unwrap().0.to_string() + "\n";
    assert!(open(&unsigned).is_err());
    let unsigned = GOLDEN.rsplit_once("\n\n").unwrap().0.to_string() + "\n\n";
    assert!(matches!(open(&unsigned), Err(NoteError::Malformed(_))));
}

#[test]
fn malformed_sizes_are_rejected() {
    let root = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=";
    for size in [
        "08",
        "00",
        "+8",
        "-1",
        " 8",
        "8 ",
        "8.0",
        "0x8",
        "",
        "18446744073709551616",
        "８",
    ] {
        let note = signed_text(&format!("{ORIGIN}\n{size}\n{root}\n"));
        assert!(
            matches!(open(&note), Err(NoteError::BadSize(ref s)) if s == size),
            "size {size:?} gave {:?}",
            open(&note)
        );
    }
    let note = signed_text(&format!("{ORIGIN}\n0\n{root}\n"));
    assert_eq!(open(&note).unwrap().size, 0);
}

#[test]
fn malformed_roots_are_rejected() {
    let cases = [
        ("not base64!", "base64"),
        ("XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg", "base64"), // unpadded
        ("XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyh=", "base64"), // non-canonical last bits
        ("XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz-Nw7_RgQyg=", "base64"), // URL alphabet
        ("XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQw==", "32 bytes"), // 31 bytes
        ("XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQygA", "32 bytes"), // 33 bytes
        ("", "32 bytes"),
    ];
    for (root, why) in cases {
        let note = signed_text(&format!("{ORIGIN}\n8\n{root}\n"));
        let err = open(&note).unwrap_err();
        assert!(
            matches!(err, NoteError::BadRoot(_)) && err.to_string().contains(why),
            "root {root:?} gave {err:?}"
        );
    }
}

#[test]
fn malformed_bodies_are_rejected() {
    let root = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=";
    let cases = [
        format!("{ORIGIN}\n8\n"),
        format!("{ORIGIN}\n"),
        "\n".to_string(),
        format!("\n8\n{root}\n"),
        format!("{ORIGIN}\n8\n{root}\n\nextension after a blank line\n"),
    ];
    for text in cases {
        let note = signed_text(&text);
        assert!(
            matches!(open(&note), Err(NoteError::MalformedCheckpoint(_))),
            "{text:?} gave {:?}",
            open(&note)
        );
    }
}

#[test]
fn oversized_and_overcrowded_notes_are_rejected() {
    let big = signed_text(&format!(
        "{ORIGIN}\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
    ));
    let padding = "x".repeat(1 << 20);
    let huge = big.replace("\n\n", &format!("\n{padding}\n\n"));
    assert!(matches!(open(&huge), Err(NoteError::TooLarge { .. })));

    let line = GOLDEN.rsplit_once("\n\n").unwrap().1;
    let crowded = format!("{GOLDEN}{}", line.repeat(MAX_SIGNATURES));
    assert!(matches!(open(&crowded), Err(NoteError::TooManySignatures { .. })));
    let full = format!("{GOLDEN}{}", line.repeat(MAX_SIGNATURES - 1));
    assert_eq!(open(&full).unwrap(), checkpoint());
}

#[test]
fn unsignable_checkpoints_are_refused() {
    let mut c = checkpoint();
    c.origin = format!("{ORIGIN}\n9");
    assert!(matches!(
        c.sign(ORIGIN, &key()),
        Err(NoteError::ControlCharacter { .. })
    ));
    c.origin = String::new();
    assert!(matches!(
        c.sign(ORIGIN, &key()),
        Err(NoteError::MalformedCheckpoint(_))
    ));
    let mut c = checkpoint();
    c.extensions = vec!["two\nlines".into()];
    assert!(matches!(
        c.sign(ORIGIN, &key()),
        Err(NoteError::ControlCharacter { .. })
    ));
    assert!(matches!(
        checkpoint().sign("bad name", &key()),
        Err(NoteError::BadKeyName(_))
    ));
}
