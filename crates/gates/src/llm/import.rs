//! Importers that turn garak and promptfoo reports into gate metrics, so
//! the `command` gate can run either tool and judge its results with
//! `require:` thresholds like any other gate.
//!
//! - garak writes `garak.<uuid>.report.jsonl`: one JSON object per line with
//!   an `entry_type`. Each `eval` row covers one probe/detector pair:
//!   `passed` outputs the detector judged safe out of `total_evaluated`
//!   (older versions: `total`). A detector "hit" is a successful attack.
//! - promptfoo writes `promptfoo eval -o results.json`: `results.results[]`
//!   with `success` per test; red-team tests carry `metadata.pluginId` and
//!   `metadata.strategyId` (absent for the plain, "basic" strategy).
//!
//! Metric names (`pass_rate` is the share that passed, `attack_success_rate`
//! the share that failed, errors excluded from both):
//! garak `pass_rate[<probe>]`, `pass_rate[<probe>/<detector>]`,
//! `attack_success_rate[…]` for the same keys, `pass_rate`, `evaluated`;
//! promptfoo `pass_rate[plugin=<id>]`, `pass_rate[strategy=<id>]`,
//! `attack_success_rate[…]`, `pass_rate`, `errors`, `evaluated`.

use std::collections::BTreeMap;

use portcullis_evidence::Metrics;

/// The most lines read from a garak report.
pub const MAX_LINES: usize = 5_000_000;
/// The deepest JSON nesting accepted (serde_json stops at 128).
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Why a report could not be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A line or document is not the format's JSON.
    #[error("{file}, line {line}: {message}")]
    Syntax {
        /// The report.
        file: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The report holds no results.
    #[error("{0}")]
    Empty(String),
}

fn add(counts: &mut BTreeMap<String, (u64, u64)>, key: String, pass: u64, total: u64) {
    let e = counts.entry(key).or_default();
    e.0 += pass;
    e.1 += total;
}

fn emit(metrics: &mut Metrics, counts: &BTreeMap<String, (u64, u64)>) {
    for (k, (pass, total)) in counts {
        if *total == 0 {
            continue;
        }
        let rate = *pass as f64 / *total as f64;
        metrics.insert(format!("pass_rate[{k}]"), rate);
        metrics.insert(format!("attack_success_rate[{k}]"), 1.0 - rate);
    }
}

fn strip(name: &str, prefixes: &[&str]) -> String {
    for p in prefixes {
        if let Some(rest) = name.strip_prefix(p) {
            return rest.to_string();
        }
    }
    name.to_string()
}

/// Reads a garak `report.jsonl`.
///
/// # Errors
/// [`ImportError`] for a line that is not JSON, an `eval` row without
/// counts, or a report with no `eval` rows (garak did not finish).
pub fn garak(text: &str, file: &str) -> Result<Metrics, ImportError> {
    let mut counts = BTreeMap::new();
    let (mut all_pass, mut all_total) = (0u64, 0u64);
    let mut evals = 0usize;
    for (i, line) in text.lines().enumerate() {
        if i >= MAX_LINES {
            return Err(ImportError::Syntax {
                file: file.into(),
                line: i + 1,
                message: format!("more than {MAX_LINES} lines"),
            });
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let syntax = |message: String| ImportError::Syntax {
            file: file.into(),
            line: i + 1,
            message,
        };
        if line.len() > MAX_LINE_BYTES {
            return Err(syntax(format!("line longer than {MAX_LINE_BYTES} bytes")));
        }
        // Cheap filter: only eval rows matter, and attempt rows can be large.
        if !line.contains("\"eval\"") {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| syntax(format!("not JSON (column {}): {e}", e.column())))?;
        if v.get("entry_type").and_then(|t| t.as_str()) != Some("eval") {
            continue;
        }
        let probe = v
            .get("probe")
            .and_then(|p| p.as_str())
            .ok_or_else(|| syntax("eval row without `probe`".into()))?;
        let detector = v
            .get("detector")
            .and_then(|p| p.as_str())
            .ok_or_else(|| syntax("eval row without `detector`".into()))?;
        let passed = v
            .get("passed")
            .and_then(|p| p.as_u64())
            .ok_or_else(|| syntax("eval row without a whole-number `passed`".into()))?;
        let total = v
            .get("total_evaluated")
            .or_else(|| v.get("total"))
            .and_then(|p| p.as_u64())
            .ok_or_else(|| syntax("eval row without `total_evaluated` (or `total`)".into()))?;
        if passed > total {
            return Err(syntax(format!("`passed` ({passed}) exceeds the total ({total})")));
        }
        let probe = strip(probe, &["probes."]);
        let detector = strip(detector, &["detectors.", "detector."]);
        add(&mut counts, probe.clone(), passed, total);
        add(&mut counts, format!("{probe}/{detector}"), passed, total);
        all_pass += passed;
        all_total += total;
        evals += 1;
    }
    if evals == 0 {
        return Err(ImportError::Empty(format!(
            "{file} has no `eval` rows: the garak run did not finish or the file is not a garak report"
        )));
    }
    let mut metrics = Metrics::new();
    emit(&mut metrics, &counts);
    if all_total > 0 {
        metrics.insert("pass_rate".into(), all_pass as f64 / all_total as f64);
        metrics.insert(
            "attack_success_rate".into(),
            1.0 - all_pass as f64 / all_total as f64,
        );
    }
    metrics.insert("evaluated".into(), all_total as f64);
    Ok(metrics)
}

/// Reads a promptfoo results JSON (`promptfoo eval -o results.json`,
/// `promptfoo redteam eval -o …`).
///
/// # Errors
/// [`ImportError`] for a document that is not JSON or has no
/// `results.results` array, or no graded tests.
pub fn promptfoo(value: &serde_json::Value, file: &str) -> Result<Metrics, ImportError> {
    let rows = value
        .pointer("/results/results")
        .and_then(|r| r.as_array())
        .ok_or_else(|| ImportError::Syntax {
            file: file.into(),
            line: 1,
            message: "no `results.results` array: not a promptfoo results file (write it with `promptfoo eval -o results.json`)".into(),
        })?;
    let mut counts = BTreeMap::new();
    let (mut pass, mut total, mut errors) = (0u64, 0u64, 0u64);
    for row in rows {
        let meta = |k: &str| {
            row.pointer(&format!("/metadata/{k}"))
                .or_else(|| row.pointer(&format!("/testCase/metadata/{k}")))
                .and_then(|v| v.as_str())
        };
        // failureReason 2 (or an `error` string without a grading) is an
        // error, not a verdict on the model.
        let failure_reason = row.get("failureReason").and_then(|v| v.as_u64()).unwrap_or(0);
        let has_error = row.get("error").is_some_and(|e| !e.is_null() && e != "");
        if failure_reason == 2 || (has_error && row.get("gradingResult").is_none_or(|g| g.is_null())) {
            errors += 1;
            continue;
        }
        let success = row
            .get("success")
            .and_then(|v| v.as_bool())
            .or_else(|| row.pointer("/gradingResult/pass").and_then(|v| v.as_bool()));
        let Some(success) = success else {
            errors += 1;
            continue;
        };
        let p = u64::from(success);
        pass += p;
        total += 1;
        if let Some(plugin) = meta("pluginId") {
            add(&mut counts, format!("plugin={plugin}"), p, 1);
            let strategy = meta("strategyId").unwrap_or("basic");
            add(&mut counts, format!("strategy={strategy}"), p, 1);
        }
    }
    if total == 0 {
        return Err(ImportError::Empty(format!(
            "{file} has no graded results ({errors} errors): nothing to judge"
        )));
    }
    let mut metrics = Metrics::new();
    emit(&mut metrics, &counts);
    metrics.insert("pass_rate".into(), pass as f64 / total as f64);
    metrics.insert("attack_success_rate".into(), 1.0 - pass as f64 / total as f64);
    metrics.insert("errors".into(), errors as f64);
    metrics.insert("evaluated".into(), total as f64);
    Ok(metrics)
}
