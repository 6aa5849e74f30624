//! The backdoor gate's detectors as steps of one run, one file each:
//! [`trigger_scan`], [`reverse`], [`strip`], and [`training`] (activation
//! clustering and spectral signatures, which share the per-class
//! activations and the per-class seeded random stream, so they run in one
//! pass). [`super::assess`] prepares what they share ([`Ctx`]) and combines
//! their votes; each step adds its metrics, findings and details to the
//! [`Outcome`].

pub(crate) mod reverse;
pub(crate) mod strip;
pub(crate) mod subgroups;
pub(crate) mod training;
pub(crate) mod trigger_scan;

use std::sync::atomic::{AtomicU64, Ordering};

use portcullis_runtime::Classifier;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

use super::{BackdoorConfig, Detector};
use crate::gate::{Evaluation, GateError, Progress};
use crate::ml::data::LabelledData;
use crate::ml::oracle::{AttackError, Oracle};

/// Progress over every detector's steps, and how a detector's failure
/// is reported (saying how far the run got).
pub(crate) struct Steps<'a> {
    pub(crate) progress: &'a dyn Progress,
    pub(crate) done: AtomicU64,
    pub(crate) total: u64,
}

impl Steps<'_> {
    pub(crate) fn inc(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
        self.progress.inc(1);
    }
    pub(crate) fn fail(&self, e: AttackError, what: &str) -> GateError {
        let done = self.done.load(Ordering::Relaxed);
        match e {
            AttackError::Deadline => GateError::Deadline(format!(
                "backdoor finished {done} of {} steps (stopped in {what}); an unfinished scan proves nothing",
                self.total
            )),
            AttackError::Model(m) => GateError::Other(format!("the model failed during {what}: {m}")),
            AttackError::Input(m) => GateError::Input(format!("{what}: {m}")),
        }
    }
}

/// What one detector concluded.
#[derive(Debug, Clone)]
pub(crate) struct Vote {
    pub(crate) detector: Detector,
    pub(crate) class: usize,
}

/// What every detector reads: the model and its checked view, the clean
/// rows and their predictions, the value range, the configuration.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub(crate) model: &'a dyn Classifier,
    pub(crate) oracle: &'a Oracle<'a>,
    pub(crate) clean: &'a LabelledData,
    pub(crate) config: &'a BackdoorConfig,
    /// The model's label per clean row.
    pub(crate) pred: &'a [usize],
    /// Clean rows the model classifies correctly.
    pub(crate) correct: &'a [usize],
    pub(crate) lo: &'a [f32],
    pub(crate) hi: &'a [f32],
    pub(crate) shape: Option<[usize; 3]>,
    /// Whether the input is (also) searched as tabular features.
    pub(crate) tabular: bool,
    /// Class labels, by class index.
    pub(crate) names: &'a [String],
    pub(crate) seed: u64,
    pub(crate) steps: &'a Steps<'a>,
    pub(crate) progress: &'a dyn Progress,
}

impl Ctx<'_> {
    /// A class's label, for messages.
    pub(crate) fn label(&self, c: usize) -> String {
        self.names.get(c).cloned().unwrap_or_else(|| c.to_string())
    }

    /// The clean rows at `idx`, concatenated.
    pub(crate) fn rows_of(&self, idx: &[usize]) -> Vec<f32> {
        idx.iter().flat_map(|i| self.clean.x.row(*i).to_vec()).collect()
    }

    /// Whether `det` is configured to run.
    pub(crate) fn runs(&self, det: Detector) -> bool {
        self.config.detectors.contains(&det)
    }
}

/// What the detectors found, accumulated in run order.
#[derive(Default)]
pub(crate) struct Outcome {
    pub(crate) eval: Evaluation,
    pub(crate) votes: Vec<Vote>,
    pub(crate) details: serde_json::Map<String, serde_json::Value>,
}

/// `n` of `from` drawn with `rng`, in ascending order.
pub(crate) fn pick(rng: &mut ChaCha8Rng, from: &[usize], n: usize) -> Vec<usize> {
    let mut v: Vec<usize> = sample(rng, from.len(), n.min(from.len()))
        .into_iter()
        .filter_map(|i| from.get(i).copied())
        .collect();
    v.sort_unstable();
    v
}
