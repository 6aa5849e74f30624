//! The registry path a user follows in the README: start the server, push
//! the quickstart's evidence, open a prod request, approve it with a token,
//! watch the alias move, ask the deploy-time question, verify the log.

use std::io::BufRead as _;
use std::process::{Child, Stdio};

use crate::support::{stderr, stdout, Quickstart};

/// The server process, its URL and, for HTTPS, the CA file to trust.
pub struct Server(pub Child, pub String, pub Option<std::path::PathBuf>);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(q: &Quickstart) -> Server {
    start_on(q, "registry.db")
}

fn start_on(q: &Quickstart, db: &str) -> Server {
    start_with(q, db, &[])
}

fn tls_fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/tests/fixtures/tls")
}

pub fn start_with(q: &Quickstart, db: &str, extra: &[&str]) -> Server {
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
            "--database",
            db,
        ])
        .args(extra)
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
    let tls = extra.contains(&"--tls-cert");
    let scheme = if tls { "https" } else { "http" };
    assert!(url.starts_with(&format!("{scheme}://127.0.0.1:")), "{url}");
    Server(child, url, tls.then(|| tls_fixtures().join("ca.pem")))
}

#[test]
fn the_readme_server_path_works_and_a_changed_model_is_denied_at_deploy() {
    let q = Quickstart::new();
    let s = start(&q);
    readme_path(&q, &s);
}

#[test]
fn the_readme_server_path_works_on_postgres() {
    let Some(db) = portcullis_server::store::testdb::TestDb::create() else {
        return;
    };
    let q = Quickstart::new();
    let s = start_on(&q, &db.url);
    readme_path(&q, &s);
}

#[test]
fn the_readme_server_path_works_over_https() {
    let q = Quickstart::new();
    let (cert, key) = (
        tls_fixtures().join("server.pem"),
        tls_fixtures().join("server.key"),
    );
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let s = start_with(&q, "registry.db", &["--tls-cert", cert, "--tls-key", key]);
    readme_path(&q, &s);
    // Without the CA the client refuses the server, and says where.
    let refused = q
        .cmd(&["history", "quickstart", "--stage", "prod"])
        .env("PORTCULLIS_SERVER", &s.1)
        .env("PORTCULLIS_TOKEN", "boot-token")
        .env_remove("PORTCULLIS_CA_CERT")
        .assert()
        .failure();
    assert!(
        stderr(&refused).contains("cannot reach the registry"),
        "{}",
        stderr(&refused)
    );
}

fn readme_path(q: &Quickstart, s: &Server) {
    let as_ = |token: &str, args: &[&str]| {
        let mut c = q.cmd(args);
        c.env("PORTCULLIS_SERVER", &s.1).env("PORTCULLIS_TOKEN", token);
        if let Some(ca) = &s.2 {
            c.env("PORTCULLIS_CA_CERT", ca);
        }
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

fn checkpoint(http: &reqwest::blocking::Client, url: &str) -> Option<String> {
    let r = http
        .get(format!("{url}/v1/log/checkpoint"))
        .bearer_auth("boot-token")
        .send()
        .ok()?;
    r.status().is_success().then(|| r.text().ok()).flatten()
}

#[test]
fn acknowledged_writes_survive_kill_9_and_the_log_stays_consistent() {
    use std::sync::Mutex;
    let q = Quickstart::new();
    let http = reqwest::blocking::Client::new();
    let acked: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let notes: Mutex<Vec<String>> = Mutex::new(Vec::new());
    for round in 0..3 {
        let mut s = start_on(&q, "kill.db");
        let url = s.1.clone();
        std::thread::scope(|sc| {
            for client in 0..32 {
                let (http, url, acked, notes) = (&http, &url, &acked, &notes);
                sc.spawn(move || {
                    for i in 0.. {
                        let identity = format!("c{round}-{client}-{i}");
                        let r = http
                            .post(format!("{url}/v1/tokens"))
                            .bearer_auth("boot-token")
                            .json(&serde_json::json!({"identity": identity, "role": "reader"}))
                            .send();
                        match r {
                            Ok(r) if r.status().as_u16() == 201 => acked.lock().unwrap().push(identity),
                            _ => break,
                        }
                        if i % 8 == 0 {
                            if let Some(n) = checkpoint(http, url) {
                                notes.lock().unwrap().push(n);
                            }
                        }
                    }
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(400 + 150 * round));
            // SIGKILL: no shutdown hook runs.
            s.0.kill().unwrap();
            s.0.wait().unwrap();
        });
    }
    let s = start_on(&q, "kill.db");
    let listed: serde_json::Value = http
        .get(format!("{}/v1/tokens", s.1))
        .bearer_auth("boot-token")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let held: std::collections::BTreeSet<&str> = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["identity"].as_str().unwrap())
        .collect();
    let acked = acked.into_inner().unwrap();
    assert!(
        acked.len() > 100,
        "too few writes to mean anything: {}",
        acked.len()
    );
    let lost: Vec<&String> = acked.iter().filter(|a| !held.contains(a.as_str())).collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );

    // Every checkpoint handed out before a kill is a prefix of today's log.
    let key: String = http
        .get(format!("{}/v1/log/key", s.1))
        .bearer_auth("boot-token")
        .send()
        .unwrap()
        .text()
        .unwrap();
    let vkey = portcullis_tlog::VerifierKey::parse(key.trim()).unwrap();
    let now = portcullis_tlog::Checkpoint::open(&checkpoint(&http, &s.1).unwrap(), vkey.name(), vkey.key())
        .unwrap();
    let notes = notes.into_inner().unwrap();
    assert!(!notes.is_empty());
    eprintln!(
        "{} acknowledged writes across 3 kills, all present; {} checkpoints, log now {} entries",
        acked.len(),
        notes.len(),
        now.size
    );
    for n in notes.iter().step_by((notes.len() / 40).max(1)) {
        let old = portcullis_tlog::Checkpoint::open(n, vkey.name(), vkey.key()).unwrap();
        let p: serde_json::Value = http
            .get(format!(
                "{}/v1/log/proof/consistency?from={}&to={}",
                s.1, old.size, now.size
            ))
            .bearer_auth("boot-token")
            .send()
            .unwrap()
            .json()
            .unwrap();
        let proof: Vec<[u8; 32]> = p["hashes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                portcullis_evidence::Sha256Digest::from_hex(h.as_str().unwrap())
                    .unwrap()
                    .0
            })
            .collect();
        portcullis_tlog::verify_consistency(old.size, now.size, &old.root, &now.root, &proof)
            .unwrap_or_else(|e| panic!("checkpoint of size {} is not a prefix: {e}", old.size));
    }
}
