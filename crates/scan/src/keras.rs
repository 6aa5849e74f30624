//! Keras model configs, from `.keras` zips (`config.json`) and `.h5` files
//! (the `model_config` attribute).
//!
//! The config is JSON naming layer classes and, in Keras 3, the module each
//! comes from. Loading it imports those modules and, for `Lambda` layers, runs
//! stored Python (marshalled bytecode in Keras 2 files). `TFSMLayer` and
//! `TorchModuleWrapper` pull in a SavedModel or a pickled torch module.
//!
//! HDF5 is read without libhdf5: the `model_config` attribute value is a JSON
//! string stored contiguously in the file, so the scanner locates JSON objects
//! that start with `{"class_name"` and parses each with a bounded length.
//! HDF5 external links are found by their link-message encoding (an external
//! link's value is "file\0object\0" after a version/flags byte); see
//! docs/scan.md for what this heuristic cannot see.

use serde_json::Value;

use portcullis_evidence::Severity;

use crate::detect::find;
use crate::policy::{classify, GlobalClass};
use crate::scanner::FileScan;

const KERAS_MODULES: &[&str] = &[
    "keras",
    "tf_keras",
    "tensorflow.keras",
    "keras_hub",
    "keras_nlp",
    "keras_cv",
];

/// Scans a blob that is a JSON Keras config.
pub(crate) fn scan_config_bytes(fs: &mut FileScan<'_>, member: &str, data: &[u8], base: u64) {
    if data.len() as u64 > fs.opts.limits.max_header_bytes {
        fs.report(
            "scan-limit-exceeded",
            Severity::High,
            member,
            Some(base),
            None,
            "Keras config is over the header limit",
        );
        return;
    }
    match serde_json::from_slice::<Value>(data) {
        Ok(v) => walk(fs, member, base, &v, 0),
        Err(e) => fs.report(
            "zip-malformed",
            Severity::High,
            member,
            Some(base),
            None,
            format!("Keras config is not valid JSON: {e}"),
        ),
    }
}

fn walk(fs: &mut FileScan<'_>, member: &str, base: u64, v: &Value, depth: u32) {
    if depth > 256 {
        return;
    }
    match v {
        Value::Object(m) => {
            if let Some(class) = m.get("class_name").and_then(Value::as_str) {
                layer(fs, member, base, class, m);
            }
            for child in m.values() {
                walk(fs, member, base, child, depth + 1);
            }
        }
        Value::Array(a) => {
            for child in a {
                walk(fs, member, base, child, depth + 1);
            }
        }
        _ => {}
    }
}

fn layer(
    fs: &mut FileScan<'_>,
    member: &str,
    base: u64,
    class: &str,
    m: &serde_json::Map<String, Value>,
) {
    let cfg = m.get("config");
    if class == "Lambda" {
        let func = cfg.and_then(|c| c.get("function"));
        let marshalled = match func {
            // Keras 2: ["<base64 marshal>", defaults, closure] with function_type "lambda".
            Some(Value::Array(a)) => a
                .first()
                .and_then(Value::as_str)
                .is_some_and(|s| s.len() > 16),
            // Keras 3: {"class_name": "__lambda__", "config": {"code": "<base64>"}}.
            Some(Value::Object(o)) => o.get("config").and_then(|c| c.get("code")).is_some(),
            Some(Value::String(s)) => s.len() > 64 && !s.contains('.'),
            _ => false,
        };
        let name = cfg
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("?");
        if marshalled {
            fs.report(
                "keras-marshalled-code",
                Severity::Critical,
                member,
                Some(base),
                Some(name),
                format!(
                    "Lambda layer '{name}' stores marshalled Python bytecode that runs on load"
                ),
            );
        } else {
            fs.report(
                "keras-lambda-layer",
                Severity::High,
                member,
                Some(base),
                Some(name),
                format!("Lambda layer '{name}' runs Python when the model is loaded or called"),
            );
        }
    }
    if class == "TFSMLayer" || class == "TorchModuleWrapper" {
        fs.report(
            "keras-wrapper-layer",
            Severity::High,
            member,
            Some(base),
            Some(class),
            format!("{class} loads a foreign model outside Keras safe mode"),
        );
    }
    if let Some(module) = m.get("module").and_then(Value::as_str) {
        let keras = KERAS_MODULES
            .iter()
            .any(|k| module == *k || module.starts_with(&format!("{k}.")));
        if !keras && module != "builtins" {
            let full = format!("{module}.{class}");
            match classify(&full) {
                GlobalClass::Flag(rule, Severity::Critical) => {
                    fs.report(
                        rule,
                        Severity::Critical,
                        member,
                        Some(base),
                        Some(&full),
                        format!("Keras config imports {full}, a known-dangerous global"),
                    );
                }
                _ => {
                    fs.report(
                        "keras-foreign-module",
                        Severity::Medium,
                        member,
                        Some(base),
                        Some(&full),
                        format!("Keras config imports {full} from outside Keras"),
                    );
                }
            }
        }
    }
}

/// Scans an HDF5 file for Keras model configs and external links.
pub(crate) fn scan_hdf5(fs: &mut FileScan<'_>, member: &str, data: &[u8]) {
    let max = usize::try_from(fs.opts.limits.max_header_bytes).unwrap_or(usize::MAX);
    let mut from = 0;
    let mut found = 0;
    while let Some(i) = find(data, b"{\"class_name\"", from) {
        if found >= 64 || fs.expired(member) {
            break;
        }
        let end = json_end(data, i, max);
        match end {
            Some(e) => {
                if let Some(slice) = data.get(i..e) {
                    if let Ok(v) = serde_json::from_slice::<Value>(slice) {
                        found += 1;
                        walk(fs, member, i as u64, &v, 0);
                    }
                }
                from = e;
            }
            None => from = i + 1,
        }
    }
    // External link (link message type 64): the link info is a 2-byte
    // length, a version/flags byte 0, then "file\0/object\0". Find the
    // "file\0/" junction and check the length field agrees.
    for marker in [&b".h5\0/"[..], &b".hdf5\0/"[..], &b".keras\0/"[..]] {
        let mut p = 0;
        while let Some(i) = find(data, marker, p) {
            p = i + 1;
            let Some(start) = (0..i)
                .rev()
                .take(4096)
                .find(|&k| data.get(k).is_some_and(|b| !b.is_ascii_graphic()))
                .map(|k| k + 1)
            else {
                continue;
            };
            let file_end = i + marker.len() - 2;
            let obj_start = file_end + 1;
            let Some(obj_len) = data
                .get(obj_start..)
                .and_then(|r| r.iter().take(4096).position(|&b| b == 0))
            else {
                continue;
            };
            let info_len = 1 + (file_end - start) + 1 + obj_len + 1;
            let ok_header = start >= 3
                && data.get(start - 1) == Some(&0)
                && data
                    .get(start - 3..start - 1)
                    .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]])))
                    == Some(info_len);
            if ok_header {
                let file =
                    String::from_utf8_lossy(data.get(start..file_end).unwrap_or(&[])).into_owned();
                let obj = String::from_utf8_lossy(
                    data.get(obj_start..obj_start + obj_len).unwrap_or(&[]),
                )
                .into_owned();
                let frag = format!("{file}:{obj}");
                fs.report(
                    "hdf5-external-link",
                    Severity::High,
                    member,
                    Some((start - 3) as u64),
                    Some(&frag),
                    format!("external link to {frag}: the loader opens another file"),
                );
            }
        }
    }
}

/// End of the JSON object starting at `start` (brace matching outside strings).
fn json_end(d: &[u8], start: usize, max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_str = false;
    let mut esc = false;
    for (k, &b) in d.get(start..)?.iter().enumerate().take(max) {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(start + k + 1);
                }
            }
            _ => {}
        }
    }
    None
}
