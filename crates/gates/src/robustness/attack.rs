//! What every attack shares: a per-sample query budget, the result type,
//! and the final check that a reported adversarial example is real.
//!
//! An attack reports success only after [`verify`] has re-queried the model
//! on the projected example and checked the label, the ε-ball and the
//! domain; an attack's own bookkeeping is never trusted for the verdict.

use std::time::Instant;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::domain::{Domain, Norm};
use crate::ml::oracle::{AttackError, Oracle};

/// One attack's outcome on one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct AttackResult {
    /// The closest verified adversarial example found (attack coordinates),
    /// within ε or not.
    pub adversarial: Option<Vec<f32>>,
    /// Its distance to the clean input in the attack's norm (`∞` when none).
    pub distance: f32,
    /// True when a verified adversarial example lies within ε.
    pub success: bool,
    /// Rows queried for this sample.
    pub queries: u64,
    /// True when the per-sample time limit stopped the attack.
    pub time_limited: bool,
}

/// The per-sample budget: queries and wall time, on top of the shared
/// [`Oracle`].
pub struct SampleOracle<'o, 'm> {
    oracle: &'o Oracle<'m>,
    used: u64,
    max: u64,
    until: Option<Instant>,
    time_limited: bool,
    /// The clean input's label.
    pub y0: usize,
}

impl<'o, 'm> SampleOracle<'o, 'm> {
    /// A budget of `max` queries (and optionally a time limit) for one sample.
    pub fn new(oracle: &'o Oracle<'m>, y0: usize, max: u64, until: Option<Instant>) -> Self {
        SampleOracle {
            oracle,
            used: 0,
            max,
            until,
            time_limited: false,
            y0,
        }
    }

    /// Queries left.
    pub fn remaining(&self) -> u64 {
        self.max.saturating_sub(self.used)
    }

    /// Rows queried so far.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// True when no more queries may be made (budget or time).
    pub fn exhausted(&mut self) -> bool {
        if self.until.is_some_and(|u| Instant::now() >= u) {
            self.time_limited = true;
        }
        self.time_limited || self.used >= self.max
    }

    /// Whether the time limit stopped this sample.
    pub fn time_limited(&self) -> bool {
        self.time_limited
    }

    /// Probabilities for `rows` (flat); counts against the budget.
    ///
    /// # Errors
    /// As [`Oracle::proba`].
    pub fn proba(&mut self, rows: &[f32]) -> Result<portcullis_runtime::Matrix, AttackError> {
        let n = rows.len() / self.oracle.n_features().max(1);
        self.used += n as u64;
        self.oracle.proba(rows)
    }

    /// For each row, whether the model no longer predicts `y0`.
    ///
    /// # Errors
    /// As [`Oracle::proba`].
    pub fn adversarial(&mut self, rows: &[f32]) -> Result<Vec<bool>, AttackError> {
        let y0 = self.y0;
        Ok(self
            .proba(rows)?
            .argmax_rows()
            .into_iter()
            .map(|y| y != y0)
            .collect())
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.oracle.n_features()
    }
}

/// Projects `x` onto the domain, re-queries the model and checks label,
/// budget and domain. Returns the checked result.
///
/// # Errors
/// As [`Oracle::proba`].
pub fn verify(
    q: &mut SampleOracle<'_, '_>,
    domain: &Domain,
    x0: &[f32],
    candidate: Option<Vec<f32>>,
    norm: Norm,
    epsilon: f32,
) -> Result<AttackResult, AttackError> {
    let mut result = AttackResult {
        adversarial: None,
        distance: f32::INFINITY,
        success: false,
        queries: 0,
        time_limited: q.time_limited(),
    };
    if let Some(mut x) = candidate {
        domain.project(x0, &mut x);
        let adv = q.adversarial(&x)?.first().copied().unwrap_or(false);
        if adv && domain.violation(x0, &x).is_none() {
            let distance = norm.dist(&x, x0);
            result.success = distance <= epsilon * (1.0 + 1e-5) + 1e-7;
            result.distance = distance;
            result.adversarial = Some(x);
        }
    }
    result.queries = q.used();
    Ok(result)
}

/// Fills `out` with standard normal draws (Marsaglia's polar method: one
/// logarithm and no trigonometry per pair), so only `rand`'s uniform core
/// is needed. HopSkipJump's gradient estimate draws `d` of these per model
/// query, which made the sampler the attack's hottest code.
pub fn fill_gaussian(rng: &mut ChaCha8Rng, out: &mut [f32]) {
    for pair in out.chunks_mut(2) {
        let (u, v, s) = loop {
            let u: f64 = rng.gen_range(-1.0..1.0);
            let v: f64 = rng.gen_range(-1.0..1.0);
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                break (u, v, s);
            }
        };
        let m = (-2.0 * s.ln() / s).sqrt();
        for (slot, z) in pair.iter_mut().zip([u * m, v * m]) {
            *slot = z as f32;
        }
    }
}
