//! What the classic-ML gates (`performance`, `reference`, `fairness`) share:
//! loading a model and a labelled dataset, recording the digest of each, and
//! turning labels into class indices.
//!
//! Column roles come from the named dataset (`data: eval` by default) and
//! may be overridden by the gate spec, so `eval --set label=y` works without
//! a policy. Every input read is recorded with its sha256, so evidence says
//! exactly which bytes were evaluated.

use std::collections::BTreeMap;

use portcullis_runtime::{encode_labels, Classifier, Matrix, Prepared, Roles, Table};

use crate::gate::{GateContext, GateError, Input};
use crate::params::{sha256, LabelText, NameList};

/// The dataset used when a spec names none.
pub const DEFAULT_DATA: &str = "eval";

/// Column-role keys every classic gate accepts, as given in its spec.
#[derive(Debug, Clone, Default)]
pub struct DataKeys {
    /// Which named dataset (`eval` when absent).
    pub data: Option<String>,
    /// Label column override.
    pub label: Option<String>,
    /// Sensitive-column override.
    pub sensitive: Option<NameList>,
    /// Slice-column override.
    pub slices: Option<NameList>,
    /// Weight-column override.
    pub weight: Option<String>,
    /// Explicit feature columns.
    pub features: Option<NameList>,
}

use crate::ml::load;
use crate::ml::model::read_bounded;
pub use crate::ml::model::{load_model, LoadedModel};

/// A dataset resolved from the context and the spec overrides.
pub struct LoadedData {
    /// The dataset's name.
    pub name: String,
    /// The table.
    pub table: Table,
    /// The effective column roles.
    pub roles: Roles,
    /// Where it came from.
    pub record: Input,
}

/// Loads the named dataset and applies the spec's role overrides.
///
/// # Errors
/// [`GateError::Input`] when the dataset is not declared, unreadable or
/// malformed (the loader's message names file and line).
pub fn load_data(ctx: &GateContext<'_>, keys: &DataKeys) -> Result<LoadedData, GateError> {
    let name = keys.data.clone().unwrap_or_else(|| DEFAULT_DATA.to_string());
    let source = load::dataset(ctx, &name)?;
    let path = ctx.resolve(&source.path);
    let bytes = read_bounded(&path, portcullis_runtime::dataset::MAX_TABLE_BYTES)?;
    let digest = sha256(&bytes);
    let shown = path.display().to_string();
    let table = load::parse_table(&bytes, &path).map_err(|e| GateError::Input(e.to_string()))?;
    let roles = Roles {
        label: keys.label.clone().or_else(|| source.label.clone()),
        sensitive: keys
            .sensitive
            .clone()
            .map(|l| l.0)
            .unwrap_or_else(|| source.sensitive.clone()),
        slices: keys
            .slices
            .clone()
            .map(|l| l.0)
            .unwrap_or_else(|| source.slices.clone()),
        weight: keys.weight.clone().or_else(|| source.weight.clone()),
        features: keys.features.clone().map(|l| l.0),
    };
    Ok(LoadedData {
        name,
        table,
        roles,
        record: Input {
            role: "data".into(),
            uri: shown,
            sha256: Some(digest),
            model: None,
        },
    })
}

/// Model outputs over a prepared dataset.
pub struct Scored {
    /// The prepared data.
    pub prepared: Prepared,
    /// True class index per row.
    pub y_true: Vec<usize>,
    /// Probabilities, one row per data row, as f64.
    pub proba: Vec<Vec<f64>>,
    /// Predicted class index per row (argmax).
    pub y_pred: Vec<usize>,
}

/// Prepares `data` for `model`, checks the labels against the model's
/// classes, and runs the model.
///
/// # Errors
/// [`GateError::Input`] for data that does not fit the model, a missing
/// label column, labels outside the classes, or an inference failure.
pub fn score(model: &dyn Classifier, data: &LoadedData, what: &str) -> Result<Scored, GateError> {
    if data.roles.label.is_none() {
        return Err(GateError::Input(format!(
            "dataset '{}' has no label column; set `label:` on the dataset or the gate (--set label=COLUMN)",
            data.name
        )));
    }
    let prepared = data
        .table
        .prepare(&data.roles, model.signature())
        .map_err(|e| GateError::Input(format!("{what}: {e}")))?;
    let labels = prepared.labels.as_deref().unwrap_or_default();
    let y_true = encode_labels(labels, model.classes())
        .map_err(|e| GateError::Input(format!("{}: {e}", data.table.source)))?;
    let p = model
        .predict_proba(&prepared.x)
        .map_err(|e| GateError::Input(format!("{what}: {e}")))?;
    let (proba, y_pred) = proba_rows(&p);
    Ok(Scored {
        prepared,
        y_true,
        proba,
        y_pred,
    })
}

/// Rows of `p` as f64 vectors and their argmax.
pub fn proba_rows(p: &Matrix) -> (Vec<Vec<f64>>, Vec<usize>) {
    let rows: Vec<Vec<f64>> = (0..p.rows)
        .map(|i| p.row(i).iter().map(|&v| f64::from(v)).collect())
        .collect();
    (rows, p.argmax_rows())
}

/// Resolves `pos_label` against the model's classes. Without one, a binary
/// model's positive class is `1` when that is a class, else the second
/// class (scikit-learn's sorted `classes_[1]`).
///
/// # Errors
/// [`GateError::Spec`] when the label is not a class.
pub fn positive_class(
    kind: &str,
    classes: &[portcullis_runtime::ClassLabel],
    pos_label: Option<&LabelText>,
) -> Result<usize, GateError> {
    let names: Vec<String> = classes.iter().map(ToString::to_string).collect();
    match pos_label {
        Some(l) => names
            .iter()
            .position(|n| *n == l.0)
            .ok_or_else(|| GateError::Spec {
                kind: kind.into(),
                message: format!(
                    "pos_label '{}' is not one of the model's classes [{}]",
                    l.0,
                    names.join(", ")
                ),
            }),
        None => Ok(names
            .iter()
            .position(|n| n == "1")
            .unwrap_or(1.min(names.len().saturating_sub(1)))),
    }
}

/// Row indices per group value of `column`, in sorted value order. Empty
/// values are grouped as `(missing)`.
pub fn groups_of(values: &[String]) -> BTreeMap<String, Vec<usize>> {
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, v) in values.iter().enumerate() {
        let key = if v.is_empty() {
            "(missing)".to_string()
        } else {
            v.clone()
        };
        out.entry(key).or_default().push(i);
    }
    out
}

/// The rows at `idx` of a per-row vector.
pub fn pick<T: Clone>(v: &[T], idx: &[usize]) -> Vec<T> {
    idx.iter().filter_map(|&i| v.get(i).cloned()).collect()
}
