//! `portcullis scan`: scan model files for code-execution and exfiltration
//! payloads without loading them.
//!
//! Exit codes follow the CLI table: 0 when no finding reaches `--fail-on`,
//! 1 when one does, 2 when nothing could be scanned (no files, a missing path,
//! an unreadable allowlist). Rendering reuses the report crate: the terminal
//! finding line and the SARIF log with the scanner's rule registry.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use portcullis_evidence::Severity;
use portcullis_report::human::{finding_line, Style};
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
        FindingsFormat::Human => human(&report, bar, Style::new(args.out.color())),
        FindingsFormat::Json => json(&report)?,
        FindingsFormat::Sarif => {
            let mut log = portcullis_report::sarif::from_findings(rules(), &report.findings);
            // One fingerprint definition for JSON and SARIF: the scanner's,
            // keyed on the path relative to the scan root.
            if let Some(results) = log.pointer_mut("/runs/0/results").and_then(|r| r.as_array_mut()) {
                for (r, f) in results.iter_mut().zip(&report.findings) {
                    r["partialFingerprints"] =
                        serde_json::json!({"portcullisFinding/v1": report.fingerprint(f)});
                }
            }
            format!("{}\n", serde_json::to_string_pretty(&log)?)
        }
    };
    args.out.write(&text)?;
    Ok(if failed { Exit::Denied } else { Exit::Ok })
}

fn human(report: &ScanReport, bar: Severity, st: Style) -> String {
    // A finding takes about three lines, 250 bytes; sized once for large scans.
    let mut out = String::with_capacity(report.findings.len() * 256 + 128);
    for f in &report.findings {
        let _ = writeln!(out, "{}", finding_line(f, st));
    }
    let bytes: u64 = report.files.iter().map(|f| f.size).sum();
    let mut counts = String::new();
    for s in Severity::ALL.iter().rev() {
        let n = report.findings.iter().filter(|f| f.severity == *s).count();
        if n > 0 {
            let _ = write!(counts, "{}{n} {s}", if counts.is_empty() { "" } else { ", " });
        }
    }
    if counts.is_empty() {
        counts.push_str("no findings");
    }
    let failing = report.at_or_above(bar).count();
    let verdict = if failing > 0 {
        st.red(&format!("FAIL: {failing} at or above {bar}"))
    } else {
        st.green(&format!("PASS: nothing at or above {bar}"))
    };
    let _ = writeln!(
        out,
        "scanned {} files ({bytes} bytes): {counts}. {verdict}",
        report.files.len()
    );
    out
}

/// The `--format json` document, version 1:
/// `{"version": 1, "files": [...], "findings": [...]}`, pretty-printed.
/// A scan of thousands of files has thousands of entries in each list, so
/// the two lists are serialised on two threads, straight from the report
/// (no intermediate JSON tree).
fn json(report: &ScanReport) -> Result<String> {
    fn nested<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
        let mut out = Vec::new();
        serde_json::to_writer_pretty(Nested(&mut out), value)?;
        Ok(out)
    }
    let (files, findings) = rayon::join(|| nested(&report.files), || nested(&report.fingerprinted()));
    let (files, findings) = (files?, findings?);
    let mut out = Vec::with_capacity(files.len() + findings.len() + 64);
    out.extend_from_slice(b"{\n  \"version\": 1,\n  \"files\": ");
    out.extend_from_slice(&files);
    out.extend_from_slice(b",\n  \"findings\": ");
    out.extend_from_slice(&findings);
    out.extend_from_slice(b"\n}\n");
    Ok(String::from_utf8(out)?)
}

/// A writer for pretty-printed JSON nested one level deeper than it was
/// serialised: two more spaces after every line break. JSON strings never
/// hold a raw newline, so every newline written is a line break of the layout.
struct Nested<'a>(&'a mut Vec<u8>);

impl std::io::Write for Nested<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut rest = buf;
        while let Some(i) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(i + 1);
            self.0.extend_from_slice(line);
            self.0.extend_from_slice(b"  ");
            rest = tail;
        }
        self.0.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two-thread JSON writer gives byte for byte what serialising the
    /// whole document at once gives.
    #[test]
    fn json_output_matches_whole_document_serialisation() {
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
        let report = scan_paths(&dirs, &ScanOptions::default()).unwrap();
        assert!(report.files.len() > 10 && report.findings.len() > 5);
        let doc = Doc {
            version: 1,
            files: &report.files,
            findings: report.fingerprinted(),
        };
        let want = format!("{}\n", serde_json::to_string_pretty(&doc).unwrap());
        assert_eq!(json(&report).unwrap(), want);

        let empty = ScanReport::default();
        let got = json(&empty).unwrap();
        assert_eq!(
            got,
            "{\n  \"version\": 1,\n  \"files\": [],\n  \"findings\": []\n}\n"
        );
    }
}
