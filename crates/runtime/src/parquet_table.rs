//! Parquet tables. Parquet pulls in a sizeable dependency, so it sits behind
//! the default-on `parquet` feature; the record API is used (no arrow).

use std::path::Path;

use crate::dataset::{DataError, Table};

/// Loads a Parquet file as a [`Table`].
///
/// # Errors
/// [`DataError::Unsupported`] without the feature; otherwise
/// [`DataError::Parse`] naming the file for unreadable files, nested or
/// binary columns, or too many rows.
#[cfg(not(feature = "parquet"))]
pub(crate) fn load(path: &Path) -> Result<Table, DataError> {
    Err(DataError::Unsupported(format!(
        "{}: this build cannot read Parquet (build with the `parquet` feature, or convert to CSV)",
        path.display()
    )))
}

/// Loads a Parquet file as a [`Table`].
///
/// # Errors
/// [`DataError::Parse`] naming the file for unreadable files, nested or
/// binary columns, or too many rows.
#[cfg(feature = "parquet")]
pub(crate) fn load(path: &Path) -> Result<Table, DataError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    use crate::dataset::{Column, ColumnValues, MAX_COLUMNS, MAX_ROWS, MAX_TABLE_BYTES};

    let source = path.display().to_string();
    let perr = |message: String| DataError::Parse {
        path: source.clone(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    if meta.len() > MAX_TABLE_BYTES {
        return Err(perr(format!(
            "{} bytes is over the {MAX_TABLE_BYTES}-byte limit",
            meta.len()
        )));
    }
    let file = std::fs::File::open(path).map_err(|e| DataError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let reader =
        SerializedFileReader::new(file).map_err(|e| perr(format!("not a readable Parquet file: {e}")))?;
    let names: Vec<String> = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    if names.is_empty() || names.len() > MAX_COLUMNS {
        return Err(perr(format!("{} top-level columns", names.len())));
    }
    let mut nums: Vec<Vec<Option<f64>>> = vec![Vec::new(); names.len()];
    let mut texts: Vec<Vec<Option<String>>> = vec![Vec::new(); names.len()];
    let mut is_text = vec![false; names.len()];
    let rows = reader
        .get_row_iter(None)
        .map_err(|e| perr(format!("cannot read rows: {e}")))?;
    let mut count = 0usize;
    for row in rows {
        let row = row.map_err(|e| perr(format!("row {}: {e}", count + 1)))?;
        count += 1;
        if count > MAX_ROWS {
            return Err(perr(format!("more than {MAX_ROWS} rows")));
        }
        for (j, (name, field)) in row.get_column_iter().enumerate() {
            let (n, t): (Option<f64>, Option<String>) = match field {
                Field::Null => (None, None),
                Field::Bool(b) => (Some(f64::from(u8::from(*b))), Some(b.to_string())),
                Field::Byte(v) => (Some(f64::from(*v)), Some(v.to_string())),
                Field::Short(v) => (Some(f64::from(*v)), Some(v.to_string())),
                Field::Int(v) => (Some(f64::from(*v)), Some(v.to_string())),
                Field::Long(v) => (Some(*v as f64), Some(v.to_string())),
                Field::UByte(v) => (Some(f64::from(*v)), Some(v.to_string())),
                Field::UShort(v) => (Some(f64::from(*v)), Some(v.to_string())),
                Field::UInt(v) => (Some(f64::from(*v)), Some(v.to_string())),
                Field::ULong(v) => (Some(*v as f64), Some(v.to_string())),
                Field::Float(v) => (Some(f64::from(*v)), Some(v.to_string())),
                Field::Double(v) => (Some(*v), Some(v.to_string())),
                Field::Str(s) => {
                    if let Some(flag) = is_text.get_mut(j) {
                        *flag = true;
                    }
                    (None, Some(s.clone()))
                }
                other => {
                    return Err(perr(format!(
                        "column '{name}', row {count}: {other:?} values are not supported (numbers, booleans and strings are)"
                    )))
                }
            };
            if let (Some(nc), Some(tc)) = (nums.get_mut(j), texts.get_mut(j)) {
                nc.push(n);
                tc.push(t);
            }
        }
    }
    let columns = names
        .into_iter()
        .enumerate()
        .map(|(j, name)| {
            let values = if is_text.get(j).copied().unwrap_or(false) {
                ColumnValues::Text(
                    texts
                        .get(j)
                        .map(|c| c.iter().map(|t| t.clone().unwrap_or_default()).collect())
                        .unwrap_or_default(),
                )
            } else {
                ColumnValues::Numeric(
                    nums.get(j)
                        .map(|c| c.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
                        .unwrap_or_default(),
                )
            };
            Column { name, values }
        })
        .collect();
    Ok(Table {
        source,
        columns,
        rows: count,
    })
}
