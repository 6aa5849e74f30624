//! `decide`: one test per reason a stage is allowed or denied.

use std::time::SystemTime;

use portcullis_evidence::Verdict;
use portcullis_policy::{decide, GateState};

use crate::support::{ago, approval, fixture, passing, result, waiver};

fn codes(d: &portcullis_policy::Decision) -> Vec<&'static str> {
    d.reasons.iter().map(|r| r.code.as_str()).collect()
}

fn in_days(days: i64) -> String {
    let now = SystemTime::now();
    let t = if days >= 0 {
        now + std::time::Duration::from_secs(days as u64 * 86400)
    } else {
        now - std::time::Duration::from_secs((-days) as u64 * 86400)
    };
    portcullis_evidence::predicate::format_time(t)
}

#[test]
fn all_gates_passed_and_two_approvers_is_allowed() {
    let (_f, p) = fixture();
    let d = decide(&p, "prod", &passing(&p), SystemTime::now());
    assert!(d.allowed, "{:?}", d.reasons);
    assert_eq!(d.approvers, vec!["alice", "bob"]);
}

#[test]
fn missing_failed_and_errored_gates_each_deny_with_their_code() {
    let (_f, p) = fixture();
    let mut ev = passing(&p);
    ev.gate_results.clear();
    let d = decide(&p, "prod", &ev, SystemTime::now());
    assert_eq!(codes(&d), vec!["gate-missing", "gate-missing"]);
    ev.gate_results = vec![
        result(&p, "smoke", Verdict::Error, &ago(5), "dev"),
        result(&p, "eval", Verdict::Fail, &ago(5), "dev"),
    ];
    let d = decide(&p, "prod", &ev, SystemTime::now());
    assert_eq!(codes(&d), vec!["gate-errored", "gate-failed"]);
    assert!(d.reasons[1].message.contains("accuracy = 0.5"), "{:?}", d.reasons);
}

#[test]
fn the_newest_result_wins_both_ways() {
    let (_f, p) = fixture();
    let mut ev = passing(&p);
    ev.gate_results
        .push(result(&p, "eval", Verdict::Fail, &ago(1), "dev"));
    assert_eq!(
        codes(&decide(&p, "prod", &ev, SystemTime::now())),
        vec!["gate-failed"]
    );
    ev.gate_results
        .push(result(&p, "eval", Verdict::Pass, &ago(0), "dev"));
    assert!(decide(&p, "prod", &ev, SystemTime::now()).allowed);
}

#[test]
fn a_result_under_another_spec_does_not_count() {
    let (_f, p) = fixture();
    let mut ev = passing(&p);
    ev.gate_results[1]
        .predicate
        .gate
        .spec_digest
        .insert("sha256".into(), "00".repeat(32));
    let d = decide(&p, "prod", &ev, SystemTime::now());
    assert_eq!(codes(&d), vec!["gate-spec-changed"]);
    assert_eq!(d.gates[1].state, GateState::SpecChanged);
}

#[test]
fn evidence_older_than_max_evidence_age_is_expired() {
    let (_f, p) = fixture();
    let mut ev = passing(&p);
    ev.gate_results[0] = result(&p, "smoke", Verdict::Pass, &ago(15 * 86400), "dev");
    let d = decide(&p, "prod", &ev, SystemTime::now());
    assert_eq!(codes(&d), vec!["evidence-expired"]);
}

#[test]
fn a_result_signed_in_the_future_is_refused_as_clock_skew() {
    let (_f, p) = fixture();
    let mut ev = passing(&p);
    ev.gate_results[0] = result(&p, "smoke", Verdict::Pass, &in_days(1), "dev");
    let d = decide(&p, "prod", &ev, SystemTime::now());
    assert_eq!(codes(&d), vec!["gate-missing"]);
    assert!(
        d.notes.iter().any(|n| n.contains("in the future")),
        "{:?}",
        d.notes
    );
}

#[test]
fn approvals_for_another_stage_expired_or_too_old_do_not_count() {
    let (_f, p) = fixture();
    let mut ev = passing(&p);
    ev.approvals = vec![
        approval("alice", "staging", &ago(10), None),
        approval("bob", "prod", &ago(10), Some(in_days(-1))),
    ];
    let d = decide(&p, "prod", &ev, SystemTime::now());
    assert_eq!(codes(&d), vec!["approvals-missing"]);
    assert!(d.reasons[0].message.starts_with("0 of 2"));
    ev.approvals = vec![
        approval("alice", "prod", &ago(8 * 86400), None),
        approval("bob", "prod", &ago(5), None),
    ];
    let d = decide(&p, "prod", &ev, SystemTime::now());
    assert!(
        d.notes.iter().any(|n| n.contains("over the stage's max_age")),
        "{:?}",
        d.notes
    );
    assert!(!d.allowed);
}

#[test]
fn one_person_with_two_keys_counts_once() {
    let (_f, p) = fixture();
    let mut ev = passing(&p);
    ev.approvals = vec![
        approval("alice", "prod", &ago(5), None),
        approval("alice", "prod", &ago(4), None),
    ];
    let d = decide(&p, "prod", &ev, SystemTime::now());
    assert_eq!(d.approvers, vec!["alice"]);
    assert!(!d.allowed);
}

#[test]
fn the_author_cannot_approve_their_own_run() {
    let (_f, p) = fixture();
    let mut ev = passing(&p);
    ev.gate_results = vec![
        result(&p, "smoke", Verdict::Pass, &ago(60), "Alice"),
        result(&p, "eval", Verdict::Pass, &ago(60), "Alice"),
    ];
    let d = decide(&p, "prod", &ev, SystemTime::now());
    assert_eq!(codes(&d), vec!["approvals-missing"]);
    assert!(
        d.notes
            .iter()
            .any(|n| n.contains("'alice'") && n.contains("self-approval")),
        "{:?}",
        d.notes
    );
}

#[test]
fn an_approver_without_the_role_does_not_count() {
    let (_f, p) = fixture();
    let mut ev = passing(&p);
    ev.approvals = vec![
        approval("alice", "prod", &ago(5), None),
        approval("carol", "prod", &ago(5), None),
    ];
    let d = decide(&p, "prod", &ev, SystemTime::now());
    assert!(!d.allowed);
    assert!(d
        .notes
        .iter()
        .any(|n| n.contains("carol") && n.contains("needs role model-risk")));
}

#[test]
fn a_valid_waiver_excuses_a_waivable_gate_and_shows_in_the_notes() {
    let (_f, p) = fixture();
    let mut ev = passing(&p);
    ev.gate_results[0] = result(&p, "smoke", Verdict::Fail, &ago(5), "dev");
    ev.waivers = vec![waiver("bob", "prod", "smoke", &ago(5), &in_days(3))];
    let d = decide(&p, "prod", &ev, SystemTime::now());
    assert!(d.allowed, "{:?}", d.reasons);
    assert_eq!(d.gates[0].state, GateState::Waived);
    assert!(d.notes.iter().any(|n| n.starts_with("WAIVED: gate 'smoke'")));
}

#[test]
fn waivers_expired_by_the_wrong_role_too_long_or_not_allowed_are_ignored() {
    let (_f, p) = fixture();
    let mut ev = passing(&p);
    ev.gate_results[0] = result(&p, "smoke", Verdict::Fail, &ago(5), "dev");
    ev.gate_results[1] = result(&p, "eval", Verdict::Fail, &ago(5), "dev");
    ev.waivers = vec![
        waiver("bob", "prod", "smoke", &ago(10 * 86400), &in_days(-1)),
        waiver("carol", "prod", "smoke", &ago(5), &in_days(3)),
        waiver("bob", "prod", "smoke", &ago(5), &in_days(60)),
        waiver("bob", "prod", "eval", &ago(5), &in_days(3)),
    ];
    let d = decide(&p, "prod", &ev, SystemTime::now());
    assert_eq!(codes(&d), vec!["gate-failed", "gate-failed"]);
    let notes = d.notes.join("\n");
    for needle in [
        "expired",
        "needs role model-risk",
        "runs longer than",
        "does not allow waiving 'eval'",
    ] {
        assert!(notes.contains(needle), "{needle} missing in\n{notes}");
    }
}

#[test]
fn an_unknown_stage_is_denied() {
    let (_f, p) = fixture();
    let d = decide(&p, "production", &passing(&p), SystemTime::now());
    assert_eq!(codes(&d), vec!["unknown-stage"]);
}
