//! HopSkipJump (Chen, Jordan & Wainwright, "HopSkipJumpAttack: A
//! Query-Efficient Decision-Based Attack", IEEE S&P 2020): a label-only
//! attack that walks along the decision boundary toward the clean input.
//!
//! Each iteration (1) estimates the boundary's normal at the current point by
//! Monte-Carlo sign queries around it, (2) steps along that direction with a
//! geometrically shrinking step until the point is still adversarial, and
//! (3) binary-searches back to the boundary on the segment (L2) or the
//! L∞-box (L∞) toward the clean input. The schedule follows the paper and
//! the Adversarial Robustness Toolbox defaults: `θ = γ/(d√d)` (L2) or `γ/d²`
//! (L∞) as binary-search threshold, `δ = 0.1·range` on the first iteration
//! and `√d·θ·dist` (L2) / `d·θ·dist` (L∞) after, `min(init_eval·√(t+1),
//! max_eval)` gradient samples and a first step of `2·dist/√(t+1)`.
//!
//! Unlike an unbounded minimal-perturbation attack, it stops as soon as the
//! boundary point is within ε: a sample counts as broken only then, and
//! searching further would only spend queries.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::attack::{fill_gaussian, verify, AttackResult, SampleOracle};
use super::domain::{Domain, Norm};
use crate::ml::oracle::AttackError;

/// HopSkipJump's schedule parameters (defaults as in the paper and ART).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HsjParams {
    /// Boundary-walk iterations.
    pub max_iter: usize,
    /// Cap on gradient-estimate samples per iteration.
    pub max_eval: usize,
    /// Gradient-estimate samples on the first iteration.
    pub init_eval: usize,
    /// Random draws tried to find a first adversarial point.
    pub init_size: usize,
    /// The binary-search threshold factor γ.
    pub gamma: f32,
}

impl Default for HsjParams {
    fn default() -> Self {
        HsjParams {
            max_iter: 50,
            max_eval: 10_000,
            init_eval: 100,
            init_size: 100,
            gamma: 1.0,
        }
    }
}

/// Runs HopSkipJump on one correctly classified input `x0`.
///
/// # Errors
/// As [`crate::ml::oracle::Oracle::proba`] (a failing model or the deadline).
#[allow(clippy::too_many_arguments, reason = "one attack, its inputs")]
pub fn hopskipjump(
    q: &mut SampleOracle<'_, '_>,
    domain: &Domain,
    x0: &[f32],
    norm: Norm,
    epsilon: f32,
    p: &HsjParams,
    rng: &mut ChaCha8Rng,
) -> Result<AttackResult, AttackError> {
    let d = (0..x0.len()).filter(|j| domain.mutable(*j)).count().max(1) as f32;
    let range = domain.mean_range();
    let theta = match norm {
        Norm::L2 => p.gamma / (d.sqrt() * d),
        Norm::Linf => p.gamma / (d * d),
    };
    let Some(start) = initialise(q, domain, x0, p.init_size, rng)? else {
        return verify(q, domain, x0, None, norm, epsilon);
    };
    // ART's initial search toward the clean input uses a fixed tolerance.
    let mut current = binary_search(q, domain, x0, &start, Norm::L2, 0.001, range)?;
    current = binary_search(q, domain, x0, &current, norm, theta, range)?;
    let mut dist = norm.dist(&current, x0);
    let mut best = current.clone();
    let mut best_dist = dist;
    for t in 0..p.max_iter {
        if best_dist <= epsilon || q.exhausted() {
            break;
        }
        let delta = if t == 0 {
            0.1 * range
        } else {
            match norm {
                Norm::L2 => d.sqrt() * theta * dist,
                Norm::Linf => d * theta * dist,
            }
        };
        let n_eval = ((p.init_eval as f32 * ((t + 1) as f32).sqrt()) as usize).min(p.max_eval);
        let n_eval = n_eval.min(usize::try_from(q.remaining()).unwrap_or(usize::MAX));
        if n_eval < 2 {
            break;
        }
        let grad = estimate_gradient(q, domain, x0, &current, norm, delta, n_eval, rng)?;
        let update: Vec<f32> = match norm {
            Norm::L2 => {
                let len = grad.iter().map(|g| g * g).sum::<f32>().sqrt();
                if len <= 0.0 || !len.is_finite() {
                    break;
                }
                grad.iter().map(|g| g / len).collect()
            }
            Norm::Linf => grad
                .iter()
                .map(|g| {
                    if *g > 0.0 {
                        1.0
                    } else if *g < 0.0 {
                        -1.0
                    } else {
                        0.0
                    }
                })
                .collect(),
        };
        // Geometric step search: halve until the step stays adversarial.
        let mut step = 2.0 * dist / ((t + 1) as f32).sqrt();
        let mut moved = None;
        for _ in 0..25 {
            if q.exhausted() {
                break;
            }
            step /= 2.0;
            let mut cand: Vec<f32> = current.iter().zip(&update).map(|(c, u)| c + step * u).collect();
            domain.clip(x0, &mut cand);
            if q.adversarial(&project(domain, x0, &cand))?
                .first()
                .copied()
                .unwrap_or(false)
            {
                moved = Some(cand);
                break;
            }
        }
        let Some(cand) = moved else { break };
        current = binary_search(q, domain, x0, &cand, norm, theta, range)?;
        dist = norm.dist(&current, x0);
        if dist < best_dist {
            best_dist = dist;
            best = current.clone();
        }
    }
    verify(q, domain, x0, Some(best), norm, epsilon)
}

fn project(domain: &Domain, x0: &[f32], x: &[f32]) -> Vec<f32> {
    let mut y = x.to_vec();
    domain.project(x0, &mut y);
    y
}

/// Random points in the domain until one is adversarial, in small batches
/// so a model that is easy to fool costs few queries.
fn initialise(
    q: &mut SampleOracle<'_, '_>,
    domain: &Domain,
    x0: &[f32],
    init_size: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Option<Vec<f32>>, AttackError> {
    let d = x0.len();
    let mut tried = 0;
    while tried < init_size && !q.exhausted() {
        let n = 10
            .min(init_size - tried)
            .min(usize::try_from(q.remaining()).unwrap_or(usize::MAX));
        let mut rows = Vec::with_capacity(n * d);
        for _ in 0..n {
            let mut x: Vec<f32> = (0..d)
                .map(|j| {
                    let lo = domain.lo.get(j).copied().unwrap_or(0.0);
                    let hi = domain.hi.get(j).copied().unwrap_or(0.0);
                    if hi > lo {
                        rng.gen_range(lo..=hi)
                    } else {
                        lo
                    }
                })
                .collect();
            domain.project(x0, &mut x);
            rows.extend_from_slice(&x);
        }
        tried += n;
        let flags = q.adversarial(&rows)?;
        if let Some(i) = flags.iter().position(|f| *f) {
            return Ok(rows.get(i * d..(i + 1) * d).map(<[f32]>::to_vec));
        }
    }
    Ok(None)
}

/// The point at fraction `a` between `x0` and `x` (L2: on the segment;
/// L∞: `x` clipped to the L∞ ball of radius `a` around `x0`).
fn interpolate(x0: &[f32], x: &[f32], a: f32, norm: Norm) -> Vec<f32> {
    match norm {
        Norm::L2 => x0.iter().zip(x).map(|(o, c)| (1.0 - a) * o + a * c).collect(),
        Norm::Linf => x0.iter().zip(x).map(|(o, c)| c.clamp(o - a, o + a)).collect(),
    }
}

/// Binary search between the clean input (not adversarial) and `x`
/// (adversarial) for the boundary; returns the adversarial end.
fn binary_search(
    q: &mut SampleOracle<'_, '_>,
    domain: &Domain,
    x0: &[f32],
    x: &[f32],
    norm: Norm,
    theta: f32,
    range: f32,
) -> Result<Vec<f32>, AttackError> {
    let (mut lo, mut hi, threshold) = match norm {
        Norm::L2 => (0.0f32, 1.0f32, theta),
        Norm::Linf => {
            let hi = Norm::Linf.dist(x, x0);
            (0.0, hi, (hi * theta).min(theta * range))
        }
    };
    let threshold = threshold.max(f32::EPSILON * hi.max(1.0));
    while hi - lo > threshold && !q.exhausted() {
        let mid = (lo + hi) / 2.0;
        let cand = interpolate(x0, x, mid, norm);
        if q.adversarial(&project(domain, x0, &cand))?
            .first()
            .copied()
            .unwrap_or(false)
        {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(interpolate(x0, x, hi, norm))
}

/// Monte-Carlo estimate of the boundary normal at `x` (paper, eq. 9 with
/// the baseline-subtracted signs).
#[allow(clippy::too_many_arguments, reason = "the estimator's inputs")]
fn estimate_gradient(
    q: &mut SampleOracle<'_, '_>,
    domain: &Domain,
    x0: &[f32],
    x: &[f32],
    norm: Norm,
    delta: f32,
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f32>, AttackError> {
    let d = x.len();
    let mut dirs = Vec::with_capacity(n * d);
    let mut rows = Vec::with_capacity(n * d);
    for _ in 0..n {
        let mut u = vec![0.0f32; d];
        match norm {
            Norm::L2 => fill_gaussian(rng, &mut u),
            Norm::Linf => u.iter_mut().for_each(|v| *v = rng.gen_range(-1.0..=1.0)),
        }
        for (j, v) in u.iter_mut().enumerate() {
            if !domain.mutable(j) {
                *v = 0.0;
            }
        }
        let len = u.iter().map(|v| v * v).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
        let mut p: Vec<f32> = x.iter().zip(&u).map(|(a, b)| a + delta * b / len).collect();
        domain.clip(x0, &mut p);
        for ((uj, pj), xj) in u.iter_mut().zip(&p).zip(x) {
            *uj = (pj - xj) / delta;
        }
        dirs.extend_from_slice(&u);
        domain.project(x0, &mut p);
        rows.extend_from_slice(&p);
    }
    let flags = q.adversarial(&rows)?;
    let f: Vec<f32> = flags.iter().map(|b| if *b { 1.0 } else { -1.0 }).collect();
    let mean = f.iter().sum::<f32>() / f.len().max(1) as f32;
    let mut grad = vec![0.0f32; d];
    for (i, fi) in f.iter().enumerate() {
        let w = if mean == 1.0 || mean == -1.0 {
            mean
        } else {
            fi - mean
        };
        if let Some(u) = dirs.get(i * d..(i + 1) * d) {
            for (g, uj) in grad.iter_mut().zip(u) {
                *g += w * uj;
            }
        }
    }
    let n = f.len().max(1) as f32;
    grad.iter_mut().for_each(|g| *g /= n);
    Ok(grad)
}
