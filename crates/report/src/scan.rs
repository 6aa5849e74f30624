//! `scan` output: the terminal summary and the frozen JSON document
//! ([`crate::json::v1::ScanOutput`]).
//!
//! The scanner's report reaches this crate through [`ScanSource`], which
//! yields the frozen v1 views of its files and findings, so the scanner
//! never depends on the renderers and the renderers never on the scanner.
//! SARIF goes through [`crate::sarif::from_findings_with`] with the
//! scanner's fingerprints.

use std::fmt::Write as _;

use portcullis_evidence::{Finding, Severity};

use crate::human::{finding_line, Style};
use crate::json::v1;

/// A scan report as the JSON renderer reads it. Each list is built on its
/// own thread, so building it (fingerprints are a SHA-256 each) runs in
/// parallel with serialising the other.
pub trait ScanSource: Sync {
    /// Every file scanned, in path order.
    fn files(&self) -> Vec<v1::ScannedFile<'_>>;
    /// Every finding with its fingerprint, in report order.
    fn findings(&self) -> Vec<v1::ScanFinding<'_>>;
}

/// Totals of a scan for the terminal summary.
#[derive(Debug, Clone, Copy)]
pub struct ScanTotals {
    /// Files scanned.
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// The terminal report: one line (or two) per finding, then a summary with
/// the counts per severity and the verdict against `bar`.
pub fn human(findings: &[Finding], totals: ScanTotals, bar: Severity, st: Style) -> String {
    // A finding takes about three lines, 250 bytes; sized once for large scans.
    let mut out = String::with_capacity(findings.len() * 256 + 128);
    for f in findings {
        let _ = writeln!(out, "{}", finding_line(f, st));
    }
    let mut counts = String::new();
    for s in Severity::ALL.iter().rev() {
        let n = findings.iter().filter(|f| f.severity == *s).count();
        if n > 0 {
            let _ = write!(counts, "{}{n} {s}", if counts.is_empty() { "" } else { ", " });
        }
    }
    if counts.is_empty() {
        counts.push_str("no findings");
    }
    let failing = findings.iter().filter(|f| f.severity >= bar).count();
    let verdict = if failing > 0 {
        st.red(&format!("FAIL: {failing} at or above {bar}"))
    } else {
        st.green(&format!("PASS: nothing at or above {bar}"))
    };
    let _ = writeln!(
        out,
        "scanned {} files ({} bytes): {counts}. {verdict}",
        totals.files, totals.bytes
    );
    out
}

/// The `--format json` document, version 1:
/// `{"version": 1, "files": [...], "findings": [...]}`, pretty-printed with
/// a final newline, byte for byte what serialising [`v1::ScanOutput`] at
/// once gives. A scan of thousands of files has thousands of entries in
/// each list, so the two lists are built and serialised on two threads,
/// straight from the views (no intermediate JSON tree).
///
/// # Errors
/// Serialisation fails (it does not for these types).
pub fn json(source: &impl ScanSource) -> serde_json::Result<String> {
    fn nested<T: serde::Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
        let mut out = Vec::new();
        serde_json::to_writer_pretty(Nested(&mut out), value)?;
        Ok(out)
    }
    let (files, findings) = rayon::join(|| nested(&source.files()), || nested(&source.findings()));
    let (files, findings) = (files?, findings?);
    let mut out = Vec::with_capacity(files.len() + findings.len() + 64);
    out.extend_from_slice(b"{\n  \"version\": 1,\n  \"files\": ");
    out.extend_from_slice(&files);
    out.extend_from_slice(b",\n  \"findings\": ");
    out.extend_from_slice(&findings);
    out.extend_from_slice(b"\n}\n");
    String::from_utf8(out)
        .map_err(|e| serde_json::Error::io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))
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
    use portcullis_evidence::{Location, Sha256Digest};

    use super::*;

    struct Sample {
        files: Vec<(String, u64, Option<Sha256Digest>)>,
        findings: Vec<Finding>,
    }

    impl ScanSource for Sample {
        fn files(&self) -> Vec<v1::ScannedFile<'_>> {
            self.files
                .iter()
                .map(|(path, size, sha256)| v1::ScannedFile {
                    path,
                    relative_path: path.rsplit('/').next().unwrap_or(path),
                    size: *size,
                    formats: vec!["pickle", "zip"],
                    sha256: sha256.as_ref(),
                })
                .collect()
        }
        fn findings(&self) -> Vec<v1::ScanFinding<'_>> {
            self.findings
                .iter()
                .enumerate()
                .map(|(i, f)| v1::ScanFinding::new(f, format!("fp{i}")))
                .collect()
        }
    }

    fn sample(n: usize) -> Sample {
        Sample {
            files: (0..n)
                .map(|i| {
                    let sha = (i % 2 == 0).then_some(Sha256Digest([i as u8; 32]));
                    (format!("dir/m{i}.pt"), i as u64 * 10, sha)
                })
                .collect(),
            findings: (0..n)
                .map(|i| {
                    Finding::new(
                        "pickle-code-exec",
                        Severity::Critical,
                        format!("calls \"os.system\" {i}"),
                    )
                    .at(Location::file(format!("dir/m{i}.pt"))
                        .member("archive/data.pkl")
                        .offset(2))
                    .related(Location::file("other").label("x"))
                    .fragment("os.system")
                    .fix("do not load it")
                })
                .collect(),
        }
    }

    /// The two-thread JSON writer gives byte for byte what serialising the
    /// whole document at once gives.
    #[test]
    fn json_output_matches_whole_document_serialisation() {
        for n in [0, 1, 7] {
            let s = sample(n);
            let doc = v1::ScanOutput {
                version: 1,
                files: s.files(),
                findings: s.findings(),
            };
            let want = format!("{}\n", serde_json::to_string_pretty(&doc).unwrap());
            assert_eq!(json(&s).unwrap(), want);
        }
        assert_eq!(
            json(&sample(0)).unwrap(),
            "{\n  \"version\": 1,\n  \"files\": [],\n  \"findings\": []\n}\n"
        );
    }

    #[test]
    fn human_summary_counts_severities_and_states_the_verdict() {
        let s = sample(2);
        let text = human(
            &s.findings,
            ScanTotals { files: 2, bytes: 10 },
            Severity::High,
            Style::new(false),
        );
        assert!(
            text.ends_with("scanned 2 files (10 bytes): 2 critical. FAIL: 2 at or above high\n"),
            "{text}"
        );
        let none = human(
            &[],
            ScanTotals { files: 1, bytes: 0 },
            Severity::High,
            Style::new(false),
        );
        assert_eq!(
            none,
            "scanned 1 files (0 bytes): no findings. PASS: nothing at or above high\n"
        );
    }
}
