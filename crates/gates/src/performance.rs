//! The `performance` gate: functional quality on labelled data, overall and
//! per slice.
//!
//! Metrics follow scikit-learn (see [`crate::metrics`]): `accuracy`,
//! `balanced_accuracy`, `precision`/`recall`/`f1` for the positive class of
//! a binary model, `*_macro` and `*_weighted` averages, `roc_auc` (binary,
//! or one-vs-rest macro), `log_loss`, and the confusion matrix in details.
//! For each declared slice column the same metrics are reported per value,
//! `accuracy[sex=Female]`; a slice smaller than `min_slice_size` is reported
//! in details but produces no metric, so no threshold judges a handful of
//! rows. With `bootstrap: N`, seeded percentile intervals are added as
//! `accuracy_ci_lower` / `accuracy_ci_upper` so a threshold can be required
//! on the lower bound.

use std::collections::BTreeMap;

use portcullis_evidence::{Metrics, Threshold};
use serde::Deserialize;
use serde_json::json;

use crate::classic::{self, DataKeys};
use crate::gate::{Evaluation, Gate, GateContext, GateError};
use crate::metrics::{self, Confusion};
use crate::params::{LabelText, Lenient, NameList};

/// Slices smaller than this are reported, not judged.
pub const DEFAULT_MIN_SLICE_SIZE: usize = 30;
/// Default confidence level of bootstrap intervals.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;
/// Most bootstrap resamples allowed.
pub const MAX_BOOTSTRAP: usize = 100_000;

/// The `performance` gate's spec keys; unknown keys are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerformanceParams {
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    slices: Option<NameList>,
    #[serde(default)]
    weight: Option<String>,
    #[serde(default)]
    features: Option<NameList>,
    #[serde(default)]
    pos_label: Option<LabelText>,
    #[serde(default)]
    min_slice_size: Option<Lenient<usize>>,
    #[serde(default)]
    bootstrap: Option<Lenient<usize>>,
    #[serde(default)]
    confidence: Option<Lenient<f64>>,
    #[serde(default)]
    description: Option<String>,
}

/// The `performance` gate.
#[derive(Debug)]
pub struct PerformanceGate {
    keys: DataKeys,
    pos_label: Option<LabelText>,
    min_slice_size: usize,
    bootstrap: usize,
    confidence: f64,
}

impl PerformanceGate {
    /// Builds the gate from its spec parameters.
    ///
    /// # Errors
    /// [`GateError::Spec`] for out-of-range values.
    pub fn new(p: PerformanceParams) -> Result<Self, GateError> {
        let _ = p.description;
        let confidence = p.confidence.map_or(DEFAULT_CONFIDENCE, |c| c.0);
        let bootstrap = p.bootstrap.map_or(0, |b| b.0);
        check_bootstrap(Self::KIND, bootstrap, confidence)?;
        Ok(PerformanceGate {
            keys: DataKeys {
                data: p.data,
                label: p.label,
                sensitive: None,
                slices: p.slices,
                weight: p.weight,
                features: p.features,
            },
            pos_label: p.pos_label,
            min_slice_size: p.min_slice_size.map_or(DEFAULT_MIN_SLICE_SIZE, |m| m.0),
            bootstrap,
            confidence,
        })
    }
}

/// Validates bootstrap settings shared by the gates that resample.
pub(crate) fn check_bootstrap(kind: &str, n: usize, confidence: f64) -> Result<(), GateError> {
    if n > MAX_BOOTSTRAP {
        return Err(GateError::Spec {
            kind: kind.into(),
            message: format!("bootstrap: {n} resamples is over the limit of {MAX_BOOTSTRAP}"),
        });
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(GateError::Spec {
            kind: kind.into(),
            message: format!("confidence must be between 0 and 1 (e.g. 0.95), got {confidence}"),
        });
    }
    Ok(())
}

/// Headline metrics of one set of predictions.
pub(crate) fn summary(
    proba: &[Vec<f64>],
    y_true: &[usize],
    y_pred: &[usize],
    weights: Option<&[f64]>,
    k: usize,
    pos: usize,
) -> (BTreeMap<&'static str, f64>, Confusion) {
    let c = Confusion::new(k, y_true, y_pred, weights);
    let mut m = BTreeMap::new();
    m.insert("accuracy", metrics::accuracy(&c));
    m.insert("balanced_accuracy", metrics::balanced_accuracy(&c));
    if k == 2 {
        let p = metrics::prf(&c, pos);
        m.insert("precision", p.precision);
        m.insert("recall", p.recall);
        m.insert("f1", p.f1);
    }
    let (mac, wei) = metrics::prf_averages(&c);
    m.insert("precision_macro", mac.precision);
    m.insert("recall_macro", mac.recall);
    m.insert("f1_macro", mac.f1);
    m.insert("precision_weighted", wei.precision);
    m.insert("recall_weighted", wei.recall);
    m.insert("f1_weighted", wei.f1);
    if let Some(auc) = metrics::roc_auc(proba, y_true, k, weights, pos) {
        m.insert("roc_auc", auc);
    }
    m.insert("log_loss", metrics::log_loss(proba, y_true, weights));
    (m, c)
}

/// A seeded SplitMix64 generator (Steele, Lea & Flood 2014): tiny, fast and
/// stable across releases, so a recorded seed reproduces the same resamples.
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2⁻³²
    /// for any dataset size we accept).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Linear-interpolated percentile of sorted values (numpy's default).
pub(crate) fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let a = sorted.get(lo).copied().unwrap_or(f64::NAN);
    let b = sorted.get(hi).copied().unwrap_or(a);
    a + (b - a) * (pos - lo as f64)
}

/// Percentile bootstrap intervals of every summary metric over `rows`.
#[allow(clippy::too_many_arguments, reason = "all per-row inputs of one evaluation")]
fn bootstrap_intervals(
    proba: &[Vec<f64>],
    y_true: &[usize],
    y_pred: &[usize],
    weights: Option<&[f64]>,
    k: usize,
    pos: usize,
    n_boot: usize,
    confidence: f64,
    seed: u64,
) -> BTreeMap<&'static str, (f64, f64)> {
    let n = y_true.len();
    let mut rng = SplitMix64::new(seed);
    let mut samples: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut idx = vec![0usize; n];
    for _ in 0..n_boot {
        for slot in idx.iter_mut() {
            *slot = rng.below(n);
        }
        let p = classic::pick(proba, &idx);
        let t = classic::pick(y_true, &idx);
        let yp = classic::pick(y_pred, &idx);
        let w = weights.map(|w| classic::pick(w, &idx));
        let (m, _) = summary(&p, &t, &yp, w.as_deref(), k, pos);
        for (name, v) in m {
            samples.entry(name).or_default().push(v);
        }
    }
    let alpha = (1.0 - confidence) / 2.0;
    samples
        .into_iter()
        // A metric undefined in some resamples (ROC-AUC with one class
        // drawn) has no honest interval.
        .filter(|(_, v)| v.len() == n_boot)
        .map(|(name, mut v)| {
            v.sort_by(f64::total_cmp);
            (name, (percentile(&v, alpha), percentile(&v, 1.0 - alpha)))
        })
        .collect()
}

impl Gate for PerformanceGate {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    /// Better than chance on balanced accuracy.
    fn default_require(&self) -> BTreeMap<String, Threshold> {
        let mut m = BTreeMap::new();
        if let Ok(t) = "> 0.5".parse() {
            m.insert("balanced_accuracy".to_string(), t);
        }
        m
    }

    fn evaluate(&self, ctx: &GateContext<'_>) -> Result<Evaluation, GateError> {
        let model = classic::load_model("model", ctx.model, ctx)?;
        let data = classic::load_data(ctx, &self.keys)?;
        ctx.progress.message("scoring the model");
        let scored = classic::score(model.classifier.as_ref(), &data, "model")?;
        let classes = model.classifier.classes();
        let k = classes.len();
        let pos = classic::positive_class(Self::KIND, classes, self.pos_label.as_ref())?;
        let weights = scored.prepared.weights.as_deref();
        let (overall, confusion) = summary(&scored.proba, &scored.y_true, &scored.y_pred, weights, k, pos);
        let mut out = Metrics::new();
        for (name, v) in &overall {
            out.insert((*name).to_string(), *v);
        }
        out.insert("count".into(), scored.y_true.len() as f64);
        let mut notes = Vec::new();
        if !overall.contains_key("roc_auc") {
            notes.push(
                "roc_auc is undefined: some class has no positive or no negative row in the data".to_string(),
            );
        }
        let mut intervals = serde_json::Map::new();
        if self.bootstrap > 0 {
            ctx.progress.message("bootstrapping confidence intervals");
            let ci = bootstrap_intervals(
                &scored.proba,
                &scored.y_true,
                &scored.y_pred,
                weights,
                k,
                pos,
                self.bootstrap,
                self.confidence,
                ctx.seed,
            );
            for (name, (lo, hi)) in ci {
                out.insert(format!("{name}_ci_lower"), lo);
                out.insert(format!("{name}_ci_upper"), hi);
                intervals.insert(name.to_string(), json!([lo, hi]));
            }
        }
        let mut slices_json = serde_json::Map::new();
        for col in &data.roles.slices {
            let values = scored.prepared.groups.get(col).cloned().unwrap_or_default();
            let mut per = serde_json::Map::new();
            for (value, idx) in classic::groups_of(&values) {
                let p = classic::pick(&scored.proba, &idx);
                let t = classic::pick(&scored.y_true, &idx);
                let yp = classic::pick(&scored.y_pred, &idx);
                let w = weights.map(|w| classic::pick(w, &idx));
                let (m, c) = summary(&p, &t, &yp, w.as_deref(), k, pos);
                let judged = idx.len() >= self.min_slice_size;
                if judged {
                    for (name, v) in &m {
                        out.insert(format!("{name}[{col}={value}]"), *v);
                    }
                    out.insert(format!("count[{col}={value}]"), idx.len() as f64);
                }
                per.insert(
                    value.clone(),
                    json!({
                        "count": idx.len(),
                        "judged": judged,
                        "metrics": m,
                        "confusion_matrix": c.rows(),
                    }),
                );
            }
            if !per.values().any(|v| v["judged"] == json!(true)) {
                notes.push(format!(
                    "slice column '{col}': no value has at least {} rows, so no slice metric is judged",
                    self.min_slice_size
                ));
            }
            slices_json.insert(col.clone(), serde_json::Value::Object(per));
        }
        let details = json!({
            "data": data.name,
            "rows": scored.y_true.len(),
            "classes": classes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "pos_label": classes.get(pos).map(ToString::to_string),
            "confusion_matrix": confusion.rows(),
            "min_slice_size": self.min_slice_size,
            "slices": slices_json,
            "bootstrap": if self.bootstrap > 0 {
                json!({"resamples": self.bootstrap, "confidence": self.confidence, "seed": ctx.seed, "intervals": intervals})
            } else {
                serde_json::Value::Null
            },
            "notes": notes,
        });
        Ok(Evaluation {
            metrics: out,
            findings: Vec::new(),
            details,
            inputs: model.records().into_iter().chain([data.record]).collect(),
            failures: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy_linear() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.5), 2.5);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 1.0), 4.0);
    }

    #[test]
    fn splitmix_is_reproducible_and_in_range() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..100 {
            let x = a.below(10);
            assert_eq!(x, b.below(10));
            assert!(x < 10);
        }
    }

    fn from_params(p: &serde_json::Map<String, serde_json::Value>) -> Result<PerformanceGate, GateError> {
        crate::params::parse_params(PerformanceGate::KIND, p).and_then(PerformanceGate::new)
    }

    #[test]
    fn unknown_keys_and_bad_confidence_are_spec_errors() {
        let p = serde_json::json!({"labl": "y"});
        assert!(from_params(p.as_object().unwrap()).is_err());
        let p = serde_json::json!({"bootstrap": "100", "confidence": 1.5});
        assert!(from_params(p.as_object().unwrap()).is_err());
        let p = serde_json::json!({"bootstrap": "100", "slices": "sex,race", "pos_label": 1});
        let g = from_params(p.as_object().unwrap()).unwrap();
        assert_eq!(g.bootstrap, 100);
        assert_eq!(g.keys.slices.unwrap().0, vec!["sex", "race"]);
    }
}
