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
mod reading;
mod rules;
mod safetensors;
mod scanner;
mod stdlib;

use std::collections::{HashMap, HashSet};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portcullis_evidence::{Finding, Severity, Sha256Digest};
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
    /// Path -> path relative to its scan root, for findings about paths
    /// that are not in `files` (unreadable or too-deep directories).
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

    /// Every finding with its [`fingerprint`](Self::fingerprint), in order:
    /// the shape of the findings list in the CLI's JSON output.
    pub fn fingerprinted(&self) -> Vec<FingerprintedFinding<'_>> {
        self.findings
            .iter()
            .map(|finding| FingerprintedFinding {
                finding,
                fingerprint: self.fingerprint(finding),
            })
            .collect()
    }

    /// `path` relative to the scan root it was found under; `path` itself
    /// when the scan did not produce it (an allowlist file).
    pub fn relative_path<'a>(&'a self, path: &'a str) -> &'a str {
        if let Ok(i) = self
            .files
            .binary_search_by(|f| path_order(f.path.as_bytes(), path.as_bytes()))
        {
            if let Some(f) = self.files.get(i) {
                return &f.relative_path;
            }
        }
        if let Some(r) = self.relative.get(path) {
            return r;
        }
        // A path that is not valid UTF-8 is listed lossily and may not sort
        // where the search looks.
        self.files
            .iter()
            .find(|f| f.path == path)
            .map_or(path, |f| f.relative_path.as_str())
    }
}

/// A finding and its stable fingerprint; serialises as the finding's fields
/// followed by `fingerprint`.
#[derive(Debug, Clone, Serialize)]
pub struct FingerprintedFinding<'a> {
    /// The finding.
    #[serde(flatten)]
    pub finding: &'a Finding,
    /// [`ScanReport::fingerprint`] of it.
    pub fingerprint: String,
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
    // Files are scanned while the directories are still being walked: the
    // walk feeds batches to the thread pool, and the results are put in path
    // order at the end, so the output does not depend on scheduling.
    let results: Mutex<Vec<Vec<Scanned>>> = Mutex::new(Vec::new());
    let mut walk_findings = Vec::new();
    let mut relative = HashMap::new();
    let mut failed = None;
    rayon::scope(|scope| {
        let mut feed = Feed {
            paths,
            options,
            results: &results,
            scope,
            batch: Vec::new(),
            // Only roots inside one another can name the same file twice.
            seen: nested_roots(paths).then(HashSet::new),
            count: 0,
        };
        for (i, p) in paths.iter().enumerate() {
            let meta = match std::fs::metadata(p) {
                Ok(m) => m,
                Err(source) => {
                    failed = Some(ScanError::Path {
                        path: p.clone(),
                        source,
                    });
                    break;
                }
            };
            if meta.is_dir() {
                let mut walk = Walk {
                    root: p,
                    index: i,
                    feed: &mut feed,
                    findings: &mut walk_findings,
                    relative: &mut relative,
                };
                walk.dir(p, 0);
            } else {
                feed.push(p.clone(), None, None);
            }
        }
        feed.flush();
        if feed.count == 0 && failed.is_none() {
            failed = Some(ScanError::NothingScanned);
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let batches = results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Sized once: thousands of files and findings are moved, never regrown.
    let mut results = Vec::with_capacity(batches.iter().map(Vec::len).sum());
    let mut found = walk_findings.len();
    for batch in batches {
        found += batch.iter().map(|r| r.2.len()).sum::<usize>();
        results.extend(batch);
    }
    results.sort_unstable_by(|a, b| path_order(a.0.as_os_str().as_bytes(), b.0.as_os_str().as_bytes()));
    let mut findings = Vec::with_capacity(found);
    findings.extend(walk_findings);
    let mut report = ScanReport {
        files: Vec::with_capacity(results.len()),
        findings,
        relative,
    };
    for (_, file, findings) in results {
        report.files.push(file);
        report.findings.extend(findings);
    }
    if let Some(list) = &options.allowlist {
        report.findings.extend(list.unused_findings());
    }
    Ok(report)
}

/// The order of scanned paths: byte order with the separator sorting before
/// every other byte, which for the paths a walk produces is the same as
/// comparing them component by component (`a/b` before `a-b`), at the cost
/// of a byte comparison.
fn path_order(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    // Skip the common prefix eight bytes at a time: paths under one root
    // share most of their bytes.
    let mut i = 0;
    while let (Some(x), Some(y)) = (a.get(i..i + 8), b.get(i..i + 8)) {
        if x != y {
            break;
        }
        i += 8;
    }
    let at = a
        .get(i..)
        .unwrap_or_default()
        .iter()
        .zip(b.get(i..).unwrap_or_default())
        .position(|(x, y)| x != y)
        .map(|k| k + i);
    let key = |c: u8| if c == b'/' { 0 } else { c };
    match at.and_then(|i| Some((*a.get(i)?, *b.get(i)?))) {
        Some((x, y)) => key(x).cmp(&key(y)),
        None => a.len().cmp(&b.len()),
    }
}

/// True when one scan root is a path prefix of another (or repeats it), so
/// the same file could be found twice. In [`path_order`] a root sorts just
/// before the paths it contains, so neighbours are enough to compare.
fn nested_roots(paths: &[PathBuf]) -> bool {
    let mut sorted: Vec<&[u8]> = paths.iter().map(|p| p.as_os_str().as_bytes()).collect();
    sorted.sort_by(|a, b| path_order(a, b));
    sorted.windows(2).any(|w| match w {
        [a, b] => b.starts_with(a),
        _ => false,
    })
}

/// `path` relative to `root`, with `/` separators.
fn relative_to(root: &Path, path: &Path) -> String {
    // The walk builds every path as root + "/" + names, so the bytes after
    // the root already are the answer; anything less tidy takes the
    // component-wise route.
    let (r, p) = (root.as_os_str().as_bytes(), path.as_os_str().as_bytes());
    if let Some(rest) = p.strip_prefix(r) {
        let rest = match rest.strip_prefix(b"/") {
            Some(tail) => Some(tail),
            None if r.ends_with(b"/") => Some(rest),
            None => None,
        };
        if let Some(rest) = rest.filter(|t| {
            !t.is_empty()
                && t.split(|&b| b == b'/')
                    .all(|c| !c.is_empty() && c != b"." && c != b"..")
        }) {
            return String::from_utf8_lossy(rest).into_owned();
        }
    }
    let r = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<_> = r.components().map(|c| c.as_os_str().to_string_lossy()).collect();
    parts.join("/")
}

/// A scanned file: its path, its record and its findings.
type Scanned = (PathBuf, ScannedFile, Vec<Finding>);

/// Files scanned per task handed to the thread pool.
const BATCH: usize = 32;

/// Hands the files a walk finds to the thread pool in batches.
struct Feed<'r, 's> {
    paths: &'s [PathBuf],
    options: &'s ScanOptions,
    results: &'s Mutex<Vec<Vec<Scanned>>>,
    scope: &'r rayon::Scope<'s>,
    batch: Vec<Found>,
    seen: Option<HashSet<PathBuf>>,
    count: usize,
}

/// A file to scan.
struct Found {
    path: PathBuf,
    /// Index of the directory root it was found under; `None` for a file
    /// given directly.
    root: Option<usize>,
    /// The open directory it was listed in, when there is one: the file is
    /// then opened relative to it, which spares the kernel resolving every
    /// component of a long path again for each of thousands of files.
    dir: Option<Arc<DirHandle>>,
}

impl Found {
    fn open(&self) -> std::io::Result<std::fs::File> {
        if let (Some(dir), Some(name)) = (&self.dir, self.path.file_name()) {
            let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC;
            return Ok(rustix::fs::openat(&dir.0, name, flags, rustix::fs::Mode::empty())?.into());
        }
        std::fs::File::open(&self.path)
    }
}

/// Directory handles held open for files still waiting to be scanned, in
/// the whole process. The walk can run far ahead of the scan (a tree of
/// many small directories), so past [`MAX_DIR_HANDLES`] files are opened by
/// path instead: the scan never spends the descriptor limit on directories
/// and then fails to open a file.
static DIR_HANDLES: AtomicUsize = AtomicUsize::new(0);

/// Most directory handles held at once (see [`DIR_HANDLES`]).
const MAX_DIR_HANDLES: usize = 64;

/// An open directory, counted in [`DIR_HANDLES`] while it lives.
struct DirHandle(OwnedFd);

impl DirHandle {
    /// Opens `dir`, or `None` when the cap is reached or the open fails.
    fn open(dir: &Path) -> Option<Arc<DirHandle>> {
        if DIR_HANDLES.fetch_add(1, Ordering::Relaxed) >= MAX_DIR_HANDLES {
            DIR_HANDLES.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC;
        match rustix::fs::open(dir, flags, rustix::fs::Mode::empty()) {
            Ok(fd) => Some(Arc::new(DirHandle(fd))),
            Err(_) => {
                DIR_HANDLES.fetch_sub(1, Ordering::Relaxed);
                None
            }
        }
    }
}

impl Drop for DirHandle {
    fn drop(&mut self) {
        DIR_HANDLES.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Feed<'_, '_> {
    fn push(&mut self, path: PathBuf, root: Option<usize>, dir: Option<&Arc<DirHandle>>) {
        if let Some(seen) = &mut self.seen {
            if !seen.insert(path.clone()) {
                return;
            }
        }
        self.count += 1;
        self.batch.push(Found {
            path,
            root,
            dir: dir.cloned(),
        });
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let (paths, options, results) = (self.paths, self.options, self.results);
        self.scope.spawn(move |_| {
            let done: Vec<Scanned> = batch
                .into_iter()
                .map(|found| {
                    let (mut file, findings) = scanner::scan_file(&found.path, found.open(), options);
                    let (p, root) = (found.path, found.root);
                    file.relative_path = match root.and_then(|r| paths.get(r)) {
                        Some(root) => relative_to(root, &p),
                        None => p
                            .file_name()
                            .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned()),
                    };
                    (p, file, findings)
                })
                .collect();
            results
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(done);
        });
    }
}

/// Deepest directory nesting walked below a scan root.
const MAX_DIR_DEPTH: u32 = 64;

/// A directory walk under one scan root.
struct Walk<'a, 'r, 's> {
    root: &'a Path,
    index: usize,
    feed: &'a mut Feed<'r, 's>,
    findings: &'a mut Vec<Finding>,
    relative: &'a mut HashMap<String, String>,
}

impl Walk<'_, '_, '_> {
    fn rel(&self, path: &Path) -> String {
        relative_to(self.root, path)
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
        // Without a directory handle (over the cap, or the open failed)
        // files are opened by their full path instead.
        let handle = DirHandle::open(dir);
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
                        self.feed.push(path, Some(self.index), handle.as_ref());
                    }
                }
                Ok(_) => self.feed.push(path, Some(self.index), handle.as_ref()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_take_the_byte_route_only_when_it_agrees_with_components() {
        let slow = |root: &str, path: &str| {
            let r = Path::new(path).strip_prefix(root).unwrap_or(Path::new(path));
            let parts: Vec<_> = r.components().map(|c| c.as_os_str().to_string_lossy()).collect();
            parts.join("/")
        };
        for (root, path) in [
            ("models", "models/a/b.pkl"),
            ("models/", "models/a/b.pkl"),
            ("./models", "./models/x.pkl"),
            ("/abs/m", "/abs/m/sub/x"),
            ("m", "mx/y"),
            ("m", "m//y"),
            ("m", "m/./y"),
            ("m", "m/../y"),
            ("m", "m"),
            ("m", "other/y"),
        ] {
            assert_eq!(
                relative_to(Path::new(root), Path::new(path)),
                slow(root, path),
                "{root} {path}"
            );
        }
    }

    /// However far the walk runs ahead, at most the cap of directory
    /// handles is open; the rest fall back to opening by path, and closing
    /// a handle frees its slot.
    #[test]
    fn directory_handles_stop_at_the_cap() {
        let dir = std::env::temp_dir();
        let held: Vec<_> = (0..MAX_DIR_HANDLES + 40)
            .filter_map(|_| DirHandle::open(&dir))
            .collect();
        // Other tests may hold a few handles of their own at the same time.
        assert!(
            held.len() <= MAX_DIR_HANDLES && held.len() > MAX_DIR_HANDLES / 2,
            "{}",
            held.len()
        );
        assert!(DIR_HANDLES.load(Ordering::Relaxed) <= MAX_DIR_HANDLES);
        drop(held);
        assert!(DirHandle::open(&dir).is_some());
    }

    #[test]
    fn path_order_is_component_order() {
        let mut paths = ["a-b/y", "a/x", "a.pkl", "a/x/z", "ab", "a"];
        paths.sort_by(|a, b| path_order(a.as_bytes(), b.as_bytes()));
        let mut by_components = paths;
        by_components.sort_by(|a, b| Path::new(a).cmp(Path::new(b)));
        assert_eq!(paths, by_components);
        assert_eq!(paths, ["a", "a/x", "a/x/z", "a-b/y", "a.pkl", "ab"]);
    }
}
