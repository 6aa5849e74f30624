//! Step 5, training-data detectors for tables: subgroup discovery and
//! nearest-neighbour label disagreement over `train_data` (see
//! [`crate::backdoor::subgroups`]). They need no activations, so they run
//! on any tabular model.

use portcullis_evidence::{Confidence, Finding, Severity};
use serde_json::json;

use super::{Ctx, Outcome, Vote};
use crate::backdoor::{input, subgroups, Detector};
use crate::ml::data::LabelledData;

/// Share of a subgroup's rows that must hold its majority label.
const MIN_PURITY: f64 = 0.95;
/// Binomial z above the share the rest of the data predicts.
const MIN_Z: f64 = 5.0;
/// Nearest-neighbour score at which a row is listed as suspicious.
const KNN_FLAG: f32 = 0.7;

/// Runs when the detector is configured, `train_data` is given and the
/// input is tabular.
pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Outcome, train: Option<&LabelledData>) {
    let Outcome { eval, votes, details } = out;
    let Some(train) = train.filter(|_| ctx.runs(Detector::Subgroups)) else {
        return;
    };
    if !ctx.tabular {
        details.insert(
            "subgroups".into(),
            json!("skipped: the input is treated as images; subgroups need tabular features"),
        );
        eval.metrics.insert("subgroup_flagged".into(), 0.0);
        return;
    }
    ctx.progress
        .message("looking for label-pure subgroups in the training data");
    let d = train.x.cols;
    let columns: Vec<Vec<f32>> = (0..d)
        .map(|j| {
            (0..train.len())
                .map(|i| train.x.row(i).get(j).copied().unwrap_or(0.0))
                .collect()
        })
        .collect();
    let groups = input::one_hot_groups(&columns, &train.feature_names);
    let items = subgroups::items(&columns, &train.feature_names, &groups);
    let k = ctx.oracle.n_classes();
    let found = subgroups::discover(&items, &train.y, k, MIN_PURITY, MIN_Z);
    ctx.steps.inc();
    let knn = subgroups::neighbour_disagreement(&train.x.data, d, &train.y, 10, 5000);
    ctx.steps.inc();
    let truth = ctx
        .config
        .poison_column
        .as_deref()
        .and_then(|c| train.extra.iter().find(|(n, _)| n == c).map(|(_, v)| v));
    let pr = |flagged: &[usize]| -> Option<(f64, f64)> {
        let truth = truth?;
        let positives = truth.iter().filter(|v| **v > 0.5).count();
        let tp = flagged
            .iter()
            .filter(|i| truth.get(**i).is_some_and(|v| *v > 0.5))
            .count();
        Some((
            if flagged.is_empty() {
                0.0
            } else {
                tp as f64 / flagged.len() as f64
            },
            if positives == 0 {
                0.0
            } else {
                tp as f64 / positives as f64
            },
        ))
    };
    eval.metrics.insert("subgroup_flagged".into(), found.len() as f64);
    if let Some(best) = found.first() {
        eval.metrics.insert("subgroup_z".into(), best.z);
        if let Some((p, r)) = pr(&best.rows) {
            eval.metrics.insert("subgroup_precision".into(), p);
            eval.metrics.insert("subgroup_recall".into(), r);
        }
        votes.push(Vote {
            detector: Detector::Subgroups,
            class: best.class,
        });
        eval.findings.push(
            Finding::new(
                "backdoor-subgroups",
                Severity::High,
                format!(
                    "{} training rows holding {} are labelled {} in {:.0}% of cases, where the rest of the data predicts {:.0}% (z = {:.1}): suspected poisoned rows",
                    best.rows.len(),
                    best.description,
                    ctx.label(best.class),
                    100.0 * best.purity,
                    100.0 * best.expected,
                    best.z
                ),
            )
            .confidence(if best.z >= 2.0 * MIN_Z { Confidence::High } else { Confidence::Medium })
            .fix("inspect these rows of the training data (indices in the gate details) and where they came from; retrain without them"),
        );
    }
    let mut ranked: Vec<(usize, f32)> = knn
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, s)| *s >= KNN_FLAG)
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let knn_rows: Vec<usize> = ranked.iter().map(|(i, _)| *i).collect();
    if let Some((p, r)) = pr(&knn_rows) {
        eval.metrics.insert("knn_precision".into(), p);
        eval.metrics.insert("knn_recall".into(), r);
    }
    details.insert(
        "subgroups".into(),
        json!({
            "items": items.len(),
            "min_purity": MIN_PURITY,
            "min_z": MIN_Z,
            "found": found.iter().map(|s| json!({
                "subgroup": s.description,
                "rows": s.rows.len(),
                "label": ctx.label(s.class),
                "purity": s.purity,
                "expected": s.expected,
                "z": s.z,
                "row_indices": s.rows.iter().take(200).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "neighbour_disagreement": {
                "k": 10,
                "flag_at": KNN_FLAG,
                "flagged_rows": knn_rows.len(),
                "row_indices": knn_rows.iter().take(200).collect::<Vec<_>>(),
            },
        }),
    );
}
