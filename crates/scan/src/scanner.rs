//! Per-file scan state and the dispatch from detected format to scanner.
//!
//! One [`FileScan`] lives for one top-level file: it owns the findings, the
//! deadline and the counters that bound the whole file (members read, bytes
//! decompressed, pickle opcodes walked), so nested archives cannot multiply
//! the budget. Every scanner reports through it, which puts the file name,
//! the member path and the fix hint on each finding the same way.

use std::collections::HashSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Instant;

use portcullis_evidence::{Finding, Location, Severity, Sha256Digest};
use sha2::{Digest, Sha256};

use crate::detect::{detect, Format};
use crate::policy::PickleContext;
use crate::reading::Reading;
use crate::{archive, gguf, keras, npy, pickle_scan, proto, rules, safetensors, ScanOptions, ScannedFile};

/// Where the bytes of the top-level file can be read again to compute its
/// SHA-256 on demand: only an allowlist entry for a global that was found, or
/// [`ScanOptions::digests`], needs it.
pub(crate) enum Origin<'o> {
    /// The whole file is in memory.
    Mem(&'o [u8]),
    /// The file is open; it is hashed with positioned reads.
    File(&'o std::fs::File),
    /// Nothing to hash (fuzzing).
    None,
}

/// State for scanning one top-level file.
pub(crate) struct FileScan<'o> {
    pub file: String,
    pub opts: &'o ScanOptions,
    origin: Origin<'o>,
    /// The digest once computed; `Some(None)` when hashing failed.
    digest: Option<Option<Sha256Digest>>,
    pub deadline: Instant,
    pub decompressed: u64,
    pub members: usize,
    pub pickle_ops: u64,
    pub findings: Vec<Finding>,
    timed_out: bool,
    seen: HashSet<(String, &'static str, String)>,
    /// What kind of pickle the blob being scanned is.
    pub pickle_context: PickleContext,
    /// The secondary reading being analysed, named in its findings.
    pub reading: Option<Reading>,
}

/// A finding for a file or directory that could not be read.
pub(crate) fn unreadable(path: &str, why: &str) -> Finding {
    Finding::new("scan-unreadable", Severity::High, format!("cannot read: {why}"))
        .at(Location::file(path))
        .fix(rules::rule("scan-unreadable").map(|r| r.help).unwrap_or(""))
}

fn over_limit(name: &str, message: String) -> Finding {
    Finding::new("scan-limit-exceeded", Severity::High, message)
        .at(Location::file(name))
        .fix(rules::rule("scan-limit-exceeded").map(|r| r.help).unwrap_or(""))
}

/// Bytes read from the start of every file to recognise its format before
/// deciding how much more to read (the HDF5 superblock search and the Keras
/// config probe look this far).
const HEAD_BYTES: u64 = 64 << 10;

/// Files at least this large that are safetensors or GGUF are checked from
/// their header alone instead of being read whole.
const HEADER_ONLY_BYTES: u64 = 64 << 20;

/// Reads and scans one file, reading only the bytes the analysis needs.
/// `file` is the file opened (or the error opening it).
pub(crate) fn scan_file(
    path: &Path,
    file: std::io::Result<std::fs::File>,
    opts: &ScanOptions,
) -> (ScannedFile, Vec<Finding>) {
    let name = path.display().to_string();
    let mut out = ScannedFile {
        path: name.clone(),
        relative_path: String::new(),
        size: 0,
        formats: Vec::new(),
        sha256: None,
    };
    let file = match file {
        Ok(f) => f,
        Err(e) => return (out, vec![unreadable(&name, &e.to_string())]),
    };
    // Most model directories are many small files: one reused buffer per
    // thread holds each file's head, so a small file costs one read and no
    // allocation.
    thread_local! {
        static HEAD: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let result = HEAD.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => scan_open_file(&file, &name, &mut buf, opts),
        Err(_) => scan_open_file(&file, &name, &mut Vec::new(), opts),
    });
    let limit = opts.limits.max_file_size;
    match result {
        Ok((len, (formats, findings, digest))) => {
            out.size = len;
            out.formats = formats;
            out.sha256 = digest;
            (out, findings)
        }
        Err(Failure::Io(e)) => (out, vec![unreadable(&name, &e.to_string())]),
        Err(Failure::TooLarge(len)) => {
            out.size = len;
            let msg = format!("file is {len} bytes, over the {limit}-byte limit; not scanned");
            (out, vec![over_limit(&name, msg)])
        }
        Err(Failure::Grew(len)) => {
            out.size = len;
            let msg = format!("file grew past the {limit}-byte limit while reading; not scanned");
            (out, vec![over_limit(&name, msg)])
        }
    }
}

enum Failure {
    Io(std::io::Error),
    /// Over the size limit (the size in bytes).
    TooLarge(u64),
    /// Grew past the size limit while being read (the size first seen).
    Grew(u64),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Io(e)
    }
}

type Scanned = (Vec<Format>, Vec<Finding>, Option<Sha256Digest>);

/// Picks the cheapest complete reading of the file from its first bytes:
///
/// - a zip at offset 0 that matches no other format: the central directory
///   and the members that need analysis, read with positioned reads (a
///   PyTorch checkpoint's tensor storages are never read);
/// - a large safetensors or GGUF file: its header only;
/// - anything else: the whole file, in memory.
///
/// Each path gives exactly the findings the in-memory scan of the same bytes
/// gives (the integration tests compare them).
///
/// Returns the file's size with the scan.
fn scan_open_file(
    file: &std::fs::File,
    name: &str,
    buf: &mut Vec<u8>,
    opts: &ScanOptions,
) -> Result<(u64, Scanned), Failure> {
    let limit = opts.limits.max_file_size;
    let got = read_head(file, buf)?;
    let head = buf.get(..got).unwrap_or(&[]);
    let len = if (got as u64) < HEAD_BYTES {
        // A short read is the end of the file: no need to ask its size.
        got as u64
    } else {
        file.metadata()?.len().max(got as u64)
    };
    if len > limit {
        return Err(Failure::TooLarge(len));
    }
    if head.len() as u64 == len {
        // The whole file is in the head.
        return Ok((len, run(name, head, opts)));
    }
    scan_large(file, name, head, len, opts).map(|s| (len, s))
}

/// Fills `buf` with up to [`HEAD_BYTES`] from the start of the file; returns
/// how many were read (fewer only at the end of the file).
fn read_head(file: &std::fs::File, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let n = usize::try_from(HEAD_BYTES).unwrap_or(usize::MAX);
    if buf.len() != n {
        buf.resize(n, 0);
    }
    let mut got = 0;
    while got < n {
        let Some(dst) = buf.get_mut(got..) else { break };
        match file.read_at(dst, got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// The rest of [`scan_open_file`] for a file larger than its head.
fn scan_large(
    file: &std::fs::File,
    name: &str,
    head: &[u8],
    len: u64,
    opts: &ScanOptions,
) -> Result<Scanned, Failure> {
    let formats = detect(head);
    if head.starts_with(b"PK\x03\x04") && formats == [Format::Zip] {
        let size =
            usize::try_from(len).map_err(|_| std::io::Error::other("file too large for this platform"))?;
        let mut fs = FileScan::new(name, opts, Origin::File(file));
        let mut formats = vec![Format::Zip];
        if let Some(sub) = archive::scan_zip(&mut fs, "", &archive::Src::File(file, size), 0) {
            formats.push(sub);
        }
        let digest = fs.finish_digest();
        return Ok((formats, fs.findings, digest));
    }
    let header_only = len >= HEADER_ONLY_BYTES
        && (formats == [Format::Safetensors] || formats == [Format::Gguf])
        // A zip end record at the real end makes the file a polyglot, which
        // only the whole-file scan reports.
        && archive::find_eocd_in(&archive::Src::File(file, usize::try_from(len).unwrap_or(usize::MAX))).is_none();
    if header_only {
        let cap = len.min(opts.limits.max_header_bytes.saturating_add(16));
        let head = if formats == [Format::Safetensors] {
            // 8-byte length, then the JSON header: nothing after it is parsed.
            let mut n = [0u8; 8];
            n.copy_from_slice(head.get(..8).unwrap_or(&[0; 8]));
            read_at_most(file, 0, u64::from_le_bytes(n).saturating_add(8).min(cap))?
        } else {
            // Metadata ends where the parser says; grow the head until it
            // parses or reaches the cap (the result is then the same as
            // parsing the cap-sized head).
            let mut size = (1u64 << 20).min(cap);
            loop {
                let h = read_at_most(file, 0, size)?;
                if size >= cap || gguf::parses(&h, len, opts.limits.max_header_bytes) {
                    break h;
                }
                size = size.saturating_mul(8).min(cap);
            }
        };
        let mut fs = FileScan::new(name, opts, Origin::File(file));
        if formats == [Format::Safetensors] {
            safetensors::scan(&mut fs, "", &head, len);
        } else {
            gguf::scan(&mut fs, "", &head, len);
        }
        let digest = fs.finish_digest();
        return Ok((formats, fs.findings, digest));
    }
    let limit = opts.limits.max_file_size;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    bytes.extend_from_slice(head);
    let mut rest = file;
    rest.seek(SeekFrom::Start(head.len() as u64))?;
    rest.take(limit.saturating_add(1).saturating_sub(head.len() as u64))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(Failure::Grew(len));
    }
    Ok(run(name, &bytes, opts))
}

/// Reads up to `n` bytes at `offset` (fewer only at end of file).
fn read_at_most(file: &std::fs::File, offset: u64, n: u64) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let n = usize::try_from(n).map_err(|_| std::io::Error::other("read too large for this platform"))?;
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        let Some(dst) = buf.get_mut(got..) else { break };
        match file.read_at(dst, offset + got as u64) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// SHA-256 of a whole open file, read sequentially with positioned reads.
fn hash_file(file: &std::fs::File) -> std::io::Result<Sha256Digest> {
    use std::os::unix::fs::FileExt;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0u64;
    loop {
        let n = match file.read_at(&mut buf, offset) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or(&[]));
        offset += n as u64;
    }
    Ok(Sha256Digest(hasher.finalize().into()))
}

/// Scans bytes in memory.
pub(crate) fn scan_in_memory(name: &str, bytes: &[u8], opts: &ScanOptions) -> (Vec<Format>, Vec<Finding>) {
    let (formats, findings, _) = run(name, bytes, opts);
    (formats, findings)
}

fn run(name: &str, bytes: &[u8], opts: &ScanOptions) -> Scanned {
    let mut fs = FileScan::new(name, opts, Origin::Mem(bytes));
    let formats = fs.scan_blob("", bytes, 0);
    let digest = fs.finish_digest();
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
    pub fn new(name: &str, opts: &'o ScanOptions, origin: Origin<'o>) -> Self {
        FileScan {
            file: name.to_string(),
            opts,
            origin,
            digest: None,
            deadline: Instant::now() + opts.limits.deadline,
            decompressed: 0,
            members: 0,
            pickle_ops: 0,
            findings: Vec::new(),
            timed_out: false,
            seen: HashSet::new(),
            pickle_context: PickleContext::Plain,
            reading: None,
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
        let mut message = message.into();
        if let Some(r) = self.reading {
            message = format!("{message} (in the {})", r.describe());
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

    /// Records that two readings of `member` disagree (`reading-divergence`).
    pub fn report_divergence(&mut self, member: &str, offset: u64, readings: (Reading, Reading), what: &str) {
        let (a, b) = readings;
        let saved = self.reading.take();
        let msg = format!("the {} and the {} differ: {what}", a.describe(), b.describe());
        self.report(
            "reading-divergence",
            Severity::High,
            member,
            Some(offset),
            None,
            msg,
        );
        self.reading = saved;
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
        if self.opts.allowlist.as_ref().is_some_and(|l| l.mentions(global)) {
            // Only now is the file's digest needed; if it cannot be computed
            // the entry cannot match and the finding stands (fail closed).
            let digest = self.digest();
            if let (Some(list), Some(d)) = (&self.opts.allowlist, digest) {
                if list.accepts(&d, global) {
                    return;
                }
            }
        }
        if !self.seen.insert((member.to_string(), rule, global.to_string())) {
            return;
        }
        self.report(rule, severity, member, Some(offset), Some(global), message);
    }

    /// The top-level file's SHA-256, computed on first use.
    pub fn digest(&mut self) -> Option<Sha256Digest> {
        if let Some(d) = self.digest {
            return d;
        }
        let d = match &self.origin {
            Origin::Mem(b) => Some(Sha256Digest(Sha256::digest(b).into())),
            Origin::File(f) => match hash_file(f) {
                Ok(d) => Some(d),
                Err(e) => {
                    let why = format!("cannot compute the file's SHA-256: {e}");
                    self.findings.push(unreadable(&self.file, &why));
                    None
                }
            },
            Origin::None => None,
        };
        self.digest = Some(d);
        d
    }

    /// The digest for the file record: computed when the options ask for
    /// digests, otherwise whatever the allowlist already needed.
    fn finish_digest(&mut self) -> Option<Sha256Digest> {
        if self.opts.digests {
            self.digest()
        } else {
            self.digest.flatten()
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                fixture_files(&p, out);
            } else {
                out.push(p);
            }
        }
    }

    /// Every fixture zip read member by member from the file (the path large
    /// checkpoints take) gives the findings of the in-memory scan.
    #[test]
    fn zips_read_from_the_file_match_the_in_memory_scan() {
        let mut files = Vec::new();
        fixture_files(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures"),
            &mut files,
        );
        let opts = ScanOptions::default();
        let mut zips = 0;
        for p in files {
            let bytes = std::fs::read(&p).unwrap();
            if !bytes.starts_with(b"PK\x03\x04") || detect(&bytes) != [Format::Zip] {
                continue;
            }
            let name = p.display().to_string();
            let (want_formats, want, _) = run(&name, &bytes, &opts);
            let file = std::fs::File::open(&p).unwrap();
            let mut fs = FileScan::new(&name, &opts, Origin::File(&file));
            let mut formats = vec![Format::Zip];
            formats.extend(archive::scan_zip(
                &mut fs,
                "",
                &archive::Src::File(&file, bytes.len()),
                0,
            ));
            assert_eq!(fs.findings, want, "{name}");
            assert_eq!(formats, want_formats, "{name}");
            zips += 1;
        }
        assert!(zips >= 10, "only {zips} zip fixtures");
    }
}
