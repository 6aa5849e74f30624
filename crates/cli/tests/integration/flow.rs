//! The README's flow, and every way it must end in a deny.

use std::io::Write as _;

use crate::sarif_schema::valid_sarif_stdout;
use crate::support::{redact, stderr, stdout, Quickstart};

#[test]
fn quickstart_is_denied_until_an_approver_with_the_role_signs() {
    let q = Quickstart::new();
    let a = q.run_prod("dev").code(1);
    insta::assert_snapshot!("quickstart_denied", redact(&stdout(&a)));
    // bob lacks the model-risk role: still denied, and the note says why.
    q.approve("bob").success();
    let a = q.verify("model").code(1);
    assert!(
        stdout(&a).contains("needs role model-risk, has ml-lead"),
        "{}",
        stdout(&a)
    );
    q.approve("alice").success();
    let a = q.verify("model").code(0);
    insta::assert_snapshot!("quickstart_allowed", redact(&stdout(&a)));
}

#[test]
fn verify_refuses_the_model_after_one_byte_changes() {
    let q = Quickstart::new();
    q.run_prod("dev").code(1);
    q.approve("alice").success();
    q.verify("model").code(0);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(q.path("model/config.json"))
        .unwrap();
    f.write_all(b" ").unwrap();
    drop(f);
    let a = q.verify("model").code(1);
    let out = stdout(&a);
    assert!(
        out.contains("gate-missing") && out.contains("approvals-missing"),
        "{out}"
    );
}

fn tamper_line(q: &Quickstart, line: usize, f: impl Fn(&mut serde_json::Value)) {
    let path = q.bundle();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let mut v: serde_json::Value = serde_json::from_str(&lines[line - 1]).unwrap();
    f(&mut v);
    lines[line - 1] = serde_json::to_string(&v).unwrap();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

fn flip_b64(s: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut raw = b64.decode(s).unwrap();
    let i = raw.len() / 2;
    raw[i] ^= 1;
    b64.encode(raw)
}

#[test]
fn a_flipped_byte_in_the_payload_or_signature_denies() {
    for field in ["payload", "sig"] {
        let q = Quickstart::new();
        q.run_prod("dev").code(1);
        q.approve("alice").success();
        q.verify("model").code(0);
        tamper_line(&q, 1, |v| {
            if field == "payload" {
                let p = v["payload"].as_str().unwrap().to_string();
                v["payload"] = flip_b64(&p).into();
            } else {
                let p = v["signatures"][0]["sig"].as_str().unwrap().to_string();
                v["signatures"][0]["sig"] = flip_b64(&p).into();
            }
        });
        let a = q.verify("model").code(1);
        let out = stdout(&a);
        assert!(out.contains("gate-missing"), "{field}: {out}");
        assert!(out.contains("evidence line 1 not counted"), "{field}: {out}");
    }
}

#[test]
fn a_corrupt_line_is_reported_and_skipped_never_counted() {
    let q = Quickstart::new();
    q.run_prod("dev").code(1);
    let mut f = std::fs::OpenOptions::new().append(true).open(q.bundle()).unwrap();
    f.write_all(b"{\"payload\": \"trunc").unwrap();
    drop(f);
    q.approve("alice").success();
    let a = q.verify("model").code(0);
    assert!(
        stdout(&a).contains("evidence line 2 not counted: corrupt line skipped"),
        "{}",
        stdout(&a)
    );
}

#[test]
fn an_approval_signed_with_the_runner_key_does_not_count() {
    let q = Quickstart::new();
    q.run_prod("dev").code(1);
    q.cmd(&["approve", "--stage", "prod", "--key", "keys/demo-ci.key", "model"])
        .assert()
        .success();
    let a = q.verify("model").code(1);
    assert!(
        stdout(&a).contains("approval signed by runner 'ci'; only approver keys may sign it"),
        "{}",
        stdout(&a)
    );
}

#[test]
fn the_author_cannot_approve_their_own_model() {
    let q = Quickstart::new();
    q.run_prod("alice").code(1);
    q.approve("alice").success();
    let a = q.verify("model").code(1);
    assert!(stdout(&a).contains("forbids self-approval"), "{}", stdout(&a));
}

#[test]
fn an_approval_for_another_stage_or_digest_does_not_count() {
    let q = Quickstart::new();
    q.run_prod("dev").code(1);
    q.cmd(&[
        "approve",
        "--stage",
        "staging",
        "--key",
        "keys/demo-alice.key",
        "model",
    ])
    .assert()
    .success();
    let other = "ab".repeat(32);
    q.cmd(&[
        "approve",
        "--stage",
        "prod",
        "--key",
        "keys/demo-alice.key",
        "--digest",
        &other,
    ])
    .assert()
    .success();
    let a = q.verify("model").code(1);
    assert!(
        stdout(&a).contains("is for stage 'staging', not 'prod'"),
        "{}",
        stdout(&a)
    );
}

#[test]
fn an_expired_approval_does_not_count() {
    let q = Quickstart::new();
    q.run_prod("dev").code(1);
    q.cmd(&[
        "approve",
        "--stage",
        "prod",
        "--key",
        "keys/demo-alice.key",
        "--expires",
        "2s",
        "model",
    ])
    .assert()
    .success();
    q.verify("model").code(0);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let a = q.verify("model").code(1);
    assert!(stdout(&a).contains("expired at"), "{}", stdout(&a));
}

#[test]
fn every_output_format_renders_the_same_decision() {
    let q = Quickstart::new();
    q.run_prod("dev").code(1);
    let base = [
        "decide",
        "--policy",
        "portcullis.yaml",
        "--stage",
        "prod",
        "--format",
    ];
    let json: serde_json::Value = serde_json::from_slice(
        &q.cmd(&[&base[..], &["json"]].concat())
            .assert()
            .code(1)
            .get_output()
            .stdout,
    )
    .unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["decision"]["allowed"], false);
    assert_eq!(json["decision"]["reasons"][0]["code"], "approvals-missing");
    assert_eq!(json["gates"][0]["name"], "holdout-accuracy");
    assert_eq!(json["gates"][0]["verdict"], "pass");
    assert_eq!(json["gates"][0]["metrics"]["accuracy"], 0.9);
    let junit = stdout(&q.cmd(&[&base[..], &["junit"]].concat()).assert().code(1));
    assert!(
        junit.contains("<testcase classname=\"portcullis.prod.command\" name=\"holdout-accuracy\""),
        "{junit}"
    );
    assert!(
        junit.contains("name=\"approvals\"") && junit.contains("<failure"),
        "{junit}"
    );
    let sarif = valid_sarif_stdout(
        &q.cmd(&[&base[..], &["sarif"]].concat())
            .assert()
            .code(1)
            .get_output()
            .stdout,
        "decide --format sarif",
    );
    assert_eq!(sarif["version"], "2.1.0");
    assert_eq!(sarif["runs"][0]["results"][0]["ruleId"], "approvals-missing");
    let md = stdout(&q.cmd(&[&base[..], &["markdown"]].concat()).assert().code(1));
    assert!(md.contains("## portcullis: stage `prod` ❌ denied"), "{md}");
    assert!(md.contains("| holdout-accuracy | command | ✅ pass |"), "{md}");
}

#[test]
fn gates_run_in_parallel() {
    let q = Quickstart::new();
    let policy = r#"version: 1
model: { path: model }
trust:
  runners: [{ name: ci, key: keys/demo-ci.pub }]
stages:
  staging: { gates: [a, b, c] }
gates:
  a: { kind: command, argv: [sleep, "1"] }
  b: { kind: command, argv: [sleep, "1"] }
  c: { kind: command, argv: [sleep, "1"] }
"#;
    std::fs::write(q.path("parallel.yaml"), policy).unwrap();
    let start = std::time::Instant::now();
    q.cmd(&[
        "run",
        "--policy",
        "parallel.yaml",
        "--stage",
        "staging",
        "--key",
        "keys/demo-ci.key",
    ])
    .assert()
    .code(0);
    let took = start.elapsed();
    assert!(
        took.as_secs_f64() < 2.5,
        "three 1 s gates took {took:?}: not parallel"
    );
}

#[test]
fn a_failing_gate_denies_with_the_measured_value_and_threshold() {
    let q = Quickstart::new();
    // Make the model worse: 7 of 10 correct.
    let csv = "row,label,prediction\n1,1,0\n2,0,1\n3,1,1\n4,1,1\n5,0,0\n6,0,1\n7,1,1\n8,0,0\n9,1,1\n10,0,0\n";
    std::fs::write(q.path("model/holdout-results.csv"), csv).unwrap();
    let a = q.run_prod("dev").code(1);
    let out = stdout(&a);
    assert!(
        out.contains("accuracy = 0.7 does not meet the threshold >= 0.85"),
        "{out}"
    );
    assert!(stderr(&a).contains("holdout-accuracy fail"), "{}", stderr(&a));
}

#[test]
fn writers_killed_mid_append_never_break_later_reads() {
    let q = Quickstart::new();
    let bin = assert_cmd::cargo::cargo_bin("portcullis");
    let digest = "cd".repeat(32);
    // Many appends in a background loop, killed with SIGKILL at a few moments.
    for round in 0..4 {
        let script = format!(
            "while true; do '{}' approve --stage prod --key keys/demo-alice.key --digest {digest} 2>/dev/null; done",
            bin.display()
        );
        let mut child = std::process::Command::new("sh")
            .args(["-c", &format!("exec setsid sh -c \"{script}\"")])
            .current_dir(q.dir.path())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(150 + 70 * round));
        // Kill the loop and whatever approve it was running, as a group.
        let _ = std::process::Command::new("pkill")
            .args(["-KILL", "-f", &digest])
            .status();
        let _ = child.kill();
        let _ = child.wait();
    }
    // Two concurrent writers after the crashes.
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..5 {
                    q.cmd(&[
                        "approve",
                        "--stage",
                        "prod",
                        "--key",
                        "keys/demo-alice.key",
                        "--digest",
                        &digest,
                    ])
                    .assert()
                    .success();
                }
            });
        }
    });
    let text =
        std::fs::read_to_string(q.path(&format!(".portcullis/evidence/{digest}.intoto.jsonl"))).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let whole = lines
        .iter()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        .count();
    assert!(whole >= 10, "only {whole} whole lines");
    // At most one torn line per kill, and the last ten appends are all whole.
    assert!(lines.len() - whole <= 4, "{} torn lines", lines.len() - whole);
    for l in &lines[lines.len() - 10..] {
        serde_json::from_str::<serde_json::Value>(l).unwrap();
    }
}

#[test]
fn the_credit_scoring_example_is_blocked_by_the_fairness_gate() {
    let root = crate::support::repo_root();
    let ev = tempfile::tempdir().unwrap();
    let a = assert_cmd::Command::cargo_bin("portcullis")
        .unwrap()
        .current_dir(&root)
        .env("NO_COLOR", "1")
        .args([
            "run",
            "--policy",
            "examples/credit-scoring/portcullis.yaml",
            "--stage",
            "staging",
            "--key",
            "examples/quickstart/keys/demo-ci.key",
            "--author",
            "dev",
            "--evidence",
        ])
        .arg(ev.path())
        .assert()
        .code(1);
    let out = stdout(&a);
    assert!(
        out.contains("gate-failed: gate 'fairness' failed: demographic_parity_difference[sex]"),
        "{out}"
    );
    assert!(out.contains("✓ pass  performance"), "{out}");
}

#[test]
fn run_and_eval_sarif_pass_the_schema() {
    let q = Quickstart::new();
    let a = q.run_prod_with("dev", &["--format", "sarif"]).code(1);
    let log = valid_sarif_stdout(&a.get_output().stdout, "run --format sarif");
    assert_eq!(log["runs"][0]["results"][0]["ruleId"], "approvals-missing");
    let a = q
        .cmd(&[
            "eval",
            "command",
            "--set",
            "argv=[sh, -c, 'exit 3']",
            "--format",
            "sarif",
        ])
        .assert()
        .code(1);
    let log = valid_sarif_stdout(&a.get_output().stdout, "eval --format sarif");
    assert!(!log["runs"][0]["results"].as_array().unwrap().is_empty());
}
