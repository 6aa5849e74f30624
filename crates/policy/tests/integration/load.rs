//! Loading: strictness and positions.

use crate::support::{fixture, Fixture, POLICY};

fn problems(f: &Fixture, yaml: &str) -> Vec<String> {
    match portcullis_policy::load(&f.write(yaml)) {
        Ok(_) => panic!("policy unexpectedly loaded"),
        Err(e) => e.problems().iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn extends_merges_gates_parents_first_and_inherits_rules() {
    let (_f, p) = fixture();
    let prod = p.stage("prod").unwrap();
    assert_eq!(prod.gates, vec!["smoke", "eval"]);
    assert_eq!(
        prod.max_evidence_age,
        Some(std::time::Duration::from_secs(14 * 86400))
    );
    assert!(prod.waivable.contains_key("smoke"));
    assert_eq!(prod.approvals.as_ref().unwrap().required, 2);
    assert!(p.stage("staging").unwrap().approvals.is_none());
    // Two keys, one identity.
    let alice = p.approvers.iter().find(|a| a.name == "alice").unwrap();
    assert_eq!(alice.keys.len(), 2);
}

#[test]
fn unknown_key_is_an_error_with_its_line_and_column() {
    let f = Fixture::new(&["ci"]);
    let yaml = "version: 1\nstages:\n  prod:\n    gates: []\n    aproval: {required: 1}\n";
    let got = problems(&f, yaml);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("5:5:"), "{got:?}");
    assert!(got[0].contains("aproval"), "{got:?}");
}

#[test]
fn a_bad_threshold_points_at_its_value() {
    let f = Fixture::new(&["ci"]);
    let yaml = "version: 1\nstages:\n  prod: {gates: [g]}\ngates:\n  g:\n    kind: command\n    argv: [\"true\"]\n    require: {accuracy: \"0.85\"}\n";
    let got = problems(&f, yaml);
    assert!(got[0].starts_with("8:"), "{got:?}");
    assert!(got[0].contains("expected an operator"), "{got:?}");
}

#[test]
fn every_semantic_problem_is_reported_at_once_with_positions() {
    let f = Fixture::new(&["ci", "alice"]);
    let yaml = r#"version: 2
trust:
  runners: [{ name: ci, key: ci.pub }]
  approvers: [{ name: alice, key: missing.pub, roles: [risk] }]
stages:
  staging:
    gates: [smoke, nope]
  prod:
    extends: stagin
  loop-a: { extends: loop-b }
  loop-b: { extends: loop-a }
  qa:
    approvals: { required: 3, roles: [auditor] }
    max_evidence_age: fortnight
gates:
  smoke: { kind: command, argv: ["true"] }
"#;
    let got = problems(&f, yaml);
    let all = got.join("\n");
    for (line, needle) in [
        ("1:", "unsupported policy version 2"),
        ("4:", "missing.pub"),
        ("7:", "gate 'nope', which is not defined"),
        ("9:", "extends unknown stage 'stagin'"),
        ("", "forms a cycle"),
        ("13:", "role 'auditor' is held by no approver"),
        ("13:", "3 approvals required but only 0 approvers are eligible"),
        ("14:", "'fortnight' is not a duration"),
    ] {
        assert!(
            got.iter().any(|g| g.starts_with(line) && g.contains(needle)),
            "missing {line}{needle} in:\n{all}"
        );
    }
}

#[test]
fn invalid_yaml_and_missing_files_are_clear_errors() {
    let f = Fixture::new(&[]);
    let got = problems(&f, "version: 1\nstages: [\n");
    assert_eq!(got.len(), 1);
    let err = portcullis_policy::load(&f.dir.path().join("nope.yaml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nope.yaml") && err.contains("portcullis init"),
        "{err}"
    );
}

#[test]
fn the_policy_digest_is_the_file_sha256() {
    let f = Fixture::new(&["ci", "alice", "alice2", "bob", "carol"]);
    let p = f.load(POLICY);
    let bytes = std::fs::read(f.dir.path().join("portcullis.yaml")).unwrap();
    assert_eq!(p.digest, portcullis_evidence::sha256_bytes(&bytes));
}

#[test]
fn a_served_model_is_carried_through_and_checked_with_positions() {
    let f = Fixture::new(&["ci"]);
    let yaml = "version: 1\nmodel:\n  path: m.onnx\n  serve:\n    protocol: kserve-v2\n    url: https://models.example/v2/models/adult\n    timeout: 10s\n    batch_size: 64\n    headers: {Authorization: \"Bearer ${TOKEN}\"}\n    classes: [0, approve]\nreference:\n  path: prod/\n  serve: {command: [python, serve.py]}\nstages:\n  prod: {gates: []}\n";
    let p = f.load(yaml);
    let s = p.model.as_ref().unwrap().serve.as_ref().unwrap();
    assert_eq!(s.protocol.as_deref(), Some("kserve-v2"));
    assert_eq!(s.timeout, Some(std::time::Duration::from_secs(10)));
    assert_eq!(s.batch_size, Some(64));
    assert_eq!(s.classes, ["0", "approve"]);
    assert_eq!(s.headers["Authorization"], "Bearer ${TOKEN}");
    let r = p.reference.as_ref().unwrap().serve.as_ref().unwrap();
    assert_eq!(r.command, ["python", "serve.py"]);

    // Unknown keys, a bad protocol, both url and command, a bad timeout.
    let got = problems(&f, "version: 1\nmodel:\n  path: m.onnx\n  serve: {url: http://h/, protocol: kserve-v2, tiemout: 5s}\nstages:\n  prod: {gates: []}\n");
    assert!(got[0].starts_with("4:") && got[0].contains("tiemout"), "{got:?}");
    let got = problems(&f, "version: 1\nmodel:\n  path: m.onnx\n  serve:\n    protocol: grpc\n    url: ftp://h/\n    command: [x]\n    timeout: soon\nstages:\n  prod: {gates: []}\n");
    let all = got.join("\n");
    assert!(
        all.contains("5:") && all.contains("unknown protocol 'grpc'"),
        "{all}"
    );
    assert!(all.contains("not an http:// or https:// URL"), "{all}");
    assert!(all.contains("not both"), "{all}");
    assert!(all.contains("'soon' is not a duration"), "{all}");
}

#[test]
fn a_recheck_schedule_is_inherited_and_checked_with_positions() {
    let f = Fixture::new(&["ci"]);
    let ok = f.load(
        r#"version: 1
trust: { runners: [{ name: ci, key: ci.pub }] }
stages:
  staging:
    gates: [smoke]
    recheck: { every: 24h, gates: [probes] }
  prod:
    extends: staging
  canary:
    recheck: { every: 6h, gates: [probes, smoke, probes], on_fail: revoke }
gates:
  smoke: { kind: command, argv: ["true"] }
  probes: { kind: command, argv: ["true"] }
"#,
    );
    let prod = ok.stage("prod").unwrap().recheck.clone().unwrap();
    assert_eq!(prod.every, std::time::Duration::from_secs(86400));
    assert_eq!(prod.gates, vec!["probes"]);
    assert_eq!(prod.on_fail, portcullis_policy::OnFail::Flag);
    let canary = ok.stage("canary").unwrap().recheck.clone().unwrap();
    assert_eq!(canary.gates, vec!["probes", "smoke"]);
    assert_eq!(canary.on_fail, portcullis_policy::OnFail::Revoke);

    let got = problems(
        &f,
        r#"version: 1
trust: { runners: [{ name: ci, key: ci.pub }] }
stages:
  prod:
    recheck:
      every: 10s
      gates: [nope]
      on_fail: delete
  qa:
    recheck: { every: daily, gates: [] }
gates:
  smoke: { kind: command, argv: ["true"] }
"#,
    );
    let all = got.join("\n");
    for (line, needle) in [
        ("6:", "recheck.every is 10s, under the 1m minimum"),
        ("7:", "recheck names gate 'nope'"),
        ("8:", "on_fail is 'delete'"),
        ("10:", "'daily' is not a duration"),
    ] {
        assert!(
            got.iter().any(|g| g.starts_with(line) && g.contains(needle)),
            "missing {line}{needle} in:\n{all}"
        );
    }
}
