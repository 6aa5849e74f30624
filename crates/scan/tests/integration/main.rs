//! End-to-end tests over the committed, labelled fixture corpus and the
//! hostile-input limits.
#![allow(clippy::unwrap_used, reason = "test helpers fail loudly on broken fixtures")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use portcullis_evidence::{Severity, Sha256Digest};
use portcullis_scan::{rule, scan_bytes, scan_paths, Allowlist, ScanError, ScanOptions};
use serde::Deserialize;

mod bypass;
mod fuzz_corpus;

#[derive(Deserialize)]
struct Label {
    verdict: String,
    rules: Vec<String>,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// How many findings of `rule` a report has.
fn count(report: &portcullis_scan::ScanReport, rule: &str) -> usize {
    report.findings.iter().filter(|f| f.rule == rule).count()
}

fn labels() -> BTreeMap<String, Label> {
    let text = std::fs::read_to_string(fixtures().join("labels.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_labelled_fixture_meets_its_label() {
    let opts = ScanOptions::default();
    let mut failures = Vec::new();
    let labels = labels();
    assert!(labels.len() > 100, "corpus shrank to {}", labels.len());
    for (rel, label) in &labels {
        let bytes = std::fs::read(fixtures().join(rel)).unwrap();
        let (_, findings) = scan_bytes(rel, &bytes, &opts);
        let max = findings.iter().map(|f| f.severity).max();
        for want in &label.rules {
            if !findings.iter().any(|f| &f.rule == want) {
                failures.push(format!(
                    "{rel}: expected rule {want}, got {:?}",
                    findings.iter().map(|f| &f.rule).collect::<Vec<_>>()
                ));
            }
        }
        match label.verdict.as_str() {
            "benign" if max >= Some(Severity::High) => {
                failures.push(format!("{rel}: benign file flagged {max:?}: {findings:?}"))
            }
            "malicious" if max < Some(Severity::High) => {
                failures.push(format!("{rel}: malicious file passes the default bar"))
            }
            "benign" | "malicious" => {}
            other => failures.push(format!("{rel}: unknown verdict {other}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_finding_names_a_registered_rule() {
    let report = scan_paths(&[fixtures()], &ScanOptions::default()).unwrap();
    for f in &report.findings {
        assert!(rule(&f.rule).is_some(), "unregistered rule {}", f.rule);
    }
    let fired: std::collections::BTreeSet<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
    assert!(
        fired.len() >= 40,
        "only {} rules exercised: {fired:?}",
        fired.len()
    );
}

#[test]
fn scan_paths_is_deterministic_and_sorted() {
    let a = scan_paths(&[fixtures()], &ScanOptions::default()).unwrap();
    let b = scan_paths(&[fixtures()], &ScanOptions::default()).unwrap();
    assert_eq!(a.findings, b.findings);
    let paths: Vec<&Path> = a.files.iter().map(|f| Path::new(&f.path)).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
}

#[test]
fn overlapping_roots_scan_each_file_once_in_path_component_order() {
    let base = std::env::temp_dir().join(format!("portcullis-scan-roots-{}", std::process::id()));
    let pkl = fixtures().join("pickle-code-exec/os_system.pkl");
    for rel in ["a/x.pkl", "a-b/y.pkl", "a.pkl"] {
        let p = base.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::copy(&pkl, &p).unwrap();
    }
    // The same files through three roots, one inside another.
    let roots = [base.clone(), base.join("a"), base.join("a/x.pkl")];
    let report = scan_paths(&roots, &ScanOptions::default()).unwrap();
    let rel: Vec<&str> = report.files.iter().map(|f| f.relative_path.as_str()).collect();
    // Component order puts `a/x.pkl` before `a-b/...` (byte order would not),
    // and a file found twice keeps the path under the first root given.
    assert_eq!(rel, ["a/x.pkl", "a-b/y.pkl", "a.pkl"]);
    assert_eq!(count(&report, "pickle-code-exec"), 3);
    // Disjoint roots are scanned in full, each in order.
    let two = scan_paths(&[base.join("a-b"), base.join("a")], &ScanOptions::default()).unwrap();
    let rel: Vec<&str> = two.files.iter().map(|f| f.relative_path.as_str()).collect();
    assert_eq!(rel, ["x.pkl", "y.pkl"]);
    std::fs::remove_dir_all(base).unwrap();
}

#[test]
fn a_tree_of_many_small_directories_is_scanned_whole() {
    // More directories than the scan keeps open at once: the files past the
    // cap are opened by path, none is reported unreadable, none is missed.
    let base = std::env::temp_dir().join(format!("portcullis-scan-many-dirs-{}", std::process::id()));
    let pkl = std::fs::read(fixtures().join("pickle-code-exec/os_system.pkl")).unwrap();
    for d in 0..300 {
        let dir = base.join(format!("d{d:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..3 {
            std::fs::write(dir.join(format!("m{f}.pkl")), &pkl).unwrap();
        }
    }
    let report = scan_paths(std::slice::from_ref(&base), &ScanOptions::default()).unwrap();
    std::fs::remove_dir_all(&base).unwrap();
    assert_eq!(report.files.len(), 900);
    assert!(report.findings.iter().all(|f| f.rule != "scan-unreadable"));
    assert_eq!(count(&report, "pickle-code-exec"), 900);
    assert_eq!(report.files[3].relative_path, "d001/m0.pkl");
}

#[test]
fn small_file_over_a_lowered_size_limit_is_a_finding_with_its_size() {
    let mut opts = ScanOptions::default();
    opts.limits.max_file_size = 10;
    let path = fixtures().join("pickle-code-exec/os_system.pkl");
    let len = std::fs::metadata(&path).unwrap().len();
    let report = scan_paths(std::slice::from_ref(&path), &opts).unwrap();
    assert_eq!(report.files[0].size, len);
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    assert_eq!(report.findings[0].rule, "scan-limit-exceeded");
    assert!(report.findings[0]
        .message
        .contains(&format!("file is {len} bytes")));
}

#[test]
fn reading_only_what_the_analysis_needs_finds_what_the_whole_file_scan_finds() {
    // scan_paths picks a reading per file (head only, central directory and
    // members, whole file); every labelled fixture must come out exactly as
    // the in-memory scan of all its bytes.
    let report = scan_paths(&[fixtures()], &ScanOptions::default()).unwrap();
    let mut checked = 0;
    for file in &report.files {
        let bytes = std::fs::read(&file.path).unwrap();
        let (formats, want) = scan_bytes(&file.path, &bytes, &ScanOptions::default());
        let got: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.location.as_ref().and_then(|l| l.file.as_deref()) == Some(file.path.as_str()))
            .cloned()
            .collect();
        assert_eq!(got, want, "{}", file.path);
        assert_eq!(file.formats, formats, "{}", file.path);
        assert_eq!(file.size, bytes.len() as u64);
        checked += 1;
    }
    assert!(checked > 100, "only {checked} files");
}

#[test]
fn digests_are_computed_only_when_asked_for_or_needed_by_the_allowlist() {
    let plain = scan_paths(&[fixtures()], &ScanOptions::default()).unwrap();
    assert!(plain.files.iter().all(|f| f.sha256.is_none()));
    let opts = ScanOptions {
        digests: true,
        ..ScanOptions::default()
    };
    let hashed = scan_paths(&[fixtures()], &opts).unwrap();
    for f in &hashed.files {
        let want = Sha256Digest(sha256(&std::fs::read(&f.path).unwrap()));
        assert_eq!(f.sha256, Some(want), "{}", f.path);
    }
    assert_eq!(plain.findings, hashed.findings);
    // An allowlist entry hashes the files that contain its global, and only those.
    let logreg = fixtures().join("benign/logreg.joblib");
    let text = format!(
        "- sha256: {}\n  global: sklearn.linear_model._logistic.LogisticRegression\n  reason: stale\n",
        "0".repeat(64)
    );
    let opts = ScanOptions {
        allowlist: Some(Allowlist::parse("allow.yaml", &text).unwrap()),
        ..ScanOptions::default()
    };
    let exec = fixtures().join("pickle-code-exec/os_system.pkl");
    let report = scan_paths(&[logreg.clone(), exec.clone()], &opts).unwrap();
    let by_path = |p: &Path| {
        report
            .files
            .iter()
            .find(|f| f.path == p.display().to_string())
            .unwrap()
    };
    assert!(by_path(&logreg).sha256.is_some());
    assert!(by_path(&exec).sha256.is_none());
    assert!(report.findings.iter().any(|f| f.rule == "pickle-unknown-global"));
}

#[test]
fn fingerprints_depend_on_the_path_under_the_scan_root_not_where_it_lives() {
    let base = std::env::temp_dir().join(format!("portcullis-scan-fp-{}", std::process::id()));
    let (a, b) = (base.join("one/models"), base.join("two/renamed"));
    for d in [&a, &b] {
        std::fs::create_dir_all(d.join("sub")).unwrap();
        for rel in ["pickle-code-exec/os_system.pkl", "benign/logreg.joblib"] {
            let name = Path::new(rel).file_name().unwrap();
            std::fs::copy(fixtures().join(rel), d.join("sub").join(name)).unwrap();
        }
    }
    let ra = scan_paths(std::slice::from_ref(&a), &ScanOptions::default()).unwrap();
    let rb = scan_paths(std::slice::from_ref(&b), &ScanOptions::default()).unwrap();
    let fa: Vec<_> = ra.findings.iter().map(|f| ra.fingerprint(f)).collect();
    let fb: Vec<_> = rb.findings.iter().map(|f| rb.fingerprint(f)).collect();
    assert_eq!(fa, fb);
    assert_eq!(ra.files[0].relative_path, "sub/logreg.joblib");
    assert_eq!(
        fa.iter().collect::<std::collections::HashSet<_>>().len(),
        fa.len()
    );
    // A file given directly is keyed on its name; a different name is a different finding.
    let direct = scan_paths(&[a.join("sub/os_system.pkl")], &ScanOptions::default()).unwrap();
    let exec = |r: &portcullis_scan::ScanReport| {
        let f = r.findings.iter().find(|f| f.rule == "pickle-code-exec").unwrap();
        r.fingerprint(f)
    };
    assert_eq!(direct.files[0].relative_path, "os_system.pkl");
    assert_ne!(exec(&direct), exec(&ra));
    // The definition: rule, relative path, member and fragment, NUL-separated.
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"pickle-code-exec\0os_system.pkl\0\0os.system\0");
    assert_eq!(exec(&direct), Sha256Digest(h.finalize().into()).to_hex());
    std::fs::remove_dir_all(base).unwrap();
}

#[test]
fn directories_nested_past_the_walk_limit_are_a_finding() {
    let base = std::env::temp_dir().join(format!("portcullis-scan-deep-{}", std::process::id()));
    let mut deep = base.clone();
    for _ in 0..66 {
        deep = deep.join("d");
    }
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::copy(
        fixtures().join("pickle-code-exec/os_system.pkl"),
        deep.join("m.pkl"),
    )
    .unwrap();
    std::fs::copy(fixtures().join("benign/logreg.joblib"), base.join("m.joblib")).unwrap();
    let report = scan_paths(std::slice::from_ref(&base), &ScanOptions::default()).unwrap();
    std::fs::remove_dir_all(&base).unwrap();
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule == "scan-limit-exceeded" && f.message.contains("nested more than 64")),
        "{:?}",
        report.findings
    );
}

#[test]
fn findings_carry_file_member_offset_and_fragment() {
    let path = fixtures().join("pickle-code-exec/pytorch_zip_payload.pt");
    let report = scan_paths(&[path], &ScanOptions::default()).unwrap();
    let f = report
        .findings
        .iter()
        .find(|f| f.rule == "pickle-code-exec")
        .unwrap();
    let loc = f.location.as_ref().unwrap();
    assert_eq!(loc.member.as_deref(), Some("archive/data.pkl"));
    assert_eq!(loc.offset, Some(2));
    assert_eq!(f.fragment.as_deref(), Some("os.system"));
    assert_eq!(f.severity, Severity::Critical);
    assert_eq!(report.fingerprint(f).len(), 64);
}

#[test]
fn empty_directory_is_an_error_not_a_clean_scan() {
    let dir = std::env::temp_dir().join(format!("portcullis-scan-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let r = scan_paths(std::slice::from_ref(&dir), &ScanOptions::default());
    assert!(matches!(r, Err(ScanError::NothingScanned)), "{r:?}");
    assert!(matches!(
        scan_paths(&[], &ScanOptions::default()),
        Err(ScanError::NoPaths)
    ));
    assert!(matches!(
        scan_paths(&[dir.join("missing")], &ScanOptions::default()),
        Err(ScanError::Path { .. })
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn ten_gigabyte_sparse_file_is_refused_quickly_as_a_finding() {
    let path = std::env::temp_dir().join(format!("portcullis-scan-sparse-{}.bin", std::process::id()));
    let f = std::fs::File::create(&path).unwrap();
    f.set_len(10 << 30).unwrap();
    drop(f);
    let t = Instant::now();
    let report = scan_paths(std::slice::from_ref(&path), &ScanOptions::default()).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule == "scan-limit-exceeded" && f.severity == Severity::High),
        "{:?}",
        report.findings
    );
}

#[test]
fn billion_entry_memo_claims_hit_the_memo_limit() {
    // LONG_BINPUT at index 1e9 costs nothing (the memo is a map); a flood of
    // MEMOIZE past the limit is a finding, not an allocation.
    let mut p = vec![0x80, 4, b'N', b'r'];
    p.extend_from_slice(&1_000_000_000u32.to_le_bytes());
    p.extend(std::iter::repeat_n(0x94u8, 1_100_000));
    p.push(b'.');
    let t = Instant::now();
    let (_, findings) = scan_bytes("memo.pkl", &p, &ScanOptions::default());
    assert!(t.elapsed() < Duration::from_secs(10));
    assert!(
        findings
            .iter()
            .any(|f| f.rule == "scan-limit-exceeded" && f.message.contains("memo")),
        "{findings:?}"
    );
}

#[test]
fn gguf_claiming_two_to_the_sixty_tensors_is_rejected_without_allocating() {
    let bytes = std::fs::read(fixtures().join("gguf-malformed/huge_tensor_count.gguf")).unwrap();
    let (_, findings) = scan_bytes("x.gguf", &bytes, &ScanOptions::default());
    let f = findings.iter().find(|f| f.rule == "gguf-malformed").unwrap();
    assert!(f.message.contains("1152921504606846976 tensors"), "{}", f.message);
}

#[test]
fn expired_deadline_is_a_timeout_finding() {
    let mut opts = ScanOptions::default();
    opts.limits.deadline = Duration::ZERO;
    let bytes = std::fs::read(fixtures().join("benign/forest.joblib")).unwrap();
    std::thread::sleep(Duration::from_millis(2));
    let (_, findings) = scan_bytes("forest.joblib", &bytes, &opts);
    assert!(findings.iter().any(|f| f.rule == "scan-timeout"), "{findings:?}");
}

#[test]
fn member_budget_stops_wide_archives() {
    let mut opts = ScanOptions::default();
    opts.limits.max_members = 2;
    let bytes = std::fs::read(fixtures().join("benign/pytorch_state_dict.pt")).unwrap();
    let (_, findings) = scan_bytes("m.pt", &bytes, &opts);
    assert!(
        findings.iter().any(|f| f.rule == "scan-limit-exceeded"),
        "{findings:?}"
    );
}

#[test]
fn strict_raises_unknown_third_party_globals_to_high() {
    let bytes = std::fs::read(fixtures().join("benign/logreg.joblib")).unwrap();
    let (_, normal) = scan_bytes("m", &bytes, &ScanOptions::default());
    assert!(normal.iter().all(|f| f.severity <= Severity::Medium));
    let strict = ScanOptions {
        strict: true,
        ..ScanOptions::default()
    };
    let (_, strict) = scan_bytes("m", &bytes, &strict);
    assert!(strict
        .iter()
        .any(|f| f.rule == "pickle-unknown-global" && f.severity == Severity::High));
}

#[test]
fn allowlist_suppresses_one_global_for_one_digest_and_reports_unused_entries() {
    let path = fixtures().join("benign/logreg.joblib");
    let digest = Sha256Digest(sha256(&std::fs::read(&path).unwrap()));
    let text = format!(
        "- sha256: {digest}\n  global: sklearn.linear_model._logistic.LogisticRegression\n  reason: our own estimator\n- sha256: {}\n  global: os.system\n  reason: stale\n",
        "0".repeat(64)
    );
    let list = Allowlist::parse("allow.yaml", &text).unwrap();
    let opts = ScanOptions {
        allowlist: Some(list),
        ..ScanOptions::default()
    };
    let report = scan_paths(&[path], &opts).unwrap();
    assert!(
        !report.findings.iter().any(|f| f.rule == "pickle-unknown-global"),
        "{:?}",
        report.findings
    );
    let unused: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.rule == "allowlist-unused")
        .collect();
    assert_eq!(unused.len(), 1);
    assert_eq!(unused[0].fragment.as_deref(), Some("os.system"));
}

fn sha256(b: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(b).into()
}

/// A stored (uncompressed) zip written by hand; CRCs are left zero, which
/// PyTorch-style lenient readers ignore.
fn stored_zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut cd = Vec::new();
    for (name, data) in members {
        let off = out.len() as u32;
        let n = name.len() as u16;
        let size = data.len() as u32;
        out.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        cd.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00");
        cd.extend_from_slice(&size.to_le_bytes());
        cd.extend_from_slice(&size.to_le_bytes());
        cd.extend_from_slice(&n.to_le_bytes());
        cd.extend_from_slice(&[0u8; 12]);
        cd.extend_from_slice(&off.to_le_bytes());
        cd.extend_from_slice(name.as_bytes());
    }
    let cd_off = out.len() as u32;
    let count = members.len() as u16;
    out.extend_from_slice(&cd);
    out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_off.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[test]
fn large_zip_read_on_demand_matches_the_in_memory_scan() {
    let payload = std::fs::read(fixtures().join("pickle-code-exec/os_system.pkl")).unwrap();
    let storage = vec![0u8; 80 << 20];
    let bytes = stored_zip(&[
        ("archive/data.pkl", &payload),
        ("archive/data/0", &storage),
        ("archive/version", b"3\n"),
        ("../slip", b"x"),
    ]);
    let path = std::env::temp_dir().join(format!("portcullis-scan-large-{}.pt", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let digests = ScanOptions {
        digests: true,
        ..ScanOptions::default()
    };
    let report = scan_paths(std::slice::from_ref(&path), &digests).unwrap();
    std::fs::remove_file(&path).unwrap();
    let name = path.display().to_string();
    let (formats, in_memory) = scan_bytes(&name, &bytes, &ScanOptions::default());
    assert_eq!(report.findings, in_memory);
    assert_eq!(report.files[0].formats, formats);
    assert_eq!(report.files[0].sha256, Some(Sha256Digest(sha256(&bytes))));
    assert!(report.findings.iter().any(|f| f.rule == "pickle-code-exec"));
    assert!(report.findings.iter().any(|f| f.rule == "zip-path-traversal"));
}

#[test]
fn every_rule_has_a_section_in_docs_scan_md() {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/scan.md")).unwrap();
    for r in portcullis_scan::rules() {
        assert!(
            docs.contains(&format!("\n### {}\n", r.id)),
            "docs/scan.md lacks a section for {}",
            r.id
        );
    }
}

#[test]
fn large_safetensors_and_gguf_are_checked_from_their_head_like_in_memory() {
    let n = 20u64 << 20;
    let header = format!(
        "{{\"w\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[0,{}]}}}}",
        n / 4,
        n
    );
    let mut st = (header.len() as u64).to_le_bytes().to_vec();
    st.extend_from_slice(header.as_bytes());
    st.resize(st.len() + (80 << 20), 0);
    let mut gguf = std::fs::read(fixtures().join("gguf-template-injection/ssti.gguf")).unwrap();
    gguf.resize(70 << 20, 0);
    for (ext, bytes, rule) in [
        ("safetensors", st, "safetensors-malformed"),
        ("gguf", gguf, "gguf-template-injection"),
    ] {
        let path = std::env::temp_dir().join(format!("portcullis-scan-large-{}.{ext}", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let digests = ScanOptions {
            digests: true,
            ..ScanOptions::default()
        };
        let report = scan_paths(std::slice::from_ref(&path), &digests).unwrap();
        std::fs::remove_file(&path).unwrap();
        let (formats, in_memory) = scan_bytes(&path.display().to_string(), &bytes, &ScanOptions::default());
        assert_eq!(report.findings, in_memory, "{ext}");
        assert_eq!(report.files[0].formats, formats);
        assert_eq!(report.files[0].sha256, Some(Sha256Digest(sha256(&bytes))));
        assert!(
            report.findings.iter().any(|f| f.rule == rule),
            "{ext}: {:?}",
            report.findings
        );
    }
}
