//! Step 3, STRIP: inputs whose prediction survives blending with clean
//! inputs carry a trigger (see [`crate::backdoor::strip`]). The suspect
//! inputs are the spec's `suspect_data`, else clean rows stamped with the
//! trigger scan's strongest candidate when it reached the scan threshold.

use portcullis_evidence::{Finding, Severity};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::{pick, Ctx, Outcome, Steps, Vote};
use crate::backdoor::strip;
use crate::backdoor::trigger_scan::ScanHit;
use crate::backdoor::Detector;
use crate::gate::GateError;
use crate::ml::data::LabelledData;
use crate::ml::oracle::Oracle;

/// Runs STRIP on the suspect inputs.
///
/// # Errors
/// As [`super::Steps::fail`].
pub(crate) fn run(
    ctx: &Ctx<'_>,
    out: &mut Outcome,
    suspect: Option<&LabelledData>,
    strongest: &Option<ScanHit>,
) -> Result<(), GateError> {
    let Outcome { eval, votes, details } = out;
    if ctx.runs(Detector::Strip) {
        ctx.progress.message("STRIP: blending inputs with clean samples");
        let blend = if ctx.shape.is_some() {
            strip::Blend::Add {
                lo: ctx.lo.iter().copied().fold(f32::INFINITY, f32::min),
                hi: ctx.hi.iter().copied().fold(f32::NEG_INFINITY, f32::max),
            }
        } else {
            strip::Blend::Mix
        };
        let mut srng = ChaCha8Rng::seed_from_u64(ctx.seed);
        srng.set_stream(2000);
        let fit_idx = pick(&mut srng, ctx.correct, ctx.config.strip_rows);
        let pool_idx: Vec<usize> = (0..ctx.clean.len()).filter(|i| !fit_idx.contains(i)).collect();
        let pool = if pool_idx.len() >= 10 {
            ctx.rows_of(&pool_idx)
        } else {
            ctx.clean.x.data.clone()
        };
        let fit_rows = ctx.rows_of(&fit_idx);
        let clean_h = strip_entropies(
            ctx.oracle,
            &fit_rows,
            &pool,
            ctx.config.strip_blends,
            blend,
            &mut srng,
            ctx.steps,
        )?;
        let threshold = strip::threshold(&clean_h);
        let (suspect_rows, suspect_from) = match (suspect, &strongest) {
            (Some(s), _) => (s.x.data.clone(), format!("suspect set {}", s.source)),
            // A candidate below the scan's threshold is no suspect: natural
            // features that flip many inputs make confident, low-entropy
            // predictions too, so STRIP would only echo them.
            (None, Some(h)) if f64::from(h.flip_rate) >= ctx.config.scan_threshold => {
                let mut rows = Vec::new();
                for (i, p) in fit_idx.iter().zip(fit_idx.iter().map(|i| ctx.pred.get(*i))) {
                    if p != Some(&h.class) {
                        let mut r = ctx.clean.x.row(*i).to_vec();
                        h.trigger.stamp(&mut r);
                        rows.extend(r);
                    }
                }
                (
                    rows,
                    format!(
                        "clean inputs stamped with the strongest scan candidate ({})",
                        h.trigger
                    ),
                )
            }
            (None, _) => (
                Vec::new(),
                "no suspect inputs: no scan candidate reached the scan threshold".into(),
            ),
        };
        let suspect_h = strip_entropies(
            ctx.oracle,
            &suspect_rows,
            &pool,
            ctx.config.strip_blends,
            blend,
            &mut srng,
            ctx.steps,
        )?;
        let flagged = suspect_h.iter().filter(|h| **h < threshold).count();
        let fraction = if suspect_h.is_empty() {
            0.0
        } else {
            flagged as f64 / suspect_h.len() as f64
        };
        let clean_flagged = clean_h.iter().filter(|h| **h < threshold).count();
        eval.metrics.insert("strip_flagged_fraction".into(), fraction);
        eval.metrics.insert("strip_flagged".into(), flagged as f64);
        eval.metrics
            .insert("strip_suspect_inputs".into(), suspect_h.len() as f64);
        eval.metrics
            .insert("strip_threshold".into(), f64::from(threshold));
        if fraction >= ctx.config.strip_threshold {
            let target = strongest.as_ref().map(|h| h.class).filter(|_| suspect.is_none());
            if let Some(c) = target {
                votes.push(Vote {
                    detector: Detector::Strip,
                    class: c,
                });
            }
            eval.findings.push(
                Finding::new(
                    "backdoor-strip",
                    Severity::High,
                    format!(
                        "STRIP flags {flagged} of {} {suspect_from}: their predictions survive blending with clean inputs (entropy below the FRR-1% threshold {threshold:.3})",
                        suspect_h.len()
                    ),
                )
                .fix("inputs whose prediction ignores most of the input carry a trigger: do not deploy"),
            );
        }
        details.insert(
            "strip".into(),
            json!({
                "clean_inputs": clean_h.len(),
                "blends": ctx.config.strip_blends,
                "threshold": threshold,
                "clean_flagged": clean_flagged,
                "suspect": suspect_from,
                "suspect_inputs": suspect_h.len(),
                "suspect_flagged": flagged,
                "clean_entropy_mean": clean_h.iter().sum::<f32>() / clean_h.len().max(1) as f32,
                "suspect_entropy_mean": suspect_h.iter().sum::<f32>() / suspect_h.len().max(1) as f32,
            }),
        );
    }
    Ok(())
}

fn strip_entropies(
    oracle: &Oracle<'_>,
    rows: &[f32],
    pool: &[f32],
    n: usize,
    blend: strip::Blend,
    rng: &mut ChaCha8Rng,
    steps: &Steps<'_>,
) -> Result<Vec<f32>, GateError> {
    let d = oracle.n_features().max(1);
    let mut out = Vec::new();
    for chunk in rows.chunks(d * 10) {
        out.extend(strip::entropies(oracle, chunk, pool, n, blend, rng).map_err(|e| steps.fail(e, "STRIP"))?);
        for _ in 0..chunk.len() / d {
            steps.inc();
        }
    }
    Ok(out)
}
