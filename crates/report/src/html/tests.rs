#![allow(clippy::unwrap_used, reason = "tests")]

use portcullis_evidence::predicate::{Check, Input};
use portcullis_evidence::{Finding, Location, Metrics, Severity, Verdict};
use portcullis_policy::{Decision, Reason, ReasonCode};
use serde_json::json;

use super::*;

const EVIL: &str = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>";

fn hostile_report() -> Report {
    let mut metrics = Metrics::new();
    metrics.insert(format!("selection_rate[{EVIL}]"), 0.5);
    metrics.insert(format!("refusal_rate[{EVIL}]"), 0.5);
    metrics.insert(format!("attempts[{EVIL}]"), 10.0);
    let fairness = GateView {
        name: EVIL.into(),
        kind: "fairness".into(),
        verdict: Some(Verdict::Fail),
        metrics: metrics.clone(),
        checks: vec![Check {
            metric: format!("demographic_parity_difference[{EVIL}]"),
            threshold: "<= 0.1".parse().unwrap(),
            measured: Some(0.3),
            passed: false,
        }],
        findings: vec![Finding::new(EVIL, Severity::High, EVIL)
            .at(Location::file(EVIL).label(EVIL))
            .fragment(EVIL)
            .fix(EVIL)],
        reasons: vec![EVIL.into()],
        details: json!({"attributes": {EVIL: {"groups": {
            EVIL: {"count": 50, "judged": true, "selection_rate": 0.2, "true_positive_rate": 0.5, "false_positive_rate": 0.1},
            "b": {"count": 50, "judged": true, "selection_rate": 0.5, "true_positive_rate": 0.6, "false_positive_rate": 0.2},
        }, "demographic_parity_difference": 0.3}}, "note": EVIL}),
        inputs: vec![Input {
            role: EVIL.into(),
            uri: EVIL.into(),
            sha256: None,
            model: None,
        }],
        error: Some(EVIL.into()),
        signer: Some(EVIL.into()),
        finished: Some(EVIL.into()),
        duration_ms: Some(3),
    };
    let mut llm = fairness.clone();
    llm.kind = "llm-safety".into();
    llm.name = "llm".into();
    let mut reference = fairness.clone();
    reference.kind = "reference".into();
    reference.name = "reference".into();
    reference.details = json!({"classes": [EVIL, "b"], "flip_matrix": {EVIL: {"b": 1}, "b": {EVIL: 3}},
        "concentration_test": {"most_concentrated_class": EVIL, "p_value": 0.001}});
    Report {
        digest: Some("ab".repeat(32)),
        model: Some(EVIL.into()),
        decision: Some(Decision {
            stage: EVIL.into(),
            allowed: false,
            reasons: vec![Reason {
                code: ReasonCode::GateFailed,
                gate: Some(EVIL.into()),
                message: EVIL.into(),
            }],
            gates: Vec::new(),
            approvers: vec![EVIL.into()],
            approvals_required: 2,
            notes: vec![EVIL.into()],
        }),
        gates: vec![fairness, llm, reference],
    }
}

#[test]
fn hostile_strings_in_every_field_stay_text() {
    let page = render(&hostile_report(), &Meta::default());
    // No markup from the data: the page itself has no script, image or
    // event handler at all.
    assert!(!page.contains("<script"), "a script tag leaked");
    assert!(!page.contains("<img"), "an img tag leaked");
    assert!(!page.contains("\"'>"), "a quote broke out of an attribute");
    // And the text is there, escaped, in many places (reasons, gate names,
    // plots, findings, inputs, details).
    let escaped = page.matches("&lt;script&gt;alert(1)&lt;/script&gt;").count();
    assert!(escaped >= 20, "only {escaped} escaped copies");
}

#[test]
fn the_page_forbids_scripts_and_remote_loads() {
    let page = render(&hostile_report(), &Meta::default());
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.contains("default-src 'none'"));
    // The only URL on the page is the SVG namespace: nothing to fetch.
    let svg_ns = page.matches("http://www.w3.org/2000/svg").count();
    assert!(svg_ns > 0, "the report has plots");
    assert_eq!(
        page.matches("://").count(),
        svg_ns,
        "a URL other than the SVG namespace"
    );
}

#[test]
fn fairness_plot_marks_the_worst_groups_and_the_band() {
    let r = hostile_report();
    let m = gate_section(&r.gates[0]).into_string();
    assert!(m.contains("class=\"band\""), "no threshold band");
    // Both judged groups set the worst-case difference here.
    assert_eq!(m.matches("data-flagged=\"true\"").count(), 2);
    assert!(m.contains("data-series=\"selection rate\""));
}

#[test]
fn reference_heatmap_outlines_the_concentrated_cell() {
    let r = hostile_report();
    let m = gate_section(&r.gates[2]).into_string();
    assert_eq!(m.matches("data-highlight=\"true\"").count(), 1, "{m}");
    let cell = m
        .split("<rect")
        .find(|r| r.contains("data-highlight=\"true\""))
        .unwrap();
    assert!(
        cell.contains("data-count=\"3\"") && cell.contains("data-row=\"b\""),
        "{cell}"
    );
}
