//! Scans paths and prints the report as JSON: the library without the CLI.
//!
//! `cargo run --release -p portcullis-scan --example scan -- [--strict] [--digests]
//! [--allowlist FILE] [--fail-on low|medium|high|critical] PATH...`
//!
//! Exit codes: 0 nothing at or above the bar, 1 findings at or above it,
//! 2 usage or input error (including "nothing scanned").

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use portcullis_evidence::Severity;
use portcullis_scan::{scan_paths, Allowlist, FingerprintedFinding, ScanOptions, ScannedFile};
use serde::Serialize;

#[derive(Serialize)]
struct Doc<'a> {
    files: &'a [ScannedFile],
    findings: Vec<FingerprintedFinding<'a>>,
}

fn main() -> ExitCode {
    let mut opts = ScanOptions::default();
    let mut bar = Severity::High;
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--strict" => opts.strict = true,
            "--digests" => opts.digests = true,
            "--allowlist" => {
                let Some(p) = args.next() else {
                    eprintln!("error: --allowlist needs a file");
                    return ExitCode::from(2);
                };
                match Allowlist::from_file(&PathBuf::from(p)) {
                    Ok(l) => opts.allowlist = Some(l),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            "--fail-on" => match args.next().map(|s| s.parse::<Severity>()) {
                Some(Ok(s)) => bar = s,
                _ => {
                    eprintln!("error: --fail-on needs low, medium, high or critical");
                    return ExitCode::from(2);
                }
            },
            _ => paths.push(PathBuf::from(a)),
        }
    }
    let report = match scan_paths(&paths, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // Serialised straight to stdout: no intermediate JSON value.
    let findings = report.fingerprinted();
    let doc = Doc {
        files: &report.files,
        findings,
    };
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    if serde_json::to_writer_pretty(&mut stdout, &doc).is_err()
        || writeln!(stdout).is_err()
        || stdout.flush().is_err()
    {
        eprintln!("error: cannot write the report");
        return ExitCode::from(2);
    }
    if report.at_or_above(bar).next().is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
