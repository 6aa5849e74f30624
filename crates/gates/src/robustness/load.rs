//! Loading what the attack gates (robustness, backdoor) evaluate: the
//! model as a [`Classifier`] and a labelled dataset mapped onto the model's
//! classes, with the digests of every file read.

use portcullis_runtime::Classifier;

use crate::gate::{GateContext, GateError, InputRecord};
use crate::robustness::data::LabelledData;

/// A model and data ready for a classic-ML gate.
pub struct Loaded {
    /// The model.
    pub model: Box<dyn Classifier>,
    /// The labelled rows.
    pub data: LabelledData,
    /// Files read, with digests.
    pub inputs: Vec<InputRecord>,
}

/// Loads the model and the dataset `key` (label column overridable).
/// `keep_aside` names numeric columns that are not features (e.g. a
/// known-poisoned marker).
///
/// # Errors
/// [`GateError::Input`] naming the file and the cause.
pub fn load(
    ctx: &GateContext<'_>,
    key: &str,
    label: Option<&str>,
    keep_aside: &[&str],
) -> Result<Loaded, GateError> {
    let _ = (ctx, key, label, keep_aside);
    Err(GateError::Input(
        "no model backend is built into this gate yet".into(),
    ))
}

/// Loads a CSV of labelled rows for the model (e.g. `train_data`), with the
/// file's digest recorded under `role`.
///
/// # Errors
/// [`GateError::Input`] naming the file and the cause.
pub fn load_file(
    ctx: &GateContext<'_>,
    model: &dyn Classifier,
    path: &std::path::Path,
    label: Option<&str>,
    keep_aside: &[&str],
    role: &str,
) -> Result<(LabelledData, InputRecord), GateError> {
    let _ = (ctx, model, path, label, keep_aside, role);
    Err(GateError::Input(
        "no dataset loader is built into this gate yet".into(),
    ))
}
