//! Hashing a byte range of a file with large buffered reads.
//!
//! Reads go through one reusable buffer per worker thread. Its size was
//! measured (see `bench/RESULTS.md`): 16-64 KiB reads keep the bytes the kernel
//! copies in hot in the CPU cache when SHA-256 reads them, and cost ~0.39 CPU
//! seconds per 512 MiB; 128 KiB to 4 MiB reads cost ~0.55 s, a third of it in
//! the kernel copy. `sha2` picks the SHA-NI code path at run time when the CPU
//! has it (a portable fallback otherwise). Memory maps would avoid the copy but
//! need `unsafe`, which the workspace forbids.
//!
//! A file that shrinks or grows while it is hashed is an error, never a digest
//! of bytes nobody looked at: each range must read exactly its length, and the
//! range that ends at the file's recorded size must then find end-of-file.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::ManifestError;
use crate::hash::Sha256Digest;

/// Size of the per-thread read buffer.
pub(crate) const READ_BUFFER: usize = 64 * 1024;

/// A byte range of one file, and the file size the walk recorded.
pub(crate) struct Range<'a> {
    pub path: &'a Path,
    pub start: u64,
    pub end: u64,
    pub file_size: u64,
}

fn unreadable(path: &Path, source: std::io::Error) -> ManifestError {
    ManifestError::Unreadable {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads into `buf` until it is full or end-of-file, retrying interrupted
/// reads. Returns the number of bytes read.
fn fill(file: &mut File, buf: &mut [u8], path: &Path) -> Result<usize, ManifestError> {
    let mut filled = 0;
    while filled < buf.len() {
        let Some(rest) = buf.get_mut(filled..) else {
            break;
        };
        match file.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(unreadable(path, e)),
        }
    }
    Ok(filled)
}

/// Hashes `range`, reporting each chunk's length to `progress`.
///
/// # Errors
/// [`ManifestError::Unreadable`] when the file cannot be opened or read, and
/// [`ManifestError::FileChanged`] when it no longer has the recorded size.
pub(crate) fn hash_range(
    range: &Range<'_>,
    buf: &mut [u8],
    progress: Option<&(dyn Fn(u64) + Sync)>,
) -> Result<Sha256Digest, ManifestError> {
    let path = range.path;
    let mut file = File::open(path).map_err(|e| unreadable(path, e))?;
    if range.start > 0 {
        file.seek(SeekFrom::Start(range.start))
            .map_err(|e| unreadable(path, e))?;
    }
    let mut hasher = Sha256::new();
    let mut remaining = range.end.saturating_sub(range.start);
    while remaining > 0 {
        let want = usize::try_from(remaining).unwrap_or(usize::MAX).min(buf.len());
        let Some(chunk) = buf.get_mut(..want) else {
            break;
        };
        let got = fill(&mut file, chunk, path)?;
        if got == 0 {
            return Err(ManifestError::FileChanged {
                path: path.to_path_buf(),
                expected: range.file_size,
                actual: range.end - remaining,
            });
        }
        if let Some(data) = chunk.get(..got) {
            hasher.update(data);
        }
        remaining -= got as u64;
        if let Some(report) = progress {
            report(got as u64);
        }
    }
    if range.end >= range.file_size {
        let mut probe = [0u8; 1];
        if fill(&mut file, &mut probe, path)? != 0 {
            let actual = file.metadata().map(|m| m.len()).unwrap_or(range.file_size + 1);
            return Err(ManifestError::FileChanged {
                path: path.to_path_buf(),
                expected: range.file_size,
                actual,
            });
        }
    }
    Ok(Sha256Digest(hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(path: &Path, start: u64, end: u64, file_size: u64) -> Range<'_> {
        Range {
            path,
            start,
            end,
            file_size,
        }
    }

    #[test]
    fn hashes_a_range_in_small_chunks_and_reports_progress() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let seen = std::sync::atomic::AtomicU64::new(0);
        let report = |n: u64| {
            seen.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        };
        let mut buf = [0u8; 3];
        let d = hash_range(&range(&path, 2, 9, 10), &mut buf, Some(&report)).unwrap();
        assert_eq!(d, crate::manifest::sha256_bytes(b"2345678"));
        assert_eq!(seen.into_inner(), 7);
    }

    #[test]
    fn a_file_that_shrank_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let mut buf = [0u8; 4];
        let err = hash_range(&range(&path, 8, 16, 16), &mut buf, None).unwrap_err();
        assert!(
            matches!(
                err,
                ManifestError::FileChanged {
                    expected: 16,
                    actual: 10,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn a_file_that_grew_is_an_error_on_its_last_range_only() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let mut buf = [0u8; 4];
        // Not the last range: the bytes after it belong to another shard.
        assert!(hash_range(&range(&path, 0, 4, 8), &mut buf, None).is_ok());
        let err = hash_range(&range(&path, 4, 8, 8), &mut buf, None).unwrap_err();
        assert!(
            matches!(
                err,
                ManifestError::FileChanged {
                    expected: 8,
                    actual: 10,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
