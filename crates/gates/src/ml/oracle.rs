//! The attacks' only view of a model: a checked, counted, deadline-aware
//! query function in the attack's coordinates.
//!
//! Attacks never call a [`Classifier`] directly. Every query goes through
//! [`Oracle`], which (1) maps attack coordinates back to raw features when
//! ε is measured in per-feature standard deviations, (2) rejects outputs
//! that are the wrong shape or hold NaN/∞ — a model that answers garbage
//! must stop the gate, not look robust — (3) counts queries, and (4) stops
//! once the gate's deadline has passed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use portcullis_runtime::{Classifier, Matrix};

/// Why an attack or detector stopped without a result.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    /// The model failed or answered something unusable.
    #[error("the model failed: {0}")]
    Model(String),
    /// The deadline passed.
    #[error("deadline passed")]
    Deadline,
    /// Inputs do not fit the model or each other.
    #[error("{0}")]
    Input(String),
}

/// A checked, counted view of a classifier, in attack coordinates
/// (`raw = z * scale`).
pub struct Oracle<'a> {
    model: &'a dyn Classifier,
    scale: Option<Vec<f32>>,
    n_classes: usize,
    n_features: usize,
    deadline: Option<Instant>,
    queries: AtomicU64,
}

impl<'a> Oracle<'a> {
    /// An oracle over `model`. `scale`, when given, maps attack coordinates
    /// to raw features feature by feature.
    ///
    /// # Errors
    /// [`AttackError::Input`] when the model declares no classes or `scale`
    /// has the wrong length or a non-positive entry.
    pub fn new(
        model: &'a dyn Classifier,
        n_features: usize,
        scale: Option<Vec<f32>>,
        deadline: Option<Instant>,
    ) -> Result<Self, AttackError> {
        let n_classes = model.classes().len();
        if n_classes < 2 {
            return Err(AttackError::Input(format!(
                "the model declares {n_classes} class(es); a classifier needs at least 2"
            )));
        }
        if let Some(s) = &scale {
            if s.len() != n_features || s.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(AttackError::Input(
                    "per-feature scale must be positive and one per feature".into(),
                ));
            }
        }
        Ok(Oracle {
            model,
            scale,
            n_classes,
            n_features,
            deadline,
            queries: AtomicU64::new(0),
        })
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Number of features per row.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Total rows queried so far.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// True once the deadline has passed.
    pub fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Maps raw features to attack coordinates.
    pub fn to_attack(&self, raw: &[f32]) -> Vec<f32> {
        match &self.scale {
            Some(s) => raw.iter().zip(s).map(|(v, s)| v / s).collect(),
            None => raw.to_vec(),
        }
    }

    /// Maps attack coordinates to raw features.
    pub fn to_raw(&self, z: &[f32]) -> Vec<f32> {
        match &self.scale {
            Some(s) => z.iter().zip(s).map(|(v, s)| v * s).collect(),
            None => z.to_vec(),
        }
    }

    /// Class probabilities for `rows` (flat, row-major, attack coordinates).
    ///
    /// # Errors
    /// [`AttackError::Deadline`] after the deadline; [`AttackError::Model`]
    /// when inference fails or returns a wrong-shaped or non-finite output.
    pub fn proba(&self, rows: &[f32]) -> Result<Matrix, AttackError> {
        if self.past_deadline() {
            return Err(AttackError::Deadline);
        }
        let d = self.n_features.max(1);
        let n = rows.len() / d;
        if n * d != rows.len() {
            return Err(AttackError::Input(format!(
                "{} values do not form rows of {d} features",
                rows.len()
            )));
        }
        let data = match &self.scale {
            Some(s) => rows
                .chunks(d)
                .flat_map(|r| r.iter().zip(s).map(|(v, s)| v * s))
                .collect(),
            None => rows.to_vec(),
        };
        let x = Matrix::new(data, n, self.n_features).map_err(|e| AttackError::Input(e.to_string()))?;
        let out = self
            .model
            .predict_proba(&x)
            .map_err(|e| AttackError::Model(e.to_string()))?;
        self.queries.fetch_add(n as u64, Ordering::Relaxed);
        if out.rows != n || out.cols != self.n_classes || out.data.len() != n * self.n_classes {
            return Err(AttackError::Model(format!(
                "expected a {n}×{} probability matrix, got {}×{}",
                self.n_classes, out.rows, out.cols
            )));
        }
        if let Some(i) = out.data.iter().position(|v| !v.is_finite()) {
            return Err(AttackError::Model(format!(
                "the model returned a non-finite probability ({}) for row {} of a batch",
                out.data.get(i).copied().unwrap_or(f32::NAN),
                i / self.n_classes
            )));
        }
        Ok(out)
    }

    /// Predicted class per row (attack coordinates).
    ///
    /// # Errors
    /// As [`Oracle::proba`].
    pub fn labels(&self, rows: &[f32]) -> Result<Vec<usize>, AttackError> {
        Ok(self.proba(rows)?.argmax_rows())
    }
}
