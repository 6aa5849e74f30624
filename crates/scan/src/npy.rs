//! NumPy `.npy` files (and the members of `.npz` zips).
//!
//! Numeric arrays are inert bytes. An array whose dtype holds Python objects
//! (`'O'`, alone or inside a structured dtype) is stored as a pickle right
//! after the header, which `numpy.load(allow_pickle=True)` unpickles; that
//! pickle is walked like any other.

use portcullis_evidence::Severity;

use crate::pickle_scan;
use crate::scanner::FileScan;

/// Scans an `.npy` blob.
pub(crate) fn scan(fs: &mut FileScan<'_>, member: &str, data: &[u8], depth: u32) {
    let major = data.get(6).copied().unwrap_or(0);
    let (len, start) = match major {
        1 => (
            data.get(8..10)
                .map(|b| usize::from(u16::from_le_bytes([b[0], b[1]]))),
            10,
        ),
        2 | 3 => (
            data.get(8..12)
                .and_then(|b| usize::try_from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok()),
            12,
        ),
        _ => (None, 0),
    };
    let Some(len) = len else {
        fs.report(
            "npy-malformed",
            Severity::High,
            member,
            Some(6),
            None,
            format!("unsupported .npy version {major} or truncated header"),
        );
        return;
    };
    if len as u64 > fs.opts.limits.max_header_bytes {
        fs.report(
            "npy-malformed",
            Severity::High,
            member,
            Some(8),
            None,
            format!("header of {len} bytes is over the limit"),
        );
        return;
    }
    let Some(header) = data.get(start..start + len) else {
        fs.report(
            "npy-malformed",
            Severity::High,
            member,
            Some(start as u64),
            None,
            format!("header claims {len} bytes past the end of the file"),
        );
        return;
    };
    let text = String::from_utf8_lossy(header);
    let Some(descr_at) = text.find("'descr'") else {
        fs.report(
            "npy-malformed",
            Severity::High,
            member,
            Some(start as u64),
            None,
            "header has no 'descr' key",
        );
        return;
    };
    let descr = text.get(descr_at..).unwrap_or("");
    let descr = descr.split("'fortran_order'").next().unwrap_or(descr);
    let descr = descr.split("'shape'").next().unwrap_or(descr);
    let object = ["'|O'", "'O'", "'|O8'", "'O8'", "'<O'", "'>O'"]
        .iter()
        .any(|p| descr.contains(p));
    if object {
        fs.report(
            "npy-object-dtype",
            Severity::Medium,
            member,
            Some(start as u64),
            Some(descr.trim()),
            "array has object dtype: its data is a pickle, loaded only with allow_pickle=True",
        );
        pickle_scan::scan(fs, member, data, start + len, depth);
    }
}
