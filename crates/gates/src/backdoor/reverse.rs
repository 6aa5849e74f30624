//! Black-box trigger reverse-engineering in the spirit of Neural Cleanse
//! (Wang et al., "Neural Cleanse: Identifying and Mitigating Backdoor
//! Attacks in Neural Networks", IEEE S&P 2019).
//!
//! Neural Cleanse optimises, per target class, the smallest mask (and a
//! pattern) that sends clean inputs to that class, then flags classes whose
//! mask norm is an outlier on the small side: a backdoored class needs far
//! fewer changed features than a natural class. Without gradients we search
//! the same objective greedily: masks are sets of features, each set to the
//! domain minimum or maximum (the pattern); each step adds the candidate
//! (from a seeded random subset) that most raises the mean target
//! probability, until ≥ 90% of inputs from other classes flip; a pruning
//! pass then drops every feature the flip rate does not need. The L1 norm
//! of the 0/1 mask is the number of features kept. Outliers use the MAD
//! anomaly index `(median − norm) / (1.4826·MAD)` with the paper's cut-off 2.

use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

use super::trigger_scan::Trigger;

/// Turns trigger cells into a human-readable location.
pub type Describe<'a> = &'a dyn Fn(&[(usize, f32)]) -> String;
use crate::ml::oracle::{AttackError, Oracle};

/// Search settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReverseParams {
    /// Flip rate a mask must reach.
    pub target_flip: f32,
    /// Largest mask tried, in features.
    pub max_mask: usize,
    /// Candidates evaluated per greedy step.
    pub candidates_per_step: usize,
}

/// The smallest trigger found for one class.
#[derive(Debug, Clone, PartialEq)]
pub struct ReverseResult {
    /// The target class.
    pub class: usize,
    /// Mask L1 norm (features set); `max_mask + 1` when no mask within the
    /// limit reached the flip rate.
    pub norm: usize,
    /// The trigger found (may be partial when `reached` is false).
    pub trigger: Trigger,
    /// Flip rate the trigger reaches.
    pub flip_rate: f32,
    /// Whether the target flip rate was reached.
    pub reached: bool,
}

fn stamp_all(rows: &[f32], d: usize, cells: &[(usize, f32)]) -> Vec<f32> {
    let mut out = rows.to_vec();
    for r in out.chunks_mut(d) {
        for &(j, v) in cells {
            if let Some(s) = r.get_mut(j) {
                *s = v;
            }
        }
    }
    out
}

/// Share of rows predicted as `class` and mean probability of `class`.
fn measure(oracle: &Oracle<'_>, rows: &[f32], class: usize) -> Result<(f32, f32), AttackError> {
    let p = oracle.proba(rows)?;
    let n = p.rows.max(1) as f32;
    let flips = p.argmax_rows().iter().filter(|c| **c == class).count() as f32;
    let mean = (0..p.rows)
        .map(|i| p.row(i).get(class).copied().unwrap_or(0.0))
        .sum::<f32>();
    Ok((flips / n, mean / n))
}

/// Searches the smallest trigger sending `rows` (inputs of other classes)
/// to `class`. `lo`/`hi` are per-feature pattern values; `names` describe
/// features; `describe` turns a cell list into a location string.
///
/// # Errors
/// As [`Oracle::proba`].
#[allow(clippy::too_many_arguments, reason = "one search, its inputs")]
pub fn reverse_class(
    oracle: &Oracle<'_>,
    rows: &[f32],
    class: usize,
    lo: &[f32],
    hi: &[f32],
    p: &ReverseParams,
    describe: Describe<'_>,
    rng: &mut ChaCha8Rng,
) -> Result<ReverseResult, AttackError> {
    let d = oracle.n_features().max(1);
    let pool: Vec<(usize, f32)> = (0..d)
        .flat_map(|j| {
            let l = lo.get(j).copied().unwrap_or(0.0);
            let h = hi.get(j).copied().unwrap_or(0.0);
            if h > l {
                vec![(j, h), (j, l)]
            } else {
                vec![]
            }
        })
        .collect();
    let mut mask: Vec<(usize, f32)> = Vec::new();
    let (mut flip, _) = measure(oracle, rows, class)?;
    while flip < p.target_flip && mask.len() < p.max_mask {
        let free: Vec<&(usize, f32)> = pool
            .iter()
            .filter(|(j, _)| !mask.iter().any(|(m, _)| m == j))
            .collect();
        if free.is_empty() {
            break;
        }
        let k = p.candidates_per_step.min(free.len());
        let picks: Vec<(usize, f32)> = sample(rng, free.len(), k)
            .into_iter()
            .filter_map(|i| free.get(i).map(|c| **c))
            .collect();
        // One batch: every candidate stamped on every row.
        let n_rows = rows.len() / d;
        let mut batch = Vec::with_capacity(picks.len() * rows.len());
        for cand in &picks {
            let mut cells = mask.clone();
            cells.push(*cand);
            batch.extend(stamp_all(rows, d, &cells));
        }
        let probs = oracle.proba(&batch)?;
        let mut best: Option<((usize, f32), f32, f32)> = None;
        for (ci, cand) in picks.iter().enumerate() {
            let (mut hits, mut mean) = (0usize, 0.0f32);
            for r in 0..n_rows {
                let row = probs.row(ci * n_rows + r);
                mean += row.get(class).copied().unwrap_or(0.0);
                let arg = row
                    .iter()
                    .enumerate()
                    .fold(
                        (0, f32::NEG_INFINITY),
                        |b, (i, v)| if *v > b.1 { (i, *v) } else { b },
                    )
                    .0;
                hits += usize::from(arg == class);
            }
            let f = hits as f32 / n_rows.max(1) as f32;
            let m = mean / n_rows.max(1) as f32;
            if best.is_none_or(|(_, bf, bm)| (f, m) > (bf, bm)) {
                best = Some((*cand, f, m));
            }
        }
        let Some((cand, f, _)) = best else { break };
        mask.push(cand);
        flip = f;
    }
    let reached = flip >= p.target_flip;
    if reached {
        // Prune: drop every cell the flip rate does not need, latest first.
        let mut i = mask.len();
        while i > 0 {
            i -= 1;
            let mut trial = mask.clone();
            trial.remove(i);
            let (f, _) = measure(oracle, &stamp_all(rows, d, &trial), class)?;
            if f >= p.target_flip {
                mask = trial;
                flip = f;
            }
        }
    }
    let norm = if reached { mask.len() } else { p.max_mask + 1 };
    Ok(ReverseResult {
        class,
        norm,
        trigger: Trigger {
            description: describe(&mask),
            cells: mask,
        },
        flip_rate: flip,
        reached,
    })
}

/// MAD anomaly index per value, on the small side only (values above the
/// median score 0). The MAD is floored at 1 feature: mask norms are small
/// integers and the greedy search is noisy by about that much, so a zero
/// MAD must not make every difference an outlier.
pub fn anomaly_index(norms: &[f32]) -> Vec<f32> {
    let med = median(norms);
    let dev: Vec<f32> = norms.iter().map(|n| (n - med).abs()).collect();
    let mad = 1.4826 * median(&dev).max(1.0);
    norms.iter().map(|n| ((med - n) / mad).max(0.0)).collect()
}

fn median(v: &[f32]) -> f32 {
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    let n = s.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        s.get(n / 2).copied().unwrap_or(0.0)
    } else {
        (s.get(n / 2 - 1).copied().unwrap_or(0.0) + s.get(n / 2).copied().unwrap_or(0.0)) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anomaly_index_flags_only_small_outliers() {
        let idx = anomaly_index(&[10.0, 11.0, 9.0, 12.0, 2.0, 30.0]);
        assert!(idx[4] > 2.0, "{idx:?}");
        assert_eq!(idx[5], 0.0);
        assert!(idx[0] < 1.0);
    }
}
