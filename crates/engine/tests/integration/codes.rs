//! The stable codes: the list is snapshotted, and each code is documented.

use portcullis_engine::ErrorCode;
use portcullis_policy::ReasonCode;

fn docs(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn listing(rows: impl Iterator<Item = (&'static str, &'static str)>) -> String {
    rows.map(|(code, summary)| format!("{code}: {summary}\n"))
        .collect()
}

#[test]
fn decision_reason_codes_are_stable_and_documented() {
    let list = listing(ReasonCode::ALL.iter().map(|c| (c.as_str(), c.summary())));
    insta::assert_snapshot!("decision_reason_codes", list);
    let doc = docs("decision-codes.md");
    for c in ReasonCode::ALL {
        assert!(
            doc.contains(&format!("`{}`", c.as_str())),
            "docs/decision-codes.md misses {c}"
        );
        // Serialised as the documented text.
        assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
    }
}

#[test]
fn engine_error_codes_are_stable_and_documented() {
    let list = listing(ErrorCode::ALL.iter().map(|c| (c.as_str(), c.summary())));
    insta::assert_snapshot!("engine_error_codes", list);
    let doc = docs("decision-codes.md");
    for c in ErrorCode::ALL {
        assert!(
            doc.contains(&format!("`{}`", c.as_str())),
            "docs/decision-codes.md misses {c}"
        );
        assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
    }
}

#[test]
fn gate_error_kinds_are_stable_and_documented() {
    let list = listing(
        portcullis_gates::GateErrorKind::ALL
            .iter()
            .map(|k| (k.as_str(), k.summary())),
    );
    insta::assert_snapshot!("gate_error_kinds", list);
    let doc = docs("decision-codes.md");
    for k in portcullis_gates::GateErrorKind::ALL {
        assert!(
            doc.contains(&format!("`{}`", k.as_str())),
            "docs/decision-codes.md misses {}",
            k.as_str()
        );
    }
}
