//! The input-layout keys the attack gates share: `input_shape` (images are
//! attacked and stamped as `[channels, height, width]`) and `clip` (one
//! value range for every feature), checked once so the robustness and
//! backdoor gates accept and reject the same specs.
//!
//! A non-finite clip bound is rejected: an infinite range would let an
//! attack or a trigger use any value at all, so the gate would measure
//! nothing while appearing to pass.

use crate::gate::GateError;
use crate::ml::data::LabelledData;

fn spec_err(kind: &str, message: String) -> GateError {
    GateError::Spec {
        kind: kind.to_string(),
        message,
    }
}

/// Checks `input_shape`: `[height, width]` (one channel) or `[channels,
/// height, width]`, each a positive integer.
///
/// # Errors
/// [`GateError::Spec`] for `kind` naming what was expected.
pub fn input_shape(kind: &str, value: Option<&[f64]>) -> Result<Option<[usize; 3]>, GateError> {
    let Some(v) = value else {
        return Ok(None);
    };
    let dims: Vec<usize> = v
        .iter()
        .map(|d| (d.fract() == 0.0 && *d >= 1.0 && *d <= 1e6).then_some(*d as usize))
        .collect::<Option<_>>()
        .ok_or_else(|| {
            spec_err(
                kind,
                format!("`input_shape` must be positive integers, got {v:?}"),
            )
        })?;
    match dims.as_slice() {
        [h, w] => Ok(Some([1, *h, *w])),
        [c, h, w] => Ok(Some([*c, *h, *w])),
        _ => Err(spec_err(
            kind,
            format!("`input_shape` must be [height, width] or [channels, height, width], got {v:?}"),
        )),
    }
}

/// Checks `clip`: `[min, max]`, both finite, `min < max`.
///
/// # Errors
/// [`GateError::Spec`] for `kind` naming what was expected.
pub fn clip(kind: &str, value: Option<&[f64]>) -> Result<Option<(f32, f32)>, GateError> {
    match value {
        None => Ok(None),
        Some([lo, hi]) if lo < hi && lo.is_finite() && hi.is_finite() => Ok(Some((*lo as f32, *hi as f32))),
        Some(v) => Err(spec_err(
            kind,
            format!("`clip` must be [min, max] with min < max, got {v:?}"),
        )),
    }
}

/// The per-feature value range inputs may take: `clip` for every feature
/// when given; else, for images, the data's overall range for every pixel;
/// else each feature's own range in `data`.
pub fn value_range(data: &LabelledData, clip: Option<(f32, f32)>, image: bool) -> (Vec<f32>, Vec<f32>) {
    let d = data.x.cols;
    let (lo, hi) = data.feature_ranges();
    if let Some((cl, ch)) = clip {
        (vec![cl; d], vec![ch; d])
    } else if image {
        let gl = lo.iter().copied().fold(f32::INFINITY, f32::min);
        let gh = hi.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        (vec![gl; d], vec![gh; d])
    } else {
        (lo, hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backdoor::BackdoorConfig;
    use crate::robustness::RobustnessConfig;

    #[test]
    fn both_attack_gates_reject_a_non_finite_clip_bound() {
        for clip in [
            serde_json::json!("0,inf"),
            serde_json::json!([0, "NaN"]),
            serde_json::json!(["-inf", 1]),
        ] {
            let robustness = serde_json::json!({"epsilon": 0.1, "clip": clip});
            let err = RobustnessConfig::from_params(robustness.as_object().unwrap())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("`clip` must be [min, max]"),
                "robustness, {clip}: {err}"
            );
            let backdoor = serde_json::json!({"clip": clip});
            let err = BackdoorConfig::from_params(backdoor.as_object().unwrap())
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("`clip` must be [min, max]"),
                "backdoor, {clip}: {err}"
            );
        }
    }

    #[test]
    fn input_shape_takes_two_or_three_positive_integers() {
        assert_eq!(input_shape("k", Some(&[8.0, 8.0])).unwrap(), Some([1, 8, 8]));
        assert_eq!(input_shape("k", Some(&[3.0, 4.0, 5.0])).unwrap(), Some([3, 4, 5]));
        assert!(input_shape("k", Some(&[8.0])).is_err());
        assert!(input_shape("k", Some(&[1.5, 8.0])).is_err());
        assert!(input_shape("k", Some(&[0.0, 8.0])).is_err());
        assert_eq!(clip("k", Some(&[0.0, 16.0])).unwrap(), Some((0.0, 16.0)));
        assert!(clip("k", Some(&[1.0, 1.0])).is_err());
    }
}
