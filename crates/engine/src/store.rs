//! Where evidence lives: one append-only bundle of DSSE envelopes per model
//! digest.
//!
//! [`EvidenceStore`] is what every use case reads and appends through. The
//! JSON Lines directory ([`DirStore`], `<dir>/<digest>.intoto.jsonl`) is
//! the store the CLI uses; the registry's database and OCI registries plug
//! in beside it. [`conformance`] is the behaviour every store must show; run
//! it from each implementation's tests.

pub use portcullis_evidence::store::{Bundle, CorruptLine, DirStore, StoreError};
use portcullis_evidence::{Envelope, Sha256Digest};

/// An append-only store of evidence bundles keyed by model digest.
///
/// Appends are atomic with respect to concurrent writers and crashes: a
/// reader sees a whole envelope or none. Reads never fail on a corrupt
/// entry: it is listed in [`Bundle::corrupt`] and never counts.
pub trait EvidenceStore: Send + Sync {
    /// Appends one envelope to the model's bundle; returns the bundle's
    /// location (for messages).
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be written.
    fn append(&self, digest: &Sha256Digest, envelope: &Envelope) -> Result<String, StoreError>;

    /// Reads the model's bundle, in append order. A model with no evidence
    /// has an empty bundle.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    fn read(&self, digest: &Sha256Digest) -> Result<Bundle, StoreError>;

    /// The digests of every model with evidence, sorted by digest.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be read.
    fn list(&self) -> Result<Vec<Sha256Digest>, StoreError>;

    /// Where the model's bundle is, for messages (a path, a URL).
    fn location(&self, digest: &Sha256Digest) -> String;
}

impl EvidenceStore for DirStore {
    fn append(&self, digest: &Sha256Digest, envelope: &Envelope) -> Result<String, StoreError> {
        DirStore::append(self, digest, envelope).map(|p| p.display().to_string())
    }

    fn read(&self, digest: &Sha256Digest) -> Result<Bundle, StoreError> {
        DirStore::read(self, digest)
    }

    fn list(&self) -> Result<Vec<Sha256Digest>, StoreError> {
        DirStore::list(self)
    }

    fn location(&self, digest: &Sha256Digest) -> String {
        self.bundle_path(digest).display().to_string()
    }
}

/// The behaviour every [`EvidenceStore`] must show. Each check returns a
/// message naming what broke; [`conformance::run`] runs them all on an empty
/// store.
pub mod conformance {
    use portcullis_evidence::{Envelope, Sha256Digest, SigningKey, Statement, Subject};

    use super::EvidenceStore;

    fn envelope(key: &SigningKey, n: u64) -> Result<Envelope, String> {
        let statement = Statement::new(
            Subject::sha256("model", &Sha256Digest([9; 32])),
            "https://portcullis.dev/test/v1",
            serde_json::json!({ "n": n }),
        );
        Envelope::sign(&statement, key).map_err(|e| format!("cannot sign a test envelope: {e}"))
    }

    fn ensure(ok: bool, what: &str) -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(what.to_string())
        }
    }

    /// Runs every check against `store`, which must start empty.
    ///
    /// # Errors
    /// The first check that failed, and how.
    pub fn run(store: &dyn EvidenceStore) -> Result<(), String> {
        empty_reads_as_empty(store)?;
        appends_read_back_in_order(store)?;
        bundles_are_per_digest(store)?;
        concurrent_appends_stay_whole(store)?;
        Ok(())
    }

    /// A model with no evidence has an empty bundle, and is not listed.
    ///
    /// # Errors
    /// What broke.
    pub fn empty_reads_as_empty(store: &dyn EvidenceStore) -> Result<(), String> {
        let d = Sha256Digest([0xa0; 32]);
        let b = store
            .read(&d)
            .map_err(|e| format!("read of a digest with no evidence failed: {e}"))?;
        ensure(
            b.envelopes.is_empty() && b.corrupt.is_empty(),
            "a digest with no evidence read as a non-empty bundle",
        )?;
        let listed = store.list().map_err(|e| format!("list failed: {e}"))?;
        ensure(!listed.contains(&d), "a digest with no evidence is listed")
    }

    /// Envelopes read back byte-identical, in append order, with 1-based
    /// increasing positions.
    ///
    /// # Errors
    /// What broke.
    pub fn appends_read_back_in_order(store: &dyn EvidenceStore) -> Result<(), String> {
        let key = SigningKey::generate();
        let d = Sha256Digest([0xa1; 32]);
        let sent: Vec<Envelope> = (0..5).map(|n| envelope(&key, n)).collect::<Result<_, _>>()?;
        for e in &sent {
            store.append(&d, e).map_err(|e| format!("append failed: {e}"))?;
        }
        let b = store.read(&d).map_err(|e| format!("read failed: {e}"))?;
        let got: Vec<&Envelope> = b.envelopes.iter().map(|(_, e)| e).collect();
        ensure(
            got == sent.iter().collect::<Vec<_>>(),
            "envelopes did not read back as appended, in order",
        )?;
        ensure(
            b.envelopes.windows(2).all(|w| w[0].0 < w[1].0) && b.envelopes.first().is_some_and(|e| e.0 >= 1),
            "positions are not 1-based and increasing",
        )?;
        ensure(
            b.sha256.is_some(),
            "a non-empty bundle has no sha256 of its bytes",
        )
    }

    /// Each digest has its own bundle, and `list` names exactly the digests
    /// with evidence, sorted.
    ///
    /// # Errors
    /// What broke.
    pub fn bundles_are_per_digest(store: &dyn EvidenceStore) -> Result<(), String> {
        let key = SigningKey::generate();
        let (a, b) = (Sha256Digest([0xb2; 32]), Sha256Digest([0xb1; 32]));
        store
            .append(&a, &envelope(&key, 1)?)
            .map_err(|e| format!("append failed: {e}"))?;
        store
            .append(&b, &envelope(&key, 2)?)
            .map_err(|e| format!("append failed: {e}"))?;
        store
            .append(&b, &envelope(&key, 3)?)
            .map_err(|e| format!("append failed: {e}"))?;
        let na = store.read(&a).map_err(|e| e.to_string())?.envelopes.len();
        let nb = store.read(&b).map_err(|e| e.to_string())?.envelopes.len();
        ensure(
            na == 1 && nb == 2,
            "appends for one digest showed up under another",
        )?;
        let listed = store.list().map_err(|e| format!("list failed: {e}"))?;
        ensure(
            listed.contains(&a) && listed.contains(&b),
            "list misses a digest with evidence",
        )?;
        ensure(
            listed.windows(2).all(|w| w[0].0 < w[1].0),
            "list is not sorted and unique",
        )
    }

    /// Concurrent appends never interleave or get lost.
    ///
    /// # Errors
    /// What broke.
    pub fn concurrent_appends_stay_whole(store: &dyn EvidenceStore) -> Result<(), String> {
        let key = SigningKey::generate();
        let d = Sha256Digest([0xc3; 32]);
        let envelopes: Vec<Envelope> = (0..40).map(|n| envelope(&key, n)).collect::<Result<_, _>>()?;
        let failures: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = envelopes
                .chunks(10)
                .map(|chunk| {
                    s.spawn(move || {
                        chunk
                            .iter()
                            .filter_map(|e| store.append(&d, e).err().map(|e| e.to_string()))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| {
                    h.join()
                        .unwrap_or_else(|_| vec!["an appending thread panicked".into()])
                })
                .collect()
        });
        ensure(
            failures.is_empty(),
            &format!("concurrent appends failed: {failures:?}"),
        )?;
        let b = store.read(&d).map_err(|e| e.to_string())?;
        ensure(
            b.envelopes.len() == 40 && b.corrupt.is_empty(),
            &format!(
                "40 concurrent appends read back as {} envelopes and {} corrupt entries",
                b.envelopes.len(),
                b.corrupt.len()
            ),
        )?;
        let mut got: Vec<&Envelope> = b.envelopes.iter().map(|(_, e)| e).collect();
        let mut want: Vec<&Envelope> = envelopes.iter().collect();
        got.sort_by(|x, y| x.payload.cmp(&y.payload));
        want.sort_by(|x, y| x.payload.cmp(&y.payload));
        ensure(got == want, "concurrent appends lost or changed an envelope")
    }
}
