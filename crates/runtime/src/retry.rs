//! Timeouts, retries with exponential backoff, and batching for the remote
//! and subprocess backends.
//!
//! A model server that answers 429, stalls or drops the connection is
//! retried a bounded number of times with growing pauses; then the call
//! fails, and the gate's verdict becomes `error` (fail closed).

use std::time::Duration;

use crate::classifier::{Matrix, RuntimeError};

/// How long to wait and how often to retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Attempts in total (at least 1).
    pub attempts: u32,
    /// Pause before the second attempt; doubled after each failure.
    pub backoff: Duration,
    /// Longest pause between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            timeout: Duration::from_secs(30),
            attempts: 4,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt `n` (0-based).
    pub fn pause(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.min(20));
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }

    /// Runs `f` until it succeeds or the attempts run out; the error says
    /// how many attempts were made and the last cause.
    ///
    /// # Errors
    /// The last attempt's message, prefixed with the attempt count.
    pub fn run<T>(&self, mut f: impl FnMut() -> Result<T, String>) -> Result<T, String> {
        let attempts = self.attempts.max(1);
        let mut last = String::new();
        for n in 0..attempts {
            match f() {
                Ok(v) => return Ok(v),
                Err(e) => last = e,
            }
            if n + 1 < attempts {
                std::thread::sleep(self.pause(n));
            }
        }
        Err(format!("failed after {attempts} attempts: {last}"))
    }
}

/// Runs `f` over `x` in batches of `batch_rows` and stacks the results,
/// each `rows × k`.
///
/// # Errors
/// The first batch's error.
pub fn in_batches(
    x: &Matrix,
    batch_rows: usize,
    k: usize,
    mut f: impl FnMut(&Matrix) -> Result<Matrix, RuntimeError>,
) -> Result<Matrix, RuntimeError> {
    let batch_rows = batch_rows.max(1);
    let mut out = Matrix {
        data: Vec::with_capacity(x.rows * k),
        rows: 0,
        cols: k,
    };
    let mut start = 0;
    while start < x.rows {
        let end = (start + batch_rows).min(x.rows);
        let batch = Matrix {
            data: x
                .data
                .get(start * x.cols..end * x.cols)
                .unwrap_or_default()
                .to_vec(),
            rows: end - start,
            cols: x.cols,
        };
        let p = f(&batch)?;
        if p.rows != batch.rows || p.cols != k {
            return Err(RuntimeError::Inference(format!(
                "a batch of {} rows gave {}×{} probabilities, expected {}×{k}",
                batch.rows, p.rows, p.cols, batch.rows
            )));
        }
        out.data.extend(p.data);
        out.rows += p.rows;
        start = end;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..Default::default()
        };
        assert_eq!(p.pause(0), Duration::from_millis(100));
        assert_eq!(p.pause(1), Duration::from_millis(200));
        assert_eq!(p.pause(2), Duration::from_millis(350));
    }

    #[test]
    fn retries_until_success_then_gives_up() {
        let p = RetryPolicy {
            attempts: 3,
            backoff: Duration::from_millis(1),
            ..Default::default()
        };
        let mut n = 0;
        assert_eq!(
            p.run(|| {
                n += 1;
                if n < 3 {
                    Err("busy".to_string())
                } else {
                    Ok(n)
                }
            }),
            Ok(3)
        );
        let err = p.run::<()>(|| Err("down".into())).unwrap_err();
        assert_eq!(err, "failed after 3 attempts: down");
    }
}
