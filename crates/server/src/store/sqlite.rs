//! The embedded default: one SQLite file in WAL mode with
//! `synchronous=FULL`, so an acknowledged write survives a crash or a
//! `kill -9`. One connection behind a mutex: SQLite has one writer anyway,
//! and reads are short.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use sha2::{Digest, Sha256};

use super::{
    AliasMove, AliasRow, JobEnd, JobRow, MoveOutcome, NewEvidence, NewJob, Pushed, RequestRow, Result, Store,
    StoreError, TokenRow, JOB_COLUMNS,
};

/// Versioned migrations; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE log (
    idx   INTEGER PRIMARY KEY,
    entry BLOB NOT NULL,
    leaf  BLOB NOT NULL
);
CREATE TABLE policies (
    model  TEXT PRIMARY KEY,
    digest TEXT NOT NULL
);
CREATE TABLE tokens (
    id       INTEGER PRIMARY KEY,
    hash     TEXT NOT NULL UNIQUE,
    identity TEXT NOT NULL,
    role     TEXT NOT NULL,
    created  TEXT NOT NULL,
    revoked  TEXT
);
CREATE TABLE evidence (
    id       INTEGER PRIMARY KEY,
    digest   TEXT NOT NULL,
    sha256   TEXT NOT NULL UNIQUE,
    envelope TEXT NOT NULL,
    accepted INTEGER NOT NULL,
    reason   TEXT,
    model    TEXT NOT NULL,
    created  TEXT NOT NULL
);
CREATE INDEX evidence_by_digest ON evidence (digest, id);
CREATE TABLE versions (
    model   TEXT NOT NULL,
    digest  TEXT NOT NULL,
    created TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (model, digest)
);
CREATE TABLE requests (
    id        INTEGER PRIMARY KEY,
    model     TEXT NOT NULL,
    stage     TEXT NOT NULL,
    digest    TEXT NOT NULL,
    base      TEXT,
    state     TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    closed_by TEXT,
    closed_at TEXT,
    comment   TEXT
);
CREATE TABLE aliases (
    model    TEXT NOT NULL,
    stage    TEXT NOT NULL,
    digest   TEXT NOT NULL,
    moved_at TEXT NOT NULL,
    request  INTEGER NOT NULL,
    PRIMARY KEY (model, stage)
);
CREATE TABLE alias_moves (
    id        INTEGER PRIMARY KEY,
    model     TEXT NOT NULL,
    stage     TEXT NOT NULL,
    digest    TEXT NOT NULL,
    previous  TEXT,
    moved_at  TEXT NOT NULL,
    by_whom   TEXT NOT NULL,
    request   INTEGER NOT NULL,
    approvers TEXT NOT NULL,
    evidence_sha256 TEXT,
    log_index INTEGER NOT NULL
);
CREATE INDEX alias_moves_by_stage ON alias_moves (model, stage, id);
",
    r"
CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY,
    model         TEXT NOT NULL,
    stage         TEXT NOT NULL,
    digest        TEXT NOT NULL,
    gate          TEXT NOT NULL,
    revoke        INTEGER NOT NULL,
    state         TEXT NOT NULL,
    enqueued_at   TEXT NOT NULL,
    enqueued_by   TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    agent         TEXT,
    lease_expires TEXT,
    finished_at   TEXT,
    reason        TEXT,
    evidence      TEXT,
    cleared_at    TEXT,
    cleared_by    TEXT
);
CREATE INDEX jobs_by_state ON jobs (state, id);
CREATE INDEX jobs_by_target ON jobs (model, stage, digest, gate, id);
",
];

/// The SQLite store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn leaf_hash(entry: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

fn append_leaf(tx: &Transaction<'_>, entry: &[u8]) -> Result<u64> {
    let idx: i64 = tx.query_row("SELECT COALESCE(MAX(idx) + 1, 0) FROM log", [], |r| r.get(0))?;
    tx.execute(
        "INSERT INTO log (idx, entry, leaf) VALUES (?1, ?2, ?3)",
        params![idx, entry, leaf_hash(entry).as_slice()],
    )?;
    u64::try_from(idx).map_err(|_| StoreError::Corrupt(format!("negative log index {idx}")))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and runs pending
    /// migrations.
    ///
    /// # Errors
    /// The file cannot be opened, or a migration fails, or the database was
    /// written by a newer version.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Db(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path)
            .map_err(|e| StoreError::Db(format!("cannot open {}: {e}", path.display())))?;
        Self::init(conn)
    }

    /// An in-memory database (tests).
    ///
    /// # Errors
    /// A migration fails.
    pub fn memory() -> Result<SqliteStore> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<SqliteStore> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        if version > known {
            return Err(StoreError::Corrupt(format!(
                "the database is at schema version {version}, newer than this portcullis knows ({known}); upgrade portcullis"
            )));
        }
        for (i, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(version).unwrap_or(0))
        {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i + 1)?;
            tx.commit()?;
        }
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-done
        // transaction behind (rusqlite rolls back on drop), so a poisoned
        // lock is still usable.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

fn request_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RequestRow> {
    Ok(RequestRow {
        id: r.get(0)?,
        model: r.get(1)?,
        stage: r.get(2)?,
        digest: r.get(3)?,
        base: r.get(4)?,
        state: r.get(5)?,
        opened_by: r.get(6)?,
        opened_at: r.get(7)?,
        closed_by: r.get(8)?,
        closed_at: r.get(9)?,
        comment: r.get(10)?,
    })
}

const REQUEST_COLUMNS: &str =
    "id, model, stage, digest, base, state, opened_by, opened_at, closed_by, closed_at, comment";

fn job_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRow> {
    Ok(JobRow {
        id: r.get(0)?,
        model: r.get(1)?,
        stage: r.get(2)?,
        digest: r.get(3)?,
        gate: r.get(4)?,
        revoke: r.get(5)?,
        state: r.get(6)?,
        enqueued_at: r.get(7)?,
        enqueued_by: r.get(8)?,
        attempts: r.get(9)?,
        agent: r.get(10)?,
        lease_expires: r.get(11)?,
        finished_at: r.get(12)?,
        reason: r.get(13)?,
        evidence: r.get(14)?,
        cleared_at: r.get(15)?,
        cleared_by: r.get(16)?,
    })
}

fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRow> {
    Ok(TokenRow {
        id: r.get(0)?,
        hash: r.get(1)?,
        identity: r.get(2)?,
        role: r.get(3)?,
        created: r.get(4)?,
        revoked: r.get(5)?,
    })
}

impl Store for SqliteStore {
    fn log_append(&self, entry: &[u8]) -> Result<u64> {
        self.write(|tx| append_leaf(tx, entry))
    }

    fn log_size(&self) -> Result<u64> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM log", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn log_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>> {
        let conn = self.conn();
        let mut st =
            conn.prepare_cached("SELECT entry FROM log WHERE idx >= ?1 AND idx < ?2 ORDER BY idx")?;
        let rows = st.query_map(params![to_i64(start), to_i64(end)], |r| r.get::<_, Vec<u8>>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn log_leaf_hashes(&self, start: u64) -> Result<Vec<[u8; 32]>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached("SELECT idx, leaf FROM log WHERE idx >= ?1 ORDER BY idx")?;
        let mut rows = st.query(params![to_i64(start)])?;
        let mut out = Vec::new();
        let mut expect = start;
        while let Some(r) = rows.next()? {
            let idx: i64 = r.get(0)?;
            let leaf: Vec<u8> = r.get(1)?;
            if u64::try_from(idx).ok() != Some(expect) {
                return Err(StoreError::Corrupt(format!(
                    "log index {idx} where {expect} was expected"
                )));
            }
            out.push(
                <[u8; 32]>::try_from(leaf.as_slice())
                    .map_err(|_| StoreError::Corrupt(format!("log leaf {idx} is not 32 bytes")))?,
            );
            expect += 1;
        }
        Ok(out)
    }

    fn policy_digest(&self, model: &str) -> Result<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT digest FROM policies WHERE model = ?1", [model], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn set_policy_digest(&self, model: &str, digest: &str, audit: &[u8]) -> Result<u64> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO policies (model, digest) VALUES (?1, ?2)
                 ON CONFLICT (model) DO UPDATE SET digest = excluded.digest",
                params![model, digest],
            )?;
            append_leaf(tx, audit)
        })
    }

    fn token_count(&self) -> Result<u64> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM tokens", [], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn insert_token(
        &self,
        hash: &str,
        identity: &str,
        role: &str,
        created: &str,
        audit: &[u8],
    ) -> Result<i64> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO tokens (hash, identity, role, created) VALUES (?1, ?2, ?3, ?4)",
                params![hash, identity, role, created],
            )?;
            let id = tx.last_insert_rowid();
            append_leaf(tx, audit)?;
            Ok(id)
        })
    }

    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, hash, identity, role, created, revoked FROM tokens WHERE hash = ?1",
                [hash],
                token_row,
            )
            .optional()?)
    }

    fn tokens(&self) -> Result<Vec<TokenRow>> {
        let conn = self.conn();
        let mut st =
            conn.prepare("SELECT id, hash, identity, role, created, revoked FROM tokens ORDER BY id")?;
        let rows = st.query_map([], token_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn revoke_token(&self, id: i64, at: &str, audit: &[u8]) -> Result<bool> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE tokens SET revoked = ?2 WHERE id = ?1 AND revoked IS NULL",
                params![id, at],
            )?;
            if n == 1 {
                append_leaf(tx, audit)?;
            }
            Ok(n == 1)
        })
    }

    fn push_evidence(
        &self,
        model: &str,
        digest: &str,
        lines: &[NewEvidence],
        at: &str,
    ) -> Result<Vec<Pushed>> {
        self.write(|tx| {
            let seq: i64 = tx.query_row("SELECT COUNT(*) FROM versions", [], |r| r.get(0))?;
            tx.execute(
                "INSERT INTO versions (model, digest, created, seq) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (model, digest) DO NOTHING",
                params![model, digest, at, seq],
            )?;
            let mut out = Vec::with_capacity(lines.len());
            for l in lines {
                let held: Option<bool> = tx
                    .query_row(
                        "SELECT accepted FROM evidence WHERE sha256 = ?1",
                        [&l.sha256],
                        |r| r.get(0),
                    )
                    .optional()?;
                let pushed = match held {
                    Some(true) => Pushed::Duplicate,
                    Some(false) if !l.accepted => Pushed::Duplicate,
                    Some(false) => {
                        tx.execute(
                            "UPDATE evidence SET accepted = 1, reason = NULL WHERE sha256 = ?1",
                            [&l.sha256],
                        )?;
                        Pushed::New
                    }
                    None => {
                        tx.execute(
                            "INSERT INTO evidence (digest, sha256, envelope, accepted, reason, model, created)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                            params![digest, l.sha256, l.envelope, l.accepted, l.reason, model, at],
                        )?;
                        Pushed::New
                    }
                };
                if pushed == Pushed::New {
                    append_leaf(tx, &l.audit)?;
                }
                out.push(pushed);
            }
            Ok(out)
        })
    }

    fn evidence(&self, digest: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached("SELECT envelope FROM evidence WHERE digest = ?1 AND accepted = 1 ORDER BY id")?;
        let rows = st.query_map([digest], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn versions(&self, model: &str) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached("SELECT digest FROM versions WHERE model = ?1 ORDER BY seq")?;
        let rows = st.query_map([model], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn open_request(&self, req: &RequestRow, audit: &[u8]) -> Result<i64> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO requests (model, stage, digest, base, state, opened_by, opened_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    req.model,
                    req.stage,
                    req.digest,
                    req.base,
                    req.state,
                    req.opened_by,
                    req.opened_at
                ],
            )?;
            let id = tx.last_insert_rowid();
            append_leaf(tx, audit)?;
            Ok(id)
        })
    }

    fn request(&self, id: i64) -> Result<Option<RequestRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?1"),
                [id],
                request_row,
            )
            .optional()?)
    }

    fn requests(&self, state: Option<&str>) -> Result<Vec<RequestRow>> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE ?1 IS NULL OR state = ?1 ORDER BY id DESC"
        ))?;
        let rows = st.query_map([state], request_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn close_request(
        &self,
        id: i64,
        state: &str,
        by: &str,
        comment: Option<&str>,
        at: &str,
        audit: &[u8],
    ) -> Result<bool> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE requests SET state = ?2, closed_by = ?3, comment = ?4, closed_at = ?5
                 WHERE id = ?1 AND state = 'open'",
                params![id, state, by, comment, at],
            )?;
            if n == 1 {
                append_leaf(tx, audit)?;
            }
            Ok(n == 1)
        })
    }

    fn move_alias(&self, expected: Option<&str>, mv: &AliasMove, audit: &[u8]) -> Result<MoveOutcome> {
        self.write(|tx| {
            let current: Option<String> = tx
                .query_row(
                    "SELECT digest FROM aliases WHERE model = ?1 AND stage = ?2",
                    params![mv.model, mv.stage],
                    |r| r.get(0),
                )
                .optional()?;
            if current.as_deref() != expected {
                return Ok(MoveOutcome::Conflict { current });
            }
            let closed = tx.execute(
                "UPDATE requests SET state = 'promoted', closed_by = ?2, closed_at = ?3
                 WHERE id = ?1 AND state = 'open'",
                params![mv.request, mv.by, mv.moved_at],
            )?;
            if closed != 1 {
                return Err(StoreError::Db(format!("request {} is not open", mv.request)));
            }
            tx.execute(
                "INSERT INTO aliases (model, stage, digest, moved_at, request) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (model, stage) DO UPDATE SET
                   digest = excluded.digest, moved_at = excluded.moved_at, request = excluded.request",
                params![mv.model, mv.stage, mv.digest, mv.moved_at, mv.request],
            )?;
            let index = append_leaf(tx, audit)?;
            tx.execute(
                "INSERT INTO alias_moves
                   (model, stage, digest, previous, moved_at, by_whom, request, approvers, evidence_sha256, log_index)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    mv.model,
                    mv.stage,
                    mv.digest,
                    current,
                    mv.moved_at,
                    mv.by,
                    mv.request,
                    mv.approvers,
                    mv.evidence_sha256,
                    to_i64(index)
                ],
            )?;
            Ok(MoveOutcome::Moved(index))
        })
    }

    fn alias(&self, model: &str, stage: &str) -> Result<Option<AliasRow>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT model, stage, digest, moved_at, request FROM aliases WHERE model = ?1 AND stage = ?2",
                params![model, stage],
                |r| {
                    Ok(AliasRow {
                        model: r.get(0)?,
                        stage: r.get(1)?,
                        digest: r.get(2)?,
                        moved_at: r.get(3)?,
                        request: r.get(4)?,
                    })
                },
            )
            .optional()?)
    }

    fn alias_history(&self, model: &str, stage: &str) -> Result<Vec<AliasMove>> {
        let conn = self.conn();
        let mut st = conn.prepare(
            "SELECT model, stage, digest, previous, moved_at, by_whom, request, approvers, evidence_sha256, log_index
             FROM alias_moves WHERE model = ?1 AND stage = ?2 ORDER BY id",
        )?;
        let rows = st.query_map(params![model, stage], |r| {
            Ok(AliasMove {
                model: r.get(0)?,
                stage: r.get(1)?,
                digest: r.get(2)?,
                previous: r.get(3)?,
                moved_at: r.get(4)?,
                by: r.get(5)?,
                request: r.get(6)?,
                approvers: r.get(7)?,
                evidence_sha256: r.get(8)?,
                log_index: u64::try_from(r.get::<_, i64>(9)?).unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn enqueue_job(&self, job: &NewJob, audit: &[u8]) -> Result<Option<i64>> {
        self.write(|tx| {
            let pending: Option<i64> = tx
                .query_row(
                    "SELECT id FROM jobs WHERE model = ?1 AND stage = ?2 AND digest = ?3 AND gate = ?4
                       AND state IN ('queued', 'leased') LIMIT 1",
                    params![job.model, job.stage, job.digest, job.gate],
                    |r| r.get(0),
                )
                .optional()?;
            if pending.is_some() {
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO jobs (model, stage, digest, gate, revoke, state, enqueued_at, enqueued_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7)",
                params![job.model, job.stage, job.digest, job.gate, job.revoke, job.at, job.by],
            )?;
            let id = tx.last_insert_rowid();
            append_leaf(tx, audit)?;
            Ok(Some(id))
        })
    }

    fn last_job(&self, model: &str, stage: &str, digest: &str, gate: &str) -> Result<Option<JobRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT {JOB_COLUMNS} FROM jobs WHERE model = ?1 AND stage = ?2 AND digest = ?3 AND gate = ?4
                     ORDER BY id DESC LIMIT 1"
                ),
                params![model, stage, digest, gate],
                job_row,
            )
            .optional()?)
    }

    fn claim_job(&self, agent: &str, models: &[String], now: &str, until: &str) -> Result<Option<JobRow>> {
        let models = (!models.is_empty()).then(|| serde_json::Value::from(models.to_vec()).to_string());
        // One writer: the immediate transaction is the lock.
        self.write(|tx| {
            Ok(tx
                .query_row(
                    &format!(
                        "UPDATE jobs SET state = 'leased', agent = ?1, lease_expires = ?3, attempts = attempts + 1
                         WHERE id = (SELECT id FROM jobs
                                     WHERE (state = 'queued' OR (state = 'leased' AND lease_expires < ?2))
                                       AND (?4 IS NULL OR model IN (SELECT value FROM json_each(?4)))
                                     ORDER BY id LIMIT 1)
                         RETURNING {JOB_COLUMNS}"
                    ),
                    params![agent, now, until, models],
                    job_row,
                )
                .optional()?)
        })
    }

    fn renew_job(&self, id: i64, agent: &str, until: &str) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "UPDATE jobs SET lease_expires = ?3 WHERE id = ?1 AND agent = ?2 AND state = 'leased'",
                params![id, agent, until],
            )? == 1)
        })
    }

    fn finish_job(&self, id: i64, agent: &str, end: &JobEnd, audit: &[u8]) -> Result<bool> {
        self.write(|tx| {
            let retry = end.state == "queued";
            let n = tx.execute(
                "UPDATE jobs SET state = ?3, finished_at = ?4, reason = ?5, evidence = ?6,
                   lease_expires = CASE WHEN ?7 THEN NULL ELSE lease_expires END
                 WHERE id = ?1 AND agent = ?2 AND state = 'leased'",
                params![
                    id,
                    agent,
                    end.state,
                    (!retry).then_some(&end.at),
                    end.reason,
                    end.evidence,
                    retry
                ],
            )?;
            if n == 1 {
                append_leaf(tx, audit)?;
            }
            Ok(n == 1)
        })
    }

    fn job(&self, id: i64) -> Result<Option<JobRow>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
                [id],
                job_row,
            )
            .optional()?)
    }

    fn jobs(&self, model: Option<&str>, limit: u32) -> Result<Vec<JobRow>> {
        let conn = self.conn();
        let mut st = conn.prepare(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE ?1 IS NULL OR model = ?1 ORDER BY id DESC LIMIT ?2"
        ))?;
        let rows = st.query_map(params![model, limit], job_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn risks(&self, model: &str, stage: &str, digest: &str) -> Result<Vec<JobRow>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE model = ?1 AND stage = ?2 AND digest = ?3
               AND state IN ('failed', 'error') AND cleared_at IS NULL ORDER BY id"
        ))?;
        let rows = st.query_map(params![model, stage, digest], job_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn clear_risks(
        &self,
        model: &str,
        stage: &str,
        digest: &str,
        by: &str,
        at: &str,
        audit: &[u8],
    ) -> Result<u64> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE jobs SET cleared_at = ?5, cleared_by = ?4
                 WHERE model = ?1 AND stage = ?2 AND digest = ?3
                   AND state IN ('failed', 'error') AND cleared_at IS NULL",
                params![model, stage, digest, by, at],
            )?;
            if n > 0 {
                append_leaf(tx, audit)?;
            }
            Ok(n as u64)
        })
    }
}
