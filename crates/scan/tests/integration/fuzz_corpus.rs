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
