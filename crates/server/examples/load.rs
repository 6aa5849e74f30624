//! A small HTTP load client for `bench/registry.sh`: GETs one URL at a fixed
//! concurrency for a fixed number of requests and prints requests/s and
//! latency percentiles; or, with `ingest`, pushes signed approval envelopes.
//!
//! ```text
//! cargo run --release -p portcullis-server --example load -- get URL CONCURRENCY REQUESTS [TOKEN]
//! cargo run --release -p portcullis-server --example load -- ingest URL DIGEST KEY.pem ENVELOPES BATCH TOKEN
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark tool")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_evidence::predicate::{format_time, ApprovalPredicate, APPROVAL_V1};
use portcullis_evidence::{Envelope, Sha256Digest, SigningKey, Statement, Subject};

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

async fn get(url: String, conc: usize, total: usize, token: Option<String>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(conc)
        .build()
        .unwrap();
    let left = Arc::new(std::sync::atomic::AtomicUsize::new(total));
    // Warm up the connections.
    for _ in 0..conc.min(8) {
        let mut r = client.get(&url);
        if let Some(t) = &token {
            r = r.bearer_auth(t);
        }
        assert!(
            r.send().await.unwrap().status().is_success(),
            "warm-up request failed"
        );
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (client, url, token, left) = (client.clone(), url.clone(), token.clone(), left.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while left
                .fetch_update(
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                    |n| n.checked_sub(1),
                )
                .is_ok()
            {
                let t = Instant::now();
                let mut r = client.get(&url);
                if let Some(tk) = &token {
                    r = r.bearer_auth(tk);
                }
                let resp = r.send().await.unwrap();
                assert!(resp.status().is_success(), "{}", resp.status());
                let _ = resp.bytes().await.unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort();
    println!(
        "concurrency {conc}: {} requests in {secs:.2} s = {:.0} req/s; p50 {:.2} ms, p99 {:.2} ms",
        all.len(),
        all.len() as f64 / secs,
        pct(&all, 0.50),
        pct(&all, 0.99)
    );
}

async fn ingest(url: String, digest: String, key: String, n: usize, batch: usize, token: String) {
    let key = SigningKey::from_pem_file(std::path::Path::new(&key)).unwrap();
    let d = Sha256Digest::from_hex(&digest).unwrap();
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let p = ApprovalPredicate {
                stage: "prod".into(),
                approver: "alice".into(),
                comment: Some(format!("bench {i} {}", std::process::id())),
                signed_on: format_time(std::time::SystemTime::now()),
                expires: None,
            };
            let s = Statement::new(
                Subject::sha256("model", &d),
                APPROVAL_V1,
                serde_json::to_value(p).unwrap(),
            );
            serde_json::to_string(&Envelope::sign(&s, &key).unwrap()).unwrap()
        })
        .collect();
    let client = reqwest::Client::new();
    let start = Instant::now();
    let mut accepted = 0u64;
    for chunk in lines.chunks(batch) {
        let body = chunk.join("\n");
        let r: serde_json::Value = client
            .post(format!("{url}/v1/models/quickstart/versions/{digest}/evidence"))
            .bearer_auth(&token)
            .body(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        accepted += r["accepted"].as_u64().unwrap_or(0);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "ingest: {n} envelopes in batches of {batch}: {accepted} accepted in {secs:.2} s = {:.0} envelopes/s",
        n as f64 / secs
    );
}

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    match a.first().map(String::as_str) {
        Some("get") => get(a[1].clone(), a[2].parse().unwrap(), a[3].parse().unwrap(), a.get(4).cloned()).await,
        Some("ingest") => {
            ingest(a[1].clone(), a[2].clone(), a[3].clone(), a[4].parse().unwrap(), a[5].parse().unwrap(), a[6].clone()).await
        }
        _ => eprintln!("usage: load get URL CONCURRENCY REQUESTS [TOKEN] | load ingest URL DIGEST KEY ENVELOPES BATCH TOKEN"),
    }
}
