//! Step 1, the trigger scan: stamps candidate triggers on clean rows and
//! keeps the strongest small one (see [`crate::backdoor::trigger_scan`]).
//! STRIP tests its inputs with the strongest candidate, so the scan also
//! runs when only STRIP is asked for.

use std::collections::BTreeMap;

use portcullis_evidence::{Finding, Location, Severity};
use serde_json::json;

use super::{Ctx, Outcome, Vote};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::backdoor::tabular::{self, Assignment, Conjunction, Probe};
use crate::backdoor::trigger_scan::{self, ScanHit, Trigger};
use crate::backdoor::Detector;
use crate::gate::GateError;
use crate::ml::data::LabelledData;

/// The clean rows the scan stamps and the candidates it tries.
pub(crate) struct ScanInputs {
    /// Indices of the scanned rows.
    pub(crate) idx: Vec<usize>,
    /// Their features, concatenated.
    pub(crate) rows: Vec<f32>,
    /// The model's label per scanned row.
    pub(crate) pred: Vec<usize>,
    /// Image patch candidates, for images.
    pub(crate) image: Option<Vec<Trigger>>,
    /// Tabular values, for tabular data (empty for images).
    pub(crate) tabular: Vec<Assignment>,
}

/// Random assignments measured per conjunction size for the null.
const NULL_DRAWS: usize = 100;

/// A tabular candidate with the tests that decide whether it counts.
struct Judged<'a> {
    c: &'a Conjunction,
    explained: Option<(usize, f64)>,
    /// The flip rate's p-value against random assignments of its size.
    p: f64,
    /// For conjunctions: the interaction's robust z against the null (the
    /// strongest of it and its parts').
    z: Option<f64>,
    counts: bool,
}

/// Runs the scan when it is configured or STRIP needs its candidate;
/// returns the strongest small trigger found.
///
/// # Errors
/// As [`super::Steps::fail`].
pub(crate) fn run(
    ctx: &Ctx<'_>,
    out: &mut Outcome,
    scan: &ScanInputs,
    suspect: Option<&LabelledData>,
) -> Result<Option<ScanHit>, GateError> {
    let ScanInputs {
        idx: scan_idx,
        rows: scan_rows,
        pred: scan_pred,
        image: image_cands,
        tabular: assignments,
    } = scan;
    let Outcome { eval, votes, details } = out;
    let run = |det: Detector| ctx.runs(det);
    let label = |c: usize| ctx.label(c);
    let mut strongest: Option<ScanHit> = None;
    if !(run(Detector::TriggerScan) || (run(Detector::Strip) && suspect.is_none())) {
        return Ok(strongest);
    }
    ctx.progress.message("scanning candidate triggers");
    let on_done = || ctx.steps.inc();
    let fail = |e| ctx.steps.fail(e, "the trigger scan");
    // Images: patches up to `scan_max_size` pixels per channel count.
    let mut hits: Vec<ScanHit> = Vec::new();
    let mut counted: Vec<ScanHit> = Vec::new();
    let channels = ctx.shape.map_or(1, |[c, _, _]| c);
    let image_cap = ctx.config.scan_max_size.unwrap_or(9) * channels;
    if let Some(c) = image_cands {
        let h = trigger_scan::scan(ctx.oracle, scan_rows, scan_pred, c, &on_done).map_err(fail)?;
        counted.extend(h.iter().filter(|h| h.trigger.size() <= image_cap).cloned());
        hits.extend(h);
    }
    // Tables: values and conjunctions that neither the data, nor their
    // parts, nor random assignments explain.
    let mut tabular_details = serde_json::Value::Null;
    let mut best_p: Option<(String, f64)> = None;
    if !assignments.is_empty() {
        let probe = Probe {
            oracle: ctx.oracle,
            rows: scan_rows,
            pred: scan_pred,
        };
        let max = ctx.config.scan_max_features;
        let mut rng = ChaCha8Rng::seed_from_u64(ctx.seed ^ 0x6e75_6c6c);
        let result =
            tabular::search(&probe, assignments, max, NULL_DRAWS, &mut rng, &on_done).map_err(fail)?;
        // Each conjunction's interaction against random assignments of its
        // size; a larger conjunction carries the evidence of its strongest
        // part (a planted pair extended by a third value still holds it).
        //
        // Pairs are judged against every pair measured (all of them when
        // there are few values) and the random pairs: thousands of natural
        // interactions give a stable baseline. Larger conjunctions, which
        // the beam picks for their strength, against random ones of their size.
        let mut baseline: BTreeMap<usize, Vec<f32>> = result
            .null
            .iter()
            .map(|(size, n)| (*size, n.iter().map(|x| x.interaction).collect()))
            .collect();
        baseline.entry(2).or_default().extend(
            result
                .candidates
                .iter()
                .filter(|c| c.members.len() == 2)
                .map(|c| c.interaction),
        );
        let z_of = |c: &Conjunction| -> Option<f64> {
            let base = baseline.get(&c.members.len()).map(Vec::as_slice).unwrap_or(&[]);
            (c.members.len() > 1 && c.interaction > 0.0).then(|| tabular::robust_z(c.interaction, base, 0.1))
        };
        let own: BTreeMap<&[usize], f64> = result
            .candidates
            .iter()
            .filter_map(|c| z_of(c).map(|z| (c.members.as_slice(), z)))
            .collect();
        let labels = &ctx.clean.y;
        let judged: Vec<Judged<'_>> = result
            .candidates
            .iter()
            .map(|c| {
                let explained = tabular::explained_by_data(&c.members, assignments, labels, c.class);
                let flips: Vec<f32> = result
                    .null
                    .get(&c.members.len())
                    .map(|n| n.iter().map(|x| x.flip_rate).collect())
                    .unwrap_or_default();
                let p = tabular::p_value(c.flip_rate, &flips);
                let z = (c.members.len() > 1).then(|| {
                    let mut best = own
                        .get(c.members.as_slice())
                        .copied()
                        .unwrap_or(f64::NEG_INFINITY);
                    if c.members.len() > 2 {
                        for skip in 0..c.members.len() {
                            let part: Vec<usize> = c
                                .members
                                .iter()
                                .enumerate()
                                .filter(|(i, _)| *i != skip)
                                .map(|(_, m)| *m)
                                .collect();
                            let part_explained =
                                tabular::explained_by_data(&part, assignments, labels, c.class).is_some();
                            if let Some(z) = own.get(part.as_slice()).filter(|_| !part_explained) {
                                best = best.max(*z);
                            }
                        }
                    }
                    best
                });
                let counts = explained.is_none() && z.is_none_or(|z| z >= ctx.config.scan_min_z);
                Judged {
                    c,
                    explained,
                    p,
                    z,
                    counts,
                }
            })
            .collect();
        let best_counted = judged.iter().filter(|j| j.counts).max_by(|a, b| {
            a.c.flip_rate
                .total_cmp(&b.c.flip_rate)
                .then(b.c.members.len().cmp(&a.c.members.len()))
        });
        if let Some(j) = best_counted {
            best_p = Some((j.c.trigger.description.clone(), j.p));
        }
        for j in judged.iter().filter(|j| j.counts) {
            counted.push(ScanHit {
                trigger: j.c.trigger.clone(),
                class: j.c.class,
                flip_rate: j.c.flip_rate,
            });
        }
        hits.extend(result.candidates.iter().map(|c| ScanHit {
            trigger: c.trigger.clone(),
            class: c.class,
            flip_rate: c.flip_rate,
        }));
        let show = |j: &Judged<'_>| {
            json!({
                "trigger": j.c.trigger.description,
                "features": j.c.members.len(),
                "class": label(j.c.class),
                "flip_rate": j.c.flip_rate,
                "additive_flip_rate": j.c.additive_flip_rate,
                "interaction": j.c.interaction,
                "interaction_z": j.z,
                "p_value": j.p,
                "explained_by_data": j.explained.map(|(n, share)| json!({"rows": n, "class_share": share})),
                "counts": j.counts,
            })
        };
        let mut by_flip: Vec<&Judged<'_>> = judged.iter().collect();
        by_flip.sort_by(|a, b| b.c.flip_rate.total_cmp(&a.c.flip_rate));
        let mut best_per_size: BTreeMap<usize, &Judged<'_>> = BTreeMap::new();
        for j in judged.iter().filter(|j| j.counts) {
            let e = best_per_size.entry(j.c.members.len()).or_insert(j);
            if j.c.flip_rate > e.c.flip_rate {
                *e = j;
            }
        }
        let mut by_z: Vec<&Judged<'_>> = judged
            .iter()
            .filter(|j| j.explained.is_none() && j.z.is_some_and(f64::is_finite))
            .collect();
        by_z.sort_by(|a, b| b.z.unwrap_or(0.0).total_cmp(&a.z.unwrap_or(0.0)));
        tabular_details = json!({
            "values": assignments.len(),
            "candidates": judged.len(),
            "max_features": max,
            "min_z": ctx.config.scan_min_z,
            "null_draws": NULL_DRAWS,
            "best_by_size": best_per_size.values().map(|j| show(j)).collect::<Vec<_>>(),
            "strongest_not_counted": by_flip.iter().filter(|j| !j.counts).take(5).map(|j| show(j)).collect::<Vec<_>>(),
            "most_beyond_parts": by_z.iter().take(5).map(|j| show(j)).collect::<Vec<_>>(),
        });
    }
    strongest = trigger_scan::strongest(&counted).cloned();
    let mut ranked: Vec<&ScanHit> = hits.iter().collect();
    ranked.sort_by(|a, b| {
        b.flip_rate
            .total_cmp(&a.flip_rate)
            .then(a.trigger.size().cmp(&b.trigger.size()))
    });
    if run(Detector::TriggerScan) {
        let rate = strongest.as_ref().map_or(0.0, |h| f64::from(h.flip_rate));
        eval.metrics.insert("trigger_flip_rate".into(), rate);
        if let Some((_, p)) = best_p
            .as_ref()
            .filter(|(d, _)| strongest.as_ref().is_some_and(|h| &h.trigger.description == d))
        {
            eval.metrics.insert("trigger_p_value".into(), *p);
        }
        if let Some(h) = &strongest {
            eval.metrics
                .insert("trigger_size".into(), h.trigger.size() as f64);
            if rate >= ctx.config.scan_threshold {
                votes.push(Vote {
                    detector: Detector::TriggerScan,
                    class: h.class,
                });
                // On pixels the clean data never varies, a clean model's
                // untrained weights can act like a trigger too (measured on
                // the field set, docs/gates/backdoor.md): say so.
                let dark = h
                    .trigger
                    .cells
                    .iter()
                    .filter(|(j, _)| {
                        let mid = 0.5
                            * (ctx.lo.get(*j).copied().unwrap_or(0.0)
                                + ctx.hi.get(*j).copied().unwrap_or(0.0));
                        let lit = (0..ctx.clean.len())
                            .filter(|i| ctx.clean.x.row(*i).get(*j).is_some_and(|v| *v > mid))
                            .count();
                        lit * 100 <= ctx.clean.len()
                    })
                    .count();
                let note = if ctx.shape.is_some() && dark * 2 >= h.trigger.cells.len() {
                    "; most pixels it lights are almost never lit in the clean data (≤ 1% of rows), where a clean model's barely trained weights can act the same way: confirm with `train_data` or a retrain before blaming poisoning"
                } else {
                    ""
                };
                eval.findings.push(
                    Finding::new(
                        "backdoor-trigger-scan",
                        Severity::High,
                        format!(
                            "a trigger ({}) sends {:.0}% of clean inputs of other classes to class {}{note}",
                            h.trigger,
                            100.0 * h.flip_rate,
                            label(h.class)
                        ),
                    )
                    .at(Location::file(ctx.clean.source.clone()).label(h.trigger.description.clone()))
                    .fragment(h.trigger.description.clone())
                    .fix("do not deploy: retrain from vetted data and inspect training rows of the target class for this pattern"),
                );
            }
        }
        details.insert(
            "trigger_scan".into(),
            json!({
                "candidates": hits.len(),
                "rows": scan_idx.len(),
                "threshold": ctx.config.scan_threshold,
                "max_size": image_cap,
                "best_by_size": best_by_size(&hits).iter().map(|h| json!({
                    "size": h.trigger.size(),
                    "trigger": h.trigger.description,
                    "class": label(h.class),
                    "flip_rate": h.flip_rate,
                })).collect::<Vec<_>>(),
                "top": ranked.iter().take(5).map(|h| json!({
                    "trigger": h.trigger.description,
                    "cells": h.trigger.cells.iter().map(|(j, v)| json!([j, v])).collect::<Vec<_>>(),
                    "size": h.trigger.size(),
                    "class": label(h.class),
                    "flip_rate": h.flip_rate,
                })).collect::<Vec<_>>(),
                "tabular": tabular_details,
            }),
        );
    }
    Ok(strongest)
}

/// The strongest hit of each trigger size, smallest size first.
fn best_by_size(hits: &[ScanHit]) -> Vec<&ScanHit> {
    let mut by: BTreeMap<usize, &ScanHit> = BTreeMap::new();
    for h in hits {
        let e = by.entry(h.trigger.size()).or_insert(h);
        if h.flip_rate > e.flip_rate {
            *e = h;
        }
    }
    by.into_values().collect()
}
