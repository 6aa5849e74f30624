//! NPZ archives (`numpy.savez` / `savez_compressed`): a zip of `.npy`
//! arrays, loaded as a table whose columns are the arrays.
//!
//! Convention: a 1-D array `y` becomes the column `y`; an array `x` with
//! more axes becomes the columns `x[0]`, `x[1]`, … (the first axis is rows,
//! the rest flattened). Column roles then work as for CSV: `label: y`
//! picks `y.npy`, `sensitive: [sex]` picks `sex.npy`, and every other
//! column is a feature. All arrays must have the same number of rows.
//!
//! The zip reader follows the central directory (APPNOTE.TXT 4.3.12,
//! with the zip64 extra field of 4.5.3, which numpy writes), accepts only
//! stored and deflated members, and is bounded: member count, declared and
//! actual uncompressed sizes (a member inflating past its declared size is
//! refused, so a zip bomb stops at the limit), and the total.

use std::io::Read;

use crate::dataset::{Column, ColumnValues, DataError, Table, MAX_COLUMNS};
use crate::npy::parse_npy;

/// The most members an NPZ may hold.
pub const MAX_MEMBERS: usize = 1024;
/// The largest total uncompressed size, in bytes.
pub const MAX_UNCOMPRESSED_BYTES: u64 = 4 * 1024 * 1024 * 1024;

fn perr(source: &str, message: impl Into<String>) -> DataError {
    DataError::Parse {
        path: source.to_string(),
        message: message.into(),
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at + 8).map(|s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}

/// One member of the archive, as the central directory describes it.
struct Member {
    name: String,
    method: u16,
    compressed: u64,
    uncompressed: u64,
    offset: u64,
}

/// Reads the central directory.
fn members(bytes: &[u8], source: &str) -> Result<Vec<Member>, DataError> {
    // The end-of-central-directory record is in the last 64 KiB + 22 bytes.
    let from = bytes.len().saturating_sub(65_557);
    let eocd = (from..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(bytes, i) == Some(0x0605_4b50))
        .ok_or_else(|| perr(source, "not an NPZ (zip) archive: no end of central directory"))?;
    let mut count = u64::from(u16_at(bytes, eocd + 10).unwrap_or(0));
    let mut cd_offset = u64::from(u32_at(bytes, eocd + 16).unwrap_or(0));
    // A zip64 locator sits just before the EOCD when counts or offsets overflow.
    if eocd >= 20 && u32_at(bytes, eocd - 20) == Some(0x0706_4b50) {
        let at = u64_at(bytes, eocd - 12)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| perr(source, "bad zip64 locator"))?;
        if u32_at(bytes, at) != Some(0x0606_4b50) {
            return Err(perr(source, "bad zip64 end of central directory"));
        }
        count = u64_at(bytes, at + 32).ok_or_else(|| perr(source, "truncated zip64 record"))?;
        cd_offset = u64_at(bytes, at + 48).ok_or_else(|| perr(source, "truncated zip64 record"))?;
    }
    if count > MAX_MEMBERS as u64 {
        return Err(perr(
            source,
            format!("{count} members is over the limit of {MAX_MEMBERS}"),
        ));
    }
    let mut at = usize::try_from(cd_offset).map_err(|_| perr(source, "bad central directory offset"))?;
    let mut out = Vec::new();
    for i in 0..count {
        let trunc = || perr(source, format!("central directory entry {i} is truncated"));
        if u32_at(bytes, at) != Some(0x0201_4b50) {
            return Err(perr(
                source,
                format!("central directory entry {i} has a bad signature"),
            ));
        }
        let method = u16_at(bytes, at + 10).ok_or_else(trunc)?;
        let mut compressed = u64::from(u32_at(bytes, at + 20).ok_or_else(trunc)?);
        let mut uncompressed = u64::from(u32_at(bytes, at + 24).ok_or_else(trunc)?);
        let name_len = usize::from(u16_at(bytes, at + 28).ok_or_else(trunc)?);
        let extra_len = usize::from(u16_at(bytes, at + 30).ok_or_else(trunc)?);
        let comment_len = usize::from(u16_at(bytes, at + 32).ok_or_else(trunc)?);
        let mut offset = u64::from(u32_at(bytes, at + 42).ok_or_else(trunc)?);
        let name = bytes.get(at + 46..at + 46 + name_len).ok_or_else(trunc)?;
        let name = String::from_utf8_lossy(name).into_owned();
        let extra = bytes
            .get(at + 46 + name_len..at + 46 + name_len + extra_len)
            .ok_or_else(trunc)?;
        // zip64 extended information: present only for saturated fields, in this order.
        let mut e = 0;
        while e + 4 <= extra.len() {
            let id = u16_at(extra, e).unwrap_or(0);
            let len = usize::from(u16_at(extra, e + 2).unwrap_or(0));
            if id == 1 {
                let mut f = e + 4;
                for field in [&mut uncompressed, &mut compressed, &mut offset] {
                    if *field == 0xFFFF_FFFF {
                        *field = u64_at(extra, f).ok_or_else(trunc)?;
                        f += 8;
                    }
                }
            }
            e += 4 + len;
        }
        out.push(Member {
            name,
            method,
            compressed,
            uncompressed,
            offset,
        });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(out)
}

/// Inflates one member, refusing more than its declared size.
fn extract(bytes: &[u8], m: &Member, source: &str) -> Result<Vec<u8>, DataError> {
    let here = format!("{source}: member '{}'", m.name);
    let trunc = || perr(&here, "truncated local header or data");
    let at = usize::try_from(m.offset).map_err(|_| trunc())?;
    if u32_at(bytes, at) != Some(0x0403_4b50) {
        return Err(perr(&here, "bad local header signature"));
    }
    let n = usize::from(u16_at(bytes, at + 26).ok_or_else(trunc)?);
    let x = usize::from(u16_at(bytes, at + 28).ok_or_else(trunc)?);
    let start = at + 30 + n + x;
    let len = usize::try_from(m.compressed).map_err(|_| trunc())?;
    let data = bytes.get(start..start.saturating_add(len)).ok_or_else(trunc)?;
    let limit = m.uncompressed;
    let out = match m.method {
        0 => data.to_vec(),
        8 => {
            let mut out = Vec::with_capacity(usize::try_from(limit.min(1 << 30)).unwrap_or(0));
            flate2::read::DeflateDecoder::new(data)
                .take(limit + 1)
                .read_to_end(&mut out)
                .map_err(|e| perr(&here, format!("cannot inflate: {e}")))?;
            out
        }
        other => {
            return Err(perr(
                &here,
                format!("compression method {other} is not supported (stored or deflate)"),
            ))
        }
    };
    if out.len() as u64 != limit {
        return Err(perr(
            &here,
            format!("holds {} bytes, but the directory declares {limit}", out.len()),
        ));
    }
    Ok(out)
}

/// Reads NPZ bytes as a table (see the module docs for the column names).
///
/// # Errors
/// [`DataError::Parse`] naming the file (and member) for a malformed or
/// oversized archive, a member that is not `.npy`, a duplicate or
/// unreadable array, or arrays with different row counts.
pub fn parse_npz(bytes: &[u8], source: &str) -> Result<Table, DataError> {
    let members = members(bytes, source)?;
    if members.is_empty() {
        return Err(perr(source, "the archive holds no arrays"));
    }
    let total = members
        .iter()
        .try_fold(0u64, |a, m| a.checked_add(m.uncompressed))
        .unwrap_or(u64::MAX);
    if total > MAX_UNCOMPRESSED_BYTES {
        return Err(perr(
            source,
            format!("{total} uncompressed bytes is over the {MAX_UNCOMPRESSED_BYTES}-byte limit"),
        ));
    }
    let mut columns: Vec<Column> = Vec::new();
    let mut rows: Option<(usize, String)> = None;
    for m in &members {
        let Some(stem) = m.name.strip_suffix(".npy") else {
            return Err(perr(source, format!("member '{}' is not an .npy array", m.name)));
        };
        if columns
            .iter()
            .any(|c| c.name == stem || c.name.starts_with(&format!("{stem}[")))
        {
            return Err(perr(source, format!("array '{stem}' appears twice")));
        }
        let raw = extract(bytes, m, source)?;
        let array = parse_npy(&raw, &format!("{source}: {}", m.name))?;
        let n = array.matrix.rows;
        match &rows {
            Some((r, first)) if *r != n => {
                return Err(perr(
                    source,
                    format!("array '{stem}' has {n} rows but '{first}' has {r}"),
                ))
            }
            None => rows = Some((n, stem.to_string())),
            _ => {}
        }
        let cols = array.matrix.cols;
        if columns.len() + cols > MAX_COLUMNS {
            return Err(perr(source, format!("more than {MAX_COLUMNS} columns")));
        }
        if array.shape.len() <= 1 {
            columns.push(Column {
                name: stem.to_string(),
                values: ColumnValues::Numeric(array.matrix.data.iter().map(|&v| f64::from(v)).collect()),
            });
        } else {
            for j in 0..cols {
                columns.push(Column {
                    name: format!("{stem}[{j}]"),
                    values: ColumnValues::Numeric(
                        (0..n)
                            .map(|i| f64::from(array.matrix.row(i).get(j).copied().unwrap_or(f32::NAN)))
                            .collect(),
                    ),
                });
            }
        }
    }
    Ok(Table {
        source: source.to_string(),
        columns,
        rows: rows.map_or(0, |(r, _)| r),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored-only zip with the given members (enough for error paths;
    /// the numpy-written fixtures cover deflate and zip64 extras).
    fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut cd = Vec::new();
        for (name, data) in members {
            let offset = out.len() as u32;
            let len = data.len() as u32;
            out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            cd.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            cd.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            cd.extend_from_slice(&len.to_le_bytes());
            cd.extend_from_slice(&len.to_le_bytes());
            cd.extend_from_slice(&(name.len() as u16).to_le_bytes());
            cd.extend_from_slice(&[0; 12]);
            cd.extend_from_slice(&offset.to_le_bytes());
            cd.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        let n = members.len() as u16;
        out.extend_from_slice(&cd);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0]);
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(cd.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({shape}), }}\n");
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn stored_members_become_columns() {
        let x = npy("|u1", "2, 2", &[1, 2, 3, 4]);
        let y = npy("|u1", "2,", &[0, 1]);
        let t = parse_npz(&zip(&[("x.npy", &x), ("y.npy", &y)]), "d.npz").unwrap();
        let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["x[0]", "x[1]", "y"]);
        assert_eq!(t.rows, 2);
    }

    #[test]
    fn rejects_mismatched_rows_duplicates_and_non_arrays() {
        let x = npy("|u1", "3,", &[1, 2, 3]);
        let y = npy("|u1", "2,", &[0, 1]);
        let err = parse_npz(&zip(&[("x.npy", &x), ("y.npy", &y)]), "d.npz")
            .unwrap_err()
            .to_string();
        assert!(err.contains("'y' has 2 rows but 'x' has 3"), "{err}");
        let err = parse_npz(&zip(&[("x.npy", &x), ("x.npy", &x)]), "d.npz")
            .unwrap_err()
            .to_string();
        assert!(err.contains("appears twice"), "{err}");
        let err = parse_npz(&zip(&[("x.pkl", &x)]), "d.npz")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not an .npy"), "{err}");
        assert!(parse_npz(b"not a zip", "d.npz").is_err());
        // A member whose data runs past the end of the file.
        let mut cut = zip(&[("x.npy", &x)]);
        cut.drain(40..50);
        assert!(parse_npz(&cut, "d.npz").is_err());
    }
}
