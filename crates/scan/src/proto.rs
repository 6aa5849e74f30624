//! A minimal, bounded protobuf wire-format reader, and the two protobuf model
//! formats built on it: ONNX `ModelProto` and TensorFlow `SavedModel`.
//!
//! Only the fields the checks need are followed, by field number from the
//! public `.proto` files (onnx/onnx.proto3, tensorflow/core/protobuf/
//! saved_model.proto, meta_graph.proto, graph.proto, node_def.proto,
//! function.proto). Nesting depth and field counts are bounded.

use portcullis_evidence::Severity;

use crate::scanner::FileScan;

/// Most fields read from one message.
const MAX_FIELDS: usize = 4_000_000;
/// Deepest message nesting followed (subgraphs inside attributes).
const MAX_DEPTH: u32 = 32;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8], usize),
    Fixed,
}

fn varint(d: &[u8], p: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = *d.get(*p)?;
        *p += 1;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// All fields of one message, or the offset where parsing failed.
pub(crate) fn fields(d: &[u8]) -> Result<Vec<(u32, Wire<'_>)>, usize> {
    let mut out = Vec::new();
    let mut p = 0;
    while p < d.len() {
        if out.len() >= MAX_FIELDS {
            return Err(p);
        }
        let at = p;
        let key = varint(d, &mut p).ok_or(at)?;
        let num = u32::try_from(key >> 3).map_err(|_| at)?;
        if num == 0 {
            return Err(at);
        }
        let w = match key & 7 {
            0 => Wire::Varint(varint(d, &mut p).ok_or(at)?),
            1 => {
                p = p.checked_add(8).filter(|&e| e <= d.len()).ok_or(at)?;
                Wire::Fixed
            }
            2 => {
                let n = usize::try_from(varint(d, &mut p).ok_or(at)?).map_err(|_| at)?;
                let end = p.checked_add(n).filter(|&e| e <= d.len()).ok_or(at)?;
                let w = Wire::Bytes(d.get(p..end).ok_or(at)?, p);
                p = end;
                w
            }
            5 => {
                p = p.checked_add(4).filter(|&e| e <= d.len()).ok_or(at)?;
                Wire::Fixed
            }
            _ => return Err(at),
        };
        out.push((num, w));
    }
    Ok(out)
}

/// Which protobuf model a blob is, judged from its top-level fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ModelKind {
    Onnx,
    SavedModel,
}

/// Recognises ONNX and SavedModel protobufs by their top-level field shape.
pub(crate) fn model_kind(d: &[u8]) -> Option<ModelKind> {
    if d.len() < 4 || d.first() != Some(&0x08) {
        return None;
    }
    let f = fields(d).ok()?;
    let has = |n: u32, bytes: bool| {
        f.iter()
            .any(|(k, w)| *k == n && matches!(w, Wire::Bytes(..)) == bytes)
    };
    let onnx_fields = [1u32, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25];
    if has(1, false) && has(7, true) && f.iter().all(|(k, _)| onnx_fields.contains(k)) {
        return Some(ModelKind::Onnx);
    }
    if has(1, false) && has(2, true) && f.iter().all(|(k, _)| *k == 1 || *k == 2) {
        // meta_graphs: MetaGraphDef must itself parse.
        let mg = f.iter().find_map(|(k, w)| match (k, w) {
            (2, Wire::Bytes(b, _)) => Some(*b),
            _ => None,
        })?;
        fields(mg).ok()?;
        return Some(ModelKind::SavedModel);
    }
    None
}

fn strs<'a, 'f>(f: &'f [(u32, Wire<'a>)], n: u32) -> impl Iterator<Item = (&'a [u8], usize)> + 'f {
    f.iter()
        .filter(move |(k, _)| *k == n)
        .filter_map(|(_, w)| match w {
            Wire::Bytes(b, off) => Some((*b, *off)),
            _ => None,
        })
}

fn varints(f: &[(u32, Wire<'_>)], n: u32) -> Option<u64> {
    f.iter().find_map(|(k, w)| match (k, w) {
        (k, Wire::Varint(v)) if *k == n => Some(*v),
        _ => None,
    })
}

const STANDARD_DOMAINS: &[&str] = &[
    "",
    "ai.onnx",
    "ai.onnx.ml",
    "ai.onnx.training",
    "ai.onnx.preview.training",
    "com.microsoft",
    "com.microsoft.nchwc",
    "com.microsoft.experimental",
    "com.ms.internal.nhwc",
];

struct Onnx {
    domains: std::collections::BTreeMap<String, u64>,
    escapes: Vec<(u64, String)>,
    malformed: Option<u64>,
}

/// Scans an ONNX model.
pub(crate) fn scan_onnx(fs: &mut FileScan<'_>, member: &str, d: &[u8]) {
    let top = match fields(d) {
        Ok(f) => f,
        Err(at) => {
            fs.report(
                "onnx-malformed",
                Severity::High,
                member,
                Some(at as u64),
                None,
                "protobuf field cannot be parsed",
            );
            return;
        }
    };
    let mut st = Onnx {
        domains: Default::default(),
        escapes: Vec::new(),
        malformed: None,
    };
    for (b, off) in strs(&top, 8) {
        if let Ok(opset) = fields(b) {
            for (dom, _) in strs(&opset, 1) {
                st.domains
                    .entry(String::from_utf8_lossy(dom).into_owned())
                    .or_insert(off as u64);
            }
        }
    }
    for (b, off) in strs(&top, 7) {
        graph(&mut st, b, off, 0);
    }
    let mut meta_total = 0usize;
    for (b, off) in strs(&top, 14) {
        meta_total += b.len();
        if let Ok(kv) = fields(b) {
            let key = strs(&kv, 1)
                .next()
                .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default();
            let val = strs(&kv, 2).next().map(|(v, _)| v).unwrap_or(&[]);
            if val.len() > 64 * 1024 {
                fs.report(
                    "onnx-suspicious-metadata",
                    Severity::Medium,
                    member,
                    Some(off as u64),
                    Some(&key),
                    format!("metadata value '{key}' is {} bytes", val.len()),
                );
            }
            if !crate::detect::detect(val).is_empty() {
                fs.report(
                    "onnx-suspicious-metadata",
                    Severity::Medium,
                    member,
                    Some(off as u64),
                    Some(&key),
                    format!("metadata value '{key}' holds an embedded file"),
                );
                fs.scan_blob(
                    &crate::scanner::join(member, &format!("metadata:{key}")),
                    val,
                    1,
                );
            }
        }
    }
    if meta_total > 1 << 20 {
        fs.report(
            "onnx-suspicious-metadata",
            Severity::Low,
            member,
            None,
            None,
            format!("{meta_total} bytes of metadata"),
        );
    }
    for (dom, off) in &st.domains {
        if !STANDARD_DOMAINS.contains(&dom.as_str()) {
            fs.report(
                "onnx-custom-domain",
                Severity::Medium,
                member,
                Some(*off),
                Some(dom),
                format!("operator domain '{dom}' needs a custom operator library"),
            );
        }
    }
    for (off, loc) in st.escapes {
        fs.report(
            "onnx-external-data-escape",
            Severity::Critical,
            member,
            Some(off),
            Some(&loc),
            format!("external data location '{loc}' escapes the model directory"),
        );
    }
    if let Some(at) = st.malformed {
        fs.report(
            "onnx-malformed",
            Severity::High,
            member,
            Some(at),
            None,
            "nested protobuf message cannot be parsed",
        );
    }
}

fn graph(st: &mut Onnx, d: &[u8], base: usize, depth: u32) {
    if depth > MAX_DEPTH {
        st.malformed.get_or_insert(base as u64);
        return;
    }
    let Ok(g) = fields(d) else {
        st.malformed.get_or_insert(base as u64);
        return;
    };
    for (node, off) in strs(&g, 1) {
        let Ok(n) = fields(node) else {
            st.malformed.get_or_insert((base + off) as u64);
            continue;
        };
        for (dom, doff) in strs(&n, 7) {
            st.domains
                .entry(String::from_utf8_lossy(dom).into_owned())
                .or_insert((base + off + doff) as u64);
        }
        for (attr, aoff) in strs(&n, 5) {
            if let Ok(a) = fields(attr) {
                for (sub, soff) in strs(&a, 6).chain(strs(&a, 11)) {
                    graph(st, sub, base + off + aoff + soff, depth + 1);
                }
                for (t, toff) in strs(&a, 5).chain(strs(&a, 10)) {
                    tensor(st, t, base + off + aoff + toff);
                }
            }
        }
    }
    for (t, off) in strs(&g, 5) {
        tensor(st, t, base + off);
    }
    for (sp, off) in strs(&g, 15) {
        if let Ok(s) = fields(sp) {
            for (t, toff) in strs(&s, 1).chain(strs(&s, 2)) {
                tensor(st, t, base + off + toff);
            }
        }
    }
}

fn tensor(st: &mut Onnx, d: &[u8], base: usize) {
    let Ok(t) = fields(d) else {
        st.malformed.get_or_insert(base as u64);
        return;
    };
    let _external = varints(&t, 14) == Some(1);
    for (kv, off) in strs(&t, 13) {
        if let Ok(e) = fields(kv) {
            let key = strs(&e, 1).next().map(|(k, _)| k).unwrap_or(&[]);
            if key == b"location" {
                if let Some((v, _)) = strs(&e, 2).next() {
                    let loc = String::from_utf8_lossy(v).into_owned();
                    if crate::archive::escapes(&loc) || loc.starts_with('~') {
                        st.escapes.push(((base + off) as u64, loc));
                    }
                }
            }
        }
    }
}

/// TensorFlow ops that run Python or touch the file system.
const TF_OPS: &[(&str, Severity)] = &[
    ("PyFunc", Severity::Critical),
    ("PyFuncStateless", Severity::Critical),
    ("EagerPyFunc", Severity::Critical),
    ("ReadFile", Severity::High),
    ("WriteFile", Severity::High),
    ("MatchingFiles", Severity::High),
    ("Save", Severity::High),
    ("SaveSlices", Severity::High),
    ("ImmutableConst", Severity::High),
    ("DatasetToTFRecord", Severity::High),
    ("ExperimentalDatasetToTFRecord", Severity::High),
    ("CreateSummaryFileWriter", Severity::High),
    ("WriteAudioSummary", Severity::Medium),
    ("PrintV2", Severity::Medium),
    ("DebugIdentityV2", Severity::Medium),
];

/// Scans a SavedModel protobuf: every NodeDef op in every graph and function.
pub(crate) fn scan_saved_model(fs: &mut FileScan<'_>, member: &str, d: &[u8]) {
    let Ok(top) = fields(d) else {
        fs.report(
            "onnx-malformed",
            Severity::High,
            member,
            Some(0),
            None,
            "SavedModel protobuf cannot be parsed",
        );
        return;
    };
    let mut hits: Vec<(usize, String)> = Vec::new();
    for (mg, off) in strs(&top, 2) {
        let Ok(m) = fields(mg) else { continue };
        for (gd, goff) in strs(&m, 2) {
            let Ok(g) = fields(gd) else { continue };
            let base = off + goff;
            for (node, noff) in strs(&g, 1) {
                node_op(node, base + noff, &mut hits);
            }
            for (lib, loff) in strs(&g, 2) {
                let Ok(l) = fields(lib) else { continue };
                for (func, foff) in strs(&l, 1) {
                    let Ok(f) = fields(func) else { continue };
                    for (node, noff) in strs(&f, 3) {
                        node_op(node, base + loff + foff + noff, &mut hits);
                    }
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (off, op) in hits {
        if let Some((_, sev)) = TF_OPS.iter().find(|(name, _)| *name == op) {
            if seen.insert(op.clone()) {
                fs.report(
                    "savedmodel-dangerous-op",
                    *sev,
                    member,
                    Some(off as u64),
                    Some(&op),
                    format!("graph uses {op}, which runs Python or touches files"),
                );
            }
        }
    }
}

fn node_op(node: &[u8], base: usize, hits: &mut Vec<(usize, String)>) {
    if let Ok(n) = fields(node) {
        for (op, off) in strs(&n, 2) {
            hits.push((base + off, String::from_utf8_lossy(op).into_owned()));
        }
    }
}
