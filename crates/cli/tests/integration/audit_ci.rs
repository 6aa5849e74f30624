//! `portcullis audit-ci` end to end: the real binary on fixture pipelines.
#![allow(clippy::unwrap_used, reason = "test helpers panic on a missing binary")]

use std::path::PathBuf;

use assert_cmd::Command;

use crate::sarif_schema::valid_sarif_stdout;

fn fixture(rule: &str, case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../ci/tests/fixtures")
        .join(rule)
        .join(case)
}

fn portcullis() -> Command {
    let mut cmd = Command::cargo_bin("portcullis").unwrap();
    cmd.env("NO_COLOR", "1").env("PORTCULLIS_NO_PROGRESS", "1");
    cmd
}

#[test]
fn audit_ci_exits_1_on_a_deploy_without_gate_and_prints_json_findings() {
    let out = portcullis()
        .args(["audit-ci", "--format", "json"])
        .arg(fixture("deploy-without-gate", "gh-azureml-no-gate"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["rule"], "deploy-without-gate");
    assert_eq!(f["location"]["line"], 23);
}

#[test]
fn audit_ci_exits_0_on_a_gated_pipeline_and_respects_fail_on() {
    portcullis()
        .arg("audit-ci")
        .arg(fixture("deploy-without-gate", "gh-gated"))
        .assert()
        .code(0);
    // A medium finding passes the default bar (high) but fails a medium bar.
    let case = fixture("gate-unpinned", "gh-action-branch");
    portcullis().arg("audit-ci").arg(&case).assert().code(0);
    portcullis()
        .args(["audit-ci", "--fail-on", "medium"])
        .arg(&case)
        .assert()
        .code(1);
}

#[test]
fn audit_ci_exits_2_on_unparseable_pipelines_and_bad_config() {
    let dir = std::env::temp_dir().join(format!("portcullis-cli-audit-{}", std::process::id()));
    std::fs::create_dir_all(dir.join(".github/workflows")).unwrap();
    std::fs::write(dir.join(".github/workflows/x.yml"), "jobs: [\n").unwrap();
    let out = portcullis().arg("audit-ci").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid yaml"));
    std::fs::write(dir.join("cfg.yml"), "ignore:\n  - rule: nope\n").unwrap();
    let out = portcullis()
        .args(["audit-ci", "--config"])
        .arg(dir.join("cfg.yml"))
        .arg(fixture("deploy-without-gate", "gh-gated"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn human_output_shows_source_lines_with_carets() {
    let root = crate::support::repo_root().join("crates/ci/tests/fixtures");
    let out = portcullis()
        .arg("audit-ci")
        .arg(root.join("deploy-runs-on-gate-failure/gh-always"))
        .arg(root.join("gate-result-swallowed/gitlab-set-e"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout)
        .unwrap()
        .replace(&format!("{}/", root.display()), "[fixtures]/");
    insta::assert_snapshot!(text);
}

fn sarif_of(paths: &[PathBuf]) -> serde_json::Value {
    let out = portcullis()
        .args(["audit-ci", "--format", "sarif"])
        .args(paths)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    valid_sarif_stdout(&out.stdout, &format!("audit-ci {paths:?}"))
}

fn fixtures_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ci/tests/fixtures")
}

#[test]
fn audit_ci_sarif_passes_the_schema_for_fixtures_with_findings_and_related_locations() {
    for (rule, case) in [
        ("fake-gate", "gh-echo-eval"),
        ("gate-not-on-deploy-path", "gh-sibling"),
        ("deploy-runs-on-gate-failure", "gh-always"),
        ("gate-result-swallowed", "gitlab-set-e"),
        ("approval-without-submitter", "jenkins-no-submitter"),
        ("deploy-without-gate", "gh-gated"),
    ] {
        sarif_of(&[fixture(rule, case)]);
    }
    // Every tuning and held-out case at once: all systems, all rules.
    let log = sarif_of(&[fixtures_root()]);
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert!(results.len() > 50, "{}", results.len());
    assert!(results
        .iter()
        .any(|r| r["relatedLocations"][0]["message"]["text"] == "gate"));
}

#[test]
fn audit_ci_sarif_lists_every_rule_with_help_uris_and_stable_fingerprints() {
    let log = sarif_of(&[
        fixture("fake-gate", "gh-echo-eval"),
        fixture("gate-unpinned", "gh-action-branch"),
    ]);
    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "portcullis");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let registry: Vec<&str> = portcullis_ci::rules().iter().map(|r| r.id).collect();
    assert_eq!(ids, registry);
    for r in rules {
        let uri = r["helpUri"].as_str().unwrap();
        assert!(
            uri.ends_with(&format!("audit-ci.md#{}", r["id"].as_str().unwrap())),
            "{uri}"
        );
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results[0]["ruleId"], "fake-gate");
    for r in results {
        let idx = usize::try_from(r["ruleIndex"].as_u64().unwrap()).unwrap();
        assert_eq!(rules[idx]["id"], r["ruleId"]);
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1);
    }
    // The same findings two lines lower keep their fingerprints.
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    let src = std::fs::read_to_string(fixture("fake-gate", "gh-echo-eval").join(".github/workflows/d.yml"))
        .unwrap();
    let prints = |text: &str| -> Vec<serde_json::Value> {
        std::fs::write(wf.join("d.yml"), text).unwrap();
        let log = sarif_of(&[dir.path().to_path_buf()]);
        log["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["partialFingerprints"].clone())
            .collect()
    };
    let before = prints(&src);
    assert!(!before.is_empty());
    assert_eq!(before, prints(&format!("# a comment\n# another\n{src}")));
}

/// Run from the fixtures folder with a relative path, as in CI: the URIs
/// and the fingerprints (which hash the path as given) do not depend on
/// where the repository is checked out.
#[test]
fn audit_ci_sarif_results_snapshot() {
    let out = portcullis()
        .current_dir(fixtures_root())
        .args([
            "audit-ci",
            "--format",
            "sarif",
            "gate-not-on-deploy-path/gh-sibling",
        ])
        .output()
        .unwrap();
    let log = valid_sarif_stdout(&out.stdout, "audit-ci gh-sibling");
    insta::assert_snapshot!(serde_json::to_string_pretty(&log["runs"][0]["results"]).unwrap());
}

#[test]
fn audit_ci_writes_the_report_to_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("audit.sarif");
    portcullis()
        .args(["audit-ci", "--format", "sarif", "--output"])
        .arg(&out)
        .arg(fixture("fake-gate", "gh-echo-eval"))
        .assert()
        .code(1)
        .stdout("");
    valid_sarif_stdout(&std::fs::read(&out).unwrap(), "audit-ci --output");
}

#[test]
fn resolve_reads_another_repositorys_workflow_and_rejects_a_bad_mapping() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ci/tests/resolve");
    let run = |extra: &[&str]| {
        portcullis()
            .args(["audit-ci", "--format", "json"])
            .arg(root.join("caller"))
            .args(extra)
            .output()
            .unwrap()
    };
    let rules = |out: &std::process::Output| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect()
    };
    let before = run(&[]);
    assert!(rules(&before).contains(&"pipeline-not-analysable".to_string()));
    let templates = root.join("ml-templates");
    let mapping = format!("acme/ml-templates={}", templates.display());
    let after = run(&["--resolve", &mapping]);
    assert_eq!(after.status.code(), Some(1));
    let r = rules(&after);
    assert!(!r.contains(&"pipeline-not-analysable".to_string()), "{r:?}");
    assert_eq!(
        r.iter().filter(|x| *x == "deploy-without-gate").count(),
        2,
        "{r:?}"
    );
    let bad = run(&["--resolve", "acme/ml-templates"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected ORG/REPO=PATH"));
}

#[test]
fn admission_manifests_print_one_webhook_per_stage_with_the_ca_and_fail_on_bad_input() {
    let ca = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../server/tests/fixtures/tls/ca.pem");
    let out = portcullis()
        .args([
            "admission",
            "manifests",
            "--stage",
            "prod",
            "--stage",
            "staging",
            "--mode",
            "warn",
        ])
        .args(["--url", "https://registry.internal:8443/", "--ca-cert"])
        .arg(&ca)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let docs = portcullis_ci::yaml::parse(&text, portcullis_ci::yaml::Limits::default()).unwrap();
    let doc = &docs[0];
    assert_eq!(doc.get_str("kind"), Some("ValidatingWebhookConfiguration"));
    let hooks = doc.get("webhooks").unwrap().as_seq().unwrap();
    assert_eq!(hooks.len(), 2);
    let prod = &hooks[0];
    assert_eq!(prod.get_str("failurePolicy"), Some("Fail"));
    assert_eq!(
        prod.get("namespaceSelector")
            .unwrap()
            .get("matchLabels")
            .unwrap()
            .get_str("portcullis.dev/stage"),
        Some("prod")
    );
    let client = prod.get("clientConfig").unwrap();
    assert_eq!(
        client.get_str("url"),
        Some("https://registry.internal:8443/v1/admission/prod/warn")
    );
    use base64::Engine as _;
    let bundle = base64::engine::general_purpose::STANDARD
        .decode(client.get_str("caBundle").unwrap())
        .unwrap();
    assert_eq!(bundle, std::fs::read(&ca).unwrap());
    let bad = portcullis()
        .args([
            "admission",
            "manifests",
            "--stage",
            "prod",
            "--url",
            "http://x:80",
            "--ca-cert",
        ])
        .arg(&ca)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("HTTPS only"));
}

/// Every document `admission manifests` prints, with the registry server
/// or with the offline webhook's Deployment and Service, and the re-check
/// agents' Deployment or CronJob, validates against
/// the Kubernetes 1.37 schemas of its kind (tests/fixtures/k8s/generate.py).
#[test]
fn admission_manifests_validate_against_the_kubernetes_schemas() {
    let ca = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../server/tests/fixtures/tls/ca.pem");
    let schemas_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/k8s/schemas-1.37.json");
    let bundle: serde_json::Value = serde_json::from_slice(&std::fs::read(&schemas_path).unwrap()).unwrap();
    let mut compiler = boon::Compiler::new();
    let url = "https://kubernetes.io/portcullis-test/schemas-1.37.json";
    compiler.add_resource(url, bundle).unwrap();
    let mut schemas = boon::Schemas::new();
    let mut validate = |doc: &serde_json::Value| {
        let kind = doc["kind"].as_str().unwrap().to_string();
        let id = compiler
            .compile(&format!("{url}#/kinds/{kind}"), &mut schemas)
            .unwrap();
        if let Err(e) = schemas.validate(doc, id) {
            panic!("{kind} does not validate: {e:#}");
        }
        kind
    };
    for extra in [
        vec!["--url", "https://registry.internal:8443"],
        vec![
            "--serve",
            "ghcr.io/acme/portcullis:1.4",
            "--namespace",
            "gatekeeping",
            "--policy-sha256",
            &"a".repeat(64),
        ],
    ] {
        let out = portcullis()
            .args([
                "admission",
                "manifests",
                "--stage",
                "prod",
                "--stage",
                "staging",
                "--ca-cert",
            ])
            .arg(&ca)
            .args(&extra)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text).unwrap();
        let kinds: Vec<String> = docs.iter().map(&mut validate).collect();
        if extra[0] == "--serve" {
            assert_eq!(kinds, ["Deployment", "Service", "ValidatingWebhookConfiguration"]);
            let svc = &docs[2]["webhooks"][0]["clientConfig"]["service"];
            assert_eq!(svc["namespace"], "gatekeeping");
            assert_eq!(svc["name"], docs[1]["metadata"]["name"]);
            assert_eq!(svc["path"], "/v1/admission/prod");
            let args = docs[0]["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
            assert!(
                args.contains("--policy-sha256") && args.contains("\"serve\""),
                "{args}"
            );
        } else {
            assert_eq!(kinds, ["ValidatingWebhookConfiguration"]);
        }
    }
    // The re-check agents: a Deployment, or a CronJob running `--once`.
    for schedule in [None, Some("*/30 * * * *")] {
        let mut cmd = portcullis();
        cmd.args([
            "agent",
            "manifests",
            "--server",
            "https://registry.internal:8443",
            "--image",
            "ghcr.io/acme/models-checkout:7",
            "--policy",
            "fraud=/work/portcullis.yaml",
            "--policy",
            "churn=/work/churn/portcullis.yaml",
        ]);
        if let Some(s) = schedule {
            cmd.args(["--schedule", s]);
        }
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let docs: Vec<serde_json::Value> =
            serde_saphyr::from_multiple(&String::from_utf8(out.stdout).unwrap()).unwrap();
        let kinds: Vec<String> = docs.iter().map(&mut validate).collect();
        let container = if schedule.is_some() {
            assert_eq!(kinds, ["CronJob"]);
            assert_eq!(docs[0]["spec"]["schedule"], "*/30 * * * *");
            &docs[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        } else {
            assert_eq!(kinds, ["Deployment"]);
            &docs[0]["spec"]["template"]["spec"]["containers"][0]
        };
        let args = container["args"].to_string();
        assert!(args.contains("\"churn=/work/churn/portcullis.yaml\""), "{args}");
        assert_eq!(args.contains("\"--once\""), schedule.is_some(), "{args}");
        assert_eq!(container["env"][0]["name"], "PORTCULLIS_TOKEN");
    }
    // A schema that can fail: a webhook without its required sideEffects.
    let mut broken: serde_json::Value = serde_json::json!({"apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration", "metadata": {"name": "x"},
        "webhooks": [{"name": "a.b.c", "admissionReviewVersions": ["v1"], "clientConfig": {"url": "https://x"}}]});
    let id = compiler
        .compile(
            &format!("{url}#/kinds/ValidatingWebhookConfiguration"),
            &mut schemas,
        )
        .unwrap();
    assert!(schemas.validate(&broken, id).is_err());
    broken["webhooks"][0]["sideEffects"] = "None".into();
    assert!(schemas.validate(&broken, id).is_ok());
}
