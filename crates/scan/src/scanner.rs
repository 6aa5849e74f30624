//! Per-file scan state and the dispatch from detected format to scanner.
//!
//! One [`FileScan`] lives for one top-level file: it owns the findings, the
//! deadline and the counters that bound the whole file (members read, bytes
//! decompressed, pickle opcodes walked), so nested archives cannot multiply
//! the budget. Every scanner reports through it, which puts the file name,
//! the member path and the fix hint on each finding the same way.

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;
use std::time::Instant;

use portcullis_evidence::{Finding, Location, Severity, Sha256Digest};
use sha2::{Digest, Sha256};

use crate::detect::{detect, Format};
use crate::{archive, gguf, keras, npy, pickle_scan, proto, rules, safetensors, ScanOptions, ScannedFile};

/// State for scanning one top-level file.
pub(crate) struct FileScan<'o> {
    pub file: String,
    pub opts: &'o ScanOptions,
    pub sha256: Option<Sha256Digest>,
    pub deadline: Instant,
    pub decompressed: u64,
    pub members: usize,
    pub pickle_ops: u64,
    pub findings: Vec<Finding>,
    timed_out: bool,
    seen: HashSet<(String, String, String)>,
}

/// A finding for a file or directory that could not be read.
pub(crate) fn unreadable(path: &str, why: &str) -> Finding {
    Finding::new("scan-unreadable", Severity::High, format!("cannot read: {why}"))
        .at(Location::file(path))
        .fix(rules::rule("scan-unreadable").map(|r| r.help).unwrap_or(""))
}

/// Reads, hashes and scans one file.
pub(crate) fn scan_file(path: &Path, opts: &ScanOptions) -> (ScannedFile, Vec<Finding>) {
    let name = path.display().to_string();
    let mut file = ScannedFile {
        path: name.clone(),
        size: 0,
        formats: Vec::new(),
        sha256: None,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => return (file, vec![unreadable(&name, &e.to_string())]),
    };
    file.size = meta.len();
    let limit = opts.limits.max_file_size;
    if meta.len() > limit {
        let f = Finding::new(
            "scan-limit-exceeded",
            Severity::High,
            format!(
                "file is {} bytes, over the {limit}-byte limit; not scanned",
                meta.len()
            ),
        )
        .at(Location::file(&name))
        .fix(rules::rule("scan-limit-exceeded").map(|r| r.help).unwrap_or(""));
        return (file, vec![f]);
    }
    if meta.len() >= LAZY_ZIP_BYTES {
        let result = scan_large_zip(path, &name, meta.len(), opts)
            .or_else(|| scan_large_header_format(path, &name, meta.len(), opts));
        if let Some(result) = result {
            let (formats, findings, digest) = match result {
                Ok(r) => r,
                Err(e) => return (file, vec![unreadable(&name, &e.to_string())]),
            };
            file.formats = formats;
            file.sha256 = Some(digest);
            return (file, findings);
        }
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    let read =
        std::fs::File::open(path).and_then(|f| f.take(limit.saturating_add(1)).read_to_end(&mut bytes));
    if let Err(e) = read {
        return (file, vec![unreadable(&name, &e.to_string())]);
    }
    if bytes.len() as u64 > limit {
        let f = Finding::new(
            "scan-limit-exceeded",
            Severity::High,
            format!("file grew past the {limit}-byte limit while reading; not scanned"),
        )
        .at(Location::file(&name));
        return (file, vec![f]);
    }
    file.size = bytes.len() as u64;
    let (formats, findings, digest) = run(&name, &bytes, opts);
    file.formats = formats;
    file.sha256 = Some(digest);
    (file, findings)
}

/// Zips at least this large are read on demand instead of into memory.
const LAZY_ZIP_BYTES: u64 = 64 << 20;

type Scanned = (Vec<Format>, Vec<Finding>, Sha256Digest);

/// Large zips (multi-gigabyte checkpoints) are hashed in a streaming pass and
/// then read member by member, skipping tensor storages, so the scan costs
/// one sequential read instead of a whole-file allocation. `None` when the
/// file is not a zip at offset 0.
fn scan_large_zip(path: &Path, name: &str, len: u64, opts: &ScanOptions) -> Option<std::io::Result<Scanned>> {
    use std::os::unix::fs::FileExt;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return Some(Err(e)),
    };
    let mut magic = [0u8; 4];
    if file.read_exact_at(&mut magic, 0).is_err() || &magic != b"PK\x03\x04" {
        return None;
    }
    Some((|| {
        let digest = stream_hash(&file)?;
        let mut fs = FileScan::new(name, opts);
        fs.sha256 = Some(digest);
        let len =
            usize::try_from(len).map_err(|_| std::io::Error::other("file too large for this platform"))?;
        let mut formats = vec![Format::Zip];
        if let Some(sub) = archive::scan_zip(&mut fs, "", &archive::Src::File(&file, len), 0) {
            formats.push(sub);
        }
        Ok((formats, fs.findings, digest))
    })())
}

fn stream_hash(file: &std::fs::File) -> std::io::Result<Sha256Digest> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut reader = file;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or(&[]));
    }
    Ok(Sha256Digest(hasher.finalize().into()))
}

/// Large safetensors and GGUF files (LLM weights) are checked from their head
/// alone: the header must fit in `max_header_bytes`, and the tensor bytes are
/// only hashed, never held in memory. `None` when the head is not exactly
/// one of these formats.
fn scan_large_header_format(
    path: &Path,
    name: &str,
    len: u64,
    opts: &ScanOptions,
) -> Option<std::io::Result<Scanned>> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).ok()?;
    let head_len = len.min(opts.limits.max_header_bytes.saturating_add(16));
    let mut head = vec![0u8; usize::try_from(head_len).ok()?];
    file.read_exact_at(&mut head, 0).ok()?;
    let formats = detect(&head);
    if formats != [Format::Safetensors] && formats != [Format::Gguf] {
        return None;
    }
    Some((|| {
        let digest = stream_hash(&file)?;
        let mut fs = FileScan::new(name, opts);
        fs.sha256 = Some(digest);
        if formats == [Format::Safetensors] {
            safetensors::scan(&mut fs, "", &head, len);
        } else {
            gguf::scan(&mut fs, "", &head, len);
        }
        Ok((formats, fs.findings, digest))
    })())
}

/// Scans bytes in memory.
pub(crate) fn scan_in_memory(name: &str, bytes: &[u8], opts: &ScanOptions) -> (Vec<Format>, Vec<Finding>) {
    let (formats, findings, _) = run(name, bytes, opts);
    (formats, findings)
}

fn run(name: &str, bytes: &[u8], opts: &ScanOptions) -> (Vec<Format>, Vec<Finding>, Sha256Digest) {
    let digest = Sha256Digest(Sha256::digest(bytes).into());
    let mut fs = FileScan::new(name, opts);
    fs.sha256 = Some(digest);
    let formats = fs.scan_blob("", bytes, 0);
    (formats, fs.findings, digest)
}

/// Joins a parent member path and a child name with `!`.
pub(crate) fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}!{child}")
    }
}

impl<'o> FileScan<'o> {
    /// Fresh state for the file `name`; the deadline starts now.
    pub fn new(name: &str, opts: &'o ScanOptions) -> Self {
        FileScan {
            file: name.to_string(),
            opts,
            sha256: None,
            deadline: Instant::now() + opts.limits.deadline,
            decompressed: 0,
            members: 0,
            pickle_ops: 0,
            findings: Vec::new(),
            timed_out: false,
            seen: HashSet::new(),
        }
    }

    /// Records a finding at `member` (empty for the file itself).
    pub fn report(
        &mut self,
        rule: &'static str,
        severity: Severity,
        member: &str,
        offset: Option<u64>,
        fragment: Option<&str>,
        message: impl Into<String>,
    ) {
        let severity = if self.opts.strict && severity == Severity::Medium {
            Severity::High
        } else {
            severity
        };
        let mut loc = Location::file(&self.file);
        if !member.is_empty() {
            loc = loc.member(member);
        }
        if let Some(o) = offset {
            loc = loc.offset(o);
        }
        let mut f = Finding::new(rule, severity, message).at(loc);
        if let Some(frag) = fragment {
            f = f.fragment(frag);
        }
        if let Some(info) = rules::rule(rule) {
            f = f.fix(info.help);
        }
        self.findings.push(f);
    }

    /// Records a finding about a global, once per (member, rule, global), and
    /// honours the allowlist.
    pub fn report_global(
        &mut self,
        rule: &'static str,
        severity: Severity,
        member: &str,
        offset: u64,
        global: &str,
        message: String,
    ) {
        if let (Some(list), Some(digest)) = (&self.opts.allowlist, self.sha256) {
            if list.accepts(&digest, global) {
                return;
            }
        }
        if !self
            .seen
            .insert((member.to_string(), rule.to_string(), global.to_string()))
        {
            return;
        }
        self.report(rule, severity, member, Some(offset), Some(global), message);
    }

    /// True (and reported once) when the per-file deadline has passed.
    pub fn expired(&mut self, member: &str) -> bool {
        if self.timed_out {
            return true;
        }
        if Instant::now() > self.deadline {
            self.timed_out = true;
            let secs = self.opts.limits.deadline.as_secs_f64();
            self.report(
                "scan-timeout",
                Severity::High,
                member,
                None,
                None,
                format!("per-file deadline of {secs:.0}s passed; the rest of the file was not inspected"),
            );
            return true;
        }
        false
    }

    /// Scans one blob (the file, an archive member, a decompressed stream) as
    /// every format it matches. Returns the formats found.
    pub fn scan_blob(&mut self, member: &str, data: &[u8], depth: u32) -> Vec<Format> {
        if self.expired(member) {
            return Vec::new();
        }
        if depth > self.opts.limits.max_archive_depth {
            self.report(
                "archive-too-deep",
                Severity::High,
                member,
                None,
                None,
                format!(
                    "nested more than {} archives deep; not inspected",
                    self.opts.limits.max_archive_depth
                ),
            );
            return Vec::new();
        }
        let formats = detect(data);
        if formats.len() > 1 {
            let names: Vec<&str> = formats.iter().map(|f| f.as_str()).collect();
            let joined = names.join(" + ");
            self.report(
                "polyglot-file",
                Severity::High,
                member,
                Some(0),
                Some(&joined),
                format!("content parses as {joined}; loaders will disagree on what this file is"),
            );
        }
        let mut out = formats.clone();
        for f in &formats {
            match f {
                Format::Pickle => pickle_scan::scan(self, member, data, 0, depth),
                Format::Zip => {
                    if let Some(sub) = archive::scan_zip(self, member, &archive::Src::Mem(data), depth) {
                        out.push(sub);
                    }
                }
                Format::Tar => archive::scan_tar(self, member, data, depth),
                Format::SevenZip => self.report(
                    "archive-unsupported",
                    Severity::High,
                    member,
                    Some(0),
                    Some("7z"),
                    "7-Zip archive: members cannot be inspected",
                ),
                Format::Gzip | Format::Zlib | Format::Bzip2 | Format::Xz | Format::Lzma | Format::Lz4 => {
                    archive::scan_compressed(self, member, data, *f, depth)
                }
                Format::Npy => npy::scan(self, member, data, depth),
                Format::Safetensors => safetensors::scan(self, member, data, data.len() as u64),
                Format::Gguf => gguf::scan(self, member, data, data.len() as u64),
                Format::Hdf5 => keras::scan_hdf5(self, member, data),
                Format::KerasConfig => keras::scan_config_bytes(self, member, data, 0),
                Format::Onnx => proto::scan_onnx(self, member, data),
                Format::SavedModel => proto::scan_saved_model(self, member, data),
                Format::PytorchZip | Format::KerasZip => {}
            }
        }
        if formats.is_empty() && depth == 0 {
            self.report(
                "scan-unknown-format",
                Severity::Low,
                member,
                None,
                None,
                "no model format recognised in the content",
            );
        }
        out
    }
}
