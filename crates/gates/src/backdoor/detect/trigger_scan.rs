//! Step 1, the trigger scan: stamps candidate triggers on clean rows and
//! keeps the strongest small one (see [`crate::backdoor::trigger_scan`]).
//! STRIP tests its inputs with the strongest candidate, so the scan also
//! runs when only STRIP is asked for.

use std::collections::BTreeMap;

use portcullis_evidence::{Finding, Location, Severity};
use serde_json::json;

use super::{Ctx, Outcome, Vote};
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
    /// Single-feature candidates, for tabular data.
    pub(crate) singles: Vec<Trigger>,
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
        singles,
    } = scan;
    let Outcome { eval, votes, details } = out;
    let run = |det: Detector| ctx.runs(det);
    let label = |c: usize| ctx.label(c);
    let mut strongest: Option<ScanHit> = None;
    if run(Detector::TriggerScan) || (run(Detector::Strip) && suspect.is_none()) {
        ctx.progress.message("scanning candidate triggers");
        let on_done = || ctx.steps.inc();
        let mut hits = match &image_cands {
            Some(c) => trigger_scan::scan(ctx.oracle, scan_rows, scan_pred, c, &on_done),
            None => trigger_scan::scan(ctx.oracle, scan_rows, scan_pred, singles, &on_done),
        }
        .map_err(|e| ctx.steps.fail(e, "the trigger scan"))?;
        if ctx.shape.is_none() {
            // Pairs of the eight most effective single features.
            let mut best_per_feature: BTreeMap<usize, &ScanHit> = BTreeMap::new();
            for h in &hits {
                if let Some(&(j, _)) = h.trigger.cells.first() {
                    let e = best_per_feature.entry(j).or_insert(h);
                    if h.flip_rate > e.flip_rate {
                        *e = h;
                    }
                }
            }
            let mut top: Vec<&ScanHit> = best_per_feature.into_values().collect();
            top.sort_by(|a, b| b.flip_rate.total_cmp(&a.flip_rate));
            let top_features: Vec<usize> = top
                .iter()
                .take(8)
                .filter_map(|h| h.trigger.cells.first().map(|c| c.0))
                .collect();
            let chosen: Vec<Trigger> = singles
                .iter()
                .filter(|t| {
                    t.cells.first().is_some_and(|c| top_features.contains(&c.0))
                        && !t.description.contains("rare")
                })
                .cloned()
                .collect();
            let pairs = trigger_scan::pair_candidates(&chosen);
            let pair_hits = trigger_scan::scan(ctx.oracle, scan_rows, scan_pred, &pairs, &on_done)
                .map_err(|e| ctx.steps.fail(e, "the trigger scan"))?;
            hits.extend(pair_hits);
        }
        let channels = ctx.shape.map_or(1, |[c, _, _]| c);
        let cap = ctx
            .config
            .scan_max_size
            .unwrap_or(if ctx.shape.is_some() { 9 } else { 1 })
            * channels;
        let small: Vec<ScanHit> = hits.iter().filter(|h| h.trigger.size() <= cap).cloned().collect();
        strongest = trigger_scan::strongest(&small).cloned();
        let mut ranked: Vec<&ScanHit> = hits.iter().collect();
        ranked.sort_by(|a, b| {
            b.flip_rate
                .total_cmp(&a.flip_rate)
                .then(a.trigger.size().cmp(&b.trigger.size()))
        });
        if run(Detector::TriggerScan) {
            let rate = strongest.as_ref().map_or(0.0, |h| f64::from(h.flip_rate));
            eval.metrics.insert("trigger_flip_rate".into(), rate);
            if let Some(h) = &strongest {
                eval.metrics
                    .insert("trigger_size".into(), h.trigger.size() as f64);
                if rate >= ctx.config.scan_threshold {
                    votes.push(Vote {
                        detector: Detector::TriggerScan,
                        class: h.class,
                    });
                    eval.findings.push(
                        Finding::new(
                            "backdoor-trigger-scan",
                            Severity::High,
                            format!(
                                "a {}-feature trigger ({}) sends {:.0}% of clean inputs of other classes to class {}",
                                h.trigger.size(),
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
                    "max_size": cap,
                    "best_by_size": best_by_size(&hits).iter().map(|h| json!({
                        "size": h.trigger.size(),
                        "trigger": h.trigger.description,
                        "class": label(h.class),
                        "flip_rate": h.flip_rate,
                    })).collect::<Vec<_>>(),
                    "top": ranked.iter().take(5).map(|h| json!({
                        "trigger": h.trigger.description,
                        "size": h.trigger.size(),
                        "class": label(h.class),
                        "flip_rate": h.flip_rate,
                    })).collect::<Vec<_>>(),
                }),
            );
        }
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
