//! Metric thresholds: `">= 0.85"`, `"<= 0.1"`, `"== 0"`.
//!
//! A threshold is a comparison operator and a number. Policies carry them as
//! strings under `require:`; they are parsed here, in the bottom crate, so the
//! policy loader can reject a bad threshold with its position and the gates
//! crate can apply it after a gate computes its metrics.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Op {
    /// The operator's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Ge => ">=",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Lt => "<",
            Op::Eq => "==",
            Op::Ne => "!=",
        }
    }
}

/// `metric OP value`, with the metric name kept by the caller.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    /// The comparison.
    pub op: Op,
    /// The bound.
    pub value: f64,
}

/// The error for a threshold that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid threshold '{given}': {why} (expected an operator and a number, like \">= 0.85\" or \"<= 0.1\")"
)]
pub struct ParseThresholdError {
    given: String,
    why: &'static str,
}

impl Threshold {
    /// True when `measured` satisfies the threshold. NaN never does.
    pub fn holds(&self, measured: f64) -> bool {
        if measured.is_nan() {
            return false;
        }
        match self.op {
            Op::Ge => measured >= self.value,
            Op::Gt => measured > self.value,
            Op::Le => measured <= self.value,
            Op::Lt => measured < self.value,
            Op::Eq => measured == self.value,
            Op::Ne => measured != self.value,
        }
    }
}

impl FromStr for Threshold {
    type Err = ParseThresholdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |why| ParseThresholdError {
            given: s.to_string(),
            why,
        };
        let t = s.trim();
        let (op, rest) = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">", Op::Gt),
            ("<", Op::Lt),
            ("=", Op::Eq),
        ]
        .iter()
        .find_map(|(text, op)| t.strip_prefix(text).map(|rest| (*op, rest)))
        .ok_or_else(|| err("it does not start with >=, >, <=, <, == or !="))?;
        let number = rest.trim();
        if number.is_empty() {
            return Err(err("the number is missing"));
        }
        let (number, scale) = match number.strip_suffix('%') {
            Some(n) => (n.trim(), 0.01),
            None => (number, 1.0),
        };
        let value: f64 = number.parse().map_err(|_| err("the bound is not a number"))?;
        if !value.is_finite() {
            return Err(err("the bound must be finite"));
        }
        Ok(Threshold {
            op,
            value: value * scale,
        })
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.value)
    }
}

impl Serialize for Threshold {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_operator_and_percentages() {
        let t: Threshold = ">= 0.85".parse().unwrap();
        assert_eq!((t.op, t.value), (Op::Ge, 0.85));
        let t: Threshold = "<=0.1".parse().unwrap();
        assert_eq!((t.op, t.value), (Op::Le, 0.1));
        let t: Threshold = "< 5%".parse().unwrap();
        assert_eq!(t.op, Op::Lt);
        assert!((t.value - 0.05).abs() < 1e-12);
        assert_eq!("== 0".parse::<Threshold>().unwrap().op, Op::Eq);
        assert_eq!("!= 1".parse::<Threshold>().unwrap().op, Op::Ne);
        assert_eq!("> -2".parse::<Threshold>().unwrap().value, -2.0);
    }

    #[test]
    fn rejects_bad_thresholds_with_a_reason() {
        for bad in ["0.85", ">= ", ">= high", "=> 1", ">= inf", ""] {
            let err = bad.parse::<Threshold>().unwrap_err().to_string();
            assert!(err.contains("expected an operator"), "{bad}: {err}");
        }
    }

    #[test]
    fn nan_never_holds() {
        let t: Threshold = "<= 1".parse().unwrap();
        assert!(!t.holds(f64::NAN));
        assert!(t.holds(1.0));
        assert!(!t.holds(1.0001));
    }
}
