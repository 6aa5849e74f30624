//! Throw-away PostgreSQL databases for tests (this crate's and the CLI's):
//! the store suite and the end-to-end tests run on a real server when
//! `PORTCULLIS_TEST_POSTGRES` names one, and `.ci/run` always does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test support"
)]

use super::PostgresStore;

/// The PostgreSQL the tests may create databases in, from
/// `PORTCULLIS_TEST_POSTGRES` (a `key=value` connection string, as
/// `.ci/run` exports). `None`, with the reason printed, when unset outside
/// CI; under `CI=true` a missing server is a failure, not a skip.
#[must_use]
pub fn postgres_admin() -> Option<String> {
    match std::env::var("PORTCULLIS_TEST_POSTGRES") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI=true but PORTCULLIS_TEST_POSTGRES is unset: .ci/run starts PostgreSQL and exports it"
            );
            eprintln!(
                "skipping the PostgreSQL half of this test: set PORTCULLIS_TEST_POSTGRES to a connection \
                 string (e.g. 'host=/tmp/pg user=postgres dbname=postgres') of a server where tests may \
                 create databases"
            );
            None
        }
    }
}

/// A database created for one test and dropped after it.
pub struct TestDb {
    admin: String,
    name: String,
    /// Its connection string.
    pub url: String,
}

impl TestDb {
    /// A fresh, empty database; `None` when no PostgreSQL is configured.
    ///
    /// # Panics
    /// The configured server cannot be reached or refuses `CREATE DATABASE`.
    pub fn create() -> Option<TestDb> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let admin = postgres_admin()?;
        let name = format!(
            "portcullis_test_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = format!("{admin} dbname={name}");
        Some(TestDb { admin, name, url })
    }

    /// A store on it.
    ///
    /// # Panics
    /// The database cannot be reached.
    pub fn store(&self) -> PostgresStore {
        PostgresStore::connect(&self.url).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}
