//! Training-data detectors over penultimate activations.
//!
//! **Activation clustering** (Chen et al., "Detecting Backdoor Attacks on
//! Deep Neural Networks by Activation Clustering", 2018): poisoned rows of a
//! target class are classified there for a different reason (the trigger)
//! than its clean rows, so the class's activations split into two clusters,
//! one small. Per class: centre, reduce to 10 dimensions (PCA here, ICA in
//! the paper), k-means with k = 2, and flag the class when the smaller
//! cluster holds at most `max_relative_size` of it and the split is clean
//! (silhouette at least `min_silhouette`).
//!
//! **Spectral signatures** (Tran, Li & Madry, "Spectral Signatures in
//! Backdoor Attacks", NeurIPS 2018): on centred representations of a class,
//! poisoned rows have large projections on the top singular vector. Each
//! row's score is that squared projection; the top `1.5·ε` share of each
//! class is suspicious. Its gate signal is the share of the class's total
//! score those rows hold (`concentration`), high when a poisoned
//! sub-population dominates the top direction.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Activation-clustering verdict for one class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterResult {
    /// Class index.
    pub class: usize,
    /// Rows of this class.
    pub rows: usize,
    /// Share of the class in the smaller cluster.
    pub relative_size: f32,
    /// Mean silhouette of the 2-clustering.
    pub silhouette: f32,
    /// Whether the class is flagged.
    pub flagged: bool,
    /// Row indices (into the caller's rows) of the smaller cluster.
    pub small_cluster: Vec<usize>,
}

/// Spectral-signature scores for one class.
#[derive(Debug, Clone, PartialEq)]
pub struct SpectralResult {
    /// Class index.
    pub class: usize,
    /// Share of the class's total score held by its top-scoring rows.
    pub concentration: f32,
    /// Row indices flagged (top `1.5·ε` share by score).
    pub flagged: Vec<usize>,
}

fn centred(rows: &[&[f32]]) -> Vec<Vec<f32>> {
    let h = rows.first().map_or(0, |r| r.len());
    let n = rows.len().max(1) as f32;
    let mut mean = vec![0.0f32; h];
    for r in rows {
        for (m, v) in mean.iter_mut().zip(r.iter()) {
            *m += v / n;
        }
    }
    rows.iter()
        .map(|r| r.iter().zip(&mean).map(|(v, m)| v - m).collect())
        .collect()
}

/// Top `k` principal directions of centred rows (power iteration with
/// deflation on the covariance).
fn principal_directions(x: &[Vec<f32>], k: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<f32>> {
    let h = x.first().map_or(0, Vec::len);
    let mut cov = vec![0.0f64; h * h];
    for r in x {
        for i in 0..h {
            let ri = f64::from(r.get(i).copied().unwrap_or(0.0));
            if ri == 0.0 {
                continue;
            }
            for j in i..h {
                if let Some(c) = cov.get_mut(i * h + j) {
                    *c += ri * f64::from(r.get(j).copied().unwrap_or(0.0));
                }
            }
        }
    }
    for i in 0..h {
        for j in 0..i {
            let v = cov.get(j * h + i).copied().unwrap_or(0.0);
            if let Some(c) = cov.get_mut(i * h + j) {
                *c = v;
            }
        }
    }
    let mut dirs: Vec<Vec<f64>> = Vec::new();
    for _ in 0..k.min(h) {
        let mut v: Vec<f64> = (0..h).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let mut lambda = 0.0;
        for _ in 0..100 {
            let mut w = vec![0.0f64; h];
            for (i, wi) in w.iter_mut().enumerate() {
                *wi = (0..h)
                    .map(|j| cov.get(i * h + j).copied().unwrap_or(0.0) * v.get(j).copied().unwrap_or(0.0))
                    .sum();
            }
            for u in &dirs {
                let dot: f64 = w.iter().zip(u).map(|(a, b)| a * b).sum();
                for (wi, ui) in w.iter_mut().zip(u) {
                    *wi -= dot * ui;
                }
            }
            let norm = w.iter().map(|a| a * a).sum::<f64>().sqrt();
            if norm <= 1e-12 {
                break;
            }
            lambda = norm;
            v = w.into_iter().map(|a| a / norm).collect();
        }
        if lambda <= 1e-12 {
            break;
        }
        dirs.push(v);
    }
    dirs.into_iter()
        .map(|d| d.into_iter().map(|a| a as f32).collect())
        .collect()
}

fn project(x: &[Vec<f32>], dirs: &[Vec<f32>]) -> Vec<Vec<f32>> {
    x.iter()
        .map(|r| {
            dirs.iter()
                .map(|d| r.iter().zip(d).map(|(a, b)| a * b).sum())
                .collect()
        })
        .collect()
}

fn sq(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// k-means with k = 2 (k-means++ seeding, Lloyd iterations).
fn kmeans2(x: &[Vec<f32>], rng: &mut ChaCha8Rng) -> Vec<usize> {
    let n = x.len();
    if n < 2 {
        return vec![0; n];
    }
    let first = rng.gen_range(0..n);
    let c0 = x.get(first).cloned().unwrap_or_default();
    let d: Vec<f32> = x.iter().map(|r| sq(r, &c0)).collect();
    let total: f32 = d.iter().sum();
    let mut pick = rng.gen_range(0.0..total.max(f32::MIN_POSITIVE));
    let mut second = n - 1;
    for (i, di) in d.iter().enumerate() {
        if pick < *di {
            second = i;
            break;
        }
        pick -= di;
    }
    let mut centres = [c0, x.get(second).cloned().unwrap_or_default()];
    let mut assign = vec![0usize; n];
    for _ in 0..100 {
        let mut changed = false;
        for (a, r) in assign.iter_mut().zip(x) {
            let c = usize::from(sq(r, &centres[1]) < sq(r, &centres[0]));
            if c != *a {
                *a = c;
                changed = true;
            }
        }
        for (k, centre) in centres.iter_mut().enumerate() {
            let members: Vec<&Vec<f32>> = x
                .iter()
                .zip(&assign)
                .filter(|(_, a)| **a == k)
                .map(|(r, _)| r)
                .collect();
            if members.is_empty() {
                continue;
            }
            let m = members.len() as f32;
            let dim = centre.len();
            *centre = (0..dim)
                .map(|j| {
                    members
                        .iter()
                        .map(|r| r.get(j).copied().unwrap_or(0.0))
                        .sum::<f32>()
                        / m
                })
                .collect();
        }
        if !changed {
            break;
        }
    }
    assign
}

/// Mean silhouette of a 2-clustering.
fn silhouette(x: &[Vec<f32>], assign: &[usize]) -> f32 {
    let n = x.len();
    let mut total = 0.0f32;
    let mut counted = 0usize;
    for i in 0..n {
        let (mut same, mut ns, mut other, mut no) = (0.0f32, 0usize, 0.0f32, 0usize);
        let (Some(xi), Some(ai)) = (x.get(i), assign.get(i)) else {
            continue;
        };
        for (j, (xj, aj)) in x.iter().zip(assign).enumerate() {
            if i == j {
                continue;
            }
            let dist = sq(xi, xj).sqrt();
            if aj == ai {
                same += dist;
                ns += 1;
            } else {
                other += dist;
                no += 1;
            }
        }
        if ns == 0 || no == 0 {
            continue;
        }
        let a = same / ns as f32;
        let b = other / no as f32;
        let s = (b - a) / a.max(b).max(f32::MIN_POSITIVE);
        total += s;
        counted += 1;
    }
    if counted == 0 {
        0.0
    } else {
        total / counted as f32
    }
}

/// Activation clustering of one class's activation rows.
pub fn activation_clustering(
    class: usize,
    acts: &[&[f32]],
    max_relative_size: f32,
    min_silhouette: f32,
    rng: &mut ChaCha8Rng,
) -> ClusterResult {
    let x = centred(acts);
    let dirs = principal_directions(&x, 10, rng);
    let z = project(&x, &dirs);
    let assign = kmeans2(&z, rng);
    let ones = assign.iter().filter(|a| **a == 1).count();
    let small = if ones * 2 <= assign.len() { 1 } else { 0 };
    let small_cluster: Vec<usize> = assign
        .iter()
        .enumerate()
        .filter(|(_, a)| **a == small)
        .map(|(i, _)| i)
        .collect();
    let relative_size = small_cluster.len() as f32 / acts.len().max(1) as f32;
    let sil = silhouette(&z, &assign);
    ClusterResult {
        class,
        rows: acts.len(),
        relative_size,
        silhouette: sil,
        flagged: relative_size > 0.0 && relative_size <= max_relative_size && sil >= min_silhouette,
        small_cluster,
    }
}

/// Spectral signature of one class's activation rows.
pub fn spectral_signature(
    class: usize,
    acts: &[&[f32]],
    epsilon: f32,
    rng: &mut ChaCha8Rng,
) -> SpectralResult {
    let x = centred(acts);
    let dirs = principal_directions(&x, 1, rng);
    let scores: Vec<f32> = match dirs.first() {
        Some(v) => x
            .iter()
            .map(|r| r.iter().zip(v).map(|(a, b)| a * b).sum::<f32>().powi(2))
            .collect(),
        None => vec![0.0; x.len()],
    };
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| {
        scores
            .get(*b)
            .unwrap_or(&0.0)
            .total_cmp(scores.get(*a).unwrap_or(&0.0))
    });
    let k = ((1.5 * epsilon * scores.len() as f32).round() as usize).min(scores.len());
    let flagged: Vec<usize> = order.iter().take(k).copied().collect();
    let total: f32 = scores.iter().sum();
    let top: f32 = flagged
        .iter()
        .map(|i| scores.get(*i).copied().unwrap_or(0.0))
        .sum();
    SpectralResult {
        class,
        concentration: if total > 0.0 { top / total } else { 0.0 },
        flagged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_small_separate_subpopulation_is_clustered_and_scored_out() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut rows: Vec<Vec<f32>> = (0..90)
            .map(|_| (0..6).map(|_| rng.gen_range(-1.0..1.0)).collect())
            .collect();
        for _ in 0..10 {
            rows.push(
                (0..6)
                    .map(|j| if j == 2 { 8.0 } else { rng.gen_range(-1.0..1.0) })
                    .collect(),
            );
        }
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let ac = activation_clustering(3, &refs, 0.35, 0.1, &mut rng);
        assert!(ac.flagged, "{ac:?}");
        assert_eq!(ac.small_cluster, (90..100).collect::<Vec<_>>());
        let sp = spectral_signature(3, &refs, 0.1, &mut rng);
        assert_eq!(sp.flagged.len(), 15);
        assert!((90..100).all(|i| sp.flagged.contains(&i)));
        let clean: Vec<&[f32]> = rows.iter().take(90).map(Vec::as_slice).collect();
        let ac = activation_clustering(3, &clean, 0.35, 0.1, &mut rng);
        let sp2 = spectral_signature(3, &clean, 0.1, &mut rng);
        assert!(
            sp.concentration > sp2.concentration,
            "{} vs {}",
            sp.concentration,
            sp2.concentration
        );
        assert!(!ac.flagged || ac.silhouette < 0.5, "{ac:?}");
    }
}
