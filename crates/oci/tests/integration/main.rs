//! Evidence in a real OCI registry: Debian's `docker-registry` (CNCF
//! distribution 2.8, no referrers API) on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test helpers")]

use std::path::{Path, PathBuf};

use portcullis_engine::EvidenceStore;
use portcullis_evidence::predicate::{APPROVAL_V1, GATE_RESULT_V1};
use portcullis_evidence::{
    sha256_bytes, DigestOptions, Envelope, Sha256Digest, SigningKey, Statement, Subject,
};
use portcullis_oci::testing::LocalRegistry;
use portcullis_oci::wire::{Descriptor, ImageManifest, Index, INDEX_V1, MANIFEST_V1};
use portcullis_oci::{
    fallback_tag, fetch_evidence, push_evidence, push_model, resolve, Client, OciStore, Options, Reference,
};

fn quickstart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart/model")
}

fn client() -> Client {
    Client::new(&Options::default()).unwrap()
}

fn envelope(key: &SigningKey, digest: &Sha256Digest, predicate: &str, n: u64) -> Envelope {
    let s = Statement::new(
        Subject::sha256("model", digest),
        predicate,
        serde_json::json!({ "n": n }),
    );
    Envelope::sign(&s, key).unwrap()
}

/// The model pushed one file a layer resolves to the digest of its files
/// on disk, fetched by tag or by digest.
#[test]
fn a_model_artifact_has_the_digest_of_its_files() {
    let Some(reg) = LocalRegistry::for_test() else {
        return;
    };
    let c = client();
    let to: Reference = reg.url("models/quickstart:v1").parse().unwrap();
    let manifest = push_model(&c, &to, &quickstart()).unwrap();
    let on_disk = portcullis_evidence::digest_model(&quickstart(), &DigestOptions::default(), None).unwrap();

    let (fetched, by_tag) = resolve(&c, &to).unwrap();
    assert_eq!(fetched.digest, manifest);
    assert_eq!(
        by_tag.digest, on_disk.digest,
        "the OCI artifact's model digest is its files' digest"
    );
    assert_eq!(by_tag.files.len(), 3);
    let (_, by_digest) = resolve(&c, &to.at(manifest)).unwrap();
    assert_eq!(by_digest, by_tag);

    // A single-file model: the digest of one file, named by its file name.
    let one = quickstart().join("model.safetensors");
    let to_one: Reference = reg.url("models/one:v1").parse().unwrap();
    push_model(&c, &to_one, &one).unwrap();
    let (_, m) = resolve(&c, &to_one).unwrap();
    let one_disk = portcullis_evidence::digest_model(&one, &DigestOptions::default(), None).unwrap();
    assert_eq!(m.digest, one_disk.digest);
    assert_eq!(m.files[0].0, "model.safetensors");
}

/// A container image (layers without file names), an index and a missing
/// tag are refused with what to do.
#[test]
fn what_is_not_a_model_artifact_is_refused() {
    let Some(reg) = LocalRegistry::for_test() else {
        return;
    };
    let c = client();
    let at: Reference = reg.url("apps/server:v1").parse().unwrap();
    let layer = c.push_blob(&at, b"not really a tar").unwrap();
    c.push_blob(&at, b"{}").unwrap();
    let image = serde_json::json!({
        "schemaVersion": 2, "mediaType": MANIFEST_V1,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": format!("sha256:{}", sha256_bytes(b"{}").to_hex()), "size": 2},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{}", layer.to_hex()), "size": 16}],
    });
    let bytes = serde_json::to_vec(&image).unwrap();
    let (digest, _) = c.push_manifest(&at, "v1", MANIFEST_V1, &bytes).unwrap();
    let e = resolve(&c, &at).unwrap_err().to_string();
    assert!(
        e.contains("has no org.opencontainers.image.title") && e.contains("--model"),
        "{e}"
    );

    let index = serde_json::json!({"schemaVersion": 2, "mediaType": INDEX_V1, "manifests": [
        {"mediaType": MANIFEST_V1, "digest": format!("sha256:{}", digest.to_hex()), "size": bytes.len()}]});
    let ib = serde_json::to_vec(&index).unwrap();
    c.push_manifest(&at, "multi", INDEX_V1, &ib).unwrap();
    let multi: Reference = reg.url("apps/server:multi").parse().unwrap();
    let e = resolve(&c, &multi).unwrap_err().to_string();
    assert!(e.contains("image index"), "{e}");

    let missing: Reference = reg.url("apps/server:nope").parse().unwrap();
    let e = resolve(&c, &missing).unwrap_err();
    assert!(e.is_not_found(), "{e}");
    assert!(e.to_string().contains("/v2/apps/server/manifests/nope"), "{e}");
}

/// Evidence pushed as referrers reads back whole; pushing again adds
/// nothing; new evidence adds a manifest beside the old ones; a forged
/// referrer naming another subject never counts.
#[test]
fn evidence_round_trips_through_the_referrers_tag() {
    let Some(reg) = LocalRegistry::for_test() else {
        return;
    };
    let c = client();
    let to: Reference = reg.url("models/quickstart:v1").parse().unwrap();
    push_model(&c, &to, &quickstart()).unwrap();
    let (fetched, model) = resolve(&c, &to).unwrap();
    let key = SigningKey::generate();
    let gate = envelope(&key, &model.digest, GATE_RESULT_V1, 1);

    let first = push_evidence(&c, &to, &fetched, &model.digest, std::slice::from_ref(&gate)).unwrap();
    assert!(!first.referrers_api, "distribution 2.8 has no referrers API");
    assert_eq!(first.manifests.len(), 1);
    assert_eq!(
        first.manifests[0].artifact_type,
        "application/vnd.portcullis.gate-result.v1+json"
    );
    assert!(!first.manifests[0].existed);

    // The tag-schema index lists it with its artifact type.
    let tag = c.manifest(&to, &fallback_tag(&fetched.digest)).unwrap();
    let index: Index = serde_json::from_slice(&tag.bytes).unwrap();
    assert_eq!(index.manifests.len(), 1);
    assert_eq!(
        index.manifests[0].artifact_type.as_deref(),
        Some("application/vnd.portcullis.gate-result.v1+json")
    );
    let m: ImageManifest =
        serde_json::from_slice(&c.manifest(&to, &index.manifests[0].digest).unwrap().bytes).unwrap();
    assert_eq!(
        m.subject.as_ref().and_then(Descriptor::sha256),
        Some(fetched.digest)
    );
    assert_eq!(m.layers[0].media_type, "application/vnd.dsse.envelope.v1+json");
    assert_eq!(
        m.layers[0].annotations["in-toto.io/predicate-type"],
        GATE_RESULT_V1
    );

    let again = push_evidence(&c, &to, &fetched, &model.digest, std::slice::from_ref(&gate)).unwrap();
    assert!(again.manifests[0].existed);
    let index: Index =
        serde_json::from_slice(&c.manifest(&to, &fallback_tag(&fetched.digest)).unwrap().bytes).unwrap();
    assert_eq!(index.manifests.len(), 1, "the same evidence twice adds nothing");

    let approval = envelope(&key, &model.digest, APPROVAL_V1, 2);
    let gate2 = envelope(&key, &model.digest, GATE_RESULT_V1, 3);
    let grown = push_evidence(
        &c,
        &to,
        &fetched,
        &model.digest,
        &[gate.clone(), gate2.clone(), approval.clone()],
    )
    .unwrap();
    assert_eq!(grown.manifests.len(), 2);

    // A referrer whose manifest names another subject, slipped into the index.
    let other = Sha256Digest([7; 32]);
    c.push_blob(&to, b"{}").unwrap();
    let forged_layer = serde_json::to_vec(&envelope(&key, &model.digest, APPROVAL_V1, 9)).unwrap();
    let ld = c.push_blob(&to, &forged_layer).unwrap();
    let forged = serde_json::json!({
        "schemaVersion": 2, "mediaType": MANIFEST_V1,
        "artifactType": "application/vnd.portcullis.approval.v1+json",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": format!("sha256:{}", sha256_bytes(b"{}").to_hex()), "size": 2},
        "layers": [{"mediaType": "application/vnd.dsse.envelope.v1+json", "digest": format!("sha256:{}", ld.to_hex()), "size": forged_layer.len()}],
        "subject": {"mediaType": MANIFEST_V1, "digest": format!("sha256:{}", other.to_hex()), "size": 10},
    });
    let fb = serde_json::to_vec(&forged).unwrap();
    let (fd, _) = c
        .push_manifest(
            &to,
            &format!("sha256:{}", sha256_bytes(&fb).to_hex()),
            MANIFEST_V1,
            &fb,
        )
        .unwrap();
    let mut index: Index =
        serde_json::from_slice(&c.manifest(&to, &fallback_tag(&fetched.digest)).unwrap().bytes).unwrap();
    assert_eq!(index.manifests.len(), 3);
    let mut d = Descriptor::new(MANIFEST_V1, fd, fb.len() as u64);
    d.artifact_type = Some("application/vnd.portcullis.approval.v1+json".into());
    index.manifests.push(d);
    c.push_manifest(
        &to,
        &fallback_tag(&fetched.digest),
        INDEX_V1,
        &serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();

    let bundle = fetch_evidence(&c, &to, &fetched.digest).unwrap();
    let payloads: Vec<&str> = bundle.envelopes.iter().map(|(_, e)| e.payload.as_str()).collect();
    assert_eq!(payloads.len(), 3, "each envelope once: {payloads:?}");
    for e in [&gate, &gate2, &approval] {
        assert!(payloads.contains(&e.payload.as_str()));
    }
    assert_eq!(bundle.corrupt.len(), 1);
    assert!(
        bundle.corrupt[0].reason.contains("another subject"),
        "{:?}",
        bundle.corrupt
    );
    assert!(bundle.sha256.is_some());
    assert_eq!(bundle.location, to.at(fetched.digest).to_string());

    // As a store: the model's bundle for its digest, nothing for others, read-only.
    let store = OciStore::fetch(&c, &to, &fetched.digest, model.digest).unwrap();
    assert_eq!(store.read(&model.digest).unwrap().envelopes.len(), 3);
    assert!(store.read(&other).unwrap().envelopes.is_empty());
    let e = store.append(&model.digest, &gate).unwrap_err().to_string();
    assert!(e.contains("portcullis push"), "{e}");
}

/// A model without evidence reads as an empty bundle (deny, not error).
#[test]
fn no_evidence_is_an_empty_bundle() {
    let Some(reg) = LocalRegistry::for_test() else {
        return;
    };
    let c = client();
    let to: Reference = reg.url("models/bare:v1").parse().unwrap();
    let manifest = push_model(&c, &to, &quickstart()).unwrap();
    let bundle = fetch_evidence(&c, &to, &manifest).unwrap();
    assert!(bundle.envelopes.is_empty() && bundle.corrupt.is_empty() && bundle.sha256.is_none());
}

/// A registry that is not there fails with the URL, not a hang.
#[test]
fn an_unreachable_registry_names_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let at: Reference = format!("oci://127.0.0.1:{port}/m:v1").parse().unwrap();
    let e = resolve(&client(), &at).unwrap_err().to_string();
    assert!(
        e.contains(&format!("http://127.0.0.1:{port}/v2/m/manifests/v1")),
        "{e}"
    );
}

/// The manifest ORAS (oras-py 0.2.43, `tests/fixtures/generate.py`) wrote
/// for the quickstart's files: its model digest is the files' digest.
#[test]
fn an_oras_artifact_has_the_digest_of_its_files() {
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oras-quickstart.manifest.json"),
    )
    .unwrap();
    let fetched = portcullis_oci::Fetched {
        digest: sha256_bytes(&bytes),
        media_type: MANIFEST_V1.into(),
        bytes,
    };
    let at: Reference = "oci://127.0.0.1:5055/interop/qs:v1".parse().unwrap();
    let m = portcullis_oci::model_digest(&at, &fetched).unwrap();
    let on_disk = portcullis_evidence::digest_model(&quickstart(), &DigestOptions::default(), None).unwrap();
    assert_eq!(m.digest, on_disk.digest);
    assert_eq!(
        m.manifest.to_hex(),
        "664d1f1ab491d6b0ad94d7c9499c46d31fc59f20c35a81352bda9965774dc043"
    );
}

fn manifest_of(layers: serde_json::Value) -> portcullis_oci::Fetched {
    let bytes = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": MANIFEST_V1,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": format!("sha256:{}", sha256_bytes(b"{}").to_hex()), "size": 2},
        "layers": layers,
    }))
    .unwrap();
    portcullis_oci::Fetched {
        digest: sha256_bytes(&bytes),
        media_type: MANIFEST_V1.into(),
        bytes,
    }
}

fn file_layer(title: &str, content: &[u8]) -> serde_json::Value {
    serde_json::json!({"mediaType": "application/octet-stream", "digest": format!("sha256:{}", sha256_bytes(content).to_hex()),
        "size": content.len(), "annotations": {"org.opencontainers.image.title": title}})
}

/// Titles that are not clean relative paths, duplicates and directory
/// archives are refused; the walk's default ignores apply, and order is
/// by path components, as on disk.
#[test]
fn layer_titles_are_checked_like_paths() {
    let at: Reference = "oci://127.0.0.1:1/m:v1".parse().unwrap();
    for (layers, why) in [
        (
            serde_json::json!([file_layer("../etc/passwd", b"x")]),
            "unsafe title",
        ),
        (serde_json::json!([file_layer("/abs", b"x")]), "unsafe title"),
        (
            serde_json::json!([file_layer("a", b"x"), file_layer("a", b"y")]),
            "two layers",
        ),
        (serde_json::json!([]), "no file layers"),
    ] {
        let e = portcullis_oci::model_digest(&at, &manifest_of(layers))
            .unwrap_err()
            .to_string();
        assert!(e.contains(why), "{e}");
    }
    let mut archive = file_layer("model", b"tgz");
    archive["annotations"]["io.deis.oras.content.unpack"] = "true".into();
    let e = portcullis_oci::model_digest(&at, &manifest_of(serde_json::json!([archive]))).unwrap_err();
    assert!(e.to_string().contains("archive of a directory"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::write(dir.path().join("a/b"), b"1").unwrap();
    std::fs::write(dir.path().join("a-b"), b"2").unwrap();
    std::fs::write(dir.path().join(".gitignore"), b"3").unwrap();
    let on_disk = portcullis_evidence::digest_model(dir.path(), &DigestOptions::default(), None).unwrap();
    let layers = serde_json::json!([
        file_layer(".gitignore", b"3"),
        file_layer("a-b", b"2"),
        file_layer("a/b", b"1")
    ]);
    let m = portcullis_oci::model_digest(&at, &manifest_of(layers)).unwrap();
    assert_eq!(m.digest, on_disk.digest, "same order and ignores as the walk");
    assert_eq!(m.files.len(), 2);
}
