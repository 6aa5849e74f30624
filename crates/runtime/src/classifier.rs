//! The `Classifier` interface: a batch of feature rows in, class
//! probabilities out.
//!
//! Every classic-ML gate (performance, reference, fairness, robustness,
//! backdoor) is written against this one trait, so the same gate evaluates an
//! ONNX file, an HTTP endpoint or a subprocess. Black-box gates need only
//! [`Classifier::predict_proba`]; activation-based detectors use
//! [`Classifier::activations`] where the backend can expose a node.

use std::fmt;

/// A dense row-major matrix of `f32`: `rows × cols`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Matrix {
    /// Row-major values; `data.len() == rows * cols`.
    pub data: Vec<f32>,
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
}

impl Matrix {
    /// A matrix from row-major data.
    ///
    /// # Errors
    /// [`RuntimeError::Shape`] when `data.len() != rows * cols`.
    pub fn new(data: Vec<f32>, rows: usize, cols: usize) -> Result<Self, RuntimeError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(RuntimeError::Shape(format!(
                "{} values cannot form a {rows}×{cols} matrix",
                data.len()
            )));
        }
        Ok(Matrix { data, rows, cols })
    }

    /// A `rows × cols` matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Matrix {
            data: vec![0.0; rows * cols],
            rows,
            cols,
        }
    }

    /// Row `i`, or an empty slice when out of range.
    pub fn row(&self, i: usize) -> &[f32] {
        self.data
            .get(i * self.cols..(i + 1) * self.cols)
            .unwrap_or_default()
    }

    /// Row `i`, mutable; empty when out of range.
    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        let cols = self.cols;
        self.data.get_mut(i * cols..(i + 1) * cols).unwrap_or_default()
    }

    /// Index of the largest value in each row (first on ties; NaN never wins).
    pub fn argmax_rows(&self) -> Vec<usize> {
        (0..self.rows)
            .map(|i| {
                let mut best = 0;
                let mut best_v = f32::NEG_INFINITY;
                for (j, &v) in self.row(i).iter().enumerate() {
                    if v > best_v {
                        best_v = v;
                        best = j;
                    }
                }
                best
            })
            .collect()
    }
}

/// A class label as the model names it: skl2onnx emits integer or string
/// labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClassLabel {
    /// An integer label.
    Int(i64),
    /// A string label.
    Str(String),
}

impl fmt::Display for ClassLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClassLabel::Int(i) => write!(f, "{i}"),
            ClassLabel::Str(s) => f.write_str(s),
        }
    }
}

/// What a model takes as input.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct InputSignature {
    /// Number of features per row (after flattening).
    pub n_features: usize,
    /// Feature names, when the model declares one input per feature;
    /// empty for a single tensor input.
    pub names: Vec<String>,
    /// The per-row tensor shape, e.g. `[1, 8, 8]`, when known.
    pub shape: Option<Vec<usize>>,
}

/// Why a model could not be loaded or queried.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// Shapes do not fit.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// The model file could not be loaded (unsupported operator, bad file).
    #[error("cannot load model {path}: {message}")]
    Load {
        /// The model path or URL.
        path: String,
        /// What went wrong and what to do.
        message: String,
    },
    /// Inference failed or returned something unusable (NaN, wrong shape).
    #[error("inference failed: {0}")]
    Inference(String),
    /// A remote or subprocess backend failed after retries.
    #[error("backend unavailable: {0}")]
    Backend(String),
    /// The backend cannot do this (e.g. activations over HTTP).
    #[error("not supported by this backend: {0}")]
    Unsupported(String),
}

/// A classifier that can be queried in batches. Implementations must be
/// deterministic for the same input and safe to call from several threads.
pub trait Classifier: Send + Sync {
    /// The input the model expects.
    fn signature(&self) -> &InputSignature;

    /// The class labels, in probability-column order.
    fn classes(&self) -> &[ClassLabel];

    /// Class probabilities for each row of `x` (`x.cols == signature().n_features`):
    /// a `x.rows × classes().len()` matrix.
    ///
    /// # Errors
    /// [`RuntimeError`] when inference fails or the output is unusable.
    fn predict_proba(&self, x: &Matrix) -> Result<Matrix, RuntimeError>;

    /// Predicted class index per row: argmax of the probabilities.
    ///
    /// # Errors
    /// As [`Classifier::predict_proba`].
    fn predict(&self, x: &Matrix) -> Result<Vec<usize>, RuntimeError> {
        Ok(self.predict_proba(x)?.argmax_rows())
    }

    /// The output of an intermediate node (e.g. penultimate activations) for
    /// each row.
    ///
    /// # Errors
    /// [`RuntimeError::Unsupported`] by default.
    fn activations(&self, node: &str, _x: &Matrix) -> Result<Matrix, RuntimeError> {
        Err(RuntimeError::Unsupported(format!(
            "this backend cannot expose node '{node}'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_checks_shape_and_argmax_ignores_nan() {
        assert!(Matrix::new(vec![1.0; 5], 2, 3).is_err());
        let m = Matrix::new(vec![0.1, 0.9, f32::NAN, 0.2, 0.5, 0.5], 3, 2).unwrap();
        assert_eq!(m.argmax_rows(), vec![1, 1, 0]);
        assert_eq!(m.row(5), &[] as &[f32]);
    }
}
