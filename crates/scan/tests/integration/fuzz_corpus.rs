//! Replays the committed, minimised fuzz corpora (crates/scan/fuzz/corpus)
//! through the public entry point so CI catches regressions without cargo-fuzz.

use std::path::Path;
use std::time::{Duration, Instant};

use portcullis_scan::{scan_bytes, ScanOptions};

#[test]
fn fuzz_corpora_replay_without_panics_or_hangs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut n = 0;
    let mut opts = ScanOptions::default();
    opts.limits.deadline = Duration::from_secs(10);
    for target in std::fs::read_dir(&root).unwrap() {
        let target = target.unwrap().path();
        for input in std::fs::read_dir(&target).unwrap() {
            let input = input.unwrap().path();
            let bytes = std::fs::read(&input).unwrap();
            let t = Instant::now();
            let _ = scan_bytes(&input.display().to_string(), &bytes, &opts);
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "{} took {:?}",
                input.display(),
                t.elapsed()
            );
            n += 1;
        }
    }
    assert!(n > 0, "no corpus files under {}", root.display());
}

/// A deterministic mutation sweep over the fixture corpus: byte flips,
/// truncations and length-field corruptions must never panic or hang.
#[test]
fn mutated_fixtures_never_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut opts = ScanOptions::default();
    opts.limits.deadline = Duration::from_secs(10);
    let mut runs = 0;
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        if bytes.len() > 300_000 || bytes.is_empty() {
            continue;
        }
        for round in 0..48u64 {
            let mut m = bytes.clone();
            match round % 4 {
                0 => m.truncate((next() as usize) % m.len()),
                1 => {
                    for _ in 0..4 {
                        let i = (next() as usize) % m.len();
                        m[i] ^= (next() as u8) | 1;
                    }
                }
                2 => {
                    let i = (next() as usize) % m.len();
                    for b in m.iter_mut().skip(i).take(8) {
                        *b = 0xff;
                    }
                }
                _ => {
                    let i = (next() as usize) % m.len();
                    let v = m[i];
                    m.insert(i, v);
                }
            }
            let t = Instant::now();
            let _ = scan_bytes("mutant", &m, &opts);
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "{} round {round} took {:?}",
                f.display(),
                t.elapsed()
            );
            runs += 1;
        }
    }
    assert!(runs > 2000, "only {runs} mutants");
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_none_or(|x| x != "py" && x != "json") {
            out.push(p);
        }
    }
}
