//! NPY tensors (NumPy's `.npy` format, version 1.0–3.0) for image and
//! other tensor datasets: the first axis is rows, the rest is flattened
//! into features.
//!
//! Format: <https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html>.
//! Only little-endian numeric, C-ordered arrays are read; object arrays
//! (which need pickle) are refused, never executed.

use crate::classifier::Matrix;
use crate::dataset::DataError;

/// The longest header accepted, in bytes.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// A tensor read from an NPY file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The full shape.
    pub shape: Vec<usize>,
    /// Values as `f32`, row-major; `rows × product(shape[1..])`.
    pub matrix: Matrix,
}

fn perr(source: &str, message: impl Into<String>) -> DataError {
    DataError::Parse {
        path: source.to_string(),
        message: message.into(),
    }
}

fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header.get(start..)?.trim_start().strip_prefix(':')?.trim_start();
    Some(rest)
}

/// Parses NPY bytes; `source` names the file in errors.
///
/// # Errors
/// [`DataError::Parse`] for a bad magic, header, dtype, byte order, Fortran
/// order, or a data length that does not match the shape.
pub fn parse_npy(bytes: &[u8], source: &str) -> Result<NpyArray, DataError> {
    let rest = bytes
        .strip_prefix(b"\x93NUMPY")
        .ok_or_else(|| perr(source, "not an NPY file (bad magic)"))?;
    let (major, rest) = rest
        .split_first()
        .ok_or_else(|| perr(source, "truncated header"))?;
    let (_minor, rest) = rest
        .split_first()
        .ok_or_else(|| perr(source, "truncated header"))?;
    let (len, rest) = match major {
        1 => {
            let b = rest.get(..2).ok_or_else(|| perr(source, "truncated header"))?;
            (
                usize::from(u16::from_le_bytes([b[0], b[1]])),
                rest.get(2..).unwrap_or_default(),
            )
        }
        2 | 3 => {
            let b = rest.get(..4).ok_or_else(|| perr(source, "truncated header"))?;
            let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            (
                usize::try_from(n).unwrap_or(usize::MAX),
                rest.get(4..).unwrap_or_default(),
            )
        }
        v => return Err(perr(source, format!("unsupported NPY version {v}"))),
    };
    if len > MAX_HEADER_BYTES {
        return Err(perr(
            source,
            format!("header of {len} bytes is over {MAX_HEADER_BYTES}"),
        ));
    }
    let header = rest.get(..len).ok_or_else(|| perr(source, "truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| perr(source, "header is not text"))?;
    let data = rest.get(len..).unwrap_or_default();
    let descr = header_value(header, "descr")
        .and_then(|v| v.strip_prefix('\''))
        .and_then(|v| v.split('\'').next())
        .ok_or_else(|| perr(source, "header has no descr"))?;
    if header_value(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err(perr(
            source,
            "Fortran-ordered arrays are not supported; save with np.ascontiguousarray",
        ));
    }
    let shape_text = header_value(header, "shape")
        .and_then(|v| v.strip_prefix('('))
        .and_then(|v| v.split(')').next())
        .ok_or_else(|| perr(source, "header has no shape"))?;
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| perr(source, format!("bad dimension '{s}'")))
        })
        .collect::<Result<_, _>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or_else(|| perr(source, "shape overflows"))?;
    let (size, read): (usize, fn(&[u8]) -> f32) = match descr {
        "<f4" => (4, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        "<f8" => (8, |b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32),
        "<i8" => (8, |b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32),
        "<i4" => (4, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32),
        "|u1" => (1, |b| f32::from(b[0])),
        "|i1" => (1, |b| f32::from(i8::from_le_bytes([b[0]]))),
        "|b1" => (1, |b| f32::from(u8::from(b[0] != 0))),
        other => {
            return Err(perr(
                source,
                format!("dtype '{other}' is not supported (little-endian float, int, uint8 or bool; object arrays are refused)"),
            ))
        }
    };
    let need = count
        .checked_mul(size)
        .ok_or_else(|| perr(source, "shape overflows"))?;
    if data.len() != need {
        return Err(perr(
            source,
            format!(
                "shape {shape:?} of {descr} needs {need} data bytes, found {}",
                data.len()
            ),
        ));
    }
    let values: Vec<f32> = data.chunks_exact(size).map(read).collect();
    let rows = shape.first().copied().unwrap_or(1);
    let cols = count.checked_div(rows).unwrap_or(0);
    let matrix = Matrix::new(values, rows, cols).map_err(|e| perr(source, e.to_string()))?;
    Ok(NpyArray { shape, matrix })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({shape}), }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&u16::try_from(header.len()).unwrap().to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn reads_float_and_uint8_tensors_row_major() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let a = parse_npy(&npy("<f4", "2, 1, 3", &data), "x.npy").unwrap();
        assert_eq!(a.shape, vec![2, 1, 3]);
        assert_eq!((a.matrix.rows, a.matrix.cols), (2, 3));
        assert_eq!(a.matrix.row(1), &[4.0, 5.0, 6.0]);
        let b = parse_npy(&npy("|u1", "3,", &[0, 128, 255]), "y.npy").unwrap();
        assert_eq!(b.matrix.data, vec![0.0, 128.0, 255.0]);
    }

    #[test]
    fn rejects_objects_big_endian_and_short_data() {
        assert!(parse_npy(&npy("|O", "1,", &[0; 8]), "o.npy")
            .unwrap_err()
            .to_string()
            .contains("refused"));
        assert!(parse_npy(&npy(">f4", "1,", &[0; 4]), "b.npy").is_err());
        let err = parse_npy(&npy("<f4", "2,", &[0; 4]), "s.npy")
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs 8 data bytes, found 4"), "{err}");
        assert!(parse_npy(b"PK\x03\x04", "z.npy").is_err());
    }
}
