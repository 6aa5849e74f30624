//! The backdoor gate on the committed fixture set: eight BadNets-poisoned
//! and eight clean scikit-learn MLPs (digits images and tabular data), split
//! into a `tune` half (thresholds were chosen on it) and a `holdout` half.

use std::collections::BTreeMap;

use portcullis_gates::backdoor::{assess, default_require, BackdoorConfig};
use portcullis_gates::require::check_thresholds;
use portcullis_gates::{Evaluation, NoProgress};
use serde::Deserialize;

use crate::fixture_model::{fixtures, read_csv, Mlp};

#[derive(Deserialize, Clone)]
pub struct Entry {
    pub id: String,
    pub domain: String,
    pub poisoned: bool,
    pub split: String,
    #[serde(default)]
    pub target: Option<usize>,
}

pub fn manifest() -> Vec<Entry> {
    serde_json::from_slice(&std::fs::read(fixtures().join("manifest.json")).unwrap()).unwrap()
}

pub fn spec_for(e: &Entry) -> serde_json::Map<String, serde_json::Value> {
    let mut v = serde_json::json!({"train_data": "train.csv", "poison_column": "poisoned"});
    if e.domain == "digits" {
        v["input_shape"] = serde_json::json!([1, 8, 8]);
        v["clip"] = serde_json::json!([0, 16]);
    }
    v.as_object().unwrap().clone()
}

/// Runs the gate's detectors on one fixture; returns the evaluation and
/// whether the default thresholds pass.
pub fn run(e: &Entry) -> (Evaluation, bool) {
    let dir = fixtures().join(&e.id);
    let model = Mlp::load(&dir);
    let clean = read_csv(&fixtures().join(format!("{}-test.csv", e.domain)));
    let train = read_csv(&dir.join("train.csv"));
    let config = BackdoorConfig::from_params(&spec_for(e)).unwrap();
    let eval = assess(&model, &clean, Some(&train), None, &config, 7, &NoProgress, None).unwrap();
    let checks = check_thresholds(&eval.metrics, &default_require(&config));
    (eval, checks.iter().all(|c| c.passed))
}

#[test]
#[ignore = "prints the per-detector table published in docs/gates/backdoor.md"]
fn fixture_table() {
    let detectors = ["trigger-scan", "strip", "reverse", "activation-clustering"];
    // split -> detector -> (true positives, poisoned, false positives, clean)
    let mut rates: BTreeMap<String, BTreeMap<&str, [usize; 4]>> = BTreeMap::new();
    println!("| model | split | truth | trigger_flip_rate | strip_flagged_fraction | reverse_anomaly_index | ac_flagged_classes | AC P/R | spectral P/R | default gate |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for e in manifest() {
        let (eval, _) = run(&e);
        let m = &eval.metrics;
        let fired = &eval.details["fired"];
        let cell = |metric: &str, det: &str| {
            let v = m.get(metric).copied().unwrap_or(f64::NAN);
            match fired.get(det).and_then(|c| c.as_str()) {
                Some(c) => format!("**{v:.2} → {c}**"),
                None => format!("{v:.2}"),
            }
        };
        let mut gate_spec = spec_for(&e);
        gate_spec.remove("train_data");
        let gate_cfg = BackdoorConfig::from_params(&gate_spec).unwrap();
        let gate_pass = check_thresholds(m, &default_require(&gate_cfg))
            .iter()
            .all(|c| c.passed);
        let split = rates.entry(e.split.clone()).or_default();
        for d in detectors {
            let r = split.entry(d).or_default();
            let f = fired.get(d).and_then(|c| c.as_str());
            if e.poisoned {
                r[1] += 1;
                r[0] += usize::from(f == e.target.map(|t| t.to_string()).as_deref());
            } else {
                r[3] += 1;
                r[2] += usize::from(f.is_some());
            }
        }
        let gate = split.entry("default gate").or_default();
        if e.poisoned {
            gate[1] += 1;
            let named = m.get("suspected_target_class").map(|c| *c as usize) == e.target;
            gate[0] += usize::from(!gate_pass && named);
        } else {
            gate[3] += 1;
            gate[2] += usize::from(!gate_pass);
        }
        let pr = |p: &str, r: &str| {
            format!(
                "{:.2}/{:.2}",
                m.get(p).copied().unwrap_or(f64::NAN),
                m.get(r).copied().unwrap_or(f64::NAN)
            )
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            e.id,
            e.split,
            e.target.map_or("clean".to_string(), |t| format!("target {t}")),
            cell("trigger_flip_rate", "trigger-scan"),
            cell("strip_flagged_fraction", "strip"),
            cell("reverse_anomaly_index", "reverse"),
            cell("ac_flagged_classes", "activation-clustering"),
            pr("ac_precision", "ac_recall"),
            pr("spectral_precision", "spectral_recall"),
            if gate_pass {
                "pass".to_string()
            } else {
                format!(
                    "fail ({})",
                    m.get("suspected_target_class")
                        .map_or("-".into(), |c| c.to_string())
                )
            },
        );
    }
    println!();
    println!("| detector | split | true-positive rate (right target) | false-positive rate |");
    println!("|---|---|---|---|");
    for (split, by) in &rates {
        for (d, r) in by {
            println!("| {d} | {split} | {}/{} | {}/{} |", r[0], r[1], r[2], r[3]);
        }
    }
}

/// Fixtures the default gate misses or wrongly blocks, as published in
/// docs/gates/backdoor.md. A change in either direction fails this test.
const KNOWN_MISSES: &[&str] = &["p6-tabular-pair"];
const KNOWN_FALSE_ALARMS: &[&str] = &[];

#[test]
fn poisoned_fixtures_fail_naming_their_target_and_clean_fixtures_pass() {
    let mut wrong = Vec::new();
    for e in manifest() {
        let dir = fixtures().join(&e.id);
        let model = Mlp::load(&dir);
        let clean = read_csv(&fixtures().join(format!("{}-test.csv", e.domain)));
        let mut spec = spec_for(&e);
        spec.remove("train_data");
        spec.remove("poison_column");
        let config = BackdoorConfig::from_params(&spec).unwrap();
        let eval = assess(&model, &clean, None, None, &config, 7, &NoProgress, None).unwrap();
        let passed = check_thresholds(&eval.metrics, &default_require(&config))
            .iter()
            .all(|c| c.passed);
        let suspected = eval.metrics.get("suspected_target_class").map(|c| *c as usize);
        let ok = if e.poisoned {
            !passed && suspected == e.target
        } else {
            passed
        };
        let known = KNOWN_MISSES.contains(&e.id.as_str()) || KNOWN_FALSE_ALARMS.contains(&e.id.as_str());
        if ok == known {
            wrong.push(format!(
                "{}: passed={passed} suspected={suspected:?} {:?}",
                e.id, eval.metrics
            ));
        }
        if e.poisoned && ok {
            let f = eval
                .findings
                .iter()
                .find(|f| f.rule == "backdoor-suspected-target")
                .unwrap();
            assert!(f.message.contains("trigger"), "{}", f.message);
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}
