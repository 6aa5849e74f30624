//! Hostile and broken input: each bad file gets a clear error or finding,
//! the good files beside it are still audited, and nothing hangs or panics.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use portcullis_ci::{audit_paths, AuditOptions, FileStatus};

fn temp_repo(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portcullis-ci-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(".github/workflows")).unwrap();
    dir
}

const GOOD: &str = "on: push\njobs:\n  deploy:\n    runs-on: x\n    steps:\n      - run: bentoml deploy .\n";

#[test]
fn bad_files_are_reported_and_the_others_still_audited() {
    let dir = temp_repo("bad");
    let wf = dir.join(".github/workflows");
    std::fs::write(wf.join("good.yml"), GOOD).unwrap();
    std::fs::write(wf.join("invalid.yml"), "on: push\njobs: [\n  - a: b\n").unwrap();
    // Neither declarative nor scripted: statements with no pipeline or node.
    std::fs::write(dir.join("Jenkinsfile"), "def x = 1\nsh 'make deploy'\n").unwrap();
    std::fs::write(
        dir.join(".gitlab-ci.yml"),
        "include:\n  - remote: https://example.com/x.yml\ndeploy:\n  stage: deploy\n  script:\n    - bentoml deploy .\n",
    )
    .unwrap();
    let report = audit_paths(std::slice::from_ref(&dir), &AuditOptions::default());
    let status = |suffix: &str| {
        report
            .files
            .iter()
            .find(|f| f.path.ends_with(suffix))
            .map(|f| f.status.clone())
            .unwrap()
    };
    match status("invalid.yml") {
        FileStatus::Error(e) => assert!(e.contains("invalid yaml at 3:"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(status("Jenkinsfile"), FileStatus::NotAnalysable(_)));
    assert_eq!(status("good.yml"), FileStatus::Analysed);
    let rules: Vec<(&str, &str)> = report
        .findings
        .iter()
        .map(|f| {
            (
                f.location.as_ref().unwrap().file.as_deref().unwrap(),
                f.rule.as_str(),
            )
        })
        .collect();
    assert!(rules
        .iter()
        .any(|(f, r)| f.ends_with("good.yml") && *r == "deploy-without-gate"));
    assert!(rules
        .iter()
        .any(|(f, r)| f.ends_with("Jenkinsfile") && *r == "pipeline-not-analysable"));
    assert!(rules
        .iter()
        .any(|(f, r)| f.ends_with(".gitlab-ci.yml") && *r == "pipeline-not-analysable"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_job_cycle_is_a_finding_not_a_hang() {
    let dir = temp_repo("cycle");
    std::fs::write(
        dir.join(".github/workflows/c.yml"),
        "on: push\njobs:\n  a:\n    needs: c\n    steps: [{run: pytest evals}]\n  b:\n    needs: a\n    steps: [{run: echo}]\n  c:\n    needs: b\n    steps: [{run: bentoml deploy .}]\n",
    )
    .unwrap();
    let report = audit_paths(std::slice::from_ref(&dir), &AuditOptions::default());
    let cycles = report
        .findings
        .iter()
        .filter(|f| f.rule == "job-graph-cycle")
        .count();
    assert_eq!(cycles, 3, "{:#?}", report.findings);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Generates a 50 MB YAML alias bomb at test time: refused by the size
/// limit before parsing. A small bomb under the size limit hits the
/// node budget instead. Both in bounded time.
#[test]
fn alias_bombs_large_and_small_give_clear_errors_in_bounded_time() {
    let dir = temp_repo("bomb");
    let wf = dir.join(".github/workflows");
    let mut big = String::from("x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..9 {
        big.push_str(&format!(
            "x{i}: &x{i} [*x{p}, *x{p}, *x{p}, *x{p}, *x{p}, *x{p}, *x{p}, *x{p}, *x{p}]\n",
            p = i - 1
        ));
    }
    let small = big.clone();
    let filler = "# padding padding padding padding padding padding padding padding\n";
    while big.len() < 50 * 1024 * 1024 {
        big.push_str(filler);
    }
    big.push_str("on: push\njobs: {}\n");
    std::fs::write(wf.join("big.yml"), &big).unwrap();
    std::fs::write(wf.join("small.yml"), small + "on: push\njobs: {}\n").unwrap();
    std::fs::write(wf.join("good.yml"), GOOD).unwrap();
    let start = Instant::now();
    let report = audit_paths(std::slice::from_ref(&dir), &AuditOptions::default());
    assert!(start.elapsed() < Duration::from_secs(20), "{:?}", start.elapsed());
    let err = |suffix: &str| match &report
        .files
        .iter()
        .find(|f| f.path.ends_with(suffix))
        .unwrap()
        .status
    {
        FileStatus::Error(e) => e.clone(),
        other => panic!("{suffix}: {other:?}"),
    };
    assert!(err("big.yml").contains("larger than"), "{}", err("big.yml"));
    assert!(err("small.yml").contains("alias bomb"), "{}", err("small.yml"));
    assert!(report.findings.iter().any(|f| f.rule == "deploy-without-gate"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn deeply_nested_yaml_and_jenkins_blocks_hit_depth_limits() {
    let dir = temp_repo("deep");
    let deep_yaml = format!("on: push\njobs: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    std::fs::write(dir.join(".github/workflows/deep.yml"), deep_yaml).unwrap();
    let deep_jenkins = format!("pipeline {{ {} {} }}", "a {".repeat(5_000), "}".repeat(5_000));
    std::fs::write(dir.join("Jenkinsfile"), deep_jenkins).unwrap();
    let report = audit_paths(std::slice::from_ref(&dir), &AuditOptions::default());
    for f in &report.files {
        match &f.status {
            FileStatus::Error(e) => assert!(
                e.contains("deeper than") || e.contains("recursion limit"),
                "{}: {e}",
                f.path
            ),
            other => panic!("{}: {other:?}", f.path),
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}
