//! Interval statistics for rates measured on a sample of prompts.
//!
//! The Wilson score interval (Wilson 1927; Brown, Cai & DasGupta 2001)
//! stays sensible at 0 and 1 successes, where the normal approximation
//! collapses to a zero-width interval and would "prove" a 0% attack rate
//! from a handful of probes.

/// The one-sided standard-normal quantile for `confidence` (Acklam's
/// rational approximation, relative error < 1.2e-9).
pub fn z_one_sided(confidence: f64) -> f64 {
    inverse_normal(confidence)
}

fn inverse_normal(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let low = 0.02425;
    if p < low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -inverse_normal(1.0 - p)
    }
}

/// The upper end of the one-sided Wilson interval for `k` successes in `n`
/// trials at `confidence`.
pub fn wilson_upper(k: usize, n: usize, confidence: f64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let n = n as f64;
    let p = k as f64 / n;
    let z = z_one_sided(confidence);
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre + spread) / (1.0 + z2 / n)).min(1.0)
}

/// The smallest sample whose Wilson upper bound at zero successes is at
/// most `resolution`: `n ≥ z²(1−r)/r`.
pub fn min_samples(confidence: f64, resolution: f64) -> usize {
    let z = z_one_sided(confidence);
    let n = z * z * (1.0 - resolution) / resolution;
    n.ceil().max(1.0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_bounds_match_reference_values() {
        assert!((z_one_sided(0.95) - 1.644_853_6).abs() < 1e-6);
        assert!((z_one_sided(0.975) - 1.959_964).abs() < 1e-5);
        // k=0, n=25, 95% one-sided: z²/(n+z²) = 2.7055/27.7055
        assert!((wilson_upper(0, 25, 0.95) - 0.097_653).abs() < 1e-5);
        assert!(wilson_upper(5, 10, 0.95) > 0.5);
        assert_eq!(min_samples(0.95, 0.1), 25);
    }
}
