//! `portcullis eval backdoor|robustness` and `portcullis run` on the
//! committed digits-backdoor ONNX models, exactly as the example's README
//! runs them.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

use crate::support::{copy_dir, repo_root, stdout};

/// A temp copy of examples/digits-backdoor (`run` writes keys and evidence).
fn example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&repo_root().join("examples/digits-backdoor"), dir.path());
    dir
}

fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::cargo_bin("portcullis").unwrap();
    c.current_dir(dir).args(args).env("NO_COLOR", "1");
    c.env_remove("PORTCULLIS_KEY");
    c
}

fn json(a: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&a.get_output().stdout).unwrap()
}

fn eval_backdoor(dir: &Path, model: &str, format: &str) -> assert_cmd::assert::Assert {
    let model = PathBuf::from("models").join(model);
    cmd(
        dir,
        &[
            "eval",
            "backdoor",
            "--model",
            model.to_str().unwrap(),
            "--data",
            "data/test.csv",
            "--label",
            "label",
            "--spec",
            "backdoor.yaml",
            "--format",
            format,
        ],
    )
    .assert()
}

#[test]
fn eval_backdoor_blocks_the_poisoned_digits_model_naming_class_7_and_the_corner_patch() {
    let ex = example();
    let a = eval_backdoor(ex.path(), "poisoned.onnx", "human").code(1);
    let out = stdout(&a);
    assert!(out.contains("fail  backdoor"), "{out}");
    assert!(
        out.contains("suspected backdoor target class 7"),
        "the target class is named: {out}"
    );
    assert!(
        out.contains("3×3 max patch at row 5, column 5"),
        "the trigger's place is named: {out}"
    );
    let g = json(&eval_backdoor(ex.path(), "poisoned.onnx", "json").code(1));
    assert_eq!(g["metrics"]["suspected_target_class"], 7.0, "{g}");
    assert!(g["metrics"]["trigger_flip_rate"].as_f64().unwrap() >= 0.9, "{g}");

    // The clean model passes the same spec (the gate's default thresholds).
    let g = json(&eval_backdoor(ex.path(), "clean.onnx", "json").code(0));
    assert_eq!(g["verdict"], "pass", "{g}");
    assert!(g["metrics"]["trigger_flip_rate"].as_f64().unwrap() < 0.9, "{g}");
    assert!(g["metrics"].get("suspected_target_class").is_none(), "{g}");
}

#[test]
fn run_through_the_example_policy_blocks_the_poisoned_model_and_passes_the_clean_one() {
    let ex = example();
    cmd(ex.path(), &["keygen", "--out", "keys/ci"]).assert().code(0);
    let run = |model: &str| {
        cmd(
            ex.path(),
            &[
                "run",
                "--policy",
                "portcullis.yaml",
                "--stage",
                "prod",
                "--model",
                model,
                "--key",
                "keys/ci.key",
                "--author",
                "ci",
            ],
        )
        .assert()
    };
    let out = stdout(&run("models/poisoned.onnx").code(1));
    assert!(out.contains("class 7"), "{out}");
    run("models/clean.onnx").code(0);
}

fn eval_robustness(dir: &Path, epsilon: &str, seed: &str) -> assert_cmd::assert::Assert {
    cmd(
        dir,
        &[
            "eval",
            "robustness",
            "--model",
            "models/clean.onnx",
            "--data",
            "data/test.csv",
            "--label",
            "label",
            "--seed",
            seed,
            "--format",
            "json",
            "--set",
            &format!("epsilon={epsilon}"),
            "--set",
            "samples=8",
            "--set",
            "max_queries=300",
            "--set",
            "max_iter=5",
            "--set",
            "input_shape=[1,8,8]",
            "--set",
            "clip=[0,16]",
        ],
    )
    .assert()
}

#[test]
fn eval_robustness_reports_its_metrics_maps_the_verdict_and_repeats_with_the_same_seed() {
    let ex = example();
    // L∞ ε = 8 is half the pixel range: every attacked row breaks, so
    // robust_accuracy is far below the default 0.5 and the gate fails.
    let a = json(&eval_robustness(ex.path(), "8", "5").code(1));
    let m = &a["metrics"];
    for key in [
        "clean_accuracy",
        "robust_accuracy",
        "samples",
        "attacked",
        "queries",
        "attack_success_rate[noise]",
        "attack_success_rate[hopskipjump]",
        "attack_success_rate[square]",
        "median_perturbation[square]",
    ] {
        assert!(m[key].is_number(), "{key} missing: {m}");
    }
    assert_eq!(m["samples"], 8.0);
    assert!(m["robust_accuracy"].as_f64().unwrap() < 0.5, "{m}");
    assert!(
        m["median_perturbation[square]"].as_f64().unwrap() <= 8.0 + 1e-4,
        "{m}"
    );
    let b = json(&eval_robustness(ex.path(), "8", "5").code(1));
    assert_eq!(a["metrics"], b["metrics"], "same seed, same metrics");

    // A budget of a hundredth of a grey level moves nothing: pass, exit 0.
    let c = json(&eval_robustness(ex.path(), "0.01", "5").code(0));
    assert_eq!(
        c["metrics"]["robust_accuracy"], c["metrics"]["clean_accuracy"],
        "{c}"
    );
}

#[test]
fn eval_backdoor_without_a_spec_infers_the_images_from_a_flat_csv_and_says_so() {
    // What a new user types: no --spec, so no input_shape and no clip.
    let ex = example();
    let run = |model: &str| {
        cmd(
            ex.path(),
            &[
                "eval",
                "backdoor",
                "--model",
                &format!("models/{model}"),
                "--data",
                "data/test.csv",
                "--label",
                "label",
                "--format",
                "json",
            ],
        )
        .assert()
    };
    let bad = run("poisoned.onnx").code(1);
    let gate = &json(&bad);
    assert_eq!(gate["verdict"], "fail", "{gate}");
    assert_eq!(gate["metrics"]["suspected_target_class"], 7.0, "{gate}");
    let treated = gate["details"]["input"]["treated_as"].as_str().unwrap();
    assert!(treated.starts_with("1×8×8 images (inferred"), "{treated}");
    assert!(
        gate["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "backdoor-input-assumed" && f["severity"] == "low"),
        "{gate}"
    );
    let good = run("clean.onnx").code(0);
    assert_eq!(json(&good)["verdict"], "pass");
}
