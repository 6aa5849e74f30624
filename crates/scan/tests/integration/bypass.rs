//! The bypass corpus: files rebuilt from other scanners' bypass, crash and
//! scanner-deactivation tests and from published proofs of concept, in a
//! tune split (the cases the readings and rules were written against) and a
//! held-out split (rebuilt afterwards, from peers' tests not used for
//! tuning). See `tests/fixtures/bypass/` and docs/scan.md.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use portcullis_evidence::Severity;
use portcullis_scan::{scan_bytes, ScanOptions};
use serde::Deserialize;

use super::fixtures;

#[derive(Deserialize)]
struct Label {
    verdict: String,
    class: String,
    rules: Vec<String>,
}

fn labels() -> BTreeMap<String, Label> {
    let text = std::fs::read_to_string(fixtures().join("bypass/labels.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Per split: every file meets its verdict and rules at the default bar.
fn check(split: &str) -> (usize, usize) {
    let opts = ScanOptions::default();
    let mut failures = Vec::new();
    let (mut malicious, mut benign) = (0, 0);
    for (rel, label) in labels()
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{split}/")))
    {
        let bytes = std::fs::read(fixtures().join("bypass").join(rel)).unwrap();
        let t = Instant::now();
        let (_, findings) = scan_bytes(rel, &bytes, &opts);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{rel} took {:?}",
            t.elapsed()
        );
        let max = findings.iter().map(|f| f.severity).max();
        for want in &label.rules {
            if !findings.iter().any(|f| &f.rule == want) {
                failures.push(format!("{rel}: expected rule {want}, got {findings:?}"));
            }
        }
        match label.verdict.as_str() {
            "malicious" => {
                malicious += 1;
                if max < Some(Severity::High) {
                    failures.push(format!(
                        "{rel} ({}): passes the default bar: {findings:?}",
                        label.class
                    ));
                }
            }
            "benign" => {
                benign += 1;
                if max >= Some(Severity::High) {
                    failures.push(format!("{rel}: benign file flagged {max:?}: {findings:?}"));
                }
            }
            other => failures.push(format!("{rel}: unknown verdict {other}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    (malicious, benign)
}

#[test]
fn tune_split_fails_every_evasion_and_passes_every_benign_file() {
    let (m, b) = check("tune");
    assert!(m >= 25 && b >= 10, "tune split shrank: {m} malicious, {b} benign");
}

#[test]
fn held_out_split_fails_every_evasion_and_passes_every_benign_file() {
    let (m, b) = check("heldout");
    assert!(
        m >= 30 && b >= 30,
        "held-out split shrank: {m} malicious, {b} benign"
    );
}
