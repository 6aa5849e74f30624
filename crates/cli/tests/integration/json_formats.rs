//! The JSON every deciding command prints, snapshotted on the quickstart, so
//! a format change is a reviewed diff. Digests, times, durations and the
//! temp directory are redacted; everything else is the exact text users
//! script against.

use crate::support::{stdout, Quickstart};

fn settled(q: &Quickstart, text: &str) -> String {
    let dir = q.dir.path().canonicalize().unwrap();
    let text = text
        .replace(&dir.display().to_string(), "[DIR]")
        .replace(&q.dir.path().display().to_string(), "[DIR]");
    let rules: [(&str, &str); 4] = [
        (r"[0-9a-f]{64}", "[SHA256]"),
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "[TIME]"),
        (r#""duration_ms": \d+"#, r#""duration_ms": "[MS]""#),
        (r#""version": "\d+\.\d+\.\d+""#, r#""version": "[VERSION]""#),
    ];
    rules.iter().fold(text, |t, (pattern, with)| {
        regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&t, *with)
            .into_owned()
    })
}

#[test]
fn run_decide_verify_show_and_eval_json() {
    let q = Quickstart::new();
    let a = q.run_prod_with("dev", &["--format", "json"]).code(1);
    insta::assert_snapshot!("run_json", settled(&q, &stdout(&a)));
    q.approve("alice").success();

    let a = q
        .cmd(&[
            "decide",
            "--policy",
            "portcullis.yaml",
            "--stage",
            "prod",
            "--format",
            "json",
            "model",
        ])
        .assert()
        .code(0);
    insta::assert_snapshot!("decide_json", settled(&q, &stdout(&a)));

    let a = q
        .cmd(&[
            "verify",
            "--stage",
            "prod",
            "--policy",
            "portcullis.yaml",
            "--evidence",
            ".portcullis/evidence",
            "--attest",
            "vsa.json",
            "--format",
            "json",
            "model",
        ])
        .assert()
        .code(0);
    insta::assert_snapshot!("verify_json", settled(&q, &stdout(&a)));
    let vsa = std::fs::read_to_string(q.path("vsa.json")).unwrap();
    insta::assert_snapshot!("verify_summary_statement", settled(&q, &vsa));

    let a = q
        .cmd(&["show", "--policy", "portcullis.yaml", "--json", "model"])
        .assert()
        .code(0);
    insta::assert_snapshot!("show_json", settled(&q, &stdout(&a)));

    let a = q
        .cmd(&[
            "eval",
            "command",
            "--set",
            "argv=[sh, eval.sh, report.json]",
            "--set",
            "report=report.json",
            "--set",
            "metrics={accuracy: /accuracy}",
            "--require",
            "accuracy=>= 0.95",
            "--format",
            "json",
        ])
        .assert()
        .code(1);
    insta::assert_snapshot!("eval_json", settled(&q, &stdout(&a)));
}
