//! The one finding type shared by gates, the model-file scanner and the CI
//! auditor.
//!
//! A finding is what a reviewer acts on: which rule fired, how bad it is, how
//! sure we are, a one-line message, and where to look. Every analyzer in the
//! workspace produces this type so that every renderer (terminal, JSON, SARIF,
//! JUnit, Markdown) handles all of them the same way.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How bad a finding is. Ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; never blocks by default.
    Low,
    /// Needs a look; blocks only under a strict bar.
    Medium,
    /// Blocks by default.
    High,
    /// Blocks; a known-dangerous pattern.
    Critical,
}

impl Severity {
    /// All severities, lowest first.
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    /// The lowercase name used in every output format and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error returned when a severity or confidence name is not recognised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{given}' (expected one of: {expected})")]
pub struct ParseLevelError {
    what: &'static str,
    given: String,
    expected: &'static str,
}

impl FromStr for Severity {
    type Err = ParseLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(ParseLevelError {
                what: "severity",
                given: s.to_string(),
                expected: "low, medium, high, critical",
            }),
        }
    }
}

/// How sure the analyzer is that the finding is real.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// A heuristic hit (for example a name that looks like a deploy step).
    Low,
    /// Likely, but context could change the reading.
    Medium,
    /// Certain from what was read.
    High,
}

impl Confidence {
    /// The lowercase name used in every output format.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Confidence {
    type Err = ParseLevelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Confidence::Low),
            "medium" => Ok(Confidence::Medium),
            "high" => Ok(Confidence::High),
            _ => Err(ParseLevelError {
                what: "confidence",
                given: s.to_string(),
                expected: "low, medium, high",
            }),
        }
    }
}

/// Where a finding points. Every field is optional because analyzers know
/// different things: the CI auditor knows line and column, the scanner knows
/// the archive member and byte offset, a gate may know only a dataset row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// The file, as the user named it (relative paths stay relative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// A member inside the file: an archive entry, a tensor, a pickle stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// 1-based line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// 1-based last line of the region, when it spans more than a point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_line: Option<u32>,
    /// 1-based column just past the region on `end_line`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_column: Option<u32>,
    /// 0-based byte offset into the file (or member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// What is at this place ("deploy step", "gate", "GLOBAL opcode").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl Location {
    /// A location in a file.
    pub fn file(path: impl Into<String>) -> Self {
        Location {
            file: Some(path.into()),
            ..Location::default()
        }
    }

    /// Sets the 1-based line and column.
    #[must_use]
    pub fn line_col(mut self, line: u32, column: u32) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    /// Sets the 1-based end of the region.
    #[must_use]
    pub fn end(mut self, line: u32, column: u32) -> Self {
        self.end_line = Some(line);
        self.end_column = Some(column);
        self
    }

    /// Sets the archive member (or other sub-part of the file).
    #[must_use]
    pub fn member(mut self, member: impl Into<String>) -> Self {
        self.member = Some(member.into());
        self
    }

    /// Sets the 0-based byte offset.
    #[must_use]
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    /// Sets a short label saying what is at this place.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }
}

impl fmt::Display for Location {
    /// `file[!member]:line:col` or `file[!member]@offset`, whatever is known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut wrote = false;
        if let Some(file) = &self.file {
            f.write_str(file)?;
            wrote = true;
        }
        if let Some(member) = &self.member {
            write!(f, "!{member}")?;
            wrote = true;
        }
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
            wrote = true;
        } else if let Some(offset) = self.offset {
            write!(f, "@{offset}")?;
            wrote = true;
        }
        if !wrote {
            f.write_str("<unknown>")?;
        }
        Ok(())
    }
}

/// One problem found by a gate, the scanner or the CI auditor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Stable kebab-case rule id (`pickle-code-exec`, `deploy-without-gate`).
    pub rule: String,
    /// How bad it is.
    pub severity: Severity,
    /// How sure we are.
    pub confidence: Confidence,
    /// One line: what was found and why it matters.
    pub message: String,
    /// The primary place to look.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Other places involved (the gate a deploy step lacks, the reference row).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Location>,
    /// The offending fragment: a pickle global, an op name, a template excerpt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fragment: Option<String>,
    /// How to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    /// A finding with high confidence and no location; chain the setters to
    /// add the rest.
    pub fn new(rule: impl Into<String>, severity: Severity, message: impl Into<String>) -> Self {
        Finding {
            rule: rule.into(),
            severity,
            confidence: Confidence::High,
            message: message.into(),
            location: None,
            related: Vec::new(),
            fragment: None,
            fix: None,
        }
    }

    /// Sets the confidence.
    #[must_use]
    pub fn confidence(mut self, confidence: Confidence) -> Self {
        self.confidence = confidence;
        self
    }

    /// Sets the primary location.
    #[must_use]
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }

    /// Adds a related location.
    #[must_use]
    pub fn related(mut self, location: Location) -> Self {
        self.related.push(location);
        self
    }

    /// Sets the offending fragment.
    #[must_use]
    pub fn fragment(mut self, fragment: impl Into<String>) -> Self {
        self.fragment = Some(fragment.into());
        self
    }

    /// Sets the fix hint.
    #[must_use]
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_orders_low_to_critical_and_parses_case_insensitively() {
        assert!(Severity::Low < Severity::Medium);
        assert!(Severity::High < Severity::Critical);
        assert_eq!("HIGH".parse::<Severity>(), Ok(Severity::High));
        let err = "severe".parse::<Severity>().unwrap_err().to_string();
        assert!(err.contains("severe") && err.contains("critical"), "{err}");
    }

    #[test]
    fn location_display_prefers_line_over_offset() {
        let loc = Location::file("a.yml").line_col(3, 7).offset(99);
        assert_eq!(loc.to_string(), "a.yml:3:7");
        let loc = Location::file("m.pt").member("archive/data.pkl").offset(12);
        assert_eq!(loc.to_string(), "m.pt!archive/data.pkl@12");
        assert_eq!(Location::default().to_string(), "<unknown>");
    }

    #[test]
    fn finding_round_trips_through_json_and_omits_empty_fields() {
        let f = Finding::new("pickle-code-exec", Severity::Critical, "os.system")
            .at(Location::file("x.pkl").offset(4))
            .fragment("os system")
            .fix("do not load");
        let json = serde_json::to_string(&f).unwrap();
        assert!(!json.contains("related"), "{json}");
        let back: Finding = serde_json::from_str(&json).unwrap();
        assert_eq!(back, f);
    }
}
