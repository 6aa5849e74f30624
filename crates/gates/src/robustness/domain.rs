//! The valid input domain an adversarial example must stay in, and the
//! norms perturbations are measured in.
//!
//! An adversarial example outside the domain is not an attack on the model
//! in production: a pixel above the sensor's maximum, an age that changed, a
//! one-hot group with two hot entries. Every candidate an attack queries is
//! first projected here, and every reported example is checked against it.

use std::fmt;

/// The norm a perturbation budget is measured in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    /// Euclidean.
    L2,
    /// Largest absolute coordinate change.
    Linf,
}

impl Norm {
    /// The distance between `a` and `b` in this norm.
    pub fn dist(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Norm::L2 => a
                .iter()
                .zip(b)
                .map(|(x, y)| {
                    let d = f64::from(x - y);
                    d * d
                })
                .sum::<f64>()
                .sqrt() as f32,
            Norm::Linf => a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max),
        }
    }

    /// The spec name (`l2`, `linf`).
    pub fn as_str(self) -> &'static str {
        match self {
            Norm::L2 => "l2",
            Norm::Linf => "linf",
        }
    }
}

impl fmt::Display for Norm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-feature constraints, in attack coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    /// Lower bound per feature.
    pub lo: Vec<f32>,
    /// Upper bound per feature.
    pub hi: Vec<f32>,
    /// Features an attacker cannot change (age, sex, …).
    pub immutable: Vec<bool>,
    /// Features that must stay integers in raw units.
    pub integer: Vec<bool>,
    /// Groups of features that form one one-hot encoded value.
    pub one_hot: Vec<Vec<usize>>,
    /// Raw units per attack unit, per feature (1 unless ε is in std units).
    pub scale: Vec<f32>,
}

impl Domain {
    /// A box `[lo, hi]` on every one of `n` features, nothing else.
    pub fn boxed(n: usize, lo: f32, hi: f32) -> Self {
        Domain {
            lo: vec![lo; n],
            hi: vec![hi; n],
            immutable: vec![false; n],
            integer: vec![false; n],
            one_hot: Vec::new(),
            scale: vec![1.0; n],
        }
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.lo.len()
    }

    /// True when there are no features.
    pub fn is_empty(&self) -> bool {
        self.lo.is_empty()
    }

    /// True for features an attack may change.
    pub fn mutable(&self, j: usize) -> bool {
        !self.immutable.get(j).copied().unwrap_or(true) && !self.in_one_hot_fixed(j)
    }

    fn in_one_hot_fixed(&self, j: usize) -> bool {
        self.one_hot
            .iter()
            .any(|g| g.contains(&j) && g.iter().any(|k| self.immutable.get(*k).copied().unwrap_or(true)))
    }

    /// The mean width of the box over mutable features (for step sizes).
    pub fn mean_range(&self) -> f32 {
        let (sum, n) = self
            .lo
            .iter()
            .zip(&self.hi)
            .enumerate()
            .filter(|(j, _)| self.mutable(*j))
            .fold((0.0f64, 0usize), |(s, n), (_, (l, h))| {
                (s + f64::from(h - l), n + 1)
            });
        if n == 0 {
            1.0
        } else {
            (sum / n as f64) as f32
        }
    }

    /// Clips `x` to the box and resets immutable features to `x0`; cheap and
    /// continuous, so attacks use it while searching.
    pub fn clip(&self, x0: &[f32], x: &mut [f32]) {
        for (j, v) in x.iter_mut().enumerate() {
            if !self.mutable(j) {
                *v = x0.get(j).copied().unwrap_or(*v);
                continue;
            }
            let (lo, hi) = (
                self.lo.get(j).copied().unwrap_or(*v),
                self.hi.get(j).copied().unwrap_or(*v),
            );
            *v = v.clamp(lo, hi);
        }
    }

    /// [`Domain::clip`] plus the discrete constraints: integers rounded in raw
    /// units, each one-hot group set to its largest entry.
    pub fn project(&self, x0: &[f32], x: &mut [f32]) {
        self.clip(x0, x);
        for (j, v) in x.iter_mut().enumerate() {
            if self.integer.get(j).copied().unwrap_or(false) && self.mutable(j) {
                let s = self.scale.get(j).copied().unwrap_or(1.0);
                let lo = self.lo.get(j).copied().unwrap_or(*v);
                let hi = self.hi.get(j).copied().unwrap_or(*v);
                *v = ((*v * s).round() / s).clamp(lo, hi);
            }
        }
        for group in &self.one_hot {
            if group.iter().any(|j| !self.mutable(*j)) {
                continue;
            }
            let mut best = None;
            let mut best_v = f32::NEG_INFINITY;
            for &j in group {
                if let Some(&v) = x.get(j) {
                    if v > best_v {
                        best_v = v;
                        best = Some(j);
                    }
                }
            }
            for &j in group {
                let s = self.scale.get(j).copied().unwrap_or(1.0);
                if let Some(v) = x.get_mut(j) {
                    *v = if Some(j) == best { 1.0 / s } else { 0.0 };
                }
            }
        }
    }

    /// Why `x` is not a valid perturbation of `x0`, if it is not.
    pub fn violation(&self, x0: &[f32], x: &[f32]) -> Option<String> {
        const TOL: f32 = 1e-4;
        for (j, (&v, &v0)) in x.iter().zip(x0).enumerate() {
            if !v.is_finite() {
                return Some(format!("feature {j} is not finite"));
            }
            if !self.mutable(j) && (v - v0).abs() > TOL * v0.abs().max(1.0) {
                return Some(format!("immutable feature {j} changed from {v0} to {v}"));
            }
            let lo = self.lo.get(j).copied().unwrap_or(v);
            let hi = self.hi.get(j).copied().unwrap_or(v);
            let slack = TOL * (hi - lo).abs().max(1.0);
            if self.mutable(j) && (v < lo - slack || v > hi + slack) {
                return Some(format!("feature {j} = {v} is outside [{lo}, {hi}]"));
            }
            if self.integer.get(j).copied().unwrap_or(false) {
                let raw = v * self.scale.get(j).copied().unwrap_or(1.0);
                if (raw - raw.round()).abs() > 1e-3 {
                    return Some(format!("integer feature {j} = {raw} is not an integer"));
                }
            }
        }
        for group in &self.one_hot {
            let hot = group
                .iter()
                .filter(|j| {
                    let s = self.scale.get(**j).copied().unwrap_or(1.0);
                    x.get(**j).is_some_and(|v| (v * s - 1.0).abs() < 1e-3)
                })
                .count();
            if hot != 1 {
                return Some(format!("one-hot group {group:?} has {hot} hot entries"));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_keeps_immutables_integers_and_one_hot_valid() {
        let mut d = Domain::boxed(5, 0.0, 10.0);
        d.immutable[0] = true;
        d.integer[1] = true;
        d.one_hot = vec![vec![2, 3, 4]];
        let x0 = [3.0, 2.0, 1.0, 0.0, 0.0];
        let mut x = [5.0, 2.6, 0.2, 0.7, 0.1];
        d.project(&x0, &mut x);
        assert_eq!(x, [3.0, 3.0, 0.0, 1.0, 0.0]);
        assert_eq!(d.violation(&x0, &x), None);
        assert!(d.violation(&x0, &[4.0, 3.0, 0.0, 1.0, 0.0]).is_some());
        assert!(d.violation(&x0, &[3.0, 3.0, 1.0, 1.0, 0.0]).is_some());
    }

    #[test]
    fn norms_match_hand_computed_values() {
        assert!((Norm::L2.dist(&[0.0, 0.0], &[3.0, 4.0]) - 5.0).abs() < 1e-6);
        assert_eq!(Norm::Linf.dist(&[0.0, 0.0], &[3.0, -4.0]), 4.0);
    }
}
