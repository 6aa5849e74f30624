//! `--format html` reports opened in a real browser (headless Chromium over
//! WebDriver): the examples' reports show the decision, every gate and the
//! plot of its kind, run no script, and a screenshot of each page is kept
//! in the test's output folder (`target/tmp/screenshots/`).

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use portcullis_webdriver::Browser;

use crate::support::{copy_dir, repo_root};

/// A temp copy of `examples/NAME` (and of the quickstart, whose demo keys
/// the credit-scoring policy names by a relative path).
struct Example {
    _root: tempfile::TempDir,
    dir: PathBuf,
}

impl Example {
    fn path(&self) -> &Path {
        &self.dir
    }
}

fn example(name: &str) -> Example {
    let root = tempfile::tempdir().unwrap();
    for n in [name, "quickstart"] {
        copy_dir(&repo_root().join("examples").join(n), &root.path().join(n));
    }
    let dir = root.path().join(name);
    Example { _root: root, dir }
}

fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::cargo_bin("portcullis").unwrap();
    c.current_dir(dir).args(args).env("NO_COLOR", "1");
    c.env_remove("PORTCULLIS_KEY");
    c
}

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
}

/// The `data-label`s of the bar groups in a gate's plots.
fn bar_labels(b: &Browser, gate_kind: &str) -> Vec<String> {
    b.find_all(&format!("section.gate[data-kind='{gate_kind}'] g.bar-group"))
        .unwrap()
        .iter()
        .map(|e| b.attr(e, "data-label").unwrap().unwrap_or_default())
        .collect()
}

fn no_script_ran(b: &Browser) {
    assert_eq!(b.script("return document.scripts.length;").unwrap(), 0);
}

#[test]
fn credit_scoring_html_report_shows_the_decision_fairness_bars_and_flip_matrix() {
    let ex = example("credit-scoring");
    let out = ex.path().join("report.html");
    // The candidate is denied for prod (its fairness gate fails), so `run`
    // exits 1 and still writes the report.
    cmd(
        ex.path(),
        &[
            "run",
            "--stage",
            "prod",
            "--key",
            "../quickstart/keys/demo-ci.key",
            "--author",
            "dev",
            "--format",
            "html",
            "--output",
            out.to_str().unwrap(),
        ],
    )
    .assert()
    .code(1);
    let Some(b) = Browser::for_test("credit_scoring_html_report") else {
        return;
    };
    b.open_file(&out).unwrap();
    assert!(
        b.title().unwrap().starts_with("portcullis: prod denied"),
        "{}",
        b.title().unwrap()
    );
    let verdict = b.text(&b.find("section.decision .verdict").unwrap()).unwrap();
    assert_eq!(verdict, "DENIED");
    // The digest shown is the model's.
    let digest = b.text(&b.find("section.decision code.digest").unwrap()).unwrap();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest}");
    // Every reason names a gate that has a section on the page.
    let reasons = b.find_all("section.decision ul.reasons li").unwrap();
    assert!(!reasons.is_empty());
    for g in ["performance", "fairness", "reference"] {
        b.find(&format!("section.gate#gate-{g}")).unwrap();
    }
    // Fairness: bars per group of each sensitive attribute, with the
    // threshold band and the groups setting the worst-case gap flagged.
    let labels = bar_labels(&b, "fairness");
    for group in ["Female", "Male"] {
        assert!(
            labels.iter().any(|l| l == group),
            "no bar for {group}: {labels:?}"
        );
    }
    assert!(labels.len() >= 4, "race groups missing: {labels:?}");
    let band = b
        .find_all("section.gate[data-kind='fairness'] rect.band")
        .unwrap();
    assert!(!band.is_empty(), "no threshold band");
    let flagged = b
        .find_all("section.gate[data-kind='fairness'] g.bar-group[data-flagged='true']")
        .unwrap();
    assert!(flagged.len() >= 2, "worst-case groups not marked");
    // A bar's width follows its value: the bar for the highest selection
    // rate is the widest of its series.
    let widths: Vec<(f64, f64)> = b
        .find_all("section.gate[data-kind='fairness'] rect.bar[data-series='selection rate']")
        .unwrap()
        .iter()
        .map(|e| {
            let v: f64 = b.attr(e, "data-value").unwrap().unwrap().parse().unwrap();
            let w: f64 = b.attr(e, "width").unwrap().unwrap().parse().unwrap();
            (v, w)
        })
        .collect();
    let widest = widths.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    let highest = widths.iter().max_by(|a, b| a.0.total_cmp(&b.0)).unwrap();
    assert_eq!(widest.0, highest.0, "{widths:?}");
    // Performance: accuracy per slice with intervals; the threshold line.
    let perf = bar_labels(&b, "performance");
    assert!(perf.iter().any(|l| l == "Female"), "{perf:?}");
    assert!(!b
        .find_all("section.gate[data-kind='performance'] line.whisker")
        .unwrap()
        .is_empty());
    // Reference: the flip matrix with its most concentrated cell outlined.
    let cells = b
        .find_all("section.gate[data-kind='reference'] rect.cell")
        .unwrap();
    assert!(cells.len() >= 4, "flip matrix has {} cells", cells.len());
    // Threshold rows: one per check, failing ones marked.
    let bad = b
        .find_all("section.gate[data-kind='fairness'] table.checks tr.bad")
        .unwrap();
    assert!(!bad.is_empty(), "the failing fairness check is not marked");
    no_script_ran(&b);
    b.screenshot(&screenshots().join("credit-scoring-report.png"), true)
        .unwrap();
    // At phone width nothing overflows the page horizontally.
    b.resize(375, 800).unwrap();
    let overflow = b
        .script("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
        .unwrap();
    if overflow.as_i64().unwrap() > 0 {
        let wide = b
            .script(
                "return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > \
                 document.documentElement.clientWidth + 1).slice(0, 8).map(e => e.tagName + '.' + e.className.baseVal + e.className);",
            )
            .unwrap();
        panic!("page overflows at 375 px by {overflow}: {wide}");
    }
    b.screenshot(&screenshots().join("credit-scoring-report-375.png"), false)
        .unwrap();
}

#[test]
fn digits_backdoor_html_report_names_the_target_and_draws_the_trigger() {
    let ex = example("digits-backdoor");
    cmd(ex.path(), &["keygen", "--out", "keys/ci"]).assert().code(0);
    let out = ex.path().join("report.html");
    cmd(
        ex.path(),
        &[
            "run",
            "--stage",
            "prod",
            "--model",
            "models/poisoned.onnx",
            "--key",
            "keys/ci.key",
            "--author",
            "dev",
            "--format",
            "html",
            "--output",
            out.to_str().unwrap(),
        ],
    )
    .assert()
    .code(1);
    let Some(b) = Browser::for_test("digits_backdoor_html_report") else {
        return;
    };
    b.open_file(&out).unwrap();
    assert_eq!(
        b.text(&b.find("section.decision .verdict").unwrap()).unwrap(),
        "DENIED"
    );
    let gate = b.find("section.gate[data-kind='backdoor']").unwrap();
    assert_eq!(b.attr(&gate, "data-verdict").unwrap().as_deref(), Some("fail"));
    // The trigger scan's bars by trigger size, one flagged above threshold.
    let flagged = b
        .find_all("section.gate[data-kind='backdoor'] g.bar-group[data-flagged='true']")
        .unwrap();
    assert!(!flagged.is_empty(), "no flagged trigger");
    // The high finding names the target class in the findings table.
    let high = b
        .find_all("section.gate[data-kind='backdoor'] table.findings tr.sev-high")
        .unwrap();
    assert!(!high.is_empty(), "no high finding shown");
    // The reverse-engineered trigger drawn on the 8×8 grid.
    let px = b
        .find_all("section.gate[data-kind='backdoor'] svg.pixels rect.px")
        .unwrap();
    assert!(!px.is_empty() && px.len() <= 64, "trigger pixels: {}", px.len());
    no_script_ran(&b);
    b.screenshot(&screenshots().join("digits-backdoor-report.png"), true)
        .unwrap();
}

#[test]
fn hostile_column_values_stay_text_in_the_browser() {
    // A dataset whose sensitive values and label are markup: the report
    // shows them as text and runs nothing.
    let ex = example("credit-scoring");
    let csv = std::fs::read_to_string(ex.path().join("data/applicants.csv")).unwrap();
    let evil = "<img src=x onerror=document.title='pwned'><script>document.title='pwned'</script>";
    let csv = csv.replace(",Female,", &format!(",\"{}\",", evil.replace('"', "\"\"")));
    std::fs::write(ex.path().join("data/applicants.csv"), csv).unwrap();
    let out = ex.path().join("report.html");
    let status = cmd(
        ex.path(),
        &[
            "eval",
            "fairness",
            "--model",
            "models/candidate.onnx",
            "--data",
            "data/applicants.csv",
            "--label",
            "label",
            "--set",
            "sensitive=sex,race",
            "--format",
            "html",
            "--output",
            out.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    // `eval` exits 0 or 1 depending on the data; either wrote the report.
    assert!(matches!(status.status.code(), Some(0 | 1)), "{status:?}");
    let Some(b) = Browser::for_test("hostile_column_values") else {
        return;
    };
    b.open_file(&out).unwrap();
    assert!(!b.title().unwrap().contains("pwned"));
    no_script_ran(&b);
    assert_eq!(b.script("return document.images.length;").unwrap(), 0);
    let labels = bar_labels(&b, "fairness");
    assert!(labels.iter().any(|l| l == evil), "{labels:?}");
}

#[test]
fn report_exits_0_on_a_denial_and_show_puts_every_stage_on_one_page() {
    let ex = example("credit-scoring");
    cmd(
        ex.path(),
        &[
            "run",
            "--stage",
            "prod",
            "--key",
            "../quickstart/keys/demo-ci.key",
            "--author",
            "dev",
        ],
    )
    .assert()
    .code(1);
    // `report` renders the recorded decision; denied is not its failure.
    let report = ex.path().join("r.html");
    cmd(
        ex.path(),
        &["report", "--stage", "prod", "--output", report.to_str().unwrap()],
    )
    .assert()
    .code(0);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("DENIED"));
    // An unknown stage is a usage error, not an empty report.
    cmd(
        ex.path(),
        &["report", "--stage", "nope", "--output", report.to_str().unwrap()],
    )
    .assert()
    .code(2);
    let show = ex.path().join("show.html");
    cmd(
        ex.path(),
        &["show", "--format", "html", "--output", show.to_str().unwrap()],
    )
    .assert()
    .code(0);
    let Some(b) = Browser::for_test("show_html") else {
        return;
    };
    b.open_file(&show).unwrap();
    let mut stages: Vec<String> = b
        .find_all("section.decision")
        .unwrap()
        .iter()
        .map(|e| b.attr(e, "data-stage").unwrap().unwrap_or_default())
        .collect();
    stages.sort();
    assert_eq!(stages, ["prod", "staging"]);
    // Each gate appears once although both stages require performance and fairness.
    assert_eq!(b.find_all("section.gate").unwrap().len(), 3);
    no_script_ran(&b);
    b.screenshot(&screenshots().join("credit-scoring-show.png"), false)
        .unwrap();
}

#[test]
fn robustness_html_report_draws_accuracy_against_the_budget() {
    let ex = example("digits-backdoor");
    let out = ex.path().join("robustness.html");
    let status = cmd(
        ex.path(),
        &[
            "eval",
            "robustness",
            "--model",
            "models/clean.onnx",
            "--data",
            "data/test.csv",
            "--label",
            "label",
            "--set",
            "epsilon=8",
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
            "--format",
            "html",
            "--output",
            out.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert!(matches!(status.status.code(), Some(0 | 1)), "{status:?}");
    let Some(b) = Browser::for_test("robustness_html_report") else {
        return;
    };
    b.open_file(&out).unwrap();
    let series = b
        .find_all("section.gate[data-kind='robustness'] svg.lines g.series")
        .unwrap();
    assert!(!series.is_empty(), "no attack curve");
    for s in &series {
        // Nine budgets from 0 to ε; accuracy never rises with the budget.
        let ys: Vec<f64> = b
            .find_all(&format!(
                "section.gate[data-kind='robustness'] g.series[data-series='{}'] circle.point",
                b.attr(s, "data-series").unwrap().unwrap()
            ))
            .unwrap()
            .iter()
            .map(|p| b.attr(p, "data-y").unwrap().unwrap().parse().unwrap())
            .collect();
        assert_eq!(ys.len(), 9, "{ys:?}");
        assert!(ys.windows(2).all(|w| w[1] <= w[0] + 1e-9), "{ys:?}");
    }
    no_script_ran(&b);
    b.screenshot(&screenshots().join("robustness-report.png"), true)
        .unwrap();
}

#[test]
fn llm_html_report_shows_rates_per_category_with_intervals_and_failing_transcripts() {
    use portcullis_llm_testserver::{Behaviour, TestServer};
    let dir = tempfile::tempdir().unwrap();
    let weak = TestServer::start(Behaviour::parse("follows-injection").unwrap()).unwrap();
    let out = dir.path().join("llm.html");
    let status = cmd(
        dir.path(),
        &[
            "eval",
            "llm-redteam",
            "--target",
            &format!("openai:{}", weak.base_url()),
            "--set",
            "model=scripted",
            "--set",
            "categories=injection,leakage",
            "--set",
            "samples_per_category=10",
            "--seed",
            "3",
            "--format",
            "html",
            "--output",
            out.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_eq!(status.status.code(), Some(1), "{status:?}");
    let Some(b) = Browser::for_test("llm_html_report") else {
        return;
    };
    b.open_file(&out).unwrap();
    let labels = bar_labels(&b, "llm-redteam");
    assert!(
        labels.iter().any(|l| l == "injection") && labels.iter().any(|l| l == "leakage"),
        "{labels:?}"
    );
    let whiskers = b
        .find_all("section.gate[data-kind='llm-redteam'] line.whisker")
        .unwrap();
    assert!(whiskers.len() >= 2, "no Wilson intervals");
    // The endpoint follows injections: that category's bar is flagged and
    // its failing transcripts are there, folded.
    let injection = b
        .find("section.gate[data-kind='llm-redteam'] g.bar-group[data-label='injection']")
        .unwrap();
    assert_eq!(
        b.attr(&injection, "data-flagged").unwrap().as_deref(),
        Some("true")
    );
    let transcripts = b
        .find_all("section.gate[data-kind='llm-redteam'] details.transcript")
        .unwrap();
    assert!(!transcripts.is_empty(), "no failing transcripts");
    no_script_ran(&b);
    b.screenshot(&screenshots().join("llm-redteam-report.png"), true)
        .unwrap();
}

#[test]
fn scan_and_audit_ci_html_pages_list_their_findings_most_severe_first() {
    let dir = tempfile::tempdir().unwrap();
    for (tool, target) in [
        ("scan", repo_root().join("crates/scan/tests/fixtures/bypass")),
        ("audit-ci", repo_root().join("crates/ci/tests/fixtures")),
    ] {
        let out = dir.path().join(format!("{tool}.html"));
        let status = cmd(
            dir.path(),
            &[
                tool,
                target.to_str().unwrap(),
                "--format",
                "html",
                "--output",
                out.to_str().unwrap(),
            ],
        )
        .output()
        .unwrap();
        // Both corpora hold high findings: the command fails at the default bar.
        assert_eq!(status.status.code(), Some(1), "{tool}: {status:?}");
        let Some(b) = Browser::for_test("findings_html") else {
            return;
        };
        b.open_file(&out).unwrap();
        assert_eq!(
            b.text(&b.find("section.decision .verdict").unwrap()).unwrap(),
            "FAILED"
        );
        let rows = b.find_all("table.findings tbody tr").unwrap();
        assert!(rows.len() >= 5, "{tool}: {} rows", rows.len());
        let first = b.attr(&rows[0], "data-severity").unwrap().unwrap();
        assert!(
            first == "critical" || first == "high",
            "{tool}: first row is {first}"
        );
        no_script_ran(&b);
        b.screenshot(&screenshots().join(format!("{tool}-report.png")), false)
            .unwrap();
    }
}
