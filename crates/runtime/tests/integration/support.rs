//! Shared helpers: fixture paths.

use std::path::PathBuf;

pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub fn expected(dir: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(fixture(&format!("{dir}/expected.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}
