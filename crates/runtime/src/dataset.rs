//! Labelled tabular datasets: load a table, give its columns roles, and turn
//! it into the feature matrix a [`Classifier`](crate::Classifier) takes.
//!
//! A table is a list of named columns, each numeric or text. Roles are
//! declared by name (`label`, `sensitive`, `slices`, `weight`); every other
//! column is a feature, unless `features` lists them explicitly (a model may
//! legitimately take a sensitive attribute as input). Features are matched
//! to the model's inputs by name when the model names them, else by order,
//! and any mismatch is an error that lists both sides. Text columns stay
//! available for grouping and slicing; as a feature they are an error, since
//! silently encoding them would change what the model sees.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::classifier::{ClassLabel, InputSignature, Matrix};

/// The largest table file read, in bytes.
pub const MAX_TABLE_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// The most rows read from one table.
pub const MAX_ROWS: usize = 50_000_000;
/// The most columns in one table.
pub const MAX_COLUMNS: usize = 100_000;
/// The longest single cell, in bytes.
pub const MAX_CELL_BYTES: usize = 1024 * 1024;

/// Why a dataset could not be loaded or prepared.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is malformed at a position.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong and where (line, column).
        message: String,
    },
    /// The columns do not fit the roles or the model.
    #[error("{path}: {message}")]
    Columns {
        /// The file.
        path: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// A format this build cannot read.
    #[error("{0}")]
    Unsupported(String),
}

/// A column's values.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    /// Numbers; a missing or unparsable cell is NaN only when the whole
    /// column is otherwise numeric and the cell was empty.
    Numeric(Vec<f64>),
    /// Text, kept as written.
    Text(Vec<String>),
}

impl ColumnValues {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            ColumnValues::Numeric(v) => v.len(),
            ColumnValues::Text(v) => v.len(),
        }
    }

    /// True when the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `i` as text (numbers formatted shortest, `1.0` as `1`).
    pub fn text(&self, i: usize) -> Option<String> {
        match self {
            ColumnValues::Numeric(v) => v.get(i).map(|x| format_number(*x)),
            ColumnValues::Text(v) => v.get(i).cloned(),
        }
    }
}

/// Formats a number the way a person writes a category: integers without a
/// fractional part.
pub fn format_number(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// A named column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The header name.
    pub name: String,
    /// The values.
    pub values: ColumnValues,
}

/// A loaded table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Where it came from (for messages).
    pub source: String,
    /// The columns, in file order.
    pub columns: Vec<Column>,
    /// Number of rows.
    pub rows: usize,
}

/// Which columns play which role.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Roles {
    /// The label column.
    pub label: Option<String>,
    /// Sensitive attributes (fairness groups).
    pub sensitive: Vec<String>,
    /// Columns to slice metrics by.
    pub slices: Vec<String>,
    /// A per-row weight column.
    pub weight: Option<String>,
    /// Feature columns, in model order; `None` means every column without
    /// another role.
    pub features: Option<Vec<String>>,
}

/// A table prepared for one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// Feature rows in the model's input order.
    pub x: Matrix,
    /// The feature column names, in that order.
    pub feature_names: Vec<String>,
    /// The label of each row as written, when a label column was declared.
    pub labels: Option<Vec<String>>,
    /// Each sensitive or slice column's values as text, by column name.
    pub groups: BTreeMap<String, Vec<String>>,
    /// Per-row weights, when declared.
    pub weights: Option<Vec<f64>>,
}

impl Table {
    /// Loads a table, choosing the reader by extension (`.csv`, `.tsv`,
    /// `.parquet`, `.npz`).
    ///
    /// # Errors
    /// [`DataError`] naming the file and, for malformed content, the line.
    pub fn load(path: &Path) -> Result<Table, DataError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        match ext.as_str() {
            "csv" => Table::from_csv_path(path, b','),
            "tsv" => Table::from_csv_path(path, b'\t'),
            "parquet" | "pq" => crate::parquet_table::load(path),
            "npz" => {
                check_table_size(path)?;
                let bytes = std::fs::read(path).map_err(|source| DataError::Io {
                    path: path.to_path_buf(),
                    source,
                })?;
                crate::npz::parse_npz(&bytes, &path.display().to_string())
            }
            "npy" => Err(DataError::Unsupported(format!(
                "{}: a .npy file holds one array and no labels; save features and labels together \
                 with numpy.savez and pass the .npz",
                path.display()
            ))),
            other => Err(DataError::Unsupported(format!(
                "{}: unknown table format '.{other}' (use .csv, .tsv, .parquet or .npz)",
                path.display()
            ))),
        }
    }

    /// Loads a delimited text file with a header row.
    ///
    /// # Errors
    /// As [`Table::load`].
    pub fn from_csv_path(path: &Path, delimiter: u8) -> Result<Table, DataError> {
        check_table_size(path)?;
        let file = std::fs::File::open(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Table::from_csv_reader(
            std::io::BufReader::new(file),
            &path.display().to_string(),
            delimiter,
        )
    }

    /// Reads a delimited table with a header row from any reader.
    ///
    /// # Errors
    /// [`DataError::Parse`] naming `source` and the line.
    pub fn from_csv_reader<R: std::io::Read>(
        reader: R,
        source: &str,
        delimiter: u8,
    ) -> Result<Table, DataError> {
        let perr = |message: String| DataError::Parse {
            path: source.to_string(),
            message,
        };
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(true)
            .flexible(false)
            .from_reader(reader);
        let headers: Vec<String> = rdr
            .headers()
            .map_err(|e| perr(format!("cannot read the header: {e}")))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect();
        if headers.is_empty() || headers.iter().all(String::is_empty) {
            return Err(perr("the file has no header row".into()));
        }
        if headers.len() > MAX_COLUMNS {
            return Err(perr(format!(
                "{} columns is over the limit of {MAX_COLUMNS}",
                headers.len()
            )));
        }
        let mut seen = BTreeSet::new();
        for (i, h) in headers.iter().enumerate() {
            if h.is_empty() {
                return Err(perr(format!("column {} has an empty name in the header", i + 1)));
            }
            if !seen.insert(h.as_str()) {
                return Err(perr(format!("column name '{h}' appears twice in the header")));
            }
        }
        let mut cells: Vec<Vec<String>> = vec![Vec::new(); headers.len()];
        let mut record = csv::StringRecord::new();
        let mut rows = 0usize;
        loop {
            match rdr.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let line = e.position().map(|p| p.line()).unwrap_or(0);
                    return Err(perr(format!("line {line}: {e}")));
                }
            }
            rows += 1;
            if rows > MAX_ROWS {
                return Err(perr(format!("more than {MAX_ROWS} rows")));
            }
            for (col, cell) in cells.iter_mut().zip(record.iter()) {
                if cell.len() > MAX_CELL_BYTES {
                    let line = record.position().map(|p| p.line()).unwrap_or(0);
                    return Err(perr(format!(
                        "line {line}: a cell is over {MAX_CELL_BYTES} bytes"
                    )));
                }
                col.push(cell.to_string());
            }
        }
        let columns = headers
            .into_iter()
            .zip(cells)
            .map(|(name, values)| Column {
                name,
                values: infer_column(values),
            })
            .collect();
        Ok(Table {
            source: source.to_string(),
            columns,
            rows,
        })
    }

    /// A column by name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    fn cols_err(&self, message: String) -> DataError {
        DataError::Columns {
            path: self.source.clone(),
            message,
        }
    }

    fn require(&self, name: &str, role: &str) -> Result<&Column, DataError> {
        self.column(name).ok_or_else(|| {
            self.cols_err(format!(
                "the {role} column '{name}' is not in the data (columns: {})",
                self.columns
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    /// Feature columns under `roles`, in file order (or as listed).
    ///
    /// # Errors
    /// [`DataError::Columns`] when a listed column is missing.
    pub fn feature_columns(&self, roles: &Roles) -> Result<Vec<String>, DataError> {
        if let Some(list) = &roles.features {
            for f in list {
                self.require(f, "feature")?;
            }
            return Ok(list.clone());
        }
        let mut taken: BTreeSet<&str> = BTreeSet::new();
        taken.extend(roles.label.as_deref());
        taken.extend(roles.weight.as_deref());
        taken.extend(roles.sensitive.iter().map(String::as_str));
        taken.extend(roles.slices.iter().map(String::as_str));
        Ok(self
            .columns
            .iter()
            .filter(|c| !taken.contains(c.name.as_str()))
            .map(|c| c.name.clone())
            .collect())
    }

    /// Prepares the table for a model with `signature`.
    ///
    /// # Errors
    /// [`DataError::Columns`] for a missing role column, features that do
    /// not match the model's inputs (both sides listed), a text or
    /// non-finite feature value (row named), a missing label or weight, or
    /// an empty table.
    pub fn prepare(&self, roles: &Roles, signature: &InputSignature) -> Result<Prepared, DataError> {
        if self.rows == 0 {
            return Err(self.cols_err("the data has no rows".into()));
        }
        // Role columns first: a misspelt label would otherwise surface as a
        // confusing feature-count mismatch.
        if let Some(l) = &roles.label {
            self.require(l, "label")?;
        }
        if let Some(w) = &roles.weight {
            self.require(w, "weight")?;
        }
        for g in roles.sensitive.iter().chain(&roles.slices) {
            self.require(g, "group")?;
        }
        let mut features = self.feature_columns(roles)?;
        if !signature.names.is_empty() {
            // The model names its inputs: match by name, in the model's order.
            let have: BTreeSet<&str> = features.iter().map(String::as_str).collect();
            let missing: Vec<&str> = signature
                .names
                .iter()
                .map(String::as_str)
                .filter(|n| !have.contains(n))
                .collect();
            if !missing.is_empty() {
                return Err(self.cols_err(format!(
                    "the model takes inputs [{}] but the data's feature columns lack [{}] (feature columns: {})",
                    signature.names.join(", "),
                    missing.join(", "),
                    features.join(", ")
                )));
            }
            features = signature.names.clone();
        } else if features.len() != signature.n_features {
            return Err(self.cols_err(format!(
                "the model takes {} features per row but the data has {} feature columns ({}); columns that are not label, sensitive, slice or weight are features, or list them with `features`",
                signature.n_features,
                features.len(),
                features.join(", ")
            )));
        }
        let mut x = Matrix::zeros(self.rows, features.len());
        for (j, name) in features.iter().enumerate() {
            let col = self.require(name, "feature")?;
            let ColumnValues::Numeric(values) = &col.values else {
                let sample = col
                    .values
                    .text(first_non_numeric(&col.values))
                    .unwrap_or_default();
                return Err(self.cols_err(format!(
                    "feature column '{name}' holds text (e.g. '{sample}'); encode it numerically, or declare it a sensitive or slice column"
                )));
            };
            for (i, v) in values.iter().enumerate() {
                if !v.is_finite() {
                    return Err(self.cols_err(format!(
                        "feature column '{name}', data row {} (line {}): value is missing or not a finite number",
                        i + 1,
                        i + 2
                    )));
                }
                if let Some(cell) = x.data.get_mut(i * features.len() + j) {
                    *cell = *v as f32;
                }
            }
        }
        let labels = match &roles.label {
            Some(name) => {
                let col = self.require(name, "label")?;
                let mut out = Vec::with_capacity(self.rows);
                for i in 0..self.rows {
                    let t = col.values.text(i).unwrap_or_default();
                    if t.is_empty() || t == "NaN" {
                        return Err(self.cols_err(format!(
                            "label column '{name}', data row {} (line {}): label is missing",
                            i + 1,
                            i + 2
                        )));
                    }
                    out.push(t);
                }
                Some(out)
            }
            None => None,
        };
        let mut groups = BTreeMap::new();
        for name in roles.sensitive.iter().chain(&roles.slices) {
            let col = self.require(name, "group")?;
            groups.insert(
                name.clone(),
                (0..self.rows)
                    .map(|i| col.values.text(i).unwrap_or_default())
                    .collect(),
            );
        }
        let weights = match &roles.weight {
            Some(name) => {
                let col = self.require(name, "weight")?;
                let ColumnValues::Numeric(v) = &col.values else {
                    return Err(self.cols_err(format!("weight column '{name}' is not numeric")));
                };
                if let Some(i) = v.iter().position(|w| !w.is_finite() || *w < 0.0) {
                    return Err(self.cols_err(format!(
                        "weight column '{name}', data row {}: weights must be finite and non-negative",
                        i + 1
                    )));
                }
                Some(v.clone())
            }
            None => None,
        };
        Ok(Prepared {
            x,
            feature_names: features,
            labels,
            groups,
            weights,
        })
    }
}

fn first_non_numeric(values: &ColumnValues) -> usize {
    match values {
        ColumnValues::Text(v) => v
            .iter()
            .position(|s| !s.is_empty() && s.trim().parse::<f64>().is_err())
            .unwrap_or(0),
        ColumnValues::Numeric(_) => 0,
    }
}

/// A column is numeric when every non-empty cell parses as a number and at
/// least one does; empty cells become NaN (and are rejected as features).
fn infer_column(values: Vec<String>) -> ColumnValues {
    let mut parsed = Vec::with_capacity(values.len());
    let mut any = false;
    for v in &values {
        let t = v.trim();
        if t.is_empty() {
            parsed.push(f64::NAN);
            continue;
        }
        match t.parse::<f64>() {
            Ok(x) => {
                any = true;
                parsed.push(x);
            }
            Err(_) => return ColumnValues::Text(values),
        }
    }
    if any {
        ColumnValues::Numeric(parsed)
    } else {
        ColumnValues::Text(values)
    }
}

/// Maps written labels to indices into `classes`.
///
/// Integer classes accept integer text (`1`, `1.0`); string classes match
/// exactly.
///
/// # Errors
/// A message naming the first label outside the model's classes, its row,
/// and the classes.
pub fn encode_labels(labels: &[String], classes: &[ClassLabel]) -> Result<Vec<usize>, String> {
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for (i, c) in classes.iter().enumerate() {
        index.insert(c.to_string(), i);
    }
    labels
        .iter()
        .enumerate()
        .map(|(row, l)| {
            let key = match classes.first() {
                Some(ClassLabel::Int(_)) => match l.trim().parse::<f64>() {
                    Ok(x) if x.fract() == 0.0 => format_number(x),
                    _ => l.trim().to_string(),
                },
                _ => l.clone(),
            };
            index.get(&key).copied().ok_or_else(|| {
                format!(
                    "label '{l}' in data row {} is not one of the model's classes [{}]",
                    row + 1,
                    classes
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
        .collect()
}

/// Refuses a table file over [`MAX_TABLE_BYTES`] before anything reads it.
fn check_table_size(path: &Path) -> Result<(), DataError> {
    let meta = std::fs::metadata(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.len() > MAX_TABLE_BYTES {
        return Err(DataError::Parse {
            path: path.display().to_string(),
            message: format!("{} bytes is over the {MAX_TABLE_BYTES}-byte limit", meta.len()),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        Table::from_csv_reader(text.as_bytes(), "t.csv", b',').unwrap()
    }

    #[test]
    fn a_lone_npy_is_refused_with_the_npz_advice() {
        let err = Table::load(Path::new("features.npy")).unwrap_err().to_string();
        assert!(
            err.contains("features.npy") && err.contains("numpy.savez"),
            "{err}"
        );
    }

    #[test]
    fn infers_numeric_and_text_columns() {
        let t = table("a,b,sex,y\n1,2.5,F,1\n3,,M,0\n");
        assert_eq!(t.rows, 2);
        assert!(matches!(t.column("a").unwrap().values, ColumnValues::Numeric(_)));
        assert!(matches!(t.column("sex").unwrap().values, ColumnValues::Text(_)));
        let ColumnValues::Numeric(b) = &t.column("b").unwrap().values else {
            panic!()
        };
        assert!(b[1].is_nan());
    }

    #[test]
    fn features_are_columns_without_roles_and_nan_is_rejected() {
        let t = table("a,b,sex,y\n1,2.5,F,1\n3,,M,0\n");
        let roles = Roles {
            label: Some("y".into()),
            sensitive: vec!["sex".into()],
            ..Default::default()
        };
        let sig = InputSignature {
            n_features: 2,
            ..Default::default()
        };
        let err = t.prepare(&roles, &sig).unwrap_err().to_string();
        assert!(err.contains("feature column 'b', data row 2 (line 3)"), "{err}");
    }

    #[test]
    fn feature_count_mismatch_lists_columns() {
        let t = table("a,b,y\n1,2,1\n");
        let roles = Roles {
            label: Some("y".into()),
            ..Default::default()
        };
        let sig = InputSignature {
            n_features: 3,
            ..Default::default()
        };
        let err = t.prepare(&roles, &sig).unwrap_err().to_string();
        assert!(
            err.contains("takes 3 features") && err.contains("2 feature columns (a, b)"),
            "{err}"
        );
    }

    #[test]
    fn named_inputs_are_matched_by_name_in_model_order() {
        let t = table("b,a,y\n2,1,1\n4,3,0\n");
        let roles = Roles {
            label: Some("y".into()),
            ..Default::default()
        };
        let sig = InputSignature {
            n_features: 2,
            names: vec!["a".into(), "b".into()],
            shape: None,
        };
        let p = t.prepare(&roles, &sig).unwrap();
        assert_eq!(p.x.data, vec![1.0, 2.0, 3.0, 4.0]);
        let sig = InputSignature {
            n_features: 2,
            names: vec!["a".into(), "c".into()],
            shape: None,
        };
        let err = t.prepare(&roles, &sig).unwrap_err().to_string();
        assert!(err.contains("lack [c]"), "{err}");
    }

    #[test]
    fn text_feature_and_missing_role_column_are_errors() {
        let t = table("a,color,y\n1,red,1\n");
        let roles = Roles {
            label: Some("y".into()),
            ..Default::default()
        };
        let sig = InputSignature {
            n_features: 2,
            ..Default::default()
        };
        let err = t.prepare(&roles, &sig).unwrap_err().to_string();
        assert!(err.contains("'color' holds text (e.g. 'red')"), "{err}");
        let roles = Roles {
            label: Some("target".into()),
            ..Default::default()
        };
        let err = t.prepare(&roles, &sig).unwrap_err().to_string();
        assert!(err.contains("label column 'target' is not in the data"), "{err}");
    }

    #[test]
    fn ragged_rows_and_duplicate_headers_name_the_line() {
        let err = Table::from_csv_reader("a,b\n1,2\n3\n".as_bytes(), "r.csv", b',').unwrap_err();
        assert!(err.to_string().contains("r.csv: line 3"), "{err}");
        let err = Table::from_csv_reader("a,a\n1,2\n".as_bytes(), "r.csv", b',').unwrap_err();
        assert!(err.to_string().contains("appears twice"), "{err}");
    }

    #[test]
    fn labels_map_to_int_and_string_classes() {
        let ints = [ClassLabel::Int(0), ClassLabel::Int(1)];
        assert_eq!(
            encode_labels(&["1".into(), "0.0".into()], &ints).unwrap(),
            vec![1, 0]
        );
        let err = encode_labels(&["2".into()], &ints).unwrap_err();
        assert!(err.contains("label '2' in data row 1"), "{err}");
        let strs = [ClassLabel::Str("no".into()), ClassLabel::Str("yes".into())];
        assert_eq!(encode_labels(&["yes".into()], &strs).unwrap(), vec![1]);
    }
}
