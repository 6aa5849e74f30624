//! The behaviour every [`Store`] must show, run by each backend's tests.

use super::{AliasMove, JobEnd, MoveOutcome, NewEvidence, NewJob, Pushed, RequestRow, Store};

fn ensure(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(what.to_string())
    }
}

fn e<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> String {
    move |err| format!("{what}: {err}")
}

/// Runs every check against `store`, which must start empty.
///
/// # Errors
/// The first check that failed, and how.
pub fn run(store: &dyn Store) -> Result<(), String> {
    log_is_dense_and_exact(store)?;
    tokens_round_trip(store)?;
    evidence_is_content_addressed(store)?;
    alias_moves_compare_and_swap(store)?;
    jobs_lease_retry_and_raise_risks(store)?;
    Ok(())
}

/// Entries read back byte-exact with dense indices; leaf hashes match.
///
/// # Errors
/// What broke.
pub fn log_is_dense_and_exact(store: &dyn Store) -> Result<(), String> {
    let start = store.log_size().map_err(e("log_size"))?;
    for i in 0..5u8 {
        let idx = store.log_append(&[i, 0xff, b'\n', 0]).map_err(e("log_append"))?;
        ensure(idx == start + u64::from(i), "log indices are not dense")?;
    }
    let got = store.log_entries(start, start + 5).map_err(e("log_entries"))?;
    ensure(
        got.len() == 5 && got[3] == [3, 0xff, b'\n', 0],
        "entries did not read back byte-exact",
    )?;
    let leaves = store.log_leaf_hashes(start).map_err(e("log_leaf_hashes"))?;
    ensure(leaves.len() == 5, "wrong number of leaf hashes")?;
    ensure(
        leaves[0] == portcullis_tlog::leaf_hash(&got[0]),
        "leaf hash is not RFC 6962's",
    )
}

/// Tokens are found by hash and revoked once.
///
/// # Errors
/// What broke.
pub fn tokens_round_trip(store: &dyn Store) -> Result<(), String> {
    let before = store.log_size().map_err(e("log_size"))?;
    let id = store
        .insert_token("h1", "alice", "approver", "2026-01-01T00:00:00Z", b"{}")
        .map_err(e("insert_token"))?;
    ensure(
        store.insert_token("h1", "bob", "admin", "t", b"{}").is_err(),
        "a duplicate token hash was accepted",
    )?;
    let t = store.token_by_hash("h1").map_err(e("token_by_hash"))?;
    ensure(
        t.is_some_and(|t| t.identity == "alice" && t.revoked.is_none()),
        "token did not read back",
    )?;
    ensure(
        store.revoke_token(id, "t2", b"{}").map_err(e("revoke"))?,
        "revoke failed",
    )?;
    ensure(
        !store.revoke_token(id, "t3", b"{}").map_err(e("revoke"))?,
        "revoked twice",
    )?;
    let after = store.log_size().map_err(e("log_size"))?;
    ensure(
        after == before + 2,
        "token changes did not each log exactly one leaf",
    )
}

fn line(sha: &str, accepted: bool) -> NewEvidence {
    NewEvidence {
        sha256: sha.into(),
        envelope: format!("{{\"sha\":\"{sha}\"}}"),
        accepted,
        reason: (!accepted).then(|| "untrusted".into()),
        audit: b"{}".to_vec(),
    }
}

/// The same line twice is a no-op; a rejected line can be upgraded; only
/// accepted lines are read back, in order.
///
/// # Errors
/// What broke.
pub fn evidence_is_content_addressed(store: &dyn Store) -> Result<(), String> {
    let d = "ab".repeat(32);
    let before = store.log_size().map_err(e("log_size"))?;
    let out = store
        .push_evidence(
            "m",
            &d,
            &[line("s1", true), line("s2", false), line("s1", true)],
            "t",
        )
        .map_err(e("push_evidence"))?;
    ensure(
        out == [Pushed::New, Pushed::New, Pushed::Duplicate],
        "duplicate within one push not detected",
    )?;
    ensure(
        store.log_size().map_err(e("log_size"))? == before + 2,
        "a duplicate line logged a leaf",
    )?;
    let again = store
        .push_evidence("m", &d, &[line("s2", false)], "t")
        .map_err(e("push"))?;
    ensure(
        again == [Pushed::Duplicate],
        "a rejected line pushed again was not a duplicate",
    )?;
    let upgraded = store
        .push_evidence("m", &d, &[line("s2", true)], "t")
        .map_err(e("push"))?;
    ensure(
        upgraded == [Pushed::New],
        "a rejected line now accepted was not upgraded",
    )?;
    let held = store.evidence(&d).map_err(e("evidence"))?;
    ensure(
        held.len() == 2 && held[0].contains("s1"),
        "accepted lines did not read back in order",
    )?;
    ensure(
        store.versions("m").map_err(e("versions"))? == [d],
        "the version was not recorded once",
    )
}

/// Two moves based on the same previous digest: exactly one wins.
///
/// # Errors
/// What broke.
pub fn alias_moves_compare_and_swap(store: &dyn Store) -> Result<(), String> {
    let open = |digest: &str| RequestRow {
        id: 0,
        model: "m".into(),
        stage: "prod".into(),
        digest: digest.into(),
        base: None,
        state: "open".into(),
        opened_by: "ci".into(),
        opened_at: "t".into(),
        closed_by: None,
        closed_at: None,
        comment: None,
    };
    let r1 = store
        .open_request(&open("d1"), b"{}")
        .map_err(e("open_request"))?;
    let r2 = store
        .open_request(&open("d2"), b"{}")
        .map_err(e("open_request"))?;
    let mv = |digest: &str, request: i64| AliasMove {
        model: "m".into(),
        stage: "prod".into(),
        digest: digest.into(),
        previous: None,
        moved_at: "t".into(),
        by: "alice".into(),
        request,
        approvers: "[\"alice\"]".into(),
        evidence_sha256: None,
        log_index: 0,
    };
    let first = store
        .move_alias(None, &mv("d1", r1), b"{}")
        .map_err(e("move_alias"))?;
    ensure(
        matches!(first, MoveOutcome::Moved(_)),
        "the first move did not happen",
    )?;
    let second = store
        .move_alias(None, &mv("d2", r2), b"{}")
        .map_err(e("move_alias"))?;
    ensure(
        second
            == MoveOutcome::Conflict {
                current: Some("d1".into()),
            },
        "a move based on a stale digest was not a conflict",
    )?;
    let a = store.alias("m", "prod").map_err(e("alias"))?;
    ensure(
        a.is_some_and(|a| a.digest == "d1" && a.request == r1),
        "the alias does not hold the winner",
    )?;
    let req = store.request(r1).map_err(e("request"))?;
    ensure(
        req.is_some_and(|r| r.state == "promoted"),
        "the winning request is not promoted",
    )?;
    let h = store.alias_history("m", "prod").map_err(e("alias_history"))?;
    ensure(
        h.len() == 1 && h[0].digest == "d1",
        "history does not hold exactly the one move",
    )?;
    let entries = store
        .log_entries(h[0].log_index, h[0].log_index + 1)
        .map_err(e("log_entries"))?;
    ensure(entries.len() == 1, "the move's log index does not exist")
}

/// Re-check jobs: one pending job per target, leases that expire and pass
/// to another agent, a stale agent's result refused, risks listed until
/// cleared.
///
/// # Errors
/// What broke.
pub fn jobs_lease_retry_and_raise_risks(store: &dyn Store) -> Result<(), String> {
    let job = |gate: &str| NewJob {
        model: "m".into(),
        stage: "prod".into(),
        digest: "d1".into(),
        gate: gate.into(),
        revoke: gate == "redteam",
        at: "2026-01-01T00:00:00Z".into(),
        by: "scheduler".into(),
    };
    let before = store.log_size().map_err(e("log_size"))?;
    let a = store
        .enqueue_job(&job("redteam"), b"{}")
        .map_err(e("enqueue_job"))?;
    ensure(a.is_some(), "first job not enqueued")?;
    ensure(
        store
            .enqueue_job(&job("redteam"), b"{}")
            .map_err(e("enqueue_job"))?
            .is_none(),
        "a second pending job for the same target was enqueued",
    )?;
    let b = store
        .enqueue_job(&job("safety"), b"{}")
        .map_err(e("enqueue_job"))?;
    ensure(b.is_some(), "a job for another gate was refused")?;
    ensure(
        store.log_size().map_err(e("log_size"))? == before + 2,
        "enqueues are not one leaf each",
    )?;

    // Oldest first; an unexpired lease is not claimable by others.
    let t0 = "2026-01-01T00:00:01Z";
    let first = store
        .claim_job("agent-1", &[], t0, "2026-01-01T00:10:00Z")
        .map_err(e("claim_job"))?
        .ok_or("nothing claimed")?;
    ensure(
        Some(first.id) == a && first.attempts == 1,
        "claim is not oldest first",
    )?;
    ensure(
        first.revoke && first.state == "leased",
        "claimed job fields wrong",
    )?;
    let second = store
        .claim_job("agent-2", &["m".to_string()], t0, "2026-01-01T00:10:00Z")
        .map_err(e("claim_job"))?
        .ok_or("second job not claimed")?;
    ensure(Some(second.id) == b, "a leased job was claimed twice")?;
    ensure(
        store
            .claim_job("agent-3", &[], t0, "2026-01-01T00:10:00Z")
            .map_err(e("claim_job"))?
            .is_none(),
        "a job was claimed while every lease was live",
    )?;
    ensure(
        store
            .renew_job(first.id, "agent-1", "2026-01-01T00:20:00Z")
            .map_err(e("renew_job"))?,
        "the holder could not renew",
    )?;
    ensure(
        store
            .claim_job(
                "agent-4",
                &["other".to_string()],
                "2026-01-01T01:00:00Z",
                "2026-01-01T01:10:00Z",
            )
            .map_err(e("claim_job"))?
            .is_none(),
        "a job of another model was claimed",
    )?;
    // agent-2 dies: after its lease expires, agent-3 takes the job over and
    // agent-2's late result is refused.
    let later = "2026-01-01T00:15:00Z";
    let taken = store
        .claim_job("agent-3", &[], later, "2026-01-01T00:25:00Z")
        .map_err(e("claim_job"))?
        .ok_or("an expired lease was not reclaimed")?;
    ensure(
        taken.id == second.id && taken.attempts == 2,
        "expired lease reclaim wrong",
    )?;
    let end = |state: &str| JobEnd {
        state: state.into(),
        at: later.into(),
        reason: Some(format!("{state} reason")),
        evidence: (state != "error").then(|| "{}".into()),
    };
    ensure(
        !store
            .finish_job(second.id, "agent-2", &end("passed"), b"{}")
            .map_err(e("finish_job"))?,
        "a stale agent's result was accepted",
    )?;
    ensure(
        store
            .finish_job(second.id, "agent-3", &end("queued"), b"{}")
            .map_err(e("finish_job"))?,
        "give-back refused",
    )?;
    let again = store
        .claim_job("agent-3", &[], later, "2026-01-01T00:25:00Z")
        .map_err(e("claim_job"))?
        .ok_or("a given-back job was not claimable")?;
    ensure(
        again.id == second.id && again.attempts == 3,
        "given-back job wrong",
    )?;
    ensure(
        store
            .finish_job(again.id, "agent-3", &end("passed"), b"{}")
            .map_err(e("finish_job"))?,
        "finish refused",
    )?;
    ensure(
        store
            .finish_job(first.id, "agent-1", &end("failed"), b"{}")
            .map_err(e("finish_job"))?,
        "finish refused",
    )?;
    ensure(
        !store
            .finish_job(first.id, "agent-1", &end("passed"), b"{}")
            .map_err(e("finish_job"))?,
        "a job finished twice",
    )?;
    let done = store.job(first.id).map_err(e("job"))?.ok_or("job vanished")?;
    ensure(
        done.state == "failed" && done.finished_at.as_deref() == Some(later) && done.evidence.is_some(),
        "finished job fields wrong",
    )?;
    let last = store
        .last_job("m", "prod", "d1", "redteam")
        .map_err(e("last_job"))?
        .ok_or("no last job")?;
    ensure(last.id == first.id, "last_job wrong")?;
    // A finished target takes a new job.
    ensure(
        store
            .enqueue_job(&job("redteam"), b"{}")
            .map_err(e("enqueue_job"))?
            .is_some(),
        "a finished target could not be enqueued again",
    )?;
    let risks = store.risks("m", "prod", "d1").map_err(e("risks"))?;
    ensure(
        risks.len() == 1 && risks[0].id == first.id && risks[0].failed(),
        "risks wrong",
    )?;
    ensure(
        store.risks("m", "prod", "d2").map_err(e("risks"))?.is_empty(),
        "risks leak across digests",
    )?;
    let size = store.log_size().map_err(e("log_size"))?;
    ensure(
        store
            .clear_risks("m", "prod", "d1", "admin", later, b"{}")
            .map_err(e("clear_risks"))?
            == 1,
        "clear_risks count wrong",
    )?;
    ensure(
        store.risks("m", "prod", "d1").map_err(e("risks"))?.is_empty(),
        "cleared risks still listed",
    )?;
    ensure(
        store
            .clear_risks("m", "prod", "d1", "admin", later, b"{}")
            .map_err(e("clear_risks"))?
            == 0
            && store.log_size().map_err(e("log_size"))? == size + 1,
        "clearing nothing logged a leaf",
    )?;
    let listed = store.jobs(Some("m"), 2).map_err(e("jobs"))?;
    ensure(
        listed.len() == 2 && listed[0].id > listed[1].id,
        "jobs not newest first with a limit",
    )?;
    ensure(
        store.jobs(Some("other"), 10).map_err(e("jobs"))?.is_empty(),
        "jobs not filtered by model",
    )
}
