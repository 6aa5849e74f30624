//! Loading the files a pipeline references (GitLab local includes, Azure
//! templates) under the same limits as the file itself.
//!
//! It sits below both the driver and the parsers: the driver builds a
//! [`Loader`] for each file and hands it to the parser, and the parsers read
//! through it, so no parser depends on the driver.

use std::path::{Path, PathBuf};

use crate::yaml::{self, Limits, Node};

/// A path as shown in findings and messages: `/` separators, no leading `./`.
pub(crate) fn display(path: &Path) -> String {
    let s = path.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// Everything needed to load files referenced by a pipeline.
pub struct Loader<'a> {
    /// Repository root for root-relative references.
    pub root: PathBuf,
    /// YAML limits.
    pub limits: &'a Limits,
    /// Local checkouts of other repositories (`org/repo` to a directory).
    pub resolve: &'a std::collections::BTreeMap<String, PathBuf>,
}

impl Loader<'_> {
    /// Loads a referenced YAML file; the error says why, for a finding.
    ///
    /// # Errors
    /// A message naming the file and the cause.
    pub fn load(&self, path: &Path) -> Result<Vec<Node>, String> {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", display(path)))?;
        if meta.len() > self.limits.max_bytes as u64 {
            return Err(format!("{}: larger than the size limit", display(path)));
        }
        let src = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", display(path)))?;
        yaml::parse(&src, *self.limits).map_err(|e| format!("{}: {e}", display(path)))
    }
}
