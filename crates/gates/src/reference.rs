//! The `reference` gate: A/B validation of a candidate against the
//! production model on the same data (MITRE ATLAS mitigation AML.M0026,
//! "validate ML model").
//!
//! Both models score the same rows. The gate reports the agreement rate,
//! the flip matrix (reference class → candidate class over rows where they
//! disagree), the candidate's metrics and their deltas against the
//! reference (`accuracy_delta = candidate − reference`), and a
//! **flip-concentration test**.
//!
//! Poisoning and backdoors that target one class make the candidate move
//! rows *into* that class; an honest retrain moves rows back and forth
//! between classes the reference already confuses. The null model says a
//! flip between classes `r` and `c` is as likely as the reference's
//! confusion between them: each ordered pair `r → c` gets weight
//! `C[r][c] + C[c][r] + ½` (`C` = reference confusion matrix on this data,
//! true × predicted; the ½ keeps never-confused pairs possible), normalised
//! over all pairs. The expected share of flips landing in class `c` is the
//! sum over `r` of those weights. For each class, a one-sided exact binomial
//! test asks how likely at least the observed number of flips into `c` is;
//! the smallest p-value, Bonferroni-corrected for the number of classes, is
//! `flip_concentration_p_value`. `flip_concentration` is the largest ratio
//! of observed to expected flips into one class, and a χ² goodness-of-fit
//! test over all classes is reported as `flip_chi2_p_value`.

use std::collections::BTreeMap;

use portcullis_evidence::{Finding, Metrics, Severity, Threshold};
use serde::Deserialize;
use serde_json::json;

use crate::classic::{self, DataKeys};
use crate::gate::{Evaluation, Gate, GateContext, GateError};
use crate::params::{LabelText, NameList};
use crate::performance::summary;
use crate::stats::{binomial_sf, chi2_sf};

/// Pseudo-count added to every ordered class pair in the null model.
pub const PAIR_PRIOR: f64 = 0.5;

/// The `reference` gate's spec keys; unknown keys are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceParams {
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    weight: Option<String>,
    #[serde(default)]
    features: Option<NameList>,
    #[serde(default)]
    pos_label: Option<LabelText>,
    #[serde(default)]
    description: Option<String>,
}

/// The `reference` gate.
#[derive(Debug)]
pub struct ReferenceGate {
    keys: DataKeys,
    pos_label: Option<LabelText>,
}

impl ReferenceGate {
    /// Builds the gate from its spec parameters.
    ///
    /// # Errors
    /// None: every key is checked by deserialisation; the `Result` keeps
    /// every kind's constructor alike for the registry.
    pub fn new(p: ReferenceParams) -> Result<Self, GateError> {
        let _ = p.description;
        Ok(ReferenceGate {
            keys: DataKeys {
                data: p.data,
                label: p.label,
                sensitive: None,
                slices: None,
                weight: p.weight,
                features: p.features,
            },
            pos_label: p.pos_label,
        })
    }
}

/// The result of the flip-concentration test.
#[derive(Debug, Clone, PartialEq)]
pub struct Concentration {
    /// Flips into each class.
    pub observed: Vec<u64>,
    /// Expected flips into each class under the null.
    pub expected: Vec<f64>,
    /// Largest observed / expected.
    pub ratio: f64,
    /// The class with that ratio.
    pub class: usize,
    /// Bonferroni-corrected smallest one-sided binomial p-value.
    pub p_value: f64,
    /// χ² goodness-of-fit p-value over all classes.
    pub chi2_p_value: f64,
}

/// Runs the test on a flip matrix (`flips[r][c]`, reference `r` → candidate
/// `c`) given the reference's confusion matrix (`confusion[t][p]`).
pub fn concentration(flips: &[Vec<u64>], confusion: &[Vec<f64>]) -> Concentration {
    let k = flips.len();
    let at = |m: &[Vec<f64>], i: usize, j: usize| m.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0.0);
    let mut share = vec![0.0; k];
    let mut total_w = 0.0;
    for r in 0..k {
        for c in 0..k {
            if r != c {
                let w = at(confusion, r, c) + at(confusion, c, r) + PAIR_PRIOR;
                if let Some(s) = share.get_mut(c) {
                    *s += w;
                }
                total_w += w;
            }
        }
    }
    for s in &mut share {
        *s /= total_w.max(f64::MIN_POSITIVE);
    }
    let observed: Vec<u64> = (0..k)
        .map(|c| {
            (0..k)
                .filter(|&r| r != c)
                .map(|r| flips.get(r).and_then(|row| row.get(c)).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let n: u64 = observed.iter().sum();
    let expected: Vec<f64> = share.iter().map(|s| s * n as f64).collect();
    let (mut ratio, mut class, mut min_p) = (0.0f64, 0usize, 1.0f64);
    let mut chi2 = 0.0;
    for c in 0..k {
        let o = observed.get(c).copied().unwrap_or(0);
        let e = expected.get(c).copied().unwrap_or(0.0);
        if e > 0.0 {
            let r = o as f64 / e;
            if r > ratio {
                ratio = r;
                class = c;
            }
            chi2 += (o as f64 - e).powi(2) / e;
        }
        let p = binomial_sf(o, n, share.get(c).copied().unwrap_or(0.0));
        min_p = min_p.min(p);
    }
    // With two classes a flip's target is fixed by its source, so the k
    // tests are one test seen twice; correct for the independent ones.
    let tests = if k == 2 { 1.0 } else { k as f64 };
    Concentration {
        observed,
        expected,
        ratio: if n == 0 { 0.0 } else { ratio },
        class,
        p_value: (min_p * tests).min(1.0),
        chi2_p_value: if n == 0 {
            1.0
        } else {
            chi2_sf(chi2, (k.saturating_sub(1)) as f64)
        },
    }
}

impl Gate for ReferenceGate {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    /// No more than two points of accuracy lost, and flips not concentrated
    /// on one class at the 1% level.
    fn default_require(&self) -> BTreeMap<String, Threshold> {
        let mut m = BTreeMap::new();
        for (k, v) in [
            ("accuracy_delta", ">= -0.02"),
            ("flip_concentration_p_value", ">= 0.01"),
        ] {
            if let Ok(t) = v.parse() {
                m.insert(k.to_string(), t);
            }
        }
        m
    }

    fn evaluate(&self, ctx: &GateContext<'_>) -> Result<Evaluation, GateError> {
        let reference_ref = ctx.reference.ok_or_else(|| {
            GateError::Input(
                "the reference gate needs a reference model; declare `reference: {path: …}` (or pass --reference)".into(),
            )
        })?;
        let candidate = classic::load_model("model", ctx.model, ctx)?;
        let reference = classic::load_model("reference", reference_ref, ctx)?;
        let (cs, rs) = (candidate.classifier.signature(), reference.classifier.signature());
        if cs.n_features != rs.n_features || cs.names != rs.names {
            return Err(GateError::Input(format!(
                "the reference takes a different input ({} features{}) than the candidate ({} features{}); they cannot be compared on the same rows",
                rs.n_features,
                names_hint(&rs.names),
                cs.n_features,
                names_hint(&cs.names)
            )));
        }
        let classes = candidate.classifier.classes().to_vec();
        if reference.classifier.classes() != classes.as_slice() {
            return Err(GateError::Input(format!(
                "the reference's classes [{}] differ from the candidate's [{}]",
                join(reference.classifier.classes()),
                join(&classes)
            )));
        }
        let data = classic::load_data(ctx, &self.keys)?;
        ctx.progress.message("scoring candidate and reference");
        let cand = classic::score(candidate.classifier.as_ref(), &data, "candidate")?;
        let refr = classic::score(reference.classifier.as_ref(), &data, "reference")?;
        let k = classes.len();
        let pos = classic::positive_class(Self::KIND, &classes, self.pos_label.as_ref())?;
        let weights = cand.prepared.weights.as_deref();
        let (mc, _) = summary(&cand.proba, &cand.y_true, &cand.y_pred, weights, k, pos);
        let (mr, ref_conf) = summary(&refr.proba, &refr.y_true, &refr.y_pred, weights, k, pos);
        let n = cand.y_true.len();
        let mut flips = vec![vec![0u64; k]; k];
        let (mut agree_w, mut total_w) = (0.0, 0.0);
        for i in 0..n {
            let w = weights.and_then(|w| w.get(i).copied()).unwrap_or(1.0);
            total_w += w;
            let (r, c) = (
                refr.y_pred.get(i).copied().unwrap_or(0),
                cand.y_pred.get(i).copied().unwrap_or(0),
            );
            if r == c {
                agree_w += w;
            } else if let Some(cell) = flips.get_mut(r).and_then(|row| row.get_mut(c)) {
                *cell += 1;
            }
        }
        let agreement = if total_w > 0.0 { agree_w / total_w } else { 0.0 };
        let conc = concentration(&flips, &ref_conf.rows());
        let mut out = Metrics::new();
        out.insert("agreement".into(), agreement);
        out.insert("flip_rate".into(), 1.0 - agreement);
        out.insert("flip_count".into(), conc.observed.iter().sum::<u64>() as f64);
        out.insert("flip_concentration".into(), conc.ratio);
        out.insert("flip_concentration_p_value".into(), conc.p_value);
        out.insert("flip_chi2_p_value".into(), conc.chi2_p_value);
        for (c, o) in conc.observed.iter().enumerate() {
            if let Some(name) = classes.get(c) {
                out.insert(format!("flips_to[class={name}]"), *o as f64);
            }
        }
        for (name, v) in &mc {
            out.insert((*name).to_string(), *v);
            if let Some(r) = mr.get(name) {
                out.insert(format!("reference_{name}"), *r);
                out.insert(format!("{name}_delta"), v - r);
            }
        }
        out.insert("count".into(), n as f64);
        let mut findings = Vec::new();
        let target = classes
            .get(conc.class)
            .map(ToString::to_string)
            .unwrap_or_default();
        if conc.p_value < 0.01 {
            findings.push(
                Finding::new(
                    "reference/flip-concentration",
                    Severity::High,
                    format!(
                        "{} of {} disagreements move rows into class '{target}', {:.1}× what the reference's own confusion predicts (p = {:.2e}); a targeted poisoning or backdoor looks like this",
                        conc.observed.get(conc.class).copied().unwrap_or(0),
                        conc.observed.iter().sum::<u64>(),
                        conc.ratio,
                        conc.p_value
                    ),
                )
                .fix("inspect the flipped rows in the details and the training data added since the reference; run the backdoor gate"),
            );
        }
        let name_rows = |m: &[Vec<u64>]| -> serde_json::Value {
            let mut o = serde_json::Map::new();
            for (r, row) in m.iter().enumerate() {
                let mut inner = serde_json::Map::new();
                for (c, v) in row.iter().enumerate() {
                    if *v > 0 {
                        inner.insert(
                            classes.get(c).map(ToString::to_string).unwrap_or_default(),
                            json!(v),
                        );
                    }
                }
                o.insert(
                    classes.get(r).map(ToString::to_string).unwrap_or_default(),
                    serde_json::Value::Object(inner),
                );
            }
            serde_json::Value::Object(o)
        };
        let details = json!({
            "data": data.name,
            "rows": n,
            "classes": classes.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "flip_matrix": name_rows(&flips),
            "reference_confusion_matrix": ref_conf.rows(),
            "concentration_test": {
                "method": "one-sided exact binomial per target class against the reference-confusion null, Bonferroni-corrected; chi-squared goodness of fit over classes",
                "observed": conc.observed,
                "expected": conc.expected,
                "most_concentrated_class": target,
                "ratio": conc.ratio,
                "p_value": conc.p_value,
                "chi2_p_value": conc.chi2_p_value,
            },
        });
        Ok(Evaluation {
            metrics: out,
            findings,
            details,
            inputs: candidate
                .records()
                .into_iter()
                .chain(reference.records())
                .chain([data.record])
                .collect(),
            failures: Vec::new(),
        })
    }
}

fn join(c: &[portcullis_runtime::ClassLabel]) -> String {
    c.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn names_hint(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        format!(": {}", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_flips_are_not_concentrated() {
        let conf = vec![vec![50.0, 5.0, 5.0], vec![5.0, 50.0, 5.0], vec![5.0, 5.0, 50.0]];
        let flips = vec![vec![0, 3, 3], vec![3, 0, 3], vec![3, 3, 0]];
        let c = concentration(&flips, &conf);
        assert!(c.p_value > 0.5, "{c:?}");
        assert!((c.ratio - 1.0).abs() < 1e-9);
    }

    #[test]
    fn flips_pouring_into_one_class_are_flagged() {
        let conf = vec![vec![50.0, 5.0, 5.0], vec![5.0, 50.0, 5.0], vec![5.0, 5.0, 50.0]];
        let flips = vec![vec![0, 1, 20], vec![1, 0, 20], vec![0, 1, 0]];
        let c = concentration(&flips, &conf);
        assert_eq!(c.class, 2);
        assert!(c.p_value < 1e-6, "{c:?}");
        assert!(c.chi2_p_value < 1e-6);
    }

    #[test]
    fn no_flips_is_not_an_error() {
        let c = concentration(&[vec![0, 0], vec![0, 0]], &[vec![1.0, 0.0], vec![0.0, 1.0]]);
        assert_eq!(c.p_value, 1.0);
        assert_eq!(c.ratio, 0.0);
    }
}
