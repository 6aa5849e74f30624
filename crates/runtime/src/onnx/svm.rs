//! A native evaluator for `SVMClassifier` (ONNX-ML), the operator skl2onnx
//! emits for scikit-learn's `SVC`, `NuSVC` and `LinearSVC`. tract has no
//! implementation, so without this an SVM needed onnxruntime.
//!
//! Semantics follow the operator's definition and onnxruntime's reference:
//!
//! - **SVC mode** (`vectors_per_class` given): kernel values against every
//!   support vector (`LINEAR` x·s, `POLY` (γ x·s + c₀)^d, `RBF`
//!   exp(−γ‖x−s‖²), `SIGMOID` tanh(γ x·s + c₀), with `kernel_params` =
//!   [γ, c₀, d]); one decision value per class pair (i < j), combining
//!   class i's vectors with coefficient row j−1 and class j's with row i,
//!   plus `rho`; a positive value is a vote for i.
//! - **Probabilities** (`prob_a`/`prob_b` given): each pair's value goes
//!   through Platt's sigmoid 1/(1+exp(a·f+b)), clipped to [1e-7, 1−1e-7],
//!   and the pairwise estimates are coupled into class probabilities by
//!   method 2 of Wu, Lin & Weng (2004), as libsvm does.
//! - **Linear mode** (no support vectors): one score per class, x·w + rho.
//! - An SVC without `prob_a`/`prob_b` gives pairwise decisions, not class
//!   probabilities, and is refused (train it with `probability=True`).
//! - Scores are passed through `post_transform`.
//!
//! A `Scaler` directly in front (a `StandardScaler` pipeline) is applied
//! here too. Sizes are validated when the node is read, so a malformed file is a
//! load error, never an out-of-range read.

use tract_onnx::pb::NodeProto;

use super::lower::{attr, attr_str};
use super::post::Post;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kernel {
    Linear,
    Poly,
    Rbf,
    Sigmoid,
}

/// A parsed, validated SVM classifier.
#[derive(Debug, Clone)]
pub(crate) struct Svm {
    kernel: Kernel,
    gamma: f32,
    coef0: f32,
    degree: i32,
    n_classes: usize,
    n_features: usize,
    /// Support vectors, row-major `n_vectors × n_features` (empty in linear mode).
    vectors: Vec<f32>,
    /// First vector of each class, and how many.
    ranges: Vec<(usize, usize)>,
    n_vectors: usize,
    coefficients: Vec<f32>,
    rho: Vec<f32>,
    prob_a: Vec<f32>,
    prob_b: Vec<f32>,
    post: Post,
    /// A `Scaler` in front: `(x − offset) × scale`, per feature.
    scaler: Option<(Vec<f32>, Vec<f32>)>,
}

fn floats(n: &NodeProto, name: &str) -> Vec<f32> {
    attr(n, name).map(|a| a.floats.clone()).unwrap_or_default()
}

impl Svm {
    /// Parses an `SVMClassifier` node with `n_classes` labels over rows of
    /// `n_features`.
    pub(crate) fn from_node(n: &NodeProto, n_classes: usize, n_features: usize) -> Result<Self, String> {
        let kernel = match attr_str(n, "kernel_type").as_deref() {
            None | Some("LINEAR") => Kernel::Linear,
            Some("POLY") => Kernel::Poly,
            Some("RBF") => Kernel::Rbf,
            Some("SIGMOID") => Kernel::Sigmoid,
            Some(other) => return Err(format!("kernel_type {other} is not supported")),
        };
        let post = Post::from_node(n)?;
        let params = floats(n, "kernel_params");
        let per_class: Vec<i64> = attr(n, "vectors_per_class")
            .map(|a| a.ints.clone())
            .unwrap_or_default();
        let mut ranges = Vec::new();
        let mut n_vectors = 0usize;
        for &c in &per_class {
            let c = usize::try_from(c).map_err(|_| format!("vectors_per_class holds {c}"))?;
            ranges.push((n_vectors, c));
            n_vectors = n_vectors.checked_add(c).ok_or("vectors_per_class overflows")?;
        }
        let vectors = floats(n, "support_vectors");
        let coefficients = floats(n, "coefficients");
        let rho = floats(n, "rho");
        let prob_a = floats(n, "prob_a");
        let prob_b = floats(n, "prob_b");
        if n_classes < 2 {
            return Err("fewer than two classes".into());
        }
        let pairs = n_classes * (n_classes - 1) / 2;
        if n_vectors > 0 {
            if ranges.len() != n_classes {
                return Err(format!(
                    "vectors_per_class has {} entries for {n_classes} classes",
                    ranges.len()
                ));
            }
            if Some(vectors.len()) != n_vectors.checked_mul(n_features) {
                return Err(format!(
                    "support_vectors holds {} values, not {n_vectors} vectors × {n_features} features",
                    vectors.len()
                ));
            }
            if Some(coefficients.len()) != n_vectors.checked_mul(n_classes - 1) {
                return Err(format!(
                    "coefficients holds {} values, not {} × {n_vectors}",
                    coefficients.len(),
                    n_classes - 1
                ));
            }
            if rho.len() != pairs {
                return Err(format!("rho holds {} values for {pairs} class pairs", rho.len()));
            }
            if prob_a.len() != pairs || prob_b.len() != pairs {
                return Err(format!(
                    "prob_a/prob_b must hold {pairs} values each (an SVC has class probabilities only when \
                     trained with probability=True)"
                ));
            }
        } else {
            if Some(coefficients.len()) != n_classes.checked_mul(n_features) || rho.is_empty() {
                return Err(format!(
                    "linear mode needs {n_classes} × {n_features} coefficients and rho"
                ));
            }
        }
        Ok(Svm {
            kernel: if n_vectors > 0 { kernel } else { Kernel::Linear },
            gamma: params.first().copied().unwrap_or(0.0),
            coef0: params.get(1).copied().unwrap_or(0.0),
            degree: params.get(2).map_or(0, |d| *d as i32),
            n_classes,
            n_features,
            vectors,
            ranges,
            n_vectors,
            coefficients,
            rho,
            prob_a,
            prob_b,
            post,
            scaler: None,
        })
    }

    /// Puts a `Scaler` node (ONNX-ML: `(x − offset) × scale`, each either
    /// one value or one per feature) in front of the SVM.
    pub(crate) fn with_scaler(mut self, n: &NodeProto) -> Result<Self, String> {
        let widen = |v: Vec<f32>, name: &str, default: f32| -> Result<Vec<f32>, String> {
            match v.len() {
                0 => Ok(vec![default; self.n_features]),
                1 => Ok(vec![v.first().copied().unwrap_or(default); self.n_features]),
                l if l == self.n_features => Ok(v),
                l => Err(format!(
                    "Scaler {name} has {l} values for {} features",
                    self.n_features
                )),
            }
        };
        let offset = widen(floats(n, "offset"), "offset", 0.0)?;
        let scale = widen(floats(n, "scale"), "scale", 1.0)?;
        self.scaler = Some((offset, scale));
        Ok(self)
    }

    fn kernel(&self, x: &[f32], s: &[f32]) -> f32 {
        match self.kernel {
            Kernel::Linear => dot(x, s),
            Kernel::Poly => (self.gamma * dot(x, s) + self.coef0).powi(self.degree),
            Kernel::Rbf => {
                let d: f32 = x.iter().zip(s).map(|(a, b)| (a - b) * (a - b)).sum();
                (-self.gamma * d).exp()
            }
            Kernel::Sigmoid => (self.gamma * dot(x, s) + self.coef0).tanh(),
        }
    }

    /// Probabilities (or transformed scores) for one row, written into
    /// `out` (`n_classes` long).
    pub(crate) fn eval_row(&self, row: &[f32], out: &mut [f32]) -> Result<(), String> {
        if row.len() != self.n_features || out.len() != self.n_classes {
            return Err(format!(
                "the SVM takes {} features and gives {} classes",
                self.n_features, self.n_classes
            ));
        }
        let scaled: Vec<f32>;
        let row = match &self.scaler {
            Some((offset, scale)) => {
                scaled = row
                    .iter()
                    .zip(offset)
                    .zip(scale)
                    .map(|((x, o), s)| (x - o) * s)
                    .collect();
                scaled.as_slice()
            }
            None => row,
        };
        let k = self.n_classes;
        if self.n_vectors == 0 {
            let rho = self.rho.first().copied().unwrap_or(0.0);
            let mut scores: Vec<f32> = (0..k)
                .map(|c| {
                    let w = self
                        .coefficients
                        .get(c * self.n_features..(c + 1) * self.n_features)
                        .unwrap_or_default();
                    dot(row, w) + rho
                })
                .collect();
            self.finish(&mut scores, out);
            return Ok(());
        }
        let kernels: Vec<f32> = (0..self.n_vectors)
            .map(|v| {
                let s = self
                    .vectors
                    .get(v * self.n_features..(v + 1) * self.n_features)
                    .unwrap_or_default();
                self.kernel(row, s)
            })
            .collect();
        let part = |coef_row: usize, (start, len): (usize, usize)| -> f32 {
            let base = coef_row * self.n_vectors + start;
            let c = self.coefficients.get(base..base + len).unwrap_or_default();
            let kv = kernels.get(start..start + len).unwrap_or_default();
            dot(c, kv)
        };
        let mut decisions = Vec::with_capacity(k * (k - 1) / 2);
        for i in 0..k {
            for j in i + 1..k {
                let ri = self.ranges.get(i).copied().unwrap_or((0, 0));
                let rj = self.ranges.get(j).copied().unwrap_or((0, 0));
                let rho = self.rho.get(decisions.len()).copied().unwrap_or(0.0);
                decisions.push(rho + part(j - 1, ri) + part(i, rj));
            }
        }
        {
            let mut r = vec![vec![0f64; k]; k];
            let mut idx = 0;
            for i in 0..k {
                for j in i + 1..k {
                    let f = f64::from(decisions.get(idx).copied().unwrap_or(0.0));
                    let a = f64::from(self.prob_a.get(idx).copied().unwrap_or(0.0));
                    let b = f64::from(self.prob_b.get(idx).copied().unwrap_or(0.0));
                    let p = (1.0 / (1.0 + (a * f + b).exp())).clamp(1e-7, 1.0 - 1e-7);
                    if let Some(v) = r.get_mut(i).and_then(|row| row.get_mut(j)) {
                        *v = p;
                    }
                    if let Some(v) = r.get_mut(j).and_then(|row| row.get_mut(i)) {
                        *v = 1.0 - p;
                    }
                    idx += 1;
                }
            }
            let mut scores: Vec<f32> = couple(&r).iter().map(|&p| p as f32).collect();
            self.finish(&mut scores, out);
        }
        Ok(())
    }

    fn finish(&self, scores: &mut [f32], out: &mut [f32]) {
        self.post.apply(scores);
        for (o, s) in out.iter_mut().zip(scores.iter()) {
            *o = *s;
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Couples pairwise probabilities `r[i][j]` ≈ P(i | i or j) into class
/// probabilities: method 2 of Wu, Lin & Weng, "Probability Estimates for
/// Multi-class Classification by Pairwise Coupling" (JMLR 2004), with
/// libsvm's stopping rule (max error below 0.005/k, at most max(100, k)
/// iterations).
fn couple(r: &[Vec<f64>]) -> Vec<f64> {
    let k = r.len();
    let at = |i: usize, j: usize| r.get(i).and_then(|row| row.get(j)).copied().unwrap_or(0.0);
    let mut q = vec![vec![0f64; k]; k];
    for t in 0..k {
        for j in 0..k {
            if j == t {
                continue;
            }
            let rjt = at(j, t);
            if let Some(v) = q.get_mut(t).and_then(|row| row.get_mut(t)) {
                *v += rjt * rjt;
            }
            if let Some(v) = q.get_mut(t).and_then(|row| row.get_mut(j)) {
                *v = -rjt * at(t, j);
            }
        }
    }
    let qa =
        |q: &Vec<Vec<f64>>, i: usize, j: usize| q.get(i).and_then(|row| row.get(j)).copied().unwrap_or(0.0);
    let mut p = vec![1.0 / k as f64; k];
    let mut qp = vec![0f64; k];
    let eps = 0.005 / k as f64;
    for _ in 0..100.max(k) {
        let mut pqp = 0.0;
        for t in 0..k {
            let v: f64 = (0..k)
                .map(|j| qa(&q, t, j) * p.get(j).copied().unwrap_or(0.0))
                .sum();
            if let Some(x) = qp.get_mut(t) {
                *x = v;
            }
            pqp += p.get(t).copied().unwrap_or(0.0) * v;
        }
        let max_error = qp.iter().map(|v| (v - pqp).abs()).fold(0.0, f64::max);
        if max_error < eps {
            break;
        }
        for t in 0..k {
            let qtt = qa(&q, t, t);
            if qtt == 0.0 {
                continue;
            }
            let qpt = qp.get(t).copied().unwrap_or(0.0);
            let diff = (-qpt + pqp) / qtt;
            if let Some(x) = p.get_mut(t) {
                *x += diff;
            }
            pqp = (pqp + diff * (diff * qtt + 2.0 * qpt)) / ((1.0 + diff) * (1.0 + diff));
            for j in 0..k {
                if let Some(x) = qp.get_mut(j) {
                    *x = (*x + diff * qa(&q, t, j)) / (1.0 + diff);
                }
                if let Some(x) = p.get_mut(j) {
                    *x /= 1.0 + diff;
                }
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coupling_two_classes_returns_the_pairwise_estimate() {
        let p = couple(&[vec![0.0, 0.8], vec![0.2, 0.0]]);
        assert!((p[0] - 0.8).abs() < 1e-3 && (p[1] - 0.2).abs() < 1e-3, "{p:?}");
        let p = couple(&[vec![0.0, 0.5, 0.5], vec![0.5, 0.0, 0.5], vec![0.5, 0.5, 0.0]]);
        assert!(p.iter().all(|v| (v - 1.0 / 3.0).abs() < 1e-6), "{p:?}");
    }
}
