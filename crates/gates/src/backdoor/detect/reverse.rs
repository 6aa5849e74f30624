//! Step 2, reverse-engineering: the smallest trigger that sends other
//! classes' rows to each class, and whether one class is an outlier (see
//! [`crate::backdoor::reverse`]).

use portcullis_evidence::{Finding, Location, Severity};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde_json::json;

use super::{pick, Ctx, Outcome, Vote};
use crate::backdoor::reverse::{self, ReverseParams};
use crate::backdoor::{describe_cells, Detector};
use crate::gate::GateError;
use crate::ml::oracle::AttackError;

/// Reverse-engineers a trigger per class.
///
/// # Errors
/// As [`super::Steps::fail`].
pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Outcome) -> Result<(), GateError> {
    let Outcome { eval, votes, details } = out;
    let label = |c: usize| ctx.label(c);
    let d = ctx.clean.x.cols;
    let k = ctx.oracle.n_classes();
    let describe = |cells: &[(usize, f32)]| describe_cells(cells, ctx.shape, &ctx.clean.feature_names);
    if ctx.runs(Detector::Reverse) {
        ctx.progress
            .message("reverse-engineering a minimal trigger per class");
        let max_mask = ctx
            .config
            .reverse_max_mask
            .unwrap_or_else(|| (d / 2).clamp(2, 32));
        let params = ReverseParams {
            target_flip: 0.9,
            max_mask,
            candidates_per_step: ctx.config.reverse_candidates,
        };
        let results: Vec<Result<reverse::ReverseResult, AttackError>> = (0..k)
            .into_par_iter()
            .map(|c| {
                let others: Vec<usize> = ctx
                    .correct
                    .iter()
                    .copied()
                    .filter(|i| ctx.pred.get(*i) != Some(&c))
                    .collect();
                let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed);
                rng.set_stream(1000 + c as u64);
                let idx = pick(&mut rng, &others, ctx.config.reverse_rows);
                let rows = ctx.rows_of(&idx);
                let r = reverse::reverse_class(
                    ctx.oracle, &rows, c, ctx.lo, ctx.hi, &params, &describe, &mut rng,
                );
                ctx.steps.inc();
                r
            })
            .collect();
        let mut per_class = Vec::new();
        for r in results {
            per_class.push(r.map_err(|e| ctx.steps.fail(e, "trigger reverse-engineering"))?);
        }
        let norms: Vec<f32> = per_class.iter().map(|r| r.norm as f32).collect();
        let index = reverse::anomaly_index(&norms);
        let (worst, worst_index) =
            index
                .iter()
                .enumerate()
                .fold((0usize, 0.0f32), |b, (c, v)| if *v > b.1 { (c, *v) } else { b });
        eval.metrics
            .insert("reverse_anomaly_index".into(), f64::from(worst_index));
        for r in &per_class {
            eval.metrics
                .insert(format!("reverse_mask_norm[{}]", label(r.class)), r.norm as f64);
        }
        if f64::from(worst_index) > ctx.config.anomaly_threshold {
            votes.push(Vote {
                detector: Detector::Reverse,
                class: worst,
            });
            if let Some(r) = per_class.get(worst) {
                eval.findings.push(
                    Finding::new(
                        "backdoor-reverse",
                        Severity::Medium,
                        format!(
                            "class {} is reached from {:.0}% of other inputs by changing only {} feature(s) ({}), an outlier among classes (MAD anomaly index {:.1} > {})",
                            label(worst),
                            100.0 * r.flip_rate,
                            r.norm,
                            r.trigger,
                            worst_index,
                            ctx.config.anomaly_threshold
                        ),
                    )
                    .at(Location::file(ctx.clean.source.clone()).label(r.trigger.description.clone()))
                    .fragment(r.trigger.description.clone())
                    .fix("do not deploy: the reverse-engineered trigger is a candidate backdoor; retrain from vetted data"),
                );
            }
        }
        details.insert(
            "reverse".into(),
            json!({
                "max_mask": max_mask,
                "anomaly_threshold": ctx.config.anomaly_threshold,
                "classes": per_class.iter().zip(&index).map(|(r, a)| json!({
                    "class": label(r.class),
                    "mask_norm": r.norm,
                    "reached": r.reached,
                    "flip_rate": r.flip_rate,
                    "anomaly_index": a,
                    "trigger": r.trigger.description,
                    "cells": r.trigger.cells.iter().map(|(j, v)| json!([j, v])).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            }),
        );
    }
    Ok(())
}
