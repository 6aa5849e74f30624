//! Labelled feature rows as the classic-ML gates consume them: features,
//! the model's class index per row, and column names.

use portcullis_runtime::Matrix;

/// Feature rows with labels already mapped to the model's class indices.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelledData {
    /// Features, one row per example.
    pub x: Matrix,
    /// Class index (into `Classifier::classes()`) per row.
    pub y: Vec<usize>,
    /// Feature names, one per column (may be empty).
    pub feature_names: Vec<String>,
    /// Extra numeric columns kept aside (e.g. a known-poisoned marker).
    pub extra: Vec<(String, Vec<f32>)>,
    /// Where the rows came from, for messages.
    pub source: String,
}

impl LabelledData {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.x.rows
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.x.rows == 0
    }

    /// Per-feature minimum and maximum over finite values.
    pub fn feature_ranges(&self) -> (Vec<f32>, Vec<f32>) {
        let mut lo = vec![f32::INFINITY; self.x.cols];
        let mut hi = vec![f32::NEG_INFINITY; self.x.cols];
        for i in 0..self.x.rows {
            for (j, v) in self.x.row(i).iter().enumerate() {
                if v.is_finite() {
                    if let (Some(l), Some(h)) = (lo.get_mut(j), hi.get_mut(j)) {
                        *l = l.min(*v);
                        *h = h.max(*v);
                    }
                }
            }
        }
        (lo, hi)
    }

    /// Per-feature standard deviation.
    pub fn feature_std(&self) -> Vec<f32> {
        let n = self.x.rows.max(1) as f64;
        let mut mean = vec![0.0f64; self.x.cols];
        for i in 0..self.x.rows {
            for (m, v) in mean.iter_mut().zip(self.x.row(i)) {
                *m += f64::from(*v) / n;
            }
        }
        let mut var = vec![0.0f64; self.x.cols];
        for i in 0..self.x.rows {
            for ((s, v), m) in var.iter_mut().zip(self.x.row(i)).zip(&mean) {
                let d = f64::from(*v) - m;
                *s += d * d / n;
            }
        }
        var.into_iter().map(|v| v.sqrt() as f32).collect()
    }

    /// Index of a feature by name.
    pub fn feature_index(&self, name: &str) -> Option<usize> {
        self.feature_names.iter().position(|n| n == name)
    }

    /// The rows at `idx`, in order.
    pub fn select(&self, idx: &[usize]) -> LabelledData {
        let mut data = Vec::with_capacity(idx.len() * self.x.cols);
        let mut y = Vec::with_capacity(idx.len());
        for &i in idx {
            data.extend_from_slice(self.x.row(i));
            y.push(self.y.get(i).copied().unwrap_or(0));
        }
        LabelledData {
            x: Matrix {
                data,
                rows: idx.len(),
                cols: self.x.cols,
            },
            y,
            feature_names: self.feature_names.clone(),
            extra: self
                .extra
                .iter()
                .map(|(n, v)| {
                    (
                        n.clone(),
                        idx.iter().map(|i| v.get(*i).copied().unwrap_or(0.0)).collect(),
                    )
                })
                .collect(),
            source: self.source.clone(),
        }
    }
}
