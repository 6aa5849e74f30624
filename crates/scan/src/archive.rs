//! Archives and compressed wrappers: a bounded zip central-directory reader,
//! tar, and gzip/zlib/bzip2/xz/lzma/lz4 streams.
//!
//! The zip reader reads as leniently as PyTorch does: it trusts the central
//! directory, ignores CRCs and flag bits, and finds member data through the
//! local header's own name and extra lengths. It then compares each local
//! header with its central-directory entry and reports disagreements, since
//! attackers use them to show one file to a scanner and another to a loader.
//! Like Python's `zipfile`, it tolerates data prepended to the archive.
//! Every member counts against the file's member and decompression budgets.

use std::borrow::Cow;
use std::io::{Read, Write};

use portcullis_evidence::Severity;

use crate::detect::Format;
use crate::policy::PickleContext;
use crate::reading::Reading;
use crate::scanner::{join, FileScan};

/// Where zip bytes come from: memory, or a file read on demand so that a
/// multi-gigabyte checkpoint's tensor storages are never read at all.
pub(crate) enum Src<'d> {
    /// Bytes already in memory.
    Mem(&'d [u8]),
    /// A file of the given length, read with positioned reads.
    File(&'d std::fs::File, usize),
}

impl<'d> Src<'d> {
    fn len(&self) -> usize {
        match self {
            Src::Mem(d) => d.len(),
            Src::File(_, n) => *n,
        }
    }

    /// The bytes in `start..end`, or `None` when out of range or unreadable.
    fn get(&self, start: usize, end: usize) -> Option<Cow<'d, [u8]>> {
        if start > end || end > self.len() {
            return None;
        }
        match self {
            Src::Mem(d) => d.get(start..end).map(Cow::Borrowed),
            Src::File(f, _) => {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0u8; end - start];
                f.read_exact_at(&mut buf, start as u64).ok()?;
                Some(Cow::Owned(buf))
            }
        }
    }
}

/// The end-of-central-directory facts the reader needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Eocd {
    /// Number of entries the directory claims.
    pub entries: u64,
    /// Where the directory starts in `data`, after correcting for prepended bytes.
    pub cd_start: usize,
    /// Its size.
    pub cd_size: usize,
    /// Bytes prepended before the archive (added to every local offset).
    pub base: usize,
}

fn u16le(d: &[u8], at: usize) -> Option<u16> {
    let b = d.get(at..at + 2)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn u32le(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn u64le(d: &[u8], at: usize) -> Option<u64> {
    let b = d.get(at..at + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// Finds and validates the end-of-central-directory record (zip64 aware).
pub(crate) fn find_eocd(data: &[u8]) -> Option<Eocd> {
    find_eocd_in(&Src::Mem(data))
}

pub(crate) fn find_eocd_in(src: &Src<'_>) -> Option<Eocd> {
    let len = src.len();
    if len < 22 {
        return None;
    }
    let t0 = len.saturating_sub(22 + 65535);
    let tail = src.get(t0, len)?;
    // Candidates are the offsets 0..=len-22 of the tail, searched backwards
    // (every file is probed for a trailing zip, so this is a vectorised search).
    let window = tail.get(..tail.len() - 18)?;
    // Most files have no end record: a forward search (the vectorised one)
    // rules that out before the backward walk over the candidates.
    memchr::memmem::find(window, b"PK\x05\x06")?;
    memchr::memmem::rfind_iter(window, b"PK\x05\x06").find_map(|i| parse_eocd(src, &tail, t0, i))
}

fn parse_eocd(src: &Src<'_>, tail: &[u8], t0: usize, i: usize) -> Option<Eocd> {
    let mut entries = u64::from(u16le(tail, i + 10)?);
    let mut cd_size = u64::from(u32le(tail, i + 12)?);
    let mut cd_offset = u64::from(u32le(tail, i + 16)?);
    let at = t0 + i;
    let mut record_at = at;
    // zip64 locator just before the EOCD.
    if i >= 20 && tail.get(i - 20..i - 16) == Some(b"PK\x06\x07") {
        let z64 = usize::try_from(u64le(tail, i - 20 + 8)?).ok()?;
        if let Some(rec) = src.get(z64, z64.checked_add(56)?) {
            if rec.get(..4) == Some(b"PK\x06\x06") {
                entries = u64le(&rec, 32)?;
                cd_size = u64le(&rec, 40)?;
                cd_offset = u64le(&rec, 48)?;
                record_at = z64;
            }
        }
    }
    let cd_size = usize::try_from(cd_size).ok()?;
    let cd_offset = usize::try_from(cd_offset).ok()?;
    let cd_start = record_at.checked_sub(cd_size)?;
    let base = cd_start.checked_sub(cd_offset)?;
    if entries > 0 && src.get(cd_start, cd_start + 4).as_deref() != Some(b"PK\x01\x02") {
        return None;
    }
    Some(Eocd {
        entries,
        cd_start,
        cd_size,
        base,
    })
}

/// One central-directory entry.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub name: String,
    pub method: u16,
    pub flags: u16,
    pub csize: u64,
    pub usize_: u64,
    pub local: usize,
}

fn read_cd(src: &Src<'_>, e: &Eocd, max: usize) -> Result<Vec<Entry>, String> {
    let cd = src
        .get(e.cd_start, e.cd_start + e.cd_size)
        .ok_or_else(|| format!("central directory at byte {} cannot be read", e.cd_start))?;
    let data: &[u8] = &cd;
    let mut out = Vec::new();
    let mut p = 0;
    let end = e.cd_size;
    while p < end {
        if data.get(p..p + 4) != Some(b"PK\x01\x02") {
            break;
        }
        if out.len() >= max {
            return Err(format!("more than {max} members"));
        }
        let at = e.cd_start + p;
        let bad = || format!("central directory entry at byte {at} is truncated");
        let flags = u16le(data, p + 8).ok_or_else(bad)?;
        let method = u16le(data, p + 10).ok_or_else(bad)?;
        let mut csize = u64::from(u32le(data, p + 20).ok_or_else(bad)?);
        let mut usize_ = u64::from(u32le(data, p + 24).ok_or_else(bad)?);
        let nlen = usize::from(u16le(data, p + 28).ok_or_else(bad)?);
        let xlen = usize::from(u16le(data, p + 30).ok_or_else(bad)?);
        let clen = usize::from(u16le(data, p + 32).ok_or_else(bad)?);
        let mut local = u64::from(u32le(data, p + 42).ok_or_else(bad)?);
        let name_bytes = data.get(p + 46..p + 46 + nlen).ok_or_else(bad)?;
        let extra = data.get(p + 46 + nlen..p + 46 + nlen + xlen).ok_or_else(bad)?;
        // zip64 extended information: fields present only where the 32-bit value is saturated.
        let mut x = 0;
        while x + 4 <= extra.len() {
            let id = u16le(extra, x).unwrap_or(0);
            let len = usize::from(u16le(extra, x + 2).unwrap_or(0));
            if id == 1 {
                let mut q = x + 4;
                if usize_ == 0xffff_ffff {
                    usize_ = u64le(extra, q).unwrap_or(usize_);
                    q += 8;
                }
                if csize == 0xffff_ffff {
                    csize = u64le(extra, q).unwrap_or(csize);
                    q += 8;
                }
                if local == 0xffff_ffff {
                    local = u64le(extra, q).unwrap_or(local);
                }
            }
            x += 4 + len;
        }
        let local = usize::try_from(local)
            .map_err(|_| bad())?
            .checked_add(e.base)
            .ok_or_else(bad)?;
        out.push(Entry {
            name: String::from_utf8_lossy(name_bytes).into_owned(),
            method,
            flags,
            csize,
            usize_,
            local,
        });
        p += 46 + nlen + xlen + clen;
    }
    Ok(out)
}

/// True for names that escape the extraction directory.
pub(crate) fn escapes(name: &str) -> bool {
    let n = name.replace('\\', "/");
    n.starts_with('/') || n.as_bytes().get(1) == Some(&b':') || n.split('/').any(|c| c == "..")
}

/// Scans a zip archive; returns a more specific format when recognised.
pub(crate) fn scan_zip(fs: &mut FileScan<'_>, member: &str, src: &Src<'_>, depth: u32) -> Option<Format> {
    let Some(eocd) = find_eocd_in(src) else {
        fs.report(
            "zip-malformed",
            Severity::High,
            member,
            Some(0),
            None,
            "zip local header found but no valid end-of-central-directory record",
        );
        return None;
    };
    let remaining = fs.opts.limits.max_members.saturating_sub(fs.members);
    let entries = match read_cd(src, &eocd, remaining) {
        Ok(e) => e,
        Err(why) => {
            fs.report(
                "scan-limit-exceeded",
                Severity::High,
                member,
                Some(eocd.cd_start as u64),
                None,
                format!("zip central directory: {why}"),
            );
            return None;
        }
    };
    fs.members += entries.len();
    if (entries.len() as u64) != eocd.entries {
        fs.report(
            "zip-header-mismatch",
            Severity::Medium,
            member,
            Some(eocd.cd_start as u64),
            None,
            format!(
                "end record claims {} entries but the directory holds {}",
                eocd.entries,
                entries.len()
            ),
        );
    }
    let is_torch = entries
        .iter()
        .any(|e| e.name.ends_with("data.pkl") || e.name.ends_with("constants.pkl"));
    let is_keras =
        entries.iter().any(|e| e.name == "config.json") && entries.iter().any(|e| e.name == "metadata.json");
    let torch_prefix: Vec<String> = entries
        .iter()
        .filter(|e| e.name.ends_with("data.pkl"))
        .map(|e| e.name.trim_end_matches("data.pkl").to_string())
        .collect();
    let mut names = std::collections::HashSet::new();
    for e in &entries {
        if fs.expired(member) {
            return None;
        }
        let sub = join(member, &e.name);
        if !names.insert(e.name.clone()) {
            // Both copies are scanned below; which one a loader takes is
            // the divergence.
            fs.report_divergence(
                &sub,
                e.local as u64,
                (Reading::ZipFirstOfName, Reading::ZipLastOfName),
                &format!(
                    "two members are named '{}' and loaders pick different copies",
                    e.name
                ),
            );
        }
        if escapes(&e.name) {
            fs.report(
                "zip-path-traversal",
                Severity::High,
                &sub,
                Some(e.local as u64),
                Some(&e.name),
                format!("member path '{}' escapes the extraction directory", e.name),
            );
        }
        let Some(start) = check_local(fs, &sub, src, e) else {
            continue;
        };
        // PyTorch storages are raw tensor bytes that torch never unpickles:
        // their local headers are checked, their bytes are not read.
        let raw_storage = is_torch
            && torch_prefix
                .iter()
                .any(|p| e.name.starts_with(&format!("{p}data/")));
        if raw_storage || e.name.ends_with('/') {
            continue;
        }
        let len = usize::try_from(e.csize).unwrap_or(usize::MAX);
        let Some(body) = start.checked_add(len).and_then(|end| src.get(start, end)) else {
            fs.report(
                "zip-malformed",
                Severity::High,
                &sub,
                Some(e.local as u64),
                None,
                format!(
                    "member data of {} bytes runs past the end of the archive",
                    e.csize
                ),
            );
            continue;
        };
        let body: &[u8] = &body;
        // A checkpoint's data.pkl may import only what torch.save writes.
        let ctx = if is_torch && e.name.ends_with("data.pkl") {
            PickleContext::TorchCheckpoint
        } else {
            PickleContext::Plain
        };
        let outer = std::mem::replace(&mut fs.pickle_context, ctx);
        scan_member(fs, &sub, body, e.method, e.local, e.usize_, depth);
        fs.pickle_context = outer;
    }
    hidden_local_members(fs, member, src, &eocd, &entries, depth);
    if is_torch {
        Some(Format::PytorchZip)
    } else if is_keras {
        Some(Format::KerasZip)
    } else {
        None
    }
}

/// Scans one member's stored or deflated bytes; other methods are a finding.
fn scan_member(
    fs: &mut FileScan<'_>,
    sub: &str,
    body: &[u8],
    method: u16,
    at: usize,
    declared: u64,
    depth: u32,
) {
    match method {
        0 => {
            fs.scan_blob(sub, body, depth + 1);
        }
        8 => {
            if let Some(bytes) = inflate_bounded(fs, sub, body, declared) {
                fs.scan_blob(sub, &bytes, depth + 1);
            }
        }
        m => {
            let frag = format!("method {m}");
            fs.report(
                "zip-unsupported-member",
                Severity::High,
                sub,
                Some(at as u64),
                Some(&frag),
                format!("compression method {m} cannot be inspected"),
            );
        }
    }
}

/// The local-header reading: walks local headers from the start of the
/// archive as a streaming extractor does. A local header that no
/// central-directory entry points at is a member the central-directory
/// reading never sees: a divergence, and its content is scanned in that
/// reading. The walk stops at the first bytes that are not a local header
/// it can step over.
fn hidden_local_members(
    fs: &mut FileScan<'_>,
    member: &str,
    src: &Src<'_>,
    eocd: &Eocd,
    entries: &[Entry],
    depth: u32,
) {
    let known: std::collections::HashMap<usize, u64> = entries.iter().map(|e| (e.local, e.csize)).collect();
    let mut at = eocd.base;
    let mut steps = 0usize;
    while steps < fs.opts.limits.max_members.saturating_add(1) && at < eocd.cd_start {
        steps += 1;
        let Some(head) = src.get(at, at.saturating_add(30)) else {
            return;
        };
        let head: &[u8] = &head;
        if head.get(..4) != Some(b"PK\x03\x04") {
            return;
        }
        let (Some(flags), Some(method), Some(lcsize), Some(lusize), Some(nlen), Some(xlen)) = (
            u16le(head, 6),
            u16le(head, 8),
            u32le(head, 18),
            u32le(head, 22),
            u16le(head, 26),
            u16le(head, 28),
        ) else {
            return;
        };
        let data = at + 30 + usize::from(nlen) + usize::from(xlen);
        let csize = match known.get(&at) {
            Some(c) => *c,
            None => {
                let name_bytes = src.get(at + 30, at + 30 + usize::from(nlen));
                let name = name_bytes
                    .as_deref()
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                let sub = join(member, &name);
                fs.report_divergence(
                    &sub,
                    at as u64,
                    (Reading::ZipCentralDirectory, Reading::ZipLocalHeaders),
                    &format!(
                        "a local header at byte {at} holds member '{name}', which the central directory does not list"
                    ),
                );
                if flags & 0x08 != 0 && lcsize == 0 {
                    // Size only in a trailing descriptor: cannot step over it.
                    return;
                }
                let len = usize::try_from(lcsize).unwrap_or(usize::MAX);
                if let Some(body) = data.checked_add(len).and_then(|end| src.get(data, end)) {
                    let body: &[u8] = &body;
                    fs.members += 1;
                    let saved = fs.reading.replace(Reading::ZipLocalHeaders);
                    scan_member(fs, &sub, body, method, at, u64::from(lusize), depth);
                    fs.reading = saved;
                }
                u64::from(lcsize)
            }
        };
        let Some(next) = usize::try_from(csize).ok().and_then(|c| data.checked_add(c)) else {
            return;
        };
        // A data descriptor (with or without its signature) may follow.
        at = next;
        if flags & 0x08 != 0 {
            let sig = src.get(at, at.saturating_add(4));
            at += if sig.as_deref() == Some(b"PK\x07\x08") {
                16
            } else {
                12
            };
        }
    }
}

/// Checks the member's local header against the central directory and
/// returns where its data starts.
fn check_local(fs: &mut FileScan<'_>, sub: &str, src: &Src<'_>, e: &Entry) -> Option<usize> {
    let at = e.local;
    let head = src.get(at, at.checked_add(30)?);
    let data: &[u8] = head.as_deref().unwrap_or(&[]);
    if data.get(..4) != Some(b"PK\x03\x04") {
        fs.report(
            "zip-malformed",
            Severity::High,
            sub,
            Some(at as u64),
            None,
            "central directory points at a missing local header",
        );
        return None;
    }
    let lflags = u16le(data, 6)?;
    let lmethod = u16le(data, 8)?;
    let lcsize = u32le(data, 18)?;
    let lusize = u32le(data, 22)?;
    let nlen = usize::from(u16le(data, 26)?);
    let xlen = usize::from(u16le(data, 28)?);
    let lname_bytes = src.get(at + 30, at + 30 + nlen);
    let lname = lname_bytes.as_deref().map(String::from_utf8_lossy);
    let mut diffs = Vec::new();
    if lname.as_deref() != Some(e.name.as_str()) {
        // Streaming extractors name the member after its local header.
        let local = lname.unwrap_or_default();
        fs.report_divergence(
            sub,
            at as u64,
            (Reading::ZipCentralDirectory, Reading::ZipLocalHeaders),
            &format!(
                "the local header names the member '{local}', the central directory '{}'",
                e.name
            ),
        );
    }
    if lmethod != e.method {
        diffs.push(format!("method {lmethod} vs {}", e.method));
    }
    let descriptor = lflags & 0x08 != 0;
    let sat = |v: u32| v == 0xffff_ffff;
    if !descriptor && !sat(lcsize) && (u64::from(lcsize) != e.csize || u64::from(lusize) != e.usize_) {
        diffs.push(format!("sizes {lcsize}/{lusize} vs {}/{}", e.csize, e.usize_));
    }
    if lflags & 0x01 != 0 || e.flags & 0x01 != 0 {
        diffs.push("encryption flag set (ignored, as PyTorch does)".into());
    }
    if !diffs.is_empty() {
        fs.report(
            "zip-header-mismatch",
            Severity::Medium,
            sub,
            Some(at as u64),
            Some(&e.name),
            format!(
                "local header disagrees with the central directory: {}",
                diffs.join(", ")
            ),
        );
    }
    Some(at + 30 + nlen + xlen)
}

/// Budget left for decompression in this file.
fn budget(fs: &FileScan<'_>) -> u64 {
    fs.opts
        .limits
        .max_decompressed_bytes
        .saturating_sub(fs.decompressed)
}

fn inflate_bounded(fs: &mut FileScan<'_>, sub: &str, body: &[u8], declared: u64) -> Option<Vec<u8>> {
    let ratio = fs.opts.limits.max_compression_ratio;
    if declared > (1 << 20) && declared / (body.len() as u64).max(1) > ratio {
        fs.report(
            "archive-bomb",
            Severity::High,
            sub,
            None,
            None,
            format!(
                "declares {declared} bytes from {} compressed (ratio over {ratio}); not inflated",
                body.len()
            ),
        );
        return None;
    }
    let dec = flate2::read::DeflateDecoder::new(body);
    read_bounded(fs, sub, dec, body.len())
}

fn read_bounded<R: Read>(fs: &mut FileScan<'_>, sub: &str, r: R, compressed: usize) -> Option<Vec<u8>> {
    let limit = budget(fs);
    let ratio_cap = (compressed as u64)
        .saturating_mul(fs.opts.limits.max_compression_ratio)
        .max(1 << 20);
    let cap = limit.min(ratio_cap);
    let mut out = Vec::new();
    let res = r.take(cap.saturating_add(1)).read_to_end(&mut out);
    fs.decompressed += out.len() as u64;
    if out.len() as u64 > cap {
        let why = if cap == limit {
            format!(
                "decompresses past the per-file budget of {} bytes",
                fs.opts.limits.max_decompressed_bytes
            )
        } else {
            format!(
                "decompresses past {} times its compressed size",
                fs.opts.limits.max_compression_ratio
            )
        };
        fs.report("archive-bomb", Severity::High, sub, None, None, why);
        return None;
    }
    if let Err(e) = res {
        fs.report(
            "zip-malformed",
            Severity::High,
            sub,
            None,
            None,
            format!("stream does not decompress: {e}"),
        );
        return None;
    }
    Some(out)
}

/// A writer that refuses to grow past a cap (for lzma-rs, which writes).
struct CapWriter {
    buf: Vec<u8>,
    cap: u64,
}

impl Write for CapWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() as u64 + b.len() as u64 > self.cap {
            return Err(std::io::Error::other("decompression cap reached"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decompresses a wrapped stream (joblib's compressors) and scans the inside.
pub(crate) fn scan_compressed(fs: &mut FileScan<'_>, member: &str, data: &[u8], f: Format, depth: u32) {
    let sub = join(member, &format!("<{}>", f.as_str()));
    let inner = match f {
        Format::Gzip => read_bounded(fs, &sub, flate2::read::MultiGzDecoder::new(data), data.len()),
        Format::Zlib => read_bounded(fs, &sub, flate2::read::ZlibDecoder::new(data), data.len()),
        Format::Bzip2 => read_bounded(fs, &sub, bzip2::read::MultiBzDecoder::new(data), data.len()),
        Format::Lz4 => read_bounded(fs, &sub, lz4_flex::frame::FrameDecoder::new(data), data.len()),
        Format::Xz | Format::Lzma => {
            let cap = budget(fs).min(
                (data.len() as u64)
                    .saturating_mul(fs.opts.limits.max_compression_ratio)
                    .max(1 << 20),
            );
            // lzma-rs 0.3 can overflow on corrupt xz index sizes (found by the
            // mutation sweep); a decoder panic becomes a finding, not a crash.
            let run = std::panic::catch_unwind(|| {
                let mut w = CapWriter { buf: Vec::new(), cap };
                let mut r = std::io::BufReader::new(data);
                let res = if f == Format::Xz {
                    lzma_rs::xz_decompress(&mut r, &mut w)
                } else {
                    lzma_rs::lzma_decompress(&mut r, &mut w)
                };
                (w.buf, res.map_err(|e| e.to_string()))
            });
            match run {
                Ok((buf, Ok(()))) => {
                    fs.decompressed += buf.len() as u64;
                    Some(buf)
                }
                Ok((buf, Err(e))) => {
                    fs.decompressed += buf.len() as u64;
                    let capped = buf.len() as u64 + (1 << 16) > cap;
                    let rule = if capped { "archive-bomb" } else { "zip-malformed" };
                    fs.report(
                        rule,
                        Severity::High,
                        &sub,
                        None,
                        None,
                        format!("{} stream: {e}", f.as_str()),
                    );
                    None
                }
                Err(_) => {
                    fs.report(
                        "zip-malformed",
                        Severity::High,
                        &sub,
                        None,
                        None,
                        format!("{} stream is corrupt: the decoder failed", f.as_str()),
                    );
                    None
                }
            }
        }
        _ => None,
    };
    if let Some(bytes) = inner {
        fs.scan_blob(&sub, &bytes, depth + 1);
    }
}

/// True when a ustar/GNU tar header sits at offset 0.
pub(crate) fn is_tar(data: &[u8]) -> bool {
    matches!(data.get(257..262), Some(b"ustar")) && tar_checksum_ok(data.get(..512).unwrap_or(&[]))
}

fn tar_checksum_ok(h: &[u8]) -> bool {
    if h.len() < 512 {
        return false;
    }
    let want = octal(h.get(148..156).unwrap_or(&[]));
    let sum: u64 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| if (148..156).contains(&i) { 32 } else { u64::from(b) })
        .sum();
    want == Some(sum)
}

fn octal(f: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(f).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

fn cstr(f: &[u8]) -> String {
    let end = f.iter().position(|&b| b == 0).unwrap_or(f.len());
    String::from_utf8_lossy(f.get(..end).unwrap_or(&[])).into_owned()
}

/// Scans a tar archive's regular members; links and paths are checked for traversal.
pub(crate) fn scan_tar(fs: &mut FileScan<'_>, member: &str, data: &[u8], depth: u32) {
    let mut p = 0usize;
    let mut long_name: Option<String> = None;
    while let Some(h) = data.get(p..p + 512) {
        if h.iter().all(|&b| b == 0) {
            return;
        }
        if fs.expired(member) {
            return;
        }
        if !tar_checksum_ok(h) {
            fs.report(
                "zip-malformed",
                Severity::High,
                member,
                Some(p as u64),
                None,
                "tar header checksum does not match",
            );
            return;
        }
        fs.members += 1;
        if fs.members > fs.opts.limits.max_members {
            fs.report(
                "scan-limit-exceeded",
                Severity::High,
                member,
                Some(p as u64),
                None,
                format!("more than {} archive members", fs.opts.limits.max_members),
            );
            return;
        }
        let size = octal(h.get(124..136).unwrap_or(&[])).unwrap_or(u64::MAX);
        let Ok(size) = usize::try_from(size) else {
            fs.report(
                "zip-malformed",
                Severity::High,
                member,
                Some(p as u64),
                None,
                "tar member size is not a valid octal number",
            );
            return;
        };
        let kind = *h.get(156).unwrap_or(&0);
        let prefix = cstr(h.get(345..500).unwrap_or(&[]));
        let base = cstr(h.get(0..100).unwrap_or(&[]));
        let name = long_name.take().unwrap_or_else(|| {
            if prefix.is_empty() {
                base
            } else {
                format!("{prefix}/{base}")
            }
        });
        let body_start = p + 512;
        let Some(body) = body_start.checked_add(size).and_then(|e| data.get(body_start..e)) else {
            fs.report(
                "zip-malformed",
                Severity::High,
                &join(member, &name),
                Some(p as u64),
                None,
                "tar member runs past the end of the archive",
            );
            return;
        };
        let sub = join(member, &name);
        if kind == b'L' {
            long_name = Some(cstr(body));
        } else {
            if escapes(&name) {
                fs.report(
                    "zip-path-traversal",
                    Severity::High,
                    &sub,
                    Some(p as u64),
                    Some(&name),
                    format!("member path '{name}' escapes the extraction directory"),
                );
            }
            if kind == b'1' || kind == b'2' {
                let target = cstr(h.get(157..257).unwrap_or(&[]));
                if escapes(&target) {
                    fs.report(
                        "zip-path-traversal",
                        Severity::High,
                        &sub,
                        Some(p as u64),
                        Some(&target),
                        format!("link target '{target}' escapes the extraction directory"),
                    );
                }
            }
            if kind == b'0' || kind == 0 {
                fs.scan_blob(&sub, body, depth + 1);
            }
        }
        p = body_start + size.div_ceil(512) * 512;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traversal_names_are_caught() {
        assert!(escapes("../etc/passwd"));
        assert!(escapes("/abs"));
        assert!(escapes("a\\..\\b"));
        assert!(escapes("C:/x"));
        assert!(!escapes("archive/data.pkl"));
        assert!(!escapes("a..b/c"));
    }
}
