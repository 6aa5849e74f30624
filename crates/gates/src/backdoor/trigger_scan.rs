//! Trigger scan (black-box): stamp small candidate triggers on clean inputs
//! and measure how many flip into each class.
//!
//! A backdoor (BadNets, Gu et al. 2017) is a small input pattern that sends
//! any input to one target class. A clean model has no such pattern: a
//! small patch or one extreme feature value changes few predictions, and
//! those it does change scatter over classes. So a candidate that moves a
//! large share of inputs of *other* classes into *one* class is evidence of
//! a planted trigger. Candidates: image patches of side 1–4 at the corners
//! and on a grid (all positions on small images), filled with the domain
//! minimum, maximum, or a min/max checkerboard. Tabular candidates and
//! conjunctions are [`super::tabular`]'s.

use std::fmt;

use crate::ml::oracle::{AttackError, Oracle};

/// A candidate trigger: features set to fixed values.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// (feature index, value) pairs.
    pub cells: Vec<(usize, f32)>,
    /// Human-readable description, including the location.
    pub description: String,
}

impl Trigger {
    /// Stamps the trigger on a row.
    pub fn stamp(&self, x: &mut [f32]) {
        for &(j, v) in &self.cells {
            if let Some(slot) = x.get_mut(j) {
                *slot = v;
            }
        }
    }

    /// Number of features the trigger sets.
    pub fn size(&self) -> usize {
        self.cells.len()
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

/// How one candidate moved the inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanHit {
    /// The candidate.
    pub trigger: Trigger,
    /// The class it moved the most inputs into.
    pub class: usize,
    /// Share of inputs not predicted as `class` before stamping that are
    /// predicted as `class` after.
    pub flip_rate: f32,
}

/// Image patch candidates.
pub fn image_candidates(shape: [usize; 3], lo: f32, hi: f32) -> Vec<Trigger> {
    let [c, h, w] = shape;
    let mut out = Vec::new();
    for size in 1..=4usize.min(h).min(w) {
        let rows = h - size + 1;
        let cols = w - size + 1;
        let mut positions = Vec::new();
        if rows * cols <= 81 {
            for r in 0..rows {
                for col in 0..cols {
                    positions.push((r, col));
                }
            }
        } else {
            let step_r = (rows - 1).div_ceil(7).max(1);
            let step_c = (cols - 1).div_ceil(7).max(1);
            for r in (0..rows).step_by(step_r).chain([rows - 1]) {
                for col in (0..cols).step_by(step_c).chain([cols - 1]) {
                    positions.push((r, col));
                }
            }
            positions.sort_unstable();
            positions.dedup();
        }
        for &(r, col) in &positions {
            let fills: &[&str] = if size == 1 {
                &["max", "min"]
            } else {
                &["max", "min", "checkerboard"]
            };
            for fill in fills {
                let mut cells = Vec::with_capacity(c * size * size);
                for ch in 0..c {
                    for dr in 0..size {
                        for dc in 0..size {
                            let v = match *fill {
                                "max" => hi,
                                "min" => lo,
                                _ if (dr + dc) % 2 == 0 => hi,
                                _ => lo,
                            };
                            cells.push((ch * h * w + (r + dr) * w + col + dc, v));
                        }
                    }
                }
                out.push(Trigger {
                    cells,
                    description: format!("{size}×{size} {fill} patch at row {r}, column {col}"),
                });
            }
        }
    }
    out
}

/// Measures each candidate on `rows` (flat clean inputs) whose clean
/// predictions are `clean_pred`. `on_done` is called after each candidate.
///
/// # Errors
/// As [`Oracle::proba`].
pub fn scan(
    oracle: &Oracle<'_>,
    rows: &[f32],
    clean_pred: &[usize],
    candidates: &[Trigger],
    on_done: &(dyn Fn() + Sync),
) -> Result<Vec<ScanHit>, AttackError> {
    use rayon::prelude::*;
    let d = oracle.n_features().max(1);
    let k = oracle.n_classes();
    let not_c: Vec<usize> = (0..k)
        .map(|c| clean_pred.iter().filter(|p| **p != c).count())
        .collect();
    candidates
        .par_iter()
        .map(|t| {
            let mut stamped = rows.to_vec();
            for r in stamped.chunks_mut(d) {
                t.stamp(r);
            }
            let pred = oracle.labels(&stamped)?;
            let mut flips = vec![0usize; k];
            for (p, c0) in pred.iter().zip(clean_pred) {
                if p != c0 {
                    if let Some(f) = flips.get_mut(*p) {
                        *f += 1;
                    }
                }
            }
            let (class, rate) = flips
                .iter()
                .enumerate()
                .map(|(c, f)| (c, *f as f32 / not_c.get(c).copied().unwrap_or(0).max(1) as f32))
                .fold((0, -1.0f32), |best, cur| if cur.1 > best.1 { cur } else { best });
            on_done();
            Ok(ScanHit {
                trigger: t.clone(),
                class,
                flip_rate: rate.max(0.0),
            })
        })
        .collect()
}

/// The strongest hit, preferring smaller triggers on ties.
pub fn strongest(hits: &[ScanHit]) -> Option<&ScanHit> {
    hits.iter().max_by(|a, b| {
        a.flip_rate
            .total_cmp(&b.flip_rate)
            .then(b.trigger.size().cmp(&a.trigger.size()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_candidates_cover_every_position_of_a_small_image() {
        let c = image_candidates([1, 8, 8], 0.0, 16.0);
        // sizes 1..4: 64·2 + 49·3 + 36·3 + 25·3 candidates
        assert_eq!(c.len(), 64 * 2 + 49 * 3 + 36 * 3 + 25 * 3);
        let br = c
            .iter()
            .find(|t| t.description == "3×3 max patch at row 5, column 5")
            .unwrap();
        assert_eq!(br.size(), 9);
        assert!(br.cells.contains(&(63, 16.0)));
        let big = image_candidates([3, 32, 32], 0.0, 1.0);
        assert!(big.len() < 2000, "{}", big.len());
    }
}
