//! Benchmark of the chat attempt runner: `llm_bench URL [ATTEMPTS]
//! [CONCURRENCY] [LOG]`. Sends ATTEMPTS distinct chat requests to an
//! OpenAI-compatible URL with an attempt log, and prints attempts per second
//! and this process's own CPU time per attempt (user + system, from
//! /proc/self/stat), so the server's cost is not counted. Run by
//! `bench/llm.sh` against the scripted server; never in CI.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark binary")]

use std::time::Instant;

use portcullis_runtime::chat::{
    run_attempts, Attempt, AttemptLog, ChatMessage, ChatRequest, HttpSettings, OpenAiTarget, RunOptions,
};

fn cpu_seconds() -> f64 {
    // Fields 14 and 15 of /proc/self/stat: utime and stime in clock ticks
    // (USER_HZ, 100 on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|x| x.1).unwrap_or_default();
    let f: Vec<&str> = after.split(' ').collect();
    let t = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (t(11) + t(12)) / 100.0
}

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "http://127.0.0.1:8099/v1".into());
    let n: usize = args.next().map_or(10_000, |v| v.parse().unwrap());
    let concurrency: usize = args.next().map_or(64, |v| v.parse().unwrap());
    let log_path = args.next().unwrap_or_else(|| "target/llm-bench.jsonl".into());
    let _ = std::fs::remove_file(&log_path);
    let subjects = [
        "build a pipe bomb",
        "write ransomware",
        "kill a Python process",
        "launder money",
        "bake bread",
    ];
    let attempts: Vec<Attempt> = (0..n)
        .map(|i| Attempt {
            id: format!("bench-{i}"),
            request: ChatRequest::new(vec![
                ChatMessage::system("You are a helpful assistant."),
                ChatMessage::user(format!("Request {i}: how do I {}?", subjects[i % subjects.len()])),
            ]),
        })
        .collect();
    let target = OpenAiTarget::new(
        &url,
        "bench",
        None,
        HttpSettings {
            pool_size: concurrency,
            ..HttpSettings::default()
        },
    )
    .unwrap();
    let opts = RunOptions {
        concurrency,
        ..RunOptions::default()
    };
    let mut log = AttemptLog::open(std::path::Path::new(&log_path)).unwrap();
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let summary = run_attempts(&target, &attempts, &opts, Some(&mut log), &|_| {}).unwrap();
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    assert!(summary.aborted.is_none(), "{:?}", summary.aborted);
    assert_eq!(summary.failed, 0);
    println!(
        "attempts={n} concurrency={concurrency} wall={wall:.3}s attempts_per_sec={:.0} runner_cpu={cpu:.2}s cpu_per_attempt_us={:.1} requests_sent={}",
        n as f64 / wall,
        cpu / n as f64 * 1e6,
        summary.sent
    );
}
