//! STRIP (Gao et al., "STRIP: A Defence Against Trojan Attacks on Deep
//! Neural Networks", ACSAC 2019): a triggered input keeps its (target)
//! prediction when blended with other clean inputs, so its predictions stay
//! confident and their entropy stays low; a clean input's do not.
//!
//! Per input `x`, `N` blends with random clean inputs are classified and the
//! per-input entropy is the paper's `H(x) = (1/N) Σₙ Σ_c −p_c log₂ p_c`: an
//! average over the N blends of each blend's entropy over classes. (The
//! Adversarial Robustness Toolbox sums over the batch axis instead of the
//! class axis; this follows the paper.) The clean entropies are fitted with
//! a normal distribution and inputs below its 1% quantile (FRR 1%) are
//! flagged. Images blend by saturating addition as in the paper's
//! implementation, so a saturated trigger survives; tabular rows blend by
//! taking each feature from either input with probability ½, since adding
//! feature values has no meaning there.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::ml::oracle::{AttackError, Oracle};

/// The standard-normal quantile at 1% (FRR 1%).
pub const Z_FRR_1: f32 = -2.326_348;

/// How inputs are superimposed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Blend {
    /// Saturating sum within `[lo, hi]` (images).
    Add {
        /// Domain minimum.
        lo: f32,
        /// Domain maximum.
        hi: f32,
    },
    /// Each feature from either input with probability ½ (tabular).
    Mix,
}

/// Per-input entropies of `inputs` (flat rows), each blended with `n`
/// random rows of `pool`.
///
/// # Errors
/// As [`Oracle::proba`].
pub fn entropies(
    oracle: &Oracle<'_>,
    inputs: &[f32],
    pool: &[f32],
    n: usize,
    blend: Blend,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f32>, AttackError> {
    let d = oracle.n_features().max(1);
    let pool_rows = pool.len() / d;
    if pool_rows == 0 || n == 0 {
        return Err(AttackError::Input("STRIP needs clean rows to blend with".into()));
    }
    let mut out = Vec::new();
    for x in inputs.chunks(d) {
        let mut batch = Vec::with_capacity(n * d);
        for _ in 0..n {
            let k = rng.gen_range(0..pool_rows);
            let other = pool.get(k * d..(k + 1) * d).unwrap_or_default();
            for (a, b) in x.iter().zip(other) {
                batch.push(match blend {
                    Blend::Add { lo, hi } => (a + b).clamp(lo, hi),
                    Blend::Mix => {
                        if rng.gen::<bool>() {
                            *a
                        } else {
                            *b
                        }
                    }
                });
            }
        }
        let p = oracle.proba(&batch)?;
        let mut h = 0.0f32;
        for i in 0..p.rows {
            h += p
                .row(i)
                .iter()
                .filter(|v| **v > 0.0)
                .map(|v| -v * v.log2())
                .sum::<f32>();
        }
        out.push(h / p.rows.max(1) as f32);
    }
    Ok(out)
}

/// The FRR-1% threshold of a normal fit to clean entropies.
pub fn threshold(clean: &[f32]) -> f32 {
    let n = clean.len().max(1) as f32;
    let mean = clean.iter().sum::<f32>() / n;
    let var = clean.iter().map(|h| (h - mean) * (h - mean)).sum::<f32>() / (n - 1.0).max(1.0);
    mean + Z_FRR_1 * var.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_sits_2_33_standard_deviations_below_the_mean() {
        let clean = [1.0, 2.0, 3.0, 2.0, 1.0, 3.0];
        let t = threshold(&clean);
        let sd = (0.8f32).sqrt();
        assert!((t - (2.0 - 2.326_348 * sd)).abs() < 1e-4, "{t}");
    }
}
