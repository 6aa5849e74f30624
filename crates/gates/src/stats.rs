//! The few statistical distributions the gates test against: binomial upper
//! tails and the χ² survival function.
//!
//! Written from the textbook definitions (the regularized incomplete gamma
//! function by its power series and Lentz's continued fraction, as in
//! Press et al., *Numerical Recipes*, §6.2; `ln Γ` by the Lanczos
//! approximation with g = 7, n = 9), so no statistics crate is pulled in
//! for two functions.

/// `ln Γ(x)` for `x > 0`.
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// `P(X >= k)` for `X ~ Binomial(n, p)`.
pub fn binomial_sf(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    if p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (nf, lp, lq) = (n as f64, p.ln(), (1.0 - p).ln());
    let ln_pmf = |j: u64| -> f64 {
        let jf = j as f64;
        ln_gamma(nf + 1.0) - ln_gamma(jf + 1.0) - ln_gamma(nf - jf + 1.0) + jf * lp + (nf - jf) * lq
    };
    // Sum the tail in log space from its largest term.
    let terms: Vec<f64> = (k..=n).map(ln_pmf).collect();
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = terms.iter().map(|t| (t - max).exp()).sum();
    (max + s.ln()).exp().clamp(0.0, 1.0)
}

/// The regularized upper incomplete gamma function `Q(a, x)`.
pub fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    if x < a + 1.0 {
        // Series for P(a, x).
        let mut sum = 1.0 / a;
        let mut term = sum;
        let mut ap = a;
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        let p = sum * (-x + a * x.ln() - ln_gamma(a)).exp();
        (1.0 - p).clamp(0.0, 1.0)
    } else {
        // Continued fraction for Q(a, x) (modified Lentz).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (h * (-x + a * x.ln() - ln_gamma(a)).exp()).clamp(0.0, 1.0)
    }
}

/// `P(χ²_df >= x)`.
pub fn chi2_sf(x: f64, df: f64) -> f64 {
    if df <= 0.0 {
        return 1.0;
    }
    gamma_q(df / 2.0, x / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_matches_factorials() {
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn binomial_tail_matches_direct_sums() {
        // P(X >= 3), X ~ Bin(4, 0.5) = 5/16.
        assert!((binomial_sf(3, 4, 0.5) - 5.0 / 16.0).abs() < 1e-12);
        assert_eq!(binomial_sf(0, 4, 0.3), 1.0);
        assert_eq!(binomial_sf(5, 4, 0.3), 0.0);
        // scipy.stats.binom.sf(59, 100, 0.5) = 0.028443966820490
        assert!((binomial_sf(60, 100, 0.5) - 0.028_443_966_820_490).abs() < 1e-12);
    }

    #[test]
    fn chi2_survival_matches_known_values() {
        // df = 2: sf(x) = exp(-x/2).
        assert!((chi2_sf(3.0, 2.0) - (-1.5f64).exp()).abs() < 1e-12);
        // scipy.stats.chi2.sf(10, 3) = 0.018566135463043
        assert!((chi2_sf(10.0, 3.0) - 0.018_566_135_463_043).abs() < 1e-10);
        // scipy.stats.chi2.sf(1, 5) = 0.962565773247
        assert!((chi2_sf(1.0, 5.0) - 0.962_565_773_247).abs() < 1e-10);
    }
}
