//! Options and output shared by the commands that report findings rather
//! than gate decisions (`scan`, `audit-ci`): the same `--format`,
//! `--fail-on` and `--output` flags and the same severity bar, so the two
//! commands cannot drift apart. Their output is rendered by the report
//! crate (`portcullis_report::{scan, audit_ci, sarif}`).

use std::path::PathBuf;

use anyhow::Result;
use clap::ValueEnum;
use portcullis_evidence::{Finding, Severity};

/// `--format` of a findings command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FindingsFormat {
    /// Terminal text (coloured on a TTY).
    Human,
    /// JSON of the shared finding type.
    Json,
    /// SARIF 2.1.0 with the analyzer's rule metadata.
    Sarif,
    /// One self-contained HTML page (no network, no script).
    Html,
}

/// A severity bar on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    /// Any finding.
    Low,
    /// Medium and above.
    Medium,
    /// High and above.
    High,
    /// Critical only.
    Critical,
}

impl From<SeverityArg> for Severity {
    fn from(s: SeverityArg) -> Severity {
        match s {
            SeverityArg::Low => Severity::Low,
            SeverityArg::Medium => Severity::Medium,
            SeverityArg::High => Severity::High,
            SeverityArg::Critical => Severity::Critical,
        }
    }
}

/// `--format`, `--fail-on` and `--output`, flattened into each findings command.
#[derive(Debug, Clone, clap::Args)]
pub struct FindingsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = FindingsFormat::Human)]
    pub format: FindingsFormat,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = SeverityArg::High)]
    pub fail_on: SeverityArg,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl FindingsArgs {
    /// Whether human output may use colour.
    pub fn color(&self) -> bool {
        crate::common::use_color(self.output.as_deref())
    }

    /// Whether any finding reaches the `--fail-on` bar.
    pub fn fails(&self, findings: &[Finding]) -> bool {
        let bar = Severity::from(self.fail_on);
        findings.iter().any(|f| f.severity >= bar)
    }

    /// Writes `text` to `--output`, or to stdout.
    ///
    /// # Errors
    /// The output file cannot be written.
    pub fn write(&self, text: &str) -> Result<()> {
        crate::common::write_output(self.output.as_deref(), text)
    }
}
