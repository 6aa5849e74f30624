//! Accepted exceptions, kept outside the model files.
//!
//! A team accepts one global for one exact file (by SHA-256) with a reason.
//! Entries that suppress nothing during a scan are reported back as
//! `allowlist-unused` findings so exceptions do not outlive their file.
//!
//! The file is JSON (`[{...}]` or `{"entries": [...]}`) or the YAML subset
//! `- sha256: ...` / `  global: ...` / `  reason: ...` (one entry per list
//! item, scalar values, optional quotes).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use portcullis_evidence::{Finding, Location, Severity, Sha256Digest};
use serde::Deserialize;

/// One accepted (file, global) pair.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowlistEntry {
    /// SHA-256 of the top-level file the exception is for.
    pub sha256: Sha256Digest,
    /// The global (`module.name`, as findings print it) or other fragment accepted.
    pub global: String,
    /// Why it is acceptable.
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Doc {
    List(Vec<AllowlistEntry>),
    Wrapped { entries: Vec<AllowlistEntry> },
}

/// A set of accepted exceptions, with use tracking shared across clones.
#[derive(Debug, Clone, Default)]
pub struct Allowlist {
    source: String,
    entries: Vec<AllowlistEntry>,
    used: Arc<Vec<AtomicBool>>,
}

/// Errors reading an allowlist file.
#[derive(Debug, thiserror::Error)]
pub enum AllowlistError {
    /// The file could not be read.
    #[error("cannot read allowlist '{path}': {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The content is not a valid allowlist.
    #[error("allowlist '{path}' line {line}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl Allowlist {
    /// Reads a JSON or YAML allowlist file.
    ///
    /// # Errors
    /// [`AllowlistError::Io`] when unreadable, [`AllowlistError::Parse`] with
    /// the line when an entry is malformed (missing key, bad digest, empty reason).
    pub fn from_file(path: &Path) -> Result<Self, AllowlistError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| AllowlistError::Io {
            path: name.clone(),
            source,
        })?;
        Self::parse(&name, &text)
    }

    /// Parses allowlist text; `source` names it in errors and findings.
    ///
    /// # Errors
    /// [`AllowlistError::Parse`] when the text is not a valid allowlist.
    pub fn parse(source: &str, text: &str) -> Result<Self, AllowlistError> {
        let trimmed = text.trim_start();
        let entries = if trimmed.starts_with('[') || trimmed.starts_with('{') {
            match serde_json::from_str::<Doc>(text) {
                Ok(Doc::List(e)) | Ok(Doc::Wrapped { entries: e }) => e,
                Err(e) => {
                    return Err(AllowlistError::Parse {
                        path: source.into(),
                        line: e.line(),
                        message: e.to_string(),
                    })
                }
            }
        } else {
            parse_yaml(source, text)?
        };
        for e in &entries {
            if e.reason.trim().is_empty() || e.global.trim().is_empty() {
                return Err(AllowlistError::Parse {
                    path: source.into(),
                    line: 0,
                    message: format!("entry for {} needs a global and a reason", e.sha256),
                });
            }
        }
        let used = Arc::new(entries.iter().map(|_| AtomicBool::new(false)).collect());
        Ok(Allowlist {
            source: source.into(),
            entries,
            used,
        })
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[AllowlistEntry] {
        &self.entries
    }

    /// True when some entry names `global`, so the file's digest is worth
    /// computing to check it.
    pub fn mentions(&self, global: &str) -> bool {
        self.entries.iter().any(|e| e.global == global)
    }

    /// True (and the entry marked used) when `global` is accepted for the file `digest`.
    pub fn accepts(&self, digest: &Sha256Digest, global: &str) -> bool {
        let mut hit = false;
        for (i, e) in self.entries.iter().enumerate() {
            if &e.sha256 == digest && e.global == global {
                if let Some(u) = self.used.get(i) {
                    u.store(true, Ordering::Relaxed);
                }
                hit = true;
            }
        }
        hit
    }

    /// Entries that have not matched anything so far.
    pub fn unused(&self) -> Vec<&AllowlistEntry> {
        self.entries
            .iter()
            .zip(self.used.iter())
            .filter(|(_, u)| !u.load(Ordering::Relaxed))
            .map(|(e, _)| e)
            .collect()
    }

    /// One `allowlist-unused` finding per unused entry.
    pub fn unused_findings(&self) -> Vec<Finding> {
        self.unused()
            .into_iter()
            .map(|e| {
                Finding::new(
                    "allowlist-unused",
                    Severity::Low,
                    format!(
                        "allowlist entry for {} in {} matched nothing ({})",
                        e.global, e.sha256, e.reason
                    ),
                )
                .at(Location::file(&self.source))
                .fragment(e.global.clone())
                .fix("Remove the entry or fix its digest.")
            })
            .collect()
    }
}

fn parse_yaml(source: &str, text: &str) -> Result<Vec<AllowlistEntry>, AllowlistError> {
    let err = |line: usize, message: String| AllowlistError::Parse {
        path: source.into(),
        line,
        message,
    };
    let mut out = Vec::new();
    let mut cur: Vec<(String, String, usize)> = Vec::new();
    let flush = |cur: &mut Vec<(String, String, usize)>,
                 out: &mut Vec<AllowlistEntry>|
     -> Result<(), AllowlistError> {
        if cur.is_empty() {
            return Ok(());
        }
        let line = cur.first().map(|c| c.2).unwrap_or(0);
        let get = |k: &str| cur.iter().find(|c| c.0 == k).map(|c| c.1.clone());
        for (k, _, l) in cur.iter() {
            if !matches!(k.as_str(), "sha256" | "global" | "reason") {
                return Err(err(
                    *l,
                    format!("unknown key '{k}' (expected sha256, global, reason)"),
                ));
            }
        }
        let sha = get("sha256").ok_or_else(|| err(line, "entry has no sha256".into()))?;
        let sha256 = Sha256Digest::from_hex(&sha).map_err(|e| err(line, e.to_string()))?;
        out.push(AllowlistEntry {
            sha256,
            global: get("global").ok_or_else(|| err(line, "entry has no global".into()))?,
            reason: get("reason").ok_or_else(|| err(line, "entry has no reason".into()))?,
        });
        cur.clear();
        Ok(())
    };
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.split(" #").next().unwrap_or("").trim_end();
        if l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "entries:" {
            continue;
        }
        let t = l.trim_start();
        let body = if let Some(rest) = t.strip_prefix("- ") {
            flush(&mut cur, &mut out)?;
            rest
        } else {
            t
        };
        let (k, v) = body
            .split_once(':')
            .ok_or_else(|| err(line, format!("expected 'key: value', found '{body}'")))?;
        let v = v.trim().trim_matches('"').trim_matches('\'').to_string();
        cur.push((k.trim().to_string(), v, line));
    }
    flush(&mut cur, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn yaml_and_json_forms_parse_to_the_same_entries_and_track_use() {
        let y = format!("# accepted\n- sha256: {SHA}\n  global: sklearn.tree._classes.DecisionTreeClassifier\n  reason: \"our own model\"\n");
        let j = format!("[{{\"sha256\":\"{SHA}\",\"global\":\"sklearn.tree._classes.DecisionTreeClassifier\",\"reason\":\"our own model\"}}]");
        let a = Allowlist::parse("a.yaml", &y).unwrap();
        let b = Allowlist::parse("a.json", &j).unwrap();
        assert_eq!(a.entries(), b.entries());
        assert_eq!(a.unused().len(), 1);
        let d = Sha256Digest::from_hex(SHA).unwrap();
        assert!(a.accepts(&d, "sklearn.tree._classes.DecisionTreeClassifier"));
        assert!(a.unused().is_empty());
    }

    #[test]
    fn yaml_errors_name_the_line() {
        let e = Allowlist::parse("a.yaml", "- sha256: nothex\n  global: x\n  reason: y\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = Allowlist::parse("a.yaml", &format!("- sha256: {SHA}\n  globl: x\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("globl"), "{e}");
    }
}
