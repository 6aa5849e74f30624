//! Continuous re-evaluation end to end, the way a platform team runs it:
//! the registry, a real OCI registry and the registry's admission webhook.
//! The quickstart model, pushed as an OCI artifact, is denied in a prod
//! namespace until its gates ran, its evidence is pushed (to the registry
//! and as OCI referrers) and it is approved; a re-check that passes keeps
//! it admitted; a re-check that fails under `on_fail: revoke` denies it
//! again; an admin's logged clear lifts that.

use portcullis_oci::testing::LocalRegistry;
use portcullis_oci::{push_model, Client, Options, Reference};
use serde_json::{json, Value};

use crate::registry::{start_with, Server};
use crate::support::{stderr, stdout, Quickstart};

/// The quickstart with a prod re-check: accuracy on freshly labelled
/// production traffic (`live/results.csv`), revoking on failure.
fn with_recheck(q: &Quickstart) {
    let gate = "\n  live-accuracy:\n    kind: command\n    argv: [sh, live.sh, live.json]\n    timeout: 1m\n    \
                report: live.json\n    metrics: { accuracy: /accuracy }\n    require: { accuracy: \">= 0.85\" }\n";
    for file in ["registry.yaml", "portcullis.yaml"] {
        let text = std::fs::read_to_string(q.path(file)).unwrap();
        let text = text.replace(
            "      max_age: 7d\n",
            "      max_age: 7d\n    recheck: { every: 24h, gates: [live-accuracy], on_fail: revoke }\n",
        );
        assert!(text.contains("recheck:"), "{file} changed shape");
        std::fs::write(q.path(file), text + gate).unwrap();
    }
    std::fs::write(
        q.path("live.sh"),
        "set -eu\nawk -F, 'NR > 1 { n++; if ($2 == $3) ok++ } END { printf \"{\\\"accuracy\\\": %.6f}\\n\", ok / n }' \
         live/results.csv > \"$1\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(q.path("live")).unwrap();
    std::fs::copy(q.path("model/holdout-results.csv"), q.path("live/results.csv")).unwrap();
}

/// Production traffic the model now gets wrong: every prediction flipped.
fn drift(q: &Quickstart) {
    let text = std::fs::read_to_string(q.path("live/results.csv")).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            out.push_str(line);
        } else {
            let mut cols: Vec<String> = line.split(',').map(str::to_string).collect();
            cols[2] = if cols[1] == "1" { "0".into() } else { "1".into() };
            out.push_str(&cols.join(","));
        }
        out.push('\n');
    }
    std::fs::write(q.path("live/results.csv"), out).unwrap();
}

fn review(uri: &str) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "0a1b2c3d-0000-4e5f-9a0b-0c1d2e3f4a5b",
                    "kind": {"group": "serving.kserve.io", "version": "v1beta1", "kind": "InferenceService"},
                    "operation": "CREATE", "namespace": "prod-serving", "name": "quickstart",
                    "object": {"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
                               "metadata": {"name": "quickstart"},
                               "spec": {"predictor": {"model": {"storageUri": uri}}}}}
    })
}

/// The registry's webhook, as the API server calls it for a prod namespace.
fn admit(s: &Server, token: &str, uri: &str) -> Value {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/admission/prod", s.1))
        .bearer_auth(token)
        .json(&review(uri))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().unwrap()["response"].clone()
}

fn stage_view(s: &Server, token: &str) -> Value {
    reqwest::blocking::Client::new()
        .get(format!("{}/v1/models/quickstart/stages/prod", s.1))
        .bearer_auth(token)
        .send()
        .unwrap()
        .json()
        .unwrap()
}

#[test]
fn a_failed_recheck_under_revoke_denies_an_admitted_oci_model_until_cleared() {
    let Some(oci) = LocalRegistry::for_test() else {
        return;
    };
    let q = Quickstart::new();
    with_recheck(&q);
    let client = Client::new(&Options::default()).unwrap();
    let tag: Reference = oci.url("models/quickstart:v1").parse().unwrap();
    let manifest = push_model(&client, &tag, &q.path("model")).unwrap();
    let uri = tag.at(manifest).to_string();
    let host = tag.to_string();
    let host = host
        .trim_start_matches("oci://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let s = start_with(&q, "registry.db", &["--oci-registry", &host]);
    let as_ = |token: &str, args: &[&str]| {
        let mut c = q.cmd(args);
        c.env("PORTCULLIS_SERVER", &s.1).env("PORTCULLIS_TOKEN", token);
        c.assert()
    };
    let token = |identity: &str, role: &str| {
        stdout(
            &as_(
                "boot-token",
                &["token", "create", "--identity", identity, "--role", role],
            )
            .success(),
        )
        .trim()
        .to_string()
    };
    let (ci, alice, deployer) = (
        token("ci", "runner"),
        token("alice", "approver"),
        token("cluster", "reader"),
    );

    // Pushed without evidence: denied in prod.
    let r = admit(&s, &deployer, &uri);
    assert_eq!(r["allowed"], false, "{r}");
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("has not been promoted to 'prod'"),
        "{r}"
    );

    // run, push (to the registry and to the OCI registry), approve: admitted.
    q.run_prod("dev").code(1);
    as_(&ci, &["push", "--name", "quickstart", "model"]).success();
    as_(&ci, &["push", &uri]).success();
    let digest = stdout(&q.cmd(&["digest", "model"]).assert().success());
    let digest = digest
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let id = stdout(&as_(&ci, &["promote", "--stage", "prod", "quickstart", &digest]).code(1))
        .trim()
        .to_string();
    as_(
        &alice,
        &["request", "approve", &id, "--comment", "holdout report reviewed"],
    )
    .success();
    let r = admit(&s, &deployer, &uri);
    assert_eq!(r["allowed"], true, "{r}");

    let agent = |name: &str| {
        as_(
            &ci,
            &[
                "agent",
                "--policy",
                "quickstart=registry.yaml",
                "--key",
                "keys/demo-ci.key",
                "--name",
                name,
                "--once",
            ],
        )
    };
    // Nothing is due yet (every: 24h): the agent finds no work.
    let a = agent("a1").success();
    assert!(stderr(&a).contains("no jobs waiting; ran 0"), "{}", stderr(&a));
    // Only an admin may enqueue out of schedule.
    as_(&ci, &["recheck", "now", "quickstart", "--stage", "prod"]).code(2);

    // A passing re-check leaves the model admitted.
    as_("boot-token", &["recheck", "now", "quickstart", "--stage", "prod"]).success();
    let a = agent("a1").success();
    assert!(stderr(&a).contains(": passed"), "{}", stderr(&a));
    assert_eq!(admit(&s, &deployer, &uri)["allowed"], true);

    // Production traffic drifts; the next re-check fails and revokes.
    drift(&q);
    as_("boot-token", &["recheck", "now", "quickstart", "--stage", "prod"]).success();
    let a = agent("a2").success();
    assert!(stderr(&a).contains(": failed"), "{}", stderr(&a));
    let r = admit(&s, &deployer, &uri);
    assert_eq!(r["allowed"], false, "{r}");
    let msg = r["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("[revoked]") && msg.contains("live-accuracy") && msg.contains("accuracy"),
        "{msg}"
    );
    let view = stage_view(&s, &deployer);
    assert_eq!(view["revoked"], true, "{view}");
    assert_eq!(view["at_risk"][0]["gate"], "live-accuracy", "{view}");
    // The deploy-time verification refuses it too.
    as_(
        &ci,
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
    let jobs: Value = serde_json::from_str(&stdout(
        &as_(&deployer, &["recheck", "jobs", "quickstart"]).success(),
    ))
    .unwrap();
    let states: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["failed", "passed"], "{jobs}");
    assert_eq!(jobs["jobs"][0]["agent"], "ci/a2", "{jobs}");

    // An admin clears it, saying why: admitted again, and the log verifies.
    as_(
        &alice,
        &[
            "recheck",
            "clear",
            "quickstart",
            "--stage",
            "prod",
            "--comment",
            "x",
        ],
    )
    .code(2);
    as_(
        "boot-token",
        &[
            "recheck",
            "clear",
            "quickstart",
            "--stage",
            "prod",
            "--comment",
            "label pipeline bug, INC-42",
        ],
    )
    .success();
    assert_eq!(admit(&s, &deployer, &uri)["allowed"], true);
    as_(&ci, &["log", "verify"]).success();
}
