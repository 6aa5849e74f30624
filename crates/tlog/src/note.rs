//! C2SP signed notes with Ed25519 signatures, and the `vkey` text encoding
//! of a note verifier key.
//!
//! ```text
//! <text, one or more lines, each ending in a newline>
//!
//! — <key name> <base64(4-byte key id ‖ 64-byte Ed25519 signature)>
//! ```
//!
//! The signature covers the text, including its final newline. The key id is
//! the first four bytes of `SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)`,
//! read big-endian. A vkey is `<name>+<8 hex digits of key id>+<base64(0x01 ‖
//! public key)>`. See <https://c2sp.org/signed-note>.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The largest note [`open`] reads, in bytes.
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// The most signature lines [`open`] accepts on one note.
pub const MAX_SIGNATURES: usize = 100;

/// The signature type byte for Ed25519 in key ids and vkeys.
const ED25519: u8 = 0x01;

/// Starts every signature line: U+2014 EM DASH and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a note, checkpoint or vkey was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is larger than [`MAX_NOTE_BYTES`].
    #[error("the note is {len} bytes, over the limit of {max}")]
    TooLarge {
        /// The note's length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A control character other than newline.
    #[error("control character U+{:04X} at byte {offset}; notes may hold no control character but newline", u32::from(*.character))]
    ControlCharacter {
        /// The byte offset in the text or note.
        offset: usize,
        /// The character.
        character: char,
    },
    /// The note does not have the signed-note shape.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("the note has more than {max} signature lines")]
    TooManySignatures {
        /// The limit.
        max: usize,
    },
    /// A key name that is empty or holds a space, a plus or a control
    /// character.
    #[error("bad key name {0:?}: it must be non-empty, without spaces, control characters or '+'")]
    BadKeyName(String),
    /// The signature line of the expected key does not verify.
    #[error("the signature by {name}+{key_id:08x} does not verify")]
    InvalidSignature {
        /// The key's name.
        name: String,
        /// The key's id.
        key_id: u32,
    },
    /// No signature line is by the expected key (unknown-key signatures are
    /// ignored, as the spec requires).
    #[error("the note has no signature by {name}+{key_id:08x}")]
    NoKnownSignature {
        /// The expected key's name.
        name: String,
        /// The expected key's id.
        key_id: u32,
    },
    /// The note text is not a checkpoint.
    #[error("malformed checkpoint: {0}")]
    MalformedCheckpoint(&'static str),
    /// The checkpoint's size line is not a canonical decimal `u64`.
    #[error("bad checkpoint size {0:?}: expected a decimal number without leading zeros")]
    BadSize(String),
    /// The checkpoint's root line is not the base64 of 32 bytes.
    #[error("bad checkpoint root hash: {0}")]
    BadRoot(&'static str),
    /// A vkey that does not parse or does not match itself.
    #[error("bad verifier key: {0}")]
    BadVerifierKey(&'static str),
}

/// The note key id of an Ed25519 key under `name`:
/// `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ key)[:4]`, big-endian.
pub fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519]);
    h.update(key.as_bytes());
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Checks a key name: non-empty, no Unicode space, no `+`, no control
/// character.
pub(crate) fn check_key_name(name: &str) -> Result<(), NoteError> {
    let bad = |c: char| c.is_whitespace() || c.is_control() || c == '+';
    if name.is_empty() || name.chars().any(bad) {
        return Err(NoteError::BadKeyName(name.to_string()));
    }
    Ok(())
}

/// The first control character other than newline, as an error.
fn check_controls(s: &str) -> Result<(), NoteError> {
    match s.char_indices().find(|&(_, c)| c < ' ' && c != '\n') {
        Some((offset, character)) => Err(NoteError::ControlCharacter { offset, character }),
        None => Ok(()),
    }
}

/// Signs `text` as a note with one Ed25519 signature and returns the note.
///
/// # Errors
/// [`NoteError::Malformed`] when `text` is empty or does not end in a
/// newline; [`NoteError::ControlCharacter`]; [`NoteError::BadKeyName`];
/// [`NoteError::TooLarge`] when the note would be over [`MAX_NOTE_BYTES`].
pub fn sign(text: &str, name: &str, key: &SigningKey) -> Result<String, NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("the text must end in a newline"));
    }
    check_controls(text)?;
    check_key_name(name)?;
    let signature = key.sign(text.as_bytes());
    let mut blob = Vec::with_capacity(4 + 64);
    blob.extend_from_slice(&key_id(name, &key.verifying_key()).to_be_bytes());
    blob.extend_from_slice(&signature.to_bytes());
    let note = format!("{text}\n{SIGNATURE_PREFIX}{name} {}\n", STANDARD.encode(blob));
    if note.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge {
            len: note.len(),
            max: MAX_NOTE_BYTES,
        });
    }
    Ok(note)
}

/// Verifies `note` against the Ed25519 key `key` named `name` and returns
/// its text (with its final newline).
///
/// Signature lines by other keys are skipped, even when they share the name
/// or the key id (but not both). Every line by this key must verify, and at
/// least one must be present.
///
/// # Errors
/// [`NoteError::TooLarge`], [`NoteError::ControlCharacter`],
/// [`NoteError::Malformed`], [`NoteError::TooManySignatures`],
/// [`NoteError::BadKeyName`] for a bad name in `name` or in a signature line;
/// [`NoteError::InvalidSignature`]; [`NoteError::NoKnownSignature`].
pub fn open<'a>(note: &'a str, name: &str, key: &VerifyingKey) -> Result<&'a str, NoteError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge {
            len: note.len(),
            max: MAX_NOTE_BYTES,
        });
    }
    check_key_name(name)?;
    check_controls(note)?;
    if !note.ends_with('\n') {
        return Err(NoteError::Malformed("it does not end in a newline"));
    }
    // The text ends at the last blank line; signature lines hold no blank
    // line, so this split is the only one a signer can have meant.
    let split = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (text, signatures) = (&note[..=split], &note[split + 2..]);
    if signatures.is_empty() {
        return Err(NoteError::Malformed("no signature lines"));
    }

    let want = key_id(name, key);
    let mut verified = false;
    for (count, line) in signatures.trim_end_matches('\n').split('\n').enumerate() {
        if count == MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures { max: MAX_SIGNATURES });
        }
        let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or(NoteError::Malformed(
            "a signature line does not start with an em dash and a space",
        ))?;
        let (line_name, encoded) = rest.split_once(' ').ok_or(NoteError::Malformed(
            "a signature line has no space between name and signature",
        ))?;
        check_key_name(line_name)?;
        let blob = STANDARD
            .decode(encoded)
            .map_err(|_| NoteError::Malformed("a signature is not standard base64"))?;
        let (id, sig) = match blob.split_first_chunk::<4>() {
            Some((id, sig)) if !sig.is_empty() => (u32::from_be_bytes(*id), sig),
            _ => return Err(NoteError::Malformed("a signature is too short to hold a key id")),
        };
        if line_name != name || id != want {
            continue;
        }
        let invalid = || NoteError::InvalidSignature {
            name: name.to_string(),
            key_id: want,
        };
        let sig = Signature::from_slice(sig).map_err(|_| invalid())?;
        key.verify_strict(text.as_bytes(), &sig).map_err(|_| invalid())?;
        verified = true;
    }
    if !verified {
        return Err(NoteError::NoKnownSignature {
            name: name.to_string(),
            key_id: want,
        });
    }
    Ok(text)
}

/// A note verifier key: an Ed25519 public key under a name, as operators
/// pin it, in the text form `<name>+<hex key id>+<base64(0x01 ‖ key)>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key: VerifyingKey,
    id: u32,
}

impl VerifierKey {
    /// The verifier key for `key` under `name`.
    ///
    /// # Errors
    /// [`NoteError::BadKeyName`] for an empty name or one with a space, a
    /// plus or a control character.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        check_key_name(name)?;
        Ok(VerifierKey {
            name: name.to_string(),
            id: key_id(name, &key),
            key,
        })
    }

    /// Parses the vkey text form.
    ///
    /// # Errors
    /// [`NoteError::BadVerifierKey`] when it is not three `+`-separated
    /// fields, the key is not an Ed25519 key (or a weak one), or the key id
    /// is not that of the name and key; [`NoteError::BadKeyName`].
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let bad = NoteError::BadVerifierKey;
        let (name, rest) = text.split_once('+').ok_or(bad("expected name+keyid+key"))?;
        let (id_hex, encoded) = rest.split_once('+').ok_or(bad("expected name+keyid+key"))?;
        check_key_name(name)?;
        if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("the key id is not 8 hex digits"));
        }
        let id = u32::from_str_radix(id_hex, 16).map_err(|_| bad("the key id is not 8 hex digits"))?;
        let blob = STANDARD
            .decode(encoded)
            .map_err(|_| bad("the key is not standard base64"))?;
        let raw = match blob.split_first() {
            Some((&ED25519, raw)) => raw,
            Some(_) => return Err(bad("not an Ed25519 key (type byte is not 0x01)")),
            None => return Err(bad("the key is empty")),
        };
        let raw: &[u8; 32] = raw.try_into().map_err(|_| bad("an Ed25519 key is 32 bytes"))?;
        let key = VerifyingKey::from_bytes(raw).map_err(|_| bad("not a valid Ed25519 public key"))?;
        if key.is_weak() {
            return Err(bad("a weak (small-order) Ed25519 key"));
        }
        let vkey = VerifierKey::new(name, key)?;
        if vkey.id != id {
            return Err(bad("the key id does not match the name and key"));
        }
        Ok(vkey)
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Ed25519 public key.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The note key id.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// Verifies a note signed by this key; see [`open`].
    ///
    /// # Errors
    /// As [`open`].
    pub fn open<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        open(note, &self.name, &self.key)
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut blob = Vec::with_capacity(33);
        blob.push(ED25519);
        blob.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, STANDARD.encode(blob))
    }
}

impl FromStr for VerifierKey {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VerifierKey::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_names() {
        for good in ["a", "example.com/log", "PeterNeumann", "ünïcødé"] {
            assert!(check_key_name(good).is_ok(), "{good:?}");
        }
        for bad in ["", "a b", "a+b", "a\tb", "a\u{00a0}b", "a\u{2003}b", "a\u{7f}"] {
            assert!(check_key_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn control_characters_are_located() {
        assert_eq!(
            check_controls("ab\r\n"),
            Err(NoteError::ControlCharacter {
                offset: 2,
                character: '\r'
            })
        );
        assert!(check_controls("a\nb\n").is_ok());
    }
}
