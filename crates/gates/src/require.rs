//! Applying `require:` thresholds to a gate's metrics — shared by every kind.
//!
//! A key is a metric name or a pattern with `*` wildcards
//! (`selection_rate[race=*]`, `attack_success_rate[*]`): every metric the
//! pattern matches must hold. A key that matches nothing fails — a threshold
//! on a metric the gate never produced is a misconfiguration, and passing it
//! would be an "allowed" by accident.

use std::collections::BTreeMap;

use portcullis_evidence::{Metrics, Threshold};

use crate::gate::Check;

/// Checks every threshold against `metrics`, in sorted key order.
pub fn check_thresholds(metrics: &Metrics, require: &BTreeMap<String, Threshold>) -> Vec<Check> {
    let mut out = Vec::new();
    for (key, threshold) in require {
        if key.contains('*') {
            let mut matched = false;
            for (name, value) in metrics.iter().filter(|(name, _)| glob_match(key, name)) {
                matched = true;
                out.push(Check {
                    metric: name.clone(),
                    threshold: *threshold,
                    measured: Some(*value),
                    passed: threshold.holds(*value),
                });
            }
            if !matched {
                out.push(Check {
                    metric: key.clone(),
                    threshold: *threshold,
                    measured: None,
                    passed: false,
                });
            }
        } else {
            let measured = metrics.get(key).copied();
            out.push(Check {
                metric: key.clone(),
                threshold: *threshold,
                measured,
                passed: measured.is_some_and(|v| threshold.holds(v)),
            });
        }
    }
    out
}

/// One line explaining a failed check: what was measured against what.
pub fn explain_check(check: &Check) -> String {
    match check.measured {
        Some(v) if v.is_nan() => format!(
            "{} is undefined (NaN), required {}",
            check.metric, check.threshold
        ),
        Some(v) => format!(
            "{} = {} does not meet the threshold {}",
            check.metric,
            format_metric(v),
            check.threshold
        ),
        None => format!(
            "{} was not produced by the gate, so the threshold {} cannot hold (check the metric name)",
            check.metric, check.threshold
        ),
    }
}

/// Formats a metric value compactly (up to 6 significant decimals).
pub fn format_metric(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v == v.trunc() && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// `*` matches any run of characters (including none); everything else is literal.
fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    if parts.len() == 1 {
        return pattern == text;
    }
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(pairs: &[(&str, &str)]) -> BTreeMap<String, Threshold> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn glob_matches_qualifiers() {
        assert!(glob_match("rate[*]", "rate[race=x]"));
        assert!(glob_match("rate[race=*]", "rate[race=x]"));
        assert!(!glob_match("rate[sex=*]", "rate[race=x]"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxc"));
        assert!(!glob_match("ab*ba", "aba"));
    }

    #[test]
    fn missing_metric_fails_closed() {
        let metrics = Metrics::from([("accuracy".to_string(), 0.9)]);
        let checks = check_thresholds(&metrics, &req(&[("roc_auc", ">= 0.5")]));
        assert_eq!(checks.len(), 1);
        assert!(!checks[0].passed);
        assert!(explain_check(&checks[0]).contains("not produced"));
    }

    #[test]
    fn pattern_expands_to_each_match_and_fails_on_none() {
        let metrics = Metrics::from([
            ("rate[a=1]".to_string(), 0.1),
            ("rate[a=2]".to_string(), 0.5),
            ("other".to_string(), 0.0),
        ]);
        let checks = check_thresholds(&metrics, &req(&[("rate[*]", "<= 0.2")]));
        assert_eq!(checks.len(), 2);
        assert!(checks[0].passed && !checks[1].passed);
        let none = check_thresholds(&metrics, &req(&[("nope[*]", "<= 0.2")]));
        assert!(!none[0].passed);
    }

    #[test]
    fn nan_metric_fails_and_says_undefined() {
        let metrics = Metrics::from([("tpr".to_string(), f64::NAN)]);
        let checks = check_thresholds(&metrics, &req(&[("tpr", ">= 0")]));
        assert!(!checks[0].passed);
        assert!(explain_check(&checks[0]).contains("undefined"));
    }

    #[test]
    fn formats_metrics_compactly() {
        assert_eq!(format_metric(0.85), "0.85");
        assert_eq!(format_metric(3.0), "3");
        assert_eq!(format_metric(1.0 / 3.0), "0.333333");
    }
}
