//! The verdict and metric vocabulary of a gate result.
//!
//! Metrics are a flat, sorted map from name to number. A qualifier in
//! brackets names an attribute, group or category:
//! `demographic_parity_difference[race]`, `selection_rate[race=Caucasian]`,
//! `attack_success_rate[encoding]`. Flat names keep thresholds simple
//! (`require: {"accuracy[sex=Female]": ">= 0.8"}`) and diffs readable.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Metric name → value, iterated in sorted order so output is deterministic.
pub type Metrics = BTreeMap<String, f64>;

/// The verdict of one gate run. `Error` is never a pass: a gate that could
/// not do its job fails closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every check held.
    Pass,
    /// A check did not hold.
    Fail,
    /// The gate could not evaluate (bad input, timeout, no data).
    Error,
}

impl Verdict {
    /// The lowercase name used in every output.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        }
    }

    /// True only for [`Verdict::Pass`].
    pub fn passed(self) -> bool {
        matches!(self, Verdict::Pass)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
