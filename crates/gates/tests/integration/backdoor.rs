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
    for e in manifest() {
        let (eval, passed) = run(&e);
        let m: BTreeMap<&str, f64> = eval
            .metrics
            .iter()
            .filter(|(k, _)| !k.contains('['))
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        println!(
            "{} {} poisoned={} target={:?} pass={passed} {m:?}",
            e.id, e.split, e.poisoned, e.target
        );
        for h in eval.details["trigger_scan"]["best_by_size"].as_array().unwrap() {
            println!(
                "   size {} class {} flip {:.3} {}",
                h["size"],
                h["class"],
                h["flip_rate"].as_f64().unwrap(),
                h["trigger"]
            );
        }
        for c in eval.details["training_classes"].as_array().unwrap() {
            println!(
                "   class {} size {:.3} sil {:.3} conc {:.3}",
                c["class"],
                c["ac_relative_size"].as_f64().unwrap(),
                c["ac_silhouette"].as_f64().unwrap(),
                c["spectral_concentration"].as_f64().unwrap()
            );
        }
        for c in eval.details["reverse"]["classes"].as_array().unwrap() {
            print!(" {}:{}", c["class"], c["mask_norm"]);
        }
        println!();
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
