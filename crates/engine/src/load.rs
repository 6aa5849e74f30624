//! Loading a policy: policy problems and gate-spec problems in one pass.

use std::path::Path;

use portcullis_evidence::{GateSpec, Sha256Digest};
use portcullis_policy::Policy;

use crate::EngineError;

fn check_spec(spec: &GateSpec) -> Result<(), String> {
    portcullis_gates::build(spec).map(drop).map_err(|e| e.to_string())
}

/// Loads a policy and checks every gate spec with the gate registry in the
/// same pass, so one error lists every problem, each with file, line and
/// column, before anything runs.
///
/// # Errors
/// [`EngineError::Policy`].
pub fn load_policy(path: &Path) -> Result<Policy, EngineError> {
    load_policy_pinned(path, None)
}

/// [`load_policy`] for the deploy side: the file's bytes must hash to `pin`
/// (when given), and the policy is parsed from exactly the bytes that were
/// hashed, so the file cannot change between the check and the load.
///
/// # Errors
/// [`EngineError::Policy`]; its [`portcullis_policy::PolicyError::PinMismatch`]
/// has the code [`crate::ErrorCode::PolicyPinMismatch`].
pub fn load_policy_pinned(path: &Path, pin: Option<&Sha256Digest>) -> Result<Policy, EngineError> {
    let mut policy = portcullis_policy::load_checked(path, pin, &check_spec)?;
    policy.path = path.to_path_buf();
    Ok(policy)
}
