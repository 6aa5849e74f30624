//! GGUF header sanity and chat-template inspection.
//!
//! The header's counts and lengths are checked against the bytes actually
//! present before anything is allocated, so a file claiming 2^60 tensors costs
//! nothing. The `tokenizer.chat_template` value is a Jinja program rendered by
//! llama.cpp front-ends; templates that reach Python internals escape the
//! sandbox (CVE-2024-34359, llama-cpp-python), so those fragments are findings.
//! Layout follows the GGUF specification in the ggml repository (v1-v3).

use portcullis_evidence::Severity;

use crate::scanner::FileScan;

/// Template fragments that reach Python internals or other templates.
const TEMPLATE_PATTERNS: &[(&str, Severity)] = &[
    ("__class__", Severity::Critical),
    ("__mro__", Severity::Critical),
    ("__subclasses__", Severity::Critical),
    ("__globals__", Severity::Critical),
    ("__builtins__", Severity::Critical),
    ("__import__", Severity::Critical),
    ("__init__", Severity::Critical),
    ("__base__", Severity::Critical),
    ("__getattribute__", Severity::Critical),
    ("|attr(", Severity::Critical),
    ("| attr(", Severity::Critical),
    ("os.popen", Severity::Critical),
    ("{% import", Severity::High),
    ("{%- import", Severity::High),
    ("{% include", Severity::High),
    ("{%- include", Severity::High),
    ("{% extends", Severity::High),
    ("{%- extends", Severity::High),
    ("{% from", Severity::High),
];

struct Cursor<'a> {
    d: &'a [u8],
    p: usize,
    /// Length of the whole file (`d` may be only its head).
    total: u64,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).map_err(|_| format!("length {n} does not fit"))?;
        let end = self
            .p
            .checked_add(n)
            .filter(|&e| e <= self.d.len())
            .ok_or_else(|| format!("{n} bytes at offset {} run past the end of the file", self.p))?;
        let s = self.d.get(self.p..end).ok_or("truncated")?;
        self.p = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn len(&mut self, v1: bool) -> Result<u64, String> {
        if v1 {
            self.u32().map(u64::from)
        } else {
            self.u64()
        }
    }
    fn string(&mut self, v1: bool) -> Result<&'a [u8], String> {
        let n = self.len(v1)?;
        self.take(n)
    }
    fn remaining(&self) -> u64 {
        self.total.saturating_sub(self.p as u64)
    }
}

/// Scans a GGUF blob. `data` may be only the head of a file of `total`
/// bytes: the header and metadata must lie within it, tensor data need not.
pub(crate) fn scan(fs: &mut FileScan<'_>, member: &str, data: &[u8], total: u64) {
    let mut templates = Vec::new();
    let res = parse(data, total, fs.opts.limits.max_header_bytes, &mut templates);
    for (off, key, text) in templates {
        check_template(fs, member, off, &key, &text);
    }
    if let Err((off, msg)) = res {
        fs.report("gguf-malformed", Severity::High, member, Some(off), None, msg);
    }
}

/// True when the header and metadata parse completely from `data` (the
/// head of a file of `total` bytes), so reading more would change nothing.
pub(crate) fn parses(data: &[u8], total: u64, max_header: u64) -> bool {
    parse(data, total, max_header, &mut Vec::new()).is_ok()
}

fn parse(
    data: &[u8],
    total: u64,
    max_header: u64,
    templates: &mut Vec<(u64, String, String)>,
) -> Result<(), (u64, String)> {
    let mut c = Cursor { d: data, p: 4, total };
    let e = |c: &Cursor<'_>, m: String| (c.p as u64, m);
    let version = c.u32().map_err(|m| e(&c, m))?;
    if !(1..=3).contains(&version) {
        return Err((4, format!("unsupported GGUF version {version}")));
    }
    let v1 = version == 1;
    let tensors = c.len(v1).map_err(|m| e(&c, m))?;
    let kvs = c.len(v1).map_err(|m| e(&c, m))?;
    // Smallest possible key/value: 8-byte key length, 1-byte key, 4-byte type, 1-byte value.
    if kvs > c.remaining() / 14 {
        return Err((
            c.p as u64,
            format!(
                "header claims {kvs} metadata entries, impossible in {} bytes",
                c.remaining()
            ),
        ));
    }
    // Smallest tensor info: 8-byte name length, 1 byte, 4-byte dims, 8-byte dim, 4-byte type, 8-byte offset.
    if tensors > c.remaining() / 33 {
        return Err((
            c.p as u64,
            format!(
                "header claims {tensors} tensors, impossible in {} bytes",
                c.remaining()
            ),
        ));
    }
    let mut alignment = 32u64;
    for _ in 0..kvs {
        if c.p as u64 > max_header {
            return Err((
                c.p as u64,
                format!("metadata runs past the {max_header}-byte header limit"),
            ));
        }
        let key = String::from_utf8_lossy(c.string(v1).map_err(|m| e(&c, m))?).into_owned();
        let ty = c.u32().map_err(|m| e(&c, m))?;
        let at = c.p as u64;
        if ty == 8 {
            let s = c.string(v1).map_err(|m| e(&c, m))?;
            if key.starts_with("tokenizer.chat_template") {
                templates.push((at, key.clone(), String::from_utf8_lossy(s).into_owned()));
            }
        } else if ty == 4 && key == "general.alignment" {
            alignment = u64::from(c.u32().map_err(|m| e(&c, m))?);
            if alignment == 0 || !alignment.is_power_of_two() {
                return Err((at, format!("general.alignment {alignment} is not a power of two")));
            }
        } else {
            skip_value(&mut c, ty, v1, 0).map_err(|m| e(&c, format!("metadata '{key}': {m}")))?;
        }
    }
    let mut extents = Vec::new();
    for i in 0..tensors {
        let name = c.string(v1).map_err(|m| e(&c, m))?;
        let dims = c.u32().map_err(|m| e(&c, m))?;
        if dims > 8 {
            return Err((
                c.p as u64,
                format!(
                    "tensor {i} '{}' has {dims} dimensions",
                    String::from_utf8_lossy(name)
                ),
            ));
        }
        for _ in 0..dims {
            c.len(v1).map_err(|m| e(&c, m))?;
        }
        c.u32().map_err(|m| e(&c, m))?;
        let off = c.u64().map_err(|m| e(&c, m))?;
        extents.push(off);
    }
    let data_start = (c.p as u64).div_ceil(alignment) * alignment;
    for off in extents {
        if off % alignment != 0 || data_start.checked_add(off).is_none_or(|s| s > total) {
            return Err((
                c.p as u64,
                format!("tensor data offset {off} is misaligned or past the end of the file"),
            ));
        }
    }
    Ok(())
}

fn skip_value(c: &mut Cursor<'_>, ty: u32, v1: bool, depth: u32) -> Result<(), String> {
    let fixed = match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        10..=12 => 8,
        _ => 0,
    };
    if fixed > 0 {
        c.take(fixed)?;
        return Ok(());
    }
    match ty {
        8 => {
            c.string(v1)?;
        }
        9 => {
            if depth > 2 {
                return Err("arrays nested too deeply".into());
            }
            let inner = c.u32()?;
            let n = c.len(v1)?;
            let size = match inner {
                0 | 1 | 7 => 1u64,
                2 | 3 => 2,
                4..=6 => 4,
                10..=12 => 8,
                _ => 0,
            };
            if size > 0 {
                let total = n.checked_mul(size).ok_or("array size overflows")?;
                c.take(total)?;
                return Ok(());
            }
            if n > c.remaining() {
                return Err(format!(
                    "array of {n} items cannot fit in {} bytes",
                    c.remaining()
                ));
            }
            for _ in 0..n {
                skip_value(c, inner, v1, depth + 1)?;
            }
        }
        t => return Err(format!("unknown value type {t}")),
    }
    Ok(())
}

fn check_template(fs: &mut FileScan<'_>, member: &str, off: u64, key: &str, text: &str) {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    for (pat, sev) in TEMPLATE_PATTERNS {
        let pat_compact: String = pat.chars().filter(|c| !c.is_whitespace()).collect();
        let hit = text.find(pat).or_else(|| compact.find(&pat_compact).map(|_| 0));
        if let Some(i) = hit {
            let start = text
                .char_indices()
                .map(|(j, _)| j)
                .rfind(|&j| j <= i.saturating_sub(20))
                .unwrap_or(0);
            let frag: String = text.get(start..).unwrap_or("").chars().take(80).collect();
            fs.report(
                "gguf-template-injection",
                *sev,
                member,
                Some(off),
                Some(&frag),
                format!("{key} contains '{pat}', which can escape the Jinja sandbox"),
            );
        }
    }
}
