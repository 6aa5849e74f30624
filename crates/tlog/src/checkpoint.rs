//! C2SP tlog checkpoints: a log's signed tree head as a signed note.
//!
//! ```text
//! <origin>
//! <tree size, decimal>
//! <root hash, standard base64>
//! [extension lines]
//!
//! — <key name> <base64(key id ‖ signature)>
//! ```
//!
//! See <https://c2sp.org/tlog-checkpoint>.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::hash::Hash;
use crate::note::{self, NoteError};

/// A log's tree head: which log, how many leaves, and the root over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity, conventionally a schema-less URL such as
    /// `registry.example.com/audit`; the signing key's name should match it.
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The RFC 9162 root over the first `size` leaves.
    pub root: Hash,
    /// Opaque extension lines after the root, each non-empty, kept in
    /// order. Their use is discouraged; they are parsed so that they are
    /// not lost.
    pub extensions: Vec<String>,
}

/// A line of the checkpoint body that must be non-empty and hold no
/// newline or other control character.
fn check_line(line: &str, what: &'static str) -> Result<(), NoteError> {
    if line.is_empty() {
        return Err(NoteError::MalformedCheckpoint(what));
    }
    if let Some((offset, character)) = line.char_indices().find(|&(_, c)| c < ' ') {
        return Err(NoteError::ControlCharacter { offset, character });
    }
    Ok(())
}

/// A canonical decimal `u64`: digits only, no leading zero unless it is `0`.
fn parse_size(line: &str) -> Result<u64, NoteError> {
    let bad = || NoteError::BadSize(line.to_string());
    if line.is_empty()
        || !line.bytes().all(|b| b.is_ascii_digit())
        || (line.len() > 1 && line.starts_with('0'))
    {
        return Err(bad());
    }
    line.parse().map_err(|_| bad())
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: impl Into<String>, size: u64, root: Hash) -> Self {
        Checkpoint {
            origin: origin.into(),
            size,
            root,
            extensions: Vec::new(),
        }
    }

    /// The note text (the signed body), ending in a newline.
    ///
    /// # Errors
    /// [`NoteError::MalformedCheckpoint`] for an empty origin or extension
    /// line; [`NoteError::ControlCharacter`] when one holds a newline or
    /// another control character.
    pub fn text(&self) -> Result<String, NoteError> {
        check_line(&self.origin, "the origin is empty")?;
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.size, STANDARD.encode(self.root));
        for line in &self.extensions {
            check_line(line, "an extension line is empty")?;
            text.push_str(line);
            text.push('\n');
        }
        Ok(text)
    }

    /// Parses note text that has already been verified.
    fn from_text(text: &str) -> Result<Self, NoteError> {
        let body = text.strip_suffix('\n').ok_or(NoteError::MalformedCheckpoint(
            "the text does not end in a newline",
        ))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next()) else {
            return Err(NoteError::MalformedCheckpoint("fewer than three lines"));
        };
        check_line(origin, "the origin is empty")?;
        let size = parse_size(size)?;
        let root = STANDARD
            .decode(root)
            .map_err(|_| NoteError::BadRoot("not canonical standard base64"))?;
        let root: Hash = root.try_into().map_err(|_| NoteError::BadRoot("not 32 bytes"))?;
        let extensions = lines
            .map(|line| check_line(line, "an extension line is empty").map(|()| line.to_string()))
            .collect::<Result<_, _>>()?;
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// Signs the checkpoint with the Ed25519 key `key` named `name` and
    /// returns the whole note. The name should be the origin.
    ///
    /// # Errors
    /// As [`Checkpoint::text`] and [`note::sign`] (a bad key name).
    pub fn sign(&self, name: &str, key: &SigningKey) -> Result<String, NoteError> {
        note::sign(&self.text()?, name, key)
    }

    /// Verifies a checkpoint note against the Ed25519 key `key` named `name`
    /// and parses it. Signatures by other keys (witnesses, rotated keys) are
    /// ignored. The origin is not compared with anything: check it against
    /// the log you expect.
    ///
    /// # Errors
    /// As [`note::open`], then [`NoteError::MalformedCheckpoint`],
    /// [`NoteError::BadSize`], [`NoteError::BadRoot`] or
    /// [`NoteError::ControlCharacter`] for a signed text that is not a
    /// checkpoint.
    pub fn open(note: &str, name: &str, key: &VerifyingKey) -> Result<Checkpoint, NoteError> {
        Checkpoint::from_text(note::open(note, name, key)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_canonical_decimal() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1234"), Ok(1234));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
        for bad in [
            "",
            "00",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e3",
            "0x10",
            "18446744073709551616",
            "١",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn text_round_trips_with_extensions() {
        let mut c = Checkpoint::new("example.com/log", 42, [7; 32]);
        c.extensions = vec!["ext one".into(), "— ext two".into()];
        let text = c.text().unwrap();
        assert_eq!(
            text,
            "example.com/log\n42\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\next one\n— ext two\n"
        );
        assert_eq!(Checkpoint::from_text(&text), Ok(c));
    }

    #[test]
    fn unsignable_checkpoints_are_refused() {
        let mut c = Checkpoint::new("", 1, [0; 32]);
        assert!(matches!(c.text(), Err(NoteError::MalformedCheckpoint(_))));
        c.origin = "a\n2".into();
        assert!(matches!(c.text(), Err(NoteError::ControlCharacter { .. })));
        c.origin = "a".into();
        c.extensions = vec![String::new()];
        assert!(matches!(c.text(), Err(NoteError::MalformedCheckpoint(_))));
    }
}
