//! Square Attack, L∞ (Andriushchenko, Croce, Flammarion & Hein, "Square
//! Attack: a query-efficient black-box adversarial attack via random
//! search", ECCV 2020): score-based random search over vertices of the
//! ε-box.
//!
//! It starts from vertical stripes of ±ε and repeatedly redraws one random
//! window of the perturbation at ±ε, keeping the change when the margin
//! `p(y) − max_{k≠y} p(k)` drops. The window's share of the input follows the
//! paper's piecewise-constant `p` schedule (halving at iterations 10, 50,
//! 200, 500, 1000, 2000, 4000, 6000, 8000 of a 10 000-query run, rescaled to
//! the budget). For images the window is a square of side `√(p·h·w)` shared
//! by all channels; for tabular vectors it is a random block of `p·d`
//! mutable coordinates, since feature order carries no locality.

use rand::seq::index::sample;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::attack::{verify, AttackResult, SampleOracle};
use super::domain::{Domain, Norm};
use crate::ml::oracle::AttackError;

/// The paper's schedule for the fraction of the input a window covers.
pub fn p_selection(p_init: f32, it: u64, n_iters: u64) -> f32 {
    let i = it.saturating_mul(10_000) / n_iters.max(1);
    let div = match i {
        0..=10 => 1.0,
        11..=50 => 2.0,
        51..=200 => 4.0,
        201..=500 => 8.0,
        501..=1000 => 16.0,
        1001..=2000 => 32.0,
        2001..=4000 => 64.0,
        4001..=6000 => 128.0,
        6001..=8000 => 256.0,
        _ => 512.0,
    };
    p_init / div
}

fn margin(p: &[f32], y: usize) -> f32 {
    let py = p.get(y).copied().unwrap_or(0.0);
    let other = p
        .iter()
        .enumerate()
        .filter(|(k, _)| *k != y)
        .map(|(_, v)| *v)
        .fold(f32::NEG_INFINITY, f32::max);
    py - other
}

/// Runs the L∞ Square Attack on `x0`. `shape` is `[channels, height,
/// width]` for images; `None` treats the input as a tabular vector.
///
/// # Errors
/// As [`crate::ml::oracle::Oracle::proba`].
#[allow(clippy::too_many_arguments, reason = "one attack, its inputs")]
pub fn square_attack(
    q: &mut SampleOracle<'_, '_>,
    domain: &Domain,
    x0: &[f32],
    epsilon: f32,
    shape: Option<[usize; 3]>,
    p_init: f32,
    rng: &mut ChaCha8Rng,
) -> Result<AttackResult, AttackError> {
    let d = x0.len();
    let y0 = q.y0;
    let budget = q.remaining().max(1);
    let mutable: Vec<usize> = (0..d).filter(|j| domain.mutable(*j)).collect();
    if mutable.is_empty() {
        return verify(q, domain, x0, None, Norm::Linf, epsilon);
    }
    let image = shape.filter(|[c, h, w]| c * h * w == d && *h >= 2 && *w >= 2);
    // Vertical stripes (images) or independent signs (vectors).
    let mut delta = vec![0.0f32; d];
    match image {
        Some([c, h, w]) => {
            for ch in 0..c {
                for col in 0..w {
                    let s = if rng.gen::<bool>() { epsilon } else { -epsilon };
                    for r in 0..h {
                        if let Some(v) = delta.get_mut(ch * h * w + r * w + col) {
                            *v = s;
                        }
                    }
                }
            }
        }
        None => {
            for &j in &mutable {
                if let Some(v) = delta.get_mut(j) {
                    *v = if rng.gen::<bool>() { epsilon } else { -epsilon };
                }
            }
        }
    }
    let apply = |delta: &[f32]| {
        let mut x: Vec<f32> = x0.iter().zip(delta).map(|(a, b)| a + b).collect();
        domain.clip(x0, &mut x);
        x
    };
    let mut x_best = apply(&delta);
    let mut m_best = margin(q.proba(&x_best)?.row(0), y0);
    let mut it = 0u64;
    // Draws that clip to no change cost no query; cap them so a fully
    // clipped input cannot spin forever.
    while m_best >= 0.0 && !q.exhausted() && it < budget.saturating_mul(4) {
        it += 1;
        let p = p_selection(p_init, it, budget);
        let mut new_delta = delta.clone();
        match image {
            Some([c, h, w]) => {
                let side = ((p * (h * w) as f32).sqrt().round() as usize).clamp(1, h.min(w) - 1);
                let vh = rng.gen_range(0..=h - side);
                let vw = rng.gen_range(0..=w - side);
                for ch in 0..c {
                    let s = if rng.gen::<bool>() { epsilon } else { -epsilon };
                    for r in vh..vh + side {
                        for col in vw..vw + side {
                            if let Some(v) = new_delta.get_mut(ch * h * w + r * w + col) {
                                *v = s;
                            }
                        }
                    }
                }
            }
            None => {
                let k = ((p * mutable.len() as f32).round() as usize).clamp(1, mutable.len());
                for i in sample(rng, mutable.len(), k) {
                    if let Some(&j) = mutable.get(i) {
                        if let Some(v) = new_delta.get_mut(j) {
                            *v = if rng.gen::<bool>() { epsilon } else { -epsilon };
                        }
                    }
                }
            }
        }
        let x_new = apply(&new_delta);
        if x_new == x_best {
            continue;
        }
        let m_new = margin(q.proba(&x_new)?.row(0), y0);
        if m_new < m_best {
            m_best = m_new;
            delta = new_delta;
            x_best = x_new;
        }
    }
    let candidate = (m_best < 0.0).then_some(x_best);
    verify(q, domain, x0, candidate, Norm::Linf, epsilon)
}
