//! Finding the files of a model, the way OpenSSF model-signing v1.0 does.
//!
//! The digest depends on exactly which files are hashed and in which order, so
//! this module pins both:
//!
//! - A model is one regular file (its single resource is named `.`) or a
//!   directory walked recursively; hidden files are included.
//! - Paths listed to ignore are relative to the model directory and match a
//!   path and everything below it, component by component (`.git` ignores
//!   `.git/HEAD` but not `.gitkeep`, and not `sub/.git`).
//! - A symbolic link is an error unless allowed. When allowed, a link to a file
//!   is hashed under the link's own name with the target's bytes, and a link to
//!   a directory is neither followed nor hashed (model-signing's walk does not
//!   descend into linked directories and keeps only files).
//! - Anything that is neither a regular file nor a directory (fifo, socket,
//!   device, dangling link) is an error.
//! - Resources sort by their path components, not by the joined string: `a/b`
//!   comes before `a-b` because `["a", "b"] < ["a-b"]`, although `'-' < '/'`.
//!
//! Where model-signing is lenient we fail closed instead: an unreadable
//! directory is an error (its walk silently skips it), and a file name that is
//! not UTF-8 is an error (it cannot be named in a JSON manifest). Ignored
//! directories are not descended into at all.

use std::cmp::Ordering;
use std::fs;
use std::path::{Path, PathBuf};

use super::{DigestOptions, ManifestError};

/// Paths model-signing ignores by default in every model directory.
pub const DEFAULT_IGNORES: [&str; 4] = [".git", ".gitattributes", ".github", ".gitignore"];

/// One regular file of the model, as found by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelFile {
    /// Path components relative to the model root; `["."]` for a single-file
    /// model.
    pub components: Vec<String>,
    /// The path to open.
    pub path: PathBuf,
    /// Size in bytes when the walk saw it.
    pub size: u64,
}

impl ModelFile {
    /// The resource name: components joined with `/` (POSIX form on every OS).
    pub fn name(&self) -> String {
        self.components.join("/")
    }
}

/// Compares two relative paths component by component, each component by its
/// UTF-8 bytes (which is Unicode code-point order, the order Python uses for
/// `PurePosixPath`).
pub(crate) fn compare_components(a: &[String], b: &[String]) -> Ordering {
    a.iter().cmp(b.iter())
}

/// Splits an ignore path into normal components, refusing absolute paths,
/// `..` and empty paths (which would ignore everything).
fn ignore_components(raw: &str) -> Result<Vec<String>, ManifestError> {
    let invalid = || ManifestError::InvalidIgnore {
        path: raw.to_string(),
    };
    if raw.starts_with('/') || raw.starts_with('\\') {
        return Err(invalid());
    }
    let mut out = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(invalid()),
            p => out.push(p.to_string()),
        }
    }
    if out.is_empty() {
        return Err(invalid());
    }
    Ok(out)
}

fn is_ignored(components: &[String], ignores: &[Vec<String>]) -> bool {
    ignores.iter().any(|ig| components.starts_with(ig))
}

fn kind_of(file_type: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a fifo";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    let _ = file_type;
    "a special file"
}

fn io_err(path: &Path, source: std::io::Error) -> ManifestError {
    ManifestError::Unreadable {
        path: path.to_path_buf(),
        source,
    }
}

/// What a path turned out to be once links are dealt with.
enum Entry {
    File(u64),
    Dir,
    /// A link to a directory, allowed but not followed.
    LinkedDir,
}

/// Classifies `path`, applying the symlink rule. `is_root` makes a followed
/// link to a directory a walkable directory (the model path itself may be a
/// link when links are allowed, as in model-signing).
fn classify(path: &Path, allow_symlinks: bool, is_root: bool) -> Result<Entry, ManifestError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && is_root => {
            return Err(ManifestError::NotFound {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(io_err(path, e)),
    };
    let (meta, via_link) = if meta.file_type().is_symlink() {
        if !allow_symlinks {
            return Err(ManifestError::SymlinkRefused {
                path: path.to_path_buf(),
            });
        }
        match fs::metadata(path) {
            Ok(target) => (target, true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ManifestError::NotFileOrDirectory {
                    path: path.to_path_buf(),
                    kind: "a dangling symbolic link",
                })
            }
            Err(e) => return Err(io_err(path, e)),
        }
    } else {
        (meta, false)
    };
    if meta.is_file() {
        Ok(Entry::File(meta.len()))
    } else if meta.is_dir() {
        if via_link && !is_root {
            Ok(Entry::LinkedDir)
        } else {
            Ok(Entry::Dir)
        }
    } else {
        Err(ManifestError::NotFileOrDirectory {
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
        })
    }
}

/// Lists the files of the model at `root`, sorted by path components.
pub(crate) fn model_files(root: &Path, options: &DigestOptions) -> Result<Vec<ModelFile>, ManifestError> {
    let mut ignores = DEFAULT_IGNORES
        .iter()
        .map(|p| vec![(*p).to_string()])
        .collect::<Vec<_>>();
    for raw in &options.ignore {
        ignores.push(ignore_components(raw)?);
    }

    match classify(root, options.allow_symlinks, true)? {
        Entry::File(size) => {
            return Ok(vec![ModelFile {
                components: vec![".".to_string()],
                path: root.to_path_buf(),
                size,
            }])
        }
        Entry::Dir | Entry::LinkedDir => {}
    }

    let mut files = Vec::new();
    // An explicit stack, so a deep tree cannot overflow the call stack.
    let mut pending: Vec<(PathBuf, Vec<String>)> = vec![(root.to_path_buf(), Vec::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| io_err(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_err(&dir, e))?;
            let path = entry.path();
            let name = entry
                .file_name()
                .into_string()
                .map_err(|_| ManifestError::NonUtf8Name { path: path.clone() })?;
            let mut components = prefix.clone();
            components.push(name);
            if is_ignored(&components, &ignores) {
                continue;
            }
            match classify(&path, options.allow_symlinks, false)? {
                Entry::File(size) => files.push(ModelFile {
                    components,
                    path,
                    size,
                }),
                Entry::Dir => pending.push((path, components)),
                Entry::LinkedDir => {}
            }
        }
    }
    files.sort_by(|a, b| compare_components(&a.components, &b.components));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(p: &str) -> Vec<String> {
        p.split('/').map(str::to_string).collect()
    }

    fn sorted(mut names: Vec<&str>) -> Vec<&str> {
        names.sort_by(|a, b| compare_components(&comps(a), &comps(b)));
        names
    }

    #[test]
    fn component_order_puts_directory_contents_before_longer_siblings() {
        // As plain strings "a-b" < "a.b" < "a/b" ('-' 0x2d, '.' 0x2e, '/' 0x2f);
        // by components the directory "a" sorts first.
        let names = vec!["a-b", "a/b", "a.b", "a/c/d", "a0"];
        let mut as_strings = names.clone();
        as_strings.sort();
        assert_eq!(as_strings, vec!["a-b", "a.b", "a/b", "a/c/d", "a0"]);
        assert_eq!(sorted(names), vec!["a/b", "a/c/d", "a-b", "a.b", "a0"]);
    }

    #[test]
    fn component_order_is_code_point_order_and_case_sensitive() {
        let names = vec!["é", "z", "Z", "日本/x", "e", "a b"];
        assert_eq!(sorted(names), vec!["Z", "a b", "e", "z", "é", "日本/x"]);
    }

    #[test]
    fn component_order_prefix_sorts_first() {
        assert_eq!(sorted(vec!["ab/c", "ab", "a"]), vec!["a", "ab", "ab/c"]);
    }

    #[test]
    fn ignore_paths_are_normalised_and_bounded_to_the_model() {
        assert_eq!(ignore_components("a/./b/").unwrap(), comps("a/b"));
        assert!(ignore_components("/etc").is_err());
        assert!(ignore_components("a/../b").is_err());
        assert!(ignore_components("").is_err());
        assert!(ignore_components("./").is_err());
    }

    #[test]
    fn ignore_matches_whole_components_only() {
        let ignores = vec![comps(".git")];
        assert!(is_ignored(&comps(".git"), &ignores));
        assert!(is_ignored(&comps(".git/HEAD"), &ignores));
        assert!(!is_ignored(&comps(".gitkeep"), &ignores));
        assert!(!is_ignored(&comps("sub/.git"), &ignores));
    }
}
