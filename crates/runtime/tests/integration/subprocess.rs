//! The JSON-lines subprocess backend against small awk model processes.

use std::time::{Duration, Instant};

use portcullis_runtime::{
    Classifier, Matrix, RetryPolicy, RuntimeError, SubprocessClassifier, SubprocessConfig,
};

/// A model process: answers `describe` with two string classes and three
/// features, and every `predict` with one `[0.25, 0.75]` row per input row.
const MODEL: &str = r#"
/"describe"/ { print "{\"classes\": [\"deny\", \"approve\"], \"n_features\": 3}"; fflush(); next }
/"predict"/ {
  n = gsub(/\],\[/, "&") + 1
  out = "{\"probabilities\": ["
  for (i = 1; i <= n; i++) { out = out (i > 1 ? "," : "") "[0.25,0.75]" }
  print out "]}"; fflush()
}
"#;

fn config(program: &str) -> SubprocessConfig {
    // mawk reads its input in blocks unless told to be interactive.
    let mut argv = vec!["awk".to_string()];
    if std::fs::canonicalize("/usr/bin/awk").is_ok_and(|p| p.ends_with("mawk")) {
        argv.extend(["-W".to_string(), "interactive".to_string()]);
    }
    argv.push(program.into());
    let mut c = SubprocessConfig::new(argv);
    c.batch_rows = 4;
    c.retry = RetryPolicy {
        timeout: Duration::from_millis(500),
        attempts: 3,
        backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    };
    c
}

#[test]
fn describes_itself_and_answers_in_batches() {
    let m = SubprocessClassifier::start(config(MODEL)).unwrap();
    assert_eq!(m.signature().n_features, 3);
    assert_eq!(
        m.classes().iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["deny", "approve"]
    );
    let x = Matrix::zeros(10, 3);
    let p = m.predict_proba(&x).unwrap();
    assert_eq!((p.rows, p.cols), (10, 2));
    assert_eq!(m.predict(&x).unwrap(), vec![1; 10]);
    assert!(matches!(
        m.predict_proba(&Matrix::zeros(1, 2)),
        Err(RuntimeError::Shape(_))
    ));
}

#[test]
fn a_stalled_process_is_retried_then_fails() {
    // Describes itself, then never answers a prediction.
    let stall = r#"/"describe"/ { print "{\"classes\": [0, 1], \"n_features\": 1}"; fflush(); next } { }"#;
    let m = SubprocessClassifier::start(config(stall)).unwrap();
    let start = Instant::now();
    let err = m.predict_proba(&Matrix::zeros(1, 1)).unwrap_err().to_string();
    assert!(
        err.contains("failed after 3 attempts") && err.contains("no reply within"),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_crashing_or_lying_process_is_an_error() {
    let crash =
        r#"/"describe"/ { print "{\"classes\": [0, 1], \"n_features\": 1}"; fflush(); next } { exit 1 }"#;
    let m = SubprocessClassifier::start(config(crash)).unwrap();
    let err = m.predict_proba(&Matrix::zeros(2, 1)).unwrap_err().to_string();
    assert!(err.contains("failed after 3 attempts"), "{err}");
    // Labels instead of probabilities.
    let labels = r#"/"describe"/ { print "{\"classes\": [0, 1], \"n_features\": 1}"; fflush(); next } { print "{\"probabilities\": [1]}"; fflush() }"#;
    let m = SubprocessClassifier::start(config(labels)).unwrap();
    let err = m.predict_proba(&Matrix::zeros(1, 1)).unwrap_err().to_string();
    assert!(err.contains("predict_proba"), "{err}");
    // A program that does not exist.
    let mut c = config(MODEL);
    c.argv = vec!["/nonexistent/model-server".into()];
    assert!(matches!(
        SubprocessClassifier::start(c),
        Err(RuntimeError::Backend(_))
    ));
}
