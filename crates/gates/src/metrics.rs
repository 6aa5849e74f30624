//! Classification metrics with scikit-learn's definitions, shared by the
//! `performance`, `reference` and `fairness` gates.
//!
//! Every function takes class indices (`0..k`, in the model's probability
//! column order) and optional per-row weights, and follows the matching
//! `sklearn.metrics` function: a zero denominator gives 0 where scikit-learn
//! answers 0 with a warning (`zero_division="warn"`), and `None` where the
//! metric is undefined (ROC-AUC with a single class present), so callers can
//! say so instead of reporting a number.

/// A weighted confusion matrix: `m[t][p]` is the weight of rows with true
/// class `t` predicted as `p`.
#[derive(Debug, Clone, PartialEq)]
pub struct Confusion {
    /// Number of classes.
    pub k: usize,
    /// Row-major `k × k` weights.
    pub cells: Vec<f64>,
}

impl Confusion {
    /// Builds the matrix; rows with an index `>= k` are ignored (callers
    /// validate labels first).
    pub fn new(k: usize, y_true: &[usize], y_pred: &[usize], weights: Option<&[f64]>) -> Self {
        let mut cells = vec![0.0; k * k];
        for (i, (&t, &p)) in y_true.iter().zip(y_pred).enumerate() {
            if t < k && p < k {
                if let Some(c) = cells.get_mut(t * k + p) {
                    *c += weight(weights, i);
                }
            }
        }
        Confusion { k, cells }
    }

    /// The weight at (true `t`, predicted `p`).
    pub fn get(&self, t: usize, p: usize) -> f64 {
        self.cells.get(t * self.k + p).copied().unwrap_or(0.0)
    }

    /// Total weight.
    pub fn total(&self) -> f64 {
        self.cells.iter().sum()
    }

    /// Weight of rows whose true class is `c` (support).
    pub fn support(&self, c: usize) -> f64 {
        (0..self.k).map(|p| self.get(c, p)).sum()
    }

    /// Weight of rows predicted as `c`.
    pub fn predicted(&self, c: usize) -> f64 {
        (0..self.k).map(|t| self.get(t, c)).sum()
    }

    /// Classes present in the true or predicted labels (scikit-learn's
    /// `unique_labels(y_true, y_pred)`).
    pub fn present(&self) -> Vec<usize> {
        (0..self.k)
            .filter(|&c| self.support(c) > 0.0 || self.predicted(c) > 0.0)
            .collect()
    }

    /// The matrix as nested rows.
    pub fn rows(&self) -> Vec<Vec<f64>> {
        (0..self.k)
            .map(|t| (0..self.k).map(|p| self.get(t, p)).collect())
            .collect()
    }
}

fn weight(weights: Option<&[f64]>, i: usize) -> f64 {
    weights.and_then(|w| w.get(i).copied()).unwrap_or(1.0)
}

fn ratio(num: f64, den: f64) -> f64 {
    if den > 0.0 {
        num / den
    } else {
        0.0
    }
}

/// `accuracy_score`.
pub fn accuracy(c: &Confusion) -> f64 {
    ratio((0..c.k).map(|i| c.get(i, i)).sum(), c.total())
}

/// `balanced_accuracy_score`: the mean recall over classes with support.
pub fn balanced_accuracy(c: &Confusion) -> f64 {
    let recalls: Vec<f64> = (0..c.k)
        .filter(|&i| c.support(i) > 0.0)
        .map(|i| c.get(i, i) / c.support(i))
        .collect();
    ratio(recalls.iter().sum(), recalls.len() as f64)
}

/// Precision, recall and F1 of one class treated as positive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prf {
    /// Precision.
    pub precision: f64,
    /// Recall.
    pub recall: f64,
    /// F1.
    pub f1: f64,
}

/// Precision, recall and F1 for class `pos` (`average="binary"`).
pub fn prf(c: &Confusion, pos: usize) -> Prf {
    let tp = c.get(pos, pos);
    let precision = ratio(tp, c.predicted(pos));
    let recall = ratio(tp, c.support(pos));
    // scikit-learn computes F1 from counts: 2tp / (2tp + fp + fn).
    let f1 = ratio(2.0 * tp, c.predicted(pos) + c.support(pos));
    Prf {
        precision,
        recall,
        f1,
    }
}

/// Macro and support-weighted averages of [`prf`] over the classes present.
pub fn prf_averages(c: &Confusion) -> (Prf, Prf) {
    let labels = c.present();
    let per: Vec<(Prf, f64)> = labels.iter().map(|&l| (prf(c, l), c.support(l))).collect();
    let n = per.len() as f64;
    let total: f64 = per.iter().map(|(_, s)| s).sum();
    let avg = |f: fn(&Prf) -> f64| -> (f64, f64) {
        let m = ratio(per.iter().map(|(p, _)| f(p)).sum(), n);
        let w = ratio(per.iter().map(|(p, s)| f(p) * s).sum(), total);
        (m, w)
    };
    let (pm, pw) = avg(|p| p.precision);
    let (rm, rw) = avg(|p| p.recall);
    let (fm, fw) = avg(|p| p.f1);
    (
        Prf {
            precision: pm,
            recall: rm,
            f1: fm,
        },
        Prf {
            precision: pw,
            recall: rw,
            f1: fw,
        },
    )
}

/// Binary ROC-AUC of `scores` for `positive[i]` (`roc_auc_score` with
/// scikit-learn's trapezoidal rule over tied scores). `None` when only one
/// class is present.
pub fn roc_auc_binary(scores: &[f64], positive: &[bool], weights: Option<&[f64]>) -> Option<f64> {
    let mut order: Vec<usize> = (0..scores.len().min(positive.len())).collect();
    order.sort_by(|&a, &b| {
        let (sa, sb) = (
            scores.get(a).copied().unwrap_or(0.0),
            scores.get(b).copied().unwrap_or(0.0),
        );
        sb.total_cmp(&sa)
    });
    let (mut tp, mut fp) = (0.0f64, 0.0f64);
    let (mut prev_tp, mut prev_fp) = (0.0f64, 0.0f64);
    let mut area = 0.0;
    let mut idx = 0;
    while idx < order.len() {
        let s = order
            .get(idx)
            .and_then(|&i| scores.get(i))
            .copied()
            .unwrap_or(0.0);
        // Consume every row tied at this score before adding a curve point.
        while let Some(&i) = order.get(idx) {
            if scores.get(i).copied().unwrap_or(0.0) != s {
                break;
            }
            let w = weight(weights, i);
            if positive.get(i).copied().unwrap_or(false) {
                tp += w;
            } else {
                fp += w;
            }
            idx += 1;
        }
        area += (fp - prev_fp) * (tp + prev_tp) / 2.0;
        prev_tp = tp;
        prev_fp = fp;
    }
    if tp <= 0.0 || fp <= 0.0 {
        return None;
    }
    Some(area / (tp * fp))
}

/// ROC-AUC from a `rows × k` probability matrix: the positive column for
/// two classes, else one-vs-rest macro average (`multi_class="ovr"`).
/// `None` when a class has no positive or no negative row.
pub fn roc_auc(
    proba: &[Vec<f64>],
    y_true: &[usize],
    k: usize,
    weights: Option<&[f64]>,
    pos: usize,
) -> Option<f64> {
    let column = |c: usize| -> Vec<f64> { proba.iter().map(|r| r.get(c).copied().unwrap_or(0.0)).collect() };
    if k == 2 {
        let positive: Vec<bool> = y_true.iter().map(|&t| t == pos).collect();
        return roc_auc_binary(&column(pos), &positive, weights);
    }
    let mut sum = 0.0;
    for c in 0..k {
        let positive: Vec<bool> = y_true.iter().map(|&t| t == c).collect();
        sum += roc_auc_binary(&column(c), &positive, weights)?;
    }
    Some(sum / k as f64)
}

/// `log_loss` with scikit-learn's handling: probabilities clipped to
/// `[eps, 1 - eps]` (float64 machine epsilon) and each row renormalised.
pub fn log_loss(proba: &[Vec<f64>], y_true: &[usize], weights: Option<&[f64]>) -> f64 {
    let eps = f64::EPSILON;
    let mut total = 0.0;
    let mut wsum = 0.0;
    for (i, (row, &t)) in proba.iter().zip(y_true).enumerate() {
        let clipped: Vec<f64> = row.iter().map(|p| p.clamp(eps, 1.0 - eps)).collect();
        let s: f64 = clipped.iter().sum();
        let p = clipped.get(t).copied().unwrap_or(eps) / s;
        let w = weight(weights, i);
        total -= w * p.ln();
        wsum += w;
    }
    ratio(total, wsum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_accuracy_and_balanced_accuracy() {
        let t = [0, 0, 0, 1];
        let p = [0, 0, 1, 1];
        let c = Confusion::new(2, &t, &p, None);
        assert_eq!(accuracy(&c), 0.75);
        assert!((balanced_accuracy(&c) - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        let r = prf(&c, 1);
        assert_eq!((r.precision, r.recall), (0.5, 1.0));
        assert!((r.f1 - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn auc_handles_ties_like_the_trapezoid() {
        // One positive tied with one negative: half credit.
        assert_eq!(roc_auc_binary(&[0.5, 0.5], &[true, false], None), Some(0.5));
        assert_eq!(roc_auc_binary(&[0.9, 0.1], &[true, false], None), Some(1.0));
        assert_eq!(roc_auc_binary(&[0.9, 0.1], &[true, true], None), None);
    }

    #[test]
    fn log_loss_clips_zero_probabilities() {
        let l = log_loss(&[vec![1.0, 0.0]], &[1], None);
        assert!((l - (-(f64::EPSILON).ln())).abs() < 1e-6, "{l}");
    }
}
