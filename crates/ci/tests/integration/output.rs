//! Output: JSON of the shared `Finding` type, ignores, and the docs page.
//! The renderers (terminal, the versioned JSON document, SARIF) live in the
//! report crate; the CLI's tests snapshot them and check SARIF against the
//! schema.

use std::path::{Path, PathBuf};

use portcullis_ci::{audit_paths, AuditConfig, AuditOptions};
use portcullis_evidence::{Finding, Severity};

use crate::fixtures::fixtures_root;

fn case(rule: &str, name: &str) -> PathBuf {
    fixtures_root().join(rule).join(name)
}

#[test]
fn json_findings_round_trip_through_the_shared_type() {
    let report = audit_paths(
        &[case("gate-not-on-deploy-path", "gh-sibling")],
        &AuditOptions::default(),
    );
    let json = serde_json::json!({ "findings": report.findings });
    let back: Vec<Finding> = serde_json::from_value(json["findings"].clone()).unwrap();
    assert_eq!(back, report.findings);
    let f = &back[0];
    assert_eq!(f.rule, "gate-not-on-deploy-path");
    let loc = f.location.as_ref().unwrap();
    assert_eq!((loc.line, loc.column), (Some(18), Some(14)));
    assert_eq!(loc.label.as_deref(), Some("deploy step"));
    let gate = &f.related[0];
    assert_eq!(gate.label.as_deref(), Some("gate"));
    assert_eq!(gate.line, Some(8));
}

#[test]
fn inline_ignores_and_config_ignores_and_overrides_apply() {
    let dir = std::env::temp_dir().join(format!("portcullis-ci-ignore-{}", std::process::id()));
    let wf = dir.join(".github/workflows");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(
        wf.join("a.yml"),
        "on: push\njobs:\n  d:\n    runs-on: x\n    steps:\n      # portcullis: ignore[deploy-without-gate]\n      - run: bentoml deploy .\n",
    )
    .unwrap();
    let r = audit_paths(std::slice::from_ref(&dir), &AuditOptions::default());
    let rules: Vec<&str> = r.findings.iter().map(|f| f.rule.as_str()).collect();
    assert_eq!(rules, ["deploy-without-approval"]);
    let cfg = AuditConfig::from_yaml(
        "ignore:\n  - rule: deploy-without-approval\n    paths: [\"**/other.yml\"]\nseverity:\n  deploy-without-approval: critical\n",
        "c.yml",
    )
    .unwrap();
    let opts = AuditOptions {
        config: Some(cfg),
        ..AuditOptions::default()
    };
    let r = audit_paths(std::slice::from_ref(&dir), &opts);
    assert_eq!(r.findings[0].severity, Severity::Critical);
    let opts = AuditOptions {
        min_severity: Severity::High,
        ..AuditOptions::default()
    };
    assert!(audit_paths(std::slice::from_ref(&dir), &opts).findings.is_empty());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_rule_is_registered_and_documented() {
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/audit-ci.md"))
        .unwrap();
    for r in portcullis_ci::rules() {
        assert!(
            docs.contains(&format!("### `{}`", r.id)),
            "docs/audit-ci.md lacks a section for {}",
            r.id
        );
    }
    let mut emitted = std::collections::BTreeSet::new();
    for c in crate::fixtures::cases("tune")
        .into_iter()
        .chain(crate::fixtures::cases("heldout"))
    {
        for f in audit_paths(&[c], &AuditOptions::default()).findings {
            emitted.insert(f.rule);
        }
    }
    for id in emitted {
        assert!(
            portcullis_ci::rules().iter().any(|r| r.id == id),
            "{id} emitted but not registered"
        );
    }
}
