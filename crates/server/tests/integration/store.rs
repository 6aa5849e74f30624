//! The store suite, on the SQLite backend (in memory and on disk).

use portcullis_server::store::{conformance, SqliteStore, Store};

#[test]
fn sqlite_in_memory_passes_the_store_suite() {
    conformance::run(&SqliteStore::memory().unwrap()).unwrap();
}

#[test]
fn sqlite_on_disk_passes_the_store_suite_and_keeps_everything_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/registry.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        conformance::run(&s).unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let size = s.log_size().unwrap();
    assert!(size > 10, "the log did not survive reopening: {size}");
    assert_eq!(s.log_leaf_hashes(0).unwrap().len() as u64, size);
    assert_eq!(s.alias("m", "prod").unwrap().unwrap().digest, "d1");
}

#[test]
fn a_database_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    drop(SqliteStore::open(&path).unwrap());
    let c = rusqlite::Connection::open(&path).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    let err = SqliteStore::open(&path).unwrap_err().to_string();
    assert!(err.contains("newer than this portcullis knows"), "{err}");
}
