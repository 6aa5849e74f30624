//! portcullis-scan: a model-file scanner that never loads or executes what it
//! reads.
//!
//! Model files are code: a pickle runs whatever globals it names, a Keras
//! Lambda layer carries bytecode, a GGUF chat template is a Jinja program. This
//! crate reads such files as bytes, recognises their format by content (never
//! by extension), walks their structure within hard limits, and reports
//! [`Finding`]s with a stable rule id, a severity, the file (and archive
//! member), a byte offset and the offending fragment.
//!
//! The surface is small on purpose: [`scan_paths`] for files and directories
//! (parallel, deterministic order), [`scan_bytes`] for in-memory use,
//! [`ScanOptions`] with [`Limits`] and an optional [`Allowlist`], and
//! [`rules`] for rule metadata. Rendering (terminal, SARIF) lives elsewhere;
//! [`ScanReport::fingerprint`] gives the stable id SARIF needs.
//!
//! Fail closed: a file that cannot be read, is truncated, exceeds a limit or
//! runs out of time yields a finding, never silence; a scan that covered no
//! file at all is an error, not a clean result.
#![deny(missing_docs)]

mod allowlist;
mod archive;
mod detect;
mod gguf;
mod keras;
mod npy;
mod pickle;
mod pickle_scan;
mod policy;
mod proto;
mod rules;
mod safetensors;
mod scanner;
mod stdlib;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use portcullis_evidence::{Finding, Severity, Sha256Digest};
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use allowlist::{Allowlist, AllowlistEntry, AllowlistError};
pub use detect::Format;
pub use policy::{classify, GlobalClass};
pub use rules::{rule, rules};

/// Hard limits that bound every scan in size, count and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest file read at all; larger files are a `scan-limit-exceeded` finding.
    pub max_file_size: u64,
    /// Deepest nesting of archives and compressed wrappers that is opened.
    pub max_archive_depth: u32,
    /// Most archive members read per file, across all nesting levels.
    pub max_members: usize,
    /// Most bytes decompressed per file, across all members.
    pub max_decompressed_bytes: u64,
    /// Largest compression ratio accepted for a member over 1 MiB.
    pub max_compression_ratio: u64,
    /// Most pickle opcodes walked per file.
    pub max_pickle_ops: u64,
    /// Most memo entries per pickle stream.
    pub max_pickle_memo: usize,
    /// Deepest pickle value stack (and mark stack).
    pub max_pickle_stack: usize,
    /// Largest header parsed for safetensors, GGUF, NumPy and Keras configs.
    pub max_header_bytes: u64,
    /// Wall-clock budget per file.
    pub deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_size: 8 << 30,
            max_archive_depth: 4,
            max_members: 10_000,
            max_decompressed_bytes: 4 << 30,
            max_compression_ratio: 200,
            max_pickle_ops: 200_000_000,
            max_pickle_memo: 1_000_000,
            max_pickle_stack: 1_000_000,
            max_header_bytes: 100 << 20,
            deadline: Duration::from_secs(120),
        }
    }
}

/// What to scan for and how strictly.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Raise medium findings (unknown third-party globals, foreign Keras
    /// modules, custom ONNX domains) to high.
    pub strict: bool,
    /// Accepted (file digest, global) pairs.
    pub allowlist: Option<Allowlist>,
    /// Size, count and time limits.
    pub limits: Limits,
    /// Compute every file's SHA-256 for [`ScannedFile::sha256`] (evidence
    /// records them). Off by default: the scan then reads only the bytes its
    /// analysis needs, and hashes a file only when an allowlist entry names
    /// a global found in it.
    pub digests: bool,
}

/// One file that was scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScannedFile {
    /// The path as given or found while walking a directory.
    pub path: String,
    /// The path relative to the scan root it was found under, with `/`
    /// separators (the file name for a file given directly); fingerprints
    /// use it so they do not depend on where the scan ran from.
    pub relative_path: String,
    /// Size in bytes.
    pub size: u64,
    /// Formats recognised at the top level of the file (more than one is a polyglot).
    pub formats: Vec<Format>,
    /// SHA-256 of the file's bytes: present when [`ScanOptions::digests`] is
    /// set or the allowlist needed it; `None` otherwise or when the file could
    /// not be read.
    pub sha256: Option<Sha256Digest>,
}

/// The result of a scan: every file and every finding, in path order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    /// Files scanned, sorted by path.
    pub files: Vec<ScannedFile>,
    /// Findings, grouped by file in path order, then by position.
    pub findings: Vec<Finding>,
    /// Scanned or walked path -> path relative to its scan root.
    #[serde(skip)]
    relative: HashMap<String, String>,
}

impl ScanReport {
    /// The worst severity among the findings, if any.
    pub fn max_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Findings at or above `bar`.
    pub fn at_or_above(&self, bar: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity >= bar)
    }

    /// The stable fingerprint of a finding, used by the JSON output and as
    /// SARIF `partialFingerprints`: hex SHA-256 over the NUL-separated rule
    /// id, the file's path relative to its scan root, the archive member and
    /// the fragment (the global, op or name matched; the message when the
    /// finding has none). It needs no file digest, and survives moving the
    /// scanned tree, scanning from another directory and edits to other files.
    pub fn fingerprint(&self, finding: &Finding) -> String {
        let loc = finding.location.as_ref();
        let file = loc.and_then(|l| l.file.as_deref()).unwrap_or("");
        let relative = self.relative_path(file);
        let mut h = Sha256::new();
        for part in [
            finding.rule.as_str(),
            relative,
            loc.and_then(|l| l.member.as_deref()).unwrap_or(""),
            finding.fragment.as_deref().unwrap_or(&finding.message),
        ] {
            h.update(part.as_bytes());
            h.update([0u8]);
        }
        Sha256Digest(h.finalize().into()).to_hex()
    }

    /// `path` relative to the scan root it was found under; `path` itself
    /// when the scan did not produce it (an allowlist file).
    pub fn relative_path<'a>(&'a self, path: &'a str) -> &'a str {
        if let Some(r) = self.relative.get(path) {
            return r;
        }
        self.files
            .iter()
            .find(|f| f.path == path)
            .map_or(path, |f| f.relative_path.as_str())
    }
}

/// Errors that stop a scan before it produces a report.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// No paths were given.
    #[error("no paths to scan")]
    NoPaths,
    /// A path given by the caller does not exist or cannot be listed.
    #[error("cannot read '{path}': {source}")]
    Path {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The paths held no files, so nothing was scanned (not the same as clean).
    #[error("nothing scanned: the given paths contain no files")]
    NothingScanned,
}

/// Scans files and directories (recursively, not following directory
/// symlinks), in parallel, and returns findings in path order.
///
/// # Errors
/// [`ScanError::NoPaths`] for an empty list, [`ScanError::Path`] when a given
/// path does not exist, [`ScanError::NothingScanned`] when no file was found.
/// Unreadable or over-limit files inside are findings, not errors.
pub fn scan_paths(paths: &[PathBuf], options: &ScanOptions) -> Result<ScanReport, ScanError> {
    if paths.is_empty() {
        return Err(ScanError::NoPaths);
    }
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    let mut walk_findings = Vec::new();
    let mut relative = HashMap::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|source| ScanError::Path {
            path: p.clone(),
            source,
        })?;
        if meta.is_dir() {
            let mut walk = Walk {
                root: p,
                files: &mut files,
                findings: &mut walk_findings,
                relative: &mut relative,
            };
            walk.dir(p, 0);
        } else {
            let name = p
                .file_name()
                .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned());
            files.push((p.clone(), name));
        }
    }
    files.sort();
    files.dedup_by(|a, b| a.0 == b.0);
    if files.is_empty() {
        return Err(ScanError::NothingScanned);
    }
    let results: Vec<(ScannedFile, Vec<Finding>)> = files
        .par_iter()
        .map(|(p, rel)| {
            let (mut file, findings) = scanner::scan_file(p, options);
            file.relative_path.clone_from(rel);
            (file, findings)
        })
        .collect();
    let mut report = ScanReport {
        files: Vec::with_capacity(results.len()),
        findings: walk_findings,
        relative,
    };
    for (file, findings) in results {
        report
            .relative
            .insert(file.path.clone(), file.relative_path.clone());
        report.files.push(file);
        report.findings.extend(findings);
    }
    if let Some(list) = &options.allowlist {
        report.findings.extend(list.unused_findings());
    }
    Ok(report)
}

/// Deepest directory nesting walked below a scan root.
const MAX_DIR_DEPTH: u32 = 64;

/// A directory walk under one scan root.
struct Walk<'a> {
    root: &'a Path,
    files: &'a mut Vec<(PathBuf, String)>,
    findings: &'a mut Vec<Finding>,
    relative: &'a mut HashMap<String, String>,
}

impl Walk<'_> {
    fn rel(&self, path: &Path) -> String {
        let r = path.strip_prefix(self.root).unwrap_or(path);
        let parts: Vec<_> = r.components().map(|c| c.as_os_str().to_string_lossy()).collect();
        parts.join("/")
    }

    fn unreadable(&mut self, path: &Path, why: &str) {
        let name = path.display().to_string();
        self.findings.push(scanner::unreadable(&name, why));
        let rel = self.rel(path);
        self.relative.insert(name, rel);
    }

    fn dir(&mut self, dir: &Path, depth: u32) {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => return self.unreadable(dir, &e.to_string()),
        };
        for entry in entries {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.unreadable(dir, &e.to_string());
                    continue;
                }
            };
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => {
                    if depth < MAX_DIR_DEPTH {
                        self.dir(&path, depth + 1);
                    } else {
                        let name = path.display().to_string();
                        let f = Finding::new(
                            "scan-limit-exceeded",
                            Severity::High,
                            format!("directory nested more than {MAX_DIR_DEPTH} levels deep; not scanned"),
                        )
                        .at(portcullis_evidence::Location::file(&name))
                        .fix(rule("scan-limit-exceeded").map(|r| r.help).unwrap_or(""));
                        self.findings.push(f);
                        let rel = self.rel(&path);
                        self.relative.insert(name, rel);
                    }
                }
                Ok(t) if t.is_symlink() => {
                    if std::fs::metadata(&path).map(|m| m.is_file()).unwrap_or(false) {
                        let rel = self.rel(&path);
                        self.files.push((path, rel));
                    }
                }
                Ok(_) => {
                    let rel = self.rel(&path);
                    self.files.push((path, rel));
                }
                Err(e) => self.unreadable(&path, &e.to_string()),
            }
        }
    }
}

/// Scans bytes already in memory as if they were a file called `name`.
/// Returns the formats recognised at the top level and the findings.
pub fn scan_bytes(name: &str, bytes: &[u8], options: &ScanOptions) -> (Vec<Format>, Vec<Finding>) {
    scanner::scan_in_memory(name, bytes, options)
}

/// Entry points for the fuzz targets in `crates/scan/fuzz`: each runs one
/// parser on arbitrary bytes with default limits. Not part of the stable API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::scanner::FileScan;
    use crate::ScanOptions;

    fn with_scan(data: &[u8], f: impl FnOnce(&mut FileScan<'_>, &[u8])) -> usize {
        let opts = ScanOptions::default();
        let mut fs = FileScan::new("fuzz", &opts, crate::scanner::Origin::None);
        f(&mut fs, data);
        fs.findings.len()
    }

    /// The pickle walker and policy, all streams.
    pub fn pickle(data: &[u8]) -> usize {
        with_scan(data, |fs, d| crate::pickle_scan::scan(fs, "", d, 0, 0))
    }

    /// The zip central-directory reader and member dispatch.
    pub fn zip(data: &[u8]) -> usize {
        with_scan(data, |fs, d| {
            let _ = crate::archive::scan_zip(fs, "", &crate::archive::Src::Mem(d), 0);
        })
    }

    /// The safetensors header validator.
    pub fn safetensors(data: &[u8]) -> usize {
        with_scan(data, |fs, d| crate::safetensors::scan(fs, "", d, d.len() as u64))
    }

    /// The GGUF header parser.
    pub fn gguf(data: &[u8]) -> usize {
        with_scan(data, |fs, d| crate::gguf::scan(fs, "", d, d.len() as u64))
    }
}
