//! How long work reports progress and warnings without printing.

use portcullis_gates::{GateOutcome, NoProgress, Progress};

/// Something the caller should show the user; the work goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The key signing gate results is not a trusted runner of the policy,
    /// so `decide` and `verify` will not count what it signs.
    UntrustedRunner {
        /// The key's id (hex).
        keyid: String,
        /// The policy file.
        policy: String,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::UntrustedRunner { keyid, policy } => write!(
                f,
                "the signing key (keyid {}) is not a trusted runner in {policy}; `verify` will not count these results",
                keyid.get(..12).unwrap_or(keyid)
            ),
        }
    }
}

/// Watches long work. Every method has a silent default.
pub trait Observer: Sync {
    /// A warning, given as soon as it is known.
    fn warn(&self, warning: &Warning) {
        let _ = warning;
    }
    /// Digesting `total` bytes of the model starts; bytes hashed are
    /// reported to the returned progress.
    fn digest(&self, total: u64) -> Box<dyn Progress + '_> {
        let _ = total;
        Box::new(NoProgress)
    }
    /// The gate `name` starts; it reports to the returned progress, which is
    /// dropped when the gate ends.
    fn gate(&self, name: &str) -> Box<dyn Progress + '_> {
        let _ = name;
        Box::new(NoProgress)
    }
    /// A gate finished; its result is about to be signed.
    fn gate_done(&self, outcome: &GateOutcome) {
        let _ = outcome;
    }
}

/// An [`Observer`] that shows nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Observer for Silent {}
