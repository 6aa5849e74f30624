//! The `fairness` gate: group metrics with fairlearn's definitions.
//!
//! For each sensitive attribute (and, on request, each pair of attributes)
//! the rows are grouped by value and, for the positive class `pos_label`:
//!
//! - `selection_rate[a=g]`: share of rows predicted positive
//!   (`fairlearn.metrics.selection_rate`);
//! - `true_positive_rate[a=g]`, `false_positive_rate[a=g]`
//!   (`fairlearn.metrics.true_positive_rate` / `false_positive_rate`);
//! - `accuracy[a=g]`, `count[a=g]`;
//! - `demographic_parity_difference[a]` / `_ratio[a]`: max − min and min / max
//!   of the selection rates (`fairlearn.metrics.demographic_parity_difference`
//!   / `_ratio`, `method="between_groups"`);
//! - `equalized_odds_difference[a]` / `_ratio[a]`: the worse of the TPR and
//!   FPR differences (ratios) (`fairlearn.metrics.equalized_odds_difference`
//!   / `_ratio`);
//! - `equal_opportunity_difference[a]` / `_ratio[a]`: the TPR difference
//!   (ratio) alone;
//! - `disparate_impact[a]`: the selection-rate ratio, with a finding when it
//!   is below 0.8 (the EEOC four-fifths rule).
//!
//! Groups smaller than `min_group_size` are reported in details but take no
//! part in any difference or ratio. A rate that is undefined for a group
//! (TPR with no positive rows, FPR with no negative rows) is said so in
//! details and left out, never computed as 0/0; pandas, under fairlearn's
//! `MetricFrame`, likewise skips NaN in `max`/`min`.

use std::collections::BTreeMap;

use portcullis_evidence::{Finding, Metrics, Severity, Threshold};
use serde::Deserialize;
use serde_json::json;

use crate::classic::{self, DataKeys};
use crate::gate::{Evaluation, Gate, GateContext, GateError};
use crate::params::{LabelText, Lenient, NameList};

/// Groups smaller than this are reported, not judged.
pub const DEFAULT_MIN_GROUP_SIZE: usize = 30;
/// The four-fifths rule's bound on the selection-rate ratio.
pub const FOUR_FIFTHS: f64 = 0.8;

/// The `fairness` gate's spec keys; unknown keys are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FairnessParams {
    #[serde(default)]
    data: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    sensitive: Option<NameList>,
    #[serde(default)]
    weight: Option<String>,
    #[serde(default)]
    features: Option<NameList>,
    #[serde(default)]
    pos_label: Option<LabelText>,
    #[serde(default)]
    min_group_size: Option<Lenient<usize>>,
    #[serde(default)]
    intersectional: Option<serde_json::Value>,
    #[serde(default)]
    description: Option<String>,
}

/// Which attribute pairs to cross.
#[derive(Debug, Clone, PartialEq)]
enum Intersections {
    None,
    AllPairs,
    Pairs(Vec<(String, String)>),
}

fn parse_intersections(v: Option<&serde_json::Value>) -> Result<Intersections, String> {
    let pair_of = |s: &str| -> Result<(String, String), String> {
        let parts: Vec<&str> = s.split(['&', '+', '*']).map(str::trim).collect();
        match parts.as_slice() {
            [a, b] if !a.is_empty() && !b.is_empty() => Ok(((*a).to_string(), (*b).to_string())),
            _ => Err(format!("'{s}' is not a pair of attributes (write race&sex)")),
        }
    };
    match v {
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::Bool(false)) => {
            Ok(Intersections::None)
        }
        Some(serde_json::Value::Bool(true)) => Ok(Intersections::AllPairs),
        Some(serde_json::Value::String(s)) => match s.trim() {
            "true" | "yes" | "all" => Ok(Intersections::AllPairs),
            "false" | "no" | "" => Ok(Intersections::None),
            other => {
                let inner = other
                    .strip_prefix('[')
                    .and_then(|r| r.strip_suffix(']'))
                    .unwrap_or(other);
                inner
                    .split(',')
                    .map(pair_of)
                    .collect::<Result<_, _>>()
                    .map(Intersections::Pairs)
            }
        },
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                serde_json::Value::String(s) => pair_of(s),
                serde_json::Value::Array(ab) => match ab.as_slice() {
                    [serde_json::Value::String(a), serde_json::Value::String(b)] => {
                        Ok((a.clone(), b.clone()))
                    }
                    _ => Err("each pair must be two attribute names, e.g. [race, sex]".to_string()),
                },
                _ => Err("each pair must be a string 'race&sex' or a list [race, sex]".to_string()),
            })
            .collect::<Result<_, _>>()
            .map(Intersections::Pairs),
        Some(_) => Err("intersectional takes true, false, or a list of attribute pairs".into()),
    }
}

/// The `fairness` gate.
#[derive(Debug)]
pub struct FairnessGate {
    keys: DataKeys,
    pos_label: Option<LabelText>,
    min_group_size: usize,
    intersections: Intersections,
}

impl FairnessGate {
    /// Builds the gate from its spec parameters.
    ///
    /// # Errors
    /// [`GateError::Spec`] for a malformed `intersectional`.
    pub fn new(p: FairnessParams) -> Result<Self, GateError> {
        let _ = p.description;
        let intersections =
            parse_intersections(p.intersectional.as_ref()).map_err(|message| GateError::Spec {
                kind: FairnessGate::KIND.into(),
                message: format!("intersectional: {message}"),
            })?;
        Ok(FairnessGate {
            keys: DataKeys {
                data: p.data,
                label: p.label,
                sensitive: p.sensitive,
                slices: None,
                weight: p.weight,
                features: p.features,
            },
            pos_label: p.pos_label,
            min_group_size: p.min_group_size.map_or(DEFAULT_MIN_GROUP_SIZE, |m| m.0),
            intersections,
        })
    }
}

/// Per-group rates; `None` where the denominator is zero.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct GroupRates {
    pub count: usize,
    pub selection_rate: Option<f64>,
    pub tpr: Option<f64>,
    pub fpr: Option<f64>,
    pub accuracy: Option<f64>,
}

pub(crate) fn group_rates(
    idx: &[usize],
    y_true: &[usize],
    y_pred: &[usize],
    w: Option<&[f64]>,
    pos: usize,
) -> GroupRates {
    let (mut total, mut sel, mut p, mut tp, mut n, mut fp, mut correct) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for &i in idx {
        let wi = w.and_then(|w| w.get(i).copied()).unwrap_or(1.0);
        let t = y_true.get(i).copied().unwrap_or(usize::MAX) == pos;
        let yp = y_pred.get(i).copied().unwrap_or(usize::MAX) == pos;
        total += wi;
        if yp {
            sel += wi;
        }
        if t {
            p += wi;
            if yp {
                tp += wi;
            }
        } else {
            n += wi;
            if yp {
                fp += wi;
            }
        }
        if y_true.get(i) == y_pred.get(i) {
            correct += wi;
        }
    }
    let div = |a: f64, b: f64| if b > 0.0 { Some(a / b) } else { None };
    GroupRates {
        count: idx.len(),
        selection_rate: div(sel, total),
        tpr: div(tp, p),
        fpr: div(fp, n),
        accuracy: div(correct, total),
    }
}

/// max − min and min / max over the defined values; `None` with fewer than
/// two values, and no ratio when the max is 0.
fn spread(values: &[f64]) -> (Option<f64>, Option<f64>) {
    if values.len() < 2 {
        return (None, None);
    }
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    (Some(max - min), if max > 0.0 { Some(min / max) } else { None })
}

impl Gate for FairnessGate {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    /// The four-fifths rule on every attribute.
    fn default_require(&self) -> BTreeMap<String, Threshold> {
        let mut m = BTreeMap::new();
        if let Ok(t) = format!(">= {FOUR_FIFTHS}").parse() {
            m.insert("disparate_impact[*]".to_string(), t);
        }
        m
    }

    fn evaluate(&self, ctx: &GateContext<'_>) -> Result<Evaluation, GateError> {
        let model = classic::load_model("model", ctx.model, ctx)?;
        let data = classic::load_data(ctx, &self.keys)?;
        if data.roles.sensitive.is_empty() {
            return Err(GateError::Input(format!(
                "no sensitive columns are declared for dataset '{}'; set `sensitive: [COLUMN, …]` (--set sensitive=race,sex)",
                data.name
            )));
        }
        let scored = classic::score(model.classifier.as_ref(), &data, "model")?;
        let classes = model.classifier.classes();
        let pos = classic::positive_class(Self::KIND, classes, self.pos_label.as_ref())?;
        let weights = scored.prepared.weights.as_deref();
        let sensitive = &data.roles.sensitive;
        let mut attributes: Vec<(String, Vec<String>)> = sensitive
            .iter()
            .map(|a| {
                (
                    a.clone(),
                    scored.prepared.groups.get(a).cloned().unwrap_or_default(),
                )
            })
            .collect();
        let pairs: Vec<(String, String)> = match &self.intersections {
            Intersections::None => Vec::new(),
            Intersections::AllPairs => {
                let mut v = Vec::new();
                for (i, a) in sensitive.iter().enumerate() {
                    for b in sensitive.iter().skip(i + 1) {
                        v.push((a.clone(), b.clone()));
                    }
                }
                v
            }
            Intersections::Pairs(p) => p.clone(),
        };
        for (a, b) in pairs {
            let (Some(va), Some(vb)) = (scored.prepared.groups.get(&a), scored.prepared.groups.get(&b))
            else {
                return Err(GateError::Input(format!(
                    "intersectional pair {a}&{b}: both must be sensitive columns (declared: {})",
                    sensitive.join(", ")
                )));
            };
            let combined = va
                .iter()
                .zip(vb)
                .map(|(x, y)| format!("{}{SEP}{b}={}", nonempty(x), nonempty(y)))
                .collect();
            attributes.push((format!("{a},{b}"), combined));
        }

        let mut out = Metrics::new();
        let mut findings = Vec::new();
        let mut notes = Vec::new();
        let mut per_attr = serde_json::Map::new();
        for (attr, values) in &attributes {
            let first = attr.split(',').next().unwrap_or(attr);
            let mut groups_json = serde_json::Map::new();
            let (mut srs, mut tprs, mut fprs) = (Vec::new(), Vec::new(), Vec::new());
            for (value, idx) in classic::groups_of(values) {
                // Intersectional values already carry `b=`; prefix `a=`.
                let gname = format!("{first}={value}");
                let r = group_rates(&idx, &scored.y_true, &scored.y_pred, weights, pos);
                let judged = idx.len() >= self.min_group_size;
                let mut undefined = Vec::new();
                if r.tpr.is_none() {
                    undefined.push("true_positive_rate (no rows with the positive label)");
                }
                if r.fpr.is_none() {
                    undefined.push("false_positive_rate (no rows with a negative label)");
                }
                if judged {
                    out.insert(format!("count[{gname}]"), idx.len() as f64);
                    for (name, v) in [
                        ("selection_rate", r.selection_rate),
                        ("true_positive_rate", r.tpr),
                        ("false_positive_rate", r.fpr),
                        ("accuracy", r.accuracy),
                    ] {
                        if let Some(v) = v {
                            out.insert(format!("{name}[{gname}]"), v);
                        }
                    }
                    srs.extend(r.selection_rate);
                    tprs.extend(r.tpr);
                    fprs.extend(r.fpr);
                    for u in &undefined {
                        notes.push(format!(
                            "{gname}: {u} is undefined and left out of the comparisons"
                        ));
                    }
                } else {
                    notes.push(format!(
                        "{gname}: {} rows, below min_group_size {}; reported, not judged",
                        idx.len(),
                        self.min_group_size
                    ));
                }
                groups_json.insert(
                    gname,
                    json!({
                        "count": idx.len(),
                        "judged": judged,
                        "selection_rate": r.selection_rate,
                        "true_positive_rate": r.tpr,
                        "false_positive_rate": r.fpr,
                        "accuracy": r.accuracy,
                        "undefined": undefined,
                    }),
                );
            }
            let (dp_diff, dp_ratio) = spread(&srs);
            let (tpr_diff, tpr_ratio) = spread(&tprs);
            let (fpr_diff, fpr_ratio) = spread(&fprs);
            let eo_diff = match (tpr_diff, fpr_diff) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            let eo_ratio = match (tpr_ratio, fpr_ratio) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            };
            let summary = [
                ("demographic_parity_difference", dp_diff),
                ("demographic_parity_ratio", dp_ratio),
                ("disparate_impact", dp_ratio),
                ("equalized_odds_difference", eo_diff),
                ("equalized_odds_ratio", eo_ratio),
                ("equal_opportunity_difference", tpr_diff),
                ("equal_opportunity_ratio", tpr_ratio),
            ];
            for (name, v) in summary {
                match v {
                    Some(v) => {
                        out.insert(format!("{name}[{attr}]"), v);
                    }
                    None => notes.push(format!(
                        "{name}[{attr}] is undefined: fewer than two judged groups have the rate defined (or every rate is 0)"
                    )),
                }
            }
            if let Some(di) = dp_ratio.filter(|&di| di < FOUR_FIFTHS) {
                findings.push(
                    Finding::new(
                        "fairness/four-fifths-rule",
                        Severity::High,
                        format!(
                            "selection rate ratio across '{attr}' is {di:.3}, below the four-fifths rule's {FOUR_FIFTHS}"
                        ),
                    )
                    .fix("compare selection_rate per group in the details; rebalance or reweigh training data, or post-process thresholds per group"),
                );
            }
            per_attr.insert(
                attr.clone(),
                json!({
                    "groups": groups_json,
                    "demographic_parity_difference": dp_diff,
                    "demographic_parity_ratio": dp_ratio,
                    "equalized_odds_difference": eo_diff,
                    "equalized_odds_ratio": eo_ratio,
                    "equal_opportunity_difference": tpr_diff,
                    "equal_opportunity_ratio": tpr_ratio,
                }),
            );
        }
        let details = json!({
            "data": data.name,
            "rows": scored.y_true.len(),
            "pos_label": classes.get(pos).map(ToString::to_string),
            "min_group_size": self.min_group_size,
            "attributes": per_attr,
            "notes": notes,
        });
        Ok(Evaluation {
            metrics: out,
            findings,
            details,
            inputs: model.records().into_iter().chain([data.record]).collect(),
            failures: Vec::new(),
        })
    }
}

/// Separator between the attributes of an intersectional group name.
const SEP: char = ',';

fn nonempty(s: &str) -> &str {
    if s.is_empty() {
        "(missing)"
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tpr_is_undefined_without_positives_not_zero() {
        let y_true = [0, 0, 1];
        let y_pred = [1, 0, 1];
        let r = group_rates(&[0, 1], &y_true, &y_pred, None, 1);
        assert_eq!(r.tpr, None);
        assert_eq!(r.fpr, Some(0.5));
        assert_eq!(r.selection_rate, Some(0.5));
    }

    #[test]
    fn spread_needs_two_groups_and_a_positive_max() {
        assert_eq!(spread(&[0.5]), (None, None));
        assert_eq!(spread(&[0.2, 0.5]), (Some(0.3), Some(0.4)));
        assert_eq!(spread(&[0.0, 0.0]), (Some(0.0), None));
    }

    #[test]
    fn intersectional_accepts_bools_strings_and_pairs() {
        assert_eq!(
            parse_intersections(Some(&json!(true))).unwrap(),
            Intersections::AllPairs
        );
        assert_eq!(
            parse_intersections(Some(&json!("false"))).unwrap(),
            Intersections::None
        );
        assert_eq!(
            parse_intersections(Some(&json!("race&sex"))).unwrap(),
            Intersections::Pairs(vec![("race".into(), "sex".into())])
        );
        assert_eq!(
            parse_intersections(Some(&json!([["race", "sex"]]))).unwrap(),
            Intersections::Pairs(vec![("race".into(), "sex".into())])
        );
        assert!(parse_intersections(Some(&json!("race"))).is_err());
    }
}
