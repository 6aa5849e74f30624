//! Every fixture case is a small repository under `tests/fixtures/<rule-id>/`
//! (or `tests/fixtures/heldout/`). A comment `# expect: rule-a, rule-b` (or
//! `// expect:` in a Jenkinsfile) says those rules must fire on the next
//! non-comment line; every other finding is a false positive.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use portcullis_ci::{audit_paths, AuditOptions};

pub type Key = (String, u32, String);

pub fn fixtures_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Expected (file relative to the case, line, rule) from the comments.
pub fn expected(case: &Path) -> BTreeSet<Key> {
    let mut files = Vec::new();
    files_under(case, &mut files);
    let mut out = BTreeSet::new();
    for f in files {
        let rel = f.strip_prefix(case).unwrap().to_string_lossy().replace('\\', "/");
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim();
            let Some(rules) = t
                .strip_prefix("# expect:")
                .or_else(|| t.strip_prefix("// expect:"))
            else {
                continue;
            };
            let target = lines
                .iter()
                .enumerate()
                .skip(i + 1)
                .find(|(_, l)| {
                    let l = l.trim();
                    !(l.starts_with('#') || l.starts_with("//") || l.is_empty())
                })
                .map(|(n, _)| n as u32 + 1)
                .unwrap();
            for r in rules.split(',') {
                out.insert((rel.clone(), target, r.trim().to_string()));
            }
        }
    }
    out
}

/// Actual (file relative to the case, line, rule).
pub fn actual(case: &Path) -> BTreeSet<Key> {
    let report = audit_paths(&[case.to_path_buf()], &AuditOptions::default());
    assert!(!report.has_errors(), "{}: {:?}", case.display(), report.files);
    let prefix = format!("{}/", case.to_string_lossy().replace('\\', "/"));
    report
        .findings
        .iter()
        .map(|f| {
            let loc = f.location.as_ref().unwrap();
            let file = loc.file.clone().unwrap();
            let rel = file.strip_prefix(&prefix).unwrap_or(&file).to_string();
            (rel, loc.line.unwrap(), f.rule.clone())
        })
        .collect()
}

pub fn cases(group: &str) -> Vec<PathBuf> {
    let root = fixtures_root();
    let mut out = Vec::new();
    for rule in std::fs::read_dir(&root).unwrap() {
        let rule = rule.unwrap().path();
        let name = rule.file_name().unwrap().to_string_lossy().to_string();
        let wanted = match group {
            "heldout" => name == "heldout",
            _ => name != "heldout" && name != "bad-input" && rule.is_dir(),
        };
        if !wanted || !rule.is_dir() {
            continue;
        }
        for case in std::fs::read_dir(&rule).unwrap() {
            let case = case.unwrap().path();
            if case.is_dir() {
                out.push(case);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn tuning_fixtures_produce_exactly_the_expected_findings() {
    let mut problems = Vec::new();
    for case in cases("tune") {
        let want = expected(&case);
        let got = actual(&case);
        for m in want.difference(&got) {
            problems.push(format!("{}: missing {m:?}", case.display()));
        }
        for x in got.difference(&want) {
            problems.push(format!("{}: unexpected {x:?}", case.display()));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_rule_has_a_positive_tuning_fixture() {
    let mut fired = BTreeSet::new();
    for case in cases("tune") {
        for (_, _, rule) in expected(&case) {
            fired.insert(rule);
        }
    }
    for r in portcullis_ci::rules() {
        assert!(fired.contains(r.id), "no positive fixture for {}", r.id);
    }
}

/// Precision and recall per rule on the held-out set; the table in
/// docs/audit-ci.md is this test's output.
#[test]
fn heldout_precision_and_recall() {
    let mut rows: std::collections::BTreeMap<String, (u32, u32, u32)> = Default::default();
    for case in cases("heldout") {
        let want = expected(&case);
        let got = actual(&case);
        for k in want.intersection(&got) {
            rows.entry(k.2.clone()).or_default().0 += 1;
        }
        for k in got.difference(&want) {
            eprintln!("FP {}: {k:?}", case.display());
            rows.entry(k.2.clone()).or_default().1 += 1;
        }
        for k in want.difference(&got) {
            eprintln!("FN {}: {k:?}", case.display());
            rows.entry(k.2.clone()).or_default().2 += 1;
        }
    }
    let (mut tp, mut fp, mut fnn) = (0, 0, 0);
    println!("| rule | TP | FP | FN | precision | recall |\n|---|---|---|---|---|---|");
    for (rule, (t, f, n)) in &rows {
        tp += t;
        fp += f;
        fnn += n;
        let p = f64::from(*t) / f64::from((t + f).max(1));
        let r = f64::from(*t) / f64::from((t + n).max(1));
        println!("| {rule} | {t} | {f} | {n} | {p:.2} | {r:.2} |");
    }
    let p = f64::from(tp) / f64::from((tp + fp).max(1));
    let r = f64::from(tp) / f64::from((tp + fnn).max(1));
    println!("| **all** | {tp} | {fp} | {fnn} | {p:.2} | {r:.2} |");
    assert!(tp > 0, "held-out set is empty");
    // A floor that catches regressions, below the figures in the docs.
    assert!(p >= 0.7 && r >= 0.7, "precision {p:.2} recall {r:.2}");
}
