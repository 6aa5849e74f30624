//! Bad input: clear errors, exit 2, never a panic or an "allowed".

use crate::support::{repo_root, stderr, stdout, Quickstart};

#[test]
fn a_missing_policy_is_exit_2_and_says_what_to_do() {
    let q = Quickstart::new();
    let a = q
        .cmd(&["decide", "--policy", "nope.yaml", "--stage", "prod", "model"])
        .assert()
        .code(2);
    let e = stderr(&a);
    assert!(e.contains("nope.yaml") && e.contains("portcullis init"), "{e}");
}

#[test]
fn a_malformed_policy_lists_every_problem_with_positions() {
    let q = Quickstart::new();
    std::fs::write(
        q.path("bad.yaml"),
        "version: 1\nstages:\n  prod: { gates: [missing] }\n  qa: { gates: [g] }\ngates:\n  g: { kind: command, argv: [\"true\"], colour: red }\n",
    )
    .unwrap();
    let a = q
        .cmd(&["decide", "--policy", "bad.yaml", "--stage", "prod", "model"])
        .assert()
        .code(2);
    let e = stderr(&a);
    assert!(e.contains("bad.yaml:3:") && e.contains("gate 'missing'"), "{e}");
    // Gate spec problems are checked against the gate registry, with positions.
    std::fs::write(
        q.path("bad2.yaml"),
        "version: 1\nstages:\n  qa: { gates: [g] }\ngates:\n  g: { kind: command, argv: [\"true\"], colour: red }\n  h: { kind: telepathy }\n",
    )
    .unwrap();
    let a = q
        .cmd(&["decide", "--policy", "bad2.yaml", "--stage", "qa", "model"])
        .assert()
        .code(2);
    let e = stderr(&a);
    assert!(
        e.contains("bad2.yaml:5:") && e.contains("unknown field `colour`"),
        "{e}"
    );
    assert!(
        e.contains("bad2.yaml:6:") && e.contains("unknown gate kind"),
        "{e}"
    );
}

#[test]
fn unknown_stage_gate_or_unreadable_model_is_exit_2() {
    let q = Quickstart::new();
    let key = ["--key", "keys/demo-ci.key"];
    let a = q
        .cmd(
            &[
                &["run", "--policy", "portcullis.yaml", "--stage", "production"][..],
                &key,
            ]
            .concat(),
        )
        .assert()
        .code(2);
    assert!(
        stderr(&a).contains("stage 'production' is not in"),
        "{}",
        stderr(&a)
    );
    let a = q
        .cmd(
            &[
                &[
                    "run",
                    "--policy",
                    "portcullis.yaml",
                    "--stage",
                    "prod",
                    "--gate",
                    "fairness",
                ][..],
                &key,
            ]
            .concat(),
        )
        .assert()
        .code(2);
    assert!(
        stderr(&a).contains("gate 'fairness' is not required by stage 'prod'"),
        "{}",
        stderr(&a)
    );
    let a = q
        .cmd(
            &[
                &[
                    "run",
                    "--policy",
                    "portcullis.yaml",
                    "--stage",
                    "prod",
                    "--model",
                    "nowhere",
                ][..],
                &key,
            ]
            .concat(),
        )
        .assert()
        .code(2);
    assert!(stderr(&a).contains("nowhere"), "{}", stderr(&a));
    let a = q
        .cmd(&["run", "--policy", "portcullis.yaml", "--stage", "prod"])
        .assert()
        .code(2);
    assert!(stderr(&a).contains("needs a signing key"), "{}", stderr(&a));
}

#[test]
fn verify_refuses_a_policy_that_does_not_match_its_pin() {
    let q = Quickstart::new();
    q.run_prod("dev").code(1);
    let a = q
        .cmd(&[
            "verify",
            "--stage",
            "prod",
            "--policy",
            "portcullis.yaml",
            "--policy-sha256",
            &"0".repeat(64),
            "--evidence",
            ".portcullis/evidence",
            "model",
        ])
        .assert()
        .code(2);
    assert!(stderr(&a).contains("not the pinned"), "{}", stderr(&a));
    let bytes = std::fs::read(q.path("portcullis.yaml")).unwrap();
    let pin = portcullis_evidence::sha256_bytes(&bytes).to_hex();
    q.approve("alice").success();
    q.cmd(&[
        "verify",
        "--stage",
        "prod",
        "--policy",
        "portcullis.yaml",
        "--policy-sha256",
        &pin,
        "--evidence",
        ".portcullis/evidence",
        "--attest",
        "vsa.json",
        "model",
    ])
    .assert()
    .code(0);
    let vsa: serde_json::Value = serde_json::from_slice(&std::fs::read(q.path("vsa.json")).unwrap()).unwrap();
    assert_eq!(vsa["predicateType"], "https://slsa.dev/verification_summary/v1");
    assert_eq!(vsa["predicate"]["verificationResult"], "PASSED");
}

#[test]
fn digest_matches_model_signing_on_every_committed_golden_fixture() {
    let fixtures = repo_root().join("crates/evidence/tests/fixtures/digest");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("expected.json")).unwrap()).unwrap();
    let q = Quickstart::new();
    let mut checked = 0;
    for case in expected["cases"].as_array().unwrap() {
        let plain = case["build"].is_null()
            && case["ignore"].as_array().is_some_and(Vec::is_empty)
            && case["allow_symlinks"] == false;
        if !plain {
            continue;
        }
        let path = fixtures.join(case["model"].as_str().unwrap());
        let mut args = vec!["digest".to_string(), path.display().to_string()];
        if case["serialization"] == "shards" {
            args.extend(["--serialization".into(), "shards".into()]);
            if let Some(n) = case["shard_size"].as_u64() {
                args.extend(["--shard-size".into(), n.to_string()]);
            }
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let a = q.cmd(&args).assert().success();
        assert_eq!(
            stdout(&a).trim(),
            case["digest"].as_str().unwrap(),
            "case {}",
            case["id"]
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} plain cases");
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_can_read() {
    let q = Quickstart::new();
    q.cmd(&["keygen", "--out", "k/new"]).assert().success();
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(q.path("k/new.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(std::fs::read_to_string(q.path("k/new.pub"))
        .unwrap()
        .contains("BEGIN PUBLIC KEY"));
    q.cmd(&["keygen", "--out", "k/new"]).assert().code(2);
}

#[test]
fn init_writes_a_policy_that_loads_once_its_keys_exist() {
    let q = Quickstart::new();
    std::fs::create_dir(q.path("fresh")).unwrap();
    let dir = q.path("fresh");
    let run = |args: &[&str]| {
        let mut c = q.cmd(args);
        c.current_dir(&dir);
        c.assert()
    };
    run(&["init"]).success();
    run(&["init"]).code(2);
    run(&["keygen", "--out", "keys/ci"]).success();
    run(&["keygen", "--out", "keys/alice"]).success();
    let a = run(&["decide", "--stage", "prod", "--digest", &"ab".repeat(32)]).code(1);
    assert!(stdout(&a).contains("gate-missing"), "{}", stdout(&a));
    let schema: serde_json::Value =
        serde_json::from_slice(&run(&["schema"]).success().get_output().stdout).unwrap();
    assert_eq!(schema["properties"]["version"]["const"], 1);
}

#[test]
fn eval_runs_one_gate_and_maps_verdicts_to_exit_codes() {
    let q = Quickstart::new();
    let a = q
        .cmd(&[
            "eval",
            "command",
            "--set",
            "argv=[sh, -c, 'exit 3']",
            "--format",
            "json",
        ])
        .assert()
        .code(1);
    let g: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(g["verdict"], "fail");
    assert_eq!(g["metrics"]["exit_code"], 3.0);
    q.cmd(&["eval", "command", "--set", "argv=[\"true\"]"])
        .assert()
        .code(0);
    q.cmd(&["eval", "command", "--set", "argv=[no-such-program-xyz]"])
        .assert()
        .code(2);
    let a = q.cmd(&["eval", "telepathy"]).assert().code(2);
    assert!(stderr(&a).contains("unknown gate kind"), "{}", stderr(&a));
}

#[test]
fn a_signed_data_manifest_feeds_the_provenance_gate() {
    let q = Quickstart::new();
    std::fs::create_dir(q.path("data")).unwrap();
    std::fs::write(q.path("data/train.csv"), "x,y\n1,0\n").unwrap();
    q.cmd(&["manifest", "data", "--key", "keys/demo-alice.key"])
        .assert()
        .success();
    let eval = [
        "eval",
        "provenance",
        "--model",
        "model",
        "--set",
        "data_manifest=data/data.manifest.intoto.json",
        "--set",
        "keys=keys/demo-alice.pub",
    ];
    q.cmd(&eval).assert().code(0);
    std::fs::write(q.path("data/train.csv"), "x,y\n1,1\n").unwrap();
    let a = q.cmd(&eval).assert().code(1);
    assert!(stdout(&a).contains("dataset train.csv changed"), "{}", stdout(&a));
}
