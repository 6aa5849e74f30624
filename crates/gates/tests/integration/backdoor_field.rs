//! The backdoor gate on the field set (`tests/fixtures/backdoor/field`):
//! models shaped like the ones users hand it — flat `[N, 64]` image models in
//! three encodings, one-hot tabular models on binary targets — run exactly
//! as `portcullis eval backdoor --model M.onnx --data test.csv --label label`
//! runs them: the ONNX file, the CSV, the default spec, no `input_shape`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use portcullis_evidence::Verdict;
use portcullis_gates::{run_gate, DataSource, GateContext, GateOutcome, ModelRef, NoProgress};
use serde::Deserialize;

#[derive(Deserialize, Clone, Debug)]
pub struct Entry {
    pub id: String,
    pub family: String,
    pub data: String,
    pub poisoned: bool,
    pub split: String,
    #[serde(default)]
    pub target: Option<usize>,
    #[serde(default)]
    pub trigger: Option<String>,
}

fn field() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/backdoor/field")
}

fn manifest() -> Vec<Entry> {
    serde_json::from_slice(&std::fs::read(field().join("manifest.json")).unwrap()).unwrap()
}

/// Runs the gate as the CLI does (seed 0 is its default); `extra` adds
/// spec keys.
fn run(e: &Entry, extra: serde_json::Value) -> (GateOutcome, f64) {
    run_seed(e, extra, 0)
}

fn run_seed(e: &Entry, extra: serde_json::Value, seed: u64) -> (GateOutcome, f64) {
    let dir = field();
    let model = ModelRef {
        path: Some(dir.join(&e.id).join("model.onnx")),
        digest: None,
        kind: None,
        serve: None,
    };
    let mut data = BTreeMap::new();
    data.insert(
        "eval".to_string(),
        DataSource {
            path: PathBuf::from(&e.data),
            label: Some("label".into()),
            ..Default::default()
        },
    );
    let ctx = GateContext {
        name: "backdoor",
        model: &model,
        reference: None,
        data: &data,
        base_dir: &dir,
        seed,
        progress: &NoProgress,
        deadline: None,
    };
    let mut spec = serde_json::json!({"kind": "backdoor"});
    if let (Some(s), Some(x)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(x.clone());
    }
    let t = Instant::now();
    let out = run_gate(&crate::support::spec(spec), &ctx);
    (out, t.elapsed().as_secs_f64())
}

/// Whether the gate got the model right: a poisoned model fails naming its
/// target; a clean model passes.
fn correct(e: &Entry, out: &GateOutcome) -> bool {
    let named = out.metrics.get("suspected_target_class").map(|c| *c as usize);
    if e.poisoned {
        out.verdict == Verdict::Fail && named == e.target
    } else {
        out.verdict == Verdict::Pass
    }
}

fn cell(out: &GateOutcome, metric: &str) -> String {
    out.metrics
        .get(metric)
        .map_or_else(|| "–".into(), |v| format!("{v:.2}"))
}

#[test]
#[ignore = "prints the field table published in docs/gates/backdoor.md"]
fn field_table() {
    println!("| model | split | truth | treated as | trigger_flip_rate | trigger_p_value | strip_flagged_fraction | verdict (class) | s |");
    println!("|---|---|---|---|---|---|---|---|---|");
    // split -> family -> [poisoned caught, poisoned, clean failed, clean]
    let mut rates: BTreeMap<(String, String), [usize; 4]> = BTreeMap::new();
    for e in manifest() {
        let (out, secs) = run(&e, serde_json::json!({}));
        let ok = correct(&e, &out);
        let r = rates.entry((e.split.clone(), e.family.clone())).or_default();
        if e.poisoned {
            r[1] += 1;
            r[0] += usize::from(ok);
        } else {
            r[3] += 1;
            r[2] += usize::from(!ok);
        }
        let input = &out.details["input"];
        let geometry = match (input["shape"].as_array(), input["tabular"].as_bool()) {
            (Some(s), Some(false)) => format!(
                "image {}",
                s.iter().map(ToString::to_string).collect::<Vec<_>>().join("×")
            ),
            (Some(_), _) => "image and tabular".into(),
            _ => format!(
                "tabular, {} one-hot groups",
                input["one_hot_groups"].as_array().map_or(0, Vec::len)
            ),
        };
        let verdict = match out.verdict {
            Verdict::Fail => format!(
                "fail ({})",
                out.metrics
                    .get("suspected_target_class")
                    .map_or("–".into(), |c| c.to_string())
            ),
            v => format!("{v:?}").to_lowercase(),
        };
        println!(
            "| {} | {} | {} | {geometry} | {} | {} | {} | {}{verdict}{} | {secs:.2} |",
            e.id,
            e.split,
            e.target.map_or("clean".into(), |t| format!(
                "{} → {t}",
                e.trigger.as_deref().unwrap_or("")
            )),
            cell(&out, "trigger_flip_rate"),
            cell(&out, "trigger_p_value"),
            cell(&out, "strip_flagged_fraction"),
            if ok { "" } else { "**" },
            if ok { "" } else { "**" },
        );
        if out.verdict == Verdict::Error {
            println!("  error: {:?}", out.error);
        }
    }
    println!();
    println!("| split | family | poisoned failed with the right target | clean failed |");
    println!("|---|---|---|---|");
    for ((split, family), r) in &rates {
        println!("| {split} | {family} | {}/{} | {}/{} |", r[0], r[1], r[2], r[3]);
    }
}

#[test]
#[ignore = "prints the field table with training data published in docs/gates/backdoor.md"]
fn field_table_with_training_data() {
    println!(
        "| model | split | truth | subgroup found | z | rows P/R | neighbour P/R | verdict (class) | s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut rates: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    for e in manifest().into_iter().filter(|e| e.family == "tabular") {
        let extra =
            serde_json::json!({"train_data": format!("{}/train.csv", e.id), "poison_column": "poisoned"});
        let (out, secs) = run(&e, extra);
        let ok = correct(&e, &out);
        let r = rates.entry(e.split.clone()).or_default();
        if e.poisoned {
            r[1] += 1;
            r[0] += usize::from(ok);
        } else {
            r[3] += 1;
            r[2] += usize::from(!ok);
        }
        let found = out.details["subgroups"]["found"][0]["subgroup"]
            .as_str()
            .unwrap_or("–")
            .to_string();
        let pr = |p: &str, r: &str| match (out.metrics.get(p), out.metrics.get(r)) {
            (Some(p), Some(r)) => format!("{p:.2}/{r:.2}"),
            _ => "–".into(),
        };
        println!(
            "| {} | {} | {} | {found} | {} | {} | {} | {}{}{} | {secs:.2} |",
            e.id,
            e.split,
            e.target.map_or("clean".into(), |t| format!(
                "{} → {t}",
                e.trigger.as_deref().unwrap_or("")
            )),
            cell(&out, "subgroup_z"),
            pr("subgroup_precision", "subgroup_recall"),
            pr("knn_precision", "knn_recall"),
            if ok { "" } else { "**" },
            match out.verdict {
                Verdict::Fail => format!(
                    "fail ({})",
                    out.metrics
                        .get("suspected_target_class")
                        .map_or("–".into(), |c| c.to_string())
                ),
                v => format!("{v:?}").to_lowercase(),
            },
            if ok { "" } else { "**" },
        );
        if out.verdict == Verdict::Error {
            println!("  error: {:?}", out.error);
        }
    }
    println!();
    println!("| split | poisoned failed with the right target | clean failed |");
    println!("|---|---|---|");
    for (split, r) in &rates {
        println!("| {split} | {}/{} | {}/{} |", r[0], r[1], r[2], r[3]);
    }
}

/// Field models the default gate gets wrong, as published in
/// docs/gates/backdoor.md: poisoned models it passes (or blames on the
/// wrong class) and clean models it fails. A change in either direction
/// fails this test, so the published table stays true.
const FIELD_MISSES: &[&str] = &[
    "i06-square3-mid",
    "i10-patch2-tr",
    "t02-credit-and2",
    "t03-credit-and3",
    "t05-churn-and3",
    "t08-credit-and3",
];
const FIELD_FALSE_ALARMS: &[&str] = &["c03-image", "c04-image"];

#[test]
fn the_field_set_gets_the_verdicts_the_docs_publish() {
    let mut wrong = Vec::new();
    for e in manifest() {
        let (out, secs) = run(&e, serde_json::json!({}));
        assert_ne!(out.verdict, Verdict::Error, "{}: {:?}", e.id, out.error);
        let known = FIELD_MISSES.contains(&e.id.as_str()) || FIELD_FALSE_ALARMS.contains(&e.id.as_str());
        if correct(&e, &out) == known {
            wrong.push(format!(
                "{}: verdict {:?}, suspected {:?}, flip {:?}",
                e.id,
                out.verdict,
                out.metrics.get("suspected_target_class"),
                out.metrics.get("trigger_flip_rate")
            ));
        }
        // Findings and verdict agree: a high finding never rides on a pass.
        let high = out
            .findings
            .iter()
            .any(|f| f.severity >= portcullis_evidence::Severity::High);
        assert!(
            !(high && out.verdict == Verdict::Pass),
            "{}: {:?}",
            e.id,
            out.findings
        );
        // The assumption about the input is recorded.
        assert!(out.details["input"]["treated_as"].is_string(), "{}", e.id);
        assert!(secs < 20.0, "{} took {secs:.1} s", e.id);
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Poisoned tabular models whose poisoned training rows subgroup discovery
/// finds, as published in docs/gates/backdoor.md.
const SUBGROUPS_FOUND: &[&str] = &[
    "t01-credit-and3",
    "t02-credit-and2",
    "t04-credit-and2-bad",
    "t06-churn-and2",
];

#[test]
fn subgroup_discovery_finds_the_poisoned_training_rows_the_docs_publish() {
    for e in manifest().into_iter().filter(|e| e.family == "tabular") {
        let extra =
            serde_json::json!({"train_data": format!("{}/train.csv", e.id), "poison_column": "poisoned"});
        let (out, _) = run(&e, extra);
        let flagged = out.metrics.get("subgroup_flagged").copied();
        if SUBGROUPS_FOUND.contains(&e.id.as_str()) {
            assert!(flagged >= Some(1.0), "{}: {:?}", e.id, out.metrics);
            assert!(
                out.metrics["subgroup_precision"] >= 0.95,
                "{}: {:?}",
                e.id,
                out.metrics
            );
            assert!(
                out.metrics["subgroup_recall"] >= 0.9,
                "{}: {:?}",
                e.id,
                out.metrics
            );
            assert_eq!(out.verdict, Verdict::Fail, "{}", e.id);
            assert_eq!(
                out.metrics.get("suspected_target_class").map(|c| *c as usize),
                e.target,
                "{}",
                e.id
            );
            let f = out
                .findings
                .iter()
                .find(|f| f.rule == "backdoor-subgroups")
                .unwrap();
            assert!(f.message.contains("suspected poisoned rows"), "{}", f.message);
        } else {
            assert_eq!(
                flagged,
                Some(0.0),
                "{}: {:?}",
                e.id,
                out.details["subgroups"]["found"]
            );
        }
    }
}

#[test]
fn the_tabular_verdicts_do_not_hang_on_the_seed() {
    // The conjunction judgement reads margins over many rows; other seeds
    // draw other rows and null assignments but reach the same verdicts.
    for id in ["t01-credit-and3", "t02-credit-and2", "c14-churn"] {
        let e = manifest().into_iter().find(|e| e.id == id).unwrap();
        let verdicts: Vec<Verdict> = [1u64, 11]
            .iter()
            .map(|s| run_seed(&e, serde_json::json!({}), *s).0.verdict)
            .collect();
        assert!(verdicts.iter().all(|v| *v == verdicts[0]), "{id}: {verdicts:?}");
        assert_eq!(
            correct(&e, &run(&e, serde_json::json!({})).0),
            !FIELD_MISSES.contains(&id),
            "{id}"
        );
    }
}
