//! Signing and verification keys.
//!
//! portcullis signs with ed25519 (PKCS#8 PEM private keys, SubjectPublicKeyInfo
//! PEM public keys) and verifies ed25519 and ECDSA P-256 (the key mode of
//! OpenSSF model-signing). A key's id is the sha256 of its public key's
//! SubjectPublicKeyInfo DER, in hex.

use std::fmt;
use std::path::Path;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::Signer as _;
use p256::ecdsa::signature::Verifier as _;
use sha2::{Digest, Sha256};

/// Why a key could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The key file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The PEM is not a key of a supported kind.
    #[error("{path}: not a supported key ({why}); expected an ed25519 PKCS#8 private key, or an ed25519 or ECDSA P-256 public key, in PEM")]
    Format {
        /// The key file (or `<memory>`).
        path: String,
        /// The decoder's reason.
        why: String,
    },
}

/// An ed25519 signing key. Its `Debug` never prints the secret.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(ed25519, keyid {})", self.public().keyid())
    }
}

impl SigningKey {
    /// A new random key from the operating system's RNG.
    pub fn generate() -> Self {
        SigningKey(ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng))
    }

    /// Reads a PKCS#8 PEM private key.
    ///
    /// # Errors
    /// [`KeyError`] when the file is unreadable or not an ed25519 PKCS#8 key.
    pub fn from_pem_file(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: shown.clone(),
            source,
        })?;
        Self::from_pem(&text, &shown)
    }

    /// Parses a PKCS#8 PEM private key; `origin` names it in errors.
    ///
    /// # Errors
    /// [`KeyError::Format`] when it is not an ed25519 PKCS#8 key.
    pub fn from_pem(text: &str, origin: &str) -> Result<Self, KeyError> {
        ed25519_dalek::SigningKey::from_pkcs8_pem(text)
            .map(SigningKey)
            .map_err(|e| KeyError::Format {
                path: origin.to_string(),
                why: e.to_string(),
            })
    }

    /// The PKCS#8 PEM encoding.
    ///
    /// # Errors
    /// [`KeyError::Format`] if encoding fails.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.0
            .to_pkcs8_pem(Default::default())
            .map(|z| z.to_string())
            .map_err(|e| KeyError::Format {
                path: "<memory>".into(),
                why: e.to_string(),
            })
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey::Ed25519(self.0.verifying_key())
    }

    /// The ed25519 key itself, for formats signed outside DSSE (the
    /// registry's log checkpoints are C2SP signed notes).
    pub fn ed25519(&self) -> &ed25519_dalek::SigningKey {
        &self.0
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(message).to_bytes().to_vec()
    }
}

/// A public key that can verify signatures.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// ECDSA over P-256 with SHA-256.
    P256(p256::ecdsa::VerifyingKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({}, keyid {})", self.algorithm(), self.keyid())
    }
}

impl PublicKey {
    /// Reads a SubjectPublicKeyInfo PEM public key (ed25519 or P-256).
    ///
    /// # Errors
    /// [`KeyError`] when unreadable or of an unsupported kind.
    pub fn from_pem_file(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: shown.clone(),
            source,
        })?;
        Self::from_pem(&text, &shown)
    }

    /// Parses a SubjectPublicKeyInfo PEM public key; `origin` names it in errors.
    ///
    /// # Errors
    /// [`KeyError::Format`] when it is neither ed25519 nor P-256.
    pub fn from_pem(text: &str, origin: &str) -> Result<Self, KeyError> {
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_pem(text) {
            return Ok(PublicKey::Ed25519(k));
        }
        match p256::ecdsa::VerifyingKey::from_public_key_pem(text) {
            Ok(k) => Ok(PublicKey::P256(k)),
            Err(e) => Err(KeyError::Format {
                path: origin.to_string(),
                why: e.to_string(),
            }),
        }
    }

    /// The SubjectPublicKeyInfo PEM encoding.
    pub fn to_pem(&self) -> String {
        let pem = match self {
            PublicKey::Ed25519(k) => k.to_public_key_pem(Default::default()),
            PublicKey::P256(k) => k.to_public_key_pem(Default::default()),
        };
        pem.unwrap_or_default()
    }

    /// `ed25519` or `ecdsa-p256`.
    pub fn algorithm(&self) -> &'static str {
        match self {
            PublicKey::Ed25519(_) => "ed25519",
            PublicKey::P256(_) => "ecdsa-p256",
        }
    }

    /// sha256 of the SubjectPublicKeyInfo DER, in hex.
    pub fn keyid(&self) -> String {
        let der = match self {
            PublicKey::Ed25519(k) => k.to_public_key_der().map(|d| d.as_bytes().to_vec()),
            PublicKey::P256(k) => k.to_public_key_der().map(|d| d.as_bytes().to_vec()),
        }
        .unwrap_or_default();
        crate::Sha256Digest(Sha256::digest(der).into()).to_hex()
    }

    /// True when `sig` is a valid signature of `message` by this key. P-256
    /// signatures are accepted in DER or fixed-size (r‖s) form.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> bool {
        match self {
            PublicKey::Ed25519(k) => ed25519_dalek::Signature::from_slice(sig)
                .map(|s| k.verify_strict(message, &s).is_ok())
                .unwrap_or(false),
            PublicKey::P256(k) => {
                let parsed = p256::ecdsa::Signature::from_der(sig)
                    .or_else(|_| p256::ecdsa::Signature::from_slice(sig));
                parsed.map(|s| k.verify(message, &s).is_ok()).unwrap_or(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_pem_round_trip_and_verify() {
        let k = SigningKey::generate();
        let pem = k.to_pem().unwrap();
        assert!(pem.contains("BEGIN PRIVATE KEY"));
        let back = SigningKey::from_pem(&pem, "k").unwrap();
        let pubk = PublicKey::from_pem(&back.public().to_pem(), "p").unwrap();
        assert_eq!(pubk, k.public());
        let sig = back.sign(b"msg");
        assert!(pubk.verify(b"msg", &sig));
        assert!(!pubk.verify(b"msh", &sig));
        assert_eq!(pubk.keyid().len(), 64);
    }

    #[test]
    fn p256_signatures_verify_in_der_and_fixed_form() {
        let sk = p256::ecdsa::SigningKey::random(&mut rand_core::OsRng);
        let pem = sk.verifying_key().to_public_key_pem(Default::default()).unwrap();
        let pk = PublicKey::from_pem(&pem, "p").unwrap();
        assert_eq!(pk.algorithm(), "ecdsa-p256");
        let sig: p256::ecdsa::Signature = sk.sign(b"payload");
        assert!(pk.verify(b"payload", sig.to_der().as_bytes()));
        assert!(pk.verify(b"payload", &sig.to_bytes()));
        assert!(!pk.verify(b"other", &sig.to_bytes()));
    }

    #[test]
    fn garbage_pem_names_the_file() {
        let err = PublicKey::from_pem("not a key", "keys/ci.pub")
            .unwrap_err()
            .to_string();
        assert!(err.contains("keys/ci.pub") && err.contains("P-256"), "{err}");
    }
}
