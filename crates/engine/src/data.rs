//! Attesting a dataset: a signed data manifest (path → sha256) that the
//! provenance gate checks datasets against.

use std::path::{Path, PathBuf};

use portcullis_evidence::{Envelope, SigningKey};
use portcullis_gates::provenance::data_manifest_statement;

use crate::EngineError;

/// A signed data manifest.
#[derive(Debug, Clone)]
pub struct DataAttestation {
    /// The files attested, in manifest order.
    pub files: Vec<PathBuf>,
    /// The signed statement.
    pub envelope: Envelope,
}

fn unreadable(path: &Path, why: impl std::fmt::Display) -> EngineError {
    EngineError::Data(format!("{}: {why}", path.display()))
}

fn walk(dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) -> Result<(), EngineError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .and_then(|rd| rd.collect::<Result<Vec<_>, _>>())
        .map_err(|e| unreadable(dir, format!("cannot list it ({e})")))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let p = e.path();
        let t = e.file_type().map_err(|err| unreadable(&p, err))?;
        if t.is_symlink() {
            return Err(unreadable(
                &p,
                "is a symbolic link; attest the file it points to instead",
            ));
        } else if t.is_dir() {
            if e.file_name() != ".git" {
                walk(&p, skip, out)?;
            }
        } else if t.is_file() && std::path::absolute(&p).map_err(|err| unreadable(&p, err))? != skip {
            out.push(p);
        }
    }
    Ok(())
}

/// Hashes every file under `dir` (recursively, hidden files included,
/// `.git` and the manifest at `out` left out; symbolic links refused) and
/// signs the manifest with `key`. The manifest's root is named relative to
/// `out` when `dir` sits beside or under it.
///
/// # Errors
/// [`EngineError::Data`] when the directory cannot be walked, holds a
/// symbolic link or no files; signing failures.
pub fn attest_data(dir: &Path, out: &Path, key: &SigningKey) -> Result<DataAttestation, EngineError> {
    if !dir.is_dir() {
        return Err(unreadable(dir, "is not a directory"));
    }
    let out_abs = std::path::absolute(out).map_err(|e| unreadable(out, e))?;
    let dir_abs = std::path::absolute(dir).map_err(|e| unreadable(dir, e))?;
    let mut files = Vec::new();
    walk(dir, &out_abs, &mut files)?;
    if files.is_empty() {
        return Err(unreadable(dir, "holds no files to attest"));
    }
    let root_field = match out_abs.parent().and_then(|p| dir_abs.strip_prefix(p).ok()) {
        Some(rel) if rel.as_os_str().is_empty() => ".".to_string(),
        Some(rel) => rel.to_string_lossy().into_owned(),
        None => dir_abs.to_string_lossy().into_owned(),
    };
    let statement = data_manifest_statement(dir, &root_field, &files).map_err(EngineError::Data)?;
    let envelope = Envelope::sign(&statement, key)?;
    Ok(DataAttestation { files, envelope })
}
