//! The noise baseline: random perturbations at the full budget.
//!
//! It runs first because it is cheap (one batch per sample) and because a
//! model that random noise already breaks needs no clever attack to fail.
//! L∞ draws are uniform in the ε-box; L2 draws are Gaussian directions scaled
//! to the ε-sphere (the largest allowed perturbation).

use rand_chacha::ChaCha8Rng;

use super::attack::{fill_gaussian, verify, AttackResult, SampleOracle};
use super::domain::{Domain, Norm};
use crate::ml::oracle::AttackError;
use rand::Rng;

/// Tries `draws` random perturbations of `x0` within ε (capped by the
/// budget) in one batch and keeps the smallest that flips the label.
///
/// # Errors
/// As [`crate::ml::oracle::Oracle::proba`].
pub fn noise_attack(
    q: &mut SampleOracle<'_, '_>,
    domain: &Domain,
    x0: &[f32],
    norm: Norm,
    epsilon: f32,
    draws: usize,
    rng: &mut ChaCha8Rng,
) -> Result<AttackResult, AttackError> {
    let d = x0.len();
    let n = draws.min(usize::try_from(q.remaining().saturating_sub(1)).unwrap_or(usize::MAX));
    let mut rows = Vec::with_capacity(n * d);
    for _ in 0..n {
        let mut x: Vec<f32> = match norm {
            Norm::Linf => x0
                .iter()
                .enumerate()
                .map(|(j, v)| {
                    if domain.mutable(j) {
                        v + rng.gen_range(-epsilon..=epsilon)
                    } else {
                        *v
                    }
                })
                .collect(),
            Norm::L2 => {
                let mut dir = vec![0.0f32; d];
                fill_gaussian(rng, &mut dir);
                for (j, v) in dir.iter_mut().enumerate() {
                    if !domain.mutable(j) {
                        *v = 0.0;
                    }
                }
                let len = dir
                    .iter()
                    .map(|v| v * v)
                    .sum::<f32>()
                    .sqrt()
                    .max(f32::MIN_POSITIVE);
                x0.iter().zip(&dir).map(|(v, g)| v + epsilon * g / len).collect()
            }
        };
        domain.project(x0, &mut x);
        rows.extend_from_slice(&x);
    }
    let mut best: Option<(f32, Vec<f32>)> = None;
    if n > 0 {
        let flags = q.adversarial(&rows)?;
        for (i, flag) in flags.iter().enumerate() {
            if *flag {
                let x = rows.get(i * d..(i + 1) * d).unwrap_or_default();
                let dist = norm.dist(x, x0);
                if best.as_ref().is_none_or(|(b, _)| dist < *b) {
                    best = Some((dist, x.to_vec()));
                }
            }
        }
    }
    verify(q, domain, x0, best.map(|(_, x)| x), norm, epsilon)
}
