//! DSSE v1 envelopes: the signature wrapper around a statement.
//!
//! The signature covers the Pre-Authentication Encoding
//! `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`,
//! never the JSON envelope, so the payload type cannot be swapped.
//! Spec: <https://github.com/secure-systems-lab/dsse/blob/master/protocol.md>

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::keys::{KeyError, PublicKey, SigningKey};
use crate::statement::Statement;

/// The payload type of in-toto statements.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

/// The Pre-Authentication Encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload_type.len() + 32);
    out.extend_from_slice(b"DSSEv1 ");
    out.extend_from_slice(payload_type.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload_type.as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(payload);
    out
}

/// One signature in an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The signing key's id (sha256 of its SubjectPublicKeyInfo DER, hex).
    #[serde(default)]
    pub keyid: String,
    /// Base64 signature over the PAE.
    pub sig: String,
}

/// A DSSE envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Base64 of the payload bytes.
    pub payload: String,
    /// The payload's media type.
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Signatures over the PAE.
    pub signatures: Vec<Signature>,
}

/// Why an envelope could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The payload is not valid base64.
    #[error("the envelope payload is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The payload type is not in-toto.
    #[error("unexpected payload type '{0}' (expected {IN_TOTO_PAYLOAD_TYPE})")]
    PayloadType(String),
    /// The payload is not an in-toto statement.
    #[error("the payload is not an in-toto statement: {0}")]
    Statement(#[from] serde_json::Error),
    /// The statement `_type` is not v1.
    #[error("unexpected statement type '{0}'")]
    StatementType(String),
    /// No signature verifies against any of the offered keys.
    #[error("no signature verifies against a trusted key")]
    Untrusted,
    /// Signing failed.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl Envelope {
    /// Signs a statement.
    ///
    /// # Errors
    /// [`EnvelopeError::Statement`] if the statement cannot be serialised.
    pub fn sign(statement: &Statement, key: &SigningKey) -> Result<Envelope, EnvelopeError> {
        let payload = serde_json::to_vec(statement)?;
        let sig = key.sign(&pae(IN_TOTO_PAYLOAD_TYPE, &payload));
        Ok(Envelope {
            payload: STANDARD.encode(&payload),
            payload_type: IN_TOTO_PAYLOAD_TYPE.to_string(),
            signatures: vec![Signature {
                keyid: key.public().keyid(),
                sig: STANDARD.encode(sig),
            }],
        })
    }

    /// The decoded statement, without checking any signature. Use only to
    /// show what an envelope claims; trust comes from [`Envelope::verify`].
    ///
    /// # Errors
    /// [`EnvelopeError`] when the payload is not an in-toto v1 statement.
    pub fn statement_unverified(&self) -> Result<Statement, EnvelopeError> {
        if self.payload_type != IN_TOTO_PAYLOAD_TYPE {
            return Err(EnvelopeError::PayloadType(self.payload_type.clone()));
        }
        let payload = STANDARD.decode(&self.payload)?;
        let st: Statement = serde_json::from_slice(&payload)?;
        if st.type_ != crate::statement::STATEMENT_TYPE {
            return Err(EnvelopeError::StatementType(st.type_));
        }
        Ok(st)
    }

    /// Verifies the envelope against `keys`; returns the statement and the
    /// index of the first key with a valid signature.
    ///
    /// # Errors
    /// [`EnvelopeError::Untrusted`] when no signature verifies against any
    /// key, or a decoding error.
    pub fn verify<'k>(
        &self,
        keys: impl IntoIterator<Item = &'k PublicKey>,
    ) -> Result<(Statement, usize), EnvelopeError> {
        let statement = self.statement_unverified()?;
        let payload = STANDARD.decode(&self.payload)?;
        let message = pae(&self.payload_type, &payload);
        let sigs: Vec<Vec<u8>> = self
            .signatures
            .iter()
            .filter_map(|s| STANDARD.decode(&s.sig).ok())
            .collect();
        for (i, key) in keys.into_iter().enumerate() {
            if sigs.iter().any(|sig| key.verify(&message, sig)) {
                return Ok((statement, i));
            }
        }
        Err(EnvelopeError::Untrusted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::Subject;
    use crate::Sha256Digest;

    #[test]
    fn pae_matches_the_spec_vector() {
        let got = pae("http://example.com/HelloWorld", b"hello world");
        assert_eq!(
            got,
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    fn statement() -> Statement {
        Statement::new(
            Subject::sha256("model", &Sha256Digest([7; 32])),
            "https://example.com/p",
            serde_json::json!({"a": 1}),
        )
    }

    #[test]
    fn signs_and_verifies_and_rejects_tampering() {
        let key = SigningKey::generate();
        let other = SigningKey::generate();
        let env = Envelope::sign(&statement(), &key).unwrap();
        let (st, idx) = env.verify([&other.public(), &key.public()]).unwrap();
        assert_eq!(idx, 1);
        assert_eq!(st, statement());
        assert!(matches!(
            env.verify([&other.public()]),
            Err(EnvelopeError::Untrusted)
        ));

        // Flip one byte of the payload.
        let mut bad = env.clone();
        let mut raw = STANDARD.decode(&bad.payload).unwrap();
        raw[10] ^= 1;
        bad.payload = STANDARD.encode(&raw);
        assert!(bad.verify([&key.public()]).is_err());

        // Flip one byte of the signature.
        let mut bad = env.clone();
        let mut sig = STANDARD.decode(&bad.signatures[0].sig).unwrap();
        sig[0] ^= 1;
        bad.signatures[0].sig = STANDARD.encode(&sig);
        assert!(matches!(
            bad.verify([&key.public()]),
            Err(EnvelopeError::Untrusted)
        ));

        // Swap the payload type: the PAE changes, so the signature fails.
        let mut bad = env;
        bad.payload_type = "application/json".into();
        assert!(bad.verify([&key.public()]).is_err());
    }
}
