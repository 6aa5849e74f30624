//! The directory store passes the store conformance suite.

use portcullis_engine::store::{conformance, DirStore};

#[test]
fn the_directory_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    conformance::run(&DirStore::new(dir.path().join("evidence"))).unwrap();
}

#[test]
fn a_store_that_loses_appends_fails_the_suite() {
    // The suite must be able to fail: a store that drops every other append.
    struct Lossy(DirStore, std::sync::atomic::AtomicUsize);
    impl portcullis_engine::EvidenceStore for Lossy {
        fn append(
            &self,
            digest: &portcullis_evidence::Sha256Digest,
            envelope: &portcullis_evidence::Envelope,
        ) -> Result<String, portcullis_evidence::StoreError> {
            if self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 2 == 1 {
                return Ok(self.location(digest));
            }
            portcullis_engine::EvidenceStore::append(&self.0, digest, envelope)
        }
        fn read(
            &self,
            digest: &portcullis_evidence::Sha256Digest,
        ) -> Result<portcullis_evidence::Bundle, portcullis_evidence::StoreError> {
            self.0.read(digest)
        }
        fn list(&self) -> Result<Vec<portcullis_evidence::Sha256Digest>, portcullis_evidence::StoreError> {
            self.0.list()
        }
        fn location(&self, digest: &portcullis_evidence::Sha256Digest) -> String {
            portcullis_engine::EvidenceStore::location(&self.0, digest)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let lossy = Lossy(DirStore::new(dir.path()), 0.into());
    let err = conformance::run(&lossy).unwrap_err();
    assert!(err.contains("did not read back"), "{err}");
}

#[test]
fn list_ignores_files_that_are_not_bundles() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
    std::fs::write(dir.path().join("zz.intoto.jsonl"), "x").unwrap();
    let hex = "ab".repeat(32);
    std::fs::write(dir.path().join(format!("{hex}.intoto.jsonl")), "").unwrap();
    let listed = DirStore::new(dir.path()).list().unwrap();
    assert_eq!(listed.iter().map(|d| d.to_hex()).collect::<Vec<_>>(), vec![hex]);
}
