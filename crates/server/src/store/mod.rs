//! The registry's state behind one trait, so SQLite ([`SqliteStore`], the
//! embedded default) and PostgreSQL (`PostgresStore`, for registries shared
//! by several servers) are two implementations of the same behaviour, and
//! one shared test suite, [`conformance`], runs against both.
//!
//! Every mutating call takes the audit-log entry describing it and commits
//! the change and the log leaf in one transaction: there is no state change
//! without its leaf, and no leaf without its change. Log indices are
//! assigned inside that transaction, so they are dense and ordered by commit.

use thiserror::Error;

pub mod conformance;
#[cfg(feature = "postgres")]
mod postgres;
mod sqlite;
#[cfg(feature = "postgres")]
pub mod testdb;

#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// A store failure. Never shown to clients beyond "internal error".
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database: {0}")]
    Db(String),
    /// The database holds something this version cannot read.
    #[error("database content: {0}")]
    Corrupt(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e.to_string())
    }
}

/// Shorthand.
pub type Result<T> = std::result::Result<T, StoreError>;

/// An API token as stored: only the hash of the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Row id (what `token revoke` takes).
    pub id: i64,
    /// sha256 of the token secret, hex.
    pub hash: String,
    /// Who holds it.
    pub identity: String,
    /// `admin`, `runner`, `reader` or `approver[:<role>]`.
    pub role: String,
    /// RFC 3339.
    pub created: String,
    /// RFC 3339, when revoked.
    pub revoked: Option<String>,
}

/// One evidence line to store.
#[derive(Debug, Clone)]
pub struct NewEvidence {
    /// sha256 of the envelope's canonical JSON, hex (the content address).
    pub sha256: String,
    /// The envelope's canonical JSON.
    pub envelope: String,
    /// Whether it verified against the model's policy when pushed.
    pub accepted: bool,
    /// Why not, when rejected.
    pub reason: Option<String>,
    /// The audit entry recording the outcome.
    pub audit: Vec<u8>,
}

/// What happened to one pushed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Stored for the first time (or upgraded from rejected to accepted).
    New,
    /// Already held with the same outcome; nothing changed.
    Duplicate,
}

/// A promotion request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRow {
    /// Request id.
    pub id: i64,
    /// Model name.
    pub model: String,
    /// Target stage.
    pub stage: String,
    /// Digest to promote, hex.
    pub digest: String,
    /// The alias's digest when the request was opened (what the move
    /// compares and swaps against); `None` when the stage was empty.
    pub base: Option<String>,
    /// `open`, `promoted`, `rejected` or `conflict`.
    pub state: String,
    /// Who opened it.
    pub opened_by: String,
    /// RFC 3339.
    pub opened_at: String,
    /// Who closed it (rejected it, or whose approval completed it).
    pub closed_by: Option<String>,
    /// RFC 3339.
    pub closed_at: Option<String>,
    /// The rejection's comment.
    pub comment: Option<String>,
}

/// A stage alias's current digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRow {
    /// Model.
    pub model: String,
    /// Stage.
    pub stage: String,
    /// Digest, hex.
    pub digest: String,
    /// RFC 3339.
    pub moved_at: String,
    /// The request that moved it.
    pub request: i64,
}

/// One move of a stage alias, for history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasMove {
    /// Model.
    pub model: String,
    /// Stage.
    pub stage: String,
    /// The digest it moved to, hex.
    pub digest: String,
    /// The digest it held before.
    pub previous: Option<String>,
    /// RFC 3339.
    pub moved_at: String,
    /// Who completed the move.
    pub by: String,
    /// The request.
    pub request: i64,
    /// The approvers the decision counted, JSON array.
    pub approvers: String,
    /// The evidence bundle's sha256 at decision time, hex.
    pub evidence_sha256: Option<String>,
    /// The audit-log index of the move.
    pub log_index: u64,
}

/// Why an alias did not move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveOutcome {
    /// Moved; the log index of the move.
    Moved(u64),
    /// The alias no longer holds the digest the request was based on.
    Conflict {
        /// What the alias holds now.
        current: Option<String>,
    },
}

/// The columns [`JobRow`] is read from, in field order.
pub(crate) const JOB_COLUMNS: &str =
    "id, model, stage, digest, gate, revoke, state, enqueued_at, enqueued_by, \
     attempts, agent, lease_expires, finished_at, reason, evidence, cleared_at, cleared_by";

/// A re-check to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Model.
    pub model: String,
    /// Stage whose digest is re-checked.
    pub stage: String,
    /// The digest, hex.
    pub digest: String,
    /// The gate to re-run.
    pub gate: String,
    /// Whether a failure revokes (the stage's `on_fail` when enqueued).
    pub revoke: bool,
    /// RFC 3339.
    pub at: String,
    /// Who enqueued it (`scheduler` or an admin's identity).
    pub by: String,
}

/// A re-check job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    /// Id.
    pub id: i64,
    /// Model.
    pub model: String,
    /// Stage.
    pub stage: String,
    /// Digest, hex.
    pub digest: String,
    /// Gate.
    pub gate: String,
    /// Whether a failure revokes.
    pub revoke: bool,
    /// `queued`, `leased`, `passed`, `failed` or `error`.
    pub state: String,
    /// RFC 3339.
    pub enqueued_at: String,
    /// Who enqueued it.
    pub enqueued_by: String,
    /// How many times an agent claimed it.
    pub attempts: i64,
    /// The agent holding (or that last held) the lease.
    pub agent: Option<String>,
    /// RFC 3339; a lease past this may be claimed by another agent.
    pub lease_expires: Option<String>,
    /// RFC 3339.
    pub finished_at: Option<String>,
    /// What the run found (the gate's reasons, or the agent's error).
    pub reason: Option<String>,
    /// The signed gate result (a DSSE envelope, JSON), when the run
    /// produced one.
    pub evidence: Option<String>,
    /// RFC 3339, when an admin cleared the risk this job raised.
    pub cleared_at: Option<String>,
    /// Who cleared it.
    pub cleared_by: Option<String>,
}

impl JobRow {
    /// Finished with a failure or an error (a risk until cleared).
    pub fn failed(&self) -> bool {
        matches!(self.state.as_str(), "failed" | "error")
    }
}

/// How a leased job ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEnd {
    /// `passed`, `failed`, `error`, or `queued` (give it back for a retry).
    pub state: String,
    /// RFC 3339.
    pub at: String,
    /// Why.
    pub reason: Option<String>,
    /// The signed gate result.
    pub evidence: Option<String>,
}

/// The registry's state.
///
/// Implementations are safe to call from many threads; each call is one
/// transaction.
pub trait Store: Send + Sync {
    /// Appends a free-standing audit entry (e.g. a policy change) and
    /// returns its index.
    ///
    /// # Errors
    /// Database failures.
    fn log_append(&self, entry: &[u8]) -> Result<u64>;
    /// The number of log entries.
    ///
    /// # Errors
    /// Database failures.
    fn log_size(&self) -> Result<u64>;
    /// Entries `[start, end)`, exact bytes.
    ///
    /// # Errors
    /// Database failures.
    fn log_entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>>;
    /// Leaf hashes from `start` to the end, in order.
    ///
    /// # Errors
    /// Database failures.
    fn log_leaf_hashes(&self, start: u64) -> Result<Vec<[u8; 32]>>;

    /// The policy digest last recorded for `model`.
    ///
    /// # Errors
    /// Database failures.
    fn policy_digest(&self, model: &str) -> Result<Option<String>>;
    /// Records `model`'s policy digest, logging `audit`.
    ///
    /// # Errors
    /// Database failures.
    fn set_policy_digest(&self, model: &str, digest: &str, audit: &[u8]) -> Result<u64>;

    /// Number of tokens, revoked included.
    ///
    /// # Errors
    /// Database failures.
    fn token_count(&self) -> Result<u64>;
    /// Stores a token, logging `audit`; returns its id.
    ///
    /// # Errors
    /// Database failures (a duplicate hash included).
    fn insert_token(
        &self,
        hash: &str,
        identity: &str,
        role: &str,
        created: &str,
        audit: &[u8],
    ) -> Result<i64>;
    /// The unrevoked-or-revoked token with this hash.
    ///
    /// # Errors
    /// Database failures.
    fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>>;
    /// Every token.
    ///
    /// # Errors
    /// Database failures.
    fn tokens(&self) -> Result<Vec<TokenRow>>;
    /// Revokes token `id`, logging `audit`; false when there is no such
    /// unrevoked token.
    ///
    /// # Errors
    /// Database failures.
    fn revoke_token(&self, id: i64, at: &str, audit: &[u8]) -> Result<bool>;

    /// Stores pushed evidence for `digest` under `model`, deduplicated by
    /// content address, one outcome per line.
    ///
    /// # Errors
    /// Database failures.
    fn push_evidence(
        &self,
        model: &str,
        digest: &str,
        lines: &[NewEvidence],
        at: &str,
    ) -> Result<Vec<Pushed>>;
    /// The accepted envelopes for `digest`, in the order they were stored.
    ///
    /// # Errors
    /// Database failures.
    fn evidence(&self, digest: &str) -> Result<Vec<String>>;
    /// Digests pushed under `model`, oldest first.
    ///
    /// # Errors
    /// Database failures.
    fn versions(&self, model: &str) -> Result<Vec<String>>;

    /// Opens a promotion request, logging `audit`; returns its id.
    ///
    /// # Errors
    /// Database failures.
    fn open_request(&self, req: &RequestRow, audit: &[u8]) -> Result<i64>;
    /// One request.
    ///
    /// # Errors
    /// Database failures.
    fn request(&self, id: i64) -> Result<Option<RequestRow>>;
    /// Requests in `state` (all when `None`), newest first.
    ///
    /// # Errors
    /// Database failures.
    fn requests(&self, state: Option<&str>) -> Result<Vec<RequestRow>>;
    /// Closes an open request as `state`, logging `audit`; false when it was
    /// not open.
    ///
    /// # Errors
    /// Database failures.
    fn close_request(
        &self,
        id: i64,
        state: &str,
        by: &str,
        comment: Option<&str>,
        at: &str,
        audit: &[u8],
    ) -> Result<bool>;

    /// Moves `model`'s `stage` alias to `mv.digest` if it still holds
    /// `expected` (compare-and-swap), closing request `mv.request` as
    /// promoted, all in one transaction with the `audit` leaf.
    ///
    /// # Errors
    /// Database failures.
    fn move_alias(&self, expected: Option<&str>, mv: &AliasMove, audit: &[u8]) -> Result<MoveOutcome>;
    /// The alias's current value.
    ///
    /// # Errors
    /// Database failures.
    fn alias(&self, model: &str, stage: &str) -> Result<Option<AliasRow>>;
    /// Every move of the alias, oldest first.
    ///
    /// # Errors
    /// Database failures.
    fn alias_history(&self, model: &str, stage: &str) -> Result<Vec<AliasMove>>;

    /// Enqueues a re-check, logging `audit`, unless one for the same model,
    /// stage, digest and gate is still queued or leased (`None` then).
    ///
    /// # Errors
    /// Database failures.
    fn enqueue_job(&self, job: &NewJob, audit: &[u8]) -> Result<Option<i64>>;
    /// The newest job for this model, stage, digest and gate.
    ///
    /// # Errors
    /// Database failures.
    fn last_job(&self, model: &str, stage: &str, digest: &str, gate: &str) -> Result<Option<JobRow>>;
    /// Leases the oldest claimable job (queued, or leased with a lease that
    /// expired before `now`) of one of `models` (any model when empty) to
    /// `agent` until `until`. Claims race safely
    /// between agents and servers (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
    /// one writer on SQLite); a claim is not a log entry: the job's end
    /// records who ran it and how often it was tried.
    ///
    /// # Errors
    /// Database failures.
    fn claim_job(&self, agent: &str, models: &[String], now: &str, until: &str) -> Result<Option<JobRow>>;
    /// Extends `agent`'s lease on job `id`; false when the agent no longer
    /// holds it.
    ///
    /// # Errors
    /// Database failures.
    fn renew_job(&self, id: i64, agent: &str, until: &str) -> Result<bool>;
    /// Ends `agent`'s lease on job `id` as `end`, logging `audit`; false when
    /// the agent no longer holds it (the lease expired and another agent
    /// claimed it, or it already ended).
    ///
    /// # Errors
    /// Database failures.
    fn finish_job(&self, id: i64, agent: &str, end: &JobEnd, audit: &[u8]) -> Result<bool>;
    /// One job.
    ///
    /// # Errors
    /// Database failures.
    fn job(&self, id: i64) -> Result<Option<JobRow>>;
    /// Jobs, newest first, at most `limit`; only `model`'s when given.
    ///
    /// # Errors
    /// Database failures.
    fn jobs(&self, model: Option<&str>, limit: u32) -> Result<Vec<JobRow>>;
    /// Failed or errored jobs for the digest in the stage not yet cleared,
    /// oldest first.
    ///
    /// # Errors
    /// Database failures.
    fn risks(&self, model: &str, stage: &str, digest: &str) -> Result<Vec<JobRow>>;
    /// Clears every risk [`Store::risks`] lists, logging `audit` when there
    /// was one; returns how many.
    ///
    /// # Errors
    /// Database failures.
    fn clear_risks(
        &self,
        model: &str,
        stage: &str,
        digest: &str,
        by: &str,
        at: &str,
        audit: &[u8],
    ) -> Result<u64>;
}
