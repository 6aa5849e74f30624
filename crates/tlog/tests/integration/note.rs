//! Signed notes and vkeys against the known keys and notes of Go's
//! `golang.org/x/mod/sumdb/note` tests (`note_test.go`): the PeterNeumann
//! and EnochRoot keys, the signed PeterNeumann note, and the malformed
//! notes that must be rejected. Ed25519 signing is deterministic, so
//! signing the same text must reproduce the published note byte for byte.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use portcullis_tlog::note::{self, MAX_NOTE_BYTES, MAX_SIGNATURES};
use portcullis_tlog::{NoteError, VerifierKey};

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const PETER_SKEY: &str = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                    then you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

/// The signing key in Go's `PRIVATE+KEY+<name>+<id>+base64(0x01 ‖ seed)`.
fn peter_signing_key() -> SigningKey {
    // The base64 may itself hold '+', so split off exactly four fields.
    let encoded = PETER_SKEY.splitn(5, '+').nth(4).unwrap();
    let blob = STANDARD.decode(encoded).unwrap();
    assert_eq!(blob[0], 0x01);
    SigningKey::from_bytes(&blob[1..].try_into().unwrap())
}

fn peter() -> VerifierKey {
    PETER_VKEY.parse().unwrap()
}

#[test]
fn vkeys_parse_and_format() {
    let peter = peter();
    assert_eq!(peter.name(), "PeterNeumann");
    assert_eq!(peter.key_id(), 0xc74f20a3);
    assert_eq!(peter.to_string(), PETER_VKEY);
    assert_eq!(peter.key(), &peter_signing_key().verifying_key());
    let built = VerifierKey::new("PeterNeumann", peter_signing_key().verifying_key()).unwrap();
    assert_eq!(built, peter);
    assert_eq!(note::key_id("PeterNeumann", peter.key()), 0xc74f20a3);

    let enoch = VerifierKey::parse(ENOCH_VKEY).unwrap();
    assert_eq!(enoch.key_id(), 0xaf0cfe78);
    assert_eq!(enoch.to_string(), ENOCH_VKEY);
    // Upper-case hex is read; the canonical form is lower case.
    let upper = PETER_VKEY.replace("c74f20a3", "C74F20A3");
    assert_eq!(VerifierKey::parse(&upper).unwrap().to_string(), PETER_VKEY);
}

#[test]
fn mangled_vkeys_are_rejected() {
    let bytes = PETER_VKEY.as_bytes();
    for i in 0..=bytes.len() {
        for j in i + 1..=bytes.len() {
            if (i, j) != (0, bytes.len()) {
                let part = &PETER_VKEY[i..j];
                assert!(VerifierKey::parse(part).is_err(), "accepted {part:?}");
            }
        }
    }
    for i in 0..bytes.len() {
        let mut b = bytes.to_vec();
        b[i] += 1;
        let mangled = String::from_utf8(b).unwrap();
        assert!(VerifierKey::parse(&mangled).is_err(), "accepted {mangled:?}");
    }
    // A wrong-length key and an unknown algorithm, each with a matching id.
    for bad in [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ] {
        assert!(
            matches!(VerifierKey::parse(bad), Err(NoteError::BadVerifierKey(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        VerifierKey::parse("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(NoteError::BadKeyName(_))
    ));
    // The identity point is a small-order key.
    let mut weak = vec![0x01, 0x01];
    weak.extend([0u8; 31]);
    let name = "weak";
    let id = {
        use sha2::{Digest, Sha256};
        let d = Sha256::new()
            .chain_update(b"weak\n")
            .chain_update(&weak)
            .finalize();
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    };
    let vkey = format!("{name}+{id:08x}+{}", STANDARD.encode(&weak));
    assert!(
        matches!(VerifierKey::parse(&vkey), Err(NoteError::BadVerifierKey(_))),
        "{vkey}"
    );
}

#[test]
fn signing_reproduces_the_reference_note() {
    let signed = note::sign(TEXT, "PeterNeumann", &peter_signing_key()).unwrap();
    assert_eq!(signed, format!("{TEXT}\n{PETER_SIG}"));
    assert_eq!(peter().open(&signed).unwrap(), TEXT);
}

#[test]
fn unknown_signatures_are_ignored_but_one_known_is_needed() {
    let both = format!("{TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    assert_eq!(peter().open(&both).unwrap(), TEXT);
    let enoch = VerifierKey::parse(ENOCH_VKEY).unwrap();
    assert_eq!(enoch.open(&both).unwrap(), TEXT);

    let only_enoch = format!("{TEXT}\n{ENOCH_SIG}");
    assert_eq!(
        peter().open(&only_enoch),
        Err(NoteError::NoKnownSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        })
    );
    // Same key under another name, and another id under the same name: not
    // this key, so skipped.
    let renamed = format!("{TEXT}\n{}", PETER_SIG.replace("PeterNeumann", "PeterNeuman"));
    assert!(matches!(
        peter().open(&renamed),
        Err(NoteError::NoKnownSignature { .. })
    ));
    let other_id = {
        let mut blob = STANDARD
            .decode(PETER_SIG.trim_end().rsplit(' ').next().unwrap())
            .unwrap();
        blob[3] ^= 1;
        format!("{TEXT}\n— PeterNeumann {}\n", STANDARD.encode(blob))
    };
    assert!(matches!(
        peter().open(&other_id),
        Err(NoteError::NoKnownSignature { .. })
    ));
    // Repeated and corrupted unknown signatures do not matter.
    let noisy = format!(
        "{TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{}ABCD{}",
        &ENOCH_SIG[..60],
        &ENOCH_SIG[60..]
    );
    assert_eq!(peter().open(&noisy).unwrap(), TEXT);
}

#[test]
fn a_bad_signature_by_the_known_key_rejects_the_note() {
    let longer = format!("{TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    assert_eq!(
        peter().open(&longer),
        Err(NoteError::InvalidSignature {
            name: "PeterNeumann".into(),
            key_id: 0xc74f20a3
        })
    );
    let tampered = format!("{}\n{PETER_SIG}", TEXT.replace("cryptography", "cryptographY"));
    assert!(matches!(
        peter().open(&tampered),
        Err(NoteError::InvalidSignature { .. })
    ));
    // A good signature does not excuse a bad one by the same key.
    let mixed = format!("{TEXT}\n{PETER_SIG}{}", PETER_SIG.replace("KE6Ryy", "KE6Ryz"));
    assert!(matches!(
        peter().open(&mixed),
        Err(NoteError::InvalidSignature { .. })
    ));
}

#[test]
fn malformed_notes_are_rejected() {
    let bad = [
        TEXT.to_string(),
        format!("{TEXT}\n"),
        format!("{TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\x01{TEXT}\n{PETER_SIG}"),
        format!("{TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
        format!("{TEXT}\n{PETER_SIG}Unexpected line.\n"),
        format!("{}\r\n\n{PETER_SIG}", TEXT.trim_end()),
        format!("{TEXT}\n- PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"),
        format!("{TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/Sffc!IAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"),
        format!("{TEXT}\n— PeterNeumann\n"),
        format!("{TEXT}\n— PeterNeumann AAAA\n"),
        format!("{TEXT}\n— PeterNeumann  x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"),
    ];
    for note in bad {
        let err = peter().open(&note).unwrap_err();
        assert!(
            !matches!(
                err,
                NoteError::NoKnownSignature { .. } | NoteError::InvalidSignature { .. }
            ),
            "{note:?} gave {err:?}"
        );
    }
}

#[test]
fn notes_are_bounded() {
    let at_limit = format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES));
    assert_eq!(peter().open(&at_limit).unwrap(), TEXT);
    let over = format!("{TEXT}\n{}", PETER_SIG.repeat(MAX_SIGNATURES + 1));
    assert_eq!(
        peter().open(&over),
        Err(NoteError::TooManySignatures { max: MAX_SIGNATURES })
    );

    let huge_text = "a".repeat(MAX_NOTE_BYTES) + "\n";
    let huge = format!("{huge_text}\n{PETER_SIG}");
    assert!(matches!(peter().open(&huge), Err(NoteError::TooLarge { .. })));
    assert!(matches!(
        note::sign(&huge_text, "PeterNeumann", &peter_signing_key()),
        Err(NoteError::TooLarge { .. })
    ));
}

#[test]
fn signing_refuses_what_open_would_reject() {
    let key = peter_signing_key();
    assert!(matches!(
        note::sign("no newline", "n", &key),
        Err(NoteError::Malformed(_))
    ));
    assert!(matches!(note::sign("", "n", &key), Err(NoteError::Malformed(_))));
    assert!(matches!(
        note::sign("tab\there\n", "n", &key),
        Err(NoteError::ControlCharacter { .. })
    ));
    for name in ["", "a b", "a+b", "a\nb"] {
        assert!(
            matches!(note::sign(TEXT, name, &key), Err(NoteError::BadKeyName(_))),
            "{name:?}"
        );
    }
    // Text may hold blank lines; the signatures start after the last one.
    let text = "first\n\n— not a signature\n\n";
    let signed = note::sign(text, "n", &key).unwrap();
    assert_eq!(note::open(&signed, "n", &key.verifying_key()).unwrap(), text);
}
