//! Loading what the attack gates (robustness, backdoor) evaluate: the model
//! as a [`Classifier`] and labelled rows mapped onto the model's classes,
//! with the digest of every file read.
//!
//! Besides the model and the named dataset, the backdoor gate reads extra
//! files named in its spec (`train_data`, `suspect_data`) with the same
//! column roles, and keeps non-feature columns aside (a known-poisoned
//! marker in test fixtures). Every file is size-bounded and its digest
//! recorded, so evidence says exactly which bytes were evaluated.
//!
//! Looking a dataset up by name and parsing a table file are shared with
//! the classic gates ([`crate::classic`]), so every gate finds and reads
//! a declared dataset the same way.

use std::path::Path;

use portcullis_runtime::dataset::ColumnValues;
use portcullis_runtime::{encode_labels, Classifier, DataError, Roles, Table};

use crate::gate::{DataSource, GateContext, GateError, Input};
use crate::ml::data::LabelledData;
use crate::params::sha256;

/// The largest data file read, in bytes.
pub const MAX_DATA_BYTES: u64 = 1024 * 1024 * 1024;

/// A model and data ready for an attack gate.
pub struct Loaded {
    /// The model.
    pub model: Box<dyn Classifier>,
    /// The labelled rows.
    pub data: LabelledData,
    /// The evaluation data's column roles (reused for extra files).
    pub roles: Roles,
    /// Files read, with digests.
    pub inputs: Vec<Input>,
}

/// Loads the model and the dataset `key`, with the label column
/// overridable. `keep_aside` names numeric columns that are not features.
///
/// # Errors
/// [`GateError::Input`] naming the file and the cause.
pub fn load(
    ctx: &GateContext<'_>,
    key: &str,
    label: Option<&str>,
    keep_aside: &[&str],
) -> Result<Loaded, GateError> {
    let model = crate::ml::model::load_model("model", ctx.model, ctx)?;
    let source = dataset(ctx, key)?;
    let roles = Roles {
        label: label.map(str::to_string).or_else(|| source.label.clone()),
        sensitive: source.sensitive.clone(),
        slices: source.slices.clone(),
        weight: source.weight.clone(),
        features: None,
    };
    let (data, data_record) = load_file(
        ctx,
        model.classifier.as_ref(),
        &roles,
        &source.path,
        keep_aside,
        "data",
    )?;
    let mut inputs = model.records();
    inputs.push(data_record);
    Ok(Loaded {
        model: model.classifier,
        data,
        roles,
        inputs,
    })
}

/// The dataset declared under `name`.
///
/// # Errors
/// [`GateError::Input`] listing the declared names when there is none.
pub fn dataset<'c>(ctx: &GateContext<'c>, name: &str) -> Result<&'c DataSource, GateError> {
    ctx.data.get(name).ok_or_else(|| {
        let known: Vec<&str> = ctx.data.keys().map(String::as_str).collect();
        GateError::Input(format!(
            "no dataset named '{name}' is declared (declared: {}); add it under `data:` or pass --data",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
    })
}

/// Parses a table's bytes: CSV or TSV by the file's extension, read from
/// `bytes`; any other format is loaded from `path` by its own reader.
///
/// # Errors
/// The reader's error, naming the file and line.
pub fn parse_table(bytes: &[u8], path: &Path) -> Result<Table, DataError> {
    let shown = path.display().to_string();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "csv" => Table::from_csv_reader(bytes, &shown, b','),
        "tsv" => Table::from_csv_reader(bytes, &shown, b'\t'),
        _ => Table::load(path),
    }
}

fn read_bounded(path: &Path, limit: u64, role: &str) -> Result<(Vec<u8>, Input), GateError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| GateError::Input(format!("{role} {shown}: {e}")))?;
    if meta.len() > limit {
        return Err(GateError::Input(format!(
            "{role} {shown} is {} bytes, over the {limit}-byte limit",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| GateError::Input(format!("{role} {shown}: {e}")))?;
    let record = Input {
        role: role.to_string(),
        uri: shown,
        sha256: Some(sha256(&bytes)),
        model: None,
    };
    Ok((bytes, record))
}

/// Loads a further table named in the spec (e.g. `train_data`) with the
/// evaluation data's column roles, recording it under `role`.
///
/// # Errors
/// [`GateError::Input`] naming the file and the cause.
pub fn load_file(
    ctx: &GateContext<'_>,
    model: &dyn Classifier,
    roles: &Roles,
    path: &Path,
    keep_aside: &[&str],
    role: &str,
) -> Result<(LabelledData, Input), GateError> {
    let path = ctx.resolve(path);
    let (bytes, record) = read_bounded(&path, MAX_DATA_BYTES, role)?;
    let table = parse_table(&bytes, &path).map_err(|e| GateError::Input(format!("{role}: {e}")))?;
    let rows = labelled(model, &table, roles, keep_aside)?;
    Ok((rows, record))
}

fn labelled(
    model: &dyn Classifier,
    table: &Table,
    roles: &Roles,
    keep_aside: &[&str],
) -> Result<LabelledData, GateError> {
    let label = roles.label.clone().ok_or_else(|| {
        GateError::Input(format!(
            "{} has no label column; set `label:` on the dataset or the gate (--label or --set label=COLUMN)",
            table.source
        ))
    })?;
    let mut roles = roles.clone();
    roles.label = Some(label);
    let mut extra = Vec::new();
    if !keep_aside.is_empty() {
        let mut features = table
            .feature_columns(&roles)
            .map_err(|e| GateError::Input(e.to_string()))?;
        features.retain(|f| !keep_aside.contains(&f.as_str()));
        roles.features = Some(features);
        for name in keep_aside {
            let col = table.column(name).ok_or_else(|| {
                GateError::Input(format!(
                    "{} has no column '{name}' (named in the gate spec)",
                    table.source
                ))
            })?;
            let values: Vec<f32> = match &col.values {
                ColumnValues::Numeric(v) => v.iter().map(|x| *x as f32).collect(),
                ColumnValues::Text(_) => {
                    return Err(GateError::Input(format!(
                        "{}: column '{name}' must be numeric (0/1)",
                        table.source
                    )))
                }
            };
            extra.push(((*name).to_string(), values));
        }
    }
    let prepared = table
        .prepare(&roles, model.signature())
        .map_err(|e| GateError::Input(e.to_string()))?;
    let labels = prepared.labels.as_deref().unwrap_or_default();
    let y = encode_labels(labels, model.classes())
        .map_err(|e| GateError::Input(format!("{}: {e}", table.source)))?;
    Ok(LabelledData {
        x: prepared.x,
        y,
        feature_names: prepared.feature_names,
        extra,
        source: table.source.clone(),
    })
}
