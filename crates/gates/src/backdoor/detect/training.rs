//! Step 4, the training-data detectors: activation clustering and
//! spectral signatures over the penultimate activations of `train_data`
//! (see [`crate::backdoor::clustering`]). They share each class's
//! activations and its seeded random stream, so they run in one pass per
//! class; splitting them would change the draws and so the metrics.

use portcullis_evidence::{Confidence, Finding, Severity};
use portcullis_runtime::{Classifier, Matrix, RuntimeError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::{Ctx, Outcome, Steps, Vote};
use crate::backdoor::{clustering, BackdoorConfig, Detector};
use crate::gate::{Evaluation, GateError};
use crate::ml::data::LabelledData;

/// Runs the training-data detectors when `train_data` is given.
///
/// # Errors
/// As [`super::Steps::fail`]; [`GateError::Input`] when the detectors were
/// asked for explicitly and the backend cannot expose the activations.
pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Outcome, train: Option<&LabelledData>) -> Result<(), GateError> {
    let Outcome { eval, votes, details } = out;
    let run = |det: Detector| ctx.runs(det);
    let label = |c: usize| ctx.label(c);
    let k = ctx.oracle.n_classes();
    if let Some(train) = train {
        if run(Detector::ActivationClustering) || run(Detector::Spectral) {
            ctx.progress
                .message("clustering penultimate activations of the training data");
            match activations(ctx.model, &ctx.config.activation_node, &train.x) {
                Ok(acts) => {
                    training_detectors(
                        eval, votes, details, train, &acts, ctx.config, k, &label, ctx.seed, ctx.steps,
                    )?;
                }
                Err(e) if !ctx.config.explicit => {
                    details.insert(
                        "activation_detectors".into(),
                        json!(format!(
                            "skipped: the backend cannot expose '{}' ({e})",
                            ctx.config.activation_node
                        )),
                    );
                    eval.metrics.insert("ac_flagged_classes".into(), 0.0);
                    eval.findings.push(
                        Finding::new(
                            "backdoor-activations-unavailable",
                            Severity::Low,
                            format!("activation clustering and spectral signatures did not run: {e}"),
                        )
                        .confidence(Confidence::High),
                    );
                }
                Err(e) => {
                    return Err(GateError::Input(format!(
                        "activation detectors were requested but activations of '{}' are unavailable: {e}",
                        ctx.config.activation_node
                    )))
                }
            }
        }
    }
    Ok(())
}

/// Activations of `node`; the default name `penultimate` also tries the
/// tensor scikit-learn's ONNX export gives the last hidden layer of an MLP
/// (`next_activations`), so exported MLPs work without naming a node.
fn activations(model: &dyn Classifier, node: &str, x: &Matrix) -> Result<Matrix, RuntimeError> {
    match activations_of(model, node, x) {
        Err(RuntimeError::Unsupported(first)) if node == "penultimate" => {
            activations_of(model, "next_activations", x).map_err(|e| match e {
                RuntimeError::Unsupported(_) => RuntimeError::Unsupported(first),
                other => other,
            })
        }
        other => other,
    }
}

fn activations_of(model: &dyn Classifier, node: &str, x: &Matrix) -> Result<Matrix, RuntimeError> {
    let mut data = Vec::new();
    let mut cols = 0;
    let mut done = 0;
    while done < x.rows {
        let n = 1024.min(x.rows - done);
        let chunk = Matrix {
            data: x
                .data
                .get(done * x.cols..(done + n) * x.cols)
                .unwrap_or_default()
                .to_vec(),
            rows: n,
            cols: x.cols,
        };
        let a = model.activations(node, &chunk)?;
        if a.rows != n || (cols != 0 && a.cols != cols) || a.data.iter().any(|v| !v.is_finite()) {
            return Err(RuntimeError::Inference(format!(
                "activations of '{node}' came back as {}×{} (or non-finite) for {n} rows",
                a.rows, a.cols
            )));
        }
        cols = a.cols;
        data.extend(a.data);
        done += n;
    }
    Matrix::new(data, x.rows, cols)
}

#[allow(clippy::too_many_arguments, reason = "the detectors' shared state")]
fn training_detectors(
    eval: &mut Evaluation,
    votes: &mut Vec<Vote>,
    details: &mut serde_json::Map<String, serde_json::Value>,
    train: &LabelledData,
    acts: &Matrix,
    config: &BackdoorConfig,
    k: usize,
    label: &dyn Fn(usize) -> String,
    seed: u64,
    steps: &Steps<'_>,
) -> Result<(), GateError> {
    let poison: Option<&Vec<f32>> = config
        .poison_column
        .as_ref()
        .and_then(|c| train.extra.iter().find(|(n, _)| n == c).map(|(_, v)| v));
    let mut ac_rows: Vec<usize> = Vec::new();
    let mut sp_rows: Vec<usize> = Vec::new();
    let mut ac_flagged = 0usize;
    let mut best_ac: Option<(usize, f32)> = None;
    let mut max_conc = 0.0f32;
    let mut per_class = Vec::new();
    for c in 0..k {
        let idx: Vec<usize> = (0..train.len()).filter(|i| train.y.get(*i) == Some(&c)).collect();
        steps.inc();
        if idx.len() < 10 {
            continue;
        }
        let rows: Vec<&[f32]> = idx.iter().map(|i| acts.row(*i)).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(3000 + c as u64);
        let mut entry = serde_json::Map::new();
        entry.insert("class".into(), json!(label(c)));
        entry.insert("rows".into(), json!(idx.len()));
        if config.detectors.contains(&Detector::ActivationClustering) {
            let r = clustering::activation_clustering(
                c,
                &rows,
                config.ac_max_size,
                config.ac_min_silhouette,
                &mut rng,
            );
            let frac = if r.flagged { r.relative_size } else { 0.0 };
            eval.metrics
                .insert(format!("ac_suspicious_fraction[{}]", label(c)), f64::from(frac));
            if r.flagged {
                ac_flagged += 1;
                ac_rows.extend(r.small_cluster.iter().filter_map(|i| idx.get(*i)));
                if best_ac.is_none_or(|(_, s)| r.silhouette > s) {
                    best_ac = Some((c, r.silhouette));
                }
            }
            entry.insert("ac_relative_size".into(), json!(r.relative_size));
            entry.insert("ac_silhouette".into(), json!(r.silhouette));
            entry.insert("ac_flagged".into(), json!(r.flagged));
        }
        if config.detectors.contains(&Detector::Spectral) {
            let r = clustering::spectral_signature(c, &rows, config.spectral_epsilon, &mut rng);
            max_conc = max_conc.max(r.concentration);
            sp_rows.extend(r.flagged.iter().filter_map(|i| idx.get(*i)));
            entry.insert("spectral_concentration".into(), json!(r.concentration));
        }
        per_class.push(serde_json::Value::Object(entry));
    }
    let pr = |flagged: &[usize]| -> Option<(f64, f64)> {
        let truth = poison?;
        let positives = truth.iter().filter(|v| **v > 0.5).count();
        let tp = flagged
            .iter()
            .filter(|i| truth.get(**i).is_some_and(|v| *v > 0.5))
            .count();
        let precision = if flagged.is_empty() {
            0.0
        } else {
            tp as f64 / flagged.len() as f64
        };
        let recall = if positives == 0 {
            0.0
        } else {
            tp as f64 / positives as f64
        };
        Some((precision, recall))
    };
    if config.detectors.contains(&Detector::ActivationClustering) {
        eval.metrics
            .insert("ac_flagged_classes".into(), ac_flagged as f64);
        if let Some((p, r)) = pr(&ac_rows) {
            eval.metrics.insert("ac_precision".into(), p);
            eval.metrics.insert("ac_recall".into(), r);
        }
        if let Some((c, s)) = best_ac {
            votes.push(Vote {
                detector: Detector::ActivationClustering,
                class: c,
            });
            eval.findings.push(
                Finding::new(
                    "backdoor-activation-clustering",
                    Severity::High,
                    format!(
                        "{ac_flagged} class(es) of the training data split into a small separate activation cluster; clearest: class {} (silhouette {s:.2})",
                        label(c)
                    ),
                )
                .fix("inspect the training rows of the small cluster (row indices in the gate details) for a shared pattern"),
            );
        }
        details.insert(
            "ac_suspicious_rows".into(),
            json!(ac_rows.iter().take(200).collect::<Vec<_>>()),
        );
    }
    if config.detectors.contains(&Detector::Spectral) {
        eval.metrics
            .insert("spectral_concentration".into(), f64::from(max_conc));
        if let Some((p, r)) = pr(&sp_rows) {
            eval.metrics.insert("spectral_precision".into(), p);
            eval.metrics.insert("spectral_recall".into(), r);
        }
    }
    details.insert("training_classes".into(), json!(per_class));
    Ok(())
}
