//! The artifact digest: an OpenSSF model-signing v1.0 manifest of a model.
//!
//! Every piece of evidence is bound to the model's digest, and a deployer must
//! be able to recompute it with tools that are not ours. So the digest is
//! exactly the one the PyPI `model-signing` package (v1.x) puts in the in-toto
//! subject when it signs the same path with the same settings:
//!
//! 1. The model's files are listed (see the `walk` module for the rules:
//!    default ignores, symlinks, sort order by path components).
//! 2. Each resource is hashed with SHA-256. With [`Serialization::Files`] a
//!    resource is a whole file, named by its `/`-joined path relative to the
//!    model directory (`.` when the model is a single file); empty files are
//!    included. With [`Serialization::Shards`] a resource is a byte range
//!    `[start, end)` of at most `shard_size` bytes, named `path:start:end`;
//!    empty files have no shards and so do not appear.
//! 3. Resources are sorted by path components, then by `start`.
//! 4. The model digest is SHA-256 over the concatenated 32-byte resource
//!    digests in that order.
//!
//! Resources are hashed in parallel on the rayon pool, largest first, so one
//! big file does not end up last on a single core.
//!
//! # JSON shape
//!
//! [`Manifest`] serialises (and deserialises, checking the digest) as:
//!
//! ```json
//! {
//!   "model_name": "my-model",
//!   "serialization": { "method": "shards", "hash_type": "sha256", "shard_size": 1000000000 },
//!   "digest": "…64 hex…",
//!   "resources": [
//!     { "name": "weights.bin:0:1000000000", "algorithm": "sha256-sharded-1000000000",
//!       "digest": "…64 hex…", "size": 1000000000 }
//!   ]
//! }
//! ```
//!
//! `serialization` and each resource's `name`, `algorithm` and `digest` carry
//! the same values as model-signing's in-toto predicate; `shard_size` is
//! absent for `files`, and `size` (bytes covered by the resource) is ours.

mod read;
mod walk;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hash::Sha256Digest;

pub use walk::DEFAULT_IGNORES;

/// model-signing's default shard size: 1,000,000,000 bytes.
pub const DEFAULT_SHARD_SIZE: u64 = 1_000_000_000;

/// How a model is cut into resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Serialization {
    /// One resource per file (model-signing `files`).
    #[default]
    Files,
    /// One resource per shard of at most `shard_size` bytes (model-signing
    /// `shards`).
    Shards {
        /// Largest shard, in bytes; must be positive.
        shard_size: u64,
    },
}

impl Serialization {
    /// Shards of [`DEFAULT_SHARD_SIZE`] bytes.
    pub fn default_shards() -> Self {
        Serialization::Shards {
            shard_size: DEFAULT_SHARD_SIZE,
        }
    }

    /// The method name used in the manifest: `files` or `shards`.
    pub fn method(&self) -> &'static str {
        match self {
            Serialization::Files => "files",
            Serialization::Shards { .. } => "shards",
        }
    }

    /// The per-resource algorithm name model-signing records: `sha256`, or
    /// `sha256-sharded-<shard_size>`.
    pub fn algorithm(&self) -> String {
        match self {
            Serialization::Files => "sha256".to_string(),
            Serialization::Shards { shard_size } => format!("sha256-sharded-{shard_size}"),
        }
    }
}

/// What to hash and how.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DigestOptions {
    /// Files or shards.
    pub serialization: Serialization,
    /// Extra paths to ignore, relative to the model directory (`/`-separated),
    /// besides [`DEFAULT_IGNORES`]. Each matches that path and everything
    /// below it. Absolute paths and `..` are refused. They have no effect on a
    /// single-file model.
    pub ignore: Vec<String>,
    /// Hash symbolic links (to files) instead of refusing them.
    pub allow_symlinks: bool,
}

/// One hashed resource: a file, or a shard of one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceDigest {
    /// `path` or `path:start:end`, the path relative to the model root with
    /// `/` separators (`.` for a single-file model).
    pub name: String,
    /// SHA-256 of the resource's bytes.
    pub digest: Sha256Digest,
    /// Number of bytes hashed.
    pub size: u64,
}

/// The manifest of a model: every resource's digest and the model digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "wire::ManifestJson", try_from = "wire::ManifestJson")]
pub struct Manifest {
    /// The final component of the model path; informative only (it does not
    /// enter the digest).
    pub model_name: String,
    /// How the resources were cut.
    pub serialization: Serialization,
    /// Resources in manifest order (path components, then offset).
    pub resources: Vec<ResourceDigest>,
    /// SHA-256 over the concatenated resource digests: the in-toto subject
    /// digest model-signing signs.
    pub digest: Sha256Digest,
}

impl Manifest {
    /// Builds a manifest from resources already in manifest order, computing
    /// the model digest.
    pub fn from_resources(
        model_name: String,
        serialization: Serialization,
        resources: Vec<ResourceDigest>,
    ) -> Self {
        let digest = root_digest(&resources);
        Manifest {
            model_name,
            serialization,
            resources,
            digest,
        }
    }
}

fn root_digest(resources: &[ResourceDigest]) -> Sha256Digest {
    let mut hasher = Sha256::new();
    for r in resources {
        hasher.update(r.digest.0);
    }
    Sha256Digest(hasher.finalize().into())
}

/// Why a model (or file) could not be digested. Every variant names the path.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The model path does not exist.
    #[error("model path {} does not exist", path.display())]
    NotFound {
        /// The missing path.
        path: PathBuf,
    },
    /// A symbolic link was found and links are not allowed.
    #[error(
        "{} is a symbolic link; links are refused so the digest covers only real files \
         (allow them with --allow-symlinks, or DigestOptions::allow_symlinks)",
        path.display()
    )]
    SymlinkRefused {
        /// The link.
        path: PathBuf,
    },
    /// A path could not be read (permissions, I/O error, vanished file).
    #[error("cannot read {}", path.display())]
    Unreadable {
        /// The path being read.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },
    /// The path is a fifo, socket, device or dangling link.
    #[error("{} is {kind}, not a regular file or directory", path.display())]
    NotFileOrDirectory {
        /// The offending path.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// A file's size changed between listing and hashing.
    #[error(
        "{} changed while it was hashed (size was {expected} bytes, now {actual}); \
         digest a model that is not being written",
        path.display()
    )]
    FileChanged {
        /// The file.
        path: PathBuf,
        /// Size recorded when the model was listed.
        expected: u64,
        /// Size (or bytes readable) found while hashing.
        actual: u64,
    },
    /// A file name is not UTF-8, so it cannot be named in the manifest.
    #[error("file name of {} is not valid UTF-8; manifests name resources by UTF-8 paths", path.display())]
    NonUtf8Name {
        /// The offending path.
        path: PathBuf,
    },
    /// An ignore path is absolute, empty or climbs out with `..`.
    #[error("ignore path '{path}' must be a non-empty path relative to the model directory, without '..'")]
    InvalidIgnore {
        /// The ignore path as given.
        path: String,
    },
    /// A worker stopped without a result (a thread panicked while hashing).
    #[error("hashing stopped before every resource was digested")]
    Incomplete,
    /// A shard size of zero.
    #[error("shard size must be at least 1 byte")]
    InvalidShardSize,
}

/// One unit of hashing work: a file or a shard of it.
struct Work {
    file: usize,
    start: u64,
    end: u64,
}

fn plan(files: &[walk::ModelFile], serialization: Serialization) -> Result<Vec<Work>, ManifestError> {
    let mut work = Vec::new();
    match serialization {
        Serialization::Files => {
            for (i, f) in files.iter().enumerate() {
                work.push(Work {
                    file: i,
                    start: 0,
                    end: f.size,
                });
            }
        }
        Serialization::Shards { shard_size } => {
            if shard_size == 0 {
                return Err(ManifestError::InvalidShardSize);
            }
            for (i, f) in files.iter().enumerate() {
                let mut start = 0;
                while start < f.size {
                    let end = start.saturating_add(shard_size).min(f.size);
                    work.push(Work { file: i, start, end });
                    start = end;
                }
            }
        }
    }
    Ok(work)
}

/// The name model-signing gives a model: the last path component, or the
/// resolved directory's name for paths like `.` or `..`.
fn model_name(path: &Path) -> String {
    if let Some(name) = path.file_name() {
        return name.to_string_lossy().into_owned();
    }
    std::fs::canonicalize(path)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

/// Total number of bytes [`digest_model`] will hash for `path`, for sizing a
/// progress bar. It walks the model with the same rules.
///
/// # Errors
/// The same walk errors as [`digest_model`].
pub fn total_bytes(path: &Path, options: &DigestOptions) -> Result<u64, ManifestError> {
    let files = walk::model_files(path, options)?;
    Ok(files.iter().map(|f| f.size).sum())
}

/// Digests the model at `path` (a file or a directory) into its manifest,
/// hashing resources in parallel. `progress`, when given, is called from the
/// worker threads with the number of bytes just hashed; the calls add up to
/// [`total_bytes`] when hashing succeeds.
///
/// # Errors
/// [`ManifestError`] naming the path: the model is missing, a symlink is
/// refused, a file is unreadable or special, a name is not UTF-8, an ignore
/// path or the shard size is invalid, or a file changed size while hashed.
/// Hashing stops at the first failure; of the failures seen, the first in
/// manifest order is reported.
pub fn digest_model(
    path: &Path,
    options: &DigestOptions,
    progress: Option<&(dyn Fn(u64) + Sync)>,
) -> Result<Manifest, ManifestError> {
    let files = walk::model_files(path, options)?;
    let work = plan(&files, options.serialization)?;

    // Largest first, so the longest jobs start early and the tail is short.
    let mut order: Vec<usize> = (0..work.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(work.get(i).map_or(0, |w| w.end - w.start)));

    let results: Vec<Mutex<Option<Result<Sha256Digest, ManifestError>>>> =
        work.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let run = || {
        let mut buf = vec![0u8; read::READ_BUFFER];
        while !failed.load(Ordering::Relaxed) {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(&i) = order.get(k) else { break };
            let (Some(w), Some(slot)) = (work.get(i), results.get(i)) else {
                break;
            };
            let Some(file) = files.get(w.file) else { break };
            let range = read::Range {
                path: &file.path,
                start: w.start,
                end: w.end,
                file_size: file.size,
            };
            let result = read::hash_range(&range, &mut buf, progress);
            if result.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            if let Ok(mut guard) = slot.lock() {
                *guard = Some(result);
            }
        }
    };
    // One pulling task per pool thread. Spawned tasks (unlike a broadcast)
    // need no particular thread, so a caller already inside the pool is safe.
    let workers = rayon::current_num_threads().min(work.len());
    if workers > 1 {
        rayon::scope(|s| {
            for _ in 0..workers {
                s.spawn(|_| run());
            }
        });
    } else {
        run();
    }

    let mut resources = Vec::with_capacity(work.len());
    for (w, slot) in work.iter().zip(results) {
        let outcome = slot.into_inner().ok().flatten();
        let Some(file) = files.get(w.file) else {
            continue;
        };
        match outcome {
            Some(Ok(digest)) => {
                let name = match options.serialization {
                    Serialization::Files => file.name(),
                    Serialization::Shards { .. } => {
                        format!("{}:{}:{}", file.name(), w.start, w.end)
                    }
                };
                resources.push(ResourceDigest {
                    name,
                    digest,
                    size: w.end - w.start,
                });
            }
            // Manifest order, so the first error reported is deterministic.
            Some(Err(e)) => return Err(e),
            // Skipped after another resource failed; that error comes up here.
            None => {}
        }
    }
    if resources.len() != work.len() {
        // Unreachable: a skipped resource implies a recorded error above.
        return Err(ManifestError::Incomplete);
    }
    Ok(Manifest::from_resources(
        model_name(path),
        options.serialization,
        resources,
    ))
}

/// SHA-256 of a whole file (dataset and other input digests).
///
/// # Errors
/// [`ManifestError::NotFound`] when the path does not exist,
/// [`ManifestError::NotFileOrDirectory`] when it is a directory or special
/// file, [`ManifestError::Unreadable`] on read errors, and
/// [`ManifestError::FileChanged`] when the file changed size while read.
pub fn sha256_file(path: &Path) -> Result<Sha256Digest, ManifestError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ManifestError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            ManifestError::Unreadable {
                path: path.to_path_buf(),
                source: e,
            }
        }
    })?;
    if !meta.is_file() {
        return Err(ManifestError::NotFileOrDirectory {
            path: path.to_path_buf(),
            kind: if meta.is_dir() {
                "a directory"
            } else {
                "a special file"
            },
        });
    }
    let mut buf = vec![0u8; read::READ_BUFFER];
    let range = read::Range {
        path,
        start: 0,
        end: meta.len(),
        file_size: meta.len(),
    };
    read::hash_range(&range, &mut buf, None)
}

/// SHA-256 of a byte slice.
pub fn sha256_bytes(bytes: &[u8]) -> Sha256Digest {
    Sha256Digest(Sha256::digest(bytes).into())
}

/// The frozen JSON form of [`Manifest`].
mod wire {
    use serde::{Deserialize, Serialize};

    use super::{root_digest, Manifest, ResourceDigest, Serialization};
    use crate::hash::Sha256Digest;

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct SerializationJson {
        method: String,
        hash_type: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shard_size: Option<u64>,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct ResourceJson {
        name: String,
        algorithm: String,
        digest: Sha256Digest,
        size: u64,
    }

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct ManifestJson {
        model_name: String,
        serialization: SerializationJson,
        digest: Sha256Digest,
        resources: Vec<ResourceJson>,
    }

    impl From<Manifest> for ManifestJson {
        fn from(m: Manifest) -> Self {
            let algorithm = m.serialization.algorithm();
            ManifestJson {
                model_name: m.model_name,
                serialization: SerializationJson {
                    method: m.serialization.method().to_string(),
                    hash_type: "sha256".to_string(),
                    shard_size: match m.serialization {
                        Serialization::Files => None,
                        Serialization::Shards { shard_size } => Some(shard_size),
                    },
                },
                digest: m.digest,
                resources: m
                    .resources
                    .into_iter()
                    .map(|r| ResourceJson {
                        name: r.name,
                        algorithm: algorithm.clone(),
                        digest: r.digest,
                        size: r.size,
                    })
                    .collect(),
            }
        }
    }

    impl TryFrom<ManifestJson> for Manifest {
        type Error = String;

        fn try_from(j: ManifestJson) -> Result<Self, String> {
            if j.serialization.hash_type != "sha256" {
                return Err(format!(
                    "unsupported hash_type '{}' (expected 'sha256')",
                    j.serialization.hash_type
                ));
            }
            let serialization = match (j.serialization.method.as_str(), j.serialization.shard_size) {
                ("files", None) => Serialization::Files,
                ("shards", Some(shard_size)) if shard_size > 0 => Serialization::Shards { shard_size },
                (method, size) => {
                    return Err(format!(
                        "bad serialization: method '{method}' with shard_size {size:?} \
                         (expected 'files' without shard_size or 'shards' with a positive one)"
                    ))
                }
            };
            let algorithm = serialization.algorithm();
            let mut resources = Vec::with_capacity(j.resources.len());
            for r in j.resources {
                if r.algorithm != algorithm {
                    return Err(format!(
                        "resource '{}' has algorithm '{}', expected '{algorithm}'",
                        r.name, r.algorithm
                    ));
                }
                resources.push(ResourceDigest {
                    name: r.name,
                    digest: r.digest,
                    size: r.size,
                });
            }
            let computed = root_digest(&resources);
            if computed != j.digest {
                return Err(format!(
                    "manifest digest {} does not match its resources, which hash to {}",
                    j.digest, computed
                ));
            }
            Ok(Manifest {
                model_name: j.model_name,
                serialization,
                resources,
                digest: j.digest,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_bytes_matches_the_published_test_vector() {
        assert_eq!(
            sha256_bytes(b"abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn shards_cover_the_file_with_a_partial_last_shard_and_skip_empty_files() {
        let files = vec![
            walk::ModelFile {
                components: vec!["a".into()],
                path: PathBuf::from("a"),
                size: 10,
            },
            walk::ModelFile {
                components: vec!["e".into()],
                path: PathBuf::from("e"),
                size: 0,
            },
        ];
        let work = plan(&files, Serialization::Shards { shard_size: 4 }).unwrap();
        let ranges: Vec<_> = work.iter().map(|w| (w.file, w.start, w.end)).collect();
        assert_eq!(ranges, vec![(0, 0, 4), (0, 4, 8), (0, 8, 10)]);
        let work = plan(&files, Serialization::Files).unwrap();
        assert_eq!(work.len(), 2);
        assert!(matches!(
            plan(&files, Serialization::Shards { shard_size: 0 }),
            Err(ManifestError::InvalidShardSize)
        ));
    }

    #[test]
    fn manifest_json_round_trips_and_rejects_a_wrong_digest() {
        let m = Manifest::from_resources(
            "m".into(),
            Serialization::Shards { shard_size: 7 },
            vec![ResourceDigest {
                name: "x:0:3".into(),
                digest: sha256_bytes(b"abc"),
                size: 3,
            }],
        );
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["serialization"]["method"], "shards");
        assert_eq!(json["serialization"]["shard_size"], 7);
        assert_eq!(json["resources"][0]["algorithm"], "sha256-sharded-7");
        let back: Manifest = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, m);

        let mut bad = json;
        bad["digest"] = serde_json::Value::String(sha256_bytes(b"x").to_hex());
        let err = serde_json::from_value::<Manifest>(bad).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
    }

    #[test]
    fn model_name_is_the_last_component_or_the_resolved_directory_name() {
        assert_eq!(model_name(Path::new("models/bert/")), "bert");
        assert_eq!(model_name(Path::new("models/bert/.")), "bert");
        assert_eq!(model_name(Path::new("weights.bin")), "weights.bin");
        let cwd = std::env::current_dir().unwrap();
        let cwd_name = cwd.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(model_name(Path::new(".")), cwd_name);
        let parent = cwd.parent().unwrap().file_name().unwrap().to_string_lossy();
        assert_eq!(model_name(Path::new("..")), parent);
    }

    #[test]
    fn files_manifest_json_has_no_shard_size() {
        let m = Manifest::from_resources("m".into(), Serialization::Files, Vec::new());
        let json = serde_json::to_value(&m).unwrap();
        assert!(json["serialization"].get("shard_size").is_none());
        assert_eq!(m.digest, sha256_bytes(b""));
    }
}
