//! The audit config file: ignores by rule and path glob, severity overrides.
//!
//! ```yaml
//! ignore:
//!   - rule: deploy-without-approval
//!     paths: ["legacy/**"]        # omit to ignore everywhere
//! severity:
//!   gate-unpinned: high
//! ```
//!
//! Unknown keys and unknown rule ids are errors with a position, because a
//! typo in an ignore silently ignoring nothing is how exceptions rot.

use std::collections::BTreeMap;
use std::path::Path;

use portcullis_evidence::Severity;

use crate::rules::RULES;
use crate::yaml::{self, Limits, Node};

/// One ignore entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoreEntry {
    /// The rule id.
    pub rule: String,
    /// Path globs (`*`, `**`, `?`); empty means every path.
    pub paths: Vec<String>,
}

/// Parsed, validated audit configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditConfig {
    /// Findings to drop.
    pub ignore: Vec<IgnoreEntry>,
    /// Severity per rule id, replacing the rule's default.
    pub severity: BTreeMap<String, Severity>,
}

/// Why a config file was rejected.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is invalid.
    #[error("config {path}: {source}")]
    Yaml {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: yaml::YamlError,
    },
    /// The content is not a valid config; every problem is listed.
    #[error("config {path}: {}", .problems.join("; "))]
    Invalid {
        /// The file.
        path: String,
        /// Each problem, `line:col: what`.
        problems: Vec<String>,
    },
}

fn known_rule(id: &str) -> bool {
    RULES.iter().any(|r| r.id == id)
}

impl AuditConfig {
    /// Reads and validates a config file.
    ///
    /// # Errors
    /// [`ConfigError`] when the file cannot be read, is not YAML, or has
    /// unknown keys, unknown rule ids or bad severities.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: name.clone(),
            source,
        })?;
        Self::from_yaml(&src, &name)
    }

    /// Parses and validates config text; `name` is used in errors.
    ///
    /// # Errors
    /// As [`AuditConfig::from_file`], minus reading.
    pub fn from_yaml(src: &str, name: &str) -> Result<Self, ConfigError> {
        let limits = Limits {
            max_bytes: 1024 * 1024,
            ..Limits::default()
        };
        let docs = yaml::parse(src, limits).map_err(|source| ConfigError::Yaml {
            path: name.to_string(),
            source,
        })?;
        let mut cfg = AuditConfig::default();
        let mut problems = Vec::new();
        let Some(root) = docs.first() else {
            return Ok(cfg);
        };
        let Some(entries) = root.as_map() else {
            return Err(ConfigError::Invalid {
                path: name.to_string(),
                problems: vec![format!(
                    "{}:{}: expected a mapping with `ignore` and `severity`",
                    root.pos.line, root.pos.col
                )],
            });
        };
        for (k, v) in entries {
            let at = format!("{}:{}", k.pos.line, k.pos.col);
            match k.as_str() {
                Some("ignore") => cfg.ignore = parse_ignores(v, &mut problems),
                Some("severity") => {
                    for (rk, rv) in v.as_map().unwrap_or_default() {
                        let id = rk.as_str().unwrap_or_default();
                        if !known_rule(id) {
                            problems.push(format!("{}:{}: unknown rule id '{id}'", rk.pos.line, rk.pos.col));
                            continue;
                        }
                        match rv.as_str().map(str::parse::<Severity>) {
                            Some(Ok(sev)) => {
                                cfg.severity.insert(id.to_string(), sev);
                            }
                            Some(Err(e)) => {
                                problems.push(format!("{}:{}: {e}", rv.pos.line, rv.pos.col));
                            }
                            None => problems.push(format!(
                                "{}:{}: expected a severity name",
                                rv.pos.line, rv.pos.col
                            )),
                        }
                    }
                }
                other => problems.push(format!(
                    "{at}: unknown key '{}' (expected `ignore` or `severity`)",
                    other.unwrap_or("?")
                )),
            }
        }
        if problems.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError::Invalid {
                path: name.to_string(),
                problems,
            })
        }
    }

    /// Whether a finding of `rule` in `file` is ignored.
    pub fn ignores(&self, rule: &str, file: &str) -> bool {
        self.ignore
            .iter()
            .any(|e| e.rule == rule && (e.paths.is_empty() || e.paths.iter().any(|g| glob_match(g, file))))
    }
}

fn parse_ignores(v: &Node, problems: &mut Vec<String>) -> Vec<IgnoreEntry> {
    let mut out = Vec::new();
    for item in v.as_seq().unwrap_or_default() {
        let mut entry = IgnoreEntry {
            rule: String::new(),
            paths: Vec::new(),
        };
        for (k, val) in item.as_map().unwrap_or_default() {
            match k.as_str() {
                Some("rule") => entry.rule = val.as_str().unwrap_or_default().to_string(),
                Some("paths") => {
                    entry.paths = val.str_items().into_iter().map(|(s, _)| s.to_string()).collect();
                }
                other => problems.push(format!(
                    "{}:{}: unknown key '{}' in ignore entry (expected `rule`, `paths`)",
                    k.pos.line,
                    k.pos.col,
                    other.unwrap_or("?")
                )),
            }
        }
        if !known_rule(&entry.rule) {
            problems.push(format!(
                "{}:{}: ignore entry needs a known `rule` id, got '{}'",
                item.pos.line, item.pos.col, entry.rule
            ));
            continue;
        }
        out.push(entry);
    }
    out
}

/// Matches a path against a glob: `**` crosses `/`, `*` and `?` do not.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = path.chars().collect();
    let mut memo = std::collections::HashMap::new();
    glob_at(&p, &s, 0, 0, &mut memo)
}

fn glob_at(
    p: &[char],
    s: &[char],
    i: usize,
    j: usize,
    memo: &mut std::collections::HashMap<(usize, usize), bool>,
) -> bool {
    if let Some(&v) = memo.get(&(i, j)) {
        return v;
    }
    let v = match p.get(i) {
        None => j == s.len(),
        Some('*') if p.get(i + 1) == Some(&'*') => {
            (p.get(i + 2) == Some(&'/') && glob_at(p, s, i + 3, j, memo))
                || (j..=s.len()).any(|k| glob_at(p, s, i + 2, k, memo))
        }
        Some('*') => {
            let mut ok = false;
            for k in j..=s.len() {
                if k > j && s.get(k - 1) == Some(&'/') {
                    break;
                }
                if glob_at(p, s, i + 1, k, memo) {
                    ok = true;
                    break;
                }
            }
            ok
        }
        Some('?') => s.get(j).is_some_and(|c| *c != '/') && glob_at(p, s, i + 1, j + 1, memo),
        Some(c) => s.get(j) == Some(c) && glob_at(p, s, i + 1, j + 1, memo),
    };
    memo.insert((i, j), v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_cross_directories_only_with_double_star() {
        assert!(glob_match("legacy/**", "legacy/a/b.yml"));
        assert!(glob_match("**/*.yml", "a/b/c.yml"));
        assert!(glob_match("**/c.yml", "c.yml"));
        assert!(!glob_match("legacy/*", "legacy/a/b.yml"));
        assert!(glob_match("legacy/*", "legacy/b.yml"));
        assert!(glob_match(".github/workflows/?.yml", ".github/workflows/a.yml"));
    }

    #[test]
    fn unknown_keys_and_rules_are_all_reported_with_positions() {
        let err = AuditConfig::from_yaml(
            "ignore:\n  - rule: no-such-rule\nseverity:\n  fake-gate: extreme\ncolour: red\n",
            "c.yml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no-such-rule"), "{err}");
        assert!(err.contains("4:14"), "{err}");
        assert!(err.contains("5:1: unknown key 'colour'"), "{err}");
    }

    #[test]
    fn valid_config_ignores_by_rule_and_path() {
        let cfg = AuditConfig::from_yaml(
            "ignore:\n  - rule: gate-unpinned\n    paths: [\"legacy/**\"]\nseverity:\n  fake-gate: critical\n",
            "c.yml",
        )
        .unwrap();
        assert!(cfg.ignores("gate-unpinned", "legacy/x.yml"));
        assert!(!cfg.ignores("gate-unpinned", "new/x.yml"));
        assert_eq!(cfg.severity.get("fake-gate"), Some(&Severity::Critical));
    }
}
