//! SARIF 2.1.0 for code-scanning uploads.
//!
//! One run per report; rules come from the analyzers' `RuleInfo`
//! registries (every registered rule is listed, so a dashboard can show the
//! rule's help before it ever fires); each result carries a
//! `partialFingerprints` entry computed from the rule, file, member and
//! fragment (or, without a fragment, the message, which names jobs and steps
//! rather than lines), so a finding keeps its identity when unrelated lines
//! move. File paths become URI references (§3.10.3): characters a URI may
//! not hold are percent-encoded. The output is checked against the OASIS
//! JSON Schema in the CLI's integration tests.
//! Spec: <https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html>

use std::collections::BTreeMap;

use portcullis_evidence::{Finding, RuleInfo, Severity};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::view::Report;

/// The SARIF schema URI.
pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
    }
}

/// The stable fingerprint of a finding.
pub fn fingerprint(f: &Finding) -> String {
    let mut h = Sha256::new();
    for part in [
        f.rule.as_str(),
        f.location.as_ref().and_then(|l| l.file.as_deref()).unwrap_or(""),
        f.location
            .as_ref()
            .and_then(|l| l.member.as_deref())
            .unwrap_or(""),
        f.fragment.as_deref().unwrap_or(&f.message),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let d: [u8; 32] = h.finalize().into();
    portcullis_evidence::Sha256Digest(d).to_hex()
}

/// A file path as a SARIF `uri` (a URI reference): a `\` becomes `/` and every
/// byte outside RFC 3986's unreserved, sub-delims, `:`, `@` and `/` is
/// percent-encoded.
pub fn path_uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'\\' => out.push('/'),
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'='
            | b':'
            | b'@'
            | b'/' => out.push(char::from(b)),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn location(loc: &portcullis_evidence::Location) -> Value {
    let mut region = serde_json::Map::new();
    if let Some(l) = loc.line {
        region.insert("startLine".into(), json!(l));
        if let Some(c) = loc.column {
            region.insert("startColumn".into(), json!(c));
        }
        if let Some(el) = loc.end_line {
            region.insert("endLine".into(), json!(el));
        }
        if let Some(ec) = loc.end_column {
            region.insert("endColumn".into(), json!(ec));
        }
    } else if let Some(o) = loc.offset {
        region.insert("byteOffset".into(), json!(o));
    }
    let mut phys = serde_json::Map::new();
    phys.insert(
        "artifactLocation".into(),
        json!({"uri": path_uri(loc.file.as_deref().unwrap_or_default())}),
    );
    if !region.is_empty() {
        phys.insert("region".into(), Value::Object(region));
    }
    let mut l = json!({"physicalLocation": Value::Object(phys)});
    let mut logical = Vec::new();
    if let Some(m) = &loc.member {
        logical.push(json!({"name": m, "kind": "member"}));
    }
    if !logical.is_empty() {
        l["logicalLocations"] = json!(logical);
    }
    if let Some(label) = &loc.label {
        l["message"] = json!({"text": label});
    }
    l
}

/// A SARIF log for findings from one tool component: every rule of `rules`
/// in registry order, then any rule id a finding names that the registry
/// lacks, and one result per finding in the given order.
pub fn from_findings(rules: &[RuleInfo], findings: &[Finding]) -> Value {
    let mut known: BTreeMap<String, usize> = BTreeMap::new();
    let mut rule_objs: Vec<Value> = Vec::new();
    let mut add_rule = |id: &str, info: Option<&RuleInfo>, sev: Severity| -> usize {
        if let Some(i) = known.get(id) {
            return *i;
        }
        let idx = rule_objs.len();
        let obj = match info {
            Some(r) => json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.name},
                "fullDescription": {"text": r.description},
                "help": {"text": r.help},
                "helpUri": r.help_uri(),
                "defaultConfiguration": {"level": level(r.default_severity)},
                "properties": {"security-severity": security_severity(r.default_severity), "tags": ["security"]}
            }),
            None => json!({
                "id": id,
                "shortDescription": {"text": id},
                "defaultConfiguration": {"level": level(sev)},
                "properties": {"security-severity": security_severity(sev), "tags": ["security"]}
            }),
        };
        rule_objs.push(obj);
        known.insert(id.to_string(), idx);
        idx
    };
    for r in rules {
        add_rule(r.id, Some(r), r.default_severity);
    }
    let mut results = Vec::new();
    for f in findings {
        let info = rules.iter().find(|r| r.id == f.rule);
        let idx = add_rule(&f.rule, info, f.severity);
        let mut text = f.message.clone();
        if let Some(fix) = &f.fix {
            let stop = if text.ends_with(['.', '!', '?']) { "" } else { "." };
            text.push_str(&format!("{stop} Fix: {fix}"));
        }
        let mut r = json!({
            "ruleId": f.rule,
            "ruleIndex": idx,
            "level": level(f.severity),
            "message": {"text": text},
            "partialFingerprints": {"portcullisFinding/v1": fingerprint(f)},
            "properties": {"severity": f.severity.as_str(), "confidence": f.confidence.as_str()}
        });
        if let Some(loc) = &f.location {
            r["locations"] = json!([location(loc)]);
        }
        if !f.related.is_empty() {
            let rel: Vec<Value> = f
                .related
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let mut v = location(l);
                    v["id"] = json!(i);
                    v
                })
                .collect();
            r["relatedLocations"] = json!(rel);
        }
        results.push(r);
    }
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "portcullis",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/portcullis-dev/portcullis",
                "rules": rule_objs
            }},
            "results": results
        }]
    })
}

/// A SARIF log for a gate report: every failed check and every finding is
/// a result; the policy file is the location when nothing better is known.
pub fn render(report: &Report, policy_file: Option<&str>) -> String {
    let mut findings = Vec::new();
    for g in &report.gates {
        findings.extend(g.findings.iter().cloned());
        if !g.passed() {
            for r in &g.reasons {
                let mut f = Finding::new(
                    format!("gate-{}", g.kind),
                    Severity::High,
                    format!("gate '{}': {r}", g.name),
                )
                .fragment(format!("{}:{}", g.name, r));
                if let Some(p) = policy_file {
                    f = f.at(portcullis_evidence::Location::file(p));
                }
                findings.push(f);
            }
        }
    }
    if let Some(d) = &report.decision {
        for r in d.reasons.iter().filter(|r| r.gate.is_none()) {
            let mut f = Finding::new(r.code.as_str(), Severity::High, r.message.clone());
            if let Some(p) = policy_file {
                f = f.at(portcullis_evidence::Location::file(p));
            }
            findings.push(f);
        }
    }
    crate::json::to_pretty(&from_findings(&[], &findings))
}

#[cfg(test)]
mod tests {
    use portcullis_evidence::Location;

    use super::*;

    const RULES: &[RuleInfo] = &[
        RuleInfo {
            id: "first",
            name: "First",
            description: "d",
            help: "h",
            default_severity: Severity::High,
            docs: "x.md#first",
        },
        RuleInfo {
            id: "second",
            name: "Second",
            description: "d",
            help: "h",
            default_severity: Severity::Low,
            docs: "x.md#second",
        },
    ];

    #[test]
    fn fingerprints_ignore_line_numbers_but_not_the_message() {
        let at = |line| {
            Finding::new("first", Severity::High, "job 'eval' only echoes")
                .at(Location::file("w.yml").line_col(line, 1))
        };
        assert_eq!(fingerprint(&at(3)), fingerprint(&at(9)));
        let other = Finding::new("first", Severity::High, "job 'test' only echoes")
            .at(Location::file("w.yml").line_col(3, 1));
        assert_ne!(fingerprint(&at(3)), fingerprint(&other));
    }

    #[test]
    fn every_registered_rule_is_listed_and_rule_indexes_point_at_their_rule() {
        let findings = [
            Finding::new("second", Severity::Low, "b"),
            Finding::new("unregistered", Severity::Medium, "c"),
        ];
        let log = from_findings(RULES, &findings);
        let run = &log["runs"][0];
        let ids: Vec<&str> = run["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["first", "second", "unregistered"]);
        assert_eq!(run["results"][0]["ruleIndex"], 1);
        assert_eq!(run["results"][1]["ruleIndex"], 2);
    }

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(path_uri("a/b c/{{x}}.yml"), "a/b%20c/%7B%7Bx%7D%7D.yml");
        assert_eq!(path_uri("dir\\w.yml"), "dir/w.yml");
        assert_eq!(path_uri("/abs/50%.yml"), "/abs/50%25.yml");
        assert_eq!(path_uri("é"), "%C3%A9");
    }
}
