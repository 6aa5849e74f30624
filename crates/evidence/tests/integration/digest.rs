//! The model digest must equal what PyPI `model-signing` signs.
//!
//! `tests/fixtures/digest/expected.json` holds, for each case, the resource
//! list and in-toto subject digest that model-signing (pinned in
//! `requirements.txt` beside `generate.py`) computed. Committed trees live in
//! `models/`; trees git cannot hold (a `.git` directory, symlinks, an empty
//! directory) are described under `build` and built here exactly as the
//! generator built them.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use portcullis_evidence::manifest::DEFAULT_IGNORES;
use portcullis_evidence::{
    digest_model, sha256_bytes, sha256_file, total_bytes, DigestOptions, Manifest, ManifestError,
    Serialization, DEFAULT_SHARD_SIZE,
};
use serde::Deserialize;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/digest")
}

#[derive(Deserialize)]
struct Expected {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    model: String,
    build: Option<Build>,
    serialization: String,
    shard_size: Option<u64>,
    ignore: Vec<String>,
    allow_symlinks: bool,
    model_name: String,
    digest: String,
    resources: Vec<Resource>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Build {
    base: Option<String>,
    dirs: Vec<String>,
    files: std::collections::BTreeMap<String, String>,
    symlinks: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Resource {
    name: String,
    algorithm: String,
    digest: String,
}

fn load_expected() -> Expected {
    let text = fs::read_to_string(fixture_dir().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Mirrors `build_runtime` in generate.py.
fn build_tree(root: &Path, build: &Build) {
    match &build.base {
        Some(base) => copy_tree(&fixture_dir().join(base), root),
        None => fs::create_dir_all(root).unwrap(),
    }
    for d in &build.dirs {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    for (rel, text) in &build.files {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    for (link, target) in &build.symlinks {
        std::os::unix::fs::symlink(target, root.join(link)).unwrap();
    }
}

fn options_for(case: &Case) -> DigestOptions {
    let serialization = match (case.serialization.as_str(), case.shard_size) {
        ("files", _) => Serialization::Files,
        ("shards", None) => Serialization::Shards {
            shard_size: DEFAULT_SHARD_SIZE,
        },
        ("shards", Some(shard_size)) => Serialization::Shards { shard_size },
        (other, _) => panic!("unknown serialization {other}"),
    };
    DigestOptions {
        serialization,
        ignore: case.ignore.clone(),
        allow_symlinks: case.allow_symlinks,
    }
}

fn check_case(case: &Case, path: &Path) {
    let options = options_for(case);
    let hashed = AtomicU64::new(0);
    let progress = |n: u64| {
        hashed.fetch_add(n, Ordering::Relaxed);
    };
    let manifest =
        digest_model(path, &options, Some(&progress)).unwrap_or_else(|e| panic!("{}: {e}", case.id));

    assert_eq!(manifest.digest.to_hex(), case.digest, "{}: model digest", case.id);
    assert_eq!(manifest.model_name, case.model_name, "{}: model name", case.id);
    let got: Vec<(&str, String)> = manifest
        .resources
        .iter()
        .map(|r| (r.name.as_str(), r.digest.to_hex()))
        .collect();
    let want: Vec<(&str, String)> = case
        .resources
        .iter()
        .map(|r| (r.name.as_str(), r.digest.clone()))
        .collect();
    assert_eq!(got, want, "{}: resources", case.id);
    for r in &case.resources {
        assert_eq!(
            r.algorithm,
            options.serialization.algorithm(),
            "{}: algorithm",
            case.id
        );
    }

    let total = total_bytes(path, &options).unwrap();
    let sizes: u64 = manifest.resources.iter().map(|r| r.size).sum();
    assert_eq!(sizes, total, "{}: resource sizes add up", case.id);
    assert_eq!(hashed.load(Ordering::Relaxed), total, "{}: progress", case.id);

    // The JSON form round-trips and carries model-signing's algorithm names.
    let json = serde_json::to_value(&manifest).unwrap();
    for (jr, r) in json["resources"].as_array().unwrap().iter().zip(&case.resources) {
        assert_eq!(jr["algorithm"], r.algorithm.as_str(), "{}: json", case.id);
    }
    let back: Manifest = serde_json::from_value(json).unwrap();
    assert_eq!(back, manifest);
}

#[test]
fn digests_equal_model_signing_for_every_fixture_case() {
    let expected = load_expected();
    assert!(expected.cases.len() >= 17, "fixture cases went missing");
    let tmp = tempfile::tempdir().unwrap();
    for case in &expected.cases {
        let path = match &case.build {
            None => fixture_dir().join(&case.model),
            Some(build) => {
                let path = tmp.path().join(&case.id).join(&case.model);
                build_tree(&path, build);
                path
            }
        };
        check_case(case, &path);
    }
}

#[test]
fn fixture_cases_cover_the_tricky_details() {
    let expected = load_expected();
    let find = |id: &str| expected.cases.iter().find(|c| c.id == id).unwrap();
    let names = |id: &str| -> Vec<String> { find(id).resources.iter().map(|r| r.name.clone()).collect() };
    // Component order differs from string order.
    let nested = names("nested-files");
    let pos = |n: &str| nested.iter().position(|x| x == n).unwrap();
    assert!(pos("a/b") < pos("a-b") && pos("a-b") < pos("a.b"));
    // Empty files: in files, not in shards.
    assert!(nested.contains(&"empty.txt".to_string()));
    assert!(!names("nested-shards-7")
        .iter()
        .any(|n| n.starts_with("empty.txt")));
    // A partial last shard, and numeric (not string) order of offsets.
    let shards = names("nested-shards-7");
    let big: Vec<_> = shards.iter().filter(|n| n.starts_with("big.bin:")).collect();
    assert_eq!(big.len(), 15);
    assert_eq!(big.last().unwrap().as_str(), "big.bin:98:100");
    assert_eq!(big.get(1).unwrap().as_str(), "big.bin:7:14");
    // Non-ASCII names, default ignores, nested .gitignore kept.
    assert!(nested.contains(&"日本/模型.bin".to_string()));
    for ignored in DEFAULT_IGNORES {
        assert!(!nested.iter().any(|n| n.starts_with(ignored) && n != ".gitkeep"));
    }
    assert!(nested.contains(&"sub/.gitignore".to_string()));
    // A single-file model is one resource named ".".
    assert_eq!(names("single.bin-files"), vec!["."]);
}

#[test]
fn symlink_is_refused_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model");
    fs::create_dir(&model).unwrap();
    fs::write(model.join("weights.bin"), b"weights").unwrap();
    std::os::unix::fs::symlink("weights.bin", model.join("alias.bin")).unwrap();

    let err = digest_model(&model, &DigestOptions::default(), None).unwrap_err();
    assert!(
        matches!(&err, ManifestError::SymlinkRefused { path } if path.ends_with("alias.bin")),
        "{err:?}"
    );
    assert!(err.to_string().contains("allow"), "{err}");

    // The model path itself being a link is refused too.
    let link = tmp.path().join("model-link");
    std::os::unix::fs::symlink(&model, &link).unwrap();
    let err = digest_model(&link, &DigestOptions::default(), None).unwrap_err();
    assert!(matches!(err, ManifestError::SymlinkRefused { .. }), "{err:?}");

    let allowed = DigestOptions {
        allow_symlinks: true,
        ..DigestOptions::default()
    };
    let m = digest_model(&model, &allowed, None).unwrap();
    assert_eq!(m.resources.len(), 2);
    assert_eq!(m.resources[0].digest, m.resources[1].digest);
}

#[test]
fn dangling_symlink_is_an_error_even_when_links_are_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("nowhere", tmp.path().join("dangling")).unwrap();
    let allowed = DigestOptions {
        allow_symlinks: true,
        ..DigestOptions::default()
    };
    let err = digest_model(tmp.path(), &allowed, None).unwrap_err();
    assert!(
        matches!(&err, ManifestError::NotFileOrDirectory { path, .. } if path.ends_with("dangling")),
        "{err:?}"
    );
}

#[test]
fn missing_model_path_is_named_in_the_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-model");
    let err = digest_model(&missing, &DigestOptions::default(), None).unwrap_err();
    assert!(
        matches!(&err, ManifestError::NotFound { path } if *path == missing),
        "{err:?}"
    );
    assert!(err.to_string().contains("no-such-model"));
    assert!(matches!(
        total_bytes(&missing, &DigestOptions::default()),
        Err(ManifestError::NotFound { .. })
    ));
    assert!(matches!(
        sha256_file(&missing),
        Err(ManifestError::NotFound { .. })
    ));
}

#[test]
fn unreadable_file_is_an_error_naming_it() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let secret = tmp.path().join("secret.bin");
    fs::write(&secret, b"secret").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    if fs::File::open(&secret).is_ok() {
        // Privileged users read through permission bits; a directory entry
        // that is not a directory makes an open fail for everyone instead.
        fs::set_permissions(&secret, fs::Permissions::from_mode(0o644)).unwrap();
        let err = sha256_file(&secret.join("inside")).unwrap_err();
        assert!(matches!(err, ManifestError::Unreadable { .. }), "{err:?}");
        return;
    }
    let err = digest_model(tmp.path(), &DigestOptions::default(), None).unwrap_err();
    assert!(
        matches!(&err, ManifestError::Unreadable { path, .. } if *path == secret),
        "{err:?}"
    );
}

#[test]
fn special_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("pipe");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !status.map(|s| s.success()).unwrap_or(false) {
        eprintln!("mkfifo unavailable; skipping");
        return;
    }
    let err = digest_model(tmp.path(), &DigestOptions::default(), None).unwrap_err();
    assert!(
        matches!(&err, ManifestError::NotFileOrDirectory { path, kind } if *path == fifo && kind.contains("fifo")),
        "{err:?}"
    );
}

#[test]
fn non_utf8_file_name_is_refused() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let name = std::ffi::OsStr::from_bytes(b"bad-\xff.bin");
    if fs::write(tmp.path().join(name), b"x").is_err() {
        eprintln!("filesystem refuses non-UTF-8 names; skipping");
        return;
    }
    let err = digest_model(tmp.path(), &DigestOptions::default(), None).unwrap_err();
    assert!(matches!(err, ManifestError::NonUtf8Name { .. }), "{err:?}");
}

#[test]
fn invalid_ignore_paths_and_shard_size_are_refused() {
    let dir = fixture_dir().join("models/nested");
    for bad in ["/etc", "../x", "", "."] {
        let options = DigestOptions {
            ignore: vec![bad.to_string()],
            ..DigestOptions::default()
        };
        let err = digest_model(&dir, &options, None).unwrap_err();
        assert!(
            matches!(err, ManifestError::InvalidIgnore { .. }),
            "{bad}: {err:?}"
        );
    }
    let options = DigestOptions {
        serialization: Serialization::Shards { shard_size: 0 },
        ..DigestOptions::default()
    };
    assert!(matches!(
        digest_model(&dir, &options, None),
        Err(ManifestError::InvalidShardSize)
    ));
}

#[test]
fn sha256_file_matches_sha256_bytes_and_the_single_file_resource() {
    let path = fixture_dir().join("models/single.bin");
    let bytes = fs::read(&path).unwrap();
    let digest = sha256_file(&path).unwrap();
    assert_eq!(digest, sha256_bytes(&bytes));
    let m = digest_model(&path, &DigestOptions::default(), None).unwrap();
    assert_eq!(m.resources[0].digest, digest);
    assert!(matches!(
        sha256_file(&fixture_dir()),
        Err(ManifestError::NotFileOrDirectory { .. })
    ));
}

#[test]
fn digests_nest_inside_the_rayon_pool() {
    use rayon::prelude::*;
    let expected = load_expected();
    let case = expected.cases.iter().find(|c| c.id == "nested-shards-7").unwrap();
    let path = fixture_dir().join(&case.model);
    let digests: Vec<String> = (0..8)
        .into_par_iter()
        .map(|_| {
            digest_model(&path, &options_for(case), None)
                .unwrap()
                .digest
                .to_hex()
        })
        .collect();
    assert!(digests.iter().all(|d| *d == case.digest), "{digests:?}");
}
