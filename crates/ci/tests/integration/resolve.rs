//! Templates and reusable workflows in another repository: reported as not
//! analysable with the reference, and read from a local checkout given as
//! `--resolve org/repo=PATH`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use portcullis_ci::{audit_paths, AuditOptions};
use portcullis_evidence::Finding;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/resolve")
}

fn audit(resolve: bool) -> Vec<Finding> {
    let mut options = AuditOptions::default();
    if resolve {
        options.resolve = BTreeMap::from([("acme/ml-templates".to_string(), dir().join("ml-templates"))]);
    }
    let report = audit_paths(&[dir().join("caller")], &options);
    assert!(!report.has_errors(), "{:?}", report.files);
    report.findings
}

fn of<'a>(findings: &'a [Finding], rule: &str, file: &str) -> Vec<&'a Finding> {
    findings
        .iter()
        .filter(|f| {
            f.rule == rule
                && f.location
                    .as_ref()
                    .is_some_and(|l| l.file.as_deref().is_some_and(|p| p.ends_with(file)))
        })
        .collect()
}

#[test]
fn without_a_checkout_the_references_are_reported_with_how_to_read_them() {
    let f = audit(false);
    let gh = of(&f, "pipeline-not-analysable", "ship.yml");
    assert_eq!(gh.len(), 1, "{f:#?}");
    assert!(
        gh[0]
            .message
            .contains("acme/ml-templates/.github/workflows/ship-model.yml@v1")
            && gh[0].message.contains("--resolve acme/ml-templates=PATH"),
        "{}",
        gh[0].message
    );
    let az = of(&f, "pipeline-not-analysable", "azure-pipelines.yml");
    assert_eq!(az.len(), 1, "{f:#?}");
    assert!(
        az[0].message.contains("--resolve acme/ml-templates=PATH"),
        "{}",
        az[0].message
    );
    // The caller alone shows no deploy: nothing is claimed about it.
    assert!(of(&f, "deploy-without-gate", "ship.yml").is_empty(), "{f:#?}");
}

#[test]
fn with_a_checkout_the_deploys_inside_are_found() {
    let f = audit(true);
    assert!(f.iter().all(|x| x.rule != "pipeline-not-analysable"), "{f:#?}");
    let gh = of(&f, "deploy-without-gate", "ship.yml");
    assert_eq!(gh.len(), 1, "{f:#?}");
    assert!(
        gh[0]
            .message
            .contains("its command is at acme/ml-templates/.github/workflows/ship-model.yml:14"),
        "{}",
        gh[0].message
    );
    assert_eq!(
        gh[0].location.as_ref().map(|l| l.line),
        Some(Some(13)),
        "at the caller's uses line"
    );
    let az = of(&f, "deploy-without-gate", "stages/release.yml");
    assert_eq!(az.len(), 1, "{f:#?}");
}
