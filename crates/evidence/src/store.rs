//! The evidence store: one in-toto bundle per model digest.
//!
//! A bundle is a JSON Lines file `<dir>/<digest>.intoto.jsonl`, one DSSE
//! envelope a line. Appends take an exclusive lock, write one whole line and
//! fsync. If an earlier writer died mid-line, the next append first ends
//! that broken line, so the damage stays one corrupt line that readers
//! report and skip — it can never count as evidence, and it never corrupts
//! the lines after it.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::dsse::Envelope;
use crate::Sha256Digest;

/// The default evidence directory, relative to the working directory.
pub const DEFAULT_DIR: &str = ".portcullis/evidence";
/// The largest bundle read, in bytes.
pub const MAX_BUNDLE_BYTES: u64 = 256 * 1024 * 1024;
/// The largest single line (envelope) accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bundle is larger than [`MAX_BUNDLE_BYTES`].
    #[error("{path}: bundle is {size} bytes, over the {MAX_BUNDLE_BYTES}-byte limit")]
    TooLarge {
        /// The bundle.
        path: String,
        /// Its size.
        size: u64,
    },
    /// The envelope could not be serialised.
    #[error("cannot serialise envelope: {0}")]
    Serialise(#[from] serde_json::Error),
    /// A store other than a directory (a database, a registry) failed.
    #[error("{store}: {message}")]
    Backend {
        /// The store, as its user named it (a URL without credentials).
        store: String,
        /// What failed.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// A line of a bundle that is not a usable envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptLine {
    /// 1-based line number.
    pub line: usize,
    /// Why it was skipped.
    pub reason: String,
}

/// What a bundle holds.
#[derive(Debug, Clone, Default)]
pub struct Bundle {
    /// Where the bundle is (a file path for a directory store).
    pub location: String,
    /// sha256 of the bundle's bytes as read (`None` when there is no
    /// bundle yet); what a Verification Summary cites.
    pub sha256: Option<Sha256Digest>,
    /// Parsed envelopes with their 1-based line numbers (not yet verified).
    pub envelopes: Vec<(usize, Envelope)>,
    /// Lines that were skipped, with reasons.
    pub corrupt: Vec<CorruptLine>,
}

/// A directory of bundles: `<dir>/<digest>.intoto.jsonl`.
#[derive(Debug, Clone)]
pub struct DirStore {
    dir: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl DirStore {
    /// A store rooted at `dir` (created on first append).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirStore { dir: dir.into() }
    }

    /// The digests of every model with a bundle, sorted. A missing
    /// directory is an empty store; files that are not bundles are ignored.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the directory cannot be read.
    pub fn list(&self) -> Result<Vec<Sha256Digest>, StoreError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&self.dir)(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err(&self.dir))?;
            let name = entry.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".intoto.jsonl")) else {
                continue;
            };
            if let Ok(d) = Sha256Digest::from_hex(hex) {
                out.push(d);
            }
        }
        out.sort_unstable_by_key(|d| d.0);
        Ok(out)
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bundle path for a model digest.
    pub fn bundle_path(&self, digest: &Sha256Digest) -> PathBuf {
        self.dir.join(format!("{}.intoto.jsonl", digest.to_hex()))
    }

    /// Appends one envelope to the model's bundle, atomically with respect
    /// to other writers and crashes.
    ///
    /// # Errors
    /// [`StoreError::Io`] naming the path.
    pub fn append(&self, digest: &Sha256Digest, envelope: &Envelope) -> Result<PathBuf, StoreError> {
        fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
        let path = self.bundle_path(digest);
        let mut line = serde_json::to_vec(envelope)?;
        line.push(b'\n');
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        file.lock().map_err(io_err(&path))?;
        let result = (|| {
            if ends_mid_line(&mut file).map_err(io_err(&path))? {
                line.insert(0, b'\n');
            }
            file.write_all(&line).map_err(io_err(&path))?;
            file.sync_data().map_err(io_err(&path))
        })();
        let _ = file.unlock();
        result.map(|()| path)
    }

    /// Reads the model's bundle. A missing bundle is an empty one.
    ///
    /// # Errors
    /// [`StoreError`] when the file exists but cannot be read, or is over
    /// the size limit. Corrupt lines are not errors: they are listed in
    /// [`Bundle::corrupt`].
    pub fn read(&self, digest: &Sha256Digest) -> Result<Bundle, StoreError> {
        let path = self.bundle_path(digest);
        let mut bundle = Bundle {
            location: path.display().to_string(),
            ..Bundle::default()
        };
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(bundle),
            Err(e) => return Err(io_err(&path)(e)),
        };
        let size = file.metadata().map_err(io_err(&path))?.len();
        if size > MAX_BUNDLE_BYTES {
            return Err(StoreError::TooLarge {
                path: path.display().to_string(),
                size,
            });
        }
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.take(MAX_BUNDLE_BYTES)
            .read_to_end(&mut bytes)
            .map_err(io_err(&path))?;
        bundle.sha256 = Some(crate::sha256_bytes(&bytes));
        for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
            let line_no = i + 1;
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if raw.len() > MAX_LINE_BYTES {
                bundle.corrupt.push(CorruptLine {
                    line: line_no,
                    reason: format!(
                        "line is {} bytes, over the {MAX_LINE_BYTES}-byte limit",
                        raw.len()
                    ),
                });
                continue;
            }
            match serde_json::from_slice::<Envelope>(raw) {
                Ok(env) => bundle.envelopes.push((line_no, env)),
                Err(e) => bundle.corrupt.push(CorruptLine {
                    line: line_no,
                    reason: format!("not a DSSE envelope: {e}"),
                }),
            }
        }
        Ok(bundle)
    }
}

fn ends_mid_line(file: &mut File) -> std::io::Result<bool> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    file.seek(SeekFrom::Start(len - 1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] != b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsse::Signature;

    fn env(n: usize) -> Envelope {
        Envelope {
            payload: format!("cGF5bG9hZA{n}"),
            payload_type: "application/vnd.in-toto+json".into(),
            signatures: vec![Signature {
                keyid: "k".into(),
                sig: "c2ln".into(),
            }],
        }
    }

    #[test]
    fn a_half_written_line_is_skipped_and_later_appends_stay_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path());
        let d = Sha256Digest([1; 32]);
        store.append(&d, &env(1)).unwrap();
        // Simulate a writer killed mid-line.
        let path = store.bundle_path(&d);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"payload":"abc","payl"#).unwrap();
        drop(f);
        store.append(&d, &env(2)).unwrap();
        let b = store.read(&d).unwrap();
        assert_eq!(b.envelopes.len(), 2);
        assert_eq!(b.envelopes[1].1, env(2));
        assert_eq!(b.corrupt.len(), 1);
        assert_eq!(b.corrupt[0].line, 2);
    }

    #[test]
    fn concurrent_writers_never_interleave() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::new(dir.path());
        let d = Sha256Digest([2; 32]);
        std::thread::scope(|s| {
            for t in 0..4 {
                let store = store.clone();
                s.spawn(move || {
                    for i in 0..25 {
                        store.append(&d, &env(t * 100 + i)).unwrap();
                    }
                });
            }
        });
        let b = store.read(&d).unwrap();
        assert_eq!(b.envelopes.len(), 100);
        assert!(b.corrupt.is_empty());
    }

    #[test]
    fn a_missing_bundle_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let b = DirStore::new(dir.path()).read(&Sha256Digest([3; 32])).unwrap();
        assert!(b.envelopes.is_empty() && b.corrupt.is_empty());
    }
}
