//! The registry path a user follows in the README: start the server, push
//! the quickstart's evidence, open a prod request, approve it with a token,
//! watch the alias move, ask the deploy-time question, verify the log.

use std::io::BufRead as _;
use std::process::{Child, Stdio};

use crate::support::{stderr, stdout, Quickstart};

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(q: &Quickstart) -> Server {
    let bin = assert_cmd::cargo::cargo_bin("portcullis");
    let mut child = std::process::Command::new(bin)
        .current_dir(q.dir.path())
        .args([
            "server",
            "--listen",
            "127.0.0.1:0",
            "--key",
            "keys/demo-registry.key",
            "--policy",
            "quickstart=registry.yaml",
        ])
        .env("PORTCULLIS_BOOTSTRAP_TOKEN", "boot-token")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line was '{first}'"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    Server(child, url)
}

#[test]
fn the_readme_server_path_works_and_a_changed_model_is_denied_at_deploy() {
    let q = Quickstart::new();
    let s = start(&q);
    let as_ = |token: &str, args: &[&str]| {
        let mut c = q.cmd(args);
        c.env("PORTCULLIS_SERVER", &s.1).env("PORTCULLIS_TOKEN", token);
        c.assert()
    };
    let ci = stdout(
        &as_(
            "boot-token",
            &["token", "create", "--identity", "ci", "--role", "runner"],
        )
        .success(),
    );
    let ci = ci.trim();
    let alice = stdout(
        &as_(
            "boot-token",
            &["token", "create", "--identity", "alice", "--role", "approver"],
        )
        .success(),
    );
    let alice = alice.trim();
    assert!(ci.starts_with("pcr_") && alice.starts_with("pcr_"));

    q.cmd(&[
        "run",
        "--policy",
        "portcullis.yaml",
        "--stage",
        "staging",
        "--key",
        "keys/demo-ci.key",
        "--author",
        "dev",
    ])
    .assert()
    .success();
    let pushed = as_(ci, &["push", "--name", "quickstart", "model"]).success();
    assert!(
        stderr(&pushed).contains("1 accepted, 0 already held, 0 rejected"),
        "{}",
        stderr(&pushed)
    );
    let digest = stdout(&pushed).trim().trim_start_matches("sha256:").to_string();

    // prod needs alice: the request stays open (exit 1) and says why.
    let opened = as_(ci, &["promote", "--stage", "prod", "quickstart", &digest]).code(1);
    assert!(stderr(&opened).contains("is open"), "{}", stderr(&opened));
    assert!(stderr(&opened).contains("approval"), "{}", stderr(&opened));
    let id = stdout(&opened).trim().to_string();

    // The deploy-time question before the approval: nothing in prod.
    as_(
        ci,
        &[
            "verify",
            "--server",
            &s.1,
            "--stage",
            "prod",
            "--name",
            "quickstart",
            "model",
        ],
    )
    .code(2);

    let approved = as_(
        alice,
        &[
            "request",
            "approve",
            &id,
            "--comment",
            "reviewed the holdout report",
        ],
    )
    .success();
    assert!(stderr(&approved).contains("is promoted"), "{}", stderr(&approved));

    as_(
        ci,
        &[
            "verify",
            "--server",
            &s.1,
            "--stage",
            "prod",
            "--name",
            "quickstart",
            "--attest",
            "vsa.json",
            "model",
        ],
    )
    .success();
    let vsa: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(q.path("vsa.json")).unwrap()).unwrap();
    assert_eq!(vsa["payloadType"], "application/vnd.in-toto+json");

    let history = stdout(&as_(ci, &["history", "quickstart", "--stage", "prod"]).success());
    assert!(
        history.contains(&digest) && history.contains("\"alice\""),
        "{history}"
    );

    // A wrong role is refused with the reason, exit 2.
    let refused = as_(alice, &["push", "--name", "quickstart", "model"]).code(2);
    assert!(
        stderr(&refused).contains("needs role runner or admin"),
        "{}",
        stderr(&refused)
    );

    // One changed byte: the registry's prod digest is not this model's.
    std::fs::write(q.path("model/config.json"), "{\"changed\": true}\n").unwrap();
    let denied = as_(
        ci,
        &[
            "verify",
            "--server",
            &s.1,
            "--stage",
            "prod",
            "--name",
            "quickstart",
            "model",
        ],
    )
    .code(1);
    assert!(stderr(&denied).contains("DENIED"), "{}", stderr(&denied));

    // The log verifies, and a later run proves it extends the saved checkpoint.
    let key = stdout(&as_(ci, &["log", "verify", "--save", "cp.txt"]).success());
    assert!(key.is_empty());
    let again = as_(ci, &["log", "verify", "--checkpoint", "cp.txt"]).success();
    assert!(
        stderr(&again).contains("consistent with the saved checkpoint"),
        "{}",
        stderr(&again)
    );
}
