//! `POST /v1/admission`: Kubernetes AdmissionReviews answered with the
//! registry's deploy-time question, over real HTTP.

use serde_json::{json, Value};

use crate::support::{start, Server};

fn review(kind: &str, object: Value) -> String {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": kind},
            "operation": "CREATE",
            "namespace": "serving",
            "name": "churn",
            "object": object
        }
    })
    .to_string()
}

fn isvc(uri: &str) -> Value {
    json!({"apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
           "metadata": {"name": "churn"},
           "spec": {"predictor": {"model": {"modelFormat": {"name": "onnx"}, "storageUri": uri}}}})
}

fn ask(s: &Server, token: &str, query: &str, body: &str) -> (u16, Value) {
    s.call("POST", &format!("/v1/admission?{query}"), Some(token), Some(body))
}

#[test]
fn a_workload_is_admitted_only_with_the_digest_its_stage_holds() {
    let s = start();
    let ci = s.token("ci", "runner");
    let (digest, bundle) = s.run_dev("dev");
    assert_eq!(s.push(&ci, &digest, &bundle).0, 200);
    let (_, r) = s.promote(&ci, "dev", &digest);
    assert_eq!(r["state"], "promoted", "{r}");
    let hex = digest.to_hex();
    let deployer = s.token("cluster", "runner");

    // The promoted digest, by an oci:// reference: allowed.
    let (st, v) = ask(
        &s,
        &deployer,
        "stage=dev",
        &review(
            "InferenceService",
            isvc(&format!("oci://r.io/churn@sha256:{hex}")),
        ),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["response"]["uid"], "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert_eq!(v["response"]["allowed"], true, "{v}");

    // Another digest: denied, saying what the stage holds.
    let other = "f".repeat(64);
    let (_, v) = ask(
        &s,
        &deployer,
        "stage=dev",
        &review(
            "InferenceService",
            isvc(&format!("oci://127.0.0.1:1/churn@sha256:{other}")),
        ),
    );
    assert_eq!(v["response"]["allowed"], false, "{v}");
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains("has not been promoted to 'dev'") && msg.contains(&other),
        "{msg}"
    );
    assert_eq!(v["response"]["status"]["code"], 403);

    // Named model, digest only in the annotation of a Deployment's pod template.
    let dep = json!({"metadata": {"name": "churn"}, "spec": {"template": {
        "metadata": {"annotations": {"portcullis.dev/model": "m", "portcullis.dev/model-digest": format!("sha256:{hex}")}},
        "spec": {"containers": [{"name": "server", "image": "acme/server:1"}]}}}});
    let (_, v) = ask(&s, &deployer, "stage=dev", &review("Deployment", dep.clone()));
    assert_eq!(v["response"]["allowed"], true, "{v}");
    // The same workload in prod, where nothing was promoted: denied.
    let (_, v) = ask(&s, &deployer, "stage=prod", &review("Deployment", dep));
    assert_eq!(v["response"]["allowed"], false, "{v}");
    assert!(
        v["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing has been promoted to 'prod'"),
        "{v}"
    );

    // No digest: denied with what to do.
    let (_, v) = ask(
        &s,
        &deployer,
        "stage=dev",
        &review("InferenceService", isvc("gs://models/churn")),
    );
    assert!(
        v["response"]["status"]["message"]
            .as_str()
            .unwrap()
            .contains("names no digest"),
        "{v}"
    );
    // A kind it cannot read: denied (fail closed).
    let (_, v) = ask(
        &s,
        &deployer,
        "stage=dev",
        &review("ConfigMap", json!({"data": {}})),
    );
    assert_eq!(v["response"]["allowed"], false, "{v}");
    // A plain pod with no model: nothing to check.
    let pod = json!({"spec": {"containers": [{"name": "web", "image": "nginx"}]}});
    let (_, v) = ask(&s, &deployer, "stage=dev", &review("Pod", pod));
    assert_eq!(v["response"]["allowed"], true, "{v}");

    // Warn mode: allowed, with the problem as a warning.
    let (_, v) = ask(
        &s,
        &deployer,
        "stage=dev&mode=warn",
        &review("InferenceService", isvc("gs://models/churn")),
    );
    assert_eq!(v["response"]["allowed"], true, "{v}");
    assert!(
        v["response"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("names no digest"),
        "{v}"
    );
    assert!(v["response"].get("status").is_none(), "{v}");

    // Without a token, or without a stage, or with a body that is not a review: errors.
    let (st, _) = s.call(
        "POST",
        "/v1/admission?stage=dev",
        None,
        Some(&review("Pod", json!({}))),
    );
    assert_eq!(st, 401);
    let (st, v) = s.call(
        "POST",
        "/v1/admission",
        Some(&deployer),
        Some(&review("Pod", json!({}))),
    );
    assert_eq!(st, 400, "{v}");
    assert!(v.to_string().contains("stage=STAGE"), "{v}");
    let (st, _) = ask(&s, &deployer, "stage=dev", r#"{"kind":"Pod"}"#);
    assert_eq!(st, 400);

    // The path form the generated webhook configuration uses (the API
    // server forbids a query in a webhook URL): same answers.
    let body = review("InferenceService", isvc("gs://models/churn"));
    let (st, v) = s.call("POST", "/v1/admission/dev", Some(&deployer), Some(&body));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["response"]["allowed"], false, "{v}");
    let (_, v) = s.call("POST", "/v1/admission/dev/warn", Some(&deployer), Some(&body));
    assert_eq!(v["response"]["allowed"], true, "{v}");
    assert!(
        v["response"]["warnings"][0]
            .as_str()
            .unwrap()
            .contains("names no digest"),
        "{v}"
    );
    let (st, v) = s.call("POST", "/v1/admission/dev/loud", Some(&deployer), Some(&body));
    assert_eq!(st, 400, "{v}");
}

/// A KServe `oci://…@sha256:` URI names the artifact's manifest, not the
/// model digest: the webhook reads the manifest from the OCI registry and
/// asks about the digest of its files.
#[test]
fn an_oci_artifact_is_judged_by_the_digest_of_its_files() {
    use portcullis_oci::testing::LocalRegistry;
    use portcullis_oci::{push_model, Client, Options, Reference};
    let Some(oci) = LocalRegistry::for_test() else {
        return;
    };
    let s = start();
    let ci = s.token("ci", "runner");
    let client = Client::new(&Options::default()).unwrap();
    let tag: Reference = oci.url("models/m:v1").parse().unwrap();
    let manifest = push_model(&client, &tag, &s.path().join("model")).unwrap();
    let uri = tag.at(manifest).to_string();
    let deployer = s.token("cluster", "runner");

    // Not promoted yet: denied, naming the model digest read from the manifest.
    let (digest, bundle) = s.run_dev("dev");
    let (_, v) = ask(
        &s,
        &deployer,
        "stage=dev",
        &review("InferenceService", isvc(&uri)),
    );
    assert_eq!(v["response"]["allowed"], false, "{v}");
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(
        msg.contains(&format!("holds the model sha256:{}", digest.to_hex())),
        "{msg}"
    );

    assert_eq!(s.push(&ci, &digest, &bundle).0, 200);
    let (_, r) = s.promote(&ci, "dev", &digest);
    assert_eq!(r["state"], "promoted", "{r}");
    let (_, v) = ask(
        &s,
        &deployer,
        "stage=dev",
        &review("InferenceService", isvc(&uri)),
    );
    assert_eq!(v["response"]["allowed"], true, "{v}");

    // Other bytes under the same repository: another model digest, denied.
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("weights.bin"), b"weights v2").unwrap();
    let tag2: Reference = oci.url("models/m:v2").parse().unwrap();
    let m2 = push_model(&client, &tag2, other.path()).unwrap();
    let (_, v) = ask(
        &s,
        &deployer,
        "stage=dev",
        &review("InferenceService", isvc(&tag2.at(m2).to_string())),
    );
    assert_eq!(v["response"]["allowed"], false, "{v}");

    // An artifact the registry does not have: denied (fail closed), saying why.
    let missing = tag.at(portcullis_evidence::Sha256Digest([3; 32])).to_string();
    let (_, v) = ask(
        &s,
        &deployer,
        "stage=dev",
        &review("InferenceService", isvc(&missing)),
    );
    assert_eq!(v["response"]["allowed"], false, "{v}");
    let msg = v["response"]["status"]["message"].as_str().unwrap();
    assert!(msg.contains("could not be read") && msg.contains("404"), "{msg}");
}
