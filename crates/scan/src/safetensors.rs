//! safetensors header validation.
//!
//! The format is an 8-byte little-endian header length, a JSON header and a
//! byte buffer. Loaders disagree on malformed headers (duplicate keys,
//! overlapping or out-of-range offsets, trailing bytes), which is how
//! parser-differential attacks hide data, so each of those is a finding.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

use portcullis_evidence::Severity;

use crate::scanner::FileScan;

struct Entries(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn dtype_size(d: &str) -> Option<u64> {
    Some(match d {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" | "C64" => 8,
        _ => return None,
    })
}

/// Validates a safetensors blob; every problem is one finding. `data` may be
/// only the head of a file of `total` bytes, as long as it holds the header.
pub(crate) fn scan(fs: &mut FileScan<'_>, member: &str, data: &[u8], total: u64) {
    let mut problems: Vec<(u64, String)> = Vec::new();
    let n = data.get(..8).map(|b| {
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        u64::from_le_bytes(a)
    });
    let Some(n) = n else { return };
    if n > fs.opts.limits.max_header_bytes {
        fs.report(
            "safetensors-malformed",
            Severity::High,
            member,
            Some(0),
            None,
            format!(
                "header length {n} is over the {}-byte limit",
                fs.opts.limits.max_header_bytes
            ),
        );
        return;
    }
    let Some(header) = usize::try_from(n).ok().and_then(|n| data.get(8..8 + n)) else {
        fs.report(
            "safetensors-malformed",
            Severity::High,
            member,
            Some(0),
            None,
            format!("header length {n} runs past the end of the file"),
        );
        return;
    };
    let entries = match serde_json::from_slice::<Entries>(header) {
        Ok(e) => e.0,
        Err(e) => {
            fs.report(
                "safetensors-malformed",
                Severity::High,
                member,
                Some(8 + e.column() as u64),
                None,
                format!("header is not a valid JSON object: {e}"),
            );
            return;
        }
    };
    let buffer = total.saturating_sub(8 + n);
    let mut seen = std::collections::HashSet::new();
    let mut ranges = Vec::new();
    for (name, v) in &entries {
        if !seen.insert(name.as_str()) {
            problems.push((8, format!("duplicate key '{name}'")));
            continue;
        }
        if name == "__metadata__" {
            let ok = v.as_object().is_some_and(|m| m.values().all(Value::is_string));
            if !ok {
                problems.push((8, "__metadata__ must map strings to strings".into()));
            }
            continue;
        }
        let dtype = v.get("dtype").and_then(Value::as_str);
        let shape: Option<Vec<u64>> = v
            .get("shape")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_u64).collect());
        let offs: Option<Vec<u64>> = v
            .get("data_offsets")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_u64).collect());
        let (Some(dtype), Some(shape), Some(offs)) = (dtype, shape, offs) else {
            problems.push((
                8,
                format!("tensor '{name}' lacks a valid dtype, shape or data_offsets"),
            ));
            continue;
        };
        let Some(size) = dtype_size(dtype) else {
            problems.push((8, format!("tensor '{name}' has unknown dtype {dtype}")));
            continue;
        };
        let [begin, end] = offs.as_slice() else {
            problems.push((8, format!("tensor '{name}' data_offsets is not [begin, end]")));
            continue;
        };
        let want = shape.iter().try_fold(size, |a, &b| a.checked_mul(b));
        if end < begin || Some(end - begin) != want {
            problems.push((
                8,
                format!(
                    "tensor '{name}' spans {} bytes but shape x dtype needs {}",
                    end.saturating_sub(*begin),
                    want.map_or("an overflowing number".to_string(), |w| w.to_string())
                ),
            ));
        }
        if *end > buffer {
            problems.push((
                8,
                format!("tensor '{name}' ends at {end}, past the {buffer}-byte buffer"),
            ));
        }
        ranges.push((*begin, *end, name.clone()));
    }
    ranges.sort();
    let mut cursor = 0u64;
    for (b, e, name) in &ranges {
        if *b != cursor {
            problems.push((
                8,
                format!("tensor '{name}' starts at {b}, expected {cursor}: offsets are not contiguous"),
            ));
        }
        cursor = cursor.max(*e);
    }
    if cursor < buffer {
        problems.push((
            8 + n + cursor,
            format!("{} trailing bytes after the last tensor", buffer - cursor),
        ));
    }
    for (off, msg) in problems.into_iter().take(32) {
        fs.report(
            "safetensors-malformed",
            Severity::High,
            member,
            Some(off),
            None,
            msg,
        );
    }
}
