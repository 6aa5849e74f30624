//! Loading what the attack gates (robustness, backdoor) evaluate: the model
//! as a [`Classifier`] and labelled rows mapped onto the model's classes,
//! with the digest of every file read.
//!
//! Besides the model and the named dataset, the backdoor gate reads extra
//! files named in its spec (`train_data`, `suspect_data`) with the same
//! column roles, and keeps non-feature columns aside (a known-poisoned
//! marker in test fixtures). Every file is size-bounded and its digest
//! recorded, so evidence says exactly which bytes were evaluated.

use std::path::Path;

use portcullis_runtime::dataset::ColumnValues;
use portcullis_runtime::{encode_labels, Classifier, Roles, Table};

use crate::gate::{GateContext, GateError, InputRecord};
use crate::params::sha256;
use crate::robustness::data::LabelledData;

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
    pub inputs: Vec<InputRecord>,
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
    let source = ctx.data.get(key).ok_or_else(|| {
        let known: Vec<&str> = ctx.data.keys().map(String::as_str).collect();
        GateError::Input(format!(
            "no dataset named '{key}' is declared (declared: {}); add it under `data:` or pass --data",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
    })?;
    let roles = Roles {
        label: label.map(str::to_string).or_else(|| source.label.clone()),
        sensitive: source.sensitive.clone(),
        slices: source.slices.clone(),
        weight: source.weight.clone(),
        features: None,
    };
    let (data, data_record) = load_table(
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

fn read_bounded(path: &Path, limit: u64, role: &str) -> Result<(Vec<u8>, InputRecord), GateError> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| GateError::Input(format!("{role} {shown}: {e}")))?;
    if meta.len() > limit {
        return Err(GateError::Input(format!(
            "{role} {shown} is {} bytes, over the {limit}-byte limit",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| GateError::Input(format!("{role} {shown}: {e}")))?;
    let record = InputRecord {
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
) -> Result<(LabelledData, InputRecord), GateError> {
    load_table(ctx, model, roles, path, keep_aside, role)
}

fn load_table(
    ctx: &GateContext<'_>,
    model: &dyn Classifier,
    roles: &Roles,
    path: &Path,
    keep_aside: &[&str],
    role: &str,
) -> Result<(LabelledData, InputRecord), GateError> {
    let path = ctx.resolve(path);
    let (bytes, record) = read_bounded(&path, MAX_DATA_BYTES, role)?;
    let shown = record.uri.clone();
    let lower = shown.to_ascii_lowercase();
    let table = if lower.ends_with(".csv") {
        Table::from_csv_reader(bytes.as_slice(), &shown, b',')
    } else if lower.ends_with(".tsv") {
        Table::from_csv_reader(bytes.as_slice(), &shown, b'\t')
    } else {
        Table::load(&path)
    }
    .map_err(|e| GateError::Input(format!("{role}: {e}")))?;
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
