//! `portcullis scan`: scan model files for code-execution and exfiltration
//! payloads without loading them.
//!
//! Exit codes follow the CLI table: 0 when no finding reaches `--fail-on`,
//! 1 when one does, 2 when nothing could be scanned (no files, a missing path,
//! an unreadable allowlist). Every format comes from the report crate's
//! renderers: the terminal summary, the versioned JSON document (read
//! through [`Source`], a view of the scan report) and the SARIF log with
//! the scanner's rule registry and fingerprints.

use std::path::PathBuf;

use anyhow::Result;
use portcullis_evidence::Severity;
use portcullis_report::human::Style;
use portcullis_report::json::v1;
use portcullis_report::scan::{self as render, ScanSource, ScanTotals};
use portcullis_scan::{rules, scan_paths, Allowlist, ScanOptions, ScanReport};

use crate::common::Exit;
use crate::findings::{FindingsArgs, FindingsFormat};

/// Arguments of `scan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Model files or directories (scanned recursively; formats are detected by content).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// `--format`, `--fail-on`, `--output`.
    #[command(flatten)]
    pub out: FindingsArgs,
    /// Treat medium findings (unknown third-party globals, foreign Keras modules) as high.
    #[arg(long)]
    pub strict: bool,
    /// Accepted (file digest, global) pairs, JSON or YAML; unused entries are reported.
    #[arg(long, value_name = "FILE")]
    pub allowlist: Option<PathBuf>,
    /// Compute each file's SHA-256 and list it in the JSON output (off by
    /// default: the scan then reads only the bytes its analysis needs).
    #[arg(long)]
    pub digests: bool,
}

/// Runs `scan`.
pub fn run(args: Args) -> Result<Exit> {
    let mut options = ScanOptions {
        strict: args.strict,
        digests: args.digests,
        ..ScanOptions::default()
    };
    if let Some(path) = &args.allowlist {
        options.allowlist = Some(Allowlist::from_file(path)?);
    }
    let report = scan_paths(&args.paths, &options)?;
    let bar = Severity::from(args.out.fail_on);
    let failed = args.out.fails(&report.findings);
    let text = match args.out.format {
        FindingsFormat::Human => {
            let totals = ScanTotals {
                files: report.files.len(),
                bytes: report.files.iter().map(|f| f.size).sum(),
            };
            render::human(&report.findings, totals, bar, Style::new(args.out.color()))
        }
        FindingsFormat::Json => render::json(&Source(&report))?,
        FindingsFormat::Html => {
            let files: Vec<String> = report.files.iter().map(|f| f.path.clone()).collect();
            portcullis_report::html::render_findings("scan", &report.findings, bar, &files)
        }
        FindingsFormat::Sarif => {
            // One fingerprint definition for JSON and SARIF: the scanner's,
            // keyed on the path relative to the scan root.
            portcullis_report::sarif::render_findings(rules(), &report.findings, |f| report.fingerprint(f))
        }
    };
    args.out.write(&text)?;
    Ok(if failed { Exit::Denied } else { Exit::Ok })
}

/// The JSON renderer's view of a scan report.
struct Source<'a>(&'a ScanReport);

impl ScanSource for Source<'_> {
    fn files(&self) -> Vec<v1::ScannedFile<'_>> {
        self.0
            .files
            .iter()
            .map(|f| v1::ScannedFile {
                path: &f.path,
                relative_path: &f.relative_path,
                size: f.size,
                formats: f.formats.iter().map(|x| x.as_str()).collect(),
                sha256: f.sha256.as_ref(),
            })
            .collect()
    }

    fn findings(&self) -> Vec<v1::ScanFinding<'_>> {
        self.0
            .findings
            .iter()
            .map(|f| v1::ScanFinding::new(f, self.0.fingerprint(f)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The frozen v1 document is byte for byte what serialising the scan
    /// crate's own types gave before the renderer moved to the report crate.
    #[test]
    fn json_output_matches_the_scan_report_serialisation() {
        #[derive(serde::Serialize)]
        struct Doc<'a> {
            version: u32,
            files: &'a [portcullis_scan::ScannedFile],
            findings: Vec<portcullis_scan::FingerprintedFinding<'a>>,
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scan/tests/fixtures");
        let dirs = [
            root.join("benign"),
            root.join("pickle-code-exec"),
            root.join("zip-path-traversal"),
        ];
        let options = ScanOptions {
            digests: true,
            ..ScanOptions::default()
        };
        let report = scan_paths(&dirs, &options).unwrap();
        assert!(report.files.len() > 10 && report.findings.len() > 5);
        let doc = Doc {
            version: 1,
            files: &report.files,
            findings: report.fingerprinted(),
        };
        let want = format!("{}\n", serde_json::to_string_pretty(&doc).unwrap());
        assert_eq!(render::json(&Source(&report)).unwrap(), want);
    }
}
