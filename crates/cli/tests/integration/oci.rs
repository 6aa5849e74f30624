//! Evidence in an OCI registry, as a deployer uses it: the quickstart model
//! pushed as an OCI artifact to a real registry on 127.0.0.1, its evidence
//! attached with `push oci://…`, and `verify --evidence oci://…` deciding
//! from what is attached, with no files and no evidence directory.

use portcullis_oci::testing::LocalRegistry;
use portcullis_oci::{push_model, Client, Options, Reference};

use crate::support::{stderr, stdout, Quickstart};

fn verify_oci(q: &Quickstart, stage: &str, target: &str, extra: &[&str]) -> assert_cmd::assert::Assert {
    let mut args = vec![
        "verify",
        "--stage",
        stage,
        "--policy",
        "portcullis.yaml",
        "--evidence",
        target,
    ];
    args.extend_from_slice(extra);
    q.cmd(&args).assert()
}

#[test]
fn an_oci_model_is_allowed_only_with_its_attached_evidence() {
    let Some(reg) = LocalRegistry::for_test() else {
        return;
    };
    let q = Quickstart::new();
    let client = Client::new(&Options::default()).unwrap();
    let tag: Reference = reg.url("models/quickstart:v1").parse().unwrap();
    let manifest = push_model(&client, &tag, &q.path("model")).unwrap();
    let target = tag.at(manifest).to_string();

    // Nothing attached yet: denied, naming the missing gate.
    let a = verify_oci(&q, "staging", &target, &[]).code(1);
    assert!(stdout(&a).contains("gate-missing"), "{}", stdout(&a));

    // Nothing to push before `run`: a usage error saying what to do.
    let a = q.cmd(&["push", &target]).assert().code(2);
    assert!(stderr(&a).contains("run `portcullis run`"), "{}", stderr(&a));

    q.run_prod("dev").code(1);
    let a = q.cmd(&["push", &target]).assert().success();
    let digest = q.cmd(&["digest", "model"]).assert().success();
    let files_digest = stdout(&digest);
    assert!(
        files_digest.contains(stdout(&a).trim().trim_start_matches("sha256:")),
        "push reports the model's files digest: {} vs {files_digest}",
        stdout(&a)
    );
    assert!(stderr(&a).contains("referrers tag sha256-"), "{}", stderr(&a));

    // staging needs only the gate: allowed from the registry alone.
    verify_oci(&q, "staging", &target, &[]).code(0);
    // by tag too (resolved to its digest)
    verify_oci(&q, "staging", &tag.to_string(), &[]).code(0);
    // prod also needs alice's approval.
    let a = verify_oci(&q, "prod", &target, &[]).code(1);
    assert!(stdout(&a).contains("approvals-missing"), "{}", stdout(&a));
    q.approve("alice").success();
    verify_oci(&q, "prod", &target, &[]).code(1);
    let a = q.cmd(&["push", &target]).assert().success();
    assert!(
        stderr(&a).contains("held   application/vnd.portcullis.gate-result.v1+json"),
        "{}",
        stderr(&a)
    );
    assert!(
        stderr(&a).contains("pushed application/vnd.portcullis.approval.v1+json"),
        "{}",
        stderr(&a)
    );
    let a = verify_oci(&q, "prod", &target, &["--format", "json"]).code(0);
    let report: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(report["decision"]["allowed"], true, "{report}");

    // With the files at hand they are checked against the artifact.
    verify_oci(&q, "prod", &target, &["model"]).code(0);
    std::fs::write(q.path("model/config.json"), b"{\"changed\": true}").unwrap();
    let a = verify_oci(&q, "prod", &target, &["model"]).code(2);
    assert!(stderr(&a).contains("are not the artifact"), "{}", stderr(&a));

    // A signed verification summary can travel with the evidence.
    let a = verify_oci(
        &q,
        "prod",
        &target,
        &["--attest", "vsa.json", "--key", "keys/demo-ci.key"],
    )
    .code(0);
    drop(a);
    let a = q
        .cmd(&["push", "--attach", "vsa.json", &target])
        .assert()
        .success();
    assert!(
        stderr(&a).contains("pushed application/vnd.portcullis.verification-summary.v1+json"),
        "{}",
        stderr(&a)
    );
}

#[test]
fn another_models_evidence_does_not_count() {
    let Some(reg) = LocalRegistry::for_test() else {
        return;
    };
    let q = Quickstart::new();
    let client = Client::new(&Options::default()).unwrap();
    let good: Reference = reg.url("models/good:v1").parse().unwrap();
    let good_m = push_model(&client, &good, &q.path("model")).unwrap();
    q.run_prod("dev").code(1);
    q.approve("alice").success();
    q.cmd(&["push", &good.at(good_m).to_string()]).assert().success();

    // Another model, pushed as its own artifact: the good model's evidence
    // is not its evidence, so there is nothing to push and prod is denied.
    std::fs::write(q.path("model/config.json"), b"{\"poisoned\": true}").unwrap();
    let bad: Reference = reg.url("models/bad:v1").parse().unwrap();
    let bad_m = push_model(&client, &bad, &q.path("model")).unwrap();
    let a = q.cmd(&["push", &bad.at(bad_m).to_string()]).assert().code(2);
    assert!(stderr(&a).contains("no evidence for sha256:"), "{}", stderr(&a));
    let a = verify_oci(&q, "prod", &bad.at(bad_m).to_string(), &[]).code(1);
    assert!(stdout(&a).contains("gate-missing"), "{}", stdout(&a));
}

#[test]
fn bad_oci_references_are_usage_errors() {
    let q = Quickstart::new();
    let a = verify_oci(&q, "prod", "oci://127.0.0.1:1/Models/x", &[]).code(2);
    assert!(stderr(&a).contains("lowercase"), "{}", stderr(&a));
    let a = verify_oci(&q, "prod", "oci://127.0.0.1:1/models/x", &[]).code(2);
    assert!(stderr(&a).contains("name the model's tag"), "{}", stderr(&a));
    let a = q.cmd(&["push", "oci://127.0.0.1:1/models/x:v1"]).assert().code(2);
    assert!(
        stderr(&a).contains("http://127.0.0.1:1/v2/models/x/manifests/v1"),
        "{}",
        stderr(&a)
    );
    let a = q
        .cmd(&[
            "verify",
            "--stage",
            "prod",
            "--policy",
            "portcullis.yaml",
            "--evidence",
            ".portcullis/evidence",
        ])
        .assert()
        .code(2);
    assert!(stderr(&a).contains("no model given"), "{}", stderr(&a));
}

/// The offline webhook, as a cluster's API server calls it.
struct Webhook(std::process::Child, String);

impl Drop for Webhook {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tls_fixtures() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/tests/fixtures/tls")
}

fn start_webhook(q: &Quickstart) -> Webhook {
    use std::io::BufRead as _;
    let (cert, key) = (
        tls_fixtures().join("server.pem"),
        tls_fixtures().join("server.key"),
    );
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("portcullis"))
        .current_dir(q.dir.path())
        .args([
            "admission",
            "serve",
            "--policy",
            "portcullis.yaml",
            "--listen",
            "127.0.0.1:0",
            "--tls-cert",
        ])
        .arg(cert)
        .arg("--tls-key")
        .arg(key)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first.trim().strip_prefix("listening on ").unwrap().to_string();
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    Webhook(child, url)
}

fn admission_review(kind: &str, object: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "b6f4c3d2-1111-4e5f-9a0b-0c1d2e3f4a5b",
                    "kind": {"group": "serving.kserve.io", "version": "v1beta1", "kind": kind},
                    "operation": "CREATE", "namespace": "prod-serving", "name": "quickstart", "object": object}
    })
}

fn ask(hook: &Webhook, review: &serde_json::Value) -> serde_json::Value {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(tls_fixtures().join("ca.pem")).unwrap()).unwrap();
    let http = reqwest::blocking::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let r = http
        .post(format!("{}/v1/admission/prod", hook.1))
        .json(review)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().unwrap()
}

/// `admission review FILE` offline, as a dry run.
fn dry_run(q: &Quickstart, file: &str) -> assert_cmd::assert::Assert {
    q.cmd(&[
        "admission",
        "review",
        "--stage",
        "prod",
        "--policy",
        "portcullis.yaml",
        file,
    ])
    .assert()
}

/// The offline webhook over real TLS: the quickstart model pushed as an
/// OCI artifact is denied in prod until its evidence and an approval are
/// attached to it; `admission review FILE` gives the same answers.
#[test]
fn the_offline_webhook_admits_an_oci_model_only_with_its_evidence() {
    let Some(reg) = LocalRegistry::for_test() else {
        return;
    };
    let q = Quickstart::new();
    let client = Client::new(&Options::default()).unwrap();
    let tag: Reference = reg.url("models/quickstart:v1").parse().unwrap();
    let manifest = push_model(&client, &tag, &q.path("model")).unwrap();
    let uri = tag.at(manifest).to_string();
    let isvc = admission_review(
        "InferenceService",
        serde_json::json!({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": "quickstart"},
            "spec": {"predictor": {"model": {"modelFormat": {"name": "safetensors"}, "storageUri": uri}}}}),
    );
    std::fs::write(q.path("review.json"), isvc.to_string()).unwrap();
    let hook = start_webhook(&q);

    let v = ask(&hook, &isvc);
    assert_eq!(v["response"]["allowed"], false, "{v}");
    assert_eq!(v["response"]["uid"], "b6f4c3d2-1111-4e5f-9a0b-0c1d2e3f4a5b");
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("[gate-missing]") && msg.contains("spec.predictor.model.storageUri"),
        "{msg}"
    );

    q.run_prod("dev").code(1);
    q.cmd(&["push", &uri]).assert().success();
    let v = ask(&hook, &isvc);
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("[approvals-missing]") && !msg.contains("gate-missing"),
        "{msg}"
    );
    let dry = dry_run(&q, "review.json").code(1);
    assert!(stderr(&dry).contains("approvals-missing"), "{}", stderr(&dry));

    q.approve("alice").success();
    q.cmd(&["push", &uri]).assert().success();
    let v = ask(&hook, &isvc);
    assert_eq!(v["response"]["allowed"], true, "{v}");
    let dry = dry_run(&q, "review.json").code(0);
    let answer: serde_json::Value = serde_json::from_str(&stdout(&dry)).unwrap();
    assert_eq!(answer["response"]["allowed"], true, "{answer}");

    // A Deployment whose container is told the model URI in its env: allowed too.
    let dep = admission_review(
        "Deployment",
        serde_json::json!({"metadata": {"name": "qs"}, "spec": {"template": {"spec": {"containers": [
            {"name": "server", "image": "acme/server:1", "env": [{"name": "MODEL_URI", "value": uri}]}]}}}}),
    );
    assert_eq!(ask(&hook, &dep)["response"]["allowed"], true);

    // Without a digest in the reference, offline admission cannot check it: denied.
    let by_tag = admission_review(
        "InferenceService",
        serde_json::json!({"spec": {"predictor": {"model": {"storageUri": tag.to_string()}}}}),
    );
    let v = ask(&hook, &by_tag);
    assert_eq!(v["response"]["allowed"], false, "{v}");
    assert!(v.to_string().contains("names no digest"), "{v}");

    // Malformed input to the dry run: a usage error naming the position.
    std::fs::write(q.path("bad.json"), "{\"apiVersion\": ").unwrap();
    let a = dry_run(&q, "bad.json").code(2);
    assert!(stderr(&a).contains("bad.json:1:"), "{}", stderr(&a));
}

/// With --oci-registry, the webhook reads only those registries: a
/// workload naming another is denied without a connection.
#[test]
fn the_webhook_reads_only_the_allowed_oci_registries() {
    let q = Quickstart::new();
    let review = admission_review(
        "InferenceService",
        serde_json::json!({"spec": {"predictor": {"model": {"storageUri":
            format!("oci://127.0.0.2:1/models/x@sha256:{}", "a".repeat(64))}}}}),
    );
    std::fs::write(q.path("review.json"), review.to_string()).unwrap();
    let a = q
        .cmd(&[
            "admission",
            "review",
            "--stage",
            "prod",
            "--policy",
            "portcullis.yaml",
        ])
        .args([
            "--oci-registry",
            "registry.internal,127.0.0.1:5000",
            "review.json",
        ])
        .assert()
        .code(1);
    let msg = stderr(&a);
    assert!(
        msg.contains("127.0.0.2:1 is not an OCI registry this webhook reads (allowed: registry.internal, 127.0.0.1:5000)"),
        "{msg}"
    );
    // Without the list it tries the registry, and fails closed on the refused connection.
    let a = dry_run(&q, "review.json").code(1);
    assert!(
        stderr(&a).contains("http://127.0.0.2:1/v2/models/x/manifests/"),
        "{}",
        stderr(&a)
    );
}
