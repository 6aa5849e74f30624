//! SARIF 2.1.0 output for code-scanning dashboards.
//!
//! Rules come from the registry with their help URIs; each result carries a
//! physical location region and a `partialFingerprints` entry computed from
//! the rule, the file and the message (which names jobs and steps, never line
//! numbers), so a finding keeps its identity when lines shift.

use serde_json::{json, Value};

use portcullis_evidence::{Finding, Location, Severity};

use crate::audit::AuditReport;
use crate::rules::RULES;

/// The SARIF schema URI we conform to.
pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// 64-bit FNV-1a, hex: stable across runs, platforms and releases.
fn fnv1a(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0u8)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn physical(loc: &Location) -> Value {
    let mut region = serde_json::Map::new();
    if let Some(l) = loc.line {
        region.insert("startLine".into(), json!(l));
    }
    if let Some(c) = loc.column {
        region.insert("startColumn".into(), json!(c));
    }
    if let Some(l) = loc.end_line {
        region.insert("endLine".into(), json!(l));
    }
    if let Some(c) = loc.end_column {
        region.insert("endColumn".into(), json!(c));
    }
    let mut phys = json!({
        "artifactLocation": { "uri": loc.file.clone().unwrap_or_default() },
    });
    if !region.is_empty() {
        if let Some(obj) = phys.as_object_mut() {
            obj.insert("region".into(), Value::Object(region));
        }
    }
    phys
}

fn result(f: &Finding) -> Value {
    let rule_index = RULES.iter().position(|r| r.id == f.rule);
    let file = f.location.as_ref().and_then(|l| l.file.as_deref()).unwrap_or("");
    let mut r = json!({
        "ruleId": f.rule,
        "level": level(f.severity),
        "message": { "text": f.message },
        "partialFingerprints": {
            "portcullisFinding/v1": fnv1a(&[&f.rule, file, &f.message, f.fragment.as_deref().unwrap_or("")])
        },
        "properties": {
            "severity": f.severity.as_str(),
            "confidence": f.confidence.as_str(),
        }
    });
    let Some(obj) = r.as_object_mut() else {
        return r;
    };
    if let Some(i) = rule_index {
        obj.insert("ruleIndex".into(), json!(i));
    }
    if let Some(loc) = &f.location {
        obj.insert("locations".into(), json!([{ "physicalLocation": physical(loc) }]));
    }
    if !f.related.is_empty() {
        let rel: Vec<Value> = f
            .related
            .iter()
            .enumerate()
            .map(|(i, l)| {
                json!({
                    "id": i,
                    "physicalLocation": physical(l),
                    "message": { "text": l.label.clone().unwrap_or_default() }
                })
            })
            .collect();
        obj.insert("relatedLocations".into(), Value::Array(rel));
    }
    if let Some(fix) = &f.fix {
        if let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert("fix".into(), json!(fix));
        }
    }
    r
}

/// Converts a report into a SARIF 2.1.0 log with one run.
pub fn to_sarif(report: &AuditReport) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": { "text": r.name },
                "fullDescription": { "text": r.description },
                "help": { "text": r.help },
                "helpUri": r.help_uri(),
                "defaultConfiguration": { "level": level(r.default_severity) },
                "properties": { "severity": r.default_severity.as_str() }
            })
        })
        .collect();
    let results: Vec<Value> = report.findings.iter().map(result).collect();
    json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "portcullis",
                    "informationUri": "https://github.com/portcullis-dev/portcullis",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules
                }
            },
            "results": results
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_ignore_line_numbers() {
        let a = Finding::new("fake-gate", Severity::High, "job 'eval' only echoes")
            .at(Location::file("w.yml").line_col(3, 1));
        let b = Finding::new("fake-gate", Severity::High, "job 'eval' only echoes")
            .at(Location::file("w.yml").line_col(9, 1));
        assert_eq!(
            result(&a)["partialFingerprints"],
            result(&b)["partialFingerprints"]
        );
    }
}
